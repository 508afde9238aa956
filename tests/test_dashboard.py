"""dyno.dashboard: the page, the hystrix.stream over SSE, Prometheus text, and a robust server."""

from __future__ import annotations

import errno
import http.client
import importlib
import json
import socket
import struct
import threading
from collections.abc import Generator, Iterator
from urllib.parse import urlsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dyno.breaker import CircuitBreaker
from dyno.clock import FakeClock
from dyno.dashboard import DashboardServer, View, hystrix_event, prometheus_text, serve
from dyno.dashboard.server import StreamSource, _Feed
from dyno.metrics import EVENTS, Metrics

#: The hystrix.stream fields the issue names, which Hystrix tooling reads.
HYSTRIX_FIELDS = (
    "name",
    "isCircuitBreakerOpen",
    "errorPercentage",
    "errorCount",
    "requestCount",
    "rollingCountSuccess",
    "rollingCountFailure",
    "rollingCountTimeout",
    "rollingCountShortCircuited",
    "rollingCountSemaphoreRejected",
    "currentConcurrentExecutionCount",
    "latencyExecute",
    "latencyExecute_mean",
)
TIMEOUT = 10.0  # seconds any socket read in these tests may block
MAX_EVENTS = 1000  # events a test reads at most while waiting for one (0.05 s apart)


def make_view(name: str, clock: FakeClock | None = None) -> View:
    """Return a view with a FakeClock-driven Metrics and an unnamed CircuitBreaker."""
    clock = clock or FakeClock(100.0, epoch=1_700_000_000.0)
    return View(name, Metrics(name, clock=clock), CircuitBreaker(clock=clock))


def metrics_of(view: View) -> Metrics:
    """Return the view's metrics (every view these tests make has some)."""
    assert view.metrics is not None
    return view.metrics


def busy_view(name: str = "db") -> View:
    """Return a view whose window holds a known mix of events."""
    view = make_view(name)
    metrics = metrics_of(view)
    for _ in range(3):
        metrics.success(0.010)
    metrics.failure(0.020)
    metrics.timeout(0.500)
    metrics.short_circuit()
    metrics.rejection()
    metrics.fallback_success()
    return view


@pytest.fixture
def views() -> list[View]:
    """Two services: a busy one and an idle one."""
    return [busy_view("db"), make_view("cache")]


@pytest.fixture
def dashboard(views: list[View]) -> Iterator[DashboardServer]:
    """A dashboard over *views*, streaming fast, closed after the test."""
    with serve(services=views, interval=0.05) as server:
        yield server


def get(server: DashboardServer, path: str, method: str = "GET") -> tuple[int, str, bytes]:
    """Make one request; return the status, Content-Type and body."""
    connection = http.client.HTTPConnection(server.host, server.port, timeout=TIMEOUT)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


class StreamClient:
    """A raw-socket SSE client that reads whole events, with bounded waits."""

    def __init__(self, server: DashboardServer, path: str = "/stream") -> None:
        self.sock = socket.create_connection((server.host, server.port), timeout=TIMEOUT)
        request = f"GET {path} HTTP/1.1\r\nHost: {server.host}\r\nAccept: text/event-stream\r\n\r\n"
        self.sock.sendall(request.encode())
        self.buffer = b""
        head = self._until(b"\r\n\r\n")
        self.status_line, *header_lines = head.decode().split("\r\n")
        self.headers = dict(line.split(": ", 1) for line in header_lines if line)

    def _until(self, separator: bytes) -> bytes:
        while separator not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"stream ended; buffered {self.buffer[-200:]!r}")
            self.buffer += chunk
        block, self.buffer = self.buffer.split(separator, 1)
        return block

    def event(self) -> dict[str, object]:
        """Return the next data event's JSON, skipping comments and fields."""
        while True:
            block = self._until(b"\n\n").decode()
            data = [line[6:] for line in block.split("\n") if line.startswith("data: ")]
            if data:
                parsed: dict[str, object] = json.loads("\n".join(data))
                return parsed

    def event_for(self, name: str, state: str | None = None) -> dict[str, object]:
        """Return the next event about service *name* (in circuit *state*, if given)."""
        for _ in range(MAX_EVENTS):
            event = self.event()
            if event["name"] == name and state in (None, event["circuitState"]):
                return event
        raise AssertionError(f"no event for {name!r} in state {state!r} in {MAX_EVENTS} events")

    def reset(self) -> None:
        """Drop the connection abruptly (TCP RST), as a crashing client would."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> StreamClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def drain(client: StreamClient) -> None:
    """Read events until the stream ends (EOFError)."""
    while True:
        client.event()


# -- endpoints -------------------------------------------------------------------------


def test_page_is_served_with_its_script_and_style(dashboard: DashboardServer) -> None:
    """/ is the HTML page; it loads dashboard.js and dashboard.css, which are served too."""
    status, content_type, body = get(dashboard, "/")
    assert (status, content_type) == (200, "text/html; charset=utf-8")
    assert b'<script src="dashboard.js"></script>' in body
    assert b'href="dashboard.css"' in body
    assert b'id="services"' in body
    status, content_type, script = get(dashboard, "/dashboard.js")
    assert (status, content_type) == (200, "text/javascript; charset=utf-8")
    assert b'new EventSource("stream")' in script
    status, content_type, style = get(dashboard, "/dashboard.css")
    assert (status, content_type) == (200, "text/css; charset=utf-8")
    assert b".service" in style
    assert get(dashboard, "/index.html")[2] == body


def test_head_answers_headers_only(dashboard: DashboardServer) -> None:
    """HEAD / answers 200 with the page's Content-Length and no body."""
    connection = http.client.HTTPConnection(dashboard.host, dashboard.port, timeout=TIMEOUT)
    try:
        connection.request("HEAD", "/")
        response = connection.getresponse()
        assert response.status == 200
        assert int(response.getheader("Content-Length", "0")) == len(get(dashboard, "/")[2])
        assert response.read() == b""
    finally:
        connection.close()


