"""CsI[Na] feature extraction: numba kernels over raw int8 records (section 4 of the spec).

Each record of the CsI channel gives two FEATURES rows, the anti-coincidence (AC) window and the
coincidence (C) window, processed by the same code. Definitions (``s = polarity * (x - b)``, the signal
above the baseline in ADC; sample indices count from the record start; docs/reconstruction.md says the
same in the detector's words, with the assumptions):

* **baseline** (:mod:`daq.kernels.baseline`): each pretrace gives a level and rms (a histogram without
  the rail codes) and a mean over its quiet 8-sample blocks at their centroid, once before and once
  after its SPE peaks are known (their charge windows leave the mean). The record's baseline ``b_i`` is
  the straight line through the two pretraces' means: it follows a drift or slope across the record and
  is fractional. ``baseline`` is the line at the window's pretrace centre, ``baseline_slope`` its slope [ADC/us],
  ``baseline_rms`` the window's pretrace rms, in whose units every threshold of the window is set;
  ``baseline_quiet`` the fraction of the pretrace that measured it. A pretrace with less than
  ``min_quiet`` quiet samples (clipped by a muon) takes the other pretrace's mean (slope 0); with both
  clipped, the ``fallback_baseline`` of the caller.
* **SPE-like peaks** (:mod:`daq.kernels.peaks`): maxima of the boxcar filter of the SPE calibration
  (:class:`SpeWindow`: length, charge window, separation) above ``threshold_rms`` filtered-noise rms.
  ``n_pretrace_peaks`` and ``pretrace_charge`` count them in the pretrace; ``n_noise_peaks`` counts the
  peaks of the inverted pretrace (noise peaks, the false-peak rate of this threshold).
* **onset**: the first peak, scanning from ``onset_lookback`` before the ROI start, that starts a
  scintillation-like train: the next peak within ``onset_gap`` and at least ``onset_train_peaks`` peaks
  (itself included) within ``onset_train`` of it -- or a peak of at least ``onset_single_pe`` PE of
  charge. A lone dark count is no onset. If that train starts before the ROI, the ROI is held by an
  earlier deposit: no onset. Otherwise ``onset_ns`` is the arrival of the train's first peak after the ROI
  start: scanning back from its maximum (within the boxcar length), the first sample whose 3-sample sum
  is at half the sum at the maximum or more (a 50 % constant-fraction time on the lightly smoothed pulse;
  the boxcar's start would precede a slow pulse by up to its length).
* **integration**: from the onset peak's charge-window start (``pre`` samples before its maximum),
  ``integration`` samples; ``charge`` = sum of ``s``; ``pe = charge / spe_gain``; ``n_peaks_int`` = peaks
  whose maximum lies in it; the ROI scan runs on past the ROI end so a late onset's peaks count.
* **rise times**: with ``C(j)`` the charge over the first ``j`` samples of the integration window and
  ``Q = C(end)``, the time of fraction ``f`` is the first ``j`` with ``C(j) >= f Q``, interpolated linearly;
  rise times are 10 % - 0 %, 50 % - 10 % and 90 % - 10 %, in ns; 0 when ``Q <= 0``.
* **since_saturation_ns**: ROI start minus the last sample before it that is *saturated*: at the ADC rail
  in the pulse direction, or on a clipped top (``clip_samples`` equal codes ending there, the last at least
  ``saturation_adc`` from the baseline line ``b_i``); -1 if none. A fast pulse that stays in range never counts.
* **overflow**: a rail code (-128 or +127) in the pretrace, the ROI or the integration window.

Speed: one histogram pass over each pretrace, one 8-sample block-sum pass and a 64-sample min/max pass
over the record; the filter runs only where a window of ``ceil(L / 8) + 1`` blocks stands out of the
noise. No allocation per record, no prange (one core per process).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from daq import dtypes
from daq.kernels.baseline import HIST_WAYS, leave_out_peaks, level_and_rms, pretrace_histogram, quiet_mean, quiet_sums
from daq.kernels.peaks import SCAN_CHUNK, SUM_BLOCK, _set_peak, block_sums, find_peaks, window_excess

BLOCK_SHIFT = 6  # blocks of 64 samples for the min/max pre-selection
SAT_CHUNK = 16  # min/max blocks per branch-free test of the saturation search
BLOCK = 1 << BLOCK_SHIFT
RAIL_LOW = -128
RAIL_HIGH = 127
RISE_FRACTIONS = (0.1, 0.5, 0.9)


@dataclass(frozen=True)
class SpeWindow:
    """What the SPE shape calibration sets [samples]: boxcar length, charge window from ``pre`` before to
    ``post`` after a peak's maximum sample, and the separation of two peaks."""

    length: int
    pre: int
    post: int
    separation: int


