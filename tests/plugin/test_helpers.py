"""The fixtures' plain context managers, for hypothesis @given tests and other frameworks."""

from __future__ import annotations

import contextlib
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dyno.breaker import Broken, CircuitBreaker
from dyno.clock import FakeClock, SystemClock, get_clock, use_clock
from dyno.harness import harness
from dyno.registry import Registry, default
from dyno.timing import PerfTimer, current_timer, timed
from pytest_dyno import (
    Budget,
    BudgetExceeded,
    Flaky,
    HarnessCapture,
    RootTimer,
    budget,
    capture_harness,
    forced_breakers,
    isolated_registry,
)
from pytest_dyno.strategies import failure_schedules

# -- isolated_registry ----------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    st.dictionaries(st.sampled_from("abcdef"), st.integers(), max_size=4),
    st.lists(st.sampled_from("abcdef"), max_size=4),
)
def test_isolated_registry_restores_exactly(sets: dict[str, int], deletes: list[str]) -> None:
    """Whatever a block sets or deletes, the registry afterwards holds exactly what it held."""
    registry = Registry()
    registry["a"] = "kept"
    registry["b"] = "also kept"
    before = dict(registry.items())
    with isolated_registry(registry) as inside:
        assert inside is registry
        for key, value in sets.items():
            inside[key] = value
        for key in deletes:
            inside.pop(key, None)
    assert dict(registry.items()) == before


def test_isolated_registry_defaults_to_the_default_registry_and_survives_errors() -> None:
    """Without an argument it protects dyno.registry.default, also when the block raises."""

    def change_then_fail() -> None:
        with isolated_registry() as registry:
            assert registry is default
            registry["helpers-temp"] = 1
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        change_then_fail()
    assert "helpers-temp" not in default


def test_isolated_registry_refuses_non_registries() -> None:
    """A non-Registry argument raises TypeError naming it."""
    refused = isolated_registry({})  # type: ignore[arg-type]  # bad input on purpose
    with pytest.raises(TypeError, match=r"'registry' must be <class 'dyno\.registry\.Registry'>"):
        refused.__enter__()


# -- capture_harness -----------------------------------------------------------------


@harness(name="helper")
def _fail(exc: Exception) -> None:
    raise exc


@settings(max_examples=20, deadline=None)
@given(st.lists(st.sampled_from([KeyError, ValueError, ConnectionError]), max_size=6))
def test_capture_harness_in_a_given_test(kinds: list[type[Exception]]) -> None:
    """capture_harness works where fixtures cannot: it sees exactly what was reported."""
    with capture_harness() as seen:
        for kind in kinds:
            with pytest.raises(kind):
                _fail(kind("x"))
    assert [type(error) for error in seen.exceptions] == kinds
    for kind in set(kinds):
        seen.assert_raised(kind, count=kinds.count(kind))


def test_capture_stops_listening_on_exit() -> None:
    """After the block, reports are no longer captured, and the records stay readable."""
    with capture_harness() as seen, pytest.raises(KeyError):
        _fail(KeyError("in"))
    with pytest.raises(KeyError):
        _fail(KeyError("out"))
    assert [error.args for error in seen.exceptions] == [("in",)]
    assert repr(seen) == "<HarnessCapture stopped records=1>"


def test_capture_start_twice_is_an_error() -> None:
    """start() on an active capture raises; stop() twice is harmless."""
    capture = HarnessCapture().start()
    try:
        with pytest.raises(RuntimeError, match="Cannot start a HarnessCapture twice"):
            capture.start()
        assert repr(capture) == "<HarnessCapture listening records=0>"
    finally:
        capture.stop()
    capture.stop()


def test_capture_counts_exactly_across_threads() -> None:
    """Reports from many threads at once are all recorded."""
    barrier = threading.Barrier(4, timeout=10)

    def worker() -> None:
        barrier.wait()
        for _ in range(25):
            with contextlib.suppress(ValueError):
                _fail(ValueError("t"))

    with capture_harness() as seen:
        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
    seen.assert_raised(ValueError, count=100)


def test_assert_raised_validates_its_arguments() -> None:
    """assert_raised refuses non-exception types and negative counts."""
    seen = HarnessCapture()
    with pytest.raises(TypeError, match="'exc_type' must be an exception class"):
        seen.assert_raised("KeyError")  # type: ignore[arg-type]  # bad input on purpose
    with pytest.raises(ValueError, match="'count' must be >= 0"):
        seen.assert_raised(KeyError, count=-1)


