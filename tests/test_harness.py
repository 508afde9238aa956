"""dyno.harness: report exceptions to the log and to listeners, re-raise them unchanged."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import traceback
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dyno import harness as harness_module
from dyno.clock import FakeClock, use_clock
from dyno.harness import (
    Harness,
    HarnessRecord,
    add_listener,
    harness,
    listening,
    remove_listener,
    report,
)


@pytest.fixture
def records() -> Iterator[list[HarnessRecord]]:
    """Every record reported during the test."""
    seen: list[HarnessRecord] = []
    with listening(seen.append):
        yield seen


def _boom() -> None:
    raise ValueError("boom")


def test_bare_decorator_reraises_same_object_and_reports(
    records: list[HarnessRecord], caplog: pytest.LogCaptureFixture
) -> None:
    """@harness re-raises the identical exception, logs it, and reports a record."""
    error = ValueError("boom")

    @harness
    def fail() -> None:
        raise error

    with pytest.raises(ValueError) as info:
        fail()
    assert info.value is error
    assert len(records) == 1
    record = records[0]
    assert record.exception is error
    assert record.function == fail.__qualname__
    assert record.harness is None
    [logged] = caplog.records
    assert logged.name == "dyno.harness"
    assert logged.levelno == logging.ERROR
    assert logged.getMessage() == f"Exception in {fail.__qualname__}"
    assert logged.exc_info is not None
    assert logged.exc_info[1] is error


def test_called_decorator_uses_logger_and_name(
    records: list[HarnessRecord], caplog: pytest.LogCaptureFixture
) -> None:
    """@harness(logger, name=...) logs to that logger and names the harness in the record."""
    logger = logging.getLogger("tests.harness.called")

    @harness(logger, name="db")
    def fail() -> None:
        _boom()

    with pytest.raises(ValueError, match="boom"):
        fail()
    assert [record.harness for record in records] == ["db"]
    [logged] = caplog.records
    assert logged.name == "tests.harness.called"
    assert logged.getMessage() == f"Exception in {fail.__qualname__} (harness 'db')"


def test_traceback_is_intact() -> None:
    """The re-raised exception's traceback still reaches the frame that raised it."""

    @harness
    def outer() -> None:
        _boom()

    with pytest.raises(ValueError) as info:
        outer()
    names = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert names[-2:] == ["outer", "_boom"]
    assert info.value.__context__ is None
    assert info.value.__cause__ is None


def test_success_passes_result_and_reports_nothing(records: list[HarnessRecord]) -> None:
    """A call that returns gives its result and reports nothing."""

    @harness(name="ok")
    def add(a: int, b: int = 1) -> int:
        return a + b

    assert add(1, b=2) == 3
    assert records == []


def test_decorator_keeps_metadata() -> None:
    """The wrapper keeps the wrapped function's name, docstring and __wrapped__."""

    def original() -> None:
        """Doc."""

    wrapped = harness(original)
    assert wrapped.__name__ == "original"
    assert wrapped.__doc__ == "Doc."
    assert wrapped.__wrapped__ is original  # type: ignore[attr-defined]  # set by functools.wraps


def test_context_manager_reports_with_function_none(records: list[HarnessRecord]) -> None:
    """with harness(): reports a record whose function is None, and re-raises."""
    error = KeyError("k")
    with pytest.raises(KeyError) as info, harness(name="block"):
        raise error
    assert info.value is error
    assert [(r.exception, r.function, r.harness) for r in records] == [(error, None, "block")]


def test_context_manager_message(caplog: pytest.LogCaptureFixture) -> None:
    """A with block is logged as 'a with block'."""
    with pytest.raises(ValueError), harness():
        _boom()
    assert caplog.records[0].getMessage() == "Exception in a with block"


def test_context_manager_success_reports_nothing(records: list[HarnessRecord]) -> None:
    """A with block that completes reports nothing and gives the harness from __enter__."""
    guard = harness()
    with guard as entered:
        pass
    assert entered is guard
    assert records == []


def test_method_is_reported_with_qualified_name(records: list[HarnessRecord]) -> None:
    """Decorated methods bind self and report Class.method."""

    class Service:
        @harness
        def call(self, value: int) -> int:
            if value < 0:
                raise ValueError(value)
            return value * 2

    assert Service().call(2) == 4
    with pytest.raises(ValueError):
        Service().call(-1)
    assert records[0].function is not None
    assert records[0].function.endswith("Service.call")


