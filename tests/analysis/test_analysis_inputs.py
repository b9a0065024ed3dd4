"""Inputs (issue 14, item 3): energy-dependent smearing, ROOT files through uproot, neutron
normalisations from the file, timing efficiency on or off per component."""

from dataclasses import replace

import numpy as np
import pytest
import uproot

from analysis.datafiles import load_observed, read_table
from analysis.dataset import read_dataset
from analysis.datasets import builtin
from analysis.model import FitModel
from analysis.prediction import CevnsModel, NeutronModel, nominal_state
from analysis.response import gamma_matrix
from analysis.schema import DatasetError
from tests.analysis.release import COHERENT_2018


def test_gamma_smearing_with_a_variance_per_mean():
    """Each row of the energy-dependent matrix is the constant-variance matrix of its own
    excess variance, with mean mu and variance (a + b mu) mu (fine 0.05-PE grid, mu >> 1)."""
    edges = np.arange(0.0, 200.0, 0.05)
    means = np.array([20.0, 60.0])
    excess = 1.19 + 0.002 * means  # 1.23 and 1.31: the release's range is 1.19-1.35
    m = gamma_matrix(means, edges, excess)
    for k in range(2):
        assert m[k] == pytest.approx(gamma_matrix(means[k:k + 1], edges, excess[k])[0])
        centres = 0.5 * (edges[1:] + edges[:-1])
        mean = m[k] @ centres
        assert mean == pytest.approx(means[k], rel=1e-3)
        assert m[k] @ (centres - mean) ** 2 == pytest.approx(excess[k] * means[k], rel=1e-2)


@pytest.fixture(scope="module")
def spec():
    return read_dataset(builtin("coherent-2018"), COHERENT_2018)


def test_root_histograms_and_trees_read_like_text_tables(tmp_path):
    path = tmp_path / "tables.root"
    edges = np.array([0.0, 0.5, 1.0, 1.5])
    with uproot.recreate(path) as f:
        f["pdf"] = (np.array([0.2, 0.5, 0.3]), edges)
        f["counts2d"] = (np.arange(6.0).reshape(3, 2), edges, np.array([0.0, 2.0, 4.0]))
        f.mktree("events", {"pe": np.float64, "time_us": np.float64}).extend(
            {"pe": np.array([7.0, 9.5]), "time_us": np.array([0.3, 2.2])})
        f["ntuple"] = {"pe": np.array([7.0, 9.5]), "time_us": np.array([0.3, 2.2])}  # an RNTuple
    assert read_table(f"{path}:pdf", 2) == pytest.approx(np.array([[0.25, 0.2], [0.75, 0.5], [1.25, 0.3]]))
    table = read_table(f"{path}:counts2d", 3)
    assert table[:, 2] == pytest.approx(np.arange(6.0)) and table[1, :2] == pytest.approx([0.25, 3.0])
    assert read_table(f"{path}:events:time_us,pe", 2) == pytest.approx(np.array([[0.3, 7.0], [2.2, 9.5]]))
    assert read_table(f"{path}:ntuple", 2) == pytest.approx(np.array([[7.0, 0.3], [9.5, 2.2]]))
    with pytest.raises(DatasetError, match="no such object in the ROOT file; it holds counts2d, events, ntuple, pdf"):
        read_table(f"{path}:nope", 2)


def test_dataset_with_root_timing_tables_predicts_as_with_text(spec, tmp_path):
    """The released prompt and delayed arrival-time PDFs written to a ROOT file (TH1 with the
    same 0.5-us bins) and named as file.root:histogram give the same expected counts."""
    path = tmp_path / "timing.root"
    with uproot.recreate(path) as f:
        for kind in ("prompt", "delayed"):
            t = read_table(spec.timing.tables[kind], 2)
            width = t[1, 0] - t[0, 0]
            f[kind] = (t[:, 1], np.append(t[:, 0] - width / 2, t[-1, 0] + width / 2))
    text = builtin("coherent-2018").read_text()
    text = text.replace('prompt = "arrivalTimePDF_promptNeutrinos.txt"', f'prompt = "{path}:prompt"')
    text = text.replace('delayed = "arrivalTimePDF_delayedNeutrinos.txt"', f'delayed = "{path}:delayed"')
    toml = tmp_path / "root.toml"
    toml.write_text(text)
    rooted = read_dataset(toml, COHERENT_2018)
    pot = load_observed(spec).pot
    a = CevnsModel(spec, pot).templates(nominal_state(spec))
    b = CevnsModel(rooted, pot).templates(nominal_state(rooted))
    assert b == pytest.approx(a, rel=1e-9, abs=1e-12)


