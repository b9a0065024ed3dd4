"""Nuclear (weak-charge) form factors F(q), normalised to F(0) = 1.

Momentum transfer ``q_fm`` in fm^-1 (q[MeV] / hbar c).  Both forms are the
Fourier transform of a hard sphere folded with a short-range function.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import spherical_jn

#: Klein-Nystrand parameters (Klein & Nystrand, PRC 60 (1999) 014903).
KN_RADIUS_COEFF_FM = 1.2
KN_YUKAWA_RANGE_FM = 0.7
#: Helm parameters (Lewin & Smith, Astropart. Phys. 6 (1996) 87, eq. 4.11).
HELM_SKIN_FM = 0.9
HELM_C_COEFF_FM = 1.23
HELM_C_OFFSET_FM = 0.60
HELM_A_FM = 0.52


def _sphere(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """3 j1(x) / x, with the x -> 0 limit 1."""
    small = np.abs(x) < 1e-4
    safe = np.where(small, 1.0, x)
    return np.where(small, 1.0 - x**2 / 10.0, 3.0 * spherical_jn(1, safe) / safe)


def _from_rms(rms_radius_fm: float, smearing_fm2: float, what: str) -> float:
    """Hard-sphere radius R with 3/5 R^2 + smearing = rms^2 (the folded function adds its own
    mean square radius)."""
    square = 5.0 / 3.0 * (rms_radius_fm**2 - smearing_fm2)
    if square <= 0:
        raise ValueError(f"rms radius {rms_radius_fm} fm is too small for the {what} form factor")
    return float(np.sqrt(square))


def klein_nystrand(q_fm: ArrayLike, mass_number: int, rms_radius_fm: float | None = None) -> NDArray[np.float64]:
    """Klein-Nystrand form factor: hard sphere R_A = 1.2 A^(1/3) fm folded with a
    Yukawa of range a_k = 0.7 fm:  F = 3 j1(q R_A)/(q R_A) / (1 + q^2 a_k^2).
    With ``rms_radius_fm``, R_A is chosen so that <r^2> = 3/5 R_A^2 + 6 a_k^2."""
    q = np.asarray(q_fm, dtype=float)
    radius = (KN_RADIUS_COEFF_FM * mass_number ** (1.0 / 3.0) if rms_radius_fm is None
              else _from_rms(rms_radius_fm, 6.0 * KN_YUKAWA_RANGE_FM**2, "Klein-Nystrand"))
    return _sphere(q * radius) / (1.0 + (q * KN_YUKAWA_RANGE_FM) ** 2)


def helm(q_fm: ArrayLike, mass_number: int, rms_radius_fm: float | None = None) -> NDArray[np.float64]:
    """Helm form factor with the Lewin-Smith radius:
    R0^2 = c^2 + 7/3 pi^2 a^2 - 5 s^2, c = 1.23 A^(1/3) - 0.60 fm, a = 0.52 fm,
    s = 0.9 fm;  F = 3 j1(q R0)/(q R0) exp(-q^2 s^2 / 2).  With ``rms_radius_fm``,
    R0 is chosen so that <r^2> = 3/5 R0^2 + 3 s^2."""
    q = np.asarray(q_fm, dtype=float)
    if rms_radius_fm is None:
        c = HELM_C_COEFF_FM * mass_number ** (1.0 / 3.0) - HELM_C_OFFSET_FM
        r0 = np.sqrt(c**2 + 7.0 / 3.0 * np.pi**2 * HELM_A_FM**2 - 5.0 * HELM_SKIN_FM**2)
    else:
        r0 = _from_rms(rms_radius_fm, 3.0 * HELM_SKIN_FM**2, "Helm")
    return _sphere(q * r0) * np.exp(-((q * HELM_SKIN_FM) ** 2) / 2.0)


def unity(q_fm: ArrayLike, mass_number: int, rms_radius_fm: float | None = None) -> NDArray[np.float64]:
    """Point nucleus, F = 1 (for tests and the coherent limit)."""
    return np.ones_like(np.asarray(q_fm, dtype=float))


FORM_FACTORS: dict[str, Callable[..., NDArray[np.float64]]] = {
    "klein_nystrand": klein_nystrand,
    "helm": helm,
    "none": unity,
}
