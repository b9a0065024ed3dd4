"""Physics results of a dataset: SM prediction, fit, significance, cross sections,
sin^2 theta_W, flavored cross sections, NSI region and the counting cross-check.

``predict_report`` is what ``sevens predict`` prints; ``analyse`` runs everything
``sevens fit`` reports and returns an ``AnalysisResult`` (a JSON-ready summary plus
the arrays the plots need).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import brentq

from .counting import CountingResult, counting_analysis
from .datafiles import ObservedData
from .dataset import DatasetSpec
from .diagnostics import count_interval, crossings, expected_significance, impacts, profile_scan, scan_grid, window_chi2
from .fit import FitOutcome, minimise, minos_interval, significance
from .flux import COMPONENTS
from .formfactor import FORM_FACTORS
from .model import FitModel
from .nsi import nue_rate_ratio
from .prediction import flux_spectra
from .scanpoints import PointMapper, hypothesis_model, serial_points
from .signal import Flavored
from .steady_state import OFF_RATIO
from .xsec import COUPLINGS, flux_averaged_cross_section, weak_charge

#: Nuisances that move the CEvNS expectation (used for the SM prediction error).
SIGNAL_NUISANCES = ("flux_norm", "xsec_norm", "qf_scale", "eff_a", "eff_k", "eff_x0", "t_offset_us")
#: Delta chi^2 for a 90 % CL region in two parameters.
DCHI2_90_2D = 4.605
CM2_1E40 = 1e-40


def nominal_params(model: FitModel) -> dict[str, float]:
    return model.start()


def sm_prediction(model: FitModel) -> tuple[dict[str, float], float, dict[str, float]]:
    """SM counts per component, the total's error and its breakdown by nuisance."""
    p0 = nominal_params(model)
    comps = {c: float(v.sum()) for c, v in model.components(p0).items() if c != "steady_state"}
    total = model.n_cevns(p0)
    breakdown = {}
    for n in model.nuisances:
        if n.name in SIGNAL_NUISANCES:
            up = model.n_cevns({**p0, n.name: 1.0})
            down = model.n_cevns({**p0, n.name: -1.0})
            breakdown[n.name] = 0.5 * (abs(up - total) + abs(down - total))
    return comps, float(np.sqrt(sum(v**2 for v in breakdown.values()))), breakdown


def cross_sections_sm(model: FitModel) -> dict[str, float]:
    """Flux-averaged SM cross sections per nucleus [cm^2], averaged over the target
    nuclei (weighted by their number) and over the equal per-flavor fluxes."""
    det = model.spec.detector
    ff = FORM_FACTORS[det.form_factor]
    weights = np.array([n.per_formula_unit for n in det.nuclei], dtype=float)
    weights /= weights.sum()
    couplings = COUPLINGS[det.couplings]
    spectra = flux_spectra(model.spec)
    table = np.array([[flux_averaged_cross_section(c, n.nuclide, det.sin2_theta_w, ff, couplings, spectra.get(c))
                       for n in det.nuclei]
                      for c in COMPONENTS]) @ weights
    return {"all": float(table.mean()), "prompt": float(table[0]), "delayed": float(table[1:].mean()),
            **{c: float(v) for c, v in zip(COMPONENTS, table, strict=True)}}


def sin2_from_strength(mu: float, model: FitModel) -> float:
    """sin^2 theta_W whose Q_W^2 (count-weighted over the nuclei) gives the fitted rate
    mu x SM; the branch with Q_W > 0 (the SM sign).  NaN if out of reach."""
    nuclides = model.cevns.nuclides
    weights = model.cevns.templates(model.state(nominal_params(model))).sum(axis=(0, 2, 3))
    s0 = model.spec.detector.sin2_theta_w
    couplings = COUPLINGS[model.spec.detector.couplings]

    def ratio(s: float) -> float:
        q = np.array([(weak_charge(n.Z, n.N, s, couplings) / weak_charge(n.Z, n.N, s0, couplings)) ** 2
                      for n in nuclides])
        return float(q @ weights / weights.sum())

    # Q_W = 0 of the first nucleus: Z (1/2 - 2 s + dp) + N (dn - 1/2) = 0
    lowest = max((n.Z * (0.5 + couplings.delta_p) + n.N * (couplings.delta_n - 0.5)) / (2.0 * n.Z)
                 for n in nuclides)
    if not ratio(lowest) <= mu <= ratio(1.0):
        return float("nan")
    return float(brentq(lambda s: ratio(s) - mu, lowest, 1.0, xtol=1e-10))


