"""dyno.service: the Hystrix command (circuit, bulkhead, retries, metrics, fallback), sync side.

Timeouts and thread pools are in test_service_isolation.py, async functions in
test_service_async.py.
"""

from __future__ import annotations

import gc
import logging
import pickle
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dyno import service as service_module
from dyno.breaker import (
    Breaker,
    BreakerState,
    Broken,
    CircuitBreaker,
    Limiter,
    RateLimited,
    breakers,
)
from dyno.clock import FakeClock, use_clock
from dyno.harness import Harness, HarnessRecord, listening
from dyno.metrics import EVENTS, Metrics
from dyno.retry import CompoundException, fixed, retry
from dyno.service import Service, ServiceFunction, ServiceTimeout, service, services
from dyno.timing import PerfTimer
from pytest_dyno.flaky import Flaky

Transition = tuple[str, str]


def _counts(**nonzero: int) -> dict[str, int]:
    """Return a full Metrics counts dict: every event 0 but those given."""
    return {event: nonzero.get(event, 0) for event in EVENTS}


def _record_transitions(breaker: CircuitBreaker) -> list[Transition]:
    seen: list[Transition] = []
    breaker.add_listener(lambda _, old, new: seen.append((old.value, new.value)))
    return seen


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    """A FakeClock installed process-wide for the test."""
    fake = FakeClock()
    with use_clock(fake):
        yield fake


@pytest.fixture
def reports() -> Iterator[list[HarnessRecord]]:
    """Every harness record reported during the test."""
    seen: list[HarnessRecord] = []
    with listening(seen.append):
        yield seen


class Dependency:
    """A hand-driven dependency: answers while ``healthy``, else raises ConnectionError."""

    def __init__(self) -> None:
        self.healthy = True
        self.calls: list[tuple[object, ...]] = []

    def __call__(self, *args: object) -> str:
        self.calls.append(args)
        if not self.healthy:
            raise ConnectionError(f"down on call {len(self.calls)}")
        return f"fresh {args}"


# -- the story: healthy, failing, recovered --------------------------------------------


def test_dependency_healthy_failing_recovered_exact_counts_and_transitions(
    clock: FakeClock,
) -> None:
    """A service over a dependency that fails then recovers counts every outcome exactly."""
    dependency = Dependency()
    breaker = CircuitBreaker("inventory", volume=4, failure_ratio=0.5, reset_timeout=5.0)
    transitions = _record_transitions(breaker)
    fallbacks: list[tuple[object, ...]] = []

    def stale(item: str) -> str:
        fallbacks.append((item,))
        return f"stale {item}"

    @service("inventory", retry=2, breaker=breaker, fallback=stale)
    def stock(item: str) -> str:
        return dependency(item)

    metrics = stock.metrics
    assert metrics is not None

    def window() -> tuple[str, int, int]:
        snapshot = breaker.snapshot()
        return snapshot.state.value, snapshot.calls, snapshot.failures

    # Healthy: three answers.
    assert [stock("a"), stock("b"), stock("c")] == ["fresh ('a',)", "fresh ('b',)", "fresh ('c',)"]
    assert metrics.totals() == _counts(success=3)
    assert window() == ("closed", 3, 0)
    assert transitions == []

    # Failing: "d" fails twice (2 of 5 failed, below the ratio) and falls back;
    # "e" fails once (3 of 6: the circuit opens) and its retry is
    # short-circuited; "f" never reaches the dependency.
    dependency.healthy = False
    assert stock("d") == "stale d"
    assert window() == ("closed", 5, 2)
    assert stock("e") == "stale e"
    assert window() == ("open", 6, 3)
    assert transitions == [("closed", "open")]
    assert stock("f") == "stale f"
    assert len(dependency.calls) == 6
    assert fallbacks == [("d",), ("e",), ("f",)]
    assert metrics.totals() == _counts(success=3, failure=3, short_circuit=2, fallback_success=3)

    # Still failing after reset_timeout: the probe fails and opens the circuit
    # again; the retry after it is short-circuited.
    clock.advance(4.0)
    assert stock("early") == "stale early"  # 1 s before the probe is due
    clock.advance(1.0)
    assert stock("g") == "stale g"
    assert len(dependency.calls) == 7
    assert transitions == [("closed", "open"), ("open", "half_open"), ("half_open", "open")]
    assert metrics.totals() == _counts(success=3, failure=4, short_circuit=4, fallback_success=5)

    # Recovered: after another reset_timeout the probe succeeds and closes the
    # circuit with an empty window; calls flow again.
    dependency.healthy = True
    clock.advance(5.0)
    assert stock("h") == "fresh ('h',)"
    assert window() == ("closed", 0, 0)
    assert stock("i") == "fresh ('i',)"
    assert window() == ("closed", 1, 0)
    assert len(dependency.calls) == 9
    assert fallbacks == [("d",), ("e",), ("f",), ("early",), ("g",)]
    assert metrics.totals() == _counts(success=5, failure=4, short_circuit=4, fallback_success=5)
    assert transitions == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]
    assert metrics.in_flight == 0


