"""Timing trees that show where the time of a request went.

A :class:`PerfTimer` measures one interval. Calling it makes a child timer,
:meth:`PerfTimer.mark` records an instant, and ``str(timer)`` renders the
whole tree, aligned::

    with PerfTimer("request") as request:
        with request("db"):
            ...
        request.mark("cache-miss")

Application code deep in the call stack does not need the timer passed down:
:func:`timed` records a child interval on :func:`current_timer` (a context
variable, so concurrent threads and asyncio tasks keep separate trees) and
does nothing at all when no timer is active.

Every time is read through :mod:`dyno.clock`, so a ``FakeClock`` makes trees
exact and reproducible.
"""

from __future__ import annotations

import functools
import inspect
import math
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, ParamSpec, TypedDict, TypeGuard, TypeVar, cast, overload

from dyno.clock import Clock, check_clock, get_clock
from dyno.utils import (
    check_decoratable,
    check_type,
    describe,
    is_async_callable,
    refuse_method_object,
)

__all__ = [
    "PrettyTime",
    "PerfTimer",
    "Mark",
    "ResourceUsage",
    "TimingDict",
    "CpuDict",
    "is_mark",
    "is_interval",
    "timed",
    "Timed",
    "current_timer",
    "use_timer",
    "mark",
]

P = ParamSpec("P")
R = TypeVar("R")

_NoneType = type(None)

# -- PrettyTime ----------------------------------------------------------------

# (smallest magnitude shown in the unit, multiplier, suffix), largest unit first.
_UNITS = ((1.0, 1.0, "S"), (1e-3, 1e3, "mS"), (1e-6, 1e6, "uS"), (0.0, 1e9, "nS"))


class PrettyTime(float):
    """Seconds, as a float that prints in the largest unit that keeps it >= 1.

    ``str`` gives one decimal and a unit suffix, as dyno 0.2 did:
    ``"3.0S"``, ``"12.3mS"``, ``"3.0uS"``, ``"3.0nS"``. The decimal is
    rounded half-to-even (Python's ``format``); a value that rounds up to
    1000 of a unit is shown in the next unit up (``0.00099996`` is
    ``"1.0mS"``, not ``"1000.0uS"``). Zero is ``"0.0S"``; negative values
    keep their sign; anything below a nanosecond is shown in nanoseconds.
    Arithmetic gives plain floats.
    """

    __slots__ = ()

    def __str__(self) -> str:
        value = float(self)
        size = abs(value)
        if size == 0 or not math.isfinite(size):
            return f"{value:.1f}S"
        index = next(i for i, (floor, _, _) in enumerate(_UNITS) if size >= floor)
        if index and round(size * _UNITS[index][1], 1) >= 1000:
            index -= 1
        _, scale, suffix = _UNITS[index]
        return f"{value * scale:.1f}{suffix}"

    def __format__(self, format_spec: str) -> str:
        return str(self) if not format_spec else format(float(self), format_spec)

    def __repr__(self) -> str:
        return f"PrettyTime({float(self)!r})"


# -- resource usage ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResourceUsage:
    """CPU time the process used while an interval ran (``resource.getrusage``).

    Attributes:
        user: Seconds of user-mode CPU time.
        system: Seconds of kernel-mode CPU time.
    """

    user: float
    system: float

    @property
    def cpu(self) -> PrettyTime:
        """Return user + system CPU seconds."""
        return PrettyTime(self.user + self.system)


if sys.platform == "win32":  # pragma: no cover  # Windows has no resource module

    def _read_usage() -> tuple[float, float] | None:
        return None

else:
    import resource

    def _read_usage() -> tuple[float, float] | None:
        # RUSAGE_SELF (the whole process), not RUSAGE_THREAD: a timer may be
        # stopped on another thread than it started on.
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return (usage.ru_utime, usage.ru_stime)


# -- the current timer ---------------------------------------------------------

_current: ContextVar[PerfTimer | None] = ContextVar("dyno.timing.current", default=None)


def current_timer() -> PerfTimer | None:
    """Return the timer of the innermost active ``with timer:`` block, or None.

    The value is a context variable: each thread starts with none, and each
    asyncio task sees what was current when it was created, plus its own
    changes.
    """
    return _current.get()


