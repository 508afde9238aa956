"""dyno.timing: PrettyTime, PerfTimer trees, marks, timed and the current timer."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import json
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dyno import timing as timing_module
from dyno.clock import FakeClock, use_clock
from dyno.timing import (
    Mark,
    PerfTimer,
    PrettyTime,
    ResourceUsage,
    Timed,
    TimingDict,
    current_timer,
    is_interval,
    is_mark,
    mark,
    timed,
    use_timer,
)

# -- PrettyTime ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (3, "3.0S"),
        (0.003, "3.0mS"),
        (3e-6, "3.0uS"),
        (3e-9, "3.0nS"),
        (0.0123, "12.3mS"),
        (1.0, "1.0S"),
        (0.001, "1.0mS"),
        (125.25, "125.2S"),
        (3600, "3600.0S"),
        (0.00099996, "1.0mS"),
        (0.0009999, "999.9uS"),
        (0.99996, "1.0S"),
        (0, "0.0S"),
        (-0.002, "-2.0mS"),
        (1e-12, "0.0nS"),
        (4e-10, "0.4nS"),
    ],
)
def test_pretty_time_format(seconds: float, text: str) -> None:
    """str(PrettyTime) is dyno 0.2's one-decimal S/mS/uS/nS format."""
    assert str(PrettyTime(seconds)) == text


def test_pretty_time_is_a_float() -> None:
    """PrettyTime computes as a float; f-strings use its format; repr shows the value."""
    value = PrettyTime(0.5)
    assert value == 0.5
    assert value + 1 == 1.5
    assert type(value + 1) is float
    assert f"{value}" == "500.0mS"
    assert f"{value:.2f}" == "0.50"
    assert repr(value) == "PrettyTime(0.5)"
    assert str(PrettyTime(float("inf"))) == "infS"


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=1e-9, max_value=1e4))
def test_pretty_time_round_trips_within_rounding(seconds: float) -> None:
    """The shown number is within rounding of the value, and in [1, 1000) for sub-second units."""
    text = str(PrettyTime(seconds))
    match = re.fullmatch(r"(\d+\.\d)(S|mS|uS|nS)", text)
    assert match is not None, text
    number = float(match.group(1))
    scale = {"S": 1.0, "mS": 1e3, "uS": 1e6, "nS": 1e9}[match.group(2)]
    assert abs(number - seconds * scale) <= 0.05 + 1e-9 * number
    assert number >= 1.0
    if match.group(2) != "S":
        assert number < 1000


# -- PerfTimer lifecycle -----------------------------------------------------------


def test_start_returns_timer_and_float_is_duration() -> None:
    """start() returns the timer; float() is 0 before start, so far while running, fixed after."""
    clock = FakeClock()
    timer = PerfTimer("t", "desc", clock=clock)
    assert (timer.name, timer.description) == ("t", "desc")
    assert float(timer) == 0.0
    states = [(timer.state, timer.running)]
    assert timer.start() is timer
    clock.advance(2)
    assert float(timer) == 2.0
    states.append((timer.state, timer.running))
    assert timer.stop() is timer
    clock.advance(5)
    assert float(timer) == 2.0
    assert timer.elapsed == 2.0
    assert isinstance(timer.elapsed, PrettyTime)
    states.append((timer.state, timer.running))
    assert states == [("pending", False), ("running", True), ("stopped", False)]
    assert (timer.start_time, timer.stop_time) == (0.0, 2.0)


def test_start_twice_raises() -> None:
    """Starting a running or stopped timer raises ValueError saying what to do."""
    timer = PerfTimer("db", clock=FakeClock()).start()
    with pytest.raises(ValueError) as info:
        timer.start()
    assert str(info.value) == (
        "Cannot start timer 'db': it was already started (it is running). "
        "Start each timer once; make a new one, e.g. parent('name'), instead."
    )
    timer.stop()
    with pytest.raises(ValueError, match=r"it was already started \(it is stopped\)"):
        timer.start()
    assert timer.start_time == 0.0


def test_stop_twice_or_before_start_raises() -> None:
    """Stopping a pending or stopped timer raises ValueError with a clear message."""
    timer = PerfTimer(clock=FakeClock())
    with pytest.raises(ValueError) as info:
        timer.stop()
    assert str(info.value) == "Cannot stop unnamed timer: it was never started. Call start() first."
    timer.start().stop()
    with pytest.raises(ValueError) as info:
        timer.stop()
    assert str(info.value) == (
        "Cannot stop unnamed timer: it was already stopped. Stop each timer once."
    )


