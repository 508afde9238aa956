"""dyno.registry: the registry, its proxies, overrides and snapshots."""

from __future__ import annotations

import asyncio
import collections.abc
import copy
import functools
import inspect
import math
import operator
import pickle
import threading
import weakref
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dyno import registry as registry_module
from dyno.registry import NotRegistered, Registry, RegistryProxy, default, unwrap

# -- the mapping -----------------------------------------------------------------


def test_registered_key_returns_the_object_itself() -> None:
    """reg[key] returns the very object registered, not a proxy."""
    reg = Registry()
    obj = object()
    reg["db"] = obj
    assert reg["db"] is obj


def test_missing_key_returns_a_proxy_bound_to_it() -> None:
    """reg[key] for an absent key is a RegistryProxy for (reg, key), and registers nothing."""
    reg = Registry()
    handle = reg["db"]
    assert type(handle) is RegistryProxy
    assert "db" not in reg
    assert len(reg) == 0
    reg["db"] = "ready"
    assert handle == "ready"


def test_proxy_taken_before_registration_resolves_after() -> None:
    """A handle taken at import time works once setup code registers the object."""
    reg = Registry()
    handle = reg.proxy("greeting")
    reg["greeting"] = "hello"
    assert handle.upper() == "HELLO"  # type: ignore[operator]  # forwarded attribute


def test_replacement_reaches_every_holder() -> None:
    """Swapping the object at runtime changes what every proxy holder sees."""
    reg = Registry({"backend": [1]})
    first, second = reg.proxy("backend"), reg.proxy("backend")
    reg["backend"] = [1, 2, 3]
    assert len(first) == len(second) == 3


def test_unresolved_proxy_raises_not_registered_with_the_spec_message() -> None:
    """Using a proxy for an absent key raises NotRegistered, a KeyError, with the exact message."""
    reg = Registry()
    handle = reg.proxy("db")
    with pytest.raises(NotRegistered) as info:
        handle.connect()  # type: ignore[operator]  # forwarded attribute
    assert str(info.value) == 'The key: "db" has not yet been registered'
    assert isinstance(info.value, KeyError)
    assert info.value.key == "db"
    assert info.value.registry is reg


def test_not_registered_message_for_non_string_keys_and_pickling() -> None:
    """The message shows str(key); the exception pickles with its key."""
    assert str(NotRegistered(int)) == "The key: \"<class 'int'>\" has not yet been registered"
    clone = pickle.loads(pickle.dumps(NotRegistered("db")))
    assert (type(clone), clone.key, str(clone)) == (
        NotRegistered,
        "db",
        'The key: "db" has not yet been registered',
    )


def test_resolve_returns_object_or_raises() -> None:
    """resolve gives the object, never a proxy, and raises NotRegistered when absent."""
    reg = Registry({"a": 1})
    assert reg.resolve("a") == 1
    with pytest.raises(NotRegistered, match='The key: "b" has not yet been registered'):
        reg.resolve("b")


def test_get_never_returns_a_proxy() -> None:
    """get returns the object or the default (None unless given)."""
    reg = Registry({"a": 1})
    assert reg.get("a") == 1
    assert reg.get("b") is None
    assert reg.get("b", 7) == 7
    assert reg.get("a", 7) == 1


def test_mapping_methods_behave_like_a_dict() -> None:
    """in, len, iter, del, pop, popitem, setdefault, update, clear and == act as for a dict."""
    reg = Registry([("a", 1)], name="r")
    reg.update({"b": 2}, c=3)
    assert list(reg) == ["a", "b", "c"]
    assert reg == {"a": 1, "b": 2, "c": 3}
    assert reg.setdefault("a", 9) == 1
    assert reg.setdefault("d", 4) == 4
    assert reg.pop("d") == 4
    assert reg.pop("d", "gone") == "gone"
    assert reg.popitem() == ("c", 3)
    del reg["b"]
    assert dict(reg.items()) == {"a": 1}
    reg.clear()
    assert len(reg) == 0
    assert isinstance(reg, collections.abc.MutableMapping)


