"""pytest_dyno: the pytest plugin that makes dyno's failure paths easy to test.

It loads automatically once dyno is installed (entry point ``pytest11``,
name ``dyno``); disable it with ``-p no:dyno``. The fixtures live in
:mod:`pytest_dyno.plugin`. What they give is also offered here as plain
classes and context managers, for scripts, other test frameworks and
hypothesis ``@given`` tests (which cannot use function-scoped fixtures):

* :class:`Flaky` and :class:`FlakyFactory`: simulated flaky dependencies;
* :func:`isolated_registry`: undo every registry change made in a block;
* :func:`forced_breakers` / :class:`BreakerControl`: force breakers, then release;
* :func:`capture_harness` / :class:`HarnessCapture`: collect harness reports;
* :func:`budget`, :class:`RootTimer`, :class:`BudgetExceeded`: timing budgets.

Names are imported on first use, so ``import pytest_dyno`` stays cheap, and
only :mod:`pytest_dyno.strategies` imports hypothesis.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Redundant aliases mark these as re-exports for type checkers.
    from pytest_dyno.breakers import BreakerControl as BreakerControl
    from pytest_dyno.breakers import forced_breakers as forced_breakers
    from pytest_dyno.flaky import Flaky as Flaky
    from pytest_dyno.flaky import FlakyFactory as FlakyFactory
    from pytest_dyno.harness import HarnessCapture as HarnessCapture
    from pytest_dyno.harness import capture_harness as capture_harness
    from pytest_dyno.registry import isolated_registry as isolated_registry
    from pytest_dyno.timing import Budget as Budget
    from pytest_dyno.timing import BudgetExceeded as BudgetExceeded
    from pytest_dyno.timing import RootTimer as RootTimer
    from pytest_dyno.timing import budget as budget

# Public name -> module that defines it.
_EXPORTS: dict[str, str] = {
    "Flaky": "pytest_dyno.flaky",
    "FlakyFactory": "pytest_dyno.flaky",
    "isolated_registry": "pytest_dyno.registry",
    "BreakerControl": "pytest_dyno.breakers",
    "forced_breakers": "pytest_dyno.breakers",
    "HarnessCapture": "pytest_dyno.harness",
    "capture_harness": "pytest_dyno.harness",
    "RootTimer": "pytest_dyno.timing",
    "Budget": "pytest_dyno.timing",
    "BudgetExceeded": "pytest_dyno.timing",
    "budget": "pytest_dyno.timing",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_dyno' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
