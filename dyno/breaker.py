"""Circuit breakers, manual fuses and concurrency limiters.

:class:`CircuitBreaker` follows Hystrix: it counts outcomes in a rolling
window split into buckets, opens when enough calls failed (or when
``consecutive`` failures happened in a row), rejects calls with
:class:`Broken` while open, then lets ``probes`` trial calls through
(half-open) and closes again when all of them succeed. It is exact under
threads: half-open admits exactly ``probes`` concurrent calls, and a probe that
never reports back is written off after another ``reset_timeout``.

The breaker is one engine, :meth:`CircuitBreaker.acquire` handing out a
:class:`Ticket` and :meth:`~CircuitBreaker.record_success`,
:meth:`~CircuitBreaker.record_failure` and :meth:`~CircuitBreaker.release_ticket`
settling it; the decorator, the context managers and :meth:`~CircuitBreaker.call`
drive it. Composites such as ``dyno.service`` drive the same engine.

:class:`Breaker` is dyno 0.2's manual fuse, :class:`Limiter` a bulkhead that
bounds concurrent calls. Named breakers are listed in :data:`breakers`, and
:func:`force` pins one open or closed for a ``with`` block.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import itertools
import logging
import math
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from types import CodeType, TracebackType
from typing import TYPE_CHECKING, Final, ParamSpec, TypeVar, cast, final

from dyno import clock as _clock_module
from dyno.clock import Clock, check_clock
from dyno.utils import (
    NamedWeakRegistry,
    check_choice,
    check_decoratable,
    check_exception_types,
    check_int,
    check_number,
    check_optional_number,
    check_type,
    describe,
    is_async_callable,
)

__all__ = [
    "Broken",
    "RateLimited",
    "BreakerState",
    "Breaker",
    "CircuitBreaker",
    "CircuitBreakerConfig",
    "BreakerSnapshot",
    "Ticket",
    "Listener",
    "Limiter",
    "breakers",
    "force",
]

P = ParamSpec("P")
R = TypeVar("R")

_logger = logging.getLogger("dyno.breaker")

_GENERATOR_FLAGS: Final = inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR


def _is_generator_function(fn: object) -> bool:
    """Return True when calling *fn* makes a generator (sync or async) instead of running it."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    code = getattr(fn, "__code__", None)  # functions, and methods through __func__
    return isinstance(code, CodeType) and bool(code.co_flags & _GENERATOR_FLAGS)


def _finite(option: str, value: float, hint: str = "") -> float:
    """Return *value*, or raise ``ValueError`` when it is infinite."""
    if math.isinf(value):
        raise ValueError(f"'{option}' must be finite{hint} (got {describe(value)})")
    return value


def _check_guardable(decorator: str, fn: object) -> None:
    """Refuse what a breaker or limiter cannot guard call by call.

    Raises:
        TypeError: *fn* is not callable, is a classmethod or staticmethod
            object, or is a generator function: its body would run after the
            call returned, so its failures would go uncounted (or unguarded).
    """
    check_decoratable(decorator, fn)
    if _is_generator_function(fn):
        raise TypeError(
            f"Cannot apply @{decorator} to generator function {fn!r}: its body runs after the "
            f"call returns, outside the {decorator}. Guard a function that returns the values "
            "(say, a list), or the code that consumes the generator, instead."
        )


# -- exceptions ----------------------------------------------------------------


class Broken(Exception):
    """Raised instead of calling through an open breaker.

    ``Broken(name, retry_after)``; the attributes read the exception's args.

    Attributes:
        name: The breaker's name (None for an unnamed breaker).
        retry_after: Seconds until the breaker admits its next probe, or None
            when no probe is scheduled (forced open, or a tripped manual fuse).
    """

    if TYPE_CHECKING:
        # Declared for type checkers only: BaseException's C constructor
        # stores the args, which is several times faster than a Python
        # __init__ on the rejection path.
        def __init__(self, name: str | None, retry_after: float | None) -> None: ...

    @property
    def name(self) -> str | None:
        """The breaker's name (None for an unnamed breaker)."""
        return cast("str | None", self.args[0])

    @property
    def retry_after(self) -> float | None:
        """Seconds until the next probe, or None when none is scheduled."""
        return cast("float | None", self.args[1])

    def __str__(self) -> str:
        who = "an unnamed breaker" if self.name is None else f"breaker {self.name!r}"
        if self.retry_after is None:
            return (
                f"Cannot call through {who}: it is open and no probe is scheduled "
                "(retry_after=None). Reset or release it, or handle Broken with a fallback."
            )
        return (
            f"Cannot call through {who}: it is open; the next probe is due in "
            f"{self.retry_after:.3g} s (retry_after={self.retry_after!r}). "
            "Retry after that, or handle Broken with a fallback."
        )


class RateLimited(Exception):
    """Raised when a :class:`Limiter` is full (after waiting up to its timeout).

    Attributes:
        name: The limiter's name (None for an unnamed limiter).
        limit: How many calls the limiter lets run at once.
    """

    name: str | None
    limit: int

    def __init__(self, name: str | None, limit: int) -> None:
        super().__init__(name, limit)
        self.name = name
        self.limit = limit

    def __str__(self) -> str:
        who = "an unnamed limiter" if self.name is None else f"limiter {self.name!r}"
        return (
            f"Cannot enter {who}: all {self.limit} slots are in use (limit={self.limit}). "
            "Retry later, raise the limit, or give the limiter a timeout to wait."
        )


# -- states, config, snapshots, tickets ------------------------------------------