def nue_weights(model: FitModel) -> NDArray[np.float64]:
    """SM nu_e counts per nucleus (weights of the NSI rate ratio)."""
    t = model.cevns.templates(model.state(nominal_params(model)))
    return t[COMPONENTS.index("delayed_nue")].sum(axis=(1, 2))


def allowed_intervals(x: NDArray, inside: NDArray) -> list[list[float]]:
    """Contiguous ranges of ``x`` where ``inside`` is true (grid resolution)."""
    out, first = [], None
    for k, ok in enumerate(inside):
        if ok and first is None:
            first = k
        elif not ok and first is not None:
            out.append([float(x[first]), float(x[k - 1])])
            first = None
    if first is not None:
        out.append([float(x[first]), float(x[-1])])
    return out


@dataclass
class NsiScan:
    eps_u: NDArray[np.float64]
    eps_d: NDArray[np.float64]
    dchi2_fit: NDArray[np.float64]       # shape (eps_d, eps_u)
    dchi2_counting: NDArray[np.float64]


def nsi_scan(best: FitOutcome, counting: CountingResult, sm_components: dict[str, float],
             n_grid: int = 161, span: float = 1.0, points: PointMapper | None = None) -> NsiScan:
    """Delta chi^2 over (eps^uV_ee, eps^dV_ee) from the fit (profiling all nuisances
    along the nu_e rate: the points of ``points``, by default here) and from the counting chi^2 of the seeds."""
    model = hypothesis_model(best.model, "nue")
    nue = minimise(model, start={**best.values, "mu_nue": 1.0}, hesse=False)
    grid = np.concatenate([np.arange(0.0, 2.0, 0.1), np.arange(2.0, 8.01, 0.5)])
    points = points or serial_points(best.model)
    dchi2 = np.array(points("nue", "mu_nue", [float(g) for g in grid], dict(nue.values), float(nue.fval),
                            dict(nue.pull_centres)))
    eps = np.linspace(-span, span, n_grid)
    eu, ed = np.meshgrid(eps, eps)
    nuclei = [(n.Z, n.N) for n in model.cevns.nuclides]
    ratio = nue_rate_ratio(eu, ed, nuclei, nue_weights(model), model.spec.detector.sin2_theta_w)
    fit_map = np.interp(ratio, grid, dchi2, right=np.inf)
    fit_map = fit_map - min(fit_map.min(), dchi2.min())
    expected = (sm_components["prompt"] + sm_components["delayed_numubar"]
                + sm_components["delayed_nue"] * ratio)
    counting_map = counting.chi2(expected)
    return NsiScan(eps, eps, fit_map, counting_map - counting_map.min())


def flavored_summary(flavored: FitOutcome, xs: dict[str, float]) -> dict[str, float]:
    """Prompt (nu_mu) and delayed (nu_e + anti-nu_mu) strengths and cross sections."""
    v = flavored.values
    names = list(flavored.minuit.parameters)
    cov = flavored.covariance  # NaN without a HESSE covariance
    i, j = names.index("mu_prompt"), names.index("mu_delayed")
    out: dict[str, Any] = {"correlation": float(cov[i, j] / np.sqrt(cov[i, i] * cov[j, j])),
                           "fit_valid": flavored.valid and flavored.has_covariance, "fit_note": flavored.problem()}
    for name in ("prompt", "delayed"):
        mu = v[f"mu_{name}"]
        err = flavored.errors[f"mu_{name}"] if flavored.has_covariance else float("nan")
        out.update({f"mu_{name}": mu, f"mu_{name}_err": err,
                    f"sigma_{name}_1e40_cm2": mu * xs[name] / CM2_1E40,
                    f"sigma_{name}_err_1e40_cm2": err * xs[name] / CM2_1E40,
                    f"sigma_{name}_sm_1e40_cm2": xs[name] / CM2_1E40})
    return out


