"""dyno.injection: dependencies built at call time, with fallbacks, in parallel."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import pickle
import socket as stdlib_socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dyno import injection
from dyno.injection import (
    DC_TIMEOUT,
    INJECTED,
    INTERNET_TIMEOUT,
    LAN_TIMEOUT,
    LOCALHOST_TIMEOUT,
    Dependency,
    DependencyError,
    FromRegistry,
    SocketFactory,
    from_registry,
    inject,
    inject3,
    socket,
)
from tests.services import free_port

WAIT = 10.0  # bound on every real wait; never reached when the code works


def make_db() -> str:
    """A module-level zero-argument factory."""
    return "db"


def refuse() -> str:
    """A factory that always fails."""
    raise ConnectionError("refused")


class Counter:
    """A zero-argument factory that counts its calls (thread-safe) and returns the count."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            self.calls += 1
            return self.calls


# A forward reference: `late_factory` is defined below the decorated function.
@inject
def uses_late_factory(db: Annotated[str, Dependency(late_factory)]) -> str:
    return db


def late_factory() -> str:
    """Defined after `uses_late_factory` on purpose."""
    return "late"


# -- functions: what is injected ------------------------------------------------------


def test_zero_argument_factory_fills_missing_keyword() -> None:
    """A factory taking no arguments fills the parameter the caller left out."""

    @inject(db=make_db)
    def handler(request: str, db: str | None = None) -> tuple[str, str | None]:
        return request, db

    assert handler("r") == ("r", "db")


def test_target_name_factory_receives_function_and_name() -> None:
    """A factory taking (target, name) gets the undecorated function and the parameter name."""
    seen: list[tuple[object, str]] = []

    def factory(target: object, name: str) -> str:
        seen.append((target, name))
        return name.upper()

    def handler(conn: str = "none") -> str:
        return conn

    wrapped = inject(conn=factory)(handler)
    assert wrapped() == "CONN"
    assert seen == [(handler, "conn")]


def test_caller_keyword_wins_and_factory_is_not_called() -> None:
    """A keyword argument passed by the caller is used and its factory never runs."""
    counter = Counter()

    @inject(n=counter)
    def f(n: int = 0) -> int:
        return n

    assert f(n=42) == 42
    assert counter.calls == 0


def test_caller_positional_wins_and_factory_is_not_called() -> None:
    """A parameter bound positionally is not injected."""
    counter = Counter()

    @inject(a=counter, b=counter)
    def f(a: int, b: int) -> tuple[int, int]:
        return a, b

    assert f(10, 20) == (10, 20)
    assert counter.calls == 0
    assert f(10) == (10, 1)


def test_factories_run_at_each_call() -> None:
    """Each call builds fresh dependencies."""
    counter = Counter()

    @inject(n=counter)
    def f(n: int = 0) -> int:
        return n

    assert [f(), f(), f()] == [1, 2, 3]


def test_keyword_only_and_var_keyword_targets() -> None:
    """Keyword-only parameters are injected, and **kwargs accepts any dependency name."""

    @inject(db=make_db, extra=lambda: "x")
    def f(*, db: str, **kwargs: str) -> tuple[str, dict[str, str]]:
        return db, kwargs

    assert f() == ("db", {"extra": "x"})
    assert f(extra="mine") == ("db", {"extra": "mine"})


def test_method_parameters_count_self() -> None:
    """On a method, positional binding accounts for self."""

    class Handler:
        @inject(db=make_db)
        def handle(self, request: str, db: str = "none") -> tuple[str, str]:
            return request, db

    assert Handler().handle("r") == ("r", "db")
    assert Handler().handle("r", "given") == ("r", "given")


def test_wraps_metadata_and_marks_injected_parameters_optional() -> None:
    """The wrapper keeps name, doc and __wrapped__; its signature shows injected params optional."""

    def original(x: int, db: str, *, cache: str, other: str = "o") -> None:
        """Do things."""

    wrapped = inject(db=make_db, cache=make_db, other=make_db)(original)
    assert wrapped.__name__ == "original"
    assert wrapped.__doc__ == "Do things."
    assert wrapped.__wrapped__ is original  # type: ignore[attr-defined]  # set by functools.wraps
    assert str(inspect.signature(wrapped)) == (
        "(x: 'int', db: 'str' = INJECTED, *, cache: 'str' = INJECTED, other: 'str' = 'o') -> 'None'"
    )


