"""dyno.utils: percentile, option checking and the weak registry by name."""

from __future__ import annotations

import asyncio
import functools
import gc
import math
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dyno.utils import (
    NamedWeakRegistry,
    check_callable,
    check_choice,
    check_decoratable,
    check_exception_types,
    check_int,
    check_number,
    check_optional_number,
    check_type,
    is_async_callable,
    percentile,
    refuse_method_object,
)


def test_percentile_matches_dyno_02() -> None:
    """Nearest rank as dyno 0.2: p99 and p50 of 0..99 are 99 and 50."""
    data = list(range(100))
    assert percentile(99, data) == 99
    assert percentile(50, data) == 50
    assert percentile(0, data) == 0
    assert percentile(100, data) == 99


def test_percentile_sorts_its_input() -> None:
    """Input order does not matter."""
    assert percentile(50, [5, 1, 4, 2, 3]) == 3


def test_percentile_single_value() -> None:
    """One value is every percentile."""
    assert percentile(0, [7]) == 7
    assert percentile(100, [7]) == 7


def test_percentile_empty_raises() -> None:
    """Empty data raises ValueError saying why."""
    with pytest.raises(ValueError, match="Cannot take a percentile of empty data"):
        percentile(50, [])


@pytest.mark.parametrize("bad", [-1, 100.5, math.nan])
def test_percentile_out_of_range(bad: float) -> None:
    """A percent outside 0..100 raises ValueError naming the option."""
    with pytest.raises(ValueError, match="'percent' must be"):
        percentile(bad, [1, 2])


@given(st.lists(st.floats(allow_nan=False), min_size=1), st.floats(min_value=0, max_value=100))
def test_percentile_is_a_member_and_monotonic(data: list[float], p: float) -> None:
    """The result is one of the data, and never above a higher percentile."""
    value = percentile(p, data)
    assert value in data
    assert value <= percentile(100, data)
    assert value >= percentile(0, data)


def test_check_number_messages() -> None:
    """Messages name the option, the bound, the value and its type."""
    with pytest.raises(ValueError) as info:
        check_number("timeout", -1, low=0)
    assert str(info.value) == "'timeout' must be >= 0 (got -1 that is a <class 'int'>)"
    with pytest.raises(ValueError) as info:
        check_number("ratio", 0, low=0, low_open=True, high=1)
    assert str(info.value) == "'ratio' must be > 0 (got 0 that is a <class 'int'>)"
    with pytest.raises(ValueError) as info:
        check_number("ratio", 1, high=1, high_open=True)
    assert str(info.value) == "'ratio' must be < 1 (got 1 that is a <class 'int'>)"
    with pytest.raises(TypeError) as type_info:
        check_number("timeout", "3")
    assert str(type_info.value) == (
        "'timeout' must be a real number (int or float) (got '3' that is a <class 'str'>)"
    )


def test_check_number_refuses_bools_and_nan() -> None:
    """Booleans are not numbers here, and NaN is refused."""
    with pytest.raises(TypeError):
        check_number("volume", True)
    with pytest.raises(ValueError, match="not NaN"):
        check_number("volume", math.nan)


def test_check_number_infinities_follow_the_bounds() -> None:
    """Infinity passes where no bound excludes it; a bound on its side refuses it."""
    assert check_number("timeout", math.inf, low=0) == math.inf
    with pytest.raises(ValueError, match=r"'ratio' must be <= 1 \(got inf that is a"):
        check_number("ratio", math.inf, low=0, high=1)
    with pytest.raises(ValueError, match=r"'timeout' must be >= 0 \(got -inf that is a"):
        check_number("timeout", -math.inf, low=0)


def test_check_int() -> None:
    """check_int wants an int at or above the bound."""
    assert check_int("attempts", 3, low=1) == 3
    with pytest.raises(TypeError, match="'attempts' must be an int"):
        check_int("attempts", 1.5, low=1)
    with pytest.raises(ValueError, match="'attempts' must be >= 1"):
        check_int("attempts", 0, low=1)


def test_check_optional_number() -> None:
    """None passes through; numbers are checked."""
    assert check_optional_number("deadline", None) is None
    assert check_optional_number("deadline", 2, low=0) == 2.0
    with pytest.raises(ValueError):
        check_optional_number("deadline", -2, low=0)


def test_check_type() -> None:
    """check_type returns the value or names the expected types."""
    assert check_type("name", "db", str) == "db"
    with pytest.raises(TypeError) as info:
        check_type("name", 3, (str, type(None)))
    assert str(info.value) == (
        "'name' must be one of <class 'str'>, <class 'NoneType'> (got 3 that is a <class 'int'>)"
    )
    with pytest.raises(TypeError):
        check_type("count", True, int)


