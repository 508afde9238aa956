"""Bits every dyno module shares: statistics, option checking, a weak registry by name.

:func:`percentile` is public (dyno 0.2). The ``check_*`` helpers validate
options at construction time so that bad input fails at once with a message
naming the option, the value and its type, in the style of attrs validators::

    'attempts' must be >= 1 (got 0 that is a <class 'int'>)
"""

from __future__ import annotations

import functools
import inspect
import math
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

__all__ = ["percentile"]

T = TypeVar("T")


def percentile(percent: float, data: Iterable[float]) -> float:
    """Return the nearest-rank *percent* percentile of *data* (dyno 0.2).

    The value at index ``int(len(data) * percent / 100)`` of the sorted data,
    clamped to the last element, so ``percentile(99, range(100)) == 99``,
    ``percentile(50, range(100)) == 50`` and ``percentile(100, data)`` is the
    maximum.

    Args:
        percent: A number from 0 to 100.
        data: Numbers in any order.

    Raises:
        ValueError: *data* is empty, or *percent* is outside 0..100.
        TypeError: *percent* is not a real number.
    """
    percent = check_number("percent", percent, low=0, high=100)
    ordered = sorted(data)
    if not ordered:
        raise ValueError(
            "Cannot take a percentile of empty data: there is no value to rank. "
            "Pass at least one number."
        )
    index = min(int(len(ordered) * percent / 100), len(ordered) - 1)
    return ordered[index]


# -- option checking ---------------------------------------------------------


def describe(value: object) -> str:
    """Return ``"<repr> that is a <type>"`` for error messages."""
    return f"{value!r} that is a {type(value)!r}"


def check_type(option: str, value: T, expected: type | tuple[type, ...]) -> T:
    """Return *value* if it is an instance of *expected*, else raise ``TypeError``."""
    if not isinstance(value, expected) or (
        isinstance(value, bool) and bool not in _as_tuple(expected)
    ):
        raise TypeError(f"'{option}' must be {_type_names(expected)} (got {describe(value)})")
    return value


def check_number(
    option: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
) -> float:
    """Check that *value* is a real number within bounds and return it as a float.

    Booleans are refused (``True`` is not a sensible number of seconds), and so
    is NaN. Infinities pass unless a bound excludes them (an infinite timeout
    reads naturally as "no limit").

    Args:
        option: The option's name, for the message.
        value: What the caller passed.
        low: Smallest allowed value (exclusive when *low_open*).
        high: Largest allowed value (exclusive when *high_open*).
        integer: Require an ``int``.

    Raises:
        TypeError: *value* is not a number (or not an int when *integer*).
        ValueError: *value* is NaN or out of bounds.
    """
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        kind = "an int" if integer else "a real number (int or float)"
        raise TypeError(f"'{option}' must be {kind} (got {describe(value)})")
    number = float(value)  # type: ignore[arg-type]  # isinstance above proved int | float
    if math.isnan(number):
        raise ValueError(f"'{option}' must be a number, not NaN (got {describe(value)})")
    if low is not None and (number < low or (low_open and number == low)):
        raise ValueError(
            f"'{option}' must be {'>' if low_open else '>='} {low} (got {describe(value)})"
        )
    if high is not None and (number > high or (high_open and number == high)):
        raise ValueError(
            f"'{option}' must be {'<' if high_open else '<='} {high} (got {describe(value)})"
        )
    return number


def check_int(option: str, value: object, *, low: int | None = None) -> int:
    """Check that *value* is an ``int`` (not a bool) ``>= low`` and return it."""
    check_number(option, value, low=low, integer=True)
    assert isinstance(value, int)
    return value


def check_optional_number(
    option: str, value: object, *, low: float | None = None, low_open: bool = False
) -> float | None:
    """Like :func:`check_number`, but ``None`` passes through as ``None``."""
    if value is None:
        return None
    return check_number(option, value, low=low, low_open=low_open)


def check_callable(option: str, value: T) -> T:
    """Return *value* if it is callable, else raise ``TypeError``."""
    if not callable(value):
        raise TypeError(f"'{option}' must be callable (got {describe(value)})")
    return value


def check_decoratable(decorator: str, value: T, *, option: str = "fn") -> T:
    """Return *value* if a decorator can wrap it: callable, and not a bare descriptor.

    A ``classmethod`` or ``staticmethod`` object under a decorator would be
    wrapped as a plain function and then bound wrongly (or, for a
    classmethod, not be callable at all), so it is refused with the fix.

    Args:
        decorator: The decorator's name as users write it, for the message.
        value: What the decorator was applied to.
        option: The decorator's parameter, named when *value* is not callable.

    Raises:
        TypeError: *value* is a classmethod or staticmethod object, or not callable.
    """
    refuse_method_object(decorator, value)
    return check_callable(option, value)


def refuse_method_object(decorator: str, value: object) -> None:
    """Raise :func:`check_decoratable`'s ``TypeError`` if *value* is a classmethod/staticmethod.

    For decorators usable bare, before they tell the function from their
    options: a classmethod object is not callable, so it would otherwise be
    reported as a bad option instead of a misplaced decorator.

    Raises:
        TypeError: *value* is a classmethod or staticmethod object.
    """
    if isinstance(value, (classmethod, staticmethod)):
        kind = type(value).__name__
        raise TypeError(
            f"Cannot apply @{decorator} to {value!r}: it is a {kind} object, not a function. "
            f"Put @{kind} above @{decorator} instead."
        )


