"""Run every benchmark: ``python -m benchmarks [NAME ...]`` (needs the ``bench`` extra).

Each ``benchmarks/bench_<name>.py`` defines ``main() -> str`` returning Markdown tables.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = sorted(
        info.name.removeprefix("bench_")
        for info in pkgutil.iter_modules([str(here)])
        if info.name.startswith("bench_")
    )
    wanted = argv or names
    for name in wanted:
        if name not in names:
            print(f"unknown benchmark {name!r}; choose from {', '.join(names)}", file=sys.stderr)
            return 2
    for name in wanted:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        print(module.main())
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
