"""Muon-veto hits: a numba kernel over the raw int8 records of the veto channel.

With ``s = polarity * (x - baseline)`` (ADC above the baseline, the mean of the first ``baseline_samples``
samples of the record), a hit is an upward crossing of the threshold: ``s[i - 1] < threshold <= s[i]``
(sample 0 is never a hit). A crossing less than ``deadtime_samples`` after the previous hit of the record
is not a new hit. The hit amplitude is the largest ``s`` from the crossing until ``s`` falls below the
threshold again (or the record ends).

Speed: 64-sample blocks whose extreme code cannot reach the threshold are skipped after one vectorised
min/max, so a quiet veto record costs little more than reading it.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from daq import dtypes
from daq.kernels.features import BLOCK, code_extremes

_jit = numba.njit(cache=True, nogil=True)


@_jit
def record_hits(x: np.ndarray, polarity: int, threshold: float, deadtime: int, baseline_samples: int,
                h_index: np.ndarray, h_amp: np.ndarray) -> int:
    """Hits of one veto record (module docstring): writes sample index and amplitude [ADC] into the
    scratch arrays ``h_index``, ``h_amp`` (at least ``len(x) // 2 + 1`` long) in place; returns their number."""
    n = x.shape[0]
    nb = min(max(baseline_samples, 1), n)
    sx = 0
    for i in range(nb):
        sx += np.int64(x[i])
    base = sx / nb
    ythr = math.floor(threshold + polarity * base - 1e-6)  # integer pre-selection, never too strict
    count = 0
    last = -deadtime - 1
    i = 1
    while i < n:
        if i % BLOCK == 0 and i + BLOCK <= n:  # skip a block in which no sample reaches the threshold
            mn, mx = code_extremes(x[i : i + BLOCK], BLOCK)
            if (mx if polarity > 0 else -np.int64(mn)) < ythr:
                i += BLOCK
                continue
        if polarity * np.int64(x[i]) < ythr or i - last < deadtime:
            i += 1
            continue
        s = polarity * (x[i] - base)
        if s < threshold or polarity * (x[i - 1] - base) >= threshold:
            i += 1
            continue
        amp = s
        j = i + 1
        while j < n:
            sj = polarity * (x[j] - base)
            if sj < threshold:
                break
            amp = max(amp, sj)
            j += 1
        h_index[count] = i
        h_amp[count] = amp
        count += 1
        last = i
        i = j  # s[j] is below the threshold (or j == n): the next crossing comes after j
    return count


@_jit
def _veto_kernel(veto: np.ndarray, polarity: int, threshold: float, deadtime: int, baseline_samples: int,
                 capacity: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Hits of all records as (count, record index, sample index, amplitude [ADC]) arrays."""
    n_rec, n = veto.shape
    h_index = np.empty(n // 2 + 1, np.int64)
    h_amp = np.empty(n // 2 + 1, np.float64)
    o_rec = np.empty(capacity, np.int64)
    o_index = np.empty(capacity, np.int64)
    o_amp = np.empty(capacity, np.float32)
    count = 0
    for r in range(n_rec):
        k = record_hits(veto[r], polarity, threshold, deadtime, baseline_samples, h_index, h_amp)
        if count + k > o_rec.shape[0]:
            size = max(2 * o_rec.shape[0], count + k)
            o_rec = _grown(o_rec, size)
            o_index = _grown(o_index, size)
            o_amp = _grown(o_amp, size)
        for m in range(k):
            o_rec[count] = r
            o_index[count] = h_index[m]
            o_amp[count] = h_amp[m]
            count += 1
    return count, o_rec, o_index, o_amp


@_jit
def _grown(a: np.ndarray, size: int) -> np.ndarray:
    out = np.empty(size, a.dtype)
    out[: a.shape[0]] = a
    return out


def find_veto_hits(
    veto: np.ndarray, trigger_ids: np.ndarray, polarity: int, threshold_adc: float, deadtime_samples: int,
    baseline_samples: int, sample_ns: float,
) -> np.ndarray:
    """VETO_HIT array of the veto records ``veto`` (int8, shape (n_records, n_samples)), record by record,
    in time order; ``time_ns`` counts from the record start. Inputs are not modified."""
    veto = np.ascontiguousarray(veto)
    if veto.dtype != np.int8 or veto.ndim != 2:
        raise ValueError(f"find_veto_hits: expected int8 records of shape (n, n_samples), got {veto.dtype} "
                         f"{veto.shape}")
    ids = np.ascontiguousarray(trigger_ids, dtype=np.int64)
    if ids.shape != (veto.shape[0],):
        raise ValueError("find_veto_hits: trigger_ids needs one entry per record")
    count, rec, index, amp = _veto_kernel(veto, int(polarity), float(threshold_adc), int(deadtime_samples),
                                          int(baseline_samples), 4 * veto.shape[0] + 16)
    hits = np.empty(count, dtypes.VETO_HIT)
    hits["trigger_id"] = ids[rec[:count]]
    hits["time_ns"] = np.round(index[:count] * sample_ns).astype(np.int64)
    hits["amplitude"] = amp[:count]
    return hits
