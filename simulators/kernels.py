"""Numba kernels of the waveform simulation: pure functions over numpy arrays.

- :func:`add_gaussian_pulses` adds SPE-like gaussian pulses into a float signal (in place);
- :func:`digitize` turns baseline + gaussian noise + signal into ADC samples (writes ``out``).

The noise comes from a counter-based generator (splitmix64 of seed + sample index) looked
up in an inverse-normal table, so one record's noise costs about a nanosecond a sample and
is fixed by its seed alone.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from scipy.special import ndtri

NOISE_TABLE_BITS = 16
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_MASK16 = np.uint64(0xFFFF)


def normal_table(bits: int = NOISE_TABLE_BITS) -> np.ndarray:
    """Inverse-CDF table of the standard normal at the centres of 2**bits equal-probability bins.

    Rescaled to unit variance (the table clips the gaussian at about 4.3 sigma).
    """
    n = 1 << bits
    z = ndtri((np.arange(n) + 0.5) / n)
    return (z / z.std()).astype(np.float32)


@njit(cache=True, nogil=True)
def add_gaussian_pulses(
    signal: np.ndarray, t_samples: np.ndarray, charge: np.ndarray, sigma_samples: float
) -> None:
    """Add gaussian pulses into ``signal`` in place.

    Pulse ``k`` peaks at ``t_samples[k]`` (fractional sample index), has width
    ``sigma_samples`` and sums to ``charge[k]`` over the samples it covers (within
    4 sigma, and inside the record) — the discrete normalisation makes the per-sample sum
    exactly the charge for pulses well inside the record.
    """
    n = signal.shape[0]
    half = int(math.ceil(4.0 * sigma_samples))
    weights = np.empty(2 * half + 2, dtype=np.float64)
    inv2s2 = 1.0 / (2.0 * sigma_samples * sigma_samples)
    for k in range(t_samples.shape[0]):
        t = t_samples[k]
        first = int(math.floor(t)) - half
        total = 0.0
        m = weights.shape[0]
        for j in range(m):
            d = first + j - t
            w = math.exp(-d * d * inv2s2)
            weights[j] = w
            total += w
        scale = charge[k] / total
        for j in range(m):
            i = first + j
            if 0 <= i < n:
                signal[i] += weights[j] * scale


@njit(cache=True, nogil=True)
def digitize(
    signal: np.ndarray,
    baseline: float,
    noise_rms: float,
    polarity: int,
    seed: np.uint64,
    table: np.ndarray,
    lo: int,
    hi: int,
    out: np.ndarray,
) -> None:
    """``out[i] = clip(round(baseline + noise_rms * z_i + polarity * signal[i]), lo, hi)``; writes ``out``.

    ``z_i`` is unit gaussian noise from ``table`` (see :func:`normal_table`, 2**16 entries),
    indexed by the four 16-bit slices of splitmix64(seed + (i // 4 + 1) * golden).
    Rounding is half up.
    """
    n = signal.shape[0]
    shift = baseline + 0.5 - lo  # values counted from the lower rail: truncation == floor
    span = hi - lo
    pol = np.float64(polarity)
    counter = seed
    for first in range(0, n, 4):
        counter += _GOLDEN
        x = counter
        x = (x ^ (x >> np.uint64(30))) * _MIX1
        x = (x ^ (x >> np.uint64(27))) * _MIX2
        x = x ^ (x >> np.uint64(31))
        for j in range(min(4, n - first)):
            v = shift + noise_rms * table[np.int64((x >> np.uint64(16 * j)) & _MASK16)] + pol * signal[first + j]
            k = np.int64(v) if v > 0.0 else 0
            out[first + j] = (k if k < span else span) + lo


@njit(cache=True, nogil=True)
def add_table_pulses(signal: np.ndarray, t_samples: np.ndarray, charge: np.ndarray, table: np.ndarray,
                     first: int) -> None:
    """Add pulses of a tabulated shape into ``signal`` in place (see :func:`simulators.pulses.spe_table`).

    Pulse ``k`` starts at fractional sample ``t_samples[k]`` and carries ``charge[k]``: row
    ``phase = floor(frac * phases)`` of ``table`` (rows sum to 1) is added from sample ``floor(t) + first``.
    """
    n = signal.shape[0]
    phases, width = table.shape
    for k in range(t_samples.shape[0]):
        t = t_samples[k]
        base = int(math.floor(t))
        phase = min(phases - 1, int((t - base) * phases))
        start = base + first
        q = charge[k]
        for j in range(width):
            i = start + j
            if 0 <= i < n:
                signal[i] += q * table[phase, j]