def test_unknown_path_is_404_naming_the_endpoints(dashboard: DashboardServer) -> None:
    """Any other path is a 404 whose text lists what is served."""
    status, content_type, body = get(dashboard, "/../../etc/passwd")
    assert (status, content_type) == (404, "text/plain; charset=utf-8")
    assert body == b"not found: try / (dashboard), /stream (hystrix.stream) or /metrics\n"


def test_other_methods_are_refused(dashboard: DashboardServer) -> None:
    """POST is not part of the dashboard: 501, and the server carries on."""
    assert get(dashboard, "/", method="POST")[0] == 501
    assert get(dashboard, "/")[0] == 200


def test_metrics_endpoint_parses_with_prometheus_client(dashboard: DashboardServer) -> None:
    """/metrics is Prometheus text 0.0.4 that prometheus_client parses to the true figures."""
    status, content_type, body = get(dashboard, "/metrics")
    assert (status, content_type) == (200, "text/plain; version=0.0.4; charset=utf-8")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert {name: f.type for name, f in families.items()} == {
        "dyno_service_events": "counter",
        "dyno_service_rolling_events": "gauge",
        "dyno_service_in_flight": "gauge",
        "dyno_service_error_percentage": "gauge",
        "dyno_service_latency_seconds": "summary",
        "dyno_service_circuit_state": "gauge",
    }
    totals = {
        (s.labels["service"], s.labels["event"]): s.value
        for s in families["dyno_service_events"].samples
    }
    assert totals[("db", "success")] == 3
    assert totals[("db", "failure")] == 1
    assert totals[("db", "fallback_success")] == 1
    assert totals[("cache", "success")] == 0
    assert {event for _, event in totals} == set(EVENTS)
    errors = {
        s.labels["service"]: s.value for s in families["dyno_service_error_percentage"].samples
    }
    assert errors == {"db": 50.0, "cache": 0.0}
    summary = {
        (s.name, s.labels["service"], s.labels.get("quantile")): s.value
        for s in families["dyno_service_latency_seconds"].samples
    }
    assert summary[("dyno_service_latency_seconds_count", "db", None)] == 5
    assert summary[("dyno_service_latency_seconds_sum", "db", None)] == pytest.approx(0.55)
    assert summary[("dyno_service_latency_seconds", "db", "0.5")] == pytest.approx(0.01, rel=0.01)
    states = {
        (s.labels["service"], s.labels["state"]): s.value
        for s in families["dyno_service_circuit_state"].samples
    }
    assert states[("db", "closed")] == 1
    assert sum(value for (service, _), value in states.items() if service == "db") == 1


