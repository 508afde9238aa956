"""dyno.aspect: join points and their filter pipelines."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dyno import registry as registry_module
from dyno.aspect import After, Around, Before, advertise, after, around, before
from dyno.registry import Registry

# -- publishing ----------------------------------------------------------------------


def test_advertise_publishes_an_empty_pipeline_and_calls_through() -> None:
    """The join point is an empty list at name; with it, calls return the function's result."""
    points: dict[str, object] = {}

    @advertise("add", points)
    def add(a: int, b: int = 1) -> int:
        return a + b

    assert points == {"add": []}
    assert add(2) == 3
    assert add(2, b=5) == 7


@pytest.fixture
def clean_default() -> Iterator[Registry]:
    """The default registry, restored after the test."""
    saved = registry_module.default.snapshot()
    yield registry_module.default
    registry_module.default.restore(saved)


def test_advertise_uses_the_default_registry_when_none(clean_default: Registry) -> None:
    """Without a registry argument the join point lands in dyno.registry.default."""

    @advertise("aspect-test.hello")
    def hello() -> str:
        return "hello"

    assert clean_default.resolve("aspect-test.hello") == []
    clean_default["aspect-test.hello"] = [after(str.upper)]
    assert hello() == "HELLO"


def test_advertise_works_with_a_registry_instance() -> None:
    """A Registry works as the mapping; the pipeline stored there is a plain list."""
    reg = Registry()

    @advertise("f", reg)
    def f(x: int) -> int:
        return x

    reg.resolve("f").append(lambda x: ((x * 2,), {}))  # type: ignore[attr-defined]  # a list
    assert f(4) == 8


def test_an_existing_pipeline_is_kept_and_shared() -> None:
    """A pipeline set before decoration survives it, and two functions may share one name."""
    points: dict[str, list[object]] = {"shared": [after(lambda result: result + 1)]}

    @advertise("shared", points)
    def one() -> int:
        return 1

    @advertise("shared", points)
    def ten() -> int:
        return 10

    assert (one(), ten()) == (2, 11)


def test_wrapper_keeps_metadata_and_signature() -> None:
    """functools.wraps metadata and the signature of the function survive."""

    @advertise("documented", {})
    def documented(a: int, *, b: str = "x") -> str:
        """Docstring."""
        return f"{a}{b}"

    assert documented.__name__ == "documented"
    assert documented.__doc__ == "Docstring."
    assert documented.__wrapped__ is not None  # type: ignore[attr-defined]  # set by wraps
    assert str(inspect.signature(documented)) == "(a: 'int', *, b: 'str' = 'x') -> 'str'"


# -- the filters ---------------------------------------------------------------------


def test_plain_callable_is_an_argument_filter() -> None:
    """A plain callable gets the arguments and returns the (args, kwargs) to call with (0.2)."""
    points: dict[str, list[object]] = {}

    @advertise("greet", points)
    def greet(name: str, *, punctuation: str = "!") -> str:
        return f"hello {name}{punctuation}"

    def shout(name: str, **kwargs: object) -> tuple[tuple[object, ...], dict[str, object]]:
        return (name.upper(),), {**kwargs, "punctuation": "!!"}

    points["greet"].append(shout)
    assert greet("bob") == "hello BOB!!"


def test_before_is_the_explicit_argument_filter() -> None:
    """before(f) behaves as the plain callable; a list for args is accepted."""
    points: dict[str, list[object]] = {}

    @advertise("double", points)
    def double(x: int) -> int:
        return x * 2

    points["double"].append(before(lambda x: ([x + 1], {})))
    assert double(1) == 4


def test_after_filters_the_return_value() -> None:
    """after(g) gets the result and returns the result the caller sees."""
    points: dict[str, list[object]] = {}

    @advertise("render", points)
    def render() -> str:
        return "page"

    points["render"].append(after(lambda body: f"<html>{body}</html>"))
    assert render() == "<html>page</html>"


