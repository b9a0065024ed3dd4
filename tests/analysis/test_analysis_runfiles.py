"""Our own run files: unbinned selected events in HDF5 (dataset ``selected`` with
pe, time_ns, window, beam_on; root attributes pot_total, gwhr_total).

A simulated run is written with h5py: events drawn from the 2018 model with 1.5x
the SM CEvNS rate, split over two files.  The dataset must sum the exposure,
histogram the events per window, and the fit must recover the injected count.
"""

from pathlib import Path

import h5py
import numpy as np
import pytest

from analysis.datafiles import load_observed
from analysis.dataset import read_dataset
from analysis.datasets import builtin
from analysis.fit import minimise
from analysis.model import FitModel
from analysis.results import predict_report
from analysis.schema import DatasetError
from analysis.toys import steady_state_truth
from tests.analysis.release import COHERENT_2018

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = COHERENT_2018
EVENT_DTYPE = np.dtype([("pe", "f8"), ("time_ns", "i8"), ("window", "i1"), ("beam_on", "?")])
MU_INJECTED = 1.5


def events_from_counts(counts, pe_edges, t_edges_us, window, beam_on, rng):
    """Events spread uniformly inside each (PE, time) bin."""
    i, j = np.nonzero(counts)
    n = counts[i, j].astype(int)
    i, j = np.repeat(i, n), np.repeat(j, n)
    out = np.zeros(i.size, EVENT_DTYPE)
    out["pe"] = rng.uniform(pe_edges[i], pe_edges[i + 1])
    out["time_ns"] = np.floor(rng.uniform(t_edges_us[j], t_edges_us[j + 1]) * 1000).astype(np.int64)
    out["window"] = window
    out["beam_on"] = beam_on
    return out


@pytest.fixture(scope="module")
def simulated_run(tmp_path_factory):
    """Two run files with Poisson-drawn events; returns (dataset path, injected count, events)."""
    spec = read_dataset(builtin("coherent-2018"), DATA_DIR)
    model = FitModel(spec, load_observed(spec))
    truth = {**model.start(), "mu": MU_INJECTED}
    steady = steady_state_truth(model)
    rng = np.random.default_rng(7)
    pe_edges, t_edges = spec.analysis.pe_edges, spec.analysis.time_edges_us
    windows = [(model.beam(truth) + steady, 1, True), (steady, 0, True), (steady, 1, False), (steady, 0, False)]
    events = np.concatenate([events_from_counts(rng.poisson(mean), pe_edges, t_edges, w, b, rng)
                             for mean, w, b in windows])
    # one event outside the time window and one below threshold: must be ignored
    extra = np.array([(20.0, 6000, 1, True), (3.0, 1000, 1, True)], EVENT_DTYPE)
    events = rng.permutation(np.concatenate([events, extra]))
    directory = tmp_path_factory.mktemp("runs")
    for k, part in enumerate(np.array_split(events, 2)):
        with h5py.File(directory / f"run_{k:06d}_selected.h5", "w") as f:
            f.create_dataset("selected", data=part)
            f.attrs["pot_total"] = 0.88e23
            f.attrs["gwhr_total"] = 7.47594 / 2
    text = builtin("coherent-2018").read_text()
    head, tail = text.split("[data]", 1)
    tail = tail.split("[source]", 1)[1]
    data = f'[data]\nformat = "hdf5_events"\nfiles = ["{directory}/run_*_selected.h5"]\n\n[source]'
    path = directory / "simulated.toml"
    path.write_text(head + data + tail)
    return path, model.n_cevns(truth), events


def test_run_files_histogrammed_per_window(simulated_run):
    path, _, events = simulated_run
    spec = read_dataset(path, DATA_DIR)
    obs = load_observed(spec)
    assert obs.pot == pytest.approx(1.76e23)
    assert obs.gwhr == pytest.approx(7.47594)
    c_on = (events["window"] == 1) & events["beam_on"]
    assert obs.events["c_beam_on"] == c_on.sum()
    assert obs.counts["c_beam_on"].sum() == c_on.sum() - 2  # the two planted outliers
    assert obs.counts["ac_beam_off"].sum() == ((events["window"] == 0) & ~events["beam_on"]).sum()


def test_fit_recovers_injected_cevns(simulated_run):
    """The injected count lies within 3 sigma of the fitted one (statistical
    fluctuation of one draw), and the significance is large."""
    path, injected, _ = simulated_run
    spec = read_dataset(path, DATA_DIR)
    fit = minimise(FitModel(spec, load_observed(spec)))
    n, err = fit.n_cevns()
    assert fit.valid
    assert abs(n - injected) < 3 * err
    assert abs(fit.values["mu"] - MU_INJECTED) < 3 * fit.errors["mu"]


def test_exposure_from_toml_overrides_run_files(simulated_run, tmp_path):
    path, _, _ = simulated_run
    text = path.read_text().replace("[source]", "[exposure]\npot = 1.0e23\n\n[source]", 1)
    variant = tmp_path / "override.toml"
    variant.write_text(text)
    assert load_observed(read_dataset(variant, DATA_DIR)).pot == pytest.approx(1.0e23)


def test_malformed_run_file_is_reported(tmp_path):
    bad = np.zeros(3, np.dtype([("pe", "f8"), ("time_ns", "i8")]))
    with h5py.File(tmp_path / "run_bad.h5", "w") as f:
        f.create_dataset("selected", data=bad)
        f.attrs["pot_total"] = 1e20
        f.attrs["gwhr_total"] = 0.01
    text = builtin("coherent-2018").read_text()
    head, tail = text.split("[data]", 1)
    data = f'[data]\nformat = "hdf5_events"\nfiles = ["{tmp_path}/run_bad.h5"]\n\n[source]'
    path = tmp_path / "bad.toml"
    path.write_text(head + data + tail.split("[source]", 1)[1])
    with pytest.raises(DatasetError, match=r"run_bad\.h5: 'selected' lacks field\(s\) \['beam_on', 'window'\]"):
        load_observed(read_dataset(path, DATA_DIR))


def test_documented_run_file_example(tmp_path):
    """The run-file dataset shown in docs/dataset-format.md parses and predicts."""
    doc = (REPO / "docs" / "dataset-format.md").read_text()
    example = doc.split("## A run-file dataset", 1)[1].split("```toml", 1)[1].split("```", 1)[0]
    events = np.zeros(2, EVENT_DTYPE)
    events["pe"], events["time_ns"], events["window"], events["beam_on"] = [10.0, 12.0], [700, 900], [1, 0], True
    with h5py.File(tmp_path / "run_000042_selected.h5", "w") as f:
        f.create_dataset("selected", data=events)
        f.attrs["pot_total"] = 1.0e22
        f.attrs["gwhr_total"] = 0.42
    (tmp_path / "run.toml").write_text(example)
    spec = read_dataset(tmp_path / "run.toml")
    obs = load_observed(spec)
    assert obs.pot == pytest.approx(1.0e22)
    assert obs.counts["c_beam_on"].sum() == 1 and obs.counts["ac_beam_on"].sum() == 1
    report = predict_report(spec, obs)
    assert 0 < report["cevns_total"] < 20  # 1e22 POT is ~6 % of the 2018 exposure