def test_flaky_dependency_with_retries_counts_each_attempt(clock: FakeClock) -> None:
    """With a pytest_dyno Flaky, every failed attempt and the final success are counted."""
    dependency: Flaky[str] = Flaky(schedule="FFSFS", then="ok")

    @service("flaky-dep", retry=retry(3, backoff=fixed(0.5)))
    def call() -> str:
        return dependency()

    assert call() == "ok"  # F F S
    assert call() == "ok"  # F S
    assert call.metrics is not None
    assert call.metrics.totals() == _counts(success=2, failure=3)
    assert clock.sleeps == [0.5, 0.5, 0.5]
    assert isinstance(call.breaker, CircuitBreaker)
    assert call.breaker.snapshot().calls == 5


# -- defaults and components -----------------------------------------------------------


def test_bare_decorator_names_everything_after_the_function() -> None:
    """Bare @service creates a breaker and metrics named by the qualified name, and lists it."""

    @service
    def lookup(key: str) -> str:
        """Look a key up."""
        return key.upper()

    name = lookup.__qualname__
    assert lookup("a") == "A"
    assert lookup.name == name
    assert isinstance(lookup.breaker, CircuitBreaker)
    assert lookup.breaker.name == name
    assert breakers[name] is lookup.breaker
    assert isinstance(lookup.metrics, Metrics)
    assert lookup.metrics.name == name
    assert lookup.limiter is None
    assert services[name] is lookup
    assert lookup.__name__ == "lookup"
    assert lookup.__doc__ == "Look a key up."
    assert lookup.__wrapped__.__name__ == "lookup"
    assert lookup.service == service()


def test_called_decorator_with_name_names_its_components() -> None:
    """service("db") names the breaker, metrics and limiter "db" and lists the function."""

    @service("db-named", limiter=3)
    def query() -> int:
        return 1

    assert query() == 1
    assert query.name == "db-named"
    assert query.breaker is not None
    assert query.breaker.name == "db-named"
    assert query.metrics is not None
    assert query.metrics.name == "db-named"
    assert query.limiter is not None
    assert (query.limiter.name, query.limiter.limit) == ("db-named", 3)
    assert services["db-named"] is query


def test_breaker_false_and_metrics_false_go_without() -> None:
    """breaker=False and metrics=False leave those components out; calls still work."""
    dependency = Dependency()

    @service(breaker=False, metrics=False, retry=2)
    def call() -> str:
        return dependency()

    assert call.breaker is None
    assert call.metrics is None
    assert call() == "fresh ()"
    dependency.healthy = False
    with pytest.raises(ConnectionError):
        call()
    assert len(dependency.calls) == 3


def test_components_passed_in_are_shared() -> None:
    """A CircuitBreaker, Metrics and Limiter passed in are used as they are, across services."""
    breaker = CircuitBreaker("shared-breaker")
    metrics = Metrics("shared-metrics")
    limiter = Limiter(2)

    @service(breaker=breaker, metrics=metrics, limiter=limiter)
    def one() -> int:
        return 1

    @service(breaker=breaker, metrics=metrics, limiter=limiter)
    def two() -> int:
        return 2

    assert (one(), two()) == (1, 2)
    assert one.breaker is breaker
    assert two.breaker is breaker
    assert one.metrics is metrics
    assert two.metrics is metrics
    assert one.limiter is limiter
    assert two.limiter is limiter
    assert metrics.totals() == _counts(success=2)
    assert breaker.snapshot().calls == 2


def test_one_service_object_decorates_functions_with_their_own_components() -> None:
    """An unnamed Service gives each decorated function its own breaker and metrics."""
    options = service(retry=2)

    @options
    def first() -> int:
        return 1

    @options
    def second() -> int:
        return 2

    assert first.breaker is not second.breaker
    assert first.metrics is not second.metrics
    assert first.name.endswith("first")
    assert second.name.endswith("second")


def test_manual_breaker_fuse_is_accepted() -> None:
    """A tripped dyno.breaker.Breaker short-circuits the service like an open circuit."""
    fuse = Breaker("feature-switch")
    calls: list[int] = []

    @service(breaker=fuse, fallback=lambda: "off")
    def feature() -> str:
        calls.append(1)
        return "on"

    assert feature() == "on"
    fuse.trigger()
    assert feature() == "off"
    assert calls == [1]
    assert feature.metrics is not None
    assert feature.metrics.totals() == _counts(success=1, short_circuit=1, fallback_success=1)


def test_methods_get_self() -> None:
    """A service on a method receives the instance and its arguments."""

    class Client:
        def __init__(self, base: str) -> None:
            self.base = base

        @service(retry=2)
        def get(self, path: str) -> str:
            return self.base + path

    assert Client("http://x").get("/y") == "http://x/y"
    assert Client.get.name.endswith("Client.get")


def test_keyword_arguments_pass_through() -> None:
    """Positional and keyword arguments reach the function and the fallback unchanged."""
    seen: list[tuple[tuple[object, ...], dict[str, object]]] = []

    def fallback(*args: object, **kwargs: object) -> str:
        seen.append((args, kwargs))
        return "fb"

    @service(fallback=fallback)
    def call(a: int, *, b: int) -> str:
        raise ValueError(a + b)

    assert call(1, b=2) == "fb"
    assert seen == [((1,), {"b": 2})]


