"""Records with injected scintillation pulses of known N and time, for calibration and acceptance.

The detector simulator (:mod:`simulators.detector`) draws everything a run holds; measuring how well
the reconstruction does needs the opposite: a chosen deposit of ``N`` photoelectrons at a chosen time
in each ROI, on top of either simulated noise of the configured preset or *recorded* records (their
pretraces and noise are the real ones). Photoelectron times follow the CsI[Na] profile of the config
(rise, fast and slow decays); SPE charges are gamma (Polya) distributed with the configured spread;
pulses have the configured SPE shape (:mod:`simulators.pulses`); dark counts at ``dark_rate_hz`` and,
optionally, extra photoelectrons spread uniformly over each pretrace (an afterglow level).

Injection into recorded records adds the rounded signal to their codes (clipped at the rails): the
signal's own quantisation is added to the recorded one, a 1/12 ADC^2 extra variance where pulses sit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulators.kernels import add_gaussian_pulses, add_table_pulses, digitize, normal_table
from simulators.pulses import SpeShape, spe_table

INJECTION_TRUTH = np.dtype([
    ("trigger_id", "<i8"), ("window", "i1"),
    ("n_pe", "<i4"),             # photoelectrons of the injected deposit (0 = none)
    ("time_ns", "<f8"),          # deposit time after record start [ns]
    ("first_pe_ns", "<f8"),      # its first photoelectron after record start [ns], -1 if none
    ("n_pe_roi_start", "<i4"),   # deposit photoelectrons before the ROI start
    ("n_pretrace_pe", "<i4"),    # every photoelectron in the window's pretrace (dark, extra, deposit)
    ("n_dark_roi", "<i4"),       # dark photoelectrons in the ROI before the deposit
    ("baseline", "<f4"),         # true baseline at the pretrace centre [ADC]
    ("spe_gain", "<f4"),         # true SPE mean charge [ADC*sample]
])


@dataclass
class InjectionBatch:
    csi: np.ndarray  # int8 (n, n_samples)
    trigger_ids: np.ndarray
    trigger_times: np.ndarray
    truth: np.ndarray  # INJECTION_TRUTH, 2 rows per record (AC, C)


class Injector:
    """Seeded records with known deposits; one instance per config (preset)."""

    def __init__(self, cfg: object) -> None:
        s, d, w = cfg.simulation, cfg.digitizer, cfg.windows
        self.sim = s
        self.dt = d.sample_ns
        self.n = d.n_samples
        self.polarity = d.polarity
        self.lo, self.hi = -(1 << (d.bits - 1)), (1 << (d.bits - 1)) - 1
        self.pretraces = (w.ac_pretrace, w.c_pretrace)
        self.rois = (w.ac_roi, w.c_roi)
        self.c_roi_start = w.c_roi[0]
        self.table = spe_table(SpeShape.from_config(s), self.dt) if s.spe_decay_ns > 0 else None
        self.shape_k = 1.0 / s.spe_gain_spread**2 if s.spe_gain_spread > 0 else 0.0
        self.ramp = s.baseline_slope_adc * (np.arange(self.n) / max(self.n - 1, 1) - 0.5)
        self.noise_table = normal_table()

    def photon_times(self, rng: np.random.Generator, t0: float, n_pe: int) -> np.ndarray:
        """CsI[Na] photoelectron times [ns] of a deposit at ``t0``."""
        s = self.sim
        decay = np.where(rng.random(n_pe) < s.scint_slow_fraction, s.scint_slow_ns, s.scint_fast_ns)
        return t0 + s.scint_rise_ns * rng.standard_exponential(n_pe) + decay * rng.standard_exponential(n_pe)

    def records(self, n_records: int, seed: int, n_pe: np.ndarray | int = 0, time_ns: np.ndarray | float = 0.0,
                dark_rate_hz: float | None = None, pretrace_pe: float = 0.0, first_trigger_id: int = 0,
                recorded: np.ndarray | None = None) -> InjectionBatch:
        """``n_records`` records; window ``w`` of record ``r`` gets a deposit of ``n_pe[r, w]`` PE at
        ``time_ns[r, w]`` after its ROI start (scalars broadcast). ``recorded``: int8 records to inject into
        instead of simulated baseline and noise (their own content stays)."""
        s = self.sim
        rng = np.random.default_rng([int(seed), 13])
        n_pe = np.broadcast_to(np.asarray(n_pe, dtype=np.int64), (n_records, 2))
        t_roi = np.broadcast_to(np.asarray(time_ns, dtype=float), (n_records, 2))
        dark_per_ns = (s.dark_rate_hz if dark_rate_hz is None else dark_rate_hz) * 1e-9
        length = self.n * self.dt
        csi = np.empty((n_records, self.n), np.int8)
        truth = np.zeros(2 * n_records, INJECTION_TRUTH)
        signal = np.zeros(self.n)
        for r in range(n_records):
            dark = rng.random(rng.poisson(dark_per_ns * length)) * length
            parts = [dark]
            pre_times = []
            deposit_times = []
            for w in range(2):
                a, b = self.pretraces[w]
                pre_times.append(a + rng.random(rng.poisson(pretrace_pe)) * (b - a))
                t0 = self.rois[w][0] + t_roi[r, w]
                deposit_times.append(np.sort(self.photon_times(rng, t0, int(n_pe[r, w]))))
            parts += pre_times + deposit_times
            t = np.concatenate(parts)
            t = t[(t >= 0) & (t < length)]
            q = rng.gamma(self.shape_k, s.spe_gain / self.shape_k, t.size) if self.shape_k else np.full(t.size,
                                                                                                      s.spe_gain)
            signal.fill(0.0)
            if self.table is None:
                add_gaussian_pulses(signal, t / self.dt, q, s.spe_sigma_ns / self.dt)
            else:
                add_table_pulses(signal, t / self.dt, q, *self.table)
            if recorded is None:
                signal += self.polarity * self.ramp
                seed_r = rng.integers(0, 2**63, dtype=np.uint64)
                digitize(signal, s.baseline_adc, s.noise_rms_adc, self.polarity, seed_r, self.noise_table,
                         self.lo, self.hi, csi[r])
            else:
                x = recorded[r % len(recorded)].astype(np.int64) + np.rint(self.polarity * signal).astype(np.int64)
                csi[r] = np.clip(x, self.lo, self.hi)
            all_t = t
            for w in range(2):
                row = truth[2 * r + w]
                a, b = self.pretraces[w]
                r0 = self.rois[w][0]
                dep = deposit_times[w]
                centre = min(int(0.5 * (a + b) / self.dt), self.n - 1)
                row["trigger_id"], row["window"] = first_trigger_id + r, w
                row["n_pe"], row["time_ns"] = n_pe[r, w], r0 + t_roi[r, w]
                row["first_pe_ns"] = dep[0] if dep.size else -1.0
                row["n_pe_roi_start"] = np.count_nonzero(dep < r0)
                row["n_pretrace_pe"] = np.count_nonzero((all_t >= a) & (all_t < b))
                row["n_dark_roi"] = np.count_nonzero((dark >= r0) & (dark < r0 + t_roi[r, w]))
                row["baseline"] = (s.baseline_adc + self.ramp[centre]) if recorded is None else np.nan
                row["spe_gain"] = s.spe_gain
        ids = first_trigger_id + np.arange(n_records, dtype=np.int64)
        times = 10**18 + ids * 16_666_667
        return InjectionBatch(csi, ids, times, truth)


def integration_fraction(cfg: object, n_pe: int, pre_ns: float = 0.0, samples: int = 4000,
                         seed: int = 0) -> float:
    """Mean fraction of a deposit's N photoelectrons inside ``[first PE - pre_ns, + integration_ns)``: the
    integration window of a reconstruction whose onset is the deposit's first photoelectron (computed from
    the CsI[Na] time profile of the config by sampling photon times only)."""
    s, t_int = cfg.simulation, cfg.features.integration_ns
    rng = np.random.default_rng([seed, n_pe])
    decay = np.where(rng.random((samples, n_pe)) < s.scint_slow_fraction, s.scint_slow_ns, s.scint_fast_ns)
    t = s.scint_rise_ns * rng.standard_exponential((samples, n_pe)) + decay * rng.standard_exponential((samples, n_pe))
    first = t.min(axis=1, keepdims=True)
    inside = t < first - pre_ns + t_int
    return float(inside.mean())

