"""dyno: fault-tolerant service code after Netflix Hystrix.

Each concept lives in its own module (``dyno.breaker``, ``dyno.retry``, ...)
and can be used alone. The main names are re-exported here lazily, so
``import dyno`` stays cheap and importing one module never drags in the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Redundant aliases mark these as re-exports for type checkers.
    from dyno.clock import Clock as Clock
    from dyno.clock import FakeClock as FakeClock
    from dyno.clock import SystemClock as SystemClock
    from dyno.clock import get_clock as get_clock
    from dyno.clock import set_clock as set_clock
    from dyno.clock import use_clock as use_clock
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
