"""dyno.breaker against pybreaker and circuitbreaker, side by side in one process.

Each case calls a trivial function wrapped by the library's decorator: once
with the breaker closed (the success path) and once with it open (the
rejection path, the exception caught by the case). A bare call is listed for
scale.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import circuitbreaker
import pybreaker

from benchmarks.runner import compare, format_table
from dyno.breaker import Broken, CircuitBreaker


def _work() -> int:
    return 1


def _boom() -> int:
    raise ValueError("down")


def _rejecting(call: Callable[[], object], error: type[Exception]) -> Callable[[], object]:
    def case() -> object:
        try:
            return call()
        except error:
            return None

    return case


def _trip(call: Callable[[], object], times: int) -> None:
    for _ in range(times):
        with contextlib.suppress(Exception):
            call()


def closed_cases() -> dict[str, Callable[[], object]]:
    """Closed breakers, every call succeeding."""
    dyno_breaker = CircuitBreaker("bench-closed")
    py_breaker = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60)
    cb_breaker = circuitbreaker.CircuitBreaker(
        failure_threshold=5, recovery_timeout=60, name="bench-closed"
    )
    return {
        "bare call": _work,
        "dyno CircuitBreaker": dyno_breaker(_work),
        "pybreaker": py_breaker(_work),
        "circuitbreaker": cb_breaker(_work),
    }


def locked_cases() -> dict[str, Callable[[], object]]:
    """Closed breakers whose window holds a failure: dyno's success path takes its lock."""
    dyno_breaker = CircuitBreaker("bench-locked", volume=10**9, window=3600.0)
    py_breaker = pybreaker.CircuitBreaker(fail_max=10**9, reset_timeout=60)
    cb_breaker = circuitbreaker.CircuitBreaker(
        failure_threshold=10**9, recovery_timeout=60, name="bench-locked"
    )
    for breaker in (dyno_breaker, py_breaker, cb_breaker):
        _trip(breaker(_boom), 1)
    assert dyno_breaker.snapshot().failures == 1
    return {
        "dyno CircuitBreaker": dyno_breaker(_work),
        "pybreaker": py_breaker(_work),
        "circuitbreaker": cb_breaker(_work),
    }


def open_cases() -> dict[str, Callable[[], object]]:
    """Open breakers rejecting every call (the case catches the rejection)."""
    dyno_breaker = CircuitBreaker("bench-open", volume=1, reset_timeout=3600)
    py_breaker = pybreaker.CircuitBreaker(fail_max=1, reset_timeout=3600)
    cb_breaker = circuitbreaker.CircuitBreaker(
        failure_threshold=1, recovery_timeout=3600, name="bench-open"
    )
    dyno_call = dyno_breaker(_boom)
    py_call = py_breaker(_boom)
    cb_call = cb_breaker(_boom)
    for call in (dyno_call, py_call, cb_call):
        _trip(call, 2)
    assert dyno_breaker.state == "open"
    assert py_breaker.current_state == "open"
    assert cb_breaker.state == "open"
    return {
        "dyno CircuitBreaker": _rejecting(dyno_call, Broken),
        "pybreaker": _rejecting(py_call, pybreaker.CircuitBreakerError),
        "circuitbreaker": _rejecting(cb_call, circuitbreaker.CircuitBreakerError),
    }


def main() -> str:
    closed = compare(closed_cases(), "circuitbreaker")
    locked = compare(locked_cases(), "circuitbreaker")
    rejected = compare(open_cases(), "circuitbreaker")
    return "\n\n".join(
        [
            format_table("closed breaker, successful call", closed, "circuitbreaker"),
            format_table(
                "closed breaker with a failure in the window, successful call",
                locked,
                "circuitbreaker",
            ),
            format_table("open breaker, rejected call", rejected, "circuitbreaker"),
        ]
    )


if __name__ == "__main__":
    print(main())
