"""Standard-model CEvNS at a stopped-pion source, and the beam-related arrival times.

:class:`CevnsSource` is the one place the detector simulation asks about CEvNS: how many
recoils to expect per proton on target (prompt and delayed) and what their nuclear-recoil
energies are. The physics is the analysis package's (one owner of the cross section, the
flux and the nuclei): flux ``r * POT / (4 pi L^2)`` per flavor, the prompt nu_mu line and
the Michel nu_e and anti-nu_mu spectra, dsigma/dT with the Klein-Nystrand form factor on
Cs-133 and I-127 at the low-Q weak mixing angle. A fit of a simulated run therefore tests
the DAQ's reconstruction against the very model it fits with.

The arrival-time samplers model the proton pulse as a gaussian of the configured FWHM that
starts at the POT time (centred one FWHM after it, truncated to +-1 FWHM), convolved with
the pion lifetime (prompt) and in addition the muon lifetime (delayed).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri

from analysis.constants import AMU_MEV, MUON_LIFETIME_NS, NUCLIDES, PION_LIFETIME_NS, SIN2_THETA_W_LOW_Q
from analysis.flux import MICHEL_ENDPOINT_MEV, fluence_per_flavor
from analysis.xsec import max_recoil_kev, recoil_spectrum

MEV_PER_KG = 1.0 / 1.78266192e-30  # 1 MeV/c^2 = 1.78266192e-30 kg (CODATA 2018)
CSI = (NUCLIDES["Cs133"], NUCLIDES["I127"])  # one of each per CsI molecule


class CevnsSource:
    """CEvNS recoils in the CsI[Na] crystal per proton on target (standard model).

    Reads ``simulation.nu_per_flavor_per_proton``, ``simulation.distance_m`` and
    ``simulation.mass_kg``. Recoil energies are nuclear-recoil keV (keVnr).
    """

    def __init__(self, cfg: object, n_recoil: int = 1200) -> None:
        sim = cfg.simulation
        fluence_per_pot = fluence_per_flavor(sim.nu_per_flavor_per_proton, 1.0, sim.distance_m)  # [cm^-2]
        molecule_mev = sum(n.atomic_mass_u for n in CSI) * AMU_MEV
        molecules = sim.mass_kg * MEV_PER_KG / molecule_mev
        t_max = max(float(max_recoil_kev(MICHEL_ENDPOINT_MEV, n.nuclear_mass_mev)) for n in CSI)
        self.recoil_kevnr = np.linspace(0.0, t_max, n_recoil)
        t = self.recoil_kevnr
        prompt = sum(recoil_spectrum("prompt", t, n, SIN2_THETA_W_LOW_Q) for n in CSI)
        delayed = sum(recoil_spectrum(c, t, n, SIN2_THETA_W_LOW_Q) for n in CSI
                      for c in ("delayed_nue", "delayed_numubar"))
        scale = fluence_per_pot * molecules
        self._dn_dt = {False: prompt * scale, True: delayed * scale}  # recoils per POT per keVnr
        self._cdf = {}
        for key, dens in self._dn_dt.items():
            cum = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(t))])
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
