"""dyno.cache: keys, expiry policies, single flight, statistics and memory backends."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import math
import random
import threading
from collections.abc import Callable, Hashable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dyno import cache as cache_module
from dyno.cache import (
    DAYS,
    HOURS,
    MINUTES,
    CacheInfo,
    DictCache,
    Entry,
    ExpiryPolicy,
    ExponentialTimeout,
    LinearTimeout,
    MemoryBackend,
    StaticTimeout,
    Store,
    XFetch,
    cache,
    exponential_timeout,
    linear_timeout,
    static_timeout,
    xfetch,
)
from dyno.clock import FakeClock, use_clock

WAIT = 10.0  # bound on every real wait in these tests; never reached when all is well


def wait_until(condition: Callable[[], bool]) -> None:
    """Wait (bounded) until *condition* holds, e.g. until threads are parked on a flight."""
    pause = threading.Event()
    for _ in range(int(WAIT / 0.001)):
        if condition():
            return
        pause.wait(0.001)
    raise AssertionError("condition not reached in time")


class Recorder:
    """A function to cache that records its calls and can be held inside the computation."""

    def __init__(self, clock: FakeClock | None = None, delta: float = 0.0) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.lock = threading.Lock()
        self.gate: threading.Event | None = None
        self.entered = threading.Event()
        self.clock = clock
        self.delta = delta
        self.fail: Exception | None = None

    def __call__(self, *args: Any) -> Any:
        with self.lock:
            self.calls.append(args)
            number = len(self.calls)
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(WAIT)
        if self.clock is not None and self.delta:
            self.clock.advance(self.delta)
        if self.fail is not None:
            raise self.fail
        return (args, number)


# -- the decorator --------------------------------------------------------------------


def test_bare_and_called_forms_both_cache() -> None:
    """@cache and @cache() both memoise and keep the function's metadata."""

    @cache
    def bare(x: int) -> int:
        """Double x."""
        return x * 2

    @cache()
    def called(x: int) -> int:
        return x * 3

    assert bare(2) == 4
    assert bare(2) == 4
    assert called(2) == 6
    assert called(2) == 6
    assert bare.cache_info() == CacheInfo(hits=1, misses=1, recomputes=0, size=1)
    assert called.cache_info().hits == 1
    assert bare.__name__ == "bare"
    assert bare.__doc__ == "Double x."
    assert bare.__wrapped__(5) == 10
    assert str(inspect.signature(bare)) == "(x: 'int') -> 'int'"


def test_dyno_02_positional_argument_order() -> None:
    """cache(backend, keys, lifetime) takes its options positionally, as in dyno 0.2."""
    clock = FakeClock()
    backend = DictCache()
    seen = Recorder()

    @cache(backend, ["a"], 10, clock=clock)
    def f(a: int, b: int) -> Any:
        return seen(a, b)

    assert f(1, 2) == f(1, 3)
    assert len(seen.calls) == 1
    assert len(backend) == 1
    clock.advance(10)
    f(1, 2)
    assert len(seen.calls) == 2


def test_spellings_of_one_call_share_an_entry() -> None:
    """Positional, keyword and default spellings of the same call make one entry."""
    seen = Recorder()

    @cache
    def f(a: int, b: int = 2, *, c: int = 3) -> Any:
        return seen(a, b, c)

    first = f(1)
    assert f(1, 2) == first
    assert f(a=1) == first
    assert f(b=2, a=1, c=3) == first
    assert f(1, c=3) == first
    assert f(1, 2, c=4) != first
    assert len(seen.calls) == 2
    assert f.cache_info().size == 2


@settings(max_examples=40, deadline=None)
@given(
    a=st.integers(-3, 3),
    b=st.one_of(st.none(), st.integers(-3, 3)),
    spell_a=st.booleans(),
    spell_b=st.booleans(),
)
def test_any_spelling_hits_the_entry_of_the_canonical_call(
    a: int, b: int | None, spell_a: bool, spell_b: bool
) -> None:
    """Whatever the spelling, a call hits the entry its canonical positional call made."""
    seen = Recorder()

    @cache
    def f(a: int, b: int = 0) -> Any:
        return seen(a, b)

    expected = f(a, 0 if b is None else b)
    kwargs: dict[str, int] = {}
    args: list[int] = []
    if spell_a:
        kwargs["a"] = a
    else:
        args.append(a)
    if b is not None:
        if spell_b or spell_a:
            kwargs["b"] = b
        else:
            args.append(b)
    assert f(*args, **kwargs) == expected
    assert len(seen.calls) == 1


def test_var_positional_and_var_keyword_arguments_form_the_key() -> None:
    """*args and **kwargs take part in the key; keyword order does not matter."""
    seen = Recorder()

    @cache
    def f(a: int, *rest: int, **options: int) -> Any:
        return seen(a, rest, tuple(sorted(options.items())))

    assert f(1, 2, 3, x=1, y=2) == f(1, 2, 3, y=2, x=1)
    assert f(1, 2) != f(1, 2, 3)
    assert len(seen.calls) == 3


def test_positional_only_parameters_are_kept() -> None:
    """A positional-only parameter stays positional-only on the wrapper."""

    @cache
    def f(a: int, /, b: int = 1) -> int:
        return a + b

    assert f(1) == f(1, 1) == f(1, b=1) == 2
    assert f.cache_info().misses == 1
    with pytest.raises(TypeError, match="positional-only"):
        f(a=1)  # type: ignore[call-arg]  # the wrong call on purpose


def test_wrong_arguments_raise_the_functions_own_error() -> None:
    """A call that does not fit the signature raises Python's TypeError, naming the function."""

    @cache
    def f(a: int) -> int:
        return a

    with pytest.raises(TypeError, match=r"f\(\) missing 1 required positional argument: 'a'"):
        f()  # type: ignore[call-arg]  # the wrong call on purpose


def test_keys_select_the_arguments_forming_the_key() -> None:
    """With keys, calls differing only in other arguments share an entry."""
    seen = Recorder()

    @cache(keys=["user"])
    def f(user: int, trace: object = None) -> Any:
        return seen(user, trace)

    assert f(1, "a") == f(1, "b") == f(user=1)
    assert f(2, "a") != f(1)
    assert len(seen.calls) == 2


def test_keys_may_be_a_single_name_and_empty_means_all() -> None:
    """keys="name" is one name; an empty keys list means every argument (dyno 0.2)."""
    seen = Recorder()

    @cache(keys="a")
    def f(a: int, b: int) -> Any:
        return seen(a, b)

    @cache(keys=[])
    def g(a: int, b: int) -> Any:
        return seen(a, b)

    assert f(1, 1) == f(1, 2)
    assert g(1, 1) != g(1, 2)
    assert len(seen.calls) == 3