def test_start_race_lets_exactly_one_win() -> None:
    """Eight threads starting one timer at once: exactly one succeeds."""
    for _ in range(20):
        timer = PerfTimer(clock=FakeClock())
        barrier = threading.Barrier(8, timeout=10)
        errors: list[ValueError] = []

        def start(
            timer: PerfTimer = timer,
            barrier: threading.Barrier = barrier,
            errors: list[ValueError] = errors,
        ) -> None:
            barrier.wait()
            try:
                timer.start()
            except ValueError as error:
                errors.append(error)

        threads = [threading.Thread(target=start) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert len(errors) == 7


def test_timer_reads_installed_clock_at_use() -> None:
    """A timer made before use_clock reads the clock installed later."""
    timer = PerfTimer("late")
    clock = FakeClock(10)
    with use_clock(clock):
        timer.start()
        clock.advance(3)
        timer.stop()
    assert float(timer) == 3.0
    assert timer.start_time == 10.0


# -- context manager and current timer ---------------------------------------------


def test_context_manager_is_current_and_resets() -> None:
    """Inside `with timer:` it runs and is current; after, it is stopped and the old one is back."""
    clock = FakeClock()
    assert current_timer() is None
    with PerfTimer("outer", clock=clock) as outer:
        assert current_timer() is outer
        assert outer.running
        with outer("inner") as inner:
            assert current_timer() is inner
            clock.advance(1)
        assert current_timer() is outer
        clock.advance(1)
    assert current_timer() is None
    assert (float(outer), float(inner)) == (2.0, 1.0)


def test_context_manager_stops_and_resets_on_error() -> None:
    """An exception in the block stops the timer, restores the current timer, and propagates."""
    clock = FakeClock()
    timer = PerfTimer(clock=clock)

    def fail() -> None:
        with timer:
            clock.advance(1)
            raise KeyError

    with pytest.raises(KeyError):
        fail()
    assert timer.state == "stopped"
    assert float(timer) == 1.0
    assert current_timer() is None


def test_context_manager_tolerates_manual_stop() -> None:
    """Stopping the timer inside its own block is fine; the exit does not stop it again."""
    clock = FakeClock()
    with PerfTimer(clock=clock) as timer:
        clock.advance(1)
        timer.stop()
        clock.advance(1)
    assert float(timer) == 1.0
    assert current_timer() is None


def test_exit_in_another_context_stops_without_error() -> None:
    """A timer entered in one context and exited in another (async teardown) stops cleanly."""
    clock = FakeClock()
    parent = PerfTimer("parent", clock=clock)
    timer = parent("child")
    with use_timer(parent):
        entered = contextvars.copy_context()
    assert entered.run(timer.__enter__) is timer
    inherited = entered.run(contextvars.copy_context)  # say a task made inside the block
    clock.advance(1)
    inherited.run(timer.__exit__, None, None, None)
    assert (timer.state, float(timer)) == ("stopped", 1.0)
    assert inherited.run(current_timer) is parent
    elsewhere = PerfTimer(clock=clock)
    contextvars.copy_context().run(elsewhere.__enter__)
    elsewhere.__exit__(None, None, None)  # it never became current here
    assert (elsewhere.state, current_timer()) == ("stopped", None)


def test_entering_a_started_timer_raises() -> None:
    """`with timer:` on a started timer raises ValueError and leaves the current timer alone."""
    timer = PerfTimer("busy", clock=FakeClock()).start()
    with pytest.raises(ValueError, match="Cannot start timer 'busy'"), timer:
        pass
    assert current_timer() is None


def test_async_context_manager() -> None:
    """`async with timer:` works like `with timer:`."""
    clock = FakeClock()

    async def main() -> PerfTimer:
        async with PerfTimer("aio", clock=clock) as timer:
            assert current_timer() is timer
            await clock.asleep(2)
        assert current_timer() is None
        return timer

    assert float(asyncio.run(main())) == 2.0


def test_use_timer_makes_current_without_starting() -> None:
    """use_timer(t) makes t current for the block without touching its state; None clears it."""
    timer = PerfTimer(clock=FakeClock())
    with use_timer(timer) as used:
        assert used is timer
        assert current_timer() is timer
        with use_timer(None):
            assert current_timer() is None
        assert current_timer() is timer
    assert current_timer() is None
    assert timer.state == "pending"


def test_use_timer_refuses_non_timers() -> None:
    """use_timer raises TypeError for anything but a PerfTimer or None."""
    bad: Any = "t"
    with pytest.raises(TypeError, match=r"'timer' must be one of <class 'dyno.timing.PerfTimer'>"):
        use_timer(bad).__enter__()


# -- the tree ------------------------------------------------------------------------


def test_calling_a_timer_makes_an_unstarted_child() -> None:
    """timer(name) returns a pending child with the parent's clock, listed in children."""
    clock = FakeClock()
    parent = PerfTimer("p", clock=clock)
    child = parent("c", "child work")
    assert child.parent is parent
    assert child.state == "pending"
    assert (child.name, child.description) == ("c", "child work")
    assert parent.children == (child,)
    child.start()
    clock.advance(4)
    child.stop()
    assert float(child) == 4.0


def test_mark_records_an_instant() -> None:
    """mark() records an instant with its offset from the parent's start; float is 0."""
    clock = FakeClock(100)
    timer = PerfTimer("t", clock=clock).start()
    clock.advance(0.25)
    event = timer.mark("cache-miss", "key=a")
    assert isinstance(event, Mark)
    assert (event.name, event.description, event.time, event.parent) == (
        "cache-miss",
        "key=a",
        100.25,
        timer,
    )
    assert event.offset == 0.25
    assert float(event) == 0.0
    assert timer.children == (event,)
    assert repr(event) == "<Mark name='cache-miss' offset=250.0mS>"
    assert repr(PerfTimer(clock=clock).mark()) == "<Mark name=None>"


def test_module_mark_uses_current_timer() -> None:
    """dyno.timing.mark records on the current timer, and is a no-op (None) without one."""
    assert mark("nothing") is None
    with PerfTimer(clock=FakeClock()) as timer:
        event = mark("here")
    assert event is not None
    assert timer.children == (event,)


def test_is_mark_and_is_interval() -> None:
    """is_mark and is_interval tell marks from timers, and say no to anything else."""
    timer = PerfTimer(clock=FakeClock())
    event = timer.mark("m")
    assert is_interval(timer)
    assert not is_mark(timer)
    assert is_mark(event)
    assert not is_interval(event)
    assert not is_mark("m")
    assert not is_interval(3.0)


def test_iteration_is_preorder_and_len_counts_it() -> None:
    """Iteration yields the timer then every descendant in pre-order; len matches."""
    timer = PerfTimer("root", clock=FakeClock())
    a = timer("a")
    a1 = a("a1")
    m = a.mark("m")
    a2 = a("a2")
    b = timer("b")
    b1 = b("b1")
    end = timer.mark("end")
    assert list(timer) == [timer, a, a1, m, a2, b, b1, end]
    assert len(timer) == 8
    assert len(b1) == 1
    assert list(a) == [a, a1, m, a2]
    assert bool(PerfTimer())


def _known_tree(clock: FakeClock) -> PerfTimer:
    with PerfTimer("request", clock=clock) as request:
        clock.advance(0.001)
        with request("auth"):
            clock.advance(0.001)
        with request("db", "users table") as db:
            clock.advance(0.002)
            with db("connect"):
                clock.advance(0.002)
            with db("query"):
                clock.advance(0.006)
        request.mark("cache-miss")
        with request("render"):
            clock.advance(0.0033)
        request("never")
        request("late").start()
        clock.advance(0.0005)
    return request


def test_render_known_tree_exactly() -> None:
    """str() renders names, nesting, durations, offsets, marks and states, aligned."""
    assert str(_known_tree(FakeClock())) == "\n".join(
        [
            "request            15.8mS    +0.0S",
            "├── auth            1.0mS   +1.0mS",
            "├── db             10.0mS   +2.0mS  users table",
            "│   ├── connect     2.0mS   +4.0mS",
            "│   └── query       6.0mS   +6.0mS",
            "├── * cache-miss           +12.0mS",
            "├── render          3.3mS  +12.0mS",
            "├── never               -        -  (not started)",
            "└── late          500.0uS  +15.3mS  (running)",
        ]
    )


def test_render_single_timer_and_unnamed() -> None:
    """A lone unnamed timer renders as one line; unnamed marks show (unnamed)."""
    clock = FakeClock()
    timer = PerfTimer(clock=clock).start()
    timer.mark()
    clock.advance(2)
    timer.stop()
    assert str(timer) == "(unnamed)        2.0S  +0.0S\n└── * (unnamed)        +0.0S"
    assert str(PerfTimer("idle")) == "idle  -  -  (not started)"


@pytest.fixture
def fake_usage(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, float]]:
    """Replace getrusage readings with a script of (user, system) pairs."""
    readings: list[tuple[float, float]] = []
    monkeypatch.setattr(timing_module, "_read_usage", lambda: readings.pop(0))
    return readings


