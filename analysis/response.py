"""Detector response: nuclear recoil -> scintillation photoelectrons (PE).

Chain: recoil energy T [keVnr] -> electron-equivalent energy E_ee = QF(T) T [keVee]
-> mean PE count mu = LY E_ee -> PE smearing (Poisson or gamma) onto a fine grid of
1-PE bins [k, k+1) -> PE acceptance evaluated at the fine-bin centres (the rule of
the COHERENT 2018 release) -> rebinning onto the analysis PE bins.

Pure functions over arrays; matrices are (n_recoil, n_fine_pe) unless stated.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit, gammainc, gammaln, xlogy

SMEARING_MODELS = ("poisson", "gamma", "none")


def quenching_factor(recoil_kev: ArrayLike, coefficients: Sequence[float]) -> NDArray[np.float64]:
    """QF(T) = sum_i c_i T^i (T in keVnr); one coefficient gives a constant QF."""
    t = np.asarray(recoil_kev, dtype=float)
    return np.polynomial.polynomial.polyval(t, np.asarray(coefficients, dtype=float))


def mean_pe(
    recoil_kev: ArrayLike, qf_coefficients: Sequence[float], light_yield_pe_per_kevee: float
) -> NDArray[np.float64]:
    """Mean photoelectron count for a nuclear recoil: LY * QF(T) * T (>= 0)."""
    t = np.asarray(recoil_kev, dtype=float)
    return np.maximum(light_yield_pe_per_kevee * quenching_factor(t, qf_coefficients) * t, 0.0)


def poisson_matrix(mean: ArrayLike, n_fine: int) -> NDArray[np.float64]:
    """P(n | mean) for n = 0 .. n_fine-1; count n lands in the fine bin [n, n+1)."""
    mu = np.asarray(mean, dtype=float)[:, None]
    n = np.arange(n_fine, dtype=float)[None, :]
    logp = xlogy(n, mu) - mu - gammaln(n + 1.0)
    out = np.exp(np.where(np.isfinite(logp), logp, -np.inf))
    out[:, 0] = np.where(mu[:, 0] == 0.0, 1.0, out[:, 0])
    return out


def gamma_matrix(mean: ArrayLike, fine_edges: ArrayLike, excess_variance: ArrayLike = 1.0) -> NDArray[np.float64]:
    """Continuous PE response: gamma density with the given mean and variance
    ``excess_variance * mean`` (1 = photo-statistics only; add the single-PE charge
    spread as 1 + (sigma_spe / mean_spe)^2), integrated over each fine bin.
    ``excess_variance`` may be one number or one per mean (energy-dependent smearing)."""
    mu = np.maximum(np.asarray(mean, dtype=float), 1e-12)[:, None]
    ev = np.maximum(np.broadcast_to(np.asarray(excess_variance, dtype=float), mu[:, 0].shape), 1e-6)[:, None]
    edges = np.asarray(fine_edges, dtype=float)[None, :]
    cdf = gammainc(mu / ev, np.maximum(edges, 0.0) / ev)
    return np.diff(cdf, axis=1)


def sharp_matrix(mean: ArrayLike, fine_edges: ArrayLike) -> NDArray[np.float64]:
    """No smearing: all probability in the fine bin containing the mean."""
    mu = np.asarray(mean, dtype=float)
    edges = np.asarray(fine_edges, dtype=float)
    index = np.searchsorted(edges, mu, side="right") - 1
    out = np.zeros((mu.size, edges.size - 1))
    inside = (index >= 0) & (index < edges.size - 1)
    out[np.nonzero(inside)[0], index[inside]] = 1.0
    return out


def smearing_matrix(
    model: str, mean: ArrayLike, fine_edges: ArrayLike, excess_variance: ArrayLike = 1.0
) -> NDArray[np.float64]:
    """Dispatch on the smearing ``model`` ("poisson", "gamma" or "none")."""
    if model == "poisson":
        return poisson_matrix(mean, len(fine_edges) - 1)
    if model == "gamma":
        return gamma_matrix(mean, fine_edges, excess_variance)
    if model == "none":
        return sharp_matrix(mean, fine_edges)
    raise ValueError(f"unknown smearing model {model!r}; expected one of {SMEARING_MODELS}")


def logistic_efficiency(
    pe: ArrayLike,
    a: float,
    k: float,
    x0: float,
    offset: float = 0.0,
    steps: Sequence[tuple[float, float]] = (),
) -> NDArray[np.float64]:
    """PE acceptance  eps(x) = [a / (1 + exp(-k (x - x0))) + offset] * H(x), clipped to [0, 1].

    ``steps`` is a list of (edge, value) pairs defining the piecewise-constant H:
    H = 0 below the first edge and ``value`` from each edge upward.  The 2018 release
    uses [(5, 0.5), (6, 1.0)].  With no steps H = 1.
    """
    x = np.asarray(pe, dtype=float)
    eps = a * expit(k * (x - x0)) + offset  # the logistic, without overflow far below x0
    if steps:
        h = np.zeros_like(x)
        for edge, value in sorted(steps):
            h = np.where(x >= edge, value, h)
        eps = eps * h
    return np.clip(eps, 0.0, 1.0)


def time_efficiency(
    t_us: ArrayLike, model: str, onset_us: float = 0.0, decay_us: float = np.inf,
    table_t_us: ArrayLike | None = None, table_eff: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """Acceptance vs reconstructed time: "none" (1), "exponential" (1 before
    ``onset_us``, exp(-(t - onset)/decay) after) or "table" (linear interpolation)."""
    t = np.asarray(t_us, dtype=float)
    if model == "none":
        return np.ones_like(t)
    if model == "exponential":
        return np.where(t < onset_us, 1.0, np.exp(-(t - onset_us) / decay_us))
    if model == "table":
        return np.interp(t, np.asarray(table_t_us), np.asarray(table_eff))
    raise ValueError(f"unknown time-efficiency model {model!r}")


def rebin_matrix(fine_edges: ArrayLike, coarse_edges: ArrayLike) -> NDArray[np.float64]:
    """M[i, j] = fraction of fine bin i inside coarse bin j (uniform within a fine bin)."""
    fe = np.asarray(fine_edges, dtype=float)
    ce = np.asarray(coarse_edges, dtype=float)
    lo = np.maximum(fe[:-1, None], ce[None, :-1])
    hi = np.minimum(fe[1:, None], ce[None, 1:])
    return np.clip(hi - lo, 0.0, None) / np.diff(fe)[:, None]
