"""Negative log-likelihood cost functions that add (in the manner of iminuit.cost).

What to use when
----------------
- ``PoissonBins``: observed counts per bin against a model of expected counts
  (the beam-on coincidence window against signal + backgrounds).
- ``PoissonCount``: a single count that measures one parameter, e.g. the
  anti-coincidence (AC) total constraining the steady-state normalisation.
- ``OnOffBins``: C and AC counts bin by bin with the steady-state background of
  each bin a free parameter, profiled in closed form; no assumption on the
  background shape (the binned generalisation of C - AC counting).
- ``NormalPull``: Gaussian pull term for a standardised nuisance parameter.

Add costs with ``+``; parameters are merged by name.  Every cost is half a
deviance (zero for a perfect match, Baker & Cousins, NIM 221 (1984) 437), so
``errordef = 0.5`` and twice the Poisson part at the minimum is the goodness-of-fit
chi^2.  A cost is called with an array ordered as ``cost.parameters`` (what
``iminuit.Minuit`` passes) or evaluated on a dict with ``cost.value(p)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import xlogy

Params = Mapping[str, float]

#: Floor on expected counts, so an empty model bin gives a large finite cost.
TINY = 1e-300


def poisson_half_deviance(observed: ArrayLike, expected: ArrayLike) -> NDArray[np.float64]:
    """Per-bin  lambda - n + n ln(n / lambda)  (half the Poisson deviance)."""
    n = np.asarray(observed, dtype=float)
    lam = np.maximum(np.asarray(expected, dtype=float), TINY)
    return lam - n + xlogy(n, n) - xlogy(n, lam)


def on_off_background(signal: ArrayLike, n_on: ArrayLike, n_off: ArrayLike,
                      n_extra: ArrayLike = 0.0, ratio: float = 0.0) -> NDArray[np.float64]:
    """Per-bin background b maximising Pois(n_on | s + b) Pois(n_off | b) Pois(n_extra | r b)
    for fixed s and r: the non-negative root of
    (2 + r) b^2 + ((2 + r) s - n_on - m) b - m s = 0,  m = n_off + n_extra."""
    s = np.asarray(signal, dtype=float)
    m = np.asarray(n_off, dtype=float) + np.asarray(n_extra, dtype=float)
    a = 2.0 + ratio
    lin = a * s - np.asarray(n_on, dtype=float) - m
    disc = np.sqrt(lin * lin + 4.0 * a * m * s)
    # numerically stable form of (-lin + disc) / (2a) for lin > 0
    return np.where(lin <= 0, (-lin + disc) / (2.0 * a), 2.0 * m * s / np.maximum(lin + disc, TINY))


class Cost(ABC):
    """Base class: named parameters, ``value(p)``, ``__call__(array)``, ``+``."""

    errordef = 0.5
    parameters: tuple[str, ...] = ()

    @abstractmethod
    def value(self, p: Params) -> float:
        """The cost at parameters ``p``."""

    def __call__(self, x: Sequence[float]) -> float:
        return self.value(dict(zip(self.parameters, x, strict=True)))

    def __add__(self, other: Cost) -> CostSum:
        return CostSum(self, other)

    @property
    def ndata(self) -> int:
        """Number of measured values this cost compares to the model."""
        return 0


class CostSum(Cost):
    """Sum of costs; parameters are the ordered union of the parts' parameters."""

    def __init__(self, *costs: Cost) -> None:
        flat: list[Cost] = []
        for c in costs:
            flat.extend(c.costs if isinstance(c, CostSum) else [c])
        self.costs = tuple(flat)
        self.parameters = tuple(dict.fromkeys(name for c in flat for name in c.parameters))

    def value(self, p: Params) -> float:
        return float(sum(c.value(p) for c in self.costs))

    @property
    def ndata(self) -> int:
        return sum(c.ndata for c in self.costs)


class PoissonBins(Cost):
    """Binned Poisson likelihood: ``model(p)`` returns the expected counts per bin."""

    def __init__(self, observed: ArrayLike, model: Callable[[Params], NDArray], parameters: Sequence[str]):
        self.observed = np.asarray(observed, dtype=float)
        self.model = model
        self.parameters = tuple(parameters)
        # sum of the data-only terms (xlogy(n, n) - n) of the half deviance, computed once
        self._n = self.observed.ravel()
        self._constant = float((xlogy(self._n, self._n) - self._n).sum())

    def value(self, p: Params) -> float:
        lam = np.maximum(np.ravel(self.model(p)), TINY)
        return float(lam.sum() - xlogy(self._n, lam).sum() + self._constant)

    @property
    def ndata(self) -> int:
        return int(self.observed.size)


class PoissonCount(Cost):
    """One observed count ``n`` with expectation equal to the parameter ``name``."""

    def __init__(self, observed: float, name: str) -> None:
        self.observed = float(observed)
        self.parameters = (name,)

    def value(self, p: Params) -> float:
        return float(poisson_half_deviance(self.observed, p[self.parameters[0]]))

    @property
    def ndata(self) -> int:
        return 1


class OnOffBins(Cost):
    """C counts ~ Pois(s + b), AC counts ~ Pois(b) per bin, each b profiled analytically.

    ``model(p)`` returns the beam-related expectation s per bin.  Optional ``extra``
    windows (beam-off) have expectation r b with r the parameter ``ratio_name``
    (shared by the extra windows; their counts are summed).  ``background(p)``
    gives the profiled b (the steady-state estimate at p).
    """

    def __init__(self, on: ArrayLike, off: ArrayLike, model: Callable[[Params], NDArray],
                 parameters: Sequence[str], extra: Sequence[ArrayLike] = (), ratio_name: str | None = None):
        self.on = np.asarray(on, dtype=float)
        self.off = np.asarray(off, dtype=float)
        self.extra = [np.asarray(e, dtype=float) for e in extra]
        self.extra_sum = sum(self.extra) if self.extra else np.zeros_like(self.on)
        self.ratio_name = ratio_name if self.extra else None
        self.model = model
        self.parameters = tuple(parameters) + ((ratio_name,) if self.ratio_name else ())

    def _ratio(self, p: Params) -> float:
        # r is the expectation ratio of each extra window; summed, they see len(extra) * r * b
        return p[self.ratio_name] * len(self.extra) if self.ratio_name else 0.0

    def background(self, p: Params) -> NDArray[np.float64]:
        return on_off_background(np.maximum(self.model(p), 0.0), self.on, self.off, self.extra_sum,
                                 self._ratio(p))

    def value(self, p: Params) -> float:
        s = self.model(p)
        r = self._ratio(p)
        b = on_off_background(np.maximum(s, 0.0), self.on, self.off, self.extra_sum, r)
        total = poisson_half_deviance(self.on, s + b) + poisson_half_deviance(self.off, b)
        for counts in self.extra:
            total = total + poisson_half_deviance(counts, r / len(self.extra) * b)
        return float(total.sum())

    @property
    def ndata(self) -> int:
        return int(self.on.size + self.off.size + sum(e.size for e in self.extra))


class NormalPull(Cost):
    """Pull term theta^2 / 2 for a nuisance parameter standardised to N(0, 1);
    ``centre`` is the auxiliary measurement (shifted in toy experiments)."""

    def __init__(self, name: str, centre: float = 0.0) -> None:
        self.parameters = (name,)
        self.centre = float(centre)

    def value(self, p: Params) -> float:
        return 0.5 * (p[self.parameters[0]] - self.centre) ** 2
