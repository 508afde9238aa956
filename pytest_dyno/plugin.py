"""The pytest plugin: fixtures, markers and options for testing dyno code."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dyno.clock import FakeClock, use_clock

__all__ = ["dyno_clock"]


@pytest.fixture
def dyno_clock() -> Iterator[FakeClock]:
    """Install a :class:`~dyno.clock.FakeClock` process-wide for the test, then restore."""
    clock = FakeClock()
    with use_clock(clock):
        yield clock