def test_missing_key_removals_raise_not_registered() -> None:
    """del, and pop without a default, of an absent key raise NotRegistered."""
    reg = Registry()
    with pytest.raises(NotRegistered, match='"x"'):
        del reg["x"]
    with pytest.raises(NotRegistered, match='"x"'):
        reg.pop("x")
    with pytest.raises(KeyError, match="Cannot popitem from an empty Registry"):
        reg.popitem()


def test_views_are_snapshots_safe_to_iterate_while_writing() -> None:
    """keys/values/items are snapshots: writing while iterating them does not fail."""
    reg = Registry({"a": 1, "b": 2})
    for key in reg.keys():  # noqa: SIM118  # the keys() view is what is tested
        reg[f"{key}{key}"] = 0
    for key in reg:
        del reg[key]
    assert len(reg) == 0
    reg["x"] = 5
    assert list(reg.values()) == [5]
    assert list(reg.items()) == [("x", 5)]


def test_registries_are_independent_and_default_exists() -> None:
    """Separate instances share nothing; dyno.registry.default is a Registry named 'default'."""
    one, two = Registry(), Registry()
    one["k"] = 1
    assert "k" not in two
    assert isinstance(default, Registry)
    assert default.name == "default"
    assert registry_module.default is default


def test_registry_repr_names_it_and_lists_keys() -> None:
    """repr shows the name (when given) and the keys, truncated after ten."""
    assert repr(Registry({"a": 1}, name="app")) == "<Registry name='app' keys=['a']>"
    assert repr(Registry()) == "<Registry keys=[]>"
    many = Registry({f"k{i}": i for i in range(12)})
    assert repr(many).endswith("'k9', ... (2 more)]>")

    class Services(Registry):
        """A subclass."""

    assert repr(Services()) == "<Services keys=[]>"


class Services(Registry):
    """A Registry subclass at module level, so that it pickles."""


def test_registry_copies_and_pickles_are_independent() -> None:
    """copy, deepcopy and pickle give a registry of the same class, name and contents, unshared."""
    reg = Services({"items": [1]}, name="app")
    shallow, deep = copy.copy(reg), copy.deepcopy(reg)
    unpickled = pickle.loads(pickle.dumps(reg))
    for clone in (shallow, deep, unpickled):
        assert (type(clone), clone.name, clone) == (Services, "app", {"items": [1]})
        clone["added"] = True
    assert reg == {"items": [1]}
    assert shallow["items"] is reg["items"]
    assert deep["items"] is not reg["items"]


def test_registry_rejects_bad_name() -> None:
    """A non-string name raises TypeError naming the option."""
    with pytest.raises(TypeError, match="'name' must be <class 'str'> \\(got 3 that is a"):
        Registry(name=3)  # type: ignore[arg-type]  # the bad input is the test


def test_registry_rejects_bad_initial_contents_naming_them() -> None:
    """Initial contents or update() input that dict() refuses raise naming the option and value."""
    with pytest.raises(TypeError) as info:
        Registry(3)  # type: ignore[arg-type]  # the bad input is the test
    assert str(info.value) == (
        "'initial' must be a mapping or an iterable of (key, value) pairs "
        "(got 3 that is a <class 'int'>: 'int' object is not iterable)"
    )
    with pytest.raises(ValueError, match=r"'initial' must be .* \(got \[\('a',\)\] that is a"):
        Registry([("a",)])  # type: ignore[arg-type]  # the bad input is the test
    with pytest.raises(TypeError, match=r"'other' must be a mapping .* unhashable type"):
        Registry().update([([1], 2)])  # type: ignore[type-var]  # the bad input is the test


def test_proxy_of_unhashable_key_fails_at_once() -> None:
    """proxy() of an unhashable key raises TypeError when asked, not later."""
    with pytest.raises(TypeError, match="unhashable"):
        Registry().proxy([])  # type: ignore[arg-type]  # the bad input is the test


def test_item_augmented_assignment_on_registry() -> None:
    """reg[key] += n works for registered keys and raises NotRegistered for absent ones."""
    reg = Registry({"n": 1})
    reg["n"] += 2  # type: ignore[operator]  # values are objects to mypy
    assert reg["n"] == 3
    with pytest.raises(NotRegistered):
        reg["absent"] += 1  # type: ignore[operator]  # values are objects to mypy


