"""Build a function's expensive dependencies at call time, with fallbacks, in parallel.

dyno 0.2's idea: move the construction of the objects a function needs (a
connection to a server on the other side of the planet) from its body into
its definition. :func:`inject` names a *factory* per dependency; the factories
run when the function is called and fill the keyword arguments the caller did
not pass::

    @inject(db=from_registry("db"), feed=socket("feed.example", 9000))
    def handler(request, db=None, feed=None): ...

A factory takes no arguments, or ``(target, name)``: the decorated function
(or class) and the dependency's name. When a factory raises, the parameter's
default is used if it has one; otherwise :class:`DependencyError` names the
dependency, chained to the original error. ``parallel=True`` builds all the
dependencies of one call at once (threads for sync factories,
:func:`asyncio.gather` for async ones), so construction takes about as long as
the slowest factory rather than the sum.

:func:`inject3` reads every annotation as a factory (dyno 0.2,
``def f(db: make_db)``); bare ``@inject`` injects only parameters annotated
``Annotated[T, Dependency(factory)]``. :func:`socket` is a ready-made factory
for TCP connections, with the timeout constants below.

Timeouts for :func:`socket`, in seconds (one connection attempt to one address):

* :data:`LOCALHOST_TIMEOUT` (0.1): a service on this machine.
* :data:`LAN_TIMEOUT` (1.0): the local network.
* :data:`DC_TIMEOUT` (3.0): across a data centre, several hops; covers one
  lost SYN (Linux retransmits it after 1 s, then 2 s more).
* :data:`INTERNET_TIMEOUT` (10.0): a responsive site on the internet.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import math
import socket as _socket
import sys
import threading
import typing
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, ParamSpec, TypeVar, overload

from dyno.utils import (
    check_callable,
    check_decoratable,
    check_int,
    check_optional_number,
    check_type,
    describe,
    is_async_callable,
)

if TYPE_CHECKING:
    from dyno.registry import Registry

__all__ = [
    "inject",
    "inject3",
    "Dependency",
    "DependencyError",
    "INJECTED",
    "from_registry",
    "FromRegistry",
    "socket",
    "SocketFactory",
    "LOCALHOST_TIMEOUT",
    "LAN_TIMEOUT",
    "DC_TIMEOUT",
    "INTERNET_TIMEOUT",
]

LOCALHOST_TIMEOUT: Final = 0.1
LAN_TIMEOUT: Final = 1.0
DC_TIMEOUT: Final = 3.0
INTERNET_TIMEOUT: Final = 10.0

_P = ParamSpec("_P")
_R = TypeVar("_R")
_C = TypeVar("_C", bound=type)


# -- markers and errors --------------------------------------------------------


class _Injected:
    """The type of :data:`INJECTED`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "INJECTED"

    def __reduce__(self) -> str:
        return "INJECTED"


INJECTED: Final[Any] = _Injected()
# Typed Any on purpose: it is the default of parameters of any type
# (``db: Database = INJECTED``), so type checkers let callers leave them out.
"""Default for a parameter that is always injected and has no fallback.

``def f(db: Database = INJECTED)`` lets type checkers accept ``f()``, while a
failing factory still raises :class:`DependencyError` (``INJECTED`` is not a
fallback value).
"""


@dataclass(frozen=True, slots=True)
class Dependency:
    """Mark a parameter for bare ``@inject``: ``db: Annotated[DB, Dependency(make_db)]``.

    Args:
        factory: Builds the value; takes no arguments or ``(target, name)``.

    Raises:
        TypeError: *factory* is not callable.
    """

    factory: Callable[..., object]

    def __post_init__(self) -> None:
        check_callable("factory", self.factory)

    def __repr__(self) -> str:
        return f"Dependency({_name_of(self.factory)})"


