"""The run report (PNGs + one HTML page) and the selected-event export that the offline fit reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from analysis.datafiles import load_observed
from analysis.dataset import read_dataset
from daq import config, dtypes
from daq.control.summary import run_summary
from tests.replay.replay_helpers import sevens, write_run

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report(replayed: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    proc = sevens("report", replayed["file"], "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == str(out / "index.html")
    return out


def test_report_writes_the_figures(report: Path) -> None:
    for name in ("dq_trends.png", "cut_fractions.png", "spectra.png"):
        data = (report / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000, name


def test_report_page_is_self_contained_with_the_summary_table(report: Path, replayed: dict[str, Any]) -> None:
    page = (report / "index.html").read_text()
    assert page.count('src="data:image/png;base64,') == 3  # embedded: the page travels alone
    s = run_summary(replayed["file"])
    t = s["triggers"]
    with h5py.File(replayed["file"], "r") as f:
        n, n_on = len(f["triggers"]), int(f["triggers"]["beam_on"].sum())
    for text in ("exposure", f"{s['pot']:.4g} POT", f"{s['gwhr']:.4g} GWhr", "beam-on fraction",
                 f"livetime (triggers x ROI)</th><td>{n * 12e-6:.4g} s", f"{n_on} beam-on triggers",
                 f"C {s['counts']['C']}, AC {s['counts']['AC']}",
                 f"generated {t['generated']}, recorded {n}, lost {t['lost']}",
                 "input_run_number", "afterglow", "cherenkov"):
        assert text in page, text
    table = json.loads((report / "summary.json").read_text())["cut_table"]
    assert table["all"]["afterglow"] == pytest.approx(s["cut_fractions"]["afterglow"], abs=1e-5)


def test_export_merges_selected_events_with_run_and_exposure(recorded_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "selected.h5"
    proc = sevens("export", str(recorded_run), "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    with h5py.File(recorded_run, "r") as f:
        sel, pot, run = f["selected"][:], float(f["beam"]["pot"].sum()), int(f.attrs["run_number"])
    with h5py.File(out, "r") as f:
        rows = f["selected"][:]
        assert float(f.attrs["pot_total"]) == pytest.approx(pot) and f.attrs["gwhr_total"] > 0
        lineage = json.loads(f.attrs["lineage"])
    assert len(sel) > 0 and rows.dtype.names == (*dtypes.SELECTED.names, "run")
    for name in dtypes.SELECTED.names:
        assert np.array_equal(rows[name], sel[name])
    assert (rows["run"] == run).all() and lineage["inputs"] == [str(recorded_run.resolve())]


def test_export_refuses_a_run_and_its_replay_together(recorded_run: Path, replayed: dict[str, Any],
                                                     tmp_path: Path) -> None:
    proc = sevens("export", str(recorded_run), replayed["file"], "--out", str(tmp_path / "x.h5"))
    assert proc.returncode == 2 and "count twice" in proc.stderr and "Traceback" not in proc.stderr


DATASET = """schema_version = 1
name = "exported-runs"

[data]
format = "hdf5_events"
files = ["{file}"]

[source]
nu_per_flavor_per_proton = 0.08
nu_per_flavor_per_proton_uncertainty = 0.008
distance_m = 19.3

[detector]
mass_kg = 14.6
[[detector.nuclei]]
nuclide = "Cs133"
[[detector.nuclei]]
nuclide = "I127"

[response.quenching]
model = "constant"
value = 0.0878
uncertainty = 0.0166
[response.light_yield]
value = 13.35
error = 0.02
[response.smearing]
model = "gamma"
excess_variance = 1.1
[response.pe_efficiency]
model = "logistic"
a = {{ value = 0.66, error = 0.03 }}
k = {{ value = 0.49, error = 0.02 }}
x0 = {{ value = 10.9, error = 0.3 }}
steps = [[5.0, 1.0]]

[timing]
model = "pulse"
pulse_fwhm_ns = 380.0
pulse_centre_us = 0.70
offset_uncertainty_us = 0.1

[steady_state]
model = "factorized"
beam_off = true

[analysis]
pe_range = [6.0, 30.0]
pe_bin_width = 2.0
time_range_us = [0.0, 6.0]
time_bin_width_us = 0.5
"""


def fake_run(path: Path, number: int, rng: np.random.Generator) -> None:
    """A run file with a flat background in every window and a prompt excess in C beam-on
    (enough events for a fit; a seconds-long simulated run has a handful)."""
    parts = []
    for window, beam_on in ((1, True), (0, True), (1, False), (0, False)):
        n, signal = 60, 60 if (window, beam_on) == (1, True) else 0
        rows = np.zeros(n + signal, dtypes.plain(dtypes.SELECTED))
        rows["pe"] = np.r_[rng.uniform(6, 30, n), 6 + rng.exponential(6, signal)]
        rows["time_ns"] = np.r_[rng.uniform(0, 6000, n), 700 + rng.exponential(1500, signal)].astype(np.int64)
        rows["window"], rows["beam_on"] = window, beam_on
        parts.append(rows)
    sel = np.concatenate(parts)
    sel["trigger_id"] = np.arange(len(sel)) * 5
    beam = np.zeros(100, dtypes.plain(dtypes.BEAM_PULSE))
    beam["pot"] = 0.88e23 / 100
    write_run(path, {"run_number": number, "config": config.load().text, "config_sha256": "cfg"},
              {"selected": sel, "beam": beam})


def test_sevens_fit_reads_an_exported_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    for number in (1, 2):
        fake_run(tmp_path / f"run_00000{number}.h5", number, rng)
    out = tmp_path / "export" / "selected.h5"
    proc = sevens("export", str(tmp_path / "run_000001.h5"), str(tmp_path / "run_000002.h5"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    toml = tmp_path / "dataset.toml"
    toml.write_text(DATASET.format(file=out))
    observed = load_observed(read_dataset(toml))
    assert observed.pot == pytest.approx(1.76e23)
    assert sum(observed.events.values()) == 2 * 300
    proc = sevens("fit", str(toml), "--no-nsi", "--json", str(tmp_path / "fit.json"), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    fit = json.loads((tmp_path / "fit.json").read_text())
    assert fit["counting"]["n_c"] == observed.counts["c_beam_on"].sum()
    assert fit["n_cevns"] > 3 * fit["n_cevns_err"]  # the injected excess is found
