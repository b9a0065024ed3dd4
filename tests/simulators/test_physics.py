"""The standard-model CEvNS source and the beam arrival-time samplers."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.constants import AMU_MEV, MUON_LIFETIME_NS, PION_LIFETIME_NS
from analysis.flux import PROMPT_ENERGY_MEV as NU_MU_PROMPT_MEV
from simulators.beam import nominal_pot
from simulators.physics import CSI, CevnsSource, sample_arrival_ns


@pytest.fixture(scope="module")
def cevns():
    from daq import config

    return CevnsSource(config.load())


def test_expected_cevns_per_pulse_at_nominal_power(base_cfg, cevns):
    # COHERENT 2017: ~170 events after efficiency in 7.5 GWhr (1.16e9 pulses at 1.4 MW): ~1.5e-7 per pulse
    pot = nominal_pot(base_cfg)
    total = sum(cevns.expected_per_pot()) * pot
    above_5 = sum(cevns.expected_per_pot(5.0)) * pot
    assert 5e-7 < total < 2e-6
    assert 2e-7 < above_5 < 8e-7
    prompt, delayed = cevns.expected_per_pot()
    assert 0.3 < prompt / delayed < 0.5  # one prompt flavour of lower energy vs two delayed


def test_recoil_energies_respect_the_kinematic_endpoint(cevns):
    rng = np.random.default_rng(1)
    prompt = cevns.sample_recoil_kevnr(rng, 20_000, delayed=False)
    delayed = cevns.sample_recoil_kevnr(rng, 20_000, delayed=True)
    lightest = min(n.atomic_mass_u for n in CSI) * AMU_MEV  # MeV
    t_max_prompt = 2 * NU_MU_PROMPT_MEV**2 / (lightest + 2 * NU_MU_PROMPT_MEV) * 1e3
    assert prompt.min() >= 0 and prompt.max() <= t_max_prompt * 1.001
    assert delayed.mean() > prompt.mean()
    # the sampled fraction above 5 keVnr matches the integral
    p_all, d_all = cevns.expected_per_pot()
    p_5, d_5 = cevns.expected_per_pot(5.0)
    assert np.mean(prompt > 5.0) == pytest.approx(p_5 / p_all, abs=0.015)
    assert np.mean(delayed > 5.0) == pytest.approx(d_5 / d_all, abs=0.015)


def test_arrival_times_follow_pion_and_muon_lifetimes(base_cfg):
    rng = np.random.default_rng(2)
    fwhm = base_cfg.beam.pulse_fwhm_ns
    prompt = sample_arrival_ns(rng, 100_000, fwhm, delayed=False)
    delayed = sample_arrival_ns(rng, 100_000, fwhm, delayed=True)
    assert prompt.min() >= 0 and delayed.min() >= 0
    assert prompt.mean() == pytest.approx(fwhm + PION_LIFETIME_NS, rel=0.01)
    assert delayed.mean() == pytest.approx(fwhm + PION_LIFETIME_NS + MUON_LIFETIME_NS, rel=0.01)
