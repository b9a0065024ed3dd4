"""Trigger accounting of a run: every trigger id is recorded or lost with a reason.

Trigger ids of a run are 0, 1, ..., generated - 1. At the end of run the recorder knows
which ids its files hold (all sub-run files of the run: a recorder restarted mid-run
continues in a new file) and which losses were declared on the way (a full digitizer
buffer...). Whatever is neither was lost without anyone saying so: during a restart of a
process (its queues died with it) if the run had one, otherwise ``unaccounted`` — which
the recorder writes to ``/losses`` and puts in the exit status, so it is never silent.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from daq import dtypes


class IdRanges:
    """A set of trigger ids kept as sorted half-open ranges (runs are contiguous)."""

    def __init__(self) -> None:
        self.ranges: list[list[int]] = []

    def add(self, ids: np.ndarray) -> None:
        if len(ids) == 0:
            return
        ids = np.sort(np.asarray(ids, dtype=np.int64))
        breaks = np.flatnonzero(np.diff(ids) != 1) + 1
        for lo, hi in zip(np.r_[0, breaks], np.r_[breaks, len(ids)], strict=True):
            a, b = int(ids[lo]), int(ids[hi - 1]) + 1
            if self.ranges and self.ranges[-1][1] >= a >= self.ranges[-1][0]:
                self.ranges[-1][1] = max(self.ranges[-1][1], b)
            else:
                self.ranges.append([a, b])

    def count(self) -> int:
        return sum(b - a for a, b in self.ranges)

    def mark(self, covered: np.ndarray) -> None:
        for a, b in self.ranges:
            covered[max(a, 0) : max(b, 0)] = True


@dataclass
class Accounting:
    recorded: int
    lost: int  # declared + found missing
    missing_rows: np.ndarray  # LOSS rows for ids found missing
    unaccounted: int


def missing_ranges(covered: np.ndarray) -> list[tuple[int, int]]:
    """Half-open ranges of the False entries of ``covered``."""
    edges = np.diff(np.r_[0, (~covered).astype(np.int8), 0])
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(a), int(b)) for a, b in zip(starts, stops, strict=True)]


def close(generated: int, recorded_ids: Iterable[np.ndarray], declared_losses: np.ndarray,
          restarts: list[dict]) -> Accounting:
    """Account for trigger ids 0..generated-1 given what the files hold and what was declared lost."""
    covered = np.zeros(max(generated, 0), bool)
    rec = IdRanges()
    for ids in recorded_ids:
        rec.add(ids[(ids >= 0) & (ids < generated)])
    rec.mark(covered)
    recorded = rec.count()
    declared = declared_losses[declared_losses["trigger_id"] >= 0]
    for first, count in zip(declared["trigger_id"], declared["count"], strict=True):
        covered[max(int(first), 0) : max(int(first + count), 0)] = True
    rows = []
    unaccounted = 0
    restarted = ", ".join(sorted({r["process"] for r in restarts}))
    reason = f"lost in restart of {restarted}" if restarts else "unaccounted"
    for a, b in missing_ranges(covered):
        if not restarts:
            unaccounted += b - a
        rows.append((a, b - a, time.time_ns(), b"recorder", reason.encode()[:48]))
    missing = np.array(rows, dtype=dtypes.LOSS) if rows else np.zeros(0, dtypes.LOSS)
    lost = int(declared["count"].sum()) + int(missing["count"].sum())
    return Accounting(recorded, lost, missing, unaccounted)
