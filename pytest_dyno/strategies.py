"""Hypothesis strategies for failure schedules and flaky dependencies.

Property tests search fault sequences with these: which mix of failures and
timeouts makes the code under test give up, lose an error or count wrongly?
Draws shrink towards fewer failures, so a falsifying example is the
smallest schedule that still fails.

Only this module of ``pytest_dyno`` imports hypothesis.
"""

from __future__ import annotations

from hypothesis import strategies as st

from dyno.utils import check_int, check_type, describe
from pytest_dyno.flaky import SCHEDULE_LETTERS, Flaky

__all__ = ["failure_schedules", "flaky_dependencies"]

# Hypothesis shrinks sampled_from towards its first element, and lists towards
# shorter ones: S first makes a falsifying schedule shrink to fewer failures.
_SHRINK_ORDER = "SFT"

# Flaky's defaults for the options flaky_dependencies passes on.
_DEFAULTS: dict[str, object] = {
    "exc": ConnectionError,
    "then": None,
    "latency": None,
    "asynchronous": False,
}


def failure_schedules(
    alphabet: str = SCHEDULE_LETTERS, min_size: int = 0, max_size: int = 20
) -> st.SearchStrategy[str]:
    """Return a strategy drawing schedules for ``Flaky(schedule=...)``.

    Args:
        alphabet: The letters to draw from, a non-empty subset of ``"FST"``.
        min_size: The shortest schedule.
        max_size: The longest schedule.

    Returns:
        Strings of *alphabet* letters, shrinking towards short schedules of
        successes (``S``), then failures (``F``), then timeouts (``T``).

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: *alphabet* is empty or has letters other than F, S and T,
            or the sizes are negative or inverted.
    """
    check_type("alphabet", alphabet, str)
    if not alphabet or set(alphabet) - set(SCHEDULE_LETTERS):
        raise ValueError(
            "'alphabet' must be a non-empty string of the letters F, S and T "
            f"(got {describe(alphabet)})"
        )
    min_size = check_int("min_size", min_size, low=0)
    max_size = check_int("max_size", max_size, low=0)
    if max_size < min_size:
        raise ValueError(f"'max_size' must be >= min_size={min_size} (got {describe(max_size)})")
    letters = [letter for letter in _SHRINK_ORDER if letter in alphabet]
    return st.lists(st.sampled_from(letters), min_size=min_size, max_size=max_size).map("".join)


def flaky_dependencies(
    schedules: st.SearchStrategy[str] | None = None,
    *,
    exc: type[BaseException] | BaseException = ConnectionError,
    then: object = None,
    latency: float | None = None,
    asynchronous: bool = False,
) -> st.SearchStrategy[Flaky[object]]:
    """Return a strategy drawing fresh :class:`~pytest_dyno.Flaky` dependencies.

    Each draw is a new object with zeroed counters that follows a drawn
    schedule. Hypothesis shows a falsifying draw as the call that rebuilds
    it, e.g. ``Flaky(schedule='FFF', then='ok')``: only the options given
    here are spelled out.

    Args:
        schedules: Strategy for the schedules; :func:`failure_schedules` by default.
        exc: What ``F`` steps raise (class or instance), as for ``Flaky``.
        then: The result of ``S`` steps (or a callable making it), as for ``Flaky``.
        latency: Seconds each call sleeps through the dyno clock.
        asynchronous: Draw dependencies whose calls return awaitables.

    Raises:
        TypeError: *schedules* is not a strategy, or an option has the wrong type.
        ValueError: An option is out of range.
    """
    if schedules is None:
        schedules = failure_schedules()
    check_type("schedules", schedules, st.SearchStrategy)
    options: dict[str, object] = {
        "exc": exc,
        "then": then,
        "latency": latency,
        "asynchronous": asynchronous,
    }
    # Build one up front so bad options fail here, not inside the test.
    Flaky(**options)  # type: ignore[call-overload]  # the options are Flaky's own keywords
    # Only the options that differ from Flaky's defaults, so a falsifying example reads short.
    given = {
        name: st.just(value) for name, value in options.items() if value is not _DEFAULTS[name]
    }
    drawn: st.SearchStrategy[Flaky[object]] = st.builds(Flaky, schedule=schedules, **given)
    return drawn
