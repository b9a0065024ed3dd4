"""SPE-like peaks of a CsI record: a boxcar-filtered signal against a threshold in units of the noise.

Definitions (``s_i = sign * polarity * (x_i - b_i)``, the signal above the baseline ``b_i = b0 + slope *
(i - anchor)``, which follows the record's slope and is fractional, so thresholds act below one ADC code):

* **filter**: ``F_k = sum(s_i, i = k .. k + L - 1)``, a boxcar of ``L`` samples set from the SPE shape
  calibration (the length of best signal to noise for the measured pulse). For white noise of rms
  ``sigma`` its rms is ``sigma * sqrt(L)``; the threshold is ``T = threshold_rms * sigma * sqrt(L)``, plus
  :func:`lattice_margin` (F sums integer codes).
* **pre-selection** (speed): 8-sample block sums of the raw codes; a window of ``P = ceil(L / 8) + 1``
  blocks (every boxcar fits in one) whose excess ``sum(s)`` reaches ``PRESELECT_RMS * sigma * sqrt(8 P)``
  makes the samples from ``L`` before it to ``L`` after it a candidate range; only candidate ranges are
  filtered, and ranges whose boxcar starts touch or overlap are one range. (A pulse the boxcar finds
  almost always lifts its window that far; the tests measure the SPE efficiency.) The scan for the next
  candidate skips a chunk of ``SCAN_CHUNK`` windows in one compare when the chunk's largest (smallest, for the
  inverted signal) excess stays short of the threshold: the same candidates, an eighth of the compares.
  A candidate range in which no boxcar sum can reach ``T`` (an integer running sum against the line's lowest
  point in the range) is passed without the filter: it could hold no peak.
* **peaks**: local maxima of ``F`` with ``F >= T`` (a plateau counts at its first sample). A maximum
  joins the previous peak unless it is at least ``separation`` samples after it or ``F`` rose by at least
  ``split_rms * sigma * sqrt(L)`` from its lowest value since; a joined maximum higher than the peak
  moves the peak to it. A maximum whose boxcar has the same largest sample as the previous peak joins it
  too: it would measure the same charge window again (a noise maximum on the rising edge of a slow pulse's
  boxcar did, for 1.2 % of 20 ns-tail SPEs at 0.5 ADC). Ranges apart are
  otherwise separate peaks.
* per peak: ``start`` = the boxcar start ``k`` of its maximum (the pulse's leading edge), ``index`` = the
  sample of largest ``s`` in ``[k, k + L)``, ``amplitude`` = ``s`` there, ``charge`` = ``sum(s)`` over
  ``[index - pre, index + post)`` (clipped to the record), the SPE charge window of the calibration.

``sign = -1`` finds the peaks of the inverted signal: with symmetric noise, the noise peaks that the
same threshold lets through in the pulse direction (the noise-peak rate of the data quality).
"""

from __future__ import annotations

import math

import numba
import numpy as np

SUM_BLOCK = 8  # samples per pre-selection block sum
# the boxcar sums integer codes, so against a fixed baseline fraction the threshold acts anywhere from half a code
# below T to half a code above; where one code is a large part of the filtered rms (0.65 rms for 7 samples at
# 0.5 ADC rms) the worst fractions let through 1.8x the false peaks of gaussian noise (false afterglow rejection
# 1.1 % for the typical/0.5/+0 preset). lattice_margin raises T by up to half a code, less the more codes the
# filtered rms holds: measured, no fraction then lets through more than gaussian noise does (0.7x at worst)
LATTICE_EXCESS = 2.0
PRESELECT_RMS = 2.5
# chunks of 8 windows, chosen by measurement: with 4 or 16 the whole kernel was 1.04x or 1.14-1.19x slower
# (docs/performance.md, "Chunks of 8 windows")
SCAN_SHIFT = 3
SCAN_CHUNK = 1 << SCAN_SHIFT  # pre-selection windows per chunk bound

_jit = numba.njit(cache=True, nogil=True)
_OFFSET = np.uint64(0x8080808080808080)  # +128 on each byte of a word: int8 codes as unsigned
_LOW8 = np.uint64(0x00FF00FF00FF00FF)
_LOW16 = np.uint64(0x0000FFFF0000FFFF)
_LOW32 = np.uint64(0xFFFFFFFF)