def test_around_can_call_through_with_new_arguments() -> None:
    """around(h) gets call and the arguments; call runs the rest with what h passes."""
    points: dict[str, list[object]] = {}

    @advertise("fetch", points)
    def fetch(path: str, *, etag: str | None = None) -> str:
        return f"{path} etag={etag}"

    def with_etag(call: Callable[..., str], path: str, **kwargs: object) -> str:
        return "wrapped " + call(path, etag="abc")

    points["fetch"].append(around(with_etag))
    assert fetch("/index") == "wrapped /index etag=abc"


def test_around_can_skip_the_call() -> None:
    """An around filter may return without calling (ETag / if-modified handling)."""
    calls: list[str] = []
    points: dict[str, list[object]] = {}

    @advertise("page", points)
    def page(if_none_match: str | None = None) -> str:
        calls.append("rendered")
        return "body"

    def not_modified(call: Callable[..., str], *args: object, **kwargs: object) -> str:
        if kwargs.get("if_none_match") == "v1":
            return "304 Not Modified"
        return call(*args, **kwargs)

    points["page"].append(around(not_modified))
    assert page(if_none_match="v1") == "304 Not Modified"
    assert calls == []
    assert page() == "body"
    assert calls == ["rendered"]


def test_around_may_call_more_than_once() -> None:
    """call can be invoked repeatedly; each runs the rest of the pipeline and the function."""
    points: dict[str, list[object]] = {}
    seen: list[int] = []

    @advertise("count", points)
    def count(x: int) -> int:
        seen.append(x)
        return x

    points["count"] = [around(lambda call, x: call(x) + call(x + 1))]
    assert count(1) == 3
    assert seen == [1, 2]


def test_pipeline_runs_outside_in() -> None:
    """The first item sees the arguments first and the result last, like middleware."""
    events: list[str] = []
    points: dict[str, list[object]] = {}

    @advertise("onion", points)
    def onion() -> str:
        events.append("function")
        return "r"

    def log_before(tag: str) -> Before:
        def record(*args: object, **kwargs: object) -> tuple[object, object]:
            events.append(f"before {tag}")
            return args, kwargs

        return before(record)

    def log_after(tag: str) -> After:
        def record(result: str) -> str:
            events.append(f"after {tag}")
            return f"{result}+{tag}"

        return after(record)

    def log_around(call: Callable[[], str]) -> str:
        events.append("around in")
        result = call()
        events.append("around out")
        return f"[{result}]"

    points["onion"] = [log_before("1"), log_after("2"), around(log_around), log_after("4")]
    assert onion() == "[r+4]+2"
    assert events == ["before 1", "around in", "function", "after 4", "around out", "after 2"]


def test_replacing_the_pipeline_takes_effect_on_the_next_call() -> None:
    """Assigning registry[name] or editing the list changes the very next call."""
    reg = Registry()

    @advertise("value", reg)
    def value() -> int:
        return 1

    assert value() == 1
    reg["value"] = [after(lambda result: result * 10)]
    assert value() == 10
    reg.resolve("value").append(after(lambda result: result + 1))  # type: ignore[attr-defined]  # a list
    assert value() == 20
    with reg.override(value=[]):
        assert value() == 1
    assert value() == 20


def test_a_removed_join_point_runs_the_function_plainly() -> None:
    """When the key is gone (e.g. a registry restored) calls go straight to the function."""
    points: dict[str, object] = {}

    @advertise("gone", points)
    def gone() -> str:
        return "plain"

    del points["gone"]
    assert gone() == "plain"


def test_each_call_reads_the_pipeline_once() -> None:
    """A filter that edits the pipeline mid-call affects the next call, not the current one."""
    points: dict[str, list[object]] = {}

    @advertise("grow", points)
    def grow() -> int:
        return 0

    def add_one_more(result: int) -> int:
        points["grow"].append(after(add_one_more))
        return result + 1

    points["grow"] = [after(add_one_more)]
    assert grow() == 1
    assert grow() == 2


def test_methods_get_self_in_the_filters() -> None:
    """On a method, filters receive self as the first argument."""
    points: dict[str, list[object]] = {}

    class Greeter:
        name = "g"

        @advertise("method", points)
        def hello(self, other: str) -> str:
            return f"{self.name} greets {other}"

    seen: list[object] = []

    def spy(*args: object, **kwargs: object) -> tuple[object, object]:
        seen.append(args[0])
        return args, kwargs

    points["method"] = [spy]
    greeter = Greeter()
    assert greeter.hello("you") == "g greets you"
    assert seen == [greeter]


