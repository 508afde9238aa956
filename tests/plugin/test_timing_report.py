"""The --dyno-timing terminal report and --dyno-timing-json, in one process and under xdist."""

from __future__ import annotations

import json

import pytest

FAST = ("-p", "no:hypothesispytest", "-p", "no:cacheprovider")

# Durations are pinned by a conftest hook, so the ranking is tested without slow tests.
CONFTEST = """
import pytest

DURATIONS = {"test_fast": 0.1, "test_mid": 1.0, "test_slow": 3.0, "test_broken": 2.0}

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if call.when == "call":
        report.duration = DURATIONS.get(item.name, 0.0)
    return report
"""

TESTS = """
import pytest
from dyno.timing import timed

def test_fast(dyno_clock):
    with timed("cache"):
        dyno_clock.sleep(0.001)

def test_mid(dyno_clock):
    with timed("db"):
        dyno_clock.sleep(0.5)
    with timed("render"):
        dyno_clock.sleep(0.25)

def test_slow(dyno_clock):
    with timed("upstream"):
        with timed("retry"):
            dyno_clock.sleep(2)

def test_broken(dyno_clock):
    with timed("half-done"):
        dyno_clock.sleep(1)
    raise ConnectionError("down")

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass

@pytest.mark.xfail(reason="known", strict=True)
def test_expected_failure():
    raise KeyError("known")
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """A small suite with timed intervals, a failure, a skip and an xfail."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=TESTS)
    return pytester


def test_report_ranks_slowest_tests_with_their_trees(suite: pytest.Pytester) -> None:
    """--dyno-timing lists the slowest call phases first, each with its timing tree."""
    result = suite.runpytest("--dyno-timing", "--dyno-timing-top=3", "-p", "no:randomly")
    result.assert_outcomes(passed=3, failed=1, skipped=1, xfailed=1)
    result.stdout.fnmatch_lines(
        [
            "*= dyno timing: 3 slowest tests =*",
            "3.000s passed test_suite.py::test_slow",
            "    test_slow      2.0S  +0.0S",
            "    └── upstream   2.0S  +0.0S",
            "        └── retry  2.0S  +0.0S",
            "2.000s failed test_suite.py::test_broken",
            "    test_broken    1.0S  +0.0S",
            "    └── half-done  1.0S  +0.0S",
            "1.000s passed test_suite.py::test_mid",
            "    test_mid    750.0mS     +0.0S",
            "    ├── db      500.0mS     +0.0S",
            "    └── render  250.0mS  +500.0mS",
        ]
    )
    result.stdout.no_fnmatch_line("*test_suite.py::test_fast")


def test_report_top_from_ini_and_zero_shows_all(suite: pytest.Pytester) -> None:
    """The ini settings dyno_timing and dyno_timing_top work; 0 shows every test."""
    suite.makeini("[pytest]\ndyno_timing = true\ndyno_timing_top = 1\n")
    one = suite.runpytest()
    one.stdout.fnmatch_lines(["*= dyno timing: the slowest test =*", "3.000s passed *::test_slow"])
    one.stdout.no_fnmatch_line("*::test_broken")
    every = suite.runpytest("--dyno-timing-top=0")
    every.stdout.fnmatch_lines(["*= dyno timing: 6 slowest tests =*"])
    every.stdout.fnmatch_lines(["*skipped test_suite.py::test_skipped"])


