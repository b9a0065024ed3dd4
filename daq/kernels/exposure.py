"""Beam exposure: energy on target from protons on target."""

from __future__ import annotations

import numpy as np

ELEMENTARY_CHARGE_C = 1.602176634e-19  # exact (SI 2019)
JOULE_PER_GWHR = 3.6e12


def gwhr(pot: np.ndarray | float, proton_energy_gev: float) -> float:
    """Beam energy on target [GW*hr] of ``pot`` protons of kinetic energy ``proton_energy_gev``."""
    return float(np.sum(pot)) * proton_energy_gev * 1e9 * ELEMENTARY_CHARGE_C / JOULE_PER_GWHR
