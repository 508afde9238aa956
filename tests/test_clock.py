"""dyno.clock: the swappable time source."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dyno import clock as clock_module
from dyno.breaker import CircuitBreaker, Limiter
from dyno.cache import cache
from dyno.clock import (
    Clock,
    FakeClock,
    SystemClock,
    check_clock,
    get_clock,
    set_clock,
    use_clock,
)
from dyno.harness import Harness, harness
from dyno.metrics import Metrics
from dyno.retry import retry
from dyno.service import service
from dyno.timing import PerfTimer


def test_default_clock_is_system_clock() -> None:
    """The process-wide default is a SystemClock."""
    assert isinstance(get_clock(), SystemClock)


def test_system_clock_reads_real_time() -> None:
    """SystemClock.now is monotonic time and wall is epoch time."""
    clock = SystemClock()
    before = time.monotonic()
    assert before <= clock.now() <= time.monotonic()
    assert abs(clock.wall() - time.time()) < 60


def test_system_clock_zero_sleeps_return() -> None:
    """SystemClock sleeps, sync and async, go through time and asyncio."""
    clock = SystemClock()
    clock.sleep(0)
    asyncio.run(clock.asleep(0))


def test_fake_clock_starts_where_told() -> None:
    """FakeClock starts at `start`, and wall() is epoch + now()."""
    clock = FakeClock(5.0, epoch=1000.0)
    assert clock.now() == 5.0
    assert clock.wall() == 1005.0


def test_fake_clock_advance_returns_new_time() -> None:
    """advance moves time forward by exactly the amount and returns the new time."""
    clock = FakeClock()
    assert clock.advance(1.5) == 1.5
    assert clock.advance(0) == 1.5
    assert clock.now() == 1.5
    assert clock.sleeps == []


def test_fake_clock_refuses_negative_advance() -> None:
    """A negative advance raises ValueError naming the value and the remedy."""
    clock = FakeClock()
    with pytest.raises(ValueError) as info:
        clock.advance(-1)
    assert str(info.value) == (
        "Cannot advance a FakeClock by -1.0 seconds: time only moves forward. Pass a duration >= 0."
    )
    assert clock.now() == 0.0


def test_fake_clock_refuses_negative_sleep() -> None:
    """A negative sleep raises ValueError and records nothing."""
    clock = FakeClock()
    with pytest.raises(ValueError, match=r"Cannot sleep a FakeClock by -0\.5 seconds"):
        clock.sleep(-0.5)
    assert clock.sleeps == []


@pytest.mark.parametrize("bad", ["1", None, True, [1]])
def test_fake_clock_refuses_non_numbers(bad: object) -> None:
    """Non-numeric durations and starts raise TypeError naming the option."""
    with pytest.raises(TypeError, match="'seconds' must be a real number"):
        FakeClock().advance(bad)  # type: ignore[arg-type]  # bad input on purpose
    with pytest.raises(TypeError, match="'start' must be a real number"):
        FakeClock(bad)  # type: ignore[arg-type]  # bad input on purpose


def test_fake_clock_sleep_records_and_advances() -> None:
    """sleep advances at once and lists each sleep in order."""
    clock = FakeClock()
    clock.sleep(1)
    clock.sleep(0.25)
    assert clock.now() == 1.25
    assert clock.sleeps == [1.0, 0.25]


def test_fake_clock_asleep_records_and_advances() -> None:
    """asleep advances at once, records, and lets other tasks run."""
    clock = FakeClock()
    order: list[str] = []

    async def sleeper() -> None:
        await clock.asleep(3)
        order.append("sleeper")

    async def other() -> None:
        order.append("other")

    async def main() -> None:
        await asyncio.gather(sleeper(), other())

    asyncio.run(main())
    assert clock.now() == 3.0
    assert clock.sleeps == [3.0]
    assert order == ["other", "sleeper"]


def test_fake_clock_is_thread_safe() -> None:
    """Concurrent sleeps from 8 threads lose no time and no record."""
    clock = FakeClock()
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait(timeout=10)
        for _ in range(1000):
            clock.sleep(1)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert clock.now() == 8000.0
    assert len(clock.sleeps) == 8000


def test_clocks_satisfy_protocol() -> None:
    """Both clocks are Clocks at runtime."""
    assert isinstance(SystemClock(), Clock)
    assert isinstance(FakeClock(), Clock)


def test_use_clock_installs_and_restores() -> None:
    """use_clock installs the clock for the block and restores the previous one."""
    original = get_clock()
    fake = FakeClock()
    with use_clock(fake) as installed:
        assert installed is fake
        assert get_clock() is fake
        assert clock_module.now() == 0.0
        clock_module.sleep(2)
        assert fake.now() == 2.0
        assert clock_module.wall() == 2.0
    assert get_clock() is original


def test_use_clock_nests() -> None:
    """Nested use_clock blocks each restore what they replaced."""
    outer, inner = FakeClock(1), FakeClock(2)
    with use_clock(outer):
        with use_clock(inner):
            assert get_clock() is inner
        assert get_clock() is outer


def test_use_clock_restores_on_error() -> None:
    """use_clock restores the previous clock when the block raises."""
    original = get_clock()
    with pytest.raises(RuntimeError), use_clock(FakeClock()):
        raise RuntimeError("boom")
    assert get_clock() is original


def test_installed_clock_is_seen_by_other_threads() -> None:
    """The installed clock is process-wide: worker threads read it."""
    fake = FakeClock(42)
    seen: list[float] = []
    with use_clock(fake):
        thread = threading.Thread(target=lambda: seen.append(clock_module.now()))
        thread.start()
        thread.join(timeout=10)
    assert seen == [42.0]


def test_module_asleep_uses_installed_clock() -> None:
    """dyno.clock.asleep sleeps through the installed clock."""
    fake = FakeClock()
    with use_clock(fake):
        asyncio.run(clock_module.asleep(4))
    assert fake.sleeps == [4.0]


def test_set_clock_returns_previous_and_refuses_non_clocks() -> None:
    """set_clock returns the replaced clock; a non-clock raises TypeError naming it."""
    original = get_clock()
    fake = FakeClock()
    assert set_clock(fake) is original
    assert set_clock(original) is fake
    with pytest.raises(TypeError, match=r"'clock' must implement dyno.clock.Clock .* \(got 3 that"):
        set_clock(3)  # type: ignore[arg-type]  # bad input on purpose
    assert get_clock() is original


@pytest.mark.parametrize("bad", [FakeClock, None])
def test_set_clock_refuses_a_clock_class_and_none(bad: object) -> None:
    """use_clock(FakeClock) (the class) and None raise TypeError at once, saying what to pass."""
    original = get_clock()
    with pytest.raises(TypeError) as info, use_clock(bad):  # type: ignore[type-var]  # bad input
        pass
    assert get_clock() is original
    if bad is None:
        assert str(info.value) == (
            "'clock' must implement dyno.clock.Clock (now, wall, sleep, asleep) "
            "(got None that is a <class 'NoneType'>)"
        )
    else:
        assert str(info.value) == (
            "Cannot use the class FakeClock as 'clock': a clock is an instance. "
            "Pass FakeClock() instead."
        )


def test_check_clock_for_clock_options() -> None:
    """check_clock passes clocks and None, and refuses classes and non-clocks naming the option."""
    clock = FakeClock()
    assert check_clock("clock", clock) is clock
    assert check_clock("clock", None) is None
    with pytest.raises(TypeError, match=r"Cannot use the class SystemClock as 'timer_clock'"):
        check_clock("timer_clock", SystemClock)  # type: ignore[arg-type]  # bad input on purpose
    with pytest.raises(TypeError, match=r"'timer_clock' must implement .* \(got 'x' that is a"):
        check_clock("timer_clock", "x")  # type: ignore[arg-type]  # bad input on purpose


# A bad clock on purpose: Any, so each call type-checks.
_CLOCK_OPTIONS: list[tuple[str, Callable[[Any], object]]] = [
    ("CircuitBreaker", lambda clock: CircuitBreaker(clock=clock)),
    ("Limiter", lambda clock: Limiter(1, clock=clock)),
    ("Metrics", lambda clock: Metrics(clock=clock)),
    ("cache", lambda clock: cache(clock=clock)),
    ("PerfTimer", lambda clock: PerfTimer(clock=clock)),
    ("service", lambda clock: service(clock=clock)),
    ("retry", lambda clock: retry(clock=clock)),
    ("Harness", lambda clock: Harness(clock=clock)),
    ("harness", lambda clock: harness(clock=clock)),
]


@pytest.mark.parametrize("make", [pytest.param(make, id=name) for name, make in _CLOCK_OPTIONS])
def test_every_clock_option_refuses_classes_and_non_clocks_alike(
    make: Callable[[Any], object],
) -> None:
    """Each dyno clock= option refuses a clock class and a non-clock with check_clock's messages."""
    with pytest.raises(TypeError) as info:
        make(FakeClock)
    assert str(info.value) == (
        "Cannot use the class FakeClock as 'clock': a clock is an instance. "
        "Pass FakeClock() instead."
    )
    with pytest.raises(TypeError) as info:
        make(3)
    assert str(info.value) == (
        "'clock' must implement dyno.clock.Clock (now, wall, sleep, asleep) "
        "(got 3 that is a <class 'int'>)"
    )
    make(FakeClock())  # an instance passes


def test_reprs() -> None:
    """Clocks have readable reprs."""
    assert repr(SystemClock()) == "<SystemClock>"
    clock = FakeClock()
    clock.sleep(1)
    assert repr(clock) == "<FakeClock now=1.0 sleeps=1>"


@given(st.lists(st.floats(min_value=0, max_value=1e6), max_size=50))
def test_fake_clock_time_never_goes_back(steps: list[float]) -> None:
    """Any sequence of advances and sleeps only moves time forward."""
    clock = FakeClock()
    last = clock.now()
    for index, step in enumerate(steps):
        if index % 2:
            clock.sleep(step)
        else:
            clock.advance(step)
        assert clock.now() >= last
        last = clock.now()