def steady_state_summary(best: FitOutcome) -> dict[str, Any]:
    """Fitted steady-state background in the C window (total with propagated error)."""
    model = best.model
    if model.steady is not None:
        def total(p):
            return float(model.steady.expected(p).sum())
    else:
        on_off = best.cost.costs[0]

        def total(p):
            return float(on_off.background(p).sum())
    n_ss, err = best.propagate(total)
    out: dict[str, Any] = {"model": model.spec.steady_state.model, "n_ss": n_ss, "n_ss_err": err}
    if model.spec.steady_state.model == "smooth":
        chi2, ndof = model.steady.sideband_chi2()
        out.update({"sideband_windows": list(model.steady.shape_windows),
                    "norm_windows": list(model.steady.norm_windows),
                    "norm_prior": model.steady.nominal,
                    "norm_prior_err": model.steady.nuisances[0].error_hi,
                    "sideband_chi2": chi2, "sideband_ndof": ndof,
                    "sideband_fit_valid": model.steady.sideband_fit_valid})
    if OFF_RATIO in best.values:
        out["off_ratio"] = best.values[OFF_RATIO]
        out["off_ratio_err"] = best.errors[OFF_RATIO] if best.has_covariance else float("nan")
    return out


def fit_note(best: FitOutcome, observed: ObservedData) -> str | None:
    """One sentence on why ``best`` is not a valid fit with errors (None if it is), with the event
    counts that usually explain it (a short run selects too few events to constrain the fit)."""
    problem = best.problem()
    if problem is None:
        return None
    c, ac = observed.counts["c_beam_on"].sum(), observed.counts["ac_beam_on"].sum()
    free = sum(1 for name in best.minuit.parameters if not best.minuit.fixed[name])
    return (f"the fit is not valid: {problem}; the data hold {c:.0f} C and {ac:.0f} AC beam-on events in the "
            f"analysis window for {free} free parameters")


@dataclass
class AnalysisResult:
    summary: dict[str, Any]
    best: FitOutcome
    flavored: FitOutcome
    profile_mu: tuple[NDArray, NDArray]
    nsi: NsiScan | None


def predict_report(spec: DatasetSpec, observed: ObservedData, model: FitModel | None = None) -> dict[str, Any]:
    """SM expectation per component in the analysis window (``sevens predict``)."""
    model = model or FitModel(spec, observed)
    comps, err, breakdown = sm_prediction(model)
    p0 = nominal_params(model)
    per_nucleus = model.cevns.templates(model.state(p0)).sum(axis=(2, 3))
    xs = cross_sections_sm(model)
    return {
        "dataset": spec.name,
        "pot": observed.pot,
        "gwhr": observed.gwhr,
        "binning": {"pe_edges": spec.analysis.pe_edges.tolist(),
                    "time_edges_us": spec.analysis.time_edges_us.tolist()},
        "components": comps,
        "cevns_total": float(sum(comps[c] for c in COMPONENTS)),
        "cevns_total_err": err,
        "cevns_err_breakdown": breakdown,
        "per_nucleus": {n.name: {c: float(per_nucleus[k, i]) for k, c in enumerate(COMPONENTS)}
                        for i, n in enumerate(model.cevns.nuclides)},
        "interactions_no_threshold": float(model.cevns.total_recoils().sum()),
        "sigma_sm_1e40_cm2": {k: v / CM2_1E40 for k, v in xs.items()},
        "expected_2d": {c: v.tolist() for c, v in model.components(p0).items() if c != "steady_state"},
    }