def test_signature_kept_when_optional_would_be_invalid() -> None:
    """An injected parameter before a required one keeps the original signature."""

    def original(db: str, x: int) -> None:
        """Injected first."""

    wrapped = inject(db=make_db)(original)
    assert inspect.signature(wrapped) == inspect.signature(original)


# -- functions: failures ------------------------------------------------------------------


def test_failing_factory_falls_back_to_default() -> None:
    """When a factory raises, the parameter's default is used (found by identity, not ==)."""

    class Incomparable:
        def __eq__(self, other: object) -> bool:
            raise AssertionError("defaults must not be compared with ==")

        __hash__ = object.__hash__

    fallback = Incomparable()

    @inject(db=refuse, other=refuse)
    def f(db: str | None = None, other: object = fallback) -> tuple[str | None, object]:
        return db, other

    assert f()[0] is None
    assert f()[1] is fallback


def test_failing_factory_without_default_raises_dependency_error() -> None:
    """No default: DependencyError names the dependency and chains the factory's error."""

    def f(db: str) -> str:
        return db

    wrapped = inject(db=refuse)(f)
    with pytest.raises(DependencyError) as info:
        wrapped()
    error = info.value
    assert error.name == "db"
    assert error.names == ("db",)
    assert error.target is f
    assert isinstance(error.cause, ConnectionError)
    assert error.__cause__ is error.cause
    assert error.failures == {"db": error.cause}
    assert isinstance(error, Exception)
    assert str(error) == (
        "Cannot inject 'db' into tests.test_injection."
        "test_failing_factory_without_default_raises_dependency_error.<locals>.f: "
        "its factory raised ConnectionError: refused. "
        "Give 'db' a default to fall back on, or pass it yourself."
    )


def test_injected_default_is_not_a_fallback() -> None:
    """INJECTED lets callers omit the parameter but a failing factory still raises."""

    @inject(db=refuse)
    def f(db: str = INJECTED) -> str:
        return db

    with pytest.raises(DependencyError, match="Cannot inject 'db' into"):
        f()
    assert repr(INJECTED) == "INJECTED"
    assert pickle.loads(pickle.dumps(INJECTED)) is INJECTED


def test_sequential_build_stops_at_first_fatal_failure() -> None:
    """Without parallel, factories after the first fatal failure are not run."""
    counter = Counter()

    @inject(a=refuse, b=counter)
    def f(a: str, b: int) -> None:
        """Never runs."""

    with pytest.raises(DependencyError):
        f()
    assert counter.calls == 0


@pytest.mark.parametrize(("parallel", "on_pool"), [(False, False), (True, False), (True, True)])
def test_base_exceptions_pass_untouched(parallel: bool, on_pool: bool) -> None:
    """A KeyboardInterrupt from a factory (in this thread or a pool's) propagates as itself."""
    interrupt = KeyboardInterrupt()

    def factory() -> str:
        raise interrupt

    # In a parallel build the caller's thread builds the first dependency, the pool the rest.
    order = {"b": make_db, "a": factory} if on_pool else {"a": factory, "b": make_db}

    @inject(**order, parallel=parallel)
    def f(a: str = "fallback", b: str = "fallback") -> str:
        return a

    with pytest.raises(KeyboardInterrupt) as info:
        f()
    assert info.value is interrupt


def test_dependency_error_pickles() -> None:
    """A DependencyError survives pickling with its names and causes."""
    error = DependencyError(make_db, {"a": ValueError("x"), "b": OSError("y")})
    copy = pickle.loads(pickle.dumps(error))
    assert copy.names == ("a", "b")
    assert copy.target is make_db
    assert str(copy) == str(error)
    assert isinstance(copy.cause, ExceptionGroup)


def test_dependency_error_needs_failures() -> None:
    """A DependencyError without failures is refused."""
    with pytest.raises(ValueError, match="Cannot make a DependencyError without failures"):
        DependencyError(make_db, {})


# -- bad input at decoration time -------------------------------------------------------


def test_unknown_names_raise_at_decoration() -> None:
    """Names that are not keyword parameters of a function without **kwargs are refused."""

    def f(x: int, db: str = "") -> None:
        """Two parameters."""

    with pytest.raises(TypeError) as info:
        inject(dbb=make_db, cahce=make_db)(f)
    assert str(info.value) == (
        "Cannot inject 'dbb', 'cahce' into tests.test_injection."
        "test_unknown_names_raise_at_decoration.<locals>.f: it has no such keyword parameter "
        "and takes no **kwargs. Name one of its parameters ('x', 'db') instead."
    )


