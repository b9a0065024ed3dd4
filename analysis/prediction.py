"""Expected counts of beam-related components in the analysis PE x time binning.

``CevnsModel`` folds flux x cross section x detector response x timing into
templates indexed (flux component, nucleus, PE bin, time bin) at the nominal
flux; ``NeutronModel`` does the same for beam-related (BRN) and neutrino-induced
(NIN) neutrons from their tables.  Both take a ``ResponseState`` (quenching scale,
acceptance parameters, timing offset) so the fit can move them.  The expensive
recoil -> PE smearing depends on the quenching scale alone: it is computed exactly on
nodes spaced ``QF_NODE_STEP`` apart (each once, on demand) and interpolated between them
(template morphing with a C1 cubic, Catmull-Rom), exact at the nodes and so at the nominal
scale 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from .constants import AVOGADRO
from .datafiles import centres_to_edges, read_table
from .dataset import DatasetSpec, NeutronSpec
from .flux import COMPONENTS, MICHEL_ENDPOINT_MEV, fluence_per_flavor
from .formfactor import FORM_FACTORS
from .response import logistic_efficiency, mean_pe, rebin_matrix, smearing_matrix, time_efficiency
from .schema import DatasetError
from .timing import TimeCDF, cdf_from_table, gaussian_pulse_cdf, model_cdf
from .xsec import COUPLINGS, max_recoil_kev, recoil_spectrum, tabulated_recoil_spectrum

#: Fine time step [us] used when an acceptance vs time must be folded in.
FINE_TIME_STEP_US = 0.01
#: Spacing in the quenching scale of the nodes where the smearing is computed exactly.
QF_NODE_STEP = 0.005


@dataclass(frozen=True)
class ResponseState:
    """Detector-response values the fit may vary (physical units)."""

    qf_scale: float = 1.0
    eff_a: float = 0.0
    eff_k: float = 0.0
    eff_x0: float = 0.0
    t_offset_us: float = 0.0


def nominal_state(spec: DatasetSpec) -> ResponseState:
    eff = spec.response.efficiency
    return ResponseState(1.0, eff["a"].value, eff["k"].value, eff["x0"].value, 0.0)


class ResponseGrid:
    """Binning shared by all beam-related components: fine PE grid, time CDFs, acceptances."""

    def __init__(self, spec: DatasetSpec) -> None:
        self.spec = spec
        a = spec.analysis
        w = a.fine_pe_width
        if spec.response.smearing == "poisson" and not np.isclose(w, 1.0):
            raise DatasetError(f"{spec.source_file.name}: [analysis] fine_pe_width: expected 1.0 with "
                               f"Poisson smearing (integer photoelectrons), got {w}")
        n_fine = int(np.ceil(a.pe_edges[-1] / w)) + 1
        self.fine_edges = w * np.arange(n_fine + 1)
        self.fine_centres = 0.5 * (self.fine_edges[1:] + self.fine_edges[:-1])
        self.pe_rebin = rebin_matrix(self.fine_edges, a.pe_edges)
        self.time_edges = a.time_edges_us
        t_max = a.time_edges_us[-1] + 2.0 + 5.0 * spec.timing.offset_uncertainty_us
        self.cdfs = _time_cdfs(spec, t_max)
        te = spec.response.time_efficiency
        if te == "none":
            self.fine_time_edges = None
        else:
            lo, hi = a.time_edges_us[0], a.time_edges_us[-1]
            n = int(np.ceil((hi - lo) / FINE_TIME_STEP_US))
            self.fine_time_edges = np.linspace(lo, hi, n + 1)
            centres = 0.5 * (self.fine_time_edges[1:] + self.fine_time_edges[:-1])
            table_t = table_e = None
            if te == "table":
                table = read_table(spec.response.time_efficiency_table, 2)
                table_t, table_e = table[:, 0], table[:, 1]
            self.fine_time_eff = time_efficiency(centres, te, **spec.response.time_efficiency_params,
                                                 table_t_us=table_t, table_eff=table_e)
            self.time_rebin = rebin_matrix(self.fine_time_edges, a.time_edges_us)

    def pe_efficiency(self, state: ResponseState) -> NDArray[np.float64]:
        r = self.spec.response
        return logistic_efficiency(self.fine_centres, state.eff_a, state.eff_k, state.eff_x0,
                                   r.efficiency_offset, r.efficiency_steps)

    def time_pdf(self, cdf: TimeCDF, offset_us: float, efficiency: bool = True) -> NDArray[np.float64]:
        """Probability per analysis time bin, acceptance vs time included (unless ``efficiency``
        is false: a table that already holds it)."""
        if self.fine_time_edges is None or not efficiency:
            return cdf.bin_probabilities(self.time_edges, offset_us)
        fine = cdf.bin_probabilities(self.fine_time_edges, offset_us) * self.fine_time_eff
        return fine @ self.time_rebin


def flux_spectra(spec: DatasetSpec) -> dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """The dataset's tabulated flux spectra: component -> (energy edges [MeV], probability per bin),
    from (bin centre, content) rows on a regular grid, normalised to one neutrino."""
    out = {}
    for component, path in spec.flux_spectra:
        table = read_table(path, 2)
        edges = centres_to_edges(table[:, 0], path)
        content = np.zeros(edges.size - 1)
        np.add.at(content, np.searchsorted(edges, table[:, 0]) - 1, table[:, 1])
        if edges[0] < 0 or np.any(content < 0) or content.sum() <= 0:
            raise DatasetError(f"{path.name}: flux spectrum of {component}: expected energies >= 0 and "
                               f"non-negative contents with a positive sum")
        out[component] = (edges, content / content.sum())
    return out


def _time_cdfs(spec: DatasetSpec, t_max_us: float) -> dict[str, TimeCDF]:
    t = spec.timing
    if t.model == "tables":
        return {kind: cdf_from_table(*read_table(path, 2).T) for kind, path in t.tables.items()}
    if t.pulse_table is not None:
        pulse = read_table(t.pulse_table, 2)
        return {k: model_cdf(k, pulse[:, 0], pulse[:, 1], t_max_us) for k in ("pulse", "prompt", "delayed")}
    return {k: gaussian_pulse_cdf(k, t.pulse_centre_us, t.pulse_fwhm_ns, t_max_us)
            for k in ("pulse", "prompt", "delayed")}


#: Which timing distribution each CEvNS flux component follows.
COMPONENT_TIMING = {"prompt": "prompt", "delayed_nue": "delayed", "delayed_numubar": "delayed"}


class CevnsModel:
    """CEvNS templates, shape (component, nucleus, PE bin, time bin), at nominal flux."""

    def __init__(self, spec: DatasetSpec, pot: float, grid: ResponseGrid | None = None,
                 sin2_theta_w: float | None = None) -> None:
        self.spec = spec
        self.grid = grid or ResponseGrid(spec)
        det = spec.detector
        self.sin2_theta_w = det.sin2_theta_w if sin2_theta_w is None else sin2_theta_w
        self.nuclides = tuple(n.nuclide for n in det.nuclei)
        formula_units = det.mass_kg * 1e3 / det.molar_mass_g * AVOGADRO
        self.targets = np.array([formula_units * n.per_formula_unit for n in det.nuclei])
        self.fluence = fluence_per_flavor(spec.nu_per_proton.value, pot, spec.distance_m)
        step = spec.analysis.recoil_step_kev
        self.spectra = flux_spectra(spec)
        e_top = max([MICHEL_ENDPOINT_MEV, *(edges[-1] for edges, _ in self.spectra.values())])
        t_top = max(float(max_recoil_kev(e_top, n.nuclear_mass_mev)) for n in self.nuclides)
        edges = np.arange(0.0, t_top + step, step)
        self.recoil_kev = 0.5 * (edges[1:] + edges[:-1])
        ff = FORM_FACTORS[det.form_factor]
        self.couplings = COUPLINGS[det.couplings]
        # recoils per recoil bin, shape (component, nucleus, recoil bin)
        def folded(c: str, nuc) -> NDArray[np.float64]:
            if c in self.spectra:
                return tabulated_recoil_spectrum(*self.spectra[c], self.recoil_kev, nuc, self.sin2_theta_w, ff,
                                                 self.couplings)
            return recoil_spectrum(c, self.recoil_kev, nuc, self.sin2_theta_w, ff, self.couplings)

        self.recoils = np.array([
            [self.fluence * n_t * folded(c, nuc) * step for nuc, n_t in zip(self.nuclides, self.targets, strict=True)]
            for c in COMPONENTS
        ])
        table = spec.response.excess_variance_table
        self._excess_table = None if table is None else read_table(table, 2)
        qf_table = spec.response.qf_table
        self._qf_table = None if qf_table is None else read_table(qf_table, 2)
        self._nodes: dict[int, NDArray[np.float64]] = {}
        self._smeared = lru_cache(maxsize=64)(self._morphed)
        # MIGRAD moves one parameter at a time: the PE and the time factors are cached apart
        self._pe = lru_cache(maxsize=64)(self._pe_at)
        self._time = lru_cache(maxsize=64)(self._time_at)

    def _node(self, k: int) -> NDArray[np.float64]:
        node = self._nodes.get(k)
        if node is None:
            node = self._nodes[k] = self._smear(1.0 + k * QF_NODE_STEP)
        return node

    def _morphed(self, qf_scale: float) -> NDArray[np.float64]:
        """Smeared recoils at ``qf_scale``: Catmull-Rom cubic through the four nearest nodes
        (continuous with its first derivative, so MIGRAD's numerical gradients stay smooth;
        exact for quadratics in the scale)."""
        x = (qf_scale - 1.0) / QF_NODE_STEP
        if not np.isfinite(x):  # MIGRAD may probe a NaN (thousands of times): a NaN cost, at once
            return np.full_like(self._node(0), np.nan)
        k = int(np.floor(x))
        u = x - k
        if u < 1e-9 or u > 1.0 - 1e-9:
            return self._node(int(round(x)))
        u2, u3 = u * u, u * u * u
        weights = (0.5 * (-u3 + 2.0 * u2 - u), 0.5 * (3.0 * u3 - 5.0 * u2 + 2.0),
                   0.5 * (-3.0 * u3 + 4.0 * u2 + u), 0.5 * (u3 - u2))
        return sum(w * self._node(k + j) for j, w in zip((-1, 0, 1, 2), weights, strict=True))

    def _smear(self, qf_scale: float) -> NDArray[np.float64]:
        r = self.spec.response
        if self._qf_table is not None:  # QF(T) tabulated: interpolate, constant beyond the table's ends
            qf_values = qf_scale * np.interp(self.recoil_kev, self._qf_table[:, 0], self._qf_table[:, 1])
            mean = np.maximum(r.light_yield.value * qf_values * self.recoil_kev, 0.0)
        else:
            mean = mean_pe(self.recoil_kev, np.asarray(r.qf_coefficients) * qf_scale, r.light_yield.value)
        matrix = smearing_matrix(r.smearing, mean, self.grid.fine_edges, self.excess_variance(mean))
        return self.recoils @ matrix  # (component, nucleus, fine PE)

    def excess_variance(self, mean: NDArray[np.float64]) -> NDArray[np.float64] | float:
        """Variance / mean of the PE response at each mean PE: a + b mean, or the dataset's table."""
        r = self.spec.response
        if r.excess_variance_table is not None:
            table = self._excess_table
            return np.interp(mean, table[:, 0], table[:, 1])
        return r.excess_variance + r.excess_variance_slope * mean if r.excess_variance_slope else r.excess_variance

    def pe_spectra(self, state: ResponseState) -> NDArray[np.float64]:
        """Accepted counts per analysis PE bin, shape (component, nucleus, PE bin) (cached: do not
        modify the array)."""
        return self._pe(float(state.qf_scale), float(state.eff_a), float(state.eff_k), float(state.eff_x0))

    def _pe_at(self, qf_scale: float, eff_a: float, eff_k: float, eff_x0: float) -> NDArray[np.float64]:
        state = ResponseState(qf_scale, eff_a, eff_k, eff_x0)
        return (self._smeared(qf_scale) * self.grid.pe_efficiency(state)) @ self.grid.pe_rebin

    def time_pdfs(self, state: ResponseState) -> NDArray[np.float64]:
        """Probability per time bin, shape (component, time bin) (cached: do not modify the array)."""
        return self._time(float(state.t_offset_us))

    def _time_at(self, offset_us: float) -> NDArray[np.float64]:
        kinds = {k: self.grid.time_pdf(self.grid.cdfs[k], offset_us) for k in set(COMPONENT_TIMING.values())}
        return np.array([kinds[COMPONENT_TIMING[c]] for c in COMPONENTS])

    def templates(self, state: ResponseState) -> NDArray[np.float64]:
        pe = self.pe_spectra(state)
        t = self.time_pdfs(state)
        return pe[:, :, :, None] * t[:, None, None, :]

    def total_recoils(self) -> NDArray[np.float64]:
        """Interactions before any threshold, shape (component, nucleus)."""
        return self.recoils.sum(axis=-1)


