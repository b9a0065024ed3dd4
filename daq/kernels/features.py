"""CsI[Na] feature extraction: numba kernels over raw int8 records (section 4 of the spec).

Each record of the CsI channel gives two FEATURES rows, the anti-coincidence (AC) window and
the coincidence (C) window, processed by the same code. Definitions (``s = polarity * (x - baseline)``,
the signal above the baseline in ADC; sample indices count from the record start):

* **baseline**: a two-pass estimate over the pretrace. Pass 1 histograms the raw codes and takes the
  mean of the samples closer than ``spe_threshold_adc`` to the mode (the lowest code on ties), which
  leaves SPE peaks, afterglow trains and saturated stretches out; the pretrace peaks are found against
  it. Pass 2 (on the histogram) also drops the samples within ``peak_halfwidth`` of those peaks (their
  tails near the baseline); its mean and rms are the baseline and baseline_rms, used for every
  amplitude and charge of the window (pass 1 only for finding the pretrace peaks).
* **SPE-like peaks**: local maxima of ``s`` (plateaus count once, at their middle, rounded down;
  the first and last sample of a scanned region are never peaks; the same rule as
  ``scipy.signal.find_peaks``) with ``s >= spe_threshold_adc``. A maximum closer than
  ``peak_min_separation`` to the previous one joins its group; a group gives one peak, at its highest
  maximum (the earliest of equal ones). Amplitude = ``s`` at the maximum; charge = sum of ``s`` over
  the maximum +- ``peak_halfwidth`` (clipped to the record).
* **regions**: the pretrace and the ROI are scanned separately. The ROI scan runs on past the ROI end
  by the integration length, so that peaks of a late onset's integration window are counted;
  peaks found there are neither ROI peaks nor stored.
* **onset**: the first ROI peak. The integration window starts ``peak_halfwidth`` before it (so the
  leading edge of the first photoelectron is included) and is ``integration`` samples long;
  ``charge`` = sum of ``s`` in it, ``pe = charge / spe_gain``, ``n_peaks_int`` = ROI-scan peaks in it.
* **rise times**: with ``C(j)`` the charge summed over the first ``j`` samples of the integration window
  (``C(0) = 0``) and ``Q = C(end)``, the time of fraction ``f`` is the first ``j`` with ``C(j) >= f Q``,
  interpolated linearly between ``j - 1`` and ``j``; rise times are 10 % - 0 %, 50 % - 10 % and 90 % - 10 %,
  in ns. They are 0 when ``Q <= 0``.
* **since_saturation_ns**: ROI start minus the last sample before it (anywhere earlier in the record) with
  ``s >= saturation_adc`` (PMT saturation in the pulse direction), -1 if none.
* **overflow**: a rail code (-128 or +127) in the pretrace, the ROI or the integration window.

Speed: one histogram pass over each pretrace; everything else reads a per-record table of the
minimum and maximum of each 64-sample block and only looks at the samples of blocks that can hold
a peak, a saturated or a rail sample. No allocation per record, no prange (one core per process).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from daq import dtypes

BLOCK_SHIFT = 6  # blocks of 64 samples for the min/max pre-selection
BLOCK = 1 << BLOCK_SHIFT
RAIL_LOW = -128
RAIL_HIGH = 127
RISE_FRACTIONS = (0.1, 0.5, 0.9)


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
    spe_threshold_adc: float
    min_separation: int  # [samples]
    halfwidth: int  # [samples]
    integration: int  # [samples]
    saturation_adc: float


_jit = numba.njit(cache=True, nogil=True)


@_jit
def code_extremes(blk: np.ndarray, width: int) -> tuple[int, int]:
    """Minimum and maximum of the first ``width`` raw codes of ``blk`` (vectorised for a constant width)."""
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
    for k in range(n >> BLOCK_SHIFT):  # a constant width: vectorised by LLVM
        lo[k], hi[k] = code_extremes(x[k * BLOCK : (k + 1) * BLOCK], BLOCK)
    if n % BLOCK:
        lo[n >> BLOCK_SHIFT], hi[n >> BLOCK_SHIFT] = code_extremes(x[n - n % BLOCK :], n % BLOCK)


HIST_WAYS = 8  # interleaved histograms break the store-to-load dependency of equal codes


@_jit
def pretrace_histogram(x: np.ndarray, a: int, b: int, hist: np.ndarray) -> int:
    """Histogram of the raw codes of ``x[a:b]`` into ``hist[:256]`` (index = code + 128; ``hist`` is an
    int32 scratch array of ``256 * HIST_WAYS`` entries, overwritten); returns the mode (lowest on ties)."""
    hist[:] = 0
    seg = x[a:b]  # indexing a slice from 0 compiles to a faster loop than x[a + i]
    m = seg.shape[0] // HIST_WAYS
    for k in range(m):
        for j in range(HIST_WAYS):
            hist[(j << 8) + np.int64(seg[HIST_WAYS * k + j]) + 128] += 1
    for i in range(HIST_WAYS * m, seg.shape[0]):
        hist[np.int64(seg[i]) + 128] += 1
    for j in range(1, HIST_WAYS):  # row sums, vectorised
        for v in range(256):
            hist[v] += hist[(j << 8) + v]
    best, mode = -1, 0
    for v in range(256):
        if hist[v] > best:
            best, mode = hist[v], v - 128
    return mode


@_jit
def band_statistics(hist: np.ndarray, mode: int, band: float) -> tuple[float, float, int]:
    """Mean and rms [ADC] and number of the histogrammed samples closer than ``band`` to ``mode``."""
    first = max(0, mode + 128 - math.ceil(band))
    stop = min(256, mode + 128 + math.ceil(band) + 1)
    n, s = 0, 0
    for v in range(first, stop):
        if abs((v - 128) - mode) < band:
            n += hist[v]
            s += np.int64(hist[v]) * (v - 128)
    if n == 0:
        return 0.0, 0.0, 0
    mean = s / n
    var = 0.0
    for v in range(first, stop):
        if abs((v - 128) - mode) < band:
            d = (v - 128) - mean
            var += hist[v] * d * d
    return mean, math.sqrt(var / n), n


@_jit
def exclude_peaks(x: np.ndarray, a: int, b: int, p_index: np.ndarray, k: int, halfwidth: int,
                  hist: np.ndarray) -> None:
    """Remove the samples of ``x[a:b]`` within ``halfwidth`` of the first ``k`` peaks (sorted) from
    ``hist[:256]``, in place (each sample once)."""
    covered = a
    for m in range(k):
        c0 = max(covered, p_index[m] - halfwidth)
        c1 = min(b, p_index[m] + halfwidth + 1)
        for i in range(c0, c1):
            hist[np.int64(x[i]) + 128] -= 1
        covered = max(covered, c1)


@_jit
def peak_charge(x: np.ndarray, p: int, halfwidth: int, polarity: int, baseline: float) -> float:
    """Sum of ``s`` over ``x[p - halfwidth : p + halfwidth + 1]`` (clipped to the record) [ADC*sample]."""
    c0, c1, sx = max(0, p - halfwidth), min(x.shape[0], p + halfwidth + 1), 0
    for m in range(c0, c1):
        sx += np.int64(x[m])
    return polarity * (sx - (c1 - c0) * baseline)


@_jit
def _pulse_extreme(lo: np.ndarray, hi: np.ndarray, k: int, polarity: int) -> int:
    return hi[k] if polarity > 0 else -lo[k]


@_jit
def _next_maximum(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, i: int, end: int, polarity: int,
                  ythr: int, baseline: float, threshold: float) -> tuple[int, int]:
    """First local maximum with ``s >= threshold`` whose rising edge is at or after ``i`` (and before
    ``end``, the last sample of the region); returns (its index or -1, where to continue)."""
    while i < end:
        k = i >> BLOCK_SHIFT
        if _pulse_extreme(lo, hi, k, polarity) < ythr:  # no sample of this block can reach the threshold
            i = (k + 1) << BLOCK_SHIFT
            continue
        stop = min(end, (k + 1) << BLOCK_SHIFT)
        while i < stop:
            yi = polarity * np.int64(x[i])
            if yi >= ythr and polarity * np.int64(x[i - 1]) < yi:
                j = i + 1
                while j < end and x[j] == x[i]:
                    j += 1
                if polarity * np.int64(x[j]) < yi:
                    mid = (i + j - 1) >> 1
                    if polarity * (x[mid] - baseline) >= threshold:
                        return mid, j + 1
                    i = j + 1
                    continue
            i += 1
    return -1, i


@_jit
def find_peaks_region(
    x: np.ndarray, lo: np.ndarray, hi: np.ndarray, a: int, b: int, polarity: int, baseline: float,
    threshold: float, min_separation: int, halfwidth: int,
    p_index: np.ndarray, p_amp: np.ndarray, p_charge: np.ndarray,
) -> int:
    """SPE-like peaks of ``x[a:b]`` (module docstring); writes index, amplitude [ADC], charge [ADC*sample]
    into the scratch arrays ``p_*`` in place and returns their number."""
    ythr = math.floor(threshold + polarity * baseline - 1e-6)  # integer pre-selection, never too strict
    count, have, best, best_y, last, i = 0, False, 0, 0, 0, a + 1
    while True:
        found, i = _next_maximum(x, lo, hi, i, b - 1, polarity, ythr, baseline, threshold)
        if have and (found < 0 or found - last >= min_separation):  # the group is complete
            p_index[count] = best
            p_amp[count] = polarity * (x[best] - baseline)
            p_charge[count] = peak_charge(x, best, halfwidth, polarity, baseline)
            count += 1
            have = False
        if found < 0:
            return count
        y = polarity * np.int64(x[found])
        if not have or y > best_y:
            best, best_y = found, y
        have, last = True, found


@_jit
def any_rail(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, a: int, b: int) -> bool:
    """True if ``x[a:b]`` holds a rail code (-128 or +127)."""
    a, b = max(a, 0), min(b, x.shape[0])
    for k in range(a >> BLOCK_SHIFT, ((b - 1) >> BLOCK_SHIFT) + 1 if a < b else 0):
        if lo[k] == RAIL_LOW or hi[k] == RAIL_HIGH:
            for i in range(max(a, k << BLOCK_SHIFT), min(b, (k + 1) << BLOCK_SHIFT)):
                if x[i] == RAIL_LOW or x[i] == RAIL_HIGH:
                    return True
    return False


@_jit
def last_saturated(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, end: int, polarity: int,
                   baseline: float, saturation: float) -> int:
    """Index of the last sample before ``end`` with ``s >= saturation``, -1 if none."""
    ysat = math.floor(saturation + polarity * baseline - 1e-6)
    if end <= 0:
        return -1
    for k in range((end - 1) >> BLOCK_SHIFT, -1, -1):
        if _pulse_extreme(lo, hi, k, polarity) >= ysat:
            for i in range(min(end, (k + 1) << BLOCK_SHIFT) - 1, (k << BLOCK_SHIFT) - 1, -1):
                if polarity * (x[i] - baseline) >= saturation:
                    return i
    return -1


@_jit
def integrate(x: np.ndarray, a: int, b: int, polarity: int, baseline: float, rise: np.ndarray) -> float:
    """Charge [ADC*sample] of ``x[a:b]``; writes into ``rise`` (in place) the times [samples after ``a``]
    at which the cumulative charge first reaches 10, 50, 90 % of it (all 0 if the charge is not positive)."""
    sx = 0
    for i in range(a, b):
        sx += np.int64(x[i])
    q = polarity * (sx - (b - a) * baseline)
    rise[:] = 0.0
    f, c_prev, cx = 0, 0.0, 0
    for j in range(1, b - a + 1):
        if q <= 0.0 or f == 3:
            break
        cx += np.int64(x[a + j - 1])
        c = polarity * (cx - j * baseline)
        while f < 3 and c >= RISE_FRACTIONS[f] * q:
            rise[f] = (j - 1) + (RISE_FRACTIONS[f] * q - c_prev) / (c - c_prev)
            f += 1
        c_prev = c
    return q


@_jit
def window_features(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, hist: np.ndarray, row: np.ndarray,
                    window: np.ndarray, s: tuple, pre: tuple, roi: tuple, rise: np.ndarray) -> tuple[int, int]:
    """Fill the FEATURES ``row`` (zeroed; in place) of one window ``(pretrace start, stop, ROI start, stop)``
    of record ``x``. ``s`` = (polarity, threshold, min separation, halfwidth, integration, saturation,
    sample_ns, spe_gain); ``pre`` and ``roi`` are the (index, amplitude, charge) scratch arrays that receive
    the pretrace and ROI peaks. Returns their numbers."""
    polarity, threshold, separation, halfwidth, integration, saturation, sample_ns, spe_gain = s
    pt0, pt1, r0, r1 = window[0], window[1], window[2], window[3]
    n = x.shape[0]
    # baseline pass 1: mode band; pretrace peaks against it; pass 2: without the peaks
    mode = pretrace_histogram(x, pt0, pt1, hist)
    base, rms, _ = band_statistics(hist, mode, threshold)
    k_pre = find_peaks_region(x, lo, hi, pt0, pt1, polarity, base, threshold, separation, halfwidth, *pre)
    if k_pre > 0:
        exclude_peaks(x, pt0, pt1, pre[0], k_pre, halfwidth, hist)
        base2, rms2, n_quiet = band_statistics(hist, mode, threshold)
        if n_quiet > 0:
            base, rms = base2, rms2
    q_pre = 0.0
    for m in range(k_pre):
        pre[1][m] = polarity * (x[pre[0][m]] - base)
        pre[2][m] = peak_charge(x, pre[0][m], halfwidth, polarity, base)
        q_pre += pre[2][m]
    row["baseline"], row["baseline_rms"], row["spe_gain"] = base, rms, spe_gain
    row["n_pretrace_peaks"], row["pretrace_charge"] = k_pre, q_pre
    # the ROI scan runs on by the integration length; peaks past the ROI only count in n_peaks_int
    k = find_peaks_region(x, lo, hi, r0, min(n, r1 + integration), polarity, base, threshold, separation,
                          halfwidth, *roi)
    k_roi = 0
    while k_roi < k and roi[0][k_roi] < r1:
        k_roi += 1
    row["n_roi_peaks"] = k_roi
    overflow = any_rail(x, lo, hi, pt0, pt1) or any_rail(x, lo, hi, r0, r1)
    row["onset_ns"] = -1
    if k_roi > 0:
        onset = roi[0][0]
        i0 = max(0, onset - halfwidth)
        i1 = min(n, i0 + integration)
        q = integrate(x, i0, i1, polarity, base, rise)
        n_int = 0
        while n_int < k and roi[0][n_int] < i1:
            n_int += 1
        row["onset_ns"] = round((onset - r0) * sample_ns)
        row["charge"], row["pe"], row["n_peaks_int"] = q, q / spe_gain, n_int
        row["rise_0_10_ns"] = rise[0] * sample_ns
        row["rise_10_50_ns"] = (rise[1] - rise[0]) * sample_ns
        row["rise_10_90_ns"] = (rise[2] - rise[0]) * sample_ns
        overflow = overflow or any_rail(x, lo, hi, i0, i1)
    sat = last_saturated(x, lo, hi, r0, polarity, base, saturation)
    row["since_saturation_ns"] = round((r0 - sat) * sample_ns) if sat >= 0 else -1
    row["overflow"] = overflow
    return k_pre, k_roi


@_jit
def _store_peaks(out: np.ndarray, count: int, r: int, code: int, peaks: tuple, k: int) -> np.ndarray:
    """Append ``k`` peaks as rows (record, code, index, amplitude, charge) of ``out`` at ``count``;
    returns ``out`` or, when full, a larger copy."""
    if count + k > out.shape[0]:
        grown = np.empty((max(2 * out.shape[0], count + k), out.shape[1]))
        grown[:count] = out[:count]
        out = grown
    for m in range(k):
        out[count + m, 0], out[count + m, 1], out[count + m, 2] = r, code, peaks[0][m]
        out[count + m, 3], out[count + m, 4] = peaks[1][m], peaks[2][m]
    return out


@_jit
def _extract_kernel(csi: np.ndarray, trigger_ids: np.ndarray, trigger_times: np.ndarray, windows: np.ndarray,
                    roi_start_ns: np.ndarray, c_roi_start_ns: int, s: tuple, features: np.ndarray,
                    capacity: int) -> tuple[int, np.ndarray]:
    """Fill ``features`` (zeroed, 2 rows per record; in place); return the peaks as (count, rows of
    record index, 2 * window + region, sample index, amplitude, charge)."""
    n_rec, n = csi.shape
    lo = np.empty((n >> BLOCK_SHIFT) + 1, np.int32)
    hi = np.empty((n >> BLOCK_SHIFT) + 1, np.int32)
    hist = np.empty(256 * HIST_WAYS, np.int32)
    rise = np.empty(3)
    size = n // 2 + 2  # local maxima are at least 2 samples apart
    pre = (np.empty(size, np.int64), np.empty(size), np.empty(size))
    roi = (np.empty(size, np.int64), np.empty(size), np.empty(size))
    out = np.empty((capacity, 5))
    count = 0
    for r in range(n_rec):
        x = csi[r]
        block_extremes(x, lo, hi)
        for w in range(2):
            row = features[2 * r + w]
            row["trigger_id"], row["window"] = trigger_ids[r], w
            row["time"] = trigger_times[r] - c_roi_start_ns + roi_start_ns[w]
            k_pre, k_roi = window_features(x, lo, hi, hist, row, windows[w], s, pre, roi, rise)
            out = _store_peaks(out, count, r, 2 * w + dtypes.REGION_PRETRACE, pre, k_pre)
            count += k_pre
            out = _store_peaks(out, count, r, 2 * w + dtypes.REGION_ROI, roi, k_roi)
            count += k_roi
    return count, out


def extract_features(
    csi: np.ndarray, trigger_ids: np.ndarray, trigger_times: np.ndarray, params: FeatureParams,
    spe_gain: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Features of the CsI records ``csi`` (int8, shape (n_records, n_samples)).

    Returns (FEATURES array of length 2 n, trigger by trigger, AC then C; PEAK array of every pretrace
    and ROI peak, record by record, AC pretrace, AC ROI, C pretrace, C ROI, in time order within each).
    ``trigger_times`` [ns] are the digitizer trigger times, which sit at the C ROI start; ``spe_gain``
    [ADC*sample] converts charge to PE. ``veto``, ``cut_mask`` and ``selected`` are left 0 (see
    :mod:`daq.kernels.cuts`). Inputs are not modified.
    """
    csi = np.ascontiguousarray(csi)
    if csi.dtype != np.int8 or csi.ndim != 2 or csi.shape[1] != params.n_samples:
        raise ValueError(f"extract_features: expected int8 records of shape (n, {params.n_samples}), "
                         f"got {csi.dtype} {csi.shape}")
    if not spe_gain > 0:
        raise ValueError(f"extract_features: spe_gain must be positive, got {spe_gain}")
    n = csi.shape[0]
    ids = np.ascontiguousarray(trigger_ids, dtype=np.int64)
    times = np.ascontiguousarray(trigger_times, dtype=np.int64)
    if ids.shape != (n,) or times.shape != (n,):
        raise ValueError("extract_features: trigger_ids and trigger_times need one entry per record")
    features = np.zeros(2 * n, dtypes.FEATURES)
    scalars = (params.polarity, params.spe_threshold_adc, params.min_separation, params.halfwidth,
               params.integration, params.saturation_adc, params.sample_ns, float(spe_gain))
    count, out = _extract_kernel(csi, ids, times, np.asarray(params.windows, dtype=np.int64),
                                 np.asarray(params.roi_start_ns, dtype=np.int64), params.c_roi_start_ns,
                                 scalars, features, 16 * n + 64)
    out = out[:count]
    peaks = np.empty(count, dtypes.PEAK)
    code = out[:, 1].astype(np.int64)
    peaks["trigger_id"] = ids[out[:, 0].astype(np.int64)]
    peaks["window"], peaks["region"] = code >> 1, code & 1
    peaks["time_ns"] = np.round(out[:, 2] * params.sample_ns).astype(np.int64)
    peaks["amplitude"], peaks["charge"] = out[:, 3], out[:, 4]
    return features, peaks
