"""Measured reconstruction figures and acceptance, by injecting pulses of known N and time.

The work behind ``sevens efficiency`` and the preset table of docs/reconstruction.md (and the tests of
issue 13): records from :class:`simulators.injection.Injector` (simulated noise of a preset, or recorded
records) go through the same stage objects as the DAQ (:class:`daq.stages.building.FeatureExtraction`,
:func:`daq.kernels.cuts.apply_cuts`).

* :func:`calibrate`: a run's SPE calibration from noise-and-dark-count records (what the first minutes
  of a run give); gain / truth.
* :func:`measure`: with that calibration, windows with a deposit of N PE at a uniform time in the ROI:
  PE / N over the computed integration fraction, onset purity (onset not before the deposit's first
  photoelectron), false afterglow rejection (true pretrace PE within the cut, rejected), the afterglow
  cut's turn-on (true pretrace PE where half the windows fail it).
* :func:`acceptance`: all-cuts efficiency vs N (a window with a deposit of N photoelectrons that passes
  every cut) and vs deposit time, with binomial errors, and the logistic in reconstructed PE that the
  fit's dataset files take (``[response.pe_efficiency]``), fitted through the measured PE response.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from daq import dtypes
from daq.config import Config, with_overrides
from daq.kernels import cuts
from daq.stages.building import FeatureExtraction
from daq.stages.calibration import SpeCalibration
from daq.stages.params import cut_params
from simulators.injection import Injector, integration_fraction

CAL_DARK_HZ = 120e3  # calibration records: enough SPEs in quiet pretraces
DARK_HZ = 60e3


def triggers_of(batch) -> np.ndarray:  # noqa: ANN001
    t = np.zeros(len(batch.trigger_ids), dtypes.TRIGGER)
    t["trigger_id"], t["time"] = batch.trigger_ids, batch.trigger_times
    return t


def run_extraction(extraction: FeatureExtraction, batch, step: int = 256) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    trig = triggers_of(batch)
    out_f, out_p = [], []
    for k in range(0, len(trig), step):
        f, p = extraction(batch.csi[k:k + step], trig[k:k + step])
        out_f.append(f)
        out_p.append(p)
    return np.concatenate(out_f), np.concatenate(out_p)


def run_statistics(cfg: Config, gain_peaks: int = 120000, injection_windows: int = 128) -> Config:
    """``cfg`` with the calibration statistics of a run's minutes in fewer records: ``gain_peaks`` data peaks
    kept, ``injection_windows`` injected pretraces per block (128: every quiet one), so that the response
    reaches its configured size (``features.spe_response_injections``) within a few thousand records."""
    return with_overrides(cfg, {"features": {"spe_gain_peaks": gain_peaks, "spe_injection_windows": injection_windows}})


def calibrate(cfg: Config, n_records: int = 4000, seed: int = 1, gain_peaks: int = 120000) -> SpeCalibration:
    """The SPE calibration reached on ``n_records`` noise-and-dark-count records of ``cfg``'s simulation.

    What a run reaches after minutes, in fewer records (:func:`run_statistics`): every data peak is kept
    (``gain_peaks``), and every quiet pretrace is injected, so that the response reaches the size a run's
    has, ``features.spe_response_injections`` (the gain's precision is the response's)."""
    cfg = run_statistics(cfg, gain_peaks)
    batch = Injector(cfg).records(n_records, seed, n_pe=0, dark_rate_hz=CAL_DARK_HZ)
    extraction = FeatureExtraction(cfg)
    run_extraction(extraction, batch)
    return extraction.calibration


@dataclass
class Figures:
    gain_ratio: float
    pe_ratio: float  # mean PE / (N f) at N >= 10, over the computed integration fraction f
    pe_ratio_err: float
    onset_purity: float  # at N >= 8
    false_afterglow: float
    afterglow_turn_on: float
    spe_efficiency: float
    linear_gate_fired: float = 0.0  # windows whose linear gate fired (no deposit saturates the ADC here)
    gain_ratio_end: float = float("nan")  # the running gain / truth after the measurement's own records


def signal_records(cfg: Config, n_records: int, n_pe: np.ndarray, seed: int, first_id: int,
                   recorded: np.ndarray | None = None, dark_hz: float = DARK_HZ, pretrace_pe: float = 0.0):  # noqa: ANN201
    """Records with a deposit of ``n_pe[r, w]`` PE at a uniform time in each window's ROI (the last
    integration length of the ROI left out, so the whole pulse is in the record)."""
    rng = np.random.default_rng([seed, 99])
    roi = cfg.windows.c_roi[1] - cfg.windows.c_roi[0]
    t = rng.uniform(0, roi - 500.0, (n_records, 2))
    return Injector(cfg).records(n_records, seed, n_pe=n_pe, time_ns=t, dark_rate_hz=dark_hz,
                                 pretrace_pe=pretrace_pe, first_trigger_id=first_id, recorded=recorded)


def window_truth(feats: np.ndarray, truth: np.ndarray) -> np.ndarray:
    order = np.lexsort((truth["window"], truth["trigger_id"]))
    assert np.array_equal(truth["trigger_id"][order], feats["trigger_id"])
    return truth[order]


def measure(cfg: Config, calibration: SpeCalibration, n_records: int = 2000, seed: int = 2) -> Figures:
    """The figures of the module docstring for ``cfg``'s simulation, with ``calibration``."""
    rng = np.random.default_rng([seed, 7])
    n_pe = rng.choice([8, 10, 12, 15, 20], (n_records, 2))
    batch = signal_records(cfg, n_records, n_pe, seed, 10**6, pretrace_pe=1.5)
    # the running calibration refits on these records once its response holds as many injections as the
    # calibration's (every quiet pretrace injected: the statistics of a run's minutes in 2000 records)
    extraction = FeatureExtraction(run_statistics(cfg), calibration)
    feats, _ = run_extraction(extraction, batch)
    truth = window_truth(feats, batch.truth)
    pre_ns = calibration.window.pre * cfg.digitizer.sample_ns
    f_int = {n: integration_fraction(cfg, n, pre_ns) for n in (10, 12, 15, 20)}
    big = truth["n_pe"] >= 10
    has = feats["onset_ns"] >= 0
    expected = np.array([f_int.get(int(n), np.nan) for n in truth["n_pe"]])
    sel = big & has & (truth["n_pe_roi_start"] == 0)
    ratio = feats["pe"][sel] / (truth["n_pe"][sel] * expected[sel])
    roi_start = np.asarray(cfg.windows.ac_roi[0], float) * (truth["window"] == 0) + cfg.windows.c_roi[0] * (
        truth["window"] == 1)
    onset_abs = roi_start + feats["onset_ns"]
    on_deposit = has & (onset_abs >= truth["first_pe_ns"] - 2 * cfg.digitizer.sample_ns)
    purity = np.mean(on_deposit[truth["n_pe"] >= 8])
    n_max = cfg.cuts.afterglow_max_pretrace_peaks
    fails = feats["n_pretrace_peaks"] > n_max
    within = truth["n_pretrace_pe"] <= n_max
    false_rate = float(np.mean(fails[within]))
    turn_on = afterglow_turn_on(truth["n_pretrace_pe"], fails)
    spe_eff = float(feats["n_pretrace_peaks"].sum() / max(1, truth["n_pretrace_pe"].sum()))
    gate = cut_params(cfg).linear_gate_ns
    fired = (feats["since_saturation_ns"] >= 0) & (feats["since_saturation_ns"] < gate)
    return Figures(calibration.gain / cfg.simulation.spe_gain, float(np.mean(ratio)),
                   float(np.std(ratio) / math.sqrt(max(1, ratio.size))), float(purity), false_rate, turn_on, spe_eff,
                   float(np.mean(fired)), extraction.calibration.gain / cfg.simulation.spe_gain)


