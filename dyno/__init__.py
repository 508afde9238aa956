"""dyno: fault-tolerant service code after Netflix Hystrix.

Each concept lives in its own module (``dyno.breaker``, ``dyno.retry``, ...)
and can be used alone. The main names are re-exported here lazily, so
``import dyno`` stays cheap and importing one module never drags in the rest.
The decorators named like their modules (``retry``, ``cache``, ``harness``,
``service``) are not re-exported: ``dyno.retry`` is the module. Import them
from their modules, e.g. ``from dyno.retry import retry``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Redundant aliases mark these as re-exports for type checkers.
    from dyno.aspect import advertise as advertise
    from dyno.breaker import Breaker as Breaker
    from dyno.breaker import BreakerSnapshot as BreakerSnapshot
    from dyno.breaker import BreakerState as BreakerState
    from dyno.breaker import Broken as Broken
    from dyno.breaker import CircuitBreaker as CircuitBreaker
    from dyno.breaker import Limiter as Limiter
    from dyno.breaker import RateLimited as RateLimited
    from dyno.cache import CacheInfo as CacheInfo
    from dyno.cache import DictCache as DictCache
    from dyno.cache import MemoryBackend as MemoryBackend
    from dyno.cache import RedisBackend as RedisBackend
    from dyno.cache import exponential_timeout as exponential_timeout
    from dyno.cache import linear_timeout as linear_timeout
    from dyno.cache import static_timeout as static_timeout
    from dyno.cache import xfetch as xfetch
    from dyno.clock import Clock as Clock
    from dyno.clock import FakeClock as FakeClock
    from dyno.clock import SystemClock as SystemClock
    from dyno.clock import get_clock as get_clock
    from dyno.clock import set_clock as set_clock
    from dyno.clock import use_clock as use_clock
    from dyno.harness import HarnessRecord as HarnessRecord
    from dyno.injection import Dependency as Dependency
    from dyno.injection import DependencyError as DependencyError
    from dyno.injection import from_registry as from_registry
    from dyno.injection import inject as inject
    from dyno.injection import inject3 as inject3
    from dyno.metrics import Latency as Latency
    from dyno.metrics import Metrics as Metrics
    from dyno.metrics import MetricsSnapshot as MetricsSnapshot
    from dyno.registry import NotRegistered as NotRegistered
    from dyno.registry import Registry as Registry
    from dyno.registry import RegistryProxy as RegistryProxy
    from dyno.retry import CompoundException as CompoundException
    from dyno.retry import Retry as Retry
    from dyno.retry import exponential as exponential
    from dyno.retry import fixed as fixed
    from dyno.retry import make_compound_exception as make_compound_exception
    from dyno.service import Service as Service
    from dyno.service import ServiceFunction as ServiceFunction
    from dyno.service import ServiceTimeout as ServiceTimeout
    from dyno.timing import PerfTimer as PerfTimer
    from dyno.timing import PrettyTime as PrettyTime
    from dyno.timing import current_timer as current_timer
    from dyno.timing import timed as timed
    from dyno.utils import percentile as percentile

__version__ = "0.3.0.dev0"

# Public name -> module that defines it.
_EXPORTS: dict[str, str] = {
    "Clock": "dyno.clock",
    "SystemClock": "dyno.clock",
    "FakeClock": "dyno.clock",
    "get_clock": "dyno.clock",
    "set_clock": "dyno.clock",
    "use_clock": "dyno.clock",
    "percentile": "dyno.utils",
    "Registry": "dyno.registry",
    "RegistryProxy": "dyno.registry",
    "NotRegistered": "dyno.registry",
    "advertise": "dyno.aspect",
    "HarnessRecord": "dyno.harness",
    "PerfTimer": "dyno.timing",
    "PrettyTime": "dyno.timing",
    "timed": "dyno.timing",
    "current_timer": "dyno.timing",
    "Metrics": "dyno.metrics",
    "MetricsSnapshot": "dyno.metrics",
    "Latency": "dyno.metrics",
    "Breaker": "dyno.breaker",
    "BreakerSnapshot": "dyno.breaker",
    "BreakerState": "dyno.breaker",
    "Broken": "dyno.breaker",
    "CircuitBreaker": "dyno.breaker",
    "Limiter": "dyno.breaker",
    "RateLimited": "dyno.breaker",
    "Retry": "dyno.retry",
    "CompoundException": "dyno.retry",
    "make_compound_exception": "dyno.retry",
    "fixed": "dyno.retry",
    "exponential": "dyno.retry",
    "CacheInfo": "dyno.cache",
    "MemoryBackend": "dyno.cache",
    "DictCache": "dyno.cache",
    "RedisBackend": "dyno.cache",
    "static_timeout": "dyno.cache",
    "linear_timeout": "dyno.cache",
    "exponential_timeout": "dyno.cache",
    "xfetch": "dyno.cache",
    "Service": "dyno.service",
    "ServiceFunction": "dyno.service",
    "ServiceTimeout": "dyno.service",
    "inject": "dyno.injection",
    "inject3": "dyno.injection",
    "Dependency": "dyno.injection",
    "DependencyError": "dyno.injection",
    "from_registry": "dyno.injection",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dyno' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