def test_usage_is_cpu_delta(fake_usage: list[tuple[float, float]]) -> None:
    """usage is the user and system CPU time between start and stop (live while running)."""
    fake_usage.extend([(1.0, 0.5), (1.25, 0.75), (2.0, 1.0)])
    timer = PerfTimer(clock=FakeClock())
    usages = [timer.usage]
    timer.start()
    usages.append(timer.usage)
    timer.stop()
    usages.append(timer.usage)
    assert usages == [
        None,
        ResourceUsage(user=0.25, system=0.25),
        ResourceUsage(user=1.0, system=0.5),
    ]
    assert ResourceUsage(user=1.0, system=0.5).cpu == 1.5
    assert fake_usage == []


def test_usage_false_skips_readings(fake_usage: list[tuple[float, float]]) -> None:
    """usage=False reads no resource usage for the timer or its children."""
    with PerfTimer(clock=FakeClock(), usage=False) as timer, timer("child") as child:
        pass
    assert timer.usage is None
    assert child.usage is None
    assert timer.as_dict()["cpu"] is None


def test_real_usage_is_measured() -> None:
    """On this platform a stopped timer reports non-negative CPU seconds."""
    with PerfTimer() as timer:
        sum(range(10_000))
    usage = timer.usage
    assert usage is not None
    assert usage.user >= 0
    assert usage.system >= 0


