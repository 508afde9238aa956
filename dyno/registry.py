"""Runtime resolution of named objects: a registry and proxies into it.

A :class:`Registry` is a thread-safe mutable mapping from keys (usually
names) to objects. Code that needs a collaborator takes a handle on its key
instead of the object itself; setup code (or a test) fills the key in, or
swaps the object at runtime, and every holder of the handle sees the change::

    db = registry.default.proxy("db")   # taken at import time, before setup
    ...
    registry.default["db"] = connect()  # setup code fills it in
    db.query("select 1")                # forwarded to the object

``reg[key]`` returns the object itself when the key is registered and a
:class:`RegistryProxy` when it is not (dyno 0.2), so a module can take a
handle before setup code runs. :meth:`Registry.proxy` always returns a proxy;
:meth:`Registry.resolve` and :meth:`Registry.get` never do.

Registries are plain instances with no hidden global state; the one shared
instance is :data:`default`. :meth:`Registry.override` swaps objects in for a
``with`` block and puts back exactly what was there, absence included.
"""

from __future__ import annotations

import math
import operator
import threading
from collections.abc import (
    Callable,
    Hashable,
    ItemsView,
    Iterable,
    Iterator,
    KeysView,
    Mapping,
    MutableMapping,
    ValuesView,
)
from contextlib import AbstractContextManager
from contextvars import ContextVar
from types import MappingProxyType, TracebackType
from typing import Any, NoReturn, SupportsIndex, TypeVar, overload

from dyno.utils import check_type, describe

__all__ = [
    "Registry",
    "RegistryProxy",
    "NotRegistered",
    "default",
    "unwrap",
]

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)

_MISSING: Any = object()
_REPR_KEYS = 10


class NotRegistered(KeyError):
    """Raised when a key has no object in a registry.

    A :class:`KeyError`, so ``except KeyError`` and mapping code keep working.

    Attributes:
        key: The key that was looked up.
        registry: The registry it was looked up in, or None.
    """

    def __init__(self, key: Hashable, registry: Registry | None = None) -> None:
        super().__init__(key)
        self.key = key
        self.registry = registry

    def __str__(self) -> str:
        # KeyError.__str__ would repr() the argument and add quotes.
        return f'The key: "{self.key}" has not yet been registered'


