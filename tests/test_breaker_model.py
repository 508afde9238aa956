"""dyno.breaker.CircuitBreaker against a plain model of the spec's rules (hypothesis stateful)."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
)

from dyno.breaker import Broken, CircuitBreaker, Ticket
from dyno.clock import FakeClock


class Interrupt(BaseException):
    """A BaseException that is not an Exception, like KeyboardInterrupt."""


KINDS = ("success", "failure", "excluded", "interrupt")
DURATIONS = st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0, 3.0])


@dataclass
class Token:
    """What the model knows about one admitted call."""

    generation: int
    probe: bool
    counted: bool  # False for calls let through by force_closed while not closed
    started: float


@dataclass
class Model:
    """The spec's rules, written as directly as possible."""

    failure_ratio: float
    volume: int
    width: float
    buckets: int
    reset_timeout: float
    probes: int
    consecutive: int | None
    slow_call: float | None
    now: float = 0.0
    state: str = "closed"
    forced: str | None = None
    generation: int = 0  # bumps on every state change; older calls are ignored
    records: list[tuple[float, bool, bool]] = field(default_factory=list)
    streak: int = 0
    opened_at: float = 0.0
    last_probe_at: float = 0.0
    probes_out: int = 0
    probes_ok: int = 0

    def window(self) -> list[tuple[float, bool, bool]]:
        current = math.floor(self.now / self.width)
        return [r for r in self.records if current - math.floor(r[0] / self.width) < self.buckets]

    def visible(self) -> str:
        return {"open": "forced_open", "closed": "forced_closed"}.get(self.forced or "", self.state)

    def admit(self) -> Token | float | None:
        """Return a token, or the retry_after of the Broken the call gets."""
        if self.forced == "open":
            return None
        if self.state == "closed":
            return Token(self.generation, False, True, self.now)
        if self.forced == "closed":
            return Token(self.generation, False, False, self.now)
        if self.state == "open":
            wait = self.opened_at + self.reset_timeout - self.now
            if wait > 0:
                return wait
            self.state = "half_open"
            self.generation += 1
            self.probes_out = self.probes_ok = 0
        if self.probes_out + self.probes_ok >= self.probes:
            wait = self.last_probe_at + self.reset_timeout - self.now
            if wait > 0:
                return wait
            self.generation += 1  # the outstanding probes are written off
            self.probes_out = 0
        self.probes_out += 1
        self.last_probe_at = self.now
        return Token(self.generation, True, True, self.now)

    def settle(self, token: Token, kind: str) -> None:
        if token.generation != self.generation or not token.counted:
            return
        slow = self.slow_call is not None and self.now - token.started > self.slow_call
        failed = kind == "failure" or slow
        if token.probe:
            if self.state != "half_open":
                return
            self.probes_out -= 1
            if kind == "interrupt":
                return
            if failed:
                self.trip()
            else:
                self.probes_ok += 1
                if self.probes_ok >= self.probes:
                    self.close()
            return
        if self.state != "closed" or kind == "interrupt":
            return
        self.records.append((self.now, failed, failed and slow))
        self.streak = self.streak + 1 if failed else 0
        window = self.window()
        failures = sum(1 for r in window if r[1])
        if (self.consecutive is not None and self.streak >= self.consecutive) or (
            len(window) >= self.volume and failures / len(window) >= self.failure_ratio
        ):
            self.trip()

    def trip(self) -> None:
        self.state = "open"
        self.generation += 1
        self.opened_at = self.now
        self.probes_out = self.probes_ok = 0

    def close(self) -> None:
        self.state = "closed"
        self.generation += 1
        self.records.clear()
        self.streak = 0
        self.probes_out = self.probes_ok = 0

    def retry_after(self) -> float | None:
        visible = self.visible()
        if visible == "open":
            return max(0.0, self.opened_at + self.reset_timeout - self.now)
        if visible == "half_open" and self.probes_out + self.probes_ok >= self.probes:
            return max(0.0, self.last_probe_at + self.reset_timeout - self.now)
        return None