class DependencyError(Exception):
    """A dependency could not be built and its parameter has no default.

    Raised ``from`` the factory's error (from an :class:`ExceptionGroup` of
    all of them when several dependencies of one call failed together).

    Attributes:
        name: The (first) dependency that failed.
        names: Every dependency that failed, in declaration order.
        target: The decorated function or class.
        cause: The factory's exception, or an :class:`ExceptionGroup` of each
            failed factory's exception when there are several.
        failures: Each failed dependency's name mapped to its factory's exception.
    """

    def __init__(self, target: object, failures: Mapping[str, Exception]) -> None:
        if not failures:
            raise ValueError(
                "Cannot make a DependencyError without failures: there is nothing to report. "
                "Pass at least one name and its exception."
            )
        self.target = target
        self.failures: dict[str, Exception] = dict(failures)
        self.names: tuple[str, ...] = tuple(self.failures)
        self.name: str = self.names[0]
        causes = list(self.failures.values())
        self.cause: Exception = (
            causes[0]
            if len(causes) == 1
            else ExceptionGroup(f"{len(causes)} dependencies of {_name_of(target)} failed", causes)
        )
        super().__init__(self._message())

    def _message(self) -> str:
        where = _name_of(self.target)
        quoted = ", ".join(repr(name) for name in self.names)
        if len(self.names) == 1:
            reason = f"its factory raised {_summary(self.cause)}"
        else:
            reason = "; ".join(
                f"{name!r} raised {_summary(error)}" for name, error in self.failures.items()
            )
        several = len(self.names) > 1
        if isinstance(self.target, type):
            what = "class attributes of those names" if several else f"a class attribute {quoted}"
            remedy = f"Fix the factory, or define {what} to fall back on."
        elif several:
            remedy = "Give them defaults to fall back on, or pass them yourself."
        else:
            remedy = f"Give {quoted} a default to fall back on, or pass it yourself."
        return f"Cannot inject {quoted} into {where}: {reason}. {remedy}"

    def __reduce__(self) -> tuple[type[DependencyError], tuple[object, dict[str, Exception]]]:
        return (type(self), (self.target, self.failures))


# -- the plan: which factory fills which parameter --------------------------------


@dataclass(frozen=True, slots=True)
class _Slot:
    """One dependency of one target, decided at decoration time."""

    name: str
    factory: Callable[..., object]
    takes_target: bool  # call factory(target, name), else factory()
    is_async: bool
    position: int | None  # index at which a caller may bind it positionally
    has_fallback: bool  # a default exists, so a failing factory is not fatal

    def make(self, target: object) -> object:
        if self.takes_target:
            return self.factory(target, self.name)
        return self.factory()


@dataclass(frozen=True, slots=True)
class _Plan:
    """The dependencies of one target and how to build them; shared by every call."""

    target: object
    slots: tuple[_Slot, ...]
    parallel: bool
    executor: Executor | None
    first_position: int  # lowest position of a slot; callers passing fewer args bind none

    def missing(self, args: tuple[object, ...], kwargs: Mapping[str, object]) -> Sequence[_Slot]:
        """Return the slots the caller left for injection (caller's arguments win)."""
        count = len(args)
        if not kwargs and count <= self.first_position:
            return self.slots  # the common call: nothing injectable was passed
        return [
            slot
            for slot in self.slots
            if slot.name not in kwargs and (slot.position is None or slot.position >= count)
        ]

    def build(self, slots: Sequence[_Slot]) -> dict[str, object]:
        """Build *slots* in this thread (and pool threads when parallel)."""
        if self.parallel and len(slots) > 1:
            executor = self.executor
            if executor is None:
                # A factory already running on the shared pool builds its own
                # dependencies inline: waiting on the same bounded pool could deadlock.
                executor = None if getattr(_worker, "active", False) else _shared_executor()
            if executor is not None:
                return self._settle(slots, _run_on(executor, self.target, slots))
        values: dict[str, object] = {}
        target = self.target
        for slot in slots:
            try:
                values[slot.name] = (
                    slot.factory(target, slot.name) if slot.takes_target else slot.factory()
                )
            except Exception as error:
                if not slot.has_fallback:
                    raise DependencyError(target, {slot.name: error}) from error
        return values

    async def abuild(self, slots: Sequence[_Slot]) -> dict[str, object]:
        """Build *slots* for an async target: awaited in order, or gathered when parallel."""
        if self.parallel and len(slots) > 1:
            loop = asyncio.get_running_loop()
            executor = self.executor or _shared_executor()
            outcomes = await asyncio.gather(
                *(self._abuild_one(slot, loop, executor) for slot in slots),
                return_exceptions=True,
            )
            for outcome in outcomes:
                if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
                    raise outcome
            return self._settle(slots, outcomes)
        values: dict[str, object] = {}
        for slot in slots:
            try:
                value = slot.make(self.target)
                if slot.is_async:
                    value = await typing.cast(Awaitable[object], value)
            except Exception as error:
                if slot.has_fallback:
                    continue
                raise DependencyError(self.target, {slot.name: error}) from error
            values[slot.name] = value
        return values

    async def _abuild_one(
        self, slot: _Slot, loop: asyncio.AbstractEventLoop, executor: Executor
    ) -> object:
        if slot.is_async:
            return await typing.cast(Awaitable[object], slot.make(self.target))
        context = contextvars.copy_context()  # as asyncio.to_thread: the caller's context
        return await loop.run_in_executor(executor, context.run, _in_worker, slot, self.target)

    def _settle(self, slots: Sequence[_Slot], outcomes: Sequence[object]) -> dict[str, object]:
        """Turn one outcome per slot into values, falling back or raising for failures."""
        values: dict[str, object] = {}
        failures: dict[str, Exception] = {}
        for slot, outcome in zip(slots, outcomes, strict=True):
            if isinstance(outcome, Exception):
                if not slot.has_fallback:
                    failures[slot.name] = outcome
            else:
                values[slot.name] = outcome
        if failures:
            error = DependencyError(self.target, failures)
            raise error from error.cause
        return values


