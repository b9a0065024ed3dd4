"""Run the likelihood fit of one dataset with iminuit.

``build_cost`` assembles the cost (C-window Poisson bins, the AC and beam-off
windows that measure the steady-state background, one pull per nuisance);
``minimise`` runs MIGRAD and HESSE; ``FitOutcome`` is the small result object (values, errors, covariance,
chi^2, derived CEvNS count with its propagated error, and what went wrong when MIGRAD or HESSE failed:
a fit without a covariance propagates NaN errors instead of failing).  ``significance`` and
``profile`` compute the profile likelihood ratio for a parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from iminuit import Minuit
from numpy.typing import NDArray

from .likelihood import Cost, CostSum, NormalPull, OnOffBins, PoissonBins
from .model import FitModel
from .steady_state import OFF_RATIO, off_window_counts

#: A steady-state parameter below this (events in a bin of the reference time bin, or a time
#: profile relative to it) is on its zero limit for HESSE.
NEAR_ZERO_BACKGROUND = 1e-2


def build_cost(model: FitModel, pull_centres: Mapping[str, float] | None = None) -> CostSum:
    """Cost of ``model`` against its C data (and AC, beam-off data), plus pull terms.

    ``pull_centres`` shifts the auxiliary measurements (toys with randomised constraints).
    """
    counts = model.observed.counts
    centres = pull_centres or {}
    on = counts["c_beam_on"]
    if model.steady is not None:
        parts: list[Cost] = [PoissonBins(on, model, model.parameters), *model.steady.costs()]
    else:
        beam_params = [p for p in model.parameters if p != OFF_RATIO]
        extra = off_window_counts(counts, model.spec.steady_state.beam_off)
        parts = [OnOffBins(on, counts["ac_beam_on"], model.beam, beam_params, extra, OFF_RATIO)]
    parts += [NormalPull(n.name, centres.get(n.name, 0.0)) for n in model.nuisances]
    return CostSum(*parts)


@dataclass
class FitOutcome:
    """Result of one minimisation."""

    model: FitModel
    cost: CostSum
    minuit: Minuit
    values: dict[str, float]
    errors: dict[str, float]
    fval: float
    valid: bool
    fixed: dict[str, float] = field(default_factory=dict)
    #: HESSE's covariance and whether it is usable, as minimise left them (MINOS and later calls on
    #: ``minuit`` may redo HESSE with every parameter free); None: read ``minuit``
    hesse_covariance: NDArray[np.float64] | None = None
    hesse_ok: bool | None = None

    @property
    def pull_centres(self) -> dict[str, float]:
        """The auxiliary measurements of this fit's pull terms (0 for data, shifted in toys)."""
        return {c.parameters[0]: c.centre for c in self.cost.costs if isinstance(c, NormalPull)}

    @property
    def converged(self) -> bool:
        """MIGRAD reached a minimum (EDM below its goal, within the call limit), whatever HESSE says:
        values and the likelihood there can be used, errors only if :attr:`has_covariance`."""
        fmin = self.minuit.fmin
        return (fmin is not None and fmin.has_valid_parameters and not fmin.is_above_max_edm
                and not fmin.has_reached_call_limit and bool(np.isfinite(self.fval)))

    @property
    def has_covariance(self) -> bool:
        """HESSE gave a usable covariance: accurate and positive definite without forcing."""
        if self.hesse_ok is not None:
            return self.hesse_ok
        return _hesse_ok(self.minuit)

    @property
    def covariance(self) -> NDArray[np.float64]:
        """HESSE's covariance; NaN where there is none (see :attr:`has_covariance`)."""
        if not self.has_covariance:
            n = len(self.minuit.parameters)
            return np.full((n, n), np.nan)
        if self.hesse_covariance is not None:
            return self.hesse_covariance
        return np.array(self.minuit.covariance)

    def problem(self) -> str | None:
        """Why this fit's values or errors cannot be trusted, in words; None for a valid fit."""
        fmin = self.minuit.fmin
        if fmin is None:
            return "the minimiser did not run"
        if self.valid and self.has_covariance:
            return None
        parts = []
        if not self.converged:
            reasons = [text for bad, text in ((not fmin.has_valid_parameters, "Minuit marks its parameters invalid"),
                                              (fmin.is_above_max_edm, "EDM above its goal"),
                                              (fmin.has_reached_call_limit, "call limit reached"),
                                              (not np.isfinite(self.fval), "the cost is not finite")) if bad]
            parts.append(f"MIGRAD found no valid minimum ({', '.join([*reasons, f'EDM {fmin.edm:.2g}'])})")
        else:
            parts.append(f"MIGRAD converged (EDM {fmin.edm:.2g})")
        if self.has_covariance:
            pass
        elif fmin.hesse_failed or self.minuit.covariance is None:
            parts.append("HESSE failed: no covariance, so no errors")
        elif not fmin.has_posdef_covar or fmin.has_made_posdef_covar:
            parts.append("HESSE's covariance is not positive definite, so no errors")
        elif not fmin.has_accurate_covar:
            parts.append("HESSE's covariance is not accurate, so no errors")
        else:
            parts.append("HESSE gave no usable covariance, so no errors")
        at_limit = [p.name for p in self.minuit.params if not p.is_fixed and _at_limit(p)]
        if at_limit:
            parts.append(f"{len(at_limit)} parameter(s) at a limit ({', '.join(at_limit[:4])}"
                         f"{', ...' if len(at_limit) > 4 else ''})")
        return "; ".join(parts)

    def poisson_chi2(self) -> float:
        """Baker-Cousins chi^2: twice the Poisson part of the cost at the minimum
        (C window, plus the AC and beam-off windows of the steady-state model)."""
        return 2.0 * sum(c.value(self.values) for c in self.cost.costs if not isinstance(c, NormalPull))

    def ndof(self) -> int:
        """Measurements minus free parameters without a pull term (pulled nuisances add
        one auxiliary measurement and one parameter each)."""
        ndata = sum(c.ndata for c in self.cost.costs if not isinstance(c, NormalPull))
        pulled = {n.name for n in self.model.nuisances}
        free = [p for p in self.model.parameters if p not in pulled and p not in self.fixed]
        profiled = int(self.model.observed.counts["c_beam_on"].size) if self.model.steady is None else 0
        return ndata - len(free) - profiled

    def propagate(self, func: Callable[[dict[str, float]], float], step: float = 1e-3) -> tuple[float, float]:
        """Value and linearly propagated error of ``func(params)`` (HESSE covariance; NaN without one)."""
        names = list(self.minuit.parameters)
        centre = float(func(self.values))
        if not self.has_covariance:
            return centre, float("nan")
        grad = np.zeros(len(names))
        for k, name in enumerate(names):
            if self.minuit.fixed[name]:
                continue
            h = step * max(self.errors[name], 1e-6)
            up, down = dict(self.values), dict(self.values)
            up[name] += h
            down[name] -= h
            grad[k] = (func(up) - func(down)) / (2.0 * h)
        return centre, float(np.sqrt(max(grad @ self.covariance @ grad, 0.0)))

    def n_cevns(self) -> tuple[float, float]:
        """Fitted CEvNS count in the analysis window and its propagated error."""
        return self.propagate(self.model.n_cevns)


