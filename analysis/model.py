"""The fit model: expected counts in the beam-on coincidence (C) window.

``FitModel(p)`` returns the expected counts per (PE, time) bin for a dict of named
parameters: the signal hypothesis (e.g. ``mu``), the standardised nuisance pulls and
the steady-state background parameters (``steady_state.py``).  ``components(p)``
splits them into prompt, delayed_nue, delayed_numubar, brn, nin and steady_state.

CEvNS = flux_norm * xsec_norm * sum_{component, nucleus} scale * template(response).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from .datafiles import ObservedData
from .dataset import DatasetSpec
from .flux import COMPONENTS
from .nuisance import Nuisance, dataset_nuisances
from .prediction import CevnsModel, NeutronModel, ResponseGrid, ResponseState, nominal_state
from .schema import DatasetError
from .signal import SignalHypothesis, Strength
from .steady_smooth import SmoothSteadyState
from .steady_state import OFF_RATIO, FactorizedSteadyState, off_window_counts
from .systematics import TemplateVariations, ratio

Params = Mapping[str, float]


class FitModel:
    """Expected C-window counts as a function of named parameters."""

    def __init__(self, spec: DatasetSpec, observed: ObservedData, hypothesis: SignalHypothesis | None = None,
                 _shared: tuple[CevnsModel, tuple[NeutronModel, ...], TemplateVariations] | None = None) -> None:
        self.spec = spec
        self.observed = observed
        if _shared is None:
            grid = ResponseGrid(spec)
            cevns = CevnsModel(spec, observed.pot, grid)
            neutrons = tuple(NeutronModel(spec, n, observed.gwhr, grid) for n in spec.neutrons)
            _shared = (cevns, neutrons, template_variations(spec, observed, cevns, neutrons))
        self.cevns, self.neutrons, self.variations = _shared
        self.hypothesis: SignalHypothesis = hypothesis or Strength(len(self.cevns.nuclides))
        self.factorized = spec.steady_state.model == "factorized"
        if spec.steady_state.exposure_ratio != 1.0 and spec.steady_state.model != "smooth":
            raise DatasetError(f"{spec.source_file.name}: [steady_state] exposure_ratio: the "
                               f"{spec.steady_state.model!r} model needs an AC window as long as C (1.0), got "
                               f"{spec.steady_state.exposure_ratio:g}; use model = 'smooth'")
        use_off = spec.steady_state.beam_off
        self.steady: FactorizedSteadyState | SmoothSteadyState | None = None
        if self.factorized:
            self.steady = FactorizedSteadyState(observed.counts, use_off)
        elif spec.steady_state.model == "smooth":
            grid = self.cevns.grid
            eff = None if grid.fine_time_edges is None else (grid.fine_time_edges, grid.fine_time_eff)
            self.steady = SmoothSteadyState(spec, observed.counts, eff)
        sideband = self.steady.nuisances if isinstance(self.steady, SmoothSteadyState) else ()
        #: nuisances whose auxiliary measurement is the sideband data (toys redraw the data, not a centre)
        self.sideband_nuisances: frozenset[str] = frozenset(n.name for n in sideband)
        shapes = tuple(Nuisance(sys.name, 0.0, 1.0, 1.0, sys.description) for sys in spec.systematics)
        self.nuisances: tuple[Nuisance, ...] = dataset_nuisances(spec) + shapes + tuple(sideband)
        self._by_name = {n.name: n for n in self.nuisances}
        names = list(self.hypothesis.parameters) + [n.name for n in self.nuisances]
        if self.steady is not None:
            names += list(self.steady.parameters)
        elif spec.steady_state.model == "per_bin" and off_window_counts(observed.counts, use_off):
            names.append(OFF_RATIO)
        self.parameters: tuple[str, ...] = tuple(names)
        nominal = nominal_state(spec)
        self._defaults = {"flux_norm": 1.0, "xsec_norm": 1.0, "brn_norm": 1.0, "nin_norm": 1.0,
                          "qf_scale": nominal.qf_scale, "eff_a": nominal.eff_a, "eff_k": nominal.eff_k,
                          "eff_x0": nominal.eff_x0, "t_offset_us": nominal.t_offset_us}
        self._cache: tuple[ResponseState | None, NDArray | None, list[NDArray] | None] = (None, None, None)
        # the beam expectation depends on these only; MIGRAD's steps in background parameters reuse it
        self._beam_names = tuple(self.hypothesis.parameters) + tuple(
            n.name for n in self.nuisances if n.name not in self.sideband_nuisances)
        self._beam_memo: tuple[tuple[float, ...], NDArray[np.float64]] | None = None

    def with_hypothesis(self, hypothesis: SignalHypothesis) -> FitModel:
        """Same data and templates, another signal hypothesis."""
        return FitModel(self.spec, self.observed, hypothesis, (self.cevns, self.neutrons, self.variations))

    def with_observed(self, observed: ObservedData) -> FitModel:
        """Same templates and hypothesis, other observed counts (same exposure)."""
        return FitModel(self.spec, observed, self.hypothesis, (self.cevns, self.neutrons, self.variations))

    # --- parameter handling ------------------------------------------------
    def physical(self, name: str, p: Params) -> float:
        """Physical value of nuisance ``name`` (its nominal value if it is not fitted)."""
        nuisance = self._by_name.get(name)
        return self._defaults[name] if nuisance is None else nuisance.value(p[name])

    def state(self, p: Params) -> ResponseState:
        return ResponseState(
            qf_scale=self.physical("qf_scale", p),
            eff_a=self.physical("eff_a", p),
            eff_k=self.physical("eff_k", p),
            eff_x0=self.physical("eff_x0", p),
            t_offset_us=self.physical("t_offset_us", p),
        )

    def start(self) -> dict[str, float]:
        p = dict.fromkeys(self.parameters, 0.0)
        p.update(self.hypothesis.start)
        if self.steady is not None:
            p.update(self.steady.start())
        elif OFF_RATIO in p:
            off = off_window_counts(self.observed.counts, True)
            p[OFF_RATIO] = sum(o.sum() for o in off) / len(off) / max(self.observed.counts["ac_beam_on"].sum(), 1)
        return p

    # --- expectations -------------------------------------------------------
    def _templates(self, state: ResponseState) -> tuple[NDArray, list[NDArray]]:
        cached_state, cevns, neutrons = self._cache
        if state != cached_state:
            cevns = self.cevns.templates(state)
            neutrons = [n.template(state) for n in self.neutrons]
            self._cache = (state, cevns, neutrons)
        return cevns, neutrons

    def cevns_components(self, p: Params) -> NDArray[np.float64]:
        """CEvNS per flux component, shape (component, PE bin, time bin)."""
        templates, _ = self._templates(self.state(p))
        norm = self.physical("flux_norm", p) * self.physical("xsec_norm", p)
        out = norm * np.einsum("ci,cipt->cpt", self.hypothesis.scale(p), templates)
        factors = self.variations.factors(p)
        if factors:
            out = out * np.array([factors.get(c, 1.0) * np.ones(out.shape[1:]) for c in COMPONENTS])
        if getattr(self.hypothesis, "absolute", False):  # signal.Count: the parameter is the count itself
            out = out * (p["n_signal"] / max(float(out.sum()), 1e-300))
        return out

    def components(self, p: Params) -> dict[str, NDArray[np.float64]]:
        cevns = self.cevns_components(p)
        out = {c: cevns[k] for k, c in enumerate(COMPONENTS)}
        _, neutrons = self._templates(self.state(p))
        factors = self.variations.factors(p)
        for model, template in zip(self.neutrons, neutrons, strict=True):
            out[model.name] = self.physical(f"{model.name}_norm", p) * template * factors.get(model.name, 1.0)
        if self.steady is not None:
            out["steady_state"] = self.steady.expected(p)
        return out

    def beam(self, p: Params) -> NDArray[np.float64]:
        """Beam-related expectation (CEvNS + neutrons)."""
        key = tuple(p[name] for name in self._beam_names)
        if self._beam_memo is not None and self._beam_memo[0] == key:
            return self._beam_memo[1]
        total = self.cevns_components(p).sum(axis=0)
        _, neutrons = self._templates(self.state(p))
        factors = self.variations.factors(p)
        for model, template in zip(self.neutrons, neutrons, strict=True):
            total = total + self.physical(f"{model.name}_norm", p) * template * factors.get(model.name, 1.0)
        self._beam_memo = (key, total)
        return total

    def __call__(self, p: Params) -> NDArray[np.float64]:
        total = self.beam(p)
        return total + self.steady.expected(p) if self.steady is not None else total

    def n_cevns(self, p: Params) -> float:
        return float(self.cevns_components(p).sum())


def template_variations(spec: DatasetSpec, observed: ObservedData, cevns: CevnsModel,
                        neutrons: tuple[NeutronModel, ...]) -> TemplateVariations:
    """Ratio tables (up / nominal, down / nominal per component and bin) of the dataset's
    ``[[systematics]]``, all at the nominal response state of each variant."""
    nominal = dict(zip(COMPONENTS, cevns.templates(nominal_state(spec)).sum(axis=1), strict=True))
    nominal.update({n.name: n.template(nominal_state(spec)) for n in neutrons})
    tables = []
    for sys in spec.systematics:
        pair = []
        for response in (sys.up, sys.down):
            variant = replace(spec, response=response, systematics=())
            grid = ResponseGrid(variant)
            state = nominal_state(variant)
            templates = CevnsModel(variant, observed.pot, grid).templates(state).sum(axis=1)
            out = dict(zip(COMPONENTS, templates, strict=True))
            out.update({n.name: NeutronModel(variant, n, observed.gwhr, grid).template(state) for n in spec.neutrons})
            pair.append(out)
        tables.append({c: (ratio(pair[0][c], nominal[c]), ratio(pair[1][c], nominal[c])) for c in nominal})
    return TemplateVariations(tuple(s.name for s in spec.systematics), tables)