def test_render_with_cpu_column(fake_usage: list[tuple[float, float]]) -> None:
    """render(cpu=True) adds each interval's CPU time as an aligned column."""
    fake_usage.extend([(0.0, 0.0), (0.0, 0.0), (0.001, 0.0), (0.002, 0.001)])
    clock = FakeClock()
    with PerfTimer("job", clock=clock) as job:
        with job("step"):
            clock.advance(1)
        job.mark("done")
    assert job.render(cpu=True) == "\n".join(
        [
            "job         1.0S  +0.0S  cpu 3.0mS",
            "├── step    1.0S  +0.0S  cpu 1.0mS",
            "└── * done        +1.0S",
        ]
    )


def test_as_dict_known_tree(fake_usage: list[tuple[float, float]]) -> None:
    """as_dict gives kind, name, description, start offset, duration, state, cpu and children."""
    fake_usage.extend([(0.0, 0.0), (0.0, 0.0), (0.5, 0.25), (1.0, 0.5)])
    clock = FakeClock(50)
    with PerfTimer("req", "GET /", clock=clock) as req:
        clock.advance(1)
        with req("db"):
            clock.advance(2)
        req.mark("sent", "200")
        req("unused")
    expected: TimingDict = {
        "kind": "interval",
        "name": "req",
        "description": "GET /",
        "start": 0.0,
        "duration": 3.0,
        "running": False,
        "cpu": {"user": 1.0, "system": 0.5},
        "children": [
            {
                "kind": "interval",
                "name": "db",
                "description": None,
                "start": 1.0,
                "duration": 2.0,
                "running": False,
                "cpu": {"user": 0.5, "system": 0.25},
                "children": [],
            },
            {
                "kind": "mark",
                "name": "sent",
                "description": "200",
                "start": 3.0,
                "duration": 0.0,
                "running": False,
                "cpu": None,
                "children": [],
            },
            {
                "kind": "interval",
                "name": "unused",
                "description": None,
                "start": None,
                "duration": None,
                "running": False,
                "cpu": None,
                "children": [],
            },
        ],
    }
    assert req.as_dict() == expected
    assert json.loads(json.dumps(req.as_dict())) == expected