# -- the proxy: forwarding ------------------------------------------------------------


class Thing:
    """A plain target with attributes and a method."""

    def __init__(self) -> None:
        self.colour = "red"

    def shout(self, word: str, *, times: int = 1) -> str:
        return word.upper() * times


def proxy_to(value: object) -> Any:
    """Return a proxy to *value* in a fresh registry (typed Any so tests read naturally)."""
    reg = Registry()
    reg["target"] = value
    return reg.proxy("target")


def test_proxy_forwards_attribute_get_set_delete() -> None:
    """Attribute reads, writes and deletes reach the target."""
    thing = Thing()
    handle = proxy_to(thing)
    assert handle.colour == "red"
    handle.colour = "blue"
    assert thing.colour == "blue"
    del handle.colour
    assert not hasattr(thing, "colour")
    with pytest.raises(AttributeError):
        handle.colour  # noqa: B018  # the access is the test


def test_proxy_forwards_item_get_set_delete() -> None:
    """Item reads, writes and deletes reach the target."""
    data = {"a": 1}
    handle = proxy_to(data)
    assert handle["a"] == 1
    handle["b"] = 2
    del handle["a"]
    assert data == {"b": 2}


def test_proxy_call_returns_the_result() -> None:
    """Calling a proxy calls the target with the same arguments and returns its result."""
    handle = proxy_to(Thing().shout)
    assert handle("hi", times=2) == "HIHI"


def test_proxy_forwards_iteration_len_contains_bool() -> None:
    """iter, reversed, len, in and bool use the target."""
    handle = proxy_to([3, 4])
    assert list(handle) == [3, 4]
    assert list(reversed(handle)) == [4, 3]
    assert len(handle) == 2
    assert 3 in handle
    assert 5 not in handle
    assert bool(handle) is True
    assert bool(proxy_to([])) is False
    assert bool(proxy_to(0)) is False


@pytest.mark.parametrize(
    "op",
    [operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge],
    ids=lambda op: op.__name__,
)
@pytest.mark.parametrize("other", [4, 5, 6])
def test_proxy_forwards_comparisons(op: Callable[[Any, Any], bool], other: int) -> None:
    """Each comparison, either way round, gives what the target gives."""
    handle = proxy_to(5)
    assert op(handle, other) == op(5, other)
    assert op(other, handle) == op(other, 5)


def test_proxy_compares_with_another_proxy() -> None:
    """Two proxies compare by their targets."""
    assert proxy_to(3) < proxy_to(4)
    assert proxy_to("x") == proxy_to("x")


def test_proxy_hashes_as_its_target() -> None:
    """hash(proxy) is hash(target), so a proxy finds the target's dict entry."""
    handle = proxy_to("key")
    assert hash(handle) == hash("key")
    assert {"key": 1}[handle] == 1
    with pytest.raises(TypeError, match="unhashable"):
        hash(proxy_to([]))


BINARY = [
    operator.add,
    operator.sub,
    operator.mul,
    operator.truediv,
    operator.floordiv,
    operator.mod,
    operator.pow,
    operator.lshift,
    operator.rshift,
    operator.and_,
    operator.xor,
    operator.or_,
    divmod,
]


@pytest.mark.parametrize("op", BINARY, ids=lambda op: op.__name__)
def test_proxy_forwards_arithmetic_and_reflected(op: Callable[[Any, Any], object]) -> None:
    """Each binary operator, with the proxy on the left or right, gives the target's result."""
    handle = proxy_to(6)
    assert op(handle, 3) == op(6, 3)
    assert op(3, handle) == op(3, 6)


def test_proxy_forwards_matmul_and_pow_modulo() -> None:
    """@ (both ways) and three-argument pow are forwarded."""

    class Matrix:
        def __matmul__(self, other: object) -> str:
            return "left"

        def __rmatmul__(self, other: object) -> str:
            return "right"

    handle = proxy_to(Matrix())
    assert handle @ 1 == "left"
    assert 1 @ handle == "right"
    assert pow(proxy_to(3), 4, 5) == pow(3, 4, 5)


