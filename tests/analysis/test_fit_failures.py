"""The fit when it cannot give errors, and run files of a foreign layout (issue 12).

A default 20 s simulated run (`sevens daq --simulate --duration 20`) selects one C event and no AC
event in 1.7e17 POT, for ~30 free parameters: MIGRAD finds no valid minimum and HESSE gives no
covariance. The fit used to crash (a matmul on a missing covariance); now it reports the values it
has, NaN errors, and a note saying why (`fit_valid` false).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from analysis.datafiles import load_observed
from analysis.dataset import read_dataset
from analysis.fit import minimise
from analysis.model import FitModel
from analysis.results import analyse
from analysis.schema import DatasetError
from daq import dtypes
from tests.analysis.release import COHERENT_2018

REPO = Path(__file__).resolve().parents[2]
SIM_DATASET = REPO / "analysis" / "datasets" / "sevens-sim.toml"
SELECTED = dtypes.plain(dtypes.SELECTED)


def dataset(tmp_path: Path, rows: np.ndarray, attrs: dict | None = None) -> Path:
    run = tmp_path / "run_000001.h5"
    with h5py.File(run, "w") as f:
        f["selected"] = rows
        for key, value in (attrs or {"pot_total": 1.726e17, "gwhr_total": 7.68e-6}).items():
            f.attrs[key] = value
    path = tmp_path / "sim.toml"
    path.write_text(SIM_DATASET.read_text().replace('files = ["run_*.h5"]', f'files = ["{run}"]'))
    return path


def one_event(tmp_path: Path) -> Path:
    rows = np.zeros(1, SELECTED)
    rows[0] = (856, dtypes.WINDOW_C, 16.38, 2940, True)
    return dataset(tmp_path, rows)


def test_a_fit_without_covariance_propagates_nan_errors_and_says_why(tmp_path: Path) -> None:
    spec = read_dataset(one_event(tmp_path))
    best = minimise(FitModel(spec, load_observed(spec)))
    assert not best.has_covariance
    value, error = best.n_cevns()
    assert np.isfinite(value) and np.isnan(error)
    assert np.isnan(best.covariance).all()
    assert "HESSE" in best.problem()


def test_analyse_reports_an_invalid_fit_instead_of_failing(tmp_path: Path) -> None:
    spec = read_dataset(one_event(tmp_path))
    result = analyse(spec, load_observed(spec), with_nsi=True)
    s = result.summary
    assert s["fit_valid"] is False
    assert s["fit_note"].startswith("the fit is not valid: ") and "1 C and 0 AC beam-on events" in s["fit_note"]
    assert np.isnan(s["n_cevns_err"]) and np.isnan(s["mu_err_hi"]) and np.isfinite(s["n_cevns"])
    assert all(np.isnan(n["pull_err"]) for n in s["nuisance"].values())
    assert "counting" in s and s["counting"]["n_c"] == 1


FOREIGN = {
    "pe as text": (np.zeros(2, [("window", "i1"), ("pe", "S8"), ("time_ns", "<i8"), ("beam_on", "?")]),
                   r"table 'selected', field 'pe': expected a float, got \|S8"),
    "time as float is fine, window as text is not": (
        np.zeros(2, [("window", "S1"), ("pe", "<f4"), ("time_ns", "<f8"), ("beam_on", "?")]),
        r"table 'selected', field 'window': expected an integer, got \|S1"),
    "a 2-D table": (np.zeros((2, 2), SELECTED), r"table 'selected': expected one row per event"),
}


@pytest.mark.parametrize("case", list(FOREIGN))
def test_a_foreign_selected_table_names_file_table_and_field(tmp_path: Path, case: str) -> None:
    rows, words = FOREIGN[case]
    spec = read_dataset(dataset(tmp_path, rows))
    with pytest.raises(DatasetError, match=words) as err:
        load_observed(spec)
    assert str(err.value).startswith(f"{tmp_path / 'run_000001.h5'}: ")


def test_fields_are_read_by_name_not_position(tmp_path: Path) -> None:
    """A table with the fields in another order (and extra ones) is read by name."""
    rows = np.zeros(1, [("beam_on", "?"), ("extra", "<f8"), ("time_ns", "<i8"), ("pe", "<f8"), ("window", "<i4")])
    rows[0] = (True, 99.0, 2940, 16.38, dtypes.WINDOW_C)
    observed = load_observed(read_dataset(dataset(tmp_path, rows)))
    assert observed.events["c_beam_on"] == 1 and observed.counts["c_beam_on"].sum() == 1


@pytest.mark.parametrize(("attrs", "words"), [
    ({"pot_total": "lots", "gwhr_total": 1.0}, r"root attribute 'pot_total': expected a number >= 0, got 'lots'"),
    ({"pot_total": -1.0, "gwhr_total": 1.0}, r"root attribute 'pot_total': expected a number >= 0"),
    ({"pot_total": 1e17}, r"expected root attribute 'gwhr_total'"),
])
def test_bad_exposure_attributes_are_named(tmp_path: Path, attrs: dict, words: str) -> None:
    spec = read_dataset(dataset(tmp_path, np.zeros(1, SELECTED), attrs))
    with pytest.raises(DatasetError, match=words):
        load_observed(spec)


def test_hesse_failing_after_a_good_minimum_still_gives_significance_and_values(monkeypatch: pytest.MonkeyPatch
                                                                                ) -> None:
    """The COHERENT 2018 fit with HESSE made to fail everywhere (best and flavored fits): the likelihood
    ratio needs only minima, so the significance stays; every error from the covariance is NaN."""
    from analysis.datasets import builtin
    from analysis.fit import FitOutcome

    spec = read_dataset(builtin("coherent-2018"), COHERENT_2018)
    observed = load_observed(spec)
    monkeypatch.setattr(FitOutcome, "has_covariance", property(lambda self: False))
    s = analyse(spec, observed, with_nsi=False, profile_points=7).summary
    assert s["fit_valid"] is False and "HESSE gave no usable covariance" in s["fit_note"]
    assert s["significance_sigma"] > 3 and np.isfinite(s["mu"])  # the 2018 data reject no-CEvNS
    assert np.isnan(s["n_cevns_err"]) and np.isnan(s["mu_err_lo"])
    assert s["flavored"]["fit_valid"] is False and np.isnan(s["flavored"]["mu_prompt_err"])
    assert np.isnan(s["flavored"]["correlation"]) and np.isnan(s["steady_state"]["n_ss_err"])