@_jit
def block_sums(x: np.ndarray, out: np.ndarray) -> None:
    """Sums of the raw codes of each 8-sample block of ``x`` into ``out`` (int32, in place; the last,
    partial block sums what there is). A block is one 64-bit word: its bytes, offset by 128 to be unsigned,
    are added pairwise within the word (SIMD within a register), then the offset taken off."""
    n = x.shape[0]
    nb = n // SUM_BLOCK
    words = x[: nb * SUM_BLOCK].view(np.uint64)
    for j in range(nb):  # vectorised over words
        u = words[j] ^ _OFFSET
        u = (u & _LOW8) + ((u >> np.uint64(8)) & _LOW8)  # four 16-bit sums of two bytes
        u = (u & _LOW16) + ((u >> np.uint64(16)) & _LOW16)  # two 32-bit sums of four
        out[j] = np.int32((u & _LOW32) + (u >> np.uint64(32))) - 128 * SUM_BLOCK
    if n % SUM_BLOCK:
        acc = 0
        for i in range(nb * SUM_BLOCK, n):
            acc += np.int32(x[i])
        out[nb] = acc


@_jit
def lattice_margin(sig_f: float, thr_rms: float) -> float:
    """[ADC*sample] added to a threshold T = ``thr_rms`` x ``sig_f`` (the filtered rms) on a sum of integer codes.
    A gaussian tail falls by exp(-T d / sig_f**2) over d above T: with the margin 0.5 - ln(LATTICE_EXCESS)
    sig_f / thr_rms, half a code below T + margin lets through at most LATTICE_EXCESS x the rate at T (0 when
    the filtered rms reaches 3.25 ADC*sample: 1.2 ADC rms with a 7-sample filter)."""
    return max(0.0, 0.5 - math.log(LATTICE_EXCESS) * sig_f / thr_rms)


def preselect_blocks(length: int) -> int:
    """Blocks per pre-selection window for a boxcar of ``length``: every ``length``-window fits in one."""
    return (length + SUM_BLOCK - 1) // SUM_BLOCK + 1


