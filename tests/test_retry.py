"""dyno.retry: the Retry policy, backoffs, statistics and CompoundException."""

from __future__ import annotations

import asyncio
import copy
import gc
import inspect
import math
import pickle
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dyno.retry as retry_module
from dyno.clock import FakeClock
from dyno.retry import (
    CompoundException,
    Exponential,
    Fixed,
    Retry,
    RetryStatistics,
    exponential,
    fixed,
    make_compound_exception,
    retry,
)
from dyno.utils import is_async_callable


class Flaky:
    """A callable that raises the given errors in turn, then returns its call count."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self, *args: object, **kwargs: object) -> int:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.calls


class AsyncFlaky(Flaky):
    """Flaky, awaited."""

    async def run(self, *args: object, **kwargs: object) -> int:
        return self(*args, **kwargs)


@retry(3, backoff=fixed(0.0))
def module_level(x: int) -> int:
    """Double x."""
    return 2 * x


def compound_errors() -> list[Exception]:
    return [ConnectionError(111, "refused"), TimeoutError(110, "timed out"), KeyError("k")]


# -- construction and bad input ---------------------------------------------------------


def test_retry_defaults() -> None:
    """retry() is 3 attempts on Exception, no predicate, no wait, no deadline, global clock."""
    policy = retry()
    assert isinstance(policy, Retry)
    assert (policy.attempts, policy.on, policy.result, policy.backoff) == (
        3,
        (Exception,),
        None,
        None,
    )
    assert (policy.deadline, policy.clock) == (None, None)


def test_retry_normalises_options() -> None:
    """A single exception class becomes a tuple, and the deadline a float."""
    policy = retry(5, on=ConnectionError, deadline=2)
    assert policy.on == (ConnectionError,)
    assert policy.deadline == 2.0
    assert isinstance(policy.deadline, float)
    assert retry(on=[KeyError, ValueError]).on == (KeyError, ValueError)


def test_retry_policy_is_frozen() -> None:
    """A policy cannot be changed after construction."""
    policy = retry(3)
    with pytest.raises(AttributeError):
        policy.attempts = 5  # type: ignore[misc]  # frozen on purpose


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"attempts": 0}, ValueError, "'attempts' must be >= 1 (got 0 that is a <class 'int'>)"),
        ({"attempts": -2}, ValueError, "'attempts' must be >= 1 (got -2 that is a <class 'int'>)"),
        (
            {"attempts": "3"},
            TypeError,
            "'attempts' must be an int (got '3' that is a <class 'str'>)",
        ),
        (
            {"attempts": 2.0},
            TypeError,
            "'attempts' must be an int (got 2.0 that is a <class 'float'>)",
        ),
        (
            {"attempts": True},
            TypeError,
            "'attempts' must be an int (got True that is a <class 'bool'>)",
        ),
        (
            {"on": "ValueError"},
            TypeError,
            "'on' must be an exception class or a tuple of them (got 'ValueError' that is a "
            "<class 'str'>; 'ValueError' is not an exception class)",
        ),
        (
            {"on": (ValueError, 3)},
            TypeError,
            "'on' must be an exception class or a tuple of them (got (<class 'ValueError'>, 3) "
            "that is a <class 'tuple'>; 3 is not an exception class)",
        ),
        (
            {"on": KeyboardInterrupt},
            ValueError,
            "Cannot retry on KeyboardInterrupt: BaseExceptions that are not Exceptions always "
            "propagate at once. Pass Exception subclasses in 'on' instead (got "
            "(<class 'KeyboardInterrupt'>,) that is a <class 'tuple'>)",
        ),
        ({"result": 3}, TypeError, "'result' must be callable (got 3 that is a <class 'int'>)"),
        (
            {"backoff": 0.5},
            TypeError,
            "'backoff' must be callable (got 0.5 that is a <class 'float'>)",
        ),
        ({"deadline": -1}, ValueError, "'deadline' must be >= 0 (got -1 that is a <class 'int'>)"),
        (
            {"deadline": "1"},
            TypeError,
            "'deadline' must be a real number (int or float) (got '1' that is a <class 'str'>)",
        ),
        (
            {"deadline": math.nan},
            ValueError,
            "'deadline' must be a number, not NaN (got nan that is a <class 'float'>)",
        ),
        (
            {"clock": "now"},
            TypeError,
            "'clock' must implement dyno.clock.Clock (now, wall, sleep, asleep) "
            "(got 'now' that is a <class 'str'>)",
        ),
    ],
)
def test_retry_refuses_bad_options(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    """Bad options raise TypeError/ValueError naming the option and the value."""
    with pytest.raises(error) as info:
        retry(**kwargs)
    assert str(info.value) == message


def test_retry_class_validates_too() -> None:
    """Building Retry directly checks the options as retry() does."""
    with pytest.raises(ValueError, match=r"'attempts' must be >= 1 \(got 0"):
        Retry(attempts=0)
    with pytest.raises(TypeError, match="'on' must be an exception class"):
        Retry(on=(int,))  # type: ignore[arg-type]  # bad input on purpose


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: fixed(-1), ValueError, "'seconds' must be >= 0 (got -1 that is a <class 'int'>)"),
        (
            lambda: fixed("1"),  # type: ignore[arg-type]  # bad input on purpose
            TypeError,
            "'seconds' must be a real number (int or float) (got '1' that is a <class 'str'>)",
        ),
        (
            lambda: fixed(math.inf),
            ValueError,
            "'seconds' must be finite (got inf that is a <class 'float'>)",
        ),
        (
            lambda: exponential(initial=-0.1),
            ValueError,
            "'initial' must be >= 0 (got -0.1 that is a <class 'float'>)",
        ),
        (
            lambda: exponential(factor=0.5),
            ValueError,
            "'factor' must be >= 1 (got 0.5 that is a <class 'float'>)",
        ),
        (
            lambda: exponential(initial=2, maximum=1),
            ValueError,
            "'maximum' must be >= 'initial' (2.0) (got 1 that is a <class 'int'>)",
        ),
        (
            lambda: exponential(jitter="half"),  # type: ignore[arg-type]  # bad input on purpose
            ValueError,
            "'jitter' must be one of 'full', 'equal', None (got 'half' that is a <class 'str'>)",
        ),
    ],
)
def test_backoffs_refuse_bad_options(
    make: Callable[[], object], error: type[Exception], message: str
) -> None:
    """Backoff factories raise TypeError/ValueError naming the option and the value."""
    with pytest.raises(error) as info:
        make()
    assert str(info.value) == message


def test_decorating_a_non_callable_fails() -> None:
    """Wrapping or calling something that is not callable raises TypeError at once."""
    with pytest.raises(TypeError, match=r"'fn' must be callable \(got 3 that is a <class 'int'>\)"):
        retry(3)(3)  # type: ignore[arg-type]  # bad input on purpose
    with pytest.raises(TypeError, match="'fn' must be callable"):
        retry(3).call(None)  # type: ignore[arg-type]  # bad input on purpose


# -- reprs --------------------------------------------------------------------------------


def test_policy_repr_reads_like_the_call() -> None:
    """A policy's repr is the retry(...) call that makes it, defaults left out."""
    assert repr(retry()) == "retry(3)"
    policy = retry(
        5,
        on=(ConnectionError, TimeoutError),
        backoff=exponential(jitter=None),
        deadline=10,
        result=callable,
    )
    assert repr(policy) == (
        "retry(5, on=(ConnectionError, TimeoutError), result=callable, "
        "backoff=exponential(initial=0.1, factor=2.0, maximum=10.0, jitter=None), deadline=10.0)"
    )
    assert repr(retry(2, on=KeyError, backoff=fixed(0.5), clock=FakeClock())) == (
        "retry(2, on=KeyError, backoff=fixed(0.5), clock=<FakeClock now=0.0 sleeps=0>)"
    )