INPLACE = [
    (operator.iadd, 10, 3),
    (operator.isub, 10, 3),
    (operator.imul, 10, 3),
    (operator.itruediv, 10, 4),
    (operator.ifloordiv, 10, 3),
    (operator.imod, 10, 3),
    (operator.ipow, 10, 3),
    (operator.ilshift, 10, 3),
    (operator.irshift, 10, 1),
    (operator.iand, 10, 3),
    (operator.ixor, 10, 3),
    (operator.ior, 10, 3),
]


@pytest.mark.parametrize(("op", "start", "other"), INPLACE, ids=lambda x: getattr(x, "__name__", x))
def test_inplace_operator_stores_result_in_registry(
    op: Callable[[Any, Any], object], start: int, other: int
) -> None:
    """proxy op= x stores the result at the key; the name stays a proxy; other holders see it."""
    reg = Registry({"n": start})
    handle: Any = reg.proxy("n")
    other_holder = reg.proxy("n")
    result = op(handle, other)
    assert result is handle
    assert reg["n"] == op(start, other)
    assert other_holder == op(start, other)


def test_inplace_on_mutable_target_mutates_it() -> None:
    """+= on a list extends the registered list itself."""
    items = [1]
    reg = Registry({"items": items})
    handle: Any = reg.proxy("items")
    handle += [2]
    assert reg["items"] is items
    assert items == [1, 2]


def test_inplace_matmul_and_pow_modulo() -> None:
    """@= and pow with a modulo through __ipow__ store their results."""

    class Value:
        def __matmul__(self, other: object) -> str:
            return "product"

    reg = Registry({"m": Value(), "n": 3})
    handle: Any = reg.proxy("m")
    handle @= 2
    assert reg["m"] == "product"
    power: Any = reg.proxy("n")
    assert power.__ipow__(4, 5) is power
    assert reg["n"] == pow(3, 4, 5)


def test_proxy_forwards_unary_operators_and_conversions() -> None:
    """-, +, abs, ~, int, float, complex, index, round, trunc, floor, ceil go to the target."""
    handle = proxy_to(-7)
    assert (-handle, +handle, abs(handle), ~handle) == (7, -7, 7, 6)
    assert (int(handle), float(handle), complex(handle)) == (-7, -7.0, -7 + 0j)
    assert list(range(10))[proxy_to(2)] == 2
    real = proxy_to(2.567)
    assert round(real) == 3
    assert round(real, 1) == 2.6
    assert (math.trunc(real), math.floor(real), math.ceil(real)) == (2, 2, 3)
    assert bytes(proxy_to([104, 105])) == b"hi"


def test_proxy_forwards_str_format_and_dir() -> None:
    """str, format specs, f-strings and dir are the target's."""
    handle = proxy_to(3.14159)
    assert str(handle) == "3.14159"
    assert format(handle, ".2f") == "3.14"
    assert f"{handle:>8.1f}" == "     3.1"
    assert "shout" in dir(proxy_to(Thing()))


def test_proxy_reports_the_target_doc_and_module() -> None:
    """__doc__ and __module__ are the target's (functools.wraps copies them), else the proxy's."""

    def target() -> None:
        """Target doc."""

    reg = Registry({"f": target})
    handle: Any = reg.proxy("f")
    assert (handle.__doc__, handle.__module__) == ("Target doc.", __name__)
    assert functools.wraps(handle)(lambda: None).__doc__ == "Target doc."
    unresolved: Any = reg.proxy("absent")
    assert unresolved.__doc__ == RegistryProxy.__doc__
    assert unresolved.__module__ == "dyno.registry"


def test_pickling_a_proxy_says_what_to_do() -> None:
    """Pickling a proxy raises TypeError naming the key and pointing to unwrap()."""
    handle = proxy_to(3)
    with pytest.raises(TypeError) as info:
        pickle.dumps(handle)
    assert str(info.value) == (
        "Cannot pickle a proxy for key 'target': it is a live handle on a registry in this "
        "process. Pickle unwrap(proxy), the object itself, instead."
    )
    assert pickle.loads(pickle.dumps(unwrap(handle))) == 3


