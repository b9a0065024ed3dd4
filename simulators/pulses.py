"""The single-photoelectron (SPE) pulse shape of the simulated PMT, as a per-sample table.

A PMT's SPE pulse is modelled as a fast rise and an exponential tail, with an optional second, slower
tail component (late electrons, reflections), seen through the electronics' gaussian response:

    h(t) = [(1 - f2) * re(t; rise, decay) + f2 * re(t; rise, decay2)]  (*)  gauss(sigma)

with ``re(t; r, d) = (exp(-t/d) - exp(-t/r)) / (d - r)`` for t > 0 (unit area). ``decay = 0`` gives the
plain gaussian of ``sigma`` (the original simulator's SPE). The table holds the shape sampled at
``PHASES`` sub-sample positions of the pulse start, each row normalised to sum 1, so a pulse of charge
``q`` [ADC*sample] adds ``q * row`` to the record and its samples sum to ``q`` exactly (inside the record).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PHASES = 16  # sub-sample phases of the pulse start
TAIL_KEEP = 1e-5  # the table ends where the remaining charge is below this fraction


@dataclass(frozen=True)
class SpeShape:
    """SPE pulse parameters [ns]."""

    rise_ns: float
    decay_ns: float
    sigma_ns: float
    tail2_fraction: float = 0.0
    tail2_ns: float = 0.0

    @classmethod
    def from_config(cls, sim: object) -> SpeShape:
        return cls(sim.spe_rise_ns, sim.spe_decay_ns, sim.spe_sigma_ns, sim.spe_tail2_fraction, sim.spe_tail2_ns)


def _rise_decay(t: np.ndarray, rise: float, decay: float) -> np.ndarray:
    out = np.zeros_like(t)
    pos = t > 0
    tp = t[pos]
    if rise <= 0:
        out[pos] = np.exp(-tp / decay) / decay
    elif abs(decay - rise) < 1e-9 * decay:
        out[pos] = tp / (rise * rise) * np.exp(-tp / rise)
    else:
        out[pos] = (np.exp(-tp / decay) - np.exp(-tp / rise)) / (decay - rise)
    return out


def continuous_shape(shape: SpeShape, t_ns: np.ndarray) -> np.ndarray:
    """Unit-area SPE shape [1/ns] at ``t_ns`` after the photoelectron (before the gaussian response)."""
    h = (1.0 - shape.tail2_fraction) * _rise_decay(t_ns, shape.rise_ns, shape.decay_ns)
    if shape.tail2_fraction > 0:
        h += shape.tail2_fraction * _rise_decay(t_ns, shape.rise_ns, shape.tail2_ns)
    return h


def spe_table(shape: SpeShape, sample_ns: float) -> tuple[np.ndarray, int]:
    """(table of shape (PHASES, width), first): row ``p`` is the per-sample fraction of a pulse that starts
    ``p / PHASES`` of a sample after sample ``floor(t)``; its column ``j`` lands on sample ``floor(t) + first + j``."""
    sigma = max(shape.sigma_ns, 1e-3)
    if shape.decay_ns <= 0:
        half = int(np.ceil(4.5 * sigma / sample_ns)) + 1
        k = np.arange(-half, half + 2, dtype=float)
        rows = [np.exp(-0.5 * ((k - p / PHASES) * sample_ns / sigma) ** 2) for p in range(PHASES)]
        table = np.array(rows)
        return table / table.sum(axis=1, keepdims=True), -half
    longest = max(shape.decay_ns, shape.tail2_ns if shape.tail2_fraction > 0 else 0.0)
    span_ns = longest * np.log(1.0 / TAIL_KEEP) + 6 * sigma + 4 * shape.rise_ns
    fine = sample_ns / 64.0
    t = np.arange(-6 * sigma, span_ns, fine)
    h = continuous_shape(shape, t)
    g = np.exp(-0.5 * (np.arange(-6 * sigma, 6 * sigma + fine, fine) / sigma) ** 2)
    hg = np.convolve(h, g / g.sum(), mode="same")
    first = int(np.floor(t[0] / sample_ns))
    width = int(np.ceil(span_ns / sample_ns)) - first + 2
    rows = []
    for p in range(PHASES):
        centres = (first + np.arange(width) - p / PHASES) * sample_ns  # time of each sample after the pulse start
        rows.append(np.interp(centres, t, hg, left=0.0, right=0.0))
    table = np.array(rows)
    return table / table.sum(axis=1, keepdims=True), first
