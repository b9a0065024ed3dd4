"""The smearing over the quenching scale (issue 14, item 6: speed of fits with a QF nuisance):
computed exactly on nodes QF_NODE_STEP apart and interpolated between them (Catmull-Rom), and
the PE and time factors of the templates cached apart.  Checked against the exact smearing:
the spectra, their derivative, and the fit of the 2018 release with gamma smearing."""

import time
from dataclasses import replace
from functools import lru_cache

import numpy as np
import pytest

from analysis.datafiles import load_observed
from analysis.dataset import read_dataset, with_steady_state_model
from analysis.datasets import builtin
from analysis.fit import minimise
from analysis.model import FitModel
from analysis.prediction import QF_NODE_STEP, CevnsModel, nominal_state
from tests.analysis.release import COHERENT_2018


@pytest.fixture(scope="module", params=["poisson", "gamma"])
def spec(request):
    spec = with_steady_state_model(read_dataset(builtin("coherent-2018"), COHERENT_2018), "smooth")
    return replace(spec, response=replace(spec.response, smearing=request.param))


def _exact(model: CevnsModel, q: float) -> np.ndarray:
    state = replace(nominal_state(model.spec), qf_scale=q)
    return (model._smear(q) * model.grid.pe_efficiency(state)) @ model.grid.pe_rebin


def test_interpolated_spectra_match_the_exact_smearing(spec):
    """At 200 random scales in [0.4, 1.6] (beyond +-3 sigma of the 2018 19 % error) every bin is
    within 1e-6 of the component's window total, and exact on the nodes (the nominal scale 1)."""
    model = CevnsModel(spec, load_observed(spec).pot)
    state = nominal_state(spec)
    for q in [1.0, 1.0 + 7 * QF_NODE_STEP, *np.random.default_rng(1).uniform(0.4, 1.6, 200)]:
        exact = _exact(model, q)
        morphed = model.pe_spectra(replace(state, qf_scale=q))
        tolerance = 0.0 if abs((q - 1.0) / QF_NODE_STEP - round((q - 1.0) / QF_NODE_STEP)) < 1e-9 else 1e-6
        assert np.max(np.abs(morphed - exact)) <= tolerance * exact.sum(axis=-1).max() + 1e-300


def test_interpolation_is_smooth_across_nodes(spec):
    """The derivative in the scale just below and just above a node agrees (C1), and with the
    exact smearing's derivative to 1e-3 of its size: MIGRAD and HESSE see a smooth model."""
    model = CevnsModel(spec, load_observed(spec).pot)
    state = nominal_state(spec)
    node, h = 1.0 + 3 * QF_NODE_STEP, 1e-5

    def total(q):
        return model.pe_spectra(replace(state, qf_scale=q)).sum()

    below = (total(node) - total(node - h)) / h
    above = (total(node + h) - total(node)) / h
    exact = (_exact(model, node + h).sum() - _exact(model, node - h).sum()) / (2 * h)
    assert below == pytest.approx(above, rel=1e-3)
    assert 0.5 * (below + above) == pytest.approx(exact, rel=1e-3)


def test_nan_scale_gives_nan_at_once(spec):
    """MIGRAD can probe NaN parameters (thousands of times in a null fit of a short simulated run):
    NaN spectra without a smearing computation each time."""
    model = CevnsModel(spec, load_observed(spec).pot)
    model.pe_spectra(nominal_state(spec))
    start = time.process_time()
    for _ in range(200):
        out = model._morphed(float("nan"))
    assert np.all(np.isnan(out)) and time.process_time() - start < 0.2


def test_fit_with_interpolated_smearing_matches_the_exact_one(spec):
    """The 2018 fit with a free quenching scale (19 %): the same minimum with the exact smearing
    at every scale (count, mu, quenching pull, NLL and errors)."""
    observed = load_observed(spec)
    fast = minimise(FitModel(spec, observed))
    exact_model = FitModel(spec, observed)
    exact_model.cevns._smeared = lru_cache(maxsize=64)(exact_model.cevns._smear)
    exact = minimise(exact_model)
    assert fast.valid and exact.valid
    assert fast.fval == pytest.approx(exact.fval, abs=1e-4)
    for name in ("mu", "qf_scale", "t_offset_us"):
        assert fast.values[name] == pytest.approx(exact.values[name], abs=2e-3 * exact.errors[name])
        assert fast.errors[name] == pytest.approx(exact.errors[name], rel=2e-3)
    assert fast.n_cevns()[0] == pytest.approx(exact.n_cevns()[0], rel=1e-4)
    # the exact model's only node is the nominal one, made when the model was built
    assert list(exact_model.cevns._nodes) == [0] and len(fast.model.cevns._nodes) > 3
