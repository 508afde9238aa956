"""dyno.dashboard: what one stream tick and one /metrics scrape cost, for 20 busy services.

While anyone watches, the dashboard reads every service's metrics once per
interval (0.5 s by default; stream clients share each read), so the cost of
one tick bounds its overhead on the process. Most of a hystrix event's cost is
the latency histograms, read twice: one snapshot, and one ``percentiles()``
call for Hystrix's nine percentiles (the snapshot lacks the 0th, 25th and
75th). The
baseline is prometheus_client's own ``generate_latest`` over a registry
holding the same samples as dyno's exposition (event counters per service and
event, rolling gauges, in-flight and error-percentage gauges), so the ratio says
whether writing the text by hand costs more than the standard client does.
"""

from __future__ import annotations

import json

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from benchmarks.runner import compare, format_table
from dyno.breaker import CircuitBreaker
from dyno.clock import FakeClock
from dyno.dashboard import View, hystrix_event, prometheus_text
from dyno.metrics import EVENTS, Metrics

BASELINE = "prometheus_client generate_latest (same samples)"
SERVICES = 20


def _views() -> list[View]:
    """20 services, each with a full 10-bucket window of 200 calls per bucket."""
    clock = FakeClock()
    metrics = [Metrics(clock=clock) for _ in range(SERVICES)]
    for bucket in range(10):
        for each in metrics:
            for call in range(200):
                latency = 0.001 + (call * 7919 % 1000) / 10_000
                if call % 17:
                    each.success(latency)
                else:
                    each.failure(latency)
        if bucket < 9:
            clock.advance(1.0)
    return [
        View(f"service-{index}", each, CircuitBreaker(clock=clock))
        for index, each in enumerate(metrics)
    ]


def _registry(views: list[View]) -> CollectorRegistry:
    """A prometheus_client registry with the samples dyno exports (summary excepted)."""
    registry = CollectorRegistry()
    total = Counter("dyno_service_events", "Events.", ["service", "event"], registry=registry)
    rolling = Gauge(
        "dyno_service_rolling_events", "Rolling.", ["service", "event"], registry=registry
    )
    in_flight = Gauge("dyno_service_in_flight", "In flight.", ["service"], registry=registry)
    errors = Gauge("dyno_service_error_percentage", "Error %.", ["service"], registry=registry)
    state = Gauge("dyno_service_circuit_state", "State.", ["service", "state"], registry=registry)
    for view in views:
        assert view.metrics is not None
        totals, counts = view.metrics.totals(), view.metrics.counts()
        for event in EVENTS:
            total.labels(view.name, event).inc(totals[event])
            rolling.labels(view.name, event).set(counts[event])
        in_flight.labels(view.name).set(0)
        errors.labels(view.name).set(view.metrics.error_percentage)
        for name in ("closed", "open", "half_open", "forced_open", "forced_closed"):
            state.labels(view.name, name).set(int(name == "closed"))
    return registry


def main() -> str:
    views = _views()
    registry = _registry(views)

    def stream_tick() -> bytes:
        return b"".join(
            json.dumps(hystrix_event(view), separators=(",", ":")).encode() for view in views
        )

    cases = {
        BASELINE: lambda: generate_latest(registry),
        f"dyno prometheus_text ({SERVICES} services, live reads)": lambda: prometheus_text(views),
        f"dyno stream tick: {SERVICES} hystrix events as JSON": stream_tick,
        "dyno hystrix_event, one service": lambda: hystrix_event(views[0]),
    }
    results = compare(cases, BASELINE, rounds=7)
    return format_table(
        f"exporting {SERVICES} services (full 10-bucket windows)", results, BASELINE
    )


if __name__ == "__main__":
    print(main())
