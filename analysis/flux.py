"""Stopped-pion (pi+ decay-at-rest) neutrino flux.

A pi+ stopped in the target decays to mu+ nu_mu (monochromatic "prompt" nu_mu,
on the pion time scale); the mu+ then decays at rest to e+ nu_e anti-nu_mu
("delayed" neutrinos, Michel spectra, on the muon time scale).  Each flavor is
emitted isotropically with ``r`` neutrinos per proton on target (POT).

All spectra are normalised to one neutrino; energies in MeV.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .constants import JOULE_PER_EV, MUON_MASS_MEV, PION_MASS_MEV

#: Flux components, in the order used everywhere in the analysis.
COMPONENTS: tuple[str, ...] = ("prompt", "delayed_nue", "delayed_numubar")

#: Energy of the prompt nu_mu line, (m_pi^2 - m_mu^2) / (2 m_pi) = 29.79 MeV.
PROMPT_ENERGY_MEV = (PION_MASS_MEV**2 - MUON_MASS_MEV**2) / (2.0 * PION_MASS_MEV)
#: End point of the Michel spectra, m_mu / 2 = 52.83 MeV.
MICHEL_ENDPOINT_MEV = MUON_MASS_MEV / 2.0


def nue_spectrum(energy_mev: ArrayLike) -> NDArray[np.float64]:
    """Michel nu_e spectrum from mu+ decay at rest [1/MeV], unit normalised.

    f(E) = 192/m_mu (E/m_mu)^2 (1/2 - E/m_mu) for 0 <= E <= m_mu/2.
    """
    x = np.asarray(energy_mev, dtype=float) / MUON_MASS_MEV
    f = 192.0 / MUON_MASS_MEV * x**2 * (0.5 - x)
    return np.where((x >= 0) & (x <= 0.5), f, 0.0)


def numubar_spectrum(energy_mev: ArrayLike) -> NDArray[np.float64]:
    """Michel anti-nu_mu spectrum from mu+ decay at rest [1/MeV], unit normalised.

    f(E) = 64/m_mu (E/m_mu)^2 (3/4 - E/m_mu) for 0 <= E <= m_mu/2.
    """
    x = np.asarray(energy_mev, dtype=float) / MUON_MASS_MEV
    f = 64.0 / MUON_MASS_MEV * x**2 * (0.75 - x)
    return np.where((x >= 0) & (x <= 0.5), f, 0.0)


SPECTRA = {"delayed_nue": nue_spectrum, "delayed_numubar": numubar_spectrum}


def pot_from_energy(gwhr: float, proton_energy_gev: float) -> float:
    """Protons on target delivered by ``gwhr`` GW hr of beam at ``proton_energy_gev``."""
    joules = gwhr * 1e9 * 3600.0
    return joules / (proton_energy_gev * 1e9 * JOULE_PER_EV)


def fluence_per_flavor(nu_per_proton: float, pot: float, distance_m: float) -> float:
    """Time-integrated neutrino fluence per flavor [1/cm^2] at ``distance_m``.

    Phi = r * POT / (4 pi L^2), isotropic emission from a point source.
    """
    distance_cm = distance_m * 100.0
    return nu_per_proton * pot / (4.0 * np.pi * distance_cm**2)
