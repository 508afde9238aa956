"""Cache function results, and retire them without a stampede.

:func:`cache` memoises a function, method or ``async def`` function. Each
cached value carries its age, how long it took to compute and when it
expires; an *expiry policy* decides, at each read, whether to recompute it:

- a number of seconds, or :func:`static_timeout`: fresh until it expires;
- :func:`linear_timeout`, :func:`exponential_timeout`: each read recomputes
  early with a chance that grows with the value's age (dyno 0.2);
- :func:`xfetch`: probabilistic early expiry after Vattani, Chierichetti and
  Lowenstein (VLDB 2015), which recomputes expensive values earlier.

Every policy recomputes once its timeout has passed. With ``single_flight``
(the default) only one caller per key and process recomputes; callers that
find a stale value get it at once, and callers that find nothing wait for the
one computation. Backends: :class:`MemoryBackend` (LRU when bounded),
:class:`DictCache` (the dyno 0.2 name for an unbounded one) and
:class:`RedisBackend`, shared between processes, where a short Redis lock lets
one process recompute while the others serve the stale value. A failing
backend never fails the caller: the function is called directly and the error
is logged on the ``dyno.cache`` logger.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import importlib.util
import inspect
import itertools
import logging
import math
import os
import pickle
import random as _random
import sys
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Generator, Hashable, Iterable
from dataclasses import dataclass, field
from typing import (
    TYPE_CHECKING,
    Any,
    NamedTuple,
    ParamSpec,
    Protocol,
    TypeAlias,
    TypeVar,
    cast,
    overload,
    runtime_checkable,
)

from dyno.clock import Clock, check_clock, get_clock
from dyno.utils import (
    check_callable,
    check_decoratable,
    check_int,
    check_number,
    check_type,
    describe,
    is_async_callable,
    refuse_method_object,
)

if TYPE_CHECKING:
    from typing import Self

    import redis

__all__ = [
    "cache",
    "CachedFunction",
    "BoundCachedMethod",
    "KeyFunction",
    "CacheInfo",
    "ExpiryPolicy",
    "StaticTimeout",
    "LinearTimeout",
    "ExponentialTimeout",
    "XFetch",
    "static_timeout",
    "linear_timeout",
    "exponential_timeout",
    "xfetch",
    "Entry",
    "Backend",
    "Store",
    "MemoryBackend",
    "DictCache",
    "RedisBackend",
    "MINUTES",
    "HOURS",
    "DAYS",
]

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

logger = logging.getLogger("dyno.cache")

#: Seconds in a minute, an hour and a day, for lifetimes (dyno 0.2).
MINUTES = 60
HOURS = 60 * MINUTES
DAYS = 24 * HOURS


# -- expiry policies ---------------------------------------------------------


class ExpiryPolicy:
    """Decides, at each read of a cached value, whether to recompute it.

    A value is always recomputed once :attr:`timeout` seconds have passed
    since it was stored. Before that, :meth:`recompute_early` may ask for an
    early recomputation, so that a hot key is refreshed by one caller before
    it expires for everyone. Subclass it (as a frozen dataclass) to write your
    own policy.
    """

    __slots__ = ()

    #: Seconds after which a value is always recomputed.
    timeout: float

    def recompute_early(self, age: float, delta: float) -> bool:
        """Return True to recompute a value now, before its timeout.

        Args:
            age: Seconds since the value was stored, ``0 <= age < timeout``.
            delta: Seconds the value took to compute.
        """
        return False

    def earliest_age(self, delta: float) -> float:
        """Return the youngest age at which :meth:`recompute_early` may return True.

        Younger values are served without asking it, so a hit costs no draw.
        The default, 0, always asks; a policy that never recomputes early
        returns its timeout.
        """
        if type(self).recompute_early is ExpiryPolicy.recompute_early:
            return self.timeout  # never early
        return 0.0


def _pick(rng: _random.Random | None) -> Callable[[], float]:
    return _random.random if rng is None else rng.random


@dataclass(frozen=True, slots=True)
class StaticTimeout(ExpiryPolicy):
    """Recompute once *timeout* seconds have passed, never earlier."""

    timeout: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "timeout", check_number("timeout", self.timeout, low=0))


@dataclass(frozen=True, slots=True)
class LinearTimeout(ExpiryPolicy):
    """Recompute early with probability ``age / timeout`` at each read (dyno 0.2).

    ``rng`` (a :class:`random.Random`) makes the draws reproducible.
    """

    timeout: float
    rng: _random.Random | None = field(default=None, repr=False, compare=False)
    _draw: Callable[[], float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "timeout", check_number("timeout", self.timeout, low=0))
        if self.rng is not None:
            check_type("rng", self.rng, _random.Random)
        object.__setattr__(self, "_draw", _pick(self.rng))

    def recompute_early(self, age: float, delta: float) -> bool:
        """Return True with probability ``age / timeout``."""
        return self._draw() * self.timeout < age


@dataclass(frozen=True, slots=True)
class ExponentialTimeout(ExpiryPolicy):
    """Recompute early with probability ``(age / timeout) ** exponent`` (dyno 0.2).

    Young values are almost never recomputed; the chance climbs steeply near
    the timeout. ``rng`` (a :class:`random.Random`) makes the draws reproducible.
    """

    timeout: float
    exponent: float = 2.0
    rng: _random.Random | None = field(default=None, repr=False, compare=False)
    _draw: Callable[[], float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "timeout", check_number("timeout", self.timeout, low=0))
        object.__setattr__(
            self, "exponent", check_number("exponent", self.exponent, low=0, low_open=True)
        )
        if self.rng is not None:
            check_type("rng", self.rng, _random.Random)
        object.__setattr__(self, "_draw", _pick(self.rng))

    def recompute_early(self, age: float, delta: float) -> bool:
        """Return True with probability ``(age / timeout) ** exponent``."""
        return self._draw() < float((age / self.timeout) ** self.exponent)


@dataclass(frozen=True, slots=True)
class XFetch(ExpiryPolicy):
    """Optimal probabilistic early expiry (Vattani, Chierichetti, Lowenstein, VLDB 2015).

    A read recomputes when ``now - delta * beta * log(random()) >= expiry``,
    where *delta* is how long the value took to compute (stored with it): the
    more expensive the value, the earlier it is refreshed. ``beta > 1``
    favours earlier recomputation, ``beta < 1`` later; ``beta = 0`` is a
    static timeout. ``rng`` (a :class:`random.Random`) makes draws reproducible.
    """

    timeout: float
    beta: float = 1.0
    rng: _random.Random | None = field(default=None, repr=False, compare=False)
    _draw: Callable[[], float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "timeout", check_number("timeout", self.timeout, low=0))
        object.__setattr__(self, "beta", check_number("beta", self.beta, low=0))
        if self.rng is not None:
            check_type("rng", self.rng, _random.Random)
        object.__setattr__(self, "_draw", _pick(self.rng))

    def earliest_age(self, delta: float) -> float:
        """Return ``timeout - 40 * delta * beta``: no draw can trigger a recompute before.

        ``1 - random()`` is at least 2**-53, so ``-log(u)`` is at most 36.74.
        """
        return max(0.0, self.timeout - 40.0 * delta * self.beta)

    def recompute_early(self, age: float, delta: float) -> bool:
        """Return True when ``-delta * beta * log(u) >= timeout - age``, u uniform in (0, 1]."""
        if delta <= 0.0:
            return False
        # 1 - random() lies in (0, 1], so the log is finite.
        return -delta * self.beta * math.log(1.0 - self._draw()) >= self.timeout - age


def static_timeout(timeout: float) -> StaticTimeout:
    """Return a policy that recomputes a value once *timeout* seconds have passed.

    Raises:
        TypeError: *timeout* is not a number.
        ValueError: *timeout* is negative.
    """
    return StaticTimeout(timeout)


def linear_timeout(timeout: float, *, rng: _random.Random | None = None) -> LinearTimeout:
    """Return a policy whose chance of early recomputation grows linearly with age.

    Args:
        timeout: Seconds after which the value is always recomputed.
        rng: A :class:`random.Random` for reproducible draws (the module's
            shared generator when None).

    Raises:
        TypeError: *timeout* is not a number, or *rng* not a ``random.Random``.
        ValueError: *timeout* is negative.
    """
    return LinearTimeout(timeout, rng)


def exponential_timeout(
    timeout: float, exponent: float = 2.0, *, rng: _random.Random | None = None
) -> ExponentialTimeout:
    """Return a policy whose chance of early recomputation is ``(age / timeout) ** exponent``.

    Raises:
        TypeError: An option has the wrong type.
        ValueError: *timeout* is negative or *exponent* is not positive.
    """
    return ExponentialTimeout(timeout, exponent, rng)


def xfetch(timeout: float, beta: float = 1.0, *, rng: _random.Random | None = None) -> XFetch:
    """Return the XFetch policy: early recomputation weighted by the compute time.

    Raises:
        TypeError: An option has the wrong type.
        ValueError: *timeout* or *beta* is negative.
    """
    return XFetch(timeout, beta, rng)


# -- entries, stores and backends ------------------------------------------


class Entry(NamedTuple):
    """A cached value with what the expiry policy needs to judge it.

    Times are in the clock's ``now()`` for stores private to a process and in
    its ``wall()`` for stores shared between processes (monotonic time means
    nothing in another process).
    """

    value: object
    #: When the value was stored.
    created: float
    #: Seconds the value took to compute.
    delta: float
    #: When the value must be recomputed (``created + timeout``; inf for forever).
    expiry: float
    #: Before this time the policy never recomputes early (``created + earliest_age``).
    early_from: float = math.inf


class Store(Protocol):
    """One cached function's view of a backend.

    Keys are hashable tuples built from the call's arguments. Memory stores
    are private to one process (``shared`` False); shared stores take
    timestamps in wall time and offer a short cross-process lock.
    """

    @property
    def shared(self) -> bool:
        """True when other processes see the entries (timestamps are then wall time)."""
        ...

    @property
    def blocking(self) -> bool:
        """True when operations do I/O (async callers then run them in a thread)."""
        ...

    @property
    def lock_timeout(self) -> float:
        """Seconds a cross-process recomputation lock is held at most."""
        ...

    @property
    def poll_interval(self) -> float:
        """Seconds between looks while another process computes a missing value."""
        ...

    def get(self, key: Hashable, /) -> Entry | None:
        """Return the entry under *key*, or None."""
        ...

    def set(self, key: Hashable, entry: Entry, timeout: float, /) -> None:
        """Store *entry* under *key*; *timeout* is the policy's (inf for forever)."""
        ...

    def lock(self, key: Hashable, /) -> str | None:
        """Take the recomputation lock for *key*; return a token, or None if held elsewhere."""
        ...

    def unlock(self, key: Hashable, token: str, /) -> None:
        """Release the lock taken with *token* (if still held)."""
        ...

    def clear(self) -> None:
        """Remove every entry of this function."""
        ...

    def size(self) -> int | None:
        """Return how many entries this function has (None when unknown)."""
        ...


