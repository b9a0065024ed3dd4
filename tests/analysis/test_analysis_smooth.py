"""The smooth steady-state model and the fit diagnostics (issue 14, items 1, 5, 6).

The sideband fit is checked on a synthetic sideband drawn from a known shape; the
fit and its diagnostics on the 2018 release with ``--steady-state smooth``.
"""

from dataclasses import replace

import numpy as np
import pytest

from analysis.datafiles import load_observed
from analysis.dataset import read_dataset, with_steady_state_model
from analysis.datasets import builtin
from analysis.diagnostics import crossings, expected_significance, impacts, profile_scan, scan_point, window_chi2
from analysis.fit import minimise, significance
from analysis.model import FitModel
from analysis.schema import DatasetError
from analysis.steady_smooth import NORM, SmoothSteadyState
from analysis.toys import run_toy
from tests.analysis.release import COHERENT_2018


@pytest.fixture(scope="module")
def spec():
    return with_steady_state_model(read_dataset(builtin("coherent-2018"), COHERENT_2018), "smooth")


@pytest.fixture(scope="module")
def best(spec):
    return minimise(FitModel(spec, load_observed(spec)))


def test_sideband_fit_recovers_a_known_shape(spec):
    """Counts drawn from the model's own shape at chosen parameters: the fit finds them back
    within 4 standard errors, and the principal directions carry the fit's covariance."""
    observed = load_observed(spec)
    smooth = SmoothSteadyState(spec, observed.counts)
    truth = np.array([-1.0, 0.8, 0.5, -1.2, 0.15])
    rng = np.random.default_rng(7)
    counts = {w: rng.poisson(2e4 * smooth.shape(truth)).astype(float) for w in ("ac_beam_on", "c_beam_off")}
    refit = SmoothSteadyState(replace(spec, steady_state=replace(spec.steady_state,
                                                                 shape_windows=("ac_beam_on", "c_beam_off"))),
                              counts)
    assert refit.sideband_fit_valid
    errors = np.sqrt(np.diag(refit.covariance))
    assert np.all(np.abs(refit.centre - truth) < 4 * errors)
    d = refit._directions
    assert d @ d.T == pytest.approx(refit.covariance, rel=1e-6, abs=1e-12)
    chi2, ndof = refit.sideband_chi2()
    assert ndof == 144 - 1 - 5 and chi2 < ndof + 5 * np.sqrt(2 * ndof)


def test_normalisation_prior_from_the_sideband_size(spec):
    """Nominal N_AC / r with error sqrt(N_AC) / r: 405 AC events (release README) for r = 1,
    and a sideband four times longer than the C window gives a prior four times narrower."""
    counts = load_observed(spec).counts
    norm = SmoothSteadyState(spec, counts).nuisances[0]
    assert norm.name == NORM and norm.nominal == 405 and norm.error_hi == pytest.approx(np.sqrt(405))
    long = replace(spec, steady_state=replace(spec.steady_state, exposure_ratio=4.0))
    wide = SmoothSteadyState(long, {**counts, "ac_beam_on": 4 * counts["ac_beam_on"]}).nuisances[0]
    assert wide.nominal == pytest.approx(405) and wide.error_hi == pytest.approx(np.sqrt(4 * 405) / 4)


def test_smooth_fit_of_2018(best):
    """A valid fit whose C-window chi^2 is consistent with its effective ndof (p > 1 %), the
    effective parameter count lies between the one free unpulled parameter (mu) and the number of
    free parameters, and the CEvNS count is the published 134 +- 22 within 0.5 sigma."""
    from scipy.stats import chi2 as chi2_dist

    assert best.valid and best.has_covariance
    w = window_chi2(best)
    assert set(w) == {"c"}  # the sideband is summarised by pulls: no AC term in the likelihood
    free = sum(1 for n in best.minuit.parameters if not best.minuit.fixed[n])
    assert 1.0 < w["c"]["parameters_used"] < free
    assert chi2_dist.sf(w["c"]["chi2"], w["c"]["ndof"]) > 0.01
    n, err = best.n_cevns()
    assert n == pytest.approx(134, abs=11) and err == pytest.approx(22, rel=0.25)


def test_window_chi2_shares_add_up_for_the_factorized_model(spec):
    """Hat-matrix shares of the C, AC and beam-off terms plus the pull terms' shares (their
    variance, each pull giving unit information) add up to the free parameters (to ~1: HESSE
    uses the observed, the shares the expected information)."""
    fspec = with_steady_state_model(spec, "factorized")
    fbest = minimise(FitModel(fspec, load_observed(fspec)))
    w = window_chi2(fbest)
    assert set(w) == {"c", "ac", "c_beam_off", "ac_beam_off"}
    pulled = sum(fbest.errors[n.name] ** 2 for n in fbest.model.nuisances)
    free = sum(1 for n in fbest.minuit.parameters if not fbest.minuit.fixed[n])
    assert sum(v["parameters_used"] for v in w.values()) + pulled == pytest.approx(free, abs=1.0)
    assert sum(v["chi2"] for v in w.values()) == pytest.approx(fbest.poisson_chi2())


