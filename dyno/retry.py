"""Retry a call, keeping every attempt's error in one :class:`CompoundException`.

:func:`retry` builds a :class:`Retry` policy: how many attempts, which
exceptions (``on``) and which return values (``result``) call for another
attempt, how long to wait in between (``backoff``), and how long the whole call
may take (``deadline``). The policy decorates sync and async functions and
methods, runs a callable at once with :meth:`Retry.call`, or runs a block on the
spot with ``@retry(3).now``. Every wait goes through :mod:`dyno.clock`.

When every attempt fails, the error raised is a :class:`CompoundException`
that is also an instance of every class the attempts raised, so
``except ConnectionError:`` keeps working while ``.exceptions`` holds every
attempt. It is raised ``from`` the last attempt's error.
"""

from __future__ import annotations

import functools
import math
import random
import threading
import types
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import (
    Any,
    Concatenate,
    Literal,
    Never,
    ParamSpec,
    Protocol,
    Self,
    TypeVar,
    cast,
    overload,
)

from dyno.clock import Clock, check_clock, get_clock
from dyno.utils import (
    check_callable,
    check_choice,
    check_decoratable,
    check_exception_types,
    check_int,
    check_number,
    check_optional_number,
    describe,
    is_async_callable,
    refuse_method_object,
)

__all__ = [
    "retry",
    "Retry",
    "Retrying",
    "RetryStatistics",
    "fixed",
    "exponential",
    "Fixed",
    "Exponential",
    "CompoundException",
    "make_compound_exception",
]

P = ParamSpec("P")
P2 = ParamSpec("P2")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
S = TypeVar("S")

Jitter = Literal["full", "equal"] | None


# -- backoff policies ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fixed:
    """Wait the same number of seconds after every failed attempt.

    Args:
        seconds: The wait, ``>= 0``.

    Raises:
        TypeError: *seconds* is not a real number.
        ValueError: *seconds* is negative or NaN.
    """

    seconds: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "seconds", _check_seconds("seconds", self.seconds))

    def __call__(self, attempt: int) -> float:
        """Return the wait after failed attempt number *attempt* (from 1)."""
        return self.seconds

    def __repr__(self) -> str:
        return f"fixed({self.seconds!r})"


@dataclass(frozen=True, slots=True)
class Exponential:
    """Wait ``initial * factor ** (attempt - 1)`` seconds, capped at *maximum*, with jitter.

    With ``jitter="full"`` the wait is drawn uniformly from ``[0, base]``; with
    ``"equal"`` from ``[base / 2, base]``; with ``None`` it is ``base`` exactly
    (the AWS Architecture Blog's "Exponential Backoff And Jitter" names).

    Args:
        initial: The base wait after the first failure, ``>= 0``.
        factor: The growth per attempt, ``>= 1``.
        maximum: The cap on the base wait, ``>= initial``.
        jitter: ``"full"``, ``"equal"`` or ``None``.

    Raises:
        TypeError: A number is not a real number.
        ValueError: A number is out of range, or *jitter* is not a known kind.
    """

    initial: float = 0.1
    factor: float = 2.0
    maximum: float = 10.0
    jitter: Jitter = "full"

    def __post_init__(self) -> None:
        initial = _check_seconds("initial", self.initial)
        factor = check_number("factor", self.factor, low=1)
        maximum = _check_seconds("maximum", self.maximum)
        if maximum < initial:
            raise ValueError(
                f"'maximum' must be >= 'initial' ({initial!r}) (got {describe(self.maximum)})"
            )
        check_choice("jitter", self.jitter, ("full", "equal", None))
        object.__setattr__(self, "initial", initial)
        object.__setattr__(self, "factor", factor)
        object.__setattr__(self, "maximum", maximum)

    def base(self, attempt: int) -> float:
        """Return the wait before jitter after failed attempt number *attempt* (from 1)."""
        attempt = check_int("attempt", attempt, low=1)
        if self.initial == 0:
            return 0.0
        try:
            return min(self.maximum, self.initial * self.factor ** (attempt - 1))
        except OverflowError:  # factor ** huge: long past the cap anyway
            return self.maximum

    def __call__(self, attempt: int) -> float:
        """Return the (jittered) wait after failed attempt number *attempt* (from 1)."""
        base = self.base(attempt)
        if self.jitter == "full":
            return random.uniform(0.0, base)
        if self.jitter == "equal":
            return base / 2 + random.uniform(0.0, base / 2)
        return base

    def __repr__(self) -> str:
        return (
            f"exponential(initial={self.initial!r}, factor={self.factor!r}, "
            f"maximum={self.maximum!r}, jitter={self.jitter!r})"
        )