def test_stream_sends_hystrix_events_over_a_real_socket(dashboard: DashboardServer) -> None:
    """/stream is text/event-stream with one hystrix.stream JSON object per service."""
    with StreamClient(dashboard) as client:
        assert client.status_line == "HTTP/1.1 200 OK"
        assert client.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert client.headers["Cache-Control"] == "no-cache"
        first = [client.event(), client.event()]
        assert {event["name"] for event in first} == {"db", "cache"}
        db = client.event_for("db")
    for field in HYSTRIX_FIELDS:
        assert field in db, field
    assert db["type"] == "HystrixCommand"
    assert db["isCircuitBreakerOpen"] is False
    assert db["circuitState"] == "closed"
    assert (db["requestCount"], db["errorCount"], db["errorPercentage"]) == (6, 3, 50)
    assert db["rollingCountSuccess"] == 3
    assert db["rollingCountFailure"] == 1
    assert db["rollingCountTimeout"] == 1
    assert db["rollingCountShortCircuited"] == 1
    assert db["rollingCountSemaphoreRejected"] == 1
    assert db["currentConcurrentExecutionCount"] == 0
    latency = db["latencyExecute"]
    assert isinstance(latency, dict)
    assert set(latency) == {"0", "25", "50", "75", "90", "95", "99", "99.5", "100"}
    assert (latency["50"], latency["100"]) == (10, 500)
    assert db["requestRate"] == pytest.approx(0.6)


def test_hystrix_path_and_delay_are_honoured(dashboard: DashboardServer) -> None:
    """/hystrix.stream?delay=100 streams too, as Hystrix's dashboard and Turbine ask for it."""
    with StreamClient(dashboard, "/hystrix.stream?delay=100") as client:
        assert client.status_line == "HTTP/1.1 200 OK"
        assert client.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert client.event_for("cache")["requestCount"] == 0


def test_streams_default_to_half_a_second_and_a_delay_sets_its_own(
    views: list[View], monkeypatch: pytest.MonkeyPatch
) -> None:
    """serve() streams every 0.5 s by default; ?delay=100 gets a feed of its own at 0.1 s."""
    made: list[float] = []
    original = _Feed.__init__

    def recording(
        feed: _Feed, source: StreamSource, interval: float, stopping: threading.Event
    ) -> None:
        made.append(interval)
        original(feed, source, interval, stopping)

    monkeypatch.setattr(_Feed, "__init__", recording)
    with serve(services=views) as server:
        for path in ("/hystrix.stream?delay=100", "/stream", "/stream?delay=500"):
            with StreamClient(server, path) as client:
                assert client.event()["type"] == "HystrixCommand"
    assert made == [0.1, 0.5]  # the default interval's feed is shared, even asked for by delay


@pytest.mark.parametrize("delay", ["abc", "0", "-5", "nan", "inf", "49", "60001", ""])
def test_bad_delay_is_a_400_saying_what_to_pass(dashboard: DashboardServer, delay: str) -> None:
    """An unusable ?delay= is refused with a 400 naming the value and the allowed range."""
    status, content_type, body = get(dashboard, f"/stream?delay={delay}")
    assert (status, content_type) == (400, "text/plain; charset=utf-8")
    assert body.decode() == (
        f"Cannot stream with delay={delay!r}: it must be a number of milliseconds from 50 "
        "to 60000. Pass another delay, or none for the server's interval.\n"
    )


def test_stream_shows_state_changes(views: list[View], dashboard: DashboardServer) -> None:
    """A breaker forced open, then released, shows in the following events."""
    breaker = views[1].breaker
    assert isinstance(breaker, CircuitBreaker)
    with StreamClient(dashboard) as client:
        assert client.event_for("cache")["circuitState"] == "closed"
        breaker.force_open()
        event = client.event_for("cache", "forced_open")
        assert event["isCircuitBreakerOpen"] is True
        assert event["propertyValue_circuitBreakerForceOpen"] is True
        breaker.release()
        assert client.event_for("cache", "closed")["isCircuitBreakerOpen"] is False


def test_no_services_streams_keepalive_comments() -> None:
    """With nothing to show the stream sends comments, and /metrics only its headers."""
    with serve(services=[], interval=0.05) as server, StreamClient(server) as client:
        assert client._until(b"\n\n") == b"retry: 1000"
        assert client._until(b"\n\n") == b": ping"
        text = get(server, "/metrics")[2].decode()
        assert [f.samples for f in text_string_to_metric_families(text)] == [[]] * 6


def test_services_from_a_callable_are_read_at_each_update() -> None:
    """A callable source is asked afresh, so services added later appear."""
    shown: list[View] = [make_view("first")]
    with serve(services=lambda: shown, interval=0.05) as server, StreamClient(server) as client:
        assert client.event()["name"] == "first"
        shown.append(make_view("second"))
        assert client.event_for("second")["name"] == "second"


def test_clients_share_one_read_of_the_services_per_interval() -> None:
    """Stream clients at one interval share each read of the services, not one read each."""
    calls: list[int] = []

    def source() -> list[View]:
        calls.append(1)
        return [make_view(f"read-{len(calls)}")]

    with serve(services=source, interval=0.1) as server:
        with StreamClient(server) as first, StreamClient(server) as second:
            seen_first = {first.event()["name"] for _ in range(4)}
            seen_second = {second.event()["name"] for _ in range(4)}
        assert seen_first & seen_second  # the very same reads reached both clients


