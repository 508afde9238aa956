"""python -m dyno demo / dashboard: the simulation, its terminal view, and the command line."""

from __future__ import annotations

import http.client
import io
import os
import random
import re
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from dyno.__main__ import main
from dyno.breaker import Broken
from dyno.clock import FakeClock, use_clock
from dyno.demo import (
    PROFILES,
    Dependency,
    DependencyDown,
    DependencyError,
    Profile,
    Reporter,
    Simulation,
    Timings,
    state_label,
)

TIMEOUT = 30.0  # seconds a subprocess may take before the test fails
SECONDS = "argument --duration: must be a positive number of seconds "


def run_dyno(*args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run ``python -m dyno ARGS`` to completion and return what it did."""
    return subprocess.run(
        [sys.executable, "-m", "dyno", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )


def start_dyno(*args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    """Start ``python -m dyno ARGS`` with its output piped (modules in *cwd* importable)."""
    env = {**os.environ, "NO_COLOR": "1"}
    if cwd is not None:
        env["PYTHONPATH"] = str(cwd)
    return subprocess.Popen(
        [sys.executable, "-m", "dyno", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def read_stream_until(port: int, marker: bytes, limit: int = 1_000_000) -> bytes:
    """Read the dashboard's /stream on *port* until *marker* arrives; return what came."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while marker not in received:
            assert len(received) < limit, received[-500:]
            chunk = sock.recv(65536)
            assert chunk, received[-500:]
            received += chunk
    return received


@pytest.fixture
def fake_clock() -> Iterator[FakeClock]:
    """Install a FakeClock for the test: simulated latencies then take no real time."""
    with use_clock(FakeClock(1000.0)) as clock:
        yield clock


# -- the whole demo, as a newcomer runs it ----------------------------------------------


def test_demo_of_three_seconds_shows_a_breaker_open_and_close_again() -> None:
    """`python -m dyno demo --duration 3` exits 0; its output shows a trip, then a recovery."""
    result = run_dyno("demo", "--duration", "3", "--seed", "7")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    assert "\x1b[" not in out  # not a terminal: plain lines, no ANSI
    assert out.startswith("dyno demo: 4 services on 6 threads for 3 s (seed 7)\n")
    assert "recommendations goes down at 0.75 s and comes back at 1.65 s" in out
    down = out.index("] recommendations: dependency down (simulated outage)")
    opened = out.index("] recommendations: circuit closed -> open")
    back = out.index("] recommendations: dependency back up")
    closed = out.index("] recommendations: circuit half-open -> closed", opened)
    assert down < opened < closed
    assert back < closed
    summary = out[out.index("\nSummary: finished after ") :]
    for profile in PROFILES:
        assert re.search(rf"^{profile.name} +\d+ +\d+ ", summary, re.MULTILINE), profile.name
    row = re.search(r"^recommendations .* (\d+) +(\d+) +[\d.]+ +[\d.]+$", summary, re.MULTILINE)
    assert row is not None
    assert int(row.group(1)) >= 1  # opened
    assert int(row.group(2)) >= 1  # closed again
    assert re.search(r"^Circuits opened \d+ times? and closed again \d+ times?\.$", summary, re.M)


def test_demo_and_its_dashboard_run_on_the_standard_library_alone() -> None:
    """With site-packages off (python -S), the demo and its dashboard still run."""
    result = subprocess.run(
        [sys.executable, "-S", "-m", "dyno", "demo", "--duration", "1", "--serve"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=Path(__file__).resolve().parent.parent,  # dyno importable from the checkout
        env={**os.environ, "NO_COLOR": "1", "PYTHONPATH": ""},
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert "  dashboard: http://127.0.0.1:" in result.stdout
    assert "\nSummary: finished after " in result.stdout


def test_demo_serves_the_dashboard_while_it_runs() -> None:
    """--serve prints the dashboard URL and serves the demo's services until the demo ends."""
    process = start_dyno("demo", "--duration", "2", "--serve")
    try:
        assert process.stdout is not None
        url = ""
        for line in process.stdout:
            if line.startswith("  dashboard: "):
                url = line.split(": ", 1)[1].strip()
                break
        match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/", url)
        assert match, url
        connection = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=10)
        try:
            connection.request("GET", "/metrics")
            body = connection.getresponse().read().decode()
        finally:
            connection.close()
        for profile in PROFILES:
            assert f'service="{profile.name}"' in body
        rest, errors = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
        process.wait(timeout=TIMEOUT)
    assert process.returncode == 0, errors
    assert "Summary: finished" in rest


def test_demo_on_a_taken_port_says_so() -> None:
    """--serve on a port in use exits 1 with the dashboard's clear message, no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_dyno("demo", "--duration", "1", "--serve", "--port", str(port))
    assert result.returncode == 1
    assert result.stderr == (
        f"dyno demo: Cannot serve the dashboard on 127.0.0.1:{port}: the port is already in "
        "use. Pass another port, or port=0 to pick a free one.\n"
    )


def test_demo_piped_into_a_reader_that_stops_ends_quietly() -> None:
    """`python -m dyno demo | head -1`: the demo stops at the closed pipe, with no traceback."""
    process = start_dyno("demo", "--duration", "2")
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("dyno demo: 4 services")
        process.stdout.close()  # as head does once it has its line
        _, errors = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
        process.wait(timeout=TIMEOUT)
    assert (process.returncode, errors) == (1, "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--duration", "-1"],
            SECONDS + "(got '-1')",
        ),
        (
            ["--duration", "nan"],
            SECONDS + "(got 'nan')",
        ),
        (
            ["--duration", "soon"],
            SECONDS + "(got 'soon')",
        ),
        (
            ["--port", "70000"],
            "argument --port: must be a port number from 0 to 65535, 0 for a free one "
            "(got '70000')",
        ),
        (["--threads", "0"], "argument --threads: must be a whole number >= 1 (got '0')"),
        (["--seed", "x"], "argument --seed: invalid int value: 'x'"),
    ],
)
def test_bad_demo_arguments_exit_2_with_a_message(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad options are refused by the command line before anything runs."""
    with pytest.raises(SystemExit) as caught:
        main(["demo", *args])
    assert caught.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"python -m dyno demo: error: {message}"


def test_no_command_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m dyno` alone names the commands."""
    with pytest.raises(SystemExit) as caught:
        main([])
    assert caught.value.code == 2
    assert "{demo,dashboard}" in capsys.readouterr().err


# -- python -m dyno dashboard -------------------------------------------------------------


def test_dashboard_command_serves_a_modules_services_until_ctrl_c(tmp_path: Path) -> None:
    """`dashboard --import MODULE` shows the services MODULE defines; Ctrl-C stops it cleanly."""
    (tmp_path / "shop_services.py").write_text(
        textwrap.dedent(
            """
            from dyno.service import service

            @service("shop.lookup")
            def lookup(key):
                return key

            for key in range(5):
                lookup(key)
            """
        )
    )
    process = start_dyno("dashboard", "--import", "shop_services", cwd=tmp_path)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.fullmatch(r"dyno dashboard: http://127\.0\.0\.1:(\d+)/\n", first)
        assert match, first
        lines = [process.stdout.readline() for _ in range(4)]
        assert lines[2] == "  services: shop.lookup (services created later show up too)\n"
        assert lines[3] == "Press Ctrl-C to stop.\n"
        received = read_stream_until(int(match.group(1)), b'"rollingCountSuccess"')
        assert b'"name":"shop.lookup"' in received
        assert b'"rollingCountSuccess":5' in received
        process.send_signal(signal.SIGINT)
        rest, errors = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
        process.wait(timeout=TIMEOUT)
    assert process.returncode == 0, errors
    assert rest == "dyno dashboard: stopped\n"


def test_dashboard_command_watches_a_module_that_works_at_import(tmp_path: Path) -> None:
    """A module whose import runs its work forever is served meanwhile; Ctrl-C ends both."""
    (tmp_path / "busy_worker.py").write_text(
        textwrap.dedent(
            """
            import threading
            from dyno.service import service

            @service("busy.step")
            def step():
                return None

            pause = threading.Event()
            while True:
                step()
                pause.wait(0.001)
            """
        )
    )
    process = start_dyno("dashboard", "--import", "busy_worker", "--interval", "0.1", cwd=tmp_path)
    try:
        assert process.stdout is not None
        match = re.fullmatch(
            r"dyno dashboard: (http://127\.0\.0\.1:(\d+)/)\n", process.stdout.readline()
        )
        assert match
        process.stdout.readline()
        process.stdout.readline()
        read_stream_until(int(match.group(2)), b'"name":"busy.step"')
        process.send_signal(signal.SIGINT)
        rest, errors = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
        process.wait(timeout=TIMEOUT)
    assert process.returncode == 0, errors
    assert rest == "dyno dashboard: stopped\n"


def test_dashboard_command_with_a_missing_module_says_so() -> None:
    """An --import that fails exits 2 naming the module."""
    result = run_dyno("dashboard", "--import", "no_such_module_here")
    assert result.returncode == 2
    assert result.stderr.startswith(
        "dyno dashboard: Cannot import 'no_such_module_here': No module named "
        "'no_such_module_here'. Pass a module importable from here"
    )


def test_dashboard_command_on_a_taken_port_says_so() -> None:
    """A taken --port exits 1 with the clear message."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_dyno("dashboard", "--port", str(port))
    assert result.returncode == 1
    assert "the port is already in use. Pass another port" in result.stderr


# -- the simulation, driven by hand on a fake clock --------------------------------------


def test_timings_scale_with_the_duration() -> None:
    """Short runs get short breaker windows and reset timeouts; long runs are capped."""
    assert Timings.for_duration(3) == Timings(0.3, 0.15, 1.0)
    assert Timings.for_duration(20) == Timings(2.0, 1.0, 5.0)
    assert Timings.for_duration(1) == Timings(0.3, 0.1, 1.0)
    assert Timings.for_duration(10_000) == Timings(10.0, 5.0, 10.0)


def test_dependency_follows_its_outage_schedule_and_manual_override(
    fake_clock: FakeClock,
) -> None:
    """A dependency is down inside its outage window, or whenever set down by hand."""
    now = [0.0]
    profile = Profile("svc", latency=0.01, outage=(0.5, 0.75))
    dependency = Dependency(profile, lambda: now[0], duration=4.0)
    rng = random.Random(1)
    assert dependency.outage == (2.0, 3.0)
    assert dependency.call(rng) == "svc: ok"
    now[0] = 2.0
    with pytest.raises(DependencyDown, match=r"^svc refused the connection \(simulated outage\)$"):
        dependency.call(rng)
    now[0] = 3.0
    assert not dependency.is_down()
    dependency.down = True
    assert dependency.is_down()
    assert repr(dependency) == "<Dependency 'svc' down=True>"
    dependency.down = None
    assert Dependency(profile, lambda: 2.5, 4.0, scheduled=False).outage is None


def test_dependency_latency_and_failures_follow_the_profile(fake_clock: FakeClock) -> None:
    """Latency is spread around the median; the failure share fails; slow calls are slow."""
    rng = random.Random(2)
    steady = Dependency(Profile("steady", latency=0.02, spread=0.0), lambda: 0.0, 1.0)
    for _ in range(5):
        steady.call(rng)
    assert fake_clock.sleeps == [0.02] * 5
    failing = Dependency(Profile("failing", latency=0.01, failure=1.0), lambda: 0.0, 1.0)
    with pytest.raises(DependencyError, match=r"^failing reset the connection \(simulated\)$"):
        failing.call(rng)
    slow = Dependency(Profile("slow", latency=0.01, slow=1.0, slow_latency=0.5), lambda: 0.0, 1.0)
    assert slow.call(rng) == "slow: ok, slowly"
    assert fake_clock.sleeps[-1] == 0.5


def test_simulation_breaker_opens_on_outage_and_closes_after(fake_clock: FakeClock) -> None:
    """Driven by hand: recommendations down trips its breaker; back up, a probe closes it."""
    sim = Simulation(3.0, seed=1, outages=False)
    recommendations = sim.service("recommendations")
    rng = random.Random(3)
    sim.dependencies["recommendations"].down = True
    for _ in range(5):  # 5 failures in a row; the fallback answers the callers
        assert recommendations(rng) == "recommendations: cached default"
    assert sim.wired[3].breaker.state == "open"
    assert recommendations(rng) == "recommendations: cached default"  # short-circuited
    assert sim.wired[3].metrics.counts()["short_circuit"] == 1
    sim.dependencies["recommendations"].down = False
    fake_clock.advance(sim.timings.reset_timeout)
    assert recommendations(rng) in {"recommendations: ok", "recommendations: cached default"}
    for _ in range(100):  # a 2 % failure may reopen it: probe again
        if sim.wired[3].breaker.state == "closed":
            break
        fake_clock.advance(sim.timings.reset_timeout)
        recommendations(rng)
    texts = [str(event) for event in sim.events()]
    assert texts[:3] == [
        "recommendations: circuit closed -> open",
        "recommendations: circuit open -> half-open",
        "recommendations: circuit half-open -> " + texts[2].rsplit("-> ", 1)[1],
    ]
    assert texts[-1] == "recommendations: circuit half-open -> closed"
    assert sim.events() == []  # each event is reported once
    assert sim.transitions["recommendations"][("closed", "open")] == 1


def test_services_without_fallback_raise_to_the_caller(fake_clock: FakeClock) -> None:
    """catalog has no fallback: once its breaker is open, callers get Broken."""
    sim = Simulation(3.0, outages=False)
    catalog = sim.service("catalog")
    sim.dependencies["catalog"].down = True
    rng = random.Random(4)
    with pytest.raises(DependencyDown):
        catalog(rng)
    sim.wired[0].breaker.trigger()
    with pytest.raises(Broken):
        catalog(rng)
    with pytest.raises(KeyError):
        sim.service("nope")


def test_scheduled_outage_is_announced_once_its_time_comes(fake_clock: FakeClock) -> None:
    """events() announces the outage start and end when elapsed time passes them."""
    sim = Simulation(10.0, seed=5, workers=1)
    sim._started = fake_clock.now()  # as start() would, without worker threads
    assert sim.events() == []
    fake_clock.advance(2.5)
    (down,) = sim.events()
    assert (down.time, str(down)) == (2.5, "recommendations: dependency down (simulated outage)")
    fake_clock.advance(10)
    (up,) = sim.events()
    assert (up.time, str(up)) == (5.5, "recommendations: dependency back up")


def test_simulation_runs_threads_and_stops_promptly() -> None:
    """start() runs the workers for real; stop() ends them; a simulation runs once."""
    sim = Simulation(1.0, seed=6, workers=2)
    assert repr(sim).startswith("<Simulation new duration=1.0s workers=2 seed=6 services=[")
    with sim:
        assert sim.running
        seen = sim.seen["catalog"]
        for _ in range(3000):  # wait (bounded) for the workers to make a few calls
            if seen.totals()["success"] >= 3:
                break
            sim._stop.wait(0.01)
        assert seen.totals()["success"] >= 3
    assert sim._stop.is_set()
    assert all(not thread.is_alive() for thread in sim._threads)
    assert repr(sim).startswith("<Simulation stopped")
    with pytest.raises(RuntimeError, match="Cannot start a Simulation twice"):
        sim.start()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"duration": 0}, "'duration' must be > 0 (got 0 that is a <class 'int'>)"),
        (
            {"duration": float("inf")},
            "'duration' must be finite (got inf that is a <class 'float'>)",
        ),
        ({"workers": 0}, "'workers' must be >= 1 (got 0 that is a <class 'int'>)"),
        ({"seed": "1"}, "'seed' must be an int (got '1' that is a <class 'str'>)"),
        ({"outages": 1}, "'outages' must be <class 'bool'> (got 1 that is a <class 'int'>)"),
    ],
)
def test_bad_simulation_options(options: dict[str, object], message: str) -> None:
    """Bad options raise TypeError/ValueError naming the option and value."""
    with pytest.raises((TypeError, ValueError)) as caught:
        Simulation(**options)  # type: ignore[arg-type]  # deliberately wrong
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"name": 1}, TypeError, "'name' must be <class 'str'> (got 1 that is a <class 'int'>)"),
        (
            {"latency": -0.1},
            ValueError,
            "'latency' must be >= 0 (got -0.1 that is a <class 'float'>)",
        ),
        (
            {"failure": 1.5},
            ValueError,
            "'failure' must be <= 1 (got 1.5 that is a <class 'float'>)",
        ),
        ({"share": 0}, ValueError, "'share' must be > 0 (got 0 that is a <class 'int'>)"),
        (
            {"outage": (0.6, 0.2)},
            ValueError,
            "'outage' must be None or (start, end), fractions of the run with "
            "0 <= start < end <= 1 (got (0.6, 0.2) that is a <class 'tuple'>)",
        ),
        ({"timeout": 0}, ValueError, "'timeout' must be > 0 (got 0 that is a <class 'int'>)"),
        ({"attempts": 0}, ValueError, "'attempts' must be >= 1 (got 0 that is a <class 'int'>)"),
        ({"limit": 0}, ValueError, "'limit' must be >= 1 (got 0 that is a <class 'int'>)"),
        (
            {"fallback": "yes"},
            TypeError,
            "'fallback' must be <class 'bool'> (got 'yes' that is a <class 'str'>)",
        ),
        (
            {"consecutive": 1.0},
            TypeError,
            "'consecutive' must be an int (got 1.0 that is a <class 'float'>)",
        ),
    ],
)
def test_bad_profiles_fail_at_construction(
    options: dict[str, object], error: type[Exception], message: str
) -> None:
    """A Profile refuses bad settings at once, naming the option and the value."""
    options = {"name": "svc", "latency": 0.01, **options}
    with pytest.raises(error) as caught:
        Profile(**options)  # type: ignore[arg-type]  # deliberately wrong
    assert str(caught.value) == message


def test_two_profiles_with_one_name_are_refused() -> None:
    """Each simulated dependency is a named service: a repeated name is an error."""
    twice = [Profile("db", latency=0.01), Profile("db", latency=0.02)]
    with pytest.raises(ValueError) as caught:
        Simulation(profiles=twice)
    assert str(caught.value) == (
        "Cannot simulate two dependencies named 'db': each is a service, known by its name. "
        "Give each profile its own name."
    )


# -- the terminal view -----------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_live_view_redraws_in_place(fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal the table is redrawn over itself; events scroll above it, coloured."""
    monkeypatch.setenv("COLUMNS", "100")
    sim = Simulation(3.0, seed=8, outages=False)
    out = FakeTerminal()
    reporter = Reporter(sim, out, live=True, color=True, url="http://x/")
    reporter.frame()
    first = out.getvalue()
    assert first.startswith("\x1b[1m  0.0 s of 3 s\x1b[0m   dashboard http://x/\n")
    assert "\x1b[32mclosed       \x1b[0m" in first
    assert len(first.splitlines()) == 6
    sim.wired[3].breaker.trigger()
    reporter.frame()
    second = out.getvalue()[len(first) :]
    assert second.startswith("\x1b[6F\x1b[J")  # back up over the 6 lines, clear them
    assert "[  0.00s] \x1b[1;35mrecommendations: circuit closed -> forced open\x1b[0m\n" in second
    assert "\x1b[1;35mforced open  \x1b[0m" in second


def test_live_view_on_a_narrow_terminal_climbs_over_wrapped_rows(
    fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Table lines wider than the terminal wrap; the redraw climbs every screen row they took."""
    monkeypatch.setenv("COLUMNS", "40")
    sim = Simulation(3.0, seed=8, outages=False)
    out = FakeTerminal()
    reporter = Reporter(sim, out, live=True, color=True)
    reporter.frame()
    first = out.getvalue()
    visible = re.sub(r"\x1b\[[0-9;]*m", "", first).splitlines()
    assert len(visible[0]) <= 40  # the clock line fits; the 5 table lines wrap onto 2 rows
    assert all(40 < len(line) <= 80 for line in visible[1:])
    reporter.frame()
    assert out.getvalue()[len(first) :].startswith("\x1b[11F\x1b[J")


def test_plain_view_prints_events_and_periodic_tables(fake_clock: FakeClock) -> None:
    """Without a terminal: event lines as they happen and a status table every period."""
    sim = Simulation(3.0, seed=9, outages=False)
    sim._started = fake_clock.now()
    out = io.StringIO()
    reporter = Reporter(sim, out, live=False, color=False, period=1.0)
    reporter.header()
    reporter.frame()
    assert out.getvalue() == (
        "dyno demo: 4 services on 6 threads for 3 s (seed 9)\n"
        "  breakers: open at 50 % failures of 10+ calls in 0.3 s (or 5 in a row); "
        "probe after 0.15 s\n\n"
    )
    fake_clock.advance(1.0)
    sim.wired[1].breaker.trigger()
    reporter.frame()
    lines = out.getvalue().splitlines()[3:]
    assert lines[0] == "[  1.00s] inventory: circuit closed -> forced open"
    assert lines[1] == "[  1.00s] status"
    assert lines[2].split()[:5] == ["service", "circuit", "req/s", "err/s", "err%"]
    assert lines[4].split()[:3] == ["inventory", "forced", "open"]
    assert "\x1b" not in out.getvalue()


def test_summary_reports_what_callers_saw_and_breaker_trips(fake_clock: FakeClock) -> None:
    """The summary has a row per service with calls, trips and recoveries, and a total line."""
    sim = Simulation(3.0, seed=10, outages=False)
    rng = random.Random(5)
    recommendations = sim.service("recommendations")
    sim.dependencies["recommendations"].down = True
    for _ in range(6):
        with sim.seen["recommendations"]:
            recommendations(rng)
    sim.dependencies["recommendations"].down = False
    for _ in range(100):  # a 2 % failure may reopen it: probe again
        if sim.wired[3].breaker.state == "closed":
            break
        fake_clock.advance(1)
        recommendations(rng)
    out = io.StringIO()
    Reporter(sim, out, live=False, color=False).summary()
    text = out.getvalue()
    row = next(line for line in text.splitlines() if line.startswith("recommendations "))
    columns = row.split()
    # calls ok failed timeout short reject fallbk opened closed
    assert columns[1:10] == ["6", "6", "5", "0", "1", "0", "6", "1", "1"]
    assert text.rstrip().endswith("Circuits opened 1 time and closed again 1 time.")
    assert "Summary: finished after 0.0 s, 6 threads, seed 10" in text


def test_state_labels_read_as_people_write_them() -> None:
    """half_open reads half-open; unknown names pass through."""
    assert [state_label(s) for s in ("closed", "half_open", "forced_closed", "odd")] == [
        "closed",
        "half-open",
        "forced closed",
        "odd",
    ]
