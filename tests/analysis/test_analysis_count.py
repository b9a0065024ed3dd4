"""The CEvNS count as a fit parameter (``signal.Count``): its profile-likelihood interval and
the signed-root pull of the toys (issue 14, item 7: the count's pull), on the 2018 release with
the smooth steady-state model (15 parameters, a fit in ~0.05 s)."""

import numpy as np
import pytest

from analysis.datafiles import load_observed
from analysis.dataset import read_dataset, with_steady_state_model
from analysis.datasets import builtin
from analysis.diagnostics import count_fit, count_interval, count_signed_root, impacts, scan_point
from analysis.fit import minimise
from analysis.model import FitModel
from analysis.toys import run_toy
from tests.analysis.release import COHERENT_2018


@pytest.fixture(scope="module")
def best():
    spec = with_steady_state_model(read_dataset(builtin("coherent-2018"), COHERENT_2018), "smooth")
    return minimise(FitModel(spec, load_observed(spec)))


def test_count_parameter_gives_the_same_minimum(best):
    """Re-expressed with the count as its parameter the fit finds the same minimum (NLL within
    MIGRAD's tolerance, count within 0.1 %), and the model's count is the parameter."""
    fit = count_fit(best)
    assert fit.valid and fit.has_covariance
    assert fit.fval == pytest.approx(best.fval, abs=2e-3)
    n_hat = best.model.n_cevns(best.values)
    assert fit.values["n_signal"] == pytest.approx(n_hat, rel=1e-3)
    assert fit.model.n_cevns(fit.values) == pytest.approx(fit.values["n_signal"], rel=1e-12)
    # the count's HESSE error is the linearised error of the mu parametrisation (same covariance)
    assert fit.errors["n_signal"] == pytest.approx(best.n_cevns()[1], rel=0.03)


def test_count_interval_is_where_the_signed_root_is_one(best):
    """MINOS on the count and the signed root of the profile likelihood ratio agree: the root is
    -1 at the upper end and +1 at the lower end of the interval; the interval is about as wide
    as twice the linearised error (the 2018 count's likelihood is nearly parabolic)."""
    lo, hi = count_interval(best)
    n_hat = best.model.n_cevns(best.values)
    assert lo < 0 < hi
    assert count_signed_root(best, n_hat + hi) == pytest.approx(-1.0, abs=0.02)
    assert count_signed_root(best, n_hat + lo) == pytest.approx(1.0, abs=0.02)
    assert (hi - lo) / 2 == pytest.approx(best.n_cevns()[1], rel=0.1)


def test_toy_reports_the_profile_pull(best):
    """``run_toy`` gives the signed-root pull beside the linearised one: same sign, close
    (they differ at second order)."""
    row = run_toy(best.model, {**best.model.start(), "mu": 1.0}, 3)
    assert np.isfinite(row["pull_n_cevns_profile"])
    assert np.sign(row["pull_n_cevns_profile"]) == np.sign(row["pull_n_cevns"])
    assert abs(row["pull_n_cevns_profile"] - row["pull_n_cevns"]) < 0.2


def test_refits_keep_the_pull_centres_of_the_fit(best):
    """A fit with a shifted auxiliary measurement (as in a toy): the profile point at its own
    best-fit mu costs nothing, and an impact refit keeps the shifted centre (a refit with the
    nuisance fixed at its best fit would change nothing)."""
    shifted = minimise(best.model, pull_centres={"brn_norm": 1.5, "t_offset_us": -1.0}, start=best.values)
    assert shifted.pull_centres["brn_norm"] == 1.5
    assert scan_point(shifted, "mu", shifted.values["mu"]) == pytest.approx(0.0, abs=1e-3)
    fixed_at_best = minimise(best.model, fixed={"t_offset_us": shifted.values["t_offset_us"]},
                             pull_centres=shifted.pull_centres, start=shifted.values, hesse=False)
    assert fixed_at_best.fval == pytest.approx(shifted.fval, abs=1e-3)
    rows = {r["name"]: r for r in impacts(shifted)}
    assert np.isfinite(rows["t_offset_us"]["up"]) and rows["t_offset_us"]["pull"] < -0.5
