"""Plain numpy/scipy implementation of the CsI features of :mod:`daq.kernels.features` (issue 13 definitions).

Written for clarity, one record and one window at a time, from the definitions in the module docstrings of
:mod:`daq.kernels.features`, :mod:`daq.kernels.baseline` and :mod:`daq.kernels.peaks` (docs/reconstruction.md
says them in words): ``np.bincount`` histograms, block sums by ``reshape``, the boxcar filter from
cumulative sums, the pre-selection's candidate ranges by ``scipy.ndimage.label``, local maxima as boolean
masks; only the joining of nearby maxima is a loop. It calls none of the numba kernels. It is the
yardstick of ``benchmarks/bench_features.py`` and the cross-check of the kernels in
``tests/kernels/test_features_properties.py``; floating-point expressions follow the definitions' formulas,
so most fields agree with the kernels exactly and the rest (sums taken in another order) to rounding.
Not used by the DAQ itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import find_objects, label

from daq import dtypes
from daq.kernels.baseline import BAND_RMS, BLOCK_RMS, HIST_STEP
from daq.kernels.features import RAIL_HIGH, RAIL_LOW, RISE_FRACTIONS, FeatureParams, SpeWindow
from daq.kernels.peaks import PRESELECT_RMS, SUM_BLOCK, lattice_margin

FIRST_BAND = 4.0  # [codes] the band about the histogram mode of the first level/rms estimate
MIN_BLOCK_RMS = 0.3  # [ADC] floor of the rms in the quiet-block band
MIN_SIGMA = 1e-3  # [ADC] floor of the rms in the peak thresholds
CODES = np.arange(256) - 128


@dataclass(frozen=True)
class Line:
    """The record's baseline ``b_i = b0 + slope * (i - anchor)`` [ADC] as seen by one window."""

    b0: float
    slope: float
    anchor: float

    def at(self, i: np.ndarray) -> np.ndarray:
        return self.b0 + self.slope * (i - self.anchor)


@dataclass
class Peaks:
    """Peaks of one search: boxcar start, maximum sample, amplitude [ADC], charge [ADC*sample]."""

    start: np.ndarray
    index: np.ndarray
    amplitude: np.ndarray
    charge: np.ndarray

    @classmethod
    def empty(cls) -> Peaks:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0))


# --- baseline -------------------------------------------------------------------------------------------


def band_statistics(hist: np.ndarray, centre: float, band: float) -> tuple[float, float]:
    """Mean and rms of the histogrammed codes within ``band`` of ``centre`` (``centre``, 0 if none)."""
    inside = np.abs(CODES - centre) <= band
    h, codes = hist[inside], CODES[inside].astype(np.float64)
    n = h.sum()
    if n == 0:
        return centre, 0.0
    mean = (h * codes).sum() / n
    return mean, math.sqrt((h * (codes - mean) ** 2).sum() / n)


def level_and_rms(pretrace: np.ndarray) -> tuple[float, float]:
    """Pass 1: histogram of every fourth code without the rails; its mode, then mean and rms within
    ``BAND_RMS`` rms (twice)."""
    hist = np.bincount(pretrace[::HIST_STEP].astype(np.int64) + 128, minlength=256)
    hist[0] = hist[255] = 0  # the rail codes -128, +127
    if hist.max() <= 0:
        return 0.0, 0.0
    level, rms = band_statistics(hist, float(np.argmax(hist) - 128), FIRST_BAND)
    for _ in range(2):
        level, rms = band_statistics(hist, level, max(1.0, BAND_RMS * rms))
    return level, rms


def block_sums(x: np.ndarray) -> np.ndarray:
    """Sum of the raw codes of each 8-sample block (the last, partial block sums what there is)."""
    n = x.size
    full = x[: n - n % SUM_BLOCK].astype(np.int64).reshape(-1, SUM_BLOCK).sum(axis=1)
    return np.append(full, x[n - n % SUM_BLOCK :].astype(np.int64).sum()) if n % SUM_BLOCK else full