def test_isinstance_sees_the_target_class() -> None:
    """isinstance(proxy, TargetClass) holds for whatever class the key holds now."""
    reg = Registry()
    handle: Any = reg.proxy("thing")
    assert not isinstance(handle, Thing)
    reg["thing"] = Thing()
    assert isinstance(handle, Thing)
    assert handle.__class__ is Thing
    reg["thing"] = 5
    assert isinstance(handle, int)
    assert not isinstance(handle, Thing)


def test_a_proxy_is_still_a_registry_proxy() -> None:
    """type() and isinstance(p, RegistryProxy) tell a proxy apart, resolved or not."""
    reg = Registry()
    handle = reg.proxy("thing")
    assert isinstance(handle, RegistryProxy)
    assert handle.__class__ is RegistryProxy
    reg["thing"] = Thing()
    assert type(handle) is RegistryProxy
    assert isinstance(handle, RegistryProxy)


def test_proxy_to_a_class_works_in_isinstance_and_issubclass() -> None:
    """A proxy to a class can be the second argument of isinstance and issubclass."""
    handle = proxy_to(Thing)
    assert isinstance(Thing(), handle)
    assert not isinstance(3, handle)
    assert issubclass(Thing, handle)
    assert isinstance(handle(), Thing)


def test_proxies_do_not_pose_as_awaitables_or_iterators() -> None:
    """await/next are not forwarded, so inspect and collections.abc do not misjudge proxies."""
    handle = proxy_to(3)
    assert not inspect.isawaitable(handle)
    assert not isinstance(handle, collections.abc.Iterator)


def test_proxy_repr_names_key_and_registry() -> None:
    """repr shows the key, the registry, and the target or that it is not registered."""
    reg = Registry(name="app")
    handle = reg.proxy("db")
    assert repr(handle) == (
        "<RegistryProxy key='db' registry=<Registry name='app' keys=[]> (not registered)>"
    )
    reg["db"] = 42
    assert repr(handle) == (
        "<RegistryProxy key='db' registry=<Registry name='app' keys=['db']> target=42>"
    )


def test_copies_of_a_proxy_are_proxies_to_the_same_key() -> None:
    """copy and deepcopy give new proxies that follow the same key of the same registry."""
    reg = Registry({"k": [1]})
    handle = reg.proxy("k")
    shallow, deep = copy.copy(handle), copy.deepcopy([handle])[0]
    assert type(shallow) is RegistryProxy
    assert type(deep) is RegistryProxy
    reg["k"] = [2]
    assert shallow == deep == [2]


def test_unwrap_gives_the_target_for_identity_checks() -> None:
    """unwrap(proxy) is the registered object; unwrap(other) is other."""
    obj = Thing()
    reg = Registry({"t": obj})
    assert unwrap(reg.proxy("t")) is obj
    assert unwrap(reg["t"]) is obj
    assert unwrap(obj) is obj
    with pytest.raises(NotRegistered):
        unwrap(reg.proxy("absent"))


def test_proxies_and_registries_are_weakly_referenceable() -> None:
    """Both proxies and registries accept weak references."""
    reg = Registry()
    assert weakref.ref(reg)() is reg
    handle = reg.proxy("x")
    assert weakref.ref(handle)() is handle


UNRESOLVED_USES: list[Callable[[Any], object]] = [
    lambda p: p.attr,
    lambda p: setattr(p, "attr", 1),
    lambda p: delattr(p, "attr"),
    lambda p: p[0],
    lambda p: p.__setitem__(0, 1),
    lambda p: p.__delitem__(0),
    lambda p: p(),
    lambda p: iter(p),
    lambda p: len(p),
    lambda p: bool(p),
    lambda p: p == 1,
    lambda p: p < 1,
    lambda p: hash(p),
    lambda p: p + 1,
    lambda p: 1 + p,
    lambda p: -p,
    lambda p: str(p),
    lambda p: format(p, ""),
    lambda p: int(p),
    lambda p: 1 in p,
    lambda p: dir(p),
    lambda p: p.__enter__(),
]