def test_assert_raised_lists_at_most_ten_reports() -> None:
    """A failure message with many reports shows ten and counts the rest."""
    with capture_harness() as seen:
        for number in range(12):
            with pytest.raises(ValueError):
                _fail(ValueError(number))
    with pytest.raises(AssertionError) as info:
        seen.assert_raised(KeyError)
    assert str(info.value).endswith("ValueError(9), ... (2 more)]")


# -- budget ------------------------------------------------------------------------------


def test_budget_kept_and_exceeded() -> None:
    """budget() passes within the budget and raises BudgetExceeded with the tree beyond it."""
    clock = FakeClock()
    with use_clock(clock):
        with budget(1.0, name="fits"):
            clock.sleep(1.0)
        with (
            pytest.raises(BudgetExceeded) as info,
            budget(0.5, name="work") as timer,
            timed("step"),
        ):
            clock.sleep(0.75)
    error = info.value
    assert isinstance(error, AssertionError)
    assert error.timer is timer
    assert (error.budget, error.elapsed) == (0.5, 0.75)
    assert str(error) == (
        "budget block 'work' took 750.0mS, over its budget of 500.0mS by 250.0mS (dyno clock). "
        "Where the time went:\n"
        "work      750.0mS  +0.0S\n"
        "└── step  750.0mS  +0.0S"
    )


def test_budget_nests_under_the_current_timer() -> None:
    """Inside a running timer, the budget block's timer becomes one of its children."""
    clock = FakeClock()
    with use_clock(clock), PerfTimer("request") as request:
        with budget(1, name="phase") as phase:
            assert current_timer() is phase
        assert current_timer() is request
    assert [child.name for child in request.children] == ["phase"]


def test_budget_does_not_mask_the_blocks_own_error() -> None:
    """A block that raises keeps its exception even when it also ran over budget."""
    clock = FakeClock()

    def slow_and_failing() -> None:
        with budget(0):
            clock.sleep(1)
            raise KeyError("own")

    with use_clock(clock), pytest.raises(KeyError):
        slow_and_failing()


def test_root_timer_budget_hangs_under_the_root() -> None:
    """RootTimer.budget times a block as a child of the root (or of the current timer)."""
    clock = FakeClock()
    root = RootTimer("test_x", clock=clock)
    with root, root.budget(2, name="block"):
        clock.sleep(1)
    assert [child.name for child in root.children] == ["block"]
    assert float(root) == 1.0


def test_budget_validates_and_reprs() -> None:
    """Bad budgets fail at construction naming the value; the repr shows name and seconds."""
    with pytest.raises(ValueError, match=r"'seconds' must be >= 0 \(got -1"):
        budget(-1)
    with pytest.raises(TypeError, match="'name' must be <class 'str'>"):
        Budget(1, name=3)  # type: ignore[arg-type]  # bad input on purpose
    assert repr(budget(0.25, name="db")) == "<Budget name='db' seconds=250.0mS>"


# -- every helper together, where fixtures cannot go -------------------------------------

_GIVEN_BREAKER = CircuitBreaker("helpers-given-db")


@settings(max_examples=25, deadline=None)
@given(failure_schedules(alphabet="FS", max_size=6))
def test_plain_helpers_replace_every_fixture_in_a_given_test(schedule: str) -> None:
    """Each example gets a fresh fake clock, forcing, registry, capture and budget; all undone."""
    with (
        use_clock(FakeClock()) as clock,
        forced_breakers() as control,
        isolated_registry() as registry,
        capture_harness() as seen,
        budget(0.25 * len(schedule) + 0.25, name="example"),
    ):
        registry["helpers-given-upstream"] = upstream = Flaky(
            schedule=schedule, then="ok", latency=0.25
        )
        control.force_open("helpers-given-db")
        with pytest.raises(Broken):
            _GIVEN_BREAKER.call(upstream)
        assert upstream.calls == 0
        for _ in schedule + "S":
            with contextlib.suppress(ConnectionError), harness(name="upstream"):
                upstream()
        seen.assert_raised(ConnectionError, count=schedule.count("F"))
        assert clock.now() == 0.25 * (len(schedule) + 1)
    assert _GIVEN_BREAKER.state == "closed"
    assert "helpers-given-upstream" not in default
    assert isinstance(get_clock(), SystemClock)
