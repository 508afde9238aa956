"""The cache hit path: dyno.cache against cachetools, dogpile.cache and functools.

Every case answers a call from a warm cache (the value is never recomputed:
lifetimes are an hour). Baseline: ``cachetools.cached(TTLCache(...))``, the
usual choice for an expiring in-process cache. Targets (issue 6): dyno at
most 0.5x cachetools and 0.05x dogpile.cache's ``cache_on_arguments``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

import cachetools
from dogpile.cache import make_region

from benchmarks.runner import compare, format_table
from dyno.cache import MemoryBackend, cache, xfetch

BASELINE = "cachetools.cached(TTLCache)"
LIFETIME = 3600.0


def _user(user_id: int, verbose: bool = False) -> tuple[int, bool]:
    return (user_id, verbose)


def _cases() -> dict[str, Callable[[], object]]:
    ttl = cachetools.cached(cachetools.TTLCache(maxsize=1024, ttl=LIFETIME))(_user)
    ttl_locked = cachetools.cached(
        cachetools.TTLCache(maxsize=1024, ttl=LIFETIME), lock=threading.Lock()
    )(_user)
    region = make_region().configure("dogpile.cache.memory", expiration_time=LIFETIME)
    dogpile = region.cache_on_arguments()(_user)
    lru = functools.lru_cache(maxsize=1024)(_user)
    dyno_static = cache(lifetime=LIFETIME)(_user)
    dyno_xfetch = cache(lifetime=xfetch(LIFETIME))(_user)
    dyno_lru = cache(MemoryBackend(maxsize=1024), lifetime=LIFETIME)(_user)
    return {
        BASELINE: lambda: ttl(7),
        "cachetools.cached(TTLCache, lock=Lock())": lambda: ttl_locked(7),
        "dogpile.cache cache_on_arguments (memory)": lambda: dogpile(7),
        "functools.lru_cache (no expiry, C)": lambda: lru(7),
        "dyno cache(lifetime=3600)": lambda: dyno_static(7),
        "dyno cache(lifetime=3600) keyword call": lambda: dyno_static(user_id=7),
        "dyno cache(lifetime=xfetch(3600))": lambda: dyno_xfetch(7),
        "dyno cache(MemoryBackend(1024), 3600)": lambda: dyno_lru(7),
    }


def main() -> str:
    cases = _cases()
    for case in cases.values():
        case()  # warm every cache
    results = compare(cases, BASELINE, rounds=15)
    return format_table("cache hit path, one key, warm cache", results, BASELINE)