@runtime_checkable
class Backend(Protocol):
    """Where cached values live: gives each decorated function its :class:`Store`."""

    def bind(self, name: str) -> Store:
        """Return the store for the function called *name* (``module.qualname``)."""
        ...


class _DictStore:
    """An unbounded store: a plain dict, whose get and set are atomic."""

    __slots__ = ("__weakref__", "_data", "get", "name")
    shared = False
    blocking = False
    lock_timeout = 0.0
    poll_interval = 0.0

    def __init__(self, name: str) -> None:
        self.name = name
        self._data: dict[Hashable, Entry] = {}
        # The bound dict method itself, so the hit path pays one C call.
        self.get: Callable[[Hashable], Entry | None] = self._data.get

    def set(self, key: Hashable, entry: Entry, timeout: float, /) -> None:
        self._data[key] = entry

    def lock(self, key: Hashable, /) -> str | None:
        return ""

    def unlock(self, key: Hashable, token: str, /) -> None:
        pass

    def clear(self) -> None:
        self._data.clear()

    def size(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"<store of {self.name} in memory: {len(self._data)} entries>"


class _LRUStore:
    """One function's share of a bounded :class:`MemoryBackend`."""

    __slots__ = ("__weakref__", "_backend", "_id", "get", "name")
    shared = False
    blocking = False
    lock_timeout = 0.0
    poll_interval = 0.0

    def __init__(self, backend: MemoryBackend, name: str, store_id: int) -> None:
        self._backend = backend
        self._id = store_id
        self.name = name
        self.get: Callable[[Hashable], Entry | None] = _lru_getter(backend, store_id)

    def set(self, key: Hashable, entry: Entry, timeout: float, /) -> None:
        self._backend._lru_set((self._id, key), entry)

    def lock(self, key: Hashable, /) -> str | None:
        return ""

    def unlock(self, key: Hashable, token: str, /) -> None:
        pass

    def clear(self) -> None:
        self._backend._lru_clear(self._id)

    def size(self) -> int:
        return self._backend._lru_size(self._id)

    def __repr__(self) -> str:
        return f"<store of {self.name} in {self._backend!r}>"


def _lru_getter(backend: MemoryBackend, store_id: int) -> Callable[[Hashable], Entry | None]:
    # A closure over the backend's parts: one Python call per read on the hit path.
    acquire, release = backend._lock.acquire, backend._lock.release
    lookup, move_to_end = backend._lru.get, backend._lru.move_to_end

    def get(key: Hashable, /) -> Entry | None:
        full = (store_id, key)
        acquire()  # cheaper than `with lock:` on this path, by about a third
        try:
            entry = lookup(full)
            if entry is not None:
                move_to_end(full)
        finally:
            release()
        return entry

    return get


class MemoryBackend:
    """Keep cached values in this process's memory.

    Unbounded by default. With *maxsize*, the least recently used entries are
    evicted once the backend (all functions sharing it together) holds more
    than *maxsize* entries. Thread-safe. Each function decorated with the
    same backend gets its own entries, so two functions never see each
    other's values.

    Args:
        maxsize: Most entries kept, or None for no bound.

    Raises:
        TypeError: *maxsize* is not an int or None.
        ValueError: *maxsize* is less than 1.
    """

    def __init__(self, maxsize: int | None = None) -> None:
        self.maxsize = None if maxsize is None else check_int("maxsize", maxsize, low=1)
        self._lock = threading.Lock()
        self._lru: OrderedDict[tuple[int, Hashable], Entry] = OrderedDict()
        self._sizes: dict[int, int] = {}
        self._ids = itertools.count()
        self._stores: weakref.WeakSet[_DictStore] = weakref.WeakSet()

    def bind(self, name: str) -> Store:
        """Return a new, empty store for the function *name*."""
        if self.maxsize is None:
            store = _DictStore(name)
            with self._lock:
                self._stores.add(store)
            return store
        store_id = next(self._ids)
        with self._lock:
            self._sizes[store_id] = 0
        return _LRUStore(self, name, store_id)

    def __len__(self) -> int:
        with self._lock:
            if self.maxsize is None:
                return sum(store.size() for store in list(self._stores))
            return len(self._lru)

    def clear(self) -> None:
        """Remove every entry of every function using this backend."""
        with self._lock:
            for store in list(self._stores):
                store.clear()
            self._lru.clear()
            for store_id in self._sizes:
                self._sizes[store_id] = 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} size={len(self)} maxsize={self.maxsize}>"

    # The bounded case: one OrderedDict for all functions, under one lock.

    def _lru_set(self, key: tuple[int, Hashable], entry: Entry) -> None:
        maxsize = cast(int, self.maxsize)
        with self._lock:
            if key not in self._lru:
                self._sizes[key[0]] = self._sizes.get(key[0], 0) + 1
            self._lru[key] = entry
            self._lru.move_to_end(key)
            while len(self._lru) > maxsize:
                (store_id, _), _ = self._lru.popitem(last=False)
                self._sizes[store_id] -= 1

    def _lru_clear(self, store_id: int) -> None:
        with self._lock:
            for key in [key for key in self._lru if key[0] == store_id]:
                del self._lru[key]
            self._sizes[store_id] = 0

    def _lru_size(self, store_id: int) -> int:
        with self._lock:
            return self._sizes.get(store_id, 0)


