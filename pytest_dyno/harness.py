"""Capture what every ``dyno.harness`` reports, from any thread, and assert on it."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Literal

from dyno.harness import HarnessRecord, add_listener, remove_listener
from dyno.utils import check_exception_types, check_int

__all__ = ["HarnessCapture", "capture_harness"]


class HarnessCapture:
    """Collect every :class:`~dyno.harness.HarnessRecord` while active.

    Use it as a context manager (``with HarnessCapture() as seen:``), or call
    :meth:`start` and :meth:`stop`. While active it listens to every harness
    in the process, from every thread. The ``dyno_harness`` fixture is one of
    these, active for the whole test.
    """

    __slots__ = ("_active", "_lock", "_records")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[HarnessRecord] = []
        self._active = False

    # -- listening -----------------------------------------------------------

    def start(self) -> HarnessCapture:
        """Start listening to every harness; return self.

        Raises:
            RuntimeError: It is already listening.
        """
        with self._lock:
            if self._active:
                raise RuntimeError(
                    "Cannot start a HarnessCapture twice: it is already listening. "
                    "Call stop() first, or use a second HarnessCapture."
                )
            self._active = True
        add_listener(self._hear)
        return self

    def stop(self) -> None:
        """Stop listening (the records collected so far stay). Stopping twice does nothing."""
        with self._lock:
            if not self._active:
                return
            self._active = False
        remove_listener(self._hear)

    def __enter__(self) -> HarnessCapture:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        self.stop()
        return False

    def _hear(self, record: HarnessRecord) -> None:
        with self._lock:
            self._records.append(record)

    # -- reading -------------------------------------------------------------

    @property
    def records(self) -> list[HarnessRecord]:
        """Every record heard so far, oldest first (a copy)."""
        with self._lock:
            return list(self._records)

    @property
    def exceptions(self) -> list[BaseException]:
        """The exceptions of :attr:`records`, oldest first."""
        return [record.exception for record in self.records]

    def clear(self) -> None:
        """Forget the records heard so far (listening goes on)."""
        with self._lock:
            self._records.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def assert_raised(
        self,
        exc_type: type[BaseException] | tuple[type[BaseException], ...],
        count: int | None = None,
    ) -> list[BaseException]:
        """Assert that harnesses reported *exc_type* (subclasses included).

        Args:
            exc_type: An exception class, or a tuple of them.
            count: The exact number of matching reports; when None, at least one.

        Returns:
            The matching exceptions, oldest first.

        Raises:
            AssertionError: Too few or too many matching reports; the message
                lists everything that was reported.
            TypeError: *exc_type* is not an exception class or *count* not an int.
            ValueError: *count* is negative.
        """
        __tracebackhide__ = True
        kinds = check_exception_types("exc_type", exc_type)
        if count is not None:
            check_int("count", count, low=0)
        everything = self.exceptions
        matched = [error for error in everything if isinstance(error, kinds)]
        wanted = " or ".join(kind.__qualname__ for kind in kinds)
        if count is None and not matched:
            raise AssertionError(
                f"expected a harness to report {wanted}, but none did; {_summary(everything)}"
            )
        if count is not None and len(matched) != count:
            raise AssertionError(
                f"expected harnesses to report {wanted} exactly {count} "
                f"time{'' if count == 1 else 's'}, but they did {len(matched)} "
                f"time{'' if len(matched) == 1 else 's'}; {_summary(everything)}"
            )
        return matched

    def __repr__(self) -> str:
        state = "listening" if self._active else "stopped"
        return f"<HarnessCapture {state} records={len(self)}>"


def capture_harness() -> HarnessCapture:
    """Return a :class:`HarnessCapture` to use as ``with capture_harness() as seen:``.

    It is the ``dyno_harness`` fixture for code that cannot use fixtures,
    such as hypothesis ``@given`` tests.
    """
    return HarnessCapture()


def _summary(errors: list[BaseException]) -> str:
    if not errors:
        return "nothing was reported"
    shown = ", ".join(repr(error) for error in errors[:10])
    more = f", ... ({len(errors) - 10} more)" if len(errors) > 10 else ""
    return f"reported: [{shown}{more}]"