_worker = threading.local()
_executor_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def _shared_executor() -> ThreadPoolExecutor:
    """Return the module's thread pool for parallel builds, creating it on first use."""
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="dyno-injection")
    return _executor


def _in_worker(slot: _Slot, target: object) -> object:
    previous = getattr(_worker, "active", False)
    _worker.active = True
    try:
        return slot.make(target)
    finally:
        _worker.active = previous


def _run_on(executor: Executor, target: object, slots: Sequence[_Slot]) -> list[object]:
    """Run every slot's factory concurrently and return each value or Exception, in order.

    The calling thread builds the first slot itself while the pool builds the
    rest, each in a copy of the caller's context (context variables such as
    the current timer reach every factory). BaseExceptions that are not
    Exceptions propagate at once.
    """
    futures: list[Future[object]] = [
        # One copy each: a context cannot be entered by two threads at once.
        executor.submit(contextvars.copy_context().run, _in_worker, slot, target)
        for slot in slots[1:]
    ]
    outcomes: list[object] = []
    try:
        outcomes.append(slots[0].make(target))
    except Exception as error:
        outcomes.append(error)
    for future in futures:
        try:
            outcomes.append(future.result())
        except Exception as error:
            outcomes.append(error)
    return outcomes


# -- deciding the plan at decoration time -----------------------------------------