def fixed(seconds: float) -> Fixed:
    """Return a backoff that waits *seconds* after every failed attempt.

    Raises:
        TypeError: *seconds* is not a real number.
        ValueError: *seconds* is negative or NaN.
    """
    return Fixed(seconds)


def exponential(
    initial: float = 0.1, factor: float = 2.0, maximum: float = 10.0, jitter: Jitter = "full"
) -> Exponential:
    """Return an exponential backoff; see :class:`Exponential`.

    Raises:
        TypeError: A number is not a real number.
        ValueError: A number is out of range, or *jitter* is not ``"full"``, ``"equal"``
            or ``None``.
    """
    return Exponential(initial, factor, maximum, jitter)


def _check_seconds(option: str, value: object) -> float:
    seconds = check_number(option, value, low=0)
    if math.isinf(seconds):
        raise ValueError(f"'{option}' must be finite (got {describe(value)})")
    return seconds


# -- CompoundException ----------------------------------------------------------


class CompoundException(Exception):  # the name dyno 0.2 gave it
    """Every attempt's error in one exception that is an instance of each of their classes.

    Build one with :func:`make_compound_exception` (or ``CompoundException(errors)``,
    which does the same). The object you get is an instance of a subclass made
    for the classes involved, so ``except ConnectionError:``, ``except
    CompoundException:`` and ``except* ConnectionError:`` all catch it.

    Classes that CPython cannot combine into one class (an ``OSError``
    subclass with ``UnicodeDecodeError``, two classes with non-empty
    ``__slots__``, exception groups) are left out, keeping the latest
    attempt's class and then every earlier class that still combines, latest
    first. :attr:`exceptions` always holds every attempt.

    The instance's ``args``, and C-level attributes such as ``errno`` or
    ``filename``, come from the latest attempt that has them; attributes
    set on the attempts' errors are copied the same way. No ``__init__`` of the
    attempts' classes runs.
    """

    # The classes a made subclass combines, latest attempt's first; () here.
    _compound_bases: tuple[type[Exception], ...] = ()

    def __new__(cls, exceptions: Iterable[Exception] = ()) -> CompoundException:
        """Return :func:`make_compound_exception` of *exceptions*."""
        return make_compound_exception(exceptions)

    def __init__(self, *args: object) -> None:
        # The state was set by make_compound_exception; the attempts' own
        # __init__s must not run with the wrong arguments.
        pass

    @property
    def exceptions(self) -> tuple[Exception, ...]:
        """The attempts' errors, first attempt first."""
        return cast("tuple[Exception, ...]", self.__dict__["_compound_exceptions"])

    def __len__(self) -> int:
        return len(self.exceptions)

    def __iter__(self) -> Iterator[Exception]:
        return iter(self.exceptions)

    def __str__(self) -> str:
        errors = self.exceptions
        noun = "attempt" if len(errors) == 1 else "attempts"
        parts = []
        for number, error in enumerate(errors, 1):
            text = str(error)
            name = type(error).__qualname__
            parts.append(f"#{number} {name}: {text}" if text else f"#{number} {name}")
        return f"{len(errors)} {noun} failed: " + "; ".join(parts)

    def __repr__(self) -> str:
        return f"CompoundException([{', '.join(repr(error) for error in self.exceptions)}])"

    def __reduce__(self) -> tuple[object, ...]:
        state = {
            key: value for key, value in self.__dict__.items() if key != "_compound_exceptions"
        }
        return (_rebuild_compound, (self.exceptions,), state or None)


def _rebuild_compound(exceptions: tuple[Exception, ...]) -> CompoundException:
    return make_compound_exception(exceptions)


_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: the class was made by a class statement
_MAX_CACHED = 512
_cache: dict[tuple[type[Exception], ...], type[CompoundException]] = {}
_cache_lock = threading.Lock()
_C_ATTRIBUTES = (types.MemberDescriptorType, types.GetSetDescriptorType)