class NeutronModel:
    """Template of one neutron background (BRN or NIN), shape (PE bin, time bin).

    From separate PE and time tables (factorised) or from one 2D table; PE tables are
    spread uniformly within their bins onto the fine 1-PE grid, where the acceptance
    is applied at the bin centres like for CEvNS.
    """

    def __init__(self, spec: DatasetSpec, neutron: NeutronSpec, gwhr: float | None,
                 grid: ResponseGrid | None = None) -> None:
        self.name = neutron.name
        self.neutron = neutron
        self.grid = grid or ResponseGrid(spec)
        if neutron.units == "per_gwhr":
            if gwhr is None:
                raise DatasetError(f"{spec.source_file.name}: [exposure] gwhr: needed by "
                                   f"[backgrounds.{neutron.name}] with units = 'per_gwhr'")
            scale = gwhr * neutron.normalisation
        else:
            scale = neutron.normalisation
        fine = self.grid.fine_edges
        self.fine_pe: NDArray[np.float64] | None = None
        if neutron.table_2d is not None:
            table = read_table(neutron.table_2d, 3)
            pe_e = centres_to_edges(table[:, 0], neutron.table_2d)
            t_e = centres_to_edges(table[:, 1], neutron.table_2d)
            values = np.zeros((pe_e.size - 1, t_e.size - 1))
            index = (np.searchsorted(pe_e, table[:, 0]) - 1, np.searchsorted(t_e, table[:, 1]) - 1)
            np.add.at(values, index, table[:, 2])
            fine_rows = scale * (rebin_matrix(pe_e, fine).T @ values)  # (fine PE, file time bin)
            cumulative = np.concatenate([np.zeros((fine_rows.shape[0], 1)), np.cumsum(fine_rows, 1)], 1)
            self.time_cdf = TimeCDF(t_e, cumulative)
        else:
            table = read_table(neutron.pe_table, 2)
            pe_e = centres_to_edges(table[:, 0], neutron.pe_table)
            self.fine_pe = scale * (rebin_matrix(pe_e, fine).T @ table[:, 1])
            if neutron.time_table is not None:
                times = read_table(neutron.time_table, 2)
                self.time_cdf = cdf_from_table(*times.T)
                if neutron.norm_from == "time_table":  # the PE table gives the shape only
                    self.fine_pe = self.fine_pe / max(table[:, 1].sum(), 1e-300) * times[:, 1].sum()
            else:
                self.time_cdf = self.grid.cdfs[neutron.time_kind]

    def template(self, state: ResponseState) -> NDArray[np.float64]:
        time = self.grid.time_pdf(self.time_cdf, state.t_offset_us, self.neutron.apply_time_efficiency)
        fine = time if self.fine_pe is None else np.outer(self.fine_pe, time)
        if self.neutron.apply_pe_efficiency:
            fine = fine * self.grid.pe_efficiency(state)[:, None]
        return self.grid.pe_rebin.T @ fine
