"""CEvNS cross section and recoil spectra for a stopped-pion flux.

dsigma/dT = G_F^2 M / (4 pi) Q_W^2 F^2(q) [1 - M T/(2 E^2) - T/E + T^2/(2 E^2)],
Q_W = -2 (Z g_V^p + N g_V^n) = N - (1 - 4 sin^2 theta_W) Z at tree level (``TREE``),
or with radiatively corrected couplings (``RADIATIVE``); vector current only.  The axial
term is dropped: in odd-A 133Cs (7/2+) and 127I (5/2+) it comes from one unpaired
nucleon and is ~1e-4 of the N^2 coherent term.

Units: neutrino energy E in MeV, recoil energy T in keV, cross sections in cm^2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .constants import (
    G_FERMI_GEV,
    G_V_NEUTRON_RADIATIVE,
    G_V_PROTON_RADIATIVE,
    HBARC2_GEV2_CM2,
    HBARC_MEV_FM,
    SIN2_THETA_W_LOW_Q,
    Nuclide,
)
from .flux import COMPONENTS, MICHEL_ENDPOINT_MEV, PROMPT_ENERGY_MEV, SPECTRA
from .formfactor import FORM_FACTORS

FormFactor = Callable[..., NDArray[np.float64]]

# Gauss-Legendre nodes: the energy integrand of the Michel spectra times the
# kinematic factor is a cubic polynomial in E, so 4 nodes are exact.
_GL4 = np.polynomial.legendre.leggauss(4)
_GL64 = np.polynomial.legendre.leggauss(64)


@dataclass(frozen=True)
class Couplings:
    """Corrections to the tree-level nucleon vector couplings g_V^p = 1/2 - 2 sin^2 theta_W and
    g_V^n = -1/2 (``delta_p``, ``delta_n``), with where they come from."""

    delta_p: float = 0.0
    delta_n: float = 0.0
    source: str = "tree level"


TREE = Couplings()
#: g_V^p, g_V^n radiatively corrected (constants.G_V_*_RADIATIVE), as shifts from tree level at
#: the low-Q sin^2 theta_W, so that a fitted sin^2 theta_W moves g_V^p as at tree level.
RADIATIVE = Couplings(G_V_PROTON_RADIATIVE - (0.5 - 2.0 * SIN2_THETA_W_LOW_Q), G_V_NEUTRON_RADIATIVE + 0.5,
                      "radiative corrections: g_V^p = 0.0298, g_V^n = -0.5117 (see analysis/constants.py)")
COUPLINGS = {"tree": TREE, "radiative": RADIATIVE}


def weak_charge(Z: int, N: int, sin2_theta_w: float, couplings: Couplings = TREE) -> float:
    """Nuclear weak charge Q_W = -2 (Z g_V^p + N g_V^n); at tree level N - (1 - 4 sin^2 theta_W) Z."""
    g_p = 0.5 - 2.0 * sin2_theta_w + couplings.delta_p
    g_n = -0.5 + couplings.delta_n
    return -2.0 * (Z * g_p + N * g_n)


def _form_factor_squared(form_factor: FormFactor, q_fm: NDArray, nuclide: Nuclide) -> NDArray:
    if nuclide.weak_radius_fm is None:
        return form_factor(q_fm, nuclide.A) ** 2
    return form_factor(q_fm, nuclide.A, nuclide.weak_radius_fm) ** 2


def max_recoil_kev(energy_mev: ArrayLike, nuclear_mass_mev: float) -> NDArray[np.float64]:
    """Largest recoil energy [keV] for a neutrino of energy E: 2E^2 / (M + 2E)."""
    e = np.asarray(energy_mev, dtype=float)
    return 2.0 * e**2 / (nuclear_mass_mev + 2.0 * e) * 1e3


def min_energy_mev(recoil_kev: ArrayLike, nuclear_mass_mev: float) -> NDArray[np.float64]:
    """Smallest neutrino energy [MeV] able to give recoil T: (T + sqrt(T^2 + 2 M T)) / 2."""
    t = np.asarray(recoil_kev, dtype=float) * 1e-3
    return 0.5 * (t + np.sqrt(t**2 + 2.0 * nuclear_mass_mev * t))


def momentum_transfer_fm(recoil_kev: ArrayLike, nuclear_mass_mev: float) -> NDArray[np.float64]:
    """|q| [fm^-1] for a recoil of kinetic energy T: q^2 = 2 M T + T^2."""
    t = np.asarray(recoil_kev, dtype=float) * 1e-3
    return np.sqrt(2.0 * nuclear_mass_mev * t + t**2) / HBARC_MEV_FM


def _kinematic_factor(e: NDArray, t_mev: NDArray, m: float) -> NDArray:
    return 1.0 - m * t_mev / (2.0 * e**2) - t_mev / e + t_mev**2 / (2.0 * e**2)


def _prefactor_cm2_per_kev(nuclide: Nuclide, qw2: float) -> float:
    """G_F^2 M Q_W^2 / (4 pi) converted from GeV^-3 to cm^2 / keV."""
    m_gev = nuclide.nuclear_mass_mev * 1e-3
    return G_FERMI_GEV**2 * m_gev / (4.0 * np.pi) * qw2 * HBARC2_GEV2_CM2 * 1e-6


def dsigma_dt(
    energy_mev: ArrayLike,
    recoil_kev: ArrayLike,
    nuclide: Nuclide,
    sin2_theta_w: float,
    form_factor: FormFactor = FORM_FACTORS["klein_nystrand"],
    couplings: Couplings = TREE,
) -> NDArray[np.float64]:
    """Differential CEvNS cross section dsigma/dT [cm^2/keV]; zero above T_max(E)."""
    e = np.asarray(energy_mev, dtype=float)
    t = np.asarray(recoil_kev, dtype=float)
    m = nuclide.nuclear_mass_mev
    qw2 = weak_charge(nuclide.Z, nuclide.N, sin2_theta_w, couplings) ** 2
    f2 = _form_factor_squared(form_factor, momentum_transfer_fm(t, m), nuclide)
    value = _prefactor_cm2_per_kev(nuclide, qw2) * f2 * _kinematic_factor(e, t * 1e-3, m)
    return np.where((t >= 0) & (t <= max_recoil_kev(e, m)), np.maximum(value, 0.0), 0.0)


def recoil_spectrum(
    component: str,
    recoil_kev: ArrayLike,
    nuclide: Nuclide,
    sin2_theta_w: float,
    form_factor: FormFactor = FORM_FACTORS["klein_nystrand"],
    couplings: Couplings = TREE,
) -> NDArray[np.float64]:
    """Flux-folded dsigma/dT [cm^2/keV] per target nucleus and per unit fluence of
    one flux ``component`` ("prompt", "delayed_nue" or "delayed_numubar")."""
    t = np.asarray(recoil_kev, dtype=float)
    if component == "prompt":
        return dsigma_dt(PROMPT_ENERGY_MEV, t, nuclide, sin2_theta_w, form_factor, couplings)
    if component not in SPECTRA:
        raise ValueError(f"unknown flux component {component!r}; expected one of {COMPONENTS}")
    spectrum = SPECTRA[component]
    m = nuclide.nuclear_mass_mev
    lo = np.minimum(min_energy_mev(t, m), MICHEL_ENDPOINT_MEV)
    hi = MICHEL_ENDPOINT_MEV
    nodes, weights = _GL4
    e = 0.5 * (hi - lo)[..., None] * nodes + 0.5 * (hi + lo)[..., None]
    integrand = spectrum(e) * _kinematic_factor(e, t[..., None] * 1e-3, m)
    energy_integral = integrand @ weights * 0.5 * (hi - lo)
    qw2 = weak_charge(nuclide.Z, nuclide.N, sin2_theta_w, couplings) ** 2
    f2 = _form_factor_squared(form_factor, momentum_transfer_fm(t, m), nuclide)
    return np.where(t > 0, _prefactor_cm2_per_kev(nuclide, qw2) * f2 * energy_integral, 0.0)


def tabulated_recoil_spectrum(
    edges_mev: ArrayLike,
    probabilities: ArrayLike,
    recoil_kev: ArrayLike,
    nuclide: Nuclide,
    sin2_theta_w: float,
    form_factor: FormFactor = FORM_FACTORS["klein_nystrand"],
    couplings: Couplings = TREE,
) -> NDArray[np.float64]:
    """``recoil_spectrum`` for a tabulated flux: ``probabilities`` per energy bin (unit sum,
    flat within each bin).  Each bin is integrated from max(its lower edge, E_min(T)) with a
    4-node Gauss-Legendre rule (exact for the kinematic factor times a cubic: the same rule
    as the analytic Michel spectra)."""
    t = np.asarray(recoil_kev, dtype=float)
    edges = np.asarray(edges_mev, dtype=float)
    density = np.asarray(probabilities, dtype=float) / np.diff(edges)
    m = nuclide.nuclear_mass_mev
    lo = np.maximum(edges[None, :-1], min_energy_mev(t, m)[:, None])  # (recoil, energy bin)
    hi = np.maximum(edges[None, 1:], lo)
    nodes, weights = _GL4
    e = 0.5 * (hi - lo)[..., None] * nodes + 0.5 * (hi + lo)[..., None]
    factor = _kinematic_factor(np.maximum(e, 1e-12), t[:, None, None] * 1e-3, m)
    energy_integral = ((factor @ weights) * 0.5 * (hi - lo)) @ density
    qw2 = weak_charge(nuclide.Z, nuclide.N, sin2_theta_w, couplings) ** 2
    f2 = _form_factor_squared(form_factor, momentum_transfer_fm(t, m), nuclide)
    return np.where(t > 0, _prefactor_cm2_per_kev(nuclide, qw2) * f2 * energy_integral, 0.0)


def total_cross_section(
    energy_mev: ArrayLike,
    nuclide: Nuclide,
    sin2_theta_w: float,
    form_factor: FormFactor = FORM_FACTORS["klein_nystrand"],
    couplings: Couplings = TREE,
) -> NDArray[np.float64]:
    """Total CEvNS cross section sigma(E) [cm^2], integrating dsigma/dT up to T_max."""
    e = np.atleast_1d(np.asarray(energy_mev, dtype=float))
    tmax = max_recoil_kev(e, nuclide.nuclear_mass_mev)
    nodes, weights = _GL64
    t = 0.5 * tmax[:, None] * (nodes + 1.0)
    values = dsigma_dt(e[:, None], t, nuclide, sin2_theta_w, form_factor, couplings)
    out = values @ weights * 0.5 * tmax
    return out if np.ndim(energy_mev) else out[0]


def flux_averaged_cross_section(
    component: str,
    nuclide: Nuclide,
    sin2_theta_w: float,
    form_factor: FormFactor = FORM_FACTORS["klein_nystrand"],
    couplings: Couplings = TREE,
    spectrum: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None,
) -> float:
    """<sigma> [cm^2] of one flux component: int f(E) sigma(E) dE (no threshold); f the
    analytic pi+ DAR spectrum, or ``spectrum`` = (energy edges [MeV], probability per bin)."""
    if spectrum is not None:
        edges, prob = (np.asarray(a, dtype=float) for a in spectrum)
        nodes, weights = _GL4
        half = 0.5 * np.diff(edges)
        e = half[:, None] * nodes + 0.5 * (edges[1:] + edges[:-1])[:, None]
        sigma = total_cross_section(e.ravel(), nuclide, sin2_theta_w, form_factor, couplings).reshape(e.shape)
        return float(((sigma @ weights) * half / np.diff(edges)) @ prob)
    if component == "prompt":
        return float(total_cross_section(PROMPT_ENERGY_MEV, nuclide, sin2_theta_w, form_factor, couplings))
    nodes, weights = _GL64
    e = 0.5 * MICHEL_ENDPOINT_MEV * (nodes + 1.0)
    sigma = total_cross_section(e, nuclide, sin2_theta_w, form_factor, couplings)
    return float(SPECTRA[component](e) * sigma @ weights * 0.5 * MICHEL_ENDPOINT_MEV)