def test_unknown_key_name_fails_at_decoration() -> None:
    """keys naming a missing argument raises ValueError at decoration, naming it."""
    with pytest.raises(ValueError) as info:

        @cache(keys=["user", "nope"])
        def f(user: int) -> int:
            return user

    assert str(info.value) == (
        "Cannot key test_unknown_key_name_fails_at_decoration.<locals>.f() on 'nope': it has "
        "no argument of that name (it has 'user'). Name arguments of the function in 'keys'."
    )


def test_unhashable_argument_raises_a_type_error_naming_it() -> None:
    """An unhashable argument raises TypeError naming the argument and the way out."""

    @cache
    def f(a: int, items: list[int]) -> int:
        return a + len(items)

    with pytest.raises(TypeError) as info:
        f(1, [1, 2])
    assert str(info.value) == (
        "Cannot cache test_unhashable_argument_raises_a_type_error_naming_it.<locals>.f(): "
        "argument 'items' is unhashable (got [1, 2] that is a <class 'list'>). Pass hashable "
        "arguments, leave 'items' out of 'keys', or give cache(key=...) a function returning "
        "a hashable key instead."
    )
    assert f.cache_info().size == 0


def test_unhashable_var_keyword_names_the_keyword() -> None:
    """An unhashable **kwargs value is named by its keyword; *args by the parameter."""

    @cache
    def f(*args: object, **kwargs: object) -> int:
        return 1

    with pytest.raises(TypeError, match="argument 'tags' is unhashable"):
        f(tags={"a"})
    with pytest.raises(TypeError, match="argument 'args' is unhashable"):
        f(1, [2])


def test_key_function_allows_unhashable_arguments() -> None:
    """A key= function builds the key from the call's arguments, unhashable ones included."""
    seen = Recorder()

    @cache(key=lambda items, scale=1: (tuple(items), scale))
    def total(items: list[int], scale: int = 1) -> Any:
        return seen(tuple(items), scale)

    assert total([1, 2]) == total([1, 2], scale=1)
    assert len(seen.calls) == 1


def test_key_function_returning_unhashable_raises() -> None:
    """A key function whose key is unhashable gets a TypeError saying so."""

    @cache(key=lambda x: [x])  # type: ignore[arg-type, return-value]  # unhashable on purpose
    def f(x: int) -> int:
        return x

    with pytest.raises(TypeError, match=r"the key function returned an unhashable key \(got \[1\]"):
        f(1)


