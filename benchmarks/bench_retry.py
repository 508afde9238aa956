"""dyno.retry against tenacity, stamina, backoff and a hand-written loop.

Three scenarios, each peer configured for 3 attempts and no wait:

* success at once (the hot path of every retried call);
* two ConnectionErrors, then success (the retry machinery itself);
* success at once, async (coroutines driven by ``send(None)``, no event loop).

stamina gets ``wait_initial=wait_max=wait_jitter=0`` and no retry hooks, backoff
``backoff.constant`` with ``interval=0`` and no logger; both still call their
sleep with 0, which is part of what they cost. dyno skips a zero wait entirely.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import backoff
import stamina
import tenacity

from benchmarks.runner import compare, format_table
from dyno.retry import retry

ATTEMPTS = 3


def succeed() -> int:
    return 1


async def asucceed() -> int:
    return 1


def two_failures() -> Callable[[], int]:
    """Return a function that fails twice, then succeeds, over and over."""
    calls = 0

    def connect() -> int:
        nonlocal calls
        calls += 1
        if calls % ATTEMPTS:
            raise ConnectionError("refused")
        return calls

    return connect


def by_hand(fn: Callable[[], int], on: type[Exception]) -> Callable[[], int]:
    def loop() -> int:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return fn()
            except on:
                if attempt == ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    return loop


def by_hand_async(
    fn: Callable[[], Coroutine[Any, Any, int]], on: type[Exception]
) -> Callable[[], Coroutine[Any, Any, int]]:
    async def loop() -> int:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await fn()
            except on:
                if attempt == ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    return loop


def peers(fn: Any, on: type[Exception]) -> dict[str, Callable[[], Any]]:
    return {
        "hand-written loop": by_hand_async(fn, on)
        if asyncio.iscoroutinefunction(fn)
        else by_hand(fn, on),
        "dyno.retry": retry(ATTEMPTS, on=on)(fn),
        "tenacity": tenacity.retry(
            stop=tenacity.stop_after_attempt(ATTEMPTS),
            retry=tenacity.retry_if_exception_type(on),
            reraise=True,
        )(fn),
        "stamina": stamina.retry(
            on=on, attempts=ATTEMPTS, wait_initial=0, wait_max=0, wait_jitter=0
        )(fn),
        "backoff": backoff.on_exception(
            backoff.constant, on, max_tries=ATTEMPTS, interval=0, jitter=None, logger=None
        )(fn),
    }


def drive(make: Callable[[], Coroutine[Any, Any, int]]) -> Callable[[], int]:
    """Run a coroutine that never suspends, without an event loop."""

    def run() -> int:
        coroutine = make()
        try:
            coroutine.send(None)
        except StopIteration as done:
            return int(done.value)
        raise AssertionError("the coroutine suspended")

    return run


def main() -> str:
    stamina.set_testing(False)
    stamina.instrumentation.set_on_retry_hooks([])  # no logging, as the others
    tables = []

    success = {"plain call (no retry)": succeed, **peers(succeed, Exception)}
    results = compare(success, "tenacity")
    tables.append(format_table("success at once (3 attempts allowed)", results, "tenacity"))

    failing = peers(two_failures(), ConnectionError)
    for fn in failing.values():
        assert fn() % ATTEMPTS == 0  # every case really fails twice and then succeeds
    results = compare(failing, "hand-written loop")
    tables.append(
        format_table("two ConnectionErrors, then success (no wait)", results, "hand-written loop")
    )

    async_cases = {name: drive(fn) for name, fn in peers(asucceed, Exception).items()}
    results = compare(async_cases, "tenacity")
    tables.append(format_table("async success at once", results, "tenacity"))
    return "\n\n".join(tables)


if __name__ == "__main__":
    print(main())
