"""HESSE with steady-state parameters on their zero limit (a run with an empty sideband): the
covariance of the other parameters must be that of the fit with those parameters held, not the
garbage of a Hessian without curvature in Minuit's bounded coordinates."""

import numpy as np
import pytest

from analysis.datafiles import ObservedData, load_observed
from analysis.dataset import read_dataset, with_steady_state_model
from analysis.datasets import builtin
from analysis.diagnostics import impacts, scan_point
from analysis.fit import NEAR_ZERO_BACKGROUND, minimise, significance
from analysis.model import FitModel
from tests.analysis.release import COHERENT_2018


def test_empty_sideband_gives_the_errors_of_the_held_fit():
    """The 2018 binning with C = the SM CEvNS + neutron expectation rounded to counts and every
    sideband window empty: the background goes to zero; flux_norm, degenerate with mu, keeps its
    prior's error 1; the count's error is that of the fit with the background held at zero, about
    sqrt(N_C) (the counting error with no background)."""
    spec = with_steady_state_model(read_dataset(builtin("coherent-2018"), COHERENT_2018), "factorized")
    real = load_observed(spec)
    model = FitModel(spec, real)
    c = np.round(model.beam({**model.start(), "mu": 1.0}))
    counts = {w: (c if w == "c_beam_on" else np.zeros_like(c)) for w in real.counts}
    empty = model.with_observed(ObservedData(counts, real.pot, real.gwhr))
    best = minimise(empty)
    ss = [p for p in best.values if p.startswith("ss_") and p != "ss_off_ratio"]
    assert best.valid and best.has_covariance
    assert sum(best.values[p] < NEAR_ZERO_BACKGROUND for p in ss) >= len(ss) - 1
    # held: the background and the beam-off live-time ratio (flat with no background) fixed
    held = minimise(empty, fixed={p: best.values[p] for p in [*ss, "ss_off_ratio"]}, start=best.values)
    assert best.errors["flux_norm"] == pytest.approx(1.0, abs=0.02)
    assert best.n_cevns()[1] == pytest.approx(held.n_cevns()[1], rel=0.02)
    assert best.n_cevns()[1] == pytest.approx(np.sqrt(c.sum()), rel=0.15)


def test_scan_and_impacts_with_an_empty_sideband():
    """With the background on its zero limit the profile point at mu = 0 is the significance's
    q0 (both restart the background from one count: from the limit there is no gradient), and
    the impact table leaves out the parameters HESSE held (error 0)."""
    spec = with_steady_state_model(read_dataset(builtin("coherent-2018"), COHERENT_2018), "factorized")
    real = load_observed(spec)
    model = FitModel(spec, real)
    c = np.round(model.beam({**model.start(), "mu": 1.0}))
    counts = {w: (c if w == "c_beam_on" else np.zeros_like(c)) for w in real.counts}
    best = minimise(model.with_observed(ObservedData(counts, real.pot, real.gwhr)))
    z = significance(best)[0]
    assert scan_point(best, "mu", 0.0) == pytest.approx(z**2, rel=5e-3)
    held = {p for p, e in best.errors.items() if p.startswith("ss_") and e == 0.0}
    assert held and not held & {r["name"] for r in impacts(best)}
