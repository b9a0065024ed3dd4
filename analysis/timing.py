"""Arrival-time distributions of beam-related events in the reconstructed time axis.

Two sources of shape:

- a released table (bin centres and probabilities, e.g. the COHERENT 2018
  ``arrivalTimePDF_*.txt``), read as a piecewise-linear cumulative distribution;
- a model: the proton-on-target pulse convolved with the pi+ lifetime (prompt
  nu_mu, beam neutrons use the bare pulse) and additionally the mu+ lifetime
  (delayed nu_e, anti-nu_mu).

Either way the result is a cumulative distribution ``(t_us, cdf)`` on a grid, and
``bin_probabilities`` integrates it over any time binning with a timing offset
(the beam-timing nuisance parameter) applied as a shift of the whole distribution.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.interpolate import PchipInterpolator
from scipy.signal import lfilter

from .constants import MUON_LIFETIME_NS, PION_LIFETIME_NS

#: Decay chains after the proton pulse, per kind of beam-related event.
DECAY_CHAINS: dict[str, tuple[float, ...]] = {
    "pulse": (),
    "prompt": (PION_LIFETIME_NS,),
    "delayed": (PION_LIFETIME_NS, MUON_LIFETIME_NS),
}


@dataclass(frozen=True)
class TimeCDF:
    """Cumulative arrival-time distribution sampled on an increasing grid [us].

    ``cdf`` may carry leading axes (one cumulative distribution per row, e.g. per PE
    bin of a 2D neutron table); the last axis runs along ``t_us``.  Between grid
    points the CDF is interpolated with a monotone cubic (PCHIP): exact at the grid
    points, and differentiable in the offset, which the minimiser needs (a
    piecewise-linear CDF has kinks exactly at zero offset when the analysis bins
    coincide with the table bins).
    """

    t_us: NDArray[np.float64]
    cdf: NDArray[np.float64]
    _interp: PchipInterpolator = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_interp", PchipInterpolator(self.t_us, self.cdf, axis=-1, extrapolate=False))

    def bin_probabilities(self, edges_us: ArrayLike, offset_us: float = 0.0) -> NDArray[np.float64]:
        """Probability in each bin [e_i, e_i+1) after delaying the distribution by ``offset_us``
        (constant CDF beyond the grid)."""
        x = np.clip(np.asarray(edges_us, dtype=float) - offset_us, self.t_us[0], self.t_us[-1])
        return np.diff(self._interp(x), axis=-1)


def cdf_from_table(t_centres_us: ArrayLike, probability: ArrayLike) -> TimeCDF:
    """CDF of a histogram given by equally spaced bin centres (uniform within a bin).

    The table is normalised to unit total probability.
    """
    centres = np.asarray(t_centres_us, dtype=float)
    p = np.clip(np.asarray(probability, dtype=float), 0.0, None)
    if centres.size < 2 or p.sum() <= 0:
        raise ValueError("a time table needs at least two bins and positive total probability")
    width = np.diff(centres)
    if not np.allclose(width, width[0], rtol=1e-6, atol=1e-9):
        raise ValueError("time table bin centres must be equally spaced")
    edges = np.concatenate([centres - width[0] / 2, [centres[-1] + width[0] / 2]])
    return TimeCDF(edges, np.concatenate([[0.0], np.cumsum(p) / p.sum()]))


def gaussian_pulse(t_us: ArrayLike, centre_us: float, fwhm_ns: float) -> NDArray[np.float64]:
    """Proton-pulse intensity (unnormalised Gaussian of the given FWHM)."""
    sigma_us = fwhm_ns * 1e-3 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    t = np.asarray(t_us, dtype=float)
    return np.exp(-0.5 * ((t - centre_us) / sigma_us) ** 2)


def exponential_convolve(density: ArrayLike, step_ns: float, lifetime_ns: float) -> NDArray[np.float64]:
    """Convolve a sampled density with exp(-t/tau)/tau by the exact one-pole recursion
    y_n = a y_(n-1) + (1 - a) x_n, a = exp(-dt/tau); conserves the integral."""
    a = np.exp(-step_ns / lifetime_ns)
    return lfilter([1.0 - a], [1.0, -a], np.asarray(density, dtype=float))


def model_cdf(
    kind: str,
    pulse_t_us: ArrayLike,
    pulse_intensity: ArrayLike,
    t_max_us: float,
    step_ns: float = 2.0,
) -> TimeCDF:
    """Arrival-time CDF of ``kind`` ("pulse", "prompt" or "delayed") events.

    ``pulse_t_us``/``pulse_intensity`` sample the proton pulse (any normalisation);
    the result is evaluated on a uniform grid from the pulse start to ``t_max_us``.
    Probability that decays after ``t_max_us`` is simply not reached by the CDF.
    """
    if kind not in DECAY_CHAINS:
        raise ValueError(f"unknown timing kind {kind!r}; expected one of {tuple(DECAY_CHAINS)}")
    pt = np.asarray(pulse_t_us, dtype=float)
    start = float(pt[0])
    grid = np.arange(start, max(t_max_us, float(pt[-1])) + step_ns * 1e-3, step_ns * 1e-3)
    density = np.interp(grid, pt, np.asarray(pulse_intensity, dtype=float), left=0.0, right=0.0)
    density = density / density.sum()
    for lifetime in DECAY_CHAINS[kind]:
        density = exponential_convolve(density, step_ns, lifetime)
    # density[i] is the probability of the step [grid[i], grid[i] + dt)
    edges = np.concatenate([grid, [grid[-1] + step_ns * 1e-3]])
    return TimeCDF(edges, np.concatenate([[0.0], np.cumsum(density)]))


def gaussian_pulse_cdf(
    kind: str, centre_us: float, fwhm_ns: float, t_max_us: float, step_ns: float = 2.0
) -> TimeCDF:
    """``model_cdf`` for a Gaussian proton pulse (sampled over +-4 FWHM)."""
    half = 4.0 * fwhm_ns * 1e-3
    t = np.arange(centre_us - half, centre_us + half, step_ns * 1e-3)
    return model_cdf(kind, t, gaussian_pulse(t, centre_us, fwhm_ns), t_max_us, step_ns)
