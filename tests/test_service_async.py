"""dyno.service on async functions: the same promises, on the event loop.

Each test runs its own loop with asyncio.run. Timeouts are real asyncio
timeouts (0.05 s) around a coroutine that waits on an event nobody sets: the
timeout bounds the wait and cancels the attempt.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Iterator

import pytest

from dyno.breaker import Broken, CircuitBreaker, Limiter, RateLimited
from dyno.clock import FakeClock, use_clock
from dyno.harness import HarnessRecord, listening
from dyno.metrics import EVENTS
from dyno.retry import CompoundException, fixed, retry
from dyno.service import ServiceTimeout, service
from dyno.timing import PerfTimer
from pytest_dyno.flaky import Flaky

Transition = tuple[str, str]


def _counts(**nonzero: int) -> dict[str, int]:
    return {event: nonzero.get(event, 0) for event in EVENTS}


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    """A FakeClock installed process-wide for the test."""
    fake = FakeClock()
    with use_clock(fake):
        yield fake


class AsyncDependency:
    """A hand-driven async dependency: answers while ``healthy``, else raises ConnectionError."""

    def __init__(self) -> None:
        self.healthy = True
        self.calls = 0

    async def __call__(self, item: str) -> str:
        self.calls += 1
        await asyncio.sleep(0)
        if not self.healthy:
            raise ConnectionError(f"down on call {self.calls}")
        return f"fresh {item}"


def test_async_dependency_healthy_failing_recovered(clock: FakeClock) -> None:
    """The healthy -> failing -> recovered story, async: exact counts and transitions."""
    dependency = AsyncDependency()
    breaker = CircuitBreaker("async-inventory", volume=4, failure_ratio=0.5, reset_timeout=5.0)
    transitions: list[Transition] = []
    breaker.add_listener(lambda _, old, new: transitions.append((old.value, new.value)))

    async def stale(item: str) -> str:
        return f"stale {item}"

    @service("async-inventory", retry=2, breaker=breaker, fallback=stale)
    async def stock(item: str) -> str:
        return await dependency(item)

    metrics = stock.metrics
    assert metrics is not None

    def window() -> tuple[str, int, int]:
        snapshot = breaker.snapshot()
        return snapshot.state.value, snapshot.calls, snapshot.failures

    async def story() -> None:
        # Healthy.
        assert [await stock(item) for item in "abc"] == ["fresh a", "fresh b", "fresh c"]
        assert metrics.totals() == _counts(success=3)
        assert (window(), transitions) == (("closed", 3, 0), [])
        # Failing: "d" fails twice, "e" once (3 of 6 open the circuit), then
        # its retry and "f" are short-circuited.
        dependency.healthy = False
        assert [await stock(item) for item in "def"] == ["stale d", "stale e", "stale f"]
        assert dependency.calls == 6
        assert (window(), transitions) == (("open", 6, 3), [("closed", "open")])
        assert metrics.totals() == _counts(
            success=3, failure=3, short_circuit=2, fallback_success=3
        )
        # Still failing when the probe goes: open again; its retry short-circuited.
        clock.advance(5.0)
        assert await stock("g") == "stale g"
        assert dependency.calls == 7
        assert transitions[1:] == [("open", "half_open"), ("half_open", "open")]
        assert metrics.totals() == _counts(
            success=3, failure=4, short_circuit=3, fallback_success=4
        )
        # Recovered: the next probe closes the circuit with an empty window.
        dependency.healthy = True
        clock.advance(5.0)
        assert [await stock(item) for item in "hi"] == ["fresh h", "fresh i"]
        assert window() == ("closed", 1, 0)
        assert transitions[3:] == [("open", "half_open"), ("half_open", "closed")]

    asyncio.run(story())
    assert dependency.calls == 9
    assert metrics.totals() == _counts(success=5, failure=4, short_circuit=3, fallback_success=4)
    assert metrics.in_flight == 0


def test_async_service_is_a_coroutine_function() -> None:
    """An async function gets an async wrapper that inspect recognises."""

    @service
    async def call() -> int:
        return 1

    assert inspect.iscoroutinefunction(call)
    assert asyncio.run(call()) == 1
    assert call.metrics is not None
    assert call.metrics.totals() == _counts(success=1)


def test_async_retries_sleep_through_the_clock(clock: FakeClock) -> None:
    """Async backoff waits go through the clock's asleep; failures are compounded."""
    dependency: Flaky[Awaitable[None]] = Flaky(schedule="FFF", asynchronous=True)

    @service(retry=retry(3, backoff=fixed(0.5)))
    async def call() -> None:
        return await dependency()

    with pytest.raises(CompoundException) as caught:
        asyncio.run(call())
    assert isinstance(caught.value, ConnectionError)
    assert len(caught.value) == 3
    assert caught.value.__cause__ is caught.value.exceptions[-1]
    assert clock.sleeps == [0.5, 0.5]
    assert call.metrics is not None
    assert call.metrics.totals() == _counts(failure=3)