def test_positional_only_and_star_args_refused() -> None:
    """Positional-only and *args parameters cannot be injected."""

    def f(db: str, /, *rest: str) -> None:
        """Positional only."""

    with pytest.raises(TypeError, match=r"'db' .* it is positional-only"):
        inject(db=make_db)(f)
    with pytest.raises(TypeError, match="Cannot inject 'rest'"):
        inject(rest=make_db)(f)


def test_non_callable_factory_refused() -> None:
    """A factory that is not callable raises TypeError naming the dependency."""
    with pytest.raises(TypeError) as info:
        inject(db=3)  # type: ignore[arg-type]  # bad input on purpose
    assert str(info.value) == "'db' must be callable (got 3 that is a <class 'int'>)"


def test_factory_with_wrong_arity_refused() -> None:
    """A factory that takes neither () nor (target, name) is refused at decoration."""

    def three(a: object, b: object, c: object) -> None:
        """Three required arguments."""

    def f(db: str) -> None:
        """Target."""

    with pytest.raises(TypeError, match=r"it must take no arguments or \(target, name\)"):
        inject(db=three)(f)


def test_builtins_without_signature_are_called_bare() -> None:
    """Factories like dict, whose signature cannot be read, are called with no arguments."""

    @inject(cache=dict, items=list)
    def f(cache: dict[str, int], items: list[int]) -> tuple[dict[str, int], list[int]]:
        return cache, items

    assert f() == ({}, [])


def test_async_factory_for_sync_target_refused() -> None:
    """An async factory cannot serve a sync function or a class."""

    async def make() -> str:
        return "x"

    def f(db: str) -> None:
        """Sync."""

    with pytest.raises(TypeError, match=r"with the async factory .* is a synchronous function"):
        inject(db=make)(f)
    with pytest.raises(TypeError, match="is a class, so nothing would await it"):

        @inject(db=make)
        class Service:
            pass


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"parallel": 1}, "'parallel' must be <class 'bool'> (got 1 that is a <class 'int'>)"),
        (
            {"executor": "pool"},
            "'executor' must be <class 'concurrent.futures._base.Executor'> "
            "(got 'pool' that is a <class 'str'>)",
        ),
    ],
)
def test_bad_options_refused(options: dict[str, object], message: str) -> None:
    """Options of the wrong type raise TypeError naming the option and value."""
    with pytest.raises(TypeError) as info:
        inject(db=make_db, **options)  # type: ignore[arg-type]  # bad input on purpose
    assert str(info.value) == message


def test_classmethod_object_refused() -> None:
    """Decorating a classmethod object says to swap the decorators."""
    with pytest.raises(TypeError, match="Put @classmethod above @inject instead"):

        class Service:
            @inject(db=make_db)  # type: ignore[arg-type]  # wrong order on purpose
            @classmethod
            def build(cls, db: str) -> None:
                """Wrong order."""


def test_unreadable_signature_refused() -> None:
    """A target whose signature cannot be read is refused clearly."""
    with pytest.raises(TypeError, match="its signature cannot be read"):
        inject(x=make_db)(getattr)


# -- async functions ------------------------------------------------------------------------


def test_async_function_awaits_async_factories_and_calls_sync_ones() -> None:
    """An async target gets an async wrapper; async factories are awaited, sync ones called."""

    async def make_conn() -> str:
        await asyncio.sleep(0)
        return "conn"

    @inject(conn=make_conn, db=make_db)
    async def handler(conn: str, db: str) -> tuple[str, str]:
        return conn, db

    assert inspect.iscoroutinefunction(handler)
    assert asyncio.run(handler()) == ("conn", "db")
    assert asyncio.run(handler(conn="given")) == ("given", "db")


def test_async_failures_fall_back_or_raise() -> None:
    """Async factories fall back to defaults and otherwise raise DependencyError from the cause."""

    async def broken() -> str:
        raise TimeoutError("slow")

    @inject(a=broken)
    async def with_default(a: str = "fallback") -> str:
        return a

    @inject(a=broken)
    async def without_default(a: str) -> str:
        return a

    assert asyncio.run(with_default()) == "fallback"
    with pytest.raises(DependencyError) as info:
        asyncio.run(without_default())
    assert isinstance(info.value.__cause__, TimeoutError)


