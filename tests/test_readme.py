"""README.rst: the code it shows outside doctests runs and does what the text says."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from dyno.clock import FakeClock, use_clock

README = Path(__file__).resolve().parent.parent / "README.rst"


def _glance_code() -> str:
    text = README.read_text()
    section = text.split("At a glance\n-----------\n", 1)[1]
    match = re.search(r"\.\. code-block:: python\n\n((?:(?:    .*)?\n)+)", section)
    assert match is not None, "the 'At a glance' section shows python code"
    return textwrap.dedent(match.group(1))


class _DownInventory:
    def __init__(self) -> None:
        self.calls = 0

    def get(self, sku: str) -> int:
        self.calls += 1
        raise ConnectionError(f"inventory is down ({sku})")


class _UpInventory:
    def get(self, sku: str) -> int:
        return len(sku)


def test_at_a_glance_service_retries_then_falls_back() -> None:
    """The 'At a glance' service makes three attempts with backoff, then the fallback answers."""
    inventory = _DownInventory()
    namespace: dict[str, object] = {"inventory_client": inventory}
    clock = FakeClock()
    with use_clock(clock):
        exec(_glance_code(), namespace)  # the README's own code
        stock_level = namespace["stock_level"]
        assert callable(stock_level)
        assert stock_level("sku-1") is None
    assert inventory.calls == 3
    assert len(clock.sleeps) == 2  # exponential backoff between the three attempts
    totals = stock_level.metrics.totals()  # type: ignore[attr-defined]  # a dyno service
    assert totals["failure"] == 3
    assert totals["fallback_success"] == 1


def test_at_a_glance_service_returns_the_value_when_healthy() -> None:
    """The same service returns the dependency's answer when it is up."""
    namespace: dict[str, object] = {"inventory_client": _UpInventory()}
    with use_clock(FakeClock()):
        exec(_glance_code(), namespace)  # the README's own code
        stock_level = namespace["stock_level"]
        assert callable(stock_level)
        assert stock_level("abc") == 3
