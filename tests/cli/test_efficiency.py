"""``sevens efficiency``: the measured acceptance, its fit, and what it writes for the fit (issue 13, item 4).

The end-to-end check (a simulated DAQ run fitted with the acceptance measured on its own records, against
the run's truth-level efficiency) is tests/integration/test_fit_simulated_run.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from analysis.dataset import read_dataset
from daq.cli.acceptance import fit_folded_logistic, folded_logistic
from daq.cli.main import main

REPO = Path(__file__).resolve().parents[2]
SIM_DATASET = REPO / "analysis" / "datasets" / "sevens-sim.toml"


def test_folded_logistic_fit_recovers_the_curve_it_was_drawn_from() -> None:
    """Binomial draws of a known folded logistic (five seeds): the fitted parameters scatter around the truth
    by their errors (pulls within 3.5, rms below 2), and chi2 / ndof averages about 1."""
    n_pe = np.array([3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 25, 30], float)
    true = (0.9, 1.3, 4.0)
    p = folded_logistic(n_pe, *true, 0.95, 0.3)
    trials = 2000
    pulls, chi2 = [], []
    for seed in range(5):
        eff = np.random.default_rng(seed).binomial(trials, p) / trials
        err = np.sqrt(np.maximum(eff * (1 - eff), 1 / trials) / trials)
        fit = fit_folded_logistic(n_pe, eff, err, 0.95, 0.3)
        assert fit["ndof"] == n_pe.size - 3
        pulls.append([(fit[name] - value) / fit[f"{name}_err"] for name, value in zip(("a", "k", "x0"), true,
                                                                                     strict=True)])
        chi2.append(fit["chi2"] / fit["ndof"])
    pulls = np.array(pulls)
    assert np.all(np.abs(pulls) < 3.5) and np.sqrt(np.mean(pulls**2)) < 2, pulls
    assert 0.3 < np.mean(chi2) < 2.0, chi2


def test_folding_lowers_the_acceptance_where_it_is_steep() -> None:
    """The smeared curve is not the bare logistic at the mean: below x0 it is higher, far above equal."""
    bare = 0.9 / (1 + np.exp(-1.5 * (np.array([2.0, 40.0]) - 4.0)))
    folded = folded_logistic(np.array([2.0, 40.0]) / 0.95, 0.9, 1.5, 4.0, 0.95, 0.3)
    assert folded[0] > bare[0]
    assert folded[1] == pytest.approx(bare[1], abs=1e-3)


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("eff")
    dataset, acc = out / "sim.toml", out / "acc.json"
    code = main(["efficiency", "--preset", "typical/0.8", "--per-point", "60", "--calibration-records", "1500",
                 "--json", str(acc), "--dataset", str(SIM_DATASET), "--out", str(dataset)])
    assert code == 0
    return {"dataset": dataset, "result": json.loads(acc.read_text())}


def test_the_written_dataset_reads_with_the_measured_acceptance(measured: dict) -> None:
    r = measured["result"]
    (measured["dataset"].parent / "run_000001.h5").touch()  # the dataset's data files (read later by the fit)
    spec = read_dataset(measured["dataset"])
    eff = spec.response.efficiency
    for name in ("a", "k", "x0"):
        assert eff[name].value == pytest.approx(r[name], rel=1e-4)
        assert eff[name].error_hi == pytest.approx(r[f"{name}_err"], rel=1e-3, abs=1e-5)
    assert spec.response.time_efficiency == "table"
    table = np.loadtxt(spec.response.time_efficiency_table, delimiter=",")
    assert np.allclose(table[:, 0], r["time_us"]) and np.allclose(table[:, 1], r["time_eff"], atol=1e-5)
    assert np.mean(table[:, 1]) == pytest.approx(1.0)  # relative: the PE acceptance holds the mean
    assert measured["dataset"].read_text().startswith("# Written by `sevens efficiency`")


def test_the_acceptance_rises_with_n_and_stays_a_fraction(measured: dict) -> None:
    r = measured["result"]
    eff = np.array(r["eff"])
    assert np.all((eff >= 0) & (eff <= 1))
    assert eff[:3].mean() < eff[-3:].mean() - 0.2  # 3-5 PE against 20-30 PE
    assert 0.5 < r["a"] <= 1.0 and r["k"] > 0
    assert 0.8 < r["pe_scale"] < 1.05  # the integration window holds ~90 % of CsI[Na] light
    assert r["source"]["preset"] == "typical/0.8"


@pytest.mark.parametrize("argv, message", [
    (["--dataset", str(SIM_DATASET)], "--dataset and --out go together"),
    (["--preset", "nonsense"], "--preset"),
    (["--dataset", str(SIM_DATASET), "--out", str(SIM_DATASET)], "the same file as --dataset"),
])
def test_usage_errors_are_one_line_with_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["efficiency", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_noise_from_a_file_without_raw_waveforms_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "run_000001.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("triggers", data=np.zeros(3))
    assert main(["efficiency", "--noise-from", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert str(path) in err and "no raw CsI waveforms" in err
