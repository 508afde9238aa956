"""``python -m dyno demo``: a simulated system whose circuit breakers trip and recover, live.

Four simulated dependencies, each behind :func:`dyno.service.service`, are
called from several worker threads the way a web application would call
them:

- ``catalog``: fast and mostly reliable; transient errors are retried.
- ``inventory``: medium latency behind a bulkhead of 2 concurrent calls,
  so bursts are rejected.
- ``payments``: slow, with a tail of very slow calls that hit its timeout.
- ``recommendations``: goes down for a while mid-run (a scripted outage),
  then comes back; its breaker opens, probes, and closes again, and callers
  get a fallback meanwhile.

Breaker windows and reset timeouts scale with the run's duration, so even a
3-second run shows a breaker open and close again. The demo runs in real
time (it is a demo); its waits go through :mod:`dyno.clock`. Standard library
only.

:class:`Simulation` runs the system (also in-process, e.g. behind
:func:`dyno.dashboard.serve`); :func:`run` adds the terminal view and the
final summary.
"""

from __future__ import annotations

import math
import os
import random
import re
import shutil
import sys
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from dyno import clock
from dyno.breaker import BreakerState, CircuitBreaker, Limiter
from dyno.metrics import Metrics
from dyno.retry import retry
from dyno.service import service
from dyno.utils import check_int, check_number, check_optional_number, check_type, describe

if TYPE_CHECKING:
    from dyno.dashboard.export import ServiceView
    from dyno.service import ServiceFunction

__all__ = [
    "Profile",
    "Dependency",
    "DependencyDown",
    "DependencyError",
    "Simulation",
    "Wired",
    "Event",
    "Timings",
    "Reporter",
    "PROFILES",
    "state_label",
    "run",
]

#: How many seconds of a default run; breaker timings are scaled against it.
DEFAULT_DURATION = 20.0


@dataclass(frozen=True, slots=True)
class Profile:
    """How a simulated dependency behaves, and how the demo protects it.

    Args:
        name: The service name.
        latency: Median seconds per call (log-normally spread by *spread*).
        spread: Sigma of the log-normal latency (0 for a constant latency).
        failure: Share of calls that fail with :class:`ConnectionError`.
        slow: Share of calls that take *slow_latency* seconds instead.
        slow_latency: Seconds a slow call takes.
        share: Share of simulated requests that call this dependency.
        outage: When the dependency is down, as fractions of the run
            ``(start, end)``, or None.
        timeout: The service's per-attempt timeout in seconds, or None.
        attempts: Attempts per call (retries on :class:`ConnectionError`).
        limit: Bulkhead size (concurrent calls), or None.
        fallback: Whether the service falls back to a default answer.
        consecutive: Failures in a row that open the breaker, or None (then
            only the failure ratio does).
    """

    name: str
    latency: float
    spread: float = 0.3
    failure: float = 0.0
    slow: float = 0.0
    slow_latency: float = 0.0
    share: float = 1.0
    outage: tuple[float, float] | None = None
    timeout: float | None = None
    attempts: int = 1
    limit: int | None = None
    fallback: bool = False
    consecutive: int | None = 5

    def __post_init__(self) -> None:
        check_type("name", self.name, str)
        for seconds in ("latency", "spread", "slow_latency"):
            check_number(seconds, getattr(self, seconds), low=0)
        for share in ("failure", "slow"):
            check_number(share, getattr(self, share), low=0, high=1)
        check_number("share", self.share, low=0, low_open=True, high=1)
        if self.outage is not None:
            outage = self.outage
            if not (
                isinstance(outage, tuple)
                and len(outage) == 2
                and all(isinstance(x, int | float) and not isinstance(x, bool) for x in outage)
                and 0 <= outage[0] < outage[1] <= 1
            ):
                raise ValueError(
                    "'outage' must be None or (start, end), fractions of the run with "
                    f"0 <= start < end <= 1 (got {describe(outage)})"
                )
        check_optional_number("timeout", self.timeout, low=0, low_open=True)
        check_int("attempts", self.attempts, low=1)
        if self.limit is not None:
            check_int("limit", self.limit, low=1)
        check_type("fallback", self.fallback, bool)
        if self.consecutive is not None:
            check_int("consecutive", self.consecutive, low=1)


