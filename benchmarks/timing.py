"""Timing shared by the benchmarks: the best of several runs (the least disturbed by other work)."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_time(func: Callable[[], object], repeats: int) -> float:
    """Shortest wall time of ``repeats`` calls of ``func`` [s]."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - t0)
    return best
