"""Trigger accounting of a run: every trigger id is recorded once, or lost with a reason.

Trigger ids of a run are 0, 1, ..., generated - 1. At the end of run the recorder knows
which ids its files hold (all sub-run files of the run: a recorder restarted mid-run
continues in a new file) and which losses were declared on the way (a full digitizer
buffer...). Whatever is neither was lost without anyone saying so: during a restart of a
process (its queues died with it) if the run had one, otherwise ``unaccounted`` — which
the recorder writes to ``/losses`` and puts in the exit status, so it is never silent.

What cannot be in a good file is counted too, and never ends a run ``ok``: a trigger id
recorded twice (two DAQs on one socket, a replayed message), an id outside [0, generated),
and messages of another run. Beam pulses are numbered consecutively; a gap in the pulse ids
of a run is counted as lost pulses.
"""

from __future__ import annotations

import bisect
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from daq import dtypes
from daq.kernels.exposure import gwhr

LOSS_REASON_BYTES = dtypes.LOSS["reason"].itemsize


class IdRanges:
    """A set of trigger ids kept as sorted, disjoint half-open ranges (runs are contiguous)."""

    def __init__(self) -> None:
        self.ranges: list[list[int]] = []

    def add(self, ids: np.ndarray) -> int:
        """Add ``ids``; return how many of them were already in the set (or repeated within ``ids``)."""
        if len(ids) == 0:
            return 0
        ids = np.sort(np.asarray(ids, dtype=np.int64))
        repeated = int(np.count_nonzero(np.diff(ids) == 0))
        ids = np.unique(ids)
        breaks = np.flatnonzero(np.diff(ids) != 1) + 1
        for lo, hi in zip(np.r_[0, breaks], np.r_[breaks, len(ids)], strict=True):
            repeated += self._add_range(int(ids[lo]), int(ids[hi - 1]) + 1)
        return repeated

    def _add_range(self, a: int, b: int) -> int:
        """Merge [a, b) into the ranges; return the overlap with what was there."""
        starts = [r[0] for r in self.ranges]
        i = bisect.bisect_right(starts, a) - 1  # the last range starting at or before a
        if i < 0 or self.ranges[i][1] < a:
            i += 1
        overlap, lo, hi = 0, a, b
        j = i
        while j < len(self.ranges) and self.ranges[j][0] <= b:
            s, e = self.ranges[j]
            overlap += max(0, min(e, b) - max(s, a))
            lo, hi = min(lo, s), max(hi, e)
            j += 1
        self.ranges[i:j] = [[lo, hi]]
        return overlap

    def count(self) -> int:
        return sum(b - a for a, b in self.ranges)

    def mark(self, covered: np.ndarray) -> None:
        for a, b in self.ranges:
            covered[max(a, 0) : max(b, 0)] = True

    def ids(self) -> np.ndarray:
        if not self.ranges:
            return np.zeros(0, np.int64)
        return np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in self.ranges])


@dataclass
class Accounting:
    recorded: int  # distinct ids of this run in the files
    lost: int  # declared + found missing
    missing_rows: np.ndarray  # LOSS rows for ids found missing
    unaccounted: int
    duplicated: int = 0  # rows whose trigger id another row already has
    outside: int = 0  # rows with an id outside [0, generated)

    def problems(self) -> list[str]:
        """What makes the file not ``ok``, in words (empty for a good file)."""
        out = []
        if self.unaccounted:
            out.append(f"{self.unaccounted} triggers unaccounted")
        if self.duplicated:
            out.append(f"{self.duplicated} trigger ids recorded more than once")
        if self.outside:
            out.append(f"{self.outside} trigger ids outside the run's [0, generated)")
        return out


def missing_ranges(covered: np.ndarray) -> list[tuple[int, int]]:
    """Half-open ranges of the False entries of ``covered``."""
    edges = np.diff(np.r_[0, (~covered).astype(np.int8), 0])
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(a), int(b)) for a, b in zip(starts, stops, strict=True)]