def test_keys_and_key_together_are_refused() -> None:
    """Giving both keys= and key= raises ValueError."""
    with pytest.raises(ValueError, match="Cannot use both 'keys'"):
        cache(keys=["a"], key=lambda a: a)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"lifetime": -1}, ValueError, "'lifetime' must be >= 0 (got -1 that is a <class 'int'>)"),
        ({"lifetime": "60"}, TypeError, "'lifetime' must be a number of seconds, an ExpiryPolicy"),
        ({"lifetime": True}, TypeError, "'lifetime' must be a number of seconds"),
        ({"backend": {}}, TypeError, "'backend' must be a dyno.cache.Backend"),
        ({"single_flight": 1}, TypeError, "'single_flight' must be <class 'bool'>"),
        ({"clock": object()}, TypeError, "'clock' must implement dyno.clock.Clock"),
        ({"key": 3}, TypeError, "'key' must be callable (got 3 that is a <class 'int'>)"),
        ({"keys": 3}, TypeError, "'keys' must be an argument name or a list of them"),
        ({"keys": [1]}, TypeError, "'keys' must hold argument names as strings"),
    ],
)
def test_bad_options_fail_at_construction(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    """Wrong option types and values raise at once, naming the option and the value."""
    with pytest.raises(error) as info:
        cache(**options)
    assert str(info.value).startswith(message)


def test_function_with_options_is_wrapped_with_those_options() -> None:
    """cache(function, keys, lifetime=...) applies the options instead of dropping them."""
    clock = FakeClock()
    seen = Recorder()

    def lookup(a: int, b: str) -> Any:
        return seen(a, b)

    f = cache(lookup, ["a"], lifetime=10, clock=clock)  # type: ignore[call-overload]  # untyped form
    assert f(1, "x") == f(1, "y")
    clock.advance(10)
    f(1, "x")
    assert seen.calls == [(1, "x"), (1, "x")]
    assert f.cache_info() == CacheInfo(hits=1, misses=2, recomputes=1, size=1)


def test_backend_class_is_refused_with_advice() -> None:
    """A backend class instead of an instance fails at once, saying to instantiate it."""
    message = (
        "Cannot use the class MemoryBackend as 'backend': a backend is an instance. "
        "Pass MemoryBackend() instead."
    )
    with pytest.raises(TypeError) as info:
        cache(MemoryBackend)  # the class on purpose (typed as bare use of a callable)
    assert str(info.value) == message
    with pytest.raises(TypeError) as info:
        cache(backend=MemoryBackend, lifetime=10)  # type: ignore[call-overload]  # class on purpose
    assert str(info.value) == message


def test_classmethod_object_is_refused_with_advice() -> None:
    """@cache above @classmethod raises TypeError telling to swap the decorators."""
    with pytest.raises(TypeError) as info:

        class Bad:
            @cache  # the wrong order on purpose
            @classmethod
            def f(cls) -> int:
                return 1

    message = str(info.value)
    assert message.startswith("Cannot apply @cache to <classmethod(")
    assert message.endswith(
        "it is a classmethod object, not a function. Put @classmethod above @cache instead."
    )


def test_generator_functions_are_refused() -> None:
    """Caching a generator function raises TypeError: a generator is consumed once."""

    def numbers() -> Iterator[int]:
        yield 1

    with pytest.raises(TypeError, match="Cannot cache generator function"):
        cache(numbers)


def test_self_is_part_of_a_methods_key() -> None:
    """On a method each instance has its own entries; keys= can leave self out."""
    seen = Recorder()

    class Service:
        @cache
        def get(self, x: int) -> Any:
            return seen(id(self), x)

        @cache(keys=["x"])
        def shared(self, x: int) -> Any:
            return seen("shared", x)

        @classmethod
        @cache
        def make(cls, x: int) -> Any:
            return seen(cls.__name__, x)

    one, two = Service(), Service()
    assert one.get(1) == one.get(1)
    assert one.get(1) != two.get(1)
    assert one.shared(1) == two.shared(1)
    # mypy applies CachedFunction.__get__ under @classmethod; at runtime cls is bound.
    assert Service.make(1) == Service.make(1)  # type: ignore[call-arg, arg-type]
    assert len(seen.calls) == 4
    assert one.get.cache_info() == Service.get.cache_info()
    assert Service.get.cache_info().hits == 2


def test_callable_without_signature_keys_on_arguments_as_given() -> None:
    """A callable whose signature is unknown is keyed on its arguments as passed."""
    seen = Recorder()

    class Opaque:
        __signature__ = property(lambda self: (_ for _ in ()).throw(ValueError("no signature")))

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return seen(args, tuple(sorted(kwargs.items())))

    cached = cache(Opaque())
    assert cached(1, x=2) == cached(1, x=2)
    assert len(seen.calls) == 1
    with pytest.raises(ValueError, match="its signature is unknown"):
        cache(keys=["a"])(Opaque())


# -- expiry policies -----------------------------------------------------------------------


def test_number_lifetime_recomputes_once_it_has_passed() -> None:
    """lifetime=t serves the value until t seconds have passed, then recomputes it."""
    clock = FakeClock()
    seen = Recorder()
    f = cache(lifetime=10, clock=clock)(seen)
    first = f(1)
    clock.advance(9.999)
    assert f(1) == first
    clock.advance(0.001)
    assert f(1) != first
    assert f.cache_info() == CacheInfo(hits=1, misses=2, recomputes=1, size=1)


def test_no_lifetime_keeps_values_forever() -> None:
    """lifetime=None never recomputes, however much time passes."""
    clock = FakeClock()
    seen = Recorder()
    f = cache(clock=clock)(seen)
    first = f(1)
    clock.advance(1000 * DAYS)
    assert f(1) == first
    assert len(seen.calls) == 1


def test_constants_count_seconds() -> None:
    """MINUTES, HOURS and DAYS are seconds (dyno 0.2)."""
    assert (MINUTES, HOURS, DAYS) == (60, 3600, 86400)


def test_process_clock_is_read_at_each_use() -> None:
    """Without clock=, the process clock is looked up per call, so use_clock reaches it."""
    seen = Recorder()
    f = cache(lifetime=5)(seen)
    clock = FakeClock()
    with use_clock(clock):
        first = f(1)
        clock.advance(4)
        assert f(1) == first
        clock.advance(1)
        assert f(1) != first


SEEDED: list[Callable[[random.Random], ExpiryPolicy]] = [
    lambda rng: static_timeout(10),
    lambda rng: linear_timeout(10, rng=rng),
    lambda rng: exponential_timeout(10, rng=rng),
    lambda rng: exponential_timeout(10, 5, rng=rng),
    lambda rng: xfetch(10, rng=rng),
    lambda rng: xfetch(10, beta=3.0, rng=rng),
]


@pytest.mark.parametrize("make", SEEDED)
def test_every_policy_recomputes_once_its_timeout_has_passed(
    make: Callable[[random.Random], ExpiryPolicy],
) -> None:
    """Whatever the draws, a value is recomputed once the policy's timeout has passed."""
    clock = FakeClock()
    seen = Recorder(clock, delta=0.5)
    f = cache(lifetime=make(random.Random(1)), clock=clock)(seen)
    for _ in range(50):
        f(1)
        before = len(seen.calls)
        clock.advance(10)
        f(1)
        assert len(seen.calls) == before + 1


@pytest.mark.parametrize("make", SEEDED[:4])
def test_age_based_policies_never_recompute_a_brand_new_value(
    make: Callable[[random.Random], ExpiryPolicy],
) -> None:
    """At age zero the static, linear and exponential policies never recompute early."""
    policy = make(random.Random(2))
    assert not any(policy.recompute_early(0.0, 1.0) for _ in range(2000))


def early_rate(policy: ExpiryPolicy, age: float, delta: float = 1.0, draws: int = 4000) -> float:
    return sum(policy.recompute_early(age, delta) for _ in range(draws)) / draws


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda rng: linear_timeout(10, rng=rng), lambda age: age / 10),
        (lambda rng: exponential_timeout(10, rng=rng), lambda age: (age / 10) ** 2),
        (lambda rng: exponential_timeout(10, 3, rng=rng), lambda age: (age / 10) ** 3),
        (lambda rng: xfetch(10, rng=rng), lambda age: math.exp(-(10 - age) / 1.0)),
        (lambda rng: xfetch(10, 2.0, rng=rng), lambda age: math.exp(-(10 - age) / 2.0)),
    ],
)
def test_chance_of_early_recomputation_grows_with_age(
    make: Callable[[random.Random], ExpiryPolicy], expected: Callable[[float], float]
) -> None:
    """With a fixed seed, the early-recompute frequency rises with age and matches the formula."""
    policy = make(random.Random(20260101))
    ages = [1.0, 3.0, 5.0, 7.0, 8.5, 9.5, 9.9]
    rates = [early_rate(policy, age) for age in ages]
    assert rates == sorted(rates)
    assert rates[-1] > rates[0]
    for age, rate in zip(ages, rates, strict=True):
        assert abs(rate - expected(age)) < 0.03, (age, rate, expected(age))


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda rng: linear_timeout(10, rng=rng), lambda age: age / 10),
        (lambda rng: exponential_timeout(10, rng=rng), lambda age: (age / 10) ** 2),
        (lambda rng: xfetch(10, rng=rng), lambda age: math.exp(-(10 - age) / 1.0)),
    ],
)
def test_early_recomputation_through_the_cache_grows_with_age(
    make: Callable[[random.Random], ExpiryPolicy], expected: Callable[[float], float]
) -> None:
    """Through the cache (fixed seed), the share of reads that recompute rises with age as due."""
    clock = FakeClock()
    f = cache(lifetime=make(random.Random(20260102)), clock=clock)(Recorder(clock, delta=1.0))
    trials = 1000
    rates = []
    for age in (2.0, 5.0, 8.0, 9.5):
        recomputed = 0
        for _ in range(trials):
            f.cache_clear()
            f(1)  # stored after taking 1 s of the fake clock
            clock.advance(age)
            f(1)
            recomputed += f.cache_info().recomputes
        rates.append(recomputed / trials)
        assert abs(rates[-1] - expected(age)) < 0.05, (age, rates[-1], expected(age))
    assert rates == sorted(rates)
    assert rates[0] < rates[-1]


