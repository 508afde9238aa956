"""Command line: ``python -m dyno demo``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    from dyno.clock import FakeClock, use_clock
    from dyno.utils import percentile

    clock = FakeClock()
    latencies = []
    with use_clock(clock):
        for step in range(100):
            start = clock.now()
            clock.sleep(0.001 * (step % 10 + 1))
            latencies.append(clock.now() - start)
    print("dyno demo: 100 simulated calls on a FakeClock")
    for p in (50, 90, 99):
        print(f"  p{p}: {percentile(p, latencies) * 1000:.1f} ms")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``dyno`` command line and return its exit status."""
    parser = argparse.ArgumentParser(prog="python -m dyno", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run a simulated system through dyno")
    demo.set_defaults(run=_demo)
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
