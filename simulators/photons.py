"""Photoelectron arrival times in one digitized record, from deposits on the timeline.

Times here are float ns after the record's first sample. A scintillating deposit emits its
PE with the CsI[Na] time profile (rise, fast and slow decays: each PE is delayed by the sum
of a rise and a decay exponential, which has exactly the rise-decay shape) and adds
``afterglow_pe_fraction * n_pe`` afterglow PE decaying with ``afterglow_tau_ns``; a
Cherenkov burst emits its PE within a few ns; the PMT adds dark counts.

Deposits too bright to follow PE by PE (a muon through the crystal, ~10^5 PE, which
saturates the ADC anyway) are rendered as their mean light curve instead, see
:meth:`PhotonModel.mean_charge_per_sample`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daq import dtypes
from simulators.deposits import SCINTILLATING

HORIZON_TAUS = 30.0  # light of a deposit is followed for this many decay times (exp(-30) ~ 1e-13)
MEAN_CURVE_MIN_PE = 20000  # deposits with more PE are rendered as their mean light curve


@dataclass
class RecordLight:
    """The light that reaches the PMT during one record."""

    pe_time_ns: np.ndarray  # sampled PE arrival times in the record [ns]
    curve_time_ns: np.ndarray  # mean-light-curve deposits: deposit times [ns] ...
    curve_n_pe: np.ndarray  # ... and their PE
    deposit_pe_in_record: np.ndarray  # per input deposit: its scintillation/Cherenkov PE inside the record


class PhotonModel:
    """CsI[Na] scintillation, afterglow, Cherenkov and dark-count timing from the config."""

    def __init__(self, cfg: object) -> None:
        s = cfg.simulation
        self.rise = s.scint_rise_ns
        self.fast = s.scint_fast_ns
        self.slow = s.scint_slow_ns
        self.slow_fraction = s.scint_slow_fraction
        self.afterglow_fraction = s.afterglow_pe_fraction
        self.afterglow_tau = s.afterglow_tau_ns
        self.dark_rate_per_ns = s.dark_rate_hz * 1e-9
        self.cherenkov_spread = s.cherenkov_spread_ns
        self.length_ns = float(cfg.digitizer.record_length_ns)
        self.scint_horizon_ns = HORIZON_TAUS * max(self.rise, self.fast, self.slow)
        self.afterglow_horizon_ns = HORIZON_TAUS * self.afterglow_tau
        self.horizon_ns = max(self.scint_horizon_ns, self.afterglow_horizon_ns)
        self.cherenkov_horizon_ns = HORIZON_TAUS * self.cherenkov_spread
        self._is_scint = np.zeros(256, bool)  # indexed by TRUTH_* code
        self._is_scint[list(SCINTILLATING)] = True

    def scint_cdf(self, t_ns: np.ndarray) -> np.ndarray:
        """Fraction of a deposit's scintillation PE emitted by ``t_ns`` after it."""
        t = np.clip(np.asarray(t_ns, dtype=float), 0.0, None)
        out = np.zeros_like(t)
        for frac, decay in ((1.0 - self.slow_fraction, self.fast), (self.slow_fraction, self.slow)):
            if decay == self.rise:
                out += frac * (1.0 - (1.0 + t / decay) * np.exp(-t / decay))
            else:
                tail = decay * np.exp(-t / decay) - self.rise * np.exp(-t / self.rise)
                out += frac * (1.0 - tail / (decay - self.rise))
        return out

    def mean_charge_per_sample(
        self, t_dep_ns: float, n_pe: float, gain: float, n_samples: int, dt_ns: float
    ) -> np.ndarray:
        """Mean charge per sample [ADC*sample] of a deposit at ``t_dep_ns`` (sample k centred at k*dt)."""
        edges = (np.arange(n_samples + 1) - 0.5) * dt_ns - t_dep_ns
        return n_pe * gain * np.diff(self.scint_cdf(edges))

    def record_light(
        self, rng: np.random.Generator, t_ns: np.ndarray, kind: np.ndarray, n_pe: np.ndarray
    ) -> RecordLight:
        """Sample the PE of deposits at record times ``t_ns`` (negative: before the record).

        Draws, in order: scintillation PE, Cherenkov PE, afterglow PE, dark counts.
        """
        length = self.length_ns
        n_dep = len(t_ns)
        scint = self._is_scint[kind] & (t_ns < length)
        parts = []
        counts = np.zeros(n_dep, np.int64)

        # scintillation, PE by PE, and the mean light curve of very bright deposits
        near = scint & (t_ns >= -self.scint_horizon_ns) & (n_pe > 0)
        curve = near & (n_pe > MEAN_CURVE_MIN_PE)
        sampled = near & ~curve
        if sampled.any():
            idx = np.repeat(np.flatnonzero(sampled), n_pe[sampled])
            m = len(idx)
            decay = np.where(rng.random(m) < self.slow_fraction, self.slow, self.fast)
            t = t_ns[idx] + self.rise * rng.standard_exponential(m) + decay * rng.standard_exponential(m)
            keep = (t >= 0) & (t < length)
            parts.append(t[keep])
            counts += np.bincount(idx[keep], minlength=n_dep)

        # Cherenkov bursts
        cher = (kind == dtypes.TRUTH_CHERENKOV) & (t_ns < length) & (t_ns >= -self.cherenkov_horizon_ns)
        if cher.any():
            idx = np.repeat(np.flatnonzero(cher), n_pe[cher])
            t = t_ns[idx] + self.cherenkov_spread * rng.standard_exponential(len(idx))
            keep = (t >= 0) & (t < length)
            parts.append(t[keep])
            counts += np.bincount(idx[keep], minlength=n_dep)

        # afterglow of every scintillating deposit within the horizon
        ag = scint & (t_ns >= -self.afterglow_horizon_ns)
        if ag.any():
            t0 = t_ns[ag]
            tau = self.afterglow_tau
            e_a = np.exp(np.minimum(t0, 0.0) / tau)
            e_b = np.exp((t0 - length) / tau)
            k = rng.poisson(self.afterglow_fraction * n_pe[ag] * (e_a - e_b))
            if k.any():
                j = np.repeat(np.arange(len(t0)), k)
                u = rng.random(len(j))
                parts.append(t0[j] - tau * np.log(e_a[j] - u * (e_a[j] - e_b[j])))

        # PMT dark counts
        parts.append(rng.random(rng.poisson(self.dark_rate_per_ns * length)) * length)

        curve_dep = np.flatnonzero(curve)
        for d in curve_dep:
            counts[d] = round(self.expected_in(t_ns[d], n_pe[d], 0.0, length))
        pe = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return RecordLight(pe, t_ns[curve_dep], n_pe[curve_dep].astype(float), counts)

    def expected_in(self, t_dep_ns: float, n_pe: float, a_ns: float, b_ns: float) -> float:
        """Mean scintillation PE of a deposit at ``t_dep_ns`` arriving in ``[a_ns, b_ns)``."""
        return float(n_pe * (self.scint_cdf(b_ns - t_dep_ns) - self.scint_cdf(a_ns - t_dep_ns)))