def _hesse_ok(m: Minuit) -> bool:
    fmin = m.fmin
    return bool(m.covariance is not None and fmin is not None and not fmin.hesse_failed
                and fmin.has_accurate_covar and fmin.has_posdef_covar and not fmin.has_made_posdef_covar)


def _at_limit(p: Any) -> bool:
    """An iminuit parameter that sits on one of its limits."""
    def near(limit: float) -> bool:
        return abs(p.value - limit) <= 1e-9 * max(1.0, abs(limit))
    return bool((p.has_lower_limit and near(p.lower_limit)) or (p.has_upper_limit and near(p.upper_limit)))


def minimise(model: FitModel, fixed: Mapping[str, float] | None = None,
             pull_centres: Mapping[str, float] | None = None,
             start: Mapping[str, float] | None = None, hesse: bool = True,
             strategy: int = 1) -> FitOutcome:
    """MIGRAD (+ HESSE) of the model's cost, with some parameters optionally fixed.

    ``strategy = 0`` (fewer function calls) suits fits started next to their minimum, such as
    profile points and impacts started from the best fit."""
    cost = build_cost(model, pull_centres)
    p0 = model.start()
    if start:
        p0.update({k: v for k, v in start.items() if k in p0})
    fixed = dict(fixed or {})
    p0.update(fixed)
    m = Minuit(cost, [p0[name] for name in cost.parameters], name=cost.parameters)
    m.strategy = strategy
    for name, (lo, hi) in model.hypothesis.limits.items():
        m.limits[name] = (lo, hi)
    for name in cost.parameters:
        if name.startswith("ss_"):
            m.limits[name] = (0.0, None)
            m.errors[name] = max(0.1 * p0[name], 0.05)
    for name in model.nuisances:
        m.errors[name.name] = 0.5
    for name in fixed:
        m.fixed[name] = True
    m.migrad()
    if not m.valid:
        m.migrad()
    if hesse and m.valid:
        # Background parameters on or next to their zero limit (empty sideband bins: MIGRAD stops
        # within ~1e-3 of it) have no curvature in Minuit's bounded internal coordinates, and the
        # inverse Hessian is then wrong for every parameter (a sparse simulated run: count error 8.5
        # instead of the 11.5 of its 133 events, flux_norm 0.11 instead of its prior's 1). HESSE
        # with them held where they are, then free again for MINOS and the refits.
        at_limit = [p.name for p in m.params if not p.is_fixed and p.name.startswith("ss_")
                    and p.value < NEAR_ZERO_BACKGROUND]
        for name in at_limit:
            m.fixed[name] = True
        m.hesse()
        ok = _hesse_ok(m)
        covariance = np.array(m.covariance) if ok else None
        errors = dict(zip(m.parameters, m.errors, strict=True))
        errors.update(dict.fromkeys(at_limit, 0.0))  # on the boundary: no error to move them by
        if at_limit:
            for name in at_limit:
                m.fixed[name] = False
            m.migrad()  # a valid minimum of the whole cost again, for MINOS (the covariance is kept above)
    else:
        ok, covariance = None, None
        errors = dict(zip(m.parameters, m.errors, strict=True))
    values = dict(zip(m.parameters, m.values, strict=True))
    return FitOutcome(model, cost, m, values, errors, float(m.fval), bool(m.valid), fixed, covariance, ok)