def make_compound_exception(errors: Iterable[Exception]) -> CompoundException:
    """Return one exception standing for every error in *errors*.

    See :class:`CompoundException` for what it is an instance of and which
    attributes it carries. Made classes are cached by the attempts' classes,
    so the same mix always gives the same class. An error that is itself a
    :class:`CompoundException` contributes the classes it combines.

    Args:
        errors: The attempts' errors, oldest first (at least one).

    Raises:
        TypeError: An item is not an :class:`Exception` instance.
        ValueError: *errors* is empty.
    """
    attempts = tuple(errors)
    if not attempts:
        raise ValueError(
            "Cannot make a CompoundException of no errors: there is nothing to combine. "
            "Pass at least one exception."
        )
    for error in attempts:
        if not isinstance(error, Exception):
            raise TypeError(f"'errors' must hold Exception instances (got {describe(error)})")
    key: list[type[Exception]] = []
    for error in reversed(attempts):
        kinds = type(error)._compound_bases if isinstance(error, CompoundException) else None
        for kind in kinds if kinds is not None else (type(error),):
            if kind not in key:
                key.append(kind)
    cls = _compound_class(tuple(key))
    return _instantiate(cls, attempts)


def _compound_class(key: tuple[type[Exception], ...]) -> type[CompoundException]:
    cls = _cache.get(key)
    if cls is not None:
        return cls
    with _cache_lock:
        cls = _cache.get(key)
        if cls is None:
            cls = _combine(key)
            if len(_cache) >= _MAX_CACHED:
                del _cache[next(iter(_cache))]
            _cache[key] = cls
    return cls


def _combine(key: tuple[type[Exception], ...]) -> type[CompoundException]:
    # Greedy, latest attempt's class first: keep each class that CPython
    # accepts alongside those kept so far. Bases stay minimal (no class next
    # to its own subclass), or the MRO could not be built.
    best: type[CompoundException] = CompoundException
    bases: list[type[Exception]] = []
    for kind in key:
        if issubclass(kind, BaseExceptionGroup) or any(issubclass(b, kind) for b in bases):
            continue  # groups would change how except* splits it; supers are implied
        trial = [b for b in bases if not issubclass(kind, b)]
        trial.append(kind)
        made = _make_class(tuple(trial))
        if made is not None:
            best, bases = made, trial
    return best


def _make_class(bases: tuple[type[Exception], ...]) -> type[CompoundException] | None:
    names = ", ".join(base.__qualname__ for base in bases)
    name = f"CompoundException[{names}]"

    def body(namespace: dict[str, Any]) -> None:
        namespace["__module__"] = __name__
        namespace["__qualname__"] = name
        namespace["_compound_bases"] = bases
        namespace["__doc__"] = f"A CompoundException that is also each of: {names}."

    try:
        made = types.new_class(name, (CompoundException, *bases), exec_body=body)
    except Exception:  # layout, MRO, metaclass or __init_subclass__ refusal: leave it out
        return None
    return cast("type[CompoundException]", made)


def _instantiate(cls: type[CompoundException], errors: tuple[Exception, ...]) -> CompoundException:
    # CPython insists on the __new__ of the class that defines the memory
    # layout (OSError.__new__ for OSError mixes): follow __base__ to the
    # nearest built-in class that defines one. No user code runs.
    owner: type = cls
    while owner.__flags__ & _HEAPTYPE or "__new__" not in vars(owner):
        owner = owner.__base__  # type: ignore[assignment]  # stops at BaseException at the latest
    instance = cast("CompoundException", owner.__new__(cls))  # type: ignore[call-overload]  # owner is a built-in exception class
    instance.args = errors[-1].args
    for kind in cls.__mro__[2:]:
        for name, member in vars(kind).items():
            # Members are C fields and __slots__ (errno, encoding, ...); getsets are
            # computed C attributes (OSError.characters_written). args is set above.
            if isinstance(member, _C_ATTRIBUTES) and name != "args" and not name.startswith("__"):
                _copy_member(instance, name, member, kind, errors)
    state = instance.__dict__
    for error in errors:
        if isinstance(instance, type(error)):
            for name, value in getattr(error, "__dict__", {}).items():
                if name != "__notes__":
                    state[name] = value
    state["_compound_exceptions"] = errors
    return instance


def _copy_member(
    instance: CompoundException,
    name: str,
    member: types.MemberDescriptorType | types.GetSetDescriptorType,
    kind: type,
    errors: tuple[Exception, ...],
) -> None:
    for error in reversed(errors):
        if isinstance(error, kind):
            try:
                member.__set__(instance, member.__get__(error, kind))
            except (AttributeError, TypeError):  # unset slot, or a read-only member
                continue
            return