@contextmanager
def use_timer(timer: PerfTimer | None) -> Iterator[PerfTimer | None]:
    """Make *timer* the current timer for the block without starting or stopping it.

    Use it to hand a running timer to a worker thread (threads start with no
    current timer), or with None to stop :func:`timed` recording for a while.

    Raises:
        TypeError: *timer* is neither a :class:`PerfTimer` nor None.
    """
    check_type("timer", timer, (PerfTimer, _NoneType))
    token = _current.set(timer)
    try:
        yield timer
    finally:
        _current.reset(token)


# -- JSON shape ----------------------------------------------------------------


class CpuDict(TypedDict):
    """CPU seconds used during an interval, in :meth:`PerfTimer.as_dict`."""

    user: float
    system: float


class TimingDict(TypedDict):
    """One event of :meth:`PerfTimer.as_dict`; intervals and marks share the keys.

    Keys:
        kind: ``"interval"`` or ``"mark"``.
        name, description: As given (strings or None).
        start: Seconds from the start of the timer ``as_dict`` was called on
            (None when never started).
        duration: Seconds (so far, when running; 0.0 for a mark; None when
            never started).
        running: True while an interval is started and not stopped.
        cpu: Process CPU seconds during the interval, or None (marks,
            platforms without ``resource``, timers never started).
        children: The child events in the order they were made.
    """

    kind: Literal["interval", "mark"]
    name: str | None
    description: str | None
    start: float | None
    duration: float | None
    running: bool
    cpu: CpuDict | None
    children: list[TimingDict]


# -- marks and timers ----------------------------------------------------------


class Mark:
    """An instant event on a timer, made by :meth:`PerfTimer.mark`.

    Attributes:
        name: Its name, or None.
        description: Free text, or None.
        time: The clock's ``now()`` when it was recorded.
        parent: The timer it was recorded on.
    """

    __slots__ = ("description", "name", "parent", "time")

    def __init__(
        self, name: str | None, description: str | None, time: float, parent: PerfTimer
    ) -> None:
        self.name = name
        self.description = description
        self.time = time
        self.parent = parent

    @property
    def offset(self) -> PrettyTime | None:
        """Return seconds from the parent's start to the mark (None if the parent never started)."""
        start = self.parent.start_time
        return None if start is None else PrettyTime(self.time - start)

    def __float__(self) -> float:
        """Return 0.0: a mark is an instant."""
        return 0.0

    def as_dict(self) -> TimingDict:
        """Return the mark as JSON-ready data, its ``start`` relative to its parent's start."""
        start = self.parent.start_time
        return self._as_dict(self.time if start is None else start)

    def _as_dict(self, origin: float) -> TimingDict:
        return {
            "kind": "mark",
            "name": self.name,
            "description": self.description,
            "start": self.time - origin,
            "duration": 0.0,
            "running": False,
            "cpu": None,
            "children": [],
        }

    def __repr__(self) -> str:
        offset = self.offset
        where = "" if offset is None else f" offset={offset}"
        return f"<Mark name={self.name!r}{where}>"


_transition_lock = threading.Lock()