def _takes_target(option: str, factory: Callable[..., object]) -> bool:
    """Return True when *factory* takes ``(target, name)``, False when it takes nothing."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return False  # builtins such as dict have no readable signature; call them bare
    for args in ((None, None), ()):
        try:
            signature.bind(*args)
        except TypeError:
            continue
        return bool(args)
    raise TypeError(
        f"Cannot use {_name_of(factory)} as the factory for {option!r}: it must take no "
        f"arguments or (target, name), but its signature is {signature}. "
        "Wrap it in a lambda that takes one of those."
    )


def _name_of(obj: object) -> str:
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if isinstance(name, str):
        module = getattr(obj, "__module__", None)
        return f"{module}.{name}" if isinstance(module, str) else name
    return repr(obj)


def _summary(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _make_slots(
    target: object,
    factories: Mapping[str, Callable[..., object]],
    *,
    is_async: bool,
) -> tuple[_Slot, ...]:
    """Check *factories* against *target* and return their slots.

    Raises:
        TypeError: A factory is not callable or has the wrong arity, a name is
            not an injectable parameter, or an async factory meets a sync target.
    """
    where = _name_of(target)
    for name, factory in factories.items():
        check_callable(name, factory)
        if is_async_callable(factory) and not is_async:
            kind = "a class" if isinstance(target, type) else "a synchronous function"
            raise TypeError(
                f"Cannot inject {name!r} into {where} with the async factory "
                f"{_name_of(factory)}: {where} is {kind}, so nothing would await it. "
                "Use a sync factory, or make the target an async function."
            )
    if isinstance(target, type):
        _check_settable(target, list(factories))
        return tuple(
            _Slot(
                name,
                factory,
                _takes_target(name, factory),
                is_async_callable(factory),
                None,
                getattr(target, name, INJECTED) is not INJECTED,
            )
            for name, factory in factories.items()
        )
    parameters = _signature_of(target).parameters
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    unknown = [
        name
        for name in factories
        if (name not in parameters and not accepts_any)
        or (name in parameters and parameters[name].kind in (_VAR_POSITIONAL, _VAR_KEYWORD))
    ]
    if unknown:
        quoted = ", ".join(repr(name) for name in unknown)
        named = ", ".join(
            repr(p.name)
            for p in parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        )
        raise TypeError(
            f"Cannot inject {quoted} into {where}: it has no such keyword parameter "
            f"and takes no **kwargs. Name one of its parameters ({named or 'none'}) instead."
        )
    slots = []
    names = list(parameters)
    for name, factory in factories.items():
        parameter = parameters.get(name)
        if parameter is not None and parameter.kind is parameter.POSITIONAL_ONLY:
            raise TypeError(
                f"Cannot inject {name!r} into {where}: it is positional-only, so it cannot be "
                "passed by keyword. Remove the '/' before it."
            )
        position = (
            names.index(name)
            if parameter is not None and parameter.kind is parameter.POSITIONAL_OR_KEYWORD
            else None
        )
        default = inspect.Parameter.empty if parameter is None else parameter.default
        # Identity, not ==: defaults may compare oddly (arrays, proxies).
        has_fallback = default is not inspect.Parameter.empty and default is not INJECTED
        slots.append(
            _Slot(
                name,
                factory,
                _takes_target(name, factory),
                is_async_callable(factory),
                position,
                has_fallback,
            )
        )
    return tuple(slots)


_ANNOTATED: Final[object] = typing.Annotated
_VAR_POSITIONAL: Final = inspect.Parameter.VAR_POSITIONAL
_VAR_KEYWORD: Final = inspect.Parameter.VAR_KEYWORD


def _signature_of(target: object) -> inspect.Signature:
    try:
        return inspect.signature(typing.cast(Callable[..., object], target))
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"Cannot inject into {_name_of(target)}: its signature cannot be read ({error}). "
            "Decorate a Python function or class instead."
        ) from error


def _injected_signature(target: object, slots: tuple[_Slot, ...]) -> inspect.Signature:
    """Return *target*'s signature with injected parameters shown as optional (``=INJECTED``)."""
    signature = _signature_of(target)
    names = {slot.name for slot in slots}
    parameters = [
        p.replace(default=INJECTED) if p.name in names and p.default is p.empty else p
        for p in signature.parameters.values()
    ]
    try:
        return signature.replace(parameters=parameters)
    except ValueError:
        # An injected parameter before a required positional one cannot show a
        # default in a valid signature; keep the original.
        return signature


def _annotated_factories(
    target: object, localns: Mapping[str, object] | None, *, every: bool
) -> dict[str, Callable[..., object]]:
    """Read factories from *target*'s annotations.

    With *every* (inject3), each annotation is a factory; otherwise only
    ``Annotated[T, Dependency(factory)]`` ones count.

    Raises:
        NameError: An annotation names something not defined (yet).
        TypeError: An annotation is malformed for the chosen mode.
    """
    annotations = inspect.get_annotations(
        typing.cast(Callable[..., object], target),
        eval_str=True,
        locals=localns,
    )
    where = _name_of(target)
    factories: dict[str, Callable[..., object]] = {}
    for name, annotation in annotations.items():
        if name == "return":
            continue
        if every:
            if not callable(annotation):
                raise TypeError(
                    f"Cannot inject3 {name!r} into {where}: inject3 reads every annotation as "
                    f"a factory, and {annotation!r} is not callable. Annotate it with a factory, "
                    "or use inject(name=factory) instead."
                )
            factories[name] = annotation
            continue
        if typing.get_origin(annotation) is not _ANNOTATED:
            continue
        markers = [m for m in annotation.__metadata__ if isinstance(m, Dependency)]
        if len(markers) > 1:
            raise TypeError(
                f"Cannot inject {name!r} into {where}: its annotation holds {len(markers)} "
                "Dependency markers. Keep exactly one."
            )
        if markers:
            factories[name] = markers[0].factory
    return factories


