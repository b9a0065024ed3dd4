"""Non-standard neutrino-quark interactions (NSI) in CEvNS.

With vector NSI couplings eps^{qV}_{alpha beta} (Barranco et al., JHEP 0512 (2005)
021; Scholberg, PRD 73 (2006) 033005; the seed talks), the weak charge seen by a
nu_alpha becomes, in the normalisation where the SM gives Q_W = N - (1 - 4 s^2) Z,

  Q_alpha^2 = 4 { [Z (g_p + 2 eps^uV_aa + eps^dV_aa) + N (g_n + eps^uV_aa + 2 eps^dV_aa)]^2
                  + sum_{beta != alpha} [Z (2 eps^uV_ab + eps^dV_ab) + N (eps^uV_ab + 2 eps^dV_ab)]^2 },

g_p = 1/2 - 2 sin^2 theta_W, g_n = -1/2.  Here only the non-universal ee couplings
are non-zero, so only the nu_e (delayed) component changes; NSI scale the total
cross section, not the recoil shape.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def nsi_weak_charge_squared(
    Z: int, N: int, sin2_theta_w: float, eps_u: ArrayLike, eps_d: ArrayLike
) -> NDArray[np.float64]:
    """Q_ee^2 with flavor-diagonal electron-flavor vector NSI (eps^uV_ee, eps^dV_ee)."""
    g_p = 0.5 - 2.0 * sin2_theta_w
    g_n = -0.5
    eu = np.asarray(eps_u, dtype=float)
    ed = np.asarray(eps_d, dtype=float)
    return 4.0 * (Z * (g_p + 2.0 * eu + ed) + N * (g_n + eu + 2.0 * ed)) ** 2


def nue_rate_ratio(
    eps_u: ArrayLike, eps_d: ArrayLike, nuclei: list[tuple[int, int]], weights: ArrayLike, sin2_theta_w: float
) -> NDArray[np.float64]:
    """nu_e CEvNS rate with NSI over the SM rate, weighted over the target nuclei
    by their SM nu_e counts ``weights``: sum_i w_i Q_i^2(eps) / Q_i^2(0) / sum_i w_i."""
    w = np.asarray(weights, dtype=float)
    total = np.zeros(np.broadcast(np.asarray(eps_u), np.asarray(eps_d)).shape)
    for (z, n), wi in zip(nuclei, w, strict=True):
        sm = nsi_weak_charge_squared(z, n, sin2_theta_w, 0.0, 0.0)
        total = total + wi * nsi_weak_charge_squared(z, n, sin2_theta_w, eps_u, eps_d) / sm
    return total / w.sum()
