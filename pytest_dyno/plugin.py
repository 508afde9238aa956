"""The pytest plugin: fixtures, markers and options for testing dyno code.

Loaded through the ``pytest11`` entry point named ``dyno`` (disable it with
``-p no:dyno``). Importing it stays cheap: the dyno modules a fixture or an
option needs are imported when that fixture or option is first used.

Per test, the plugin only looks at the test's markers unless something asks
for more: a ``dyno_budget`` marker, the ``dyno_timing`` fixture or the
``--dyno-timing``/``--dyno-timing-json`` options make it run the test's call
phase under a root :class:`~dyno.timing.PerfTimer`, which ``dyno.timing.timed``
intervals attach to.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import pytest

# Nothing of dyno is imported here: dyno.clock alone pulls in asyncio, which a
# suite that never touches dyno should not pay for. Fixtures and hooks import
# what they need when first used.
if TYPE_CHECKING:
    from dyno.clock import FakeClock
    from dyno.registry import Registry
    from dyno.timing import TimingDict
    from pytest_dyno.breakers import BreakerControl
    from pytest_dyno.flaky import FlakyFactory
    from pytest_dyno.harness import HarnessCapture
    from pytest_dyno.timing import RootTimer

__all__ = [
    "dyno_breakers",
    "dyno_clock",
    "dyno_harness",
    "dyno_registry",
    "dyno_timing",
    "flaky",
]

#: Attributes carrying a test's timing tree (``as_dict()``) and its rendering on
#: the call-phase report. Plain attributes survive pytest-xdist's report
#: serialisation, so trees recorded on workers reach the controller.
REPORT_TREE: Final = "dyno_timing"
REPORT_TEXT: Final = "dyno_timing_text"

_MARKERS: Final = (
    "dyno_breaker(name, state): force the dyno breaker called `name` into `state` "
    '("open" or "closed") for the test; use several to force several breakers.',
    "dyno_budget(seconds): fail the test when its call phase takes longer than `seconds` "
    "on the dyno clock, and show its timing tree.",
)


@dataclass(slots=True)
class _Settings:
    """The run's dyno options, resolved once at configure time."""

    report: bool
    top: int
    json_path: Path | None

    @property
    def timing(self) -> bool:
        return self.report or self.json_path is not None


@dataclass(slots=True)
class _TestState:
    """What the plugin keeps for one test while it runs."""

    name: str
    budget: float | None = None
    budget_mark: str = ""
    timer: RootTimer | None = None
    forcing: ExitStack = field(default_factory=ExitStack)

    def root_timer(self) -> RootTimer:
        if self.timer is None:
            from pytest_dyno.timing import RootTimer

            self.timer = RootTimer(self.name)
        return self.timer


T = TypeVar("T")

_SETTINGS = pytest.StashKey[_Settings]()
_TEST = pytest.StashKey[_TestState]()


