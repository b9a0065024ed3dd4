"""Toy experiments drawn from the fit model, for inject-and-recover checks.

A toy redraws every measured input: the C-window counts from the model at the
true parameters, the AC (and beam-off) windows from the steady-state background,
and the auxiliary measurements behind each pull term (centres ~ N(0, 1)), so that
pulls of fitted quantities are expected to be standard normal.  The smooth
steady-state model's pulls have the sideband itself as their auxiliary
measurement: the redrawn sideband moves them, their centres stay at 0.

``run_toy(model, truth, seed)`` is one toy as a pure function of its inputs (a
fresh generator from ``seed``), returning plain numbers, so toys can be fanned
out over processes or machines and their results merged in any order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .datafiles import ObservedData
from .diagnostics import count_signed_root
from .fit import FitOutcome, minimise
from .model import FitModel
from .steady_smooth import SmoothSteadyState
from .steady_state import OFF_WINDOWS, FactorizedSteadyState


@dataclass(frozen=True)
class Toy:
    observed: ObservedData
    pull_centres: dict[str, float]


def steady_state_truth(model: FitModel, truth: dict[str, float] | None = None) -> np.ndarray:
    """A smooth steady-state truth per bin in a C-length window: for the smooth model its
    expectation at ``truth`` (nominal without); otherwise the factorised estimate (PE
    profile x time profile) from the data's AC and beam-off windows."""
    if isinstance(model.steady, SmoothSteadyState):
        return model.steady.expected(truth or {})
    steady = FactorizedSteadyState(model.observed.counts, use_beam_off=True)
    return steady.expected(steady.start())


def draw_toy(model: FitModel, truth: dict[str, float], rng: np.random.Generator,
             steady_state: np.ndarray | None = None) -> Toy:
    """One toy of the C, AC and beam-off windows plus randomised pull centres.

    ``truth`` holds the true beam-related parameters; the steady-state truth is
    ``steady_state`` per bin (default ``steady_state_truth``); beam-off windows keep
    the data's live-time ratio.
    """
    ss = steady_state_truth(model, truth) if steady_state is None else steady_state
    beam = model.beam(truth)
    obs = model.observed
    ac_ratio = model.spec.steady_state.exposure_ratio if isinstance(model.steady, SmoothSteadyState) else 1.0
    counts = {"c_beam_on": rng.poisson(beam + ss).astype(float),
              "ac_beam_on": rng.poisson(ss * ac_ratio).astype(float)}
    for window in OFF_WINDOWS:
        if window in obs.counts:
            scale = obs.counts[window].sum() / max(ss.sum(), 1e-12)
            counts[window] = rng.poisson(ss * scale).astype(float)
    centres = {n.name: float(truth.get(n.name, 0.0) + rng.normal()) for n in model.nuisances
               if n.name not in model.sideband_nuisances}
    return Toy(ObservedData(counts, obs.pot, obs.gwhr), centres)


def fit_toy(model: FitModel, toy: Toy, truth: dict[str, float]) -> FitOutcome:
    """Fit a toy with the same model (its steady-state shape rebuilt from the toy)."""
    toy_model = model.with_observed(toy.observed)
    return minimise(toy_model, pull_centres=toy.pull_centres, start=truth)


def run_toy(model: FitModel, truth: dict[str, float], seed: int) -> dict[str, float]:
    """Draw and fit one toy from ``seed``: fitted and true CEvNS count and signal strength,
    their errors and pulls, and whether the fit is valid (NaN pulls without a covariance).
    ``pull_n_cevns`` is (n_hat - n_true) / linearised error; ``pull_n_cevns_profile`` the signed
    root of the count's profile likelihood ratio at n_true (|.| < 1 iff the MINOS interval covers)."""
    toy = draw_toy(model, truth, np.random.default_rng(seed))
    fit = fit_toy(model, toy, truth)
    n_true = model.n_cevns(truth)
    n, err = fit.n_cevns()
    mu_err = fit.errors["mu"] if fit.has_covariance else float("nan")
    return {"seed": seed, "valid": bool(fit.valid and fit.has_covariance), "n_cevns": n, "n_cevns_err": err,
            "n_cevns_true": n_true, "pull_n_cevns": (n - n_true) / err if err > 0 else float("nan"),
            "pull_n_cevns_profile": count_signed_root(fit, n_true) if fit.converged else float("nan"),
            "mu": fit.values["mu"], "mu_err": mu_err, "pull_mu": (fit.values["mu"] - truth["mu"]) / mu_err}