class _LazyPlan:
    """The plan of one decorated target: decided at decoration, or at the first call.

    Annotations that name something defined later (a forward reference) cannot
    be read at decoration time; then the first call reads them, and every later
    call reuses the result.
    """

    __slots__ = ("_decide", "_lock", "_on_ready", "plan")

    def __init__(
        self,
        decide: Callable[[], _Plan],
        *,
        ready: _Plan | None,
        on_ready: Callable[[_Plan], None] | None = None,
    ) -> None:
        self.plan = ready
        # Dropped once the plan exists: it holds the decorating scope's locals.
        self._decide: Callable[[], _Plan] | None = None if ready is not None else decide
        self._on_ready = None if ready is not None else on_ready
        self._lock = threading.Lock()

    def get(self) -> _Plan:
        plan = self.plan
        if plan is not None:
            return plan
        with self._lock:
            if self.plan is None:
                assert self._decide is not None  # set until the plan exists
                plan = self._decide()
                if self._on_ready is not None:
                    self._on_ready(plan)
                self.plan, self._decide, self._on_ready = plan, None, None
            return self.plan


# -- the decorator -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Injector:
    """The decorator returned by ``inject(...)`` and ``inject3(...)``."""

    factories: Mapping[str, Callable[..., object]] | None  # None: read annotations
    every_annotation: bool
    parallel: bool
    executor: Executor | None
    localns: Mapping[str, object] | None

    @overload
    def __call__(self, target: _C, /) -> _C: ...

    @overload
    def __call__(self, target: Callable[_P, _R], /) -> Callable[_P, _R]: ...

    def __call__(self, target: object, /) -> object:
        decorator = "inject3" if self.every_annotation else "inject"
        check_decoratable(decorator, target, option="target")
        is_class = isinstance(target, type)
        is_async = not is_class and is_async_callable(typing.cast(Callable[..., object], target))

        def plan_for(factories: Mapping[str, Callable[..., object]]) -> _Plan:
            slots = _make_slots(target, factories, is_async=is_async)
            first = min((s.position for s in slots if s.position is not None), default=sys.maxsize)
            return _Plan(target, slots, self.parallel, self.executor, first)

        def decide_late() -> _Plan:
            try:
                return plan_for(self._read_annotations(target))
            except NameError as error:
                raise TypeError(
                    f"Cannot read the annotations of {_name_of(target)}: {error}. "
                    "Define every name they use before the first call."
                ) from error

        ready: _Plan | None
        try:
            factories = self.factories
            if factories is None:
                factories = self._read_annotations(target)
        except NameError:
            ready = None  # a forward reference: read the annotations at the first call
        else:
            ready = plan_for(factories)
        if is_class:
            return _wrap_class(typing.cast(type, target), _LazyPlan(decide_late, ready=ready))
        return _wrap_function(
            typing.cast(Callable[..., object], target), decide_late, ready, is_async=is_async
        )

    def _read_annotations(self, target: object) -> dict[str, Callable[..., object]]:
        factories = _annotated_factories(target, self.localns, every=self.every_annotation)
        if not factories:
            if self.every_annotation:
                wanted = "any annotated parameter"
            else:
                wanted = "a parameter annotated Annotated[T, Dependency(factory)]"
            raise TypeError(
                f"Cannot inject into {_name_of(target)}: it has no annotation to read a factory "
                f"from. Give it {wanted}, or pass factories as inject(name=factory)."
            )
        return factories

    def __repr__(self) -> str:
        name = "inject3" if self.every_annotation else "inject"
        if self.factories is None:
            parts = [name, "(annotations)"]
        else:
            parts = [name, *(f"{k}={_name_of(v)}" for k, v in self.factories.items())]
        if self.parallel:
            parts.append("parallel=True")
        if self.executor is not None:
            parts.append(f"executor={self.executor!r}")
        return f"<{' '.join(parts)}>"