class DictCache(MemoryBackend):
    """An unbounded :class:`MemoryBackend`, under its dyno 0.2 name."""

    def __init__(self) -> None:
        super().__init__(None)


# Characters redis treats specially in SCAN MATCH patterns.
_GLOB = str.maketrans({char: "\\" + char for char in "*?[]\\"})
_SIMPLE = (str, int, float, bool, bytes, type(None))
_UNLOCK_SCRIPT = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)


def _is_simple(value: object) -> bool:
    if type(value) is tuple:
        return all(_is_simple(item) for item in value)
    return type(value) in _SIMPLE


def _key_text(key: Hashable) -> str:
    """Return a string naming *key* that is the same in every process.

    Keys of plain values (str, int, float, bool, bytes, None, and tuples of
    them) read as their repr; anything else, or a repr over 200 characters,
    becomes a digest of its pickle (so objects are keyed by their state).
    """
    hash(key)  # the key must be hashable in every backend (single flight needs it)
    if _is_simple(key):
        text = repr(key)
        if len(text) <= 200:
            return text
    digest = hashlib.blake2b(pickle.dumps(key, protocol=4), digest_size=16).hexdigest()
    return "#" + digest


class _RedisStore:
    """One function's keys in Redis: ``prefix + name + ":" + key``."""

    __slots__ = ("_backend", "_base", "_lock_base", "name")
    shared = True
    blocking = True

    def __init__(self, backend: RedisBackend, name: str) -> None:
        self._backend = backend
        self.name = name
        self._base = f"{backend.prefix}{name}:"
        self._lock_base = f"{backend.prefix}lock:{name}:"

    @property
    def lock_timeout(self) -> float:
        return self._backend.lock_timeout

    @property
    def poll_interval(self) -> float:
        return self._backend.poll_interval

    def get(self, key: Hashable, /) -> Entry | None:
        data = self._backend.client.get(self._base + _key_text(key))
        if data is None:
            return None
        if not isinstance(data, bytes):
            raise ValueError(
                "Cannot unpickle a str from Redis: the client decodes responses. "
                "Pass a client made with decode_responses=False instead."
            )
        return Entry(*pickle.loads(data))

    def set(self, key: Hashable, entry: Entry, timeout: float, /) -> None:
        data = pickle.dumps(tuple(entry), protocol=pickle.HIGHEST_PROTOCOL)
        ttl = self._backend.ttl(timeout)
        px = None if ttl is None else max(1, int(ttl * 1000))
        self._backend.client.set(self._base + _key_text(key), data, px=px)

    def lock(self, key: Hashable, /) -> str | None:
        token = os.urandom(8).hex()
        px = max(1, int(self._backend.lock_timeout * 1000))
        taken = self._backend.client.set(self._lock_base + _key_text(key), token, nx=True, px=px)
        return token if taken else None

    def unlock(self, key: Hashable, token: str, /) -> None:
        self._backend.client.eval(_UNLOCK_SCRIPT, 1, self._lock_base + _key_text(key), token)

    def _keys(self) -> list[bytes]:
        pattern = self._base.translate(_GLOB) + "*"
        return list(self._backend.client.scan_iter(match=pattern, count=500))

    def clear(self) -> None:
        keys = self._keys()
        for start in range(0, len(keys), 500):
            self._backend.client.delete(*keys[start : start + 500])

    def size(self) -> int:
        return len(self._keys())

    def __repr__(self) -> str:
        return f"<store of {self.name} in {self._backend!r}>"