def test_as_dict_of_unstarted_root_counts_from_earliest_event() -> None:
    """A root that never started measures offsets from the earliest time in its tree."""
    clock = FakeClock(10)
    root = PerfTimer("root", clock=clock, usage=False)
    clock.advance(1)
    first = root("first").start()
    clock.advance(1)
    root.mark("m")
    first.stop()
    data = root.as_dict()
    assert (data["start"], data["duration"], data["running"]) == (None, None, False)
    assert [child["start"] for child in data["children"]] == [0.0, 1.0]
    assert PerfTimer().as_dict()["children"] == []


def test_as_dict_of_running_timer() -> None:
    """A running interval reports its duration so far and running=True."""
    clock = FakeClock()
    root = PerfTimer("root", clock=clock, usage=False).start()
    clock.advance(1)
    child = root("child").start()
    clock.advance(2)
    data = root.as_dict()
    assert (data["duration"], data["running"]) == (3.0, True)
    assert data["children"][0]["start"] == 1.0
    assert data["children"][0]["duration"] == 2.0
    assert child.running


def test_mark_as_dict_is_relative_to_parent() -> None:
    """Mark.as_dict gives the mark's offset from its parent's start."""
    clock = FakeClock()
    timer = PerfTimer(clock=clock).start()
    clock.advance(2)
    assert timer.mark("m").as_dict()["start"] == 2.0
    assert PerfTimer(clock=clock).mark("n").as_dict()["start"] == 0.0


def test_reprs() -> None:
    """PerfTimer and Timed reprs show name, state, elapsed time and children."""
    clock = FakeClock()
    timer = PerfTimer("db", clock=clock)
    timer("c")
    assert repr(timer) == "<PerfTimer name='db' state='pending' elapsed=0.0S children=1>"
    timer.start()
    clock.advance(0.5)
    assert repr(timer) == "<PerfTimer name='db' state='running' elapsed=500.0mS children=1>"
    assert repr(timed("x")) == "<Timed name='x'>"


# Typed Any so the type checker lets the bad input through on purpose.
_3: Any = 3
_YES: Any = "yes"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: PerfTimer(_3), r"'name' must be one of <class 'str'>, <class 'NoneType'> \(got 3"),
        (lambda: PerfTimer("n", _3), r"'description' must be one of <class 'str'>"),
        (lambda: PerfTimer(clock=_3), r"'clock' must implement dyno.clock.Clock \(now, wall, "),
        (lambda: PerfTimer(usage=_YES), r"'usage' must be <class 'bool'> \(got 'yes'"),
        (lambda: PerfTimer()(_3), r"'name' must be one of <class 'str'>"),
        (lambda: PerfTimer().mark(_3), r"'name' must be one of <class 'str'>"),
        (lambda: timed(_3), r"'name' must be a string or None, or timed must decorate a function"),
        (lambda: Timed(description=_3), r"'description' must be one of <class 'str'>"),
        (lambda: Timed()(_3), r"'fn' must be callable \(got 3"),
    ],
)
def test_bad_input(make: object, message: str) -> None:
    """Bad options raise TypeError naming the option and the value."""
    assert callable(make)
    with pytest.raises(TypeError, match=message):
        make()


# -- timed -------------------------------------------------------------------------


def test_timed_without_timer_calls_straight_through() -> None:
    """With no current timer, a timed function just runs, positional and keyword."""

    @timed("add")
    def add(a: int, b: int = 1) -> int:
        return a + b

    assert add(1) == 2
    assert add(1, b=5) == 6
    with timed("block") as child:
        assert child is None
        assert current_timer() is None


def test_timed_records_child_intervals_that_nest() -> None:
    """Under a timer, each timed call is a child; timed calls inside it nest under it."""
    clock = FakeClock()

    @timed("inner")
    def inner() -> str:
        clock.advance(1)
        return "done"

    @timed("outer")
    def outer() -> str:
        clock.advance(1)
        return inner()

    with PerfTimer("root", clock=clock) as root:
        assert outer() == "done"
        with timed("block", description="a with block") as block:
            assert block is not None
            assert current_timer() is block
            inner()
        assert current_timer() is root
    names = [(event.name, float(event)) for event in root]
    assert names == [("root", 3.0), ("outer", 2.0), ("inner", 1.0), ("block", 1.0), ("inner", 1.0)]
    assert block.description == "a with block"
    assert all(event.state == "stopped" for event in root if isinstance(event, PerfTimer))


