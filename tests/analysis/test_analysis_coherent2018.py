"""Validation on the COHERENT 2018 public release against the published figures
(README of the release; Akimov et al., Science 357 (2017) 1123):

  C 547, AC 405 counts; prompt neutrons 7.0 +- 1.7; counting 136 +- 31;
  2D fit 134 +- 22 CEvNS; SM prediction 173 +- 48; no-CEvNS rejected at 6.7 sigma.

The published numbers appear only here, as the comparison.  Each tolerance is
argued in its test; docs/fit.md tabulates ours beside theirs.
"""

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import chi2 as chi2_dist

from analysis.datafiles import load_observed
from analysis.dataset import read_dataset
from analysis.datasets import builtin
from analysis.plots import write_plots
from analysis.results import analyse
from tests.analysis.release import COHERENT_2018

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = COHERENT_2018


@pytest.fixture(scope="module")
def result():
    spec = read_dataset(builtin("coherent-2018"), DATA_DIR)
    return analyse(spec, load_observed(spec), with_impacts=False)  # impacts: test_analysis_smooth


@pytest.fixture(scope="module")
def s(result):
    return result.summary


def test_window_counts_exact(s):
    """Same data, same window (6 <= PE < 30 in 2-PE bins, 0 <= t < 6 us): exact."""
    assert s["counting"]["n_c"] == 547
    assert s["counting"]["n_ac"] == 405


def test_prompt_neutrons_within_published_error(s):
    """Published 7.0 +- 1.7 is 0.93/GWhr x 7.48 GWhr from the in-situ neutron
    measurement (seed talk); ours integrates the released PE PDF with the acceptance
    over the analysis window only (5.4).  They must agree within the published error."""
    assert abs(s["counting"]["neutrons"] - 7.0) < 1.7


def test_counting_signal(s):
    """136 +- 31: C - AC - neutrons with sigma = sqrt(N_meas + 2 B_AC + B_n).  Our
    smaller neutron estimate (5.4 vs ~6) moves the signal up by ~1; we allow 3 counts
    (0.1 sigma).  The error is statistics-dominated and must match within 1 count."""
    assert s["counting"]["signal"] == pytest.approx(136, abs=3)
    assert s["counting"]["error"] == pytest.approx(31, abs=1)


def test_sm_prediction(s):
    """173 +- 48 (28 %).  Same inputs, but the collaboration's own simulation; the
    photoelectron-binning convention of Poisson counts (+-8 %), sin^2 theta_W at low Q
    vs the Z pole (4.6 %) and the form factor (5 %) are each well inside the quoted
    28 %.  We require agreement within 10 % (a third of the quoted error) and a
    relative uncertainty of 20-32 % dominated by the quenching factor."""
    assert s["sm_prediction"] == pytest.approx(173, rel=0.10)
    rel = s["sm_prediction_err"] / s["sm_prediction"]
    assert 0.20 < rel < 0.32
    breakdown = s["sm_prediction_err_breakdown"]
    assert max(breakdown, key=breakdown.get) == "qf_scale"


def test_fitted_cevns_count(s):
    """134 +- 22.  The published 2D fit used the collaboration's steady-state PDF; ours
    fits a PE x time factorised background to the AC and beam-off windows and carries
    its statistical error.  Different but equally valid background treatments of the
    same data differ by a fraction of the statistical error: we require the central
    value within 0.5 sigma (11 counts) and the error within 25 % of 22."""
    assert s["n_cevns"] == pytest.approx(134, abs=11)
    assert s["n_cevns_err"] == pytest.approx(22, rel=0.25)


def test_significance(s):
    """6.7 sigma.  Z scales like N / sigma_N; our sigma_N is ~12 % larger (background
    shape statistics propagated), which alone moves Z to ~6.0.  Accept 5.5-7.5."""
    assert 5.5 < s["significance_sigma"] < 7.5


def test_goodness_of_fit(s):
    """chi^2 (Baker-Cousins) of the C data alone consistent with its effective ndof (the 144
    bins less the parameters' share fitted to them), and likewise the whole fit: p > 1 %."""
    assert 100 < s["ndof"] < 144 == s["chi2_windows"]["c"]["bins"]
    assert chi2_dist.sf(s["chi2"], s["ndof"]) > 0.01
    assert chi2_dist.sf(s["chi2_total"], s["ndof_total"]) > 0.01
    assert s["chi2_total"] == pytest.approx(sum(w["chi2"] for w in s["chi2_windows"].values()))