def afterglow_turn_on(true_pe: np.ndarray, fails: np.ndarray) -> float:
    """True pretrace PE at which half the windows fail the afterglow cut (linear between integers)."""
    counts = np.arange(0, 16)
    frac = np.array([np.mean(fails[true_pe == k]) if np.any(true_pe == k) else np.nan for k in counts])
    ok = np.isfinite(frac)
    counts, frac = counts[ok], np.maximum.accumulate(frac[ok])
    above = np.flatnonzero(frac >= 0.5)
    if above.size == 0:
        return float("inf")
    k = int(above[0])
    if k == 0:
        return float(counts[0])
    return float(counts[k - 1] + (0.5 - frac[k - 1]) / (frac[k] - frac[k - 1]) * (counts[k] - counts[k - 1]))


PE_POINTS = (3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 20, 25, 30)


def acceptance(cfg: Config, calibration: SpeCalibration, n_per_point: int = 400, seed: int = 3,
               recorded: np.ndarray | None = None, time_bins_us: np.ndarray | None = None,
               dark_hz: float = DARK_HZ) -> dict:
    """The all-cuts acceptance, in the form the fit applies it (module docstring):

    * ``pe``, ``eff``, ``err``, ``n``: the fraction of windows with a deposit of N photoelectrons that pass
      every cut (``cut_mask == 0``; the fit's PE and time ranges are its binning, not cuts), binomial errors;
    * ``pe_scale``, ``pe_variance``: the reconstructed PE of N photoelectrons, mean ``pe_scale`` x N and
      variance ``pe_variance`` x mean (from the windows with N >= 10 that pass);
    * the logistic ``a / (1 + exp(-k (x - x0)))`` in *reconstructed* PE x, as the fit's ``pe_efficiency``
      applies it after smearing: fitted so that, folded with a gamma distribution of that mean and variance,
      it gives ``eff`` at each N (``a``, ``k``, ``x0`` with errors, ``chi2``, ``ndof``);
    * ``time_us``, ``time_eff``, ``time_err``: the acceptance vs the deposit's time after the ROI start at
      N >= 10, divided by its mean over the bins (the PE acceptance holds the mean): the fit's
      ``time_efficiency`` table. Assumption: the PE and time dependences factorise.
    """
    points = np.repeat(np.array(PE_POINTS), n_per_point // 2 + 1)
    n_rec = points.size
    rng = np.random.default_rng([seed, 11])
    n_pe = np.stack([rng.permutation(points), rng.permutation(points)], axis=1)
    batch = signal_records(cfg, n_rec, n_pe, seed, 2 * 10**6, recorded=recorded, dark_hz=dark_hz)
    feats, _ = run_extraction(FeatureExtraction(cfg, calibration), batch)
    cuts.apply_cuts(feats, np.zeros(0, dtypes.VETO_HIT), cut_params(cfg))
    truth = window_truth(feats, batch.truth)
    ok = feats["cut_mask"] == 0
    eff, err, n = [], [], []
    for p in PE_POINTS:
        m = truth["n_pe"] == p
        k, t = int(ok[m].sum()), int(m.sum())
        e = k / t
        eff.append(e)
        err.append(math.sqrt(max(e * (1 - e), 1.0 / t) / t))
        n.append(t)
    big = ok & (truth["n_pe"] >= 10)
    per_pe = feats["pe"][big] / truth["n_pe"][big]
    scale = float(np.mean(per_pe)) if per_pe.size else float("nan")
    resid = feats["pe"][big] - scale * truth["n_pe"][big]
    variance = float(np.mean(resid**2 / (scale * truth["n_pe"][big]))) if per_pe.size else float("nan")
    fit = fit_folded_logistic(np.array(PE_POINTS, float), np.array(eff), np.array(err), scale, variance)
    edges = np.arange(0.0, 12.01, 1.0) if time_bins_us is None else np.asarray(time_bins_us, float)
    t_dep = (truth["time_ns"] - np.where(truth["window"] == 0, cfg.windows.ac_roi[0], cfg.windows.c_roi[0])) / 1e3
    high = truth["n_pe"] >= 10
    t_eff, t_err = [], []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        m = high & (t_dep >= a) & (t_dep < b)
        t = max(1, int(m.sum()))
        e = float(ok[m].sum()) / t
        t_eff.append(e)
        t_err.append(math.sqrt(max(e * (1 - e), 1.0 / t) / t))
    mean_t = float(np.mean(t_eff)) if t_eff else float("nan")
    return {"pe": list(PE_POINTS), "eff": eff, "err": err, "n": n, "pe_scale": scale, "pe_variance": variance,
            **fit, "time_us": [float(v) for v in 0.5 * (edges[:-1] + edges[1:])],
            "time_edges_us": [float(v) for v in edges],
            "time_eff": [v / mean_t for v in t_eff], "time_err": [v / mean_t for v in t_err]}


def folded_logistic(n_pe: np.ndarray, a: float, k: float, x0: float, scale: float, variance: float) -> np.ndarray:
    """Mean of the logistic over reconstructed PE x ~ gamma(mean scale N, variance ``variance`` x mean)."""
    from scipy.stats import gamma

    mean = scale * np.asarray(n_pe, float)
    shape = mean / variance
    u = (np.arange(400) + 0.5) / 400  # quantiles: an exact average for any mean
    x = gamma.ppf(u[None, :], shape[:, None], scale=variance)
    return np.mean(logistic(x, a, k, x0), axis=1)


def fit_folded_logistic(n_pe: np.ndarray, eff: np.ndarray, err: np.ndarray, scale: float,
                        variance: float) -> dict:
    """The logistic in reconstructed PE whose gamma-folded mean matches ``eff`` at each N (least squares,
    one-sigma errors from the covariance); NaN where the fit fails."""
    from scipy.optimize import curve_fit

    nan = {name: float("nan") for name in ("a", "k", "x0", "a_err", "k_err", "x0_err", "chi2")}
    if not (scale > 0 and variance > 0):
        return {**nan, "ndof": 0}
    try:
        popt, pcov = curve_fit(lambda x, a, k, x0: folded_logistic(x, a, k, x0, scale, variance), n_pe, eff,
                               p0=(max(eff.max(), 0.1), 1.0, 4.0), sigma=err, absolute_sigma=True,
                               bounds=([0.0, 0.05, -20.0], [1.0, 20.0, 50.0]), maxfev=5000)
    except (RuntimeError, ValueError):
        return {**nan, "ndof": 0}
    perr = np.sqrt(np.diag(pcov))
    chi2 = float(np.sum(((folded_logistic(n_pe, *popt, scale, variance) - eff) / err) ** 2))
    return {"a": float(popt[0]), "k": float(popt[1]), "x0": float(popt[2]), "a_err": float(perr[0]),
            "k_err": float(perr[1]), "x0_err": float(perr[2]), "chi2": chi2, "ndof": int(n_pe.size - 3)}


def logistic(x: np.ndarray, a: float, k: float, x0: float) -> np.ndarray:
    return a / (1.0 + np.exp(-k * (x - x0)))
