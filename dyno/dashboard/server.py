"""The dashboard's HTTP server: a page, a server-sent event stream, Prometheus text.

Standard library only (:mod:`http.server`). Each connection gets its own
daemon thread; a stream client that goes away (or stops reading) ends only
its own thread. The stream is paced in real time by design (it is a live
view for people and scrapers, not something a test clock should drive), so it
waits on the server's stop event rather than sleeping on the dyno clock.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import math
import socket
import sys
import threading
from collections.abc import Callable, Generator, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dyno.utils import check_number, check_type

__all__ = ["DashboardServer", "serve_collector"]

logger = logging.getLogger("dyno.dashboard")

#: Returns one JSON-ready dict per service, in hystrix.stream shape.
StreamSource = Callable[[], Iterable[Mapping[str, object]]]
#: Returns the whole Prometheus text exposition.
MetricsSource = Callable[[], str]

_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "/dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
}
_STREAMS = ("/stream", "/hystrix.stream")
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Bounds of a stream client's ``?delay=`` (milliseconds), as Hystrix clients send it.
MIN_DELAY_MS, MAX_DELAY_MS = 50, 60_000
#: Seconds a connection may stall (an idle keep-alive, a stream nobody reads) before it is dropped.
IDLE_TIMEOUT = 60.0
# How long the browser waits before reconnecting a dropped stream.
_RETRY_MS = 1000


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Do not let a restarted demo fail on a port in TIME_WAIT; a port held by
    # a live listener is still refused.
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        stream: StreamSource,
        metrics: MetricsSource,
        interval: float,
    ) -> None:
        self.stream_source = stream
        self.metrics_source = metrics
        self.interval = interval
        self.stopping = threading.Event()
        self.shared_feed: _Feed | None = None
        self.feeds_lock = threading.Lock()
        self.connections: set[socket.socket | tuple[bytes, socket.socket]] = set()
        self.connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def process_request(
        self,
        request: socket.socket | tuple[bytes, socket.socket],
        client_address: Any,  # typeshed's socketserver types addresses as Any
    ) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket | tuple[bytes, socket.socket]) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def feed(self, interval: float) -> _Feed:
        """Return a feed of events every *interval* seconds.

        Clients at the server's interval share one feed; a client asking for
        another delay gets its own (so odd delays cannot pile up feeds).
        """
        if interval != self.interval:
            return _Feed(self.stream_source, interval, self.stopping)
        with self.feeds_lock:
            if self.shared_feed is None:
                self.shared_feed = _Feed(self.stream_source, interval, self.stopping)
            return self.shared_feed

    def handle_error(self, request: object, client_address: object) -> None:
        # socketserver prints tracebacks to stderr; a dashboard logs them instead,
        # quietly for the network's own errors (a client gone, a timeout).
        if isinstance(sys.exc_info()[1], OSError):
            logger.debug("connection error serving %s", client_address, exc_info=True)
        else:
            logger.exception("Cannot serve a dashboard request from %s", client_address)

    def drop_connections(self) -> None:
        """Shut down every open connection, so its handler thread ends now."""
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            # OSError: already closed by the client or its handler.
            if isinstance(connection, socket.socket):
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "dyno-dashboard"
    timeout = IDLE_TIMEOUT

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("%s - " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._route(head=False)

    def do_HEAD(self) -> None:
        self._route(head=True)

    def _route(self, *, head: bool) -> None:
        url = urlsplit(self.path)
        if url.path in _STATIC:
            filename, content_type = _STATIC[url.path]
            body = resources.files("dyno.dashboard").joinpath("static", filename).read_bytes()
            self._send(200, content_type, body, head=head)
        elif url.path in _STREAMS:
            self._stream(parse_qs(url.query, keep_blank_values=True), head=head)
        elif url.path == "/metrics":
            try:
                text = self.server.metrics_source()
            except Exception:
                logger.exception("Cannot export Prometheus metrics")
                self._send(500, "text/plain; charset=utf-8", b"metrics failed\n", head=head)
                return
            self._send(200, PROMETHEUS_CONTENT_TYPE, text.encode(), head=head)
        else:
            body = b"not found: try / (dashboard), /stream (hystrix.stream) or /metrics\n"
            self._send(404, "text/plain; charset=utf-8", body, head=head)

    def _send(self, status: int, content_type: str, body: bytes, *, head: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _stream(self, query: Mapping[str, list[str]], *, head: bool) -> None:
        interval = self.server.interval
        if "delay" in query:
            # Hystrix clients ask for ?delay=<milliseconds>.
            delay = _parse_delay(query["delay"][-1])
            if delay is None:
                body = (
                    f"Cannot stream with delay={query['delay'][-1]!r}: it must be a number of "
                    f"milliseconds from {MIN_DELAY_MS} to {MAX_DELAY_MS}. "
                    "Pass another delay, or none for the server's interval.\n"
                ).encode()
                self._send(400, "text/plain; charset=utf-8", body, head=head)
                return
            interval = delay
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.send_header("X-Accel-Buffering", "no")  # let proxies pass events at once
        self.end_headers()
        self.close_connection = True
        if head:
            return
        try:
            self.wfile.write(f"retry: {_RETRY_MS}\n\n".encode())
            self.wfile.flush()
            with contextlib.closing(self.server.feed(interval).listen()) as events:
                for data in events:
                    self.wfile.write(data)
                    self.wfile.flush()
        except OSError:
            # The client went away, stalled past the timeout, or close() shut it.
            logger.debug("stream to %s ended", self.address_string(), exc_info=True)


class _Feed:
    """The stream's events at one interval, computed once and shared by every client.

    A producer thread runs while at least one client listens: each interval it
    asks the source once and publishes the encoded events. Clients take the
    latest generation; a slow one skips ahead, nothing queues up. Pacing is by
    the server's stop event, in real time.
    """

    def __init__(self, source: StreamSource, interval: float, stopping: threading.Event) -> None:
        self._source = source
        self._interval = interval
        self._stopping = stopping
        self._condition = threading.Condition()
        self._generation = 0
        self._data = b""
        self._listeners = 0
        # The running producer thread, or None. Only the producer itself clears it, and it
        # decides to stop under the same lock hold, so a listener arriving meanwhile
        # starts a fresh producer and never leaves two running.
        self._producer: threading.Thread | None = None

    @property
    def producing(self) -> bool:
        """True while a producer thread publishes events."""
        with self._condition:
            return self._producer is not None

    def _produce(self) -> None:
        try:
            while True:
                try:
                    data = _events(self._source())
                except Exception:
                    logger.exception("Cannot produce the dashboard stream")
                    data = b": error\n\n"
                with self._condition:
                    self._generation += 1
                    self._data = data
                    self._condition.notify_all()
                if self._stopping.wait(self._interval):
                    return
                with self._condition:
                    if not self._listeners:
                        self._producer = None
                        return
        finally:
            with self._condition:
                if self._producer is threading.current_thread():
                    self._producer = None
                self._condition.notify_all()

    def listen(self) -> Generator[bytes, None, None]:
        """Yield each new generation of events until the server stops."""
        with self._condition:
            self._listeners += 1
            if self._producer is None:
                seen = self._generation  # wait for a fresh read: nothing stale
                self._producer = threading.Thread(
                    target=self._produce, name="dyno-dashboard-feed", daemon=True
                )
                self._producer.start()
            else:
                seen = 0  # the latest read is at most one interval old
        try:
            while not self._stopping.is_set():
                with self._condition:
                    if self._generation == seen:
                        # Bounded, so a stop is noticed even without a notification.
                        self._condition.wait(timeout=1.0)
                    if self._generation == seen:
                        continue
                    seen, data = self._generation, self._data
                yield data
        finally:
            with self._condition:
                self._listeners -= 1


def _parse_delay(text: str) -> float | None:
    """Return the stream interval in seconds that ``?delay=`` asks for, or None if invalid."""
    try:
        delay = float(text)
    except ValueError:
        return None
    if not math.isfinite(delay) or not MIN_DELAY_MS <= delay <= MAX_DELAY_MS:
        return None
    return delay / 1000


def _events(items: Iterable[Mapping[str, object]]) -> bytes:
    """Return one server-sent event per item, or a comment to keep the stream alive."""
    chunks = [
        b"data: " + json.dumps(item, separators=(",", ":")).encode() + b"\n\n" for item in items
    ]
    return b"".join(chunks) or b": ping\n\n"


class DashboardServer:
    """A running dashboard: its :attr:`url`, and :meth:`close` (also a context manager).

    Made by :func:`dyno.dashboard.serve`.
    """

    def __init__(self, server: _Server) -> None:
        self._server = server
        raw_host, port = server.server_address[:2]
        host = raw_host.decode() if isinstance(raw_host, bytes) else str(raw_host)
        shown = f"[{host}]" if ":" in host else host
        #: The interface served, as bound.
        self.host: str = host
        #: The TCP port served (the one picked when 0 was asked for).
        self.port: int = int(port)
        #: Base URL, e.g. ``http://127.0.0.1:8765/``; the stream is ``url + "stream"``.
        self.url: str = f"http://{shown}:{port}/"
        self._closed = False
        self._close_lock = threading.Lock()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"dyno-dashboard-{port}",
            daemon=True,
        )
        self._thread.start()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Stop serving, end every stream and connection, and release the port.

        Calling it again does nothing.
        """
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._server.stopping.set()
        self._server.shutdown()
        self._server.drop_connections()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> DashboardServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "serving"
        return f"<DashboardServer url={self.url!r} {state}>"