def test_async_function(records: list[HarnessRecord]) -> None:
    """An async function gets an async wrapper that reports and re-raises the same object."""
    error = RuntimeError("async boom")

    @harness(name="aio")
    async def fail(x: int) -> int:
        await asyncio.sleep(0)
        raise error

    @harness
    async def ok(x: int) -> int:
        return x + 1

    assert asyncio.iscoroutinefunction(fail)
    assert asyncio.run(ok(1)) == 2
    with pytest.raises(RuntimeError) as info:
        asyncio.run(fail(1))
    assert info.value is error
    assert [(r.exception, r.harness) for r in records] == [(error, "aio")]


def test_async_context_manager(records: list[HarnessRecord]) -> None:
    """async with harness() reports and re-raises too."""
    error = OSError("io")

    async def main() -> None:
        async with harness(name="async-block") as entered:
            assert isinstance(entered, Harness)
            raise error

    with pytest.raises(OSError) as info:
        asyncio.run(main())
    assert info.value is error
    assert [(r.function, r.harness) for r in records] == [(None, "async-block")]


def test_generator_function_is_watched_through_iteration(records: list[HarnessRecord]) -> None:
    """A generator function's errors during iteration are reported; values and sends pass."""

    @harness
    def gen() -> Iterator[int]:
        received = yield 1
        yield received * 10  # type: ignore[operator]  # the test sends an int
        raise ValueError("late")

    iterator = gen()
    assert next(iterator) == 1
    assert iterator.send(4) == 40  # type: ignore[attr-defined]  # it is a generator
    with pytest.raises(ValueError, match="late"):
        next(iterator)
    assert len(records) == 1


def test_generator_close_is_not_reported(records: list[HarnessRecord]) -> None:
    """Closing a harnessed generator (GeneratorExit) reports nothing."""

    @harness
    def gen() -> Iterator[int]:
        yield 1
        yield 2

    iterator = gen()
    next(iterator)
    iterator.close()  # type: ignore[attr-defined]  # it is a generator
    assert records == []


def test_async_generator_is_refused() -> None:
    """An async generator function raises TypeError saying what to do instead."""

    async def agen() -> object:
        yield 1

    with pytest.raises(TypeError, match="Cannot harness async generator function"):
        harness(agen)


@pytest.mark.parametrize("kind", [KeyboardInterrupt, SystemExit, GeneratorExit])
def test_base_exceptions_pass_through_unreported(
    kind: type[BaseException], records: list[HarnessRecord], caplog: pytest.LogCaptureFixture
) -> None:
    """BaseExceptions that are not Exceptions pass through untouched, unlogged, unreported."""
    error = kind()

    @harness
    def fail() -> None:
        raise error

    with pytest.raises(kind) as info:
        fail()
    assert info.value is error
    with pytest.raises(kind), harness():
        raise error
    assert records == []
    assert caplog.records == []


def test_cancelled_error_passes_through(records: list[HarnessRecord]) -> None:
    """asyncio.CancelledError passes through an async harness unreported."""

    @harness
    async def slow() -> None:
        await asyncio.Event().wait()

    async def main() -> None:
        task = asyncio.create_task(slow())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert records == []


def test_base_exception_reported_when_named(records: list[HarnessRecord]) -> None:
    """Naming a BaseException class in exceptions reports it (and still re-raises it)."""
    with pytest.raises(KeyboardInterrupt), harness(exceptions=(KeyboardInterrupt,)):
        raise KeyboardInterrupt
    assert len(records) == 1
    assert isinstance(records[0].exception, KeyboardInterrupt)


def test_exceptions_filter(records: list[HarnessRecord]) -> None:
    """Only instances of the given classes (subclasses included) are reported."""
    guard = harness(exceptions=LookupError)
    with pytest.raises(KeyError), guard:
        raise KeyError("a")
    with pytest.raises(ValueError), guard:
        raise ValueError("b")
    assert [type(r.exception) for r in records] == [KeyError]
    assert guard.exceptions == (LookupError,)