def test_a_new_client_never_gets_stale_events(views: list[View]) -> None:
    """After every client left, the next one gets events read after it arrived."""
    with serve(services=views, interval=0.05) as server:
        with StreamClient(server) as client:
            assert client.event_for("cache")["rollingCountSuccess"] == 0
        feed = server._server.feed(0.05)
        idle = threading.Event()
        for _ in range(1000):  # the producer stops once it sees no one listens (bounded)
            if not feed.producing:
                break
            idle.wait(0.01)
        assert not feed.producing
        metrics_of(views[1]).success(0.001)
        with StreamClient(server) as client:
            assert client.event_for("cache")["rollingCountSuccess"] == 1


def test_a_client_arriving_as_the_feed_goes_idle_never_doubles_its_producer() -> None:
    """A client arriving between the idle producer's decision to stop and its exit gets one."""
    stopping = threading.Event()
    feed = _Feed(list, 0.01, stopping)
    first_producer: list[threading.Thread | None] = []
    replacement: list[threading.Thread | None] = []
    late: list[Generator[bytes, None, None]] = []

    class Gap(threading.Condition):
        """Lets a client in right after the first producer decided to stop."""

        def __exit__(self, *exc_info: object) -> None:
            super().__exit__(*exc_info)  # type: ignore[arg-type]  # passed through as received
            if (
                not late
                and first_producer
                and threading.current_thread() is first_producer[0]
                and feed._producer is None
            ):
                late.append(feed.listen())
                next(late[0])  # starts the replacement producer and gets its first read
                replacement.append(feed._producer)

    feed._condition = Gap()
    first = feed.listen()
    try:
        next(first)
        first_producer.append(feed._producer)
        first.close()  # no one listens: the producer stops after its interval
        assert first_producer[0] is not None
        first_producer[0].join(timeout=TIMEOUT)
        assert not first_producer[0].is_alive()
        assert replacement
        assert replacement[0] is not None
        third = feed.listen()
        next(third)
        third.close()
        assert feed._producer is replacement[0]  # the third client joined it: no second one
    finally:
        stopping.set()
        for generator in late:
            generator.close()
    assert replacement[0] is not None
    replacement[0].join(timeout=TIMEOUT)
    assert not feed.producing


def test_a_failing_service_does_not_blank_the_others(caplog: pytest.LogCaptureFixture) -> None:
    """A service whose metrics raise is logged and skipped; the others still stream."""

    class Failing:
        name = "broken"
        breaker = None

        class metrics:  # a stand-in object shaped like Metrics
            @staticmethod
            def snapshot() -> None:
                raise RuntimeError("metrics exploded")

            @staticmethod
            def percentiles(*ps: float) -> tuple[float, ...]:
                return tuple(0.0 for _ in ps)

    with serve(services=[Failing(), make_view("fine")], interval=0.05) as server:  # type: ignore[list-item]  # a duck-typed stand-in
        with StreamClient(server) as client:
            assert client.event()["name"] == "fine"
            assert client.event()["name"] == "fine"
        status, _, body = get(server, "/metrics")
        assert (status, body) == (500, b"metrics failed\n")
    assert "Cannot report service 'broken' on the dashboard" in caplog.text


def test_default_shows_the_named_services_of_dyno_service() -> None:
    """serve() without services= streams every named dyno.service, including later ones."""
    from dyno.service import service

    @service("dashboard-test.first")
    def first() -> int:
        return 1

    first()
    with serve(interval=0.05) as server, StreamClient(server) as client:
        assert client.event_for("dashboard-test.first")["rollingCountSuccess"] == 1

        @service("dashboard-test.later")
        def later() -> int:
            return 2

        assert client.event_for("dashboard-test.later")["requestCount"] == 0
        text = get(server, "/metrics")[2].decode()
    assert 'dyno_service_in_flight{service="dashboard-test.later"} 0' in text


def test_services_without_metrics_are_left_out() -> None:
    """A service made with metrics=False is not shown (it has nothing to show)."""
    from dyno.service import service

    @service("dashboard-test.unmetered", metrics=False)
    def unmetered() -> None:
        return None

    with serve(services=[unmetered, make_view("metered")], interval=0.05) as server:
        with StreamClient(server) as client:
            assert {client.event()["name"] for _ in range(3)} == {"metered"}
        text = get(server, "/metrics")[2].decode()
    assert "unmetered" not in text
    with pytest.raises(ValueError, match=r"^Cannot report service 'dashboard-test\.unmetered'"):
        hystrix_event(unmetered)