def test_wrapped_function_and_statistics_reprs() -> None:
    """The wrapper's repr names the function and policy; statistics show their fields."""
    assert (
        repr(module_level)
        == "<retrying tests.test_retry.module_level retry(3, backoff=fixed(0.0))>"
    )
    assert repr(RetryStatistics(2, (0.5,), 0.5)) == (
        "RetryStatistics(attempts=2, delays=(0.5,), elapsed=0.5)"
    )


# -- backoffs -------------------------------------------------------------------------------


def test_fixed_waits_the_same_each_time() -> None:
    """fixed(s) returns s after every attempt."""
    wait = fixed(0.25)
    assert isinstance(wait, Fixed)
    assert [wait(n) for n in (1, 2, 10)] == [0.25, 0.25, 0.25]


def test_exponential_without_jitter_doubles_up_to_the_cap() -> None:
    """With no jitter the wait is initial * factor ** (n - 1), capped at maximum."""
    wait = exponential(initial=0.5, factor=3.0, maximum=10.0, jitter=None)
    assert isinstance(wait, Exponential)
    assert [wait(n) for n in range(1, 6)] == [0.5, 1.5, 4.5, 10.0, 10.0]


def test_exponential_survives_huge_attempt_numbers() -> None:
    """A float overflow in factor ** n gives the cap, not an OverflowError."""
    assert exponential(jitter=None)(100_000) == 10.0


def test_exponential_refuses_attempt_zero() -> None:
    """Attempts count from 1."""
    with pytest.raises(ValueError, match=r"'attempt' must be >= 1 \(got 0"):
        exponential()(0)


@settings(max_examples=200, deadline=None)
@given(
    initial=st.floats(0, 5),
    factor=st.floats(1, 4),
    extra=st.floats(0, 20),
    attempt=st.integers(1, 2000),
    jitter=st.sampled_from(["full", "equal", None]),
)
def test_jittered_backoff_stays_within_bounds(
    initial: float, factor: float, extra: float, attempt: int, jitter: str | None
) -> None:
    """Full jitter is in [0, base], equal in [base/2, base], none is base; bases grow to the cap."""
    maximum = initial + extra
    wait = exponential(initial, factor, maximum, jitter)  # type: ignore[arg-type]  # drawn from the valid kinds
    base = wait.base(attempt)
    assert wait.base(1) == initial
    assert initial <= base <= maximum
    assert wait.base(attempt + 1) >= base
    if initial > 0 and (attempt - 1) * math.log(factor) > math.log(2 * maximum / initial):
        assert base == maximum
    seconds = wait(attempt)
    low = {"full": 0.0, "equal": base / 2, None: base}[jitter]
    assert low <= seconds <= base


def test_delay_reads_the_backoff() -> None:
    """Retry.delay(n) is the backoff's wait after attempt n, and 0 without a backoff."""
    assert retry(3).delay(1) == 0.0
    assert retry(3, backoff=exponential(jitter=None)).delay(3) == pytest.approx(0.4)
    assert retry(3, backoff=lambda n: n * 2).delay(2) == 4.0


@pytest.mark.parametrize(
    ("returned", "error", "message"),
    [
        (-1, ValueError, "'backoff(1)' must be >= 0 (got -1 that is a <class 'int'>)"),
        (
            "1",
            TypeError,
            "'backoff(1)' must be a real number (int or float) (got '1' that is a <class 'str'>)",
        ),
        (math.inf, ValueError, "'backoff(1)' must be finite (got inf that is a <class 'float'>)"),
    ],
)
def test_bad_backoff_result_is_reported(
    returned: object, error: type[Exception], message: str
) -> None:
    """A callable backoff returning a bad wait raises, naming the attempt and the value."""
    clock = FakeClock()
    policy = retry(3, backoff=lambda n: returned, clock=clock)  # type: ignore[arg-type,return-value]  # bad on purpose
    with pytest.raises(error) as info:
        policy.call(Flaky(ConnectionError()))
    assert str(info.value) == message
    assert clock.sleeps == []


def test_delay_refuses_bad_attempt_numbers() -> None:
    """Retry.delay and next_delay check the attempt number."""
    with pytest.raises(ValueError, match=r"'attempt' must be >= 1 \(got 0"):
        retry(3).delay(0)
    with pytest.raises(TypeError, match="'attempt' must be an int"):
        retry(3).next_delay(1.0)  # type: ignore[arg-type]  # bad input on purpose
    with pytest.raises(ValueError, match=r"'elapsed' must be >= 0 \(got -1"):
        retry(3).next_delay(1, -1)


def test_next_delay_is_the_loop_decision() -> None:
    """next_delay gives the wait after attempt n, or None when out of attempts or time."""
    policy = retry(3, backoff=fixed(1.0), deadline=2.5)
    assert policy.next_delay(1) == 1.0
    assert policy.next_delay(2, 1.0) == 1.0
    assert policy.next_delay(2, 1.5) is None  # the wait would end at the deadline
    assert policy.next_delay(3) is None  # no attempts left


# -- sync retrying ---------------------------------------------------------------------------