# -- options and configuration ------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the "dyno" option group and its ini settings."""
    group = parser.getgroup("dyno", "dyno: failure-path testing")
    group.addoption(
        "--dyno-timing",
        action="store_true",
        default=None,
        help="Report the slowest tests with the timing trees their dyno.timing.timed "
        "intervals recorded (ini: dyno_timing).",
    )
    group.addoption(
        "--dyno-timing-top",
        type=int,
        default=None,
        metavar="N",
        help="How many of the slowest tests --dyno-timing shows; 0 shows all "
        "(ini: dyno_timing_top, default 10).",
    )
    group.addoption(
        "--dyno-timing-json",
        default=None,
        metavar="PATH",
        help="Write every test's outcome, call duration and timing tree to PATH as JSON "
        "(ini: dyno_timing_json).",
    )
    parser.addini("dyno_timing", "Default for --dyno-timing.", type="bool", default=False)
    parser.addini("dyno_timing_top", "Default for --dyno-timing-top.", type="int", default=10)
    parser.addini("dyno_timing_json", "Default for --dyno-timing-json.", type="string", default="")


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers and, when asked for, the timing report."""
    for line in _MARKERS:
        config.addinivalue_line("markers", line)
    report = config.getoption("dyno_timing")
    if report is None:
        report = _ini(config, "dyno_timing", "Set it to true or false instead.")
    top = config.getoption("dyno_timing_top")
    if top is None:
        top = _ini(config, "dyno_timing_top", "Set it to a whole number >= 0 instead.")
    if not isinstance(top, int) or top < 0:
        raise pytest.UsageError(
            f"Cannot show the {top!r} slowest tests: --dyno-timing-top (ini dyno_timing_top) "
            "must be an int >= 0. Pass 0 to show every test."
        )
    json_option = config.getoption("dyno_timing_json") or config.getini("dyno_timing_json")
    json_path = None
    if json_option:
        json_path = Path(config.invocation_params.dir, json_option)
    settings = _Settings(report=bool(report), top=top, json_path=json_path)
    config.stash[_SETTINGS] = settings
    if settings.timing:
        config.pluginmanager.register(_TimingReport(config, settings), "dyno-timing")


def _ini(config: pytest.Config, name: str, advice: str) -> Any:
    """Return the ini setting *name*; a value of the wrong type is a usage error naming it."""
    try:
        return config.getini(name)
    except (pytest.UsageError, ValueError) as error:
        # pytest's own message shows the bad value but not the setting.
        raise pytest.UsageError(f"Cannot read the ini setting {name}: {error}. {advice}") from error


# -- per-test hooks -------------------------------------------------------------


def _test_state(item: pytest.Item) -> _TestState:
    state = item.stash.get(_TEST, None)
    if state is None:
        state = item.stash[_TEST] = _TestState(item.name)
    return state


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Read the test's dyno markers; force its breakers before any fixture runs."""
    # One pass over the markers, closest first (this runs for every test).
    breaker_marks: list[pytest.Mark] = []
    budget_mark: pytest.Mark | None = None
    for mark in item.iter_markers():
        if mark.name == "dyno_breaker":
            breaker_marks.append(mark)
        elif mark.name == "dyno_budget" and budget_mark is None:
            budget_mark = mark
    if not breaker_marks and budget_mark is None:
        return
    state = _test_state(item)
    if budget_mark is not None:
        state.budget = _budget_from(budget_mark)
        state.budget_mark = _mark_text(budget_mark)
    if breaker_marks:
        from dyno.breaker import force

        # iter_markers yields the closest marker first; apply it last so it wins.
        for mark in reversed(breaker_marks):
            name, wanted = _breaker_from(mark)
            state.forcing.enter_context(force(name, wanted))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Run the call phase under the test's root timer when anything needs it."""
    state = item.stash.get(_TEST, None)
    if state is None:
        if not item.config.stash[_SETTINGS].timing:
            return (yield)
        state = _test_state(item)
    timer = state.root_timer()
    with timer:
        result = yield
    if state.budget is not None and float(timer) > state.budget:
        from pytest_dyno.timing import over_budget_message

        pytest.fail(
            over_budget_message(timer, state.budget, f"the call phase ({state.budget_mark})"),
            pytrace=False,
        )
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    """After the fixtures are torn down, release the test's forced breakers."""
    try:
        return (yield)
    finally:
        state = item.stash.get(_TEST, None)
        if state is not None:
            del item.stash[_TEST]
            state.forcing.close()


def _mark_text(mark: pytest.Mark) -> str:
    arguments = [repr(arg) for arg in mark.args]
    arguments += [f"{key}={value!r}" for key, value in mark.kwargs.items()]
    return f"@pytest.mark.{mark.name}({', '.join(arguments)})"


def _breaker_from(mark: pytest.Mark) -> tuple[str, str]:
    def parse(name: str, state: str) -> tuple[str, str]:
        from dyno.utils import check_choice, check_type

        check_type("name", name, str)
        check_choice("state", state, ("open", "closed"))
        return name, state

    return _arguments_of(
        mark,
        parse,
        'Use @pytest.mark.dyno_breaker("name", "open") or '
        '@pytest.mark.dyno_breaker("name", "closed") instead.',
    )


def _budget_from(mark: pytest.Mark) -> float:
    def parse(seconds: float) -> float:
        from dyno.utils import check_number

        return check_number("seconds", seconds, low=0)

    return _arguments_of(
        mark, parse, "Use @pytest.mark.dyno_budget(seconds) with a number of seconds >= 0 instead."
    )


def _arguments_of(mark: pytest.Mark, parse: Callable[..., T], advice: str) -> T:
    """Return ``parse(*mark.args, **mark.kwargs)``; on bad arguments fail the test with advice."""
    try:
        # Binding first words a wrong arity without parse's (internal) name.
        bound = inspect.signature(parse).bind(*mark.args, **mark.kwargs)
        return parse(*bound.args, **bound.kwargs)
    except (TypeError, ValueError) as error:
        problem = str(error)
    pytest.fail(f"Cannot apply {_mark_text(mark)}: {problem}. {advice}", pytrace=False)


# -- the timing report ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entry:
    nodeid: str
    outcome: str
    duration: float
    tree: TimingDict | None
    text: str | None

    def as_json(self) -> dict[str, object]:
        return {
            "nodeid": self.nodeid,
            "outcome": self.outcome,
            "duration": self.duration,
            "tree": self.tree,
        }


