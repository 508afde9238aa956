"""pytest_dyno markers (dyno_breaker, dyno_budget), the dyno_breakers fixture and registration."""

from __future__ import annotations

import pytest

from dyno.breaker import CircuitBreaker
from pytest_dyno import BreakerControl, forced_breakers
from pytest_dyno.plugin import _TimingReport

# Subprocess runs pay for interpreter start-up; hypothesis' plugin adds a second.
FAST = ("-p", "no:hypothesispytest", "-p", "no:cacheprovider")


# -- registration and entry point (subprocess: the real plugin loading) -------------


def test_entry_point_loads_plugin_and_markers_pass_strict_markers(
    pytester: pytest.Pytester,
) -> None:
    """Installed, the plugin loads by entry point; its markers pass --strict-markers."""
    pytester.makepyfile(
        """
        import pytest
        from dyno.breaker import breakers, CircuitBreaker

        db = CircuitBreaker("strict-db")

        @pytest.mark.dyno_breaker("strict-db", "open")
        @pytest.mark.dyno_budget(60)
        def test_marked(dyno_clock, dyno_registry, dyno_harness, dyno_breakers, flaky,
                        dyno_timing):
            assert db.state == "forced_open"
        """
    )
    result = pytester.runpytest_subprocess("--strict-markers", *FAST)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["plugins:*dyno-resilience*"])


def test_markers_are_listed_and_no_flaky_marker(pytester: pytest.Pytester) -> None:
    """pytest --markers documents dyno_breaker and dyno_budget, and registers no `flaky` marker."""
    result = pytester.runpytest_subprocess("--markers", *FAST)
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.dyno_breaker(name, state): force the dyno breaker called `name`*",
            "@pytest.mark.dyno_budget(seconds): fail the test when its call phase takes longer*",
        ]
    )
    result.stdout.no_fnmatch_line("@pytest.mark.flaky*")


def test_disabled_with_no_dyno(pytester: pytest.Pytester) -> None:
    """-p no:dyno removes fixtures and markers: strict markers then reject dyno_budget."""
    pytester.makepyfile(
        """
        import pytest

        def test_fixture(dyno_clock):
            pass

        @pytest.mark.dyno_budget(1)
        def test_marker():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:dyno", "--strict-markers", *FAST)
    result.stdout.fnmatch_lines(["*'dyno_budget' not found in `markers` configuration option*"])


def test_flaky_marker_stays_unclaimed(pytester: pytest.Pytester) -> None:
    """The plugin leaves the `flaky` marker to pytest-rerunfailures: strict mode rejects it."""
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.flaky
        def test_marker():
            pass
        """
    )
    result = pytester.runpytest_subprocess("--strict-markers", *FAST)
    result.stdout.fnmatch_lines(["*'flaky' not found in `markers` configuration option*"])


def test_help_lists_the_dyno_option_group(pytester: pytest.Pytester) -> None:
    """--help shows the dyno group with its options and ini settings."""
    result = pytester.runpytest_subprocess("--help", *FAST)
    result.stdout.fnmatch_lines(
        [
            "dyno: failure-path testing:",
            "  --dyno-timing*",
            "  --dyno-timing-top=N*",
            "  --dyno-timing-json=PATH*",
        ]
    )
    result.stdout.fnmatch_lines(
        ["  dyno_timing (bool):*", "  dyno_timing_top (int):*", "  dyno_timing_json (string):*"]
    )


def test_hook_wrappers_are_new_style_and_state_is_stashed(pytestconfig: pytest.Config) -> None:
    """The plugin's hook wrappers use wrapper=True, and it sets no attribute on the Config."""
    manager = pytestconfig.pluginmanager
    plugin = manager.get_plugin("dyno")
    assert plugin is not None, "this suite runs with the plugin loaded by its entry point"
    ours = [
        impl
        for caller in manager.get_hookcallers(plugin) or []
        for impl in caller.get_hookimpls()
        if impl.plugin is plugin
    ]
    wrappers = sorted(impl.function.__name__ for impl in ours if impl.wrapper)
    assert wrappers == ["pytest_runtest_call", "pytest_runtest_teardown"]
    assert not [impl for impl in ours if impl.hookwrapper]
    assert not [name for name in vars(pytestconfig) if "dyno" in name.lower()]
    # The timing report's wrapper is registered only under --dyno-timing: read its marking.
    options = vars(_TimingReport.pytest_runtest_makereport)["pytest_impl"]
    assert (options["wrapper"], options["hookwrapper"]) == (True, False)


