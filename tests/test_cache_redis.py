"""dyno.cache on a real redis-server: sharing, locks, TTLs, and Redis going away."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from dyno.cache import CachedFunction, CacheInfo, Entry, RedisBackend, cache, xfetch
from dyno.clock import FakeClock
from tests.services import RedisServer

ROOT = Path(__file__).resolve().parent.parent
EPOCH = 1_800_000_000.0  # fake wall time: entries in Redis carry wall-clock stamps


@pytest.fixture
def backend(redis_server: RedisServer) -> Iterator[RedisBackend]:
    """A backend on the session's Redis, under a prefix of its own, closed afterwards."""
    made = RedisBackend(url=redis_server.url, prefix=f"test-{uuid.uuid4().hex[:8]}:")
    yield made
    made.close()


class Counter:
    """A function to cache that counts its calls."""

    def __init__(self, tag: str = "value") -> None:
        self.calls = 0
        self.tag = tag
        self.lock = threading.Lock()

    def __call__(self, x: Any) -> Any:
        with self.lock:
            self.calls += 1
        return (self.tag, x)


def process(
    backend: RedisBackend, clock: FakeClock, work: Callable[[Any], Any], lifetime: Any = 10
) -> CachedFunction[[Any], Any]:
    """Stand in for one process: a cached function named like its twin in another process."""

    @cache(backend, lifetime=lifetime, clock=clock)
    def lookup(x: Any) -> Any:
        return work(x)

    return lookup


NAME = "tests.test_cache_redis.process.<locals>.lookup"


def test_values_are_shared_between_processes(backend: RedisBackend) -> None:
    """A value one process computed is served to another without recomputing."""
    clock = FakeClock(epoch=EPOCH)
    first, second = Counter("first"), Counter("second")
    a = process(backend, clock, first)
    b = process(RedisBackend(backend.client, prefix=backend.prefix), clock, second)
    assert a(1) == ("first", 1)
    assert b(1) == ("first", 1)
    assert (first.calls, second.calls) == (1, 0)
    assert b.cache_info() == CacheInfo(hits=1, misses=0, recomputes=0, size=1)


def test_keys_are_readable_and_carry_a_ttl(backend: RedisBackend) -> None:
    """Plain arguments make readable keys; the TTL is 2 * timeout + 60 s; forever has none."""
    clock = FakeClock(epoch=EPOCH)
    f = process(backend, clock, Counter())
    f("a b")
    key = f"{backend.prefix}{NAME}:('a b',)"
    assert backend.client.exists(key)
    assert 79_000 < backend.client.pttl(key) <= 80_000
    assert backend.client.ttl(key) in (79, 80)  # the TTL command, in whole seconds
    g = process(RedisBackend(backend.client, prefix=backend.prefix + "y:"), clock, Counter(), None)
    g(1)
    assert backend.client.pttl(f"{backend.prefix}y:{NAME}:(1,)") == -1


def test_objects_are_keyed_by_a_digest_of_their_pickle(backend: RedisBackend) -> None:
    """Arguments that are not plain values are keyed by a digest of their pickled state."""
    clock = FakeClock(epoch=EPOCH)
    work = Counter()
    f = process(backend, clock, work)
    f(frozenset({3}))
    f(frozenset({3}))
    (key,) = backend.client.keys(f"{backend.prefix}*")
    assert isinstance(key, bytes)
    assert key.decode().startswith(f"{backend.prefix}{NAME}:#")
    assert work.calls == 1


