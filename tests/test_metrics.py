"""dyno.metrics: rolling counts, rates, percentiles and in-flight calls, in bounded memory."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import inspect
import json
import math
import random
import sys
import threading
import tracemalloc
import weakref
from collections.abc import Generator, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dyno import metrics as metrics_module
from dyno.clock import FakeClock, use_clock
from dyno.metrics import EVENTS, Latency, Metrics, MetricsSnapshot, classify
from dyno.utils import percentile as exact_percentile

ZEROS = dict.fromkeys(EVENTS, 0)
# A latency on a bin's edge reads as the bin's middle, off by RELATIVE_ERROR exactly,
# give or take a rounding.
TOLERANCE = metrics_module.RELATIVE_ERROR + 1e-12


class Broken(Exception):
    """Stands in for dyno.breaker.Broken: metrics knows it by name, not by import."""


class RateLimited(Exception):
    """Stands in for dyno.breaker.RateLimited."""


class SubBroken(Broken):
    """A subclass of a class named Broken is still a short circuit."""


class Declared(Exception):
    """An exception that names its own event."""

    dyno_event = "rejection"


class ManualClock:
    """A clock a test may also move backwards (FakeClock only moves forwards)."""

    def __init__(self, now: float = 0.0) -> None:
        self.time = now

    def now(self) -> float:
        return self.time

    def wall(self) -> float:
        return 1000.0 + self.time

    def sleep(self, seconds: float) -> None:
        self.time += seconds

    async def asleep(self, seconds: float) -> None:
        self.time += seconds


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock pinned on the Metrics under test."""
    return FakeClock()


@pytest.fixture
def metrics(clock: FakeClock) -> Metrics:
    """A Metrics with the default 10 s window in 10 one-second buckets, on a fake clock."""
    return Metrics("db", clock=clock)


def counts(**nonzero: int) -> dict[str, int]:
    return {**ZEROS, **nonzero}


# -- construction --------------------------------------------------------------


def test_defaults() -> None:
    """Metrics() has no name, a 10 s window and 10 buckets."""
    metrics = Metrics()
    assert metrics.name is None
    assert metrics.window == 10.0
    assert metrics.buckets == 10


def test_metrics_can_be_held_weakly() -> None:
    """A Metrics supports weak references (a dashboard may list them without keeping them)."""
    metrics = Metrics()
    reference = weakref.ref(metrics)
    assert reference() is metrics


def test_options_are_kept(clock: FakeClock) -> None:
    """name, window and buckets read back as given (window as a float)."""
    metrics = Metrics("api", window=60, buckets=6, clock=clock)
    assert (metrics.name, metrics.window, metrics.buckets) == ("api", 60.0, 6)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"window": 0}, ValueError, "'window' must be > 0 (got 0 that is a <class 'int'>)"),
        ({"window": -1.5}, ValueError, "'window' must be > 0 (got -1.5 that is a <class 'float'>)"),
        (
            {"window": math.inf},
            ValueError,
            "'window' must be finite (got inf that is a <class 'float'>)",
        ),
        ({"window": math.nan}, ValueError, "'window' must be a number, not NaN"),
        ({"window": "10"}, TypeError, "'window' must be a real number (int or float) (got '10'"),
        ({"window": True}, TypeError, "'window' must be a real number"),
        ({"buckets": 0}, ValueError, "'buckets' must be >= 1 (got 0 that is a <class 'int'>)"),
        (
            {"buckets": 2.0},
            TypeError,
            "'buckets' must be an int (got 2.0 that is a <class 'float'>)",
        ),
        ({"buckets": "3"}, TypeError, "'buckets' must be an int"),
        ({"buckets": True}, TypeError, "'buckets' must be an int"),
        ({"name": 3}, TypeError, "'name' must be one of <class 'str'>, <class 'NoneType'> (got 3"),
        (
            {"clock": object()},
            TypeError,
            "'clock' must implement dyno.clock.Clock (now, wall, sleep, asleep) (got <object",
        ),
    ],
)
def test_bad_options_are_refused(
    options: dict[str, object], error: type[Exception], message: str
) -> None:
    """Bad options raise TypeError/ValueError at construction, naming option and value."""
    with pytest.raises(error) as info:
        Metrics(**options)  # type: ignore[arg-type]  # bad input on purpose
    assert str(info.value).startswith(message)


def test_window_need_not_divide_evenly() -> None:
    """A window that does not divide into whole-millisecond buckets is fine (floats)."""
    clock = FakeClock()
    metrics = Metrics(window=1.0, buckets=3, clock=clock)
    metrics.success()
    clock.advance(1.0)
    metrics.success()
    assert metrics.counts()["success"] == 1
    assert metrics.totals()["success"] == 2


# -- recording -----------------------------------------------------------------


@pytest.mark.parametrize("event", EVENTS)
def test_each_event_method_counts_its_event(metrics: Metrics, event: str) -> None:
    """metrics.<event>() and metrics.record(event) count that event and only that one."""
    getattr(metrics, event)()
    getattr(metrics, event)(0.5)
    metrics.record(event)
    metrics.record(event, latency=0.25)
    assert metrics.counts() == counts(**{event: 4})
    assert metrics.totals() == counts(**{event: 4})
    assert metrics.latency().count == 2
    assert metrics.latency().max == 0.5