class Registry(MutableMapping[Hashable, object]):
    """A thread-safe mapping of keys to objects that hands out proxies for missing keys.

    Use as many instances as you like (one per tenant, per test, per
    subsystem); :data:`default` is the shared one.

    ``reg[key]`` returns the object, or a :class:`RegistryProxy` bound to
    ``(reg, key)`` when *key* is not registered yet. Everything else behaves
    as a dict: ``in``, ``len``, iteration, ``del`` (raises
    :class:`NotRegistered` for a missing key), ``pop``, ``update``, ``==``.
    ``keys()``, ``values()`` and ``items()`` are consistent snapshots, so they
    are safe to iterate while other threads write.

    Args:
        initial: A mapping or an iterable of ``(key, value)`` pairs to start with.
        name: A label for :func:`repr` and error reports (the default registry
            is called ``'default'``).

    Raises:
        TypeError: *name* is not a string or None, or *initial* is neither a
            mapping nor an iterable of pairs.
        ValueError: An item of *initial* is not a pair.
    """

    __slots__ = ("__weakref__", "_data", "_lock", "_name")

    def __init__(
        self,
        initial: Mapping[K, object] | Iterable[tuple[K, object]] = (),
        /,
        *,
        name: str | None = None,
    ) -> None:
        if name is not None:
            check_type("name", name, str)
        self._name = name
        # Writers serialise on the lock. Reads are single dict operations,
        # atomic under the GIL (and locked per dict on free-threaded builds),
        # so they skip it; restore() swaps in a whole new dict so that no
        # reader ever sees it half done.
        self._lock = threading.RLock()
        self._data = _as_dict("initial", initial)

    @property
    def name(self) -> str | None:
        """The label given at construction, or None."""
        return self._name

    # -- the mapping ---------------------------------------------------------

    def __getitem__(self, key: Hashable) -> object:
        """Return the object registered at *key*, or a proxy bound to *key* when absent."""
        value = self._data.get(key, _MISSING)
        if value is _MISSING:
            return RegistryProxy(self, key)
        return value

    def __setitem__(self, key: Hashable, value: object) -> None:
        with self._lock:
            self._data[key] = value

    def __delitem__(self, key: Hashable) -> None:
        with self._lock:
            if self._data.pop(key, _MISSING) is _MISSING:
                raise NotRegistered(key, self)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[Hashable]:
        with self._lock:
            return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)

    def keys(self) -> KeysView[Hashable]:
        """Return a snapshot of the keys."""
        return self.snapshot().keys()

    def values(self) -> ValuesView[object]:
        """Return a snapshot of the objects."""
        return self.snapshot().values()

    def items(self) -> ItemsView[Hashable, object]:
        """Return a snapshot of the ``(key, object)`` pairs."""
        return self.snapshot().items()

    def get(self, key: Hashable, default: object = None) -> object:
        """Return the object registered at *key*, or *default* (never a proxy)."""
        return self._data.get(key, default)

    def pop(self, key: Hashable, default: object = _MISSING) -> object:
        """Remove *key* and return its object, or *default* when absent.

        Raises:
            NotRegistered: *key* is absent and no *default* was given.
        """
        with self._lock:
            value = self._data.pop(key, default)
        if value is _MISSING:
            raise NotRegistered(key, self)
        return value

    def popitem(self) -> tuple[Hashable, object]:
        """Remove and return the most recently added ``(key, object)`` pair.

        Raises:
            KeyError: The registry is empty.
        """
        with self._lock:
            if not self._data:
                raise KeyError("Cannot popitem from an empty Registry: it holds no keys.")
            return self._data.popitem()

    def setdefault(self, key: Hashable, default: object = None) -> object:
        """Return the object at *key*, registering *default* there first when absent."""
        with self._lock:
            return self._data.setdefault(key, default)

    def clear(self) -> None:
        """Remove every key."""
        with self._lock:
            self._data.clear()

    def update(  # type: ignore[override]  # one signature instead of typeshed's overloads
        self,
        other: Mapping[K, object] | Iterable[tuple[K, object]] = (),
        /,
        **kwargs: object,
    ) -> None:
        """Register every pair of *other* and *kwargs* at once (atomically)."""
        changes = _as_dict("other", other)
        changes.update(kwargs)
        with self._lock:
            self._data.update(changes)

    # -- resolution ----------------------------------------------------------

    def proxy(self, key: Hashable) -> RegistryProxy:
        """Return a proxy that forwards to whatever *key* holds at each use.

        The key need not be registered yet; using the proxy before it is
        raises :class:`NotRegistered`.

        Raises:
            TypeError: *key* is not hashable.
        """
        hash(key)
        return RegistryProxy(self, key)

    def resolve(self, key: Hashable) -> object:
        """Return the object registered at *key* (never a proxy).

        Raises:
            NotRegistered: Nothing is registered at *key*.
        """
        value = self._data.get(key, _MISSING)
        if value is _MISSING:
            raise NotRegistered(key, self)
        return value

    def _apply(self, key: Hashable, change: Callable[[object], object]) -> None:
        """Replace the object at *key* with ``change(object)``, atomically."""
        with self._lock:
            value = self._data.get(key, _MISSING)
            if value is _MISSING:
                raise NotRegistered(key, self)
            self._data[key] = change(value)

    # -- overriding ----------------------------------------------------------

    def override(
        self, values: Mapping[K, object] | None = None, /, **kwargs: object
    ) -> AbstractContextManager[Registry]:
        """Register objects for a ``with`` block, then put back exactly what was there.

        ``with reg.override(db=fake):`` or ``with reg.override({Database: fake}):``
        (both may be combined; keywords win). On exit, however the block ends,
        each overridden key holds its previous object again, or is removed if
        it was absent. Keys the block changed that were not overridden keep
        their new values. Overrides nest; each exit undoes only its own entry.

        Overrides change the registry for every thread while they are active.

        Returns:
            A single-use context manager whose ``as`` target is the registry.

        Raises:
            TypeError: *values* is not a mapping.
        """
        changes: dict[Hashable, object] = {}
        if values is not None:
            changes.update(_as_dict("values", check_type("values", values, Mapping)))
        changes.update(kwargs)
        return _Override(self, changes)

    def snapshot(self) -> Mapping[Hashable, object]:
        """Return a read-only copy of the current contents, for :meth:`restore`."""
        with self._lock:
            return MappingProxyType(dict(self._data))

    def restore(self, snapshot: Mapping[K, object]) -> None:
        """Make the registry hold exactly *snapshot*'s pairs: added keys go, removed keys return.

        Raises:
            TypeError: *snapshot* is not a mapping.
        """
        contents = _as_dict("snapshot", check_type("snapshot", snapshot, Mapping))
        with self._lock:
            self._data = contents

    def __reduce__(self) -> tuple[object, ...]:
        # Without this, copy.copy() would share the dict and the lock with the
        # original; this way copies, deep copies and pickles get their own.
        return (_rebuild, (type(self), dict(self.snapshot()), self._name))

    def __repr__(self) -> str:
        with self._lock:
            keys = list(self._data)
        shown = ", ".join(repr(key) for key in keys[:_REPR_KEYS])
        if len(keys) > _REPR_KEYS:
            shown += f", ... ({len(keys) - _REPR_KEYS} more)"
        label = "" if self._name is None else f" name={self._name!r}"
        return f"<{type(self).__name__}{label} keys=[{shown}]>"