class _TimingReport:
    """Collects every test's tree (from this process or xdist workers) and reports them."""

    def __init__(self, config: pytest.Config, settings: _Settings) -> None:
        self._settings = settings
        # xdist workers only attach trees to reports; the controller reports.
        self._is_worker = hasattr(config, "workerinput")
        self.entries: list[_Entry] = []
        # In one process, trees are rendered only for the tests the report shows.
        self._timers: dict[str, RootTimer] = {}

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if call.when == "call":
            state = item.stash.get(_TEST, None)
            if state is not None and state.timer is not None:
                setattr(report, REPORT_TREE, state.timer.as_dict())
                if self._settings.report:
                    if self._is_worker:
                        setattr(report, REPORT_TEXT, state.timer.render())
                    else:
                        self._timers[report.nodeid] = state.timer
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self._is_worker:
            return
        if report.when == "call":
            self.entries.append(
                _Entry(
                    report.nodeid,
                    report.outcome,
                    report.duration,
                    getattr(report, REPORT_TREE, None),
                    getattr(report, REPORT_TEXT, None),
                )
            )
        elif report.when == "setup" and report.outcome != "passed":
            # Skipped or broken in setup: no call phase, no tree.
            self.entries.append(_Entry(report.nodeid, report.outcome, 0.0, None, None))

    def slowest(self) -> list[_Entry]:
        ranked = sorted(self.entries, key=lambda entry: entry.duration, reverse=True)
        return ranked[: self._settings.top] if self._settings.top else ranked

    def pytest_sessionfinish(self) -> None:
        path = self._settings.json_path
        if self._is_worker or path is None:
            return
        import json

        path.parent.mkdir(parents=True, exist_ok=True)
        document = {"tests": [entry.as_json() for entry in self.entries]}
        path.write_text(json.dumps(document) + "\n", encoding="utf-8")

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self._is_worker:
            return
        if self._settings.report:
            slowest = self.slowest()
            count = len(slowest)
            title = "the slowest test" if count == 1 else f"{count} slowest tests"
            terminalreporter.write_sep("=", f"dyno timing: {title}")
            for entry in slowest:
                terminalreporter.write_line(f"{entry.duration:.3f}s {entry.outcome} {entry.nodeid}")
                text = entry.text
                if text is None and entry.nodeid in self._timers:
                    text = self._timers[entry.nodeid].render()
                if text is not None:
                    for line in text.splitlines():
                        terminalreporter.write_line(f"    {line}")
        if self._settings.json_path is not None:
            terminalreporter.write_sep(
                "-", f"dyno timing JSON: {len(self.entries)} tests in {self._settings.json_path}"
            )


# -- fixtures -------------------------------------------------------------------------


@pytest.fixture
def dyno_clock() -> Iterator[FakeClock]:
    """Install a :class:`~dyno.clock.FakeClock` process-wide for the test, then restore."""
    from dyno.clock import FakeClock, use_clock

    clock = FakeClock()
    with use_clock(clock):
        yield clock


@pytest.fixture
def dyno_registry() -> Iterator[Registry]:
    """Give the default registry; every change the test makes is undone at teardown."""
    from pytest_dyno.registry import isolated_registry

    with isolated_registry() as registry:
        yield registry


@pytest.fixture
def flaky(request: pytest.FixtureRequest) -> FlakyFactory:
    """Make simulated flaky dependencies, seeded from the test's node id.

    ``flaky(fails=2)``, ``flaky(rate=0.3)``, ``flaky(schedule="FTS")``: see
    :class:`pytest_dyno.Flaky`. Random sequences derive from the node id and,
    when pytest-randomly is active, its ``--randomly-seed``, so a rerun
    replays the same failures.
    """
    from pytest_dyno.flaky import FlakyFactory

    key = request.node.nodeid
    # pytest-randomly stores its seed as this option once configured (an int).
    randomly_seed = request.config.getoption("randomly_seed", None)
    if isinstance(randomly_seed, int) and not isinstance(randomly_seed, bool):
        key = f"{key}@randomly-seed={randomly_seed}"
    return FlakyFactory(key)


@pytest.fixture
def dyno_breakers() -> Iterator[BreakerControl]:
    """Force named breakers open or closed; every breaker is back to normal after the test."""
    from pytest_dyno.breakers import BreakerControl

    with BreakerControl() as control:
        yield control


@pytest.fixture
def dyno_harness() -> Iterator[HarnessCapture]:
    """Capture every exception any dyno harness reports during the test, from any thread."""
    from pytest_dyno.harness import HarnessCapture

    with HarnessCapture() as capture:
        yield capture


@pytest.fixture
def dyno_timing(request: pytest.FixtureRequest) -> RootTimer:
    """Give the test's root timer; it runs during the call phase, ``timed`` intervals attach.

    ``with dyno_timing.budget(seconds):`` fails the test when the block takes
    longer, printing the block's timing tree.
    """
    node = request.node
    assert isinstance(node, pytest.Item), "dyno_timing is function-scoped"
    return _test_state(node).root_timer()