def test_counts_and_totals_list_every_event_in_order(metrics: Metrics) -> None:
    """counts() and totals() hold every event, zeros included, in EVENTS order."""
    assert list(metrics.counts()) == list(EVENTS)
    assert metrics.counts() == ZEROS
    assert metrics.totals() == ZEROS
    assert EVENTS == (
        "success",
        "failure",
        "timeout",
        "short_circuit",
        "rejection",
        "fallback_success",
        "fallback_failure",
    )


def test_unknown_event_is_refused(metrics: Metrics) -> None:
    """record() with an unknown event raises ValueError naming it and the valid ones."""
    with pytest.raises(ValueError) as info:
        metrics.record("succes")
    assert str(info.value) == (
        "Cannot record 'succes': it is not a Metrics event. Use one of 'success', 'failure', "
        "'timeout', 'short_circuit', 'rejection', 'fallback_success', 'fallback_failure'."
    )
    with pytest.raises(ValueError, match="Cannot record 3: it is not a Metrics event"):
        metrics.record(3)  # type: ignore[arg-type]  # bad input on purpose
    assert metrics.totals() == ZEROS


@pytest.mark.parametrize("method", ["success", "failure", "record"])
@pytest.mark.parametrize(
    ("latency", "error", "message"),
    [
        (-0.1, ValueError, "'latency' must be >= 0 (got -0.1 that is a <class 'float'>)"),
        (math.nan, ValueError, "'latency' must be a number, not NaN"),
        (math.inf, ValueError, "'latency' must be finite (got inf that is a <class 'float'>)"),
        ("0.1", TypeError, "'latency' must be a real number (int or float) (got '0.1'"),
        ([1], TypeError, "'latency' must be a real number (int or float) (got [1]"),
    ],
)
def test_bad_latency_is_refused_and_nothing_counted(
    metrics: Metrics, method: str, latency: object, error: type[Exception], message: str
) -> None:
    """A negative, NaN, infinite or non-numeric latency raises and counts nothing."""
    args = ("success", latency) if method == "record" else (latency,)
    with pytest.raises(error) as info:
        getattr(metrics, method)(*args)
    assert str(info.value).startswith(message)
    assert metrics.totals() == ZEROS


def test_zero_and_tiny_latencies_are_counted(metrics: Metrics) -> None:
    """Latencies of zero and below a microsecond count, and read back as at most their max."""
    metrics.success(0.0)
    metrics.success(0)
    assert metrics.percentile(50) == 0.0
    assert metrics.latency() == Latency(2, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    metrics.success(1e-9)
    assert metrics.percentile(100) == 1e-9


def test_huge_latencies_are_clamped_but_max_is_exact(metrics: Metrics) -> None:
    """Latencies past the histogram's top (68 min) land in its last bin; max stays exact."""
    metrics.success(10_000.0)
    assert metrics.percentile(100) == 10_000.0
    assert 4096.0 <= metrics.percentile(50) <= 10_000.0
    assert metrics.latency().mean == 10_000.0


def test_int_latencies_work(metrics: Metrics) -> None:
    """An int latency is a number of seconds like a float."""
    metrics.success(2)
    assert metrics.latency().max == 2
    assert metrics.percentile(50) == pytest.approx(2, rel=TOLERANCE)


# -- rolling -------------------------------------------------------------------


def test_counts_roll_out_bucket_by_bucket(metrics: Metrics, clock: FakeClock) -> None:
    """An event leaves counts() exactly `window` seconds after its bucket began, one per bucket."""
    for second in range(10):
        metrics.success()
        metrics.failure()
        if second < 9:
            clock.advance(1.0)
    assert metrics.counts() == counts(success=10, failure=10)
    for remaining in range(9, -1, -1):
        clock.advance(1.0)
        assert metrics.counts() == counts(success=remaining, failure=remaining)
    assert metrics.totals() == counts(success=10, failure=10)


def test_bucket_boundaries_follow_clock_time(clock: FakeClock) -> None:
    """Bucket i holds clock time [i*w, (i+1)*w): an event late in a bucket leaves with it."""
    metrics = Metrics(window=2.0, buckets=2, clock=clock)
    clock.advance(0.99)
    metrics.success()
    clock.advance(1.0)  # 1.99: second bucket, event still in window
    assert metrics.counts()["success"] == 1
    clock.advance(0.01)  # 2.00: the first bucket is now out of the window
    assert metrics.counts()["success"] == 0


def test_gap_longer_than_window_empties_it(metrics: Metrics, clock: FakeClock) -> None:
    """After a silence longer than the window every count and latency is gone; totals stay."""
    for _ in range(5):
        metrics.success(0.1)
        metrics.timeout(2.0)
        clock.advance(1.0)
    clock.advance(25.0)
    assert metrics.counts() == ZEROS
    assert metrics.latency() == Latency(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert metrics.percentile(99) == 0.0
    assert metrics.graph == [0.0] * 10
    assert metrics.totals() == counts(success=5, timeout=5)
    metrics.success(0.3)
    assert metrics.counts() == counts(success=1)
    assert metrics.latency().max == 0.3


def test_gap_while_recording_empties_the_window(metrics: Metrics, clock: FakeClock) -> None:
    """A gap noticed by a write (not a read) empties the window as well."""
    metrics.failure()
    clock.advance(10.0)
    metrics.success()
    assert metrics.counts() == counts(success=1)
    assert metrics.totals() == counts(success=1, failure=1)


def test_late_writer_counts_in_the_current_bucket() -> None:
    """A clock reading slightly behind the current bucket (a racing thread) is still counted."""
    clock = ManualClock(5.5)
    metrics = Metrics(clock=clock)
    metrics.success()
    clock.time = 3.2  # read before another thread rolled to 5: counted in bucket 5
    metrics.success()
    clock.time = 5.6
    assert metrics.counts() == counts(success=2)
    clock.time = 15.0  # bucket 5 rolls out with both
    assert metrics.counts() == ZEROS


def test_clock_far_behind_empties_the_window() -> None:
    """A clock reading a whole window behind (another clock installed) starts a fresh window."""
    clock = ManualClock(1000.0)
    metrics = Metrics(clock=clock)
    metrics.success()
    clock.time = 0.0
    metrics.failure()
    assert metrics.counts() == counts(failure=1)
    assert metrics.totals() == counts(success=1, failure=1)
    clock.time = 10.0
    assert metrics.counts() == ZEROS


def test_global_clock_is_read_at_each_use() -> None:
    """A Metrics made with clock=None follows use_clock() installed after its creation."""
    metrics = Metrics()
    fake = FakeClock(100.0, epoch=5000.0)
    with use_clock(fake):
        metrics.success(0.2)
        assert metrics.counts()["success"] == 1
        fake.advance(10.0)
        assert metrics.counts()["success"] == 0
        assert metrics.snapshot().time == 5110.0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(EVENTS),
            st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0, 3.0, 9.9, 10.0, 25.0]),
        ),
        max_size=60,
    ),
    st.sampled_from([(10.0, 10), (10.0, 1), (3.0, 4), (1.0, 10)]),
)
def test_counts_match_a_model_of_the_window(
    steps: list[tuple[str, float]], shape: tuple[float, int]
) -> None:
    """counts() is the events whose bucket is among the last `buckets`; totals() is all of them."""
    window, buckets = shape
    clock = FakeClock()
    metrics = Metrics(window=window, buckets=buckets, clock=clock)
    log: list[tuple[str, int]] = []
    for event, advance in steps:
        clock.advance(advance)
        metrics.record(event)
        log.append((event, math.floor(clock.now() * buckets / window)))
        current = math.floor(clock.now() * buckets / window)
        expected = counts()
        for logged, tick in log:
            if tick > current - buckets:
                expected[logged] += 1
        assert metrics.counts() == expected
    totals = counts()
    for event, _ in log:
        totals[event] += 1
    assert metrics.totals() == totals


