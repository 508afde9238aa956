"""dyno.metrics against prometheus_client: the cost of recording one call.

The issue's target: recording one success with its latency costs at most half
of prometheus_client's ``Counter.inc()`` plus ``Histogram.observe()`` (the
pair a Prometheus user needs for the same information), in one process.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from benchmarks.runner import compare, format_table
from dyno.clock import FakeClock
from dyno.metrics import Metrics

BASELINE = "prometheus Counter.inc() + Histogram.observe()"


def main() -> str:
    registry = CollectorRegistry()
    counter = Counter("calls", "Calls made.", registry=registry)
    histogram = Histogram("latency_seconds", "Call latency.", registry=registry)
    metrics = Metrics("bench")

    def prometheus_pair() -> None:
        counter.inc()
        histogram.observe(0.0123)

    cases = {
        BASELINE: prometheus_pair,
        "prometheus Counter.inc()": counter.inc,
        "dyno Metrics.success(latency)": lambda: metrics.success(0.0123),
        "dyno Metrics.success()": metrics.success,
        "dyno Metrics.record('failure', latency)": lambda: metrics.record("failure", 0.0123),
    }
    results = compare(cases, BASELINE)
    tables = [format_table("recording one call", results, BASELINE)]

    @metrics
    def decorated() -> None:
        return None

    def bare() -> None:
        return None

    def with_block() -> None:
        with metrics:
            pass

    timed = {
        "bare function call": bare,
        "@metrics decorated call": decorated,
        "with metrics: block": with_block,
    }
    timed_results = compare(timed, "bare function call")
    tables.append(format_table("timing a call", timed_results, "bare function call"))

    # Reads over a full window: 10 buckets of 1,000 latencies each, on a still clock.
    clock = FakeClock()
    full = Metrics("full", clock=clock)
    for bucket in range(10):
        for index in range(1_000):
            full.success(0.001 + (index * 7919 % 1000) / 1000)
        if bucket < 9:
            clock.advance(1.0)
    reads = {
        "Metrics.counts()": full.counts,
        "Metrics.percentile(99)": lambda: full.percentile(99),
        "Metrics.snapshot()": full.snapshot,
    }
    read_results = compare(reads, "Metrics.counts()", rounds=5)
    tables.append(format_table("reading a full window", read_results, "Metrics.counts()"))
    return "\n\n".join(tables)
