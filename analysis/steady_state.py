"""Steady-state (beam-unrelated) background, measured in situ.

The anti-coincidence (AC) window has the same length and cuts as the coincidence
(C) window but precedes the beam spill, so per bin it has the same steady-state
expectation b as the C window.  Beam-off periods give two more windows (C and AC)
with expectation kappa b, kappa a free live-time ratio.

Two models (``[steady_state] model`` in the dataset):

- ``factorized``: b_ij = P_i Q_j, a PE profile times a time profile (Q fixed to 1
  in its best-measured bin).  P and Q are fit parameters and every AC/beam-off bin
  enters the likelihood as a Poisson term, so the finite statistics of the
  background sample propagate into the result.  (Fixing the shape to the AC
  projections instead biases the fitted CEvNS count upwards by ~0.3 sigma in toys:
  bins where the noisy shape is low get more weight.)
- ``per_bin``: every b_ij free, profiled in closed form (``likelihood.OnOffBins``):
  no shape assumption at all, at the price of a larger error.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from .likelihood import Cost, PoissonBins

OFF_WINDOWS = ("c_beam_off", "ac_beam_off")
OFF_RATIO = "ss_off_ratio"


def off_window_counts(counts: Mapping[str, NDArray], use_beam_off: bool) -> list[NDArray]:
    return [counts[w] for w in OFF_WINDOWS if use_beam_off and w in counts]


class FactorizedSteadyState:
    """b_ij = P_i Q_j in one (C-length) window; parameters ``ss_pe_*``, ``ss_t_*``,
    and ``ss_off_ratio`` when beam-off windows are used."""

    def __init__(self, counts: Mapping[str, NDArray], use_beam_off: bool) -> None:
        self.on = np.asarray(counts["ac_beam_on"], dtype=float)
        self.off = off_window_counts(counts, use_beam_off)
        n_pe, n_t = self.on.shape
        kappa = sum(o.sum() for o in self.off) / max(self.on.sum(), 1.0) / max(len(self.off), 1)
        sample = (self.on + sum(self.off)) / (1.0 + kappa * len(self.off))  # in on-window units
        time_profile = sample.sum(axis=0)
        self.reference = int(np.argmax(time_profile))
        q = time_profile / max(time_profile[self.reference], 1e-12)
        p = sample.sum(axis=1) / max(q.sum(), 1e-12)
        self.pe_names = tuple(f"ss_pe_{i:02d}" for i in range(n_pe))
        self.t_names = tuple(f"ss_t_{j:02d}" for j in range(n_t) if j != self.reference)
        self.parameters = self.pe_names + self.t_names + ((OFF_RATIO,) if self.off else ())
        self._start = {**dict(zip(self.pe_names, p, strict=True)),
                       **{f"ss_t_{j:02d}": q[j] for j in range(n_t) if j != self.reference}}
        if self.off:
            self._start[OFF_RATIO] = kappa
        self._free_time = np.array([j for j in range(n_t) if j != self.reference])
        self._names = self.pe_names + self.t_names
        self._memo: tuple[tuple[float, ...], NDArray[np.float64]] | None = None

    def start(self) -> dict[str, float]:
        return dict(self._start)

    def expected(self, p: Mapping[str, float]) -> NDArray[np.float64]:
        """Steady-state expectation per bin in a C-length beam-on window."""
        key = tuple(p[n] for n in self._names)
        if self._memo is not None and self._memo[0] == key:
            return self._memo[1]
        n_pe = len(self.pe_names)
        time = np.ones(self.on.shape[1])
        time[self._free_time] = key[n_pe:]
        value = np.multiply.outer(np.array(key[:n_pe]), time)
        self._memo = (key, value)
        return value

    def costs(self) -> list[Cost]:
        """Poisson terms of the AC window and of each beam-off window."""
        out: list[Cost] = [PoissonBins(self.on, self.expected, self.pe_names + self.t_names)]
        for counts in self.off:
            out.append(PoissonBins(counts, lambda p: p[OFF_RATIO] * self.expected(p), self.parameters))
        return out