# -- statistics and the wrapped function ---------------------------------------


@dataclass(frozen=True, slots=True)
class RetryStatistics:
    """What the latest call of a retrying function did, in this thread or task.

    Attributes:
        attempts: How many attempts the call made (0 before any call).
        delays: The seconds slept between attempts, in order.
        elapsed: The seconds retrying added, read from the clock: from the end of
            the first attempt to the end of the call (waits plus later attempts).
            0.0 when the first attempt settled the call.
    """

    attempts: int = 0
    delays: tuple[float, ...] = ()
    elapsed: float = 0.0


class Retrying(Protocol[P, R_co]):
    """A function wrapped by a :class:`Retry` policy (what ``@retry(...)`` returns).

    Call it as the function it wraps. Reading :attr:`statistics` gives the
    latest call made in the current thread (sync functions) or task (async
    functions).
    """

    __wrapped__: Callable[..., object]
    __name__: str
    __qualname__: str

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co:
        """Call the wrapped function, retrying per :attr:`retry`."""
        ...

    @property
    def retry(self) -> Retry:
        """The policy this function retries with."""
        ...

    @property
    def statistics(self) -> RetryStatistics:
        """The latest call's attempts, delays and elapsed time in this thread or task."""
        ...

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> Retrying[P, R_co]: ...

    @overload
    def __get__(
        self: Retrying[Concatenate[S, P2], R], instance: S, owner: type | None = None
    ) -> Retrying[P2, R]: ...


