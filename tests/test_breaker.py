"""dyno.breaker: Broken, the manual Breaker, CircuitBreaker rules and drivers, named breakers."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import math
import pickle
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from dyno import breaker as breaker_module
from dyno.breaker import (
    Breaker,
    BreakerSnapshot,
    BreakerState,
    Broken,
    CircuitBreaker,
    RateLimited,
    Ticket,
    breakers,
    force,
)
from dyno.clock import FakeClock, use_clock


class Interrupt(BaseException):
    """A BaseException that is not an Exception."""


def _ok() -> str:
    return "ok"


def _boom() -> str:
    raise RuntimeError("down")


def _fail(cb: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(RuntimeError):
            cb.call(_boom)


def _succeed(cb: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        assert cb.call(_ok) == "ok"


def _opened(clock: FakeClock, **options: object) -> CircuitBreaker:
    cb = CircuitBreaker(volume=1, reset_timeout=5.0, clock=clock, **options)  # type: ignore[arg-type]  # test options
    _fail(cb)
    assert cb.state == "open"
    return cb


# -- exceptions ------------------------------------------------------------------------


def test_module_exports_what_it_defines() -> None:
    """__all__ lists exactly the public names and each exists."""
    for name in breaker_module.__all__:
        assert hasattr(breaker_module, name)
    assert set(breaker_module.__all__) >= {
        "Broken",
        "RateLimited",
        "Breaker",
        "CircuitBreaker",
        "BreakerState",
        "Limiter",
        "breakers",
        "force",
    }


def test_broken_carries_name_and_retry_after() -> None:
    """Broken has name and retry_after, and its message states both."""
    error = Broken("db", 2.5)
    assert error.name == "db"
    assert error.retry_after == 2.5
    assert isinstance(error, Exception)
    assert str(error) == (
        "Cannot call through breaker 'db': it is open; the next probe is due in 2.5 s "
        "(retry_after=2.5). Retry after that, or handle Broken with a fallback."
    )


def test_broken_without_a_probe_says_so() -> None:
    """Broken with retry_after None says no probe is scheduled; unnamed breakers read well."""
    assert str(Broken(None, None)) == (
        "Cannot call through an unnamed breaker: it is open and no probe is scheduled "
        "(retry_after=None). Reset or release it, or handle Broken with a fallback."
    )


def test_exceptions_survive_pickling() -> None:
    """Broken and RateLimited pickle with their attributes (for process pools)."""
    broken = pickle.loads(pickle.dumps(Broken("db", 1.0)))
    assert (broken.name, broken.retry_after) == ("db", 1.0)
    limited = pickle.loads(pickle.dumps(RateLimited("pool", 3)))
    assert (limited.name, limited.limit) == ("pool", 3)


def test_rate_limited_carries_name_and_limit() -> None:
    """RateLimited has name and limit, named in its message."""
    error = RateLimited("pool", 3)
    assert (error.name, error.limit) == ("pool", 3)
    assert str(error) == (
        "Cannot enter limiter 'pool': all 3 slots are in use (limit=3). "
        "Retry later, raise the limit, or give the limiter a timeout to wait."
    )


def test_states_compare_equal_to_strings() -> None:
    """BreakerState members equal their string values."""
    assert [state.value for state in BreakerState] == [
        "closed",
        "open",
        "half_open",
        "forced_open",
        "forced_closed",
    ]
    assert BreakerState.HALF_OPEN == "half_open"
    assert str(BreakerState.OPEN) == "open"


# -- the manual fuse ---------------------------------------------------------------------


def test_fuse_trips_and_resets() -> None:
    """trigger() makes the fuse falsy and raise Broken; reset() mends it."""
    fuse = Breaker("feature-x")
    assert fuse
    assert fuse.state == "closed"
    fuse.trigger()
    assert not fuse
    assert fuse.state == "open"
    with pytest.raises(Broken) as info:
        fuse.check()
    assert (info.value.name, info.value.retry_after) == ("feature-x", None)
    fuse.reset()
    assert fuse
    fuse.check()


def test_fuse_as_context_manager() -> None:
    """`with fuse:` raises Broken while tripped and passes exceptions through."""
    fuse = Breaker()
    with pytest.raises(ValueError), fuse:
        raise ValueError("inner")
    fuse.trigger()
    entered = False
    with pytest.raises(Broken), fuse:
        entered = True
    assert not entered


def test_fuse_decorates_sync_and_async() -> None:
    """A decorated function, sync or async, raises Broken while the fuse is tripped."""
    fuse = Breaker()

    @fuse
    def double(x: int) -> int:
        return 2 * x

    @fuse
    async def triple(x: int) -> int:
        return 3 * x

    assert double.__name__ == "double"
    assert double(2) == 4
    assert asyncio.run(triple(2)) == 6
    fuse.trigger()
    with pytest.raises(Broken):
        double(2)
    with pytest.raises(Broken):
        asyncio.run(triple(2))


def test_fuse_async_with() -> None:
    """`async with fuse:` checks the fuse."""
    fuse = Breaker()

    async def use() -> str:
        async with fuse:
            return "in"

    assert asyncio.run(use()) == "in"
    fuse.trigger()
    with pytest.raises(Broken):
        asyncio.run(use())


def test_fuse_forcing_overrides_the_trip() -> None:
    """force_closed lets calls through a tripped fuse; release returns to the trip."""
    fuse = Breaker()
    fuse.trigger()
    fuse.force_closed()
    assert fuse.state == "forced_closed"
    assert fuse
    fuse.check()
    fuse.release()
    assert fuse.state == "open"
    fuse.force_open()
    fuse.reset()
    assert fuse.state == "closed"


def test_fuse_listeners_and_repr() -> None:
    """A fuse reports its changes to listeners and shows its state in repr."""
    fuse = Breaker("switch")
    seen: list[tuple[str, str]] = []
    fuse.add_listener(lambda b, old, new: seen.append((old, new)))
    fuse.trigger()
    fuse.trigger()
    fuse.reset()
    assert seen == [("closed", "open"), ("open", "closed")]
    assert repr(fuse) == "<Breaker name='switch' state='closed'>"


# -- circuit breaker: closed -> open -------------------------------------------------


def test_opens_at_volume_and_ratio() -> None:
    """Closed opens once `volume` calls finished and the failed share reaches the ratio."""
    clock = FakeClock()
    cb = CircuitBreaker("db", volume=4, failure_ratio=0.5, clock=clock)
    _fail(cb, 2)
    _succeed(cb, 1)
    assert cb.state == "closed"  # 3 calls < volume
    _succeed(cb, 1)
    assert cb.state == "open"  # 2 of 4 failed, 0.5 >= 0.5: a success can complete the volume
    with pytest.raises(Broken) as info:
        cb.call(_ok)
    assert info.value.retry_after == 5.0


def test_stays_closed_below_ratio() -> None:
    """A failed share below the ratio keeps the breaker closed, whatever the volume."""
    cb = CircuitBreaker(volume=2, failure_ratio=0.5, clock=FakeClock())
    for _ in range(10):
        _succeed(cb, 2)
        _fail(cb, 1)
    assert cb.state == "closed"
    assert cb.snapshot().failures == 10


def test_ratio_uses_the_share_not_float_products() -> None:
    """3 failures of 30 calls meet failure_ratio=0.1 (0.1 * 30 is 3.0000000000000004)."""
    cb = CircuitBreaker(volume=30, failure_ratio=0.1, clock=FakeClock())
    _succeed(cb, 27)
    _fail(cb, 2)
    assert cb.state == "closed"
    _fail(cb, 1)
    assert cb.state == "open"


def test_consecutive_failures_open() -> None:
    """`consecutive` failures in a row open the breaker below volume; a success restarts it."""
    cb = CircuitBreaker(volume=100, consecutive=3, clock=FakeClock())
    _fail(cb, 2)
    _succeed(cb)
    _fail(cb, 2)
    assert cb.state == "closed"
    assert cb.snapshot().consecutive_failures == 2
    _fail(cb)
    assert cb.state == "open"


def test_old_buckets_roll_out_of_the_window() -> None:
    """Failures older than the window stop counting."""
    clock = FakeClock()
    cb = CircuitBreaker(volume=4, window=10.0, buckets=10, clock=clock)
    _fail(cb, 3)
    clock.advance(9.5)
    assert cb.snapshot().failures == 3
    clock.advance(0.5)  # the failures' bucket [0, 1) has left the window [1, 11)
    assert cb.snapshot().calls == 0
    _succeed(cb, 2)
    _fail(cb)
    _succeed(cb)
    snapshot = cb.snapshot()
    assert (snapshot.calls, snapshot.failures) == (4, 1)
    assert cb.state == "closed"  # counting the expired failures it would have opened


def test_slow_calls_fail() -> None:
    """A call slower than slow_call counts as failed even when it returns."""
    clock = FakeClock()
    cb = CircuitBreaker(volume=2, slow_call=1.0, clock=clock)

    @cb
    def slow(seconds: float) -> str:
        clock.advance(seconds)
        return "late"

    assert slow(1.0) == "late"  # not slower than 1.0
    assert cb.snapshot().failures == 0
    assert slow(1.5) == "late"
    snapshot = cb.snapshot()
    assert (snapshot.calls, snapshot.failures, snapshot.slow_calls) == (2, 1, 1)
    assert cb.state == "open"


def test_excluded_exceptions_count_as_successes() -> None:
    """An `exclude` exception propagates unchanged and counts as a success."""
    cb = CircuitBreaker(volume=1, exclude=(KeyError,), clock=FakeClock())
    error = KeyError("bad input")

    @cb
    def lookup() -> None:
        raise error

    with pytest.raises(KeyError) as info:
        lookup()
    assert info.value is error
    snapshot = cb.snapshot()
    assert (snapshot.calls, snapshot.failures, cb.state) == (1, 0, "closed")


def test_base_exceptions_count_as_neither() -> None:
    """KeyboardInterrupt passes through untouched and is not counted."""
    cb = CircuitBreaker(volume=1, clock=FakeClock())
    interrupt = KeyboardInterrupt()

    @cb
    def stop() -> None:
        raise interrupt

    with pytest.raises(KeyboardInterrupt) as info:
        stop()
    assert info.value is interrupt
    assert cb.snapshot().calls == 0
    with pytest.raises(Interrupt), cb:
        raise Interrupt
    assert cb.snapshot().calls == 0


# -- open -> half-open -> closed / open ------------------------------------------------------


def test_half_open_probe_success_closes_and_clears() -> None:
    """After reset_timeout one probe goes through; its success closes and empties the window."""
    clock = FakeClock()
    cb = _opened(clock)
    clock.advance(4.0)
    with pytest.raises(Broken) as info:
        cb.call(_ok)
    assert info.value.retry_after == 1.0
    clock.advance(1.0)
    _succeed(cb)
    assert cb.state == "closed"
    assert cb.snapshot().calls == 0


def test_half_open_probe_failure_reopens() -> None:
    """A failing probe opens the breaker again for another reset_timeout."""
    clock = FakeClock()
    cb = _opened(clock)
    clock.advance(5.0)
    _fail(cb)
    assert cb.state == "open"
    assert cb.snapshot().retry_after == 5.0


def test_half_open_admits_exactly_probes() -> None:
    """With probes=2 two concurrent probes pass, a third is refused; two successes close."""
    clock = FakeClock()
    cb = _opened(clock, probes=2)
    clock.advance(5.0)
    first, second = cb.acquire(), cb.acquire()
    assert first.probe
    assert second.probe
    assert cb.state == "half_open"
    assert cb.snapshot().probes_in_flight == 2
    with pytest.raises(Broken) as info:
        cb.acquire()
    assert info.value.retry_after == 5.0
    cb.record_success(first)
    assert cb.state == "half_open"
    with pytest.raises(Broken):
        cb.acquire()  # the first probe's success does not free a slot: probes are one round
    cb.record_success(second)
    assert cb.state == "closed"


def test_hung_probe_is_written_off() -> None:
    """A probe silent for reset_timeout is written off: a fresh one goes, the old is ignored."""
    clock = FakeClock()
    cb = _opened(clock)
    clock.advance(5.0)
    hung = cb.acquire()
    clock.advance(4.9)
    with pytest.raises(Broken) as info:
        cb.acquire()
    assert info.value.retry_after == pytest.approx(0.1)
    clock.advance(0.1)
    fresh = cb.acquire()
    assert fresh.probe
    cb.record_success(hung)  # too late: ignored
    assert cb.state == "half_open"
    cb.record_failure(fresh, RuntimeError())
    assert cb.state == "open"


def test_interrupted_probe_frees_its_slot() -> None:
    """A BaseException in a probe frees the slot at once: the next call is a probe."""
    clock = FakeClock()
    cb = _opened(clock)
    clock.advance(5.0)
    with pytest.raises(Interrupt), cb:
        raise Interrupt
    assert cb.state == "half_open"
    assert cb.snapshot().probes_in_flight == 0
    _succeed(cb)
    assert cb.state == "closed"


def test_excluded_error_in_probe_closes() -> None:
    """A probe raising an excluded exception counts as a success."""
    clock = FakeClock()
    cb = _opened(clock, exclude=KeyError)
    clock.advance(5.0)
    with pytest.raises(KeyError), cb:
        raise KeyError("caller")
    assert cb.state == "closed"


def test_outcome_of_call_admitted_before_a_trip_is_ignored() -> None:
    """A call admitted while closed that finishes after the trip does not count."""
    clock = FakeClock()
    cb = CircuitBreaker(volume=1, clock=clock)
    slow = cb.acquire()
    _fail(cb)
    cb.record_success(slow)
    assert cb.state == "open"
    assert cb.snapshot().calls == 1


# -- the ticket engine -----------------------------------------------------------------------


def test_ticket_settles_once() -> None:
    """A ticket settles once; a late second report (an abandoned attempt) changes nothing."""
    cb = CircuitBreaker(volume=1, clock=FakeClock())
    ticket = cb.acquire()
    assert isinstance(ticket, Ticket)
    assert not ticket.settled
    cb.record_success(ticket)
    assert ticket.settled
    cb.record_failure(ticket, RuntimeError())
    cb.record_success(ticket)
    cb.release_ticket(ticket)
    assert cb.snapshot().calls == 1
    assert cb.state == "closed"
    assert repr(ticket) == "<Ticket probe=False started=0.0 settled=True>"


def test_record_failure_with_base_exception_releases() -> None:
    """record_failure with a non-Exception behaves as release_ticket."""
    clock = FakeClock()
    cb = _opened(clock)
    clock.advance(5.0)
    probe = cb.acquire()
    cb.record_failure(probe, asyncio.CancelledError())
    assert probe.settled
    assert cb.state == "half_open"
    assert cb.acquire().probe


def test_ticket_times_slow_calls() -> None:
    """record_success measures from the ticket's start against slow_call."""
    clock = FakeClock()
    cb = CircuitBreaker(volume=1, slow_call=0.5, clock=clock)
    ticket = cb.acquire()
    assert ticket.started == 0.0
    clock.advance(0.75)
    cb.record_success(ticket)
    assert cb.state == "open"
    assert cb.snapshot().slow_calls == 1