def test_xfetch_refreshes_expensive_values_earlier() -> None:
    """XFetch uses the stored compute time: a costlier value is refreshed earlier."""
    policy = xfetch(10, rng=random.Random(3))
    assert early_rate(policy, 8.0, delta=0.1) < early_rate(policy, 8.0, delta=2.0)
    assert early_rate(policy, 9.9, delta=0.0) == 0.0


def test_early_recomputation_through_the_cache_uses_the_stored_compute_time() -> None:
    """End to end: xfetch stores how long the value took and refreshes it early by it."""
    early: dict[float, int] = {}
    for delta in (0.01, 3.0):
        clock = FakeClock()
        f = cache(lifetime=xfetch(10, rng=random.Random(4)), clock=clock)(Recorder(clock, delta))
        for _ in range(300):
            f.cache_clear()
            f(1)  # computing takes delta seconds of the fake clock
            clock.advance(7)
            f(1)  # at age 7: recomputed early with chance exp(-(10 - 7) / delta)
            early[delta] = early.get(delta, 0) + f.cache_info().recomputes
    assert early[0.01] == 0
    assert 80 < early[3.0] < 140  # 300 * exp(-1) = 110


def test_static_policies_skip_the_draw_on_hits() -> None:
    """A policy that never recomputes early costs no call per hit (the engine skips it)."""
    store = MemoryBackend().bind("x")
    assert cache_module._Engine(lambda: 1, store, StaticTimeout(1), True, None).early is None
    assert cache_module._Engine(lambda: 1, store, xfetch(1), True, None).early is not None


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: static_timeout(-1), ValueError, "'timeout' must be >= 0"),
        (lambda: linear_timeout("1"), TypeError, "'timeout' must be a real number"),  # type: ignore[arg-type]  # bad input on purpose
        (lambda: exponential_timeout(1, 0), ValueError, "'exponent' must be > 0"),
        (lambda: xfetch(1, -1), ValueError, "'beta' must be >= 0"),
        (lambda: xfetch(1, rng=random), TypeError, "'rng' must be <class 'random.Random'>"),  # type: ignore[arg-type]  # bad input on purpose
    ],
)
def test_policies_validate_their_options(
    make: Callable[[], object], error: type[Exception], message: str
) -> None:
    """Bad policy options raise at construction, naming the option."""
    with pytest.raises(error, match=message):
        make()


def test_policy_reprs_and_types() -> None:
    """Policies are frozen dataclasses with readable reprs (the rng left out)."""
    assert repr(static_timeout(5)) == "StaticTimeout(timeout=5.0)"
    assert repr(linear_timeout(5, rng=random.Random(1))) == "LinearTimeout(timeout=5.0)"
    assert repr(exponential_timeout(5)) == "ExponentialTimeout(timeout=5.0, exponent=2.0)"
    assert repr(xfetch(5, 2)) == "XFetch(timeout=5.0, beta=2.0)"
    assert isinstance(xfetch(5), XFetch)
    assert isinstance(xfetch(5), ExpiryPolicy)
    assert isinstance(linear_timeout(1), LinearTimeout)
    assert isinstance(exponential_timeout(1), ExponentialTimeout)
    with pytest.raises(dataclasses.FrozenInstanceError):
        xfetch(5).beta = 3  # type: ignore[misc]  # frozen on purpose


def test_custom_policy_subclass() -> None:
    """A user policy subclasses ExpiryPolicy and decides early recomputation itself."""

    @dataclasses.dataclass(frozen=True, slots=True)
    class Always(ExpiryPolicy):
        timeout: float

        def recompute_early(self, age: float, delta: float) -> bool:
            return True

    seen = Recorder()
    f = cache(lifetime=Always(100), clock=FakeClock())(seen)
    assert f(1) != f(1)


# -- statistics ---------------------------------------------------------------------------


def test_hits_and_misses_are_counted_exactly() -> None:
    """Every call is a hit or a miss; recomputes count replaced values; size counts entries."""
    clock = FakeClock()
    f = cache(lifetime=10, clock=clock)(Recorder())
    for x in (1, 2, 1, 1, 3, 2):
        f(x)
    assert f.cache_info() == CacheInfo(hits=3, misses=3, recomputes=0, size=3)
    clock.advance(10)
    f(1)
    f(1)
    assert f.cache_info() == CacheInfo(hits=4, misses=4, recomputes=1, size=3)


def test_counts_are_exact_under_contention() -> None:
    """Eight threads hitting one entry 2,000 times each count 16,000 hits exactly."""
    f = cache(Recorder())
    f(1)
    barrier = threading.Barrier(8, timeout=WAIT)

    def hammer() -> None:
        barrier.wait()
        for _ in range(2000):
            f(1)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert f.cache_info() == CacheInfo(hits=16000, misses=1, recomputes=0, size=1)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 4), st.floats(0.5, 20)), max_size=40))
def test_hits_plus_misses_is_the_number_of_calls(steps: list[float]) -> None:
    """For any sequence of calls and clock moves, hits + misses equals the calls made."""
    clock = FakeClock()
    f = cache(lifetime=xfetch(10, rng=random.Random(0)), clock=clock)(Recorder(clock, 0.5))
    calls = 0
    for step in steps:
        if isinstance(step, int):
            f(step)
            calls += 1
        else:
            clock.advance(step)
    info = f.cache_info()
    assert info.hits + info.misses == calls
    assert info.size == len({step for step in steps if isinstance(step, int)})
    assert info.recomputes <= info.misses


def test_cache_clear_empties_and_resets_statistics() -> None:
    """cache_clear removes the entries and zeroes the counts."""
    seen = Recorder()
    f = cache(seen)
    f(1)
    f(1)
    f.cache_clear()
    assert f.cache_info() == CacheInfo(hits=0, misses=0, recomputes=0, size=0)
    f(1)
    assert len(seen.calls) == 2
    assert f.cache_info() == CacheInfo(hits=0, misses=1, recomputes=0, size=1)


def test_value_computed_across_a_clear_is_not_stored() -> None:
    """A computation that began before cache_clear() returns its value but does not store it."""
    seen = Recorder()
    seen.gate = threading.Event()
    f = cache(seen)
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(f(1)))
    thread.start()
    assert seen.entered.wait(WAIT)
    f.cache_clear()
    seen.gate.set()
    thread.join(WAIT)
    assert result == [((1,), 1)]
    assert f.cache_info().size == 0


def test_cache_info_is_frozen() -> None:
    """CacheInfo is an immutable record with a readable repr."""
    info = CacheInfo(hits=1, misses=2, recomputes=0, size=1)
    assert repr(info) == "CacheInfo(hits=1, misses=2, recomputes=0, size=1)"
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.hits = 3  # type: ignore[misc]  # frozen on purpose