def test_async_cancelled_error_passes_through() -> None:
    """CancelledError from an async factory propagates untouched, parallel or not."""

    async def cancelled() -> str:
        raise asyncio.CancelledError

    for parallel in (False, True):

        @inject(a=cancelled, b=make_db, parallel=parallel)
        async def f(a: str = "x", b: str = "y") -> str:
            return a

        with pytest.raises(asyncio.CancelledError):
            asyncio.run(f())


# -- classes --------------------------------------------------------------------------------


def test_class_instances_get_fresh_attributes_before_init() -> None:
    """Each instance gets its own dependencies, set before __init__ runs."""
    counter = Counter()

    @inject(conn=counter)
    class Client:
        conn: int

        def __init__(self, name: str) -> None:
            self.name = name
            self.seen_in_init = self.conn

    first, second = Client("a"), Client("b")
    assert (first.conn, first.seen_in_init, first.name) == (1, 1, "a")
    assert second.conn == 2
    assert counter.calls == 2
    assert "conn" not in vars(Client)


def test_class_target_factory_gets_class_and_name() -> None:
    """A (target, name) factory of a class receives the class and the attribute name."""

    @inject(conn=lambda target, name: (target.__name__, name))
    class Client:
        conn: tuple[str, str]

    assert Client().conn == ("Client", "conn")


def test_class_without_init_and_subclasses() -> None:
    """A class without __init__ still constructs, and subclasses inherit the injection."""

    class Base:
        def __init__(self, x: int = 0) -> None:
            self.x = x

    @inject(db=make_db)
    class Child(Base):
        db: str

    class GrandChild(Child):
        pass

    child = Child(5)
    assert (child.db, child.x) == ("db", 5)
    assert GrandChild().db == "db"
    assert Child.__init__.__qualname__.endswith("Child.__init__")


def test_class_attribute_is_the_fallback() -> None:
    """A failing factory leaves the class attribute visible; without one, DependencyError."""

    @inject(db=refuse)
    class WithFallback:
        db: str | None = None

    @inject(db=refuse)
    class WithoutFallback:
        db: str

    assert WithFallback().db is None
    with pytest.raises(DependencyError) as info:
        WithoutFallback()
    assert info.value.target is WithoutFallback
    assert str(info.value).endswith(
        "its factory raised ConnectionError: refused. "
        "Fix the factory, or define a class attribute 'db' to fall back on."
    )


def test_slotted_class_without_room_refused() -> None:
    """A class whose instances cannot hold the attribute is refused at decoration."""

    class Slotted:
        __slots__ = ("other",)

    with pytest.raises(TypeError, match="its instances have __slots__ and no __dict__"):
        inject(db=make_db)(Slotted)

    class Roomy:
        __slots__ = ("db",)

    assert inject(db=make_db)(Roomy)().db == "db"  # type: ignore[attr-defined]  # injected


def test_parallel_class_build() -> None:
    """A class with parallel=True builds its attributes concurrently too."""
    barrier = threading.Barrier(3, timeout=WAIT)

    def meet() -> int:
        return barrier.wait()

    @inject(a=meet, b=meet, c=meet, parallel=True)
    class Service:
        a: int
        b: int
        c: int

    service = Service()
    assert sorted([service.a, service.b, service.c]) == [0, 1, 2]


# -- inject3 and bare inject --------------------------------------------------------------


def test_inject3_reads_every_annotation_as_a_factory() -> None:
    """inject3 treats each parameter annotation as its factory and ignores the return one."""

    def make_cache(target: object, name: str) -> str:
        return f"cache:{name}"

    @inject3
    def f(db: make_db, cache: make_cache, x: refuse = "fallback") -> make_db:  # type: ignore[valid-type]  # dyno 0.2 style
        return db, cache, x  # type: ignore[return-value]  # dyno 0.2 style

    assert f() == ("db", "cache:cache", "fallback")


def test_inject3_called_form_and_non_callable_annotation() -> None:
    """inject3(parallel=True) works, and a non-callable annotation is refused at decoration."""

    @inject3(parallel=True)
    def f(db: make_db) -> str:  # type: ignore[valid-type]  # dyno 0.2 style
        return db

    assert f() == "db"
    with pytest.raises(TypeError, match="3 is not callable"):

        @inject3
        def g(db: 3) -> None:  # type: ignore[valid-type]  # bad input on purpose
            """Bad."""