def test_first_success_makes_one_call_and_no_sleep() -> None:
    """A call that succeeds at once calls the function once and never sleeps."""
    clock = FakeClock()
    flaky = Flaky()
    wrapped = retry(3, backoff=fixed(1.0), clock=clock)(flaky)
    assert wrapped("a", key="b") == 1
    assert flaky.calls == 1
    assert clock.sleeps == []
    assert wrapped.statistics == RetryStatistics(1, (), 0.0)


def test_retries_until_success_sleeping_exactly_the_backoff() -> None:
    """Two failures then success: three calls, and the two fixed waits slept through the clock."""
    clock = FakeClock()
    flaky = Flaky(ConnectionError("a"), ConnectionError("b"))
    wrapped = retry(3, backoff=fixed(0.5), clock=clock)(flaky)
    assert wrapped() == 3
    assert clock.sleeps == [0.5, 0.5]
    assert wrapped.statistics == RetryStatistics(3, (0.5, 0.5), 1.0)


def test_exponential_waits_are_slept_in_order() -> None:
    """An unjittered exponential backoff sleeps 0.1, 0.2, 0.4 before attempts 2..4."""
    clock = FakeClock()
    flaky = Flaky(*(TimeoutError() for _ in range(3)))
    wrapped = retry(4, backoff=exponential(jitter=None), clock=clock)(flaky)
    assert wrapped() == 4
    assert clock.sleeps == pytest.approx([0.1, 0.2, 0.4])
    assert wrapped.statistics.delays == tuple(clock.sleeps)


def test_callable_backoff_gets_the_failed_attempt_number() -> None:
    """A callable backoff is called with 1, 2, ... the number of the attempt that just failed."""
    clock = FakeClock()
    seen: list[int] = []

    def backoff(attempt: int) -> float:
        seen.append(attempt)
        return attempt * 1.5

    with pytest.raises(CompoundException):
        retry(4, backoff=backoff, clock=clock).call(Flaky(*(ValueError() for _ in range(4))))
    assert seen == [1, 2, 3]
    assert clock.sleeps == [1.5, 3.0, 4.5]


def test_zero_delay_does_not_sleep() -> None:
    """A wait of 0 skips the sleep entirely (not even sleep(0))."""
    clock = FakeClock()
    flaky = Flaky(ValueError(), ValueError())
    wrapped = retry(3, backoff=lambda n: 0, clock=clock)(flaky)
    assert wrapped() == 3
    assert clock.sleeps == []
    assert wrapped.statistics == RetryStatistics(3, (), 0.0)


def test_elapsed_counts_waits_and_later_attempts() -> None:
    """elapsed runs from the end of the first attempt to the end of the call."""
    clock = FakeClock()

    def slow_flaky() -> int:
        clock.advance(2.0)  # every attempt takes 2 s
        if len(clock.sleeps) < 2:
            raise ConnectionError
        return 1

    wrapped = retry(3, backoff=fixed(0.5), clock=clock)(slow_flaky)
    assert wrapped() == 1
    assert wrapped.statistics == RetryStatistics(3, (0.5, 0.5), 5.0)


def test_exhausted_attempts_raise_compound_from_the_last_error() -> None:
    """When every attempt fails: CompoundException of all errors, raised from the last."""
    errors = compound_errors()
    flaky = Flaky(*errors)
    wrapped = retry(3, clock=FakeClock())(flaky)
    with pytest.raises(CompoundException) as info:
        wrapped()
    failure = info.value
    assert failure.exceptions == tuple(errors)
    assert failure.__cause__ is errors[-1]
    assert failure.__suppress_context__
    assert isinstance(failure, ConnectionError)
    assert isinstance(failure, TimeoutError)
    assert isinstance(failure, KeyError)
    assert flaky.calls == 3
    assert wrapped.statistics == RetryStatistics(3, (), 0.0)


def test_except_clause_for_an_attempt_class_catches_the_failure() -> None:
    """Existing `except ConnectionError:` code keeps catching a retried failure."""
    wrapped = retry(2, clock=FakeClock())(Flaky(ConnectionError("a"), ConnectionError("b")))
    with pytest.raises(ConnectionError) as info:
        wrapped()
    assert [str(error) for error in info.value] == ["a", "b"]  # type: ignore[attr-defined]  # it is a CompoundException


def test_attempt_errors_are_freed_without_the_cycle_collector() -> None:
    """Kept errors form no reference cycles with the retry frames: refcounting frees them."""
    refs: list[weakref.ref[Exception]] = []

    class Refused(ConnectionError):
        pass  # a Python subclass, so it can be weakly referenced

    def made(error: Exception) -> Exception:
        refs.append(weakref.ref(error))
        return error

    def connect() -> int:
        if len(refs) % 3 != 2:
            raise made(Refused("refused"))
        refs.append(weakref.ref(Refused()))  # a dead ref marks the success
        return 1

    def fail() -> None:
        raise made(Refused("slow"))

    gc.collect()
    gc.disable()
    try:
        assert retry(3)(connect)() == 1
        try:
            retry(3)(fail)()
        except CompoundException as error:
            failure = weakref.ref(error)
        assert [ref() for ref in refs] == [None] * len(refs)
        assert failure() is None
    finally:
        gc.enable()


def test_single_attempt_failure_is_still_compound() -> None:
    """attempts=1 makes one call and wraps its error in a one-item CompoundException."""
    error = ValueError("once")
    with pytest.raises(CompoundException) as info:
        retry(1).call(Flaky(error))
    assert info.value.exceptions == (error,)
    assert str(info.value) == "1 attempt failed: #1 ValueError: once"


def test_unselected_exception_propagates_at_once_untouched() -> None:
    """An error not selected by `on` is re-raised as is after one call, unwrapped."""
    error = KeyError("k")
    flaky = Flaky(error)
    with pytest.raises(KeyError) as info:
        retry(3, on=ConnectionError)(flaky)()
    assert info.value is error
    assert not isinstance(info.value, CompoundException)
    assert info.value.__context__ is None
    assert info.value.__cause__ is None
    assert flaky.calls == 1


def test_unselected_exception_on_a_later_attempt_carries_no_context() -> None:
    """A later attempt's unselected error propagates alone: no wrapping, no __context__."""
    error = KeyError("k")
    flaky = Flaky(ConnectionError(), error)
    wrapped = retry(3, on=ConnectionError, clock=FakeClock())(flaky)
    with pytest.raises(KeyError) as info:
        wrapped()
    assert info.value is error
    assert info.value.__context__ is None
    assert flaky.calls == 2
    assert wrapped.statistics.attempts == 2


