"""Inject and recover: fits of toys drawn from the model itself.

Toys redraw the C, AC and beam-off windows and every pull-term centre, so the
pulls (fit - truth) / error of the CEvNS count and of the signal strength should be
standard normal.  To stay fast the 2018 model is used with 4-PE x 1-us bins (fewer
steady-state parameters, same code paths); 40 seeded toys.  With 40 toys the mean
of a standard normal sample scatters by 0.16 and its width by 0.11: we require
|mean| < 0.5 and 0.7 < width < 1.35 (about 3 standard errors).  A 300-toy run at
full binning (benchmarks/bench_fit.py --toys) gives mean +0.14, width 1.00.
"""

from pathlib import Path

import numpy as np
import pytest

from analysis.datafiles import load_observed
from analysis.dataset import read_dataset
from analysis.datasets import builtin
from analysis.fit import minimise
from analysis.model import FitModel
from analysis.toys import draw_toy, fit_toy
from tests.analysis.release import COHERENT_2018

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = COHERENT_2018
N_TOYS = 40


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    text = builtin("coherent-2018").read_text()
    text = text.replace("pe_bin_width = 2.0", "pe_bin_width = 4.0")
    text = text.replace("time_bin_width_us = 0.5", "time_bin_width_us = 1.0")
    path = tmp_path_factory.mktemp("toys") / "coarse.toml"
    path.write_text(text)
    spec = read_dataset(path, DATA_DIR)
    return FitModel(spec, load_observed(spec))


def run_toys(model, mu_true, seed):
    truth = {**model.start(), "mu": mu_true}
    n_true = model.n_cevns(truth)
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(N_TOYS):
        fit = fit_toy(model, draw_toy(model, truth, rng), truth)
        assert fit.valid
        n, err = fit.n_cevns()
        rows.append(((n - n_true) / err, (fit.values["mu"] - mu_true) / fit.errors["mu"]))
    return np.array(rows)


def test_pulls_of_cevns_count_and_strength_are_standard_normal(model):
    pulls = run_toys(model, mu_true=1.0, seed=2018)
    for column in pulls.T:
        assert abs(column.mean()) < 0.5
        assert 0.7 < column.std(ddof=1) < 1.35


def test_recovers_an_injected_doubling(model):
    """Inject twice the SM rate into one Asimov-like toy (expected counts, no
    fluctuation): the fit must return mu = 2 and the injected count to 1 %."""
    truth = {**model.start(), "mu": 2.0}
    asimov = dict(model.observed.counts)
    steady = model.steady.expected(model.steady.start())
    asimov["c_beam_on"] = model.beam(truth) + steady
    asimov["ac_beam_on"] = steady
    kappa = model.steady.start()["ss_off_ratio"]
    for window in ("c_beam_off", "ac_beam_off"):
        asimov[window] = kappa * steady
    fit = minimise(model.with_observed(type(model.observed)(asimov, model.observed.pot, model.observed.gwhr)))
    assert fit.values["mu"] == pytest.approx(2.0, rel=0.01)
    assert fit.n_cevns()[0] == pytest.approx(model.n_cevns(truth), rel=0.01)