def _wrap_function(
    fn: Callable[..., object],
    decide: Callable[[], _Plan],
    ready: _Plan | None,
    *,
    is_async: bool,
) -> Callable[..., object]:
    if is_async:

        @functools.wraps(fn)
        async def async_injected(*args: object, **kwargs: object) -> object:
            plan = lazy.plan or lazy.get()
            missing = plan.missing(args, kwargs)
            if missing:
                kwargs.update(await plan.abuild(missing))
            return await typing.cast(Awaitable[object], fn(*args, **kwargs))

        wrapper: Callable[..., object] = async_injected
    else:

        @functools.wraps(fn)
        def injected(*args: object, **kwargs: object) -> object:
            plan = lazy.plan or lazy.get()
            missing = plan.missing(args, kwargs)
            if missing:
                kwargs.update(plan.build(missing))
            return fn(*args, **kwargs)

        wrapper = injected

    def show_signature(plan: _Plan) -> None:
        # Injected parameters read as optional, so tools that inspect signatures
        # (pytest, help()) do not demand them from the caller.
        wrapper.__signature__ = _injected_signature(fn, plan.slots)  # type: ignore[attr-defined]  # functions take attributes; inspect.signature reads this one

    lazy = _LazyPlan(decide, ready=ready, on_ready=show_signature)
    if ready is not None:
        show_signature(ready)
    return wrapper


def _wrap_class(cls: type, lazy: _LazyPlan) -> type:
    original = cls.__dict__.get("__init__")

    def __init__(self: object, *args: object, **kwargs: object) -> None:
        plan = lazy.get()
        for name, value in plan.build(plan.slots).items():
            setattr(self, name, value)
        if original is not None:
            original(self, *args, **kwargs)
        else:
            super(cls, self).__init__(*args, **kwargs)  # type: ignore[arg-type]  # self is an instance of cls; mypy cannot see it

    if original is not None:
        functools.update_wrapper(__init__, original)
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = __init__  # type: ignore[misc]  # replacing __init__ is the point
    return cls


def _check_settable(cls: type, names: list[str]) -> None:
    """Refuse names that instances of a slotted class without ``__dict__`` cannot hold."""
    if cls.__dictoffset__:
        return
    allowed: set[str] = set()
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        allowed.update((slots,) if isinstance(slots, str) else slots)
    if "__dict__" in allowed:
        return
    missing = [name for name in names if name not in allowed]
    if missing:
        quoted = ", ".join(repr(name) for name in missing)
        raise TypeError(
            f"Cannot inject {quoted} into {_name_of(cls)}: its instances have __slots__ and no "
            "__dict__, so they cannot hold these attributes. Add the names to __slots__."
        )


def _checked_options(parallel: object, executor: object) -> tuple[bool, Executor | None]:
    check_type("parallel", parallel, bool)
    if executor is not None:
        check_type("executor", executor, Executor)
    return typing.cast(bool, parallel), typing.cast("Executor | None", executor)


@overload
def inject(target: _C, /) -> _C: ...


@overload
def inject(target: Callable[_P, _R], /) -> Callable[_P, _R]: ...


@overload
def inject(
    *,
    parallel: bool = False,
    executor: Executor | None = None,
    **dependencies: Callable[..., object],
) -> _Injector: ...