# -- forcing, reset, listeners ------------------------------------------------------------------


def test_force_open_and_closed_overlay_the_state() -> None:
    """force_open rejects with retry_after None; force_closed admits; release returns."""
    clock = FakeClock()
    cb = CircuitBreaker(volume=1, clock=clock)
    cb.force_open()
    assert cb.state == "forced_open"
    with pytest.raises(Broken) as info:
        cb.call(_ok)
    assert info.value.retry_after is None
    cb.release()
    assert cb.state == "closed"
    cb.trigger()
    assert cb.state == "forced_open"
    cb.force_closed()
    _fail(cb, 3)  # passes through; the breaker underneath opens
    assert cb.state == "forced_closed"
    _succeed(cb)
    cb.release()
    assert cb.state == "open"


def test_reset_clears_everything() -> None:
    """reset() drops the forcing, closes and empties the window."""
    clock = FakeClock()
    cb = _opened(clock)
    cb.force_open()
    cb.reset()
    assert cb.state == "closed"
    snapshot = cb.snapshot()
    assert (snapshot.calls, snapshot.consecutive_failures) == (0, 0)
    _succeed(cb)


def test_listeners_see_every_change() -> None:
    """Listeners get (breaker, old, new) for each visible change, in order."""
    clock = FakeClock()
    cb = CircuitBreaker("svc", volume=1, clock=clock)
    seen: list[tuple[object, str, str]] = []

    @cb.add_listener
    def record(breaker: object, old: BreakerState, new: BreakerState) -> None:
        seen.append((breaker, old, new))

    _fail(cb)
    clock.advance(5.0)
    _succeed(cb)
    cb.force_open()
    cb.release()
    assert seen == [
        (cb, "closed", "open"),
        (cb, "open", "half_open"),
        (cb, "half_open", "closed"),
        (cb, "closed", "forced_open"),
        (cb, "forced_open", "closed"),
    ]
    cb.remove_listener(record)
    cb.trigger()
    assert len(seen) == 5


