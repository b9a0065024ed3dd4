"""Beam receiver: one BEAM_PULSE record per accelerator pulse, sent on losslessly.

Pulses the backend reports as missed (e.g. skipped EPICS updates) travel as LOSS rows
with ``trigger_id = -1``: they are beam records, not triggers.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from daq import dtypes
from daq.config import Config
from daq.hardware import registry
from daq.hardware.protocols import BeamBackend, RunParameters
from daq.processes.node import Node
from daq.wire import transport

STREAM = "beam"


class BeamReceiver(Node):
    name = "beam"

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        self.out = transport.push(self.ctx, cfg.endpoints.beam, cfg.endpoints.lossless_hwm)
        self.device: BeamBackend | None = None
        self.backend_class = type(registry.beam(cfg))  # import before the first heartbeat
        self.pulses = 0
        self.missed = 0
        self.last_time = 0

    def on_start(self, params: RunParameters, meta: dict[str, Any]) -> None:
        self.device = self.backend_class()
        self.device.configure(self.cfg, params)
        self.pulses = self.missed = 0
        self.device.start()

    def _fetch(self, timeout_s: float) -> int:
        assert self.device is not None
        pulses, missed = self.device.fetch(self.cfg.run.batch_max_triggers, timeout_s)
        if len(pulses) == 0 and not missed:
            return 0
        losses = np.zeros(1 if missed else 0, dtypes.LOSS)
        if missed:
            losses[0] = (-1, missed, time.time_ns(), b"beam", b"beam pulse missed")
        self.pulses += len(pulses)
        if len(pulses):
            self.last_time = int(pulses["time"][-1])
        self.missed += missed
        self.counters["losses"] = self.missed
        self.counters["triggers_in"] += len(pulses)
        msg = self.message(STREAM, arrays={"beam": pulses, "losses": losses})
        self.send_lossless(self.out, msg, triggers=len(pulses))
        return len(pulses)

    def on_tick(self) -> bool:
        if self.state == "running" and self.device is not None:
            return self._fetch(0.01) >= self.cfg.run.batch_max_triggers
        return False

    def on_stop(self, meta: dict[str, Any]) -> None:
        """Deliver pulses until one lies past ``meta["until_ns"]`` (the reader's last trigger
        plus the match window), so that every recorded trigger can find its pulse."""
        assert self.device is not None
        until = meta.get("until_ns")
        deadline = time.monotonic() + 5.0
        while until is not None and self.last_time <= until and time.monotonic() < deadline:
            self._fetch(0.05)
        self.device.stop()
        while self._fetch(0.0):
            pass
        self.device.close()
        self.device = None
        meta = {"pulses": self.pulses, "missed": self.missed}
        self.send_lossless(self.out, self.message(STREAM, "eor", meta=meta))
        self.state = "idle"

    def on_exit(self) -> None:
        if self.device is not None:
            self.device.close()