# -- the policy -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Retry:
    """A retry policy: decorate with it, or run a call with :meth:`call`.

    Build one with :func:`retry`; the arguments are the same and stay
    readable as attributes.

    Args:
        attempts: The most attempts a call makes, ``>= 1``.
        on: The exception classes that call for another attempt; others
            propagate at once. ``BaseException``s that are not ``Exception``s
            are never retried.
        result: A predicate on return values: true means "try again". When the
            last attempt returns such a value, the call returns it.
        backoff: The seconds to wait after failed attempt *n*: :func:`fixed`,
            :func:`exponential` or any callable ``attempt -> seconds``.
            ``None`` waits not at all.
        deadline: The most seconds a call may take, counted from the start of
            its first attempt. No wait starts that would end past the deadline;
            the call fails at once instead.
        clock: The clock to read and sleep with; ``None`` uses
            :func:`dyno.clock.get_clock` at each call.

    Raises:
        TypeError: An option has the wrong type.
        ValueError: An option is out of range.
    """

    attempts: int = 3
    on: tuple[type[Exception], ...] = (Exception,)
    result: Callable[[Never], bool] | None = None
    backoff: Callable[[int], float] | None = None
    deadline: float | None = None
    clock: Clock | None = None
    # result, typed for calling it with whatever the function returned.
    _accepts: Callable[[object], bool] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        check_int("attempts", self.attempts, low=1)
        on = check_exception_types("on", self.on)
        for kind in on:
            if not issubclass(kind, Exception):
                raise ValueError(
                    f"Cannot retry on {kind.__qualname__}: BaseExceptions that are not "
                    "Exceptions always propagate at once. Pass Exception subclasses in 'on' "
                    f"instead (got {describe(self.on)})"
                )
        object.__setattr__(self, "on", on)
        if self.result is not None:
            check_callable("result", self.result)
            object.__setattr__(self, "_accepts", cast("Callable[[object], bool]", self.result))
        if self.backoff is not None:
            check_callable("backoff", self.backoff)
        object.__setattr__(
            self, "deadline", check_optional_number("deadline", self.deadline, low=0)
        )
        check_clock("clock", self.clock)

    def delay(self, attempt: int) -> float:
        """Return the seconds to wait after failed attempt number *attempt* (from 1).

        Raises:
            TypeError: *attempt* is not an int, or the backoff returned something
                other than a real number.
            ValueError: *attempt* is below 1, or the backoff returned a negative,
                infinite or NaN wait.
        """
        attempt = check_int("attempt", attempt, low=1)
        return self._delay(attempt)

    def next_delay(self, attempt: int, elapsed: float = 0.0) -> float | None:
        """Return the wait before the attempt after *attempt*, or None to stop.

        The policy stops when *attempt* was the last one allowed, or when the
        wait would end at or past the deadline, *elapsed* being the seconds
        since the call's first attempt started. This is the whole retry loop's
        decision, for code that runs attempts itself.

        Raises:
            TypeError: *attempt* or *elapsed* has the wrong type, or the backoff
                returned something other than a real number.
            ValueError: *attempt* is below 1, *elapsed* is negative, or the backoff
                returned a negative, infinite or NaN wait.
        """
        attempt = check_int("attempt", attempt, low=1)
        return self._next_delay(attempt, check_number("elapsed", elapsed, low=0))

    def _delay(self, attempt: int) -> float:
        backoff = self.backoff
        if backoff is None:
            return 0.0
        seconds = backoff(attempt)
        if type(seconds) is not float or not 0.0 <= seconds < math.inf:
            seconds = _check_seconds(f"backoff({attempt})", seconds)
        return seconds

    def _next_delay(self, attempt: int, elapsed: float) -> float | None:
        if attempt >= self.attempts:
            return None
        delay = self._delay(attempt)
        # A retry must start before the deadline: never begin a doomed wait.
        if self.deadline is not None and elapsed + delay >= self.deadline:
            return None
        return delay

    def __call__(self, fn: Callable[P, R]) -> Retrying[P, R]:
        """Wrap *fn* (sync or async, function or method) to retry on each call.

        Raises:
            TypeError: *fn* is not callable, or is a staticmethod or classmethod
                object (put that decorator above this one).
        """
        check_decoratable("retry", fn)
        if is_async_callable(fn):
            return cast("Retrying[P, R]", _AsyncRetrying(self, fn))
        return cast("Retrying[P, R]", _SyncRetrying(self, fn))

    def call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``fn(*args, **kwargs)`` now, retrying per this policy.

        For an async *fn* this returns a coroutine to await.

        Raises:
            CompoundException: Every attempt failed.
        """
        check_callable("fn", fn)
        if is_async_callable(fn):
            return cast("R", _AsyncRetrying._bare(self, fn)(*args, **kwargs))
        return cast("R", _SyncRetrying._bare(self, fn)(*args, **kwargs))

    async def acall(self, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Await ``fn(*args, **kwargs)`` now, retrying per this policy.

        *fn* may be any callable returning an awaitable (say a lambda).

        Raises:
            CompoundException: Every attempt failed.
        """
        check_callable("fn", fn)
        return cast("R", await _AsyncRetrying._bare(self, fn)(*args, **kwargs))

    def now(self, fn: Callable[[], R]) -> R:
        """Run *fn* at once, retrying, and return its result (``@retry(3).now``).

        Decorating a block with ``.now`` binds its result, not a function, to
        the name. For an ``async def`` block the name holds a coroutine to
        await.

        Raises:
            CompoundException: Every attempt failed.
        """
        return self.call(fn)

    def __repr__(self) -> str:
        parts = [repr(self.attempts)]
        if self.on != (Exception,):
            names = ", ".join(kind.__qualname__ for kind in self.on)
            parts.append(f"on={names}" if len(self.on) == 1 else f"on=({names})")
        if self.result is not None:
            parts.append(f"result={_name(self.result)}")
        if self.backoff is not None:
            parts.append(f"backoff={_name(self.backoff)}")
        if self.deadline is not None:
            parts.append(f"deadline={self.deadline!r}")
        if self.clock is not None:
            parts.append(f"clock={self.clock!r}")
        return f"retry({', '.join(parts)})"


def _name(value: object) -> str:
    if isinstance(value, (Fixed, Exponential)):
        return repr(value)
    return getattr(value, "__qualname__", None) or repr(value)


@overload
def retry(attempts: Callable[P, R], /) -> Retrying[P, R]: ...


@overload
def retry(
    attempts: int = 3,
    *,
    on: type[Exception] | Iterable[type[Exception]] = (Exception,),
    result: Callable[[Never], bool] | None = None,
    backoff: Callable[[int], float] | None = None,
    deadline: float | None = None,
    clock: Clock | None = None,
) -> Retry: ...