def test_failing_listener_is_logged_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    """A listener that raises is logged on dyno.breaker; the breaker and the call carry on."""
    cb = CircuitBreaker("noisy", volume=1, clock=FakeClock())
    later: list[str] = []

    def broken_listener(breaker: object, old: BreakerState, new: BreakerState) -> None:
        raise ValueError("listener bug")

    cb.add_listener(broken_listener)
    cb.add_listener(lambda breaker, old, new: later.append(new))
    with caplog.at_level(logging.ERROR, logger="dyno.breaker"):
        _fail(cb)
    assert cb.state == "open"
    assert later == ["open"]
    [record] = caplog.records
    assert record.name == "dyno.breaker"
    assert "broken_listener" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)


def test_add_listener_refuses_non_callables() -> None:
    """add_listener raises TypeError for a non-callable."""
    with pytest.raises(TypeError, match="'listener' must be callable"):
        CircuitBreaker().add_listener("nope")  # type: ignore[arg-type]  # bad input on purpose


# -- snapshot and repr ----------------------------------------------------------------------


def test_snapshot_is_frozen() -> None:
    """snapshot() is an immutable dataclass with window counts and the ratio."""
    cb = CircuitBreaker("db", volume=10, clock=FakeClock())
    _succeed(cb, 3)
    _fail(cb, 1)
    snapshot = cb.snapshot()
    assert snapshot == BreakerSnapshot(
        name="db",
        state=BreakerState.CLOSED,
        calls=4,
        failures=1,
        slow_calls=0,
        failure_ratio=0.25,
        consecutive_failures=1,
        probes_in_flight=0,
        retry_after=None,
    )
    assert snapshot.successes == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.calls = 0  # type: ignore[misc]  # frozen on purpose