def test_inject3_on_a_class_reads_class_annotations() -> None:
    """inject3 on a class reads each class annotation as the factory of that attribute."""

    @inject3
    class Service:
        db: make_db  # type: ignore[valid-type]  # dyno 0.2 style
        cache: refuse = None  # type: ignore[valid-type]  # dyno 0.2 style

    service = Service()
    assert (service.db, service.cache) == ("db", None)


def test_bare_inject_uses_only_dependency_markers() -> None:
    """Bare @inject injects Annotated[T, Dependency(f)] params and leaves plain hints alone."""

    def local_factory() -> int:
        return 7

    @inject
    def f(
        n: Annotated[int, Dependency(local_factory)],
        db: Annotated[str, "doc", Dependency(make_db)],
        plain: int = 1,
        other: Annotated[int, "no marker"] = 2,
    ) -> tuple[int, str, int, int]:
        return n, db, plain, other

    assert f() == (7, "db", 1, 2)
    assert f(n=8) == (8, "db", 1, 2)


def test_bare_inject_needs_a_marker() -> None:
    """Bare @inject on a function without Dependency markers fails at decoration."""
    with pytest.raises(TypeError, match=r"Give it a parameter annotated Annotated\[T, Depend"):

        @inject
        def f(x: int) -> None:
            """No markers."""

    with pytest.raises(TypeError, match=r"holds 2 Dependency markers\. Keep exactly one"):

        @inject
        def g(x: Annotated[int, Dependency(int), Dependency(int)]) -> None:
            """Two markers."""


def test_bare_inject_on_class_and_parallel_called_form() -> None:
    """Bare-style markers work on class annotations and with @inject(parallel=True)."""

    @inject(parallel=True)
    class Service:
        db: Annotated[str, Dependency(make_db)]
        plain: int = 3

    service = Service()
    assert (service.db, service.plain) == ("db", 3)


def test_forward_reference_resolved_at_first_call() -> None:
    """Annotations naming a factory defined later are read at the first call."""
    assert uses_late_factory() == "late"
    assert "INJECTED" in str(inspect.signature(uses_late_factory))


def test_unresolvable_annotation_raises_at_call() -> None:
    """A name still undefined at the first call raises TypeError chained to the NameError."""

    @inject
    def f(db: Annotated[str, Dependency(never_defined)]) -> str:  # noqa: F821  # undefined on purpose
        return db

    with pytest.raises(TypeError, match="name 'never_defined' is not defined") as info:
        f()
    assert isinstance(info.value.__cause__, NameError)


def test_dependency_marker_validates_and_reprs() -> None:
    """Dependency needs a callable and has a readable repr."""
    assert repr(Dependency(make_db)) == "Dependency(tests.test_injection.make_db)"
    with pytest.raises(TypeError, match="'factory' must be callable"):
        Dependency(3)  # type: ignore[arg-type]  # bad input on purpose


def test_decorator_repr() -> None:
    """The decorator returned by inject(...) names its factories and options."""
    assert repr(inject(db=make_db, parallel=True)) == (
        "<inject db=tests.test_injection.make_db parallel=True>"
    )
    assert repr(inject3(parallel=True)) == "<inject3 (annotations) parallel=True>"


# -- from_registry --------------------------------------------------------------------------


def test_from_registry_resolves_at_call_time() -> None:
    """from_registry looks the key up at each call, so overrides reach injected functions."""
    from dyno.registry import Registry

    registry = Registry()
    registry["db"] = "real"

    @inject(db=from_registry("db", registry))
    def f(db: str) -> str:
        return db

    assert f() == "real"
    with registry.override(db="fake"):
        assert f() == "fake"
    assert f() == "real"


def test_from_registry_default_registry_read_at_call_time() -> None:
    """Without a registry, dyno.registry.default is used, looked up at each call."""
    from dyno import registry as registry_module

    @inject(db=from_registry("injection-test-db"))
    def f(db: str = "absent") -> str:
        return db

    assert f() == "absent"
    with registry_module.default.override({"injection-test-db": "present"}):
        assert f() == "present"


def test_from_registry_missing_key_raises_dependency_error() -> None:
    """A missing key without a default raises DependencyError caused by NotRegistered."""
    from dyno.registry import NotRegistered, Registry

    @inject(db=from_registry("db", Registry()))
    def f(db: str) -> str:
        return db

    with pytest.raises(DependencyError) as info:
        f()
    assert isinstance(info.value.cause, NotRegistered)


