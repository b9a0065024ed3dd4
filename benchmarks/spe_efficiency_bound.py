"""How far the SPE efficiency, and with it the afterglow and onset bars of issue 13, can go on each preset.

A computation, not a measurement of the kernels: for the presets' SPE shapes (``simulators.pulses``, the
pulse the simulator draws) and noise levels it gives

* the filtered amplitude of a mean-charge SPE in filtered-noise rms, for the kernels' filter (a boxcar of
  ``L`` samples: the ``L`` the calibration chose, docs/reconstruction.md) and for the matched filter (the
  pulse itself: the best any linear filter can do on white noise, ``||h|| / sigma``), each at the best
  place on the pulse, averaged over the pulse's sub-sample phase;
* the SPE efficiency that amplitude gives at the kernels' threshold (``features.peak_threshold_rms``):
  ``E_q[Phi(q a - T)]`` with Polya (gamma) charges of the presets' spread, the noise at the filter's maximum
  taken as one gaussian draw (the kernels take a maximum over a few places, so they find slightly more; the
  table shows how close the model comes to the measured column);
* for an SPE efficiency ``eps``, what the afterglow cut (a window fails with more than ``m`` found pretrace
  peaks; found ~ Binomial(true, eps)) can reach: the turn-on in true PE (where half the windows fail, linear
  between integers as :func:`daq.cli.acceptance.afterglow_turn_on`) and the false rejection of windows with at
  most ``afterglow_max_pretrace_peaks`` true PE, for Poisson pretrace PE of the measurement's mean; and the
  chance that a deposit of 8 PE leaves fewer than 3 found photoelectrons in its first 1.5 us (no onset).

    .venv/bin/python benchmarks/spe_efficiency_bound.py
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from daq import config, dtypes
from daq.kernels import features
from daq.kernels.features import SpeWindow
from daq.stages.params import feature_params
from simulators.presets import NOISES_ADC, SPE_SHAPES, SPE_TAIL_NS
from simulators.pulses import SpeShape, spe_table

CALIBRATED_L = {"fast": 3, "typical": 7, "slow": 14}  # docs/reconstruction.md, the preset table's L
SLOW_WINDOW = SpeWindow(14, 11, 56, 28)  # slow/1.2/+0's calibrated (L, pre, post, sep)
PRETRACE_PE = 1.5 + 60e3 * 20e-6  # the measurement's pretrace: 1.5 extra PE + 60 kHz dark counts over 20 us
ONSET_TRAIN = 3  # found photoelectrons the onset needs within ONSET_WINDOW_US
ONSET_WINDOW_US = 1.5
LIGHT = ((0.8, 0.6), (0.2, 3.5))  # CsI[Na] of the presets: (fraction, decay [us])


def amplitudes(table: np.ndarray, length: int) -> tuple[float, float]:
    """(boxcar of ``length``, matched) filtered amplitude per unit charge in filtered-noise rms per unit
    noise, averaged over the table's phases."""
    box, matched = [], []
    for row in table:
        sums = np.convolve(row, np.ones(length), mode="full")
        box.append(sums.max() / math.sqrt(length))
        matched.append(math.sqrt(float(np.sum(row**2))))
    return float(np.mean(box)), float(np.mean(matched))


def efficiency(a: float, threshold: float, spread: float) -> float:
    """E_q[Phi(q a - T)] for gamma charges of mean 1 and relative spread ``spread``."""
    k = 1.0 / spread**2
    q = np.linspace(1e-4, 6.0, 6000)
    w = stats.gamma.pdf(q, k, scale=1.0 / k)
    return float(np.sum(w * stats.norm.cdf(q * a - threshold)) / np.sum(w))


def afterglow(eps: float, m: int, n_max: int, noise_peaks: float = 0.0) -> tuple[float, float]:
    """(turn-on [true PE], false rejection of windows with <= n_max true PE) of 'fail if found > m', with
    found ~ Binomial(true, eps) + Poisson(noise_peaks)."""
    n = np.arange(0, 16)
    k = np.arange(0, 40)
    noise = stats.poisson.pmf(k, noise_peaks) if noise_peaks > 0 else (k == 0).astype(float)
    fail = np.array([np.sum(noise * stats.binom.sf(m - k, true, eps)) for true in n])
    above = np.flatnonzero(fail >= 0.5)
    if above.size == 0:
        return float("inf"), float(np.nan)
    j = int(above[0])
    turn_on = float(n[j] if j == 0 else n[j - 1] + (0.5 - fail[j - 1]) / (fail[j] - fail[j - 1]))
    prior = stats.poisson.pmf(n[: n_max + 1], PRETRACE_PE)
    return turn_on, float(np.sum(prior * fail[: n_max + 1]) / prior.sum())