def retry(
    attempts: int | Callable[P, R] = 3,
    *,
    on: type[Exception] | Iterable[type[Exception]] = (Exception,),
    result: Callable[[Never], bool] | None = None,
    backoff: Callable[[int], float] | None = None,
    deadline: float | None = None,
    clock: Clock | None = None,
) -> Retry | Retrying[P, R]:
    """Return a :class:`Retry` policy; used bare as ``@retry``, wrap with the defaults.

    Args:
        attempts: The most attempts per call, ``>= 1`` (default 3).
        on: An exception class or classes to retry (default ``Exception``).
        result: A predicate on return values that calls for another attempt.
        backoff: :func:`fixed`, :func:`exponential` or a callable
            ``attempt -> seconds`` (default: no wait).
        deadline: The most seconds a call may take, or ``None``.
        clock: A clock to pin, or ``None`` for :func:`dyno.clock.get_clock`.

    Raises:
        TypeError: An option has the wrong type.
        ValueError: An option is out of range.
    """
    refuse_method_object("retry", attempts)
    on_classes = check_exception_types("on", on)
    if callable(attempts):
        # retry(fn, on=...) applies its options, as @retry(on=...) would.
        policy = Retry(3, on_classes, result, backoff, deadline, clock)  # type: ignore[arg-type]  # Retry checks on's items are Exceptions
        return policy(attempts)
    return Retry(attempts, on_classes, result, backoff, deadline, clock)  # type: ignore[arg-type]  # Retry checks on's items are Exceptions


# -- the drivers ----------------------------------------------------------------
#
# Retry.next_delay is the engine: "after attempt n, wait how long, or stop?".
# The sync and async wrappers drive it; they differ only in how they call and
# sleep. The sync wrapper makes the first attempt before anything else is set
# up, so a call that succeeds at once costs little more than the call itself
# (the target: 1/50 of tenacity's cost). Retry.call and
# Retry.acall run through the same wrappers, made bare.
#
# Each wrapper keeps its own bookkeeping (errors, delays, attempt count) in
# locals, on purpose: the retry path's target is 2x a hand-written try/except
# loop (benchmarks/bench_retry.py, "two ConnectionErrors, then success"), and
# one shared per-call state object with methods measured 2.4x (2265 ns against
# 1696 ns). Keep the two loops in step.

# What a call leaves for .statistics: (attempts, delays, elapsed).
_Latest = tuple[int, tuple[float, ...], float]
_FIRST_TRY: _Latest = (1, (), 0.0)
_NO_CALL_YET: _Latest = (0, (), 0.0)


class _Discard:
    """Where Retry.call and Retry.acall put the statistics nobody reads."""

    __slots__ = ("value",)
    value: _Latest

    def set(self, value: _Latest) -> None:
        pass


_DISCARD = _Discard()


class _RetryingFunction:
    """What a :class:`Retry` returns when it decorates; see :class:`Retrying`."""

    __slots__ = ("__dict__", "__weakref__", "_fn", "_latest", "_policy")
    __wrapped__: Callable[..., object]
    __qualname__: str
    _latest: object

    def __init__(self, policy: Retry, fn: Callable[..., object]) -> None:
        functools.update_wrapper(cast("Callable[..., object]", self), fn)
        self._policy = policy
        self._fn = fn

    @classmethod
    def _bare(cls, policy: Retry, fn: Callable[..., object]) -> Self:
        """Return a wrapper for one call: no metadata, statistics discarded."""
        wrapper = cls.__new__(cls)
        wrapper._policy = policy
        wrapper._fn = fn
        wrapper._latest = _DISCARD
        return wrapper

    @property
    def retry(self) -> Retry:
        """The policy this function retries with."""
        return self._policy

    def __get__(self, instance: object, owner: type | None = None) -> object:
        if instance is None:
            return self
        return types.MethodType(cast("Callable[..., object]", self), instance)

    def __reduce__(self) -> str:
        # Pickle by qualified name, as the function it replaces would be.
        return self.__qualname__

    def __repr__(self) -> str:
        name = getattr(self, "__qualname__", None) or repr(self._fn)
        module = getattr(self, "__module__", None)
        return f"<retrying {module}.{name} {self._policy!r}>"