def test_neutron_count_from_the_time_table(spec, tmp_path):
    """norm_from = 'time_table': the time table holds counts (its sum is the count per GWhr),
    the PE table only the shape.  A PE table scaled by 7 and a time table scaled to the PE
    table's total per GWhr give the released BRN prediction."""
    pe = read_table(spec.neutrons[0].pe_table, 2)
    times = read_table(spec.neutrons[0].time_table, 2)
    (tmp_path / "pe.txt").write_text("\n".join(f"{x} {7 * y}" for x, y in pe))
    (tmp_path / "t.txt").write_text("\n".join(f"{x} {y / times[:, 1].sum() * pe[:, 1].sum()}" for x, y in times))
    brn = replace(spec.neutrons[0], pe_table=tmp_path / "pe.txt", time_table=tmp_path / "t.txt",
                  norm_from="time_table")
    gwhr = load_observed(spec).gwhr
    state = nominal_state(spec)
    assert NeutronModel(spec, brn, gwhr).template(state) == pytest.approx(
        NeutronModel(spec, spec.neutrons[0], gwhr).template(state), rel=1e-9)


def test_time_efficiency_off_for_a_table_that_has_it(spec):
    """With an acceptance falling in time, a neutron table flagged apply_time_efficiency = false
    is not cut again: its expectation is larger, bin by bin, by 1 / acceptance."""
    falling = replace(spec, response=replace(spec.response, time_efficiency="exponential",
                                             time_efficiency_params={"onset_us": 0.0, "decay_us": 10.0}))
    gwhr = load_observed(spec).gwhr
    state = nominal_state(spec)
    cut = NeutronModel(falling, falling.neutrons[0], gwhr).template(state)
    kept = NeutronModel(falling, replace(falling.neutrons[0], apply_time_efficiency=False), gwhr).template(state)
    assert kept.sum() > cut.sum()
    assert kept == pytest.approx(NeutronModel(spec, spec.neutrons[0], gwhr).template(state), rel=1e-9)


def test_smearing_slope_in_the_dataset(spec, tmp_path):
    """gamma smearing with variance/mean rising with the mean PE: a wider response moves
    counts across the 6-PE threshold; the dataset key is read and used."""
    text = builtin("coherent-2018").read_text().replace(
        'model = "poisson"                 # integer', 'model = "gamma"\nexcess_variance = 1.19\n'
        'excess_variance_slope = 0.004\n#')
    path = tmp_path / "gamma.toml"
    path.write_text(text)
    sloped = read_dataset(path, COHERENT_2018)
    assert sloped.response.excess_variance_slope == 0.004
    flat = replace(sloped, response=replace(sloped.response, excess_variance_slope=0.0))
    obs = load_observed(spec)
    n_slope = FitModel(sloped, obs).n_cevns(FitModel(sloped, obs).start())
    n_flat = FitModel(flat, obs).n_cevns(FitModel(flat, obs).start())
    assert n_slope != pytest.approx(n_flat, rel=1e-3)


def test_smearing_table_equals_the_linear_law_it_tabulates(spec, tmp_path):
    """excess_variance_table with variance/mean = 1.19 + 0.004 mean tabulated every 5 PE
    (exact under linear interpolation) gives the same CEvNS templates as the slope keys."""
    table = tmp_path / "ev.txt"
    table.write_text("\n".join(f"{m} {1.19 + 0.004 * m}" for m in range(0, 400, 5)))
    gamma = replace(spec.response, smearing="gamma", excess_variance=1.19)
    by_slope = replace(spec, response=replace(gamma, excess_variance_slope=0.004))
    by_table = replace(spec, response=replace(gamma, excess_variance_table=table))
    pot = load_observed(spec).pot
    a = CevnsModel(by_slope, pot).templates(nominal_state(spec))
    b = CevnsModel(by_table, pot).templates(nominal_state(spec))
    assert b == pytest.approx(a, rel=1e-9, abs=1e-12)
