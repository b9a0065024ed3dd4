"""The SNS-like beam timeline: a pure, seeded function of the pulse id.

Pulse ``i`` comes at ``start_time_ns + round(i * 1e9 / rep_rate_hz)`` and carries
``POT = P / (E_p * e * f_rep)`` protons (1.4 MW at 1 GeV and 60 Hz: 1.46e14), times a
gaussian pulse-to-pulse fluctuation. Beam trips (a Poisson process of trip starts with
exponential lengths) and, optionally, alternating beam-off stretches remove the beam.

Everything random is drawn per block of :data:`BLOCK_PULSES` pulses from a generator
keyed on (seed, stream, block), and a trip that starts in one block reaches into the
following ones, so ``pulses(first, n)`` gives the same rows however the range is sliced.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from daq import dtypes
from daq.hardware.protocols import RunParameters

ELEMENTARY_CHARGE_C = 1.602176634e-19  # SI exact
BLOCK_PULSES = 3600  # pulses per random-number block (one minute at 60 Hz)
TRIP_LENGTH_CAP = 30.0  # trips are cut at this many mean lengths (exp(-30): never in practice)
STREAM_POWER = 1
STREAM_TRIPS = 2


def pulse_time_ns(params: RunParameters, rep_rate_hz: float, pulse_id: np.ndarray | int) -> np.ndarray:
    """POT time of pulse ``pulse_id`` [ns since epoch]."""
    ids = np.asarray(pulse_id, dtype=np.int64)
    return params.start_time_ns + np.rint(ids * 1e9 / rep_rate_hz).astype(np.int64)


def nominal_pot(cfg: object) -> float:
    """Protons per pulse at the configured beam power, proton energy and repetition rate."""
    b = cfg.beam
    return b.power_mw * 1e6 / (b.proton_energy_gev * 1e9 * ELEMENTARY_CHARGE_C * b.rep_rate_hz)


class SNSBeamTimeline:
    """Deterministic BEAM_PULSE rows of a run, with random access by pulse id."""

    def __init__(self, cfg: object, params: RunParameters, cache_blocks: int = 4) -> None:
        self.cfg = cfg
        self.params = params
        self.rep_rate_hz = cfg.beam.rep_rate_hz
        self.pot_nominal = nominal_pot(cfg)
        sim = cfg.simulation
        self._trip_per_block = sim.trip_rate_per_hour / 3600.0 * BLOCK_PULSES / self.rep_rate_hz
        self._trip_mean_pulses = sim.trip_mean_s * self.rep_rate_hz
        cap = TRIP_LENGTH_CAP * self._trip_mean_pulses
        self._trip_lookback = int(np.ceil(cap / BLOCK_PULSES)) if self._trip_per_block > 0 else 0
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_blocks = cache_blocks

    def pulses(self, first_id: int, n: int) -> np.ndarray:
        """``n`` consecutive pulses from ``first_id`` (BEAM_PULSE dtype)."""
        if first_id < 0 or n < 0:
            raise ValueError(f"pulse range must be non-negative, got first_id={first_id}, n={n}")
        out = np.zeros(n, dtypes.BEAM_PULSE)
        done = 0
        while done < n:
            pid = first_id + done
            block, offset = divmod(pid, BLOCK_PULSES)
            take = min(n - done, BLOCK_PULSES - offset)
            out[done : done + take] = self._block(block)[offset : offset + take]
            done += take
        return out

    def _block(self, block: int) -> np.ndarray:
        if block in self._cache:
            self._cache.move_to_end(block)
            return self._cache[block]
        rows = self._make_block(block)
        self._cache[block] = rows
        while len(self._cache) > self._cache_blocks:
            self._cache.popitem(last=False)
        return rows

    def _trips(self, block: int) -> tuple[np.ndarray, np.ndarray]:
        """(first pulse, length in pulses) of the trips that start in ``block``."""
        rng = np.random.default_rng([self.params.seed, STREAM_TRIPS, block])
        k = rng.poisson(self._trip_per_block)
        starts = block * BLOCK_PULSES + rng.integers(0, BLOCK_PULSES, k)
        lengths = np.ceil(rng.exponential(self._trip_mean_pulses, k))
        lengths = np.minimum(np.maximum(lengths, 1), TRIP_LENGTH_CAP * self._trip_mean_pulses)
        return starts.astype(np.int64), lengths.astype(np.int64)

    def _make_block(self, block: int) -> np.ndarray:
        sim = self.cfg.simulation
        ids = np.arange(block * BLOCK_PULSES, (block + 1) * BLOCK_PULSES, dtype=np.int64)
        rows = np.zeros(len(ids), dtypes.BEAM_PULSE)
        rows["pulse_id"] = ids
        rows["time"] = pulse_time_ns(self.params, self.rep_rate_hz, ids)
        rng = np.random.default_rng([self.params.seed, STREAM_POWER, block])
        pot = self.pot_nominal * np.clip(1.0 + sim.power_fluctuation * rng.standard_normal(len(ids)), 0.0, None)
        beam_on = np.ones(len(ids), bool)
        if self._trip_per_block > 0:
            for b in range(max(0, block - self._trip_lookback), block + 1):
                for start, length in zip(*self._trips(b), strict=True):
                    lo, hi = start - ids[0], start + length - ids[0]
                    beam_on[max(lo, 0) : max(min(hi, len(ids)), 0)] = False
        if sim.beam_off_period_s > 0:
            stretch = np.floor(ids / (self.rep_rate_hz * sim.beam_off_period_s)).astype(np.int64)
            beam_on &= stretch % 2 == 0
        pot[~beam_on] = 0.0
        rows["pot"] = pot
        rows["power_mw"] = pot * self.cfg.beam.proton_energy_gev * 1e9 * ELEMENTARY_CHARGE_C * self.rep_rate_hz / 1e6
        rows["energy_gev"] = self.cfg.beam.proton_energy_gev
        rows["beam_on"] = beam_on
        rows["good"] = beam_on & (pot > 0)
        return rows
