"""Cache stampede: 32 threads hammer one key through its expiries.

Each case caches one slow function (it takes ``COMPUTE`` seconds) with a
``LIFETIME`` expiry, then 32 threads call it for ``DURATION`` seconds, each
pausing ``PAUSE`` between calls, so a value is almost always present (only
the warm-up call finds nothing). We count:

- *recomputes per expiry*: computations divided by expiry events, where an
  expiry event is a burst of computations overlapping the first one (a
  stampede puts many computations in one burst; the ideal is 1.00);
- *slow*: calls that did not compute yet took longer than half a
  computation: callers held back although a stale value existed, or (on
  Redis) plain network latency under 32 threads and the GIL, which the
  no-expiry Redis row measures on its own;
- *waited* (dyno only, exact): callers that waited for a computation, from
  ``cache_info()``: misses minus computations (the ideal is 0).

dyno runs in memory and on Redis, with two processes of 16 threads sharing
one redis-server (needs ``redis-server`` on PATH). Peers: cachetools
``cached(TTLCache)`` with a lock, and with a ``condition`` (cachetools >= 6:
single flight, everyone waits), and dogpile.cache's memory region.

Run: ``python -m benchmarks stampede``. Real sleeps and threads: numbers
vary from run to run (the machine is shared); the shape does not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

THREADS = 32
COMPUTE = 0.02
LIFETIME = 0.25
DURATION = 2.5
PAUSE = 0.001
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Tally:
    """What one run observed."""

    computations: list[tuple[float, float]] = field(default_factory=list)
    calls: int = 0
    waits: int = 0
    longest_wait: float = 0.0
    waited: int | None = None

    def merge(self, other: Tally) -> None:
        self.computations.extend(other.computations)
        self.calls += other.calls
        self.waits += other.waits
        self.longest_wait = max(self.longest_wait, other.longest_wait)
        if other.waited is not None:
            self.waited = (self.waited or 0) + other.waited


_lock = threading.Lock()
_local = threading.local()
_tally = Tally()


def slow_value(key: str) -> tuple[str, float]:
    """The function every case caches: takes COMPUTE seconds, records when it ran."""
    start = time.time()
    time.sleep(COMPUTE)
    end = time.time()
    with _lock:
        _tally.computations.append((start, end))
    _local.computed = True
    return (key, end)


def _misses(function: Callable[[str], object]) -> int | None:
    info = getattr(function, "cache_info", None)
    misses = getattr(info(), "misses", None) if info is not None else None
    return misses if isinstance(misses, int) else None


def hammer(function: Callable[[str], object], threads: int, duration: float) -> Tally:
    """Call *function* from *threads* threads for *duration* seconds; return the tally."""
    global _tally
    _tally = Tally()
    function("hot")  # warm: from here on a value (fresh or stale) always exists
    _tally.computations.clear()
    misses_before = _misses(function)
    barrier = threading.Barrier(threads)
    deadline = time.monotonic() + duration

    def run() -> None:
        calls = waits = 0
        longest = 0.0
        barrier.wait()
        while time.monotonic() < deadline:
            _local.computed = False
            start = time.perf_counter()
            function("hot")
            took = time.perf_counter() - start
            calls += 1
            if not _local.computed and took > COMPUTE / 2:
                waits += 1
                longest = max(longest, took)
            time.sleep(PAUSE)
        with _lock:
            _tally.calls += calls
            _tally.waits += waits
            _tally.longest_wait = max(_tally.longest_wait, longest)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    misses_after = _misses(function)
    if misses_before is not None and misses_after is not None:
        _tally.waited = misses_after - misses_before - len(_tally.computations)
    return _tally


def expiry_events(computations: list[tuple[float, float]]) -> int:
    """Count bursts: a computation starting before the burst's first one ended joins it."""
    events = 0
    burst_end = float("-inf")
    for start, end in sorted(computations):
        if start >= burst_end:
            events += 1
            burst_end = end
    return events


def _dyno_memory(policy: str) -> Callable[[str], object]:
    from dyno.cache import cache, xfetch

    lifetime = xfetch(LIFETIME) if policy == "xfetch" else LIFETIME
    return cache(lifetime=lifetime)(slow_value)


def _cachetools(condition: bool) -> Callable[[str], object]:
    import cachetools

    ttl: cachetools.TTLCache[str, object] = cachetools.TTLCache(maxsize=16, ttl=LIFETIME)
    if condition:
        return cachetools.cached(ttl, condition=threading.Condition())(slow_value)
    return cachetools.cached(ttl, lock=threading.Lock())(slow_value)


