"""Energy deposits on the continuous detector timeline: steady-state and beam-related.

Deposits are what happens in the detector whether or not a record is being digitized:
steady-state gammas, the internal-background line, Cherenkov bursts in the PMT glass and
muons (veto, and a fraction through the CsI) at constant rates; CEvNS recoils,
beam-related neutrons and beam-related veto hits at each beam pulse, in proportion to its
POT. Times are integer ns since the run start (the POT time of pulse 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daq import dtypes
from simulators.physics import CevnsSource, sample_arrival_ns, sample_proton_time_ns

# CsI deposits that scintillate (CsI[Na] time profile and afterglow); Cherenkov light is prompt.
SCINTILLATING = (
    dtypes.TRUTH_GAMMA,
    dtypes.TRUTH_INTERNAL_LINE,
    dtypes.TRUTH_MUON,
    dtypes.TRUTH_CEVNS_PROMPT,
    dtypes.TRUTH_CEVNS_DELAYED,
    dtypes.TRUTH_BEAM_NEUTRON,
)
VETO_KINDS = (dtypes.TRUTH_MUON, dtypes.TRUTH_VETO_BEAM)


@dataclass
class Deposits:
    """A set of deposits (parallel arrays)."""

    time_ns: np.ndarray  # int64, ns since the run start
    kind: np.ndarray  # int8, TRUTH_* code
    energy_kev: np.ndarray  # float64, keVnr for nuclear recoils, keVee otherwise, 0 for veto-only hits
    n_pe: np.ndarray  # int64, photoelectrons produced in the CsI PMT

    @classmethod
    def empty(cls) -> Deposits:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int8), np.zeros(0), np.zeros(0, np.int64))

    @classmethod
    def concat(cls, parts: list[Deposits]) -> Deposits:
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("time_ns", "kind", "energy_kev", "n_pe")))

    def select(self, mask: np.ndarray) -> Deposits:
        return Deposits(self.time_ns[mask], self.kind[mask], self.energy_kev[mask], self.n_pe[mask])

    def __len__(self) -> int:
        return len(self.time_ns)


class SteadyState:
    """Constant-rate deposits: gammas, internal line, Cherenkov bursts and muons."""

    KINDS = np.array(
        [dtypes.TRUTH_GAMMA, dtypes.TRUTH_INTERNAL_LINE, dtypes.TRUTH_CHERENKOV, dtypes.TRUTH_MUON], np.int8
    )

    def __init__(self, cfg: object) -> None:
        s = cfg.simulation
        self.sim = s
        self.rates_per_ns = np.array([s.gamma_rate_hz, s.internal_line_rate_hz, s.cherenkov_rate_hz, s.muon_rate_hz])
        self.rates_per_ns *= 1e-9

    def draw(self, rng: np.random.Generator, t0_ns: int, t1_ns: int) -> Deposits:
        """Deposits in ``[t0_ns, t1_ns)``; a fixed sequence of draws from ``rng``."""
        s = self.sim
        counts = rng.poisson(self.rates_per_ns * (t1_ns - t0_ns))
        n = int(counts.sum())
        kind = np.repeat(self.KINDS, counts)
        time_ns = t0_ns + np.floor(rng.random(n) * (t1_ns - t0_ns)).astype(np.int64)
        n_g, n_l, n_c, n_m = (int(c) for c in counts)
        energy = np.concatenate(
            [
                rng.exponential(s.gamma_slope_kevee, n_g),
                np.clip(rng.normal(s.internal_line_kevee, s.internal_line_sigma * s.internal_line_kevee, n_l), 0, None),
                np.zeros(n_c),
                np.where(rng.random(n_m) < s.muon_csi_fraction, s.muon_kevee, 0.0),
            ]
        )
        mean_pe = energy * s.light_yield_pe_per_kevee
        mean_pe[n_g + n_l : n_g + n_l + n_c] = s.cherenkov_pe_mean
        return Deposits(time_ns, kind, energy, rng.poisson(mean_pe))


class BeamRelated:
    """Per-pulse beam deposits: CEvNS (prompt, delayed), beam neutrons, beam-related veto hits.

    Expected counts scale with the pulse's POT; CEvNS and neutrons are multiplied by the
    run's ``rate_boost``.
    """

    KINDS = np.array(
        [dtypes.TRUTH_CEVNS_PROMPT, dtypes.TRUTH_CEVNS_DELAYED, dtypes.TRUTH_BEAM_NEUTRON, dtypes.TRUTH_VETO_BEAM],
        np.int8,
    )

    def __init__(self, cfg: object, cevns: CevnsSource, pot_nominal: float, rate_boost: float) -> None:
        s = cfg.simulation
        self.sim = s
        self.fwhm_ns = cfg.beam.pulse_fwhm_ns
        self.cevns = cevns
        prompt, delayed = cevns.expected_per_pot()
        self.per_pot = np.array(
            [
                prompt * rate_boost,
                delayed * rate_boost,
                s.beam_neutron_per_pulse / pot_nominal * rate_boost,
                s.veto_beam_rate_per_pulse / pot_nominal,
            ]
        )

    def draw(self, rng: np.random.Generator, pot: float, t_pot_ns: int) -> Deposits:
        """Deposits of one pulse with ``pot`` protons whose POT time is ``t_pot_ns``."""
        if pot <= 0:
            return Deposits.empty()
        counts = rng.poisson(self.per_pot * pot)
        if not counts.any():
            return Deposits.empty()
        s = self.sim
        n_p, n_d, n_n, n_v = (int(c) for c in counts)
        arrival = np.concatenate(
            [
                sample_arrival_ns(rng, n_p, self.fwhm_ns, delayed=False),
                sample_arrival_ns(rng, n_d, self.fwhm_ns, delayed=True),
                s.beam_neutron_delay_ns + sample_proton_time_ns(rng, n_n, self.fwhm_ns),
                s.veto_beam_delay_ns + sample_proton_time_ns(rng, n_v, self.fwhm_ns),
            ]
        )
        kevnr = np.concatenate(
            [
                self.cevns.sample_recoil_kevnr(rng, n_p, delayed=False),
                self.cevns.sample_recoil_kevnr(rng, n_d, delayed=True),
                rng.exponential(s.beam_neutron_kevnr, n_n),
            ]
        )
        mean_pe = np.concatenate([kevnr * s.quenching * s.light_yield_pe_per_kevee, np.zeros(n_v)])
        return Deposits(
            t_pot_ns + np.floor(arrival).astype(np.int64),
            np.repeat(self.KINDS, counts),
            np.concatenate([kevnr, np.zeros(n_v)]),
            rng.poisson(mean_pe),
        )
