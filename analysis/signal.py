"""Signal hypotheses: how physics parameters scale the SM CEvNS templates.

Each hypothesis maps its parameters to a scale factor per (flux component,
nucleus), multiplying the standard-model expectation computed at the dataset's
sin^2 theta_W.  What to use when:

- ``Strength``: one signal strength mu = sigma / sigma_SM (the main fit).
- ``Flavored``: separate strengths for the prompt (nu_mu) and delayed
  (nu_e + anti-nu_mu) neutrinos.
- ``NueStrength``: only the nu_e component scaled (NSI in the ee sector).
- ``WeakMixing``: sin^2 theta_W itself, through Q_W^2 of each nucleus.
- ``Count``: the CEvNS count in the analysis window itself (``n_signal``), the SM mix of
  components and nuclei kept: the same model as ``Strength`` with mu = n_signal / (count at
  mu = 1), so that the count can be profiled (its profile-likelihood interval) like a parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from .constants import Nuclide
from .flux import COMPONENTS
from .xsec import TREE, Couplings, weak_charge


class SignalHypothesis(Protocol):
    """What the fit model needs from a hypothesis."""

    parameters: tuple[str, ...]
    start: dict[str, float]
    limits: dict[str, tuple[float | None, float | None]]

    def scale(self, p: Mapping[str, float]) -> NDArray[np.float64]:
        """Scale factors, shape (flux component, nucleus)."""
        ...


@dataclass(frozen=True)
class Strength:
    n_nuclei: int
    parameters: tuple[str, ...] = ("mu",)
    start: dict[str, float] = field(default_factory=lambda: {"mu": 1.0})
    limits: dict[str, tuple[float | None, float | None]] = field(default_factory=lambda: {"mu": (0.0, None)})

    def scale(self, p: Mapping[str, float]) -> NDArray[np.float64]:
        return np.full((len(COMPONENTS), self.n_nuclei), p["mu"])


@dataclass(frozen=True)
class Count:
    """The CEvNS count as the parameter: ``FitModel`` rescales the SM-mix expectation to it
    (``absolute``); ``scale`` gives the SM mix."""

    n_nuclei: int
    start_count: float = 100.0
    parameters: tuple[str, ...] = ("n_signal",)
    limits: dict[str, tuple[float | None, float | None]] = field(default_factory=lambda: {"n_signal": (0.0, None)})
    absolute: bool = True

    @property
    def start(self) -> dict[str, float]:
        return {"n_signal": self.start_count}

    def scale(self, p: Mapping[str, float]) -> NDArray[np.float64]:
        return np.ones((len(COMPONENTS), self.n_nuclei))


@dataclass(frozen=True)
class Flavored:
    n_nuclei: int
    parameters: tuple[str, ...] = ("mu_prompt", "mu_delayed")
    start: dict[str, float] = field(default_factory=lambda: {"mu_prompt": 1.0, "mu_delayed": 1.0})
    limits: dict[str, tuple[float | None, float | None]] = field(
        default_factory=lambda: {"mu_prompt": (0.0, None), "mu_delayed": (0.0, None)})

    def scale(self, p: Mapping[str, float]) -> NDArray[np.float64]:
        per_component = np.array([p["mu_prompt"], p["mu_delayed"], p["mu_delayed"]])
        return np.repeat(per_component[:, None], self.n_nuclei, axis=1)


@dataclass(frozen=True)
class NueStrength:
    n_nuclei: int
    parameters: tuple[str, ...] = ("mu_nue",)
    start: dict[str, float] = field(default_factory=lambda: {"mu_nue": 1.0})
    limits: dict[str, tuple[float | None, float | None]] = field(default_factory=lambda: {"mu_nue": (0.0, None)})

    def scale(self, p: Mapping[str, float]) -> NDArray[np.float64]:
        out = np.ones((len(COMPONENTS), self.n_nuclei))
        out[COMPONENTS.index("delayed_nue")] = p["mu_nue"]
        return out


@dataclass(frozen=True)
class WeakMixing:
    nuclides: tuple[Nuclide, ...]
    reference_sin2: float
    parameters: tuple[str, ...] = ("sin2_theta_w",)
    start: dict[str, float] = field(default_factory=lambda: {"sin2_theta_w": 0.23})
    limits: dict[str, tuple[float | None, float | None]] = field(
        default_factory=lambda: {"sin2_theta_w": (0.0, 0.5)})
    couplings: Couplings = TREE

    def scale(self, p: Mapping[str, float]) -> NDArray[np.float64]:
        s = p["sin2_theta_w"]
        ratio = np.array([(weak_charge(n.Z, n.N, s, self.couplings)
                           / weak_charge(n.Z, n.N, self.reference_sin2, self.couplings)) ** 2
                          for n in self.nuclides])
        return np.repeat(ratio[None, :], len(COMPONENTS), axis=0)