def analyse(spec: DatasetSpec, observed: ObservedData, with_nsi: bool = True,
            profile_points: int = 50, with_impacts: bool = True, points: PointMapper | None = None) -> AnalysisResult:
    """The full set of results for ``sevens fit``; the profile-scan and NSI points by ``points``
    (default: one after the other in this process; :mod:`daq.cluster.scans` fans them out)."""
    model = FitModel(spec, observed)
    best = minimise(model)
    note = fit_note(best, observed)
    # a likelihood ratio needs minima, not HESSE: without a minimum there is no significance
    z = significance(best, "mu")[0] if best.converged else float("nan")
    mu_lo, mu_hi = minos_interval(best, "mu") if best.valid and best.has_covariance else (float("nan"),) * 2
    mu = best.values["mu"]
    n_cevns, n_cevns_err = best.n_cevns()
    n_lo, n_hi = count_interval(best) if best.valid and best.has_covariance else (float("nan"),) * 2
    comps, sm_err, breakdown = sm_prediction(model)
    sm_total = float(sum(comps[c] for c in COMPONENTS))
    neutron_total = sum(comps.get(n.name, 0.0) for n in spec.neutrons)
    neutron_err = np.sqrt(sum((comps.get(n.name, 0.0) * n.uncertainty) ** 2 for n in spec.neutrons))
    counting = counting_analysis(
        observed.counts["c_beam_on"].sum(), observed.counts["ac_beam_on"].sum(), neutron_total,
        neutron_err / neutron_total if neutron_total > 0 else 0.0, sm_total, sm_err / sm_total,
        spec.steady_state.exposure_ratio)
    xs = cross_sections_sm(model)
    flavored = minimise(model.with_hypothesis(Flavored(len(model.cevns.nuclides))), start=best.values)
    grid = scan_grid(best, "mu", mu_hi, profile_points)
    prof = profile_scan(best, "mu", grid, points) if best.converged else np.full(grid.size, np.nan)
    asimov = expected_significance(best) if best.converged else {"z": float("nan"), "error": float("nan")}
    windows = window_chi2(best) if best.has_covariance else {}
    sin2 = sin2_from_strength(mu, model)
    sin2_lo = sin2_from_strength(mu + mu_lo, model)
    sin2_hi = sin2_from_strength(mu + mu_hi, model)
    fitted = {c: float(v.sum()) for c, v in model.components(best.values).items()}
    nuisances = {}
    for n in model.nuisances:
        theta = best.values[n.name]
        err = best.errors[n.name] if best.has_covariance else float("nan")
        nuisances[n.name] = {"pull": theta, "pull_err": err, "value": n.value(theta),
                             "error": 0.5 * (n.value(theta + err) - n.value(theta - err)),
                             "description": n.description}
    summary: dict[str, Any] = {
        "dataset": spec.name,
        "n_cevns": n_cevns,
        "n_cevns_err": n_cevns_err,
        "n_cevns_err_lo": -n_lo, "n_cevns_err_hi": n_hi,
        "mu": mu, "mu_err_lo": -mu_lo, "mu_err_hi": mu_hi,
        "significance_sigma": z,
        "significance_expected_sigma": asimov["z"],
        "mu_err_expected": asimov["error"],
        "sm_prediction": sm_total,
        "sm_prediction_err": sm_err,
        "sm_prediction_err_breakdown": breakdown,
        "chi2": windows["c"]["chi2"] if windows else float("nan"),
        "ndof": windows["c"]["ndof"] if windows else float("nan"),
        "chi2_windows": windows,
        "chi2_total": best.poisson_chi2(),
        "ndof_total": best.ndof(),
        "fit_valid": note is None,
        "fit_note": note,
        "sigma_flux_avg_1e40_cm2": mu * xs["all"] / CM2_1E40,
        "sigma_flux_avg_err_lo_1e40_cm2": -mu_lo * xs["all"] / CM2_1E40,
        "sigma_flux_avg_err_hi_1e40_cm2": mu_hi * xs["all"] / CM2_1E40,
        "sigma_sm_1e40_cm2": xs["all"] / CM2_1E40,
        "couplings": COUPLINGS[spec.detector.couplings].source,
        "sin2_theta_w": sin2,
        "sin2_theta_w_err_lo": sin2 - sin2_lo if np.isfinite(sin2_lo) else None,
        "sin2_theta_w_err_hi": sin2_hi - sin2 if np.isfinite(sin2_hi) else None,
        "sin2_theta_w_sm": spec.detector.sin2_theta_w,
        "flavored": flavored_summary(flavored, xs),
        "fitted_counts": fitted,
        "nuisance": nuisances,
        "steady_state": steady_state_summary(best),
        "impacts": impacts(best) if with_impacts and best.converged else [],
        "profile_mu": {"grid": grid.tolist(), "two_delta_nll": prof.tolist(),
                       "crossings": crossings(grid, prof, mu) if best.converged else {}},
        "counting": counting.as_dict(),
    }
    nsi = None
    if with_nsi and best.converged:
        nsi = nsi_scan(best, counting, comps, points=points)
        axis = len(nsi.eps_u) // 2
        summary["nsi"] = {
            "cl": 0.90, "delta_chi2": DCHI2_90_2D,
            "eps_u_allowed_at_eps_d_0": allowed_intervals(nsi.eps_u, nsi.dchi2_fit[axis] < DCHI2_90_2D),
            "eps_d_allowed_at_eps_u_0": allowed_intervals(nsi.eps_d, nsi.dchi2_fit[:, axis] < DCHI2_90_2D),
            "counting_eps_u_allowed_at_eps_d_0": allowed_intervals(
                nsi.eps_u, nsi.dchi2_counting[axis] < DCHI2_90_2D),
        }
    return AnalysisResult(summary, best, flavored, (grid, prof), nsi)
