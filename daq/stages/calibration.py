"""The SPE calibration of a run: pulse shape, charge window and gain, block after block.

What it measures, from the quiet pretraces (``features.calibration_max_pretrace_peaks``), after each block of
``GAIN_BLOCK`` trigger ids (:mod:`daq.stages.building`); block ``b`` is reconstructed with the
calibration of the blocks before it, so features do not depend on how records were batched:

* **shape**: the mean pulse of isolated SPE peaks (:func:`daq.kernels.spe_shape.accumulate_template`);
  at ``features.spe_shape_peaks`` peaks, and again at each doubling, it sets the filter length, the
  charge window and the peak separation (:func:`daq.kernels.spe_shape.derive_window`, on the mean pulse
  without the noise of its far tail). A window in use is kept while it still fits a new mean pulse
  (:func:`daq.kernels.spe_shape.window_still_fits`); when it changes, the spectrum and the response
  measured in the old one are dropped: charges of one window only are fitted together.
* **gain** through the measured response: a peak finder sees only the SPEs above its threshold, and
  measures each with the noise its own choice of maximum favours, so the mean charge of found peaks is
  not the SPE mean charge. Into a copy of each block's quiet pretraces, ``features.spe_injections``
  pulses per pretrace of the measured shape are injected (into ``features.spe_injection_windows`` of them per
  block), with charges uniform from 0.05 to 3 times the
  current gain, and found again with the same kernels: the response (found-charge distribution per true
  charge, efficiency included). The found-charge spectrum of isolated pretrace peaks (minus that of the
  noise peaks of the inverted pretrace: with symmetric noise they are the false peaks among them) is
  fitted with Polya (gamma) SPE charges of free mean and spread, plus a free fraction of two
  photoelectrons in one peak, folded through that response (:func:`fit_gain`). Assumptions: SPE
  charges are Polya distributed (below the threshold the fit extrapolates with that shape), the mean
  pulse is the shape of every SPE, the noise is symmetric. *Isolated* is the same for data peaks and
  found injections: no other found peak within the charge window plus the filter length (``pre + post +
  L`` samples, the window holding 99.2 % of the pulse: its tail) on either side; two SPEs closer than that
  are one peak (the two-photoelectron fraction) or dropped. Peaks below the threshold near a data peak
  are as frequent near an injection (the injections go into the same pretraces), so the response
  carries their charge; what it does not carry is a local excess of photoelectrons, which the quiet-pretrace
  selection (at most ``features.calibration_max_pretrace_peaks`` found peaks) keeps out.
* statistics: the last ``features.spe_gain_peaks`` isolated data peaks make the spectrum, and the last
  ``features.spe_response_injections`` found injections the response (over more blocks: the response
  changes slowly, and its statistics set the gain's precision). A gain fit replaces the gain in use only
  with a response at least as large as the one behind it (``SpeCalibration.response_injections``, up to the
  configured size): a run that starts from a carried-over calibration keeps its gain until it has as much
  statistics of its own, rather than taking the first fit of a few hundred injections (with the spectra of
  two windows mixed, that took the running gain of the ``typical/1.2/+1`` preset to 0.46 x truth for a
  third of its records). Refits follow each ``REFIT_FRACTION`` of new data peaks.

A calibration carries over to the next run (:meth:`SpeCalibration.to_dict` / ``from_dict``).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace

import numpy as np

from daq import dtypes
from daq.config import Config
from daq.kernels import features, spe_shape
from daq.kernels.features import FeatureParams, SpeWindow

INITIAL_SPREAD = 0.4
MIN_DATA_PEAKS = 200
MIN_FOUND_INJECTED = 100
SEED = 0x5E7E45
# the gain is fitted again once REFIT_FRACTION of features.spe_gain_peaks is new data (every block until the
# first fit of a run succeeds): a fit each block cost the builder ~200 us per trigger, for an estimate
# whose statistics change by a few per cent from one block to the next. While the spectrum fills, the step
# is the fraction of the last fit's peaks, at least REFIT_MIN_STEP: with a large spe_gain_peaks (30000) a
# fixed fraction of it kept the first fit, on a few hundred peaks, for the rest of a calibration
REFIT_FRACTION = 0.25
REFIT_MIN_STEP = 1000


@dataclass(frozen=True)
class SpeCalibration:
    """The SPE calibration in use: gain [ADC*sample], relative spread, window, mean pulse (unit sum)."""

    gain: float
    spread: float
    window: SpeWindow
    template: np.ndarray | None = None
    shape_peaks: int = 0
    response_injections: int = 0  # found injections of the response behind ``gain`` (0: not fitted)

    def to_dict(self) -> dict:
        return {"gain": self.gain, "spread": self.spread, "window": [self.window.length, self.window.pre,
                self.window.post, self.window.separation], "shape_peaks": self.shape_peaks,
                "template": None if self.template is None else [float(v) for v in self.template],
                "response_injections": self.response_injections}

    @classmethod
    def from_dict(cls, d: dict) -> SpeCalibration:
        t = d.get("template")
        return cls(float(d["gain"]), float(d["spread"]), SpeWindow(*(int(v) for v in d["window"])),
                   None if t is None else np.asarray(t, dtype=float), int(d.get("shape_peaks", 0)),
                   int(d.get("response_injections", 0)))


def window_lines(feats: np.ndarray, params: FeatureParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(value, slope [ADC/sample], anchor sample) of each window's baseline line."""
    centre = np.array([0.5 * (w[0] + w[1] - 1) for w in params.windows])[feats["window"].astype(np.int64)]
    return (feats["baseline"].astype(float), feats["baseline_slope"].astype(float) * params.sample_ns / 1000.0,
            centre)


