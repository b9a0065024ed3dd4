"""Seeded synthetic CsI records for the kernel tests: baseline + noise + gaussian SPEs + scintillation.

Everything is built in the signal domain ``s`` (ADC above baseline, positive for pulses) and turned
into raw int8 codes with ``x = baseline + polarity * s`` (rounded, clipped to the rails).
"""

from __future__ import annotations

import numpy as np

from daq import config
from daq.kernels.features import FeatureParams
from daq.stages.params import feature_params

N_SAMPLES = 35000


def default_params() -> FeatureParams:
    """FeatureParams of the shipped hwconfig/csi-sns.toml."""
    return feature_params(config.load())


def spe_template(halfwidth: int, amplitude: int) -> np.ndarray:
    """An integer SPE shape of 2 * halfwidth + 1 samples, maximum ``amplitude`` in the middle, strictly
    rising then falling (so it is exactly one local maximum)."""
    k = np.arange(-halfwidth, halfwidth + 1)
    shape = np.round(amplitude * np.exp(-0.5 * (k / max(1.0, halfwidth / 2.5)) ** 2)).astype(np.int64)
    shape[halfwidth] = amplitude
    for i in range(halfwidth - 1, -1, -1):  # keep it strictly monotonic on both sides
        shape[i] = min(shape[i], shape[i + 1] - 1) if shape[i + 1] > 0 else 0
        shape[-i - 1] = shape[i]
    return np.clip(shape, 0, None)


def flat_record(baseline: int = 100, n: int = N_SAMPLES) -> np.ndarray:
    """Signal-free record of constant code ``baseline``."""
    return np.full(n, baseline, dtype=np.int64)


def add_signal(x: np.ndarray, s: np.ndarray, start: int, polarity: int = -1) -> None:
    """Add signal ``s`` (ADC above baseline) at sample ``start`` of the integer record ``x`` (in place)."""
    a, b = max(0, start), min(x.size, start + s.size)
    x[a:b] += polarity * s[a - start : b - start]


def to_int8(x: np.ndarray) -> np.ndarray:
    """Clip to the ADC rails and convert."""
    return np.clip(np.round(x), -128, 127).astype(np.int8)


def random_records(n_records: int, seed: int, params: FeatureParams, baseline: float = 100.0,
                   noise_rms: float = 0.8, spe_gain: float = 30.0, spe_sigma_samples: float = 1.25,
                   dark_per_record: float = 4.0, scint_probability: float = 0.5,
                   muon_probability: float = 0.0) -> np.ndarray:
    """Simulation-like records: gaussian noise, dark SPEs (gaussian shape, gain spread 35 %), in each
    window's ROI with ``scint_probability`` a scintillation pulse of 3 to 60 PE (600 ns decay), and with
    ``muon_probability`` a muon anywhere in the record: a huge pulse that hits the ADC rail."""
    rng = np.random.default_rng(seed)
    n = params.n_samples
    out = np.empty((n_records, n), np.int8)
    k = np.arange(-8, 9)
    unit = np.exp(-0.5 * (k / spe_sigma_samples) ** 2)
    unit /= unit.sum()
    for r in range(n_records):
        s = np.zeros(n + 32)
        times = list(rng.uniform(0, n, rng.poisson(dark_per_record)))
        for w in range(2):
            if rng.random() < scint_probability:
                r0, r1 = params.windows[w][2], params.windows[w][3]
                t0 = rng.uniform(r0, r1)
                times += list(t0 + rng.exponential(300.0, rng.integers(3, 61)))
        for t in times:
            i = int(t)
            if i < n:
                q = spe_gain * max(0.2, rng.normal(1.0, 0.35))
                s[i + 8 : i + 25] += q * unit
        s = s[16 : 16 + n]
        if rng.random() < muon_probability:
            t0 = int(rng.integers(0, n - 200))
            s[t0 : t0 + 200] += 400.0 * np.exp(-np.arange(200) / 40.0)
        x = baseline + params.polarity * s + rng.normal(0.0, noise_rms, n)
        out[r] = to_int8(x)
    return out


def records_meta(n_records: int, first_id: int = 1000, first_time: int = 10**18) -> tuple[np.ndarray, np.ndarray]:
    """Trigger ids and trigger times (60 Hz) for ``n_records`` records."""
    ids = np.arange(first_id, first_id + n_records, dtype=np.int64)
    times = first_time + np.arange(n_records, dtype=np.int64) * 16_666_667
    return ids, times

