"""pytest_dyno fixtures, run inside pytester sessions (in-process: no marker registration here)."""

from __future__ import annotations

import asyncio

import pytest

from dyno.clock import FakeClock, SystemClock, get_clock
from dyno.retry import CompoundException, retry
from pytest_dyno import FlakyFactory

# -- dyno_clock ------------------------------------------------------------------


def test_dyno_clock_installs_a_fake_clock_and_restores(pytester: pytest.Pytester) -> None:
    """dyno_clock is a FakeClock installed process-wide for the test, gone afterwards."""
    pytester.makepyfile(
        """
        from dyno.clock import FakeClock, SystemClock, get_clock

        def test_fake(dyno_clock):
            assert isinstance(dyno_clock, FakeClock)
            assert get_clock() is dyno_clock
            get_clock().sleep(3)
            assert dyno_clock.now() == 3

        def test_after():
            assert isinstance(get_clock(), SystemClock)
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_dyno_clock_fixture_directly(dyno_clock: FakeClock) -> None:
    """The fixture works in this very suite: time moves only when told."""
    assert get_clock() is dyno_clock
    dyno_clock.advance(2)
    assert get_clock().now() == 2


def test_clock_is_back_after_the_fixture() -> None:
    """Outside dyno_clock the system clock is installed (the previous test restored it)."""
    assert isinstance(get_clock(), SystemClock)


# -- dyno_registry ----------------------------------------------------------------


def test_dyno_registry_undoes_adds_replacements_and_removals(pytester: pytest.Pytester) -> None:
    """Every change a test makes to the default registry is undone at teardown."""
    pytester.makeconftest(
        """
        from dyno.registry import default

        default["kept"] = "original"
        default["removed"] = "still here"
        """
    )
    pytester.makepyfile(
        """
        from dyno.registry import default

        def test_change(dyno_registry):
            assert dyno_registry is default
            dyno_registry["kept"] = "replaced"
            dyno_registry["added"] = 1
            del dyno_registry["removed"]

        def test_fails_after_changing(dyno_registry):
            dyno_registry["added"] = 2
            raise RuntimeError("teardown must still restore")

        def test_then_everything_is_back():
            assert default["kept"] == "original"
            assert default["removed"] == "still here"
            assert "added" not in default
        """
    )
    try:
        result = pytester.runpytest("-p", "no:randomly")
    finally:
        from dyno.registry import default

        default.pop("kept", None)
        default.pop("removed", None)
    result.assert_outcomes(passed=2, failed=1)


# -- flaky ------------------------------------------------------------------------------

_FLAKY_TESTS = """
    def sequence(dependency):
        out = ""
        for _ in range(40):
            try:
                dependency()
                out += "S"
            except ConnectionError:
                out += "F"
        return out

    def test_one(flaky):
        print("\\nONE", sequence(flaky(rate=0.5)), sequence(flaky(rate=0.5)))

    def test_two(flaky):
        print("\\nTWO", sequence(flaky(rate=0.5)))
"""


def _sequences(result: pytest.RunResult) -> dict[str, list[str]]:
    found = {}
    for line in result.outlines:
        for name in ("ONE", "TWO"):
            if line.startswith(name + " "):
                found[name] = line.split()[1:]
    return found


def test_flaky_rate_is_seeded_from_the_node_id(pytester: pytest.Pytester) -> None:
    """Reruns replay the same failures; different tests and dependencies get different ones."""
    pytester.makepyfile(test_seq=_FLAKY_TESTS)
    first = _sequences(pytester.runpytest("-s", "-p", "no:randomly"))
    second = _sequences(pytester.runpytest("-s", "-p", "no:randomly"))
    assert first == second
    assert first["ONE"][0] != first["ONE"][1]
    assert first["ONE"][0] != first["TWO"][0]
    assert "F" in first["ONE"][0]
    assert "S" in first["ONE"][0]


def test_flaky_follows_pytest_randomly_seed(pytester: pytest.Pytester) -> None:
    """With pytest-randomly's seed (config option randomly_seed), the sequence depends on it."""
    # pytest-randomly is not installed here: a conftest provides its option the same way.
    pytester.makeconftest(
        """
        def pytest_addoption(parser):
            parser.addoption("--randomly-seed", dest="randomly_seed", type=int, default=None)
        """
    )
    pytester.makepyfile(test_seq=_FLAKY_TESTS)
    plain = _sequences(pytester.runpytest("-s"))
    seed_1 = _sequences(pytester.runpytest("-s", "--randomly-seed=1"))
    seed_1_again = _sequences(pytester.runpytest("-s", "--randomly-seed=1"))
    seed_2 = _sequences(pytester.runpytest("-s", "--randomly-seed=2"))
    assert seed_1 == seed_1_again
    assert seed_1 != seed_2
    assert plain != seed_1


def test_flaky_fixture_is_a_factory(flaky: FlakyFactory) -> None:
    """flaky(...) makes Flaky objects: fail-N-then-succeed, script and callable then."""
    assert isinstance(flaky, FlakyFactory)
    dependency = flaky(fails=1, then=lambda user: f"hello {user}")
    with pytest.raises(ConnectionError):
        dependency("ada")
    assert dependency("ada") == "hello ada"
    scripted = flaky(schedule="TS", then=5)
    with pytest.raises(TimeoutError):
        scripted()
    assert scripted() == 5
    assert flaky.made == [dependency, scripted]


def test_flaky_with_retry_raises_a_compound_connection_error(flaky: FlakyFactory) -> None:
    """flaky + retry: when every attempt fails the error is a ConnectionError holding them all."""
    dependency = flaky(fails=5)
    with pytest.raises(ConnectionError) as info:
        retry(3, on=ConnectionError).call(dependency)
    error = info.value
    assert isinstance(error, CompoundException)
    assert len(error) == 3
    assert [str(attempt) for attempt in error.exceptions] == [
        "simulated failure on call 1",
        "simulated failure on call 2",
        "simulated failure on call 3",
    ]
    assert all(type(attempt) is ConnectionError for attempt in error.exceptions)
    assert error.__cause__ is error.exceptions[-1]
    assert dependency.calls == 3
    # Two more failures are scheduled; the next retry outlasts them.
    assert retry(3, on=ConnectionError).call(dependency) is None
    assert (dependency.calls, dependency.failures, dependency.successes) == (6, 5, 1)


def test_async_flaky_with_retry_raises_a_compound_connection_error(flaky: FlakyFactory) -> None:
    """Awaited: an asynchronous flaky + retry raise a ConnectionError holding every attempt."""
    dependency = flaky(fails=5, asynchronous=True)
    with pytest.raises(ConnectionError) as info:
        asyncio.run(retry(3, on=ConnectionError).call(dependency))
    error = info.value
    assert isinstance(error, CompoundException)
    assert [str(attempt) for attempt in error.exceptions] == [
        f"simulated failure on call {number}" for number in (1, 2, 3)
    ]
    assert (dependency.calls, dependency.failures) == (3, 3)


# -- dyno_harness -----------------------------------------------------------------------


def test_dyno_harness_hears_every_thread_and_asserts(pytester: pytest.Pytester) -> None:
    """dyno_harness collects reports from any thread; assert_raised matches subclasses, counts."""
    pytester.makepyfile(
        """
        import threading

        import pytest
        from dyno.harness import harness

        @harness(name="db")
        def query():
            raise ConnectionResetError("reset")

        def run_in_thread():
            def target():
                try:
                    query()
                except ConnectionError:
                    pass
            thread = threading.Thread(target=target)
            thread.start()
            thread.join(timeout=10)

        def test_records(dyno_harness):
            run_in_thread()
            with pytest.raises(ValueError), harness():
                raise ValueError("in a block")
            assert [type(e) for e in dyno_harness.exceptions] == [ConnectionResetError, ValueError]
            first = dyno_harness.records[0]
            assert (first.harness, first.function) == ("db", "query")
            assert dyno_harness.assert_raised(ConnectionError, count=1)[0].args == ("reset",)
            dyno_harness.assert_raised(OSError)
            dyno_harness.assert_raised((KeyError, ValueError), count=1)
            dyno_harness.clear()
            assert dyno_harness.records == []
            dyno_harness.assert_raised(ValueError, count=0)

        def test_missing(dyno_harness):
            dyno_harness.assert_raised(KeyError)

        def test_wrong_count(dyno_harness):
            run_in_thread()
            run_in_thread()
            dyno_harness.assert_raised(ConnectionError, count=1)

        def test_nothing_left_over(dyno_harness):
            assert len(dyno_harness) == 0
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: expected a harness to report KeyError, but none did; "
            "nothing was reported",
            "E       AssertionError: expected harnesses to report ConnectionError exactly 1 time, "
            "but they did 2 times; reported: [ConnectionResetError('reset'), "
            "ConnectionResetError('reset')]",
        ]
    )


# -- dyno_timing ---------------------------------------------------------------------


def test_dyno_timing_is_the_running_root_timer(pytester: pytest.Pytester) -> None:
    """dyno_timing is the test's root PerfTimer: running in the call phase, timed() attaches."""
    pytester.makepyfile(
        """
        from dyno.timing import PerfTimer, current_timer, timed

        def test_root(dyno_timing, dyno_clock):
            assert isinstance(dyno_timing, PerfTimer)
            assert dyno_timing.running
            assert current_timer() is dyno_timing
            with timed("db"):
                dyno_clock.sleep(0.25)
            assert [child.name for child in dyno_timing.children] == ["db"]
            assert dyno_timing.name == "test_root"

        def test_budget_kept(dyno_timing, dyno_clock):
            with dyno_timing.budget(1.0):
                dyno_clock.sleep(1.0)
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_dyno_timing_budget_fails_with_the_tree(pytester: pytest.Pytester) -> None:
    """A block over its dyno_timing.budget fails the test, printing where the time went."""
    pytester.makepyfile(
        """
        from dyno.timing import timed

        def test_over(dyno_timing, dyno_clock):
            with dyno_timing.budget(0.5, name="checkout"):
                with timed("db"):
                    dyno_clock.sleep(0.25)
                with timed("payment"):
                    dyno_clock.sleep(0.5)
            raise AssertionError("not reached")
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       pytest_dyno.timing.BudgetExceeded: budget block 'checkout' took 750.0mS, "
            "over its budget of 500.0mS by 250.0mS (dyno clock). Where the time went:",
            "E       checkout     750.0mS     +0.0S",
            "E       ├── db       250.0mS     +0.0S",
            "E       └── payment  500.0mS  +250.0mS",
        ]
    )
    result.stdout.no_fnmatch_line("*not reached*")
