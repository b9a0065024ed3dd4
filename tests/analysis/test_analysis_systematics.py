"""Correlated shape systematics: +-1 sigma template variations (issue 14, item 2)."""

from dataclasses import replace

import numpy as np
import pytest

from analysis.datafiles import load_observed
from analysis.dataset import read_dataset
from analysis.datasets import builtin
from analysis.diagnostics import impacts
from analysis.fit import minimise
from analysis.model import FitModel
from analysis.prediction import CevnsModel, nominal_state
from analysis.schema import DatasetError
from analysis.systematics import interpolated_factor, principal_directions
from tests.analysis.release import COHERENT_2018

# Efficiency coefficient sets at the ends of the release's errors (coherent_parameters.yaml:
# a 0.6655 +0.0212 -0.0384, k 0.4942 +0.0335 -0.0131, x0 10.8507 +0.1838 -0.3995), and a
# covariance over quenching factor and light yield (diagonal: the release's 0.0166 and 0.019).
SYSTEMATICS = """
[[systematics]]
name = "eff_set"
description = "acceptance coefficient set"
up = { pe_efficiency = { a = 0.6867, k = 0.5277, x0 = 10.6676 } }
down = { pe_efficiency = { a = 0.6271, k = 0.4811, x0 = 11.2502 } }

[[systematics]]
name = "qf_ly"
parameters = ["quenching.value", "light_yield.value"]
covariance = [[2.7556e-4, 1.0e-4], [1.0e-4, 3.61e-4]]
"""


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("sys") / "sys.toml"
    path.write_text(builtin("coherent-2018").read_text() + SYSTEMATICS)
    spec = read_dataset(path, COHERENT_2018)
    return FitModel(spec, load_observed(spec))


def test_interpolation_hits_the_variations_and_is_smooth():
    up, down = np.array([1.2, 0.9, 1.0]), np.array([0.7, 1.05, 1.0])
    assert interpolated_factor(1.0, up, down) == pytest.approx(up)
    assert interpolated_factor(-1.0, up, down) == pytest.approx(down)
    assert interpolated_factor(0.0, up, down) == pytest.approx(1.0)
    h = 1e-6
    for edge in (1.0, -1.0):  # first derivative continuous where quadratic meets linear
        inside = (interpolated_factor(edge, up, down) - interpolated_factor(edge - np.sign(edge) * h, up, down)) / h
        outside = (interpolated_factor(edge + np.sign(edge) * h, up, down) - interpolated_factor(edge, up, down)) / h
        assert inside == pytest.approx(outside, rel=1e-4, abs=1e-4)


def test_principal_directions_reproduce_the_covariance():
    cov = np.array([[4.0, 1.2, 0.0], [1.2, 1.0, -0.3], [0.0, -0.3, 0.5]])
    d = principal_directions(cov)
    assert d @ d.T == pytest.approx(cov)
    assert np.all(np.diff(np.linalg.norm(d, axis=0)) <= 0)  # largest variance first


def test_template_at_plus_one_sigma_is_the_variation(model):
    """At eff_set = +1 the CEvNS expectation is the one computed from scratch with the 'up'
    coefficients; a covariance gives one pull per principal component."""
    spec = model.spec
    assert [s.name for s in spec.systematics] == ["eff_set", "qf_ly_pc1", "qf_ly_pc2"]
    p = model.start()
    up = spec.systematics[0].up
    variant = replace(spec, response=up, systematics=())
    direct = CevnsModel(variant, model.observed.pot).templates(nominal_state(variant)).sum(axis=1)
    assert model.cevns_components({**p, "eff_set": 1.0}) == pytest.approx(direct, rel=1e-9, abs=1e-12)
    # the acceptance grows with a and with k near threshold: up has more CEvNS than down
    assert model.n_cevns({**p, "eff_set": 1.0}) > model.n_cevns(p) > model.n_cevns({**p, "eff_set": -1.0})
    qf = [s.up.qf_coefficients[0] - 0.0878 for s in spec.systematics[1:]]
    ly = [s.up.light_yield.value - 13.348 for s in spec.systematics[1:]]
    assert np.sum(np.square(qf)) == pytest.approx(2.7556e-4, rel=1e-6)  # the PCs carry the variance
    assert np.sum(np.square(ly)) == pytest.approx(3.61e-4, rel=1e-6)
    assert sum(a * b for a, b in zip(qf, ly, strict=True)) == pytest.approx(1.0e-4, rel=1e-6)


def test_fit_with_shape_systematics_has_their_pulls_and_impacts(model):
    best = minimise(model)
    assert best.valid and best.has_covariance
    rows = {r["name"]: r for r in impacts(best)}
    for name in ("eff_set", "qf_ly_pc1", "qf_ly_pc2"):
        assert abs(rows[name]["pull"]) < 2 and 0 < rows[name]["pull_err"] <= 1.05
        assert np.isfinite(rows[name]["impact"])


def test_bad_covariance_is_refused(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(builtin("coherent-2018").read_text() + SYSTEMATICS.replace("1.0e-4], [1.0e-4", "1.0], [1.0"))
    with pytest.raises(DatasetError, match="covariance: expected a symmetric positive semi-definite 2 x 2"):
        read_dataset(path, COHERENT_2018)