class BreakerState(StrEnum):
    """A breaker's state; each member equals its string value."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    FORCED_OPEN = "forced_open"
    FORCED_CLOSED = "forced_closed"


_CLOSED: Final = BreakerState.CLOSED
_OPEN: Final = BreakerState.OPEN
_HALF_OPEN: Final = BreakerState.HALF_OPEN
_FORCED_OPEN: Final = BreakerState.FORCED_OPEN
_FORCED_CLOSED: Final = BreakerState.FORCED_CLOSED

#: A state-change listener: called as ``fn(breaker, old_state, new_state)``.
Listener = Callable[["Breaker | CircuitBreaker", BreakerState, BreakerState], object]


@dataclass(frozen=True, slots=True)
class CircuitBreakerConfig:
    """The validated options of a :class:`CircuitBreaker` (see its docstring)."""

    failure_ratio: float
    volume: int
    window: float
    buckets: int
    reset_timeout: float
    probes: int
    consecutive: int | None
    slow_call: float | None
    exclude: tuple[type[BaseException], ...]

    @property
    def bucket_width(self) -> float:
        """Seconds covered by one bucket of the rolling window."""
        return self.window / self.buckets


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    """An immutable view of a :class:`CircuitBreaker` at one moment.

    Attributes:
        name: The breaker's name.
        state: The state callers see (forcing included).
        calls: Calls that finished in the rolling window.
        failures: Of those, the ones counted as failed (slow ones included).
        slow_calls: Of the failures, the ones slower than ``slow_call``.
        failure_ratio: ``failures / calls`` (0.0 when there were no calls).
        consecutive_failures: Failures in a row since the last success.
        probes_in_flight: Half-open probes admitted and not yet settled.
        retry_after: Seconds until the next probe while open or half-open
            with every probe slot taken; None otherwise.
    """

    name: str | None
    state: BreakerState
    calls: int
    failures: int
    slow_calls: int
    failure_ratio: float
    consecutive_failures: int
    probes_in_flight: int
    retry_after: float | None

    @property
    def successes(self) -> int:
        """Calls in the window that counted as successes."""
        return self.calls - self.failures


@final
class Ticket:
    """Permission for one call through a :class:`CircuitBreaker`.

    Get one from :meth:`CircuitBreaker.acquire` and settle it exactly once
    with :meth:`~CircuitBreaker.record_success`,
    :meth:`~CircuitBreaker.record_failure` or
    :meth:`~CircuitBreaker.release_ticket`. Reports after the first are
    ignored, so a caller that gave up on an attempt (timed out) can settle it
    as a failure and the attempt's late result changes nothing.
    """

    __slots__ = ("_era", "_probe", "_settled", "_started")

    def __init__(self, era: int, probe: bool, started: float) -> None:
        self._era = era
        self._probe = probe
        self._started = started
        self._settled = False

    @property
    def probe(self) -> bool:
        """True when this ticket holds one of the half-open probe slots."""
        return self._probe

    @property
    def started(self) -> float:
        """Clock time at which the ticket was issued (the call's start)."""
        return self._started

    @property
    def settled(self) -> bool:
        """True once an outcome (or a release) has been reported."""
        return self._settled

    def __repr__(self) -> str:
        return f"<Ticket probe={self._probe} started={self._started!r} settled={self._settled}>"


# -- named breakers --------------------------------------------------------------

_registry: Final[NamedWeakRegistry[Breaker | CircuitBreaker]] = NamedWeakRegistry(
    "breakers", repr_objects=True
)
# Guards the force() stacks and every breaker's _forced. Lock order: this lock,
# then the registry's own, or this lock, then a breaker's.
_forcing_lock = threading.Lock()
_forcings: dict[str, list[tuple[object, BreakerState]]] = {}
_KEEP: Final = object()  # _reforce(): leave the breaker's own forcing as it is

#: Live named breakers (:class:`Breaker` and :class:`CircuitBreaker`) by name.
#: When several live breakers share a name, this maps the name to the newest;
#: :func:`force` applies to all of them. Entries vanish with their breakers.
breakers: Final[Mapping[str, Breaker | CircuitBreaker]] = _registry.view


@contextmanager
def force(name: str, state: str) -> Iterator[None]:
    """Force the breakers called *name* open or closed for the ``with`` block.

    Applies to every live breaker with that name and to any created inside the
    block. While active it takes precedence over the breakers' own forcing
    (``force_open()`` and friends); on exit each breaker is back under the
    enclosing ``force`` for that name if one is still active, else under its
    own forcing (usually none). Blocks may exit in any order.

    Args:
        name: The breakers' name.
        state: ``"open"`` (state reads ``"forced_open"``; calls raise
            :class:`Broken`) or ``"closed"`` (``"forced_closed"``; calls pass).

    Raises:
        TypeError: *name* is not a string.
        ValueError: *state* is neither ``"open"`` nor ``"closed"``.
    """
    check_type("name", name, str)
    check_choice("state", state, ("open", "closed"))
    target = _FORCED_OPEN if state == "open" else _FORCED_CLOSED
    token = object()
    with _forcing_lock:
        _forcings.setdefault(name, []).append((token, target))
        current = _registry.live(name)
    for switch in current:
        switch._reforce()
    del current  # hold no breaker alive through the block
    try:
        yield
    finally:
        with _forcing_lock:
            stack = _forcings[name]
            stack[:] = [entry for entry in stack if entry[0] is not token]
            if not stack:
                del _forcings[name]
            current = _registry.live(name)
        for switch in current:
            switch._reforce()


# -- shared base -------------------------------------------------------------------


class _Switch:
    """What Breaker and CircuitBreaker share: name, registration, forcing, listeners."""

    __slots__ = ("__weakref__", "_forced", "_listeners", "_name", "_own_forcing")

    _name: str | None
    _forced: BreakerState | None  # in effect: force()'s if active, else _own_forcing
    _own_forcing: BreakerState | None  # set by force_open/force_closed/release
    _listeners: tuple[Listener, ...]

    def _setup(self, name: str | None) -> None:
        if name is not None:
            check_type("name", name, str)
        self._name = name
        self._forced = None
        self._own_forcing = None
        self._listeners = ()
        if name is not None:
            with _forcing_lock:  # a force() entered meanwhile sees this breaker, or it sees force()
                _registry.add(name, cast("Breaker | CircuitBreaker", self))
                stack = _forcings.get(name)
                if stack:
                    self._forced = stack[-1][1]

    @property
    def name(self) -> str | None:
        """The breaker's name (None when unnamed)."""
        return self._name

    @property
    def state(self) -> BreakerState:
        """The state callers see (overridden)."""
        raise NotImplementedError

    def add_listener(self, listener: Listener) -> Listener:
        """Call *listener* ``(breaker, old_state, new_state)`` after each state change.

        Listeners run in the thread that caused the change, after the breaker's
        lock is released. An exception from a listener is logged on the
        ``dyno.breaker`` logger and does not affect the breaker or the call.

        Returns:
            *listener*, so this works as a decorator.
        """
        if not callable(listener):
            raise TypeError(f"'listener' must be callable (got {listener!r})")
        self._listeners = (*self._listeners, listener)
        return listener

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling *listener*; a listener never added is ignored."""
        self._listeners = tuple(fn for fn in self._listeners if fn is not listener)

    def _notify(self, old: BreakerState, new: BreakerState) -> None:
        for listener in self._listeners:
            try:
                listener(cast("Breaker | CircuitBreaker", self), old, new)
            except Exception:
                _logger.exception(
                    "Listener %r of %r failed on %s -> %s; the breaker carries on.",
                    listener,
                    self,
                    old.value,
                    new.value,
                )

    def _set_forced(self, forced: BreakerState | None) -> None:
        self._reforce(own=forced)

    def _reforce(self, *, own: object = _KEEP) -> None:
        """Put the forcing in effect: an active :func:`force`'s, else the breaker's own."""
        name = self._name
        with _forcing_lock:  # serialises forcing changes
            if own is not _KEEP:
                self._own_forcing = cast("BreakerState | None", own)
            stack = None if name is None else _forcings.get(name)
            forced = stack[-1][1] if stack else self._own_forcing
            old = self.state
            self._forced = forced
            self._after_forcing()
            new = self.state
        if old is not new and self._listeners:
            self._notify(old, new)

    def _after_forcing(self) -> None:
        """Refresh cached flags after the forcing changed (overridden)."""

    def force_open(self) -> None:
        """Reject every call with :class:`Broken` until :meth:`release` or ``reset``.

        While a :func:`force` block for this breaker's name is active, that
        block's forcing stays in effect; this one applies after it.
        """
        self._set_forced(_FORCED_OPEN)

    def force_closed(self) -> None:
        """Let every call through until :meth:`release` or ``reset`` (see :meth:`force_open`)."""
        self._set_forced(_FORCED_CLOSED)

    def release(self) -> None:
        """Drop the breaker's own forcing and return to normal operation.

        An active :func:`force` block for the breaker's name still applies.
        """
        self._set_forced(None)


# -- the manual fuse ---------------------------------------------------------------


class Breaker(_Switch):
    """A manual fuse (dyno 0.2): trip it to shut calls off, reset it to let them through.

    Useful as a feature switch. Truthy while calls may pass. Usable as a
    decorator (sync and async), as a context manager (``with`` and
    ``async with``), and by name through :data:`breakers` and :func:`force`.

    Args:
        name: Registers the fuse in :data:`breakers` under this name.

    Raises:
        TypeError: *name* is not a string or None.
    """

    __slots__ = ("_tripped",)

    def __init__(self, name: str | None = None) -> None:
        self._tripped = False
        self._setup(name)

    @property
    def state(self) -> BreakerState:
        """``closed``, ``open`` (tripped), ``forced_open`` or ``forced_closed``."""
        forced = self._forced
        if forced is not None:
            return forced
        return _OPEN if self._tripped else _CLOSED

    def trigger(self) -> None:
        """Trip the fuse: calls raise :class:`Broken` until :meth:`reset`."""
        old = self.state
        self._tripped = True
        if self._listeners and old is not self.state:
            self._notify(old, self.state)

    def reset(self) -> None:
        """Mend the fuse and drop its own forcing: calls pass again."""
        old = self.state
        self._tripped = False
        if self._listeners and old is not self.state:
            self._notify(old, self.state)
        self._set_forced(None)

    def check(self) -> None:
        """Return if a call may pass now.

        Raises:
            Broken: The fuse is tripped or forced open (``retry_after`` None).
        """
        forced = self._forced
        if forced is _FORCED_OPEN or (forced is None and self._tripped):
            raise Broken(self._name, None)

    def __bool__(self) -> bool:
        forced = self._forced
        if forced is not None:
            return forced is _FORCED_CLOSED
        return not self._tripped

    def __enter__(self) -> None:
        self.check()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

    async def __aenter__(self) -> None:
        self.check()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Guard *fn* (sync or async): each call first checks the fuse.

        Raises:
            TypeError: *fn* is not callable, is a classmethod or staticmethod
                object (put that decorator above), or is a generator function.
        """
        _check_guardable("breaker", fn)
        check = self.check
        if is_async_callable(fn):
            async_fn = cast("Callable[P, Awaitable[object]]", fn)

            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> object:
                check()
                return await async_fn(*args, **kwargs)

            return cast("Callable[P, R]", async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            check()
            return fn(*args, **kwargs)

        return wrapper

    def __repr__(self) -> str:
        return f"<Breaker name={self._name!r} state={self.state.value!r}>"


# -- the circuit breaker ------------------------------------------------------------

# Tickets held by `with breaker:` blocks, per thread / asyncio task.
_held: ContextVar[tuple[tuple[object, Ticket], ...]] = ContextVar("dyno_breaker_held", default=())


class CircuitBreaker(_Switch):
    """A Hystrix circuit breaker: closed, open, half-open, and forced states.

    **Closed**: calls pass. Outcomes are counted in a rolling ``window`` of
    ``buckets`` buckets, by the time each call finished. The breaker opens
    when at least ``volume`` calls finished in the window and the failed share
    is ``>= failure_ratio``, or when ``consecutive`` calls failed in a row (if
    set). A call raising an ``Exception`` fails, unless it is an instance of
    ``exclude`` (the caller's fault: it counts as a success and still
    propagates). A call slower than ``slow_call`` seconds fails, whatever its
    result.

    **Open**: calls raise :class:`Broken` without calling through until
    ``reset_timeout`` seconds passed; then the breaker goes **half-open** and
    admits up to ``probes`` concurrent probe calls. When ``probes`` probes
    succeeded it closes (window cleared); any failing probe opens it again. If
    no probe settles within ``reset_timeout`` of the latest probe admission,
    the outstanding probes are written off (their late outcomes are ignored)
    and a fresh probe is admitted.

    **Forcing**: :meth:`force_open` rejects everything (``forced_open``),
    :meth:`force_closed` admits everything (``forced_closed``), both on top of
    the normal state machine, which :meth:`release` returns to. While forced
    closed, outcomes are still counted and may open the underlying breaker,
    which shows once released (as in Hystrix).

    A ``BaseException`` that is not an ``Exception`` counts as neither success
    nor failure; a probe slot it held is freed.

    Args:
        name: Registers the breaker in :data:`breakers` and names it in
            :class:`Broken`.
        failure_ratio: Failed share (0 < ratio <= 1) that opens the breaker.
        volume: Calls the window must hold before the ratio applies (>= 1).
        window: Seconds covered by the rolling window (> 0, finite).
        buckets: How many buckets the window is split into (>= 1).
        reset_timeout: Seconds open before probing (>= 0, finite).
        probes: Concurrent half-open probes, all of which must succeed (>= 1).
        consecutive: Failures in a row that open the breaker (>= 1), or None.
        slow_call: Seconds (> 0) after which a call counts as failed, or None.
        exclude: Exception classes that count as successes.
        clock: The clock to use; None reads ``dyno.clock.get_clock()`` at each use.

    Raises:
        TypeError: An option has the wrong type.
        ValueError: An option is out of range.
    """

    __slots__ = (
        "_bucket_end",
        "_calls",
        "_clock",
        "_config",
        "_consecutive",
        "_epoch",
        "_era",
        "_exclude",
        "_fails",
        "_fast",
        "_head",
        "_last_probe_at",
        "_lock",
        "_opened_at",
        "_probes",
        "_probes_ok",
        "_probes_out",
        "_quiet",
        "_ratio",
        "_reset_timeout",
        "_slow_call",
        "_slows",
        "_span",
        "_state",
        "_tick",
        "_tick_base",
        "_total_calls",
        "_total_fails",
        "_total_slows",
        "_trip_consecutive",
        "_volume",
        "_width",
    )

    def __init__(
        self,
        name: str | None = None,
        *,
        failure_ratio: float = 0.5,
        volume: int = 20,
        window: float = 10.0,
        buckets: int = 10,
        reset_timeout: float = 5.0,
        probes: int = 1,
        consecutive: int | None = None,
        slow_call: float | None = None,
        exclude: type[BaseException] | tuple[type[BaseException], ...] = (),
        clock: Clock | None = None,
    ) -> None:
        config = CircuitBreakerConfig(
            failure_ratio=check_number(
                "failure_ratio", failure_ratio, low=0, low_open=True, high=1
            ),
            volume=check_int("volume", volume, low=1),
            window=_finite("window", check_number("window", window, low=0, low_open=True)),
            buckets=check_int("buckets", buckets, low=1),
            reset_timeout=_finite(
                "reset_timeout",
                check_number("reset_timeout", reset_timeout, low=0),
                "; to keep a breaker open until told otherwise, use force_open()",
            ),
            probes=check_int("probes", probes, low=1),
            consecutive=None
            if consecutive is None
            else check_int("consecutive", consecutive, low=1),
            slow_call=check_optional_number("slow_call", slow_call, low=0, low_open=True),
            exclude=check_exception_types("exclude", exclude),
        )
        check_clock("clock", clock)
        self._config = config
        self._clock = clock
        # Options copied to slots: the hot path reads them without a hop.
        self._ratio = config.failure_ratio
        self._volume = config.volume
        self._width = config.bucket_width
        # A clock reading this far before the head bucket's end means the
        # clock was swapped for an earlier one: start the window afresh.
        self._span = config.window + config.bucket_width
        self._reset_timeout = config.reset_timeout
        self._probes = config.probes
        self._trip_consecutive = config.consecutive
        self._slow_call = config.slow_call
        self._exclude = config.exclude
        self._lock = threading.Lock()
        self._state: BreakerState = _CLOSED
        self._era = 0
        self._opened_at = 0.0
        self._last_probe_at = 0.0
        self._probes_out = 0
        self._probes_ok = 0
        self._consecutive = 0
        # Rolling window: a ring of buckets; `_head` is the bucket for clock
        # times in [_epoch * width, _bucket_end). No bucket yet: the first
        # outcome sets the epoch from whatever clock is in use then.
        self._calls = [0] * config.buckets
        self._fails = [0] * config.buckets
        self._slows = [0] * config.buckets
        self._head = 0
        self._epoch = 0
        self._bucket_end = -math.inf
        self._total_calls = 0
        self._total_fails = 0
        self._total_slows = 0
        # Successes on the lock-free fast path: each calls `_tick` (an atomic
        # C-level increment); the locked path folds them into the head bucket.
        # `_tick_base` is the count already folded (plus the folds' own ticks).
        self._tick = itertools.count().__next__
        self._tick_base = 0
        self._fast = True
        self._quiet = 0
        self._setup(name)
        self._refresh()

    # -- public read-only views ----------------------------------------------------

    @property
    def config(self) -> CircuitBreakerConfig:
        """The breaker's validated options."""
        return self._config

    @property
    def state(self) -> BreakerState:
        """The state callers see: a forcing if any, else the breaker's own state.

        Open turns half-open when the next call arrives after ``reset_timeout``,
        not by the clock alone.
        """
        forced = self._forced
        return self._state if forced is None else forced

    # -- the engine ----------------------------------------------------------------

    def _now(self) -> float:
        # dyno.clock's module global, read at each use: get_clock() without the call.
        clock = self._clock
        return (_clock_module._clock if clock is None else clock).now()

    def acquire(self) -> Ticket:
        """Ask to make one call now; return the ticket to settle when it ends.

        Every ticket must be settled once, by :meth:`record_success`,
        :meth:`record_failure` or :meth:`release_ticket`. A half-open probe
        ticket that is never settled holds its slot until written off after
        ``reset_timeout``.

        Raises:
            Broken: The breaker is open (or forced open), or half-open with
                every probe slot taken.
        """
        forced = self._forced
        if forced is None:
            clock = self._clock
            now = (_clock_module._clock if clock is None else clock).now()
            state = self._state
            if state is _CLOSED:
                return Ticket(self._era, False, now)
            if state is _OPEN:
                wait = self._opened_at + self._reset_timeout - now
                if 0 < wait <= self._reset_timeout:
                    raise Broken(self._name, wait)
            return self._acquire_locked(now)
        if forced is _FORCED_OPEN:
            raise Broken(self._name, None)
        return self._acquire_locked(self._now())

    def _acquire_locked(self, now: float) -> Ticket:
        with self._lock:
            old = self.state
            outcome = self._admit(now)
            self._refresh()
            new = self.state
        if old is not new and self._listeners:
            self._notify(old, new)
        if isinstance(outcome, Broken):
            raise outcome
        return outcome

    def _admit(self, now: float) -> Ticket | Broken:
        forced = self._forced
        if forced is _FORCED_OPEN:
            return Broken(self._name, None)
        state = self._state
        if state is _CLOSED:
            return Ticket(self._era, False, now)
        if forced is _FORCED_CLOSED:
            return Ticket(-1, False, now)  # passes through, never counted
        reset_timeout = self._reset_timeout
        if state is _OPEN:
            if now < self._opened_at:  # the clock was swapped for an earlier one
                self._opened_at = now
            wait = self._opened_at + reset_timeout - now
            if wait > 0:
                return Broken(self._name, wait)
            self._state = _HALF_OPEN
            self._era += 1
            self._probes_out = 0
            self._probes_ok = 0
        if self._probes_out + self._probes_ok >= self._probes:
            if now < self._last_probe_at:
                self._last_probe_at = now
            wait = self._last_probe_at + reset_timeout - now
            if wait > 0:
                return Broken(self._name, wait)
            # No probe reported back in time: write the outstanding ones off.
            self._era += 1
            self._probes_out = 0
        self._probes_out += 1
        self._last_probe_at = now
        return Ticket(self._era, True, now)

    def record_success(self, ticket: Ticket) -> None:
        """Report that the call made with *ticket* returned normally.

        A call slower than ``slow_call`` counts as a failure instead.
        Reporting a settled ticket again does nothing.
        """
        clock = self._clock
        now = (_clock_module._clock if clock is None else clock).now()
        slow_call = self._slow_call
        if slow_call is not None and now - ticket._started > slow_call:
            self._settle(ticket, ticket._era, ticket._probe, True, True, now)
        elif ticket._probe:
            self._settle(ticket, ticket._era, True, False, False, now)
        else:
            self._succeed(ticket._era, now, ticket)

    def record_failure(self, ticket: Ticket, exc: BaseException) -> None:
        """Report that the call made with *ticket* raised *exc*.

        An ``exclude`` exception counts as a success (unless the call was
        slow); a ``BaseException`` that is not an ``Exception`` is handled as
        :meth:`release_ticket`. Reporting a settled ticket again does nothing.
        """
        if not isinstance(exc, Exception):
            self.release_ticket(ticket)
            return
        now = self._now()
        slow_call = self._slow_call
        slow = slow_call is not None and now - ticket._started > slow_call
        failed = slow or not isinstance(exc, self._exclude)
        self._settle(ticket, ticket._era, ticket._probe, failed, slow, now)

    def release_ticket(self, ticket: Ticket) -> None:
        """Settle *ticket* without an outcome (the call was interrupted or abandoned).

        Nothing is counted; a half-open probe slot the ticket held is freed.
        """
        with self._lock:
            if ticket._settled:
                return
            ticket._settled = True
            if ticket._probe and ticket._era == self._era and self._state is _HALF_OPEN:
                self._probes_out -= 1

    def _settle(
        self,
        ticket: Ticket | None,
        era: int,
        probe: bool,
        failed: bool,
        slow: bool,
        now: float,
    ) -> None:
        with self._lock:
            if ticket is not None:
                if ticket._settled:
                    return
                ticket._settled = True
            if era != self._era:
                return  # admitted before the last state change: stale
            old = self.state
            state = self._state
            if probe:
                if state is _HALF_OPEN:
                    self._probes_out -= 1
                    if failed:
                        self._open(now)
                    else:
                        self._probes_ok += 1
                        if self._probes_ok >= self._probes:
                            self._close()
            elif state is _CLOSED:
                self._count(failed, slow, now)
                if failed:
                    self._consecutive += 1
                    limit = self._trip_consecutive
                    if (limit is not None and self._consecutive >= limit) or self._ratio_tripped():
                        self._open(now)
                else:
                    self._consecutive = 0
                    if self._total_fails and self._ratio_tripped():
                        self._open(now)
            self._refresh()
            new = self.state
        if old is not new and self._listeners:
            self._notify(old, new)

    def _succeed(self, era: int, now: float, ticket: Ticket | None = None) -> None:
        """Count the success of a call admitted while closed (the common locked path).

        :meth:`_settle` does the same with fewer shortcuts; this one keeps a
        healthy breaker with a failure in its window fast.
        """
        lock = self._lock
        lock.acquire()  # acquire/release: measurably cheaper than `with` here
        try:
            if ticket is not None:
                if ticket._settled:
                    return
                ticket._settled = True
            if era != self._era or self._state is not _CLOSED:
                return
            if now >= self._bucket_end or now < self._bucket_end - self._span:
                self._roll(now)
            self._calls[self._head] += 1
            calls = self._total_calls = self._total_calls + 1
            self._consecutive = 0
            fails = self._total_fails
            if not fails:
                self._quiet = era
                return
            if calls < self._volume or fails / calls < self._ratio:
                return
            self._fold()  # count racing fast-path successes before deciding
            if fails / self._total_calls < self._ratio:
                return
            forced = self._forced
            self._open(now)
            self._refresh()
        finally:
            lock.release()
        if forced is None and self._listeners:
            self._notify(_CLOSED, _OPEN)

    def _fail_fast(self, era: int, exc: Exception) -> None:
        """Settle a fast-path (closed, no slow_call) call that raised *exc*."""
        self._settle(None, era, False, not isinstance(exc, self._exclude), False, self._now())

    def _ratio_tripped(self) -> bool:
        calls = self._total_calls
        return calls >= self._volume and self._total_fails / calls >= self._ratio

    def _open(self, now: float) -> None:
        self._state = _OPEN
        self._era += 1
        self._opened_at = now
        self._probes_out = 0
        self._probes_ok = 0

    def _close(self) -> None:
        self._state = _CLOSED
        self._era += 1
        self._consecutive = 0
        self._probes_out = 0
        self._probes_ok = 0
        self._clear_window()

    def _clear_window(self) -> None:
        self._fold()
        for ring in (self._calls, self._fails, self._slows):
            ring[:] = [0] * len(ring)
        self._total_calls = self._total_fails = self._total_slows = 0

    def _refresh(self) -> None:
        """Recompute the flags the lock-free paths read."""
        closed = self._state is _CLOSED
        self._fast = closed and self._forced is not _FORCED_OPEN
        quiet = closed and not self._total_fails and not self._consecutive
        self._quiet = self._era if quiet else -1

    def _after_forcing(self) -> None:
        with self._lock:
            self._refresh()

    # -- the rolling window (lock held) ------------------------------------------

    def _fold(self) -> None:
        """Move the fast path's success ticks into the head bucket."""
        raw = self._tick()
        fresh = raw - self._tick_base
        self._tick_base = raw + 1  # this read took a tick too
        if fresh:
            self._calls[self._head] += fresh
            self._total_calls += fresh

    def _roll(self, now: float) -> None:
        """Advance the window so the head bucket covers *now*."""
        self._fold()
        width = self._width
        epoch = int(now // width)
        steps = epoch - self._epoch
        count = len(self._calls)
        if steps >= count or steps < 0 or self._bucket_end == -math.inf:
            self._clear_window()
            self._head = 0
        elif steps:
            calls, fails, slows = self._calls, self._fails, self._slows
            head = self._head
            for _ in range(steps):
                head = (head + 1) % count
                self._total_calls -= calls[head]
                self._total_fails -= fails[head]
                self._total_slows -= slows[head]
                calls[head] = fails[head] = slows[head] = 0
            self._head = head
        self._epoch = epoch
        end = (epoch + 1) * width
        self._bucket_end = end if end > now else math.nextafter(now, math.inf)

    def _count(self, failed: bool, slow: bool, now: float) -> None:
        if now >= self._bucket_end or now < self._bucket_end - self._span:
            self._roll(now)
        else:
            self._fold()
        head = self._head
        self._calls[head] += 1
        self._total_calls += 1
        if failed:
            self._fails[head] += 1
            self._total_fails += 1
            if slow:
                self._slows[head] += 1
                self._total_slows += 1

    # -- control -------------------------------------------------------------------

    def trigger(self) -> None:
        """Force the breaker open (the same as :meth:`force_open`)."""
        self.force_open()

    def reset(self) -> None:
        """Drop the breaker's own forcing, clear the window and close the breaker."""
        with self._lock:
            old = self.state
            self._close()
            self._refresh()
            new = self.state
        if old is not new and self._listeners:
            self._notify(old, new)
        self._set_forced(None)

    def snapshot(self) -> BreakerSnapshot:
        """Return the breaker's state and rolling-window counts, as of now."""
        now = self._now()
        with self._lock:
            if now >= self._bucket_end:
                self._roll(now)
            else:
                self._fold()
            self._refresh()
            calls = self._total_calls
            fails = self._total_fails
            state = self.state
            retry_after: float | None = None
            if state is _OPEN:
                retry_after = max(0.0, self._opened_at + self._reset_timeout - now)
            elif state is _HALF_OPEN and self._probes_out + self._probes_ok >= self._probes:
                retry_after = max(0.0, self._last_probe_at + self._reset_timeout - now)
            return BreakerSnapshot(
                name=self._name,
                state=state,
                calls=calls,
                failures=fails,
                slow_calls=self._total_slows,
                failure_ratio=fails / calls if calls else 0.0,
                consecutive_failures=self._consecutive,
                probes_in_flight=self._probes_out if self._state is _HALF_OPEN else 0,
                retry_after=retry_after,
            )

    # -- drivers -------------------------------------------------------------------

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Guard *fn* (sync or async) with the breaker.

        Raises:
            TypeError: *fn* is not callable, is a classmethod or staticmethod
                object (put that decorator above), or is a generator function.
            Broken: From the wrapped function, when the breaker rejects a call.
        """
        _check_guardable("breaker", fn)
        if is_async_callable(fn):
            async_fn = cast("Callable[P, Awaitable[R]]", fn)
            return cast("Callable[P, R]", self._async_wrapper(async_fn))
        if self._slow_call is None:
            return self._fast_wrapper(fn)
        return self._sync_wrapper(fn)

    def _sync_wrapper(self, fn: Callable[P, R]) -> Callable[P, R]:
        acquire = self.acquire
        record_success = self.record_success
        record_failure = self.record_failure
        release_ticket = self.release_ticket

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            ticket = acquire()
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                record_failure(ticket, exc)
                raise
            except BaseException:
                release_ticket(ticket)
                raise
            record_success(ticket)
            return result

        return wrapper

    def _fast_wrapper(self, fn: Callable[P, R]) -> Callable[P, R]:
        # The closed-state path of acquire/record_success, unrolled: no Ticket
        # object, no lock on success unless the window holds failures or a
        # bucket boundary passed. Other states take the ticket engine, inline
        # too: every extra frame an exception crosses costs on the reject path.
        breaker = self
        acquire = self.acquire
        record_success = self.record_success
        record_failure = self.record_failure
        release_ticket = self.release_ticket
        fail_fast = self._fail_fast
        succeed = self._succeed
        tick = self._tick
        pinned = self._clock
        name = self._name
        reset_timeout = self._reset_timeout

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if breaker._fast:
                era = breaker._era
                try:
                    result = fn(*args, **kwargs)
                except Exception as exc:
                    fail_fast(era, exc)
                    raise
                now = (_clock_module._clock if pinned is None else pinned).now()
                if era == breaker._quiet and now < breaker._bucket_end:
                    tick()
                else:
                    succeed(era, now)
                return result
            if breaker._state is _OPEN and breaker._forced is None:
                # acquire()'s open-state rejection, one frame closer to the caller.
                now = (_clock_module._clock if pinned is None else pinned).now()
                wait = breaker._opened_at + reset_timeout - now
                if 0 < wait <= reset_timeout:
                    raise Broken(name, wait)
            ticket = acquire()
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                record_failure(ticket, exc)
                raise
            except BaseException:
                release_ticket(ticket)
                raise
            record_success(ticket)
            return result

        return wrapper

    def _async_wrapper(
        self, fn: Callable[P, Awaitable[R]]
    ) -> Callable[P, Coroutine[object, object, R]]:
        acquire = self.acquire
        record_success = self.record_success
        record_failure = self.record_failure
        release_ticket = self.release_ticket

        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            ticket = acquire()
            try:
                result = await fn(*args, **kwargs)
            except Exception as exc:
                record_failure(ticket, exc)
                raise
            except BaseException:
                release_ticket(ticket)
                raise
            record_success(ticket)
            return result

        return wrapper

    def call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``fn(*args, **kwargs)`` through the breaker and return its result.

        For an async *fn* this returns a coroutine that makes the guarded call
        when awaited.

        Raises:
            TypeError: *fn* is not callable, or is a generator function (nothing
                is counted: the mistake is the caller's).
            Broken: The breaker rejected the call.
        """
        if not callable(fn) or _is_generator_function(fn):
            _check_guardable("breaker", fn)
        if is_async_callable(fn):
            return cast(
                "R", self._async_wrapper(cast("Callable[P, Awaitable[R]]", fn))(*args, **kwargs)
            )
        ticket = self.acquire()
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            self.record_failure(ticket, exc)
            raise
        except BaseException:
            self.release_ticket(ticket)
            raise
        self.record_success(ticket)
        return result

    def __enter__(self) -> Ticket:
        ticket = self.acquire()
        _held.set((*_held.get(), (self, ticket)))
        return ticket

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        held = _held.get()
        for index in range(len(held) - 1, -1, -1):
            if held[index][0] is self:
                ticket = held[index][1]
                _held.set(held[:index] + held[index + 1 :])
                break
        else:
            raise RuntimeError(
                f"Cannot exit {self!r}: this thread or task did not enter it. "
                "Enter and exit a breaker's with-block in the same thread or task."
            )
        if exc is None:
            self.record_success(ticket)
        else:
            self.record_failure(ticket, exc)

    async def __aenter__(self) -> Ticket:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)

    def __repr__(self) -> str:
        snapshot = self.snapshot()
        return (
            f"<CircuitBreaker name={self._name!r} state={snapshot.state.value!r} "
            f"failures={snapshot.failures}/{snapshot.calls}>"
        )


# -- the limiter ----------------------------------------------------------------------


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Limiter:
    """A bulkhead: at most *limit* calls in flight at once, sync and async.

    A call that finds every slot taken waits up to *timeout* seconds for one
    to free up, then raises :class:`RateLimited`. Usable as ``with``,
    ``async with`` and as a decorator for sync and async functions; threads
    and asyncio tasks can share one limiter.

    Waiting blocks for real (a ``threading.Condition`` for threads, a future
    for tasks), woken as soon as a slot frees up. The deadline is computed
    through the clock, so a clock that moves past it ends the wait at the
    next wake-up; a wait that runs its full length for real also ends it, so
    a fake clock that never moves cannot make a caller wait forever. Waiters
    are not served in strict order.

    Args:
        limit: Calls allowed in flight at once (>= 1).
        timeout: Seconds to wait for a free slot (>= 0; 0 fails at once,
            ``math.inf`` waits as long as it takes).
        name: Names the limiter in :class:`RateLimited`.
        clock: The clock to use; None reads ``dyno.clock.get_clock()`` at each use.

    Raises:
        TypeError: An option has the wrong type.
        ValueError: *limit* < 1 or *timeout* < 0.
    """

    __slots__ = (
        "__weakref__",
        "_clock",
        "_condition",
        "_in_flight",
        "_limit",
        "_lock",
        "_name",
        "_timeout",
        "_waiters",
        "_waiting",
    )

    def __init__(
        self,
        limit: int,
        *,
        timeout: float = 0.0,
        name: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._limit = check_int("limit", limit, low=1)
        self._timeout = check_number("timeout", timeout, low=0)
        if name is not None:
            check_type("name", name, str)
        check_clock("clock", clock)
        self._name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._condition = threading.Condition(self._lock)
        self._in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._waiting = 0

    @property
    def limit(self) -> int:
        """Calls allowed in flight at once."""
        return self._limit

    @property
    def timeout(self) -> float:
        """Seconds a caller waits for a free slot."""
        return self._timeout

    @property
    def name(self) -> str | None:
        """The limiter's name."""
        return self._name

    @property
    def in_flight(self) -> int:
        """Calls holding a slot now."""
        return self._in_flight

    @property
    def waiting(self) -> int:
        """Callers (threads and tasks) waiting for a slot now."""
        return self._waiting

    def _now(self) -> float:
        clock = self._clock
        return (_clock_module._clock if clock is None else clock).now()

    def _take(self) -> bool:
        """Take a free slot if there is one (lock held)."""
        if self._in_flight < self._limit:
            self._in_flight += 1
            return True
        return False

    def _wake_one(self) -> None:
        """Wake one thread and one task waiting for a slot (lock held)."""
        self._condition.notify()
        while self._waiters:
            future = self._waiters.popleft()
            if future.done():
                continue
            try:
                future.get_loop().call_soon_threadsafe(_wake, future)
            except RuntimeError:  # that task's loop is closed
                continue
            break

    def acquire(self) -> None:
        """Take a slot, waiting up to ``timeout`` for one.

        Raises:
            RateLimited: No slot freed up in time.
        """
        with self._condition:
            if self._take():
                return
            if self._timeout <= 0:
                raise RateLimited(self._name, self._limit)
            deadline = self._now() + self._timeout
            self._waiting += 1
            try:
                while True:
                    remaining = deadline - self._now()
                    if remaining <= 0:
                        raise RateLimited(self._name, self._limit)
                    # Capped: timeout=inf means wait as long as it takes, and
                    # threading refuses longer waits than TIMEOUT_MAX.
                    woken = self._condition.wait(min(remaining, threading.TIMEOUT_MAX))
                    if self._take():
                        return
                    if not woken:
                        raise RateLimited(self._name, self._limit)
            finally:
                self._waiting -= 1

    async def aacquire(self) -> None:
        """Take a slot, waiting up to ``timeout`` without blocking the event loop.

        Raises:
            RateLimited: No slot freed up in time.
        """
        with self._lock:
            if self._take():
                return
            if self._timeout <= 0:
                raise RateLimited(self._name, self._limit)
            self._waiting += 1
        try:
            await self._await_slot(self._now() + self._timeout)
        finally:
            with self._lock:
                self._waiting -= 1

    async def _await_slot(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            remaining = deadline - self._now()
            with self._lock:
                if self._take():
                    return
                if remaining <= 0:
                    raise RateLimited(self._name, self._limit)
                future: asyncio.Future[None] = loop.create_future()
                self._waiters.append(future)
            try:
                await asyncio.wait_for(future, remaining)
            except BaseException as exc:
                with self._lock:
                    if future in self._waiters:
                        self._waiters.remove(future)
                    if isinstance(exc, TimeoutError) and self._take():
                        return
                    if self._in_flight < self._limit:
                        self._wake_one()  # pass on a wake-up this task may have had
                if isinstance(exc, TimeoutError):
                    raise RateLimited(self._name, self._limit) from None
                raise

    def release(self) -> None:
        """Give a slot back and wake a waiter.

        Raises:
            RuntimeError: No slot is held.
        """
        with self._lock:
            if self._in_flight <= 0:
                raise RuntimeError(
                    f"Cannot release {self!r}: no slot is held. "
                    "Release exactly once per successful acquire."
                )
            self._in_flight -= 1
            self._wake_one()

    def __enter__(self) -> Limiter:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    async def __aenter__(self) -> Limiter:
        await self.aacquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Limit concurrent calls of *fn* (sync or async).

        Raises:
            TypeError: *fn* is not callable, is a classmethod or staticmethod
                object (put that decorator above), or is a generator function.
        """
        _check_guardable("limiter", fn)
        if is_async_callable(fn):
            async_fn = cast("Callable[P, Awaitable[object]]", fn)

            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> object:
                async with self:
                    return await async_fn(*args, **kwargs)

            return cast("Callable[P, R]", async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with self:
                return fn(*args, **kwargs)

        return wrapper

    def __repr__(self) -> str:
        return (
            f"<Limiter name={self._name!r} in_flight={self._in_flight}/{self._limit} "
            f"timeout={self._timeout!r}>"
        )