def test_async_retry_deadline(clock: FakeClock) -> None:
    """An async call stops retrying before a wait would pass the deadline."""
    dependency: Flaky[Awaitable[None]] = Flaky(schedule="FFFFF", asynchronous=True)

    @service(retry=retry(5, backoff=fixed(1.0), deadline=1.5))
    async def call() -> None:
        return await dependency()

    with pytest.raises(CompoundException):
        asyncio.run(call())
    assert clock.sleeps == [1.0]
    assert dependency.calls == 2


def test_async_result_predicate() -> None:
    """Async values refused by the policy's predicate are retried."""
    values = iter([0, 5])

    @service(retry=retry(3, result=lambda value: value == 0))
    async def call() -> int:
        return next(values)

    assert asyncio.run(call()) == 5


def test_async_single_failure_is_the_same_object() -> None:
    """Without retries the async call re-raises the function's very exception."""
    error = ConnectionError("down")

    @service
    async def call() -> None:
        raise error

    with pytest.raises(ConnectionError) as caught:
        asyncio.run(call())
    assert caught.value is error


@pytest.mark.parametrize("asynchronous", [False, True])
def test_async_fallback_sync_or_async(asynchronous: bool) -> None:
    """An async service's fallback may be sync or async; it gets the call's arguments."""

    def sync_fallback(x: int) -> str:
        return f"fb {x}"

    async def async_fallback(x: int) -> str:
        return f"fb {x}"

    @service(fallback=async_fallback if asynchronous else sync_fallback)
    async def call(x: int) -> str:
        raise ConnectionError(x)

    assert asyncio.run(call(3)) == "fb 3"
    assert call.metrics is not None
    assert call.metrics.totals() == _counts(failure=1, fallback_success=1)


def test_async_failing_fallback_is_chained() -> None:
    """A failing async fallback raises its error from the call's, counting fallback_failure."""
    original = ConnectionError("down")

    async def fallback() -> str:
        raise LookupError("no cache")

    @service(fallback=fallback)
    async def call() -> str:
        raise original

    with pytest.raises(LookupError) as caught:
        asyncio.run(call())
    assert caught.value.__cause__ is original
    assert call.metrics is not None
    assert call.metrics.totals() == _counts(failure=1, fallback_failure=1)


def test_async_open_circuit_short_circuits() -> None:
    """An open breaker short-circuits an async call without awaiting the function."""
    breaker = CircuitBreaker("async-open")
    breaker.force_open()
    calls: list[int] = []

    @service(breaker=breaker, retry=3)
    async def call() -> None:
        calls.append(1)

    with pytest.raises(Broken):
        asyncio.run(call())
    assert calls == []
    assert call.metrics is not None
    assert call.metrics.totals() == _counts(short_circuit=1)


def test_async_limiter_rejects_beyond_its_limit() -> None:
    """limiter=1 on an async function: a second concurrent call is rejected."""

    async def scenario() -> tuple[str, BaseException | str]:
        gate = asyncio.Event()
        entered = asyncio.Event()

        @service("async-limited", limiter=1, breaker=False)
        async def call() -> str:
            entered.set()
            await gate.wait()
            return "done"

        first = asyncio.create_task(call())
        await asyncio.wait_for(entered.wait(), 10)
        try:
            second: BaseException | str = await call()
        except RateLimited as error:
            second = error
        gate.set()
        result = await asyncio.wait_for(first, 10)
        assert call.metrics is not None
        assert call.metrics.totals() == _counts(success=1, rejection=1)
        return result, second

    result, second = asyncio.run(scenario())
    assert result == "done"
    assert isinstance(second, RateLimited)


def test_async_timeout_cancels_the_attempt() -> None:
    """An async attempt past its timeout is cancelled and counted as a timeout, not a success."""
    cancelled: list[bool] = []
    limiter = Limiter(1)

    @service("async-slow", timeout=0.05, limiter=limiter)
    async def call() -> str:
        try:
            await asyncio.Event().wait()  # never set: only the timeout ends this
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return "late"

    with pytest.raises(ServiceTimeout) as caught:
        asyncio.run(call())
    assert (caught.value.name, caught.value.timeout) == ("async-slow", 0.05)
    assert cancelled == [True]
    assert limiter.in_flight == 0
    assert call.metrics is not None
    assert call.metrics.totals() == _counts(timeout=1)
    assert isinstance(call.breaker, CircuitBreaker)
    assert call.breaker.snapshot().failures == 1


