"""Join points: run a function's arguments and result through a pipeline of filters.

``@advertise("name")`` publishes a *join point*: a list (the pipeline) stored
at ``name`` in a registry. Every call looks the pipeline up afresh, runs it,
then the function, so setup code, plug-ins or tests change what a function
does by editing or replacing ``registry[name]`` (dyno 0.2; used for ETag and
if-modified handling and templating in web handlers).

Pipeline items, outermost first (the first item sees the call first and the
result last, like WSGI or Django middleware):

* a plain callable or :func:`before` ``(f)``: an argument filter,
  ``f(*args, **kwargs) -> (args, kwargs)``;
* :func:`after` ``(g)``: a result filter, ``g(result) -> result``;
* :func:`around` ``(h)``: ``h(call, *args, **kwargs)``, where ``call(*args,
  **kwargs)`` runs the rest of the pipeline and the function; ``h`` may call
  it, call it again, or skip it and return something else.

For ``async def`` functions filters may be sync or async (any awaitable a
filter returns is awaited) and ``call`` returns an awaitable. Filters of sync
functions must be sync.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, cast, final

from dyno import registry as _registry
from dyno.utils import (
    check_callable,
    check_decoratable,
    check_type,
    describe,
    is_async_callable,
)

__all__ = ["advertise", "before", "after", "around", "Before", "After", "Around"]

P = ParamSpec("P")
R = TypeVar("R")
K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class _Filter:
    """A pipeline item that says what kind of filter its function is."""

    fn: Callable[..., object]

    def __post_init__(self) -> None:
        check_callable("filter", self.fn)


@final
@dataclass(frozen=True, slots=True)
class Before(_Filter):
    """An argument filter: ``fn(*args, **kwargs)`` returns the ``(args, kwargs)`` to go on with."""


@final
@dataclass(frozen=True, slots=True)
class After(_Filter):
    """A result filter: ``fn(result)`` returns the result to go on with."""


@final
@dataclass(frozen=True, slots=True)
class Around(_Filter):
    """A wrapper: ``fn(call, *args, **kwargs)`` decides whether and how to ``call`` the rest."""


def before(fn: Callable[..., object]) -> Before:
    """Mark *fn* as an argument filter (what a plain callable in a pipeline already is).

    Raises:
        TypeError: *fn* is not callable.
    """
    return Before(fn)


def after(fn: Callable[..., object]) -> After:
    """Mark *fn* as a result filter: it gets the result and returns the result to use.

    Raises:
        TypeError: *fn* is not callable.
    """
    return After(fn)


def around(fn: Callable[..., object]) -> Around:
    """Mark *fn* as a wrapper: ``fn(call, *args, **kwargs)``, which may skip ``call``.

    Raises:
        TypeError: *fn* is not callable.
    """
    return Around(fn)


def advertise(
    name: str, registry: MutableMapping[K, V] | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Publish a join point at *name* and run the pipeline found there on every call.

    At decoration an empty list is stored at ``registry[name]``, unless the
    key already holds a pipeline (set up before the function was defined, or
    shared by several functions), which is kept. At each call the pipeline is
    read from the registry again; when the key has been removed the function
    runs without filters. Filters' exceptions propagate untouched.

    Args:
        name: The join point's key in *registry*.
        registry: Any mutable mapping, a plain dict included;
            :data:`dyno.registry.default` when None.

    Returns:
        A decorator for sync or ``async def`` functions and methods, keeping
        their metadata and signature.

    Raises:
        TypeError: *name* is not a string (for instance ``@advertise`` used
            bare), or *registry* is not a mutable mapping; the decorator raises
            it for a classmethod or staticmethod object (put that decorator above).
        ValueError: *name* is empty.
    """
    if callable(name) and not isinstance(name, str):
        raise TypeError(
            f"Cannot use advertise without a name: got {describe(name)}. "
            'Write @advertise("join-point-name") instead.'
        )
    check_type("name", name, str)
    if not name:
        raise ValueError(f"'name' must not be empty (got {describe(name)})")
    table: MutableMapping[str, object]
    if registry is None:
        table = cast(MutableMapping[str, object], _registry.default)
    else:
        table = cast(MutableMapping[str, object], check_type("registry", registry, MutableMapping))

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        check_decoratable("advertise", fn)
        table.setdefault(name, [])
        point = _JoinPoint(name, table, fn)
        if is_async_callable(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> object:
                steps = point.steps()
                if not steps:
                    return await fn(*args, **kwargs)  # type: ignore[misc]  # fn is async here
                return await _run_async(point, steps, 0, args, kwargs)

            return cast(Callable[P, R], async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            steps = point.steps()
            if not steps:
                return fn(*args, **kwargs)
            return cast(R, _run_sync(point, steps, 0, args, kwargs))

        return wrapper

    return decorate


# -- the engine -------------------------------------------------------------------

# A classified pipeline item: (kind, filter function).
_BEFORE, _AFTER, _AROUND = 0, 1, 2
_KINDS: dict[type, int] = {Before: _BEFORE, After: _AFTER, Around: _AROUND}
_Step = tuple[int, Callable[..., Any]]
_Args = tuple[object, ...]
_Kwargs = dict[str, object]


class _JoinPoint:
    """One advertised function: where its pipeline lives, and how to read it."""

    __slots__ = ("function", "name", "table")

    def __init__(
        self, name: str, table: MutableMapping[str, object], function: Callable[..., Any]
    ) -> None:
        self.name = name
        self.table = table
        self.function = function

    def steps(self) -> tuple[_Step, ...]:
        """Read the pipeline now and classify its items."""
        pipeline = self.table.get(self.name)
        if pipeline is None or (type(pipeline) is list and not pipeline):
            return ()
        if type(pipeline) is not list and (
            isinstance(pipeline, (str, bytes, Mapping)) or not hasattr(pipeline, "__iter__")
        ):
            raise TypeError(
                f"Cannot run join point {self.name!r}: its pipeline must be a list of filters "
                f"(got {describe(pipeline)}). Store a list at registry[{self.name!r}]."
            )
        steps: list[_Step] = []
        for position, item in enumerate(pipeline):
            kind = _KINDS.get(type(item))
            if kind is not None:
                steps.append((kind, item.fn))
            elif callable(item):
                steps.append((_BEFORE, item))
            else:
                raise TypeError(
                    f"Cannot run join point {self.name!r}: pipeline item {position} is not "
                    f"callable (got {describe(item)}). Put callables, or before(f), after(f) "
                    "or around(f), in the pipeline."
                )
        return tuple(steps)

    def check_arguments(self, fn: Callable[..., Any], pair: object) -> tuple[_Args, _Kwargs]:
        """Return *pair* as ``(args, kwargs)``, or raise naming the filter that returned it."""
        if (
            type(pair) is tuple
            and len(pair) == 2
            and type(pair[0]) is tuple
            and type(pair[1]) is dict
        ):
            return pair
        if (
            isinstance(pair, (tuple, list))
            and len(pair) == 2
            and isinstance(pair[0], (tuple, list))
            and isinstance(pair[1], Mapping)
        ):
            return tuple(pair[0]), dict(pair[1])
        hint = (
            " It returned a coroutine: async filters need an async function."
            if inspect.iscoroutine(pair)
            else ""
        )
        if inspect.iscoroutine(pair):
            pair.close()
        raise TypeError(
            f"Cannot call {_label(self.function)} through join point {self.name!r}: "
            f"argument filter {_label(fn)} returned {describe(pair)}, not an "
            f"(args, kwargs) pair.{hint} Return (args, kwargs) from it, or wrap a "
            "result filter in aspect.after()."
        )

    def check_sync(self, fn: Callable[..., Any], result: object) -> object:
        """Refuse a coroutine from an async filter of a sync function (it would never run)."""
        if inspect.iscoroutine(result) and is_async_callable(fn):
            result.close()
            raise TypeError(
                f"Cannot call {_label(self.function)} through join point {self.name!r}: "
                f"filter {_label(fn)} is async but the function is not. "
                "Use sync filters for sync functions."
            )
        return result

    def __repr__(self) -> str:
        return f"<join point {self.name!r} of {_label(self.function)}>"


def _label(fn: object) -> str:
    qualname = getattr(fn, "__qualname__", None)
    if not isinstance(qualname, str):
        return repr(fn)
    module = getattr(fn, "__module__", None)
    return f"{module}.{qualname}" if isinstance(module, str) else qualname


def _run_sync(
    point: _JoinPoint, steps: tuple[_Step, ...], index: int, args: _Args, kwargs: _Kwargs
) -> object:
    """Run ``steps[index:]``, then the function."""
    while index < len(steps):
        kind, fn = steps[index]
        index += 1
        if kind == _BEFORE:
            pair = point.check_sync(fn, fn(*args, **kwargs))
            args, kwargs = point.check_arguments(fn, pair)
        elif kind == _AFTER:
            result = _run_sync(point, steps, index, args, kwargs)
            return point.check_sync(fn, fn(result))
        else:
            call = functools.partial(_rest_sync, point, steps, index)
            return point.check_sync(fn, fn(call, *args, **kwargs))
    return point.function(*args, **kwargs)


async def _run_async(
    point: _JoinPoint, steps: tuple[_Step, ...], index: int, args: _Args, kwargs: _Kwargs
) -> object:
    """Run ``steps[index:]``, then the coroutine function, awaiting what filters return."""
    while index < len(steps):
        kind, fn = steps[index]
        index += 1
        if kind == _BEFORE:
            pair = await _settle(fn(*args, **kwargs))
            args, kwargs = point.check_arguments(fn, pair)
        elif kind == _AFTER:
            result = await _run_async(point, steps, index, args, kwargs)
            return await _settle(fn(result))
        else:
            call = functools.partial(_rest_async, point, steps, index)
            return await _settle(fn(call, *args, **kwargs))
    return await point.function(*args, **kwargs)


def _rest_sync(
    point: _JoinPoint, steps: tuple[_Step, ...], index: int, /, *args: object, **kwargs: object
) -> object:
    """The ``call`` an around filter gets: the rest of the pipeline, then the function."""
    return _run_sync(point, steps, index, args, kwargs)


def _rest_async(
    point: _JoinPoint, steps: tuple[_Step, ...], index: int, /, *args: object, **kwargs: object
) -> Awaitable[object]:
    """The ``call`` an around filter of an async function gets; returns an awaitable."""
    return _run_async(point, steps, index, args, kwargs)


async def _settle(value: object) -> object:
    """Await *value* if it is awaitable (an async filter's result), else return it."""
    if inspect.isawaitable(value):
        return await value
    return value