def test_repr_shows_name_state_and_failures() -> None:
    """repr reads like <CircuitBreaker name='db' state='open' failures=5/20>."""
    cb = CircuitBreaker("db", volume=20, failure_ratio=0.25, clock=FakeClock())
    _succeed(cb, 15)
    _fail(cb, 5)
    assert repr(cb) == "<CircuitBreaker name='db' state='open' failures=5/20>"
    assert repr(CircuitBreaker(clock=FakeClock())) == (
        "<CircuitBreaker name=None state='closed' failures=0/0>"
    )


def test_config_is_frozen_and_validated() -> None:
    """config holds the validated options in a frozen dataclass."""
    cb = CircuitBreaker(window=6, buckets=3, exclude=KeyError)
    assert cb.config.bucket_width == 2.0
    assert cb.config.exclude == (KeyError,)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cb.config.volume = 1  # type: ignore[misc]  # frozen on purpose


# -- drivers -------------------------------------------------------------------------------------


def test_decorator_keeps_metadata_and_works_on_methods() -> None:
    """The decorator keeps __name__/__doc__ and binds as a method."""
    cb = CircuitBreaker(clock=FakeClock())

    class Client:
        @cb
        def fetch(self, key: str) -> str:
            """Fetch a key."""
            return key.upper()

    assert Client.fetch.__name__ == "fetch"
    assert Client.fetch.__doc__ == "Fetch a key."
    assert Client().fetch("a") == "A"
    assert cb.snapshot().calls == 1