def noise_peaks_per_pretrace(cfg: config.Config, noise_adc: float, window: SpeWindow, n: int = 2000) -> float:
    """Peaks the kernels find per pretrace in records of gaussian noise (a random baseline fraction), both
    pretraces and their inverted copies (the noise peaks the calibration subtracts) counted."""
    params = feature_params(cfg)
    rng = np.random.default_rng(20261203)
    x = np.round(100 + noise_adc * rng.standard_normal((n, params.n_samples)) + rng.uniform(0, 1, (n, 1)))
    ids = np.arange(n, dtype=np.int64)
    _, peaks = features.extract_features(x.astype(np.int8), ids, ids * 16_000_000, params, cfg.simulation.spe_gain,
                                         window, 100.0)
    found = np.isin(peaks["region"], (dtypes.REGION_PRETRACE, dtypes.REGION_NOISE))
    return float(np.count_nonzero(found) / (4 * n))


def no_onset(eps: float, n_pe: int = 8) -> float:
    early = sum(f * (1 - math.exp(-ONSET_WINDOW_US / tau)) for f, tau in LIGHT)
    return float(stats.binom.cdf(ONSET_TRAIN - 1, n_pe, eps * early))


def main() -> None:
    cfg = config.load()
    threshold = cfg.features.peak_threshold_rms
    n_max = cfg.cuts.afterglow_max_pretrace_peaks
    gain = cfg.simulation.spe_gain
    print(f"threshold {threshold} filtered-noise rms; SPE {gain} ADC x sample; afterglow cut: fail with more than "
          f"{n_max} found pretrace peaks; pretrace PE Poisson({PRETRACE_PE:.2f})\n")
    print("| preset | boxcar L | amplitude, boxcar | amplitude, matched | efficiency, boxcar (model) | "
          "efficiency, matched (model) |")
    print("|---|---:|---:|---:|---:|---:|")
    for spe in SPE_TAIL_NS:
        shape = SPE_SHAPES[spe]
        table, _ = spe_table(SpeShape(shape["spe_rise_ns"], shape["spe_decay_ns"], shape["spe_sigma_ns"]),
                             cfg.digitizer.sample_ns)
        box, matched = amplitudes(table, CALIBRATED_L[spe])
        for noise in NOISES_ADC:
            a_box, a_m = gain * box / noise, gain * matched / noise
            e_box = efficiency(a_box, threshold, shape["spe_gain_spread"])
            e_m = efficiency(a_m, threshold, shape["spe_gain_spread"])
            print(f"| {spe}/{noise:g} | {CALIBRATED_L[spe]} | {a_box:.2f} | {a_m:.2f} | {e_box:.3f} | {e_m:.3f} |")
    shape = SPE_SHAPES["slow"]
    table, _ = spe_table(SpeShape(shape["spe_rise_ns"], shape["spe_decay_ns"], shape["spe_sigma_ns"]),
                         cfg.digitizer.sample_ns)
    box, matched = amplitudes(table, CALIBRATED_L["slow"])
    base = noise_peaks_per_pretrace(cfg, 1.2, SLOW_WINDOW)
    print(f"\nslow/1.2: the kernels find {base:.4f} noise peaks per pretrace at {threshold} rms (gaussian noise "
          "records, the calibrated slow window); at a threshold T, exp((4.5^2 - T^2) / 2) times that (Rice's formula).")
    print("Found pretrace peaks ~ Binomial(true PE, efficiency) + Poisson(noise peaks); the best afterglow rule "
          f"(fail with more than m found) whose turn-on is within {n_max + 1} +- 0.5 true PE, at each threshold:\n")
    print("| filter | threshold [rms] | SPE efficiency | noise peaks per pretrace | m | turn-on [true PE] | "
          f"false rejection (<= {n_max} true PE) | no onset at 8 PE |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, amp in (("boxcar", box), ("matched", matched)):
        for t in np.arange(2.5, 5.01, 0.25):
            eps = efficiency(gain * amp / 1.2, t, shape["spe_gain_spread"])
            lam = base * math.exp((threshold**2 - t**2) / 2)
            rules = [(m, *afterglow(eps, m, n_max, lam)) for m in range(0, 12)]
            near = [r for r in rules if abs(r[1] - (n_max + 1)) <= 0.5]
            if not near:
                continue
            m, turn_on, false = min(near, key=lambda r: r[2])
            print(f"| {label} | {t:.2f} | {eps:.3f} | {lam:.3f} | {m} | {turn_on:.2f} | {false:.4f} | "
                  f"{no_onset(eps):.3f} |")

if __name__ == "__main__":
    main()
