"""Pull exceptions out into the open without changing them.

A *harness* watches code for exceptions. Each exception passing through is
logged with ``logger.exception`` and reported to every listener in the
process, then re-raised: the very same object, with its traceback intact, so
callers further up still catch it exactly as before. Use it to find a
transient failure, or to count how often a dependency errors out::

    @harness(name="db")
    def query(sql): ...

    with harness(logger, name="startup"):
        connect()

Listeners (:func:`add_listener`, :func:`listening`) hear every harness from
every thread, and get a :class:`HarnessRecord`. :func:`report` logs and
notifies without raising, for code (such as ``dyno.service``) that already
holds the exception.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
import threading
import traceback
from collections.abc import Callable, Coroutine, Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, ParamSpec, TypeAlias, TypeVar, cast, overload

from dyno.clock import Clock, check_clock, get_clock
from dyno.utils import (
    check_callable,
    check_decoratable,
    check_exception_types,
    check_type,
    describe,
    is_async_callable,
    refuse_method_object,
)

__all__ = [
    "harness",
    "Harness",
    "HarnessRecord",
    "Listener",
    "add_listener",
    "remove_listener",
    "listening",
    "report",
    "DEFAULT_LOGGER",
]

P = ParamSpec("P")
R = TypeVar("R")

#: The name of the logger used when none is given.
DEFAULT_LOGGER = "dyno.harness"

#: What a harness logs to: a :class:`logging.Logger` or a :class:`logging.LoggerAdapter`.
LoggerLike: TypeAlias = "logging.Logger | logging.LoggerAdapter[logging.Logger]"


@dataclass(frozen=True, slots=True)
class HarnessRecord:
    """One exception seen by a harness, as listeners receive it.

    Attributes:
        exception: The exception object itself (its ``__traceback__`` is intact).
        function: The qualified name of the decorated function, or None for a
            ``with`` block.
        time: When it was seen, in epoch seconds from the dyno clock's ``wall()``.
        harness: The harness's name, or None.
    """

    exception: BaseException
    function: str | None
    time: float
    harness: str | None


#: A listener is called with each :class:`HarnessRecord`; its return value is ignored.
Listener: TypeAlias = Callable[[HarnessRecord], object]

_NOT_A_LOGGER = "'logger' must be a logging.Logger or logging.LoggerAdapter (got {})"

_listeners_lock = threading.Lock()
# Copy-on-write: readers take the current tuple without locking.
_listeners: tuple[Listener, ...] = ()


def add_listener(listener: Listener) -> Listener:
    """Call *listener* with a :class:`HarnessRecord` for every exception any harness sees.

    Listeners are called in the thread where the exception passed, in the
    order they were added. Adding the same listener twice makes it hear each
    record twice; each addition needs its own :func:`remove_listener`.

    Args:
        listener: A callable taking one :class:`HarnessRecord`.

    Returns:
        *listener*, so this works as a decorator.

    Raises:
        TypeError: *listener* is not callable.
    """
    global _listeners
    check_callable("listener", listener)
    with _listeners_lock:
        _listeners = (*_listeners, listener)
    return listener


def remove_listener(listener: Listener) -> None:
    """Stop calling *listener* (its most recent addition).

    Raises:
        ValueError: *listener* is not registered.
    """
    global _listeners
    with _listeners_lock:
        current = _listeners
        for index in range(len(current) - 1, -1, -1):
            if current[index] == listener:
                _listeners = current[:index] + current[index + 1 :]
                return
    raise ValueError(
        f"Cannot remove listener {listener!r}: it is not registered. "
        "Remove only listeners added with add_listener()."
    )


@contextmanager
def listening(listener: Listener) -> Iterator[Listener]:
    """Add *listener* for the ``with`` block, then remove it (even on error).

    Raises:
        TypeError: *listener* is not callable.
    """
    add_listener(listener)
    try:
        yield listener
    finally:
        remove_listener(listener)


def report(
    exception: BaseException,
    *,
    function: str | None = None,
    harness: str | None = None,
    logger: LoggerLike | None = None,
    clock: Clock | None = None,
) -> HarnessRecord:
    """Log *exception* and tell every listener about it, without raising it.

    This is what a harness does for each exception passing through; call it
    directly when you hold an exception you handle yourself but still want
    seen (``dyno.service`` reports each failed attempt this way). A listener
    that raises an :class:`Exception` is logged to *logger* and skipped; the
    remaining listeners still hear the record. A logger that raises (a broken
    filter or adapter) is reported on stderr, as :mod:`logging` reports its
    handlers' errors, and skipped too.

    Args:
        exception: The exception to report.
        function: The qualified name of the function it came from, if any.
        harness: The reporting harness's name, if any.
        logger: Where to log; default ``logging.getLogger("dyno.harness")``.
        clock: The clock whose ``wall()`` stamps the record; default the dyno clock.

    Returns:
        The record the listeners received.

    Raises:
        TypeError: *exception* is not an exception instance, *logger* is not a
            logger, or *clock* is not a clock.
    """
    check_type("exception", exception, BaseException)
    if logger is None:
        logger = logging.getLogger(DEFAULT_LOGGER)
    elif not _is_logger(logger):
        raise TypeError(_NOT_A_LOGGER.format(describe(logger)))
    check_clock("clock", clock)
    record = HarnessRecord(
        exception=exception,
        function=function,
        time=float((clock if clock is not None else get_clock()).wall()),
        harness=harness,
    )
    where = function if function is not None else "a with block"
    if harness is None:
        _log(logger, exception, "Exception in %s", where)
    else:
        _log(logger, exception, "Exception in %s (harness %r)", where, harness)
    for listener in _listeners:
        try:
            listener(record)
        except Exception as error:
            # A broken listener must not change what the caller sees; say so and go on.
            _log(logger, error, "Harness listener %r failed on %r", listener, record)
    return record


def _log(logger: LoggerLike, exception: BaseException, message: str, *args: object) -> None:
    """Log *exception* with ``logger.exception``; a failing logger is reported on stderr."""
    try:
        logger.exception(message, *args, exc_info=exception)
    except Exception:
        # A raising filter or adapter must not replace the exception being reported.
        # Handlers' own errors never get here: logging.Handler.handleError prints
        # them to stderr, and so do we, under the same switch.
        if logging.raiseExceptions and sys.stderr is not None:
            print("--- dyno.harness could not log an exception ---", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)


class Harness:
    """A configured harness: a decorator and a (sync or async) context manager.

    Made by :func:`harness`; see there. One instance may decorate many
    functions and be entered any number of times, nested and from many
    threads at once: it holds only its configuration.
    """

    __slots__ = ("_clock", "_exceptions", "_logger", "_name")

    def __init__(
        self,
        logger: LoggerLike | None = None,
        *,
        name: str | None = None,
        exceptions: type[BaseException] | Iterable[type[BaseException]] = (Exception,),
        clock: Clock | None = None,
    ) -> None:
        if logger is not None and not _is_logger(logger):
            raise TypeError(_NOT_A_LOGGER.format(describe(logger)))
        self._logger = logger
        self._name = check_type("name", name, (str, type(None)))
        self._exceptions = check_exception_types("exceptions", exceptions)
        self._clock = check_clock("clock", clock)

    # Read-only, so that functions decorated earlier and later with-blocks
    # always agree on what this harness does.

    @property
    def logger(self) -> LoggerLike | None:
        """Where exceptions are logged (None: the ``dyno.harness`` logger, looked up at use)."""
        return self._logger

    @property
    def name(self) -> str | None:
        """The name given to records, or None."""
        return self._name

    @property
    def exceptions(self) -> tuple[type[BaseException], ...]:
        """The exception classes reported; anything else passes through unseen."""
        return self._exceptions

    @property
    def clock(self) -> Clock | None:
        """The clock pinned at construction, or None for the dyno clock at each report."""
        return self._clock

    def report(self, exception: BaseException, function: str | None = None) -> HarnessRecord:
        """Log and report *exception* as this harness, without raising it."""
        return report(
            exception,
            function=function,
            harness=self._name,
            logger=self._logger,
            clock=self._clock,
        )

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Wrap *fn* so every exception it raises is reported, then re-raised.

        Sync functions, methods, ``async def`` functions (the wrapper is
        ``async`` too) and generator functions (the harness watches the whole
        iteration) are supported.

        Raises:
            TypeError: *fn* is not callable, is an async generator function, or is
                a classmethod or staticmethod object (put that decorator above).
        """
        check_decoratable("harness", fn)
        if inspect.isasyncgenfunction(fn):
            raise TypeError(
                f"Cannot harness async generator function {fn!r}: its body runs outside "
                "the call. Use `with harness(...):` inside the generator instead."
            )
        qualname: str = getattr(fn, "__qualname__", None) or repr(fn)
        caught = self._exceptions

        if inspect.isgeneratorfunction(fn):
            gen_fn = cast(Callable[P, Generator[object, object, object]], fn)

            @functools.wraps(fn)
            def gen_wrapper(*args: P.args, **kwargs: P.kwargs) -> Generator[object, object, object]:
                try:
                    return (yield from gen_fn(*args, **kwargs))
                except caught as error:
                    self.report(error, qualname)
                    raise

            return cast(Callable[P, R], gen_wrapper)

        if is_async_callable(fn):
            async_fn = cast(Callable[P, Coroutine[object, object, object]], fn)

            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> object:
                try:
                    return await async_fn(*args, **kwargs)
                except caught as error:
                    self.report(error, qualname)
                    raise

            return cast(Callable[P, R], async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except caught as error:
                self.report(error, qualname)
                raise

        return wrapper

    def __enter__(self) -> Harness:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        if exc is not None and isinstance(exc, self._exceptions):
            self.report(exc)
        # Never suppress: Python re-raises the original object with its traceback.
        return False

    async def __aenter__(self) -> Harness:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        return self.__exit__(exc_type, exc, tb)

    def __repr__(self) -> str:
        logger = self._logger.name if self._logger is not None else DEFAULT_LOGGER
        exceptions = ", ".join(kind.__qualname__ for kind in self._exceptions)
        return f"<Harness name={self._name!r} logger={logger!r} exceptions=({exceptions})>"


@overload
def harness(logger: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def harness(
    logger: LoggerLike | None = None,
    *,
    name: str | None = None,
    exceptions: type[BaseException] | Iterable[type[BaseException]] = (Exception,),
    clock: Clock | None = None,
) -> Harness: ...


def harness(
    logger: LoggerLike | Callable[P, R] | None = None,
    *,
    name: str | None = None,
    exceptions: type[BaseException] | Iterable[type[BaseException]] = (Exception,),
    clock: Clock | None = None,
) -> Harness | Callable[P, R]:
    """Report every exception passing through, then re-raise it unchanged.

    Use it bare (``@harness``), called (``@harness(logger, name="db")``), or
    as a context manager (``with harness():`` / ``async with harness():``).
    Each exception that is an instance of *exceptions* is logged with
    ``logger.exception`` and sent to every listener as a
    :class:`HarnessRecord`, then re-raised as the same object with its
    traceback intact. Anything else, including ``KeyboardInterrupt``,
    ``SystemExit`` and ``asyncio.CancelledError`` under the default, passes
    through untouched and unreported (name such a class in *exceptions* to
    report it too).

    The first positional argument is the logger. A ``logging.Logger`` or
    ``logging.LoggerAdapter`` (or None) configures a harness; any other
    callable is taken as the function to decorate (bare ``@harness``).

    Args:
        logger: Where to log; default ``logging.getLogger("dyno.harness")``,
            looked up at each report.
        name: The harness's name, given to listeners in each record.
        exceptions: The exception class, or classes, to report.
        clock: The clock stamping records (``wall()``); default the dyno clock at use.

    Returns:
        A :class:`Harness`, or the wrapped function when used bare.

    Raises:
        TypeError: *logger* is neither a logger nor a function, *name* is not a
            string, or *exceptions* holds something other than exception classes.
    """
    if logger is None or _is_logger(logger):
        return Harness(
            cast("LoggerLike | None", logger), name=name, exceptions=exceptions, clock=clock
        )
    refuse_method_object("harness", logger)
    if not callable(logger):
        raise TypeError(
            "'logger' must be a logging.Logger or logging.LoggerAdapter, or harness must "
            f"decorate a function (got {describe(logger)})"
        )
    return Harness(name=name, exceptions=exceptions, clock=clock)(logger)


def _is_logger(value: object) -> bool:
    return isinstance(value, (logging.Logger, logging.LoggerAdapter))
