"""Shared fixtures for dyno's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.services import RedisServer


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server shared by the session (start your own to stop it mid-test)."""
    with RedisServer() as server:
        yield server