# -- hystrix_event and prometheus_text -------------------------------------------------


def test_hystrix_event_counts_as_hystrix_does() -> None:
    """requestCount/errorCount leave short circuits out; fallbacks have their own counters."""
    event = hystrix_event(busy_view())
    assert event["currentTime"] == 1_700_000_100_000
    assert event["requestCount"] == 6
    assert event["errorCount"] == 3
    assert event["rollingCountFallbackSuccess"] == 1
    assert event["rollingCountFallbackFailure"] == 0
    assert event["rollingCountThreadPoolRejected"] == 0
    assert event["errorRate"] == pytest.approx(0.3)
    assert event["graph"] == [0.0] * 9 + [1.0]
    assert event["propertyValue_metricsRollingStatisticalWindowInMilliseconds"] == 10_000
    assert event["propertyValue_circuitBreakerRequestVolumeThreshold"] == 20
    assert event["propertyValue_circuitBreakerErrorThresholdPercentage"] == 50
    assert event["propertyValue_circuitBreakerSleepWindowInMilliseconds"] == 5000
    assert hystrix_event(busy_view(), now_ms=42)["currentTime"] == 42
    json.dumps(event)  # JSON-ready as it is


#: Every key Hystrix's own dashboard refuses an event without (its validateData).
HYSTRIX_DASHBOARD_REQUIRES = [
    "reportingHosts",
    "type",
    "name",
    "group",
    "isCircuitBreakerOpen",
    "errorPercentage",
    "errorCount",
    "requestCount",
    "rollingCountCollapsedRequests",
    "rollingCountExceptionsThrown",
    "rollingCountFailure",
    "rollingCountFallbackFailure",
    "rollingCountFallbackRejection",
    "rollingCountFallbackSuccess",
    "rollingCountResponsesFromCache",
    "rollingCountSemaphoreRejected",
    "rollingCountShortCircuited",
    "rollingCountSuccess",
    "rollingCountThreadPoolRejected",
    "rollingCountTimeout",
    "rollingCountBadRequests",
    "currentConcurrentExecutionCount",
    "latencyExecute_mean",
    "latencyExecute",
    "latencyTotal_mean",
    "latencyTotal",
    "propertyValue_circuitBreakerRequestVolumeThreshold",
    "propertyValue_circuitBreakerSleepWindowInMilliseconds",
    "propertyValue_circuitBreakerErrorThresholdPercentage",
    "propertyValue_circuitBreakerForceOpen",
    "propertyValue_circuitBreakerForceClosed",  # required by the later hystrix-dashboard
    "propertyValue_executionIsolationStrategy",
    "propertyValue_executionIsolationThreadTimeoutInMilliseconds",
    "propertyValue_executionIsolationThreadInterruptOnTimeout",
    "propertyValue_executionIsolationSemaphoreMaxConcurrentRequests",
    "propertyValue_fallbackIsolationSemaphoreMaxConcurrentRequests",
    "propertyValue_requestCacheEnabled",
    "propertyValue_requestLogEnabled",
    "propertyValue_metricsRollingStatisticalWindowInMilliseconds",
]


@pytest.mark.parametrize("breaker", [True, False])
def test_events_carry_every_key_hystrix_dashboard_requires(breaker: bool) -> None:
    """Hystrix's dashboard drops an event missing any of its keys: none is missing."""
    view = busy_view() if breaker else View("plain", Metrics(clock=FakeClock()))
    event = hystrix_event(view)
    assert [key for key in HYSTRIX_DASHBOARD_REQUIRES if event.get(key) is None] == []


def test_service_options_show_as_hystrix_properties() -> None:
    """A dyno service's timeout, pool or limiter and fallback fill Hystrix's settings."""
    from dyno.service import service

    @service("dashboard-test.pooled", timeout=0.25, pool=3, fallback=lambda: None)
    def pooled() -> None:
        return None

    @service("dashboard-test.limited", limiter=4)
    def limited() -> None:
        return None

    metrics_of_pooled = pooled.metrics
    assert metrics_of_pooled is not None
    metrics_of_pooled.rejection()
    metrics_of_pooled.fallback_failure()
    event = hystrix_event(pooled)
    assert event["propertyValue_executionIsolationStrategy"] == "THREAD"
    assert event["propertyValue_executionIsolationThreadTimeoutInMilliseconds"] == 250
    assert (event["rollingCountThreadPoolRejected"], event["rollingCountSemaphoreRejected"]) == (
        1,
        0,
    )
    assert event["rollingCountExceptionsThrown"] == 1  # the fallback's failure
    event = hystrix_event(limited)
    assert event["propertyValue_executionIsolationStrategy"] == "SEMAPHORE"
    assert event["propertyValue_executionIsolationSemaphoreMaxConcurrentRequests"] == 4
    assert event["propertyValue_executionIsolationThreadTimeoutInMilliseconds"] == 0