def quiet_mean(sums: np.ndarray, a: int, b: int, level: float, rms: float, peak_index: np.ndarray, win: SpeWindow
               ) -> tuple[float, float, int]:
    """Pass 2: (mean, centroid, quiet samples) of the 8-sample blocks inside ``[a, b)`` whose mean lies within
    ``BLOCK_RMS`` rms / sqrt(8) of ``level`` and that no peak's charge window ``[index - pre, index + post)``
    touches."""
    j = np.arange((a + SUM_BLOCK - 1) // SUM_BLOCK, b // SUM_BLOCK)
    band = BLOCK_RMS * max(rms, MIN_BLOCK_RMS) / math.sqrt(SUM_BLOCK) * SUM_BLOCK
    quiet = np.abs(sums[j] - level * SUM_BLOCK) <= band
    lo = j * SUM_BLOCK
    for i in peak_index:
        quiet &= ~((i - win.pre < lo + SUM_BLOCK) & (i + win.post > lo))
    n = SUM_BLOCK * np.count_nonzero(quiet)
    if n == 0:
        return level, 0.5 * (a + b - 1), 0
    centres = lo[quiet] + 0.5 * (SUM_BLOCK - 1)
    return sums[j[quiet]].sum() / n, (centres * SUM_BLOCK).sum() / n, n


def baseline_lines(mean, centroid, quiet, level, windows, min_quiet: float, fallback: float
                   ) -> tuple[list[Line], float]:
    """Each window's view of the line through the two pretraces' (centroid, mean), and its slope; a clipped
    pretrace (quiet fraction below ``min_quiet``) takes the other's mean with slope 0, both clipped: the
    fallback (NaN: the histogram level)."""
    ok = [quiet[p] >= min_quiet * (windows[p][1] - windows[p][0]) for p in range(2)]
    slope = 0.0
    if ok[0] and ok[1] and centroid[1] != centroid[0]:
        slope = (mean[1] - mean[0]) / (centroid[1] - centroid[0])
    lines = []
    for p in range(2):
        if ok[p] or ok[1 - p]:
            src = p if ok[p] else 1 - p
            lines.append(Line(mean[src], slope, centroid[src]))
        else:
            lines.append(Line(fallback if fallback == fallback else level[p], slope, 0.0))
    return lines, slope


# --- peaks ----------------------------------------------------------------------------------------------


def window_excess(sums: np.ndarray, n: int, blocks: int, polarity: int, line: Line) -> np.ndarray:
    """Signal excess [ADC*sample] of each ``blocks``-block window (starting at block ``j``) over the line,
    in the pulse direction; windows past the record end count the samples there are."""
    total = np.cumsum(sums)
    padded = np.concatenate([[0], total, np.full(blocks, total[-1])])
    j = np.arange(sums.size)
    raw = padded[j + blocks] - padded[j]
    count = np.minimum(n, j * SUM_BLOCK + SUM_BLOCK * blocks) - j * SUM_BLOCK
    centre = j * SUM_BLOCK + 0.5 * (count - 1)
    return polarity * (raw - count * line.at(centre))


def candidate_starts(excess: np.ndarray, a: int, e: int, sign: int, sigma: float, win: SpeWindow) -> np.ndarray:
    """Mask over boxcar starts ``k`` in ``[a, e - L]``: those the pre-selection lets the filter evaluate
    (within ``L`` samples before to ``L`` after a block window with ``sign * excess >= PRESELECT_RMS sigma
    sqrt(8 P)``)."""
    L = win.length
    span = SUM_BLOCK * ((L + SUM_BLOCK - 1) // SUM_BLOCK + 1)
    j = np.arange(a // SUM_BLOCK, (e - 1) // SUM_BLOCK + 1)
    passing = j[sign * excess[j] >= PRESELECT_RMS * sigma * math.sqrt(span)]
    edges = np.zeros(e - a + 2, np.int64)  # coverage of k - a by [8j - L, 8j + span] clipped to [a, e - L]
    first = np.clip(passing * SUM_BLOCK - L, a, e - L + 1) - a
    last = np.clip(np.minimum(e, passing * SUM_BLOCK + span + L) - L + 1, a, e - L + 1) - a
    np.add.at(edges, first, 1)
    np.add.at(edges, last, -1)
    return np.cumsum(edges)[: e - L + 1 - a] > 0


def set_peak(x: np.ndarray, cum: np.ndarray, k: int, pol: int, line: Line, win: SpeWindow) -> tuple:
    """(start, index, amplitude, charge) of a peak whose boxcar starts at ``k``."""
    n = x.size
    i = np.arange(k, min(n, k + win.length))
    s = pol * (x[i] - line.at(i))
    best = int(i[np.argmax(s)])
    c0, c1 = max(0, best - win.pre), min(n, best + win.post)
    charge = pol * ((cum[c1] - cum[c0]) - (c1 - c0) * (line.b0 + line.slope * (0.5 * (c0 + c1 - 1) - line.anchor)))
    return k, best, float(s[best - k]), float(charge)


def find_peaks(x: np.ndarray, cum: np.ndarray, excess: np.ndarray, a: int, e: int, polarity: int, sign: int,
               line: Line, sigma: float, win: SpeWindow, threshold_rms: float, split_rms: float) -> Peaks:
    """SPE-like peaks of ``x[a:e]`` (``sign`` -1: of the inverted signal), :mod:`daq.kernels.peaks`."""
    L = win.length
    e, a = min(e, x.size), max(a, 0)
    if e - a < L or sigma <= 0:
        return Peaks.empty()
    pol = polarity * sign
    sig_f = sigma * math.sqrt(L)
    thr = threshold_rms * sig_f + lattice_margin(sig_f, threshold_rms)  # the sum is of integer codes
    split = split_rms * sigma * math.sqrt(L)
    runs, _ = label(candidate_starts(excess, a, e, sign, sigma, win))  # the contiguous candidate ranges
    rows: list[tuple] = []
    last_k, last_f = -1, 0.0
    for (run,) in find_objects(runs):
        k = a + np.arange(run.start, run.stop)
        f = pol * ((cum[k + L] - cum[k]) - L * line.at(k + 0.5 * (L - 1)))
        prev = np.concatenate([[-np.inf], f[:-1]])
        nxt = np.concatenate([f[1:], [-np.inf]])
        maxima = np.flatnonzero((f >= thr) & (f > prev) & (nxt <= f))  # a plateau at its first sample
        event = None  # position in this range of the last maximum taken; none yet: a new peak whatever
        for m in maxima:
            valley = f[event + 1 : m + 1].min() if event is not None else -np.inf
            row = set_peak(x, cum, int(k[m]), pol, line, win)
            joined = rows and k[m] - last_k < win.separation and f[m] - valley < split
            if rows and row[1] == rows[-1][1]:  # the same largest sample: the same pulse measured again
                joined = True
            if joined:
                if f[m] > last_f:  # the peak moves to the higher maximum
                    rows[-1] = row
                    last_k, last_f = int(k[m]), f[m]
            else:
                rows.append(row)
                last_k, last_f = int(k[m]), f[m]
            event = m
    if not rows:
        return Peaks.empty()
    start, index, amplitude, charge = (np.array(c) for c in zip(*rows, strict=True))
    return Peaks(start.astype(np.int64), index.astype(np.int64), amplitude.astype(float), charge.astype(float))


# --- window features ------------------------------------------------------------------------------------


def onset_peak(start: np.ndarray, charge: np.ndarray, r0: int, r1: int, p: FeatureParams, gain: float) -> int:
    """Index of the first peak that starts a scintillation-like train (or holds ``onset_single_pe`` PE),
    scanning from the lookback; -1 if none before the ROI end or if that peak starts before the ROI."""
    for i in range(start.size):
        if start[i] >= r1:
            return -1
        ok = charge[i] >= p.onset_single_pe * gain
        if not ok and i + 1 < start.size and start[i + 1] - start[i] <= p.onset_gap:
            ok = np.count_nonzero(start[i:] < start[i] + p.onset_train) >= p.onset_train_peaks
        if ok:
            return i if start[i] >= r0 else -1
    return -1


def integrate(x: np.ndarray, a: int, b: int, pol: int, line: Line) -> tuple[float, np.ndarray]:
    """Charge of ``x[a:b]`` over the line and the times [samples after ``a``] where its cumulative charge
    first reaches 10, 50, 90 % (linear interpolation; 0 when the charge is not positive)."""
    i = np.arange(a, b)
    q = pol * (x[a:b].astype(np.int64).sum() - (b - a) * (line.b0 + line.slope * (0.5 * (a + b - 1) - line.anchor)))
    times = np.zeros(3)
    if q <= 0.0:
        return q, times
    c = np.concatenate([[0.0], np.cumsum(pol * (x[a:b] - line.at(i)))])
    for f, frac in enumerate(RISE_FRACTIONS):
        reached = np.flatnonzero(c[1:] >= frac * q)
        if reached.size:
            j = reached[0] + 1
            times[f] = (j - 1) + (frac * q - c[j - 1]) / (c[j] - c[j - 1])
    return q, times


def last_saturated(x: np.ndarray, end: int, p: FeatureParams, line: Line) -> int:
    """Last sample before ``end`` at the rail in the pulse direction or on a clipped top (``clip_samples``
    equal codes ending there, ``saturation_adc`` or more over the baseline line); -1 if none."""
    if end <= 0:
        return -1
    seg = x[:end]
    rail = RAIL_LOW if p.polarity < 0 else RAIL_HIGH
    high = p.polarity * (seg - line.at(np.arange(end))) >= p.saturation_adc
    flat = np.zeros(end, bool)
    c = p.clip_samples
    if end >= c:
        same = np.ones(end - c + 1, bool)
        for d in range(1, c):
            same &= seg[c - 1 - d : end - d] == seg[c - 1 :]
        flat[c - 1 :] = same
    hits = np.flatnonzero((seg == rail) | (high & flat))
    return int(hits[-1]) if hits.size else -1


def has_rail(x: np.ndarray) -> bool:
    return bool(np.any((x == RAIL_LOW) | (x == RAIL_HIGH)))


def peak_rows(trigger_id: int, window: int, region: int, peaks: Peaks, sample_ns: float) -> np.ndarray:
    rows = np.zeros(peaks.start.size, dtypes.PEAK)
    rows["trigger_id"], rows["window"], rows["region"] = trigger_id, window, region
    rows["time_ns"] = np.round(peaks.index * sample_ns).astype(np.int64)
    rows["amplitude"], rows["charge"] = peaks.amplitude, peaks.charge
    return rows


def extract_features_reference(
    csi: np.ndarray, trigger_ids: np.ndarray, trigger_times: np.ndarray, params: FeatureParams,
    spe_gain: float, window: SpeWindow | None = None, fallback_baseline: float = float("nan"),
) -> tuple[np.ndarray, np.ndarray]:
    """Same contract and outputs as :func:`daq.kernels.features.extract_features`."""
    p, win = params, params.initial_window if window is None else window
    csi = np.asarray(csi)
    if csi.dtype != np.int8 or csi.ndim != 2 or csi.shape[1] != p.n_samples:
        raise ValueError(f"extract_features_reference: expected int8 records of shape (n, {p.n_samples})")
    n_rec, n = csi.shape
    pol, wins = p.polarity, p.windows
    blocks = (win.length + SUM_BLOCK - 1) // SUM_BLOCK + 1
    features = np.zeros(2 * n_rec, dtypes.FEATURES)
    out = []
    for r in range(n_rec):
        x = csi[r]
        cum = np.concatenate([[0], np.cumsum(x, dtype=np.int64)])
        sums = block_sums(x)
        stats = [level_and_rms(x[pt0:pt1]) for pt0, pt1, _, _ in wins]
        level, rms = [s[0] for s in stats], [s[1] for s in stats]
        sigma = [max(s, MIN_SIGMA) for s in rms]
        q1 = [quiet_mean(sums, w[0], w[1], level[i], rms[i], np.zeros(0, np.int64), win) for i, w in enumerate(wins)]
        lines, slope = baseline_lines(*zip(*q1, strict=True), level, wins, p.min_quiet, fallback_baseline)
        excess = window_excess(sums, n, blocks, pol, lines[0])  # the pre-selection, against the pass-1 line
        pre = [find_peaks(x, cum, excess, w[0], w[1], pol, 1, lines[i], sigma[i], win, p.threshold_rms, p.split_rms)
               for i, w in enumerate(wins)]
        q2 = [quiet_mean(sums, w[0], w[1], level[i], rms[i], pre[i].index, win) if pre[i].index.size else q1[i]
              for i, w in enumerate(wins)]
        lines, slope = baseline_lines(*zip(*q2, strict=True), level, wins, p.min_quiet, fallback_baseline)
        for w, (pt0, pt1, r0, r1) in enumerate(wins):
            row, line = features[2 * r + w], lines[w]
            row["trigger_id"], row["window"] = trigger_ids[r], w
            row["time"] = trigger_times[r] - p.c_roi_start_ns + p.roi_start_ns[w]
            pk = [set_peak(x, cum, int(k), pol, line, win) for k in pre[w].start]  # against the final line
            pretrace = Peaks(pre[w].start, *(np.array([t[c] for t in pk]) for c in (1, 2, 3))) if pk else pre[w]
            noise = find_peaks(x, cum, excess, pt0, pt1, pol, -1, line, sigma[w], win, p.threshold_rms, p.split_rms)
            row["baseline"] = line.b0 + slope * (0.5 * (pt0 + pt1 - 1) - line.anchor)
            row["baseline_rms"], row["spe_gain"] = rms[w], spe_gain
            row["baseline_slope"] = slope * 1000.0 / p.sample_ns
            row["baseline_quiet"] = q2[w][2] / (pt1 - pt0)
            row["n_pretrace_peaks"], row["n_noise_peaks"] = pretrace.start.size, noise.start.size
            row["pretrace_charge"] = pretrace.charge.sum()
            scan = find_peaks(x, cum, excess, r0 - p.onset_lookback, min(n, r1 + p.integration), pol, 1, line,
                              sigma[w], win, p.threshold_rms, p.split_rms)
            in_roi = (scan.start >= r0) & (scan.start < r1)
            row["n_roi_peaks"] = np.count_nonzero(in_roi)
            overflow = has_rail(x[pt0:pt1]) or has_rail(x[r0:r1])
            row["onset_ns"] = -1
            i_on = onset_peak(scan.start, scan.charge, r0, r1, p, spe_gain)
            if i_on >= 0:
                i0 = max(0, int(scan.index[i_on]) - win.pre)
                i1 = min(n, i0 + p.integration)
                q, rise = integrate(x, i0, i1, pol, line)
                best = int(scan.index[i_on])
                sig = np.concatenate([[0.0], pol * (x - line.at(np.arange(n))), [0.0]])  # zero outside the record
                sum3 = sig[:-2] + sig[1:-1] + sig[2:]  # sum3[i]: samples i-1..i+1
                back = np.arange(best - 1, max(0, best - win.length) - 1, -1)  # the samples before the maximum
                below = np.flatnonzero(sum3[back] < 0.5 * sum3[best])
                edge = best - (below[0] if below.size else back.size)  # at half the maximum's sum from there on
                row["onset_ns"] = round((max(r0, edge) - r0) * p.sample_ns)
                row["charge"], row["pe"] = q, q / spe_gain
                row["n_peaks_int"] = np.count_nonzero((scan.index >= i0) & (scan.index < i1))
                row["rise_0_10_ns"] = rise[0] * p.sample_ns
                row["rise_10_50_ns"] = (rise[1] - rise[0]) * p.sample_ns
                row["rise_10_90_ns"] = (rise[2] - rise[0]) * p.sample_ns
                overflow = overflow or has_rail(x[i0:i1])
            sat = last_saturated(x, r0, p, line)
            row["since_saturation_ns"] = round((r0 - sat) * p.sample_ns) if sat >= 0 else -1
            row["overflow"] = overflow
            roi = Peaks(scan.start[in_roi], scan.index[in_roi], scan.amplitude[in_roi], scan.charge[in_roi])
            for region, peaks in ((dtypes.REGION_PRETRACE, pretrace), (dtypes.REGION_ROI, roi),
                                  (dtypes.REGION_NOISE, noise)):
                out.append(peak_rows(trigger_ids[r], w, region, peaks, p.sample_ns))
    return features, (np.concatenate(out) if out else np.zeros(0, dtypes.PEAK))
