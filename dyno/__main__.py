"""The ``dyno`` command line.

``python -m dyno demo``
    Run a simulated system through dyno services and watch its circuit
    breakers trip and recover, live (``--serve`` also opens the dashboard).

``python -m dyno dashboard --import myapp.services``
    Serve the dashboard for the services a process defines, until Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
import threading
from collections.abc import Sequence

__all__ = ["main"]


def _seconds(text: str) -> float:
    """Parse a positive, finite number of seconds (an argparse type)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds (got {text!r})")
    return value


def _port(text: str) -> int:
    """Parse a TCP port number, 0 for a free one (an argparse type)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(
            f"must be a port number from 0 to 65535, 0 for a free one (got {text!r})"
        )
    return value


def _count(text: str) -> int:
    """Parse a whole number >= 1 (an argparse type)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1 (got {text!r})")
    return value


def _demo(args: argparse.Namespace) -> int:
    from dyno.demo import run

    try:
        return run(
            args.duration,
            seed=args.seed,
            workers=args.threads,
            serve=args.serve,
            host=args.host,
            port=args.port,
        )
    except BrokenPipeError:
        raise  # the reader went away: main() ends quietly
    except OSError as error:
        print(f"dyno demo: {error.strerror or error}", file=sys.stderr)
        return 1


def _dashboard(args: argparse.Namespace) -> int:
    from dyno.dashboard import serve
    from dyno.service import services

    try:
        dashboard = serve(args.host, args.port, interval=args.interval)
    except OSError as error:
        print(f"dyno dashboard: {error.strerror or error}", file=sys.stderr)
        return 1
    with dashboard:
        print(f"dyno dashboard: {dashboard.url}", flush=True)
        print(f"  stream (hystrix.stream): {dashboard.url}stream", flush=True)
        print(f"  Prometheus metrics:      {dashboard.url}metrics", flush=True)
        try:
            # Serving already: a module that runs its work at import is watched meanwhile.
            for module in args.modules:
                try:
                    importlib.import_module(module)
                except ImportError as error:
                    print(
                        f"dyno dashboard: Cannot import {module!r}: {error}. "
                        "Pass a module importable from here (check the working directory "
                        "and PYTHONPATH).",
                        file=sys.stderr,
                    )
                    return 2
            names = ", ".join(sorted(services)) or "none yet"
            print(f"  services: {names} (services created later show up too)", flush=True)
            print("Press Ctrl-C to stop.", flush=True)
            threading.Event().wait()
        except KeyboardInterrupt:
            print("dyno dashboard: stopped", flush=True)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dyno",
        description="dyno: fault-tolerant service code after Netflix Hystrix.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo",
        help="watch circuit breakers trip and recover in a simulated system",
        description=(
            "Run a simulated system (catalog, inventory, payments, recommendations) through "
            "dyno services from several threads. recommendations goes down mid-run and comes "
            "back: watch its breaker open, probe and close. Standard library only."
        ),
    )
    demo.add_argument(
        "--duration",
        type=_seconds,
        default=20.0,
        metavar="SECONDS",
        help="how long to run (default 20); breaker timings scale with it",
    )
    demo.add_argument("--seed", type=int, default=None, help="seed the simulation's randomness")
    demo.add_argument(
        "--threads", type=_count, default=6, metavar="N", help="worker threads (default 6)"
    )
    demo.add_argument(
        "--serve", action="store_true", help="also serve the live dashboard and print its URL"
    )
    demo.add_argument("--host", default="127.0.0.1", help="dashboard interface (with --serve)")
    demo.add_argument(
        "--port", type=_port, default=0, help="dashboard port (with --serve; default: a free one)"
    )
    demo.set_defaults(run=_demo)

    dashboard = commands.add_parser(
        "dashboard",
        help="serve the dashboard for the services of this process",
        description=(
            "Serve the dashboard for every named dyno service of this process, then import "
            "the given modules (which define the services and run the work that calls them; "
            "one may run its work at import), until Ctrl-C. In your own application, call "
            "dyno.dashboard.serve() instead."
        ),
    )
    dashboard.add_argument(
        "--import",
        dest="modules",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE once serving (repeatable), e.g. myapp.services",
    )
    dashboard.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    dashboard.add_argument(
        "--port", type=_port, default=0, help="port (default 0: a free one, printed)"
    )
    dashboard.add_argument(
        "--interval",
        type=_seconds,
        default=0.5,
        metavar="SECONDS",
        help="seconds between stream updates (default 0.5)",
    )
    dashboard.set_defaults(run=_dashboard)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``dyno`` command line and return its exit status."""
    args = _parser().parse_args(argv)
    try:
        status: int = args.run(args)
    except BrokenPipeError:
        # Output piped into something that stopped reading (`| head`): end quietly, and
        # point stdout at /dev/null so Python's flush at exit does not complain again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
