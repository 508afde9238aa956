"""dyno.breaker under real threads: exact counts, exactly `probes` probes, one trip."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator

import pytest

from dyno.breaker import BreakerState, Broken, CircuitBreaker
from dyno.clock import FakeClock

WAIT = 30.0  # bound on every wait; a healthy run takes a fraction of a second


@pytest.fixture(autouse=True)
def _switch_often() -> Iterator[None]:
    """Make the interpreter switch threads very often, so the threads really interleave."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def run_threads(count: int, target: Callable[[int], None]) -> None:
    """Run target(index) in `count` threads started together; re-raise the first error."""
    barrier = threading.Barrier(count, timeout=WAIT)
    errors: list[BaseException] = []

    def body(index: int) -> None:
        try:
            barrier.wait()
            target(index)
        except BaseException as exc:  # report it to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in threads)
    if errors:
        raise errors[0]


def quiet_breaker(clock: FakeClock) -> CircuitBreaker:
    """A breaker that never opens, so every call is counted."""
    return CircuitBreaker(volume=10**9, failure_ratio=1.0, clock=clock)


def test_successes_are_counted_exactly() -> None:
    """8 threads x 5,000 successful calls leave exactly 40,000 calls in the window."""
    cb = quiet_breaker(FakeClock())

    @cb
    def work() -> int:
        return 1

    def calls(_: int) -> None:
        for _ in range(5_000):
            work()

    run_threads(8, calls)
    snapshot = cb.snapshot()
    assert (snapshot.calls, snapshot.failures) == (40_000, 0)


def test_mixed_outcomes_through_every_driver_are_counted_exactly() -> None:
    """8 threads x 5,000 calls (a quarter failing) via decorator, call() and with: exact counts."""
    cb = quiet_breaker(FakeClock())

    def work(fail: bool) -> int:
        if fail:
            raise RuntimeError("down")
        return 1

    decorated = cb(work)

    def calls(index: int) -> None:
        for i in range(5_000):
            fail = i % 4 == 0
            try:
                if index % 3 == 0:
                    decorated(fail)
                elif index % 3 == 1:
                    cb.call(work, fail)
                else:
                    with cb:
                        work(fail)
            except RuntimeError:
                pass

    run_threads(8, calls)
    snapshot = cb.snapshot()
    assert (snapshot.calls, snapshot.failures) == (40_000, 10_000)


def test_counts_stay_exact_while_buckets_roll_and_snapshots_run() -> None:
    """Calls racing bucket rollovers and snapshot() are all counted (window wide enough)."""
    clock = FakeClock()
    cb = CircuitBreaker(volume=10**9, failure_ratio=1.0, window=1_000.0, buckets=100, clock=clock)

    @cb
    def work() -> int:
        return 1

    def calls(index: int) -> None:
        for i in range(5_000):
            if index == 0 and i % 100 == 0:
                clock.advance(1.0)  # crosses a 10-second bucket every 1,000 calls
            if index == 1 and i % 50 == 0:
                cb.snapshot()
            work()

    run_threads(8, calls)
    assert cb.snapshot().calls == 40_000


@pytest.mark.parametrize("probes", [1, 3])
def test_exactly_probes_calls_reach_the_function(probes: int) -> None:
    """16 threads racing into half-open: exactly `probes` reach the function; others get Broken."""
    clock = FakeClock()
    cb = CircuitBreaker(volume=1, reset_timeout=5.0, probes=probes, clock=clock)
    with pytest.raises(RuntimeError):
        cb.call(_boom)
    clock.advance(5.0)

    lock = threading.Lock()
    entered: list[int] = []
    rejected: list[float | None] = []
    all_rejected = threading.Event()
    finish = threading.Event()

    @cb
    def probe(index: int) -> str:
        with lock:
            entered.append(index)
        assert finish.wait(WAIT)  # hold the slot until every other thread was turned away
        return "ok"

    def caller(index: int) -> None:
        try:
            probe(index)
        except Broken as exc:
            with lock:
                rejected.append(exc.retry_after)
                if len(rejected) == 16 - probes:
                    all_rejected.set()

    runner = threading.Thread(target=run_threads, args=(16, caller))
    runner.start()
    try:
        assert all_rejected.wait(WAIT)
        assert len(entered) == probes
        assert cb.snapshot().probes_in_flight == probes
        assert rejected == [5.0] * (16 - probes)
    finally:
        finish.set()
        runner.join(WAIT)
    assert not runner.is_alive()
    assert len(entered) == probes
    assert cb.state == "closed"


def test_concurrent_failures_trip_once() -> None:
    """Threads failing together open the breaker once: one closed -> open notification."""
    cb = CircuitBreaker(volume=50, failure_ratio=0.5, clock=FakeClock())
    changes: list[tuple[BreakerState, BreakerState]] = []
    cb.add_listener(lambda breaker, old, new: changes.append((old, new)))

    def calls(_: int) -> None:
        for _ in range(200):
            with contextlib.suppress(RuntimeError, Broken):
                cb.call(_boom)

    run_threads(8, calls)
    assert changes == [(BreakerState.CLOSED, BreakerState.OPEN)]
    assert cb.snapshot().calls >= 50


def _boom() -> None:
    raise RuntimeError("down")
