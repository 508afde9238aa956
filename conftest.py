"""Root conftest: makes ``tests`` importable and checks tests leave the clock as they found it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dyno.clock import get_clock, set_clock


@pytest.fixture(autouse=True)
def _no_leaked_clock() -> Iterator[None]:
    """Fail a test (or doctest) that leaves another process-wide clock installed."""
    before = get_clock()
    yield
    leaked = get_clock()
    if leaked is not before:
        set_clock(before)
        pytest.fail(f"the test left {leaked!r} installed as the dyno clock", pytrace=False)