# -- dyno_breaker ------------------------------------------------------------------------


def test_dyno_breaker_forces_for_the_test_only(pytester: pytest.Pytester) -> None:
    """dyno_breaker forces named breakers during the test (several allowed), then releases."""
    pytester.makepyfile(
        """
        import pytest
        from dyno.breaker import Broken, CircuitBreaker

        payments = CircuitBreaker("m-payments")

        @pytest.fixture
        def state_in_setup():
            return payments.state

        @pytest.mark.dyno_breaker("m-payments", "open")
        @pytest.mark.dyno_breaker("m-search", "closed")
        def test_forced(state_in_setup):
            assert state_in_setup == "forced_open"
            assert payments.state == "forced_open"
            with pytest.raises(Broken):
                payments.call(lambda: 1)
            made_later = CircuitBreaker("m-search")
            assert made_later.state == "forced_closed"

        def test_released():
            assert payments.state == "closed"
            assert payments.call(lambda: 1) == 1

        @pytest.mark.dyno_breaker("m-payments", "open")
        class TestClass:
            @pytest.mark.dyno_breaker(name="m-payments", state="closed")
            def test_closest_marker_wins(self):
                assert payments.state == "forced_closed"

            def test_class_marker(self):
                assert payments.state == "forced_open"

        def test_released_again():
            assert payments.state == "closed"
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=5)


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        (
            "'db', 'half'",
            "'state' must be one of 'open', 'closed' (got 'half' that is a <class 'str'>)",
        ),
        ("3, 'open'", "'name' must be <class 'str'> (got 3 that is a <class 'int'>)"),
        ("'db'", "missing a required argument: 'state'"),
        ("'db', 'open', 'closed'", "too many positional arguments"),
        ("'db', 'open', mode=1", "got an unexpected keyword argument 'mode'"),
    ],
)
def test_dyno_breaker_bad_arguments_error_naming_the_value(
    pytester: pytest.Pytester, arguments: str, problem: str
) -> None:
    """A bad dyno_breaker marker errors the test at setup with a message naming the value."""
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.dyno_breaker({arguments})
        def test_bad():
            raise AssertionError("must not run")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"Cannot apply @pytest.mark.dyno_breaker({arguments}): {problem}. Use "
            '@pytest.mark.dyno_breaker("name", "open") or '
            '@pytest.mark.dyno_breaker("name", "closed") instead.'
        ]
    )
    result.stdout.no_fnmatch_line("*must not run*")


def test_forcing_is_released_after_failures_and_errors(pytester: pytest.Pytester) -> None:
    """Markers and dyno_breakers release their forcing when the test fails or errors in setup."""
    pytester.makepyfile(
        """
        import pytest
        from dyno.breaker import CircuitBreaker

        db = CircuitBreaker("r-db")

        @pytest.mark.dyno_breaker("r-db", "open")
        def test_marker_then_fail():
            raise RuntimeError("boom")

        def test_fixture_then_fail(dyno_breakers):
            dyno_breakers.force_closed("r-db")
            raise RuntimeError("boom")

        @pytest.fixture
        def broken():
            raise RuntimeError("setup breaks")

        @pytest.mark.dyno_breaker("r-db", "open")
        def test_setup_error(broken):
            pass

        # The closest marker is applied last: r-db is forced before r-cache's error.
        @pytest.mark.dyno_breaker("r-db", "open")
        @pytest.mark.dyno_breaker("r-cache", "half")
        def test_bad_marker_after_a_good_one():
            pass

        def test_all_released():
            assert db.state == "closed"
            assert CircuitBreaker("r-cache").state == "closed"
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=2, errors=2)


# -- dyno_breakers fixture and forced_breakers ------------------------------------------