def test_timed_bare_uses_qualified_name_and_keeps_metadata() -> None:
    """@timed names the interval after the function's qualified name and keeps its metadata."""

    @timed
    def work() -> None:
        """Doc."""

    with PerfTimer(clock=FakeClock()) as root:
        work()
    assert root.children[0].name == work.__qualname__
    assert work.__name__ == "work"
    assert work.__doc__ == "Doc."


def _every_kind(
    a: int, b: int = 2, /, c: object = None, *args: int, d: int, e: int = 5, **kw: int
) -> tuple[object, ...]:
    return (a, b, c, args, d, e, kw)


def test_timed_keeps_every_parameter_kind() -> None:
    """A timed function accepts exactly what the function does and passes the same objects on."""
    wrapped = timed("every")(_every_kind)
    assert inspect.signature(wrapped) == inspect.signature(_every_kind)
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        ((1,), {"d": 4}),
        ((1, 3, [7], 5, 6), {"d": 1, "e": 2, "z": 3}),
        ((1,), {"b": 9, "d": 0}),
    ]
    with PerfTimer(clock=FakeClock()) as root:
        for args, kwargs in calls:
            assert wrapped(*args, **kwargs) == _every_kind(*args, **kwargs)
    for args, kwargs in calls:
        assert wrapped(*args, **kwargs) == _every_kind(*args, **kwargs)
    assert len(root.children) == 3
    with pytest.raises(TypeError, match=r"missing 1 required positional argument: 'a'"):
        wrapped()  # type: ignore[call-arg]  # a wrong call on purpose
    with pytest.raises(TypeError, match=r"missing 1 required keyword-only argument: 'd'"):
        wrapped(1)  # type: ignore[call-arg]  # a wrong call on purpose


@settings(max_examples=150, deadline=None)
@given(
    args=st.lists(st.integers(), max_size=5),
    kwargs=st.dictionaries(st.sampled_from("abcdez"), st.integers(), max_size=4),
    with_timer=st.booleans(),
)
def test_timed_call_behaves_like_the_function(
    args: list[int], kwargs: dict[str, int], with_timer: bool
) -> None:
    """Any call of a timed function returns, or fails with the same TypeError, as the function."""
    wrapped = timed("every")(_every_kind)

    def outcome(fn: Callable[..., object]) -> object:
        try:
            return fn(*args, **kwargs)
        except TypeError as error:
            return ("TypeError", str(error))

    with use_timer(PerfTimer(clock=FakeClock(), usage=False) if with_timer else None):
        assert outcome(wrapped) == outcome(_every_kind)


def test_timed_passes_default_objects_through() -> None:
    """An omitted argument reaches the function as its own default object (sentinels work)."""
    missing = object()
    seen: list[object] = []

    @timed("sentinel")
    def check(value: object = missing) -> None:
        seen.append(value)

    check()
    with PerfTimer(clock=FakeClock()):
        check()
    assert seen == [missing, missing]


def test_timed_falls_back_for_other_callables() -> None:
    """Callable objects, partials, reserved parameter names and __signature__ still work."""

    class Adder:
        def __call__(self, a: int, b: int = 1) -> int:
            return a + b

    def reserved(_dyno_fn: int, parent: int = 0) -> int:
        return _dyno_fn + parent

    def custom(*args: int) -> int:
        return sum(args)

    custom.__signature__ = inspect.Signature()  # type: ignore[attr-defined]  # declared on purpose
    clock = FakeClock()
    cases: list[tuple[Callable[..., int], tuple[int, ...], dict[str, int], int]] = [
        (Adder(), (1,), {"b": 2}, 3),
        (functools.partial(lambda a, b: a * b, 3), (4,), {}, 12),
        (reserved, (1,), {"parent": 2}, 3),
        (custom, (1, 2, 3), {}, 6),
    ]
    with PerfTimer(clock=clock) as root:
        for fn, args, kwargs, expected in cases:
            wrapped = timed("x")(fn)
            assert wrapped(*args, **kwargs) == expected
    for fn, args, kwargs, expected in cases:
        assert timed("x")(fn)(*args, **kwargs) == expected
    assert len(root.children) == 4