def _generate() -> Iterator[int]:
    yield 1


async def _agenerate() -> AsyncIterator[int]:
    yield 1


@pytest.mark.parametrize("make", [CircuitBreaker, Breaker], ids=["circuit", "fuse"])
@pytest.mark.parametrize("target", [_generate, _agenerate], ids=["sync", "async"])
def test_generator_functions_are_refused(
    make: Callable[[], Breaker | CircuitBreaker], target: Callable[[], object]
) -> None:
    """A generator function is refused: its body would run, uncounted, after the call."""
    with pytest.raises(TypeError, match="Cannot apply @breaker to generator function"):
        make()(target)


def test_call_refuses_generator_functions_without_counting() -> None:
    """breaker.call() of a generator function or a non-callable raises TypeError, counts nothing."""
    cb = CircuitBreaker(clock=FakeClock())
    with pytest.raises(TypeError, match="generator function"):
        cb.call(_generate)
    with pytest.raises(TypeError, match="'fn' must be callable"):
        cb.call(3)  # type: ignore[arg-type]  # the point: not callable
    assert cb.snapshot().calls == 0


@pytest.mark.parametrize("kind", [classmethod, staticmethod])
def test_classmethod_or_staticmethod_objects_are_refused(kind: type) -> None:
    """@breaker under @classmethod/@staticmethod is refused with the order that works."""
    for guard in (CircuitBreaker(), Breaker()):
        with pytest.raises(TypeError) as caught:
            guard(kind(lambda *args: 1))
        assert str(caught.value).endswith(f"Put @{kind.__name__} above @breaker instead.")


