"""pytest_dyno's overhead: a generated 2,000-test suite with the plugin loaded vs ``-p no:dyno``.

Each case is one whole ``python -m pytest`` run in a subprocess (start-up,
collection, 2,000 trivial tests, reporting), so the ratio is what a user's
suite pays for having dyno installed. Hypothesis' pytest plugin and the cache
are disabled in every case: they cost the same either way and only blur the
ratio. The target is at most 1.05x for the plugin loaded with no dyno options.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchmarks.runner import Result, compare, format_table

MODULES = 20
TESTS_PER_MODULE = 100  # 20 x 100 = 2,000 tests

COMMON = ("-q", "-p", "no:hypothesispytest", "-p", "no:cacheprovider", "-p", "no:randomly")


def write_suite(root: Path) -> None:
    """Write the generated suite: plain functions, parametrized tests and test classes."""
    (root / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers\n")
    for module in range(MODULES):
        lines = ["import pytest", ""]
        per_kind = TESTS_PER_MODULE // 4
        for number in range(per_kind * 2):
            lines += [f"def test_plain_{number}():", f"    assert {number} + 1 > {number}", ""]
        lines += [
            f"@pytest.mark.parametrize('value', range({per_kind}))",
            "def test_param(value):",
            "    assert value >= 0",
            "",
            "class TestGroup:",
        ]
        for number in range(per_kind):
            lines += [f"    def test_method_{number}(self):", "        assert True", ""]
        (root / f"test_generated_{module:02}.py").write_text("\n".join(lines))


def run(root: Path, *extra: str) -> float:
    """Run the suite once and return the CPU seconds the run used; fail if it does not pass."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", *COMMON, *extra],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0 or "2000 passed" not in completed.stdout:
        raise RuntimeError(f"generated suite did not pass:\n{completed.stdout[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


BASELINE = "-p no:dyno"


def main() -> str:
    with tempfile.TemporaryDirectory(prefix="dyno-bench-plugin-") as directory:
        root = Path(directory)
        write_suite(root)
        json_path = root / "timing.json"
        arguments = {
            BASELINE: ("-p", "no:dyno"),
            "plugin loaded": (),
            "plugin + --dyno-timing(-json)": (
                "--dyno-timing",
                f"--dyno-timing-json={json_path}",
            ),
        }
        cpu: dict[str, list[float]] = {name: [] for name in arguments}

        def case(name: str) -> Callable[[], None]:
            return lambda: cpu[name].append(run(root, *arguments[name]))

        wall = compare({name: case(name) for name in arguments}, BASELINE, rounds=7, target_ms=1.0)
    best_cpu = {name: min(times) for name, times in cpu.items()}
    cpu_results = [
        Result(name, seconds * 1e9, seconds / best_cpu[BASELINE])
        for name, seconds in best_cpu.items()
    ]
    summary = ", ".join(f"{result.name}: {result.ns_per_call / 1e9:.2f} s" for result in wall)
    return "\n\n".join(
        [
            format_table("2,000-test suite: wall time per pytest run", wall, BASELINE),
            format_table(
                "2,000-test suite: CPU time (user+sys) per pytest run", cpu_results, BASELINE
            ),
            f"Best wall time per run: {summary}. CPU time is steadier on a shared machine.",
        ]
    )