def test_from_registry_validates_and_reprs() -> None:
    """from_registry refuses non-registries and has a readable repr."""
    factory = from_registry("db")
    assert isinstance(factory, FromRegistry)
    assert repr(factory) == "from_registry('db', registry=default)"
    with pytest.raises(TypeError, match=r"'registry' must be <class 'dyno\.registry\.Registry'>"):
        from_registry("db", {"db": 1})  # type: ignore[arg-type]  # bad input on purpose


# -- parallel construction ------------------------------------------------------------------


def test_parallel_sync_factories_overlap() -> None:
    """Five blocking factories all run at once: each waits on a barrier only all five can pass."""
    barrier = threading.Barrier(5, timeout=WAIT)
    threads: list[int] = []

    def blocking(target: object, name: str) -> str:
        threads.append(threading.get_ident())
        barrier.wait()  # sequential building would break the barrier
        return name

    @inject(a=blocking, b=blocking, c=blocking, d=blocking, e=blocking, parallel=True)
    def f(a: str, b: str, c: str, d: str, e: str) -> str:
        return a + b + c + d + e

    assert f() == "abcde"
    assert len(set(threads)) == 5
    assert threading.get_ident() in threads  # the caller builds one itself


def test_parallel_uses_given_executor() -> None:
    """With executor=, sync factories run on that executor's threads."""
    names: list[str] = []
    barrier = threading.Barrier(2, timeout=WAIT)

    def where() -> None:
        names.append(threading.current_thread().name)
        barrier.wait()

    with ThreadPoolExecutor(2, thread_name_prefix="given") as executor:

        @inject(a=where, b=where, parallel=True, executor=executor)
        def f(a: None, b: None) -> None:
            """Two dependencies."""

        f()
    assert any(name.startswith("given") for name in names)


def test_parallel_failures_name_each_dependency() -> None:
    """When several fail together, the error names each and groups every cause."""
    barrier = threading.Barrier(3, timeout=WAIT)

    def fail_with(error: Exception) -> Callable[[], str]:
        def factory() -> str:
            barrier.wait()
            raise error

        return factory

    def fine() -> str:
        barrier.wait()
        return "ok"

    @inject(
        a=fail_with(ConnectionError("down")),
        b=fine,
        c=fail_with(TimeoutError("slow")),
        parallel=True,
    )
    def f(a: str, b: str, c: str) -> None:
        """Never runs."""

    with pytest.raises(DependencyError) as info:
        f()
    error = info.value
    assert error.names == ("a", "c")
    assert error.name == "a"
    assert isinstance(error.cause, ExceptionGroup)
    assert error.__cause__ is error.cause
    assert [type(e) for e in error.cause.exceptions] == [ConnectionError, TimeoutError]
    assert str(error).endswith(
        ": 'a' raised ConnectionError: down; 'c' raised TimeoutError: slow. "
        "Give them defaults to fall back on, or pass them yourself."
    )


def test_parallel_failure_with_default_falls_back() -> None:
    """In parallel builds too, a failing factory with a default uses the default."""

    @inject(a=refuse, b=make_db, parallel=True)
    def f(a: str = "fallback", b: str = "") -> tuple[str, str]:
        return a, b

    assert f() == ("fallback", "db")


def test_parallel_async_factories_gathered() -> None:
    """Async factories of an async target run concurrently under asyncio.gather."""

    async def main() -> tuple[str, ...]:
        arrived = 0
        all_here = asyncio.Event()

        async def meet(target: object, name: str) -> str:
            nonlocal arrived
            arrived += 1
            if arrived == 3:
                all_here.set()
            await asyncio.wait_for(all_here.wait(), WAIT)  # sequential awaiting would time out
            return name

        @inject(a=meet, b=meet, c=meet, parallel=True)
        async def f(a: str, b: str, c: str) -> tuple[str, ...]:
            return a, b, c

        return await f()

    assert asyncio.run(main()) == ("a", "b", "c")


def test_parallel_async_target_runs_sync_factories_on_threads() -> None:
    """Sync factories of an async target run on threads, concurrently, when parallel."""
    barrier = threading.Barrier(2, timeout=WAIT)

    def meet() -> int:
        return barrier.wait()

    async def answer() -> int:
        return 42

    @inject(a=meet, b=meet, c=answer, parallel=True)
    async def f(a: int, b: int, c: int) -> list[int]:
        return sorted([a, b, c])

    assert asyncio.run(f()) == [0, 1, 42]