# -- outcomes ---------------------------------------------------------------------------


def test_single_failure_raises_the_same_exception_and_counts_it() -> None:
    """Without retries a failure re-raises the very exception object, counted as a failure."""
    error = ConnectionError("down")

    @service
    def call() -> None:
        raise error

    with pytest.raises(ConnectionError) as caught:
        call()
    assert caught.value is error
    assert call.metrics is not None
    assert call.metrics.totals() == _counts(failure=1)
    assert isinstance(call.breaker, CircuitBreaker)
    assert call.breaker.snapshot().failures == 1


def test_retries_raise_compound_exception_from_the_last_error() -> None:
    """When every retried attempt fails, a CompoundException of them all is raised from the last."""
    errors = [ConnectionError("one"), TimeoutError("two"), ConnectionError("three")]
    attempts = iter(errors)

    @service(retry=3)
    def call() -> None:
        raise next(attempts)

    with pytest.raises(CompoundException) as caught:
        call()
    compound = caught.value
    assert list(compound.exceptions) == errors
    assert isinstance(compound, ConnectionError)
    assert isinstance(compound, TimeoutError)
    assert compound.__cause__ is errors[-1]
    assert call.metrics is not None
    # A TimeoutError the function raises counts as a timeout (dyno.metrics.classify).
    assert call.metrics.totals() == _counts(failure=2, timeout=1)


def test_retry_int_means_attempts() -> None:
    """retry=N makes at most N attempts, like dyno.retry.retry(N)."""
    dependency = Dependency()
    dependency.healthy = False

    @service(retry=4)
    def call() -> str:
        return dependency()

    assert call.service.retry == retry(4)
    with pytest.raises(CompoundException) as caught:
        call()
    assert len(caught.value) == 4
    assert len(dependency.calls) == 4


def test_retry_backoff_sleeps_through_the_clock(clock: FakeClock) -> None:
    """Backoff waits go through the dyno clock, one per retry, in order."""
    waits = iter([0.25, 0.5, 1.0])
    dependency: Flaky[str] = Flaky(3, then="ok")

    @service(retry=retry(4, backoff=lambda attempt: next(waits)))
    def call() -> str:
        return dependency()

    assert call() == "ok"
    assert clock.sleeps == [0.25, 0.5, 1.0]


def test_service_clock_is_used_for_backoff() -> None:
    """clock= pins the clock the service sleeps on (and gives it to the components it makes)."""
    pinned = FakeClock()
    dependency: Flaky[str] = Flaky(1, then="ok")

    @service(retry=retry(2, backoff=fixed(2.0)), clock=pinned)
    def call() -> str:
        return dependency()

    assert call() == "ok"
    assert pinned.sleeps == [2.0]


def test_retry_policy_clock_is_used_when_the_service_has_none() -> None:
    """A Retry with a pinned clock sleeps on it when the service pins no clock."""
    pinned = FakeClock()
    dependency: Flaky[str] = Flaky(1, then="ok")

    @service(retry=retry(2, backoff=fixed(1.5), clock=pinned))
    def call() -> str:
        return dependency()

    assert call() == "ok"
    assert pinned.sleeps == [1.5]


def test_service_clock_reaches_the_components_it_makes() -> None:
    """The breaker and metrics a service makes read its pinned clock, not the dyno clock."""
    pinned = FakeClock()

    @service(clock=pinned)
    def call() -> str:
        return "ok"

    call()
    assert call.metrics is not None
    assert call.metrics.counts() == _counts(success=1)
    pinned.advance(call.metrics.window + 1)
    assert call.metrics.counts() == _counts()
    assert call.metrics.totals() == _counts(success=1)


def test_nested_open_circuit_counts_as_a_failure_and_stops_retries() -> None:
    """A Broken from a service called inside is a failure of the outer one, and not retried."""
    inner_breaker = CircuitBreaker("nested-inner")
    inner_breaker.force_open()

    @service("nested-inner", breaker=inner_breaker)
    def inner() -> str:
        return "inner"

    @service("nested-outer", retry=3)
    def outer() -> str:
        return inner()

    with pytest.raises(Broken) as caught:
        outer()
    assert caught.value.name == "nested-inner"
    assert outer.metrics is not None
    # As in Hystrix (a nested command's error fails the outer command), and as
    # the outer breaker counts it: the outer dependency did fail.
    assert outer.metrics.totals() == _counts(failure=1)
    assert outer.metrics.error_percentage == 100.0
    assert isinstance(outer.breaker, CircuitBreaker)
    assert outer.breaker.snapshot().failures == 1
    assert inner.metrics is not None
    assert inner.metrics.totals() == _counts(short_circuit=1)