def test_cross_section_and_weak_mixing_consistent_with_sm(s):
    """The published rate is ~1 sigma below the SM; ours must be consistent with the
    SM within 2 sigma, and sin^2 theta_W follow: a rate below the SM means a smaller
    weak-mixing angle (larger g_p cancellation)."""
    sigma, sm = s["sigma_flux_avg_1e40_cm2"], s["sigma_sm_1e40_cm2"]
    assert sm == pytest.approx(189, rel=0.06)  # see test_analysis_physics
    assert sm - 2 * s["sigma_flux_avg_err_hi_1e40_cm2"] < sigma < sm
    assert s["sin2_theta_w"] < s["sin2_theta_w_sm"] < s["sin2_theta_w"] + 2 * s["sin2_theta_w_err_hi"]


def test_flavored_cross_sections(s):
    """Prompt (nu_mu) and delayed (nu_e + anti-nu_mu) strengths are both measured
    (non-zero at > 2 sigma) and each consistent with the SM within 2 sigma."""
    f = s["flavored"]
    for name in ("prompt", "delayed"):
        mu, err = f[f"mu_{name}"], f[f"mu_{name}_err"]
        assert mu > 2 * err
        assert abs(mu - 1) < 2 * err
        assert f[f"sigma_{name}_1e40_cm2"] == pytest.approx(mu * f[f"sigma_{name}_sm_1e40_cm2"])


def test_nsi_region_contains_sm_and_excludes_large_couplings(result):
    """90 % CL region in (eps^uV_ee, eps^dV_ee): contains the SM point, is a band along
    Q_ee ~ const (not the whole plane) and the fit region lies inside the counting one."""
    nsi = result.nsi
    centre = len(nsi.eps_u) // 2
    assert nsi.dchi2_fit[centre, centre] < 4.605
    assert nsi.dchi2_fit[centre, -1] > 4.605            # eps_u = +1, eps_d = 0 excluded
    assert nsi.dchi2_fit[0, 0] > 4.605                  # (-1, -1) excluded
    inside_fit = nsi.dchi2_fit < 4.605
    assert np.all(nsi.dchi2_counting[inside_fit] < 4.605 + 1.0)
    assert 0.1 < inside_fit.mean() < 0.6


def test_json_fields_and_nuisances(s):
    for key in ("n_cevns", "n_cevns_err", "significance_sigma", "sm_prediction", "chi2", "ndof",
                "sigma_flux_avg_1e40_cm2", "sigma_sm_1e40_cm2", "sin2_theta_w"):
        assert np.isfinite(s[key]), key
    assert {"signal", "error"} <= set(s["counting"])
    for name in ("flux_norm", "qf_scale", "eff_a", "eff_k", "eff_x0", "brn_norm", "t_offset_us"):
        n = s["nuisance"][name]
        assert np.isfinite(n["value"]) and n["error"] > 0
        assert abs(n["pull"]) < 2.0, name  # no nuisance is pulled far from its measurement


def test_plots_written(result, tmp_path):
    paths = write_plots(result, tmp_path)
    assert [p.name for p in paths] == ["fit_projections.png", "pull_map.png", "likelihood_profile.png",
                                       "nsi_region.png"]
    assert all(p.stat().st_size > 10_000 for p in paths)


def test_profile_scan_unclipped_with_crossings(s):
    """50 points from mu = 0 to beyond the upper 3 sigma crossing, not clipped: the value at
    mu = 0 is the significance squared; the 1 sigma crossings agree with MINOS."""
    scan = s["profile_mu"]
    grid, values = np.array(scan["grid"]), np.array(scan["two_delta_nll"])
    assert grid.size == 50 and grid[0] == 0.0
    assert values[0] == pytest.approx(s["significance_sigma"] ** 2, rel=0.02)
    lo, hi = scan["crossings"]["1sigma"]
    assert lo == pytest.approx(s["mu"] - s["mu_err_lo"], abs=0.01)
    assert hi == pytest.approx(s["mu"] + s["mu_err_hi"], abs=0.01)
    assert None not in scan["crossings"]["3sigma"]