class RedisBackend:
    """Keep cached values in Redis, shared by every process that uses it.

    Values are pickled with their metadata (stored at, compute time, expiry,
    in the clock's wall time, since monotonic time is not shared between
    processes). Keys are ``prefix + module.qualname + ":" + key``, the key
    being the repr of the argument tuple when it holds only plain values
    (str, int, float, bool, bytes, None), else a digest of its pickle. Each
    key carries a Redis TTL of ``2 * timeout + 60`` seconds, so a stale value
    outlives its expiry long enough to be served while one process
    recomputes it, and nothing leaks; values cached forever get no TTL.

    Recomputation across processes is guarded by a lock (``SET NX PX``,
    *lock_timeout* seconds at most): one process recomputes while the others
    serve the stale value, or, when there is none, wait for it (polling every
    *poll_interval* seconds, for at most *lock_timeout*; one of them computes
    as soon as the lock is let go without a value, its computation having
    failed or been cancelled).

    redis-py is imported on first use. Given *url* (or neither option, for
    ``redis://localhost:6379/0``), the backend makes a client that fails fast
    when Redis is down: one-second socket timeouts and no retries. Async
    functions run the (blocking) client calls in a worker thread, so the
    event loop never blocks. Only use a Redis you trust: values are unpickled.

    Args:
        client: A ``redis.Redis`` client (not ``redis.asyncio``).
        url: A Redis URL, when no client is given.
        prefix: Put before every key.
        lock_timeout: Longest a recomputation lock is held, in seconds.
        poll_interval: Seconds between looks while another process computes.

    Raises:
        TypeError: An option has the wrong type, or *client* is an asyncio client.
        ValueError: Both *client* and *url* are given, or a duration is not
            positive and finite.
        ImportError: redis-py is not installed (and no client is given).
    """

    def __init__(
        self,
        client: object | None = None,
        url: str | None = None,
        prefix: str = "dyno:",
        *,
        lock_timeout: float = 10.0,
        poll_interval: float = 0.01,
    ) -> None:
        if client is not None and url is not None:
            raise ValueError(
                "Cannot use both 'client' and 'url': they say the same thing twice. "
                "Pass one of them."
            )
        if url is not None:
            check_type("url", url, str)
        if client is None and importlib.util.find_spec("redis") is None:
            raise ImportError(
                "Cannot make a RedisBackend: redis-py is not installed. "
                "Install it with: pip install 'dyno-resilience[redis]'."
            )
        if client is not None:
            get = getattr(client, "get", None)
            if get is None or not callable(get):
                raise TypeError(f"'client' must be a redis.Redis client (got {describe(client)})")
            asyncio_redis = sys.modules.get("redis.asyncio")
            if inspect.iscoroutinefunction(get) or (
                asyncio_redis is not None and isinstance(client, asyncio_redis.Redis)
            ):
                raise TypeError(
                    "Cannot use an asyncio Redis client: the cache calls Redis from threads "
                    "and event loops alike. Pass a redis.Redis client or url= instead."
                )
        self.prefix = check_type("prefix", prefix, str)
        self.url = url
        # Finite: a Redis lock must expire (PX takes milliseconds), and a poll must end.
        self.lock_timeout = check_number(
            "lock_timeout", lock_timeout, low=0, low_open=True, high=math.inf, high_open=True
        )
        self.poll_interval = check_number(
            "poll_interval", poll_interval, low=0, low_open=True, high=math.inf, high_open=True
        )
        self._client: redis.Redis | None = cast("redis.Redis | None", client)
        self._client_lock = threading.Lock()

    @property
    def client(self) -> redis.Redis:
        """The redis-py client (made from the URL on first use)."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    import redis  # optional dependency, imported lazily
                    from redis.backoff import NoBackoff  # optional, lazily
                    from redis.retry import Retry  # optional, lazily

                    self._client = redis.Redis.from_url(
                        self.url or "redis://localhost:6379/0",
                        socket_timeout=1.0,
                        socket_connect_timeout=1.0,
                        retry=Retry(NoBackoff(), 0),
                    )
        return self._client

    def ttl(self, timeout: float) -> float | None:
        """Return the Redis TTL for values of a policy *timeout* (None: no TTL)."""
        if math.isinf(timeout):
            return None
        return 2 * timeout + 60

    def bind(self, name: str) -> Store:
        """Return the store for the function *name*: its keys under the prefix."""
        return _RedisStore(self, name)

    def close(self) -> None:
        """Close the client if this backend made it."""
        if self.url is not None and self._client is not None:
            self._client.close()
            self._client = None

    def __repr__(self) -> str:
        where = self.url if self.url is not None else self._client
        return f"<RedisBackend {where!r} prefix={self.prefix!r}>"


# -- statistics ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CacheInfo:
    """How a cached function has fared since decoration or the last ``cache_clear()``.

    Attributes:
        hits: Calls answered from the cache (a fresh value, or a stale one
            while another caller refreshes it).
        misses: Calls that computed the value or waited for its computation;
            ``hits + misses`` is the number of calls.
        recomputes: Computations that replaced a value due for recomputation
            (early or expired).
        size: Entries the function has in its backend (None when unknown).
    """

    hits: int
    misses: int
    recomputes: int
    size: int | None


class _Counter:
    """An exact counter that needs no lock to count.

    ``next()`` on an :class:`itertools.count` is a single C call, atomic under
    the GIL (a lock would double the cost of a cache hit); reading advances it
    too, so reads are serialised and subtracted.
    """

    __slots__ = ("_base", "_count", "_lock", "_reads", "add")

    def __init__(self) -> None:
        self._count = itertools.count()
        self.add: Callable[[], int] = self._count.__next__
        self._lock = threading.Lock()
        self._reads = 0
        self._base = 0

    def value(self) -> int:
        with self._lock:
            seen = next(self._count) - self._reads
            self._reads += 1
            return seen - self._base

    def reset(self) -> None:
        with self._lock:
            self._base = next(self._count) - self._reads
            self._reads += 1


# -- single flight -------------------------------------------------------------

_VALUE, _ERROR, _ABANDONED = "value", "error", "abandoned"


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _Flight:
    """One computation in progress, which other callers of the key wait for.

    Waiters may be threads (sync functions) or tasks on any event loop (async
    functions), so completion is signalled both ways.
    """

    __slots__ = ("_event", "_lock", "_waiters", "outcome", "value")

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self.outcome = ""
        self.value: object = None

    def finish(self, outcome: str, value: object) -> None:
        with self._lock:
            self.outcome, self.value = outcome, value
            self._event.set()
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            # A closed loop has nobody left to wake.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_wake, future)

    def wait(self) -> None:
        self._event.wait()

    async def await_(self) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._event.is_set():
                return
            self._waiters.append((loop, future))
        try:
            await future
        finally:
            with self._lock:
                if (loop, future) in self._waiters:
                    self._waiters.remove((loop, future))


# -- keys ------------------------------------------------------------------------


class _KeyLayout:
    """Which arguments form a function's key, read once from its signature.

    A key is the tuple of the key arguments' values in signature order, with
    defaults applied; ``*args`` contributes its tuple and ``**kwargs`` its
    items sorted by name. So ``f(1)``, ``f(a=1)`` and ``f(1, b=2)`` (2 being
    ``b``'s default) make the same key.
    """

    __slots__ = ("kinds", "names", "params", "signature")

    def __init__(self, function: Callable[..., object], keys: tuple[str, ...]) -> None:
        self.signature = inspect.signature(function)
        self.params = list(self.signature.parameters.values())
        every = [param.name for param in self.params]
        for name in keys:
            if name not in every:
                raise ValueError(
                    f"Cannot key {_qualname(function)}() on {name!r}: it has no argument of "
                    f"that name (it has {', '.join(map(repr, every)) or 'none'}). "
                    "Name arguments of the function in 'keys'."
                )
        wanted = set(keys or every)
        self.names = tuple(name for name in every if name in wanted)
        self.kinds = {param.name: param.kind for param in self.params}

    def unhashable(self, key: object) -> tuple[str, object] | None:
        """Return the name and value of the first unhashable part of *key*, or None."""
        if not isinstance(key, tuple) or len(key) != len(self.names):
            return None
        kind = inspect.Parameter
        for name, value in zip(self.names, key, strict=True):
            parts: Iterable[tuple[str, object]] = [(name, value)]
            if self.kinds[name] is kind.VAR_KEYWORD:
                parts = cast(tuple[tuple[str, object], ...], value)
            elif self.kinds[name] is kind.VAR_POSITIONAL:
                parts = [(name, item) for item in cast(tuple[object, ...], value)]
            for part_name, part in parts:
                try:
                    hash(part)
                except TypeError:
                    return part_name, part
        return None


# -- the engine ------------------------------------------------------------------

# Operations the engine asks a driver to perform (the sync driver does them
# in place; the async driver awaits them).
_GET, _SET, _LOCK, _UNLOCK, _CALL, _WAIT, _SLEEP = range(7)
_Op: TypeAlias = tuple[Any, ...]
# A lock attempt that failed with a backend error: compute without the lock.
_NO_LOCK = "\0"


@dataclass(frozen=True, slots=True)
class _Failure:
    """A computation's exception, for the driver to raise in the caller's frame."""

    error: BaseException


class _Engine:
    """The cache logic for one decorated function, free of any I/O.

    The hit path is inlined in the generated wrapper (see
    :func:`_make_wrapper`); everything slower (misses, recomputation, single
    flight, locks, backend errors) is the generator :meth:`refresh`, which
    yields operations for the sync or the async driver to carry out.
    """

    def __init__(
        self,
        function: Callable[..., Any],
        store: Store,
        policy: ExpiryPolicy | None,
        single_flight: bool,
        clock: Clock | None,
    ) -> None:
        self.function = function
        self.name = _full_name(function)
        self.store = store
        self.timeout = math.inf if policy is None else policy.timeout
        early = None if policy is None else policy.recompute_early
        if policy is not None and type(policy).recompute_early is ExpiryPolicy.recompute_early:
            early = None  # never early: skip the call on every hit
        self.early = early
        self.earliest: Callable[[float], float] = (
            (lambda delta: math.inf) if policy is None else policy.earliest_age
        )
        self.single_flight = single_flight
        self.clock = clock
        self.hits, self.misses, self.recomputes = _Counter(), _Counter(), _Counter()
        self.generation = 0
        self._flights: dict[Hashable, _Flight] = {}
        self._flights_lock = threading.Lock()
        self._backend_ok = True

    # Reading the clock --------------------------------------------------------

    def stamp(self) -> float:
        """Return the time entries are stamped with (wall time when shared)."""
        clock = self.clock or get_clock()
        return clock.wall() if self.store.shared else clock.now()

    def is_fresh(self, entry: Entry, now: float) -> bool:
        """Return True when *entry* may be served as it is at *now*."""
        if now >= entry.expiry:
            return False
        early = self.early
        return (
            early is None or now < entry.early_from or not early(now - entry.created, entry.delta)
        )

    # Backend errors -----------------------------------------------------------

    def backend_failed(self, action: str, error: Exception) -> None:
        """Log a backend error: a warning when the backend starts failing, then debug."""
        if self._backend_ok:
            self._backend_ok = False
            logger.warning(
                "Cannot %s for %s (%r): %s: %s. Calling the function directly; "
                "further errors are logged at DEBUG level until the backend recovers.",
                action,
                self.name,
                self.store,
                type(error).__name__,
                error,
            )
        else:
            logger.debug("Cannot %s for %s: %s: %s", action, self.name, type(error).__name__, error)

    def backend_recovered(self) -> None:
        if not self._backend_ok:
            self._backend_ok = True
            logger.info("The cache backend for %s works again.", self.name)

    def lookup_failed(self, error: Exception, key: object, blame: _KeyLayout | str) -> None:
        """Raise for an unhashable key; otherwise log the backend error and count a miss.

        Args:
            error: What reading the backend raised.
            key: The key read.
            blame: The key's layout (to name the unhashable argument), or what
                made the key, for the message.
        """
        if isinstance(error, TypeError):
            problem = None
            if isinstance(blame, _KeyLayout):
                culprit = blame.unhashable(key)
                if culprit is not None:
                    name, value = culprit
                    problem = (
                        f"argument {name!r} is unhashable (got {describe(value)}). Pass hashable "
                        f"arguments, leave {name!r} out of 'keys', or give cache(key=...) a "
                        "function returning a hashable key instead."
                    )
            elif not _hashable(key):
                problem = (
                    f"{blame} an unhashable key (got {describe(key)}). "
                    "Make the key hashable instead."
                )
            if problem is not None:
                raise TypeError(f"Cannot cache {_qualname(self.function)}(): {problem}") from error
        self.backend_failed("read the cache", error)
        self.misses.add()

    # The slow path, as a generator of operations ------------------------------

    def refresh(
        self, key: Hashable, entry: Entry | None, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Generator[_Op, Any, Any]:
        """Answer a call whose entry is missing or due; return the value or a _Failure."""
        if not self.single_flight:
            return (yield from self._compute(key, entry, args, kwargs, counted=False))
        counted = False  # is this call in the statistics yet?
        while True:
            with self._flights_lock:
                flight = self._flights.get(key)
                leading = flight is None
                if flight is None:
                    flight = self._flights[key] = _Flight()
            if leading:
                return (yield from self._lead(key, entry, args, kwargs, flight, counted))
            if entry is not None:
                self._tally(hit=True, counted=counted)  # stale while another refreshes
                return entry.value
            self._tally(hit=False, counted=counted)
            counted = True
            yield (_WAIT, flight)
            if flight.outcome == _VALUE:
                return flight.value
            if flight.outcome == _ERROR:
                return _Failure(cast(BaseException, flight.value))
            # The computing caller was interrupted (cancelled, KeyboardInterrupt):
            # look again, and maybe lead this time.
            entry = yield from self._read(key)
            if entry is not None and self.is_fresh(entry, self.stamp()):
                return entry.value

    def _tally(self, *, hit: bool, counted: bool) -> None:
        if not counted:
            (self.hits if hit else self.misses).add()

    def _lead(
        self,
        key: Hashable,
        entry: Entry | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        flight: _Flight,
        counted: bool,
    ) -> Generator[_Op, Any, Any]:
        try:
            result = yield from self._lead_inner(key, entry, args, kwargs, counted)
        except BaseException:
            flight.finish(_ABANDONED, None)
            raise
        finally:
            with self._flights_lock:
                if self._flights.get(key) is flight:
                    del self._flights[key]
        if isinstance(result, _Failure):
            flight.finish(_ERROR, result.error)
        else:
            flight.finish(_VALUE, result)
        return result

    def _lead_inner(
        self,
        key: Hashable,
        entry: Entry | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        counted: bool,
    ) -> Generator[_Op, Any, Any]:
        # Another caller may have stored a value between our read and our lead.
        current = yield from self._read(key)
        if current is not None:
            changed = entry is None or (
                current is not entry and current[1:] != entry[1:]  # not the value: may be costly
            )
            if changed and self.stamp() < current.expiry:
                self._tally(hit=True, counted=counted)
                return current.value
            entry = current
        token: str | None = None
        if self.store.shared:
            token = yield from self._lock(key)
            if token is None:  # another process recomputes
                if entry is not None:
                    self._tally(hit=True, counted=counted)
                    return entry.value
                waited, token = yield from self._await_other(key)
                if waited is not None:
                    self._tally(hit=False, counted=counted)
                    return waited.value
        held = token if token and token != _NO_LOCK else None
        try:
            result = yield from self._compute(key, entry, args, kwargs, counted=counted)
        except GeneratorExit:
            raise  # the driver is gone: nothing can be asked of it; the lock expires
        except BaseException:
            # A cancelled or interrupted computation releases the lock on its way
            # out, or every caller of a missing key would wait out lock_timeout.
            if held is not None:
                yield from self._unlock(key, held)
            raise
        if held is not None:
            yield from self._unlock(key, held)
        return result

    def _await_other(self, key: Hashable) -> Generator[_Op, Any, tuple[Entry | None, str | None]]:
        """Wait for another process to store the value; return it, or the lock to compute it.

        Polls until the value arrives, the other process lets go of the lock
        without storing one (its computation failed or was cancelled), or the
        lock timeout passes; then the lock is taken if it can be.
        """
        clock = self.clock or get_clock()
        deadline = clock.now() + self.store.lock_timeout
        while clock.now() < deadline:
            yield (_SLEEP, self.store.poll_interval)
            current = yield from self._read(key)
            if current is not None:
                return current, None
            token = yield from self._lock(key)
            if token is not None:
                # Stored and unlocked between the read and the lock: serve that.
                current = yield from self._read(key)
                if current is not None:
                    if token != _NO_LOCK:
                        yield from self._unlock(key, token)
                    return current, None
                return None, token
        return None, (yield from self._lock(key))

    def _compute(
        self,
        key: Hashable,
        entry: Entry | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        counted: bool,
    ) -> Generator[_Op, Any, Any]:
        self._tally(hit=False, counted=counted)
        if entry is not None:
            self.recomputes.add()
        generation = self.generation
        clock = self.clock or get_clock()
        start = clock.now()
        try:
            value = yield (_CALL, args, kwargs)
        except Exception as error:
            return _Failure(error)
        delta = max(0.0, clock.now() - start)
        created = self.stamp()
        if generation == self.generation:  # a cache_clear() meanwhile drops the value
            try:
                entry = Entry(
                    value, created, delta, created + self.timeout, created + self.earliest(delta)
                )
                yield (_SET, key, entry)
            except Exception as error:
                self.backend_failed("store the value", error)
            else:
                self.backend_recovered()
        return value

    def _read(self, key: Hashable) -> Generator[_Op, Any, Entry | None]:
        entry: Entry | None = yield from self._ask((_GET, key), "read the cache", None)
        return entry

    def _lock(self, key: Hashable) -> Generator[_Op, Any, str | None]:
        token: str | None = yield from self._ask(
            (_LOCK, key), "take the recomputation lock", _NO_LOCK
        )
        return token

    def _unlock(self, key: Hashable, token: str) -> Generator[_Op, Any, None]:
        yield from self._ask((_UNLOCK, key, token), "release the recomputation lock", None)

    def _ask(self, op: _Op, action: str, failed: object) -> Generator[_Op, Any, Any]:
        """Have the driver do backend operation *op*; if it raises, log that and return *failed*.

        A failing backend degrades the cache to calling the function, never
        fails the call (see :meth:`backend_failed`).
        """
        try:
            return (yield op)
        except Exception as error:
            self.backend_failed(action, error)
            return failed

    # Statistics -------------------------------------------------------------

    def info(self) -> CacheInfo:
        try:
            size = self.store.size()
        except Exception as error:
            self.backend_failed("count the entries", error)
            size = None
        return CacheInfo(self.hits.value(), self.misses.value(), self.recomputes.value(), size)

    def clear(self) -> None:
        self.generation += 1
        try:
            self.store.clear()
        except Exception as error:
            self.backend_failed("clear the cache", error)
        for counter in (self.hits, self.misses, self.recomputes):
            counter.reset()


# -- drivers -----------------------------------------------------------------------


def _backend_op(store: Store, timeout: float, op: _Op) -> Any:
    kind = op[0]
    if kind == _GET:
        return store.get(op[1])
    if kind == _SET:
        return store.set(op[1], op[2], timeout)
    if kind == _LOCK:
        return store.lock(op[1])
    return store.unlock(op[1], op[2])


def _finish(value: Any) -> Any:
    if isinstance(value, _Failure):
        raise value.error
    return value


def _drive_sync(engine: _Engine, steps: Generator[_Op, Any, Any]) -> Any:
    """Carry out the engine's operations in this thread."""
    function, store, timeout = engine.function, engine.store, engine.timeout
    try:
        op = next(steps)
        while True:
            try:
                kind = op[0]
                if kind == _CALL:
                    result = function(*op[1], **op[2])
                elif kind == _WAIT:
                    op[1].wait()
                    result = None
                elif kind == _SLEEP:
                    (engine.clock or get_clock()).sleep(op[1])
                    result = None
                else:
                    result = _backend_op(store, timeout, op)
            except BaseException as error:
                op = steps.throw(error)
            else:
                op = steps.send(result)
    except StopIteration as stop:
        return _finish(stop.value)


async def _drive_async(engine: _Engine, steps: Generator[_Op, Any, Any]) -> Any:
    """Carry out the engine's operations on the running loop, never blocking it."""
    function, store, timeout = engine.function, engine.store, engine.timeout
    try:
        op = next(steps)
        while True:
            try:
                kind = op[0]
                if kind == _CALL:
                    result = await function(*op[1], **op[2])
                elif kind == _WAIT:
                    await op[1].await_()
                    result = None
                elif kind == _SLEEP:
                    await (engine.clock or get_clock()).asleep(op[1])
                    result = None
                elif store.blocking:
                    result = await asyncio.to_thread(_backend_op, store, timeout, op)
                else:
                    result = _backend_op(store, timeout, op)
            except BaseException as error:
                op = steps.throw(error)
            else:
                op = steps.send(result)
    except StopIteration as stop:
        return _finish(stop.value)


# -- the decorator ------------------------------------------------------------------


class BoundCachedMethod(Protocol[R_co]):
    """A cached method looked up on an instance."""

    def __call__(self, *args: object, **kwargs: object) -> R_co: ...

    def cache_info(self) -> CacheInfo:
        """Return the statistics of the cached function (all instances)."""
        ...

    def cache_clear(self) -> None:
        """Empty the cache of the function (all instances) and reset its statistics."""
        ...


class CachedFunction(Protocol[P, R_co]):
    """What :func:`cache` returns: the function, plus ``cache_info()`` and ``cache_clear()``."""

    __name__: str
    __qualname__: str
    __module__: str

    @property
    def __wrapped__(self) -> Callable[P, R_co]: ...

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    def cache_info(self) -> CacheInfo:
        """Return hits, misses, recomputes and size since decoration or the last clear."""
        ...

    def cache_clear(self) -> None:
        """Remove the function's entries from its backend and reset its statistics."""
        ...

    @overload
    def __get__(self, instance: None, owner: type[object] | None = None, /) -> Self: ...

    @overload
    def __get__(
        self, instance: object, owner: type[object] | None = None, /
    ) -> BoundCachedMethod[R_co]: ...


KeyFunction: TypeAlias = Callable[..., Hashable]


@overload
def cache(backend: Callable[P, R], /) -> CachedFunction[P, R]: ...


@overload
def cache(
    backend: Backend | None = None,
    keys: str | Iterable[str] | None = None,
    lifetime: float | ExpiryPolicy | None = None,
    *,
    single_flight: bool = True,
    key: KeyFunction | None = None,
    clock: Clock | None = None,
) -> Callable[[Callable[P, R]], CachedFunction[P, R]]: ...


def cache(
    backend: object = None,
    keys: str | Iterable[str] | None = None,
    lifetime: float | ExpiryPolicy | None = None,
    *,
    single_flight: bool = True,
    key: KeyFunction | None = None,
    clock: Clock | None = None,
) -> object:
    """Cache a function's results, keyed on its arguments (dyno 0.2 argument order).

    Usable bare (``@cache``) or called (``@cache(MemoryBackend(), lifetime=60)``),
    on functions, methods and ``async def`` functions; ``cache(function,
    lifetime=60)`` wraps *function* with those options at once. Arguments are bound
    with the function's signature, so ``f(1)``, ``f(a=1)`` and ``f(1, b=2)``
    (where 2 is ``b``'s default) share one entry. On methods, ``self`` is part
    of the key (each instance has its own values, and the cache keeps the
    instance alive) unless *keys* leaves it out.

    Args:
        backend: Where values live; a new :class:`MemoryBackend` when None.
        keys: The names of the arguments that form the key (all when None or
            empty, as in dyno 0.2); a single name may be a string.
        lifetime: Seconds before a value is recomputed, an
            :class:`ExpiryPolicy`, or None to keep values forever.
        single_flight: Let only one caller per key and process recompute a
            value; the others get the stale value or, when there is none,
            wait for that one computation (and get its exception too).
        key: A function called with the call's arguments that returns the
            key, instead of *keys* (for unhashable arguments).
        clock: The clock to read; the process-wide clock at each use when None.

    Returns:
        The wrapped function, with ``cache_info()`` and ``cache_clear()``.

    Raises:
        TypeError: An option has the wrong type (*backend* a class rather than an
            instance), or the decorated object is not a plain function (a
            classmethod object, a generator function).
        ValueError: *keys* names an argument the function does not have, or
            both *keys* and *key* are given.
    """
    refuse_method_object("cache", backend)
    if isinstance(backend, type) and isinstance(backend, Backend):
        # The class has a bind() too, so the protocol check alone lets it through.
        raise TypeError(
            f"Cannot use the class {backend.__qualname__} as 'backend': a backend is an "
            f"instance. Pass {backend.__qualname__}() instead."
        )
    if backend is not None and not isinstance(backend, Backend) and callable(backend):
        # Bare @cache: the function arrives as the first argument (with any options given).
        return cache(None, keys, lifetime, single_flight=single_flight, key=key, clock=clock)(
            backend
        )
    if backend is not None and not isinstance(backend, Backend):
        raise TypeError(
            "'backend' must be a dyno.cache.Backend such as MemoryBackend(), DictCache() "
            f"or RedisBackend() (got {describe(backend)})"
        )
    names = _check_keys(keys)
    policy = _check_lifetime(lifetime)
    check_type("single_flight", single_flight, bool)
    if key is not None:
        check_callable("key", key)
        if names:
            raise ValueError(
                f"Cannot use both 'keys' ({names!r}) and 'key' ({key!r}): either names the "
                "arguments forming the key or computes it. Pass only one of them."
            )
    check_clock("clock", clock)
    chosen = backend

    def decorate(function: Callable[P, R]) -> CachedFunction[P, R]:
        check_decoratable("cache", function, option="function")
        if inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function):
            raise TypeError(
                f"Cannot cache generator function {_qualname(function)}(): a generator "
                "can be consumed only once. Cache a function returning a list instead."
            )
        layout = _layout(function, names)
        store = (MemoryBackend() if chosen is None else chosen).bind(_full_name(function))
        engine = _Engine(function, store, policy, single_flight, clock)
        wrapper = _make_wrapper(engine, layout, key, is_async_callable(function))
        functools.update_wrapper(wrapper, function)
        wrapper.__dict__.update(cache_info=engine.info, cache_clear=engine.clear)
        return cast(CachedFunction[P, R], wrapper)

    return decorate


