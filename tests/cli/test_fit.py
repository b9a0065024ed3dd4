"""``sevens predict`` / ``sevens fit`` through the argparse integration contract."""

import argparse
import json
from pathlib import Path

import pytest

from analysis.counting import counting_analysis
from analysis.datasets import builtin
from daq.cli.fit import add_commands
from daq.cli.main import main
from tests.analysis.release import COHERENT_2018

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = COHERENT_2018
DATASET = str(builtin("coherent-2018"))


def test_add_commands_registers_predict_and_fit():
    parser = argparse.ArgumentParser(prog="sevens")
    add_commands(parser.add_subparsers(dest="command"))
    for command in ("predict", "fit"):
        args = parser.parse_args([command, DATASET, "--data-dir", str(DATA_DIR)])
        assert callable(args.func)


def test_predict_json(tmp_path, capsys):
    out = tmp_path / "predict.json"
    assert main(["predict", DATASET, "--data-dir", str(DATA_DIR), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report["components"]) == {"prompt", "delayed_nue", "delayed_numubar", "brn"}
    assert report["cevns_total"] == pytest.approx(sum(report["components"][c] for c in
                                                      ("prompt", "delayed_nue", "delayed_numubar")))
    assert len(report["expected_2d"]["prompt"]) == 12
    assert "CEvNS total" in capsys.readouterr().out


def test_fit_json_holds_required_fields(tmp_path, capsys):
    """--steady-state overrides the dataset's model (the smooth one is also the faster fit)."""
    out = tmp_path / "fit.json"
    assert main(["fit", DATASET, "--data-dir", str(DATA_DIR), "--json", str(out), "--no-nsi",
                 "--steady-state", "smooth"]) == 0
    s = json.loads(out.read_text())
    assert s["steady_state"]["model"] == "smooth" and set(s["chi2_windows"]) == {"c"}
    assert "ssb_norm" in capsys.readouterr().out  # the impact table is printed
    for key in ("n_cevns", "n_cevns_err", "significance_sigma", "sm_prediction", "chi2", "ndof",
                "sigma_flux_avg_1e40_cm2", "sigma_sm_1e40_cm2", "sin2_theta_w", "nuisance"):
        assert key in s
    assert set(s["counting"]) >= {"signal", "error"}
    assert all({"value", "error", "pull", "pull_err"} <= set(v) for v in s["nuisance"].values())


def test_missing_dataset_file_exits_2(capsys):
    assert main(["fit", "no/such/dataset.toml"]) == 2
    assert "no such dataset file" in capsys.readouterr().err


def test_counting_formula():
    """sigma_stat = sqrt(N_meas + 2 B_AC + B_n); the pull-term chi^2 is zero when the
    hypothesis matches the measured signal and grows quadratically away from it."""
    c = counting_analysis(n_c=500, n_ac=400, neutrons=10, neutrons_rel_err=0.25,
                          sm_prediction=100, signal_rel_err=0.2)
    assert c.signal == 90
    assert c.error_stat == pytest.approx((100 + 800 + 10) ** 0.5)
    assert c.error == pytest.approx((910 + 2.5**2) ** 0.5)
    assert c.chi2(90) == pytest.approx(0.0)
    assert c.chi2(150) == pytest.approx(60**2 / (910 + 30**2 + 2.5**2))