def test_report_shows_ten_tests_by_default(pytester: pytest.Pytester) -> None:
    """Without --dyno-timing-top or its ini setting, the report shows the 10 slowest tests."""
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("number", range(12))
        def test_many(number):
            pass
        """
    )
    result = pytester.runpytest("--dyno-timing")
    result.stdout.fnmatch_lines(["*= dyno timing: 10 slowest tests =*"])
    shown = [line for line in result.outlines if "passed test_report_shows" in line]
    assert len(shown) == 10


def test_report_is_off_by_default(suite: pytest.Pytester) -> None:
    """Without the option nothing is reported and no tree is attached to reports."""
    result = suite.runpytest()
    result.stdout.no_fnmatch_line("*dyno timing*")


@pytest.mark.parametrize("value", ["-1", "x"])
def test_bad_top_is_a_usage_error(pytester: pytest.Pytester, value: str) -> None:
    """A negative --dyno-timing-top is refused with a clear message; non-ints by argparse."""
    result = pytester.runpytest(f"--dyno-timing-top={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    if value == "-1":
        result.stderr.fnmatch_lines(
            [
                "ERROR: Cannot show the -1 slowest tests: --dyno-timing-top (ini dyno_timing_top)"
                " must be an int >= 0. Pass 0 to show every test."
            ]
        )
    else:
        result.stderr.fnmatch_lines(["*--dyno-timing-top: invalid int value: 'x'"])


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            "dyno_timing_top = x",
            "ERROR: Cannot read the ini setting dyno_timing_top: invalid literal for int() with "
            "base 10: 'x'. Set it to a whole number >= 0 instead.",
        ),
        (
            "dyno_timing = maybe",
            "ERROR: Cannot read the ini setting dyno_timing: invalid truth value 'maybe'. "
            "Set it to true or false instead.",
        ),
    ],
)
def test_bad_ini_value_is_a_usage_error_naming_the_setting(
    pytester: pytest.Pytester, setting: str, message: str
) -> None:
    """An ini value of the wrong type stops the run with a message naming the setting."""
    pytester.makeini(f"[pytest]\n{setting}\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def _by_nodeid(document: dict[str, list[dict[str, object]]]) -> dict[str, dict[str, object]]:
    return {str(entry["nodeid"]): entry for entry in document["tests"]}


def _child_names(tree: object) -> list[object]:
    assert isinstance(tree, dict)
    return [child["name"] for child in tree["children"]]


def test_json_has_every_test_with_outcome_duration_and_tree(suite: pytest.Pytester) -> None:
    """--dyno-timing-json writes {"tests": [...]} with nodeid, outcome, duration and tree."""
    result = suite.runpytest("--dyno-timing-json=out/timing.json", "-p", "no:randomly")
    result.stdout.fnmatch_lines(["*- dyno timing JSON: 6 tests in *timing.json -*"])
    document = json.loads((suite.path / "out" / "timing.json").read_text())
    assert list(document) == ["tests"]
    entries = _by_nodeid(document)
    assert {nodeid: entry["outcome"] for nodeid, entry in entries.items()} == {
        "test_suite.py::test_fast": "passed",
        "test_suite.py::test_mid": "passed",
        "test_suite.py::test_slow": "passed",
        "test_suite.py::test_broken": "failed",
        "test_suite.py::test_skipped": "skipped",
        "test_suite.py::test_expected_failure": "skipped",
    }
    mid = entries["test_suite.py::test_mid"]
    assert mid["duration"] == 1.0
    tree = mid["tree"]
    assert isinstance(tree, dict)
    assert (tree["kind"], tree["name"], tree["duration"]) == ("interval", "test_mid", 0.75)
    assert _child_names(tree) == ["db", "render"]
    assert _child_names(entries["test_suite.py::test_broken"]["tree"]) == ["half-done"]
    assert entries["test_suite.py::test_skipped"]["tree"] is None
    assert entries["test_suite.py::test_skipped"]["duration"] == 0.0


def test_json_path_from_ini(suite: pytest.Pytester) -> None:
    """The dyno_timing_json ini setting names the file when the option is absent."""
    suite.makeini("[pytest]\ndyno_timing_json = from-ini.json\n")
    suite.runpytest()
    assert len(json.loads((suite.path / "from-ini.json").read_text())["tests"]) == 6


def _shape(tree: object) -> object:
    """Return a timing tree's names and nesting, without its measurements."""
    if tree is None:
        return None
    assert isinstance(tree, dict)
    return (tree["name"], [_shape(child) for child in tree.get("children", [])])


CALLED = ["test_fast", "test_mid", "test_slow", "test_broken", "test_expected_failure"]


def test_report_and_json_under_xdist(suite: pytest.Pytester) -> None:
    """Under pytest-xdist -n 2 every test's tree reaches the controller's report and JSON."""
    alone = suite.runpytest("--dyno-timing-json=alone.json", "-p", "no:randomly")
    alone.assert_outcomes(passed=3, failed=1, skipped=1, xfailed=1)
    result = suite.runpytest_subprocess(
        "-n",
        "2",
        "-v",
        "--dyno-timing",
        "--dyno-timing-top=0",
        "--dyno-timing-json=x.json",
        *FAST,
    )
    result.assert_outcomes(passed=3, failed=1, skipped=1, xfailed=1)
    # Both workers ran tests, so trees crossed from each of them.
    result.stdout.fnmatch_lines(["2 workers [[]6 items[]]", "*[[]gw0[]]*"])
    result.stdout.fnmatch_lines(["*[[]gw1[]]*"])
    result.stdout.fnmatch_lines(
        [
            "*= dyno timing: 6 slowest tests =*",
            "3.000s passed test_suite.py::test_slow",
            "    test_slow      2.0S  +0.0S",
            "    └── upstream   2.0S  +0.0S",
            "        └── retry  2.0S  +0.0S",
        ]
    )
    # Every called test's tree is printed under its line, whichever worker ran it.
    for name in CALLED:
        result.stdout.fnmatch_lines([f"*s * test_suite.py::{name}", f"    {name} *"])
    entries = _by_nodeid(json.loads((suite.path / "x.json").read_text()))
    expected = _by_nodeid(json.loads((suite.path / "alone.json").read_text()))
    assert len(entries) == 6
    assert {nodeid: _shape(entry["tree"]) for nodeid, entry in entries.items()} == {
        nodeid: _shape(entry["tree"]) for nodeid, entry in expected.items()
    }
    assert [nodeid for nodeid, entry in entries.items() if entry["tree"] is not None] == sorted(
        (f"test_suite.py::{name}" for name in CALLED), key=list(entries).index
    )
    assert {nodeid: entry["outcome"] for nodeid, entry in entries.items()} == {
        nodeid: entry["outcome"] for nodeid, entry in expected.items()
    }