def test_around_call_takes_any_keyword_names() -> None:
    """Keyword arguments that look like internals (point, steps, index) pass through call."""
    points: dict[str, list[object]] = {}

    @advertise("names", points)
    def names(**kwargs: int) -> list[str]:
        return sorted(kwargs)

    points["names"] = [around(lambda call, **kwargs: call(**kwargs))]
    assert names(point=1, steps=2, index=3) == ["index", "point", "steps"]


def test_filter_exceptions_propagate_untouched() -> None:
    """An exception from a filter or the function reaches the caller as the same object."""
    points: dict[str, list[object]] = {}
    error = LookupError("from the filter")

    @advertise("raises", points)
    def raises() -> None:
        raise KeyboardInterrupt

    def failing(*args: object, **kwargs: object) -> tuple[object, object]:
        raise error

    with pytest.raises(KeyboardInterrupt):
        raises()
    points["raises"] = [failing]
    with pytest.raises(LookupError) as info:
        raises()
    assert info.value is error


def test_cancellation_passes_through_an_async_join_point() -> None:
    """asyncio.CancelledError from the coroutine passes through the pipeline untouched."""
    points: dict[str, list[object]] = {}
    seen: list[str] = []

    @advertise("slow", points)
    async def slow() -> None:
        await asyncio.Event().wait()

    async def watch(call: Callable[[], Awaitable[None]]) -> None:
        try:
            await call()
        finally:
            seen.append("around saw the exit")

    points["slow"] = [around(watch), after(lambda result: seen.append("after ran"))]

    async def main() -> None:
        task = asyncio.create_task(slow())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert seen == ["around saw the exit"]


@pytest.mark.parametrize("kind", [classmethod, staticmethod])
def test_descriptor_objects_are_refused(kind: type) -> None:
    """@advertise over @classmethod/@staticmethod raises TypeError saying to swap them."""

    def method(*args: object) -> None:
        """A method body."""

    with pytest.raises(TypeError, match=f"Put @{kind.__name__} above @advertise instead"):
        advertise("method", {})(kind(method))


def test_descriptors_above_advertise_work() -> None:
    """@classmethod and @staticmethod above @advertise bind as usual and run the pipeline."""
    points: dict[str, list[object]] = {}

    class Shop:
        @classmethod
        @advertise("build", points)
        def build(cls, item: str) -> str:
            return f"{cls.__name__} {item}"

        @staticmethod
        @advertise("price", points)
        def price(amount: int) -> int:
            return amount

    points["build"] = [after(str.upper)]
    points["price"] = [lambda amount: ((amount * 2,), {})]
    assert (Shop.build("tea"), Shop().build("tea")) == ("SHOP TEA", "SHOP TEA")
    assert (Shop.price(3), Shop().price(4)) == (6, 8)


def test_filter_reprs_name_the_function() -> None:
    """before/after/around reprs show the wrapped function."""

    def tidy(value: object) -> object:
        return value

    assert "tidy" in repr(before(tidy))
    assert repr(after(tidy)).startswith("After(fn=<function")
    assert isinstance(around(tidy), Around)


# -- async -----------------------------------------------------------------------------


def test_async_function_gets_an_async_wrapper() -> None:
    """An async def function stays a coroutine function, and sync filters work on it."""
    points: dict[str, list[object]] = {}

    @advertise("async-double", points)
    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    assert inspect.iscoroutinefunction(double)
    points["async-double"] = [lambda x: ((x + 1,), {}), after(lambda result: result + 100)]
    assert asyncio.run(double(1)) == 104