@pytest.mark.parametrize("error", [KeyboardInterrupt(), SystemExit(3), GeneratorExit()])
@pytest.mark.parametrize("earlier", [0, 1])
def test_base_exceptions_are_never_retried_or_wrapped(error: BaseException, earlier: int) -> None:
    """KeyboardInterrupt, SystemExit, GeneratorExit pass through at once, on any attempt."""
    flaky = Flaky(*[ValueError()] * earlier, error)
    wrapped = retry(5, on=Exception, clock=FakeClock())(flaky)
    with pytest.raises(BaseException) as info:
        wrapped()
    assert info.value is error
    assert info.value.__context__ is None
    assert flaky.calls == earlier + 1
    assert wrapped.statistics.attempts == earlier + 1


def test_result_predicate_retries_bad_values() -> None:
    """Values the predicate flags call for another attempt; the first good one is returned."""
    clock = FakeClock()
    values = iter([None, None, "ok"])
    wrapped = retry(5, result=lambda value: value is None, backoff=fixed(1), clock=clock)(
        lambda: next(values)
    )
    assert wrapped() == "ok"
    assert clock.sleeps == [1.0, 1.0]
    assert wrapped.statistics.attempts == 3


def test_result_predicate_exhausted_returns_the_last_value() -> None:
    """When every attempt returns a flagged value, the call returns the last one (no raise)."""
    values = iter([1, 2, 3, 4])
    wrapped = retry(3, result=lambda value: value < 10, clock=FakeClock())(lambda: next(values))
    assert wrapped() == 3
    assert wrapped.statistics.attempts == 3


def test_mixed_errors_and_bad_values_end_with_the_last_outcome() -> None:
    """An error then a flagged value returns that value; a flagged value then an error raises."""
    wrapped = retry(2, result=lambda value: value == "bad")

    def error_then_bad() -> Callable[[], str]:
        outcomes: list[Any] = [ValueError("first"), "bad"]

        def attempt() -> str:
            outcome = outcomes.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return str(outcome)

        return attempt

    assert wrapped(error_then_bad())() == "bad"
    error = ValueError("second")
    outcomes: list[Any] = ["bad", error]

    def bad_then_error() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return str(outcome)

    with pytest.raises(CompoundException) as info:
        wrapped(bad_then_error)()
    assert info.value.exceptions == (error,)


def test_deadline_stops_before_a_wait_that_would_overrun() -> None:
    """No wait starts that would end at or past the deadline: the call fails at once instead."""
    clock = FakeClock()
    flaky = Flaky(*(ConnectionError() for _ in range(10)))
    wrapped = retry(10, backoff=fixed(1.0), deadline=2.5, clock=clock)(flaky)
    with pytest.raises(CompoundException) as info:
        wrapped()
    assert clock.sleeps == [1.0, 1.0]
    assert flaky.calls == 3
    assert len(info.value) == 3
    assert wrapped.statistics == RetryStatistics(3, (1.0, 1.0), 2.0)


def test_deadline_counts_time_spent_in_attempts() -> None:
    """Slow attempts use up the deadline too, counted from the first attempt's start."""
    clock = FakeClock()

    def slow() -> None:
        clock.advance(3.0)
        raise TimeoutError

    with pytest.raises(CompoundException) as info:
        retry(10, deadline=5.0, clock=clock).call(slow)
    assert len(info.value) == 2
    assert clock.now() == 6.0


def test_zero_deadline_allows_exactly_one_attempt() -> None:
    """deadline=0 makes one attempt and never retries."""
    flaky = Flaky(ValueError(), ValueError())
    with pytest.raises(CompoundException):
        retry(5, deadline=0, clock=FakeClock())(flaky)()
    assert flaky.calls == 1


def test_deadline_success_path_returns() -> None:
    """With a deadline, a retried call that succeeds in time returns its value."""
    clock = FakeClock()
    wrapped = retry(3, backoff=fixed(1), deadline=10, clock=clock)(Flaky(ValueError()))
    assert wrapped() == 2
    assert wrapped.statistics == RetryStatistics(2, (1.0,), 1.0)
    assert retry(3, deadline=10).call(Flaky()) == 1


def test_policy_made_before_a_fake_clock_uses_it(dyno_clock: FakeClock) -> None:
    """clock=None looks the clock up at each call, so use_clock reaches older policies."""
    flaky = Flaky(ConnectionError())
    assert module_level.retry.clock is None
    assert retry(2, backoff=fixed(7.0)).call(flaky) == 2
    assert dyno_clock.sleeps == [7.0]


def test_pinned_clock_wins_over_the_global_one(dyno_clock: FakeClock) -> None:
    """A policy's own clock takes the sleeps, not the process-wide one."""
    own = FakeClock()
    assert retry(2, backoff=fixed(1.0), clock=own).call(Flaky(ValueError())) == 2
    assert own.sleeps == [1.0]
    assert dyno_clock.sleeps == []


def test_bare_decorator_uses_the_defaults() -> None:
    """@retry without parentheses retries 3 times on Exception."""
    flaky = Flaky(ValueError(), ValueError())

    @retry
    def wrapped() -> int:
        return flaky()

    assert wrapped() == 3
    assert wrapped.retry == Retry()


def test_call_runs_now_with_arguments() -> None:
    """Retry.call(fn, *args, **kwargs) calls fn with them, retrying."""
    calls: list[tuple[object, ...]] = []

    def add(a: int, b: int = 0) -> int:
        calls.append((a, b))
        if len(calls) == 1:
            raise ConnectionError
        return a + b

    assert retry(2).call(add, 1, b=2) == 3
    assert calls == [(1, 2), (1, 2)]


def test_now_runs_the_block_and_binds_its_result() -> None:
    """@retry(3).now runs the decorated block at once and the name holds its result."""
    tries: list[int] = []

    @retry(3, clock=FakeClock()).now
    def transaction() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise ConnectionError("deadlock")
        return "committed"

    assert transaction == "committed"
    assert len(tries) == 3


def test_wrapper_keeps_the_function_metadata() -> None:
    """Name, docstring, module, __wrapped__ and signature come from the function."""
    assert module_level.__name__ == "module_level"
    assert module_level.__doc__ == "Double x."
    assert module_level.__module__ == "tests.test_retry"
    assert inspect.signature(module_level) == inspect.signature(module_level.__wrapped__)
    assert module_level(4) == 8