def test_nested_rejection_counts_as_a_failure() -> None:
    """A RateLimited from a limiter called inside is a failure; the service's own a rejection."""
    inner_limiter = Limiter(1, name="nested-pool")
    own_limiter = Limiter(1)
    inner_limiter.acquire()  # the inner bulkhead is full
    try:

        @service("nested-rejecting", limiter=own_limiter)
        def outer() -> str:
            with inner_limiter:
                return "never"

        with pytest.raises(RateLimited) as caught:
            outer()
        assert caught.value.name == "nested-pool"
        assert outer.metrics is not None
        assert outer.metrics.totals() == _counts(failure=1)
        own_limiter.acquire()  # now the service's own bulkhead is full
        with pytest.raises(RateLimited):
            outer()
        own_limiter.release()
    finally:
        inner_limiter.release()
    assert outer.metrics.totals() == _counts(failure=1, rejection=1)


def test_retry_on_selects_retried_exceptions() -> None:
    """An exception outside the policy's ``on`` is not retried and propagates as itself."""
    calls: list[int] = []

    @service(retry=retry(5, on=ConnectionError))
    def call() -> None:
        calls.append(1)
        raise KeyError("not retried")

    with pytest.raises(KeyError) as caught:
        call()
    assert not isinstance(caught.value, CompoundException)
    assert calls == [1]


def test_retry_result_predicate_retries_and_returns_the_last_value() -> None:
    """Values the policy's ``result`` predicate refuses are retried; the last is returned."""
    values = iter([None, None, None])

    @service(retry=retry(3, result=lambda value: value is None))
    def call() -> object:
        return next(values, "unused")

    assert call() is None
    assert call.metrics is not None
    assert call.metrics.totals() == _counts(success=3)


def test_retry_result_predicate_stops_at_an_accepted_value() -> None:
    """The first value the predicate accepts ends the call."""
    values = iter([0, 0, 7])

    @service(retry=retry(5, result=lambda value: value == 0))
    def call() -> int:
        return next(values)

    assert call() == 7


def test_retry_deadline_counts_from_the_first_attempt(clock: FakeClock) -> None:
    """No wait starts that would end past the policy's deadline."""
    dependency = Dependency()
    dependency.healthy = False

    @service(retry=retry(10, backoff=fixed(1.0), deadline=2.5))
    def call() -> str:
        return dependency()

    with pytest.raises(CompoundException):
        call()
    assert clock.sleeps == [1.0, 1.0]
    assert len(dependency.calls) == 3


def test_open_circuit_short_circuits_without_calling() -> None:
    """An open breaker counts a short_circuit, raises Broken and never calls the function."""
    breaker = CircuitBreaker("open-one")
    breaker.force_open()
    calls: list[int] = []

    @service(breaker=breaker, retry=3)
    def call() -> None:
        calls.append(1)

    with pytest.raises(Broken) as caught:
        call()
    assert caught.value.name == "open-one"
    assert calls == []
    assert call.metrics is not None
    assert call.metrics.totals() == _counts(short_circuit=1)


def test_no_attempt_after_the_circuit_opens_mid_retry() -> None:
    """Once retries open the circuit, the next attempt is short-circuited and the call stops."""
    breaker = CircuitBreaker("mid-retry", consecutive=2)
    dependency = Dependency()
    dependency.healthy = False

    @service(breaker=breaker, retry=5)
    def call() -> str:
        return dependency()

    with pytest.raises(CompoundException) as caught:
        call()
    assert len(dependency.calls) == 2
    assert isinstance(caught.value, ConnectionError)
    assert isinstance(caught.value, Broken)
    assert [type(error) for error in caught.value] == [ConnectionError, ConnectionError, Broken]
    assert call.metrics is not None
    assert call.metrics.totals() == _counts(failure=2, short_circuit=1)


def test_named_service_breaker_can_be_forced() -> None:
    """The default breaker carries the service's name, so dyno.breaker.force reaches it."""
    from dyno.breaker import force

    @service("forceable", fallback=lambda: "forced")
    def call() -> str:
        return "real"

    with force("forceable", "open"):
        assert call() == "forced"
    assert call() == "real"


def test_excluded_exceptions_are_not_retried_nor_sent_to_the_fallback() -> None:
    """The breaker's ``exclude`` (the caller's fault) skips retries and the fallback."""
    breaker = CircuitBreaker("excluding", exclude=ValueError, consecutive=1)
    calls: list[int] = []

    @service(breaker=breaker, retry=3, fallback=lambda: "fb")
    def call() -> None:
        calls.append(1)
        raise ValueError("bad request")

    with pytest.raises(ValueError, match="bad request"):
        call()
    assert calls == [1]
    assert breaker.state == "closed"
    assert call.metrics is not None
    # The caller's fault, not the dependency's: a success, as the breaker counts it.
    assert call.metrics.totals() == _counts(success=1)
    assert breaker.snapshot().successes == 1


# -- fallback ---------------------------------------------------------------------------


def test_fallback_result_is_returned_and_counted() -> None:
    """On final failure the fallback gets the call's arguments; fallback_success is counted."""

    @service(retry=2, fallback=lambda x: f"cached {x}")
    def call(x: int) -> str:
        raise ConnectionError(x)

    assert call(5) == "cached 5"
    assert call.metrics is not None
    assert call.metrics.totals() == _counts(failure=2, fallback_success=1)