def _rebuild(cls: type[Registry], contents: dict[Hashable, object], name: str | None) -> Registry:
    """Make a registry holding *contents* (what copying or unpickling one does)."""
    # mypy cannot solve __init__'s key TypeVar through type[Registry]; Registry(...) is fine.
    return cls(contents, name=name)  # type: ignore[arg-type]


def _as_dict(
    option: str, items: Mapping[K, object] | Iterable[tuple[K, object]]
) -> dict[Hashable, object]:
    """Copy a mapping or ``(key, value)`` pairs into a dict, as ``dict()`` would.

    Raises:
        TypeError, ValueError: What ``dict()`` raises, with *option* and *items* named.
    """
    pairs = items.items() if isinstance(items, Mapping) else items
    try:
        result: dict[Hashable, object] = dict(pairs)
    except (TypeError, ValueError) as error:
        kind = ValueError if isinstance(error, ValueError) else TypeError
        raise kind(
            f"'{option}' must be a mapping or an iterable of (key, value) pairs "
            f"(got {describe(items)}: {error})"
        ) from error
    return result


class _Override(AbstractContextManager[Registry]):
    """The context manager :meth:`Registry.override` returns."""

    __slots__ = ("_changes", "_registry", "_saved")

    def __init__(self, registry: Registry, changes: dict[Hashable, object]) -> None:
        self._registry = registry
        self._changes = changes
        self._saved: dict[Hashable, object] | None = None

    def __enter__(self) -> Registry:
        registry = self._registry
        if self._saved is not None:
            raise RuntimeError(
                "Cannot enter this override again: it is already active. "
                "Call registry.override(...) once per with block."
            )
        with registry._lock:
            self._saved = {key: registry._data.get(key, _MISSING) for key in self._changes}
            registry._data.update(self._changes)
        return registry

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        registry, saved = self._registry, self._saved
        assert saved is not None
        with registry._lock:
            for key, value in saved.items():
                if value is _MISSING:
                    registry._data.pop(key, None)
                else:
                    registry._data[key] = value
        self._saved = None

    def __repr__(self) -> str:
        state = "active" if self._saved is not None else "inactive"
        return f"<registry override {state} keys={list(self._changes)!r} of {self._registry!r}>"


_OWN = frozenset({"_dyno_registry", "_dyno_key"})
# Every class defines these, so the proxy's own would shadow the target's.
_TARGET_FIRST = frozenset({"__doc__", "__module__"})

#: The registry shared by the whole process (``reg`` arguments default to it).
default = Registry(name="default")


@overload
def unwrap(value: RegistryProxy) -> object: ...
@overload
def unwrap(value: T) -> T: ...
def unwrap(value: object) -> object:
    """Return the object behind *value* if it is a :class:`RegistryProxy`, else *value*.

    Useful for identity checks (``unwrap(proxy) is obj``), which a proxy
    cannot forward.

    Raises:
        NotRegistered: *value* is a proxy whose key is not registered.
    """
    if type(value) is RegistryProxy:
        return _target(value)
    return value


# -- the proxy -----------------------------------------------------------------