def test_wrapped_function_pickles_by_name() -> None:
    """A decorated module-level function pickles by reference, like a function."""
    assert pickle.loads(pickle.dumps(module_level)) is module_level
    assert copy.copy(module_level) is module_level


def test_statistics_before_any_call() -> None:
    """Before any call the statistics read zero attempts."""

    @retry(2)
    def fresh() -> None:
        pass

    assert fresh.statistics == RetryStatistics(0, (), 0.0)


def test_statistics_describe_the_latest_call() -> None:
    """A quick success after a retried call replaces its statistics."""
    clock = FakeClock()
    flaky = Flaky(ValueError())
    wrapped = retry(2, backoff=fixed(1.0), clock=clock)(flaky)
    wrapped()
    assert wrapped.statistics == RetryStatistics(2, (1.0,), 1.0)
    wrapped()
    assert wrapped.statistics == RetryStatistics(1, (), 0.0)


class Client:
    """A class with retrying methods of each kind."""

    def __init__(self, name: str, failures: int) -> None:
        self.name = name
        self.flaky = Flaky(*(ConnectionError() for _ in range(failures)))

    @retry(3, clock=FakeClock())
    def fetch(self, suffix: str) -> str:
        self.flaky()
        return self.name + suffix

    @classmethod
    @retry(2)
    def build(cls, name: str) -> Client:
        return cls(name, 0)

    @staticmethod
    @retry(2)
    def double(x: int) -> int:
        return 2 * x

    @retry(3, clock=FakeClock())
    async def afetch(self, suffix: str) -> str:
        self.flaky()
        return self.name + suffix


def test_methods_bind_to_their_instance() -> None:
    """A retrying method gets its own instance as self, retries, and keeps statistics."""
    first, second = Client("a", 2), Client("b", 0)
    assert first.fetch("!") == "a!"
    assert first.fetch.statistics.attempts == 3
    assert second.fetch("?") == "b?"
    assert Client.fetch.statistics.attempts == 1
    assert Client.fetch(first, ".") == "a."
    assert Client.build("c").name == "c"  # type: ignore[call-arg,arg-type]  # mypy binds no classmethod over a Retrying
    assert Client.double(4) == 8
    assert asyncio.run(Client("d", 1).afetch("#")) == "d#"


def test_static_and_class_methods_retry_under_their_decorator() -> None:
    """@staticmethod/@classmethod above @retry give working static and class methods."""

    class Service:
        @staticmethod
        @retry(2, clock=FakeClock())
        def double(x: int) -> int:
            return 2 * x

        @classmethod
        @retry(2, clock=FakeClock())
        def name(cls) -> str:
            return cls.__name__

    doubled = Service.double(2), Service().double(3)  # type: ignore[call-arg]  # mypy binds via __get__
    named = Service.name(), Service().name()  # type: ignore[call-arg]  # mypy binds via __get__
    assert (doubled, named) == ((4, 6), ("Service", "Service"))


@pytest.mark.parametrize("kind", [staticmethod, classmethod])
def test_method_objects_are_refused_with_advice(kind: type) -> None:
    """@retry over a staticmethod/classmethod object (which would misbind) is refused."""

    def fn(x: int) -> int:
        return x

    method = kind(fn)
    message = (
        f"Cannot apply @retry to {method!r}: it is a {kind.__name__} object, not a function. "
        f"Put @{kind.__name__} above @retry instead."
    )
    with pytest.raises(TypeError) as called:
        retry(2)(method)
    assert str(called.value) == message
    with pytest.raises(TypeError) as bare:
        retry(method)
    assert str(bare.value) == message


def test_statistics_are_per_thread() -> None:
    """Each thread reads the statistics of its own latest call."""
    clock = FakeClock()
    barrier = threading.Barrier(4, timeout=10)
    seen: dict[int, RetryStatistics] = {}
    lock = threading.Lock()
    local = threading.local()

    @retry(5, clock=clock)
    def work() -> None:
        local.left -= 1
        if local.left > 0:
            raise ConnectionError

    def worker(index: int) -> None:
        local.left = index + 1  # thread i needs i + 1 attempts
        barrier.wait()
        work()
        barrier.wait()
        with lock:
            seen[index] = work.statistics

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert {index: stats.attempts for index, stats in seen.items()} == {0: 1, 1: 2, 2: 3, 3: 4}


def test_shared_policy_counts_exactly_under_contention() -> None:
    """Threads sharing one retrying function each make exactly their own attempts."""
    attempts = [0] * 8
    barrier = threading.Barrier(8, timeout=10)
    local = threading.local()

    @retry(3)
    def work(index: int) -> None:
        attempts[index] += 1
        local.calls += 1
        if local.calls % 3:
            raise ConnectionError

    def worker(index: int) -> None:
        local.calls = 0
        barrier.wait()
        for _ in range(200):
            work(index)

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert attempts == [600] * 8


# -- async retrying ----------------------------------------------------------------------------


def test_async_function_gets_an_async_wrapper() -> None:
    """An async def is wrapped by an awaitable wrapper that dyno.utils sees as async."""

    @retry(2)
    async def fetch() -> int:
        return 1

    async def main() -> tuple[int, RetryStatistics]:
        return await fetch(), fetch.statistics

    assert asyncio.run(main()) == (1, RetryStatistics(1, (), 0.0))
    assert is_async_callable(fetch)
    assert inspect.iscoroutinefunction(fetch)
    assert inspect.iscoroutinefunction(Client("x", 0).afetch)
    assert not is_async_callable(module_level)
    assert asyncio.run(fetch()) == 1


def test_async_retries_sleep_through_the_clock() -> None:
    """Async retries await clock.asleep with the exact waits, then return."""
    clock = FakeClock()
    flaky = AsyncFlaky(ConnectionError(), ConnectionError())
    wrapped = retry(3, backoff=fixed(0.5), clock=clock)(flaky.run)

    async def main() -> tuple[int, RetryStatistics]:
        return await wrapped(), wrapped.statistics

    value, stats = asyncio.run(main())
    assert value == 3
    assert clock.sleeps == [0.5, 0.5]
    assert stats == RetryStatistics(3, (0.5, 0.5), 1.0)


def test_async_exhaustion_raises_compound() -> None:
    """An async call whose attempts all fail raises CompoundException from the last error."""
    errors = compound_errors()
    wrapped = retry(3, clock=FakeClock())(AsyncFlaky(*errors).run)
    with pytest.raises(CompoundException) as info:
        asyncio.run(wrapped())
    assert info.value.exceptions == tuple(errors)
    assert info.value.__cause__ is errors[-1]


