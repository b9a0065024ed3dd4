"""Smooth steady-state background: a fitted PE shape times a time shape, scaled by
a normalisation with a prior from the size of the sideband.

The sideband is the set of beam-unrelated windows named in ``[steady_state]``
(default the AC beam-on window, plus the beam-off C and AC windows with
``beam_off = true``).  Its summed counts are fitted once, before the main fit,
with

    b_ij = N  f_i(c)  g_j(lambda),   sum_ij f_i g_j = 1,

f_i = integral over PE bin i of exp(c_1 x + ... + c_d x^d) (x the PE scaled to
[-1, 1] over the window) and g_j = integral over time bin j of eff(t) (``flat``,
eff the dataset's acceptance vs time, 1 without one) or of eff(t) exp(-lambda t)
(``exponential``).  The shape parameters' covariance from that fit is turned
into independent standardised nuisances ``ssb_shape_k`` along its principal
components, so the shape's statistical uncertainty enters the main fit as pulls
(and impacts) instead of one free parameter per bin.

The normalisation in the C window is the nuisance ``ssb_norm``: nominal
N_norm / r, error sqrt(N_norm) / r, where N_norm is the count of the
normalisation windows (default the AC beam-on window) and r their exposure
relative to the C window (``exposure_ratio``; > 1 for a longer sideband).  The
beam-off windows' exposure is usually not known, so they shape but do not
normalise.  The sideband's total and its distribution are independent pieces of
information (Poisson total, multinomial shape), so nothing is counted twice.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from iminuit import Minuit
from numpy.typing import NDArray

from .dataset import DatasetSpec
from .likelihood import poisson_half_deviance
from .nuisance import Nuisance
from .response import rebin_matrix
from .systematics import principal_directions

NORM = "ssb_norm"
SHAPE_PREFIX = "ssb_shape_"
#: Sub-steps per PE and per microsecond used to integrate the smooth shapes over a bin.
PE_STEP = 0.25
TIME_STEP_US = 0.01


class SmoothSteadyState:
    """Smooth steady-state expectation in a C-length beam-on window (see module doc)."""

    def __init__(self, spec: DatasetSpec, counts: Mapping[str, NDArray],
                 time_efficiency: tuple[NDArray, NDArray] | None = None) -> None:
        ss = spec.steady_state
        a = spec.analysis
        self.shape_windows = tuple(w for w in ss.shape_windows if w in counts)
        self.norm_windows = tuple(w for w in ss.norm_windows if w in counts)
        self.sideband = sum(np.asarray(counts[w], dtype=float) for w in self.shape_windows)
        n_norm = float(sum(np.asarray(counts[w]).sum() for w in self.norm_windows))
        ratio = ss.exposure_ratio
        self.degree = ss.pe_degree
        self.exponential = ss.time_shape == "exponential"
        # fine PE grid for the bin integrals
        lo, hi = a.pe_edges[0], a.pe_edges[-1]
        fine_pe = np.linspace(lo, hi, int(np.ceil((hi - lo) / PE_STEP)) + 1)
        self._x = np.polynomial.polynomial.polyvander(
            2.0 * (0.5 * (fine_pe[1:] + fine_pe[:-1]) - lo) / (hi - lo) - 1.0, self.degree)[:, 1:]
        self._pe_rebin = rebin_matrix(fine_pe, a.pe_edges) * np.diff(fine_pe)[:, None]
        t0, t1 = a.time_edges_us[0], a.time_edges_us[-1]
        if time_efficiency is None:
            fine_t = np.linspace(t0, t1, int(np.ceil((t1 - t0) / TIME_STEP_US)) + 1)
            eff = np.ones(fine_t.size - 1)
        else:
            fine_t, eff = time_efficiency
        self._t = 0.5 * (fine_t[1:] + fine_t[:-1]) - t0
        self._t_rebin = rebin_matrix(fine_t, a.time_edges_us) * (np.diff(fine_t) * eff)[:, None]
        self.n_shape = self.degree + (1 if self.exponential else 0)
        self.centre, self.covariance, self.sideband_fit_valid = self._fit_sideband()
        self._directions = principal_directions(self.covariance)
        self.shape_names = tuple(f"{SHAPE_PREFIX}{k + 1}" for k in range(self.n_shape))
        self.n_norm_events = n_norm
        self.nominal = n_norm / ratio
        norm_err = np.sqrt(max(n_norm, 1.0)) / ratio
        where = f"{', '.join(self.norm_windows)} ({n_norm:.0f} events) / exposure ratio {ratio:g}"
        self.nuisances: tuple[Nuisance, ...] = (
            Nuisance(NORM, self.nominal, norm_err, norm_err, f"steady-state normalisation, {where}"),
            *(Nuisance(name, 0.0, 1.0, 1.0, f"steady-state shape, principal component {k + 1}")
              for k, name in enumerate(self.shape_names)),
        )
        self._by_name = {n.name: n for n in self.nuisances}
        self._memo: tuple[tuple[float, ...], NDArray[np.float64]] | None = None

    # --- shapes ---------------------------------------------------------------
    def shape(self, c: NDArray[np.float64]) -> NDArray[np.float64]:
        """Unit-sum shape per (PE bin, time bin) at shape parameters ``c``."""
        log_pe = self._x @ c[: self.degree]
        pe = np.exp(log_pe - log_pe.max()) @ self._pe_rebin
        if self.exponential:
            t = np.exp(-c[self.degree] * self._t) @ self._t_rebin
        else:
            t = np.ones(self._t.size) @ self._t_rebin
        out = np.multiply.outer(pe, t)
        return out / out.sum()

    def _fit_sideband(self) -> tuple[NDArray, NDArray, bool]:
        n = self.sideband
        total = max(n.sum(), 1.0)

        def nll(c: NDArray) -> float:  # multinomial: the total is profiled
            s = np.maximum(self.shape(np.asarray(c)), 1e-300)
            return float(-(n * np.log(s)).sum())

        m = Minuit(nll, np.zeros(self.n_shape))
        m.errordef = 0.5
        m.errors = np.full(self.n_shape, 0.1)
        m.migrad()
        m.hesse()
        ok = bool(m.valid and m.covariance is not None and m.fmin.has_posdef_covar)
        cov = np.array(m.covariance) if ok else np.diag(np.full(self.n_shape, 1.0 / total))
        return np.array(m.values), cov, ok

    # --- fit interface -----------------------------------------------------------
    parameters: tuple[str, ...] = ()  # all its parameters are pulled nuisances

    def start(self) -> dict[str, float]:
        return {}

    def shape_parameters(self, p: Mapping[str, float]) -> NDArray[np.float64]:
        theta = np.array([p.get(name, 0.0) for name in self.shape_names])
        return self.centre + self._directions @ theta

    def expected(self, p: Mapping[str, float]) -> NDArray[np.float64]:
        """Steady-state expectation per bin in the C window."""
        key = (p.get(NORM, 0.0), *(p.get(name, 0.0) for name in self.shape_names))
        if self._memo is not None and self._memo[0] == key:
            return self._memo[1]
        norm = self._by_name[NORM].value(key[0])
        value = norm * self.shape(self.shape_parameters(p))
        self._memo = (key, value)
        return value

    def costs(self) -> list:
        """No sideband terms in the main likelihood: the sideband is summarised by the pulls."""
        return []

    def sideband_chi2(self) -> tuple[float, int]:
        """Baker-Cousins chi^2 of the sideband against its fitted smooth shape, and its ndof
        (bins - 1 total - shape parameters)."""
        n = self.sideband
        lam = n.sum() * self.shape(self.centre)
        return 2.0 * float(poisson_half_deviance(n, lam).sum()), int(n.size - 1 - self.n_shape)