def test_unhashable_argument_raises_a_type_error_naming_it_on_redis(
    backend: RedisBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """On Redis too an unhashable argument is the caller's TypeError, not a backend error."""
    work = Counter()
    f = process(backend, FakeClock(epoch=EPOCH), work)
    unhashable = r"argument 'x' is unhashable \(got \[1\]"
    with (
        caplog.at_level(logging.DEBUG, logger="dyno.cache"),
        pytest.raises(TypeError, match=unhashable),
    ):
        f([1])
    assert work.calls == 0
    assert caplog.records == []


def test_another_process_refreshing_means_serving_the_stale_value(backend: RedisBackend) -> None:
    """While another process holds the recomputation lock, a due value is served stale."""
    clock = FakeClock(epoch=EPOCH)
    work = Counter()
    f = process(backend, clock, work)
    stale = f(1)
    clock.advance(10)
    other = backend.bind(NAME)
    token = other.lock((1,))
    assert token is not None
    assert f(1) == stale
    assert work.calls == 1
    assert f.cache_info() == CacheInfo(hits=1, misses=1, recomputes=0, size=1)
    other.unlock((1,), token)
    f(1)
    assert work.calls == 2
    assert not backend.client.keys(f"{backend.prefix}lock:*")  # released after recomputing


def test_missing_value_computed_elsewhere_is_awaited(backend: RedisBackend) -> None:
    """A missing value another process is computing is awaited (polling), not recomputed."""
    work = Counter()

    class StoreOnThirdSleep(FakeClock):
        """The other process stores its value while this one sleeps between polls."""

        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            if len(self.sleeps) == 3:
                stamp = self.wall()
                entry = Entry(("writer", 1), stamp, 0.1, stamp + 10)
                backend.bind(NAME).set((1,), entry, 10)

    clock = StoreOnThirdSleep(epoch=EPOCH)
    f = process(backend, clock, work)
    assert backend.bind(NAME).lock((1,)) is not None  # the other process is computing
    assert f(1) == ("writer", 1)
    assert work.calls == 0
    assert clock.sleeps == [0.01] * 3
    assert f.cache_info() == CacheInfo(hits=0, misses=1, recomputes=0, size=1)


def test_a_process_computes_at_once_when_the_other_gives_up_its_lock(
    backend: RedisBackend,
) -> None:
    """If the other process lets go of its lock without a value (it failed), compute at once."""
    work = Counter()
    other = backend.bind(NAME)
    token = other.lock((1,))  # the other process starts computing
    assert token is not None

    class FailOnSecondSleep(FakeClock):
        """The other process's computation fails (it unlocks) while this one polls."""

        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            if len(self.sleeps) == 2:
                other.unlock((1,), cast(str, token))

    clock = FailOnSecondSleep(epoch=EPOCH)
    f = process(backend, clock, work)
    assert f(1) == ("value", 1)
    assert work.calls == 1
    assert clock.sleeps == [0.01] * 2  # not lock_timeout / poll_interval = 1,000 polls
    assert f.cache_info() == CacheInfo(hits=0, misses=1, recomputes=0, size=1)
    assert not backend.client.keys(f"{backend.prefix}lock:*")


def test_waiting_for_another_process_is_bounded_by_the_lock_timeout(
    backend: RedisBackend,
) -> None:
    """If the other process never delivers, the caller computes after lock_timeout."""
    slow = RedisBackend(backend.client, prefix=backend.prefix, lock_timeout=0.5, poll_interval=0.1)
    clock = FakeClock(epoch=EPOCH)
    work = Counter()
    f = process(slow, clock, work)
    assert slow.bind(NAME).lock((1,)) is not None  # held "elsewhere" for 0.5 s of real time
    assert f(1) == ("value", 1)
    assert work.calls == 1
    assert len(clock.sleeps) == 5
    assert sum(clock.sleeps) == pytest.approx(0.5)


def test_redis_stopped_mid_test_still_returns_right_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With Redis gone the function is called directly and right values come back; then it heals."""
    clock = FakeClock(epoch=EPOCH)
    work = Counter()
    with RedisServer() as server:
        backend = RedisBackend(url=server.url)
        try:
            f = process(backend, clock, lambda x: (work(x), x * 2)[1])
            assert [f(1), f(1), f(2)] == [2, 2, 4]
            assert work.calls == 2
            server.stop()
            with caplog.at_level(logging.INFO, logger="dyno.cache"):
                assert [f(1), f(2), f(3), f(1)] == [2, 4, 6, 2]
                assert work.calls == 6
                assert f.cache_info().size is None
                f.cache_clear()  # logged, not raised
                server.start()
                assert [f(5), f(5)] == [10, 10]
            assert work.calls == 7
        finally:
            backend.close()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert (
        warnings[0]
        .getMessage()
        .startswith(
            f"Cannot read the cache for {NAME} (<store of {NAME} in <RedisBackend {server.url!r} "
            "prefix='dyno:'>>): ConnectionError: "
        )
    )
    assert any("works again" in r.getMessage() for r in caplog.records)


def test_async_function_with_redis_stopped_mid_test_still_returns_right_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An async function whose Redis goes away awaits the function directly, then heals."""
    clock = FakeClock(epoch=EPOCH)
    calls = 0
    with RedisServer() as server:
        backend = RedisBackend(url=server.url)

        @cache(backend, lifetime=10, clock=clock)
        async def f(x: int) -> int:
            nonlocal calls
            calls += 1
            return x * 2

        async def each(*xs: int) -> list[int]:
            return [await f(x) for x in xs]

        try:
            assert asyncio.run(each(1, 1, 2)) == [2, 2, 4]
            assert calls == 2
            server.stop()
            with caplog.at_level(logging.INFO, logger="dyno.cache"):
                assert asyncio.run(each(1, 2, 3, 1)) == [2, 4, 6, 2]
                assert calls == 6
                server.start()
                assert asyncio.run(each(5, 5)) == [10, 10]
            assert calls == 7
        finally:
            backend.close()
    assert [r.levelno for r in caplog.records].count(logging.WARNING) == 1
    assert any("works again" in r.getMessage() for r in caplog.records)


def test_a_cancelled_computation_releases_the_redis_lock(backend: RedisBackend) -> None:
    """A computing task that is cancelled frees the lock, so the next caller need not wait."""
    clock = FakeClock(epoch=EPOCH)
    calls = 0

    @cache(backend, lifetime=10, clock=clock)
    async def f(x: int) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.Event().wait()  # hangs until cancelled
        return x

    async def main() -> None:
        first = asyncio.create_task(f(1))
        while not calls:  # until the first call computes, holding the lock
            await asyncio.sleep(0)
        assert backend.client.keys(f"{backend.prefix}lock:*")
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert not backend.client.keys(f"{backend.prefix}lock:*")
        assert await f(1) == 1

    asyncio.run(main())
    assert clock.sleeps == []  # the second call did not poll for the first one's value
    assert calls == 2


def test_an_interrupted_computation_releases_the_redis_lock(backend: RedisBackend) -> None:
    """A KeyboardInterrupt in the computation passes through untouched and frees the lock."""
    interrupt = KeyboardInterrupt()

    def work(x: Any) -> Any:
        assert backend.client.keys(f"{backend.prefix}lock:*")
        raise interrupt

    f = process(backend, FakeClock(epoch=EPOCH), work)
    with pytest.raises(KeyboardInterrupt) as info:
        f(1)
    assert info.value is interrupt
    assert not backend.client.keys(f"{backend.prefix}lock:*")


def test_async_functions_use_redis_without_blocking_the_loop(backend: RedisBackend) -> None:
    """Async callers share one computation; Redis calls run off the event loop."""
    clock = FakeClock(epoch=EPOCH)
    calls = 0
    loop_thread: list[int] = []

    @cache(backend, lifetime=xfetch(10), clock=clock)
    async def f(x: int) -> int:
        nonlocal calls
        calls += 1
        loop_thread.append(threading.get_ident())
        await asyncio.sleep(0)
        return x * 3

    async def main() -> list[int]:
        return list(await asyncio.gather(*(f(2) for _ in range(8))))

    assert asyncio.run(main()) == [6] * 8
    assert calls == 1
    info = f.cache_info()
    assert info.hits + info.misses == 8


def test_unpicklable_value_is_returned_and_not_cached(
    backend: RedisBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """A value Redis cannot hold is still returned; the failure is logged."""
    lock = threading.Lock()
    f = process(backend, FakeClock(epoch=EPOCH), lambda x: lock)
    with caplog.at_level(logging.WARNING, logger="dyno.cache"):
        assert f(1) is lock
    assert "Cannot store the value" in caplog.records[0].getMessage()
    assert f.cache_info().size == 0


def test_cache_clear_removes_only_the_functions_keys(backend: RedisBackend) -> None:
    """cache_clear deletes this function's keys and no one else's; size counts them."""
    clock = FakeClock(epoch=EPOCH)
    f = process(backend, clock, Counter())

    @cache(backend, lifetime=10, clock=clock)
    def other(x: int) -> int:
        return x

    for x in range(3):
        f(x)
    other(1)
    assert f.cache_info().size == 3
    f.cache_clear()
    assert f.cache_info() == CacheInfo(hits=0, misses=0, recomputes=0, size=0)
    assert other.cache_info().size == 1


def test_two_real_processes_share_values(redis_server: RedisServer) -> None:
    """A value computed in another process is served here without recomputing."""
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    code = (
        "from dyno.cache import RedisBackend, cache\n"
        "def lookup(x): return ('child', x)\n"
        "lookup.__module__, lookup.__qualname__ = 'shared', 'lookup'\n"
        f"backend = RedisBackend(url={redis_server.url!r}, prefix={prefix!r})\n"
        "f = cache(backend, lifetime=60)(lookup)\n"
        "print(f(7))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    )
    assert out.stdout.strip() == "('child', 7)"

    def lookup(x: int) -> tuple[str, int]:
        return ("parent", x)

    lookup.__module__, lookup.__qualname__ = "shared", "lookup"
    backend = RedisBackend(url=redis_server.url, prefix=prefix)
    try:
        f = cache(backend, lifetime=60)(lookup)
        assert f(7) == ("child", 7)
    finally:
        backend.close()


CHILD = """
import sys
from dyno.cache import RedisBackend, cache
from dyno.clock import SystemClock
url, prefix = sys.argv[1], sys.argv[2]
backend = RedisBackend(url=url, prefix=prefix)

class Announcing(SystemClock):
    \"\"\"The real clock, saying in Redis when this process starts polling.\"\"\"

    def sleep(self, seconds):
        backend.client.set(prefix + "polling", b"1")
        super().sleep(seconds)

def lookup(x):
    print("computed in the child", flush=True)
    return ("child", x)

lookup.__module__, lookup.__qualname__ = "shared", "lookup"
f = cache(backend, lifetime=60, clock=Announcing())(lookup)
print(repr(f(7)))
print(repr(f.cache_info()))
"""


def child_process(server: RedisServer, prefix: str) -> subprocess.Popen[str]:
    """Start another process calling shared.lookup(7) through the same Redis and prefix."""
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, server.url, prefix],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def wait_for(condition: Callable[[], object]) -> None:
    """Wait (bounded) until *condition* holds."""
    pause = threading.Event()
    for _ in range(3000):
        if condition():
            return
        pause.wait(0.005)
    raise AssertionError("condition not reached in time")


def gated_lookup(backend: RedisBackend, gate: threading.Event) -> CachedFunction[[int], Any]:
    """This process's shared.lookup, held inside its computation until *gate* is set."""

    def lookup(x: int) -> tuple[str, int]:
        assert gate.wait(60)
        return ("parent", x)

    lookup.__module__, lookup.__qualname__ = "shared", "lookup"
    return cache(backend, lifetime=60)(lookup)


def test_a_process_waits_for_the_value_another_process_is_computing(
    redis_server: RedisServer,
) -> None:
    """Real processes: while one computes a missing value under the Redis lock, another waits."""
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    backend = RedisBackend(url=redis_server.url, prefix=prefix)
    gate = threading.Event()
    f = gated_lookup(backend, gate)
    results: list[Any] = []
    computing = threading.Thread(target=lambda: results.append(f(7)))
    try:
        computing.start()
        lock = f"{prefix}lock:shared.lookup:(7,)"
        wait_for(lambda: backend.client.exists(lock))
        assert 0 < backend.client.pttl(lock) <= 10_000  # short: it expires by itself
        child = child_process(redis_server, prefix)
        wait_for(lambda: backend.client.exists(prefix + "polling") or child.poll() is not None)
        assert child.poll() is None  # the child is polling for the value, not computing it
        gate.set()
        out, err = child.communicate(timeout=60)
        computing.join(60)
        assert not backend.client.exists(lock)  # released after computing
    finally:
        gate.set()
        computing.join(60)
        backend.close()
    assert child.returncode == 0, err
    assert out.splitlines() == [
        "('parent', 7)",
        "CacheInfo(hits=0, misses=1, recomputes=0, size=1)",
    ]
    assert results == [("parent", 7)]


def test_a_process_serves_the_stale_value_while_another_refreshes_it(
    redis_server: RedisServer,
) -> None:
    """Real processes: while one refreshes a due value, another gets the stale one at once."""
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    backend = RedisBackend(url=redis_server.url, prefix=prefix)
    now = backend.client.time()[0]
    stale = Entry(("stale", 7), now - 100.0, 0.1, now - 40.0)  # expired 40 s ago
    backend.bind("shared.lookup").set((7,), stale, 60)
    gate = threading.Event()
    f = gated_lookup(backend, gate)
    results: list[Any] = []
    refreshing = threading.Thread(target=lambda: results.append(f(7)))
    try:
        refreshing.start()
        wait_for(lambda: backend.client.exists(f"{prefix}lock:shared.lookup:(7,)"))
        # The child finishes while this process is still held inside the refresh.
        out = subprocess.run(
            [sys.executable, "-c", CHILD, redis_server.url, prefix],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=True,
        ).stdout
        assert refreshing.is_alive()
        gate.set()
        refreshing.join(60)
        assert f(7) == ("parent", 7)
    finally:
        gate.set()
        refreshing.join(60)
        backend.close()
    assert out.splitlines() == [
        "('stale', 7)",
        "CacheInfo(hits=1, misses=0, recomputes=0, size=1)",
    ]
    assert results == [("parent", 7)]


def test_redis_backend_validates_its_options(redis_server: RedisServer) -> None:
    """Contradictory or wrongly typed options fail at construction."""
    import redis
    import redis.asyncio

    with pytest.raises(ValueError, match="Cannot use both 'client' and 'url'"):
        RedisBackend(client=redis.Redis(), url=redis_server.url)
    with pytest.raises(TypeError, match="Cannot use an asyncio Redis client"):
        RedisBackend(client=redis.asyncio.Redis())
    with pytest.raises(TypeError, match="'prefix' must be <class 'str'>"):
        RedisBackend(url=redis_server.url, prefix=1)  # type: ignore[arg-type]  # bad on purpose
    with pytest.raises(ValueError, match="'lock_timeout' must be > 0"):
        RedisBackend(url=redis_server.url, lock_timeout=0)
    with pytest.raises(ValueError, match=r"'lock_timeout' must be < inf \(got inf"):
        RedisBackend(url=redis_server.url, lock_timeout=float("inf"))  # a lock must expire
    with pytest.raises(ValueError, match=r"'poll_interval' must be < inf \(got inf"):
        RedisBackend(url=redis_server.url, poll_interval=float("inf"))  # a poll must end
    with pytest.raises(TypeError, match=r"'client' must be a redis\.Redis client"):
        RedisBackend(client=3)
    backend = RedisBackend(url=redis_server.url, prefix="p:")
    assert repr(backend) == f"<RedisBackend {redis_server.url!r} prefix='p:'>"
    assert backend.ttl(10) == 80
    assert backend.ttl(float("inf")) is None


def test_missing_redis_py_is_reported_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without redis-py, RedisBackend() fails at once saying what to install."""
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "redis" else real_find_spec(name)
    )
    with pytest.raises(ImportError, match=r"pip install 'dyno-resilience\[redis\]'"):
        RedisBackend(url="redis://localhost:1/0")
