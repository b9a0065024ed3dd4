"""Dataset description: the shipped 2018 TOML parses, and every malformed input
gives a DatasetError naming the file, the key and what was expected."""

import re
from pathlib import Path

import numpy as np
import pytest

from analysis.datafiles import load_observed
from analysis.dataset import read_dataset
from analysis.datasets import builtin
from analysis.schema import DatasetError
from daq.cli.main import main
from tests.analysis.release import COHERENT_2018

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = COHERENT_2018
DATASET = builtin("coherent-2018")
TEXT = DATASET.read_text()


def write_variant(tmp_path, old, new, count=1):
    assert old in TEXT, old
    path = tmp_path / "variant.toml"
    path.write_text(TEXT.replace(old, new, count))
    return path


def test_2018_dataset_parses():
    spec = read_dataset(DATASET, DATA_DIR)
    assert spec.exposure.pot == pytest.approx(1.76e23)
    assert [n.nuclide.name for n in spec.detector.nuclei] == ["Cs133", "I127"]
    assert spec.response.qf_coefficients == (0.0878,)
    assert spec.response.efficiency["x0"].error_lo == pytest.approx(0.3995)
    assert np.allclose(spec.analysis.pe_edges, np.arange(6, 31, 2))
    assert np.allclose(spec.analysis.time_edges_us, np.arange(0, 6.01, 0.5))


def test_binned_text_rebinned_to_coarser_analysis_bins(tmp_path):
    path = write_variant(tmp_path, "pe_bin_width = 2.0", "pe_bin_width = 8.0")
    obs = load_observed(read_dataset(path, DATA_DIR))
    assert obs.counts["c_beam_on"].shape == (3, 12)
    assert obs.counts["c_beam_on"].sum() == 547


@pytest.mark.parametrize(
    "old, new, pattern",
    [
        ("distance_m = 19.3", 'distance_m = "far"', r"variant\.toml: \[source\] distance_m: expected a number > 0"),
        ("distance_m = 19.3", "distance_m = -1", r"\[source\] distance_m: expected a number > 0, got -1"),
        ("mass_kg = 14.6 ", "# ", r"\[detector\] mass_kg: missing"),
        ("distance_m = 19.3", "distnce_m = 19.3", r"\[source\] distnce_m: unknown key"),
        ('model = "poisson"', 'model = "gauss"', r"\[response.smearing\] model: expected one of 'poisson'"),
        ('c_beam_on = "data_coincidence_beamOn.txt"', 'c_beam_on = "nope.txt"',
         r"\[data\] c_beam_on: expected an existing file"),
        ('nuclide = "I127"', 'nuclide = "Xx999"', r"\[detector.nuclei\[1\]\] nuclide: expected one of"),
        ("pe_bin_width = 2.0", "pe_bin_width = 5.0", r"\[analysis\] pe_bin_width: expected a width dividing"),
        ("pe_range = [6.0, 30.0]", "pe_range = [5.0, 31.0]", r"analysis PE edges .* must lie on the file's"),
        ("schema_version = 1", "schema_version = 1\nschema_version = 2", r"not valid TOML"),
    ],
)
def test_errors_name_file_key_and_expectation(tmp_path, old, new, pattern):
    path = write_variant(tmp_path, old, new)
    with pytest.raises(DatasetError, match=pattern):
        load_observed(read_dataset(path, DATA_DIR))


def test_missing_data_dir_is_reported():
    with pytest.raises(DatasetError, match="use --data-dir"):
        read_dataset(DATASET)  # the release is not next to the TOML


def test_cli_reports_dataset_error_without_traceback(tmp_path, capsys):
    path = write_variant(tmp_path, "distance_m = 19.3", 'distance_m = "far"')
    assert main(["predict", str(path), "--data-dir", str(DATA_DIR)]) == 2
    err = capsys.readouterr().err
    assert re.search(r"^sevens: error: variant\.toml: \[source\] distance_m: expected", err)  # as every command
    assert "Traceback" not in err