def test_async_unselected_and_cancelled_pass_through() -> None:
    """Unselected errors and CancelledError propagate at once, untouched, from async calls."""
    for error in (KeyError("k"), asyncio.CancelledError()):
        flaky = AsyncFlaky(error)
        with pytest.raises(BaseException) as info:
            asyncio.run(retry(3, on=ConnectionError)(flaky.run)())
        assert info.value is error
        assert flaky.calls == 1
    cancelled = asyncio.CancelledError()
    flaky = AsyncFlaky(ValueError(), cancelled)
    with pytest.raises(asyncio.CancelledError) as caught:
        asyncio.run(retry(3, clock=FakeClock())(flaky.run)())
    assert caught.value is cancelled
    assert caught.value.__context__ is None


def test_async_result_predicate_and_deadline() -> None:
    """Async calls honour the result predicate (returning the last value) and the deadline."""
    clock = FakeClock()
    values = iter([0, 0, 0, 0])

    async def poll() -> int:
        return next(values)

    wrapped = retry(3, result=lambda v: v == 0, backoff=fixed(2), deadline=3, clock=clock)(poll)
    assert asyncio.run(wrapped()) == 0
    assert clock.sleeps == [2.0]


def test_async_statistics_are_per_task() -> None:
    """Concurrent tasks each read the statistics of their own latest call."""
    clock = FakeClock()
    needed = {"a": 1, "b": 3}
    calls: dict[str, int] = {"a": 0, "b": 0}

    @retry(5, backoff=fixed(1.0), clock=clock)
    async def work(name: str) -> None:
        calls[name] += 1
        await asyncio.sleep(0)
        if calls[name] < needed[name]:
            raise ConnectionError

    async def task(name: str) -> RetryStatistics:
        await work(name)
        await asyncio.sleep(0)  # let the other task finish its call too
        await asyncio.sleep(0)
        return work.statistics

    async def main() -> list[RetryStatistics]:
        return list(await asyncio.gather(task("a"), task("b")))

    first, second = asyncio.run(main())
    assert first == RetryStatistics(1, (), 0.0)
    assert second == RetryStatistics(3, (1.0, 1.0), 2.0)


def test_call_and_acall_await_async_callables() -> None:
    """Retry.call on an async function returns an awaitable; acall accepts any awaitable factory."""
    flaky = AsyncFlaky(ValueError())
    policy = retry(2)

    async def main() -> tuple[int, int]:
        first = await policy.call(flaky.run)
        again = AsyncFlaky(ValueError())
        second = await policy.acall(lambda: again.run())
        return first, second

    assert asyncio.run(main()) == (2, 2)


def test_now_on_an_async_block_gives_an_awaitable() -> None:
    """@retry(...).now on an async def binds a coroutine that runs the retried block."""
    flaky = AsyncFlaky(ConnectionError())

    async def main() -> int:
        @retry(2).now
        async def result() -> int:
            return await flaky.run()

        return await result

    assert asyncio.run(main()) == 2


# -- CompoundException ---------------------------------------------------------------------------


def test_compound_is_an_instance_of_every_class() -> None:
    """The compound is a CompoundException and each attempt's class."""
    failure = make_compound_exception(compound_errors())
    for kind in (CompoundException, ConnectionError, TimeoutError, KeyError, OSError, LookupError):
        assert isinstance(failure, kind)


def test_compound_sequence_protocol() -> None:
    """.exceptions holds the errors in order; len() and iteration follow it."""
    errors = compound_errors()
    failure = make_compound_exception(errors)
    assert failure.exceptions == tuple(errors)
    assert all(a is b for a, b in zip(failure.exceptions, errors, strict=True))
    assert len(failure) == 3
    assert list(failure) == errors


def test_compound_str_and_repr_list_every_attempt() -> None:
    """str summarises each attempt with its class; repr shows the errors."""
    failure = make_compound_exception([*compound_errors(), ValueError()])
    assert str(failure) == (
        "4 attempts failed: #1 ConnectionError: [Errno 111] refused; "
        "#2 TimeoutError: [Errno 110] timed out; #3 KeyError: 'k'; #4 ValueError"
    )
    assert repr(failure) == (
        "CompoundException([ConnectionError(111, 'refused'), TimeoutError(110, 'timed out'), "
        "KeyError('k'), ValueError()])"
    )


def test_compound_class_is_named_after_its_classes() -> None:
    """The made class lists the classes it combines, latest attempt's first."""
    failure = make_compound_exception(compound_errors())
    assert type(failure).__name__ == "CompoundException[KeyError, TimeoutError, ConnectionError]"
    assert type(failure).__module__ == "dyno.retry"


def test_compound_class_is_cached() -> None:
    """The same classes in the same order give the same made class."""
    first = make_compound_exception([ValueError(1), KeyError(2)])
    second = make_compound_exception([ValueError(3), KeyError(4), KeyError(5)])
    assert type(first) is type(second)


def test_constructor_is_make_compound_exception() -> None:
    """CompoundException(errors) builds the same thing as make_compound_exception(errors)."""
    errors = compound_errors()
    failure = CompoundException(errors)
    assert type(failure) is type(make_compound_exception(errors))
    assert failure.exceptions == tuple(errors)


def test_oserror_attributes_come_from_the_latest_oserror() -> None:
    """errno, strerror and filename all come from the latest OSError attempt; args from the last."""
    errors = [
        FileNotFoundError(2, "No such file", "a.txt"),
        TimeoutError(110, "timed out"),
        ValueError("v"),
    ]
    failure = make_compound_exception(errors)
    assert isinstance(failure, OSError)
    assert (failure.errno, failure.strerror, failure.filename) == (110, "timed out", None)
    assert failure.args == ("v",)


def test_computed_c_attributes_come_from_the_latest_attempt_having_them() -> None:
    """BlockingIOError's characters_written (a C getset, not a field) is copied too."""
    errors = [BlockingIOError(11, "would block", 5), BlockingIOError(11, "again"), KeyError("k")]
    failure = make_compound_exception(errors)
    assert isinstance(failure, BlockingIOError)
    assert failure.characters_written == 5
    assert pickle.loads(pickle.dumps(failure)).characters_written == 5


