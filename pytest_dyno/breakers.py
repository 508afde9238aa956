"""Force named circuit breakers for a test, and put everything back afterwards."""

from __future__ import annotations

import threading
from contextlib import ExitStack
from types import TracebackType
from typing import Literal

from dyno.breaker import breakers, force
from dyno.utils import check_type

__all__ = ["BreakerControl", "forced_breakers"]


class BreakerControl:
    """Force named breakers open or closed until :meth:`release_all` (or the ``with`` exit).

    Forcing goes through :func:`dyno.breaker.force`, so it also reaches a
    breaker of that name created later, and leaving puts back whatever
    forcing was there before. Forcing one name twice stacks: the latest wins
    until everything is released, in reverse order. The ``dyno_breakers``
    fixture is one of these, released after the test.
    """

    __slots__ = ("_forced", "_lock", "_stack")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stack = ExitStack()
        self._forced: list[tuple[str, str]] = []

    def force_open(self, name: str) -> None:
        """Force the breaker called *name* open: calls through it raise ``Broken``.

        Raises:
            TypeError: *name* is not a string.
        """
        self._force(name, "open")

    def force_closed(self, name: str) -> None:
        """Force the breaker called *name* closed: calls go through whatever happens.

        Raises:
            TypeError: *name* is not a string.
        """
        self._force(name, "closed")

    def _force(self, name: str, state: Literal["open", "closed"]) -> None:
        check_type("name", name, str)
        with self._lock:
            self._stack.enter_context(force(name, state))
            self._forced.append((name, state))

    def state(self, name: str) -> str:
        """Return the state of the breaker called *name*, e.g. ``"forced_open"``.

        Raises:
            TypeError: *name* is not a string.
            LookupError: No breaker has that name.
        """
        check_type("name", name, str)
        breaker = breakers.get(name)
        if breaker is None:
            raise LookupError(
                f"Cannot read the state of breaker {name!r}: no breaker has that name. "
                "Create CircuitBreaker(name) (or the service using it) first."
            )
        return str(breaker.state.value)

    @property
    def forced(self) -> list[tuple[str, str]]:
        """The ``(name, state)`` forcings made and not yet released, oldest first."""
        with self._lock:
            return list(self._forced)

    def release_all(self) -> None:
        """Undo every forcing made here, newest first; breakers return to normal operation."""
        with self._lock:
            stack, self._stack = self._stack, ExitStack()
            self._forced.clear()
        stack.close()

    def __enter__(self) -> BreakerControl:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        self.release_all()
        return False

    def __repr__(self) -> str:
        forced = ", ".join(f"{name}={state}" for name, state in self.forced)
        return f"<BreakerControl forced=[{forced}]>"


def forced_breakers() -> BreakerControl:
    """Return a :class:`BreakerControl` to use as ``with forced_breakers() as control:``.

    It is the ``dyno_breakers`` fixture for code that cannot use fixtures,
    such as hypothesis ``@given`` tests.
    """
    return BreakerControl()
