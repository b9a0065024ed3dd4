"""Nuisance parameters of the fit: standardised pulls theta ~ N(0, 1) mapped to
physical values, with asymmetric errors interpolated smoothly.

value(theta) = nominal + theta (hi + lo)/2 + theta^2 (hi - lo)/2   for |theta| <= 1,
continued linearly outside (C1), so value(+1) = nominal + hi, value(-1) = nominal - lo.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dataset import DatasetSpec


def asymmetric_shift(theta: float, error_lo: float, error_hi: float) -> float:
    """Shift for a standardised pull with asymmetric one-sigma errors (see module doc)."""
    mean, half_diff = 0.5 * (error_hi + error_lo), 0.5 * (error_hi - error_lo)
    if abs(theta) <= 1.0:
        return theta * mean + theta * theta * half_diff
    edge = np.sign(theta)
    slope = mean + 2.0 * edge * half_diff
    return float(edge * mean + half_diff + slope * (theta - edge))


@dataclass(frozen=True)
class Nuisance:
    """A pulled nuisance parameter: ``name`` in the fit, physical value via ``value``."""

    name: str
    nominal: float
    error_lo: float
    error_hi: float
    description: str

    def value(self, theta: float) -> float:
        return self.nominal + asymmetric_shift(theta, self.error_lo, self.error_hi)


def dataset_nuisances(spec: DatasetSpec) -> tuple[Nuisance, ...]:
    """All nuisance parameters a dataset describes (those with zero error are left out)."""
    r = spec.response
    out = []
    rel_flux = spec.nu_per_proton.error_hi / spec.nu_per_proton.value
    out.append(Nuisance("flux_norm", 1.0, rel_flux, rel_flux, "neutrinos per proton, relative"))
    ff = spec.detector.form_factor_uncertainty
    out.append(Nuisance("xsec_norm", 1.0, ff, ff, "CEvNS cross section (form factor), relative"))
    ly = r.light_yield
    light = float(np.hypot(r.qf_relative_uncertainty, 0.5 * (ly.error_lo + ly.error_hi) / ly.value))
    out.append(Nuisance("qf_scale", 1.0, light, light, "quenching x light yield, relative"))
    for name, par in r.efficiency.items():
        out.append(Nuisance(f"eff_{name}", par.value, par.error_lo, par.error_hi, f"PE acceptance {name}"))
    for n in spec.neutrons:
        what = {"brn": "beam-related neutrons", "nin": "neutrino-induced neutrons"}[n.name]
        out.append(Nuisance(f"{n.name}_norm", 1.0, n.uncertainty, n.uncertainty, f"{what}, relative"))
    dt = spec.timing.offset_uncertainty_us
    out.append(Nuisance("t_offset_us", 0.0, dt, dt, "beam timing offset [us]"))
    return tuple(n for n in out if n.error_lo > 0 or n.error_hi > 0)