def test_unicode_decode_error_attributes_are_kept() -> None:
    """A UnicodeDecodeError attempt (five constructor args) keeps its attributes."""
    error = UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
    failure = make_compound_exception([KeyError("k"), error])
    assert isinstance(failure, UnicodeDecodeError)
    assert isinstance(failure, KeyError)
    assert (failure.encoding, failure.object, failure.start, failure.end, failure.reason) == (
        "utf-8",
        b"\xff",
        0,
        1,
        "invalid start byte",
    )


def test_incompatible_classes_fall_back_to_the_latest() -> None:
    """OSError + UnicodeDecodeError cannot share a class: keep the latest and what combines."""
    decode = UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad")
    errors: list[Exception] = [ConnectionError("c"), KeyError("k"), decode]
    failure = make_compound_exception(errors)
    assert isinstance(failure, UnicodeDecodeError)
    assert isinstance(failure, KeyError)
    assert ConnectionError not in type(failure).__mro__
    assert failure.exceptions == tuple(errors)
    reverse = make_compound_exception([decode, ConnectionError("c")])
    assert isinstance(reverse, ConnectionError)
    assert UnicodeDecodeError not in type(reverse).__mro__


def test_subclass_and_superclass_attempts_combine() -> None:
    """A class and its own subclass (either order) both hold, with no MRO error."""
    for errors in (
        [ConnectionRefusedError(), ConnectionError()],
        [OSError(), ConnectionError(), ConnectionRefusedError()],
    ):
        failure = make_compound_exception(errors)
        assert isinstance(failure, ConnectionRefusedError)


class NeedsArguments(Exception):
    """An exception whose __init__ takes required arguments and must not be re-run."""

    inits = 0

    def __init__(self, host: str, port: int) -> None:
        NeedsArguments.inits += 1
        super().__init__(f"{host}:{port}")
        self.host = host
        self.port = port


class SlotsA(Exception):
    __slots__ = ("a",)
    a: int


class SlotsB(Exception):
    __slots__ = ("b",)
    b: int


def test_user_classes_keep_attributes_without_rerunning_init() -> None:
    """User attributes are copied from the attempts; no __init__ is called with wrong args."""
    error = NeedsArguments("db", 5432)
    inits = NeedsArguments.inits
    failure = make_compound_exception([error, ConnectionError("c")])
    assert NeedsArguments.inits == inits
    assert isinstance(failure, NeedsArguments)
    assert (failure.host, failure.port) == ("db", 5432)


def test_slots_conflict_falls_back_and_copies_slot_values() -> None:
    """Two classes with __slots__ cannot combine: the latest stays, with its slot values."""
    first, second = SlotsA(), SlotsB()
    first.a = 1
    second.b = 2
    failure = make_compound_exception([first, second])
    assert isinstance(failure, SlotsB)
    assert not isinstance(failure, SlotsA)
    assert failure.b == 2


def test_refusing_classes_never_cause_type_errors() -> None:
    """Classes whose subclassing fails (metaclass clash, __init_subclass__) are left out quietly."""

    class Meta(type):
        pass

    class OtherMeta(type):
        pass

    class WithMeta(Exception, metaclass=Meta):
        pass

    class WithOtherMeta(Exception, metaclass=OtherMeta):
        pass

    class Final(Exception):
        def __init_subclass__(cls, **kwargs: object) -> None:
            raise TypeError("Final cannot be subclassed")

    failure = make_compound_exception([WithMeta(), WithOtherMeta(), Final(), ValueError()])
    assert isinstance(failure, ValueError)
    assert isinstance(failure, WithOtherMeta)
    assert not isinstance(failure, WithMeta)
    assert not isinstance(failure, Final)
    assert isinstance(make_compound_exception([Final()]), CompoundException)


def test_exception_groups_are_kept_but_not_combined() -> None:
    """An ExceptionGroup attempt stays in .exceptions but the compound is not a group."""
    group = ExceptionGroup("g", [ValueError()])
    failure = make_compound_exception([group, KeyError("k")])
    assert not isinstance(failure, BaseExceptionGroup)
    assert failure.exceptions[0] is group


def test_nested_compounds_contribute_their_classes() -> None:
    """A compound among the errors adds the classes it combines, not itself."""
    inner = make_compound_exception([ConnectionError(), KeyError()])
    outer = make_compound_exception([inner, ValueError()])
    assert isinstance(outer, ConnectionError)
    assert isinstance(outer, KeyError)
    assert isinstance(outer, ValueError)
    assert outer.exceptions == (inner, outer.exceptions[1])


def test_notes_of_attempts_are_not_copied() -> None:
    """The attempts' __notes__ stay on the attempts; the compound starts without notes."""
    error = ValueError("v")
    error.add_note("from the attempt")
    failure = make_compound_exception([error])
    assert not hasattr(failure, "__notes__")


def test_make_compound_exception_refuses_bad_input() -> None:
    """No errors raises ValueError; non-Exception items raise TypeError naming them."""
    with pytest.raises(ValueError) as empty:
        make_compound_exception([])
    assert str(empty.value) == (
        "Cannot make a CompoundException of no errors: there is nothing to combine. "
        "Pass at least one exception."
    )
    with pytest.raises(TypeError) as wrong:
        make_compound_exception([ValueError(), KeyboardInterrupt()])  # type: ignore[list-item]  # bad on purpose
    assert str(wrong.value) == (
        "'errors' must hold Exception instances (got KeyboardInterrupt() that is a "
        "<class 'KeyboardInterrupt'>)"
    )


def test_except_star_catches_the_compound_by_any_class() -> None:
    """except* ConnectionError catches it (wrapped in a group, as any naked exception is)."""
    failure = make_compound_exception(compound_errors())
    caught: list[BaseException] = []
    try:
        raise failure
    except* ConnectionError as group:
        caught.extend(group.exceptions)
    assert caught == [failure]
    caught = []
    try:
        raise failure
    except* KeyError as group:
        caught.extend(group.exceptions)
    assert caught == [failure]


def test_compound_pickles_with_classes_and_attempts() -> None:
    """pickle round-trips the class mix, the attempts, errno and added attributes."""
    failure = make_compound_exception([FileNotFoundError(2, "gone", "f"), KeyError("k")])
    failure.add_note("a note")
    back = pickle.loads(pickle.dumps(failure))
    assert type(back) is type(failure)
    assert [repr(error) for error in back.exceptions] == [
        repr(error) for error in failure.exceptions
    ]
    assert isinstance(back, OSError)
    assert (back.errno, back.filename, back.args) == (2, "f", ("k",))
    assert back.__notes__ == ["a note"]
    assert copy.copy(failure).exceptions == failure.exceptions