def _dogpile() -> Callable[[str], object]:
    from dogpile.cache import make_region

    region = make_region().configure("dogpile.cache.memory", expiration_time=LIFETIME)
    return region.cache_on_arguments()(slow_value)


def _redis_function(url: str, prefix: str, lifetime: float) -> Callable[[str], object]:
    from dyno.cache import RedisBackend, cache

    return cache(RedisBackend(url=url, prefix=prefix), lifetime=lifetime)(slow_value)


def child(url: str, prefix: str, threads: int, start_at: float, lifetime: float) -> None:
    """Entry point of one Redis process: wait for the common start, hammer, print the tally."""
    function = _redis_function(url, prefix, lifetime)
    function("hot")
    time.sleep(max(0.0, start_at - time.time()))
    tally = hammer(function, threads, DURATION)
    print(json.dumps(tally.__dict__))


def _redis_processes(url: str, processes: int, lifetime: float = LIFETIME) -> Tally:
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    start_at = time.time() + 1.5  # both processes imported and warm by then
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    per_process = THREADS // processes
    children = [
        subprocess.Popen(
            [
                *(sys.executable, "-m", "benchmarks.bench_stampede", url, prefix),
                *(str(per_process), repr(start_at), repr(lifetime)),
            ],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        for _ in range(processes)
    ]
    total = Tally()
    for process in children:
        out, _ = process.communicate(timeout=120)
        data = json.loads(out.strip().splitlines()[-1])
        data["computations"] = [tuple(pair) for pair in data["computations"]]
        total.merge(Tally(**data))
    return total


def _row(name: str, tally: Tally) -> str:
    events = max(1, expiry_events(tally.computations))
    ratio = len(tally.computations) / events
    longest = f"{tally.longest_wait * 1000:.0f}" if tally.waits else "-"
    waited = "n/a" if tally.waited is None else str(tally.waited)
    per_expiry = f"{ratio:7.2f}" if tally.computations else "      -"
    return (
        f"| {name.ljust(44)} | {len(tally.computations):5d} | {events:4d} | {per_expiry} "
        f"| {tally.calls:7d} | {tally.waits:6d} | {longest:>7} | {waited:>6} |"
    )


def main() -> str:
    def threads(make: Callable[[], Callable[[str], object]]) -> Callable[[], Tally]:
        return lambda: hammer(make(), THREADS, DURATION)

    rows: list[tuple[str, Callable[[], Tally]]] = [
        ("dyno cache(lifetime=0.25), memory", threads(lambda: _dyno_memory("static"))),
        ("dyno cache(lifetime=xfetch(0.25)), memory", threads(lambda: _dyno_memory("xfetch"))),
        ("cachetools cached(TTLCache, lock)", threads(lambda: _cachetools(False))),
        ("cachetools cached(TTLCache, condition)", threads(lambda: _cachetools(True))),
        ("dogpile.cache memory region", threads(_dogpile)),
    ]
    server = None
    try:
        from tests.services import RedisServer

        server = RedisServer().start()
    except BaseException as error:  # pytest's skip when redis-server is missing
        note = f"(Redis rows skipped: {type(error).__name__}: {error})"
    else:
        url = server.url
        note = ""
        rows.append(
            ("dyno RedisBackend, no expiry (latency floor)", lambda: _redis_processes(url, 1, 3600))
        )
        rows.append(("dyno RedisBackend, 1 process x 32 threads", lambda: _redis_processes(url, 1)))
        rows.append(
            ("dyno RedisBackend, 2 processes x 16 threads", lambda: _redis_processes(url, 2))
        )
    lines = [
        f"### stampede: {THREADS} threads, one key, compute {COMPUTE * 1000:.0f} ms, "
        f"lifetime {LIFETIME * 1000:.0f} ms, {DURATION} s",
        "",
        f"| {'case'.ljust(44)} | comps | exps | per exp | calls   | slow   | max ms  | waited |",
        f"|{'-' * 46}|------:|-----:|--------:|--------:|-------:|--------:|-------:|",
    ]
    try:
        for name, run in rows:
            lines.append(_row(name, run()))
    finally:
        if server is not None:
            server.close()
    lines.append("")
    lines.append(
        "comps: computations after warm-up; exps: expiry events (bursts); per exp: "
        "recomputations per expiry (ideal 1.00); slow: non-computing calls slower than "
        f"{COMPUTE * 500:.0f} ms although a value existed; max ms: the slowest of them; "
        "waited: dyno's exact count of callers that waited for a computation (ideal 0)."
    )
    if note:
        lines.append(note)
    return "\n".join(lines)


if __name__ == "__main__":
    child(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