def test_async_decorator_counts_and_rejects() -> None:
    """An async function gets an async wrapper that counts outcomes and raises Broken."""
    clock = FakeClock()
    cb = CircuitBreaker(volume=2, clock=clock)

    @cb
    async def fetch(fail: bool) -> str:
        await asyncio.sleep(0)
        if fail:
            raise RuntimeError("down")
        return "ok"

    assert asyncio.iscoroutinefunction(fetch)

    async def scenario() -> None:
        assert await fetch(False) == "ok"
        with pytest.raises(RuntimeError):
            await fetch(True)
        assert cb.state == "open"
        with pytest.raises(Broken):
            await fetch(False)

    asyncio.run(scenario())


def test_cancelled_async_probe_frees_its_slot() -> None:
    """Cancelling an async probe frees the slot; CancelledError propagates."""
    clock = FakeClock()
    cb = _opened(clock)
    clock.advance(5.0)

    @cb
    async def hang() -> None:
        await asyncio.Event().wait()

    async def scenario() -> None:
        task = asyncio.create_task(hang())
        await asyncio.sleep(0)
        assert cb.snapshot().probes_in_flight == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert cb.snapshot().probes_in_flight == 0

    asyncio.run(scenario())
    _succeed(cb)
    assert cb.state == "closed"


def test_sync_decorator_with_slow_call_counts() -> None:
    """The ticket-driven sync wrapper (slow_call set) counts outcomes and rejects."""
    clock = FakeClock()
    cb = CircuitBreaker(volume=1, slow_call=10.0, clock=clock)
    wrapped = cb(_boom)
    with pytest.raises(RuntimeError):
        wrapped()
    with pytest.raises(Broken):
        wrapped()


def test_call_sync_and_async() -> None:
    """call(fn, *args, **kwargs) guards sync functions and, awaited, async ones."""
    cb = CircuitBreaker(clock=FakeClock())

    def add(a: int, b: int = 0) -> int:
        return a + b

    async def aadd(a: int, b: int = 0) -> int:
        return a + b

    assert cb.call(add, 1, b=2) == 3
    assert asyncio.run(cb.call(aadd, 2, b=3)) == 5
    assert cb.snapshot().calls == 2


def test_context_managers_nest_and_count() -> None:
    """`with` and `async with` count outcomes; nested blocks settle their own tickets."""
    clock = FakeClock()
    cb = CircuitBreaker(volume=100, clock=clock)
    with cb as outer:
        with pytest.raises(RuntimeError), cb:
            raise RuntimeError("inner")
        assert not outer.settled
    assert outer.settled

    async def use() -> None:
        async with cb:
            pass

    asyncio.run(use())
    snapshot = cb.snapshot()
    assert (snapshot.calls, snapshot.failures) == (3, 1)


def test_exit_without_enter_is_an_error() -> None:
    """Leaving a breaker's with-block not entered in this thread raises RuntimeError."""
    with pytest.raises(RuntimeError, match="did not enter it"):
        CircuitBreaker().__exit__(None, None, None)


def test_breaker_follows_the_process_clock() -> None:
    """Without clock=, a breaker made earlier reads the clock installed later, at each use."""
    cb = CircuitBreaker(volume=1)
    clock = FakeClock(100.0)
    with use_clock(clock):
        _fail(cb)
        clock.advance(4.0)
        with pytest.raises(Broken) as info:
            cb.call(_ok)
        assert info.value.retry_after == 1.0
        clock.advance(1.0)
        _succeed(cb)
    assert cb.state == "closed"


def test_clock_going_back_does_not_strand_the_breaker() -> None:
    """Swapping in a clock that reads earlier restarts the open timer instead of waiting it out."""
    late = FakeClock(10_000.0)
    cb = CircuitBreaker(volume=1)
    with use_clock(late):
        _fail(cb)
    early = FakeClock()
    with use_clock(early):
        with pytest.raises(Broken) as info:
            cb.call(_ok)
        assert info.value.retry_after == 5.0
        early.advance(5.0)
        _succeed(cb)
    assert cb.state == "closed"