def test_async_filters_are_awaited() -> None:
    """For an async function, async before/after/around filters are awaited."""
    points: dict[str, list[object]] = {}

    @advertise("async-all", points)
    async def work(x: int) -> str:
        return f"work({x})"

    async def bump(x: int) -> tuple[tuple[int], dict[str, object]]:
        await asyncio.sleep(0)
        return (x + 1,), {}

    async def tag(result: str) -> str:
        await asyncio.sleep(0)
        return f"<{result}>"

    async def guard(call: Callable[[int], Awaitable[str]], x: int) -> str:
        return "guarded " + await call(x * 10)

    points["async-all"] = [before(bump), around(guard), after(tag)]
    assert asyncio.run(work(1)) == "guarded <work(20)>"


def test_async_sync_around_may_return_the_awaitable_of_call() -> None:
    """A sync around filter of an async function may return call(...) for the wrapper to await."""
    points: dict[str, list[object]] = {}

    @advertise("async-pass", points)
    async def work() -> str:
        return "done"

    points["async-pass"] = [around(lambda call: call())]
    assert asyncio.run(work()) == "done"


def test_async_around_can_skip_the_call() -> None:
    """An async around filter may answer without calling the coroutine function."""
    points: dict[str, list[object]] = {}
    ran: list[str] = []

    @advertise("async-skip", points)
    async def work() -> str:
        ran.append("ran")
        return "fresh"

    async def cached(call: Callable[[], Awaitable[str]]) -> str:
        return "cached"

    points["async-skip"] = [around(cached)]
    assert asyncio.run(work()) == "cached"
    assert ran == []


# -- bad input ----------------------------------------------------------------------------


def test_name_must_be_a_non_empty_string() -> None:
    """A non-string or empty name raises TypeError / ValueError naming 'name'."""
    with pytest.raises(TypeError, match="'name' must be <class 'str'> \\(got 3 that is a"):
        advertise(3)  # type: ignore[arg-type]  # the bad input is the test
    with pytest.raises(ValueError, match="'name' must not be empty"):
        advertise("")


def test_bare_advertise_says_to_give_a_name() -> None:
    """@advertise without a name raises TypeError saying how to write it."""

    def f() -> None:
        """A function."""

    with pytest.raises(TypeError, match=r"Cannot use advertise without a name.*@advertise\("):
        advertise(f)  # type: ignore[arg-type]  # the bad input is the test


def test_registry_must_be_a_mutable_mapping() -> None:
    """A registry that is not a mutable mapping raises TypeError naming 'registry'."""
    with pytest.raises(TypeError, match="'registry' must be"):
        advertise("x", [])  # type: ignore[arg-type]  # the bad input is the test


@pytest.mark.parametrize("make", [before, after, around])
def test_filter_wrappers_need_a_callable(make: Callable[[object], object]) -> None:
    """before/after/around of a non-callable raise TypeError naming 'filter'."""
    with pytest.raises(TypeError, match="'filter' must be callable \\(got 5 that is a"):
        make(5)


def test_non_callable_pipeline_item_names_the_join_point_and_position() -> None:
    """A pipeline item that is not callable raises TypeError with its position."""
    points: dict[str, list[object]] = {}

    @advertise("bad-item", points)
    def f() -> None:
        """Nothing."""

    points["bad-item"] = [before(lambda: ((), {})), 42]
    with pytest.raises(TypeError, match="join point 'bad-item': pipeline item 1 is not callable"):
        f()


@pytest.mark.parametrize("pipeline", [5, "filters", {"a": 1}])
def test_pipeline_must_be_a_list(pipeline: object) -> None:
    """A pipeline that is not a list of filters raises TypeError saying what to store."""
    points: dict[str, object] = {}

    @advertise("bad-pipeline", points)
    def f() -> None:
        """Nothing."""

    points["bad-pipeline"] = pipeline
    with pytest.raises(TypeError, match="its pipeline must be a list of filters"):
        f()


@pytest.mark.parametrize("returned", [None, 5, ((), {}, 1), ({}, ()), ("ab", {})])
def test_argument_filter_must_return_args_and_kwargs(returned: object) -> None:
    """A filter returning anything but (args, kwargs) raises TypeError naming the filter."""
    points: dict[str, list[object]] = {}

    @advertise("bad-filter", points)
    def f() -> None:
        """Nothing."""

    def sloppy_filter(*args: object, **kwargs: object) -> object:
        return returned

    points["bad-filter"] = [sloppy_filter]
    with pytest.raises(TypeError) as info:
        f()
    message = str(info.value)
    assert "argument filter" in message
    assert "sloppy_filter" in message
    assert "not an (args, kwargs) pair" in message