def loss_row(first: int, count: int, stage: str, reason: str) -> tuple:
    return (first, count, time.time_ns(), stage.encode()[:16], reason.encode()[:LOSS_REASON_BYTES])


def close(generated: int, recorded_ids: Iterable[np.ndarray], declared_losses: np.ndarray,
          restarts: list[dict]) -> Accounting:
    """Account for trigger ids 0..generated-1 given every trigger row the run's files hold
    (``recorded_ids``, one array per file, duplicates included) and what was declared lost."""
    all_ids = [np.asarray(ids, np.int64) for ids in recorded_ids]
    ids = np.concatenate(all_ids) if all_ids else np.zeros(0, np.int64)
    inside = (ids >= 0) & (ids < generated)
    outside = int(np.count_nonzero(~inside))
    rec = IdRanges()
    duplicated = rec.add(ids[inside])
    covered = np.zeros(max(generated, 0), bool)
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
        rows.append(loss_row(a, b - a, "recorder", reason))
    missing = np.array(rows, dtype=dtypes.LOSS) if rows else np.zeros(0, dtypes.LOSS)
    lost = int(declared["count"].sum()) + int(missing["count"].sum())
    return Accounting(recorded, lost, missing, unaccounted, duplicated, outside)


@dataclass
class BeamAccounting:
    pulses: int  # distinct pulse ids recorded
    missing: int  # pulse ids absent between the first and the last
    duplicated: int
    missing_rows: np.ndarray  # LOSS rows (trigger_id -1: not triggers) for the gaps


def close_beam(pulse_ids: Iterable[np.ndarray]) -> BeamAccounting:
    """Beam pulses of a run: the gaps in their consecutive pulse ids are lost pulses."""
    parts = [np.asarray(p, np.int64) for p in pulse_ids]
    ids = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    unique = np.unique(ids)
    duplicated = len(ids) - len(unique)
    gaps = np.diff(unique) - 1 if len(unique) > 1 else np.zeros(0, np.int64)
    missing = int(gaps[gaps > 0].sum())
    rows = [loss_row(-1, int(g), "beam", f"beam pulses {int(unique[i]) + 1}-{int(unique[i] + g)} missing")
            for i, g in enumerate(gaps) if g > 0]
    return BeamAccounting(len(unique), missing, duplicated,
                          np.array(rows, dtype=dtypes.LOSS) if rows else np.zeros(0, dtypes.LOSS))


def final_attrs(recorded: int, lost: int, beam_pulses: int, pot_total: float, proton_energy_gev: float,
                meta: dict[str, Any], foreign: int = 0, restarts: list[dict] | None = None) -> dict[str, Any]:
    """The stop record of a run file: counts, exposure and the end-of-run facts the stages sent
    (``meta``: ``generated``, ``unmatched_triggers``, ``beam_missed``, ``beam_pulses_missing``,
    ``cut_fractions``, ``spe_calibration``). The recorder and batch reprocessing (:mod:`daq.cluster`) write the same."""
    return {
        "triggers_generated": np.int64(meta.get("generated", -1)),
        "triggers_recorded": np.int64(recorded),
        "triggers_lost": np.int64(lost),
        "beam_pulses": np.int64(beam_pulses),
        "pot_total": pot_total,
        "gwhr_total": gwhr(pot_total, proton_energy_gev),
        "unmatched_triggers": np.int64(meta.get("unmatched_triggers", 0)),
        "beam_missed": np.int64(meta.get("beam_missed", 0)),
        "beam_pulses_missing": np.int64(meta.get("beam_pulses_missing", 0)),
        "foreign_refused": np.int64(foreign),
        "cut_fractions": json.dumps(meta.get("cut_fractions", {})),
        "restarts": json.dumps(restarts or []),
        **({"spe_calibration": json.dumps(meta["spe_calibration"])} if meta.get("spe_calibration") else {}),
    }