def test_dyno_breakers_fixture(pytester: pytest.Pytester) -> None:
    """force_open/force_closed/state work on live and later breakers; all released after."""
    pytester.makepyfile(
        """
        import pytest
        from dyno.breaker import CircuitBreaker

        inventory = CircuitBreaker("f-inventory")

        def test_force(dyno_breakers):
            dyno_breakers.force_open("f-inventory")
            assert dyno_breakers.state("f-inventory") == "forced_open"
            dyno_breakers.force_closed("f-later")
            later = CircuitBreaker("f-later")
            assert dyno_breakers.state("f-later") == "forced_closed"
            assert later.state == "forced_closed"
            dyno_breakers.force_closed("f-inventory")
            assert inventory.state == "forced_closed"
            assert dyno_breakers.forced == [
                ("f-inventory", "open"), ("f-later", "closed"), ("f-inventory", "closed")
            ]

        def test_back_to_normal(dyno_breakers):
            assert dyno_breakers.state("f-inventory") == "closed"
            assert dyno_breakers.forced == []

        def test_unknown_name(dyno_breakers):
            with pytest.raises(LookupError, match="no breaker has that name"):
                dyno_breakers.state("f-nobody")
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=3)


def test_forced_breakers_outside_fixtures() -> None:
    """forced_breakers() is the fixture as a context manager; it restores earlier forcing."""
    breaker = CircuitBreaker("outside-fixture")
    breaker.force_closed()
    try:
        with forced_breakers() as control:
            assert isinstance(control, BreakerControl)
            control.force_open("outside-fixture")
            assert control.state("outside-fixture") == "forced_open"
            assert repr(control) == "<BreakerControl forced=[outside-fixture=open]>"
        assert breaker.state == "forced_closed"
    finally:
        breaker.release()
    assert breaker.state == "closed"
    with pytest.raises(TypeError, match="'name' must be <class 'str'>"):
        BreakerControl().force_open(3)  # type: ignore[arg-type]  # bad input on purpose


# -- dyno_budget -----------------------------------------------------------------------


def test_dyno_budget_fails_slow_tests_showing_the_tree(pytester: pytest.Pytester) -> None:
    """dyno_budget fails a test whose call phase exceeds it, printing its timing tree."""
    pytester.makepyfile(
        """
        import pytest
        from dyno.timing import timed

        @pytest.mark.dyno_budget(1.5)
        def test_slow(dyno_clock):
            with timed("fetch"):
                dyno_clock.sleep(1)
                with timed("parse"):
                    dyno_clock.sleep(0.5)
            dyno_clock.sleep(0.25)

        @pytest.mark.dyno_budget(seconds=2)
        def test_fast(dyno_clock):
            dyno_clock.sleep(2)

        @pytest.mark.dyno_budget(0.5)
        def test_failing_keeps_its_own_error(dyno_clock):
            dyno_clock.sleep(1)
            raise KeyError("own error")
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ test_slow _*",
            "the call phase (@pytest.mark.dyno_budget(1.5)) took 1.8S, over its budget of 1.5S "
            "by 250.0mS (dyno clock). Where the time went:",
            "test_slow         1.8S  +0.0S",
            "└── fetch         1.5S  +0.0S",
            "    └── parse  500.0mS  +1.0S",
            "*_ test_failing_keeps_its_own_error _*",
            "E       KeyError: 'own error'",
        ]
    )


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ("-1", "'seconds' must be >= 0 (got -1 that is a <class 'int'>)"),
        (
            "'1s'",
            "'seconds' must be a real number (int or float) (got '1s' that is a <class 'str'>)",
        ),
        ("", "missing a required argument: 'seconds'"),
    ],
)
def test_dyno_budget_bad_arguments_error_naming_the_value(
    pytester: pytest.Pytester, arguments: str, problem: str
) -> None:
    """A bad dyno_budget marker errors the test at setup, naming the value."""
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.dyno_budget({arguments})
        def test_bad():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"Cannot apply @pytest.mark.dyno_budget({arguments}): {problem}. "
            "Use @pytest.mark.dyno_budget(seconds) with a number of seconds >= 0 instead."
        ]
    )
