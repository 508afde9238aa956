"""dyno.service: sync attempts on worker threads, with a timeout, a dedicated pool, or both.

The attempts that must time out block on a threading.Event the test sets at
the end; the timeout is a small real one (0.05 s), which bounds the wait. No
test sleeps to make something happen.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor

import pytest

from dyno import service as service_module
from dyno.breaker import CircuitBreaker, Limiter, RateLimited
from dyno.harness import HarnessRecord, listening
from dyno.metrics import EVENTS
from dyno.retry import CompoundException
from dyno.service import ServiceTimeout, service
from dyno.timing import PerfTimer, timed

WAIT = 10.0  # the bound on every wait for another thread


def _counts(**nonzero: int) -> dict[str, int]:
    return {event: nonzero.get(event, 0) for event in EVENTS}


class SignallingLimiter(Limiter):
    """A Limiter that sets an event each time a slot is given back."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.released = threading.Event()

    def release(self) -> None:
        super().release()
        self.released.set()


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """An event the blocked attempts wait on; set when the test ends, so no thread hangs."""
    event = threading.Event()
    yield event
    event.set()


def test_timeout_returns_a_fast_result_from_a_worker_thread() -> None:
    """With a timeout, the attempt runs on a shared worker thread and its result comes back."""

    @service("fast-timeout", timeout=5.0)
    def call(x: int) -> tuple[int, str]:
        return x * 2, threading.current_thread().name

    value, thread = call(21)
    assert value == 42
    assert thread.startswith("dyno-service")
    assert thread != threading.current_thread().name
    assert call.metrics is not None
    assert call.metrics.totals() == _counts(success=1)


def test_timed_out_attempt_raises_and_its_late_result_is_never_counted(
    gate: threading.Event,
) -> None:
    """A late attempt raises ServiceTimeout, counts a timeout and a breaker failure only."""
    finished = threading.Event()
    limiter = SignallingLimiter(1)

    @service("slow", timeout=0.05, limiter=limiter)
    def call() -> str:
        assert gate.wait(WAIT)
        finished.set()
        return "late"

    with pytest.raises(ServiceTimeout) as caught:
        call()
    assert isinstance(caught.value, TimeoutError)
    assert (caught.value.name, caught.value.timeout) == ("slow", 0.05)
    assert call.metrics is not None
    assert call.metrics.totals() == _counts(timeout=1)
    assert call.metrics.in_flight == 0
    assert isinstance(call.breaker, CircuitBreaker)
    assert call.breaker.snapshot().failures == 1
    # The abandoned attempt still holds its bulkhead slot while it runs.
    assert limiter.in_flight == 1

    gate.set()
    assert finished.wait(WAIT)
    assert limiter.released.wait(WAIT)
    assert limiter.in_flight == 0
    assert call.metrics.totals() == _counts(timeout=1)
    assert call.breaker.snapshot().failures == 1
    assert call.breaker.snapshot().calls == 1


def test_each_attempt_has_its_own_timeout(gate: threading.Event) -> None:
    """With retries every attempt is timed out on its own; all of them are counted."""

    @service("slow-retried", timeout=0.05, retry=2)
    def call() -> str:
        assert gate.wait(WAIT)
        return "late"

    with pytest.raises(CompoundException) as caught:
        call()
    assert isinstance(caught.value, TimeoutError)
    assert [type(error) for error in caught.value] == [ServiceTimeout, ServiceTimeout]
    assert call.metrics is not None
    assert call.metrics.totals() == _counts(timeout=2)


def test_timeout_falls_back() -> None:
    """A timed-out call returns the fallback's result; both are counted."""
    gate = threading.Event()

    @service("slow-fallback", timeout=0.05, fallback=lambda: "cached")
    def call() -> str:
        gate.wait(WAIT)
        return "late"

    try:
        assert call() == "cached"
    finally:
        gate.set()
    assert call.metrics is not None
    assert call.metrics.totals() == _counts(timeout=1, fallback_success=1)


class _JustLate(Future[object]):
    """A future whose attempt finishes right after its caller's wait gives up."""

    def __init__(self, job: Callable[[], object]) -> None:
        super().__init__()
        self.job = job

    def result(self, timeout: float | None = None) -> object:
        if timeout is not None and not self.done():
            self.set_result(self.job())
            raise TimeoutError  # what the wait saw, a moment before
        return super().result(timeout)


class _JustLateExecutor(Executor):
    """An executor running each attempt as its caller's wait for it ends."""

    def submit(  # type: ignore[override]  # narrower than Executor.submit's ParamSpec on purpose
        self, fn: Callable[..., object], /, *args: object, **kwargs: object
    ) -> Future[object]:
        future = _JustLate(lambda: fn(*args, **kwargs))
        assert future.set_running_or_notify_cancel()
        return future