# -- rates ---------------------------------------------------------------------


def test_rates_and_error_percentage_follow_hystrix(metrics: Metrics) -> None:
    """Requests are success+failure+timeout+rejection, errors failure+timeout+rejection."""
    for _ in range(6):
        metrics.success()
    metrics.failure()
    metrics.timeout()
    metrics.rejection()
    metrics.short_circuit()
    metrics.short_circuit()
    metrics.fallback_success()
    metrics.fallback_failure()
    assert metrics.request_rate == 0.9  # 9 requests over 10 s
    assert metrics.error_rate == pytest.approx(0.3)
    assert metrics.error_percentage == pytest.approx(100 * 3 / 9)


def test_error_percentage_is_zero_without_requests(metrics: Metrics) -> None:
    """With no requests (short circuits only) the error percentage is 0.0, not a division error."""
    assert metrics.error_percentage == 0.0
    metrics.short_circuit()
    metrics.fallback_failure()
    assert metrics.error_percentage == 0.0
    assert metrics.request_rate == 0.0
    assert metrics.error_rate == 0.0


def test_error_percentage_reaches_100(metrics: Metrics) -> None:
    """Only failures give 100.0."""
    metrics.failure()
    metrics.timeout()
    assert metrics.error_percentage == 100.0


def test_rates_roll_with_the_window(metrics: Metrics, clock: FakeClock) -> None:
    """Rates count only the window."""
    metrics.failure()
    clock.advance(5.0)
    metrics.success()
    assert metrics.error_percentage == 50.0
    clock.advance(5.0)
    assert metrics.error_percentage == 0.0
    assert metrics.request_rate == 0.1


# -- latency -------------------------------------------------------------------

PERCENTS = (0, 1, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100)


def _distributions() -> dict[str, list[float]]:
    rng = random.Random(20261128)
    return {
        "uniform 1 ms..1 s": [rng.uniform(0.001, 1.0) for _ in range(20_000)],
        "exponential mean 50 ms": [rng.expovariate(20.0) + 1e-5 for _ in range(20_000)],
        "lognormal": [rng.lognormvariate(-4.0, 1.5) for _ in range(20_000)],
        "integers 1..1000 ms": [i / 1000 for i in range(1, 1001)],
        "bimodal": [0.002] * 900 + [1.5] * 100,
    }