_REQUEST: contextvars.ContextVar[str] = contextvars.ContextVar("request", default="none")


def test_parallel_factories_see_the_callers_context() -> None:
    """Factories on pool threads see the caller's context variables, sync and async targets."""

    def request() -> str:
        return _REQUEST.get()

    @inject(a=request, b=request, c=request, parallel=True)
    def sync_target(a: str, b: str, c: str) -> list[str]:
        return [a, b, c]

    @inject(a=request, b=request, parallel=True)
    async def async_target(a: str, b: str) -> list[str]:
        return [a, b]

    async def in_a_task() -> list[str]:
        _REQUEST.set("task")
        return await async_target()

    def in_a_thread() -> list[str]:
        _REQUEST.set("thread")
        return sync_target()

    # A fresh context each: the test leaves its own untouched.
    assert contextvars.copy_context().run(in_a_thread) == ["thread"] * 3
    assert asyncio.run(in_a_task()) == ["task"] * 2


def test_nested_parallel_builds_do_not_deadlock() -> None:
    """A factory that calls another parallel-injected function finishes (no pool starvation)."""

    @inject(x=make_db, y=make_db, parallel=True)
    def inner(x: str, y: str) -> str:
        return x + y

    @inject(**{f"p{i}": lambda: inner() for i in range(40)}, parallel=True)
    def outer(**kwargs: str) -> int:
        return len(kwargs)

    results: list[int] = []
    worker = threading.Thread(target=lambda: results.append(outer()), daemon=True)
    worker.start()
    worker.join(WAIT)
    assert results == [40]


def test_concurrent_calls_build_exactly_once_each() -> None:
    """Under contention, every call builds its dependency exactly once."""
    counter = Counter()
    start = threading.Barrier(8, timeout=WAIT)

    @inject(n=counter, m=counter, parallel=True)
    def f(n: int, m: int) -> tuple[int, int]:
        return n, m

    seen: list[int] = []
    lock = threading.Lock()

    def run() -> None:
        start.wait()
        for _ in range(50):
            n, m = f()
            with lock:
                seen.extend((n, m))

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert counter.calls == 800
    assert sorted(seen) == list(range(1, 801))


@settings(max_examples=60, deadline=None)
@given(
    positional=st.integers(min_value=0, max_value=3),
    keywords=st.sets(st.sampled_from(["a", "b", "c", "d"])),
    parallel=st.booleans(),
)
def test_injection_fills_exactly_what_the_caller_left(
    positional: int, keywords: set[str], parallel: bool
) -> None:
    """For any mix of positional and keyword arguments, factories fill exactly the rest."""
    names = ["a", "b", "c", "d"]
    keywords -= set(names[:positional])
    built: list[str] = []
    lock = threading.Lock()

    def factory(target: object, name: str) -> str:
        with lock:
            built.append(name)
        return f"injected-{name}"

    @inject(a=factory, b=factory, c=factory, d=factory, parallel=parallel)
    def f(a: str, b: str, c: str, *, d: str) -> dict[str, str]:
        return {"a": a, "b": b, "c": c, "d": d}

    args = [f"pos-{n}" for n in names[:positional]]
    kwargs = {n: f"kw-{n}" for n in keywords}
    result = f(*args, **kwargs)
    expected_built = [n for n in names if n not in names[:positional] and n not in keywords]
    assert sorted(built) == expected_built
    for name in names:
        if name in names[:positional]:
            assert result[name] == f"pos-{name}"
        elif name in keywords:
            assert result[name] == f"kw-{name}"
        else:
            assert result[name] == f"injected-{name}"


# -- socket ---------------------------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[stdlib_socket.socket]:
    """A real TCP socket listening on 127.0.0.1."""
    with stdlib_socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server


def test_timeout_constants_are_ordered() -> None:
    """The timeout presets grow with distance."""
    assert (LOCALHOST_TIMEOUT, LAN_TIMEOUT, DC_TIMEOUT, INTERNET_TIMEOUT) == (0.1, 1.0, 3.0, 10.0)