# Which object each `with proxy:` block entered, so that its exit reaches that
# same object even if the key was replaced inside the block. A context
# variable keeps threads and asyncio tasks apart.
_entered: ContextVar[tuple[tuple[RegistryProxy, object, object], ...]] = ContextVar(
    "dyno_registry_entered", default=()
)


def _target(proxy: RegistryProxy) -> Any:
    return _registry_of(proxy).resolve(_key_of(proxy))


def _special(target: object, name: str) -> Any:
    """Look *name* up on the type, as the interpreter does for ``with``."""
    try:
        return getattr(type(target), name)
    except AttributeError:
        protocol = "asynchronous context manager" if name.startswith("__a") else "context manager"
        raise TypeError(
            f"{type(target).__qualname__!r} object does not support the {protocol} protocol"
        ) from None


def _push(proxy: RegistryProxy, target: object, exit_method: object) -> None:
    _entered.set((*_entered.get(), (proxy, target, exit_method)))


def _pop(proxy: RegistryProxy, name: str) -> tuple[object, Any]:
    stack = _entered.get()
    for index in range(len(stack) - 1, -1, -1):
        if stack[index][0] is proxy:
            _entered.set(stack[:index] + stack[index + 1 :])
            return stack[index][1], stack[index][2]
    # Entered elsewhere (another context): exit whatever the key holds now.
    target = _target(proxy)
    return target, _special(target, name)


def _inplace(
    proxy: RegistryProxy, op: Callable[[Any, object], object], other: object
) -> RegistryProxy:
    _registry_of(proxy)._apply(_key_of(proxy), lambda value: op(value, other))
    return proxy


