"""What the cut pipeline computes on a batch: cut bits, selected events, cut fractions and DQ rows.

The cut families act on the C and AC windows identically (:func:`daq.kernels.cuts.apply_cuts`).
"""

from __future__ import annotations

import numpy as np

from daq import dtypes
from daq.config import Config
from daq.kernels import cuts
from daq.stages.dq import DQAccumulator
from daq.stages.params import cut_params


class Selection:
    """Cuts, selected events and data quality of one run, batch after batch in trigger-id order."""

    def __init__(self, cfg: Config) -> None:
        self.params = cut_params(cfg)
        self.dq = DQAccumulator(cfg)
        self.fail_counts = dict.fromkeys(dtypes.CUT_NAMES.values(), 0)
        self.n_windows = 0

    def __call__(self, triggers: np.ndarray, feats: np.ndarray, veto_hits: np.ndarray, peaks: np.ndarray,
                 beam: np.ndarray, losses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fill the cut bits of ``feats`` IN PLACE; return the SELECTED rows and the DQ rows this batch completed."""
        self.dq.add_beam(beam)
        self.dq.add_losses(losses)
        if len(triggers):
            cuts.apply_cuts(feats, veto_hits, self.params)
            for bit, name in dtypes.CUT_NAMES.items():
                self.fail_counts[name] += int(np.count_nonzero(feats["cut_mask"] & bit))
            self.n_windows += len(feats)
        selected = cuts.selected_events(feats, triggers)
        rows = self.dq.add(triggers, feats, veto_hits, peaks)
        return selected, np.array(rows, dtype=dtypes.DQ)

    def finish(self) -> np.ndarray:
        """The DQ rows of the last, partial interval (end of run)."""
        return np.array(self.dq.flush(), dtype=dtypes.DQ)

    def totals(self) -> dict[str, object]:
        """The run's running sums so far: POT and the cut counts (JSON-able, for a successor)."""
        return {**self.dq.totals(), "fail_counts": dict(self.fail_counts), "n_windows": self.n_windows}

    def resume(self, totals: dict[str, object]) -> None:
        """Continue from a predecessor's :meth:`totals` (a cut pipeline restarted within the run)."""
        self.dq.resume(totals)  # type: ignore[arg-type]
        counts = totals.get("fail_counts") or {}
        for name in self.fail_counts:
            self.fail_counts[name] = int(counts.get(name, 0))  # type: ignore[union-attr]
        self.n_windows = int(totals.get("n_windows", 0))  # type: ignore[arg-type]

    def cut_fractions(self) -> dict[str, float]:
        n = max(self.n_windows, 1)
        return {name: count / n for name, count in self.fail_counts.items()}
