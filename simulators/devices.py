"""Simulated devices: the digitizer and the beam timing source, paced by the wall clock.

Both implement the protocols of :mod:`daq.hardware.protocols`. Pulse ``i`` of a run is due at
``t0 + i / (rep_rate_hz * speed)``, where ``t0`` is the wall-clock time of ``start()``;
``fetch`` returns what has fallen due (waiting at most ``timeout_s`` for the first one).
Trigger ids are pulse ids: the digitizer triggers on every pulse, so trigger ``i`` is the
record of pulse ``i``.

The digitizer models an on-board buffer of ``digitizer.buffer_records`` records: a trigger
that arrives while the buffer is full is lost and reported once, as a
``LossRecord(first_trigger_id, count, "digitizer buffer full")`` in the next batch. Records
are generated lazily, when fetched, so lost triggers cost nothing. After ``stop()`` no
trigger arrives any more, but ``fetch`` still drains the buffer; ``stop()`` returns the
number of triggers that arrived (= records delivered or still buffered + triggers lost).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from daq import dtypes
from daq.hardware.protocols import LossRecord, RecordBatch, RunParameters
from simulators.beam import SNSBeamTimeline
from simulators.detector import DetectorSimulator
from simulators.rng import KeyedGenerator

BUFFER_FULL = "digitizer buffer full"
STREAM_BEAM_DROP = 21
DROP_BLOCK = 4096  # pulses per keyed generator of the beam-drop fault injection
MAX_SLEEP_S = 0.05  # longest single sleep while waiting for a pulse
MIN_SLEEP_S = 1e-6  # shortest, so rounding of the due time cannot spin
DUE_TOLERANCE = 1e-9  # [pulses] a pulse due at t counts as due at t despite float rounding


class _Pacer:
    """Wall-clock pacing: how many pulses have fallen due since ``start``."""

    def __init__(self, rate_hz: float, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.rate_hz = rate_hz
        self.clock = clock
        self.sleep = sleep
        self.t0: float | None = None

    def start(self) -> None:
        self.t0 = self.clock()

    def due(self) -> int:
        """Number of pulses due now (pulse 0 is due at start)."""
        if self.t0 is None:
            return 0
        return int(math.floor((self.clock() - self.t0) * self.rate_hz + DUE_TOLERANCE)) + 1

    def wait_for(self, count: int, deadline: float) -> None:
        """Sleep until ``count`` pulses are due or ``deadline`` (clock time) passes."""
        while self.t0 is not None and self.due() < count:
            now = self.clock()
            if now >= deadline:
                return
            due_at = self.t0 + (count - 1) / self.rate_hz
            self.sleep(max(MIN_SLEEP_S, min(due_at - now, deadline - now, MAX_SLEEP_S)))


class SimulatedDigitizer:
    """The simulated two-channel digitizer (CsI PMT and muon veto), one record per pulse."""

    exhausted = False  # an endless source: the beam runs until the run is stopped

    @staticmethod
    def warm_up(cfg: object) -> None:
        """Compile (or load from cache) the signal kernels by making one record, so that the
        first records of a run do not wait for the JIT."""
        params = RunParameters(run_number=0, seed=0, rate_boost=1.0, speed=1.0, start_time_ns=0)
        DetectorSimulator(cfg, params).records(SNSBeamTimeline(cfg, params).pulses(0, 1), 0)

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._detector: DetectorSimulator | None = None
        self._timeline: SNSBeamTimeline | None = None

    def configure(self, cfg: object, params: RunParameters) -> None:
        """Build the beam timeline and the detector for the run."""
        self._cfg = cfg
        self._timeline = SNSBeamTimeline(cfg, params)
        self._detector = DetectorSimulator(cfg, params)
        self._capacity = cfg.digitizer.buffer_records
        self._pacer = _Pacer(cfg.beam.rep_rate_hz * params.speed, self._clock, self._sleep)
        self._arrived = 0
        self._held = 0
        self._buffer: deque[list[int]] = deque()  # [first, stop) ranges of buffered trigger ids
        self._losses: list[LossRecord] = []
        self._running = False

    def start(self) -> None:
        """Arm: pulse 0 triggers now."""
        if self._detector is None:
            raise RuntimeError("SimulatedDigitizer.start: configure() first")
        self._pacer.start()
        self._running = True

    def _take_arrivals(self) -> None:
        """Move triggers that have arrived since the last look into the buffer or the loss list."""
        if not self._running:
            return
        due = self._pacer.due()
        new = due - self._arrived
        if new <= 0:
            return
        accepted = min(new, self._capacity - self._held)
        if accepted > 0:
            if self._buffer and self._buffer[-1][1] == self._arrived:
                self._buffer[-1][1] += accepted
            else:
                self._buffer.append([self._arrived, self._arrived + accepted])
            self._held += accepted
        lost = new - accepted
        if lost > 0:
            first = self._arrived + accepted
            last = self._losses[-1] if self._losses else None
            if last is not None and last.first_trigger_id + last.count == first:
                last.count += lost
            else:
                self._losses.append(LossRecord(first, lost, BUFFER_FULL))
        self._arrived = due

    def fetch(self, max_records: int, timeout_s: float) -> RecordBatch:
        """Up to ``max_records`` consecutive buffered records; waits at most ``timeout_s`` for the first."""
        if self._detector is None:
            raise RuntimeError("SimulatedDigitizer.fetch: configure() first")
        deadline = self._clock() + max(timeout_s, 0.0)
        self._take_arrivals()
        if self._held == 0 and self._running:
            self._pacer.wait_for(self._arrived + 1, deadline)
            self._take_arrivals()
        losses, self._losses = self._losses, []
        n = 0
        if self._held and max_records > 0:
            head = self._buffer[0]
            first = head[0]
            n = min(max_records, head[1] - first)
            head[0] += n
            if head[0] == head[1]:
                self._buffer.popleft()
            self._held -= n
        if n == 0:
            batch = self._empty_batch()
        else:
            batch = self._detector.records(self._timeline.pulses(first, n), first)
        batch.losses = losses
        return batch

    def _empty_batch(self) -> RecordBatch:
        n_samples = self._cfg.digitizer.n_samples
        return RecordBatch(
            triggers=np.zeros(0, dtypes.TRIGGER),
            waveforms={ch: np.zeros((0, n_samples), self._detector.adc_dtype) for ch in self._cfg.digitizer.channels},
        )

    def stop(self) -> int:
        """Disarm; buffered records stay fetchable. Returns the triggers generated in the run."""
        self._take_arrivals()
        self._running = False
        return self._arrived

    def close(self) -> None:
        """Release the simulated device."""
        self._running = False
        self._detector = None
        self._timeline = None


class SimulatedBeam:
    """The simulated accelerator timing source: one BEAM_PULSE row per pulse.

    ``drop_probability`` (fault injection) loses each pulse independently with that
    probability (seeded, reproducible); ``fetch`` reports how many were lost among the
    pulses it covered.
    """

    def __init__(
        self,
        drop_probability: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 0.0 <= drop_probability <= 1.0:
            raise ValueError(f"drop_probability: expected a probability in [0, 1], got {drop_probability}")
        self.drop_probability = drop_probability
        self._clock = clock
        self._sleep = sleep
        self._timeline: SNSBeamTimeline | None = None

    def configure(self, cfg: object, params: RunParameters) -> None:
        """Build the beam timeline for the run."""
        self._timeline = SNSBeamTimeline(cfg, params)
        self._pacer = _Pacer(cfg.beam.rep_rate_hz * params.speed, self._clock, self._sleep)
        self._drops = KeyedGenerator(params.seed, STREAM_BEAM_DROP)
        self._next = 0
        self._running = False

    def start(self) -> None:
        """Start delivering pulses: pulse 0 is due now."""
        if self._timeline is None:
            raise RuntimeError("SimulatedBeam.start: configure() first")
        self._pacer.start()
        self._running = True

    def _dropped(self, first: int, n: int) -> np.ndarray:
        """Which of pulses ``first .. first+n-1`` the fault injection loses."""
        out = np.zeros(n, bool)
        if self.drop_probability <= 0 or n == 0:
            return out
        for block in range(first // DROP_BLOCK, (first + n - 1) // DROP_BLOCK + 1):
            u = self._drops.at(block).random(DROP_BLOCK)
            lo, hi = max(first, block * DROP_BLOCK), min(first + n, (block + 1) * DROP_BLOCK)
            out[lo - first : hi - first] = u[lo - block * DROP_BLOCK : hi - block * DROP_BLOCK] < self.drop_probability
        return out

    def fetch(self, max_pulses: int, timeout_s: float) -> tuple[np.ndarray, int]:
        """(pulses due and not yet delivered, up to ``max_pulses``; pulses lost among them)."""
        if self._timeline is None:
            raise RuntimeError("SimulatedBeam.fetch: configure() first")
        deadline = self._clock() + max(timeout_s, 0.0)
        if self._running and self._pacer.due() <= self._next:
            self._pacer.wait_for(self._next + 1, deadline)
        due = self._pacer.due() if self._running else self._next
        n = max(0, min(due - self._next, max_pulses))
        pulses = self._timeline.pulses(self._next, n)
        dropped = self._dropped(self._next, n)
        self._next += n
        return pulses[~dropped], int(dropped.sum())

    def stop(self) -> None:
        """Stop delivering pulses."""
        self._running = False

    def close(self) -> None:
        """Release the simulated source."""
        self._running = False
        self._timeline = None
