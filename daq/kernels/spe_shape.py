"""The SPE pulse shape measured in the data, what it sets, and SPE pulses of that shape injected.

* :func:`accumulate_template` sums the signal around isolated pretrace SPE peaks, from
  ``TEMPLATE_BEFORE`` samples before their maximum to ``TEMPLATE_AFTER`` after, first aligned on the
  maximum sample, then (with a first template) on the best correlation with it: divided by the number
  of peaks it is the mean SPE pulse (noise averages out).
* :func:`derive_window` turns a template into the :class:`~daq.kernels.features.SpeWindow`: the boxcar
  length of best signal to noise for white noise (``max_k sum(t[k:k+L]) / sqrt(L)``), the charge window
  that holds ``1 - 2 * WINDOW_LOSS`` of the template's charge (``WINDOW_LOSS`` cut at each end), and the
  separation: the filter length plus the samples the pulse takes to fall to ``SEPARATION_LEVEL`` of its
  maximum after it.
* :func:`inject_pulses` adds pulses of the template to int8 records (the copy the gain calibration
  measures the peak finder's SPE response on, :mod:`daq.stages.calibration`).
"""

from __future__ import annotations

import math

import numba
import numpy as np

TEMPLATE_BEFORE = 8
TEMPLATE_AFTER = 120
WINDOW_LOSS = 0.004
SEPARATION_LEVEL = 0.2
MAX_FILTER = 32
ALIGN_SHIFT = 4

_jit = numba.njit(cache=True, nogil=True)


@_jit
def accumulate_template(csi: np.ndarray, records: np.ndarray, index: np.ndarray, b0: np.ndarray,
                        slope: np.ndarray, anchor: np.ndarray, polarity: int, reference: np.ndarray,
                        out: np.ndarray) -> None:
    """Add ``s`` around each peak ``m`` (record ``records[m]``, maximum at sample ``index[m]``, baseline line
    ``b0[m] + slope[m] * (i - anchor[m])``) into ``out[:TEMPLATE_BEFORE + TEMPLATE_AFTER]`` (in place); peaks
    too close to the record edges are skipped. With a ``reference`` template (non-empty), each peak is
    aligned at the shift within ``ALIGN_SHIFT`` samples that correlates best with it: for white noise the
    noise that this choice favours is then proportional to the reference, so the mean pulse keeps its
    shape (aligned at the raw maximum, the maximum sample would carry a spike of favoured noise)."""
    n = csi.shape[1]
    width = TEMPLATE_BEFORE + TEMPLATE_AFTER
    for m in range(records.shape[0]):
        x = csi[records[m]]
        shift = 0
        if reference.shape[0] == width:
            best = -1e300
            for d in range(-ALIGN_SHIFT, ALIGN_SHIFT + 1):
                a = index[m] - TEMPLATE_BEFORE + d
                if a < 0 or a + width > n:
                    continue
                c = 0.0
                for j in range(width):
                    i = a + j
                    c += reference[j] * polarity * (x[i] - (b0[m] + slope[m] * (i - anchor[m])))
                if c > best:
                    best, shift = c, d
        a = index[m] - TEMPLATE_BEFORE + shift
        if a < 0 or a + width > n:
            continue
        for j in range(width):
            i = a + j
            out[j] += polarity * (x[i] - (b0[m] + slope[m] * (i - anchor[m])))


def derive_window(template: np.ndarray, min_separation: int) -> tuple[int, int, int, int, float]:
    """(filter length, pre, post, separation [samples], charge fraction of the window) of a mean SPE pulse
    ``template`` (aligned as :func:`accumulate_template`, any normalisation)."""
    t = np.asarray(template, dtype=float)
    total = t.sum()
    if not total > 0:
        raise ValueError("derive_window: the template holds no charge")
    t = t / total
    cum = np.concatenate([[0.0], np.cumsum(t)])
    best_l, best_snr = 1, -np.inf
    for length in range(1, MAX_FILTER + 1):
        snr = (cum[length:] - cum[:-length]).max() / math.sqrt(length)
        if snr > best_snr + 1e-12:
            best_l, best_snr = length, snr
    first = int(np.searchsorted(cum, WINDOW_LOSS))  # the first sample the window needs ...
    stop = int(np.searchsorted(cum, 1.0 - WINDOW_LOSS))  # ... and one past the last
    first = max(0, first - 1)
    pre = max(0, TEMPLATE_BEFORE - first)
    post = max(1, stop - TEMPLATE_BEFORE)
    peak = int(np.argmax(t))
    below = np.flatnonzero(t[peak:] < SEPARATION_LEVEL * t[peak])
    fall = int(below[0]) if below.size else t.size - peak
    separation = max(min_separation, best_l + fall)
    fraction = float(cum[min(t.size, TEMPLATE_BEFORE + post)] - cum[max(0, TEMPLATE_BEFORE - pre)])
    return best_l, pre, post, separation, fraction


def clean_template(template: np.ndarray, pre: int, post: int) -> np.ndarray:
    """The unit-sum pulse to inject, from a measured mean pulse and its charge window: inside the window as
    measured; before it zero; after it the exponential continuation of the window's last quarter (fitted
    on sums, so noise in the far tail, which a clip at zero would turn into charge, is not injected)."""
    t = np.asarray(template, dtype=float)
    a, b = max(0, TEMPLATE_BEFORE - pre), min(t.size, TEMPLATE_BEFORE + post)
    out = np.zeros_like(t)
    out[a:b] = t[a:b]
    q = max(2, (b - TEMPLATE_BEFORE) // 4)
    first, second = t[b - 2 * q : b - q].sum(), t[b - q : b].sum()
    if first > 0 and 0 < second < first:
        r = (second / first) ** (1.0 / q)  # per-sample decay of the tail
        last = max(t[b - q : b].mean(), 0.0) * r ** ((q + 1) / 2)
        out[b:] = last * r ** np.arange(t.size - b)
    out = np.clip(out, 0.0, None)
    return out / out.sum()


@_jit
def inject_pulses(csi: np.ndarray, records: np.ndarray, index: np.ndarray, charge: np.ndarray,
                  template: np.ndarray, polarity: int) -> None:
    """Add pulses of the unit-sum ``template`` (aligned as :func:`accumulate_template`) with charges
    ``charge`` [ADC*sample], maximum at ``index``, to records ``records`` of ``csi`` IN PLACE, clipped to the
    int8 rails. The signal is rounded with error diffusion (each sample's rounding error carries to the
    next), so every sum over consecutive samples keeps the injected charge to within one ADC*sample and a
    tail below half a code keeps its charge, as the noise of a real digitisation keeps it (plain rounding
    would drop it), without adding noise of its own."""
    n = csi.shape[1]
    for m in range(records.shape[0]):
        x = csi[records[m]]
        a = index[m] - TEMPLATE_BEFORE
        carry = 0.0
        for j in range(template.shape[0]):
            i = a + j
            want = polarity * charge[m] * template[j] + carry
            step = math.floor(want + 0.5)
            carry = want - step
            if 0 <= i < n:
                x[i] = min(127, max(-128, np.int64(x[i]) + np.int64(step)))