class RegistryProxy:
    """A stand-in for whatever a registry holds at a key, looked up at every use.

    It forwards attribute access (get, set, delete), item access, calls,
    iteration, ``in``, ``len``, ``bool``, comparisons, hashing, arithmetic
    (plain, reflected and in-place), unary operators, numeric conversions,
    ``str``, ``format``, ``dir``, ``with`` and ``async with``. ``isinstance``
    checks see the target's class. Using a proxy whose key is not registered
    raises :class:`NotRegistered`.

    In-place operators (``proxy += 1``) store their result back in the
    registry, atomically, so every holder sees it. ``copy.copy`` and
    ``copy.deepcopy`` give another proxy bound to the same key; pickling
    refuses (a registry lives in one process). Identity (``is``) cannot be
    forwarded: use :func:`unwrap`.

    Not forwarded, so that proxies do not all look awaitable or like
    iterators to ``inspect`` and ``collections.abc`` checks: ``await``,
    ``next()``, ``async for``.

    Args:
        registry: The registry to look in.
        key: The key to look up.
    """

    __slots__ = ("__weakref__", "_dyno_key", "_dyno_registry")

    _dyno_registry: Registry
    _dyno_key: Hashable

    def __init__(self, registry: Registry, key: Hashable) -> None:
        object.__setattr__(self, "_dyno_registry", check_type("registry", registry, Registry))
        object.__setattr__(self, "_dyno_key", key)

    # -- identity and introspection -------------------------------------------

    @property  # type: ignore[misc]  # deliberately shadows object.__class__ for isinstance
    def __class__(self) -> type:
        try:
            return _target(self).__class__  # type: ignore[no-any-return]  # a class
        except NotRegistered:
            return type(self)

    def __repr__(self) -> str:
        registry = _registry_of(self)
        head = f"<RegistryProxy key={_key_of(self)!r} registry={registry!r}"
        value = registry.get(_key_of(self), _MISSING)
        if value is _MISSING:
            return f"{head} (not registered)>"
        return f"{head} target={value!r}>"

    def __dir__(self) -> Iterable[str]:
        return dir(_target(self))

    def __copy__(self) -> RegistryProxy:
        return RegistryProxy(_registry_of(self), _key_of(self))

    def __deepcopy__(self, memo: dict[int, object]) -> RegistryProxy:
        return RegistryProxy(_registry_of(self), _key_of(self))

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        raise TypeError(
            f"Cannot pickle a proxy for key {_key_of(self)!r}: it is a live handle on a "
            "registry in this process. Pickle unwrap(proxy), the object itself, instead."
        )

    def __instancecheck__(self, instance: object) -> bool:
        return isinstance(instance, _target(self))

    def __subclasscheck__(self, subclass: type) -> bool:
        return issubclass(subclass, _target(self))

    # -- attributes ------------------------------------------------------------

    def __getattribute__(self, name: str) -> object:
        # Overriding __getattribute__ rather than __getattr__ forwards without
        # first failing a lookup on the proxy, which costs an exception.
        if name in _OWN:
            return object.__getattribute__(self, name)
        if name[:2] == "__" == name[-2:]:
            if name in _TARGET_FIRST:
                # As for __class__: the target's, so functools.wraps and help() describe it.
                try:
                    return getattr(_target(self), name)
                except NotRegistered:
                    return object.__getattribute__(self, name)
            # The proxy's own dunders first (__class__, __weakref__), then the target's.
            try:
                return object.__getattribute__(self, name)
            except AttributeError:
                pass
        return getattr(_target(self), name)

    def __setattr__(self, name: str, value: object) -> None:
        setattr(_target(self), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(_target(self), name)

    # -- containers and calls ----------------------------------------------------

    def __call__(self, *args: object, **kwargs: object) -> object:
        return _target(self)(*args, **kwargs)

    def __getitem__(self, key: object) -> object:
        return _target(self)[key]

    def __setitem__(self, key: object, value: object) -> None:
        _target(self)[key] = value

    def __delitem__(self, key: object) -> None:
        del _target(self)[key]

    def __iter__(self) -> Iterator[object]:
        return iter(_target(self))

    def __reversed__(self) -> Iterator[object]:
        target: Any = reversed(_target(self))
        return target  # type: ignore[no-any-return]  # reversed() of Any is Any

    def __contains__(self, item: object) -> bool:
        return item in _target(self)

    def __len__(self) -> int:
        return len(_target(self))

    def __bool__(self) -> bool:
        return bool(_target(self))

    # -- text --------------------------------------------------------------------

    def __str__(self) -> str:
        return str(_target(self))

    def __format__(self, format_spec: str) -> str:
        return format(_target(self), format_spec)

    def __bytes__(self) -> bytes:
        return bytes(_target(self))

    # -- comparisons and hashing ---------------------------------------------------

    def __eq__(self, other: object) -> bool:
        return _target(self) == other  # type: ignore[no-any-return]  # whatever == gives

    def __ne__(self, other: object) -> bool:
        return _target(self) != other  # type: ignore[no-any-return]  # whatever != gives

    def __lt__(self, other: object) -> bool:
        return _target(self) < other  # type: ignore[no-any-return]  # whatever < gives

    def __le__(self, other: object) -> bool:
        return _target(self) <= other  # type: ignore[no-any-return]  # whatever <= gives

    def __gt__(self, other: object) -> bool:
        return _target(self) > other  # type: ignore[no-any-return]  # whatever > gives

    def __ge__(self, other: object) -> bool:
        return _target(self) >= other  # type: ignore[no-any-return]  # whatever >= gives

    def __hash__(self) -> int:
        return hash(_target(self))

    # -- arithmetic ------------------------------------------------------------------

    def __add__(self, other: object) -> object:
        return _target(self) + other

    def __sub__(self, other: object) -> object:
        return _target(self) - other

    def __mul__(self, other: object) -> object:
        return _target(self) * other

    def __matmul__(self, other: object) -> object:
        return _target(self) @ other

    def __truediv__(self, other: object) -> object:
        return _target(self) / other

    def __floordiv__(self, other: object) -> object:
        return _target(self) // other

    def __mod__(self, other: object) -> object:
        return _target(self) % other

    def __divmod__(self, other: object) -> object:
        return divmod(_target(self), other)

    def __pow__(self, other: object, modulo: object = None) -> object:
        if modulo is None:
            return _target(self) ** other
        return pow(_target(self), other, modulo)

    def __lshift__(self, other: object) -> object:
        return _target(self) << other

    def __rshift__(self, other: object) -> object:
        return _target(self) >> other

    def __and__(self, other: object) -> object:
        return _target(self) & other

    def __xor__(self, other: object) -> object:
        return _target(self) ^ other

    def __or__(self, other: object) -> object:
        return _target(self) | other

    def __radd__(self, other: object) -> object:
        return other + _target(self)

    def __rsub__(self, other: object) -> object:
        return other - _target(self)

    def __rmul__(self, other: object) -> object:
        return other * _target(self)

    def __rmatmul__(self, other: object) -> object:
        return other @ _target(self)

    def __rtruediv__(self, other: object) -> object:
        return other / _target(self)

    def __rfloordiv__(self, other: object) -> object:
        return other // _target(self)

    def __rmod__(self, other: object) -> object:
        return other % _target(self)

    def __rdivmod__(self, other: object) -> object:
        return divmod(other, _target(self))

    def __rpow__(self, other: object) -> object:
        return other ** _target(self)

    def __rlshift__(self, other: object) -> object:
        return other << _target(self)

    def __rrshift__(self, other: object) -> object:
        return other >> _target(self)

    def __rand__(self, other: object) -> object:
        return other & _target(self)

    def __rxor__(self, other: object) -> object:
        return other ^ _target(self)

    def __ror__(self, other: object) -> object:
        return other | _target(self)

    def __iadd__(self, other: object) -> RegistryProxy:
        return _inplace(self, operator.iadd, other)

    def __isub__(self, other: object) -> RegistryProxy:
        return _inplace(self, operator.isub, other)

    def __imul__(self, other: object) -> RegistryProxy:
        return _inplace(self, operator.imul, other)

    def __imatmul__(self, other: object) -> RegistryProxy:
        return _inplace(self, operator.imatmul, other)

    def __itruediv__(self, other: object) -> RegistryProxy:
        return _inplace(self, operator.itruediv, other)

    def __ifloordiv__(self, other: object) -> RegistryProxy:
        return _inplace(self, operator.ifloordiv, other)

    def __imod__(self, other: object) -> RegistryProxy:
        return _inplace(self, operator.imod, other)

    def __ipow__(self, other: object, modulo: object = None) -> RegistryProxy:
        if modulo is not None:
            return _inplace(self, lambda value, power: pow(value, power, modulo), other)
        return _inplace(self, operator.ipow, other)

    def __ilshift__(self, other: object) -> RegistryProxy:
        return _inplace(self, operator.ilshift, other)

    def __irshift__(self, other: object) -> RegistryProxy:
        return _inplace(self, operator.irshift, other)

    def __iand__(self, other: object) -> RegistryProxy:
        return _inplace(self, operator.iand, other)

    def __ixor__(self, other: object) -> RegistryProxy:
        return _inplace(self, operator.ixor, other)

    def __ior__(self, other: object) -> RegistryProxy:
        return _inplace(self, operator.ior, other)

    # -- unary operators and conversions -----------------------------------------------

    def __neg__(self) -> object:
        return -_target(self)

    def __pos__(self) -> object:
        return +_target(self)

    def __abs__(self) -> object:
        return abs(_target(self))

    def __invert__(self) -> object:
        return ~_target(self)

    def __int__(self) -> int:
        return int(_target(self))

    def __float__(self) -> float:
        return float(_target(self))

    def __complex__(self) -> complex:
        return complex(_target(self))

    def __index__(self) -> int:
        return operator.index(_target(self))

    def __round__(self, ndigits: int | None = None) -> object:
        return round(_target(self), ndigits)

    def __trunc__(self) -> object:
        return math.trunc(_target(self))

    def __floor__(self) -> object:
        return math.floor(_target(self))

    def __ceil__(self) -> object:
        return math.ceil(_target(self))

    # -- context managers ------------------------------------------------------------------

    def __enter__(self) -> object:
        target = _target(self)
        enter, exit_method = _special(target, "__enter__"), _special(target, "__exit__")
        result = enter(target)
        _push(self, target, exit_method)
        return result

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        target, exit_method = _pop(self, "__exit__")
        return exit_method(target, exc_type, exc, tb)  # type: ignore[no-any-return]  # ditto

    async def __aenter__(self) -> object:
        target = _target(self)
        enter, exit_method = _special(target, "__aenter__"), _special(target, "__aexit__")
        result = await enter(target)
        _push(self, target, exit_method)
        return result

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        target, exit_method = _pop(self, "__aexit__")
        return await exit_method(target, exc_type, exc, tb)  # type: ignore[no-any-return]  # ditto


_registry_of: Callable[[RegistryProxy], Registry] = RegistryProxy.__dict__["_dyno_registry"].__get__
_key_of: Callable[[RegistryProxy], Hashable] = RegistryProxy.__dict__["_dyno_key"].__get__