def test_failing_fallback_raises_its_error_from_the_original() -> None:
    """A failing fallback counts fallback_failure and raises its error, caused by the call's."""
    original = ConnectionError("down")
    fallback_error = LookupError("no cache either")

    def fallback() -> str:
        raise fallback_error

    @service(fallback=fallback)
    def call() -> str:
        raise original

    with pytest.raises(LookupError) as caught:
        call()
    assert caught.value is fallback_error
    assert caught.value.__cause__ is original
    assert call.metrics is not None
    assert call.metrics.totals() == _counts(failure=1, fallback_failure=1)


def test_failing_fallback_after_retries_is_caused_by_the_compound() -> None:
    """After several attempts the fallback's error is caused by the CompoundException."""

    def fallback() -> str:
        raise LookupError("no cache")

    @service(retry=2, fallback=fallback)
    def call() -> str:
        raise ConnectionError("down")

    with pytest.raises(LookupError) as caught:
        call()
    cause = caught.value.__cause__
    assert isinstance(cause, CompoundException)
    assert len(cause) == 2


def test_failing_fallback_keeps_its_own_cause_and_notes_the_original() -> None:
    """A fallback error that already has a cause keeps it; the call's error is noted on it."""
    inner = OSError("disk")

    def fallback() -> str:
        raise LookupError("no cache") from inner

    @service("noted", fallback=fallback)
    def call() -> str:
        raise ConnectionError("down")

    with pytest.raises(LookupError) as caught:
        call()
    assert caught.value.__cause__ is inner
    assert caught.value.__notes__ == [
        "The fallback of service 'noted' ran after: ConnectionError('down')"
    ]


def test_fallback_on_rejection() -> None:
    """A full bulkhead falls back; the rejection and the fallback are counted."""
    limiter = Limiter(1)
    limiter.acquire()  # the only slot is taken
    try:

        @service(limiter=limiter, fallback=lambda: "busy")
        def call() -> str:
            return "done"

        assert call() == "busy"
    finally:
        limiter.release()
    assert call.metrics is not None
    assert call.metrics.totals() == _counts(rejection=1, fallback_success=1)


# -- bulkhead ---------------------------------------------------------------------------


def test_limiter_rejects_calls_beyond_its_limit() -> None:
    """limiter=1: a second concurrent call is rejected with RateLimited, counted as rejection."""
    entered = threading.Event()
    release = threading.Event()

    @service("limited", limiter=1, breaker=False)
    def call() -> str:
        entered.set()
        assert release.wait(10)
        return "done"

    results: list[str] = []
    worker = threading.Thread(target=lambda: results.append(call()))
    worker.start()
    try:
        assert entered.wait(10)
        with pytest.raises(RateLimited) as caught:
            call()
        assert (caught.value.name, caught.value.limit) == ("limited", 1)
    finally:
        release.set()
        worker.join(10)
    assert results == ["done"]
    assert call.metrics is not None
    assert call.metrics.totals() == _counts(success=1, rejection=1)
    assert call.limiter is not None
    assert call.limiter.in_flight == 0


def test_rejections_count_against_the_circuit_as_in_hystrix() -> None:
    """A rejected call is a breaker failure: a saturated bulkhead can open the circuit."""
    breaker = CircuitBreaker("saturated", consecutive=2)
    limiter = Limiter(1)
    limiter.acquire()
    try:

        @service(limiter=limiter, breaker=breaker, retry=3)
        def call() -> str:
            return "never"

        with pytest.raises(CompoundException) as caught:
            call()
    finally:
        limiter.release()
    assert [type(error) for error in caught.value] == [RateLimited, RateLimited, Broken]
    assert breaker.state == "open"


# -- BaseExceptions ---------------------------------------------------------------------


def test_base_exceptions_pass_through_untouched_and_uncounted() -> None:
    """KeyboardInterrupt is neither retried, counted nor sent to the fallback; slots are freed."""
    interrupt = KeyboardInterrupt()
    calls: list[int] = []

    @service(retry=3, limiter=1, fallback=lambda: "fb")
    def call() -> None:
        calls.append(1)
        raise interrupt

    with pytest.raises(KeyboardInterrupt) as caught:
        call()
    assert caught.value is interrupt
    assert calls == [1]
    assert call.metrics is not None
    assert call.metrics.totals() == _counts()
    assert call.metrics.in_flight == 0
    assert call.limiter is not None
    assert call.limiter.in_flight == 0
    assert isinstance(call.breaker, CircuitBreaker)
    assert call.breaker.snapshot().calls == 0


def test_base_exception_frees_a_half_open_probe(clock: FakeClock) -> None:
    """A probe interrupted by SystemExit gives its slot back: the next call may probe."""
    breaker = CircuitBreaker("probe-freed", consecutive=1, reset_timeout=1.0)
    outcomes = iter([ConnectionError("down"), SystemExit(3), None])

    @service(breaker=breaker)
    def call() -> str:
        outcome = next(outcomes)
        if outcome is not None:
            raise outcome
        return "up"

    with pytest.raises(ConnectionError):
        call()
    clock.advance(1.0)
    with pytest.raises(SystemExit):
        call()
    assert breaker.state == "half_open"
    assert call() == "up"
    assert breaker.state == "closed"


