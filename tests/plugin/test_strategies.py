"""pytest_dyno.strategies: hypothesis strategies for failure schedules and flaky dependencies."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from dyno.retry import CompoundException, retry
from pytest_dyno import Flaky
from pytest_dyno.strategies import failure_schedules, flaky_dependencies


@settings(max_examples=60, deadline=None)
@given(failure_schedules())
def test_schedules_are_usable_by_flaky(schedule: str) -> None:
    """Every drawn schedule is a string of F, S and T at most 20 long that Flaky accepts."""
    assert set(schedule) <= set("FST")
    assert len(schedule) <= 20
    assert Flaky(schedule=schedule).calls == 0


@settings(max_examples=40, deadline=None)
@given(failure_schedules(alphabet="FS", min_size=3, max_size=5))
def test_schedules_respect_alphabet_and_sizes(schedule: str) -> None:
    """alphabet, min_size and max_size bound what is drawn."""
    assert set(schedule) <= {"F", "S"}
    assert 3 <= len(schedule) <= 5


def test_schedules_shrink_towards_fewer_failures() -> None:
    """The minimal schedule with two failures is exactly "FF", and length shrinks to S's."""
    assert find(failure_schedules(), lambda s: s.count("F") >= 2) == "FF"
    assert find(failure_schedules(), lambda s: len(s) >= 3) == "SSS"
    assert find(failure_schedules(), lambda s: "T" in s) == "T"
    assert find(failure_schedules(), lambda s: "F" in s or "T" in s) == "F"


def test_smallest_schedule_that_beats_a_retry_is_found() -> None:
    """Searching schedules finds the smallest one that makes retry(3) give up: "FFF"."""

    def defeats_retry(schedule: str) -> bool:
        try:
            retry(3, on=ConnectionError).call(Flaky(schedule=schedule))
        except CompoundException:
            return True
        return False

    assert find(failure_schedules(alphabet="FS"), defeats_retry) == "FFF"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"alphabet": ""}, ValueError, "'alphabet' must be a non-empty string of the letters"),
        ({"alphabet": "FX"}, ValueError, "(got 'FX' that is a <class 'str'>)"),
        ({"alphabet": 3}, TypeError, "'alphabet' must be <class 'str'>"),
        ({"min_size": -1}, ValueError, "'min_size' must be >= 0"),
        ({"min_size": 5, "max_size": 2}, ValueError, "'max_size' must be >= min_size=5 (got 2"),
    ],
)
def test_failure_schedules_validates(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    """Bad strategy arguments fail at once, naming the option and value."""
    with pytest.raises(error) as info:
        failure_schedules(**kwargs)  # type: ignore[arg-type]  # bad input on purpose
    assert message in str(info.value)


@settings(max_examples=40, deadline=None)
@given(flaky_dependencies(then="ok", exc=KeyError))
def test_flaky_dependencies_are_fresh_and_follow_their_schedule(dependency: Flaky[object]) -> None:
    """Each draw is a new Flaky with zeroed counters, raising exc on F and returning then on S."""
    assert dependency.calls == 0
    text = repr(dependency)
    schedule = text.split("schedule='", 1)[1].split("'", 1)[0]
    for letter in schedule + "S":
        if letter == "S":
            assert dependency() == "ok"
        else:
            with pytest.raises(KeyError if letter == "F" else TimeoutError):
                dependency()


@settings(max_examples=20, deadline=None)
@given(flaky_dependencies(st.just("FS"), then=1, asynchronous=True))
def test_flaky_dependencies_asynchronous(dependency: Flaky[object]) -> None:
    """asynchronous=True draws dependencies whose calls are awaited."""

    async def main() -> object:
        with pytest.raises(ConnectionError):
            await dependency()  # type: ignore[misc]  # Flaky[object] here is awaitable
        return await dependency()  # type: ignore[misc]  # as above

    assert asyncio.run(main()) == 1


def test_flaky_dependencies_validates() -> None:
    """Bad options to flaky_dependencies fail when the strategy is built."""
    with pytest.raises(TypeError, match="'schedules' must be"):
        flaky_dependencies("FFS")  # type: ignore[arg-type]  # bad input on purpose
    with pytest.raises(ValueError, match="'latency' must be >= 0"):
        flaky_dependencies(latency=-1)
    with pytest.raises(TypeError, match="'exc' must be an exception class or instance"):
        flaky_dependencies(exc="boom")  # type: ignore[arg-type]  # bad input on purpose


def test_importing_the_plugin_is_cheap() -> None:
    """import pytest_dyno and its plugin load no hypothesis, no dyno module and no asyncio."""
    code = (
        "import sys, pytest_dyno, pytest_dyno.plugin; "
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('hypothesis', 'dyno', 'asyncio'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert out == ""


def test_a_failing_property_reports_the_minimal_schedule(pytester: pytest.Pytester) -> None:
    """A falsified @given test shows the shrunk dependency: Flaky(schedule='FFF', then='ok')."""
    pytester.makepyfile(
        """
        from hypothesis import given, settings
        from dyno.retry import retry
        from pytest_dyno.strategies import failure_schedules, flaky_dependencies

        @settings(database=None, derandomize=True)
        @given(flaky_dependencies(failure_schedules(alphabet="FS"), then="ok"))
        def test_three_attempts_always_succeed(upstream):
            assert retry(3, on=ConnectionError).call(upstream) == "ok"

        @settings(database=None, derandomize=True)
        @given(failure_schedules())
        def test_at_most_one_failure(schedule):
            assert schedule.count("F") + schedule.count("T") < 2
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*test_three_attempts_always_succeed(",
            "*    upstream=Flaky(schedule='FFF', then='ok'),",
            "*test_at_most_one_failure(",
            "*    schedule='FF',",
        ]
    )


def test_flaky_dependencies_spell_only_the_options_given() -> None:
    """A draw's example shows the call rebuilding it, naming only non-default options."""
    shown = repr(flaky_dependencies(st.just("F"), exc=KeyError, latency=0.5))
    assert "schedule=just('F')" in shown
    assert "exc=just(KeyError)" in shown
    assert "latency=just(0.5)" in shown
    assert "then=" not in shown
    assert "asynchronous=" not in shown