@pytest.mark.parametrize("name", sorted(_distributions()))
def test_percentiles_of_known_distributions_within_one_percent(name: str) -> None:
    """Every percentile is within 1 % (0.97 %) of the exact nearest-rank percentile."""
    data = _distributions()[name]
    metrics = Metrics(clock=FakeClock())
    for value in data:
        metrics.success(value)
    assert metrics_module.RELATIVE_ERROR < 0.01
    for p in PERCENTS:
        exact = exact_percentile(p, data)
        assert metrics.percentile(p) == pytest.approx(exact, rel=TOLERANCE)
    latency = metrics.latency()
    assert latency.count == len(data)
    assert latency.mean == pytest.approx(sum(data) / len(data), rel=1e-9)
    assert latency.max == max(data)
    for field, p in [("p50", 50), ("p90", 90), ("p95", 95), ("p99", 99), ("p995", 99.5)]:
        assert getattr(latency, field) == metrics.percentile(p)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(min_value=1e-6, max_value=4000.0), min_size=1, max_size=200),
    st.floats(min_value=0, max_value=100),
)
def test_any_percentile_is_within_the_relative_error(data: list[float], p: float) -> None:
    """For latencies from 1 us to 68 min, percentile(p) is within 0.97 % of the exact value."""
    metrics = Metrics(clock=FakeClock())
    for value in data:
        metrics.success(value)
    exact = exact_percentile(p, data)
    assert metrics.percentile(p) == pytest.approx(exact, rel=TOLERANCE)
    assert metrics.percentile(p) <= max(data)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(min_value=0, max_value=5000.0), max_size=60),
    st.lists(st.floats(min_value=0, max_value=100), max_size=12),
    st.integers(min_value=0, max_value=12),
)
def test_percentiles_equal_one_percentile_call_each(
    data: list[float], ps: list[float], ticks: int
) -> None:
    """percentiles(*ps) is exactly (percentile(p) for p in ps), across buckets too."""
    clock = FakeClock()
    metrics = Metrics(clock=clock)
    for index, value in enumerate(data):
        if ticks and index % (ticks + 1) == ticks:
            clock.advance(1.0)  # spread the data over the window's buckets
        metrics.success(value)
    assert metrics.percentiles(*ps) == tuple(metrics.percentile(p) for p in ps)


def test_percentiles_of_nothing_is_empty_and_bad_values_are_refused(metrics: Metrics) -> None:
    """percentiles() is (); any p outside 0..100 or not a number raises, naming 'p'."""
    metrics.success(0.1)
    assert metrics.percentiles() == ()
    assert metrics.percentiles(100, 0) == (0.1, metrics.percentile(0))
    with pytest.raises(
        ValueError, match=r"^'p' must be <= 100 \(got 101 that is a <class 'int'>\)"
    ):
        metrics.percentiles(50, 101)
    with pytest.raises(TypeError, match=r"^'p' must be a real number \(int or float\) \(got '9'"):
        metrics.percentiles("9")  # type: ignore[arg-type]  # bad input on purpose


def test_percentiles_copy_the_histograms_once(
    metrics: Metrics, monkeypatch: pytest.MonkeyPatch
) -> None:
    """percentiles() reads the window (and copies its histograms) once, whatever the count."""
    metrics.success(0.1)
    reads: list[bool] = []
    state = Metrics._state

    def counting_state(self: Metrics, *, histograms: bool = False) -> object:
        reads.append(histograms)
        return state(self, histograms=histograms)

    monkeypatch.setattr(Metrics, "_state", counting_state)
    metrics.percentiles(0, 25, 50, 75, 90, 95, 99, 99.5, 100)
    assert reads == [True]


def test_percentiles_roll_with_the_window(metrics: Metrics, clock: FakeClock) -> None:
    """Latencies leave the percentiles with their bucket."""
    metrics.success(2.0)
    clock.advance(5.0)
    metrics.success(0.01)
    assert metrics.percentile(100) == 2.0
    clock.advance(5.0)
    assert metrics.percentile(100) == 0.01
    assert metrics.latency().count == 1


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([0.0, 0.3, 1.0, 2.5, 11.0]),
            st.sampled_from([0.001, 0.0123, 0.5, 2.0, 100.0]),
        ),
        min_size=1,
        max_size=60,
    ),
    st.floats(min_value=0, max_value=100),
)
def test_latencies_match_a_model_of_the_window(steps: list[tuple[float, float]], p: float) -> None:
    """Latency count, max and percentiles cover the latencies of the last `buckets` buckets."""
    clock = FakeClock()
    metrics = Metrics(clock=clock)  # 10 s in 10 buckets
    log: list[tuple[float, int]] = []
    for advance, latency in steps:
        clock.advance(advance)
        metrics.success(latency)
        current = math.floor(clock.now())
        log.append((latency, current))
        window = [value for value, tick in log if tick > current - 10]
        result = metrics.latency()
        assert (result.count, result.max) == (len(window), max(window))
        exact = exact_percentile(p, window)
        assert metrics.percentile(p) == pytest.approx(exact, rel=TOLERANCE)
    assert metrics.snapshot().latency_count == len(log)
    assert metrics.snapshot().latency_sum == pytest.approx(sum(value for value, _ in log))