@pytest.mark.parametrize("use", UNRESOLVED_USES)
def test_every_use_of_an_unresolved_proxy_raises(use: Callable[[Any], object]) -> None:
    """Every forwarded operation on a proxy with no target raises NotRegistered."""
    handle = Registry().proxy("missing")
    with pytest.raises(NotRegistered, match='The key: "missing" has not yet been registered'):
        use(handle)


def test_inplace_on_unresolved_proxy_raises() -> None:
    """proxy += x with nothing registered raises NotRegistered and registers nothing."""
    reg = Registry()
    handle: Any = reg.proxy("n")
    with pytest.raises(NotRegistered):
        handle += 1
    assert "n" not in reg


# -- the proxy: with and async with ------------------------------------------------


class Resource:
    """A context manager that records its entries and exits."""

    def __init__(self, name: str, suppress: bool = False) -> None:
        self.name = name
        self.suppress = suppress
        self.events: list[str] = []

    def __enter__(self) -> str:
        self.events.append("enter")
        return f"{self.name} entered"

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        self.events.append(f"exit {exc_type.__name__ if exc_type else None}")
        return self.suppress

    async def __aenter__(self) -> str:
        self.events.append("aenter")
        return f"{self.name} aentered"

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        self.events.append(f"aexit {exc_type.__name__ if exc_type else None}")
        return self.suppress


def test_with_proxy_enters_and_exits_the_target() -> None:
    """with proxy as x: x is the target's __enter__ result and its __exit__ runs."""
    resource = Resource("r")
    with proxy_to(resource) as value:
        assert value == "r entered"
    assert resource.events == ["enter", "exit None"]


def test_with_proxy_exits_the_object_it_entered_even_if_replaced() -> None:
    """Replacing the key inside the block does not send __exit__ to the new object."""
    first, second = Resource("a"), Resource("b")
    reg = Registry({"r": first})
    with reg.proxy("r"):
        reg["r"] = second
    assert first.events == ["enter", "exit None"]
    assert second.events == []


def boom() -> None:
    """Raise ValueError (typed as returning, so the lines after a suppressing with stay live)."""
    raise ValueError("boom")


def test_with_proxy_passes_exceptions_and_suppression() -> None:
    """The exception reaches the target's __exit__, which may suppress it."""
    resource = Resource("r")
    with pytest.raises(ValueError, match="boom"), proxy_to(resource):
        raise ValueError("boom")
    assert resource.events[-1] == "exit ValueError"
    quiet = Resource("q", suppress=True)
    with proxy_to(quiet):
        boom()
    assert quiet.events[-1] == "exit ValueError"


def test_nested_with_of_one_proxy() -> None:
    """The same proxy entered twice (nested) exits the right object each time."""
    outer, inner = Resource("outer"), Resource("inner")
    reg = Registry({"r": outer})
    handle = reg.proxy("r")
    with handle:
        reg["r"] = inner
        with handle:
            pass
        assert inner.events == ["enter", "exit None"]
    assert outer.events == ["enter", "exit None"]


def test_with_proxy_to_a_non_context_manager_raises_type_error() -> None:
    """A target without __enter__ raises the same TypeError a with statement would."""
    with pytest.raises(TypeError, match="'int' object does not support the context manager"):  # noqa: SIM117  # the inner with is the test
        with proxy_to(3):
            pass


def test_async_with_proxy_reaches_the_target() -> None:
    """async with proxy awaits the target's __aenter__/__aexit__, the entered one on exit."""
    first, second = Resource("a"), Resource("b")
    reg = Registry({"r": first})

    async def main() -> str:
        async with reg.proxy("r") as value:
            reg["r"] = second
            return str(value)

    assert asyncio.run(main()) == "a aentered"
    assert first.events == ["aenter", "aexit None"]
    assert second.events == []


def test_async_with_proxy_to_non_async_context_manager_raises() -> None:
    """A target without __aenter__ raises TypeError naming the async protocol."""

    async def main() -> None:
        async with proxy_to(3):
            pass

    with pytest.raises(TypeError, match="asynchronous context manager protocol"):
        asyncio.run(main())


# -- override, snapshot, restore ---------------------------------------------------------