def inject(
    target: object = None,
    /,
    *,
    parallel: bool = False,
    executor: Executor | None = None,
    **dependencies: Callable[..., object],
) -> object:
    """Build the dependencies of a function or class from factories, at each call.

    ``@inject(db=make_db)``: at each call, ``make_db`` fills ``db`` unless the
    caller passed it (by keyword or by position). Bare ``@inject`` (or
    ``@inject(parallel=True)`` with no factories) injects only parameters
    annotated ``Annotated[T, Dependency(factory)]``.

    A factory takes no arguments or ``(target, name)``, where *target* is the
    decorated function or class; which one is read from its signature at
    decoration time (objects without a readable signature, such as ``dict``,
    are called with no arguments). When a factory raises an :class:`Exception`,
    the parameter's default is used if it has one (``INJECTED`` is not a
    fallback); otherwise :class:`DependencyError` is raised ``from`` it.

    For a class, every new instance gets its dependencies as attributes, built
    before the class's own ``__init__`` runs (so ``__init__`` can use them, and
    may overwrite them). A class attribute of the same name is the fallback.

    Async functions get an async wrapper: async factories are awaited, sync
    ones run inline (in a thread when *parallel*). Async factories need an
    async target.

    Args:
        target: The function or class, for bare use.
        parallel: Build all the dependencies of one call concurrently:
            async factories with :func:`asyncio.gather`, sync ones on threads.
        executor: Where sync factories run when *parallel*; default, a shared
            pool of up to 32 threads created at first use.
        dependencies: Parameter (or attribute) name -> factory.

    Returns:
        The wrapped function (the class itself, with a wrapped ``__init__``),
        or a decorator when called without *target*.

    Raises:
        TypeError: At decoration: a name that is not a keyword parameter of the
            function (and it takes no ``**kwargs``), a factory that is not
            callable or takes other arguments, an async factory for a sync
            target, bad *parallel* or *executor*.
    """
    parallel, executor = _checked_options(parallel, executor)
    localns: Mapping[str, object] | None = None
    factories: dict[str, Callable[..., object]] | None = dict(dependencies) or None
    if factories is None:
        # Annotations may name locals of the decorating scope (a factory defined in a test).
        localns = dict(sys._getframe(1).f_locals)
    else:
        for name, factory in factories.items():
            check_callable(name, factory)
    decorator = _Injector(factories, False, parallel, executor, localns)
    if target is None:
        return decorator
    return decorator(typing.cast(Callable[..., object], target))


@overload
def inject3(target: _C, /) -> _C: ...


@overload
def inject3(target: Callable[_P, _R], /) -> Callable[_P, _R]: ...


@overload
def inject3(*, parallel: bool = False, executor: Executor | None = None) -> _Injector: ...


def inject3(
    target: object = None, /, *, parallel: bool = False, executor: Executor | None = None
) -> object:
    """Inject every annotated parameter, reading each annotation as its factory (dyno 0.2).

    ``@inject3 def f(db: make_db, cache: make_cache = None)`` is
    ``@inject(db=make_db, cache=make_cache)``. For code that uses annotations
    only to declare dependencies; the return annotation is ignored. String
    annotations are evaluated at decoration time, or at the first call when
    they name something not yet defined.

    Args:
        target: The function or class, for bare use.
        parallel: As for :func:`inject`.
        executor: As for :func:`inject`.

    Returns:
        The wrapped function or class, or a decorator when called without *target*.

    Raises:
        TypeError: At decoration, an annotation that is not callable, or as for
            :func:`inject`.
    """
    parallel, executor = _checked_options(parallel, executor)
    localns = dict(sys._getframe(1).f_locals)
    decorator = _Injector(None, True, parallel, executor, localns)
    if target is None:
        return decorator
    return decorator(typing.cast(Callable[..., object], target))


# -- ready-made factories ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FromRegistry:
    """A factory returning whatever is registered under *key*, looked up at each call.

    Made by :func:`from_registry`.
    """

    key: Hashable
    registry: Registry | None = None

    def __call__(self) -> object:
        """Return the object registered under the key.

        Raises:
            NotRegistered: Nothing is registered under the key.
        """
        registry = self.registry
        if registry is None:
            from dyno import registry as registry_module  # lazily: a composite's optional part

            registry = registry_module.default
        return registry.resolve(self.key)

    def __repr__(self) -> str:
        where = "default" if self.registry is None else repr(self.registry)
        return f"from_registry({self.key!r}, registry={where})"


def from_registry(key: Hashable, registry: Registry | None = None) -> FromRegistry:
    """Return a factory that resolves *key* in *registry* at call time.

    Tests and setup code swap providers in the registry (``reg.override``)
    and every injected function sees the change at its next call. A missing
    key raises :class:`dyno.registry.NotRegistered` (a ``KeyError``), which
    falls back to the parameter's default like any factory error.

    Args:
        key: The name the provider is registered under.
        registry: A :class:`dyno.registry.Registry`; when None,
            ``dyno.registry.default``, looked up at each call.

    Raises:
        TypeError: *registry* is not a Registry.
    """
    if registry is not None:
        from dyno.registry import Registry

        check_type("registry", registry, Registry)
    return FromRegistry(key, registry)


