"""A simulated flaky dependency: fails on a plan, then answers.

:class:`Flaky` stands in for a network call, a database or any dependency
whose failures the code under test must survive. It fails in one of three
ways, chosen at construction:

* ``fails=N``: the first N calls fail, every later call succeeds;
* ``rate=P``: each call fails with probability P, from a seeded random
  sequence, so the same seed replays the same failures;
* ``schedule="FST"``: a script, one letter per call: ``F`` raises ``exc``,
  ``S`` succeeds and ``T`` raises :class:`TimeoutError`. Past the end of the
  script every call succeeds.

It needs nothing of pytest, so it works in any script or test framework; the
``flaky`` fixture of the pytest plugin makes them seeded from the test's id.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import random
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, Literal, TypedDict, TypeVar, Unpack, overload

from dyno.clock import Clock, check_clock, get_clock
from dyno.utils import check_int, check_number, check_optional_number, check_type, describe

__all__ = ["Flaky", "FlakyFactory", "FlakyOptions", "SCHEDULE_LETTERS", "derive_seed"]

# Covariant: a Flaky[str] is a Flaky[object] (R only comes out of calls).
R = TypeVar("R", covariant=True)
T = TypeVar("T")

#: The letters a schedule is written in: Failure, Success, Timeout.
SCHEDULE_LETTERS = "FST"

_FAIL, _SUCCEED, _TIME_OUT = "F", "S", "T"


class FlakyOptions(TypedDict, total=False):
    """The keywords every :class:`Flaky` constructor overload shares."""

    rate: float | None
    schedule: str | None
    latency: float | None
    seed: int
    clock: Clock | None


class Flaky(Generic[R]):
    """Simulate a dependency that fails on a plan, then returns ``then``.

    Calling the object makes one simulated call: it sleeps ``latency``
    seconds through the dyno clock (when set), then either raises or returns
    ``then`` (or, when ``then`` is callable, ``then(*args, **kwargs)``). With
    ``asynchronous=True`` each call returns an awaitable instead, the latency
    is an asynchronous sleep, and an awaitable that ``then(...)`` returns
    (an ``async def`` function's coroutine) is awaited.

    Pass at most one of ``fails``, ``rate`` and ``schedule``; with none of
    them the dependency fails twice (``fails=2``), then succeeds.

    Args:
        fails: Number of calls that fail before every later call succeeds.
        exc: What a failure raises: an exception class taking a message as
            its one argument (a new instance is raised each time) or an
            instance (raised as that same object each time).
        then: The result of a successful call, or a callable returning it,
            called with the call's arguments.
        rate: Chance, from 0 to 1, that a call fails, drawn from a
            :class:`random.Random` seeded with ``seed``.
        schedule: One letter per call: ``F`` raises ``exc``, ``S``
            succeeds, ``T`` raises :class:`TimeoutError`. Calls past the end
            of the schedule succeed.
        latency: Seconds every call sleeps through the dyno clock first (finite).
        asynchronous: Make calls return awaitables (for ``async`` code).
        seed: Seeds the random sequence of ``rate``.
        clock: The clock to sleep on; ``None`` reads
            :func:`dyno.clock.get_clock` at each call.

    Raises:
        TypeError: An option has the wrong type (``clock`` a clock class, not
            an instance, included), or the ``exc`` class cannot be made from
            a message alone.
        ValueError: An option is out of range (``latency`` infinite
            included), a schedule has letters other than F, S and T, or more
            than one of ``fails``, ``rate`` and ``schedule`` is given.
    """

    __slots__ = (
        "_asynchronous",
        "_calls",
        "_clock",
        "_exc",
        "_fails",
        "_failures",
        "_latency",
        "_lock",
        "_random",
        "_rate",
        "_schedule",
        "_seed",
        "_successes",
        "_then",
        "_then_is_callable",
    )

    @overload
    def __init__(
        self: Flaky[None],
        fails: int | None = None,
        exc: type[BaseException] | BaseException = ConnectionError,
        then: None = None,
        *,
        asynchronous: Literal[False] = False,
        **options: Unpack[FlakyOptions],
    ) -> None: ...
    @overload
    def __init__(
        self: Flaky[T],
        fails: int | None = None,
        exc: type[BaseException] | BaseException = ConnectionError,
        then: Callable[..., T] = ...,
        *,
        asynchronous: Literal[False] = False,
        **options: Unpack[FlakyOptions],
    ) -> None: ...
    @overload
    def __init__(
        self: Flaky[T],
        fails: int | None = None,
        exc: type[BaseException] | BaseException = ConnectionError,
        then: T = ...,
        *,
        asynchronous: Literal[False] = False,
        **options: Unpack[FlakyOptions],
    ) -> None: ...
    @overload
    def __init__(
        self: Flaky[Coroutine[object, object, None]],
        fails: int | None = None,
        exc: type[BaseException] | BaseException = ConnectionError,
        then: None = None,
        *,
        asynchronous: Literal[True],
        **options: Unpack[FlakyOptions],
    ) -> None: ...
    @overload
    def __init__(
        self: Flaky[Coroutine[object, object, T]],
        fails: int | None = None,
        exc: type[BaseException] | BaseException = ConnectionError,
        then: Callable[..., Awaitable[T]] = ...,
        *,
        asynchronous: Literal[True],
        **options: Unpack[FlakyOptions],
    ) -> None: ...
    @overload
    def __init__(
        self: Flaky[Coroutine[object, object, T]],
        fails: int | None = None,
        exc: type[BaseException] | BaseException = ConnectionError,
        then: Callable[..., T] = ...,
        *,
        asynchronous: Literal[True],
        **options: Unpack[FlakyOptions],
    ) -> None: ...
    @overload
    def __init__(
        self: Flaky[Coroutine[object, object, T]],
        fails: int | None = None,
        exc: type[BaseException] | BaseException = ConnectionError,
        then: T = ...,
        *,
        asynchronous: Literal[True],
        **options: Unpack[FlakyOptions],
    ) -> None: ...
    @overload
    def __init__(
        self: Flaky[object],
        fails: int | None = None,
        exc: type[BaseException] | BaseException = ConnectionError,
        then: object = None,
        *,
        asynchronous: bool,
        **options: Unpack[FlakyOptions],
    ) -> None: ...

    def __init__(
        self,
        fails: int | None = None,
        exc: type[BaseException] | BaseException = ConnectionError,
        then: object = None,
        *,
        rate: float | None = None,
        schedule: str | None = None,
        latency: float | None = None,
        asynchronous: bool = False,
        seed: int = 0,
        clock: Clock | None = None,
    ) -> None:
        modes = {
            name: value
            for name, value in (("fails", fails), ("rate", rate), ("schedule", schedule))
            if value is not None
        }
        if len(modes) > 1:
            given = " and ".join(f"{name}={value!r}" for name, value in modes.items())
            raise ValueError(
                f"Cannot combine {given}: each is a different failure plan. "
                "Pass only one of fails, rate and schedule."
            )
        if not modes:
            fails = 2
        self._fails = None if fails is None else check_int("fails", fails, low=0)
        self._rate = None if rate is None else check_number("rate", rate, low=0, high=1)
        self._schedule = None if schedule is None else _check_schedule(schedule)
        self._exc = _check_exc(exc)
        self._latency = check_optional_number("latency", latency, low=0)
        if self._latency == math.inf:
            raise ValueError(
                "Cannot simulate a latency of inf seconds: no call would ever return. "
                "Pass a finite number of seconds instead."
            )
        self._asynchronous = check_type("asynchronous", asynchronous, bool)
        self._seed = check_int("seed", seed)
        self._clock = check_clock("clock", clock)
        self._then = then
        self._then_is_callable = callable(then)
        self._lock = threading.Lock()
        self._random = random.Random(self._seed)
        self._calls = self._failures = self._successes = 0
        if self._asynchronous:
            # An async __call__ lets dyno.utils.is_async_callable (and so retry,
            # breakers, services) see the dependency as the async callable it is.
            self.__class__ = _AsyncFlaky

    # -- counters ------------------------------------------------------------

    @property
    def calls(self) -> int:
        """Number of calls started (each awaited call, when asynchronous)."""
        return self._calls

    @property
    def failures(self) -> int:
        """Number of calls that raised (``F`` and ``T`` steps), counted after the latency."""
        return self._failures

    @property
    def successes(self) -> int:
        """Number of calls that returned, counted after the latency.

        A call interrupted during its latency (cancelled, say, by a timeout)
        counts in :attr:`calls` only.
        """
        return self._successes

    @property
    def asynchronous(self) -> bool:
        """Whether calls return awaitables."""
        return self._asynchronous

    def reset(self) -> None:
        """Zero the counters and restart the plan: the schedule and the random sequence."""
        with self._lock:
            self._calls = self._failures = self._successes = 0
            self._random = random.Random(self._seed)

    # -- calling -------------------------------------------------------------

    def __call__(self, *args: object, **kwargs: object) -> R:
        """Make one simulated call (an awaitable one when ``asynchronous``)."""
        step, number = self._next_step()
        if self._latency:
            self._current_clock().sleep(self._latency)
        return self._outcome(step, number, args, kwargs)  # type: ignore[return-value]  # R is then's type

    async def _acall(self, args: tuple[object, ...], kwargs: dict[str, object]) -> object:
        step, number = self._next_step()
        if self._latency:
            await self._current_clock().asleep(self._latency)
        result = self._outcome(step, number, args, kwargs)
        if inspect.isawaitable(result):
            # An async `then` answers an async dependency's call.
            return await result
        return result

    def _current_clock(self) -> Clock:
        return self._clock if self._clock is not None else get_clock()

    def _next_step(self) -> tuple[str, int]:
        """Number the call and decide, under the lock, what it does."""
        with self._lock:
            self._calls += 1
            number = self._calls
            if self._schedule is not None:
                step = self._schedule[number - 1] if number <= len(self._schedule) else _SUCCEED
            elif self._rate is not None:
                step = _FAIL if self._random.random() < self._rate else _SUCCEED
            else:
                assert self._fails is not None
                step = _FAIL if number <= self._fails else _SUCCEED
        return step, number

    def _outcome(
        self, step: str, number: int, args: tuple[object, ...], kwargs: dict[str, object]
    ) -> object:
        with self._lock:
            if step == _SUCCEED:
                self._successes += 1
            else:
                self._failures += 1
        if step == _TIME_OUT:
            raise TimeoutError(f"simulated timeout on call {number}")
        if step == _FAIL:
            exc = self._exc
            if isinstance(exc, BaseException):
                # Same object every time, but without the previous raise's frames.
                raise exc.with_traceback(None)
            raise exc(f"simulated failure on call {number}")
        if self._then_is_callable:
            return self._then(*args, **kwargs)  # type: ignore[operator]  # callable() checked
        return self._then

    def __repr__(self) -> str:
        if self._schedule is not None:
            plan = f"schedule={self._schedule!r}"
        elif self._rate is not None:
            plan = f"rate={self._rate!r} seed={self._seed!r}"
        else:
            plan = f"fails={self._fails!r}"
        exc = self._exc
        raises = repr(exc) if isinstance(exc, BaseException) else exc.__name__
        extras = ""
        if self._latency:
            extras += f" latency={self._latency!r}"
        if self._asynchronous:
            extras += " asynchronous"
        return (
            f"<Flaky {plan} exc={raises}{extras} calls={self._calls} "
            f"failures={self._failures} successes={self._successes}>"
        )


class _AsyncFlaky(Flaky[R]):
    """A :class:`Flaky` made with ``asynchronous=True``: each call is a coroutine."""

    __slots__ = ()

    # Flaky's overloads make R an Awaitable for these objects; the coroutine is that awaitable.
    async def __call__(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        """Make one simulated call when awaited."""
        return await self._acall(args, kwargs)


class FlakyFactory:
    """Make :class:`Flaky` objects whose random sequences derive from one key.

    The ``flaky`` fixture is one of these, keyed by the test's node id (and
    pytest-randomly's seed when present), so a rerun of the same test replays
    the same failures, while two dependencies made in one test still get
    different sequences. Calling it takes the same arguments as
    :class:`Flaky`; an explicit ``seed=`` wins over the derived one.

    Args:
        key: What the seeds derive from, e.g. a test's node id.
    """

    __slots__ = ("_lock", "_made", "key")

    def __init__(self, key: str = "") -> None:
        #: What every seed is derived from.
        self.key = check_type("key", key, str)
        self._made: list[Flaky[Any]] = []
        self._lock = threading.Lock()

    @property
    def made(self) -> list[Flaky[object]]:
        """Every dependency made so far, oldest first."""
        with self._lock:
            return list(self._made)

    @overload
    def __call__(
        self,
        fails: int | None = None,
        exc: type[BaseException] | BaseException = ConnectionError,
        then: None = None,
        *,
        asynchronous: Literal[False] = False,
        **options: Unpack[FlakyOptions],
    ) -> Flaky[None]: ...
    @overload
    def __call__(
        self,
        fails: int | None = None,
        exc: type[BaseException] | BaseException = ConnectionError,
        then: Callable[..., T] = ...,
        *,
        asynchronous: Literal[False] = False,
        **options: Unpack[FlakyOptions],
    ) -> Flaky[T]: ...
    @overload
    def __call__(
        self,
        fails: int | None = None,
        exc: type[BaseException] | BaseException = ConnectionError,
        then: T = ...,
        *,
        asynchronous: Literal[False] = False,
        **options: Unpack[FlakyOptions],
    ) -> Flaky[T]: ...
    @overload
    def __call__(
        self,
        fails: int | None = None,
        exc: type[BaseException] | BaseException = ConnectionError,
        then: None = None,
        *,
        asynchronous: Literal[True],
        **options: Unpack[FlakyOptions],
    ) -> Flaky[Coroutine[object, object, None]]: ...
    @overload
    def __call__(
        self,
        fails: int | None = None,
        exc: type[BaseException] | BaseException = ConnectionError,
        then: Callable[..., Awaitable[T]] = ...,
        *,
        asynchronous: Literal[True],
        **options: Unpack[FlakyOptions],
    ) -> Flaky[Coroutine[object, object, T]]: ...
    @overload
    def __call__(
        self,
        fails: int | None = None,
        exc: type[BaseException] | BaseException = ConnectionError,
        then: Callable[..., T] = ...,
        *,
        asynchronous: Literal[True],
        **options: Unpack[FlakyOptions],
    ) -> Flaky[Coroutine[object, object, T]]: ...
    @overload
    def __call__(
        self,
        fails: int | None = None,
        exc: type[BaseException] | BaseException = ConnectionError,
        then: T = ...,
        *,
        asynchronous: Literal[True],
        **options: Unpack[FlakyOptions],
    ) -> Flaky[Coroutine[object, object, T]]: ...
    @overload
    def __call__(
        self,
        fails: int | None = None,
        exc: type[BaseException] | BaseException = ConnectionError,
        then: object = None,
        *,
        asynchronous: bool,
        **options: Unpack[FlakyOptions],
    ) -> Flaky[object]: ...

    def __call__(
        self,
        fails: int | None = None,
        exc: type[BaseException] | BaseException = ConnectionError,
        then: object = None,
        *,
        asynchronous: bool = False,
        **options: Unpack[FlakyOptions],
    ) -> Flaky[Any]:
        """Make a :class:`Flaky` (same arguments) seeded from :attr:`key`."""
        with self._lock:
            if "seed" not in options:
                options["seed"] = derive_seed(self.key, len(self._made))
            made: Flaky[Any] = Flaky(fails, exc, then, asynchronous=asynchronous, **options)
            self._made.append(made)
        return made

    def __repr__(self) -> str:
        return f"<FlakyFactory key={self.key!r} made={len(self._made)}>"


def derive_seed(*parts: object) -> int:
    """Return a 64-bit seed from *parts*, the same in every process and run.

    Python's ``hash`` of a string changes between processes, so it cannot
    make reruns (or pytest-xdist workers) repeat a sequence; a digest can.
    """
    text = "\x00".join(str(part) for part in parts)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _check_schedule(schedule: str) -> str:
    text = check_type("schedule", schedule, str)
    for index, letter in enumerate(text):
        if letter not in SCHEDULE_LETTERS:
            raise ValueError(
                f"'schedule' must contain only the letters F (fail), S (succeed) and "
                f"T (time out) (got {describe(schedule)}; {letter!r} at index {index} is "
                "not one of them)"
            )
    return text


def _check_exc(exc: object) -> type[BaseException] | BaseException:
    if isinstance(exc, BaseException):
        return exc
    if not (isinstance(exc, type) and issubclass(exc, BaseException)):
        raise TypeError(f"'exc' must be an exception class or instance (got {describe(exc)})")
    # Found now rather than at the first failing call, where the code under test
    # would see this TypeError instead of the simulated failure.
    try:
        exc("simulated failure")
    except Exception as error:
        name = exc.__qualname__
        raise TypeError(
            f"Cannot raise {name} for simulated failures: {name}('simulated failure') "
            f"raised {error!r}. Pass an instance instead, e.g. exc={name}(...)."
        ) from error
    return exc
