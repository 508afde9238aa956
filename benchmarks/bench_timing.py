"""dyno.timing.timed: the cost of a decorated call with and without a current timer.

The issue's target: on the no-timer path (application code decorated with
``@timed`` but running outside any ``PerfTimer``), a call costs at most 3x a
bare call of the undecorated function. Cases are ``functools.partial``
objects, so no extra Python frame pads both sides of the ratio. The
with-timer path, which builds a child interval (two clock reads, two
``getrusage`` calls unless ``usage=False``, a context variable set and
reset), is shown for scale.
"""

from __future__ import annotations

from functools import partial

from benchmarks.runner import compare, format_table
from dyno.timing import PerfTimer, timed, use_timer


def work(x: int) -> int:
    return x + 1


timed_work = timed("work")(work)
section = timed("block")


def with_block() -> None:
    with section:
        work(1)


class Roots:
    """Hands out a running root timer, replaced every 1,000 uses to keep trees small."""

    def __init__(self, usage: bool) -> None:
        self.usage = usage
        self.calls = 0
        self.root = PerfTimer("bench", usage=usage).start()

    def get(self) -> PerfTimer:
        self.calls += 1
        if self.calls % 1000 == 0:
            self.root = PerfTimer("bench", usage=self.usage).start()
        return self.root


def main() -> str:
    tables = []
    positional = {
        "work(1)": partial(work, 1),
        "@timed work(1)": partial(timed_work, 1),
        "with timed(...): work(1)": with_block,
    }
    results = compare(positional, "work(1)", rounds=25)
    tables.append(format_table("timed, no current timer, positional call", results, "work(1)"))

    keyword = {"work(x=1)": partial(work, x=1), "@timed work(x=1)": partial(timed_work, x=1)}
    results = compare(keyword, "work(x=1)", rounds=25)
    tables.append(format_table("timed, no current timer, keyword call", results, "work(x=1)"))

    with_usage, without_usage = Roots(usage=True), Roots(usage=False)

    def plain() -> None:
        with use_timer(with_usage.get()):
            work(1)

    def decorated() -> None:
        with use_timer(with_usage.get()):
            timed_work(1)

    def block() -> None:
        with use_timer(with_usage.get()), section:
            work(1)

    def decorated_no_usage() -> None:
        with use_timer(without_usage.get()):
            timed_work(1)

    base = "use_timer: work(1)"
    with_timer = {
        base: plain,
        "use_timer: @timed work(1)": decorated,
        "use_timer: with timed(...)": block,
        "use_timer: @timed work(1), usage=False": decorated_no_usage,
    }
    results = compare(with_timer, base, rounds=7)
    tables.append(format_table("timed, with a current timer (one child interval)", results, base))
    return "\n\n".join(tables)