@dataclass(frozen=True, slots=True)
class SocketFactory:
    """A factory for TCP (or other) connections; made by :func:`socket`.

    Calling it returns a connected :class:`socket.socket`.
    """

    host: str
    port: int | str
    timeout: float | None
    retries: int
    family: int
    type: int
    proto: int

    def __call__(self) -> _socket.socket:
        """Connect to the first reachable address of the host, in up to *retries* rounds.

        Returns:
            A connected socket, with *timeout* as its timeout.

        Raises:
            ConnectionError: A :class:`dyno.retry.CompoundException` holding
                the error of every attempt (name resolution included).
        """
        errors: list[Exception] = []
        for round_ in range(1, self.retries + 1):
            try:
                addresses = _socket.getaddrinfo(
                    self.host, self.port, self.family, self.type, self.proto
                )
            except OSError as error:
                error.add_note(f"resolving {self.host}:{self.port} (round {round_})")
                errors.append(error)
                continue
            for family, kind, proto, _canonical, address in addresses:
                sock: _socket.socket | None = None
                try:
                    sock = _socket.socket(family, kind, proto)
                    sock.settimeout(self.timeout)
                    sock.connect(address)
                except OSError as error:
                    if sock is not None:
                        sock.close()
                    error.add_note(
                        f"connecting to {self.host}:{self.port} at {address!r} (round {round_})"
                    )
                    errors.append(error)
                    continue
                except BaseException:
                    if sock is not None:
                        sock.close()
                    raise
                return sock
        raise _connection_failure(self, errors)

    def __repr__(self) -> str:
        return (
            f"<socket factory {self.host}:{self.port} "
            f"timeout={self.timeout!r} retries={self.retries}>"
        )


def _connection_failure(factory: SocketFactory, errors: list[Exception]) -> Exception:
    from dyno.retry import make_compound_exception  # lazily: only socket needs retry

    if not any(isinstance(error, ConnectionError) for error in errors):
        # Timeouts and resolution errors are OSErrors but not ConnectionErrors;
        # the compound must still be caught by `except ConnectionError`.
        errors = [
            *errors,
            ConnectionError(
                f"Cannot connect to {factory.host}:{factory.port}: "
                f"{len(errors)} attempts failed in {factory.retries} round(s)"
            ),
        ]
    compound = make_compound_exception(errors)
    compound.__cause__ = errors[-1]
    return compound


def socket(
    host: str,
    port: int | str,
    *,
    timeout: float | None = LAN_TIMEOUT,
    retries: int = 1,
    family: int = _socket.AF_UNSPEC,
    type: int = _socket.SOCK_STREAM,
    proto: int = 0,
) -> SocketFactory:
    """Return a factory that connects to *host*:*port* (dyno 0.2).

    Each call resolves *host* with :func:`socket.getaddrinfo` and tries every
    address in turn, giving each *timeout* seconds; the first that accepts
    wins. Up to *retries* rounds are made over all the addresses.

    Args:
        host: A name or an address.
        port: A port number or a service name (``"http"``).
        timeout: Seconds per connection attempt, also left on the returned
            socket; None blocks. See the ``*_TIMEOUT`` constants.
        retries: Rounds of attempts over all addresses (at least 1).
        family: Address family, as for :func:`socket.getaddrinfo`.
        type: Socket type, as for :func:`socket.getaddrinfo`.
        proto: Protocol, as for :func:`socket.getaddrinfo`.

    Raises:
        TypeError: An option of the wrong type.
        ValueError: *timeout* <= 0 or infinite, *retries* < 1, *port* outside
            1..65535 or an empty service name.
    """
    check_type("host", host, str)
    if isinstance(port, str):
        if not port:
            raise ValueError(
                f"'port' must be a port number or a service name (got {describe(port)})"
            )
    else:
        port = check_int("port", port, low=1)
        if port > 65535:
            raise ValueError(f"'port' must be <= 65535 (got {describe(port)})")
    timeout = check_optional_number("timeout", timeout, low=0, low_open=True)
    if timeout == math.inf:  # the socket module cannot wait that long
        raise ValueError(f"'timeout' must be finite; pass None to block (got {describe(timeout)})")
    retries = check_int("retries", retries, low=1)
    family = check_int("family", family)
    type = check_int("type", type)
    proto = check_int("proto", proto)
    return SocketFactory(host, port, timeout, retries, family, type, proto)
