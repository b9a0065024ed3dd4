"""What a fit says about itself: goodness of fit per window, expected (Asimov)
significance, nuisance impacts and the profile-likelihood scan.

What to use when
----------------
- ``window_chi2``: Baker-Cousins chi^2 of the C data alone and of each sideband
  window, each with its effective degrees of freedom (bins minus the trace of
  the fit's hat matrix over those bins, so the shared background parameters are
  split between C and AC by how much each constrains them; the shares of all
  terms add up to the number of free parameters).
- ``asimov_observed`` / ``expected_significance``: the median significance a
  repetition of the experiment would give at the standard-model rate.
- ``impacts``: the shift of the CEvNS count when each nuisance (and each free
  steady-state parameter) is fixed at its post-fit value +- its post-fit error and the
  rest refitted (a ranking table), and the steady-state background's share of the
  count's error as one group (``background_group_impact``).
- ``scan_point`` / ``profile_scan`` / ``crossings``: the profile likelihood at
  one grid point (a pure function of the best fit and the point), a scan, and
  where it crosses 1, 2, 3 sigma.
- ``count_fit`` / ``count_interval`` / ``count_signed_root``: the CEvNS count as a fit
  parameter (``signal.Count``), its profile-likelihood (MINOS) interval, and the signed root
  of the profile likelihood ratio at a given count (the pull that does not linearise the
  count in the parameters).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .datafiles import ObservedData
from .fit import FitOutcome, minimise, minos_interval
from .likelihood import NormalPull, OnOffBins, PoissonBins
from .model import FitModel
from .scanpoints import PointMapper, point_value, serial_points
from .signal import Count
from .steady_state import OFF_WINDOWS

#: 2 Delta NLL levels of the 1, 2, 3 sigma intervals of one parameter.
SIGMA_LEVELS = {1: 1.0, 2: 4.0, 3: 9.0}


# --- goodness of fit ---------------------------------------------------------
def _term_expectation(term: Any, p: Mapping[str, float]) -> NDArray[np.float64]:
    if isinstance(term, OnOffBins):
        return term.model(p) + term.background(p)
    return np.asarray(term.model(p), dtype=float)


def window_chi2(best: FitOutcome) -> dict[str, dict[str, float]]:
    """chi^2, effective ndof and bins of each data term of the fit (``c``, and ``ac``,
    ``c_beam_off``, ``ac_beam_off`` for the models whose likelihood holds them)."""
    free = [n for n in best.minuit.parameters if not best.minuit.fixed[n]]
    data_terms = [c for c in best.cost.costs if not isinstance(c, NormalPull)]
    labels = _term_labels(best.model, data_terms)
    cov = best.covariance
    index = [list(best.minuit.parameters).index(n) for n in free]
    cov = cov[np.ix_(index, index)] if cov.size else cov
    out: dict[str, dict[str, float]] = {}
    for label, term in zip(labels, data_terms, strict=True):
        if isinstance(term, OnOffBins):
            out.update(_on_off_chi2(best, term, free, cov))
            continue
        lam = _term_expectation(term, best.values).ravel()
        jac = _jacobian(term, best.values, free, best.errors)
        info = jac.T @ (jac / np.maximum(lam, 1e-12)[:, None])
        used = float(np.trace(info @ cov)) if np.all(np.isfinite(cov)) else float("nan")
        chi2 = 2.0 * term.value(best.values)
        out[label] = {"chi2": chi2, "ndof": term.ndata - used, "bins": term.ndata, "parameters_used": used}
    return out


def _term_labels(model: FitModel, terms: Sequence[Any]) -> list[str]:
    if model.factorized:
        off = [w for w in OFF_WINDOWS if model.spec.steady_state.beam_off and w in model.observed.counts]
        return ["c", "ac", *off][: len(terms)]
    return ["c"] * len(terms)


def _jacobian(term: Any, p: Mapping[str, float], free: Sequence[str], errors: Mapping[str, float]) -> NDArray:
    cols = []
    for name in free:
        if name not in term.parameters:
            cols.append(np.zeros(term.ndata))
            continue
        h = 1e-3 * max(errors.get(name, 1.0), 1e-6)
        up, down = dict(p), dict(p)
        up[name] += h
        down[name] -= h
        cols.append(((_term_expectation(term, up) - _term_expectation(term, down)) / (2 * h)).ravel())
    return np.array(cols).T


def _on_off_chi2(best: FitOutcome, term: OnOffBins, free: Sequence[str], cov: NDArray) -> dict:
    """Per-bin model: each profiled background b is shared by its C, AC and beam-off bins in
    proportion to the information each gives about it (1 / expectation x d expectation / db)."""
    p = best.values
    s, b = np.maximum(term.model(p), 0.0), term.background(p)
    r = term._ratio(p)
    lam_c, lam_ac = np.maximum(s + b, 1e-12), np.maximum(b, 1e-12)
    w_c, w_ac, w_off = 1.0 / lam_c, 1.0 / lam_ac, r / lam_ac
    total = w_c + w_ac + w_off
    jac = _jacobian(term, p, free, best.errors)[: s.size]
    info = jac.T @ (jac / lam_c.ravel()[:, None])
    explicit = float(np.trace(info @ cov)) if np.all(np.isfinite(cov)) else float("nan")
    chi2_c = 2.0 * float(PoissonBins(term.on, lambda _: s + b, ()).value(p))
    chi2_ac = 2.0 * float(PoissonBins(term.off, lambda _: b, ()).value(p))
    out = {"c": {"chi2": chi2_c, "ndof": s.size - explicit - float((w_c / total).sum()), "bins": s.size,
                 "parameters_used": explicit + float((w_c / total).sum())},
           "ac": {"chi2": chi2_ac, "ndof": s.size - float((w_ac / total).sum()), "bins": s.size,
                  "parameters_used": float((w_ac / total).sum())}}
    if term.extra:
        chi2_off = sum(2.0 * float(PoissonBins(e, lambda _: r / len(term.extra) * b, ()).value(p))
                       for e in term.extra)
        n_off = sum(e.size for e in term.extra)
        out["beam_off"] = {"chi2": chi2_off, "ndof": n_off - float((w_off / total).sum()), "bins": n_off,
                           "parameters_used": float((w_off / total).sum())}
    return out


# --- expected significance -------------------------------------------------------
def steady_state_expectation(best: FitOutcome, p: Mapping[str, float] | None = None) -> NDArray[np.float64]:
    """Fitted steady-state background per bin in the C window."""
    p = best.values if p is None else p
    if best.model.steady is not None:
        return best.model.steady.expected(p)
    return best.cost.costs[0].background(p)


def asimov_observed(model: FitModel, truth: Mapping[str, float], steady_state: NDArray) -> ObservedData:
    """Every window at its expectation (non-integer counts): C from ``truth``; the AC window
    and the beam-off windows from ``steady_state`` scaled by their exposure (the data's
    ratio for the beam-off windows, ``exposure_ratio`` for the AC window)."""
    obs = model.observed
    ac_ratio = model.spec.steady_state.exposure_ratio if model.spec.steady_state.model == "smooth" else 1.0
    counts = {"c_beam_on": model.beam(truth) + steady_state, "ac_beam_on": ac_ratio * steady_state}
    for window in OFF_WINDOWS:
        if window in obs.counts:
            counts[window] = steady_state * obs.counts[window].sum() / max(steady_state.sum(), 1e-12)
    return ObservedData(counts, obs.pot, obs.gwhr)


def expected_significance(best: FitOutcome, name: str = "mu", value: float = 1.0) -> dict[str, float]:
    """Median significance (Asimov) of rejecting ``name = 0`` if the truth were ``name = value``
    with every other parameter at its best fit to the data: ``z``, and the Asimov fit's
    ``fitted`` value (``value`` up to the minimiser's tolerance) and HESSE ``error``."""
    truth = {**best.values, name: value}
    data = asimov_observed(best.model, truth, steady_state_expectation(best))
    model = best.model.with_observed(data)
    centres = {n.name: truth[n.name] for n in model.nuisances if n.name not in model.sideband_nuisances}
    fit = minimise(model, pull_centres=centres, start=truth)
    null = minimise(model, fixed={name: 0.0}, pull_centres=centres, start=fit.values, hesse=False)
    nan = float("nan")
    if not (fit.converged and null.converged):
        return {"z": nan, "fitted": nan, "error": nan}
    return {"z": float(np.sqrt(max(2.0 * (null.fval - fit.fval), 0.0))), "fitted": float(fit.values[name]),
            "error": float(fit.errors[name]) if fit.has_covariance else nan}


# --- impacts ------------------------------------------------------------------
#: Name of the impact-table row of the whole steady-state background (every parameter fixed).
BACKGROUND_GROUP = "steady_state"


def free_background_parameters(model: FitModel) -> tuple[str, ...]:
    """The steady-state parameters without a pull term: the factorised model's P_i, Q_j (and the
    beam-off live-time ratio), the per-bin model's live-time ratio (its b_ij are profiled in
    closed form); none in the smooth model (its pulls are nuisances)."""
    return tuple(p for p in model.parameters if p.startswith("ss_"))


class FixedSteadyState:
    """A steady-state background held at given expectations: no parameters, no sideband terms."""

    parameters: tuple[str, ...] = ()

    def __init__(self, expected: NDArray[np.float64]) -> None:
        self._expected = np.asarray(expected, dtype=float)

    def start(self) -> dict[str, float]:
        return {}

    def expected(self, p: Mapping[str, float]) -> NDArray[np.float64]:
        return self._expected

    def costs(self) -> list[Any]:
        return []


def background_fixed_model(best: FitOutcome) -> FitModel:
    """``best.model`` with the steady-state background fixed at its best fit per bin (the AC and
    beam-off terms dropped with it): what the fit knows without the background's uncertainty."""
    model = best.model
    fixed = copy.copy(model)
    background = set(free_background_parameters(model)) | set(model.sideband_nuisances)
    fixed.steady = FixedSteadyState(steady_state_expectation(best))
    fixed.nuisances = tuple(n for n in model.nuisances if n.name not in background)
    fixed.parameters = tuple(p for p in model.parameters if p not in background)
    fixed.sideband_nuisances = frozenset()
    fixed._beam_memo = None
    return fixed


def _impact_row(best: FitOutcome, name: str, description: str, free: bool) -> dict[str, Any]:
    n0 = best.model.n_cevns(best.values)
    value, err = best.values[name], best.errors[name]
    shifts = []
    for sign in (+1.0, -1.0):
        fit = minimise(best.model, fixed={name: value + sign * err}, pull_centres=best.pull_centres,
                       start=best.values, hesse=False, strategy=0)
        shifts.append(best.model.n_cevns(fit.values) - n0 if fit.converged else float("nan"))
    return {"name": name, "description": description, "pull": value, "pull_err": err, "free": free,
            "up": shifts[0], "down": shifts[1], "impact": 0.5 * (abs(shifts[0]) + abs(shifts[1]))}


def background_group_impact(best: FitOutcome) -> dict[str, Any]:
    """The whole steady-state background's share of the count's error, in quadrature:
    sqrt(sigma_n^2 - sigma_n^2 with the background fixed at its best fit) (HESSE errors)."""
    fit = minimise(background_fixed_model(best), pull_centres=best.pull_centres, start=best.values)
    sigma, sigma_fixed = best.n_cevns()[1], fit.n_cevns()[1]
    impact = float(np.sqrt(max(sigma**2 - sigma_fixed**2, 0.0))) if fit.has_covariance else float("nan")
    return {"name": BACKGROUND_GROUP, "description": "steady-state background, every parameter fixed (in "
            f"quadrature: count error {sigma:.3g} -> {sigma_fixed:.3g})", "pull": float("nan"),
            "pull_err": float("nan"), "free": True, "group": True, "up": -impact, "down": impact, "impact": impact}


def impacts(best: FitOutcome, background: bool = True) -> list[dict[str, Any]]:
    """Post-fit impact of each nuisance on the CEvNS count, largest first: refits with the
    nuisance fixed at theta_hat +- its error (``up``/``down`` are the count shifts).  With
    ``background`` also the free steady-state parameters (``free``: no pull term; ``pull`` is
    then the fitted value and ``pull_err`` its error) and the whole background as one group
    row (``group``, ``BACKGROUND_GROUP``)."""
    rows = [_impact_row(best, n.name, n.description, False) for n in best.model.nuisances]
    if background:
        # (a parameter HESSE held on its zero limit has no error: nothing to move it by)
        rows += [_impact_row(best, name, "steady-state background parameter (free)", True)
                 for name in free_background_parameters(best.model) if best.errors[name] > 0]
        if best.has_covariance:
            rows.append(background_group_impact(best))
    return sorted(rows, key=lambda r: -r["impact"] if np.isfinite(r["impact"]) else 0.0)


# --- profile scan -------------------------------------------------------------------
def scan_point(best: FitOutcome, name: str, value: float) -> float:
    """2 Delta NLL of the profile likelihood at ``name = value``: one minimisation started from
    the best fit, so the result depends only on (best fit, point) and points can run anywhere
    (:mod:`analysis.scanpoints`)."""
    return point_value(best.model, name, value, best.values, best.fval, best.pull_centres)


def scan_grid(best: FitOutcome, name: str, err_hi: float, points: int = 50) -> NDArray:
    """Evenly spaced values from 0 (the null) to beyond the upper 3 sigma crossing."""
    centre = best.values[name]
    hi = centre + 4.5 * (err_hi if np.isfinite(err_hi) and err_hi > 0 else max(centre, 1.0))
    return np.linspace(0.0, hi, points)


def profile_scan(best: FitOutcome, name: str, grid: Sequence[float],
                 points: PointMapper | None = None) -> NDArray[np.float64]:
    """``scan_point`` at every grid value (unclipped), by ``points`` (default: one after the other here)."""
    points = points or serial_points(best.model)
    return np.array(points(None, name, [float(v) for v in grid], dict(best.values), float(best.fval),
                           dict(best.pull_centres)))


def crossings(grid: Sequence[float], values: Sequence[float], centre: float) -> dict[str, list[float | None]]:
    """Where the scan crosses the 1, 2, 3 sigma levels below and above ``centre`` (linear
    interpolation; None if the scan does not reach the level on that side)."""
    x, y = np.asarray(grid, dtype=float), np.asarray(values, dtype=float)
    out: dict[str, list[float | None]] = {}
    for k, level in SIGMA_LEVELS.items():
        sides: list[float | None] = []
        for side in (x < centre, x >= centre):
            xs, ys = x[side], y[side]
            order = np.argsort(np.abs(xs - centre))
            xs, ys = np.concatenate([[centre], xs[order]]), np.concatenate([[0.0], ys[order]])
            hit = np.nonzero((ys[:-1] < level) & (ys[1:] >= level))[0]
            if hit.size == 0:
                sides.append(None)
                continue
            i = hit[0]
            sides.append(float(xs[i] + (level - ys[i]) * (xs[i + 1] - xs[i]) / (ys[i + 1] - ys[i])))
        out[f"{k}sigma"] = sides
    return out


# --- the CEvNS count as a parameter ----------------------------------------------------
def count_fit(best: FitOutcome, fixed: float | None = None, hesse: bool = True) -> FitOutcome:
    """The best fit re-expressed with the CEvNS count ``n_signal`` as the signal parameter (same
    minimum: mu = n_signal / count at mu = 1); with ``fixed`` the count held there, the rest profiled."""
    n0 = best.model.n_cevns(best.values)
    model = best.model.with_hypothesis(Count(len(best.model.cevns.nuclides), start_count=max(n0, 1.0)))
    start = {**best.values, "n_signal": n0}
    return minimise(model, fixed=None if fixed is None else {"n_signal": float(fixed)},
                    pull_centres=best.pull_centres, start=start, hesse=hesse, strategy=1 if fixed is None else 0)


def count_interval(best: FitOutcome) -> tuple[float, float]:
    """Lower and upper MINOS errors (Delta NLL = 1/2) of the CEvNS count; NaN without a valid fit."""
    fit = count_fit(best)
    if not (fit.valid and fit.has_covariance):
        return float("nan"), float("nan")
    return minos_interval(fit, "n_signal")


def count_signed_root(best: FitOutcome, count: float) -> float:
    """sign(n_hat - count) sqrt(2 [NLL(count, profiled) - NLL(best)]): standard normal at the
    true count, whatever the count's dependence on the parameters (invariant under
    reparametrisation, unlike (n_hat - count) / linearised error)."""
    fit = count_fit(best, fixed=count, hesse=False)
    if not fit.converged:
        return float("nan")
    n_hat = best.model.n_cevns(best.values)
    return float(np.sign(n_hat - count) * np.sqrt(max(2.0 * (fit.fval - best.fval), 0.0)))
