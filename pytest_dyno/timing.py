"""Timing budgets: fail when a block of code takes too long, and show where the time went."""

from __future__ import annotations

from types import TracebackType
from typing import Literal

from dyno.timing import PerfTimer, PrettyTime, current_timer
from dyno.utils import check_number, check_type

__all__ = ["Budget", "BudgetExceeded", "RootTimer", "budget"]


class BudgetExceeded(AssertionError):
    """A block took longer than its budget; the message shows its timing tree.

    An :class:`AssertionError`, so every test framework reports it as a
    failure.

    Attributes:
        timer: The block's timer (stopped), with every ``timed`` interval recorded in it.
        budget: The budget in seconds.
        elapsed: How long the block took, in seconds.
    """

    def __init__(self, timer: PerfTimer, budget: float, what: str = "the block") -> None:
        self.timer = timer
        self.budget = PrettyTime(budget)
        self.elapsed = timer.elapsed
        super().__init__(over_budget_message(timer, budget, what))


def over_budget_message(timer: PerfTimer, budget: float, what: str) -> str:
    """Return the failure message for *timer* running past *budget* seconds."""
    elapsed = timer.elapsed
    return (
        f"{what} took {elapsed}, over its budget of {PrettyTime(budget)} "
        f"by {PrettyTime(float(elapsed) - budget)} (dyno clock). "
        f"Where the time went:\n{timer.render()}"
    )


class Budget:
    """Time a ``with`` block and raise :class:`BudgetExceeded` when it runs too long.

    Made by :func:`budget` or :meth:`RootTimer.budget`. The block runs under
    a child timer of the current timer (or a fresh timer when there is none),
    which is the current timer inside the block, so ``dyno.timing.timed``
    intervals show up in the failure message. The time is read from the dyno
    clock, so a ``FakeClock`` makes budgets exact. A block that raises is
    not checked: its own exception goes through.

    Args:
        seconds: The budget; a block taking longer fails.
        name: The block timer's name.
        parent: The timer to hang the block's timer under when no timer is
            current; None makes a fresh root timer then.

    Raises:
        TypeError: *seconds* is not a number or *name* not a string.
        ValueError: *seconds* is negative or NaN.
    """

    __slots__ = ("_parent", "name", "seconds", "timer")

    def __init__(
        self, seconds: float, *, name: str = "budget", parent: PerfTimer | None = None
    ) -> None:
        #: The budget in seconds.
        self.seconds = check_number("seconds", seconds, low=0)
        #: The name of the block's timer.
        self.name = check_type("name", name, str)
        self._parent = check_type("parent", parent, (PerfTimer, type(None)))
        #: The block's timer, once the block has started.
        self.timer: PerfTimer | None = None

    def __enter__(self) -> PerfTimer:
        parent = current_timer()
        if parent is None:
            parent = self._parent
        timer = PerfTimer(self.name) if parent is None else parent(self.name)
        self.timer = timer
        return timer.__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        __tracebackhide__ = True
        timer = self.timer
        assert timer is not None, "Budget.__exit__ without __enter__"
        timer.__exit__(exc_type, exc, tb)
        if exc is None and float(timer) > self.seconds:
            raise BudgetExceeded(timer, self.seconds, f"budget block {self.name!r}")
        return False

    def __repr__(self) -> str:
        return f"<Budget name={self.name!r} seconds={PrettyTime(self.seconds)}>"


def budget(seconds: float, *, name: str = "budget") -> Budget:
    """Return a context manager that fails when its block takes more than *seconds*.

    ``with budget(0.5): ...`` raises :class:`BudgetExceeded` (an
    ``AssertionError``) when the block took longer on the dyno clock, its
    message showing the block's timing tree. It is the ``dyno_timing``
    fixture's :meth:`RootTimer.budget` for code that cannot use fixtures.

    Raises:
        TypeError: *seconds* is not a number or *name* not a string.
        ValueError: *seconds* is negative or NaN.
    """
    return Budget(seconds, name=name)


class RootTimer(PerfTimer):
    """A test's root timer: a :class:`~dyno.timing.PerfTimer` with :meth:`budget`.

    The ``dyno_timing`` fixture gives one; the plugin runs it during the
    test's call phase.
    """

    __slots__ = ()

    def budget(self, seconds: float, *, name: str = "budget") -> Budget:
        """Return a context manager failing the test when its block takes more than *seconds*.

        The block's timer hangs under the current timer (this one, unless a
        ``timed`` block is open), so the test's tree shows it too.

        Raises:
            TypeError: *seconds* is not a number or *name* not a string.
            ValueError: *seconds* is negative or NaN.
        """
        return Budget(seconds, name=name, parent=self)