CHILD = """
import pickle, sys
from dyno.retry import CompoundException
failure = pickle.loads(sys.stdin.buffer.read())
assert isinstance(failure, CompoundException), type(failure)
assert isinstance(failure, ConnectionError) and isinstance(failure, UnicodeDecodeError) is False
assert isinstance(failure, KeyError)
assert failure.errno == 111, failure.errno
assert [type(e).__name__ for e in failure] == ["ConnectionError", "KeyError"], list(failure)
sys.stdout.buffer.write(pickle.dumps(failure))
"""


def test_compound_crosses_a_process_boundary() -> None:
    """A compound pickled to another Python process unpickles intact there and back."""
    failure = make_compound_exception([ConnectionError(111, "refused"), KeyError("k")])
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=pickle.dumps(failure),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    back = pickle.loads(done.stdout)
    assert type(back) is type(failure)
    assert isinstance(back, OSError)
    assert back.errno == 111
    assert str(back) == str(failure)


def test_compound_class_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The made-class cache forgets its oldest entry when full."""
    monkeypatch.setattr(retry_module, "_cache", {})
    monkeypatch.setattr(retry_module, "_MAX_CACHED", 2)
    first = type(make_compound_exception([ValueError()]))
    make_compound_exception([KeyError()])
    make_compound_exception([TypeError()])
    assert len(retry_module._cache) == 2
    assert type(make_compound_exception([ValueError()])) is not first


# -- the property over builtin exception classes -----------------------------------------------


def _errno_error(kind: type[OSError]) -> st.SearchStrategy[Exception]:
    return st.builds(kind, st.integers(1, 150), st.sampled_from(["boom", "refused", ""]))


BUILTIN_ERRORS: st.SearchStrategy[Exception] = st.one_of(
    _errno_error(ConnectionError),
    _errno_error(TimeoutError),
    _errno_error(PermissionError),
    st.builds(FileNotFoundError, st.just(2), st.just("No such file"), st.just("x.txt")),
    st.sampled_from(
        [
            OSError,
            ConnectionRefusedError,
            ConnectionResetError,
            BrokenPipeError,
            BlockingIOError,
            InterruptedError,
            IsADirectoryError,
            ProcessLookupError,
        ]
    ).map(lambda kind: kind("os")),
    st.builds(ValueError, st.text(max_size=3)),
    st.builds(KeyError, st.text(max_size=3)),
    st.sampled_from(
        [
            IndexError,
            LookupError,
            TypeError,
            RuntimeError,
            NotImplementedError,
            RecursionError,
            ZeroDivisionError,
            OverflowError,
            ArithmeticError,
            AssertionError,
            EOFError,
            BufferError,
            ReferenceError,
            MemoryError,
            StopAsyncIteration,
            UnicodeError,
            UserWarning,
            DeprecationWarning,
        ]
    ).map(lambda kind: kind("plain")),
    st.just(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")),
    st.just(UnicodeEncodeError("ascii", "\xe9", 0, 1, "ordinal not in range")),
    st.just(UnicodeTranslateError("\xe9", 0, 1, "no mapping")),
    st.just(AttributeError("attr", name="x", obj=1)),
    st.just(NameError("name", name="y")),
    st.just(ImportError("imp", name="m", path="p")),
    st.just(ModuleNotFoundError("mod", name="m")),
    st.just(StopIteration(5)),
    st.just(SyntaxError("bad", ("f.py", 1, 2, "x", 1, 3))),
    st.just(IndentationError("indent")),
)


def _combinable(first: type, second: type) -> bool:
    """Whether CPython lets one class derive from both (checked independently)."""
    if issubclass(first, second) or issubclass(second, first):
        return True
    try:
        type("Probe", (first, second), {})
    except TypeError:
        return False
    return True


@settings(max_examples=150, deadline=None)
@given(st.lists(BUILTIN_ERRORS, min_size=1, max_size=6))
def test_compound_of_builtin_errors_is_each_class_that_combines(errors: list[Exception]) -> None:
    """Property: it is CompoundException and each class that combines; except* catches each."""
    failure = make_compound_exception(errors)
    assert isinstance(failure, CompoundException)
    assert isinstance(failure, type(errors[-1]))
    assert failure.exceptions == tuple(errors)
    classes = list(dict.fromkeys(type(error) for error in errors))
    kept = [kind for kind in classes if isinstance(failure, kind)]
    for kind in classes:
        if kind not in kept:
            assert any(not _combinable(kind, other) for other in kept), kind
    if all(_combinable(a, b) for a in classes for b in classes):
        assert kept == classes
    for kind in kept:
        caught = False
        try:
            raise failure
        except* kind as group:
            caught = group.exceptions == (failure,)
        assert caught, kind
    assert str(failure).startswith(f"{len(errors)} attempt")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [ConnectionError, TimeoutError, FileNotFoundError, KeyError, ValueError, RuntimeError]
        ),
        min_size=1,
        max_size=6,
    )
)
def test_combinable_classes_are_all_kept(kinds: list[type[Exception]]) -> None:
    """For OSError-family and layout-free classes, the compound is an instance of every class."""
    failure = make_compound_exception([kind("x") for kind in kinds])
    for kind in kinds:
        assert isinstance(failure, kind)
        caught = False
        try:
            raise failure
        except* kind:
            caught = True
        assert caught, kind


def _iter_errors(n: int) -> Iterator[Exception]:
    yield from (ValueError(i) for i in range(n))


def test_make_compound_accepts_any_iterable() -> None:
    """A generator of errors works as well as a list."""
    assert len(make_compound_exception(_iter_errors(3))) == 3


def test_dunder_all_is_the_public_surface() -> None:
    """__all__ names exactly the module's public classes and functions."""
    public = {
        name
        for name, value in vars(retry_module).items()
        if not name.startswith("_")
        and getattr(value, "__module__", None) == retry_module.__name__
        and (inspect.isclass(value) or inspect.isfunction(value))
    }
    assert set(retry_module.__all__) == public
    assert len(retry_module.__all__) == len(public)


def test_calling_retry_with_a_function_and_options_applies_them() -> None:
    """retry(fn, on=ValueError) retries only ValueError, as @retry(on=ValueError) would."""
    calls: list[int] = []

    def lookup() -> int:
        calls.append(1)
        raise KeyError("missing")

    guarded = retry(lookup, on=ValueError)
    with pytest.raises(KeyError):
        guarded()
    assert len(calls) == 1
