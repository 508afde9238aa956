"""Real external services for tests: a redis-server on a free port, headless Chromium.

A test that needs one calls :func:`require` with the executable's name. On a
developer machine without it the test skips; under ``DYNO_REQUIRE_SERVICES=1``
(set by ``.ci/run``) it fails instead, so CI never passes by skipping.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

__all__ = ["RedisServer", "free_port", "require", "services_required"]


def services_required() -> bool:
    """Return True when missing services must fail tests rather than skip them."""
    return os.environ.get("DYNO_REQUIRE_SERVICES", "") not in ("", "0")


# Debian packages that provide an executable under another name.
PACKAGES = {"chromedriver": "chromium-driver"}


def require(executable: str, *candidates: str) -> str:
    """Return the path of the first of *executable*, *candidates* found on PATH.

    Skips the test when none is found, or fails it under DYNO_REQUIRE_SERVICES=1.
    """
    for name in (executable, *candidates):
        path = shutil.which(name)
        if path:
            return path
    package = PACKAGES.get(executable, executable)
    message = f"{executable} is not installed (apt-get install -y {package})"
    if services_required():
        pytest.fail(f"DYNO_REQUIRE_SERVICES=1 but {message}", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A throwaway redis-server on a free loopback port, without persistence."""

    def __init__(self) -> None:
        self.executable = require("redis-server")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.TemporaryDirectory(prefix="dyno-redis-")
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start the server and wait (bounded) until it accepts connections."""
        self._process = subprocess.Popen(
            [
                self.executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir.name,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port} within {timeout}s")

    def stop(self) -> None:
        """Stop the server (idempotent) and wait for it to exit."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
            self._process = None

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        self._dir.cleanup()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