def test_empty_window_gives_zero_latency(metrics: Metrics) -> None:
    """With no latency in the window, percentile() is 0.0 and latency() all zeros."""
    assert metrics.percentile(50) == 0.0
    assert metrics.latency() == Latency(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    metrics.success()  # counted, but without a latency
    assert metrics.latency().count == 0


@pytest.mark.parametrize(
    ("p", "error", "message"),
    [
        (-1, ValueError, "'p' must be >= 0 (got -1 that is a <class 'int'>)"),
        (100.5, ValueError, "'p' must be <= 100 (got 100.5 that is a <class 'float'>)"),
        ("50", TypeError, "'p' must be a real number (int or float) (got '50'"),
    ],
)
def test_bad_percentile_is_refused(
    metrics: Metrics, p: object, error: type[Exception], message: str
) -> None:
    """percentile() outside 0..100 or not a number raises, naming 'p'."""
    with pytest.raises(error) as info:
        metrics.percentile(p)  # type: ignore[arg-type]  # bad input on purpose
    assert str(info.value).startswith(message)


def test_latency_is_frozen_and_slotted() -> None:
    """Latency is an immutable, slotted value."""
    latency = Latency(1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        latency.mean = 0.2  # type: ignore[misc]  # frozen on purpose
    assert not hasattr(latency, "__dict__")


# -- graph ---------------------------------------------------------------------


def test_graph_is_requests_per_bucket_oldest_first(metrics: Metrics, clock: FakeClock) -> None:
    """graph holds one value per bucket, oldest first, relative to the busiest bucket."""
    assert metrics.graph == [0.0] * 10
    for _ in range(4):
        metrics.success()
    clock.advance(8.0)
    metrics.failure()
    metrics.short_circuit()  # not a request
    metrics.fallback_success()  # not a request
    clock.advance(1.0)
    metrics.timeout()
    metrics.rejection()
    assert metrics.graph == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.5]
    clock.advance(1.0)
    assert metrics.graph == [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 1.0, 0.0]


def test_graph_has_one_entry_per_bucket() -> None:
    """len(graph) is the bucket count, whatever it is."""
    for buckets in (1, 3, 60):
        assert len(Metrics(buckets=buckets, clock=FakeClock()).graph) == buckets


# -- in flight, context manager and decorator ----------------------------------


def test_context_manager_times_and_counts_a_success(metrics: Metrics, clock: FakeClock) -> None:
    """`with metrics:` counts a success with the block's duration and tracks it in flight."""
    with metrics as entered:
        assert entered is metrics
        assert metrics.in_flight == 1
        clock.advance(0.25)
    assert metrics.in_flight == 0
    assert metrics.counts() == counts(success=1)
    assert metrics.latency() == Latency(1, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25)


@pytest.mark.parametrize(
    ("error", "event", "timed"),
    [
        (ValueError("bad"), "failure", True),
        (TimeoutError(), "timeout", True),
        (Broken(), "short_circuit", False),
        (SubBroken(), "short_circuit", False),
        (RateLimited(), "rejection", False),
        (Declared(), "rejection", False),
    ],
)
def test_context_manager_classifies_exceptions(
    metrics: Metrics, clock: FakeClock, error: Exception, event: str, timed: bool
) -> None:
    """Exceptions propagate unchanged and count by classify(); only executions are timed."""

    def call() -> None:
        with metrics:
            clock.advance(0.5)
            raise error

    with pytest.raises(type(error)) as info:
        call()
    assert info.value is error
    assert metrics.counts() == counts(**{event: 1})
    assert metrics.in_flight == 0
    assert metrics.latency().count == (1 if timed else 0)


@pytest.mark.parametrize("error", [KeyboardInterrupt(), SystemExit(2), GeneratorExit()])
def test_base_exceptions_pass_through_uncounted(metrics: Metrics, error: BaseException) -> None:
    """KeyboardInterrupt and friends pass through untouched, uncounted, out of flight."""
    with pytest.raises(type(error)) as info, metrics:
        raise error
    assert info.value is error
    assert metrics.totals() == ZEROS
    assert metrics.in_flight == 0


def test_nested_context_managers_time_each_block(metrics: Metrics, clock: FakeClock) -> None:
    """Nested `with` blocks on one Metrics each keep their own start time."""
    with metrics:
        clock.advance(1.0)
        with metrics:
            assert metrics.in_flight == 2
            clock.advance(0.5)
        clock.advance(1.0)
    assert metrics.counts() == counts(success=2)
    assert metrics.latency().max == 2.5
    assert metrics.percentile(0) == pytest.approx(0.5, rel=TOLERANCE)


def test_threads_keep_separate_start_times(metrics: Metrics, clock: FakeClock) -> None:
    """`with metrics:` in two threads at once times each thread's own block."""
    entered = threading.Barrier(2, timeout=10)
    advanced = threading.Event()

    def first() -> None:
        with metrics:
            entered.wait()
            assert advanced.wait(10)

    def second() -> None:
        entered.wait()
        clock.advance(3.0)
        with metrics:
            clock.advance(1.0)
        advanced.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert metrics.counts() == counts(success=2)
    assert metrics.latency().max == 4.0
    assert metrics.percentile(0) == pytest.approx(1.0, rel=TOLERANCE)


def test_async_context_manager_counts_and_classifies(metrics: Metrics, clock: FakeClock) -> None:
    """`async with metrics:` times the block and classifies its outcome like `with`."""

    async def main() -> None:
        async with metrics:
            assert metrics.in_flight == 1
            await clock.asleep(0.2)
        with pytest.raises(TimeoutError):
            await time_out()

    async def time_out() -> None:
        async with metrics:
            await clock.asleep(1.0)
            raise TimeoutError

    asyncio.run(main())
    assert metrics.counts() == counts(success=1, timeout=1)
    assert metrics.latency().max == 1.0
    assert metrics.in_flight == 0


def test_async_tasks_keep_separate_start_times() -> None:
    """Overlapping `async with` blocks in two tasks each time their own span."""
    clock = ManualClock()
    metrics = Metrics(clock=clock)

    async def timed(inside: asyncio.Event, release: asyncio.Event, seconds: float) -> None:
        async with metrics:
            inside.set()
            await release.wait()
            clock.time += seconds

    async def main() -> None:
        a_inside, a_release, b_inside, b_release = (asyncio.Event() for _ in range(4))
        task_a = asyncio.create_task(timed(a_inside, a_release, 0.0))
        await a_inside.wait()
        clock.time += 2.0  # A has run 2 s when B enters
        task_b = asyncio.create_task(timed(b_inside, b_release, 0.5))
        await b_inside.wait()
        assert metrics.in_flight == 2
        b_release.set()
        await task_b  # B took 0.5 s
        a_release.set()
        await task_a  # A took 2.5 s

    asyncio.run(main())
    assert metrics.latency().max == 2.5
    assert metrics.percentile(0) == pytest.approx(0.5, rel=TOLERANCE)
    assert metrics.in_flight == 0


def test_decorator_times_and_counts_sync_calls(metrics: Metrics, clock: FakeClock) -> None:
    """@metrics on a function returns its result, times each call and classifies it."""
    error = ValueError("nope")

    @metrics
    def call(seconds: float, fail: bool = False) -> str:
        """Docstring kept."""
        assert metrics.in_flight == 1
        clock.advance(seconds)
        if fail:
            raise error
        return "ok"

    assert call(0.1) == "ok"
    with pytest.raises(ValueError) as info:
        call(0.3, fail=True)
    assert info.value is error
    assert call.__name__ == "call"
    assert call.__doc__ == "Docstring kept."
    assert metrics.counts() == counts(success=1, failure=1)
    assert metrics.latency().max == pytest.approx(0.3)
    assert metrics.in_flight == 0


def test_decorator_on_methods(metrics: Metrics) -> None:
    """@metrics works on methods; self is passed through."""

    class Client:
        @metrics
        def get(self, key: str) -> str:
            return key * 2

    assert Client().get("a") == "aa"
    assert metrics.counts() == counts(success=1)


def test_decorator_under_static_and_class_method_decorators(metrics: Metrics) -> None:
    """@staticmethod/@classmethod above @metrics work; below it they are refused with advice."""

    class Client:
        @staticmethod
        @metrics
        def ping(x: int) -> int:
            return x

        @classmethod
        @metrics
        def name(cls) -> str:
            return cls.__name__

    assert (Client.ping(1), Client().ping(2), Client.name()) == (1, 2, "Client")
    assert metrics.counts() == counts(success=3)

    def helper(x: object) -> int:
        return 0

    methods: list[object] = [staticmethod(helper), classmethod(helper)]
    for method in methods:
        kind = type(method).__name__
        with pytest.raises(TypeError) as info:
            metrics(method)  # type: ignore[arg-type]  # bad input on purpose
        assert str(info.value) == (
            f"Cannot apply @metrics to {method!r}: it is a {kind} object, not a function. "
            f"Put @{kind} above @metrics instead."
        )


def test_decorator_times_and_counts_async_calls(metrics: Metrics, clock: FakeClock) -> None:
    """@metrics on an async def gives an async wrapper that times the awaited call."""

    @metrics
    async def call(outcome: BaseException | None) -> int:
        assert metrics.in_flight == 1
        await clock.asleep(0.4)
        if outcome is not None:
            raise outcome
        return 7

    assert inspect.iscoroutinefunction(call)

    async def main() -> None:
        assert await call(None) == 7
        with pytest.raises(Broken):
            await call(Broken())
        with pytest.raises(RateLimited):
            await call(RateLimited())
        with pytest.raises(asyncio.CancelledError):
            await call(asyncio.CancelledError())

    asyncio.run(main())
    assert metrics.counts() == counts(success=1, short_circuit=1, rejection=1)
    assert metrics.latency().count == 1
    assert metrics.in_flight == 0


def test_cancelled_task_is_uncounted_and_leaves_flight(metrics: Metrics) -> None:
    """A task cancelled inside a decorated call is not counted, and not left in flight."""
    started = asyncio.Event

    async def main() -> None:
        running = started()

        @metrics
        async def hang() -> None:
            running.set()
            await asyncio.Event().wait()

        task = asyncio.create_task(hang())
        await running.wait()
        assert metrics.in_flight == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert metrics.totals() == ZEROS
    assert metrics.in_flight == 0


def test_decorator_times_generators_over_their_iteration(
    metrics: Metrics, clock: FakeClock
) -> None:
    """A decorated generator function is timed from first next() to exhaustion."""

    @metrics
    def rows() -> Generator[int, None, str]:
        for row in range(3):
            clock.advance(0.5)
            yield row
        return "done"

    iterator = rows()
    assert metrics.in_flight == 0
    assert list(iterator) == [0, 1, 2]
    assert metrics.counts() == counts(success=1)
    assert metrics.latency().max == 1.5

    closed = rows()
    next(closed)
    closed.close()  # GeneratorExit: not an outcome
    assert metrics.counts() == counts(success=1)
    assert metrics.in_flight == 0


def test_decorator_refuses_async_generators_and_non_callables(metrics: Metrics) -> None:
    """Async generator functions and non-callables raise TypeError at decoration."""

    async def agen() -> object:
        yield 1

    with pytest.raises(TypeError, match="Cannot time async generator function"):
        metrics(agen)
    with pytest.raises(TypeError, match="'fn' must be callable"):
        metrics(3)  # type: ignore[arg-type]  # bad input on purpose


# -- classify ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "event"),
    [
        (None, "success"),
        (ValueError(), "failure"),
        (ConnectionError(), "failure"),
        (TimeoutError(), "timeout"),
        (Broken(), "short_circuit"),
        (SubBroken(), "short_circuit"),
        (RateLimited(), "rejection"),
        (Declared(), "rejection"),
        (KeyboardInterrupt(), None),
        (asyncio.CancelledError(), None),
    ],
)
def test_classify(outcome: BaseException | None, event: str | None) -> None:
    """classify() maps outcomes to events: dyno_event, then class names, then TimeoutError."""
    assert classify(outcome) == event


