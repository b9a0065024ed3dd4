"""The worked example of a full-dataset release (issue 14, item 7): made from our own
simulation by ``python -m simulators.release``, using every new input (ROOT histograms,
+-1 sigma curves, an efficiency covariance, energy-dependent smearing, a 3x longer sideband for
the smooth background, the neutron count from its time table with the time acceptance already
in it, per-nucleus radii) and fitted here."""

import numpy as np
import pytest
import uproot

from analysis.datafiles import load_observed
from analysis.dataset import read_dataset
from analysis.datasets import DATASET_DIR
from analysis.diagnostics import impacts
from analysis.fit import minimise, significance
from analysis.model import FitModel
from simulators.release import simulate, write_release

EXAMPLE = DATASET_DIR / "worked-example" / "worked-example.toml"


@pytest.fixture(scope="module")
def best():
    spec = read_dataset(EXAMPLE)
    return minimise(FitModel(spec, load_observed(spec)))


def test_committed_files_are_what_the_script_writes(tmp_path):
    """Same seed, same histograms (the ROOT file's own metadata differs run to run); small files."""
    truth = write_release(tmp_path, seed=2026)
    with uproot.open(tmp_path / "release.root") as new, uproot.open(EXAMPLE.parent / "release.root") as old:
        for name in ("c_beam_on", "ac_beam_on", "arrival_prompt"):  # event counts: exactly
            assert np.array_equal(new[name].values(), old[name].values()), name
        # a computed table: equal to rounding (the summation order of numpy's SIMD paths differs by machine)
        np.testing.assert_allclose(new["brn_time_per_gwhr"].values(), old["brn_time_per_gwhr"].values(),
                                   rtol=1e-12, atol=1e-15)
    assert f"{truth['n_cevns_true']} CEvNS events were simulated" in EXAMPLE.read_text()
    assert sum(p.stat().st_size for p in EXAMPLE.parent.iterdir()) < 100_000


def test_fit_recovers_the_simulated_cevns(best):
    """Within 2.5 fit errors of the simulated count in the window (the seed's truth), with every
    systematic pulled by less than 2 sigma and the CEvNS observed at > 5 sigma."""
    truth = simulate(2026)["n_cevns_true"]
    assert best.valid and best.has_covariance
    n, err = best.n_cevns()
    assert abs(n - truth) < 2.5 * err
    spec = best.model.spec
    assert spec.response.qf_table.name == "quenching_nominal.txt"  # the QF curves are tables
    assert spec.systematics[0].up.qf_table.name == "quenching_up.txt"
    names = [r["name"] for r in impacts(best) if not r.get("group")]
    assert {"qf_curve", "eff_pc1", "eff_pc2", "eff_pc3", "ssb_norm"} <= set(names)
    assert all(abs(best.values[x]) < 2 for x in names)
    assert significance(best)[0] > 5


def test_longer_sideband_narrows_the_normalisation_prior(best):
    """3002 AC events in a window 3x longer than C: prior 1000.7 +- 18.3 (sqrt(3002) / 3)
    instead of the +- 31.6 a C-length sideband with the same rate would give."""
    norm = best.model.steady.nuisances[0]
    n_ac = best.model.observed.counts["ac_beam_on"].sum()
    assert norm.nominal == pytest.approx(n_ac / 3) and norm.error_hi == pytest.approx(np.sqrt(n_ac) / 3)