def test_scan_points_are_pure_and_match_the_significance(best):
    """A scan point depends only on (best fit, point): same value in any order; at mu = 0 it is
    the q0 of the significance."""
    grid = [0.0, 1.2, 0.5]
    forward = profile_scan(best, "mu", grid)
    backward = profile_scan(best, "mu", grid[::-1])[::-1]
    assert forward == pytest.approx(backward, abs=1e-6)
    z, _ = significance(best)
    assert np.sqrt(scan_point(best, "mu", 0.0)) == pytest.approx(z, abs=0.02)


def test_crossings_of_a_parabola():
    """2 Delta NLL = ((x - 1) / 0.2)^2 crosses 1, 4, 9 at 1 -+ 0.2, 0.4, 0.6; the linear
    interpolation on a 0.01 grid is within 0.003; a level the grid does not reach is None."""
    x = np.arange(0.0, 1.7, 0.01)
    c = crossings(x, ((x - 1.0) / 0.2) ** 2, 1.0)
    for k, half in ((1, 0.2), (2, 0.4), (3, 0.6)):
        lo, hi = c[f"{k}sigma"]
        assert lo == pytest.approx(1 - half, abs=3e-3) and hi == pytest.approx(1 + half, abs=3e-3)
    assert crossings(x, ((x - 1.0) / 0.5) ** 2, 1.0)["3sigma"] == [None, None]


def test_asimov_recovers_its_truth_and_scales(best):
    """The Asimov fit returns the injected strength; the expected significance grows with it."""
    sm = expected_significance(best, value=1.0)
    half = expected_significance(best, value=0.5)
    assert sm["fitted"] == pytest.approx(1.0, abs=2e-3) and half["fitted"] == pytest.approx(0.5, abs=2e-3)
    assert 0 < half["z"] < sm["z"]


def test_impacts_ranked(best):
    """One row per nuisance, largest first; the steady-state normalisation moves the CEvNS count
    against itself (more background, fewer CEvNS) by roughly its prior over the C window."""
    table = impacts(best)
    # one row per nuisance and the background group (the smooth model has no free background parameter)
    assert [r["name"] for r in table] and len(table) == len(best.model.nuisances) + 1
    assert sum(1 for r in table if r.get("group")) == 1
    values = [r["impact"] for r in table]
    assert values == sorted(values, reverse=True)
    norm = next(r for r in table if r["name"] == NORM)
    assert norm["up"] < 0 < norm["down"]
    assert 5 < norm["impact"] < np.sqrt(405) + 5


def test_run_toy_is_a_pure_function_of_the_seed(best):
    truth = {**best.model.start(), "mu": 1.0}
    a, b = run_toy(best.model, truth, 11), run_toy(best.model, truth, 11)
    assert a == b and a["valid"]
    assert run_toy(best.model, truth, 12)["n_cevns"] != a["n_cevns"]


def test_bad_steady_state_keys(tmp_path):
    text = builtin("coherent-2018").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('norm_windows = ["ac_beam_on"]', 'norm_windows = ["c_beam_on"]'))
    with pytest.raises(DatasetError, match=r"\[steady_state\] norm_windows: expected a non-empty list"):
        read_dataset(bad, COHERENT_2018)
    bad.write_text(text.replace('time_shape = "exponential"', 'time_shape = "falling"'))
    with pytest.raises(DatasetError, match=r"time_shape: expected one of 'flat', 'exponential'"):
        read_dataset(bad, COHERENT_2018)


def test_smooth_model_toys_have_standard_normal_pulls(tmp_path):
    """20 seeded toys of the smooth model at the SM rate on 4-PE x 1-us bins (as
    test_analysis_toys does for the factorised model): the sideband is redrawn and refitted in
    each toy.  With 20 toys the mean of a standard normal scatters by 0.22 and the width by 0.16:
    |mean| < 0.7 and 0.55 < width < 1.5 (about 3 standard errors).  benchmarks/bench_fit.py --steady-state smooth --toys
    1000 measures them at full binning (docs/fit.md)."""
    text = builtin("coherent-2018").read_text().replace('model = "factorized"', 'model = "smooth"')
    text = text.replace("pe_bin_width = 2.0", "pe_bin_width = 4.0").replace("time_bin_width_us = 0.5",
                                                                             "time_bin_width_us = 1.0")
    path = tmp_path / "coarse.toml"
    path.write_text(text)
    spec = read_dataset(path, COHERENT_2018)
    model = FitModel(spec, load_observed(spec))
    truth = {**model.start(), "mu": 1.0}
    rows = [run_toy(model, truth, seed) for seed in range(20)]
    assert all(r["valid"] for r in rows)
    pulls = np.array([r["pull_n_cevns"] for r in rows])
    assert abs(pulls.mean()) < 0.7 and 0.55 < pulls.std(ddof=1) < 1.5