# -- single flight ------------------------------------------------------------------------


def run_threads(
    count: int, target: Callable[[], object]
) -> tuple[list[threading.Thread], list[Any]]:
    """Start *count* threads running *target*; return them and a list of their results."""
    results: list[Any] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            value: Any = target()
        except Exception as error:
            value = error
        with lock:
            results.append(value)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads, results


def join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive()


def test_concurrent_callers_of_a_missing_key_wait_for_one_computation() -> None:
    """Callers of a missing key wait for the single computation and share its value."""
    seen = Recorder()
    seen.gate = threading.Event()
    f = cache(seen)
    threads, results = run_threads(16, lambda: f(1))
    wait_until(lambda: f.cache_info().misses == 16)  # all inside: one computing, 15 waiting
    assert len(seen.calls) == 1
    seen.gate.set()
    join(threads)
    assert results == [((1,), 1)] * 16
    assert f.cache_info() == CacheInfo(hits=0, misses=16, recomputes=0, size=1)


def test_stale_value_is_served_while_one_caller_refreshes() -> None:
    """With a stale value present nobody waits: others get it while one caller recomputes."""
    clock = FakeClock()
    seen = Recorder()
    f = cache(lifetime=10, clock=clock)(seen)
    stale = f(1)
    clock.advance(10)
    seen.gate = threading.Event()
    refresher, refreshed = run_threads(1, lambda: f(1))
    assert seen.entered.wait(WAIT)
    others, served = run_threads(31, lambda: f(1))
    join(others)  # they all finish while the refresher is still held
    assert served == [stale] * 31
    seen.gate.set()
    join(refresher)
    assert refreshed == [((1,), 2)]
    assert f(1) == ((1,), 2)
    assert f.cache_info() == CacheInfo(hits=32, misses=2, recomputes=1, size=1)


def test_stampede_through_expiries_recomputes_once_per_expiry() -> None:
    """32 threads hammering one key through 5 expiries cause exactly one recompute each."""
    clock = FakeClock()
    seen = Recorder()
    f = cache(lifetime=xfetch(10, rng=random.Random(5)), clock=clock)(seen)
    f("hot")
    for expiry in range(1, 6):
        clock.advance(10)
        seen.gate = threading.Event()
        seen.entered.clear()
        barrier = threading.Barrier(32, timeout=WAIT)

        def hammer(barrier: threading.Barrier = barrier) -> object:
            barrier.wait()
            return f("hot")

        threads, results = run_threads(32, hammer)
        assert seen.entered.wait(WAIT)
        # 31 callers answer from the stale value while the 32nd is held computing.
        wait_until(lambda results=results: len(results) == 31)  # type: ignore[misc]  # default binds the loop's list
        seen.gate.set()
        join(threads)
        assert len(seen.calls) == 1 + expiry
    # Per expiry: 31 stale hits and the one recomputing miss; nobody waited.
    assert f.cache_info() == CacheInfo(hits=155, misses=6, recomputes=5, size=1)


def test_an_exception_reaches_the_computing_caller_and_the_waiters_and_is_not_cached() -> None:
    """The computation's exception is raised to every waiting caller, and nothing is cached."""
    seen = Recorder()
    seen.gate = threading.Event()
    seen.fail = LookupError("backend said no")
    f = cache(seen)
    threads, results = run_threads(8, lambda: f(1))
    wait_until(lambda: f.cache_info().misses == 8)
    seen.gate.set()
    join(threads)
    assert len(results) == 8
    assert all(result is seen.fail for result in results)
    assert f.cache_info().size == 0
    seen.fail, seen.gate = None, None
    assert f(1) == ((1,), 2)


def test_without_single_flight_every_caller_computes() -> None:
    """single_flight=False lets each concurrent caller of a missing key compute."""
    barrier = threading.Barrier(4, timeout=WAIT)
    count = 0
    lock = threading.Lock()

    @cache(single_flight=False)
    def f(x: int) -> int:
        nonlocal count
        with lock:
            count += 1
        barrier.wait()  # only passes if four computations run at once
        return x

    threads, results = run_threads(4, lambda: f(1))
    join(threads)
    assert results == [1] * 4
    assert count == 4


class Interrupt(BaseException):
    """Stands in for KeyboardInterrupt, which must not be raised in a worker thread."""


def test_interrupted_computation_lets_a_waiter_take_over() -> None:
    """If the computing caller is interrupted, a waiter recomputes instead of hanging."""
    seen = Recorder()
    seen.gate = threading.Event()
    interrupt = Interrupt()
    attempts = 0

    @cache
    def f(x: int) -> Any:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            seen(x)
            raise interrupt
        return "second"

    outcome: list[BaseException] = []

    def leader() -> None:
        try:
            f(1)
        except Interrupt as error:
            outcome.append(error)

    first = threading.Thread(target=leader)
    first.start()
    assert seen.entered.wait(WAIT)
    waiters, results = run_threads(3, lambda: f(1))
    wait_until(lambda: f.cache_info().misses == 4)
    seen.gate.set()
    first.join(WAIT)
    join(waiters)
    assert outcome == [interrupt]
    assert results == ["second"] * 3
    assert attempts == 2


def test_base_exceptions_pass_through_untouched() -> None:
    """KeyboardInterrupt from the function reaches the caller as the very same object."""
    interrupt = KeyboardInterrupt()

    @cache
    def f() -> None:
        raise interrupt

    with pytest.raises(KeyboardInterrupt) as info:
        f()
    assert info.value is interrupt
    assert f.cache_info().size == 0


# -- async --------------------------------------------------------------------------------


def test_async_function_is_cached_with_an_async_wrapper() -> None:
    """An async def function gets an async wrapper; awaited results are cached."""
    seen = Recorder()

    @cache(lifetime=10, clock=FakeClock())
    async def f(x: int) -> Any:
        await asyncio.sleep(0)
        return seen(x)

    assert inspect.iscoroutinefunction(f)

    async def main() -> None:
        assert await f(1) == await f(x=1)

    asyncio.run(main())
    assert len(seen.calls) == 1