def test_async_attempt_swallowing_its_cancellation_still_times_out() -> None:
    """A coroutine that catches the timeout's cancellation and returns gives no success."""
    limiter = Limiter(1)

    @service("async-swallowing", timeout=0.05, limiter=limiter)
    async def call() -> str:
        try:
            await asyncio.Event().wait()  # never set: only the timeout ends this
        except asyncio.CancelledError:
            return "late"
        return "never"

    with pytest.raises(ServiceTimeout) as caught:
        asyncio.run(call())
    assert caught.value.__cause__ is None
    assert limiter.in_flight == 0
    assert call.metrics is not None
    assert call.metrics.totals() == _counts(timeout=1)
    assert isinstance(call.breaker, CircuitBreaker)
    assert call.breaker.snapshot().failures == 1


def test_async_attempt_failing_after_its_cancellation_times_out() -> None:
    """An error a coroutine raises on its timeout's cancellation is a timeout, caused by it."""
    error = ConnectionError("closing")

    @service("async-failing-late", timeout=0.05)
    async def call() -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise error from None
        return "never"

    with pytest.raises(ServiceTimeout) as caught:
        asyncio.run(call())
    assert caught.value.__cause__ is error
    assert call.metrics is not None
    assert call.metrics.totals() == _counts(timeout=1)


def test_async_timeout_returns_in_time_results() -> None:
    """An async attempt that finishes within its timeout returns normally."""

    @service(timeout=5.0)
    async def call() -> int:
        await asyncio.sleep(0)
        return 7

    assert asyncio.run(call()) == 7


def test_async_own_timeout_error_is_not_a_service_timeout() -> None:
    """A TimeoutError the coroutine raises itself propagates as that object."""
    error = TimeoutError("own")

    @service(timeout=5.0)
    async def call() -> None:
        raise error

    with pytest.raises(TimeoutError) as caught:
        asyncio.run(call())
    assert caught.value is error


def test_async_timeouts_are_reported_through_the_harness() -> None:
    """harness=True reports async failures and timeouts, once each."""
    seen: list[HarnessRecord] = []

    @service("async-reported", timeout=0.05, retry=2, harness=True)
    async def call(fail: bool) -> None:
        if fail:
            raise ConnectionError("down")
        await asyncio.Event().wait()

    with listening(seen.append):
        with pytest.raises(ConnectionError):
            asyncio.run(call(True))
        with pytest.raises(CompoundException):
            asyncio.run(call(False))
    assert [type(record.exception) for record in seen] == [
        ConnectionError,
        ConnectionError,
        ServiceTimeout,
        ServiceTimeout,
    ]


def test_cancelling_the_caller_passes_through_and_frees_everything() -> None:
    """Cancelling the calling task: CancelledError propagates, uncounted, slot and probe freed."""
    limiter = Limiter(1)
    fallbacks: list[int] = []

    @service("async-cancelled", limiter=limiter, retry=3, fallback=lambda: fallbacks.append(1))
    async def call(entered: asyncio.Event) -> None:
        entered.set()
        await asyncio.Event().wait()

    async def scenario() -> None:
        entered = asyncio.Event()
        task = asyncio.create_task(call(entered))
        await asyncio.wait_for(entered.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert fallbacks == []
    assert limiter.in_flight == 0
    assert call.metrics is not None
    assert call.metrics.totals() == _counts()
    assert call.metrics.in_flight == 0
    assert isinstance(call.breaker, CircuitBreaker)
    assert call.breaker.snapshot().calls == 0


def test_async_call_is_a_timed_interval(clock: FakeClock) -> None:
    """Under a PerfTimer each async call records a child interval named after the service."""

    @service("async-timed", retry=retry(2, backoff=fixed(0.25)))
    async def call(dependency: Flaky[Awaitable[None]]) -> None:
        await dependency()

    async def scenario() -> PerfTimer:
        with PerfTimer("request") as request:
            await call(Flaky(1, asynchronous=True))
        return request

    request = asyncio.run(scenario())
    [child] = request.children
    assert isinstance(child, PerfTimer)
    assert child.name == "async-timed"
    assert float(child) == 0.25


def test_async_method() -> None:
    """A service on an async method receives the instance."""

    class Client:
        base = "x"

        @service
        async def get(self, path: str) -> str:
            return self.base + path

    assert asyncio.run(Client().get("/y")) == "x/y"


def test_async_function_refuses_a_pool() -> None:
    """pool= on an async function is refused at decoration: it runs on the event loop."""
    with pytest.raises(ValueError, match="Cannot run async function"):

        @service(pool=2)
        async def call() -> None:
            pass