def test_override_sets_then_restores_values_and_absence() -> None:
    """override(key=value) swaps in values; on exit changed keys return and added keys vanish."""
    reg = Registry({"db": "real"})
    with reg.override(db="fake", cache="memory") as inside:
        assert inside is reg
        assert reg == {"db": "fake", "cache": "memory"}
    assert reg == {"db": "real"}
    assert "cache" not in reg


def test_override_accepts_a_mapping_with_any_keys() -> None:
    """override({key: value}) works for non-string keys; keywords win over the mapping."""
    reg = Registry()
    with reg.override({Thing: "t", "x": 1}, x=2):
        assert reg[Thing] == "t"
        assert reg["x"] == 2
    assert len(reg) == 0


def test_override_reaches_existing_proxies() -> None:
    """A proxy taken before the override sees the override, then the original again."""
    reg = Registry({"n": 1})
    handle = reg.proxy("n")
    with reg.override(n=2):
        assert handle == 2
    assert handle == 1


def test_nested_overrides_restore_exactly() -> None:
    """Nested overrides of the same and different keys unwind layer by layer."""
    reg = Registry({"a": 1})
    with reg.override(a=2, b=2):
        with reg.override(a=3, c=3):
            assert reg == {"a": 3, "b": 2, "c": 3}
        assert reg == {"a": 2, "b": 2}
    assert reg == {"a": 1}


def test_override_restores_when_the_block_raises() -> None:
    """An exception in the block still restores, and propagates unchanged."""
    reg = Registry({"a": 1})
    error = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt) as info, reg.override(a=2):
        raise error
    assert info.value is error
    assert reg == {"a": 1}


def test_override_restores_keys_deleted_or_replaced_inside() -> None:
    """Overridden keys are put back even if the block deleted them; other edits are kept."""
    reg = Registry({"a": 1, "other": 1})
    with reg.override(a=2, b=2):
        del reg["a"]
        del reg["b"]
        reg["other"] = 5
    assert reg == {"a": 1, "other": 5}


def test_override_is_single_use_while_active_and_reusable_after() -> None:
    """Entering one override object twice at once raises; after exit it may be reused."""
    reg = Registry()
    change = reg.override(a=1)
    with change:
        with pytest.raises(RuntimeError, match="Cannot enter this override again"):  # noqa: SIM117  # testing re-entry
            with change:
                pass
        assert "active" in repr(change)
    with change:
        assert reg["a"] == 1
    assert "a" not in reg


def test_override_rejects_a_non_mapping() -> None:
    """override with a non-mapping positional raises TypeError naming the option."""
    with pytest.raises(TypeError, match="'values' must be"):
        Registry().override([("a", 1)])  # type: ignore[arg-type]  # the bad input is the test


def test_snapshot_and_restore_by_hand() -> None:
    """restore(snapshot()) puts back removed keys, drops added ones and resets changed ones."""
    reg = Registry({"a": 1, "b": 2})
    saved = reg.snapshot()
    reg["a"] = 10
    del reg["b"]
    reg["c"] = 3
    assert saved == {"a": 1, "b": 2}
    reg.restore(saved)
    assert reg == {"a": 1, "b": 2}


def test_snapshot_is_read_only_and_detached() -> None:
    """A snapshot cannot be written and does not change with the registry."""
    reg = Registry({"a": 1})
    saved: Any = reg.snapshot()
    with pytest.raises(TypeError):
        saved["a"] = 2
    reg["a"] = 5
    assert saved["a"] == 1


def test_restore_rejects_non_mapping() -> None:
    """restore of something that is not a mapping raises TypeError naming the option."""
    with pytest.raises(TypeError, match="'snapshot' must be"):
        Registry().restore([("a", 1)])  # type: ignore[arg-type]  # the bad input is the test


KEYS = st.sampled_from(["a", "b", "c", "d"])
LAYER = st.tuples(
    st.dictionaries(KEYS, st.integers(0, 9)),  # what the layer overrides
    st.dictionaries(KEYS, st.none() | st.integers(10, 19)),  # edits inside (None: delete)
)


ABSENT = object()


class Unwind(Exception):
    """Raised in the innermost override to check restoring while an exception propagates."""


