"""dyno.breaker.Limiter: a concurrency bulkhead for threads and tasks."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable, Iterator

import pytest

from dyno.breaker import Limiter, RateLimited
from dyno.clock import FakeClock

WAIT = 30.0  # bound on every real wait


class RushingClock(FakeClock):
    """A fake clock that jumps 10 seconds every time it is read."""

    def now(self) -> float:
        return self.advance(10.0)


def _poll(predicate: Callable[[], bool], what: str) -> None:
    """Wait (bounded) until predicate() is true; each step blocks at most 10 ms."""
    step = threading.Event()
    for _ in range(int(WAIT * 100)):
        if predicate():
            return
        step.wait(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def test_full_limiter_rejects_at_once() -> None:
    """With every slot taken and timeout 0, entering raises RateLimited naming the limiter."""
    limiter = Limiter(2, name="pool")
    with limiter, limiter:
        assert limiter.in_flight == 2
        with pytest.raises(RateLimited) as info, limiter:
            pass
        assert (info.value.name, info.value.limit) == ("pool", 2)
    assert limiter.in_flight == 0


def test_slot_is_freed_on_error() -> None:
    """An exception inside the block frees the slot and propagates unchanged."""
    limiter = Limiter(1)
    error = ValueError("inner")
    with pytest.raises(ValueError) as info, limiter:
        raise error
    assert info.value is error
    with pytest.raises(KeyboardInterrupt), limiter:
        raise KeyboardInterrupt
    assert limiter.in_flight == 0


def test_decorates_sync_and_async() -> None:
    """Decorated sync and async functions hold a slot while they run."""
    limiter = Limiter(1)

    @limiter
    def inside() -> int:
        return limiter.in_flight

    @limiter
    async def ainside() -> int:
        await asyncio.sleep(0)
        return limiter.in_flight

    assert inside.__name__ == "inside"
    assert inside() == 1
    assert asyncio.run(ainside()) == 1
    assert limiter.in_flight == 0


def test_async_limiter_rejects_when_full() -> None:
    """`async with` a full limiter with timeout 0 raises RateLimited."""
    limiter = Limiter(1)

    async def scenario() -> None:
        async with limiter:
            with pytest.raises(RateLimited):
                async with limiter:
                    pass
        async with limiter:
            assert limiter.in_flight == 1

    asyncio.run(scenario())
    assert limiter.in_flight == 0


def test_waiting_thread_gets_a_freed_slot() -> None:
    """With a timeout, a thread waits and takes the slot another thread frees."""
    limiter = Limiter(1, timeout=WAIT, clock=FakeClock())
    got: list[int] = []
    limiter.acquire()

    def waiter() -> None:
        with limiter:
            got.append(limiter.in_flight)

    thread = threading.Thread(target=waiter)
    thread.start()
    _poll(lambda: limiter.waiting == 1, "the thread to wait")
    assert got == []
    limiter.release()
    thread.join(WAIT)
    assert not thread.is_alive()
    assert got == [1]
    assert (limiter.in_flight, limiter.waiting) == (0, 0)


def test_infinite_timeout_waits_until_a_slot_frees() -> None:
    """timeout=math.inf makes a thread wait as long as it takes (no OverflowError)."""
    limiter = Limiter(1, timeout=math.inf, clock=FakeClock())
    errors: list[BaseException] = []
    limiter.acquire()

    def waiter() -> None:
        try:
            with limiter:
                pass
        except BaseException as error:  # reported to the test thread below
            errors.append(error)

    thread = threading.Thread(target=waiter)
    thread.start()
    _poll(lambda: limiter.waiting == 1 or bool(errors), "the thread to wait")
    assert errors == []
    limiter.release()
    thread.join(WAIT)
    assert not thread.is_alive()
    assert errors == []
    assert (limiter.in_flight, limiter.waiting) == (0, 0)


def test_timeout_is_measured_on_the_clock() -> None:
    """A clock that passes the deadline ends the wait with RateLimited, without sleeping."""
    limiter = Limiter(1, timeout=5.0, clock=RushingClock())
    limiter.acquire()
    with pytest.raises(RateLimited):
        limiter.acquire()
    assert limiter.waiting == 0


def test_async_timeout_is_measured_on_the_clock() -> None:
    """The async wait also ends when the clock passes the deadline."""
    limiter = Limiter(1, timeout=5.0, clock=RushingClock())

    async def scenario() -> None:
        async with limiter:
            with pytest.raises(RateLimited):
                await limiter.aacquire()

    asyncio.run(scenario())
    assert (limiter.in_flight, limiter.waiting) == (0, 0)


@pytest.mark.parametrize("timeout", [WAIT, math.inf])
def test_waiting_task_gets_a_freed_slot(timeout: float) -> None:
    """A task waiting on a full limiter (any timeout, infinite too) takes the freed slot."""
    limiter = Limiter(1, timeout=timeout, clock=FakeClock())
    order: list[str] = []

    async def holder(release: asyncio.Event) -> None:
        async with limiter:
            order.append("holder in")
            await release.wait()
        order.append("holder out")

    async def waiter() -> None:
        async with limiter:
            order.append("waiter in")

    async def scenario() -> None:
        release = asyncio.Event()
        hold = asyncio.create_task(holder(release))
        await asyncio.sleep(0)
        wait = asyncio.create_task(waiter())
        for _ in range(100):
            if limiter.waiting:
                break
            await asyncio.sleep(0)
        assert limiter.waiting == 1
        release.set()
        await asyncio.wait_for(asyncio.gather(hold, wait), WAIT)

    asyncio.run(scenario())
    assert order == ["holder in", "holder out", "waiter in"]


def test_thread_frees_a_slot_for_a_task() -> None:
    """A slot freed by another thread wakes a task waiting in an event loop."""
    limiter = Limiter(1, timeout=WAIT, clock=FakeClock())
    limiter.acquire()

    async def scenario() -> int:
        async with limiter:
            return limiter.in_flight

    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(asyncio.run(scenario())))
    thread.start()
    _poll(lambda: limiter.waiting == 1, "the task to wait")
    limiter.release()
    thread.join(WAIT)
    assert not thread.is_alive()
    assert result == [1]


def test_cancelled_waiter_leaves_no_trace() -> None:
    """Cancelling a waiting task removes it; CancelledError propagates."""
    limiter = Limiter(1, timeout=WAIT, clock=FakeClock())

    async def scenario() -> None:
        async with limiter:
            task = asyncio.create_task(limiter.aacquire())
            for _ in range(100):
                if limiter.waiting:
                    break
                await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert limiter.waiting == 0
        assert limiter.in_flight == 0

    asyncio.run(scenario())


def test_limit_holds_under_threads() -> None:
    """8 threads hammering a limit-3 limiter never have more than 3 inside."""
    limiter = Limiter(3, timeout=WAIT, clock=FakeClock())
    lock = threading.Lock()
    inside = 0
    peak = 0
    errors: list[BaseException] = []

    def worker() -> None:
        nonlocal inside, peak
        try:
            for _ in range(500):
                with limiter:
                    with lock:
                        inside += 1
                        peak = max(peak, inside)
                    with lock:
                        inside -= 1
        except BaseException as exc:  # report it to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not errors
    assert 1 <= peak <= 3
    assert limiter.in_flight == 0


def test_release_without_slot_is_an_error() -> None:
    """Releasing a slot never taken raises RuntimeError."""
    with pytest.raises(RuntimeError, match="no slot is held"):
        Limiter(1).release()


def test_repr() -> None:
    """repr shows name, slots in use and the timeout."""
    limiter = Limiter(4, timeout=0.5, name="db")
    with limiter:
        assert repr(limiter) == "<Limiter name='db' in_flight=1/4 timeout=0.5>"


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"limit": 0}, ValueError, "'limit' must be >= 1 (got 0 that is a <class 'int'>)"),
        (
            {"limit": 1, "timeout": -1},
            ValueError,
            "'timeout' must be >= 0 (got -1 that is a <class 'int'>)",
        ),
        ({"limit": 1.5}, TypeError, "'limit' must be an int (got 1.5 that is a <class 'float'>)"),
        (
            {"limit": 1, "name": 7},
            TypeError,
            "'name' must be <class 'str'> (got 7 that is a <class 'int'>)",
        ),
    ],
)
def test_bad_options(options: dict[str, object], error: type[Exception], message: str) -> None:
    """Bad options raise at construction naming the option and the value."""
    with pytest.raises(error) as info:
        Limiter(**options)  # type: ignore[arg-type]  # bad input on purpose
    assert str(info.value) == message


def test_decorating_what_a_limiter_cannot_hold_is_refused() -> None:
    """A generator function (its body runs after the call) or a classmethod object is refused."""

    def generate() -> Iterator[int]:
        yield 1

    limiter = Limiter(1)
    with pytest.raises(TypeError, match="Cannot apply @limiter to generator function"):
        limiter(generate)
    with pytest.raises(TypeError, match="Put @classmethod above @limiter instead"):
        limiter(classmethod(lambda cls: 1))  # type: ignore[arg-type]  # the point