def test_base_exception_from_the_fallback_passes_through_uncounted() -> None:
    """A BaseException raised by the fallback propagates untouched and is not counted."""

    def fallback() -> str:
        raise KeyboardInterrupt

    @service(fallback=fallback)
    def call() -> str:
        raise ConnectionError

    with pytest.raises(KeyboardInterrupt):
        call()
    assert call.metrics is not None
    assert call.metrics.totals() == _counts(failure=1)


# -- harness and timing -----------------------------------------------------------------


def test_harness_true_reports_each_failed_attempt(reports: list[HarnessRecord]) -> None:
    """harness=True reports every failed attempt, named after the service, not short circuits."""
    breaker = CircuitBreaker("reported", consecutive=2)
    errors = [ConnectionError("one"), ConnectionError("two")]
    attempts = iter(errors)

    @service("reported", breaker=breaker, retry=4, harness=True)
    def call() -> None:
        raise next(attempts)

    with pytest.raises(CompoundException):
        call()
    assert [record.exception for record in reports] == errors
    assert {record.harness for record in reports} == {"reported"}
    assert {record.function for record in reports} == {call.__qualname__}


def test_harness_logger_logs_to_that_logger(caplog: pytest.LogCaptureFixture) -> None:
    """harness=<logger> logs each failed attempt on that logger."""
    logger = logging.getLogger("tests.service.harness")

    @service("logged", harness=logger)
    def call() -> None:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        call()
    assert [record.name for record in caplog.records] == ["tests.service.harness"]


def test_harness_object_is_used_as_given(reports: list[HarnessRecord]) -> None:
    """A Harness passed in reports with its own name."""

    @service("harnessed", harness=Harness(name="custom"))
    def call() -> None:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        call()
    assert [record.harness for record in reports] == ["custom"]


def test_no_harness_reports_nothing(reports: list[HarnessRecord]) -> None:
    """Without harness= failures are not reported."""

    @service
    def call() -> None:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        call()
    assert reports == []


def test_each_call_is_a_timed_interval(clock: FakeClock) -> None:
    """Under a PerfTimer each call records a child interval named after the service."""
    dependency: Flaky[str] = Flaky(1, then="ok")

    @service("timed-service", retry=retry(2, backoff=fixed(0.5)))
    def call() -> str:
        return dependency()

    with PerfTimer("request") as request:
        assert call() == "ok"
    [child] = request.children
    assert isinstance(child, PerfTimer)
    assert child.name == "timed-service"
    assert float(child) == 0.5


def test_timed_interval_records_failures_too() -> None:
    """A failed call still closes its interval; with no timer nothing is recorded."""

    @service("timed-failure")
    def call() -> None:
        raise ConnectionError

    with PerfTimer("request") as request, pytest.raises(ConnectionError):
        call()
    assert [child.name for child in request.children] == ["timed-failure"]
    with pytest.raises(ConnectionError):
        call()  # no timer: nothing to record, nothing breaks


# -- the registry -----------------------------------------------------------------------


def test_services_is_read_only() -> None:
    """dyno.service.services cannot be written to."""

    @service("read-only")
    def call() -> None:
        pass

    with pytest.raises(TypeError):
        services["read-only"] = call  # type: ignore[index]  # the point: it is read-only
    assert "read-only" in services
    assert "read-only" in list(services)
    assert len(services) >= 1


def test_redefined_service_name_maps_to_the_newest() -> None:
    """Decorating a second function with a name in use makes services[name] the newest."""

    @service("redefined")
    def old() -> int:
        return 1

    @service("redefined")
    def new() -> int:
        return 2

    assert services["redefined"] is new
    del new
    gc.collect()
    assert services["redefined"] is old


def test_services_vanish_with_their_functions() -> None:
    """A service that is garbage collected leaves dyno.service.services."""

    def make() -> Callable[[], int]:
        @service("ephemeral")
        def call() -> int:
            return 1

        return call

    made = make()
    assert "ephemeral" in services
    del made
    gc.collect()
    assert "ephemeral" not in services
    with pytest.raises(KeyError):
        services["ephemeral"]


def test_dropped_service_frees_its_breaker_without_the_collector() -> None:
    """A service no longer referenced frees its breaker at once: it holds no reference cycle."""

    def make() -> ServiceFunction[[int], int]:
        @service("acyclic", retry=2, limiter=2, harness=True)
        def call(x: int) -> int:
            return x

        call(1)
        return call

    gc.collect()
    gc.disable()  # only reference counting may free the service now
    try:
        made = make()
        assert made.breaker is not None
        breaker = weakref.ref(made.breaker)
        del made
        assert breaker() is None
        assert "acyclic" not in services
        assert "acyclic" not in breakers
    finally:
        gc.enable()


def test_redefining_a_service_many_times_keeps_the_newest_and_no_dead_entries() -> None:
    """A name redefined many times (a test suite's services) maps to the newest; the dead go."""

    class Owner:  # a class is a reference cycle: only the collector frees its services
        pass

    def define() -> Owner:
        class Redefined(Owner):
            @service("redefined")
            def call(self) -> int:
                return 1

        Redefined().call()
        return Redefined()

    for _ in range(100):
        define()
    newest = define()
    assert services["redefined"].__qualname__.endswith("Redefined.call")
    assert breakers["redefined"] is type(newest).call.breaker  # type: ignore[attr-defined]  # a ServiceFunction
    gc.collect()
    assert list(services).count("redefined") == 1
    assert len(service_module._registry._refs["redefined"]) == 1
    del newest
    gc.collect()
    assert "redefined" not in services
    assert "redefined" not in service_module._registry._refs


