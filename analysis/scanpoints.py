"""Profile-likelihood points as pure functions, so that a scan can run anywhere.

A point is one minimisation with the scanned parameter fixed, started from the best fit of the
same model: 2 Delta NLL depends only on (model, hypothesis, parameter, value, best-fit values and
minimum), not on which points ran before it or where. The profile scan of ``sevens fit`` (mu) and
the nu_e-strength profile behind the NSI region are both lists of such points; ``analyse`` takes a
:data:`PointMapper` to compute them, by default :func:`serial_points`, or fanned out over a Dask
cluster (:mod:`daq.cluster.scans`), which gives the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .fit import NEAR_ZERO_BACKGROUND, minimise
from .model import FitModel
from .signal import NueStrength

HYPOTHESES = (None, "nue")  # the fit's own signal model; the nu_e strength (NSI)

#: (hypothesis, parameter, values, best-fit values, best-fit minimum, pull centres) -> 2 Delta NLL at each value
PointMapper = Callable[[str | None, str, Sequence[float], dict[str, float], float, dict[str, float]], list[float]]


def hypothesis_model(model: FitModel, hypothesis: str | None) -> FitModel:
    """The model a point is fitted with: the dataset's own, or with the nu_e flux strength free."""
    if hypothesis is None:
        return model
    if hypothesis == "nue":
        return model.with_hypothesis(NueStrength(len(model.cevns.nuclides)))
    raise ValueError(f"unknown scan hypothesis {hypothesis!r} (known: {HYPOTHESES})")


def point_value(model: FitModel, name: str, value: float, start: dict[str, float], fval: float,
                pull_centres: dict[str, float] | None = None) -> float:
    """2 Delta NLL at ``name = value`` (NaN if the minimisation does not converge), unclipped below at 0;
    ``pull_centres``: those of the best fit (a toy's shifted auxiliary measurements)."""
    fit = minimise(model, fixed={name: float(value)}, pull_centres=pull_centres, start=start, hesse=False,
                   strategy=0)
    if any(k.startswith("ss_") and v < NEAR_ZERO_BACKGROUND for k, v in start.items()):
        # background parameters on their zero limit have no gradient there: start also from one
        # count each (as fit.significance does) and keep the better minimum
        again = {k: (max(v, 1.0) if k.startswith("ss_") else v) for k, v in start.items()}
        retry = minimise(model, fixed={name: float(value)}, pull_centres=pull_centres, start=again, hesse=False,
                         strategy=0)
        fit = min((f for f in (fit, retry) if f.converged), key=lambda f: f.fval, default=fit)
    if not fit.converged:
        return float("nan")
    return max(2.0 * (fit.fval - fval), 0.0)


def serial_points(model: FitModel) -> PointMapper:
    """The points of ``model``'s scans computed one after the other, in this process."""

    def points(hypothesis: str | None, name: str, values: Sequence[float], start: dict[str, float],
               fval: float, pull_centres: dict[str, float]) -> list[float]:
        m = hypothesis_model(model, hypothesis)
        return [point_value(m, name, v, start, fval, pull_centres) for v in values]

    return points