class BreakerMachine(RuleBasedStateMachine):
    """Drive a breaker and the model with the same steps; they must agree."""

    held = Bundle("held")

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.model: Model
        self.breaker: CircuitBreaker

    @initialize(
        failure_ratio=st.sampled_from([0.25, 0.5, 0.3, 1.0]),
        volume=st.integers(1, 5),
        shape=st.sampled_from([(2.0, 1), (4.0, 4), (8.0, 4), (3.0, 2)]),
        reset_timeout=st.sampled_from([0.0, 0.5, 1.0, 3.0]),
        probes=st.integers(1, 3),
        consecutive=st.none() | st.integers(1, 4),
        slow_call=st.none() | st.sampled_from([0.5, 1.0, 2.0]),
    )
    def setup(
        self,
        failure_ratio: float,
        volume: int,
        shape: tuple[float, int],
        reset_timeout: float,
        probes: int,
        consecutive: int | None,
        slow_call: float | None,
    ) -> None:
        window, buckets = shape
        self.breaker = CircuitBreaker(
            failure_ratio=failure_ratio,
            volume=volume,
            window=window,
            buckets=buckets,
            reset_timeout=reset_timeout,
            probes=probes,
            consecutive=consecutive,
            slow_call=slow_call,
            exclude=LookupError,
            clock=self.clock,
        )
        self.model = Model(
            failure_ratio=failure_ratio,
            volume=volume,
            width=window / buckets,
            buckets=buckets,
            reset_timeout=reset_timeout,
            probes=probes,
            consecutive=consecutive,
            slow_call=slow_call,
        )

    def body(self, kind: str, duration: float) -> str:
        self.clock.advance(duration)
        if kind == "failure":
            raise RuntimeError("dependency down")
        if kind == "excluded":
            raise KeyError("caller's fault")
        if kind == "interrupt":
            raise Interrupt
        return "ok"

    @rule(
        kind=st.sampled_from(KINDS),
        duration=DURATIONS,
        driver=st.sampled_from(["decorator", "call", "with", "async"]),
    )
    def call(self, kind: str, duration: float, driver: str) -> None:
        """One complete call through a driver; the model predicts admission and outcome."""
        expected = self.model.admit()
        raised: BaseException | None = None
        result: object = None
        try:
            if driver == "decorator":
                result = self.breaker(self.body)(kind, duration)
            elif driver == "call":
                result = self.breaker.call(self.body, kind, duration)
            elif driver == "with":
                with self.breaker:
                    result = self.body(kind, duration)
            else:

                async def body() -> str:
                    return self.body(kind, duration)

                result = asyncio.run(self.breaker(body)())
        except BaseException as exc:
            raised = exc
        if not isinstance(expected, Token):
            assert isinstance(raised, Broken)
            assert raised.retry_after == expected
            return
        assert not isinstance(raised, Broken)
        if kind == "success":
            assert result == "ok"
        else:
            assert raised is not None
        self.model.now = self.clock.now()
        self.model.settle(expected, kind)

    @rule(target=held)
    def hold(self) -> tuple[Ticket, Token] | None:
        """Take a ticket with the engine API and keep it (a call in flight, or hung)."""
        expected = self.model.admit()
        if not isinstance(expected, Token):
            with pytest.raises(Broken) as info:
                self.breaker.acquire()
            assert info.value.retry_after == expected
            return None
        ticket = self.breaker.acquire()
        assert ticket.probe == expected.probe
        assert ticket.started == self.clock.now()
        return ticket, expected

    @rule(held=consumes(held), kind=st.sampled_from(KINDS))
    def settle(self, held: tuple[Ticket, Token] | None, kind: str) -> None:
        """Settle a held ticket with the engine API, possibly long after it was taken."""
        if held is None:
            return
        ticket, token = held
        if kind == "success":
            self.breaker.record_success(ticket)
        elif kind == "interrupt":
            self.breaker.release_ticket(ticket)
        else:
            error = RuntimeError() if kind == "failure" else KeyError()
            self.breaker.record_failure(ticket, error)
        self.model.settle(token, kind)

    @rule(seconds=st.sampled_from([0.25, 0.5, 1.0, 2.0, 5.0]))
    def advance(self, seconds: float) -> None:
        """Time passes."""
        self.clock.advance(seconds)
        self.model.now = self.clock.now()

    @rule(how=st.sampled_from(["force_open", "force_closed", "release", "trigger", "reset"]))
    def control(self, how: str) -> None:
        """Force, release or reset the breaker by hand (reset also closes, emptying the window)."""
        getattr(self.breaker, how)()
        self.model.forced = {"force_open": "open", "trigger": "open", "force_closed": "closed"}.get(
            how
        )
        if how == "reset":
            self.model.close()

    @invariant()
    def agrees(self) -> None:
        if not hasattr(self, "model"):
            return
        snapshot = self.breaker.snapshot()
        window = self.model.window()
        assert snapshot.state == self.model.visible()
        assert snapshot.calls == len(window)
        assert snapshot.failures == sum(1 for r in window if r[1])
        assert snapshot.slow_calls == sum(1 for r in window if r[2])
        assert snapshot.consecutive_failures == self.model.streak
        expected_out = self.model.probes_out if self.model.state == "half_open" else 0
        assert snapshot.probes_in_flight == expected_out
        assert snapshot.retry_after == self.model.retry_after()


BreakerMachine.TestCase.settings = settings(
    max_examples=400,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestBreakerModel = BreakerMachine.TestCase
TestBreakerModel.__doc__ = "The breaker and the model agree on every step of random runs."


@pytest.mark.parametrize("driver", ["decorator", "with"])
def test_model_catches_a_known_trip(driver: str) -> None:
    """The model and breaker both open after volume failures (sanity check of the harness)."""
    machine = BreakerMachine()
    machine.setup(
        failure_ratio=0.5,
        volume=2,
        shape=(2.0, 1),
        reset_timeout=1.0,
        probes=1,
        consecutive=None,
        slow_call=None,
    )
    machine.call("failure", 0.0, driver)
    machine.call("failure", 0.0, driver)
    machine.agrees()
    assert machine.breaker.state == "open"
    machine.call("success", 0.0, driver)  # rejected: both predict Broken
    machine.advance(1.0)
    machine.call("success", 0.0, driver)
    machine.agrees()
    assert machine.breaker.state == "closed"


def test_model_writes_off_a_hung_probe() -> None:
    """Both write off a probe silent for reset_timeout and ignore its late success."""
    machine = BreakerMachine()
    machine.setup(
        failure_ratio=0.5,
        volume=1,
        shape=(2.0, 1),
        reset_timeout=0.5,
        probes=1,
        consecutive=None,
        slow_call=None,
    )
    machine.call("failure", 0.0, "call")
    machine.advance(0.5)
    hung = machine.hold()
    assert hung is not None
    assert machine.hold() is None  # the slot is taken
    machine.advance(0.5)
    fresh = machine.hold()
    assert fresh is not None
    machine.settle(hung, "success")
    machine.agrees()
    assert machine.breaker.state == "half_open"
    machine.settle(fresh, "success")
    machine.agrees()
    assert machine.breaker.state == "closed"