#: The demo's dependencies.
PROFILES: tuple[Profile, ...] = (
    Profile("catalog", latency=0.006, spread=0.4, failure=0.03, attempts=3),
    Profile(
        "inventory",
        latency=0.030,
        spread=0.5,
        failure=0.01,
        share=0.5,
        limit=3,
        # Rejections come in bursts; let only the failure ratio open this breaker.
        consecutive=None,
    ),
    Profile(
        "payments",
        latency=0.060,
        spread=0.3,
        failure=0.01,
        slow=0.04,
        slow_latency=0.5,
        share=0.3,
        timeout=0.2,
    ),
    Profile(
        "recommendations",
        latency=0.020,
        spread=0.4,
        failure=0.02,
        outage=(0.25, 0.55),
        fallback=True,
    ),
)


class DependencyDown(ConnectionRefusedError):
    """A simulated dependency refused the call: it is down."""


class DependencyError(ConnectionResetError):
    """A simulated dependency failed the call."""


class Dependency:
    """A simulated remote dependency: latency and failures as its :class:`Profile` says.

    Its outage follows the profile's schedule, unless :attr:`down` is set to
    True or False by hand (None goes back to the schedule).

    Args:
        profile: How it behaves.
        elapsed: Returns seconds since the run started.
        duration: The run's length, to place the scheduled outage.
        scheduled: Follow the profile's outage schedule (False: no scheduled outage).
    """

    def __init__(
        self,
        profile: Profile,
        elapsed: Callable[[], float],
        duration: float,
        *,
        scheduled: bool = True,
    ) -> None:
        self.profile = profile
        self._elapsed = elapsed
        self._outage = (
            None
            if profile.outage is None or not scheduled
            else (profile.outage[0] * duration, profile.outage[1] * duration)
        )
        #: True or False overrides the outage schedule; None follows it.
        self.down: bool | None = None

    @property
    def outage(self) -> tuple[float, float] | None:
        """The scheduled outage ``(start, end)`` in seconds since the start, or None."""
        return self._outage

    def is_down(self) -> bool:
        """Return whether the dependency refuses calls now."""
        if self.down is not None:
            return self.down
        if self._outage is None:
            return False
        start, end = self._outage
        return start <= self._elapsed() < end

    def call(self, rng: random.Random) -> str:
        """Make one simulated call: wait its latency, then answer or raise.

        Raises:
            DependencyDown: The dependency is down (after a short connect delay).
            DependencyError: The call failed.
        """
        profile = self.profile
        if self.is_down():
            clock.sleep(rng.uniform(0.001, 0.004))
            raise DependencyDown(f"{profile.name} refused the connection (simulated outage)")
        if profile.slow and rng.random() < profile.slow:
            clock.sleep(profile.slow_latency)
            return f"{profile.name}: ok, slowly"
        clock.sleep(profile.latency * math.exp(profile.spread * rng.gauss(0.0, 1.0)))
        if profile.failure and rng.random() < profile.failure:
            raise DependencyError(f"{profile.name} reset the connection (simulated)")
        return f"{profile.name}: ok"

    def __repr__(self) -> str:
        return f"<Dependency {self.profile.name!r} down={self.is_down()}>"


@dataclass(frozen=True, slots=True)
class Event:
    """Something worth a line in the demo's log, *time* seconds into the run.

    *state* is the breaker's new state for a circuit transition, else None.
    """

    time: float
    service: str
    text: str
    state: str | None = None

    def __str__(self) -> str:
        return f"{self.service}: {self.text}"


@dataclass(frozen=True, slots=True)
class Wired:
    """One simulated dependency wired up: its profile, service, breaker and metrics."""

    profile: Profile
    dependency: Dependency
    call: ServiceFunction[[random.Random], str]
    breaker: CircuitBreaker
    metrics: Metrics

    @property
    def name(self) -> str:
        """The service's name."""
        return self.profile.name


_LABELS = {
    "closed": "closed",
    "open": "open",
    "half_open": "half-open",
    "forced_open": "forced open",
    "forced_closed": "forced closed",
}


def state_label(state: str) -> str:
    """Return a breaker state as people write it (``"half-open"``)."""
    return _LABELS.get(str(state), str(state))