def _qualname(function: Callable[..., object]) -> str:
    """Return the function's qualified name (its class's, for a callable object)."""
    name = getattr(function, "__qualname__", None)
    return name if isinstance(name, str) else type(function).__qualname__


def _full_name(function: Callable[..., object]) -> str:
    module = getattr(function, "__module__", None)
    if not isinstance(module, str):
        module = type(function).__module__
    return f"{module}.{_qualname(function)}"


def _layout(function: Callable[..., object], names: tuple[str, ...]) -> _KeyLayout | None:
    try:
        inspect.signature(function)
    except (TypeError, ValueError):
        if names:
            raise ValueError(
                f"Cannot key {function!r} on {names!r}: its signature is unknown. "
                "Wrap it in a def naming its arguments instead."
            ) from None
        return None
    return _KeyLayout(function, names)


def _check_keys(keys: object) -> tuple[str, ...]:
    if keys is None:
        return ()
    if isinstance(keys, str):
        return (keys,)
    if not isinstance(keys, Iterable):
        raise TypeError(f"'keys' must be an argument name or a list of them (got {describe(keys)})")
    names = tuple(keys)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(
                f"'keys' must hold argument names as strings (got {describe(keys)}; "
                f"{name!r} is not a string)"
            )
    return names


def _check_lifetime(lifetime: object) -> ExpiryPolicy | None:
    if lifetime is None or isinstance(lifetime, ExpiryPolicy):
        return lifetime
    if isinstance(lifetime, (int, float)) and not isinstance(lifetime, bool):
        return StaticTimeout(check_number("lifetime", lifetime, low=0))
    raise TypeError(
        "'lifetime' must be a number of seconds, an ExpiryPolicy such as xfetch(60), "
        f"or None (got {describe(lifetime)})"
    )


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