def test_result_arriving_as_the_wait_gives_up_is_a_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An attempt that finished just after its wait timed out still counts as a timeout."""
    monkeypatch.setattr(service_module, "_shared", _JustLateExecutor())
    limiter = Limiter(1)

    @service("just-late", timeout=0.05, limiter=limiter)
    def call() -> str:
        return "late"

    with pytest.raises(ServiceTimeout):
        call()
    assert limiter.in_flight == 0
    assert call.metrics is not None
    assert call.metrics.totals() == _counts(timeout=1)
    assert isinstance(call.breaker, CircuitBreaker)
    assert call.breaker.snapshot().failures == 1


def test_function_raising_timeout_error_itself_is_not_a_service_timeout() -> None:
    """A TimeoutError the function raises in time propagates as that very object."""
    error = TimeoutError("socket timed out")

    @service("own-timeout", timeout=5.0)
    def call() -> None:
        raise error

    with pytest.raises(TimeoutError) as caught:
        call()
    assert caught.value is error


def test_late_failure_is_reported_through_the_harness(gate: threading.Event) -> None:
    """With harness=, the timeout and the abandoned attempt's late error are both reported."""
    late_error = ConnectionError("late")
    seen: list[HarnessRecord] = []
    reported_late = threading.Event()

    def listener(record: HarnessRecord) -> None:
        seen.append(record)
        if record.exception is late_error:
            reported_late.set()

    @service("late-failure", timeout=0.05, harness=True)
    def call() -> None:
        assert gate.wait(WAIT)
        raise late_error

    with listening(listener):
        with pytest.raises(ServiceTimeout):
            call()
        gate.set()
        assert reported_late.wait(WAIT)
    assert [type(record.exception) for record in seen] == [ServiceTimeout, ConnectionError]
    assert call.metrics is not None
    assert call.metrics.totals() == _counts(timeout=1)


def test_abandoned_attempt_still_queued_is_cancelled(
    gate: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An attempt that never started before its timeout is cancelled and gives its slot back."""
    executor = ThreadPoolExecutor(1)
    monkeypatch.setattr(service_module, "_shared", executor)
    limiter = Limiter(2)
    started: list[int] = []

    @service("queued", timeout=0.05, limiter=limiter)
    def call(number: int) -> int:
        started.append(number)
        assert gate.wait(WAIT)
        return number

    try:
        with pytest.raises(ServiceTimeout):
            call(1)  # takes the only worker thread, then is abandoned
        with pytest.raises(ServiceTimeout):
            call(2)  # waits in the queue behind it, then is cancelled
        assert limiter.in_flight == 1
    finally:
        gate.set()
        executor.shutdown(wait=True)
    assert started == [1]
    assert limiter.in_flight == 0


def test_pool_runs_attempts_on_its_own_threads() -> None:
    """pool=N runs every attempt on the service's dedicated, named threads."""

    @service("pooled", pool=2)
    def call() -> str:
        return threading.current_thread().name

    assert call().startswith("dyno-service-pooled")
    assert call.limiter is not None
    assert (call.limiter.name, call.limiter.limit) == ("pooled", 2)


def test_full_pool_rejects_calls(gate: threading.Event) -> None:
    """When every pool thread is busy, a call is rejected with RateLimited, counted."""
    entered = threading.Event()

    @service("full-pool", pool=1, breaker=False)
    def call() -> str:
        entered.set()
        assert gate.wait(WAIT)
        return "done"

    results: list[str] = []
    worker = threading.Thread(target=lambda: results.append(call()))
    worker.start()
    try:
        assert entered.wait(WAIT)
        with pytest.raises(RateLimited) as caught:
            call()
        assert caught.value.limit == 1
    finally:
        gate.set()
        worker.join(WAIT)
    assert results == ["done"]
    assert call.metrics is not None
    assert call.metrics.totals() == _counts(success=1, rejection=1)


def test_pool_propagates_context_to_the_worker_thread() -> None:
    """The caller's context (the current timer) reaches the attempt on the pool thread."""

    @service("pooled-timed", pool=1)
    def call() -> None:
        with timed("inside"):
            pass

    with PerfTimer("request") as request:
        call()
    assert [timer.name for timer in request][:3] == ["request", "pooled-timed", "inside"]


def test_pool_base_exception_passes_through_and_frees_everything() -> None:
    """A KeyboardInterrupt from a pooled attempt reaches the caller untouched, slot freed."""
    interrupt = KeyboardInterrupt()

    @service("pooled-interrupt", pool=1, retry=3, fallback=lambda: "fb")
    def call() -> None:
        raise interrupt

    with pytest.raises(KeyboardInterrupt) as caught:
        call()
    assert caught.value is interrupt
    assert call.limiter is not None
    assert call.limiter.in_flight == 0
    assert call.metrics is not None
    assert call.metrics.totals() == _counts()
    assert call.metrics.in_flight == 0


def test_pool_and_timeout_together(gate: threading.Event) -> None:
    """pool with timeout: the late attempt keeps its thread, so the pool rejects meanwhile."""
    limiter_seen: list[int] = []

    @service("pool-timeout", pool=1, timeout=0.05, fallback=lambda: "fb")
    def call() -> str:
        assert gate.wait(WAIT)
        return "late"

    assert call() == "fb"  # timed out
    assert call.limiter is not None
    limiter_seen.append(call.limiter.in_flight)
    assert call() == "fb"  # rejected: the abandoned attempt still holds the only thread
    assert limiter_seen == [1]
    assert call.metrics is not None
    assert call.metrics.totals() == _counts(timeout=1, rejection=1, fallback_success=2)


def test_late_failure_without_harness_is_logged(gate: threading.Event) -> None:
    """Without a harness, an abandoned attempt's late error still reaches the dyno.service log."""
    late_error = ConnectionError("late")
    logged = threading.Event()
    records: list[logging.LogRecord] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)
            logged.set()

    @service("late-logged", timeout=0.05)
    def call() -> None:
        assert gate.wait(WAIT)
        raise late_error

    logger = logging.getLogger("dyno.service")
    handler = Catch(logging.WARNING)
    logger.addHandler(handler)
    try:
        with pytest.raises(ServiceTimeout):
            call()
        gate.set()
        assert logged.wait(WAIT)
    finally:
        logger.removeHandler(handler)
    [record] = records
    assert record.getMessage() == "An abandoned attempt of service 'late-logged' failed late"
    assert record.exc_info is not None
    assert record.exc_info[1] is late_error
