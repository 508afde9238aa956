"""dyno.service against pyresilience and circuitbreaker + tenacity, side by side in one process.

Every case wraps the same trivial function with a circuit breaker and a retry
policy of three attempts, no waits, no timeout and no pool, and calls it
successfully: the path almost every call of a healthy dependency takes.

* ``dyno service``: ``@service(retry=3)``, which also creates and updates its
  own :class:`~dyno.metrics.Metrics` (counts, latency histogram, in-flight) and
  records a timing interval when a timer is active (none is here).
* ``pyresilience``: ``@resilient(retry=..., circuit_breaker=...)``.
* ``circuitbreaker + tenacity``: ``tenacity.retry`` stacked on a
  ``circuitbreaker.CircuitBreaker``.

Neither peer keeps latency statistics, so dyno does strictly more work per call.
A bare call, dyno's breaker decorator alone and dyno's ``@Metrics`` decorator
alone are listed for scale. The ``@Metrics`` decorator and ``service`` do the
same metrics work per call (lock-free in-flight counters, two clock reads, one
lock to count the outcome in the latency histogram), which is most of
``service``'s cost: its breaker and retry loop add little on top.
"""

from __future__ import annotations

from collections.abc import Callable

import circuitbreaker
import pyresilience
import tenacity

from benchmarks.runner import compare, format_table
from dyno.breaker import CircuitBreaker
from dyno.metrics import Metrics
from dyno.service import service


def _work() -> int:
    return 1


def success_cases() -> dict[str, Callable[[], object]]:
    """A healthy dependency behind a breaker and a 3-attempt retry."""
    dyno_service = service("bench-service", retry=3)(_work)
    resilient = pyresilience.resilient(
        retry=pyresilience.RetryConfig(max_attempts=3, delay=0.0, jitter=False),
        circuit_breaker=pyresilience.CircuitBreakerConfig(
            failure_threshold=5, recovery_timeout=60.0
        ),
    )(_work)
    breaker = circuitbreaker.CircuitBreaker(
        failure_threshold=5, recovery_timeout=60, name="bench-service"
    )
    stacked = tenacity.retry(stop=tenacity.stop_after_attempt(3), reraise=True)(breaker(_work))
    return {
        "bare call": _work,
        "dyno @CircuitBreaker alone": CircuitBreaker("bench-breaker-only")(_work),
        "dyno @Metrics alone": Metrics("bench-metrics-only")(_work),
        "dyno service": dyno_service,
        "pyresilience": resilient,
        "circuitbreaker + tenacity": stacked,
    }


def main() -> str:
    results = compare(success_cases(), "pyresilience")
    return format_table(
        "service success path (breaker + metrics + retry of 3, no timeout, no pool)",
        results,
        "pyresilience",
    )


if __name__ == "__main__":
    print(main())