# The hit path is generated per function (as dataclasses generate __init__):
# a wrapper with the function's own parameters lets the interpreter bind the
# arguments and apply defaults, so every spelling of a call costs the same
# and the key is one tuple display.
_TEMPLATE = """\
def _make({prefix}env):
    {prefix}get = {prefix}env["get"]
    {prefix}clock = {prefix}env["clock"]
    {prefix}get_clock = {prefix}env["get_clock"]
    {prefix}early = {prefix}env["early"]
    {prefix}hit = {prefix}env["hit"]
    {prefix}key = {prefix}env["key"]
    {prefix}fallback = {prefix}env["fallback"]
    {prefix}refresh = {prefix}env["refresh"]
    {prefix}to_thread = {prefix}env["to_thread"]

    {async_}def wrapper({params}):
        {prefix}k = {key}
        try:
            {prefix}e = {read}
        except Exception as {prefix}error:
            return {await_}{prefix}fallback({prefix}error, {prefix}k, {args}, {kwargs})
        if {prefix}e is not None:
{check}
                {prefix}hit()
                return {prefix}e.value
        return {await_}{prefix}refresh({prefix}k, {prefix}e, {args}, {kwargs})

    return wrapper
"""
_CHECK_FOREVER = "            if True:"
_CHECK_EXPIRY = """\
            {prefix}now = ({prefix}clock or {prefix}get_clock()).{time}()
            if {prefix}now < {prefix}e.expiry:"""
