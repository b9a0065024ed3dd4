"""Detector response and timing kernels (pure functions), incl. property tests."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.constants import MUON_LIFETIME_NS, PION_LIFETIME_NS
from analysis.nuisance import asymmetric_shift
from analysis.response import (
    gamma_matrix,
    logistic_efficiency,
    mean_pe,
    poisson_matrix,
    rebin_matrix,
    sharp_matrix,
)
from analysis.timing import cdf_from_table, gaussian_pulse_cdf


def test_mean_pe_constant_and_polynomial_quenching():
    t = np.array([0.0, 10.0, 20.0])
    assert np.allclose(mean_pe(t, [0.0878], 13.348), 13.348 * 0.0878 * t)
    assert np.allclose(mean_pe(t, [0.05, 0.001], 10.0), 10.0 * (0.05 + 0.001 * t) * t)


@given(st.floats(0.0, 30.0))
def test_poisson_rows_normalised(mu):
    row = poisson_matrix(np.array([mu]), 120)[0]
    assert row.sum() == pytest.approx(1.0, abs=1e-9)
    assert (np.arange(120) * row).sum() == pytest.approx(mu, abs=1e-6)


@given(st.floats(1.0, 30.0), st.floats(0.5, 3.0))
@settings(max_examples=30)
def test_gamma_smearing_mean_and_variance(mu, excess):
    edges = np.linspace(0, 200, 8001)
    row = gamma_matrix(np.array([mu]), edges, excess)[0]
    centres = 0.5 * (edges[1:] + edges[:-1])
    mean = (centres * row).sum()
    assert row.sum() == pytest.approx(1.0, abs=1e-6)
    assert mean == pytest.approx(mu, rel=2e-3)
    assert ((centres - mean) ** 2 * row).sum() == pytest.approx(excess * mu, rel=2e-2)


def test_sharp_matrix_places_mean_in_its_bin():
    m = sharp_matrix(np.array([0.2, 3.7, 99.0]), np.arange(6.0))
    assert m[0, 0] == 1 and m[1, 3] == 1 and m[2].sum() == 0


def test_release_efficiency_step():
    """COHERENT 2018 acceptance: H = 0 below 5 PE, 1/2 in [5, 6), 1 above."""
    steps = [(5.0, 0.5), (6.0, 1.0)]
    x = np.array([4.5, 5.5, 6.5, 100.0])
    eff = logistic_efficiency(x, 0.6655, 0.4942, 10.8507, 0.0, steps)
    logistic = 0.6655 / (1 + np.exp(-0.4942 * (x - 10.8507)))
    assert eff[0] == 0.0
    assert eff[1] == pytest.approx(0.5 * logistic[1])
    assert eff[2] == pytest.approx(logistic[2])
    assert eff[3] == pytest.approx(0.6655)


@given(st.lists(st.floats(0.1, 5.0), min_size=1, max_size=12), st.floats(0.0, 3.0))
def test_rebin_conserves_contents_inside_range(widths, start):
    fine = start + np.concatenate([[0.0], np.cumsum(widths)])
    coarse = np.linspace(fine[0], fine[-1], 4)
    content = np.arange(1.0, len(widths) + 1)
    assert (content @ rebin_matrix(fine, coarse)).sum() == pytest.approx(content.sum())


@given(st.floats(-4, 4), st.floats(0.01, 1.0), st.floats(0.01, 1.0))
def test_asymmetric_pull_mapping_monotone_and_hits_errors(theta, lo, hi):
    """Values at +-1 sigma are the quoted errors; monotone when the errors differ by < 3x."""
    assert asymmetric_shift(1.0, lo, hi) == pytest.approx(hi)
    assert asymmetric_shift(-1.0, lo, hi) == pytest.approx(-lo)
    if max(lo, hi) < 3 * min(lo, hi):
        assert asymmetric_shift(theta + 1e-3, lo, hi) > asymmetric_shift(theta, lo, hi)


def test_timing_model_mean_times():
    """Pulse (mean c) convolved with the pion lifetime, then the muon lifetime:
    mean arrival c + tau_pi (prompt) and c + tau_pi + tau_mu (delayed)."""
    centre = 1.0
    edges = np.arange(-1.0, 40.0, 0.01)
    for kind, mean in (("prompt", centre + PION_LIFETIME_NS * 1e-3),
                       ("delayed", centre + (PION_LIFETIME_NS + MUON_LIFETIME_NS) * 1e-3)):
        p = gaussian_pulse_cdf(kind, centre, 380.0, t_max_us=40.0).bin_probabilities(edges)
        mids = 0.5 * (edges[1:] + edges[:-1])
        assert (p * mids).sum() / p.sum() == pytest.approx(mean, abs=0.01)


def test_offset_shifts_a_table_and_is_exact_on_bin_edges():
    cdf = cdf_from_table([0.25, 0.75, 1.25, 1.75], [0.1, 0.6, 0.2, 0.1])
    assert np.allclose(cdf.bin_probabilities([0, 0.5, 1, 1.5, 2]), [0.1, 0.6, 0.2, 0.1])
    shifted = cdf.bin_probabilities([0.5, 1.0, 1.5, 2.0, 2.5], offset_us=0.5)
    assert np.allclose(shifted, [0.1, 0.6, 0.2, 0.1])