def test_async_callers_of_a_missing_key_wait_for_one_computation() -> None:
    """Concurrent tasks share one computation, and its exception reaches them all."""
    calls = 0
    gate: asyncio.Event | None = None
    failure = LookupError("no")

    @cache
    async def f(x: int) -> int:
        nonlocal calls
        calls += 1
        assert gate is not None
        await gate.wait()
        if x < 0:
            raise failure
        return x * 10

    async def main() -> None:
        nonlocal gate
        gate = asyncio.Event()
        tasks = [asyncio.create_task(f(2)) for _ in range(10)]
        bad = [asyncio.create_task(f(-1)) for _ in range(5)]
        for _ in range(5):
            await asyncio.sleep(0)
        gate.set()
        assert await asyncio.gather(*tasks) == [20] * 10
        errors = await asyncio.gather(*bad, return_exceptions=True)
        assert all(error is failure for error in errors)

    asyncio.run(main())
    assert calls == 2
    assert f.cache_info() == CacheInfo(hits=0, misses=15, recomputes=0, size=1)


def test_async_stale_value_is_served_while_one_task_refreshes() -> None:
    """With a stale value, other tasks return it at once while one task recomputes."""
    clock = FakeClock()
    version = 0
    gate: asyncio.Event | None = None

    @cache(lifetime=10, clock=clock)
    async def f() -> int:
        nonlocal version
        if gate is not None:
            await gate.wait()
        version += 1
        return version

    async def main() -> None:
        nonlocal gate
        assert await f() == 1
        clock.advance(10)
        gate = asyncio.Event()
        refresher = asyncio.create_task(f())
        await asyncio.sleep(0)
        assert await asyncio.gather(*(f() for _ in range(20))) == [1] * 20
        assert not refresher.done()
        gate.set()
        assert await refresher == 2

    asyncio.run(main())
    assert f.cache_info() == CacheInfo(hits=20, misses=2, recomputes=1, size=1)


def test_async_waiters_on_several_loops_share_one_computation() -> None:
    """Tasks on event loops in different threads wait for the same single computation."""
    entered = threading.Event()
    release = threading.Event()
    calls = 0

    @cache
    async def f() -> str:
        nonlocal calls
        calls += 1
        entered.set()
        # Wait for the test without blocking this loop.
        while not release.is_set():
            await asyncio.sleep(0)
        return "value"

    async def three() -> list[str]:
        return list(await asyncio.gather(f(), f(), f()))

    first, first_results = run_threads(1, lambda: asyncio.run(three()))
    assert entered.wait(WAIT)
    others, other_results = run_threads(3, lambda: asyncio.run(three()))
    wait_until(lambda: f.cache_info().misses == 12)
    release.set()
    join(first + others)
    assert first_results + other_results == [["value"] * 3] * 4
    assert calls == 1


def test_exception_reaches_waiters_on_several_loops_and_is_not_cached() -> None:
    """The computation's exception reaches its task and waiting tasks on other loops, uncached."""
    entered = threading.Event()
    release = threading.Event()
    failure = LookupError("no")
    calls = 0

    @cache
    async def f() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            entered.set()
            while not release.is_set():  # wait for the test without blocking this loop
                await asyncio.sleep(0)
            raise failure
        return "second"

    async def three() -> list[object]:
        return list(await asyncio.gather(f(), f(), f(), return_exceptions=True))

    first, first_results = run_threads(1, lambda: asyncio.run(three()))
    assert entered.wait(WAIT)
    others, other_results = run_threads(3, lambda: asyncio.run(three()))
    wait_until(lambda: f.cache_info().misses == 12)
    release.set()
    join(first + others)
    assert first_results + other_results == [[failure] * 3] * 4
    assert calls == 1
    assert f.cache_info().size == 0
    assert asyncio.run(f()) == "second"


def test_async_stale_value_is_served_on_other_loops_while_one_refreshes() -> None:
    """Tasks on other event loops get the stale value at once while one loop refreshes it."""
    clock = FakeClock()
    entered = threading.Event()
    release = threading.Event()
    version = 0

    @cache(lifetime=10, clock=clock)
    async def f() -> int:
        nonlocal version
        if version:
            entered.set()
            while not release.is_set():
                await asyncio.sleep(0)
        version += 1
        return version

    assert asyncio.run(f()) == 1
    clock.advance(10)
    refresher, refreshed = run_threads(1, lambda: asyncio.run(f()))
    assert entered.wait(WAIT)

    async def three() -> list[int]:
        return list(await asyncio.gather(f(), f(), f()))

    others, served = run_threads(3, lambda: asyncio.run(three()))
    join(others)  # they all finish while the refresher is still held
    assert served == [[1, 1, 1]] * 3
    release.set()
    join(refresher)
    assert refreshed == [2]
    assert f.cache_info() == CacheInfo(hits=9, misses=2, recomputes=1, size=1)


def test_cancelled_computing_task_lets_a_waiter_take_over() -> None:
    """Cancelling the computing task does not strand its waiters: one of them recomputes."""
    calls = 0

    @cache
    async def f() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.Event().wait()  # hangs until cancelled
        return calls

    async def main() -> None:
        leader = asyncio.create_task(f())
        await asyncio.sleep(0)
        waiters = [asyncio.create_task(f()) for _ in range(3)]
        await asyncio.sleep(0)
        leader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leader
        assert await asyncio.gather(*waiters) == [2, 2, 2]

    asyncio.run(main())
    assert calls == 2


def test_cancelled_waiter_leaves_the_computation_alone() -> None:
    """A waiting task that is cancelled goes away; the computation and other waiters go on."""
    gate: asyncio.Event | None = None

    @cache
    async def f() -> str:
        assert gate is not None
        await gate.wait()
        return "done"

    async def main() -> None:
        nonlocal gate
        gate = asyncio.Event()
        leader = asyncio.create_task(f())
        await asyncio.sleep(0)
        quitter, stayer = asyncio.create_task(f()), asyncio.create_task(f())
        await asyncio.sleep(0)
        quitter.cancel()
        await asyncio.sleep(0)
        gate.set()
        assert await leader == "done"
        assert await stayer == "done"
        assert quitter.cancelled()

    asyncio.run(main())


# -- backends -----------------------------------------------------------------------------


def test_memory_backend_evicts_the_least_recently_used() -> None:
    """A bounded MemoryBackend evicts the entry used least recently."""
    seen = Recorder()
    backend = MemoryBackend(maxsize=2)
    f = cache(backend)(seen)
    f(1)
    f(2)
    f(1)  # 2 is now the least recently used
    f(3)
    assert len(backend) == 2
    f(1)
    assert len(seen.calls) == 3
    f(2)
    assert len(seen.calls) == 4