class PerfTimer:
    """A timed interval with child intervals and marks: a timing tree.

    A timer is started once and stopped once. Inside ``with timer:`` it runs
    and is the :func:`current_timer`, so :func:`timed` code records under it;
    on exit it stops (unless already stopped) and the previous current timer
    returns. Calling a timer makes a child (not started): ``with
    timer("db"):`` times a step. Children and marks may be added from any
    thread.

    Iterating yields the timer and every descendant (marks included), in
    pre-order; ``len`` counts them. ``float(timer)`` is its duration in
    seconds: so far while running, 0.0 before it starts. :attr:`elapsed` is
    the same as a :class:`PrettyTime`, for budgets and messages.

    Args:
        name: The timer's name, shown in the tree.
        description: Free text shown after the timings.
        clock: The clock to read; default the dyno clock, looked up at each
            reading. Children share it.
        usage: Measure process CPU time (:attr:`usage`). Each reading is a
            ``getrusage`` call (about 1 us); pass False to skip them in hot
            code. Children share the setting.

    Raises:
        TypeError: *name* or *description* is not a string or None, *clock*
            is not a :class:`~dyno.clock.Clock`, or *usage* is not a bool.
    """

    __slots__ = (
        "__weakref__",
        "_children",
        "_clock",
        "_owner",
        "_start",
        "_stop",
        "_token",
        "_track_usage",
        "_usage_start",
        "_usage_stop",
        "description",
        "name",
        "parent",
    )

    def __init__(
        self,
        name: str | None = None,
        description: str | None = None,
        *,
        clock: Clock | None = None,
        usage: bool = True,
    ) -> None:
        check_type("name", name, (str, _NoneType))
        check_type("description", description, (str, _NoneType))
        check_clock("clock", clock)
        check_type("usage", usage, bool)
        self._init(name, description, clock, usage, None)

    def _init(
        self,
        name: str | None,
        description: str | None,
        clock: Clock | None,
        usage: bool,
        parent: PerfTimer | None,
    ) -> None:
        #: The timer's name, or None.
        self.name = name
        #: Free text about the interval, or None.
        self.description = description
        #: The timer this one is a child of, or None for a root.
        self.parent = parent
        self._clock = clock
        self._track_usage = usage
        self._children: list[PerfTimer | Mark] = []
        self._start: float | None = None
        self._stop: float | None = None
        self._usage_start: tuple[float, float] | None = None
        self._usage_stop: tuple[float, float] | None = None
        self._token: Token[PerfTimer | None] | None = None
        self._owner: Timed | None = None

    # -- reading the clock --

    def _now(self) -> float:
        clock = self._clock
        return (clock if clock is not None else get_clock()).now()

    # -- lifecycle --

    def start(self) -> PerfTimer:
        """Start the interval now and return the timer.

        Raises:
            ValueError: The timer was already started.
        """
        usage = _read_usage() if self._track_usage else None
        now = self._now()
        with _transition_lock:
            if self._start is not None:
                state = "running" if self._stop is None else "stopped"
                raise ValueError(
                    f"Cannot start {self._label()}: it was already started (it is {state}). "
                    "Start each timer once; make a new one, e.g. parent('name'), instead."
                )
            self._start = now
            self._usage_start = usage
        return self

    def stop(self) -> PerfTimer:
        """Stop the interval now and return the timer.

        Raises:
            ValueError: The timer was never started, or was already stopped.
        """
        now = self._now()
        usage = _read_usage() if self._track_usage else None
        with _transition_lock:
            if self._start is None:
                raise ValueError(
                    f"Cannot stop {self._label()}: it was never started. Call start() first."
                )
            if self._stop is not None:
                raise ValueError(
                    f"Cannot stop {self._label()}: it was already stopped. Stop each timer once."
                )
            self._stop = now
            self._usage_stop = usage
        return self

    def _stop_if_running(self) -> None:
        now = self._now()
        usage = _read_usage() if self._track_usage else None
        with _transition_lock:
            if self._start is not None and self._stop is None:
                self._stop = now
                self._usage_stop = usage

    def _begin(self) -> Token[PerfTimer | None]:
        self.start()
        return _current.set(self)

    def _end(self, token: Token[PerfTimer | None]) -> None:
        self._stop_if_running()
        try:
            _current.reset(token)
        except ValueError:
            # Exited in another context than it was entered in (say an async
            # fixture's teardown, run in another task): the token does not
            # apply here, so undo by hand what entering left visible here.
            if _current.get() is self:
                previous = token.old_value
                _current.set(None if previous is Token.MISSING else previous)

    def __enter__(self) -> PerfTimer:
        """Start the timer and make it the current timer.

        Raises:
            ValueError: The timer was already started; use :func:`use_timer`
                to make a running timer current.
        """
        self._token = self._begin()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        token, self._token = self._token, None
        if token is None:
            self._stop_if_running()
        else:
            self._end(token)

    async def __aenter__(self) -> PerfTimer:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # -- building the tree --

    def __call__(self, name: str | None = None, description: str | None = None) -> PerfTimer:
        """Make and return a child timer (not started yet).

        Raises:
            TypeError: *name* or *description* is not a string or None.
        """
        check_type("name", name, (str, _NoneType))
        check_type("description", description, (str, _NoneType))
        return self._child(name, description)

    def _child(self, name: str | None, description: str | None) -> PerfTimer:
        child = PerfTimer.__new__(PerfTimer)
        child._init(name, description, self._clock, self._track_usage, self)
        # list.append is atomic, so threads and tasks may add children concurrently.
        self._children.append(child)
        return child

    def mark(self, name: str | None = None, description: str | None = None) -> Mark:
        """Record an instant event now and return it.

        Raises:
            TypeError: *name* or *description* is not a string or None.
        """
        check_type("name", name, (str, _NoneType))
        check_type("description", description, (str, _NoneType))
        event = Mark(name, description, self._now(), self)
        self._children.append(event)
        return event

    # -- reading --

    @property
    def start_time(self) -> float | None:
        """Return the clock's ``now()`` at start, or None before it starts."""
        return self._start

    @property
    def stop_time(self) -> float | None:
        """Return the clock's ``now()`` at stop, or None before it stops."""
        return self._stop

    @property
    def state(self) -> Literal["pending", "running", "stopped"]:
        """Return ``"pending"`` (never started), ``"running"`` or ``"stopped"``."""
        if self._start is None:
            return "pending"
        return "running" if self._stop is None else "stopped"

    @property
    def running(self) -> bool:
        """Return True between start and stop."""
        return self._start is not None and self._stop is None

    @property
    def children(self) -> tuple[PerfTimer | Mark, ...]:
        """Return the direct children (timers and marks) in the order they were made."""
        return tuple(self._children)

    @property
    def elapsed(self) -> PrettyTime:
        """Return the duration so far (see ``float(timer)``) as a :class:`PrettyTime`."""
        return PrettyTime(float(self))

    @property
    def usage(self) -> ResourceUsage | None:
        """Return the process CPU time used during the interval (so far, when running).

        None before the timer starts, when made with ``usage=False``, and on
        platforms without ``resource.getrusage`` (Windows).
        """
        begin = self._usage_start
        if begin is None:
            return None
        end = self._usage_stop if self._stop is not None else _read_usage()
        if end is None:  # pragma: no cover  # only without resource.getrusage
            return None
        return ResourceUsage(user=end[0] - begin[0], system=end[1] - begin[1])

    def __float__(self) -> float:
        """Return the duration in seconds: so far while running, 0.0 before start."""
        start = self._start
        if start is None:
            return 0.0
        stop = self._stop
        return (stop if stop is not None else self._now()) - start

    def __iter__(self) -> Iterator[PerfTimer | Mark]:
        """Yield this timer and every descendant, marks included, in pre-order."""
        stack: list[PerfTimer | Mark] = [self]
        while stack:
            event = stack.pop()
            yield event
            if isinstance(event, PerfTimer):
                stack.extend(reversed(tuple(event._children)))

    def __len__(self) -> int:
        """Return the number of events iteration yields (this timer included)."""
        return sum(1 for _ in self)

    def __bool__(self) -> bool:
        return True

    # -- output --

    def as_dict(self) -> TimingDict:
        """Return the tree as JSON-ready data (see :class:`TimingDict`).

        Every ``start`` is in seconds from this timer's start (or, if it never
        started, from the earliest time recorded in the tree).
        """
        return self._as_dict(self._origin())

    def _as_dict(self, origin: float) -> TimingDict:
        start = self._start
        usage = self.usage
        return {
            "kind": "interval",
            "name": self.name,
            "description": self.description,
            "start": None if start is None else start - origin,
            "duration": None if start is None else float(self),
            "running": self.running,
            "cpu": None if usage is None else {"user": usage.user, "system": usage.system},
            "children": [child._as_dict(origin) for child in tuple(self._children)],
        }

    def _origin(self) -> float:
        if self._start is not None:
            return self._start
        times = [event.time if isinstance(event, Mark) else event._start for event in self]
        return min((time for time in times if time is not None), default=0.0)

    def render(self, *, cpu: bool = False) -> str:
        """Return the tree as aligned text: one line per event.

        Each interval shows its name (indented under its parent), its
        duration and its start offset from this timer's start (``+1.0mS``);
        each mark shows ``* name`` and its offset. Descriptions and states
        (``running``, ``not started``) follow. With *cpu*, a column gives the
        process CPU time each interval used.
        """
        origin = self._origin()
        rows: list[list[str]] = []
        self._rows(origin, "", "", rows, cpu)
        widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
        lines = []
        for row in rows:
            cells = [row[0].ljust(widths[0])]
            cells.extend(
                cell.rjust(width) for cell, width in zip(row[1:-1], widths[1:], strict=True)
            )
            if row[-1]:
                cells.append(row[-1])
            lines.append("  ".join(cells).rstrip())
        return "\n".join(lines)

    def _rows(self, origin: float, first: str, rest: str, rows: list[list[str]], cpu: bool) -> None:
        notes = [self.description] if self.description else []
        start = self._start
        if start is None:
            duration = offset = "-"
            notes.append("(not started)")
        else:
            duration = str(self.elapsed)
            offset = f"+{PrettyTime(start - origin)}"
            if self._stop is None:
                notes.append("(running)")
        row = [first + _name(self.name), duration, offset]
        if cpu:
            usage = self.usage
            row.append("" if usage is None else f"cpu {usage.cpu}")
        row.append("  ".join(notes))
        rows.append(row)
        children = tuple(self._children)
        for index, child in enumerate(children):
            last = index == len(children) - 1
            branch = rest + ("└── " if last else "├── ")
            below = rest + ("    " if last else "│   ")
            if isinstance(child, PerfTimer):
                child._rows(origin, branch, below, rows, cpu)
            else:
                mark_row = [
                    branch + "* " + _name(child.name),
                    "",
                    f"+{PrettyTime(child.time - origin)}",
                ]
                if cpu:
                    mark_row.append("")
                mark_row.append(child.description or "")
                rows.append(mark_row)

    def __str__(self) -> str:
        return self.render()

    def _label(self) -> str:
        return "unnamed timer" if self.name is None else f"timer {self.name!r}"

    def __repr__(self) -> str:
        return (
            f"<PerfTimer name={self.name!r} state={self.state!r} "
            f"elapsed={self.elapsed} children={len(self._children)}>"
        )


