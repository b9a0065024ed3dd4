"""Single-bin counting analysis: beam-on C - AC - beam-on neutron backgrounds.

Signal  S = N_C - N_AC - B_on,
sigma_stat = sqrt(N_meas + 2 B_SS + B_on)  with N_meas = N_C - N_AC and B_SS = N_AC
(the C counts fluctuate as N_meas + B_SS + B_on, the AC estimate of B_SS as B_SS);
the neutron normalisation error adds sigma_beta B_on in quadrature.

For a hypothesis predicting ``expected`` signal counts, the chi^2 with pull terms
alpha (signal normalisation, sigma_alpha) and beta (neutrons, sigma_beta) as in
the seed talk,

  chi^2 = min_{alpha, beta} (N_meas - (1 + alpha) N_exp - (1 + beta) B_on)^2 / sigma_stat^2
          + (alpha / sigma_alpha)^2 + (beta / sigma_beta)^2,

has the closed form (N_meas - N_exp - B_on)^2 / (sigma_stat^2 + (sigma_alpha N_exp)^2
+ (sigma_beta B_on)^2), because the model is linear in alpha and beta.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray


@dataclass(frozen=True)
class CountingResult:
    n_c: float
    n_ac: float
    neutrons: float
    neutrons_rel_err: float
    sm_prediction: float
    signal_rel_err: float
    ac_ratio: float = 1.0  # AC exposure / C exposure: the AC count estimates ac_ratio x the C background

    @property
    def n_meas(self) -> float:
        return self.n_c - self.n_ac / self.ac_ratio

    @property
    def signal(self) -> float:
        return self.n_meas - self.neutrons

    @property
    def error_stat(self) -> float:
        # var(N_C) + var(N_AC / r) = N_meas + N_AC / r + N_AC / r^2 (= N_meas + 2 N_AC for r = 1)
        b = self.n_ac / self.ac_ratio
        return float(np.sqrt(max(self.n_meas + b + b / self.ac_ratio + self.neutrons, 0.0)))

    @property
    def error(self) -> float:
        return float(np.hypot(self.error_stat, self.neutrons_rel_err * self.neutrons))

    def chi2(self, expected: ArrayLike) -> NDArray[np.float64]:
        """chi^2 with the signal and neutron pull terms profiled (closed form)."""
        n_exp = np.asarray(expected, dtype=float)
        variance = (self.error_stat**2 + (self.signal_rel_err * n_exp) ** 2
                    + (self.neutrons_rel_err * self.neutrons) ** 2)
        return (self.n_meas - n_exp - self.neutrons) ** 2 / variance

    def as_dict(self) -> dict[str, float]:
        return {
            "n_c": self.n_c, "n_ac": self.n_ac, "n_meas": self.n_meas,
            "neutrons": self.neutrons, "neutrons_err": self.neutrons_rel_err * self.neutrons,
            "signal": self.signal, "error": self.error, "error_stat": self.error_stat,
            "sm_prediction": self.sm_prediction, "signal_norm_rel_err": self.signal_rel_err,
            "chi2_sm": float(self.chi2(self.sm_prediction)), "ac_exposure_ratio": self.ac_ratio,
        }


def counting_analysis(n_c: float, n_ac: float, neutrons: float, neutrons_rel_err: float,
                      sm_prediction: float, signal_rel_err: float, ac_ratio: float = 1.0) -> CountingResult:
    """Counting result from window totals; ``neutrons`` is the summed BRN + NIN expectation;
    ``ac_ratio`` the AC window's exposure relative to the C window's."""
    return CountingResult(float(n_c), float(n_ac), float(neutrons), float(neutrons_rel_err),
                          float(sm_prediction), float(signal_rel_err), float(ac_ratio))