def nest(
    reg: Registry,
    model: dict[str, object],
    layers: list[tuple[dict[str, int], dict[str, int | None]]],
    fail: bool,
) -> None:
    """Enter layers[0]'s override, edit, recurse, and check the model after each exit."""
    if not layers:
        if fail:
            raise Unwind
        return
    overrides, edits = layers[0]
    before = {key: model.get(key, ABSENT) for key in overrides}
    try:
        with reg.override(overrides):
            model.update(overrides)
            assert reg == model
            for key, value in edits.items():
                if value is None:
                    reg.pop(key, None)
                    model.pop(key, None)
                else:
                    reg[key] = model[key] = value
            nest(reg, model, layers[1:], fail)
    finally:
        for key, old in before.items():
            if old is ABSENT:
                model.pop(key, None)
            else:
                model[key] = old
        assert reg == model


@settings(max_examples=60, deadline=None)
@given(
    initial=st.dictionaries(KEYS, st.integers(0, 9)),
    layers=st.lists(LAYER, max_size=5),
    fail=st.booleans(),
)
def test_a_registry_override_always_restores(
    initial: dict[str, int],
    layers: list[tuple[dict[str, int], dict[str, int | None]]],
    fail: bool,
) -> None:
    """Random nested overrides, with edits inside and maybe an exception, unwind as a dict model."""
    reg = Registry(initial)
    model: dict[str, object] = dict(initial)
    try:
        nest(reg, model, layers, fail)
    except Unwind:
        assert fail
    assert reg == model
    if not any(edits for _, edits in layers):
        assert reg == initial


# -- threads -----------------------------------------------------------------------------


def run_threads(count: int, work: Callable[[int], None]) -> None:
    """Start *count* threads running work(index) together; join them with a bound."""
    barrier = threading.Barrier(count, timeout=10)
    errors: list[BaseException] = []

    def body(index: int) -> None:
        try:
            barrier.wait()
            work(index)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive()
    assert errors == []


def test_inplace_increments_are_exact_under_contention() -> None:
    """Eight threads doing proxy += 1 lose no increment."""
    reg = Registry({"count": 0})
    counter: Any = reg.proxy("count")

    def work(_: int) -> None:
        nonlocal counter
        for _ in range(500):
            counter += 1

    run_threads(8, work)
    assert reg["count"] == 4000


def test_concurrent_reads_and_writes_stay_consistent() -> None:
    """Readers always find a key writers replace; overrides of distinct keys in threads restore."""
    reg = Registry({"shared": 0})

    def work(index: int) -> None:
        for step in range(300):
            if index % 2:
                reg["shared"] = step
            else:
                assert isinstance(reg.resolve("shared"), int)
                assert type(reg["shared"]) is int
            with reg.override({f"own{index}": step}):
                assert reg[f"own{index}"] == step

    run_threads(8, work)
    assert list(reg) == ["shared"]


def test_iteration_while_other_threads_write_never_fails() -> None:
    """Iterating keys and items while other threads add and remove keys raises nothing."""
    reg = Registry()

    def work(index: int) -> None:
        for step in range(300):
            if index % 2:
                reg[(index, step)] = step
                del reg[(index, step)]
            else:
                list(reg)
                dict(reg.items())
                len(reg)

    run_threads(6, work)
    assert len(reg) == 0


def test_registry_iter_is_an_iterator() -> None:
    """iter(registry) yields keys (a plain iterator over a snapshot)."""
    reg = Registry({"a": 1})
    keys: Iterator[object] = iter(reg)
    assert next(keys) == "a"


def test_readers_never_see_a_restore_half_done() -> None:
    """A key present before and after restore() is never missing to a concurrent reader."""
    reg = Registry({"always": 0, "sometimes": 0})
    with_extra = reg.snapshot()
    without_extra = Registry({"always": 1}).snapshot()
    missing: list[int] = []

    def work(index: int) -> None:
        for step in range(2000):
            if index == 0:
                reg.restore(with_extra if step % 2 else without_extra)
            elif reg.get("always") is None:
                missing.append(step)

    run_threads(4, work)
    assert missing == []