@settings(max_examples=30, deadline=None)
@given(maxsize=st.integers(1, 5), keys=st.lists(st.integers(0, 8), max_size=50))
def test_bounded_backend_never_exceeds_maxsize(maxsize: int, keys: list[int]) -> None:
    """However calls arrive, a bounded backend holds at most maxsize entries, shared fairly."""
    backend = MemoryBackend(maxsize)
    f, g = cache(backend)(Recorder()), cache(backend)(Recorder())
    for index, key in enumerate(keys):
        (f if index % 2 else g)(key)
        assert len(backend) <= maxsize
        f_size, g_size = f.cache_info().size, g.cache_info().size
        assert f_size is not None
        assert g_size is not None
        assert f_size + g_size == len(backend)


def test_functions_sharing_a_backend_keep_their_own_entries() -> None:
    """Two functions on one backend never see each other's values; clear() empties all."""
    backend = MemoryBackend()

    @cache(backend)
    def f(x: int) -> str:
        return "f"

    @cache(backend)
    def g(x: int) -> str:
        return "g"

    assert (f(1), g(1)) == ("f", "g")
    assert len(backend) == 2
    f.cache_clear()
    assert len(backend) == 1
    backend.clear()
    assert len(backend) == 0
    assert g.cache_info().size == 0
    assert repr(backend) == "<MemoryBackend size=0 maxsize=None>"
    assert repr(backend.bind("m.f")) == "<store of m.f in memory: 0 entries>"


def test_bounded_backend_clear_and_repr() -> None:
    """clear() on a bounded backend (and cache_clear on one function) remove entries."""
    backend = MemoryBackend(10)
    f, g = cache(backend)(Recorder()), cache(backend)(Recorder())
    f(1), f(2), g(1)
    f.cache_clear()
    assert (len(backend), f.cache_info().size, g.cache_info().size) == (1, 0, 1)
    backend.clear()
    assert repr(backend) == "<MemoryBackend size=0 maxsize=10>"
    assert repr(backend.bind("m.f")) == "<store of m.f in <MemoryBackend size=0 maxsize=10>>"


def test_dict_cache_is_an_unbounded_memory_backend() -> None:
    """DictCache (dyno 0.2) is an unbounded MemoryBackend."""
    backend = DictCache()
    assert isinstance(backend, MemoryBackend)
    assert backend.maxsize is None
    assert repr(backend) == "<DictCache size=0 maxsize=None>"


@pytest.mark.parametrize(("maxsize", "error"), [(0, ValueError), (1.5, TypeError)])
def test_memory_backend_validates_maxsize(maxsize: Any, error: type[Exception]) -> None:
    """maxsize must be an int >= 1 or None."""
    with pytest.raises(error, match="'maxsize' must be"):
        MemoryBackend(maxsize)


class BrokenStore:
    """A store whose reads or writes fail, like a backend that went down."""

    shared = False
    blocking = False
    lock_timeout = 1.0
    poll_interval = 0.1

    def __init__(self) -> None:
        self.data: dict[Hashable, Entry] = {}
        self.fail_reads = True
        self.fail_writes = True

    def get(self, key: Hashable, /) -> Entry | None:
        if self.fail_reads:
            raise ConnectionError("backend down")
        return self.data.get(key)

    def set(self, key: Hashable, entry: Entry, timeout: float, /) -> None:
        if self.fail_writes:
            raise ConnectionError("backend down")
        self.data[key] = entry

    def lock(self, key: Hashable, /) -> str | None:
        return ""

    def unlock(self, key: Hashable, token: str, /) -> None:
        pass

    def clear(self) -> None:
        raise ConnectionError("backend down")

    def size(self) -> int | None:
        raise ConnectionError("backend down")


class BrokenBackend:
    def __init__(self) -> None:
        self.store = BrokenStore()

    def bind(self, name: str) -> Store:
        return self.store


def test_backend_errors_never_reach_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    """A failing backend: the function is called directly, the error logged once as a warning."""
    backend = BrokenBackend()
    seen = Recorder()
    f = cache(backend)(seen)
    with caplog.at_level(logging.DEBUG, logger="dyno.cache"):
        assert f(1) == ((1,), 1)
        assert f(1) == ((1,), 2)
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].name == "dyno.cache"
    assert "Cannot read the cache for tests.test_cache." in warnings[0].getMessage()
    assert "ConnectionError: backend down. Calling the function directly" in (
        warnings[0].getMessage()
    )
    assert f.cache_info() == CacheInfo(hits=0, misses=2, recomputes=0, size=None)
    f.cache_clear()  # logged, not raised


def test_failing_writes_still_return_values_and_recovery_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A value that cannot be stored is still returned; the backend's recovery is logged."""
    backend = BrokenBackend()
    backend.store.fail_reads = False
    f = cache(backend)(Recorder())
    with caplog.at_level(logging.INFO, logger="dyno.cache"):
        assert f(1) == ((1,), 1)
        backend.store.fail_writes = False
        assert f(1) == ((1,), 2)
        assert f(1) == ((1,), 2)
    messages = [record.getMessage() for record in caplog.records]
    assert any(message.startswith("Cannot store the value for") for message in messages)
    assert any("works again" in message for message in messages)


def test_protocols_and_public_names() -> None:
    """MemoryBackend is a Backend; __all__ lists exactly what the module defines."""
    assert isinstance(MemoryBackend(), cache_module.Backend)
    for name in cache_module.__all__:
        assert hasattr(cache_module, name), name
    defined = {
        name
        for name, value in vars(cache_module).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__ == "dyno.cache"
    }
    assert defined == set(cache_module.__all__) - {"MINUTES", "HOURS", "DAYS", "KeyFunction"}


class ScriptedStore:
    """A shared store held in a dict, whose operations a test can script or break."""

    shared = True
    lock_timeout = 1.0
    poll_interval = 0.25

    def __init__(self, blocking: bool = False) -> None:
        self.blocking = blocking
        self.data: dict[Hashable, Entry] = {}
        self.reads: list[Callable[[Hashable], Entry | None]] = []  # scripted reads, in order
        self.lock_result: Callable[[], str | None] = lambda: "token"
        self.unlock_error: Exception | None = None

    def get(self, key: Hashable, /) -> Entry | None:
        if self.reads:
            return self.reads.pop(0)(key)
        return self.data.get(key)

    def set(self, key: Hashable, entry: Entry, timeout: float, /) -> None:
        self.data[key] = entry

    def lock(self, key: Hashable, /) -> str | None:
        return self.lock_result()

    def unlock(self, key: Hashable, token: str, /) -> None:
        if self.unlock_error is not None:
            raise self.unlock_error

    def clear(self) -> None:
        self.data.clear()

    def size(self) -> int | None:
        return len(self.data)