def serve_collector(
    stream: StreamSource,
    metrics: MetricsSource,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    interval: float = 0.5,
) -> DashboardServer:
    """Start a dashboard server over the given sources and return its handle.

    Args:
        stream: Called once per client per interval; returns the events to send.
        metrics: Called per ``/metrics`` request; returns the exposition text.
        host: Interface to bind (``""`` or ``"0.0.0.0"`` for all).
        port: TCP port; 0 picks a free one.
        interval: Seconds between stream updates (> 0).

    Raises:
        OSError: The address cannot be served (taken port, unknown host); the
            message names host and port, and ``errno`` is the system's.
        TypeError, ValueError: An option is of the wrong type or out of range.
    """
    check_type("host", host, str)
    port = int(check_number("port", port, low=0, high=65535, integer=True))
    interval = check_number("interval", interval, low=0, low_open=True, high=3600)
    try:
        server = _Server((host, port), stream, metrics, interval)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            reason = "the port is already in use"
            remedy = "Pass another port, or port=0 to pick a free one."
        else:
            reason = error.strerror or str(error)
            remedy = "Pass another host or port."
        raise OSError(
            error.errno, f"Cannot serve the dashboard on {host}:{port}: {reason}. {remedy}"
        ) from error
    return DashboardServer(server)
