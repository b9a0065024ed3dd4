"""Plain numpy/scipy implementation of the CsI features of :mod:`daq.kernels.features`.

Written the natural vectorised way (``np.bincount``, ``scipy.signal.find_peaks``, ``np.cumsum``), one
record and one window at a time. It is the yardstick of ``benchmarks/bench_features.py`` and the
cross-check of the numba kernels in the tests; the definitions are those of the :mod:`daq.kernels.features`
docstring, computed with the same floating-point expressions so that most fields agree exactly.
Not used by the DAQ itself.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import find_peaks

from daq import dtypes
from daq.kernels.features import RAIL_HIGH, RAIL_LOW, RISE_FRACTIONS, FeatureParams


def quiet_samples(pretrace: np.ndarray, band: float) -> np.ndarray:
    """Mask of the pretrace samples closer than ``band`` to the most frequent code."""
    codes = pretrace.astype(np.int64)
    mode = np.argmax(np.bincount(codes + 128, minlength=256)) - 128
    return np.abs(codes - mode) < band


def near_peaks(size: int, index: np.ndarray, halfwidth: int) -> np.ndarray:
    """Mask of the samples of a region of ``size`` within ``halfwidth`` of the peaks ``index`` (region-relative)."""
    edges = np.zeros(size + 1, np.int64)
    np.add.at(edges, np.clip(index - halfwidth, 0, size), 1)
    np.add.at(edges, np.clip(index + halfwidth + 1, 0, size), -1)
    return np.cumsum(edges[:-1]) > 0


def peaks_reference(
    x: np.ndarray, cum: np.ndarray, a: int, b: int, baseline: float, params: FeatureParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sample index, amplitude [ADC], charge [ADC*sample]) of the SPE-like peaks of ``x[a:b]``.

    ``cum`` is the cumulative sum of the record with a leading 0 (``cum[j] = x[:j].sum()``).
    """
    pol = params.polarity
    s = pol * (x[a:b].astype(np.float64) - baseline)
    idx, _ = find_peaks(s, height=params.spe_threshold_adc)
    if idx.size == 0:
        empty = np.zeros(0)
        return idx.astype(np.int64), empty, empty
    heights = s[idx]
    idx = idx + a
    group = np.concatenate([[0], np.cumsum(np.diff(idx) >= params.min_separation)])
    order = np.lexsort((idx, -heights, group))  # by group, highest first, earliest first
    _, first = np.unique(group[order], return_index=True)
    best = order[first]
    index = idx[best]
    lo = np.maximum(index - params.halfwidth, 0)
    hi = np.minimum(index + params.halfwidth + 1, x.size)
    charge = pol * ((cum[hi] - cum[lo]) - (hi - lo) * baseline)
    return index, heights[best], charge


def rise_times_reference(cum_window: np.ndarray, pol: int, baseline: float) -> tuple[float, float, float, float]:
    """Charge and the 10, 50, 90 % times [samples] of the cumulative charge (``cum_window[j]`` = raw sum
    of the first ``j`` samples of the integration window)."""
    j = np.arange(cum_window.size)
    c = pol * (cum_window - j * baseline)
    q = c[-1]
    if q <= 0.0:
        return q, 0.0, 0.0, 0.0
    times = []
    for f in RISE_FRACTIONS:
        target = f * q
        k = int(np.argmax(c >= target))
        times.append((k - 1) + (target - c[k - 1]) / (c[k] - c[k - 1]))
    return q, times[0], times[1], times[2]


def has_rail(x: np.ndarray) -> bool:
    """True if ``x`` holds a rail code."""
    return bool(np.any((x == RAIL_LOW) | (x == RAIL_HIGH)))


def extract_features_reference(
    csi: np.ndarray, trigger_ids: np.ndarray, trigger_times: np.ndarray, params: FeatureParams,
    spe_gain: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Same contract and outputs as :func:`daq.kernels.features.extract_features`."""
    n_rec, n = csi.shape
    pol = params.polarity
    features = np.zeros(2 * n_rec, dtypes.FEATURES)
    peak_rows = []
    for r in range(n_rec):
        x = csi[r]
        cum = np.concatenate([[0], np.cumsum(x, dtype=np.int64)])
        for w, (pt0, pt1, r0, r1) in enumerate(params.windows):
            row = features[2 * r + w]
            row["trigger_id"] = trigger_ids[r]
            row["time"] = trigger_times[r] - params.c_roi_start_ns + params.roi_start_ns[w]
            row["window"] = w
            row["spe_gain"] = spe_gain
            quiet = quiet_samples(x[pt0:pt1], params.spe_threshold_adc)
            base = x[pt0:pt1][quiet].mean()
            pre_i, _, _ = peaks_reference(x, cum, pt0, pt1, base, params)
            quiet_2 = quiet & ~near_peaks(pt1 - pt0, pre_i - pt0, params.halfwidth)
            if quiet_2.any():
                quiet = quiet_2
            base, rms = x[pt0:pt1][quiet].mean(), x[pt0:pt1][quiet].std()
            row["baseline"], row["baseline_rms"] = base, rms
            pre_a = pol * (x[pre_i] - base)
            lo = np.maximum(pre_i - params.halfwidth, 0)
            hi = np.minimum(pre_i + params.halfwidth + 1, n)
            pre_q = pol * ((cum[hi] - cum[lo]) - (hi - lo) * base)
            roi_i, roi_a, roi_q = peaks_reference(x, cum, r0, min(n, r1 + params.integration), base, params)
            in_roi = roi_i < r1
            for region, (i, a, q) in enumerate(((pre_i, pre_a, pre_q), (roi_i[in_roi], roi_a[in_roi], roi_q[in_roi]))):
                block = np.zeros(i.size, dtypes.PEAK)
                block["trigger_id"], block["window"], block["region"] = trigger_ids[r], w, region
                block["time_ns"] = np.round(i * params.sample_ns).astype(np.int64)
                block["amplitude"], block["charge"] = a, q
                peak_rows.append(block)
            row["n_pretrace_peaks"] = pre_i.size
            row["pretrace_charge"] = pre_q.sum()
            row["n_roi_peaks"] = np.count_nonzero(in_roi)
            overflow = has_rail(x[pt0:pt1]) or has_rail(x[r0:r1])
            row["onset_ns"] = -1
            if in_roi.any():
                onset = roi_i[0]
                i0 = max(0, onset - params.halfwidth)
                i1 = min(n, i0 + params.integration)
                q, t10, t50, t90 = rise_times_reference(cum[i0 : i1 + 1] - cum[i0], pol, base)
                row["onset_ns"] = round((onset - r0) * params.sample_ns)
                row["charge"], row["pe"] = q, q / spe_gain
                row["n_peaks_int"] = np.count_nonzero(roi_i < i1)
                row["rise_0_10_ns"] = t10 * params.sample_ns
                row["rise_10_50_ns"] = (t50 - t10) * params.sample_ns
                row["rise_10_90_ns"] = (t90 - t10) * params.sample_ns
                overflow = overflow or has_rail(x[i0:i1])
            saturated = np.flatnonzero(pol * (x[:r0] - base) >= params.saturation_adc)
            row["since_saturation_ns"] = round((r0 - saturated[-1]) * params.sample_ns) if saturated.size else -1
            row["overflow"] = overflow
    peaks = np.concatenate(peak_rows) if peak_rows else np.zeros(0, dtypes.PEAK)
    return features, peaks
