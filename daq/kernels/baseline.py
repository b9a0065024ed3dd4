"""The CsI baseline of a pretrace: robust level, noise rms and the quiet blocks that measure it.

* **level and rms (pass 1)**: a histogram of every fourth raw code of the pretrace without the two rail codes (a
  clipped muon leaves them behind, never the baseline); its mode, then the mean and rms of the codes
  within ``BAND_RMS`` rms of the mode (the rms iterated twice from a 4-code band). The rms is the
  baseline rms of the window: every threshold of the window is in its units.
* **mean (pass 2)**: the mean of the raw codes of the *quiet* 8-sample blocks of the pretrace: blocks
  whose mean lies within ``BLOCK_RMS`` rms / sqrt(8) of the pass-1 level and that no found peak's
  charge window touches (a symmetric cut about the level, so unbiased for symmetric noise; SPE pulses
  and their tails are left out). The sums over all quiet blocks come first; the peaks' blocks are then
  taken out of them, so leaving out the peaks costs their blocks, not another pass. Its centroid (mean
  sample index of the quiet blocks) is where it holds: the record's baseline is the straight line through
  the two pretraces' (centroid, mean).
* a pretrace with fewer quiet samples than ``min_quiet`` of its length is *clipped* (a muon, a
  saturated stretch) and borrows the other pretrace's baseline.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from daq.kernels.peaks import SUM_BLOCK

BAND_RMS = 4.0
BLOCK_RMS = 3.5
HIST_STEP = 4  # the histogram takes every fourth sample
HIST_WAYS = 8  # interleaved histograms break the store-to-load dependency of equal codes

_jit = numba.njit(cache=True, nogil=True)


@_jit
def pretrace_histogram(x: np.ndarray, a: int, b: int, hist: np.ndarray) -> None:
    """Histogram of every fourth raw code of ``x[a:b]`` into ``hist[:256]`` (index = code + 128; ``hist`` is an int32
    scratch array of ``256 * HIST_WAYS`` entries, overwritten); the rail codes -128 and +127 are left out."""
    hist[:] = 0
    seg = x[a:b]
    m = seg.shape[0] // (HIST_STEP * HIST_WAYS)
    for k in range(m):  # every fourth sample: enough for the level and rms, a quarter of the cost
        for j in range(HIST_WAYS):
            hist[(j << 8) + np.int64(seg[HIST_STEP * (HIST_WAYS * k + j)]) + 128] += 1
    for i in range(HIST_STEP * HIST_WAYS * m, seg.shape[0], HIST_STEP):
        hist[np.int64(seg[i]) + 128] += 1
    for j in range(1, HIST_WAYS):
        for v in range(256):
            hist[v] += hist[(j << 8) + v]
    hist[0] = 0
    hist[255] = 0


@_jit
def band_statistics(hist: np.ndarray, centre: float, band: float) -> tuple[float, float, int]:
    """Mean and rms [ADC] and number of the histogrammed codes within ``band`` of ``centre``."""
    first = max(0, int(math.floor(centre - band)) + 128)
    stop = min(256, int(math.ceil(centre + band)) + 129)
    n, s = 0, 0.0
    for v in range(first, stop):
        if abs((v - 128) - centre) <= band:
            n += hist[v]
            s += hist[v] * (v - 128.0)
    if n == 0:
        return centre, 0.0, 0
    mean = s / n
    var = 0.0
    for v in range(first, stop):
        if abs((v - 128) - centre) <= band:
            d = (v - 128) - mean
            var += hist[v] * d * d
    return mean, math.sqrt(var / n), n


@_jit
def level_and_rms(hist: np.ndarray) -> tuple[float, float, int]:
    """Pass 1: (level, rms, samples in the band) of a pretrace histogram."""
    best, mode = -1, 0
    for v in range(256):
        if hist[v] > best:
            best, mode = hist[v], v - 128
    if best <= 0:
        return 0.0, 0.0, 0
    level, rms, n = band_statistics(hist, float(mode), 4.0)
    for _ in range(2):
        level, rms, n = band_statistics(hist, level, max(1.0, BAND_RMS * rms))
    return level, rms, n


@_jit
def _quiet_band(level: float, rms: float) -> tuple[float, float]:
    """(centre, half-width) [ADC x 8 samples] of the band in which a block sum is quiet."""
    return level * SUM_BLOCK, BLOCK_RMS * max(rms, 0.3) / math.sqrt(SUM_BLOCK) * SUM_BLOCK


@_jit
def quiet_sums(sums: np.ndarray, a: int, b: int, level: float, rms: float, out: np.ndarray) -> None:
    """Pass 2, all blocks: ``out`` = (sum of codes, samples, sum of sample centre x samples) of the quiet blocks
    inside ``x[a:b]`` (in place; exact: every term is an integer or half-integer x 8 far below 2**53)."""
    centre, band = _quiet_band(level, rms)
    total, blocks, index = 0, 0, 0
    for j in range((a + SUM_BLOCK - 1) // SUM_BLOCK, b // SUM_BLOCK):  # branch-free integer sums: vectorised
        sj = sums[j]
        inside = abs(sj - centre) <= band
        total += sj if inside else 0
        blocks += 1 if inside else 0
        index += j if inside else 0
    # the moment: each quiet block adds (8 j + 3.5) x 8 samples
    out[0], out[1] = total, blocks * SUM_BLOCK
    out[2] = SUM_BLOCK * SUM_BLOCK * index + 0.5 * (SUM_BLOCK - 1) * SUM_BLOCK * blocks


@_jit
def leave_out_peaks(sums: np.ndarray, a: int, b: int, level: float, rms: float, index: np.ndarray, k: int,
                    pre: int, post: int, out: np.ndarray) -> None:
    """Pass 2, without the peaks: takes out of the :func:`quiet_sums` ``out`` (in place) the quiet blocks inside
    ``x[a:b]`` that the charge window ``[index - pre, index + post)`` of one of the first ``k`` peaks touches
    (``index`` non-decreasing, as :func:`daq.kernels.peaks.find_peaks` leaves it; each block once)."""
    centre, band = _quiet_band(level, rms)
    j0, j1 = (a + SUM_BLOCK - 1) // SUM_BLOCK, b // SUM_BLOCK
    last = j0 - 1  # blocks up to this one are taken out already
    for m in range(k):
        first = max(last + 1, (index[m] - pre) // SUM_BLOCK)
        stop = min(j1, (index[m] + post - 1) // SUM_BLOCK + 1)
        for j in range(first, stop):
            sj = sums[j]
            if abs(sj - centre) <= band:
                out[0] -= sj
                out[1] -= SUM_BLOCK
                out[2] -= (j * SUM_BLOCK + 0.5 * (SUM_BLOCK - 1)) * SUM_BLOCK
        last = max(last, stop - 1)


@_jit
def quiet_mean(q: np.ndarray, a: int, b: int, level: float) -> tuple[float, float, int]:
    """(mean [ADC], centroid [sample], quiet samples) of the quiet-block sums ``q`` of ``x[a:b]``; no quiet
    block: the level at the window's centre."""
    n = int(q[1])
    if n == 0:
        return level, 0.5 * (a + b - 1), 0
    return q[0] / n, q[2] / n, n