def test_timed_method() -> None:
    """A timed method binds self and records its interval."""

    class Repo:
        @timed("load")
        def load(self, key: str) -> str:
            return key.upper()

    with PerfTimer(clock=FakeClock()) as root:
        assert Repo().load("k") == "K"
    assert [child.name for child in root.children] == ["load"]


def test_timed_static_and_class_methods() -> None:
    """@staticmethod/@classmethod above @timed work; below it they are refused with advice."""

    class Repo:
        @staticmethod
        @timed("check")
        def check(x: int) -> int:
            return x

        @classmethod
        @timed
        def make(cls) -> str:
            return cls.__name__

    with PerfTimer(clock=FakeClock()) as root:
        assert (Repo.check(1), Repo().check(2), Repo.make()) == (1, 2, "Repo")
    assert [child.name for child in root.children] == ["check", "check", Repo.make.__qualname__]

    def helper(x: object) -> int:
        return 0

    methods: list[Any] = [staticmethod(helper), classmethod(helper)]
    for method in methods:
        kind = type(method).__name__
        message = (
            f"Cannot apply @timed to {method!r}: it is a {kind} object, not a function. "
            f"Put @{kind} above @timed instead."
        )
        for decorate in (timed, timed("x")):
            with pytest.raises(TypeError) as info:
                decorate(method)
            assert str(info.value) == message


def test_timed_stops_child_and_propagates_errors() -> None:
    """An exception inside a timed call stops its interval and passes through unchanged."""
    clock = FakeClock()
    error = ValueError("bad")

    @timed("fails")
    def fails() -> None:
        clock.advance(1)
        raise error

    with PerfTimer(clock=clock) as root:
        with pytest.raises(ValueError) as info:
            fails()
        assert current_timer() is root
        with pytest.raises(KeyboardInterrupt), timed("interrupted"):
            raise KeyboardInterrupt
        assert current_timer() is root
    assert info.value is error
    assert [(c.name, c.state) for c in root.children if isinstance(c, PerfTimer)] == [
        ("fails", "stopped"),
        ("interrupted", "stopped"),
    ]


def test_shared_timed_object_nests_with_itself() -> None:
    """One Timed object used in nested with blocks records nested children and restores each."""
    section = timed("section")
    with PerfTimer(clock=FakeClock()) as root:
        with section as outer:
            with section as inner:
                assert current_timer() is inner
            assert current_timer() is outer
        assert current_timer() is root
    assert outer is not None
    assert inner is not None
    assert inner.parent is outer
    assert outer.parent is root


def test_timed_refuses_generator_functions() -> None:
    """Generator functions raise TypeError pointing at `with timed(...)`."""

    def gen() -> Iterator[int]:
        yield 1

    async def agen() -> object:
        yield 1

    for fn in (gen, agen):
        with pytest.raises(TypeError, match=r"Cannot time generator function .* Use `with timed"):
            timed("g")(fn)


def test_timed_async_function() -> None:
    """An async timed function gets an async wrapper recording its interval when awaited."""
    clock = FakeClock()

    @timed("fetch")
    async def fetch(x: int) -> int:
        await clock.asleep(2)
        return x * 2

    async def main() -> PerfTimer:
        assert await fetch(1) == 2
        async with PerfTimer("root", clock=clock) as root:
            assert await fetch(2) == 4
            async with timed("block") as block:
                assert current_timer() is block
        return root

    assert asyncio.iscoroutinefunction(fetch)
    root = asyncio.run(main())
    assert [(event.name, float(event)) for event in root] == [
        ("root", 2.0),
        ("fetch", 2.0),
        ("block", 0.0),
    ]


def test_asyncio_tasks_keep_separate_trees() -> None:
    """Concurrent tasks, each with its own root, record only their own intervals."""
    clock = FakeClock()

    @timed("step")
    async def step(tag: str) -> None:
        await clock.asleep(1)
        mark(tag)

    async def request(tag: str) -> PerfTimer:
        with PerfTimer(tag, clock=clock) as root:
            for _ in range(3):
                await step(tag)
        return root

    async def main() -> list[PerfTimer]:
        return list(await asyncio.gather(*(request(f"r{i}") for i in range(5))))

    for root in asyncio.run(main()):
        assert [event.name for event in root] == [root.name] + ["step", root.name] * 3
        assert len(root.children) == 3


