"""A tiny side-by-side benchmark runner: ns per call and ratios, in one process.

Absolute times on shared machines are noise; ratios measured in the same
process, with the cases interleaved round after round, are what we report.
Each case is a zero-argument callable doing one operation. The runner
calibrates a loop count per case, then runs ``rounds`` rounds, each timing
every case once (in a rotating order), and keeps each case's best round.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["Result", "compare", "format_table"]


@dataclass(frozen=True, slots=True)
class Result:
    """One case's best time per call, and its ratio to the baseline."""

    name: str
    ns_per_call: float
    ratio: float


def _time_loop(fn: Callable[[], object], loops: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(loops):
        fn()
    return (time.perf_counter_ns() - start) / loops


def _calibrate(fn: Callable[[], object], target_ns: float) -> int:
    loops = 1
    while True:
        start = time.perf_counter_ns()
        for _ in range(loops):
            fn()
        elapsed = time.perf_counter_ns() - start
        if elapsed >= target_ns / 4 or loops >= 10_000_000:
            return max(1, int(loops * target_ns / max(elapsed, 1)))
        loops *= 4


def compare(
    cases: Mapping[str, Callable[[], object]],
    baseline: str,
    *,
    rounds: int = 15,
    target_ms: float = 20.0,
) -> list[Result]:
    """Time every case side by side and return results with ratios to *baseline*."""
    if baseline not in cases:
        raise ValueError(f"'baseline' must be one of the cases (got {baseline!r})")
    names = list(cases)
    loops = {name: _calibrate(cases[name], target_ms * 1e6) for name in names}
    best = {name: float("inf") for name in names}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for index in range(rounds):
            order = names[index % len(names) :] + names[: index % len(names)]
            for name in order:
                best[name] = min(best[name], _time_loop(cases[name], loops[name]))
    finally:
        if gc_was_enabled:
            gc.enable()
    base = best[baseline]
    return [Result(name, best[name], best[name] / base) for name in names]


def format_table(title: str, results: list[Result], baseline: str) -> str:
    """Render results as a Markdown table (ratio relative to *baseline*)."""
    width = max(len(result.name) for result in results)
    lines = [
        f"### {title}",
        "",
        f"| {'case'.ljust(width)} | ns/call | ratio vs {baseline} |",
        f"|{'-' * (width + 2)}|--------:|{'-' * (len(baseline) + 11)}:|",
    ]
    for result in results:
        lines.append(
            f"| {result.name.ljust(width)} | {result.ns_per_call:7.0f} | {result.ratio:.3f} |"
        )
    return "\n".join(lines)