_CHECK_EARLY = """\
            {prefix}now = ({prefix}clock or {prefix}get_clock()).{time}()
            if {prefix}now < {prefix}e.expiry and (
                {prefix}now < {prefix}e.early_from
                or not {prefix}early({prefix}now - {prefix}e.created, {prefix}e.delta)
            ):"""


def _make_wrapper(
    engine: _Engine, layout: _KeyLayout | None, key_function: KeyFunction | None, is_async: bool
) -> Callable[..., Any]:
    """Generate the function's wrapper: the hit path inline, the rest in the engine."""
    params = layout.params if layout is not None else None
    names = [param.name for param in params] if params is not None else ["args", "kwargs"]
    prefix = "_dyno_"
    while any(name.startswith(prefix) for name in names):
        prefix += "_"
    if params is None:
        # No signature to bind with: the key is the arguments as given.
        source_params, call_args, call_kwargs = "*args, **kwargs", "args", "kwargs"
        key = "(args, tuple(sorted(kwargs.items())))"
    else:
        source_params, call_args, call_kwargs = _spell(params)
        assert layout is not None
        key = _key_display(layout)
    if key_function is not None:
        key = (
            f"{prefix}key({_spell_call(params)})"
            if params is not None
            else (f"{prefix}key(*args, **kwargs)")
        )
    store = engine.store
    if engine.timeout == math.inf and engine.early is None:
        check = _CHECK_FOREVER
    else:
        check = _CHECK_EARLY if engine.early is not None else _CHECK_EXPIRY
    read = f"{prefix}get({prefix}k)"
    if is_async and store.blocking:
        read = f"await {prefix}to_thread({prefix}get, {prefix}k)"
    source = _TEMPLATE.format(
        prefix=prefix,
        async_="async " if is_async else "",
        await_="await " if is_async else "",
        params=source_params,
        key=key,
        read=read,
        args=call_args,
        kwargs=call_kwargs,
        check=check.format(prefix=prefix, time="wall" if store.shared else "now"),
    )
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<dyno.cache wrapper of {engine.name}>", "exec"), namespace)
    function = engine.function
    # Who to blame for an unhashable key: an argument, or the key function.
    blame: _KeyLayout | str = "the key function returned" if key_function else "the arguments make"
    if key_function is None and layout is not None:
        blame = layout
    if is_async:

        async def fallback(error: Exception, key: object, args: Any, kwargs: Any) -> Any:
            engine.lookup_failed(error, key, blame)
            return await function(*args, **kwargs)

        async def refresh(key: Hashable, entry: Entry | None, args: Any, kwargs: Any) -> Any:
            return await _drive_async(engine, engine.refresh(key, entry, args, kwargs))

    else:

        def fallback(error: Exception, key: object, args: Any, kwargs: Any) -> Any:  # type: ignore[misc]  # the sync twin of the async fallback above
            engine.lookup_failed(error, key, blame)
            return function(*args, **kwargs)

        def refresh(key: Hashable, entry: Entry | None, args: Any, kwargs: Any) -> Any:  # type: ignore[misc]  # the sync twin of the async refresh above
            return _drive_sync(engine, engine.refresh(key, entry, args, kwargs))

    wrapper: Callable[..., Any] = namespace["_make"](
        {
            "get": store.get,
            "clock": engine.clock,
            "get_clock": get_clock,
            "early": engine.early,
            "hit": engine.hits.add,
            "key": key_function,
            "fallback": fallback,
            "refresh": refresh,
            "to_thread": asyncio.to_thread,
        }
    )
    if params is not None:
        kind = inspect.Parameter
        positional = (kind.POSITIONAL_ONLY, kind.POSITIONAL_OR_KEYWORD)
        defaults = tuple(
            param.default
            for param in params
            if param.kind in positional and param.default is not kind.empty
        )
        kwdefaults = {
            param.name: param.default
            for param in params
            if param.kind is kind.KEYWORD_ONLY and param.default is not kind.empty
        }
        wrapper.__defaults__ = defaults or None
        wrapper.__kwdefaults__ = kwdefaults or None
    return wrapper