def check_choice(option: str, value: T, choices: Sequence[object]) -> T:
    """Return *value* if it is one of *choices*, else raise ``ValueError``."""
    if value not in choices:
        allowed = ", ".join(repr(choice) for choice in choices)
        raise ValueError(f"'{option}' must be one of {allowed} (got {describe(value)})")
    return value


def check_exception_types(
    option: str, value: type[BaseException] | Iterable[type[BaseException]]
) -> tuple[type[BaseException], ...]:
    """Normalise an exception class or an iterable of them to a tuple.

    Raises:
        TypeError: *value* or one of its items is not an exception class.
    """
    candidate: object = value
    items: tuple[object, ...]
    if isinstance(candidate, (type, str, bytes)):
        items = (candidate,)
    elif isinstance(candidate, Iterable):
        items = tuple(candidate)
    else:
        items = (candidate,)
    classes: list[type[BaseException]] = []
    for item in items:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise TypeError(
                f"'{option}' must be an exception class or a tuple of them "
                f"(got {describe(value)}; {item!r} is not an exception class)"
            )
        classes.append(item)
    return tuple(classes)


def is_async_callable(fn: Callable[..., Any]) -> bool:
    """Return True when calling *fn* returns a coroutine.

    Sees through :func:`functools.partial` and objects whose ``__call__`` is
    ``async def``.
    """
    while isinstance(fn, functools.partial):
        fn = fn.func
    if inspect.iscoroutinefunction(fn):
        return True
    if (
        isinstance(fn, type)
        or inspect.isfunction(fn)
        or inspect.ismethod(fn)
        or inspect.isbuiltin(fn)
    ):
        return False  # calling a class makes an instance, not a coroutine
    return inspect.iscoroutinefunction(type(fn).__call__)


# -- named objects -----------------------------------------------------------------


class NamedWeakRegistry(Generic[T]):
    """Hold objects weakly by name: several may share a name, the newest counts.

    What ``dyno.breaker.breakers`` and ``dyno.service.services`` are built on.
    An entry vanishes when its object is garbage collected.

    A weakref callback may run inside a garbage collection on any thread, even
    one that holds this registry's lock (a non-reentrant lock: taking it there
    would deadlock), so the callback only appends the name to a deque
    (``deque.append`` is atomic) and the next locked operation prunes it.

    Args:
        label: What the objects are, for the view's repr (``"breakers"``).
        repr_objects: The view's repr shows ``{name: newest}`` instead of the
            sorted names.
    """

    __slots__ = ("_dead", "_label", "_lock", "_refs", "_repr_objects")

    def __init__(self, label: str, *, repr_objects: bool = False) -> None:
        self._label = label
        self._repr_objects = repr_objects
        self._lock = threading.Lock()
        self._refs: dict[str, list[weakref.ref[T]]] = {}
        self._dead: deque[str] = deque()

    def add(self, name: str, obj: T) -> None:
        """Register *obj* under *name*, after any live objects already there."""
        dead = self._dead
        ref = weakref.ref(obj, lambda _: dead.append(name))
        with self._lock:
            self._prune()
            self._refs.setdefault(name, []).append(ref)

    def live(self, name: str) -> list[T]:
        """Return the live objects called *name*, oldest first."""
        with self._lock:
            self._prune()
            refs = tuple(self._refs.get(name, ()))
        return [obj for obj in (ref() for ref in refs) if obj is not None]

    def newest(self, name: str) -> T | None:
        """Return the newest live object called *name*, or None."""
        with self._lock:
            self._prune()
            refs = tuple(self._refs.get(name, ()))
        for ref in reversed(refs):
            obj = ref()
            if obj is not None:
                return obj
        return None

    def names(self) -> list[str]:
        """Return the names that have a live object, in registration order."""
        with self._lock:
            self._prune()
            named = [(name, tuple(refs)) for name, refs in self._refs.items()]
        return [name for name, refs in named if any(ref() is not None for ref in refs)]

    @property
    def view(self) -> Mapping[str, T]:
        """A read-only mapping of names to the newest live object of each."""
        return _NamedView(self)

    def _prune(self) -> None:
        """Drop the references of objects that died (lock held)."""
        dead, refs = self._dead, self._refs
        while dead:
            name = dead.popleft()
            held = refs.get(name)
            if held is not None:
                alive = [ref for ref in held if ref() is not None]
                if alive:
                    refs[name] = alive
                else:
                    del refs[name]

    def __repr__(self) -> str:
        return f"<NamedWeakRegistry {self._label} {self.names()!r}>"


class _NamedView(Mapping[str, T]):
    """Read-only mapping of names to the newest live object of a :class:`NamedWeakRegistry`."""

    __slots__ = ("_registry",)

    def __init__(self, registry: NamedWeakRegistry[T]) -> None:
        self._registry = registry

    def __getitem__(self, name: str) -> T:
        obj = self._registry.newest(name)
        if obj is None:
            raise KeyError(name)
        return obj

    def __iter__(self) -> Iterator[str]:
        return iter(self._registry.names())

    def __len__(self) -> int:
        return len(self._registry.names())

    def __repr__(self) -> str:
        registry = self._registry
        if registry._repr_objects:
            return f"<{registry._label} {dict(self.items())!r}>"
        return f"<{registry._label} {sorted(self)!r}>"


def _as_tuple(expected: type | tuple[type, ...]) -> tuple[type, ...]:
    return expected if isinstance(expected, tuple) else (expected,)


def _type_names(expected: type | tuple[type, ...]) -> str:
    names = [repr(kind) for kind in _as_tuple(expected)]
    return names[0] if len(names) == 1 else "one of " + ", ".join(names)