class _SyncRetrying(_RetryingFunction):
    __slots__ = ()
    _latest: threading.local | _Discard

    def __init__(self, policy: Retry, fn: Callable[..., object]) -> None:
        super().__init__(policy, fn)
        self._latest = threading.local()

    def __call__(self, *args: object, **kwargs: object) -> object:
        policy, fn = self._policy, self._fn
        deadline, clock, start = policy.deadline, policy.clock, 0.0
        if deadline is not None:
            clock = clock or get_clock()
            start = clock.now()
        value: object = None
        try:
            value = fn(*args, **kwargs)
        except Exception as exc:
            if not isinstance(exc, policy.on):
                self._latest.value = _FIRST_TRY
                raise
            errors = [exc]
        except BaseException:
            self._latest.value = _FIRST_TRY
            raise
        else:
            if policy._accepts is None or not policy._accepts(value):
                self._latest.value = _FIRST_TRY
                return value
            errors = []
        # Retrying. Outside the first attempt's except block, so that later
        # errors carry no __context__ from earlier attempts.
        clock = clock or get_clock()
        retrying_since = clock.now()
        on, predicate, attempts = policy.on, policy._accepts, policy.attempts
        plain = deadline is None and policy.backoff is None
        delays: list[float] = []
        failure: CompoundException | None = None
        failed = bool(errors)
        attempt = 1
        try:
            while True:
                if plain:
                    delay: float | None = 0.0 if attempt < attempts else None
                else:
                    elapsed = 0.0 if deadline is None else clock.now() - start
                    delay = policy._next_delay(attempt, elapsed)
                if delay is None:
                    if failed:
                        failure = make_compound_exception(errors)
                    break
                if delay:
                    clock.sleep(delay)
                    delays.append(delay)
                attempt += 1
                try:
                    value = fn(*args, **kwargs)
                except Exception as exc:
                    if not isinstance(exc, on):
                        raise
                    errors.append(exc)
                    failed = True
                else:
                    if predicate is None or not predicate(value):
                        return value
                    failed = False
        finally:
            self._latest.value = (
                attempt,
                tuple(delays) if delays else (),
                clock.now() - retrying_since,
            )
            # Tracebacks hold this frame: drop its references to the errors, so
            # they are freed by reference counting, not by the cycle collector.
            errors.clear()
        if failure is None:
            return value  # the predicate disliked even the last result: return it anyway
        try:
            raise failure from failure.exceptions[-1]
        finally:
            failure = None

    @property
    def statistics(self) -> RetryStatistics:
        """The latest call's attempts, delays and elapsed time in this thread."""
        return RetryStatistics(*getattr(self._latest, "value", _NO_CALL_YET))


class _AsyncRetrying(_RetryingFunction):
    __slots__ = ()
    _latest: ContextVar[_Latest] | _Discard

    def __init__(self, policy: Retry, fn: Callable[..., object]) -> None:
        super().__init__(policy, fn)
        self._latest = ContextVar(
            f"dyno.retry:{getattr(self, '__qualname__', '?')}", default=_NO_CALL_YET
        )

    async def __call__(self, *args: object, **kwargs: object) -> object:
        policy = self._policy
        fn = cast("Callable[..., Awaitable[object]]", self._fn)
        deadline = policy.deadline
        clock = policy.clock or get_clock()
        start = 0.0 if deadline is None else clock.now()
        retrying_since: float | None = None
        on, predicate = policy.on, policy._accepts
        errors: list[Exception] = []
        delays: list[float] = []
        failure: CompoundException | None = None
        attempt = 0
        value: object = None
        try:
            while True:
                attempt += 1
                try:
                    value = await fn(*args, **kwargs)
                except Exception as exc:
                    if not isinstance(exc, on):
                        raise
                    errors.append(exc)
                    failed = True
                else:
                    if predicate is None or not predicate(value):
                        return value
                    failed = False
                if retrying_since is None:
                    retrying_since = clock.now()
                elapsed = 0.0 if deadline is None else clock.now() - start
                delay = policy._next_delay(attempt, elapsed)
                if delay is None:
                    if failed:
                        failure = make_compound_exception(errors)
                    break
                if delay:
                    await clock.asleep(delay)
                    delays.append(delay)
        finally:
            elapsed = 0.0 if retrying_since is None else clock.now() - retrying_since
            self._latest.set((attempt, tuple(delays), elapsed))
            errors.clear()  # no reference cycles between this frame and the tracebacks
        if failure is None:
            return value  # the predicate disliked even the last result: return it anyway
        try:
            raise failure from failure.exceptions[-1]
        finally:
            failure = None

    # With these, inspect takes the wrapper for a function (a "function-like"
    # object, as Cython's are), so inspect.iscoroutinefunction() and
    # dyno.utils.is_async_callable() are true for it, bound or not, on every
    # Python version.
    __code__ = __call__.__code__
    __defaults__ = None
    __kwdefaults__ = None

    @property
    def statistics(self) -> RetryStatistics:
        """The latest call's attempts, delays and elapsed time in this task."""
        return RetryStatistics(*cast("ContextVar[_Latest]", self._latest).get())