class ScriptedBackend:
    def __init__(self, store: ScriptedStore) -> None:
        self.store = store

    def bind(self, name: str) -> Store:
        return self.store


def fail(error: Exception) -> Callable[..., Any]:
    def raiser(*args: object) -> Any:
        raise error

    return raiser


def test_leader_takes_a_value_stored_while_it_took_the_lead() -> None:
    """A value another caller stored between our read and our lead is served, not recomputed."""
    clock = FakeClock()
    store = ScriptedStore()
    arrived = Entry("theirs", 0.0, 0.0, 10.0)
    store.reads = [lambda key: None, lambda key: arrived]
    seen = Recorder()
    f = cache(ScriptedBackend(store), lifetime=10, clock=clock)(seen)
    assert f(1) == "theirs"
    assert seen.calls == []
    assert f.cache_info().hits == 1


def test_backend_failing_during_a_refresh_is_survived(caplog: pytest.LogCaptureFixture) -> None:
    """Read, lock and unlock errors mid-refresh are logged; the caller still gets its value."""
    clock = FakeClock()
    store = ScriptedStore()
    seen = Recorder()
    f = cache(ScriptedBackend(store), lifetime=10, clock=clock)(seen)
    store.reads = [lambda key: None, fail(ConnectionError("read"))]
    store.lock_result = fail(ConnectionError("lock"))
    store.unlock_error = ConnectionError("unlock")
    with caplog.at_level(logging.DEBUG, logger="dyno.cache"):
        assert f(1) == ((1,), 1)
    store.lock_result = lambda: "token"
    clock.advance(10)
    with caplog.at_level(logging.DEBUG, logger="dyno.cache"):
        assert f(1) == ((1,), 2)
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "Cannot read the cache" in text
    assert "Cannot take the recomputation lock" in text
    assert "Cannot release the recomputation lock" in text


def test_async_caller_polls_without_blocking_while_another_process_computes() -> None:
    """An async caller awaits the clock's asleep between polls for another process's value."""
    clock = FakeClock()
    store = ScriptedStore(blocking=True)
    store.lock_result = lambda: None  # held by another process
    theirs = Entry("theirs", 0.0, 0.0, 10.0)
    store.reads = [lambda key: None, lambda key: None, lambda key: None, lambda key: theirs]
    calls = 0

    @cache(ScriptedBackend(store), lifetime=10, clock=clock)
    async def f(x: int) -> str:
        nonlocal calls
        calls += 1
        return "mine"

    assert asyncio.run(f(1)) == "theirs"
    assert calls == 0
    assert clock.sleeps == [0.25, 0.25]


def test_value_stored_as_the_other_process_unlocks_is_served_not_recomputed() -> None:
    """A poller that gets the lock just after the value arrived serves it and lets go."""
    clock = FakeClock()
    store = ScriptedStore()
    locks = iter([None, "token"])  # held elsewhere, then free: the other process finished
    store.lock_result = lambda: next(locks)
    theirs = Entry("theirs", 0.0, 0.0, 10.0)
    store.reads = [lambda key: None] * 3 + [lambda key: theirs]  # it arrives after our poll
    unlocked: list[tuple[Hashable, str]] = []
    store.unlock = lambda key, token: unlocked.append((key, token))  # type: ignore[method-assign]  # record
    seen = Recorder()

    @cache(ScriptedBackend(store), lifetime=10, clock=clock)
    def f(x: int) -> Any:
        return seen(x)

    assert f(1) == "theirs"
    assert seen.calls == []
    assert unlocked == [((1,), "token")]
    assert clock.sleeps == [0.25]


def test_async_function_survives_a_broken_backend() -> None:
    """An async function on a failing backend is awaited directly."""
    backend = BrokenBackend()

    @cache(backend)
    async def f(x: int) -> int:
        return x + 1

    assert asyncio.run(f(1)) == 2
    assert f.cache_info().misses == 1


def test_parameter_names_never_clash_with_the_wrappers_own() -> None:
    """A parameter named like the generated wrapper's locals does not break it."""

    @cache(lifetime=10, clock=FakeClock())
    def f(_dyno_k: int, _dyno_e: int = 0) -> int:
        return _dyno_k + _dyno_e

    assert f(1) == f(_dyno_k=1) == 1
    assert f.cache_info() == CacheInfo(hits=1, misses=1, recomputes=0, size=1)


def test_key_function_gets_every_kind_of_parameter() -> None:
    """The key function receives positional, *args, keyword-only and **kwargs arguments."""
    received: list[tuple[Any, ...]] = []

    def key(a: int, *rest: int, flag: bool = False, **extra: int) -> Hashable:
        received.append((a, rest, flag, extra))
        return (a, rest, flag, tuple(sorted(extra.items())))

    @cache(key=key)
    def f(a: int, *rest: int, flag: bool = False, **extra: int) -> int:
        return a + sum(rest) + sum(extra.values())

    assert f(1, 2, 3, z=4) == f(1, 2, 3, z=4) == 10
    assert received == [(1, (2, 3), False, {"z": 4})] * 2


def test_decorator_refuses_a_staticmethod_object() -> None:
    """cache(...) applied to a staticmethod object says to swap the decorators."""
    with pytest.raises(TypeError, match="Put @staticmethod above @cache instead"):
        cache(lifetime=1)(staticmethod(len))


class CountingRandom(random.Random):
    """A seeded generator that counts its draws."""

    draws = 0

    def random(self) -> float:
        self.draws += 1
        return super().random()


def test_earliest_age_bounds_where_a_policy_can_fire() -> None:
    """Each policy states the youngest age at which it may recompute early."""
    assert static_timeout(10).earliest_age(1.0) == 10
    assert linear_timeout(10).earliest_age(1.0) == 0
    assert exponential_timeout(10).earliest_age(1.0) == 0
    assert xfetch(10, beta=2).earliest_age(0.1) == pytest.approx(2.0)
    assert xfetch(10).earliest_age(1.0) == 0


def test_xfetch_draws_only_near_expiry() -> None:
    """Hits on a cheap xfetch value draw no random number until near its expiry."""
    clock = FakeClock()
    rng = CountingRandom(7)
    f = cache(lifetime=xfetch(10, rng=rng), clock=clock)(Recorder(clock, delta=0.01))
    f(1)  # took 0.01 s: early recomputation is possible only in the last 0.37 s
    for _ in range(100):
        f(1)
    clock.advance(9.5)
    for _ in range(100):
        f(1)
    assert rng.draws == 0
    clock.advance(0.45)
    f(1)
    assert rng.draws == 1