def test_collecting_a_service_while_the_registry_is_locked_does_not_deadlock() -> None:
    """A service freed by a collection that runs under the registry lock cannot hang it."""
    # In a subprocess: a deadlock there fails this test instead of hanging the suite.
    code = (
        "import gc\n"
        "from dyno import service\n"
        "class Cycle:\n"
        "    @service.service('cyclic')\n"
        "    def call(self):\n"
        "        return 1\n"
        "del Cycle\n"
        "with service._registry._lock:\n"
        "    gc.collect()\n"
        "assert 'cyclic' not in service.services\n"
        "print('done')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "done\n", "")


def test_services_repr_lists_names() -> None:
    """repr(services) lists the live names, sorted."""

    @service("repr-listed")
    def call() -> None:
        pass

    assert repr(services).startswith("<services [")
    assert "'repr-listed'" in repr(services)


# -- reprs and errors -------------------------------------------------------------------


def test_service_repr_shows_options_that_differ_from_the_defaults() -> None:
    """repr(Service) reads like the call that made it."""

    def cached() -> str:
        return ""

    assert repr(service()) == "service()"
    assert repr(service("db", timeout=1, retry=3, limiter=5, fallback=cached, breaker=False)) == (
        "service('db', timeout=1.0, retry=retry(3), breaker=False, limiter=5, "
        f"fallback={cached.__qualname__})"
    )


def test_service_timeout_carries_name_and_timeout_and_pickles() -> None:
    """ServiceTimeout is a TimeoutError with name and timeout; it survives pickling."""
    error = ServiceTimeout("db", 0.5)
    assert isinstance(error, TimeoutError)
    assert (error.name, error.timeout) == ("db", 0.5)
    assert str(error) == (
        "Cannot finish an attempt of service 'db' within its timeout of 0.5 s (timeout=0.5): "
        "it was abandoned. Raise the timeout, or handle TimeoutError with a fallback."
    )
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.name, copy.timeout, str(copy)) == (
        ServiceTimeout,
        "db",
        0.5,
        str(error),
    )


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"timeout": -1}, ValueError, "'timeout' must be > 0 (got -1 that is a <class 'int'>)"),
        ({"timeout": 0}, ValueError, "'timeout' must be > 0 (got 0 that is a <class 'int'>)"),
        ({"timeout": float("inf")}, ValueError, "'timeout' must be finite"),
        ({"timeout": "1"}, TypeError, "'timeout' must be a real number"),
        ({"retry": 0}, ValueError, "'retry' must be >= 1 (got 0 that is a <class 'int'>)"),
        ({"retry": True}, TypeError, "'retry' must be a dyno.retry.Retry policy"),
        ({"retry": "3"}, TypeError, "'retry' must be a dyno.retry.Retry policy"),
        (
            {"breaker": "yes"},
            TypeError,
            "'breaker' must be a dyno.breaker.CircuitBreaker or Breaker, True, False or None "
            "(got 'yes' that is a <class 'str'>)",
        ),
        ({"limiter": 0}, ValueError, "'limiter' must be >= 1 (got 0 that is a <class 'int'>)"),
        (
            {"limiter": 2.5},
            TypeError,
            "'limiter' must be a dyno.breaker.Limiter, an int number of slots, or None "
            "(got 2.5 that is a <class 'float'>)",
        ),
        ({"pool": 0}, ValueError, "'pool' must be >= 1 (got 0 that is a <class 'int'>)"),
        ({"pool": "4"}, TypeError, "'pool' must be an int"),
        ({"limiter": 2, "pool": 2}, ValueError, "Cannot use both 'limiter' (2) and 'pool' (2)"),
        ({"fallback": "cached"}, TypeError, "'fallback' must be callable (got 'cached'"),
        (
            {"metrics": "yes"},
            TypeError,
            "'metrics' must be a dyno.metrics.Metrics, True, False or None "
            "(got 'yes' that is a <class 'str'>)",
        ),
        ({"harness": "yes"}, TypeError, "'harness' must be True, a logging.Logger"),
        ({"clock": object()}, TypeError, "'clock' must implement dyno.clock.Clock (now, wall"),
        ({"name": 3}, TypeError, "'name' must be one of"),
    ],
)
def test_bad_options_fail_at_decoration(
    options: dict[str, object], error: type[Exception], message: str
) -> None:
    """Wrong option types and values raise TypeError/ValueError naming the option."""
    with pytest.raises(error) as caught:
        service(**options)  # type: ignore[call-overload]  # the point: bad input
    assert str(caught.value).startswith(message)


def test_service_validates_when_constructed_directly() -> None:
    """Service(...) validates like service(...)."""
    with pytest.raises(ValueError, match="'timeout' must be > 0"):
        Service(timeout=-1.0)