def _spell(params: list[inspect.Parameter]) -> tuple[str, str, str]:
    """Return the parameter list, and the args and kwargs displays that pass them on."""
    kind = inspect.Parameter
    source: list[str] = []
    args: list[str] = []
    kwargs: list[str] = []
    for index, param in enumerate(params):
        name = param.name
        if param.kind is kind.POSITIONAL_ONLY:
            source.append(name)
            args.append(name)
            following = params[index + 1] if index + 1 < len(params) else None
            if following is None or following.kind is not kind.POSITIONAL_ONLY:
                source.append("/")
        elif param.kind is kind.POSITIONAL_OR_KEYWORD:
            source.append(name)
            args.append(name)
        elif param.kind is kind.VAR_POSITIONAL:
            source.append("*" + name)
            args.append("*" + name)
        elif param.kind is kind.KEYWORD_ONLY:
            if not any(p.kind is kind.VAR_POSITIONAL for p in params[:index]) and "*" not in source:
                source.append("*")
            source.append(name)
            kwargs.append(f"{name!r}: {name}")
        else:
            source.append("**" + name)
            kwargs.append("**" + name)
    args_display = "(" + "".join(item + ", " for item in args) + ")"
    return ", ".join(source), args_display, "{" + ", ".join(kwargs) + "}"


def _spell_call(params: list[inspect.Parameter]) -> str:
    """Return the arguments of a call passing the parameters on as received."""
    kind = inspect.Parameter
    parts: list[str] = []
    for param in params:
        if param.kind in (kind.POSITIONAL_ONLY, kind.POSITIONAL_OR_KEYWORD):
            parts.append(param.name)
        elif param.kind is kind.VAR_POSITIONAL:
            parts.append("*" + param.name)
        elif param.kind is kind.KEYWORD_ONLY:
            parts.append(f"{param.name}={param.name}")
        else:
            parts.append("**" + param.name)
    return ", ".join(parts)


def _key_display(layout: _KeyLayout) -> str:
    """Return the tuple display building the key from the key parameters."""
    kind = inspect.Parameter
    parts = []
    for name in layout.names:
        if layout.kinds[name] is kind.VAR_KEYWORD:
            parts.append(f"tuple(sorted({name}.items()))")
        else:
            parts.append(name)
    return "(" + "".join(part + ", " for part in parts) + ")"