def test_exceptions_thrown_without_fallback_are_errors_and_short_circuits() -> None:
    """Without a fallback every error and short circuit reaches the caller."""
    assert hystrix_event(busy_view())["rollingCountExceptionsThrown"] == 4


def test_hystrix_latency_is_whole_ms_with_precise_extras() -> None:
    """latencyExecute holds whole milliseconds (as Hystrix); latencyMs the fractions."""
    view = make_view("fast")
    metrics_of(view).success(0.0004)
    event = hystrix_event(view)
    assert event["latencyExecute"] == dict.fromkeys(
        ("0", "25", "50", "75", "90", "95", "99", "99.5", "100"), 0
    )
    precise = event["latencyMs"]
    assert isinstance(precise, dict)
    assert precise["100"] == 0.4
    assert precise["50"] == pytest.approx(0.4, rel=0.01)
    assert precise["mean"] == 0.4


def test_empty_metrics_report_zero_latency() -> None:
    """A service with no calls in the window reports zeros, not errors."""
    event = hystrix_event(make_view("idle"))
    assert event["latencyMs"] == dict.fromkeys(
        ("mean", "0", "25", "50", "75", "90", "95", "99", "99.5", "100"), 0.0
    )
    assert (event["errorPercentage"], event["requestRate"]) == (0, 0.0)


@pytest.mark.parametrize(
    ("force", "state", "is_open"),
    [
        (None, "closed", False),
        ("trigger", "forced_open", True),
        ("force_closed", "forced_closed", False),
    ],
)
def test_circuit_state_is_reported(force: str | None, state: str, is_open: bool) -> None:
    """circuitState names the breaker's state; isCircuitBreakerOpen follows Hystrix."""
    view = make_view("svc")
    if force:
        getattr(view.breaker, force)()
    event = hystrix_event(view)
    assert (event["circuitState"], event["isCircuitBreakerOpen"]) == (state, is_open)


def test_half_open_counts_as_open_for_hystrix() -> None:
    """While a probe decides, the circuit still reads open to Hystrix tooling (as in Hystrix)."""
    clock = FakeClock()
    breaker = CircuitBreaker(consecutive=1, reset_timeout=1.0, clock=clock)
    view = View("probe", Metrics(clock=clock), breaker)
    with pytest.raises(ValueError, match="boom"), breaker:
        raise ValueError("boom")
    assert hystrix_event(view)["circuitState"] == "open"
    clock.advance(1.0)
    ticket = breaker.acquire()
    event = hystrix_event(view)
    assert (event["circuitState"], event["isCircuitBreakerOpen"]) == ("half_open", True)
    breaker.record_success(ticket)
    assert hystrix_event(view)["isCircuitBreakerOpen"] is False


def test_service_without_breaker() -> None:
    """No breaker: state 'none', breaker disabled, and no circuit-state samples."""
    view = View("plain", Metrics(clock=FakeClock()))
    event = hystrix_event(view)
    assert event["circuitState"] == "none"
    assert event["isCircuitBreakerOpen"] is False
    assert event["propertyValue_circuitBreakerEnabled"] is False
    assert event["propertyValue_circuitBreakerRequestVolumeThreshold"] == 0
    families = {f.name: f for f in text_string_to_metric_families(prometheus_text([view]))}
    assert families["dyno_service_circuit_state"].samples == []


def test_prometheus_labels_survive_any_service_name() -> None:
    """Quotes, backslashes and newlines in names are escaped and parse back unchanged."""
    name = 'we"ird\\name\nhere ünïcode'
    text = prometheus_text([make_view(name)])
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert {s.labels["service"] for s in families["dyno_service_in_flight"].samples} == {name}


def test_prometheus_lists_services_sorted_and_states_one_hot() -> None:
    """Services appear by name; exactly one state sample is 1 per breaker."""
    views = [make_view("b"), make_view("a")]
    views[0].breaker.trigger()  # type: ignore[union-attr]  # make_view gives a breaker
    families = {f.name: f for f in text_string_to_metric_families(prometheus_text(views))}
    in_flight = families["dyno_service_in_flight"].samples
    assert [s.labels["service"] for s in in_flight] == ["a", "b"]
    on = {
        (s.labels["service"], s.labels["state"])
        for s in families["dyno_service_circuit_state"].samples
        if s.value == 1
    }
    assert on == {("a", "closed"), ("b", "forced_open")}