def test_service_options_take_none_for_the_defaults_as_service_does() -> None:
    """Service(breaker=None, metrics=None, harness=None) is Service(), as for service()."""
    assert Service(breaker=None, metrics=None, harness=None) == Service() == service()
    assert repr(Service(breaker=None)) == "service()"


def test_decorating_bad_targets_fails() -> None:
    """Non-callables and generator functions cannot be services."""
    options = service()
    with pytest.raises(TypeError, match="'fn' must be callable"):
        options(3)  # type: ignore[arg-type]  # the point: not callable

    def generate() -> Iterator[int]:
        yield 1

    with pytest.raises(TypeError, match="Cannot make generator function"):
        options(generate)


@pytest.mark.parametrize("kind", [classmethod, staticmethod])
def test_decorating_a_classmethod_or_staticmethod_object_says_to_swap(kind: type) -> None:
    """@service under @classmethod/@staticmethod is refused with the order that works."""
    with pytest.raises(TypeError) as caught:
        service("swapped")(kind(lambda *args: 1))
    assert str(caught.value).endswith(f"Put @{kind.__name__} above @service instead.")


def test_sync_function_refuses_an_async_fallback() -> None:
    """An async fallback on a sync function is refused: nothing would await it."""

    async def fallback() -> str:
        return "fb"

    with pytest.raises(TypeError, match="Cannot use async fallback"):

        @service(fallback=fallback)
        def call() -> str:
            return "x"


# -- invariants -------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    schedule=st.text(alphabet="FS", max_size=12),
    attempts=st.integers(min_value=1, max_value=4),
    calls=st.integers(min_value=1, max_value=6),
)
def test_metrics_count_every_attempt_exactly(schedule: str, attempts: int, calls: int) -> None:
    """Whatever the failures, metrics count each attempt the dependency saw, once."""
    dependency: Flaky[str] = Flaky(schedule=schedule, then="ok")

    @service(breaker=False, retry=attempts, fallback=lambda: "fb")
    def call() -> str:
        return dependency()

    results = [call() for _ in range(calls)]
    assert call.metrics is not None
    assert call.metrics.totals() == _counts(
        success=dependency.successes,
        failure=dependency.failures,
        fallback_success=results.count("fb"),
    )
    assert dependency.calls <= calls * attempts


def test_exact_counts_under_threads() -> None:
    """Eight threads calling at once: every attempt, fallback and breaker call counted exactly."""
    dependency: Flaky[str] = Flaky(rate=0.5, seed=7, then="ok")
    barrier = threading.Barrier(8, timeout=10)
    results: list[str] = []

    @service(
        "contended",
        retry=2,
        breaker=CircuitBreaker("contended", volume=10_000),
        fallback=lambda: "fb",
    )
    def call() -> str:
        return dependency()

    def run() -> None:
        barrier.wait()
        mine = [call() for _ in range(50)]
        results.extend(mine)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 400
    assert call.metrics is not None
    assert call.metrics.totals() == _counts(
        success=dependency.successes,
        failure=dependency.failures,
        fallback_success=results.count("fb"),
    )
    assert results.count("ok") == dependency.successes
    assert isinstance(call.breaker, CircuitBreaker)
    assert call.breaker.snapshot().calls == dependency.calls
    assert call.breaker.state == BreakerState.CLOSED


def test_calls_in_flight_are_counted_and_released(clock: FakeClock) -> None:
    """A running call shows in metrics.in_flight; returning or being interrupted releases it."""
    entered, release = threading.Event(), threading.Event()

    @service(name="test.in_flight", clock=clock)
    def slow() -> str:
        entered.set()
        assert release.wait(timeout=30)
        return "done"

    results: list[str] = []
    worker = threading.Thread(target=lambda: results.append(slow()))
    worker.start()
    assert entered.wait(timeout=30)
    assert slow.metrics is not None
    assert slow.metrics.in_flight == 1
    release.set()
    worker.join(timeout=30)
    assert results == ["done"]
    assert slow.metrics.in_flight == 0

    @service(name="test.in_flight.interrupted", clock=clock)
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert interrupted.metrics is not None
    assert interrupted.metrics.in_flight == 0
    assert interrupted.metrics.totals() == _counts()


def test_a_tripped_breaker_given_at_decoration_is_kept(clock: FakeClock) -> None:
    """A fuse tripped (falsy) when the service is made still guards it."""

    fuse = Breaker("test.tripped_fuse")
    fuse.trigger()

    @service(name="test.tripped_fuse", breaker=fuse, clock=clock)
    def call() -> str:
        return "called"

    assert call.breaker is fuse
    with pytest.raises(Broken):
        call()
    fuse.reset()
    assert call() == "called"


def test_calling_service_with_a_function_and_options_applies_them(clock: FakeClock) -> None:
    """service(fn, retry=3) guards fn with those options, as @service(retry=3) would."""
    dependency = Flaky(fails=2, then="ok")
    guarded = service(dependency, retry=3, clock=clock)
    assert guarded() == "ok"
    assert dependency.calls == 3
    assert guarded.metrics is not None
    assert guarded.metrics.totals()["failure"] == 2