@dataclass(frozen=True)
class FeatureParams:
    """Feature-extraction settings in samples (built from the config by :func:`daq.stages.params.feature_params`)."""

    sample_ns: float
    n_samples: int
    polarity: int
    # (pretrace start, pretrace stop, ROI start, ROI stop) of AC and C [samples]
    windows: tuple[tuple[int, int, int, int], tuple[int, int, int, int]]
    roi_start_ns: tuple[int, int]  # ROI start of AC and C after the record start [ns]
    c_roi_start_ns: int
    threshold_rms: float
    split_rms: float
    integration: int  # [samples]
    onset_gap: int
    onset_train: int
    onset_train_peaks: int
    onset_lookback: int
    onset_single_pe: float
    saturation_adc: float
    clip_samples: int
    min_quiet: float
    initial_window: SpeWindow


_jit = numba.njit(cache=True, nogil=True)


@_jit
def code_extremes(blk: np.ndarray, width: int) -> tuple[int, int]:
    """Minimum and maximum of the first ``width`` raw codes of ``blk``."""
    mn, mx = np.int8(RAIL_HIGH), np.int8(RAIL_LOW)
    for i in range(width):
        v = blk[i]
        mn = v if v < mn else mn
        mx = v if v > mx else mx
    return mn, mx


@_jit
def block_extremes(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
    """Minimum and maximum raw code of each 64-sample block of record ``x``; fills ``lo``, ``hi`` in place."""
    n = x.shape[0]
    for k in range(n >> BLOCK_SHIFT):  # indexed, not sliced: a slice per block costs a fifth more
        mn, mx = np.int8(RAIL_HIGH), np.int8(RAIL_LOW)
        for i in range(k << BLOCK_SHIFT, (k + 1) << BLOCK_SHIFT):
            v = x[i]
            mn = v if v < mn else mn
            mx = v if v > mx else mx
        lo[k], hi[k] = mn, mx
    if n % BLOCK:
        lo[n >> BLOCK_SHIFT], hi[n >> BLOCK_SHIFT] = code_extremes(x[n - n % BLOCK :], n % BLOCK)


@_jit
def any_rail(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, a: int, b: int) -> bool:
    """True if ``x[a:b]`` holds a rail code (-128 or +127)."""
    a, b = max(a, 0), min(b, x.shape[0])
    k0, k1 = a >> BLOCK_SHIFT, ((b - 1) >> BLOCK_SHIFT) + 1 if a < b else 0
    railed = False
    for k in range(k0, k1):  # branch-free over the blocks first (vectorised): almost always no rail at all
        railed |= (lo[k] == RAIL_LOW) | (hi[k] == RAIL_HIGH)
    if not railed:
        return False
    for k in range(k0, k1):
        if lo[k] == RAIL_LOW or hi[k] == RAIL_HIGH:
            for i in range(max(a, k << BLOCK_SHIFT), min(b, (k + 1) << BLOCK_SHIFT)):
                if x[i] == RAIL_LOW or x[i] == RAIL_HIGH:
                    return True
    return False


@_jit
def last_saturated(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, end: int, polarity: int, b0: float,
                   slope: float, anchor: float, saturation: float, clip: int) -> int:
    """Index of the last saturated sample before ``end`` (module docstring; the level is measured from the
    baseline line ``b0 + slope * (i - anchor)``), -1 if none."""
    rail = RAIL_LOW if polarity < 0 else RAIL_HIGH
    if end <= 0:
        return -1
    k = (end - 1) >> BLOCK_SHIFT
    # one integer bound for every block: the level on the line's lowest point in [0, end) (the line is straight)
    floor_all = math.floor(saturation + min(polarity * (b0 - slope * anchor),
                                            polarity * (b0 + slope * (((k + 1) << BLOCK_SHIFT) - 1 - anchor))) - 1e-6)
    ext = lo if polarity < 0 else hi  # a block's extreme in the pulse direction: polarity x ext[k]
    edge = polarity * rail
    while k >= 0:
        if k >= SAT_CHUNK - 1:  # SAT_CHUNK blocks down to k in one branch-free (vectorised) test
            near = False
            for i in range(k - SAT_CHUNK + 1, k + 1):
                e = polarity * np.int64(ext[i])
                near |= (e >= floor_all) | (e == edge)
            if not near:
                k -= SAT_CHUNK
                continue
        extreme = polarity * np.int64(ext[k])
        if extreme < floor_all and extreme != edge:
            k -= 1  # no code of the block reaches the level anywhere on the line
            continue
        ends = (polarity * (b0 + slope * ((k << BLOCK_SHIFT) - anchor)),
                polarity * (b0 + slope * (((k + 1) << BLOCK_SHIFT) - 1 - anchor)))
        if extreme < math.floor(saturation + min(ends) - 1e-6) and extreme != edge:
            k -= 1  # nor on the block's own stretch of it
            continue
        for i in range(min(end, (k + 1) << BLOCK_SHIFT) - 1, (k << BLOCK_SHIFT) - 1, -1):
            if x[i] == rail:
                return i
            if polarity * (x[i] - (b0 + slope * (i - anchor))) >= saturation and i + 1 >= clip:
                run = 1
                while run < clip and x[i - run] == x[i]:
                    run += 1
                if run >= clip:
                    return i
        k -= 1
    return -1


@_jit
def integrate(x: np.ndarray, a: int, b: int, polarity: int, b0: float, slope: float, anchor: float,
              rise: np.ndarray) -> float:
    """Charge [ADC*sample] of ``x[a:b]`` over the baseline line; writes into ``rise`` (in place) the times
    [samples after ``a``] at which the cumulative charge first reaches 10, 50, 90 % of it (0 if not positive)."""
    sx = 0
    for i in range(a, b):
        sx += np.int64(x[i])
    q = polarity * (sx - (b - a) * (b0 + slope * (0.5 * (a + b - 1) - anchor)))
    rise[:] = 0.0
    f, c_prev, c = 0, 0.0, 0.0
    for j in range(1, b - a + 1):
        if q <= 0.0 or f == 3:
            break
        i = a + j - 1
        c += polarity * (x[i] - (b0 + slope * (i - anchor)))
        while f < 3 and c >= RISE_FRACTIONS[f] * q:
            rise[f] = (j - 1) + (RISE_FRACTIONS[f] * q - c_prev) / (c - c_prev)
            f += 1
        c_prev = c
    return q


@_jit
def onset_peak(starts: np.ndarray, charges: np.ndarray, k: int, r0: int, r1: int, o: tuple, gain: float) -> int:
    """Index of the onset peak among the ``k`` ROI-scan peaks (module docstring), -1 if none.
    ``o`` = (gap, train, train peaks, single PE)."""
    gap, train, train_peaks, single_pe = o
    for i in range(k):
        ki = starts[i]
        if ki >= r1:
            return -1
        ok = charges[i] >= single_pe * gain
        if not ok and i + 1 < k and starts[i + 1] - ki <= gap:
            cnt, j = 1, i + 1
            while j < k and starts[j] < ki + train:
                cnt += 1
                j += 1
            ok = cnt >= train_peaks
        if ok:
            return i if ki >= r0 else -1
    return -1


@_jit
def _sum3(x: np.ndarray, i: int, pol: int, b0: float, slope: float, anchor: float) -> float:
    """The signal summed over samples ``i - 1 .. i + 1`` (those inside the record)."""
    t = 0.0
    for j in range(max(0, i - 1), min(x.shape[0], i + 2)):
        t += pol * (x[j] - (b0 + slope * (j - anchor)))
    return t


@_jit
def leading_edge(x: np.ndarray, best: int, reach: int, pol: int, b0: float, slope: float, anchor: float) -> int:
    """Where the pulse whose maximum is ``best`` arrives: scanning back from the maximum (at most ``reach``
    samples), the first sample whose 3-sample signal sum is still at half that sum at the maximum or more
    (a 50 % constant-fraction time on the lightly smoothed pulse: the sum's noise is sqrt(3) x the rms
    against 3x the signal of a slow pulse's top)."""
    half = 0.5 * _sum3(x, best, pol, b0, slope, anchor)
    i, stop = best, max(0, best - reach)
    while i > stop and _sum3(x, i - 1, pol, b0, slope, anchor) >= half:
        i -= 1
    return i


@_jit
def baseline_line(mean: np.ndarray, centroid: np.ndarray, quiet: np.ndarray, level: np.ndarray,
                  windows: np.ndarray, min_quiet: float, fallback: float, b0: np.ndarray,
                  anchor: np.ndarray) -> float:
    """The record's baseline line from the two pretraces' (centroid, mean): fills each window's anchor value
    ``b0`` and anchor sample (in place) and returns the slope [ADC/sample]. A clipped pretrace (fewer quiet
    samples than ``min_quiet`` of it) borrows the other's mean with slope 0; both clipped: ``fallback``
    (or, if NaN, the histogram level)."""
    ok0 = quiet[0] >= min_quiet * (windows[0, 1] - windows[0, 0])
    ok1 = quiet[1] >= min_quiet * (windows[1, 1] - windows[1, 0])
    slope = 0.0
    if ok0 and ok1 and centroid[1] != centroid[0]:
        slope = (mean[1] - mean[0]) / (centroid[1] - centroid[0])
    for p in range(2):
        okp = ok0 if p == 0 else ok1
        oko = ok1 if p == 0 else ok0
        if okp:
            b0[p], anchor[p] = mean[p], centroid[p]
        elif oko:
            b0[p], anchor[p] = mean[1 - p], centroid[1 - p]
        else:
            b0[p], anchor[p] = (fallback if fallback == fallback else level[p]), 0.0
    return slope


@_jit
def _extract_kernel(csi: np.ndarray, trigger_ids: np.ndarray, trigger_times: np.ndarray, windows: np.ndarray,
                    roi_start_ns: np.ndarray, c_roi_start_ns: int, s: tuple, shape: tuple, o: tuple,
                    features: np.ndarray, capacity: int) -> tuple[int, np.ndarray]:
    """Fill ``features`` (zeroed, 2 rows per record; in place); return the peaks as (count, rows of record
    index, 4 * window + region, sample index, amplitude, charge)."""
    polarity, integration, saturation, clip, min_quiet, sample_ns, gain, fallback = s
    n_rec, n = csi.shape
    L, pre, post = shape[0], shape[1], shape[2]
    lo = np.empty((n >> BLOCK_SHIFT) + 1, np.int32)
    hi = np.empty((n >> BLOCK_SHIFT) + 1, np.int32)
    sums = np.empty(n // SUM_BLOCK + 1, np.int32)
    excess = np.empty(n // SUM_BLOCK + 1)
    bounds = np.empty((2, n // SUM_BLOCK // SCAN_CHUNK + 1))
    acc = np.empty(n // SUM_BLOCK + 1, np.int32)
    blocks = (L + SUM_BLOCK - 1) // SUM_BLOCK + 1
    hist = np.empty(256 * HIST_WAYS, np.int32)
    rise = np.empty(3)
    size = n // 2 + 2
    pre_pk = [(np.empty(size, np.int64), np.empty(size, np.int64), np.empty(size), np.empty(size)) for _ in range(2)]
    noise = (np.empty(size, np.int64), np.empty(size, np.int64), np.empty(size), np.empty(size))
    roi = (np.empty(size, np.int64), np.empty(size, np.int64), np.empty(size), np.empty(size))
    out = np.empty((capacity, 5))
    count = 0
    level = np.empty(2)
    rms = np.empty(2)
    mean = np.empty(2)
    centroid = np.empty(2)
    quiet = np.empty(2, np.int64)
    k_pre = np.zeros(2, np.int64)
    b0 = np.empty(2)
    anchor = np.empty(2)
    quiet_q = np.empty((2, 3))
    for r in range(n_rec):
        x = csi[r]
        block_extremes(x, lo, hi)
        block_sums(x, sums)
        for p in range(2):  # pass 1: level, rms and the quiet-block mean without the peaks
            pt0, pt1 = windows[p, 0], windows[p, 1]
            pretrace_histogram(x, pt0, pt1, hist)
            level[p], rms[p], _ = level_and_rms(hist)
            quiet_sums(sums, pt0, pt1, level[p], rms[p], quiet_q[p])
            mean[p], centroid[p], quiet[p] = quiet_mean(quiet_q[p], pt0, pt1, level[p])
        slope = baseline_line(mean, centroid, quiet, level, windows, min_quiet, fallback, b0, anchor)
        # pre-selection against the pass-1 line (the line of the record: both windows' values lie on it)
        window_excess(sums, n, blocks, polarity, b0[0], slope, anchor[0], acc, excess, bounds)
        for p in range(2):  # the pretrace peaks against the line, then pass 2 without their charge windows
            k_pre[p] = find_peaks(x, excess, bounds, windows[p, 0], windows[p, 1], polarity, 1, b0[p], slope,
                                  anchor[p], max(rms[p], 1e-3), shape, pre_pk[p], 0)
            if k_pre[p] > 0:
                leave_out_peaks(sums, windows[p, 0], windows[p, 1], level[p], rms[p], pre_pk[p][1], k_pre[p], pre, post,
                                quiet_q[p])
                mean[p], centroid[p], quiet[p] = quiet_mean(quiet_q[p], windows[p, 0], windows[p, 1], level[p])
        slope = baseline_line(mean, centroid, quiet, level, windows, min_quiet, fallback, b0, anchor)
        for w in range(2):
            row = features[2 * r + w]
            pt0, pt1, r0, r1 = windows[w, 0], windows[w, 1], windows[w, 2], windows[w, 3]
            row["trigger_id"], row["window"] = trigger_ids[r], w
            row["time"] = trigger_times[r] - c_roi_start_ns + roi_start_ns[w]
            sigma = max(rms[w], 1e-3)
            bw, aw = b0[w], anchor[w]
            kp = k_pre[w]
            q_pre = 0.0
            for m in range(kp):  # amplitudes and charges against the final line
                _set_peak(x, pre_pk[w], m, pre_pk[w][0][m], L, pre, post, polarity, bw, slope, aw)
                q_pre += pre_pk[w][3][m]
            kn = find_peaks(x, excess, bounds, pt0, pt1, polarity, -1, bw, slope, aw, sigma, shape, noise, 0)
            row["baseline"] = bw + slope * (0.5 * (pt0 + pt1 - 1) - aw)
            row["baseline_rms"], row["spe_gain"] = rms[w], gain
            row["baseline_slope"] = slope * 1000.0 / sample_ns
            row["baseline_quiet"] = quiet[w] / (pt1 - pt0)
            row["n_pretrace_peaks"], row["pretrace_charge"], row["n_noise_peaks"] = kp, q_pre, kn
            k = find_peaks(x, excess, bounds, r0 - o[4], min(n, r1 + integration), polarity, 1, bw, slope, aw, sigma,
                           shape, roi, 0)
            first_roi = 0
            while first_roi < k and roi[0][first_roi] < r0:
                first_roi += 1
            k_roi = first_roi
            while k_roi < k and roi[0][k_roi] < r1:
                k_roi += 1
            row["n_roi_peaks"] = k_roi - first_roi
            overflow = any_rail(x, lo, hi, pt0, pt1) or any_rail(x, lo, hi, r0, r1)
            row["onset_ns"] = -1
            i_on = onset_peak(roi[0], roi[3], k, r0, r1, o[:4], gain)
            if i_on >= 0:
                onset = max(r0, leading_edge(x, roi[1][i_on], L, polarity, bw, slope, aw))
                i0 = max(0, roi[1][i_on] - pre)
                i1 = min(n, i0 + integration)
                q = integrate(x, i0, i1, polarity, bw, slope, aw, rise)
                n_int = 0
                for m in range(k):
                    if i0 <= roi[1][m] < i1:
                        n_int += 1
                row["onset_ns"] = round((onset - r0) * sample_ns)
                row["charge"], row["pe"], row["n_peaks_int"] = q, q / gain, n_int
                row["rise_0_10_ns"] = rise[0] * sample_ns
                row["rise_10_50_ns"] = (rise[1] - rise[0]) * sample_ns
                row["rise_10_90_ns"] = (rise[2] - rise[0]) * sample_ns
                overflow = overflow or any_rail(x, lo, hi, i0, i1)
            sat = last_saturated(x, lo, hi, r0, polarity, bw, slope, aw, saturation, clip)
            row["since_saturation_ns"] = round((r0 - sat) * sample_ns) if sat >= 0 else -1
            row["overflow"] = overflow
            # np.int64(0), not a literal 0: one compiled _store_peaks for the three calls
            out = _store_peaks(out, count, r, 4 * w + dtypes.REGION_PRETRACE, pre_pk[w], np.int64(0), kp)
            count += kp
            out = _store_peaks(out, count, r, 4 * w + dtypes.REGION_ROI, roi, first_roi, k_roi)
            count += k_roi - first_roi
            out = _store_peaks(out, count, r, 4 * w + dtypes.REGION_NOISE, noise, np.int64(0), kn)
            count += kn
    return count, out


@_jit
def _store_peaks(out: np.ndarray, count: int, r: int, code: int, peaks: tuple, a: int, b: int) -> np.ndarray:
    """Append peaks ``a:b`` as rows (record, code, index, amplitude, charge) of ``out`` at ``count``;
    returns ``out`` or, when full, a larger copy."""
    k = b - a
    if count + k > out.shape[0]:
        grown = np.empty((max(2 * out.shape[0], count + k), out.shape[1]))
        grown[:count] = out[:count]
        out = grown
    for m in range(k):
        out[count + m, 0], out[count + m, 1], out[count + m, 2] = r, code, peaks[1][a + m]
        out[count + m, 3], out[count + m, 4] = peaks[2][a + m], peaks[3][a + m]
    return out


def extract_features(
    csi: np.ndarray, trigger_ids: np.ndarray, trigger_times: np.ndarray, params: FeatureParams,
    spe_gain: float, window: SpeWindow | None = None, fallback_baseline: float = float("nan"),
) -> tuple[np.ndarray, np.ndarray]:
    """Features of the CsI records ``csi`` (int8, shape (n_records, n_samples)).

    Returns (FEATURES array of length 2 n, trigger by trigger, AC then C; PEAK array of every pretrace,
    ROI and noise peak, record by record, window by window, in time order within each region).
    ``trigger_times`` [ns] are the digitizer trigger times, which sit at the C ROI start; ``spe_gain``
    [ADC*sample] converts charge to PE; ``window`` is the SPE calibration (default: the config's initial
    one); ``fallback_baseline`` [ADC] serves a record whose two pretraces are both clipped (default: their
    histogram level). ``veto``, ``cut_mask`` and ``selected`` are left 0 (see :mod:`daq.kernels.cuts`).
    Inputs are not modified.
    """
    csi = np.ascontiguousarray(csi)
    if csi.dtype != np.int8 or csi.ndim != 2 or csi.shape[1] != params.n_samples:
        raise ValueError(f"extract_features: expected int8 records of shape (n, {params.n_samples}), "
                         f"got {csi.dtype} {csi.shape}")
    if not spe_gain > 0:
        raise ValueError(f"extract_features: spe_gain must be positive, got {spe_gain}")
    win = params.initial_window if window is None else window
    n = csi.shape[0]
    ids = np.ascontiguousarray(trigger_ids, dtype=np.int64)
    times = np.ascontiguousarray(trigger_times, dtype=np.int64)
    if ids.shape != (n,) or times.shape != (n,):
        raise ValueError("extract_features: trigger_ids and trigger_times need one entry per record")
    features = np.zeros(2 * n, dtypes.FEATURES)
    scalars = (params.polarity, params.integration, params.saturation_adc, params.clip_samples, params.min_quiet,
               params.sample_ns, float(spe_gain), float(fallback_baseline))
    shape = (win.length, win.pre, win.post, win.separation, params.threshold_rms, params.split_rms)
    onset = (params.onset_gap, params.onset_train, params.onset_train_peaks, params.onset_single_pe,
             params.onset_lookback)
    count, out = _extract_kernel(csi, ids, times, np.asarray(params.windows, dtype=np.int64),
                                 np.asarray(params.roi_start_ns, dtype=np.int64), params.c_roi_start_ns,
                                 scalars, shape, onset, features, 16 * n + 64)
    out = out[:count]
    peaks = np.empty(count, dtypes.PEAK)
    code = out[:, 1].astype(np.int64)
    peaks["trigger_id"] = ids[out[:, 0].astype(np.int64)]
    peaks["window"], peaks["region"] = code >> 2, code & 3
    peaks["time_ns"] = np.round(out[:, 2] * params.sample_ns).astype(np.int64)
    peaks["amplitude"], peaks["charge"] = out[:, 3], out[:, 4]
    return features, peaks