def test_check_callable_and_choice() -> None:
    """Callables pass, others fail; choices list the allowed values."""
    assert check_callable("fallback", print) is print
    with pytest.raises(TypeError, match="'fallback' must be callable"):
        check_callable("fallback", 3)
    assert check_choice("jitter", "full", ["full", "equal", None]) == "full"
    with pytest.raises(ValueError) as info:
        check_choice("jitter", "half", ["full", "equal", None])
    assert str(info.value) == (
        "'jitter' must be one of 'full', 'equal', None (got 'half' that is a <class 'str'>)"
    )


def test_check_decoratable_refuses_descriptors_and_non_callables() -> None:
    """Functions pass; classmethod/staticmethod objects and non-callables raise TypeError."""
    assert check_decoratable("retry", print) is print

    def plain(*args: object) -> None:
        """A function to wrap in descriptors."""

    descriptors: list[object] = [classmethod(plain), staticmethod(plain)]
    for descriptor in descriptors:
        kind = type(descriptor)
        with pytest.raises(TypeError) as info:
            check_decoratable("retry", descriptor)
        assert str(info.value) == (
            f"Cannot apply @retry to {descriptor!r}: it is a {kind.__name__} object, not a "
            f"function. Put @{kind.__name__} above @retry instead."
        )
    with pytest.raises(TypeError, match=r"'fn' must be callable \(got 3 that is a"):
        check_decoratable("retry", 3)


def test_refuse_method_object_passes_anything_else() -> None:
    """refuse_method_object lets functions and option values through and refuses descriptors."""
    for value in (print, 3, None, "name"):
        refuse_method_object("retry", value)
    with pytest.raises(TypeError, match=r"Put @staticmethod above @retry instead\.$"):
        refuse_method_object("retry", staticmethod(print))


def test_check_exception_types() -> None:
    """A class or an iterable of classes becomes a tuple; anything else is refused."""
    assert check_exception_types("on", ValueError) == (ValueError,)
    assert check_exception_types("on", [KeyError, OSError]) == (KeyError, OSError)
    with pytest.raises(TypeError, match="'on' must be an exception class"):
        check_exception_types("on", "ValueError")  # type: ignore[arg-type]  # bad on purpose
    with pytest.raises(TypeError, match="int'> is not an exception class"):
        check_exception_types("on", (ValueError, int))  # type: ignore[arg-type]  # bad on purpose


def test_is_async_callable() -> None:
    """Coroutine functions, partials of them and async __call__ objects are async."""

    async def coro() -> None:
        await asyncio.sleep(0)

    def plain() -> None:
        return None

    class AsyncCallable:
        async def __call__(self) -> None:
            await asyncio.sleep(0)

    assert is_async_callable(coro)
    assert is_async_callable(functools.partial(coro))
    assert is_async_callable(AsyncCallable())

    class AsyncDescriptor(AsyncCallable):
        def __get__(self, instance: object, owner: type | None = None) -> AsyncDescriptor:
            return self

    assert is_async_callable(AsyncDescriptor())
    assert not is_async_callable(plain)
    assert not is_async_callable(functools.partial(plain))
    assert not is_async_callable(AsyncCallable)


# -- NamedWeakRegistry ------------------------------------------------------------------


class _Thing:
    """A weakly referenceable object to register."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.me = self  # a reference cycle: only the collector frees it

    def __repr__(self) -> str:
        return f"<Thing {self.label}>"


def test_named_weak_registry_maps_each_name_to_its_newest_live_object() -> None:
    """The view maps a name to the newest object; live() lists all of them, oldest first."""
    registry: NamedWeakRegistry[_Thing] = NamedWeakRegistry("things")
    first, second, other = _Thing("first"), _Thing("second"), _Thing("other")
    registry.add("db", first)
    registry.add("cache", other)
    registry.add("db", second)
    view = registry.view
    assert view["db"] is second
    assert registry.newest("db") is second
    assert registry.live("db") == [first, second]
    assert list(view) == ["db", "cache"]
    assert len(view) == 2
    assert "db" in view
    assert "missing" not in view
    assert registry.newest("missing") is None
    assert registry.live("missing") == []
    with pytest.raises(KeyError, match="missing"):
        view["missing"]


def test_named_weak_registry_forgets_collected_objects() -> None:
    """An object's entry vanishes when it is collected; an older live one takes its name."""
    registry: NamedWeakRegistry[_Thing] = NamedWeakRegistry("things")
    older, newer = _Thing("older"), _Thing("newer")
    registry.add("db", older)
    registry.add("db", newer)
    del newer
    gc.collect()
    assert registry.view["db"] is older
    assert len(registry._refs["db"]) == 1
    del older
    gc.collect()
    assert dict(registry.view) == {}
    assert registry.names() == []
    assert "db" not in registry._refs


def test_named_weak_registry_view_is_read_only() -> None:
    """The view is a Mapping, not a MutableMapping: assigning to it raises TypeError."""
    registry: NamedWeakRegistry[_Thing] = NamedWeakRegistry("things")
    view = registry.view
    assert isinstance(view, Mapping)
    assert not isinstance(view, MutableMapping)
    with pytest.raises(TypeError):
        view["db"] = _Thing("db")  # type: ignore[index]  # the point: a Mapping refuses it