def test_tasks_under_one_root_are_siblings() -> None:
    """Tasks started under one timer add their intervals beside each other, never inside."""
    clock = FakeClock()

    @timed("call")
    async def call() -> None:
        await clock.asleep(1)

    async def main() -> PerfTimer:
        with PerfTimer("root", clock=clock) as root:
            await asyncio.gather(call(), call(), call())
        return root

    root = asyncio.run(main())
    assert [child.name for child in root.children] == ["call"] * 3
    assert all(not child.children for child in root.children if isinstance(child, PerfTimer))


def test_threads_keep_separate_trees() -> None:
    """Each thread's timed calls go under its own root; a new thread starts with no timer."""
    clock = FakeClock()
    barrier = threading.Barrier(4, timeout=10)
    roots: dict[int, PerfTimer] = {}
    seen_at_start: list[PerfTimer | None] = []

    @timed("work")
    def work() -> None:
        clock.advance(1)

    def run(index: int) -> None:
        seen_at_start.append(current_timer())
        with PerfTimer(f"t{index}", clock=clock) as root:
            barrier.wait()
            for _ in range(100):
                work()
        roots[index] = root

    with PerfTimer("main", clock=clock) as main_root:
        threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert seen_at_start == [None] * 4
    assert main_root.children == ()
    assert sorted(roots) == [0, 1, 2, 3]
    for root in roots.values():
        assert len(root) == 101
        assert {child.name for child in root.children} == {"work"}


def test_use_timer_shares_a_root_with_worker_threads() -> None:
    """use_timer hands a running root to workers; all 8 x 50 intervals land under it."""
    clock = FakeClock()
    barrier = threading.Barrier(8, timeout=10)

    @timed("job")
    def job() -> None:
        pass

    def worker(root: PerfTimer) -> None:
        with use_timer(root):
            barrier.wait()
            for _ in range(50):
                job()

    with PerfTimer("root", clock=clock) as root:
        threads = [threading.Thread(target=worker, args=(root,)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert len(root.children) == 400


# Trees as nested lists of (name, seconds spent before the children, children).
_names = st.text(alphabet="abcxyz", min_size=1, max_size=4)
_trees = st.recursive(
    st.tuples(_names, st.integers(0, 5), st.just(())),
    lambda children: st.tuples(_names, st.integers(0, 5), st.lists(children, max_size=3)),
    max_leaves=12,
)


def _run(tree: tuple[str, int, object], clock: FakeClock) -> None:
    name, seconds, children = tree
    with timed(name):
        clock.advance(seconds)
        assert isinstance(children, (list, tuple))
        for child in children:
            _run(child, clock)


def _shape(tree: tuple[str, int, object]) -> tuple[str, int, list[Any]]:
    name, seconds, children = tree
    assert isinstance(children, (list, tuple))
    shapes = [_shape(child) for child in children]
    total = seconds + sum(int(shape[1]) for shape in shapes)
    return (name, total, shapes)


def _recorded(data: TimingDict) -> tuple[str | None, int, list[Any]]:
    assert data["duration"] is not None
    return (data["name"], round(data["duration"]), [_recorded(c) for c in data["children"]])


@settings(max_examples=60, deadline=None)
@given(_trees)
def test_timed_tree_mirrors_the_call_tree(tree: tuple[str, int, object]) -> None:
    """Any nesting of timed blocks records the same tree, each duration the sum of its parts."""
    clock = FakeClock()
    with PerfTimer("root", clock=clock, usage=False) as root:
        _run(tree, clock)
    data = root.as_dict()
    assert [_recorded(child) for child in data["children"]] == [_shape(tree)]
    assert current_timer() is None
    assert json.loads(json.dumps(data)) == data


def test_dunder_all_is_the_public_surface() -> None:
    """__all__ names exactly the module's public classes and functions."""
    public = {
        name
        for name, value in vars(timing_module).items()
        if not name.startswith("_")
        and getattr(value, "__module__", None) == timing_module.__name__
        and (inspect.isclass(value) or inspect.isfunction(value))
    }
    assert set(timing_module.__all__) == public
    assert len(timing_module.__all__) == len(public)
