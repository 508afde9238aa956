"""dyno.utils.percentile against statistics.quantiles, for scale."""

from __future__ import annotations

import statistics

from benchmarks.runner import compare, format_table
from dyno.utils import percentile

DATA = [float(i % 97) for i in range(1000)]


def main() -> str:
    cases = {
        "dyno.utils.percentile(99)": lambda: percentile(99, DATA),
        "statistics.quantiles(n=100)": lambda: statistics.quantiles(DATA, n=100),
    }
    results = compare(cases, "statistics.quantiles(n=100)", rounds=5)
    return format_table("percentile of 1,000 values", results, "statistics.quantiles(n=100)")