@dataclass(frozen=True, slots=True)
class Timings:
    """The breaker and metrics timings of a run, scaled to its duration."""

    breaker_window: float
    reset_timeout: float
    metrics_window: float

    @classmethod
    def for_duration(cls, duration: float) -> Timings:
        """Scale the timings so a run of *duration* seconds shows trips and recoveries."""
        scale = duration / DEFAULT_DURATION
        return cls(
            breaker_window=min(10.0, max(0.3, 2.0 * scale)),
            reset_timeout=min(5.0, max(0.1, 1.0 * scale)),
            metrics_window=min(10.0, max(1.0, 5.0 * scale)),
        )


class Simulation:
    """The simulated system: dependencies behind dyno services, driven by worker threads.

    ``start()`` starts the workers, ``stop()`` stops them (also a context
    manager). :attr:`services` are the decorated functions (hand them to
    :func:`dyno.dashboard.serve`); :meth:`events` returns what happened since
    the last look (breaker transitions, outages).

    Args:
        duration: The planned run length in seconds; scheduled outages and
            breaker timings are fractions of it.
        seed: Seeds the workers' random numbers (None: a random seed, kept
            in :attr:`seed`). Threads interleave freely, so runs with one
            seed are alike, not identical.
        workers: How many threads make requests.
        outages: Follow the profiles' outage schedules (False: only when a
            :class:`Dependency`'s ``down`` is set by hand).
        profiles: The dependencies to simulate.

    Raises:
        TypeError, ValueError: An option is of the wrong type or out of range.
    """

    def __init__(
        self,
        duration: float = DEFAULT_DURATION,
        *,
        seed: int | None = None,
        workers: int = 6,
        outages: bool = True,
        profiles: Sequence[Profile] = PROFILES,
    ) -> None:
        self.duration = check_number("duration", duration, low=0, low_open=True)
        if math.isinf(self.duration):
            raise ValueError(f"'duration' must be finite (got {describe(duration)})")
        if seed is not None:
            check_int("seed", seed)
        self.seed: int = random.SystemRandom().randrange(1_000_000) if seed is None else seed
        self.workers = check_int("workers", workers, low=1)
        check_type("outages", outages, bool)
        self.timings = Timings.for_duration(self.duration)
        self._started: float | None = None
        self._stopped: float | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._pending: list[Event] = []
        self._announced: set[tuple[str, str]] = set()
        #: Breaker transitions seen per service, as ``(old, new)`` counts.
        self.transitions: dict[str, Counter[tuple[str, str]]] = {}
        #: Each dependency by service name.
        self.dependencies: dict[str, Dependency] = {}
        #: What the callers saw, per service: outcome counts and latency over the whole run.
        self.seen: dict[str, Metrics] = {}
        #: The dependencies wired up as services, in profile order.
        self.wired: list[Wired] = []
        for profile in profiles:
            check_type("profiles[]", profile, Profile)
            if profile.name in self.dependencies:
                raise ValueError(
                    f"Cannot simulate two dependencies named {profile.name!r}: each is a "
                    "service, known by its name. Give each profile its own name."
                )
            dependency = Dependency(profile, self.elapsed, self.duration, scheduled=outages)
            self.dependencies[profile.name] = dependency
            self.transitions[profile.name] = Counter()
            self.seen[profile.name] = Metrics(
                f"{profile.name} (callers)", window=self.duration * 2 + 60, buckets=1
            )
            breaker = CircuitBreaker(
                profile.name,
                failure_ratio=0.5,
                volume=10,
                window=self.timings.breaker_window,
                reset_timeout=self.timings.reset_timeout,
                consecutive=profile.consecutive,
            )
            breaker.add_listener(self._on_transition)
            metrics = Metrics(profile.name, window=self.timings.metrics_window)
            call = service(
                profile.name,
                breaker=breaker,
                metrics=metrics,
                timeout=profile.timeout,
                retry=retry(profile.attempts, on=DependencyError) if profile.attempts > 1 else None,
                limiter=None
                if profile.limit is None
                else Limiter(profile.limit, name=profile.name),
                fallback=_fallback(profile.name) if profile.fallback else None,
            )(dependency.call)
            self.wired.append(Wired(profile, dependency, call, breaker, metrics))

    # -- what the dashboard and the reporter read --------------------------------------

    @property
    def services(self) -> list[ServiceView]:
        """The services, as decorated functions (service views for the dashboard)."""
        return [wired.call for wired in self.wired]

    def service(self, name: str) -> ServiceFunction[[random.Random], str]:
        """Return the service called *name*.

        Raises:
            KeyError: No such service in this simulation.
        """
        for wired in self.wired:
            if wired.name == name:
                return wired.call
        raise KeyError(name)

    def elapsed(self) -> float:
        """Return seconds since :meth:`start` (frozen once stopped; 0 before)."""
        if self._started is None:
            return 0.0
        end = clock.now() if self._stopped is None else self._stopped
        return end - self._started

    def events(self) -> list[Event]:
        """Return the events since the last call, oldest first.

        Breaker transitions, and a dependency's scheduled outage beginning
        and ending (announced once its time has come).
        """
        with self._lock:
            # Read under the lock: any transition already pending happened before now.
            now = self.elapsed()
            for name, dependency in self.dependencies.items():
                if dependency.outage is None:
                    continue
                start, end = dependency.outage
                for when, what in (
                    (start, "dependency down (simulated outage)"),
                    (end, "dependency back up"),
                ):
                    if when <= now and (name, what) not in self._announced:
                        self._announced.add((name, what))
                        self._pending.append(Event(when, name, what))
            events, self._pending = sorted(self._pending, key=lambda e: e.time), []
        return events

    def _on_transition(self, breaker: object, old: BreakerState, new: BreakerState) -> None:
        name = str(getattr(breaker, "name", "?"))
        text = f"circuit {state_label(old)} -> {state_label(new)}"
        event = Event(self.elapsed(), name, text, state=str(new))
        with self._lock:
            self.transitions.setdefault(name, Counter())[(str(old), str(new))] += 1
            self._pending.append(event)

    # -- running -----------------------------------------------------------------------

    def start(self) -> Simulation:
        """Start the worker threads and return the simulation.

        Raises:
            RuntimeError: It was started before.
        """
        if self._started is not None:
            raise RuntimeError(
                "Cannot start a Simulation twice: it has run already. Make a new one instead."
            )
        self._started = clock.now()
        for index in range(self.workers):
            thread = threading.Thread(
                target=self._work, args=(index,), name=f"dyno-demo-{index}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the workers and wait (up to *timeout* seconds each) for them to finish."""
        if self._started is not None and self._stopped is None:
            self._stopped = clock.now()
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._started is not None and not self._stop.is_set()

    def __enter__(self) -> Simulation:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _work(self, index: int) -> None:
        rng = random.Random(f"{self.seed}-{index}")
        stop = self._stop
        while not stop.is_set():
            for wired in self.wired:
                share = wired.profile.share
                if share < 1 and rng.random() >= share:
                    continue
                try:
                    with self.seen[wired.name]:
                        wired.call(rng)
                except Exception:  # counted by the `with` above; a demo caller shrugs
                    pass
                if stop.is_set():
                    return
            # Think time between requests; waits on the stop event so stop() is prompt.
            stop.wait(rng.uniform(0.002, 0.010))

    def __repr__(self) -> str:
        state = "running" if self.running else ("stopped" if self._stopped else "new")
        return (
            f"<Simulation {state} duration={self.duration}s workers={self.workers} "
            f"seed={self.seed} services={[wired.name for wired in self.wired]}>"
        )


def _fallback(name: str) -> Callable[[random.Random], str]:
    def fallback(rng: random.Random) -> str:
        return f"{name}: cached default"

    fallback.__qualname__ = f"{name}_fallback"
    return fallback


# -- the terminal view --------------------------------------------------------------------

_COLORS = {
    "closed": "32",
    "open": "1;31",
    "half_open": "33",
    "forced_open": "1;35",
    "forced_closed": "35",
}


class Reporter:
    """Writes the demo's live view and summary to a text stream.

    Live (a terminal): the service table is redrawn in place with ANSI
    escapes, events scroll above it. Plain (a pipe or file): events as lines,
    and the table every *period* seconds.
    """

    def __init__(
        self,
        simulation: Simulation,
        out: TextIO,
        *,
        live: bool,
        color: bool,
        url: str | None = None,
        period: float = 1.0,
    ) -> None:
        self.simulation = simulation
        self.out = out
        self.live = live
        self.color = color
        self.url = url
        self.period = period
        self._drawn = 0
        self._next_table = period

    def _paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def header(self) -> None:
        """Write what is about to happen."""
        sim = self.simulation
        timings = sim.timings
        lines = [
            f"dyno demo: {len(sim.services)} services on {sim.workers} threads for "
            f"{sim.duration:g} s (seed {sim.seed})",
        ]
        for name, dependency in sim.dependencies.items():
            if dependency.outage is not None:
                start, end = dependency.outage
                lines.append(
                    # Rounded as the event lines show them, so the two agree.
                    f"  scripted: {name} goes down at {round(start, 2):g} s and comes back "
                    f"at {round(end, 2):g} s"
                )
        lines.append(
            f"  breakers: open at 50 % failures of 10+ calls in "
            f"{timings.breaker_window:g} s (or 5 in a row); probe after {timings.reset_timeout:g} s"
        )
        if self.url:
            lines.append(f"  dashboard: {self.url}")
        self.out.write("\n".join(lines) + "\n\n")
        self.out.flush()

    def _table(self) -> list[str]:
        rows = [
            f"{'service':<16} {'circuit':<13} {'req/s':>7} {'err/s':>6} {'err%':>5} "
            f"{'p50 ms':>7} {'p99 ms':>7} {'in flight':>9}"
        ]
        for wired in self.simulation.wired:
            snapshot = wired.metrics.snapshot()
            state = str(wired.breaker.state)
            label = f"{state_label(state):<13}"
            rows.append(
                f"{wired.name:<16} {self._paint(label, _COLORS.get(state, '0'))} "
                f"{snapshot.request_rate:>7.1f} {snapshot.error_rate:>6.1f} "
                f"{snapshot.error_percentage:>5.0f} {snapshot.latency.p50 * 1000:>7.2f} "
                f"{snapshot.latency.p99 * 1000:>7.2f} {snapshot.in_flight:>9}"
            )
        return rows

    def _event_line(self, event: Event) -> str:
        text = str(event)
        if event.state is not None:
            text = self._paint(text, _COLORS.get(event.state, "0"))
        return f"[{event.time:6.2f}s] {text}"

    def frame(self) -> None:
        """Write new events, and the table (redrawn live, or every *period* when plain)."""
        sim = self.simulation
        lines = [self._event_line(event) for event in sim.events()]
        if self.live:
            if self._drawn:
                # Back to the top of the last table, and clear from there down.
                self.out.write(f"\x1b[{self._drawn}F\x1b[J")
            elapsed = min(sim.elapsed(), sim.duration)
            table = [
                self._paint(f"{elapsed:5.1f} s of {sim.duration:g} s", "1")
                + (f"   dashboard {self.url}" if self.url else ""),
                *self._table(),
            ]
            self.out.write("".join(line + "\n" for line in [*lines, *table]))
            # Count screen rows, not lines: a line wider than the terminal wraps.
            columns = _columns(self.out)
            self._drawn = sum(_rows(line, columns) for line in table)
        else:
            elapsed = sim.elapsed()
            if elapsed >= self._next_table:
                self._next_table = elapsed + self.period
                lines.append(f"[{elapsed:6.2f}s] status")
                lines.extend("          " + row for row in self._table())
            if lines:
                self.out.write("".join(line + "\n" for line in lines))
        self.out.flush()

    def summary(self, *, interrupted: bool = False) -> None:
        """Write the final summary: per service what callers saw, and what the breakers did."""
        sim = self.simulation
        self.frame()
        head = "interrupted" if interrupted else "finished"
        out = [
            "",
            f"Summary: {head} after {sim.elapsed():.1f} s, {sim.workers} threads, seed {sim.seed}",
            f"{'service':<16} {'calls':>6} {'ok':>6} {'failed':>6} {'timeout':>7} "
            f"{'short':>6} {'reject':>6} {'fallbk':>6} {'opened':>6} {'closed':>6} "
            f"{'p50 ms':>7} {'p99 ms':>7}",
        ]
        opened_total = closed_total = 0
        for wired in sim.wired:
            name = wired.name
            totals = wired.metrics.totals()
            seen = sim.seen[name]
            latency = seen.latency()
            moves = sim.transitions.get(name, Counter())
            opened = sum(n for (old, new), n in moves.items() if new == "open" and old == "closed")
            closed = sum(n for (old, new), n in moves.items() if new == "closed")
            opened_total += opened
            closed_total += closed
            seen_totals = seen.totals()
            outcomes = ("success", "failure", "timeout", "rejection", "short_circuit")
            calls = sum(seen_totals[outcome] for outcome in outcomes)
            fallbacks = totals["fallback_success"]
            out.append(
                f"{name:<16} {calls:>6} {seen_totals['success']:>6} "
                f"{totals['failure']:>6} {totals['timeout']:>7} {totals['short_circuit']:>6} "
                f"{totals['rejection']:>6} {fallbacks:>6} {opened:>6} {closed:>6} "
                f"{latency.p50 * 1000:>7.2f} {latency.p99 * 1000:>7.2f}"
            )
        out.append(
            "calls, ok and latencies: as the callers saw them (retries and fallbacks included);\n"
            "failed .. fallbk: the services' own counts; opened/closed: circuit transitions."
        )
        out.append(
            f"Circuits opened {opened_total} time{'s' if opened_total != 1 else ''} and "
            f"closed again {closed_total} time{'s' if closed_total != 1 else ''}."
        )
        self.out.write("\n".join(out) + "\n")
        self.out.flush()


_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _columns(out: TextIO) -> int:
    """Return the width of the terminal *out* writes to (COLUMNS, or 80, when unknown)."""
    try:
        columns = os.get_terminal_size(out.fileno()).columns
    except (OSError, ValueError):  # no file descriptor, or not a terminal
        columns = 0
    return columns or shutil.get_terminal_size().columns


def _rows(line: str, columns: int) -> int:
    """Return how many terminal rows *line* fills at *columns* wide (escapes take none)."""
    return max(1, -(-len(_ESCAPE.sub("", line)) // max(1, columns)))


def _wants_color(out: TextIO) -> bool:
    return out.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def run(
    duration: float = DEFAULT_DURATION,
    *,
    seed: int | None = None,
    workers: int = 6,
    serve: bool = False,
    host: str = "127.0.0.1",
    port: int = 0,
    out: TextIO | None = None,
    live: bool | None = None,
) -> int:
    """Run the demo for *duration* seconds, writing the live view and summary to *out*.

    Args:
        duration: Seconds to run.
        seed: Seeds the simulation (None: random, shown in the output).
        workers: Threads making requests.
        serve: Also serve the dashboard (:func:`dyno.dashboard.serve`) while it runs.
        host: The dashboard's interface.
        port: The dashboard's port (0: a free one).
        out: Where to write (default ``sys.stdout``).
        live: Redraw in place with ANSI escapes; default: when *out* is a terminal.

    Returns:
        The exit status: 0, or 130 when interrupted with Ctrl-C.

    Raises:
        OSError: The dashboard's port is taken.
    """
    stream = sys.stdout if out is None else out
    tty = stream.isatty() and os.environ.get("TERM") != "dumb"
    live = tty if live is None else live
    simulation = Simulation(duration, seed=seed, workers=workers)
    dashboard = None
    if serve:
        from dyno.dashboard import serve as serve_dashboard

        dashboard = serve_dashboard(host, port, services=simulation.services)
    reporter = Reporter(
        simulation,
        stream,
        live=live,
        color=_wants_color(stream),
        url=dashboard.url if dashboard else None,
        period=max(1.0, duration / 10),
    )
    interrupted = False
    try:
        if live:
            stream.write("\x1b[?25l")  # hide the cursor while redrawing
        reporter.header()
        simulation.start()
        tick = 0.2 if live else 0.05
        stopped = threading.Event()
        try:
            while simulation.elapsed() < duration:
                # Real-time pacing of the view (a demo runs on the wall clock).
                stopped.wait(min(tick, max(0.0, duration - simulation.elapsed())))
                reporter.frame()
        except KeyboardInterrupt:
            interrupted = True
        simulation.stop()
        reporter.summary(interrupted=interrupted)
    finally:
        simulation.stop()
        if dashboard is not None:
            dashboard.close()
        if live:
            stream.write("\x1b[?25h")
            stream.flush()
    return 130 if interrupted else 0