def significance(best: FitOutcome, name: str = "mu", null: float = 0.0) -> tuple[float, FitOutcome]:
    """Significance of rejecting ``name = null`` from the profile likelihood ratio:
    Z = sqrt(q0), q0 = 2 [NLL(null, profiled) - NLL(best)], one-sided (0 if best < null)."""
    conditional = minimise(best.model, fixed={name: null}, start=best.values, hesse=False)
    # Background parameters that sit at their zero limit in the best fit (empty AC bins, as in a
    # short simulated run) have no gradient there: a null fit started from them stays stuck with
    # events in zero-expectation bins. Start the null fit also from one count per background
    # parameter and keep the better valid minimum.
    start = {k: (max(v, 1.0) if k.startswith("ss_") else v) for k, v in best.values.items()}
    retry = minimise(best.model, fixed={name: null}, start=start, hesse=False)
    candidates = [f for f in (conditional, retry) if f.valid and np.isfinite(f.fval)]
    if not candidates:
        return float("nan"), conditional  # no trustworthy null fit: no significance claimed
    conditional = min(candidates, key=lambda f: f.fval)
    if conditional.fval < best.fval - 1e-3:
        return float("nan"), conditional  # the null fit beat the "best" fit: that fit was stuck
    q0 = max(2.0 * (conditional.fval - best.fval), 0.0)
    z = float(np.sqrt(q0)) if best.values[name] > null else 0.0
    return z, conditional


def minos_interval(best: FitOutcome, name: str) -> tuple[float, float]:
    """MINOS (profile likelihood, Delta NLL = 1/2) lower and upper errors of ``name``;
    the HESSE error on a side where MINOS fails (e.g. runs into a limit)."""
    hesse = best.errors[name]
    try:
        best.minuit.minos(name)
    except RuntimeError:
        return -hesse, hesse
    me = best.minuit.merrors[name]
    lower = float(me.lower) if me.lower_valid else -hesse
    upper = float(me.upper) if me.upper_valid else hesse
    return lower, upper


def profile(best: FitOutcome, name: str, grid: Sequence[float]) -> NDArray[np.float64]:
    """2 Delta NLL of the profile likelihood at the ``grid`` values of ``name``.

    Walks outward from the best fit on each side, starting every minimisation from
    the previous point's solution.
    """
    grid = np.asarray(grid, dtype=float)
    values = np.empty(grid.size)
    centre = best.values[name]
    below = [k for k in np.argsort(grid)[::-1] if grid[k] < centre]
    above = [k for k in np.argsort(grid) if grid[k] >= centre]
    for side in (below, above):
        start = dict(best.values)
        for k in side:
            fit = minimise(best.model, fixed={name: float(grid[k])}, start=start, hesse=False)
            values[k] = 2.0 * (fit.fval - best.fval)
            start = fit.values
    return np.maximum(values, 0.0)
