"""dyno.utils: percentile and option checking."""

from __future__ import annotations

import asyncio
import functools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dyno.utils import (
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