# -- robustness ------------------------------------------------------------------------


def test_taken_port_gives_a_clear_error() -> None:
    """Serving on a port another socket listens on raises OSError saying what to do."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError) as caught:
            serve(port=port, services=[])
    assert caught.value.errno == errno.EADDRINUSE
    assert str(caught.value) == (
        f"[Errno {errno.EADDRINUSE}] Cannot serve the dashboard on 127.0.0.1:{port}: the port is "
        "already in use. Pass another port, or port=0 to pick a free one."
    )


def test_second_dashboard_on_the_same_port_is_refused(dashboard: DashboardServer) -> None:
    """A dashboard's own port is taken for another one too; the first keeps serving."""
    with pytest.raises(OSError, match="the port is already in use"):
        serve(port=dashboard.port, services=[])
    assert get(dashboard, "/")[0] == 200


def test_unknown_host_gives_a_clear_error() -> None:
    """A host that cannot be bound is named in the error."""
    with pytest.raises(OSError, match=r"^.*Cannot serve the dashboard on 203\.0\.113\.7:0: "):
        serve("203.0.113.7", services=[])


def test_client_dropping_mid_stream_disturbs_no_one(dashboard: DashboardServer) -> None:
    """A stream client that vanishes (RST or FIN) leaves other streams and requests working."""
    with StreamClient(dashboard) as steady:
        steady.event()
        for _ in range(3):
            crashing = StreamClient(dashboard)
            crashing.event()
            crashing.reset()
            leaving = StreamClient(dashboard)
            leaving.event()
            leaving.close()
        for _ in range(4):  # the steady client keeps getting fresh events
            assert steady.event()["type"] == "HystrixCommand"
        assert get(dashboard, "/metrics")[0] == 200
        with StreamClient(dashboard) as newcomer:
            assert newcomer.event()["type"] == "HystrixCommand"


def test_client_that_stops_reading_holds_back_no_one() -> None:
    """A stream client that never reads fills its buffers; the others keep getting fresh events."""
    # Each event names its service twice: ~400 kB a tick, so the stalled connection's buffers
    # (a few MB at most) are full long before the steady client has read its 60 events.
    views = [make_view("x" * 200_000), make_view("small")]
    with (
        serve(services=views, interval=0.05) as server,
        socket.socket() as stalled,
        StreamClient(server) as steady,
    ):
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.settimeout(TIMEOUT)
        stalled.connect((server.host, server.port))
        stalled.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        received = sum(len(json.dumps(steady.event())) for _ in range(60))
        assert received > 10_000_000
        breaker = views[1].breaker
        assert isinstance(breaker, CircuitBreaker)
        breaker.force_open()
        assert steady.event_for("small", "forced_open")["isCircuitBreakerOpen"] is True
        assert get(server, "/metrics")[0] == 200


def test_half_sent_request_does_not_block_others(dashboard: DashboardServer) -> None:
    """A client that sends half a request and stalls holds only its own thread."""
    with socket.create_connection((dashboard.host, dashboard.port), timeout=TIMEOUT) as stalled:
        stalled.sendall(b"GET /metr")
        assert get(dashboard, "/")[0] == 200
        with StreamClient(dashboard) as client:
            assert client.event()["type"] == "HystrixCommand"


def test_many_clients_at_once(dashboard: DashboardServer) -> None:
    """Several concurrent stream clients each get every service."""
    clients = [StreamClient(dashboard) for _ in range(6)]
    try:
        for client in clients:
            assert {client.event()["name"], client.event()["name"]} == {"db", "cache"}
    finally:
        for client in clients:
            client.close()


def test_close_ends_streams_and_frees_the_port(views: list[View]) -> None:
    """close() ends open streams and keep-alive connections, frees the port, and is idempotent."""
    server = serve(services=views, interval=0.05)
    client = StreamClient(server)
    idle = http.client.HTTPConnection(server.host, server.port, timeout=TIMEOUT)
    try:
        client.event()
        idle.request("GET", "/")
        idle.getresponse().read()  # the connection stays open (HTTP/1.1 keep-alive)
        server.close()
        assert server.closed
        with pytest.raises(EOFError):
            drain(client)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((server.host, server.port), timeout=TIMEOUT).close()
        server.close()
    finally:
        client.close()
        idle.close()
    assert repr(server) == f"<DashboardServer url={server.url!r} closed>"


