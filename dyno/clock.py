"""One swappable time source for everything in dyno.

Every dyno object that reads the time or waits does it through a
:class:`Clock`. By default that is the process-wide :class:`SystemClock`; a
test swaps in a :class:`FakeClock` with :func:`use_clock` (or pins one on a
single object with its ``clock=`` option) and then runs retries, breaker
reset timeouts, cache expiry, metrics windows and timing budgets without
sleeping.

Objects created with ``clock=None`` look the clock up at each use, not at
construction, so ``use_clock`` also reaches objects made before it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar, runtime_checkable

from dyno.utils import check_number, describe

__all__ = [
    "Clock",
    "SystemClock",
    "FakeClock",
    "get_clock",
    "set_clock",
    "use_clock",
    "now",
    "wall",
    "sleep",
    "asleep",
]


@runtime_checkable
class Clock(Protocol):
    """The time source dyno reads: monotonic time, wall time, and sleeping."""

    def now(self) -> float:
        """Return monotonic seconds (only differences are meaningful)."""
        ...

    def wall(self) -> float:
        """Return seconds since the epoch, for display and records."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for *seconds*."""
        ...

    async def asleep(self, seconds: float) -> None:
        """Suspend the calling task for *seconds* without blocking the loop."""
        ...


C = TypeVar("C", bound=Clock)


class SystemClock:
    """The real clock: :func:`time.monotonic`, :func:`time.time`, real sleeps."""

    __slots__ = ()

    # The C functions themselves, so that hot paths calling ``clock.now()``
    # pay for no Python frame on the default clock.
    now = staticmethod(time.monotonic)
    wall = staticmethod(time.time)

    def sleep(self, seconds: float) -> None:
        """Sleep for real with :func:`time.sleep`."""
        time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        """Sleep for real with :func:`asyncio.sleep`."""
        await asyncio.sleep(seconds)

    def __repr__(self) -> str:
        return "<SystemClock>"


class FakeClock:
    """A clock that moves only when told to, for tests.

    Time advances by :meth:`advance`, or by :meth:`sleep` and :meth:`asleep`,
    which move the clock forward at once and return. Every sleep requested is
    appended to :attr:`sleeps`. Safe to share between threads.

    Args:
        start: The initial value of :meth:`now`.
        epoch: What :meth:`wall` reads when :meth:`now` reads 0; ``wall()`` is
            ``epoch + now()``. Fixed, so records made under a fake clock are
            reproducible.

    Raises:
        TypeError: *start* or *epoch* is not a real number.
    """

    __slots__ = ("_epoch", "_lock", "_now", "sleeps")

    def __init__(self, start: float = 0.0, *, epoch: float = 0.0) -> None:
        self._now = check_number("start", start)
        self._epoch = check_number("epoch", epoch)
        self._lock = threading.Lock()
        #: Every duration passed to :meth:`sleep` or :meth:`asleep`, in order.
        self.sleeps: list[float] = []

    def now(self) -> float:
        """Return the fake monotonic time."""
        return self._now

    def wall(self) -> float:
        """Return ``epoch + now()``."""
        return self._epoch + self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by *seconds* and return the new time.

        Raises:
            ValueError: *seconds* is negative; time only moves forward.
        """
        seconds = _check_duration(seconds, "advance")
        with self._lock:
            self._now += seconds
            return self._now

    def sleep(self, seconds: float) -> None:
        """Record the sleep and advance the clock by *seconds* at once."""
        seconds = _check_duration(seconds, "sleep")
        with self._lock:
            self.sleeps.append(seconds)
            self._now += seconds

    async def asleep(self, seconds: float) -> None:
        """Record the sleep, advance by *seconds*, and yield to the loop once."""
        self.sleep(seconds)
        # Yield once, as a real sleep would, so other tasks get to run.
        await asyncio.sleep(0)

    def __repr__(self) -> str:
        return f"<FakeClock now={self._now!r} sleeps={len(self.sleeps)}>"


def _check_duration(seconds: float, verb: str) -> float:
    seconds = check_number("seconds", seconds)
    if seconds < 0:
        raise ValueError(
            f"Cannot {verb} a FakeClock by {seconds!r} seconds: time only moves forward. "
            "Pass a duration >= 0."
        )
    return seconds


_lock = threading.Lock()
_clock: Clock = SystemClock()


def check_clock(option: str, value: C | None, *, optional: bool = True) -> C | None:
    """Return *value* if it is a clock instance (or None, when *optional*), else raise.

    A clock *class* has the methods too, so the :class:`Clock` protocol alone
    would let ``use_clock(FakeClock)`` through, to fail later at the first
    ``now()``; it is refused here with the fix.

    Raises:
        TypeError: *value* is a class, or lacks the :class:`Clock` methods.
    """
    if isinstance(value, type):
        raise TypeError(
            f"Cannot use the class {value.__qualname__} as {option!r}: a clock is an "
            f"instance. Pass {value.__qualname__}() instead."
        )
    if (value is not None or not optional) and not isinstance(value, Clock):
        raise TypeError(
            f"'{option}' must implement dyno.clock.Clock (now, wall, sleep, asleep) "
            f"(got {describe(value)})"
        )
    return value


def get_clock() -> Clock:
    """Return the process-wide clock (a :class:`SystemClock` unless replaced)."""
    return _clock


def set_clock(clock: Clock) -> Clock:
    """Install *clock* process-wide and return the one it replaces.

    Prefer :func:`use_clock`, which puts the previous clock back.

    Raises:
        TypeError: *clock* lacks the :class:`Clock` methods, or is a class.
    """
    global _clock
    check_clock("clock", clock, optional=False)
    with _lock:
        previous, _clock = _clock, clock
    return previous


@contextmanager
def use_clock(clock: C) -> Iterator[C]:
    """Install *clock* process-wide for the ``with`` block, then restore the previous one.

    Worker threads see the clock too. Nesting works; each exit restores what
    its entry replaced. The ``as`` target is *clock*, with its own type, so
    ``with use_clock(FakeClock()) as clock: clock.advance(1)`` type-checks.

    Raises:
        TypeError: *clock* lacks the :class:`Clock` methods.
    """
    previous = set_clock(clock)
    try:
        yield clock
    finally:
        set_clock(previous)


def now() -> float:
    """Return ``get_clock().now()``."""
    return _clock.now()


def wall() -> float:
    """Return ``get_clock().wall()``."""
    return _clock.wall()


def sleep(seconds: float) -> None:
    """Sleep through the process-wide clock."""
    _clock.sleep(seconds)


async def asleep(seconds: float) -> None:
    """Sleep asynchronously through the process-wide clock."""
    await _clock.asleep(seconds)