def test_configuration_is_read_only() -> None:
    """A harness's logger, name, exceptions and clock can be read but not reassigned."""
    logger, clock = logging.getLogger("tests.harness.config"), FakeClock()
    guard = harness(logger, name="db", exceptions=KeyError, clock=clock)
    assert (guard.logger, guard.name, guard.exceptions, guard.clock) == (
        logger,
        "db",
        (KeyError,),
        clock,
    )
    for attribute in ("logger", "name", "exceptions", "clock"):
        with pytest.raises(AttributeError):
            setattr(guard, attribute, None)


def test_raising_listener_never_changes_what_caller_sees(
    records: list[HarnessRecord], caplog: pytest.LogCaptureFixture
) -> None:
    """A listener that raises is logged and skipped; the caller gets the original exception."""
    error = ValueError("original")

    def broken(record: HarnessRecord) -> None:
        raise RuntimeError("listener bug")

    after: list[HarnessRecord] = []
    with listening(broken), listening(after.append), pytest.raises(ValueError) as info, harness():
        raise error
    assert info.value is error
    assert info.value.__context__ is None
    assert len(records) == 1
    assert len(after) == 1
    messages = [logged.getMessage() for logged in caplog.records]
    assert messages[0] == "Exception in a with block"
    assert messages[1].startswith(f"Harness listener {broken!r} failed on HarnessRecord(")
    assert caplog.records[1].exc_info is not None
    assert isinstance(caplog.records[1].exc_info[1], RuntimeError)


class RaisingFilter(logging.Filter):
    """A logging filter with a bug."""

    def filter(self, record: logging.LogRecord) -> bool:
        raise RuntimeError("filter bug")


def test_raising_logger_never_changes_what_caller_sees(
    records: list[HarnessRecord], capsys: pytest.CaptureFixture[str]
) -> None:
    """A logger whose filter raises is reported on stderr; the caller gets the original error."""
    logger = logging.getLogger("tests.harness.broken")
    logger.setLevel(logging.DEBUG)
    broken = RaisingFilter()
    logger.addFilter(broken)
    error = ValueError("original")
    try:
        with pytest.raises(ValueError) as info, harness(logger):
            raise error
        with pytest.raises(ValueError), listening(lambda record: 1 / 0), harness(logger):
            raise error
    finally:
        logger.removeFilter(broken)
    assert info.value is error
    assert info.value.__context__ is None
    assert [record.exception for record in records] == [error, error]
    stderr = capsys.readouterr().err
    assert stderr.count("--- dyno.harness could not log an exception ---") == 3
    assert "RuntimeError: filter bug" in stderr


@pytest.mark.parametrize("kind", [classmethod, staticmethod])
def test_descriptor_objects_are_refused(kind: type) -> None:
    """@harness over @classmethod/@staticmethod raises TypeError saying to swap them."""

    def method(*args: object) -> None:
        """A method body."""

    with pytest.raises(TypeError, match=f"Put @{kind.__name__} above @harness instead"):
        harness(kind(method))
    with pytest.raises(TypeError, match=f"it is a {kind.__name__} object, not a function"):
        harness(name="x")(kind(method))


def test_descriptors_above_harness_work(records: list[HarnessRecord]) -> None:
    """@classmethod and @staticmethod above @harness bind as usual and report."""

    class Service:
        @classmethod
        @harness
        def build(cls, fail: bool) -> str:
            if fail:
                raise ValueError(cls.__name__)
            return cls.__name__

        @staticmethod
        @harness
        def check(value: int) -> int:
            if value < 0:
                raise ValueError(value)
            return value

    assert (Service.build(False), Service().build(False)) == ("Service", "Service")
    assert (Service.check(1), Service().check(2)) == (1, 2)
    with pytest.raises(ValueError):
        Service().build(True)
    with pytest.raises(ValueError):
        Service.check(-1)
    assert [record.function.rsplit(".", 1)[-1] for record in records if record.function] == [
        "build",
        "check",
    ]


def test_listener_hears_other_threads(records: list[HarnessRecord]) -> None:
    """A listener added in one thread hears harnesses in every other thread."""

    @harness(name="worker")
    def work() -> None:
        _boom()

    def run() -> None:
        with pytest.raises(ValueError):
            work()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert [r.harness for r in records] == ["worker"] * 4


