"""Shared helpers for the benchmarks: medians, a table, one JSON line."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any


def median_of(fn: Callable[[], float], repeats: int) -> tuple[float, list[float]]:
    samples = [fn() for _ in range(repeats)]
    return statistics.median(samples), samples


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def report(bench: str, rows: Sequence[tuple[str, Any, str]], summary: dict[str, Any]) -> None:
    """Print ``rows`` (label, value, unit) as a table, then ``summary`` as one JSON line."""
    width = max(len(r[0]) for r in rows)
    print(f"\n{bench} benchmark")
    print("-" * (width + 24))
    for label, value, unit in rows:
        shown = f"{value:,.3f}" if isinstance(value, float) else f"{value}"
        print(f"{label:<{width}}  {shown:>14} {unit}")
    print("-" * (width + 24))
    print(json.dumps({"bench": bench, **summary}, sort_keys=False))
