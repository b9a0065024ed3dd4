"""Toy experiments drawn from the fit model, for inject-and-recover checks.

A toy redraws every measured input: the C-window counts from the model at the
true parameters, the AC (and beam-off) windows from the steady-state background,
and the auxiliary measurements behind each pull term (centres ~ N(0, 1)), so that
pulls of fitted quantities are expected to be standard normal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .datafiles import ObservedData
from .fit import FitOutcome, minimise
from .model import FitModel
from .steady_state import OFF_WINDOWS, FactorizedSteadyState


@dataclass(frozen=True)
class Toy:
    observed: ObservedData
    pull_centres: dict[str, float]


def steady_state_truth(model: FitModel) -> np.ndarray:
    """A smooth steady-state truth per bin in a C-length window: the factorised
    estimate (PE profile x time profile) from the data's AC and beam-off windows."""
    steady = FactorizedSteadyState(model.observed.counts, use_beam_off=True)
    return steady.expected(steady.start())


def draw_toy(model: FitModel, truth: dict[str, float], rng: np.random.Generator,
             steady_state: np.ndarray | None = None) -> Toy:
    """One toy of the C, AC and beam-off windows plus randomised pull centres.

    ``truth`` holds the true beam-related parameters; the steady-state truth is
    ``steady_state`` per bin (default ``steady_state_truth``); beam-off windows keep
    the data's live-time ratio.
    """
    ss = steady_state_truth(model) if steady_state is None else steady_state
    beam = model.beam(truth)
    obs = model.observed
    counts = {"c_beam_on": rng.poisson(beam + ss).astype(float),
              "ac_beam_on": rng.poisson(ss).astype(float)}
    for window in OFF_WINDOWS:
        if window in obs.counts:
            scale = obs.counts[window].sum() / max(ss.sum(), 1e-12)
            counts[window] = rng.poisson(ss * scale).astype(float)
    centres = {n.name: float(truth.get(n.name, 0.0) + rng.normal()) for n in model.nuisances}
    return Toy(ObservedData(counts, obs.pot, obs.gwhr), centres)


def fit_toy(model: FitModel, toy: Toy, truth: dict[str, float]) -> FitOutcome:
    """Fit a toy with the same model (its steady-state shape rebuilt from the toy)."""
    toy_model = model.with_observed(toy.observed)
    return minimise(toy_model, pull_centres=toy.pull_centres, start=truth)