def isolated(peaks: np.ndarray, keys: np.ndarray, guard_ns: float) -> np.ndarray:
    """Mask of ``peaks`` (sorted by key then time) with no other of the same key within ``guard_ns``."""
    if peaks.size == 0:
        return np.zeros(0, bool)
    t = peaks["time_ns"]
    apart = (keys[1:] != keys[:-1]) | (np.diff(t) >= guard_ns)  # each neighbour pair: another key, or far apart
    alone = np.ones(peaks.size, bool)
    alone[1:] = apart
    alone[:-1] &= apart
    return alone


def nearest_same_key_index(keys: np.ndarray, times: np.ndarray, q_keys: np.ndarray,
                           q_times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query (key, time): the index of the row of ``keys``/``times`` (integers, sorted by key, then
    time; times below 2**27) with the same key nearest in time (the earlier one on a tie) and its distance;
    distance inf where the key has no rows."""
    keys, times = np.asarray(keys, np.int64), np.asarray(times, np.int64)
    q_keys, q_times = np.asarray(q_keys, np.int64), np.asarray(q_times, np.int64)
    if keys.size == 0:
        return np.zeros(q_keys.size, np.int64), np.full(q_keys.size, np.inf)
    j = np.searchsorted(keys * 2**27 + times, q_keys * 2**27 + q_times)
    before, after = np.maximum(j - 1, 0), np.minimum(j, keys.size - 1)  # the two candidates, inside the rows
    d_before = np.where((j >= 1) & (keys[before] == q_keys), np.abs(times[before] - q_times), np.inf)
    d_after = np.where((j < keys.size) & (keys[after] == q_keys), np.abs(times[after] - q_times), np.inf)
    later = d_after < d_before  # the earlier candidate on a tie
    return np.where(later, after, before), np.where(later, d_after, d_before)


def nearest_same_key(keys: np.ndarray, times: np.ndarray, q_keys: np.ndarray, q_times: np.ndarray) -> np.ndarray:
    """Distance from each query (key, time) to the nearest row of the same key (inf if none)."""
    return nearest_same_key_index(keys, times, q_keys, q_times)[1]


class SpeCalibrator:
    """Running SPE calibration of one run (module docstring)."""

    def __init__(self, cfg: Config, params: FeatureParams, start: SpeCalibration | None = None) -> None:
        f = cfg.features
        self.params = params
        self.quiet_max = cfg.features.calibration_max_pretrace_peaks
        self.shape_target = max(1, f.spe_shape_peaks)
        self.gain_peaks = max(1, f.spe_gain_peaks)
        self.injections = max(0, f.spe_injections)
        # quiet pretraces per block that get injected pulses: each costs the features of a whole record again
        # (all of them made the builder 7x slower: 415 against 57 us per trigger)
        self.inject_windows = max(1, f.spe_injection_windows)
        self.response_found = max(1, f.spe_response_injections)
        self.response: deque[tuple[np.ndarray, int]] = deque()  # injections (true, found charge), found
        self.response_total = 0  # found injections in self.response
        self.min_separation = max(1, round(f.peak_min_separation_ns / params.sample_ns))
        self.calibration = start or SpeCalibration(f.spe_gain_initial, INITIAL_SPREAD, params.initial_window)
        self.template_sum = np.zeros(spe_shape.TEMPLATE_BEFORE + spe_shape.TEMPLATE_AFTER)
        self.template_peaks = 0
        self.next_shape = self.shape_target  # peaks of the next mean pulse
        # the window in use comes from a mean pulse aligned on a previous one (a carried-over one is assumed
        # to): only such a window is kept for a new mean pulse it still fits (the first, aligned on the
        # maxima, is smeared by the noise that chose them)
        self.window_aligned = start is not None and start.template is not None
        self.stats: deque[tuple[np.ndarray, np.ndarray]] = deque()
        self.new_peaks = 0  # data peaks since the last gain fit
        self.fit_peaks = 0  # data peaks of the last gain fit's spectrum
        self.fitted = False  # a gain fit of this run has succeeded
        self.baseline = float("nan")  # for records whose pretraces are both clipped

    def warm(self) -> None:
        """Compile the calibration's kernels (and load the fit) before data: never a JIT pause mid-run."""
        import scipy.optimize  # noqa: F401

        n = self.params.n_samples
        one = np.zeros(1, np.int64)
        width = spe_shape.TEMPLATE_BEFORE + spe_shape.TEMPLATE_AFTER
        spe_shape.accumulate_template(np.zeros((1, n), np.int8), one, one + width, np.zeros(1), np.zeros(1),
                                      np.zeros(1), self.params.polarity, np.zeros(0), np.zeros(width))
        spe_shape.inject_pulses(np.zeros((1, n), np.int8), one, one + width, np.ones(1), np.ones(width) / width,
                                self.params.polarity)

    @property
    def value(self) -> float:
        """The SPE gain in use [ADC*sample]."""
        return self.calibration.gain

    def block_done(self, block: int, csi: np.ndarray, feats: np.ndarray, peaks: np.ndarray) -> None:
        """Update the calibration with one complete block (its records, FEATURES and PEAK rows)."""
        cal, p = self.calibration, self.params
        quiet = feats[(feats["n_pretrace_peaks"] <= self.quiet_max) & (feats["baseline_quiet"] > 0)]
        if len(quiet):
            self.baseline = float(np.median(quiet["baseline"]))
        keys_quiet = quiet["trigger_id"] * 2 + quiet["window"]
        pre = peaks[(peaks["region"] == dtypes.REGION_PRETRACE) | (peaks["region"] == dtypes.REGION_NOISE)]
        pre = pre[np.isin(pre["trigger_id"] * 2 + pre["window"], keys_quiet)]
        pre = pre[np.lexsort((pre["time_ns"], pre["trigger_id"] * 2 + pre["window"]))]
        keys = pre["trigger_id"] * 2 + pre["window"]
        w = cal.window
        guard = (w.pre + w.post + w.length) * p.sample_ns
        alone = isolated(pre, keys, guard)
        pos = alone & (pre["region"] == dtypes.REGION_PRETRACE)
        neg = alone & (pre["region"] == dtypes.REGION_NOISE)
        q_pos, q_neg = pre["charge"][pos].astype(float), pre["charge"][neg].astype(float)
        self._shape(csi, feats, pre, keys, alone & (pre["region"] == dtypes.REGION_PRETRACE))
        if self.calibration.window != w:  # charges measured in another window: a spectrum and a response
            self.stats.clear()  # of one window only (the new one's injections follow)
            self.response.clear()
            self.response_total = 0
            self.new_peaks = 0
            q_pos, q_neg = q_pos[:0], q_neg[:0]
        injected = np.zeros((0, 2))
        if self.injections and self.calibration.template is not None:
            injected = self._inject(block, csi, feats, quiet, pre, keys)
        self.stats.append((q_pos, q_neg))
        self.new_peaks += q_pos.size - q_neg.size
        while len(self.stats) > 1 and sum(len(d[0]) for d in list(self.stats)[1:]) >= self.gain_peaks:
            self.stats.popleft()
        found = int(np.count_nonzero(np.isfinite(injected[:, 1])))
        self.response.append((injected, found))
        self.response_total += found
        while len(self.response) > 1 and self.response_total - self.response[0][1] >= self.response_found:
            self.response_total -= self.response.popleft()[1]
        self._update()

    def _shape(self, csi: np.ndarray, feats: np.ndarray, pre: np.ndarray, keys: np.ndarray, single: np.ndarray) -> None:
        p, cal = self.params, self.calibration
        guard = (spe_shape.TEMPLATE_AFTER + spe_shape.TEMPLATE_BEFORE) * p.sample_ns
        wide = isolated(pre, keys, guard) & single
        q = pre["charge"]
        sel = pre[wide & (q > 0.4 * cal.gain) & (q < 2.5 * cal.gain)]
        if sel.size == 0:
            return
        rows = np.searchsorted(feats["trigger_id"] * 2 + feats["window"], sel["trigger_id"] * 2 + sel["window"])
        b0, slope, anchor = window_lines(feats[rows], p)
        reference = cal.template if cal.template is not None else np.zeros(0)
        spe_shape.accumulate_template(np.ascontiguousarray(csi), (rows // 2).astype(np.int64),
                                      np.round(sel["time_ns"] / p.sample_ns).astype(np.int64), b0, slope, anchor,
                                      p.polarity, reference, self.template_sum)
        self.template_peaks += sel.size
        if self.template_peaks >= self.next_shape:  # a new mean pulse; the next one aligned on it
            self.next_shape = min(2 * self.next_shape, 16 * self.shape_target)
            window = SpeWindow(*spe_shape.derive_window(self.template_sum, self.min_separation)[:4])
            w, aligned = cal.window, cal.template is not None  # this sum aligned on a mean pulse (not on maxima)
            if aligned and self.window_aligned and spe_shape.window_still_fits(self.template_sum, w.length, w.pre,
                                                                               w.post):
                window = w  # still right: its spectrum and response are kept
            self.window_aligned = aligned
            template = spe_shape.clean_template(self.template_sum, window.pre, window.post)
            self.calibration = replace(self.calibration, window=window, template=template,
                                       shape_peaks=self.template_peaks)
            self.template_sum[:] = 0.0
            self.template_peaks = 0

    def _inject(self, block: int, csi: np.ndarray, feats: np.ndarray, quiet: np.ndarray, pre: np.ndarray,
                keys: np.ndarray) -> np.ndarray:
        """Rows (injected charge, found charge or NaN) [ADC*sample] of one block's injections: one pulse in
        each of ``features.spe_injections`` equal slots of a quiet pretrace, at a random place in it, unless
        a data peak is within the guard."""
        p, cal = self.params, self.calibration
        rng = np.random.default_rng([SEED, block])
        w = cal.window
        guard = w.pre + w.post + w.length + spe_shape.TEMPLATE_BEFORE
        if len(quiet) > self.inject_windows:  # a sample of the block's quiet pretraces: the response is a
            quiet = quiet[np.sort(rng.choice(len(quiet), self.inject_windows, replace=False))]  # slow average
        n_inj = self.injections
        bounds = np.array([p.windows[int(v)][:2] for v in quiet["window"]], np.int64).reshape(-1, 2)
        slot = (bounds[:, 1] - bounds[:, 0]) // n_inj
        usable = slot > 2 * guard
        if not np.any(usable):
            return np.zeros((0, 2))
        qkeys, bounds, slot = (quiet["trigger_id"] * 2 + quiet["window"])[usable], bounds[usable], slot[usable]
        jitter = rng.integers(0, (slot - 2 * guard)[:, None], (qkeys.size, n_inj))
        where = (bounds[:, :1] + np.arange(n_inj)[None, :] * slot[:, None] + guard + jitter).ravel()
        recs = np.repeat(qkeys, n_inj)
        taken = np.round(pre["time_ns"] / p.sample_ns).astype(np.int64)
        free = nearest_same_key(keys, taken, recs, where) >= guard
        recs, where = recs[free], where[free]
        if recs.size == 0:
            return np.zeros((0, 2))
        ids = feats["trigger_id"][::2]
        rec_index = np.searchsorted(ids, recs // 2)
        use, local = np.unique(rec_index, return_inverse=True)
        copy = np.array(csi[use])
        charge = cal.gain * rng.uniform(RESPONSE_U[0], RESPONSE_U[-1], recs.size)
        spe_shape.inject_pulses(copy, local.astype(np.int64), where.astype(np.int64), charge, cal.template,
                                p.polarity)
        _, p2 = features.extract_features(copy, ids[use], feats["time"][::2][use], p, cal.gain, w, self.baseline)
        found = p2[(p2["region"] == dtypes.REGION_PRETRACE) | (p2["region"] == dtypes.REGION_NOISE)]
        found = found[np.lexsort((found["time_ns"], found["trigger_id"] * 2 + found["window"]))]
        alone = isolated(found, found["trigger_id"] * 2 + found["window"], (w.pre + w.post + w.length) * p.sample_ns)
        found = found[alone & (found["region"] == dtypes.REGION_PRETRACE)]  # as the data peaks are chosen
        out = np.full((recs.size, 2), np.nan)
        out[:, 0] = charge
        fkey = found["trigger_id"] * 2 + found["window"]
        t_inj = where * p.sample_ns
        j, d = nearest_same_key_index(fkey, found["time_ns"], recs, t_inj)
        hit = d <= (w.length + 2) * p.sample_ns
        out[hit, 1] = found["charge"][j[hit]]
        return out

    def _update(self) -> None:
        step = min(REFIT_FRACTION * self.gain_peaks, max(REFIT_MIN_STEP, REFIT_FRACTION * self.fit_peaks))
        if self.fitted and self.new_peaks < max(MIN_DATA_PEAKS, step):
            return
        q_pos = np.concatenate([d[0] for d in self.stats])
        q_neg = np.concatenate([d[1] for d in self.stats])
        cal = self.calibration
        if q_pos.size - q_neg.size < MIN_DATA_PEAKS:
            return
        if cal.template is None or not self.injections:
            if cal.template is None:
                m = (q_pos.sum() - q_neg.sum()) / (q_pos.size - q_neg.size)
                if m > 0:
                    self.calibration = replace(cal, gain=float(m))
            return
        # never a gain of a smaller response than the one in use (carried over, or fitted before in this
        # run) up to the configured size: the response's statistics set the gain's precision
        needed = max(MIN_FOUND_INJECTED, min(cal.response_injections, self.response_found))
        if self.response_total < needed:
            return
        inj = np.concatenate([d[0] for d in self.response])
        self.new_peaks = 0
        self.fit_peaks = q_pos.size - q_neg.size
        fit = fit_gain(q_pos, q_neg, inj, cal.gain, cal.spread)
        if fit is not None:
            self.fitted = True
            self.calibration = replace(cal, gain=fit[0], spread=fit[1], response_injections=self.response_total)


RESPONSE_U = np.linspace(0.05, 3.0, 60)  # injected charges / gain: bins of the response
MEASURED_U = np.linspace(-0.6, 3.6, 85)  # found charges / gain: bins of the spectra


def fit_gain(q_pos: np.ndarray, q_neg: np.ndarray, injected: np.ndarray, gain: float,
             spread: float) -> tuple[float, float] | None:
    """(gain, spread) of the Polya (gamma) SPE charges whose found-charge spectrum, through the measured
    response, matches the data's: ``q_pos`` the isolated pretrace peaks' charges, ``q_neg`` those of the noise
    peaks (subtracted), ``injected`` rows (true charge, found charge or NaN) of the injections. A second
    component at twice the gain (two photoelectrons in one peak) has a free fraction. None if it fails."""
    from scipy.optimize import least_squares
    from scipy.special import gammainc

    true_edges = gain * RESPONSE_U
    meas_edges = gain * MEASURED_U
    q_true, q_found = injected[:, 0], injected[:, 1]
    j = np.clip(np.searchsorted(true_edges, q_true, side="right") - 1, 0, true_edges.size - 2)
    n_inj = np.bincount(j, minlength=true_edges.size - 1).astype(float)
    ok = np.isfinite(q_found)
    i = np.searchsorted(meas_edges, q_found[ok], side="right") - 1
    inside = (i >= 0) & (i < meas_edges.size - 1)
    resp = np.zeros((meas_edges.size - 1, true_edges.size - 1))
    np.add.at(resp, (i[inside], j[ok][inside]), 1.0)
    resp /= np.maximum(n_inj, 1.0)[None, :]
    d_pos = np.histogram(q_pos, meas_edges)[0].astype(float)
    d_neg = np.histogram(q_neg, meas_edges)[0].astype(float)
    data, var = d_pos - d_neg, d_pos + d_neg + 1.0
    n_data = data.sum()
    if not n_data > 0:
        return None

    edges = np.maximum(true_edges, 0.0)
    sigma = np.sqrt(var)

    def residual(x: np.ndarray) -> np.ndarray:
        g, cv, f2, norm = x
        k1, k2 = 1.0 / cv**2, 1.0 / (cv / math.sqrt(2)) ** 2  # one and two photoelectrons: both in one call
        cdf = gammainc(np.array([[k1], [k2]]), np.stack([edges * k1 / g, edges * k2 / (2 * g)]))
        p1, p2 = np.diff(cdf, axis=1)
        p = (1 - f2) * p1 + f2 * p2
        return (norm * n_data * (resp @ p) - data) / sigma

    start = np.array([gain, min(max(spread, 0.1), 0.9), 0.01, 1.0])
    try:
        res = least_squares(residual, start, bounds=([0.3 * gain, 0.05, 0.0, 0.1], [1.5 * gain, 1.0, 0.3, 10.0]))
    except (ValueError, np.linalg.LinAlgError):
        return None
    if not res.success:
        return None
    return float(res.x[0]), float(res.x[1])