def test_exact_counts_under_contention(records: list[HarnessRecord]) -> None:
    """8 threads x 500 failures give exactly 4,000 records, while listeners come and go."""
    barrier = threading.Barrier(9, timeout=10)
    guard = harness(exceptions=ValueError)

    def work() -> None:
        barrier.wait()
        for _ in range(500):
            try:
                with guard:
                    raise ValueError
            except ValueError:
                pass

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    barrier.wait()
    for _ in range(200):
        with listening(lambda record: None):
            pass
    for thread in threads:
        thread.join(timeout=30)
    assert len(records) == 4000


def test_record_time_comes_from_clock_wall(records: list[HarnessRecord]) -> None:
    """The record's time is the dyno clock's wall(), from the installed or pinned clock."""
    with use_clock(FakeClock(5, epoch=1_000.0)), pytest.raises(ValueError), harness():
        _boom()
    pinned = FakeClock(epoch=2_000.0)
    with pytest.raises(ValueError), harness(clock=pinned):
        _boom()
    assert [r.time for r in records] == [1_005.0, 2_000.0]
    assert all(isinstance(r.time, float) for r in records)


def test_clock_installed_after_construction_is_used(records: list[HarnessRecord]) -> None:
    """A harness made before use_clock() stamps records with the clock installed at report."""
    guard = harness()

    @harness
    def fail() -> None:
        _boom()

    with use_clock(FakeClock(7, epoch=100.0)):
        with pytest.raises(ValueError), guard:
            _boom()
        with pytest.raises(ValueError):
            fail()
    assert [r.time for r in records] == [107.0, 107.0]


class WholeSecondsClock(FakeClock):
    """A clock whose wall() gives an int, as a hand-written test clock might."""

    def wall(self) -> float:
        return 1_700_000_000


def test_record_time_is_always_a_float(records: list[HarnessRecord]) -> None:
    """The record's time is a float even when the clock's wall() returns an int."""
    with pytest.raises(ValueError), harness(clock=WholeSecondsClock()):
        _boom()
    assert type(records[0].time) is float
    assert records[0].time == 1_700_000_000.0