@_jit
def window_excess(sums: np.ndarray, n: int, blocks: int, polarity: int, b0: float, slope: float, anchor: float,
                  acc: np.ndarray, out: np.ndarray, bounds: np.ndarray) -> None:
    """``out[j]`` = signal excess [ADC*sample] of the ``blocks``-block window starting at block ``j``, in the
    pulse direction, over the baseline line (in place; ``acc`` is int32 scratch; windows that run past the
    record end count the blocks there are). ``bounds[0, c]``, ``bounds[1, c]`` = an upper and a lower bound
    on ``out`` over whole chunk ``c`` (windows ``SCAN_CHUNK c`` to ``SCAN_CHUNK (c + 1) - 1``; shape (2, at
    least the whole chunks))."""
    nb = (n + SUM_BLOCK - 1) // SUM_BLOCK
    acc[:nb] = 0
    for m in range(blocks):  # shifted adds: each inner loop vectorises
        for j in range(nb - m):
            acc[j] += sums[j + m]
    span = SUM_BLOCK * blocks
    full = max(0, min(nb, (n - span) // SUM_BLOCK + 1))  # windows wholly inside the record
    c0 = b0 + slope * (0.5 * (span - 1) - anchor)
    dc = slope * SUM_BLOCK
    for j in range(full):
        out[j] = polarity * (acc[j] - span * (c0 + dc * j))
    for j in range(full, nb):
        w1 = min(n, j * SUM_BLOCK + span)
        centre = 0.5 * (j * SUM_BLOCK + w1 - 1)
        out[j] = polarity * (acc[j] - (w1 - j * SUM_BLOCK) * (b0 + slope * (centre - anchor)))
    _chunk_bounds(acc, nb // SCAN_CHUNK, full, polarity, span, c0, dc, bounds)


@_jit
def _chunk_bounds(acc: np.ndarray, chunks: int, full: int, polarity: int, span: int, c0: float, dc: float,
                  bounds: np.ndarray) -> None:
    """Bounds on the excess of each whole chunk into ``bounds``: the integer extremes of the window sums ``acc``
    (vectorised) against the line's ends over the chunk, widened by a hair against rounding; a chunk that holds
    a window running past the record end gets no bound (+-inf)."""
    for c in range(chunks):
        j0 = c * SCAN_CHUNK
        if j0 + SCAN_CHUNK > full:
            bounds[0, c], bounds[1, c] = math.inf, -math.inf
            continue
        hi, lo = acc[j0], acc[j0]
        for i in range(1, SCAN_CHUNK):
            v = acc[j0 + i]
            hi = v if v > hi else hi
            lo = v if v < lo else lo
        l0, l1 = span * (c0 + dc * j0), span * (c0 + dc * (j0 + SCAN_CHUNK - 1))
        lmin, lmax = min(l0, l1), max(l0, l1)
        hair = 1e-9 * (abs(lmax) + abs(hi) + abs(lo) + 1.0)
        if polarity > 0:
            bounds[0, c], bounds[1, c] = hi - lmin + hair, lo - lmax - hair
        else:
            bounds[0, c], bounds[1, c] = lmax - lo + hair, lmin - hi - hair


@_jit
def _next_candidate(excess: np.ndarray, bounds: np.ndarray, j: int, j_end: int, sign: int, thr: float) -> int:
    """The first window ``j' >= j`` up to ``j_end`` whose ``sign * excess`` reaches ``sign * thr`` (``j_end + 1``
    if none); whole chunks whose bound stays short are passed in one compare."""
    s_thr = sign * thr
    row = 0 if sign > 0 else 1
    while j <= j_end and j & (SCAN_CHUNK - 1):  # j >= 0: bit operations, not Python's signed % and //
        if sign * excess[j] >= s_thr:
            return j
        j += 1
    while j + SCAN_CHUNK - 1 <= j_end and sign * bounds[row, j >> SCAN_SHIFT] < s_thr:
        j += SCAN_CHUNK
    while j <= j_end:
        if sign * excess[j] >= s_thr:
            return j
        j += 1
    return j


@_jit
def find_peaks(x: np.ndarray, excess: np.ndarray, bounds: np.ndarray, a: int, e: int, polarity: int, sign: int,
               b0: float, slope: float, anchor: float, sigma: float, shape: tuple, out: tuple, first: int) -> int:
    """Peaks of ``x[a:e]`` (module docstring) appended to the scratch arrays ``out`` = (start, index,
    amplitude, charge) from position ``first`` (in place); returns the new count.

    ``excess``, ``bounds`` = :func:`window_excess` of the record; ``sign`` = +1 for pulses, -1 for the inverted signal;
    ``shape`` = (L, pre, post, separation, threshold_rms, split_rms).
    """
    L, pre, post, sep, thr_rms, split_rms = shape
    n = x.shape[0]
    e = min(e, n)
    a = max(a, 0)
    count = first
    if e - a < L or sigma <= 0:
        return count
    pol = polarity * sign
    blocks = (L + SUM_BLOCK - 1) // SUM_BLOCK + 1
    span = SUM_BLOCK * blocks
    sig_f = sigma * math.sqrt(L)
    thr = thr_rms * sig_f + lattice_margin(sig_f, thr_rms)
    rise_split = split_rms * sig_f
    pre_thr = sign * PRESELECT_RMS * sigma * math.sqrt(span)
    have = False
    last_k, last_f, valley = -1, 0.0, 0.0
    j = a // SUM_BLOCK
    j_end = (e - 1) // SUM_BLOCK
    done = a  # the filter has been evaluated for boxcar starts below this
    while j <= j_end:
        j = _next_candidate(excess, bounds, j, j_end, sign, pre_thr)
        if j > j_end:
            break
        u = max(a, j * SUM_BLOCK - L, done)
        v = min(e, j * SUM_BLOCK + span + L)
        j += 1
        while j <= j_end and j * SUM_BLOCK - L <= v - L + 1:  # one range while the boxcar starts stay contiguous
            if sign * excess[j] >= sign * pre_thr:
                v = min(e, j * SUM_BLOCK + span + L)
            j += 1
        if u > done:  # a gap since the last range: F was low there, a new peak whatever the distance
            valley = -1e30
        if v - u < L:
            done = max(done, v - L + 1)
            continue
        half = 0.5 * (L - 1)
        lb, ls = L * (b0 + slope * (half - anchor)), L * slope  # the line summed over the boxcar at k: lb + ls k
        if not _may_reach(x, u, v, L, pol, lb + ls * u, lb + ls * (v - L), thr):
            done = v - L + 1  # no maximum here: the range leaves no trace (the next range follows a gap)
            continue
        acc = 0
        for i in range(u, u + L):
            acc += np.int64(x[i])
        f_k = pol * (acc - (lb + ls * u))
        prev = -1e30
        for k in range(u, v - L + 1):
            if k > u:  # the line per k, not a running sum: no float chain from one k to the next
                acc += np.int64(x[k + L - 1]) - np.int64(x[k - 1])
                prev = f_k
                f_k = pol * (acc - (lb + ls * k))
            if f_k < valley:
                valley = f_k
            if f_k < thr or f_k <= prev:
                continue
            if k + 1 <= v - L:  # a maximum only if F does not rise further at k + 1
                nxt = pol * (acc + np.int64(x[k + L]) - np.int64(x[k]) - (lb + ls * (k + 1)))
                if nxt > f_k:
                    continue
            joined = have and k - last_k < sep and f_k - valley < rise_split
            if have and not joined:  # a boxcar whose largest sample is the last peak's measures that pulse again
                joined = _largest_sample(x, k, L, pol, b0, slope, anchor) == out[1][count - 1]
            if joined:
                if f_k > last_f:  # the peak moves to the higher maximum
                    last_k, last_f = k, f_k
                    _set_peak(x, out, count - 1, k, L, pre, post, pol, b0, slope, anchor)
                valley = f_k
                continue
            _set_peak(x, out, count, k, L, pre, post, pol, b0, slope, anchor)
            count += 1
            have, last_k, last_f, valley = True, k, f_k, f_k
        done = v - L + 1
    return count


@_jit
def _may_reach(x: np.ndarray, u: int, v: int, L: int, pol: int, line_u: float, line_v: float, thr: float) -> bool:
    """False if no boxcar starting in ``[u, v - L]`` can reach ``thr``: the largest ``pol`` x boxcar sum of the raw
    codes (an integer running sum, no float chain) against the lowest ``pol`` x line sum of the range's ends
    (``line_u``, ``line_v``; the line is straight), with a hair for rounding."""
    acc = 0
    for i in range(u, u + L):
        acc += np.int64(x[i])
    top = pol * acc
    for k in range(u + 1, v - L + 1):
        acc += np.int64(x[k + L - 1]) - np.int64(x[k - 1])
        top = max(top, pol * acc)
    low = min(pol * line_u, pol * line_v)
    return top - low + 1e-6 * (1.0 + abs(low)) >= thr


@_jit
def _largest_sample(x: np.ndarray, k: int, L: int, pol: int, b0: float, slope: float, anchor: float) -> int:
    """The sample of largest signal in the boxcar ``[k, k + L)`` (the first on a tie)."""
    best, best_s = k, -1e30
    for i in range(k, min(x.shape[0], k + L)):
        s = pol * (x[i] - (b0 + slope * (i - anchor)))
        if s > best_s:
            best, best_s = i, s
    return best


@_jit
def _set_peak(x: np.ndarray, out: tuple, m: int, k: int, L: int, pre: int, post: int, pol: int, b0: float,
              slope: float, anchor: float) -> None:
    n = x.shape[0]
    best = _largest_sample(x, k, L, pol, b0, slope, anchor)
    best_s = pol * (x[best] - (b0 + slope * (best - anchor)))
    c0, c1 = max(0, best - pre), min(n, best + post)
    sx = 0
    for i in range(c0, c1):
        sx += np.int64(x[i])
    out[0][m], out[1][m], out[2][m] = k, best, best_s
    out[3][m] = pol * (sx - (c1 - c0) * (b0 + slope * (0.5 * (c0 + c1 - 1) - anchor)))
