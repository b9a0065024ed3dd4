"""Live physics histograms: PE x onset time for the C and AC windows, and their projections.

Pure numpy, no Qt. The histograms hold the windows that pass every cut (``cut_mask == 0``)
of beam-on triggers, binned in PE and in onset time after the ROI start (for C: after the
beam time). The projections the shift crew looks at are taken inside the analysis window:
the PE spectrum of windows whose onset is in ``cuts.analysis_time_ns``, the arrival time of
windows whose PE is in ``cuts.analysis_pe``, and the C - AC excess of both with Poisson
errors (sqrt(C + AC)): the AC window sees the same steady-state background as C.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daq import dtypes
from daq.config import Config

PE_BIN = 2.0  # [PE]
TIME_BIN_NS = 500  # [ns]


@dataclass(frozen=True)
class Binning:
    pe_edges: np.ndarray  # [PE]
    time_edges: np.ndarray  # [ns after ROI start]
    analysis_pe: tuple[float, float]
    analysis_time_ns: tuple[float, float]

    @classmethod
    def from_config(cls, cfg: Config) -> Binning:
        roi_ns = cfg.windows.c_roi[1] - cfg.windows.c_roi[0]
        pe_max = max(60.0, 2.0 * cfg.cuts.analysis_pe[1])
        return cls(pe_edges=np.arange(0.0, pe_max + PE_BIN / 2, PE_BIN),
                   time_edges=np.arange(0.0, roi_ns + TIME_BIN_NS / 2, TIME_BIN_NS),
                   analysis_pe=tuple(cfg.cuts.analysis_pe), analysis_time_ns=tuple(cfg.cuts.analysis_time_ns))

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.pe_edges) - 1, len(self.time_edges) - 1

    def pe_mask(self) -> np.ndarray:
        """PE bins whose centre lies in the analysis PE window."""
        c = 0.5 * (self.pe_edges[1:] + self.pe_edges[:-1])
        return (c >= self.analysis_pe[0]) & (c <= self.analysis_pe[1])

    def time_mask(self) -> np.ndarray:
        """Time bins whose centre lies in the analysis time window."""
        c = 0.5 * (self.time_edges[1:] + self.time_edges[:-1])
        return (c >= self.analysis_time_ns[0]) & (c <= self.analysis_time_ns[1])


@dataclass
class Projections:
    """What the physics panels draw; every array is a fresh copy."""

    pe_centres: np.ndarray
    time_centres_us: np.ndarray
    pe: dict[str, np.ndarray]  # "C", "AC" -> counts per PE bin (onset in the analysis time window)
    time: dict[str, np.ndarray]  # counts per time bin (PE in the analysis PE window)
    image: dict[str, np.ndarray]  # full PE x time histograms
    excess_pe: np.ndarray
    excess_pe_err: np.ndarray
    excess_time: np.ndarray
    excess_time_err: np.ndarray
    selected: dict[str, int]  # windows flagged ``selected`` (beam on), per window name


class PeTimeHistograms:
    """PE x onset-time histograms of the C and AC windows passing every cut, beam on."""

    def __init__(self, binning: Binning) -> None:
        self.binning = binning
        self.counts = {name: np.zeros(binning.shape, np.int64) for name in dtypes.WINDOW_NAMES.values()}
        self.selected = dict.fromkeys(dtypes.WINDOW_NAMES.values(), 0)

    def clear(self) -> None:
        for h in self.counts.values():
            h[...] = 0
        self.selected = dict.fromkeys(self.selected, 0)

    def fill(self, features: np.ndarray, beam_on: np.ndarray) -> int:
        """Add FEATURES rows; ``beam_on`` is one flag per row. Returns the windows filled."""
        b = self.binning
        keep = beam_on & (features["cut_mask"] == 0) & (features["onset_ns"] >= 0)
        sel = features[keep]
        n_pe, n_t = b.shape
        ipe = np.floor(sel["pe"] / (b.pe_edges[1] - b.pe_edges[0])).astype(np.int64)
        it = np.floor(sel["onset_ns"] / (b.time_edges[1] - b.time_edges[0])).astype(np.int64)
        inside = (ipe >= 0) & (ipe < n_pe) & (it >= 0) & (it < n_t)
        flat = ipe * n_t + it
        for code, name in dtypes.WINDOW_NAMES.items():
            w = inside & (sel["window"] == code)
            if w.any():
                self.counts[name] += np.bincount(flat[w], minlength=n_pe * n_t).reshape(n_pe, n_t)
            self.selected[name] += int(np.count_nonzero(sel["selected"] & (sel["window"] == code)))
        return int(np.count_nonzero(inside))

    def projections(self) -> Projections:
        b = self.binning
        tm, pm = b.time_mask(), b.pe_mask()
        pe = {k: h[:, tm].sum(axis=1) for k, h in self.counts.items()}
        time = {k: h[pm, :].sum(axis=0) for k, h in self.counts.items()}
        return Projections(
            pe_centres=0.5 * (b.pe_edges[1:] + b.pe_edges[:-1]),
            time_centres_us=0.5e-3 * (b.time_edges[1:] + b.time_edges[:-1]),
            pe=pe,
            time=time,
            image={k: h.copy() for k, h in self.counts.items()},
            excess_pe=(pe["C"] - pe["AC"]).astype(float),
            excess_pe_err=np.sqrt(pe["C"] + pe["AC"]).astype(float),
            excess_time=(time["C"] - time["AC"]).astype(float),
            excess_time_err=np.sqrt(time["C"] + time["AC"]).astype(float),
            selected=dict(self.selected),
        )


def beam_on_per_window(triggers: np.ndarray, features: np.ndarray) -> np.ndarray:
    """The beam-on flag of each FEATURES row's trigger (rows are AC, C per trigger, in order)."""
    if len(features) == 2 * len(triggers) and (
            len(triggers) == 0 or (features["trigger_id"][::2] == triggers["trigger_id"]).all()):
        return np.repeat(triggers["beam_on"], 2)
    order = np.argsort(triggers["trigger_id"], kind="stable")
    ids = triggers["trigger_id"][order]
    k = np.clip(np.searchsorted(ids, features["trigger_id"]), 0, max(len(ids) - 1, 0))
    if len(ids) == 0:
        return np.zeros(len(features), bool)
    return (ids[k] == features["trigger_id"]) & triggers["beam_on"][order][k]
