"""The SPE pulse shape measured in the data, what it sets, and SPE pulses of that shape injected.

* :func:`accumulate_template` sums the signal around isolated pretrace SPE peaks, from
  ``TEMPLATE_BEFORE`` samples before their maximum to ``TEMPLATE_AFTER`` after, first aligned on the
  maximum sample, then (with a first template) on the best correlation with it: divided by the number
  of peaks it is the mean SPE pulse (noise averages out).
* :func:`pulse_model` takes the noise out of a template: its pedestal subtracted, kept where it is
  significant, an exponential continuation of its tail beyond (the far tail of a sum of N noisy pulses
  carries as much noise as the 0.4 % of charge a window end is set by: the window end on the raw sum
  wandered between 20 and 90 samples at 1.2 ADC of noise).
* :func:`derive_window` turns a template into the :class:`~daq.kernels.features.SpeWindow`, on its pulse
  model: the boxcar length of best signal to noise for white noise (``max_k sum(t[k:k+L]) / sqrt(L)``),
  the charge window that holds ``1 - 2 * WINDOW_LOSS`` of the pulse's charge (``WINDOW_LOSS`` cut at each
  end), ``pre`` widened by the pulse's top (the samples after its maximum at ``WANDER_LEVEL`` of it or more:
  the window is placed on a peak's largest sample, which the noise makes any of them), and the separation:
  the filter length plus the samples the pulse takes to fall to ``SEPARATION_LEVEL`` of its maximum after it.
  :func:`window_still_fits` says whether a window in use is still right for a new template.
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
# the charge window reaches back ``pre`` samples from the peak's largest sample, which the noise can move to any
# sample of the pulse's top: the samples after its maximum at or above WANDER_LEVEL of it widen ``pre``
WANDER_LEVEL = 0.5
MAX_FILTER = 32
ALIGN_SHIFT = 4
PEDESTAL_SAMPLES = 32  # the template's last samples: no pulse left, the baseline bias under the peaks
SIGNIFICANCE = 3.0  # the mean pulse is kept where it is this many rms of its sum's noise above the pedestal
SMOOTH = 4  # ... its end taken on means of this many samples
KEEP_LONGER = 0.1  # a window in use is kept for a new mean pulse if it is at most this much longer ...
KEEP_SNR = 0.02  # ... and its filter's signal to noise this close to the best (window_still_fits)

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


def pulse_model(template: np.ndarray) -> tuple[np.ndarray, float]:
    """The mean SPE pulse without the noise of its sum: ``template`` (aligned as :func:`accumulate_template`,
    any normalisation) minus its pedestal (the mean of the last ``PEDESTAL_SAMPLES``: the baseline's bias
    under the peaks), kept where it is significant (the contiguous samples around the maximum above
    ``SIGNIFICANCE`` times the rms of those last samples, the end taken on ``SMOOTH``-sample means), zero
    before, and after it the exponential continuation of its last part (the pulse below half its maximum,
    fitted on sums); with the sum of that continuation beyond the template's end. Assumptions: the pulse has
    ended ``PEDESTAL_SAMPLES`` before the template does (an exponential tail of up to ~30 ns with 2 ns
    samples leaves < 0.1 % of its charge in the pedestal); the tail's slowest component is exponential and
    still significant where the kept samples end."""
    t = np.asarray(template, dtype=float)
    tail = t[-PEDESTAL_SAMPLES:]
    s = t - tail.mean()
    sigma = float(tail.std())
    peak = int(np.argmax(s[: t.size - PEDESTAL_SAMPLES]))
    level = SIGNIFICANCE * sigma
    a = peak
    while a > 0 and s[a - 1] > level:
        a -= 1
    e = peak + 1
    while e + SMOOTH <= t.size - PEDESTAL_SAMPLES and s[e : e + SMOOTH].mean() > level / math.sqrt(SMOOTH):
        e += 1
    out = np.zeros_like(t)
    beyond = 0.0
    out[a:e] = s[a:e]
    half = np.flatnonzero(s[peak:e] < 0.5 * s[peak])
    f = peak + int(half[0]) if half.size else e
    q = (e - f) // 2
    if q >= 1:
        first, second = s[e - 2 * q : e - q].sum(), s[e - q : e].sum()
        if first > 0 and 0 < second < first:
            r = (second / first) ** (1.0 / q)  # per-sample decay of the slowest visible component
            last = second / q * r ** ((q + 1) / 2)  # the continuation's value at sample e
            k = np.arange(t.size - e)
            out[e:] = last * r**k
            beyond = float(last * r ** (t.size - e) / (1.0 - r))
    return out, beyond


def derive_window(template: np.ndarray, min_separation: int) -> tuple[int, int, int, int, float]:
    """(filter length, pre, post, separation [samples], charge fraction of the window) of a mean SPE pulse
    ``template`` (aligned as :func:`accumulate_template`, any normalisation), measured on its
    :func:`pulse_model`: the noise of the sum's far tail, which is as large as the charge fraction a window
    end is set by, does not move it (post capped at the template's end)."""
    t, beyond = pulse_model(template)
    total = t.sum() + beyond
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
    peak = int(np.argmax(t))
    top = np.flatnonzero(t[peak:] < WANDER_LEVEL * t[peak])
    wander = max(0, int(top[0]) - 1) if top.size else 0  # samples after the maximum still on its top ...
    wander = min(wander, best_l - 1)  # ... within the boxcar, where a peak's largest sample always is
    pre = max(0, TEMPLATE_BEFORE - first) + wander
    post = max(1, min(stop, t.size) - TEMPLATE_BEFORE)
    below = np.flatnonzero(t[peak:] < SEPARATION_LEVEL * t[peak])
    fall = int(below[0]) if below.size else t.size - peak
    separation = max(min_separation, best_l + fall)
    fraction = float(cum[min(t.size, TEMPLATE_BEFORE + post)] - cum[max(0, TEMPLATE_BEFORE - pre)])
    return best_l, pre, post, separation, fraction


def window_still_fits(template: np.ndarray, length: int, pre: int, post: int) -> bool:
    """Whether a window in use is still right for a new mean pulse ``template``: its charge window holds at
    least ``1 - 3 * WINDOW_LOSS`` of the :func:`pulse_model`'s charge and is at most ``KEEP_LONGER`` (+ 2
    samples) longer than the one :func:`derive_window` gives, and its filter's signal to noise is within
    ``KEEP_SNR`` of the best. The calibration keeps such a window: a change of one sample in the derived
    window (the rounding of a fraction that moves with the noise) would discard the charge spectrum and the
    response measured in it."""
    t, beyond = pulse_model(template)
    total = t.sum() + beyond
    if not total > 0:
        return False
    t = t / total
    cum = np.concatenate([[0.0], np.cumsum(t)])
    held = cum[min(t.size, TEMPLATE_BEFORE + post)] - cum[max(0, TEMPLATE_BEFORE - pre)]
    best_l, new_pre, new_post, _, _ = derive_window(template, 1)
    snr = [(cum[n:] - cum[:-n]).max() / math.sqrt(n) for n in (length, best_l)]
    return bool(held >= 1.0 - 3 * WINDOW_LOSS and pre + post <= (1 + KEEP_LONGER) * (new_pre + new_post) + 2
                and snr[0] >= (1 - KEEP_SNR) * snr[1])


def clean_template(template: np.ndarray, pre: int, post: int) -> np.ndarray:
    """The unit-sum pulse to inject, from a measured mean pulse and its charge window: its
    :func:`pulse_model` inside the window and after it (the pedestal left out: the records it is injected
    into carry their own baseline bias), zero before it."""
    m = pulse_model(template)[0]
    out = np.zeros_like(m)
    a = max(0, TEMPLATE_BEFORE - pre)
    out[a:] = m[a:]
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
