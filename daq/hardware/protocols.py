"""Hardware contracts: what a digitizer backend and a beam backend must do.

The simulated devices (``simulators/``) and the real ones (NI-SCOPE, CAEN, EPICS) all
implement these small protocols, so the reader and beam-receiver processes never know
which they drive. Real backends import their vendor libraries lazily, inside
``configure``, and raise :class:`BackendUnavailable` naming the missing driver.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from daq import dtypes


class BackendUnavailable(RuntimeError):
    """A backend whose vendor driver or library is missing; the text says what to install."""


@dataclass(frozen=True)
class RunParameters:
    """What changes from run to run (the config is what stays)."""

    run_number: int
    seed: int
    rate_boost: float
    speed: float
    start_time_ns: int  # time of pulse 0 [ns since epoch]


@dataclass
class LossRecord:
    first_trigger_id: int
    count: int
    reason: str


@dataclass
class RecordBatch:
    """Consecutive triggered records as a digitizer delivers them.

    ``triggers`` has TRIGGER dtype with ``trigger_id`` and ``time`` filled (the rest is
    the event builder's); ``waveforms`` maps channel name -> int8/int16 array of shape
    (n, n_samples). ``truth_events``/``truth_windows`` are empty for real hardware.
    ``losses`` lists triggers the device could not deliver (e.g. a full buffer).
    """

    triggers: np.ndarray
    waveforms: dict[str, np.ndarray]
    truth_events: np.ndarray = field(default_factory=lambda: np.zeros(0, dtypes.TRUTH_EVENT))
    truth_windows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtypes.TRUTH_WINDOW))
    losses: list[LossRecord] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.triggers)


class DigitizerBackend(Protocol):
    """A triggered multi-channel digitizer: one record per beam trigger."""

    def configure(self, cfg: object, params: RunParameters) -> None:
        """Apply the config (a daq.config.Config) for a run; open the device."""

    def start(self) -> None:
        """Arm: records start arriving."""

    def fetch(self, max_records: int, timeout_s: float) -> RecordBatch:
        """Up to ``max_records`` records; waits at most ``timeout_s`` for the first. The batch's arrays
        are the caller's: the device never writes into them again (the reader sends them as they are)."""

    @property
    def exhausted(self) -> bool:
        """True once a finite source (a replayed file) has delivered its last record."""

    def stop(self) -> int:
        """Disarm. Returns the number of triggers the device generated in this run."""

    def close(self) -> None:
        """Release the device."""


class BeamBackend(Protocol):
    """The accelerator timing / beam-data source: one BEAM_PULSE record per pulse."""

    def configure(self, cfg: object, params: RunParameters) -> None:
        """Apply the config for a run; connect."""

    def start(self) -> None:
        """Start delivering pulses."""

    def fetch(self, max_pulses: int, timeout_s: float) -> tuple[np.ndarray, int]:
        """(pulses with BEAM_PULSE dtype, number of pulses detected as missed since the last call)."""

    def stop(self) -> None:
        """Stop delivering pulses."""

    def close(self) -> None:
        """Disconnect."""
