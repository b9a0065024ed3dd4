"""Impacts of the free steady-state parameters and of the background as a group (issue 14,
item 2: the ranking table), for the factorised and per-bin models of the 2018 release."""

import numpy as np
import pytest

from analysis.datafiles import load_observed
from analysis.dataset import read_dataset, with_steady_state_model
from analysis.datasets import builtin
from analysis.diagnostics import (
    BACKGROUND_GROUP,
    background_fixed_model,
    background_group_impact,
    free_background_parameters,
    impacts,
)
from analysis.fit import minimise
from analysis.model import FitModel
from tests.analysis.release import COHERENT_2018


def _best(name):
    spec = with_steady_state_model(read_dataset(builtin("coherent-2018"), COHERENT_2018), name)
    return minimise(FitModel(spec, load_observed(spec)))


@pytest.fixture(scope="module")
def factorized():
    return _best("factorized")


def test_factorized_table_has_every_free_background_parameter(factorized):
    """12 PE and 11 time parameters and the beam-off live-time ratio, each refitted at its
    value +- its HESSE error; raising the background lowers the count (up < 0 < down)."""
    table = {r["name"]: r for r in impacts(factorized)}
    free = free_background_parameters(factorized.model)
    assert len([p for p in free if p.startswith("ss_pe_")]) == 12 and "ss_off_ratio" in free
    assert set(free) | {n.name for n in factorized.model.nuisances} | {BACKGROUND_GROUP} == set(table)
    for name in free:
        row = table[name]
        assert row["free"] and row["pull"] == factorized.values[name] and np.isfinite(row["impact"])
    busiest = max((p for p in free if p.startswith("ss_pe_")), key=lambda p: table[p]["impact"])
    assert table[busiest]["up"] < 0 < table[busiest]["down"]
    assert not table["t_offset_us"]["free"]


def test_group_impact_is_the_background_share_of_the_error(factorized):
    """Fixing the background per bin (FixedSteadyState) gives the count error that fixing its
    24 parameters in the full likelihood gives; the group impact is the quadrature difference,
    above every single background parameter's and below the whole error."""
    sigma = factorized.n_cevns()[1]
    held = minimise(background_fixed_model(factorized), pull_centres=factorized.pull_centres,
                    start=factorized.values)
    params = {p: factorized.values[p] for p in free_background_parameters(factorized.model)}
    direct = minimise(factorized.model, fixed=params, start=factorized.values)
    assert held.n_cevns()[1] == pytest.approx(direct.n_cevns()[1], rel=0.02)
    assert held.n_cevns()[0] == pytest.approx(factorized.n_cevns()[0], rel=1e-3)
    group = background_group_impact(factorized)
    assert group["impact"] == pytest.approx(np.sqrt(sigma**2 - held.n_cevns()[1] ** 2), rel=1e-6)
    single = max(r["impact"] for r in impacts(factorized, background=True) if r["free"] and not r.get("group"))
    assert single < group["impact"] < sigma


def test_per_bin_table_has_the_live_time_ratio_and_the_group():
    """The per-bin model's b_ij are profiled in closed form: its free background parameter in
    the table is the beam-off live-time ratio, and the b_ij enter through the group row."""
    best = _best("per_bin")
    table = {r["name"]: r for r in impacts(best)}
    assert free_background_parameters(best.model) == ("ss_off_ratio",)
    assert table["ss_off_ratio"]["free"] and np.isfinite(table["ss_off_ratio"]["impact"])
    assert 0 < table[BACKGROUND_GROUP]["impact"] < best.n_cevns()[1]
