"""Standard-model CEvNS at a stopped-pion source, and the beam-related arrival times.

:class:`CevnsSource` is the one place the detector simulation asks about CEvNS: how many
recoils to expect per proton on target (prompt and delayed) and what their nuclear-recoil
energies are. It is deliberately small and self-contained so the analysis package's
reference prediction can replace it. The calculation:

- flux: ``r * POT / (4 pi L^2)`` neutrinos per flavor; prompt nu_mu is a line at 29.79 MeV
  (pi+ -> mu+ nu_mu at rest), delayed nu_e and anti-nu_mu have Michel spectra
  (mu+ -> e+ nu_e anti-nu_mu at rest);
- cross section: ``dsigma/dT = G_F^2 M / (4 pi) Q_W^2 F^2(q) (1 - M T/(2E^2) - T/E + T^2/(2E^2))``
  with ``Q_W = N - (1 - 4 sin^2 theta_W) Z`` and the Helm form factor (Lewin-Smith parameters);
- target: Cs-133 and I-127, one of each per CsI molecule.

The arrival-time samplers model the proton pulse as a gaussian of the configured FWHM that
starts at the POT time (centred one FWHM after it, truncated to +-1 FWHM), convolved with
the pion lifetime (prompt) and in addition the muon lifetime (delayed).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri

# Physical constants (PDG 2022 unless noted).
G_FERMI_GEV2 = 1.1663788e-5  # Fermi constant [GeV^-2]
SIN2_THETA_W = 0.23857  # weak mixing angle at low momentum transfer (PDG, MS-bar, Q -> 0)
HBARC_GEV_FM = 0.1973269804  # hbar c [GeV fm]
GEV2_TO_CM2 = 0.3893794e-27  # (hbar c)^2: 1 GeV^-2 in cm^2
AMU_GEV = 0.93149410242  # atomic mass unit [GeV]
AMU_KG = 1.66053906660e-27  # atomic mass unit [kg]
MUON_MASS_MEV = 105.6583755  # muon mass [MeV]
NU_MU_PROMPT_MEV = 29.79  # nu_mu energy from pi+ decay at rest [MeV]
PION_LIFETIME_NS = 26.033  # charged-pion mean life [ns]
MUON_LIFETIME_NS = 2196.981  # muon mean life [ns]

# Target nuclei: (Z, N, atomic mass [u]) — AME2020 atomic masses.
CSI_NUCLEI = {"Cs133": (55, 78, 132.905452), "I127": (53, 74, 126.904473)}

# Helm form-factor parameters (Lewin & Smith, Astropart. Phys. 6 (1996) 87) [fm].
HELM_S_FM = 0.9
HELM_A_FM = 0.52


def helm_form_factor(q_fm: np.ndarray, mass_number: int) -> np.ndarray:
    """Helm nuclear form factor F(q) at momentum transfer ``q_fm`` [fm^-1]."""
    c = 1.23 * mass_number ** (1.0 / 3.0) - 0.60
    r0 = np.sqrt(c**2 + 7.0 / 3.0 * np.pi**2 * HELM_A_FM**2 - 5.0 * HELM_S_FM**2)
    x = np.asarray(q_fm, dtype=float) * r0
    small = x < 1e-2
    xs = np.where(small, 1.0, x)
    # 3 j1(x)/x, with its series near x = 0 where the closed form cancels catastrophically
    three_j1_over_x = np.where(small, 1.0 - x**2 / 10.0, 3.0 * (np.sin(xs) / xs**2 - np.cos(xs) / xs) / xs)
    return three_j1_over_x * np.exp(-((q_fm * HELM_S_FM) ** 2) / 2.0)


def dsigma_dt_cm2_per_kev(e_mev: np.ndarray, t_kev: np.ndarray, z: int, n: int, mass_u: float) -> np.ndarray:
    """CEvNS differential cross section [cm^2/keV] for neutrino energy ``e_mev`` and recoil ``t_kev``."""
    m = mass_u * AMU_GEV
    e = np.asarray(e_mev, dtype=float) * 1e-3
    t = np.asarray(t_kev, dtype=float) * 1e-6
    q_w = n - (1.0 - 4.0 * SIN2_THETA_W) * z
    with np.errstate(divide="ignore", invalid="ignore"):
        kin = 1.0 - m * t / (2 * e**2) - t / e + t**2 / (2 * e**2)
    kin = np.where(e > 0, np.clip(kin, 0.0, None), 0.0)
    q_fm = np.sqrt(2 * m * t) / HBARC_GEV_FM
    ff = helm_form_factor(q_fm, z + n)
    per_gev3 = G_FERMI_GEV2**2 * m / (4 * np.pi) * q_w**2 * ff**2 * kin
    return per_gev3 * GEV2_TO_CM2 * 1e-6


def michel_nu_e(e_mev: np.ndarray) -> np.ndarray:
    """nu_e spectrum from mu+ decay at rest, normalised to 1 [1/MeV]."""
    m = MUON_MASS_MEV
    return np.where((e_mev >= 0) & (e_mev <= m / 2), 96 * e_mev**2 * (m - 2 * e_mev) / m**4, 0.0)


def michel_nu_mu_bar(e_mev: np.ndarray) -> np.ndarray:
    """anti-nu_mu spectrum from mu+ decay at rest, normalised to 1 [1/MeV]."""
    m = MUON_MASS_MEV
    return np.where((e_mev >= 0) & (e_mev <= m / 2), 16 * e_mev**2 * (3 * m - 4 * e_mev) / m**4, 0.0)


class CevnsSource:
    """CEvNS recoils in the CsI[Na] crystal per proton on target (standard model).

    Reads ``simulation.nu_per_flavor_per_proton``, ``simulation.distance_m`` and
    ``simulation.mass_kg``. Recoil energies are nuclear-recoil keV (keVnr).
    """

    def __init__(self, cfg: object, n_recoil: int = 1200, n_energy: int = 1500) -> None:
        sim = cfg.simulation
        flux_per_pot = sim.nu_per_flavor_per_proton / (4 * np.pi * (sim.distance_m * 100.0) ** 2)  # [cm^-2]
        molecules = sim.mass_kg / (sum(a for _, _, a in CSI_NUCLEI.values()) * AMU_KG)
        e_max = MUON_MASS_MEV / 2
        t_max = max(2 * e_max**2 / (a * AMU_GEV * 1e3 + 2 * e_max) for _, _, a in CSI_NUCLEI.values()) * 1e3
        self.recoil_kevnr = np.linspace(0.0, t_max, n_recoil)
        e = np.linspace(0.0, e_max, n_energy)
        delayed_flux = michel_nu_e(e) + michel_nu_mu_bar(e)
        prompt = np.zeros(n_recoil)
        delayed = np.zeros(n_recoil)
        for z, n, a in CSI_NUCLEI.values():
            prompt += dsigma_dt_cm2_per_kev(np.array(NU_MU_PROMPT_MEV), self.recoil_kevnr, z, n, a)
            xs = dsigma_dt_cm2_per_kev(e[None, :], self.recoil_kevnr[:, None], z, n, a)
            delayed += np.trapezoid(xs * delayed_flux[None, :], e, axis=1)
        scale = flux_per_pot * molecules
        self._dn_dt = {False: prompt * scale, True: delayed * scale}  # recoils per POT per keVnr
        self._cdf = {}
        for key, dens in self._dn_dt.items():
            cum = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(self.recoil_kevnr))])
            self._cdf[key] = cum

    def expected_per_pot(self, threshold_kevnr: float = 0.0) -> tuple[float, float]:
        """Expected (prompt, delayed) recoils per proton on target above ``threshold_kevnr``."""
        out = []
        for delayed in (False, True):
            cum = self._cdf[delayed]
            out.append(float(cum[-1] - np.interp(threshold_kevnr, self.recoil_kevnr, cum)))
        return out[0], out[1]

    def sample_recoil_kevnr(self, rng: np.random.Generator, n: int, delayed: bool = False) -> np.ndarray:
        """``n`` nuclear-recoil energies [keVnr] from the prompt (or delayed) recoil spectrum."""
        cum = self._cdf[bool(delayed)]
        return np.interp(rng.random(n) * cum[-1], cum, self.recoil_kevnr)


def sample_proton_time_ns(rng: np.random.Generator, n: int, fwhm_ns: float) -> np.ndarray:
    """Proton arrival times on target after the POT time [ns]: gaussian, centre FWHM, within [0, 2 FWHM]."""
    sigma = fwhm_ns / (2 * np.sqrt(2 * np.log(2)))
    lo = ndtr(-fwhm_ns / sigma)
    u = lo + rng.random(n) * (1 - 2 * lo)
    return fwhm_ns + sigma * ndtri(u)


def sample_arrival_ns(rng: np.random.Generator, n: int, fwhm_ns: float, delayed: bool) -> np.ndarray:
    """CEvNS neutrino arrival times after the POT time [ns], prompt (pion decay) or delayed (muon decay)."""
    t = sample_proton_time_ns(rng, n, fwhm_ns) + rng.exponential(PION_LIFETIME_NS, n)
    if delayed:
        t += rng.exponential(MUON_LIFETIME_NS, n)
    return t