def test_classify_knows_dyno_breaker_exceptions() -> None:
    """dyno.breaker's Broken and RateLimited count as short circuit and rejection."""
    breaker = pytest.importorskip("dyno.breaker")
    assert classify(breaker.Broken("db", 1.0)) == "short_circuit"
    assert classify(breaker.RateLimited("db", 4)) == "rejection"


def test_dyno_event_wins_and_bad_values_are_ignored() -> None:
    """A valid dyno_event overrides the name rules; an invalid one is ignored."""

    class Odd(TimeoutError):
        dyno_event = "failure"

    class Typo(TimeoutError):
        dyno_event = "timout"

    error = ValueError()
    error.dyno_event = "success"  # type: ignore[attr-defined]  # per-instance declaration
    assert classify(Odd()) == "failure"
    assert classify(Typo()) == "timeout"
    assert classify(error) == "success"


# -- snapshot and repr ---------------------------------------------------------


def test_snapshot_holds_everything_and_is_immutable(clock: FakeClock) -> None:
    """snapshot() is a frozen record of counts, totals, rates, latency, graph and time."""
    metrics = Metrics("db", window=4.0, buckets=4, clock=clock)
    clock.advance(100.0)
    metrics.failure(0.5)
    clock.advance(5.0)
    metrics.success(0.1)
    metrics.success(0.3)
    metrics.short_circuit()
    with metrics:
        snapshot = metrics.snapshot()
        latency = metrics.latency()
    assert isinstance(snapshot, MetricsSnapshot)
    assert snapshot.name == "db"
    assert snapshot.time == 105.0
    assert (snapshot.window, snapshot.buckets) == (4.0, 4)
    assert snapshot.counts == counts(success=2, short_circuit=1)
    assert snapshot.totals == counts(success=2, failure=1, short_circuit=1)
    assert (snapshot.requests, snapshot.errors) == (2, 0)
    assert snapshot.request_rate == 0.5
    assert snapshot.error_rate == 0.0
    assert snapshot.error_percentage == 0.0
    assert snapshot.in_flight == 1
    assert snapshot.latency == latency
    assert snapshot.latency.count == 2
    assert snapshot.latency_count == 3  # since creation, for Prometheus summaries
    assert snapshot.latency_sum == pytest.approx(0.9)
    assert snapshot.graph == (0.0, 0.0, 0.0, 1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.in_flight = 0  # type: ignore[misc]  # frozen on purpose
    with pytest.raises(TypeError):
        snapshot.counts["success"] = 9  # type: ignore[index]  # read-only on purpose
    metrics.success()
    assert snapshot.counts["success"] == 2


def test_snapshot_as_dict_is_json_ready(metrics: Metrics) -> None:
    """as_dict() gives plain data that json.dumps accepts and that round-trips the fields."""
    metrics.success(0.25)
    snapshot = metrics.snapshot()
    data = json.loads(json.dumps(snapshot.as_dict()))
    assert data["counts"] == counts(success=1)
    assert data["latency"]["max"] == 0.25
    assert data["graph"] == list(snapshot.graph)
    assert set(data) == {field.name for field in dataclasses.fields(MetricsSnapshot)}


def test_repr(metrics: Metrics) -> None:
    """repr names the metrics, window, requests, errors, error % and calls in flight."""
    assert repr(metrics) == (
        "<Metrics name='db' window=10.0s/10 requests=0 errors=0 error_percentage=0.0 in_flight=0>"
    )
    metrics.success()
    metrics.failure()
    metrics.failure()
    with metrics:
        assert repr(metrics) == (
            "<Metrics name='db' window=10.0s/10 requests=3 errors=2 error_percentage=66.7 "
            "in_flight=1>"
        )


# -- threads and memory --------------------------------------------------------


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Switch threads as often as the interpreter can, so that races show up."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


@pytest.mark.usefixtures("fast_switching")
def test_exact_totals_from_eight_threads(clock: FakeClock) -> None:
    """8 threads x 5,000 events, while another thread rolls the window, give exact totals."""
    metrics = Metrics(window=1.0, buckets=10, clock=clock)
    start = threading.Barrier(9, timeout=30)
    done = threading.Event()

    def record(worker: int) -> None:
        start.wait()
        for index in range(5_000):
            metrics.record(EVENTS[(worker + index) % 3], 0.001 * (index % 50))
            metrics.success()
            if index % 64 == worker:
                clock.advance(0.1)  # writers roll the window too

    def roll() -> None:
        start.wait()
        while not done.is_set():
            clock.advance(0.1)
            metrics.counts()

    workers = [threading.Thread(target=record, args=(worker,)) for worker in range(8)]
    roller = threading.Thread(target=roll)
    for thread in [*workers, roller]:
        thread.start()
    for thread in workers:
        thread.join(timeout=60)
    done.set()
    roller.join(timeout=60)
    assert not any(thread.is_alive() for thread in [*workers, roller])
    expected = counts(success=40_000)
    for worker in range(8):
        for index in range(5_000):
            expected[EVENTS[(worker + index) % 3]] += 1
    assert metrics.totals() == expected
    assert metrics.snapshot().latency_count == 40_000


@pytest.mark.usefixtures("fast_switching")
def test_exact_in_flight_from_eight_threads() -> None:
    """8 threads each in 2,000 `with` blocks leave in_flight at exactly 0 and count all."""
    metrics = Metrics(clock=FakeClock())
    start = threading.Barrier(8, timeout=30)

    @metrics
    def call() -> None:
        return None

    def worker() -> None:
        start.wait()
        for _ in range(1_000):
            call()
            with metrics:
                pass

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert metrics.in_flight == 0
    assert metrics.totals()["success"] == 16_000


@pytest.mark.usefixtures("fast_switching")
def test_begin_end_count_in_flight_exactly_across_threads() -> None:
    """begin/end (no lock) keep in_flight exact: 8 threads hold 8 calls, then none."""
    metrics = Metrics(clock=FakeClock())
    holding = threading.Barrier(9, timeout=30)
    release = threading.Event()

    def worker() -> None:
        for _ in range(5_000):
            metrics.begin()
            metrics.end()
        metrics.begin()
        holding.wait()
        release.wait(timeout=30)
        metrics.end()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    holding.wait()
    assert metrics.in_flight == 8
    assert metrics.snapshot().in_flight == 8
    release.set()
    for thread in threads:
        thread.join(timeout=60)
    assert metrics.in_flight == 0
    assert metrics.totals() == counts()  # begin/end count no outcome


def test_memory_stays_flat_over_a_million_events() -> None:
    """After 1,000,000 events a Metrics holds no more memory than after 1,000 (bins aside)."""
    clock = FakeClock()
    rng = random.Random(7)
    latencies = [rng.lognormvariate(-4.0, 1.5) for _ in range(1_000)]
    gc.collect()
    tracemalloc.start()
    try:
        metrics = Metrics(clock=clock)
        success = metrics.success
        for latency in latencies:
            success(latency)
        gc.collect()
        after_thousand = tracemalloc.get_traced_memory()[0]
        for _ in range(999):
            clock.advance(0.013)  # 13 s in all: every bucket fills and rolls
            for latency in latencies:
                success(latency)
        gc.collect()
        after_million = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert metrics.totals()["success"] == 1_000_000
    # Keeping the latencies would take 8 MB and more; only the current bucket's bin
    # counts past 256 become int objects (32 bytes each), which this bound allows.
    assert after_million - after_thousand < 64 * 1024


def _filled_size(buckets: int) -> int:
    """Return the bytes a Metrics of *buckets* buckets holds once every bucket has latencies."""
    clock = FakeClock()
    rng = random.Random(11)
    # Spread over the whole range, and 1,000 in one bin (its count is no small int).
    latencies = [rng.lognormvariate(-4.0, 3.0) for _ in range(2_000)] + [0.01] * 1_000
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        metrics = Metrics(window=float(buckets), buckets=buckets, clock=clock)
        for _ in range(buckets):
            for latency in latencies:
                metrics.success(latency)
            clock.advance(1.0)
        metrics.success(0.01)  # the window has rolled past every filled bucket
        gc.collect()
        size = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert metrics.totals()["success"] == buckets * len(latencies) + 1
    return size


def test_each_bucket_holds_a_few_kilobytes() -> None:
    """A bucket's counters and full latency histogram take under 6 KB (4-byte bins)."""
    per_bucket = (_filled_size(21) - _filled_size(1)) / 20
    assert per_bucket < 6 * 1024


def test_ten_buckets_hold_under_80_kilobytes() -> None:
    """A full Metrics of 10 buckets (the default) holds under 80 KB in all."""
    assert _filled_size(10) < 80 * 1024


def test_dunder_all() -> None:
    """__all__ names exactly the public surface."""
    assert set(metrics_module.__all__) == {
        "EVENTS",
        "RELATIVE_ERROR",
        "Metrics",
        "Latency",
        "MetricsSnapshot",
        "classify",
    }