def test_socket_connects_to_listening_port(listener: stdlib_socket.socket) -> None:
    """The socket factory returns a connected socket with the timeout set."""
    port = listener.getsockname()[1]
    factory = socket("127.0.0.1", port, timeout=LOCALHOST_TIMEOUT)
    assert isinstance(factory, SocketFactory)
    with factory() as conn:
        assert conn.getpeername() == ("127.0.0.1", port)
        assert conn.gettimeout() == LOCALHOST_TIMEOUT


def test_socket_injected_into_function(listener: stdlib_socket.socket) -> None:
    """socket(...) is a factory usable with inject."""
    port = listener.getsockname()[1]

    @inject(conn=socket("127.0.0.1", port, timeout=LOCALHOST_TIMEOUT))
    def peer(conn: stdlib_socket.socket) -> object:
        with conn:
            return conn.getpeername()

    assert peer() == ("127.0.0.1", port)


def test_socket_closed_port_raises_compound_connection_error() -> None:
    """A closed port raises a CompoundException that is a ConnectionError, one error per attempt."""
    from dyno.retry import CompoundException

    port = free_port()
    factory = socket("127.0.0.1", port, timeout=LOCALHOST_TIMEOUT, retries=3)
    with pytest.raises(ConnectionError) as info:
        factory()
    error = info.value
    assert isinstance(error, CompoundException)
    assert isinstance(error, ConnectionRefusedError)
    assert len(error.exceptions) == 3
    assert all(isinstance(e, ConnectionRefusedError) for e in error.exceptions)
    assert error.__cause__ is error.exceptions[-1]
    assert "(round 3)" in error.exceptions[-1].__notes__[0]


def test_socket_tries_each_address_in_turn(
    listener: stdlib_socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first reachable address wins after unreachable ones fail."""
    open_port = listener.getsockname()[1]
    closed_port = free_port()
    real = stdlib_socket.getaddrinfo

    def two_addresses(host: str, port: int, *args: int) -> list[object]:
        return [*real("127.0.0.1", closed_port, *args), *real("127.0.0.1", open_port, *args)]

    monkeypatch.setattr(injection._socket, "getaddrinfo", two_addresses)
    with socket("service.test", 80, family=stdlib_socket.AF_INET)() as conn:
        assert conn.getpeername() == ("127.0.0.1", open_port)


def test_socket_resolution_failure_is_still_a_connection_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When no attempt raised a ConnectionError (name resolution), the result still is one."""
    from dyno.retry import CompoundException

    def no_such_host(*args: object) -> list[object]:
        raise stdlib_socket.gaierror(stdlib_socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(injection._socket, "getaddrinfo", no_such_host)
    with pytest.raises(ConnectionError) as info:
        socket("nowhere.test", 80, retries=2)()
    assert isinstance(info.value, CompoundException)
    assert isinstance(info.value, stdlib_socket.gaierror)
    *attempts, summary = info.value.exceptions
    assert [type(e) for e in attempts] == [stdlib_socket.gaierror, stdlib_socket.gaierror]
    assert str(summary) == "Cannot connect to nowhere.test:80: 2 attempts failed in 2 round(s)"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"timeout": -1}, ValueError, "'timeout' must be > 0"),
        ({"timeout": 0}, ValueError, "'timeout' must be > 0"),
        ({"retries": 0}, ValueError, "'retries' must be >= 1"),
        ({"retries": 1.5}, TypeError, "'retries' must be an int"),
        ({"port": 0}, ValueError, "'port' must be >= 1"),
        ({"port": 70000}, ValueError, "'port' must be <= 65535"),
        ({"port": ""}, ValueError, "'port' must be a port number or a service name"),
        ({"host": 127}, TypeError, "'host' must be <class 'str'>"),
        (
            {"timeout": float("inf")},
            ValueError,
            r"'timeout' must be finite; pass None to block \(got inf that is a <class 'float'>\)",
        ),
    ],
)
def test_socket_bad_options(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    """Bad socket options raise at construction naming the option."""
    options: dict[str, object] = {"host": "127.0.0.1", "port": 80, **kwargs}
    with pytest.raises(error, match=message):
        socket(**options)  # type: ignore[arg-type]  # bad input on purpose


def test_socket_factory_repr() -> None:
    """The socket factory's repr shows where it connects and how."""
    assert repr(socket("db.local", 5432, timeout=DC_TIMEOUT, retries=2)) == (
        "<socket factory db.local:5432 timeout=3.0 retries=2>"
    )
