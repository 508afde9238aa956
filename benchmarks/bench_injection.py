"""dyno.injection: per-call overhead, and wall-clock time of parallel construction.

No peer dependency-injection library is installed, so the overhead table
compares ``@inject`` with building the dependency by hand in the caller. The
second table is the point of ``parallel=True``: five factories that each block
for 0.2 s (a real ``time.sleep``, standing in for a slow connection), built
one after another and then concurrently.
"""

from __future__ import annotations

import asyncio
import time

from benchmarks.runner import Result, compare, format_table
from dyno.injection import INJECTED, inject

BLOCK_SECONDS = 0.2


def make_db() -> str:
    return "db"


def make_cache(target: object, name: str) -> str:
    return name


def handler(request: int, db: str = INJECTED) -> int:
    return request


injected_one = inject(db=make_db)(handler)


@inject(db=make_db, cache=make_cache)
def injected_two(request: int, db: str = INJECTED, cache: str = INJECTED) -> int:
    return request


@inject(db=make_db, cache=make_cache, parallel=True)
def injected_two_parallel(request: int, db: str = INJECTED, cache: str = INJECTED) -> int:
    return request


@inject(db=make_db)
async def async_handler(request: int, db: str = INJECTED) -> int:
    return request


async def plain_async_handler(request: int, db: str) -> int:
    return request


def blocking() -> None:
    time.sleep(BLOCK_SECONDS)  # benchmarks only: real time is what is measured here


FIVE = dict.fromkeys(("a", "b", "c", "d", "e"), blocking)


def five(a: None = INJECTED, b: None = INJECTED, c: None = INJECTED, d: None = INJECTED,
         e: None = INJECTED) -> None:  # fmt: skip
    return None


sequential_five = inject(**FIVE)(five)
parallel_five = inject(**FIVE, parallel=True)(five)


def overhead() -> str:
    loop = asyncio.new_event_loop()
    try:
        cases = {
            "by hand: handler(1, db=make_db())": lambda: handler(1, db=make_db()),
            "@inject(db=...)": lambda: injected_one(1),
            "@inject(db=...) caller passes db": lambda: injected_one(1, db="mine"),
            "@inject(db=..., cache=...)": lambda: injected_two(1),
            "@inject(2 deps, parallel=True)": lambda: injected_two_parallel(1),
        }
        baseline = "by hand: handler(1, db=make_db())"
        sync = format_table(
            "inject per-call overhead, sync", compare(cases, baseline, rounds=9), baseline
        )
        async_cases = {
            "by hand: await f(1, db=make_db())": lambda: loop.run_until_complete(
                plain_async_handler(1, db=make_db())
            ),
            "@inject async": lambda: loop.run_until_complete(async_handler(1)),
        }
        async_baseline = "by hand: await f(1, db=make_db())"
        results = compare(async_cases, async_baseline, rounds=9)
        asynchronous = format_table(
            "inject per-call overhead, async (one run_until_complete each)",
            results,
            async_baseline,
        )
    finally:
        loop.close()
    return f"{sync}\n\n{asynchronous}"


def wall_clock() -> str:
    cases = {
        "sequential (5 x 0.2 s)": sequential_five,
        "parallel=True (5 x 0.2 s)": parallel_five,
    }
    baseline = "sequential (5 x 0.2 s)"
    # One call takes 0.2-1.0 s, so the runner's calibration settles on one call per round.
    results: list[Result] = compare(cases, baseline, rounds=3, target_ms=1.0)
    table = format_table("five 0.2 s factories: one call's construction time", results, baseline)
    seconds = ", ".join(f"{r.name}: {r.ns_per_call / 1e9:.3f} s" for r in results)
    return f"{table}\n\nWall clock per call: {seconds}."


def main() -> str:
    return f"{overhead()}\n\n{wall_clock()}"


if __name__ == "__main__":
    print(main())