# -- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"failure_ratio": 0}, "'failure_ratio' must be > 0 (got 0 that is a <class 'int'>)"),
        (
            {"failure_ratio": 1.5},
            "'failure_ratio' must be <= 1 (got 1.5 that is a <class 'float'>)",
        ),
        (
            {"failure_ratio": -0.1},
            "'failure_ratio' must be > 0 (got -0.1 that is a <class 'float'>)",
        ),
        ({"volume": 0}, "'volume' must be >= 1 (got 0 that is a <class 'int'>)"),
        ({"window": 0}, "'window' must be > 0 (got 0 that is a <class 'int'>)"),
        ({"buckets": 0}, "'buckets' must be >= 1 (got 0 that is a <class 'int'>)"),
        ({"reset_timeout": -1}, "'reset_timeout' must be >= 0 (got -1 that is a <class 'int'>)"),
        ({"probes": 0}, "'probes' must be >= 1 (got 0 that is a <class 'int'>)"),
        ({"consecutive": 0}, "'consecutive' must be >= 1 (got 0 that is a <class 'int'>)"),
        ({"slow_call": -2.0}, "'slow_call' must be > 0 (got -2.0 that is a <class 'float'>)"),
        ({"slow_call": 0}, "'slow_call' must be > 0 (got 0 that is a <class 'int'>)"),
        ({"window": math.inf}, "'window' must be finite (got inf that is a <class 'float'>)"),
        (
            {"reset_timeout": math.inf},
            "'reset_timeout' must be finite; to keep a breaker open until told otherwise, "
            "use force_open() (got inf that is a <class 'float'>)",
        ),
        (
            {"failure_ratio": math.nan},
            "'failure_ratio' must be a number, not NaN (got nan that is a <class 'float'>)",
        ),
    ],
)
def test_bad_values_raise_value_error(options: dict[str, object], message: str) -> None:
    """Out-of-range options raise ValueError naming the option and the value."""
    with pytest.raises(ValueError) as info:
        CircuitBreaker(**options)  # type: ignore[arg-type]  # bad input on purpose
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"volume": 2.5}, "'volume' must be an int (got 2.5"),
        ({"buckets": True}, "'buckets' must be an int (got True"),
        ({"window": "10"}, "'window' must be a real number"),
        ({"exclude": "KeyError"}, "'exclude' must be an exception class"),
        ({"clock": object()}, "'clock' must implement dyno.clock.Clock"),
        ({"name": 3}, "'name' must be <class 'str'> (got 3"),
    ],
)
def test_bad_types_raise_type_error(options: dict[str, object], fragment: str) -> None:
    """Options of the wrong type raise TypeError naming the option and the value."""
    with pytest.raises(TypeError) as info:
        CircuitBreaker(**options)  # type: ignore[arg-type]  # bad input on purpose
    assert fragment in str(info.value)


# -- named breakers and force() -------------------------------------------------------------------


def test_named_breakers_are_listed_while_alive() -> None:
    """breakers maps names to live breakers; an entry vanishes with its breaker."""
    cb = CircuitBreaker("listed-db")
    fuse = Breaker("listed-switch")
    assert breakers["listed-db"] is cb
    assert breakers["listed-switch"] is fuse
    assert "listed-db" in list(breakers)
    assert len(breakers) >= 2
    assert "listed-db" in repr(breakers)
    del cb
    gc.collect()
    assert "listed-db" not in breakers
    with pytest.raises(KeyError):
        breakers["listed-db"]
    assert breakers.get("listed-switch") is fuse


def test_breakers_view_is_read_only() -> None:
    """breakers cannot be assigned to."""
    with pytest.raises(TypeError):
        breakers["x"] = CircuitBreaker()  # type: ignore[index]  # read-only on purpose


def test_shared_name_maps_to_newest_and_force_reaches_all() -> None:
    """Two live breakers with one name: breakers gives the newest, force() reaches both."""
    first = CircuitBreaker("twin")
    second = CircuitBreaker("twin")
    assert breakers["twin"] is second
    with force("twin", "open"):
        assert first.state == second.state == "forced_open"
    assert first.state == second.state == "closed"
    del second
    gc.collect()
    assert breakers["twin"] is first