def _name(name: str | None) -> str:
    return "(unnamed)" if name is None else name


def is_mark(event: object) -> TypeGuard[Mark]:
    """Return True if *event* is a :class:`Mark` (an instant)."""
    return isinstance(event, Mark)


def is_interval(event: object) -> TypeGuard[PerfTimer]:
    """Return True if *event* is a :class:`PerfTimer` (an interval)."""
    return isinstance(event, PerfTimer)


def mark(name: str | None = None, description: str | None = None) -> Mark | None:
    """Record a mark on the current timer and return it; do nothing (None) without one.

    Raises:
        TypeError: *name* or *description* is not a string or None.
    """
    timer = _current.get()
    if timer is None:
        return None
    return timer.mark(name, description)


# -- timed -----------------------------------------------------------------------


class Timed:
    """Records a child interval on the current timer, if there is one.

    Made by :func:`timed`; see there. An instance holds only its name and
    description, so it may be shared, nested and used from many threads.
    """

    __slots__ = ("description", "name")

    def __init__(self, name: str | None = None, description: str | None = None) -> None:
        #: The child interval's name (None: the decorated function's qualified name).
        self.name = check_type("name", name, (str, _NoneType))
        #: The child interval's description.
        self.description = check_type("description", description, (str, _NoneType))

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Wrap *fn* so each call is a child interval of the current timer.

        Raises:
            TypeError: *fn* is not callable, is a generator function (a
                generator runs after the call returns; time the loop that
                consumes it with ``with timed(...)`` instead), or is a
                staticmethod or classmethod object (put that decorator above).
        """
        check_decoratable("timed", fn)
        if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
            raise TypeError(
                f"Cannot time generator function {fn!r}: its body runs after the call "
                "returns. Use `with timed(...):` around the loop that consumes it instead."
            )
        name = self.name if self.name is not None else getattr(fn, "__qualname__", repr(fn))
        description = self.description
        # Bound once: the no-timer path is one context-variable read and a call.
        get = _current.get

        if is_async_callable(fn):
            async_fn = cast(Callable[P, Coroutine[object, object, object]], fn)

            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> object:
                parent = get()
                if parent is None:
                    return await async_fn(*args, **kwargs)
                child = parent._child(name, description)
                token = child._begin()
                try:
                    return await async_fn(*args, **kwargs)
                finally:
                    child._end(token)

            return cast(Callable[P, R], async_wrapper)

        def timed_call(parent: PerfTimer, /, *args: P.args, **kwargs: P.kwargs) -> R:
            child = parent._child(name, description)
            token = child._begin()
            try:
                return fn(*args, **kwargs)
            finally:
                child._end(token)

        exact = _exact_wrapper(fn, get, timed_call)
        if exact is not None:
            return functools.wraps(fn)(exact)

        positional = cast("Callable[..., R]", fn)

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            parent = get()
            if parent is None:
                # Skipping the empty-dict unpacking saves a sixth of the call's cost.
                return fn(*args, **kwargs) if kwargs else positional(*args)
            return timed_call(parent, *args, **kwargs)

        return wrapper

    def __enter__(self) -> PerfTimer | None:
        """Start a child of the current timer and make it current; return it (or None)."""
        parent = _current.get()
        if parent is None:
            return None
        child = parent._child(self.name, self.description)
        child._owner = self
        child.__enter__()
        return child

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # The child this block started is the current timer again by now (blocks nest).
        child = _current.get()
        if child is not None and child._owner is self:
            child._owner = None
            child.__exit__(exc_type, exc, tb)

    async def __aenter__(self) -> PerfTimer | None:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __repr__(self) -> str:
        return f"<Timed name={self.name!r}>"


_PREFIX = "_dyno_"
_KINDS = inspect.Parameter


def _exact_wrapper(
    fn: Callable[P, R],
    get: Callable[[], PerfTimer | None],
    timed_call: Callable[..., R],
) -> Callable[P, R] | None:
    """Return a wrapper with *fn*'s own parameters, or None when that is not possible.

    A ``*args, **kwargs`` wrapper spends most of the no-timer path packing
    and unpacking arguments; a wrapper compiled with the function's own
    parameter list (as attrs and dataclasses compile their methods) passes
    them straight on, which keeps ``@timed`` within the issue's 3x of a bare
    call. Defaults are the function's own default objects, passed on
    explicitly, so the function receives exactly what it would have.
    """
    if not inspect.isfunction(fn) or "__signature__" in vars(fn):
        return None
    try:
        parameters = list(inspect.signature(fn, follow_wrapped=False).parameters.values())
    except (TypeError, ValueError):  # pragma: no cover  # plain functions always have one
        return None
    namespace: dict[str, object] = {
        f"{_PREFIX}fn": fn,
        f"{_PREFIX}get": get,
        f"{_PREFIX}timed": timed_call,
    }
    last_positional_only = [p for p in parameters if p.kind is _KINDS.POSITIONAL_ONLY][-1:]
    declared: list[str] = []
    passed: list[str] = []
    for index, parameter in enumerate(parameters):
        name = parameter.name
        if name.startswith(_PREFIX):
            return None
        text = name
        if parameter.default is not parameter.empty:
            namespace[f"{_PREFIX}default{index}"] = parameter.default
            text = f"{name}={_PREFIX}default{index}"
        kind = parameter.kind
        if kind is _KINDS.VAR_POSITIONAL:
            declared.append(f"*{name}")
            passed.append(f"*{name}")
        elif kind is _KINDS.VAR_KEYWORD:
            declared.append(f"**{name}")
            passed.append(f"**{name}")
        elif kind is _KINDS.KEYWORD_ONLY:
            if not any(item.startswith("*") for item in declared):
                declared.append("*")
            declared.append(text)
            passed.append(f"{name}={name}")
        else:
            declared.append(text)
            passed.append(name)
            if [parameter] == last_positional_only:
                declared.append("/")
    arguments = ", ".join(passed)
    source = (
        f"def {_PREFIX}wrapper({', '.join(declared)}):\n"
        f"    {_PREFIX}parent = {_PREFIX}get()\n"
        f"    if {_PREFIX}parent is None:\n"
        f"        return {_PREFIX}fn({arguments})\n"
        f"    return {_PREFIX}timed({_PREFIX}parent, {arguments})\n"
    )
    # The source holds only the function's parameter names and our own names.
    exec(compile(source, "<dyno.timing.timed wrapper>", "exec"), namespace)
    return cast(Callable[P, R], namespace[f"{_PREFIX}wrapper"])


@overload
def timed(name: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def timed(name: str | None = None, *, description: str | None = None) -> Timed: ...


def timed(
    name: str | Callable[P, R] | None = None, *, description: str | None = None
) -> Timed | Callable[P, R]:
    """Record a child interval on the current timer; do nothing when there is none.

    Use it as a decorator, bare (``@timed``, named after the function's
    qualified name) or called (``@timed("db")``), on sync and ``async``
    functions and methods, or as a context manager (``with timed("db"):``,
    ``async with``, which gives the child timer, or None). Inside, the child
    is the current timer, so ``timed`` calls nest. Without a current timer
    the wrapped function is called straight through, at the cost of one
    context-variable read.

    Args:
        name: The interval's name (or, used bare, the function to decorate).
        description: Free text shown in the tree.

    Returns:
        A :class:`Timed`, or the wrapped function when used bare.

    Raises:
        TypeError: *name* is neither a string, None, nor a function.
    """
    if name is None or isinstance(name, str):
        return Timed(name, description)
    refuse_method_object("timed", name)
    if not callable(name):
        raise TypeError(
            "'name' must be a string or None, or timed must decorate a function "
            f"(got {describe(name)})"
        )
    return Timed(None, description)(name)
