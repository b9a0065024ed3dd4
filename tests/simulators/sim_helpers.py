"""Helpers for the simulator tests: run parameters and config overrides."""

from __future__ import annotations

from daq.hardware.protocols import RunParameters

START_NS = 1_700_000_000_000_000_000

# Every light source of the CsI and every veto source switched off: baselines with noise only.
DARK_DETECTOR = {
    "dark_rate_hz": 0.0,
    "gamma_rate_hz": 0.0,
    "internal_line_rate_hz": 0.0,
    "cherenkov_rate_hz": 0.0,
    "muon_rate_hz": 0.0,
    "veto_beam_rate_per_pulse": 0.0,
    "beam_neutron_per_pulse": 0.0,
}


def run_parameters(seed: int = 7, rate_boost: float = 1.0, speed: float = 1.0) -> RunParameters:
    """Run parameters of a simulated run starting at a fixed epoch time."""
    return RunParameters(run_number=1, seed=seed, rate_boost=rate_boost, speed=speed, start_time_ns=START_NS)


class FakeClock:
    """A monotonic clock that moves only when told to, or when a device sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, dt: float) -> None:
        self.now += dt