def test_named_weak_registry_reprs() -> None:
    """The view's repr lists the sorted names, or {name: newest} with repr_objects."""
    names: NamedWeakRegistry[_Thing] = NamedWeakRegistry("things")
    objects: NamedWeakRegistry[_Thing] = NamedWeakRegistry("things", repr_objects=True)
    keep = [_Thing("b"), _Thing("a")]
    for registry in (names, objects):
        registry.add("b", keep[0])
        registry.add("a", keep[1])
    assert repr(names.view) == "<things ['a', 'b']>"
    assert repr(objects.view) == "<things {'b': <Thing b>, 'a': <Thing a>}>"
    assert repr(names) == "<NamedWeakRegistry things ['b', 'a']>"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.booleans()), max_size=12))
def test_named_weak_registry_view_is_the_newest_kept_object(
    steps: list[tuple[str, bool]],
) -> None:
    """Whatever is added and dropped, the view maps each name to its newest surviving object."""
    registry: NamedWeakRegistry[_Thing] = NamedWeakRegistry("things")
    kept: list[_Thing] = []
    expected: dict[str, _Thing] = {}
    for index, (name, keep) in enumerate(steps):
        thing = _Thing(f"{name}{index}")
        registry.add(name, thing)
        if keep:
            kept.append(thing)
            expected[name] = thing
        del thing
    gc.collect()
    assert dict(registry.view) == expected
    assert all(len(registry._refs[name]) == len(registry.live(name)) for name in registry.names())


def test_named_weak_registry_keeps_every_concurrent_add() -> None:
    """Threads adding under one name at once lose no entry."""
    registry: NamedWeakRegistry[_Thing] = NamedWeakRegistry("things")
    barrier = threading.Barrier(8, timeout=10)
    kept: list[list[_Thing]] = [[] for _ in range(8)]

    def add_many(index: int) -> None:
        barrier.wait()
        for count in range(50):
            thing = _Thing(f"{index}-{count}")
            kept[index].append(thing)
            registry.add("shared", thing)

    threads = [threading.Thread(target=add_many, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads)
    assert len(registry.live("shared")) == 400
    assert {id(thing) for thing in registry.live("shared")} == {
        id(thing) for things in kept for thing in things
    }


def test_named_weak_registry_collection_under_its_lock_does_not_deadlock() -> None:
    """An object freed by a collection that runs while the registry's lock is held cannot hang."""
    # In a subprocess: a deadlock there fails this test instead of hanging the suite.
    code = (
        "import gc\n"
        "from dyno.utils import NamedWeakRegistry\n"
        "class Cycle:\n"
        "    def __init__(self):\n"
        "        self.me = self\n"
        "registry = NamedWeakRegistry('cycles')\n"
        "registry.add('cyclic', Cycle())\n"
        "with registry._lock:\n"
        "    gc.collect()\n"
        "assert 'cyclic' not in registry.view\n"
        "assert 'cyclic' not in registry._refs\n"
        "print('done')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "done\n", "")


def _every_decorator() -> list[tuple[str, Callable[[Any], object]]]:
    """Each dyno decorator (bare and called) with the name its refusal message gives it."""
    from dyno.aspect import advertise
    from dyno.breaker import Breaker, CircuitBreaker, Limiter
    from dyno.cache import cache
    from dyno.harness import harness
    from dyno.injection import inject, inject3
    from dyno.metrics import Metrics
    from dyno.retry import retry
    from dyno.service import service
    from dyno.timing import timed

    return [
        ("service", service),
        ("service", service()),
        ("metrics", Metrics()),
        ("breaker", CircuitBreaker()),
        ("breaker", Breaker()),
        ("limiter", Limiter(1)),
        ("cache", cache),
        ("cache", cache(lifetime=1)),
        ("timed", timed),
        ("timed", timed("x")),
        ("retry", retry),
        ("retry", retry(2)),
        ("inject", inject),
        ("inject", inject(db=dict)),
        ("inject3", inject3),
        ("inject3", inject3()),
        ("harness", harness),
        ("harness", harness()),
        ("advertise", advertise("join-point", {})),
    ]


@pytest.mark.parametrize("kind", [classmethod, staticmethod])
def test_every_decorator_refuses_method_objects_alike(kind: type[Any]) -> None:
    """Every dyno decorator refuses classmethod/staticmethod objects with the same fix."""

    def method(*args: object) -> None:
        """A method body."""

    for decorator, decorate in _every_decorator():
        descriptor = kind(method)
        with pytest.raises(TypeError) as info:
            decorate(descriptor)
        assert str(info.value) == (
            f"Cannot apply @{decorator} to {descriptor!r}: it is a {kind.__name__} object, "
            f"not a function. Put @{kind.__name__} above @{decorator} instead."
        ), decorator