def test_record_is_frozen_and_slotted() -> None:
    """HarnessRecord is immutable and has no __dict__."""
    record = HarnessRecord(exception=ValueError(), function=None, time=1.0, harness=None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.time = 2.0  # type: ignore[misc]  # assigning a frozen field on purpose
    assert not hasattr(record, "__dict__")


def test_listener_management() -> None:
    """add_listener returns the listener; duplicates hear twice; each add needs one remove."""
    heard: list[HarnessRecord] = []
    assert add_listener(heard.append) == heard.append
    add_listener(heard.append)
    try:
        report(ValueError())
        assert len(heard) == 2
        remove_listener(heard.append)
        report(ValueError())
        assert len(heard) == 3
    finally:
        remove_listener(heard.append)
    report(ValueError())
    assert len(heard) == 3
    with pytest.raises(ValueError) as info:
        remove_listener(heard.append)
    assert str(info.value) == (
        f"Cannot remove listener {heard.append!r}: it is not registered. "
        "Remove only listeners added with add_listener()."
    )


def test_listening_removes_on_error() -> None:
    """listening() removes its listener even when the block raises."""
    before = harness_module._listeners
    heard: list[HarnessRecord] = []
    entered: list[object] = []

    def fail() -> None:
        with listening(heard.append) as listener:
            entered.append(listener)
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail()
    assert entered == [heard.append]
    assert harness_module._listeners == before


def test_add_listener_refuses_non_callables() -> None:
    """add_listener raises TypeError naming the bad value."""
    with pytest.raises(TypeError, match=r"'listener' must be callable \(got 3 that is a"):
        add_listener(3)  # type: ignore[arg-type]  # bad input on purpose


def test_report_logs_and_notifies_without_raising(
    records: list[HarnessRecord], caplog: pytest.LogCaptureFixture
) -> None:
    """report() logs, notifies and returns the record, raising nothing."""
    logger = logging.getLogger("tests.harness.report")
    error = ConnectionError("down")
    record = report(error, function="svc.fetch", harness="svc", logger=logger)
    assert records == [record]
    assert (record.exception, record.function, record.harness) == (error, "svc.fetch", "svc")
    [logged] = caplog.records
    assert logged.name == "tests.harness.report"
    assert logged.getMessage() == "Exception in svc.fetch (harness 'svc')"
    assert logged.exc_info is not None
    assert logged.exc_info[1] is error


def test_report_refuses_bad_input() -> None:
    """report() raises TypeError naming a non-exception, a non-logger or a non-clock."""
    with pytest.raises(TypeError, match=r"'exception' must be <class 'BaseException'>"):
        report("boom")  # type: ignore[arg-type]  # bad input on purpose
    with pytest.raises(TypeError) as info:
        report(ValueError(), logger="app")  # type: ignore[arg-type]  # bad input on purpose
    assert str(info.value) == (
        "'logger' must be a logging.Logger or logging.LoggerAdapter "
        "(got 'app' that is a <class 'str'>)"
    )
    with pytest.raises(TypeError, match=r"'clock' must implement dyno.clock.Clock .* \(got 3 that"):
        report(ValueError(), clock=3)  # type: ignore[arg-type]  # bad input on purpose


def test_logger_adapter_is_a_logger(caplog: pytest.LogCaptureFixture) -> None:
    """A LoggerAdapter configures a harness like a Logger does."""
    adapter = logging.LoggerAdapter(logging.getLogger("tests.harness.adapter"), {"k": 1})
    with pytest.raises(ValueError), harness(adapter):
        _boom()
    assert caplog.records[0].name == "tests.harness.adapter"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"logger": 3}, r"'logger' must be a logging.Logger or logging.LoggerAdapter, or harness"),
        ({"name": 3}, r"'name' must be one of <class 'str'>, <class 'NoneType'> \(got 3"),
        ({"exceptions": [int]}, r"'exceptions' must be an exception class or a tuple of them"),
        ({"clock": 3}, r"'clock' must implement dyno.clock.Clock \(now, .*\(got 3 that is a"),
        ({"clock": FakeClock}, r"Cannot use the class FakeClock as 'clock'.* Pass FakeClock\(\)"),
    ],
)
def test_bad_input(kwargs: dict[str, object], message: str) -> None:
    """Bad options raise TypeError naming the option and the value."""
    with pytest.raises(TypeError, match=message):
        harness(**kwargs)  # type: ignore[call-overload]  # bad input on purpose


def test_harness_class_refuses_non_logger() -> None:
    """Harness(logger=...) refuses a function, which only harness() may take bare."""
    with pytest.raises(TypeError, match=r"'logger' must be a logging.Logger or .* \(got <func"):
        Harness(_boom)  # type: ignore[arg-type]  # bad input on purpose


def test_nested_harnesses_each_report(records: list[HarnessRecord]) -> None:
    """Each harness an exception passes through reports it once, innermost first."""
    with pytest.raises(ValueError), harness(name="outer"), harness(name="inner"):
        _boom()
    assert [r.harness for r in records] == ["inner", "outer"]
    assert records[0].exception is records[1].exception


def test_repr() -> None:
    """The repr shows name, logger and exception classes."""
    assert repr(harness()) == ("<Harness name=None logger='dyno.harness' exceptions=(Exception)>")
    logger = logging.getLogger("app")
    assert repr(harness(logger, name="db", exceptions=(KeyError, OSError))) == (
        "<Harness name='db' logger='app' exceptions=(KeyError, OSError)>"
    )


@settings(max_examples=50, deadline=None)
@given(
    kind=st.sampled_from([ValueError, KeyError, OSError, RuntimeError, ZeroDivisionError]),
    message=st.text(max_size=20),
    name=st.none() | st.text(max_size=10),
)
def test_any_exception_is_reraised_identically_and_reported_once(
    kind: type[Exception], message: str, name: str | None
) -> None:
    """Any Exception passes through as the same object and is reported exactly once."""
    error = kind(message)
    seen: list[HarnessRecord] = []

    @harness(logging.getLogger("tests.harness.silent"), name=name)
    def fail() -> None:
        raise error

    with listening(seen.append), pytest.raises(kind) as info:
        fail()
    assert info.value is error
    assert [(r.exception, r.harness) for r in seen] == [(error, name)]
