"""Physical constants and nuclide data, each with its source.

Units: energies in MeV unless a name says otherwise, lengths in cm, times in ns.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- fundamental constants -------------------------------------------------
#: Fermi constant [GeV^-2]; PDG 2022, "Physical constants" table (1.1663788(6) e-5).
G_FERMI_GEV = 1.1663788e-5
#: (hbar c)^2 [GeV^2 cm^2]; PDG 2022: 0.389379372 GeV^2 mbarn, 1 mb = 1e-27 cm^2.
HBARC2_GEV2_CM2 = 0.389379372e-27
#: hbar c [MeV fm]; PDG 2022 / CODATA 2018.
HBARC_MEV_FM = 197.3269804
#: Atomic mass unit [MeV]; CODATA 2018.
AMU_MEV = 931.49410242
#: Electron mass [MeV]; CODATA 2018.
ELECTRON_MASS_MEV = 0.51099895000
#: Avogadro constant [1/mol]; exact in the 2019 SI.
AVOGADRO = 6.02214076e23
#: Elementary charge [J/eV]; exact in the 2019 SI.
JOULE_PER_EV = 1.602176634e-19

# --- stopped-pion source ---------------------------------------------------
#: Charged-pion mass [MeV]; PDG 2022 (139.57039(18)).
PION_MASS_MEV = 139.57039
#: Muon mass [MeV]; PDG 2022 (105.6583755(23)).
MUON_MASS_MEV = 105.6583755
#: Charged-pion mean life [ns]; PDG 2022 (2.6033(5) e-8 s).
PION_LIFETIME_NS = 26.033
#: Muon mean life [ns]; PDG 2022 (2.1969811(22) e-6 s).
MUON_LIFETIME_NS = 2196.9811

# --- electroweak -----------------------------------------------------------
#: Weak mixing angle used for the standard-model prediction.  We take the MS-bar
#: value run to zero momentum transfer, sin^2 theta_W(0) = 0.23857(5) (PDG 2022,
#: Electroweak review), because CEvNS at a stopped-pion source probes
#: |q| < 100 MeV, far below the Z pole where sin^2 theta_W = 0.2312 (the value in
#: the seed talks).  The choice changes the CsI rate by 4.6 % (Q_W^2 ratio).
SIN2_THETA_W_LOW_Q = 0.23857
#: Z-pole MS-bar value, for comparison only (PDG 2022: 0.23121(4)).
SIN2_THETA_W_Z_POLE = 0.23121
#: Radiatively corrected low-energy neutrino-proton and neutrino-neutron vector couplings,
#: g_V^p = 0.0298 and g_V^n = -0.5117: the values of COHERENT's 2020+ CsI treatment as quoted in
#: issue 14 (radiative corrections of the kind of Erler & Su, Prog. Part. Nucl. Phys. 71 (2013)
#: 119).  Tree level at sin^2 theta_W = 0.23857 gives g_V^p = 1/2 - 2 sin^2 = 0.02286 and -1/2.
G_V_PROTON_RADIATIVE = 0.0298
G_V_NEUTRON_RADIATIVE = -0.5117


@dataclass(frozen=True)
class Nuclide:
    """A target nuclide: charge, mass number and neutral-atom mass [u]."""

    name: str
    Z: int
    A: int
    atomic_mass_u: float
    #: rms radius of the weak-charge (mostly neutron) distribution [fm]; None = the form-factor
    #: model's own A^(1/3) parametrisation
    weak_radius_fm: float | None = None

    @property
    def N(self) -> int:
        return self.A - self.Z

    @property
    def nuclear_mass_mev(self) -> float:
        """Nuclear mass [MeV]: atomic mass minus Z electron masses.

        The electron binding energy (~0.2 MeV for Cs, 2e-6 relative) is neglected.
        """
        return self.atomic_mass_u * AMU_MEV - self.Z * ELECTRON_MASS_MEV


#: Atomic masses from AME2020 (Wang et al., Chin. Phys. C 45 (2021) 030003).
NUCLIDES: dict[str, Nuclide] = {
    "Cs133": Nuclide("Cs133", 55, 133, 132.905451961),
    "I127": Nuclide("I127", 53, 127, 126.904471900),
    "Na23": Nuclide("Na23", 11, 23, 22.989769282),
    "Ar40": Nuclide("Ar40", 18, 40, 39.962383124),
}