def test_force_applies_and_restores() -> None:
    """force(name, 'open') forces the breaker; on exit its previous forcing comes back."""
    cb = CircuitBreaker("forced-db", clock=FakeClock())
    cb.force_closed()
    with force("forced-db", "open"):
        assert cb.state == "forced_open"
        with pytest.raises(Broken) as info:
            cb.call(_ok)
        assert info.value.name == "forced-db"
        with force("forced-db", "closed"):
            assert cb.state == "forced_closed"
        assert cb.state == "forced_open"
    assert cb.state == "forced_closed"


def test_force_reaches_breakers_created_inside() -> None:
    """A breaker created inside force() starts forced and is released on exit."""
    with force("late-db", "open"):
        cb = CircuitBreaker("late-db")
        fuse = Breaker("late-db")
        assert cb.state == "forced_open"
        assert not fuse
        with force("late-db", "closed"):
            inner = CircuitBreaker("late-db")
            assert inner.state == "forced_closed"
        assert inner.state == "forced_open"  # what the enclosing force() set
    assert cb.state == inner.state == "closed"
    assert fuse


def test_force_exits_out_of_order() -> None:
    """Two force() blocks on one name may exit in either order; the active one applies."""
    cb = CircuitBreaker("crossed")
    outer = force("crossed", "open")
    inner = force("crossed", "closed")
    outer.__enter__()
    inner.__enter__()
    outer.__exit__(None, None, None)
    assert cb.state == "forced_closed"  # inner is still active
    inner.__exit__(None, None, None)
    assert cb.state == "closed"


def test_force_outranks_own_forcing() -> None:
    """Inside force() the block's forcing holds; the breaker's own forcing applies after."""
    cb = CircuitBreaker("ranked")
    with force("ranked", "closed"):
        cb.force_open()
        assert cb.state == "forced_closed"
        cb.reset()
        assert cb.state == "forced_closed"
        cb.trigger()
    assert cb.state == "forced_open"
    cb.release()
    assert cb.state == "closed"


@pytest.mark.parametrize("state", ["half_open", "forced_open", "OPEN", ""])
def test_force_refuses_unknown_states(state: str) -> None:
    """force() with a state other than 'open'/'closed' raises ValueError naming it."""
    with pytest.raises(ValueError) as info, force("any", state):
        pass
    assert str(info.value) == (
        f"'state' must be one of 'open', 'closed' (got {state!r} that is a <class 'str'>)"
    )


def test_force_refuses_non_string_names() -> None:
    """force() with a non-string name raises TypeError."""
    with pytest.raises(TypeError, match="'name' must be <class 'str'>"), force(3, "open"):  # type: ignore[arg-type]  # bad input on purpose
        pass


def test_unnamed_breakers_are_not_listed() -> None:
    """Breakers without a name do not appear in breakers."""
    before = set(breakers)
    keep = [CircuitBreaker(), Breaker()]
    assert set(breakers) == before
    assert keep


class _Cycle:
    """An object in a reference cycle holding a breaker: only the collector frees it."""

    def __init__(self, breaker: Breaker | CircuitBreaker) -> None:
        self.breaker = breaker
        self.me = self


def test_redefining_a_name_many_times_keeps_no_dead_entries() -> None:
    """Breakers redefined under one name, freed by the collector, leave no entries behind."""
    for _ in range(200):
        _Cycle(CircuitBreaker("churned"))
        _Cycle(Breaker("churned"))
    survivor = CircuitBreaker("churned")
    gc.collect()
    assert breakers["churned"] is survivor
    assert len(breaker_module._registry._refs["churned"]) == 1
    del survivor
    gc.collect()
    assert "churned" not in breakers
    assert "churned" not in breaker_module._registry._refs


def test_collecting_a_breaker_while_the_registry_is_locked_does_not_deadlock() -> None:
    """A named breaker freed by a collection that runs under the registry lock cannot hang it."""
    # In a subprocess: a deadlock there fails this test instead of hanging the suite.
    code = (
        "import gc\n"
        "from dyno import breaker\n"
        "class Cycle:\n"
        "    def __init__(self):\n"
        "        self.me = self\n"
        "        self.breaker = breaker.CircuitBreaker('cyclic')\n"
        "Cycle()\n"
        "with breaker._forcing_lock, breaker._registry._lock:\n"
        "    gc.collect()\n"
        "assert 'cyclic' not in breaker.breakers\n"
        "print('done')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "done\n", "")