def test_handle_exposes_url_host_port_and_repr(dashboard: DashboardServer) -> None:
    """The handle says where it serves; port 0 picked a real port."""
    assert dashboard.port > 0
    assert dashboard.host == "127.0.0.1"
    assert dashboard.url == f"http://127.0.0.1:{dashboard.port}/"
    assert urlsplit(dashboard.url).port == dashboard.port
    assert repr(dashboard) == f"<DashboardServer url='http://127.0.0.1:{dashboard.port}/' serving>"


def test_ipv6_loopback_url_is_bracketed() -> None:
    """An IPv6 host is served and shown in brackets in the URL."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        server = serve("::1", services=[])
    except OSError as error:
        pytest.skip(f"IPv6 loopback unavailable: {error}")
    with server:
        assert server.url == f"http://[::1]:{server.port}/"
        assert get(server, "/")[0] == 200


def test_server_threads_are_daemons(dashboard: DashboardServer) -> None:
    """The server never keeps a process alive on exit."""
    threads = [t for t in threading.enumerate() if t.name == f"dyno-dashboard-{dashboard.port}"]
    assert len(threads) == 1
    assert threads[0].daemon


# -- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"port": -1}, ValueError, "'port' must be >= 0 (got -1 that is a <class 'int'>)"),
        (
            {"port": 65536},
            ValueError,
            "'port' must be <= 65535 (got 65536 that is a <class 'int'>)",
        ),
        ({"port": "8080"}, TypeError, "'port' must be an int (got '8080' that is a <class 'str'>)"),
        ({"port": 80.0}, TypeError, "'port' must be an int (got 80.0 that is a <class 'float'>)"),
        (
            {"host": 127},
            TypeError,
            "'host' must be <class 'str'> (got 127 that is a <class 'int'>)",
        ),
        ({"interval": 0}, ValueError, "'interval' must be > 0 (got 0 that is a <class 'int'>)"),
        (
            {"interval": "1"},
            TypeError,
            "'interval' must be a real number (int or float) (got '1' that is a <class 'str'>)",
        ),
        (
            {"services": 42},
            TypeError,
            "'services' must be a mapping of names to services, an iterable of services, "
            "a callable returning services, or None (got 42 that is a <class 'int'>)",
        ),
    ],
)
def test_bad_options_fail_at_once(
    options: dict[str, object], error: type[Exception], message: str
) -> None:
    """Wrong types and values raise TypeError/ValueError naming the option and value."""
    options.setdefault("services", [])
    with pytest.raises(error) as caught:
        serve(**options)  # type: ignore[arg-type]  # deliberately wrong
    assert str(caught.value) == message


def test_a_single_service_is_not_mistaken_for_a_source() -> None:
    """Passing one service (which is callable) instead of a list is refused, not called."""
    calls: list[int] = []

    def lookup() -> None:
        calls.append(1)

    lookup.metrics = Metrics()  # type: ignore[attr-defined]  # shaped like a service
    lookup.name = "lookup"  # type: ignore[attr-defined]  # likewise
    lookup.breaker = None  # type: ignore[attr-defined]  # likewise
    with pytest.raises(TypeError, match=r"Pass services=\[service\] instead\.$"):
        serve(services=lookup)  # type: ignore[arg-type]  # deliberately wrong
    assert calls == []


@pytest.mark.parametrize("bad", [object(), "db", Metrics("m")])
def test_things_that_are_not_services_are_refused(bad: object) -> None:
    """A list or mapping holding a non-service raises TypeError saying what a service needs."""
    for services in ([bad], {"x": bad}):
        with pytest.raises(
            TypeError, match=r"a service needs a str 'name', a dyno\.metrics\.Metrics"
        ):
            serve(services=services)  # type: ignore[arg-type]  # deliberately wrong


def test_view_checks_its_parts() -> None:
    """View refuses a non-str name and a metrics that is not a Metrics."""
    with pytest.raises(TypeError, match="'name' must be <class 'str'>"):
        View(1, Metrics())  # type: ignore[arg-type]  # deliberately wrong
    with pytest.raises(TypeError, match="a service needs"):
        View("x", object())  # type: ignore[arg-type]  # deliberately wrong
    assert (
        repr(View("x", metrics := Metrics()))
        == f"View(name='x', metrics={metrics!r}, breaker=None)"
    )


@pytest.mark.parametrize(
    "module",
    [
        "dyno.dashboard",
        "dyno.dashboard.export",
        "dyno.dashboard.server",
        "dyno.demo",
        "dyno.__main__",
    ],
)
def test_dunder_all_names_what_exists(module: str) -> None:
    """Each front-end module's __all__ names only things the module defines or imports."""
    imported = importlib.import_module(module)
    assert [name for name in imported.__all__ if not hasattr(imported, name)] == []