@pytest.mark.parametrize("make", [before, after, around])
def test_async_filter_on_sync_function_is_refused(make: Callable[[Any], object]) -> None:
    """An async filter on a sync function raises TypeError (and leaves no unawaited coroutine)."""
    points: dict[str, list[object]] = {}

    @advertise("sync-only", points)
    def f() -> int:
        return 1

    async def async_filter(*args: object, **kwargs: object) -> object:
        return ((), {})

    points["sync-only"] = [make(async_filter)]
    with pytest.raises(TypeError, match="async"):
        f()


# -- threads and invariants -------------------------------------------------------------


def test_concurrent_calls_see_one_whole_pipeline() -> None:
    """While a thread swaps pipelines, each call runs entirely one or the other."""
    points: dict[str, list[object]] = {}

    @advertise("swap", points)
    def identity(x: int) -> int:
        return x

    plus: list[object] = [before(lambda x: ((x + 1,), {})), before(lambda x: ((x + 1,), {}))]
    times: list[object] = [before(lambda x: ((x * 10,), {})), before(lambda x: ((x * 10,), {}))]
    results: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4, timeout=10)

    def swapper() -> None:
        barrier.wait()
        for step in range(500):
            points["swap"] = plus if step % 2 else times

    def caller() -> None:
        barrier.wait()
        mine = [identity(1) for _ in range(500)]
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=swapper)] + [
        threading.Thread(target=caller) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive()
    assert len(results) == 1500
    assert set(results) <= {1, 3, 100}


STEP = st.one_of(
    st.tuples(st.just("before"), st.integers(-3, 3)),
    st.tuples(st.just("after"), st.integers(-3, 3)),
    st.tuples(st.just("around"), st.integers(-3, 3)),
)


def model(steps: list[tuple[str, int]], x: int) -> int:
    """What the onion gives: before adds k to x, after multiplies the result by k,
    around calls through with x + k and adds k to the result."""
    if not steps:
        return x * 2
    (kind, k), rest = steps[0], steps[1:]
    if kind == "before":
        return model(rest, x + k)
    if kind == "after":
        return model(rest, x) * k
    return model(rest, x + k) + k


def build(steps: list[tuple[str, int]], asynchronous: bool) -> list[object]:
    """Turn steps into a pipeline of sync filters, or async ones when *asynchronous*."""
    pipeline: list[object] = []
    for kind, k in steps:
        if kind == "before":

            def add(x: int, k: int = k) -> tuple[tuple[int], dict[str, object]]:
                return (x + k,), {}

            pipeline.append(add)
        elif kind == "after":

            async def scale_async(result: int, k: int = k) -> int:
                return result * k

            def scale(result: int, k: int = k) -> int:
                return result * k

            pipeline.append(after(scale_async if asynchronous else scale))
        else:

            async def wrap_async(call: Callable[[int], Awaitable[int]], x: int, k: int = k) -> int:
                return await call(x + k) + k

            def wrap(call: Callable[[int], int], x: int, k: int = k) -> int:
                return call(x + k) + k

            pipeline.append(around(wrap_async if asynchronous else wrap))
    return pipeline


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(STEP, max_size=6), x=st.integers(-50, 50))
def test_sync_and_async_pipelines_compose_as_the_model(
    steps: list[tuple[str, int]], x: int
) -> None:
    """Any mix of filters composes outside-in, the same for sync and async functions."""
    points: dict[str, list[object]] = {}

    @advertise("sync", points)
    def double(value: int) -> int:
        return value * 2

    @advertise("async", points)
    async def double_async(value: int) -> int:
        return value * 2

    points["sync"] = build(steps, asynchronous=False)
    points["async"] = build(steps, asynchronous=True)
    expected = model(steps, x)
    assert double(x) == expected
    assert asyncio.run(double_async(x)) == expected
