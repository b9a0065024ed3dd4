"""Digitizer reader: reads triggered records from the backend and sends them on, losslessly.

Records are sent in batches of at most ``run.batch_max_triggers`` and no later than
``run.batch_max_latency_s`` after the first of them was read. Triggers the device lost
(e.g. a full buffer) travel as LOSS rows. On stop, the reader drains the device and
sends an end-of-run message carrying ``generated``: every trigger of the run.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from daq import dtypes
from daq.config import Config
from daq.hardware import registry
from daq.hardware.protocols import DigitizerBackend, RecordBatch, RunParameters
from daq.processes.node import Node
from daq.wire import transport

log = logging.getLogger(__name__)

STREAM = "records"


def loss_rows(batch: RecordBatch, stage: str) -> np.ndarray:
    rows = np.zeros(len(batch.losses), dtypes.LOSS)
    for i, loss in enumerate(batch.losses):
        rows[i] = (loss.first_trigger_id, loss.count, time.time_ns(), stage.encode(), loss.reason.encode()[:48])
    return rows


def concat(batches: list[RecordBatch]) -> dict[str, np.ndarray]:
    """One message's arrays from several device batches (one batch's own arrays, not copied: at a
    replay's full speed that copy was a fifth of the reader's CPU)."""
    if len(batches) == 1:
        b = batches[0]
        return {"triggers": b.triggers, "csi": b.waveforms["csi"], "veto": b.waveforms["veto"],
                "truth_events": b.truth_events, "truth_windows": b.truth_windows, "losses": loss_rows(b, "reader")}
    return {
        "triggers": np.concatenate([b.triggers for b in batches]),
        "csi": np.concatenate([b.waveforms["csi"] for b in batches]),
        "veto": np.concatenate([b.waveforms["veto"] for b in batches]),
        "truth_events": np.concatenate([b.truth_events for b in batches]),
        "truth_windows": np.concatenate([b.truth_windows for b in batches]),
        "losses": np.concatenate([loss_rows(b, "reader") for b in batches]),
    }


class DigitizerReader(Node):
    name = "reader"

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        self.out = transport.push(self.ctx, cfg.endpoints.records, cfg.endpoints.lossless_hwm)
        self.device: DigitizerBackend | None = None
        self.backend_class = type(registry.digitizer(cfg))  # the backend's module, imported
        self.pending: list[RecordBatch] = []
        self.pending_since = 0.0
        self.read = 0
        self.lost = 0
        self.last_trigger_time = 0

    @staticmethod
    def warm_kernels(cfg: Config) -> None:
        warm_up = getattr(type(registry.digitizer(cfg)), "warm_up", None)  # a simulator's kernels, a library's load
        if warm_up is not None:
            warm_up(cfg)

    def on_start(self, params: RunParameters, meta: dict[str, Any]) -> None:
        self.device = self.backend_class()
        self.device.configure(self.cfg, params)
        self.read = self.lost = 0
        self.pending = []
        self.exhausted_reported = False
        self.device.start()
        # the start of run (before any data: the loop fetches only after this) says when the digitizer
        # was armed, so a viewer can tell the wall time of each trigger (latency, benchmarks/)
        device_meta = dict(getattr(self.device, "run_meta", {}))  # e.g. a replay's recorded start calibration
        self.send_lossless(self.out, self.message(STREAM, "sor", meta={**device_meta, "params": meta["params"],
                                                                      "armed_ns": time.time_ns()}))

    def _fetch(self, timeout_s: float) -> int:
        assert self.device is not None
        batch = self.device.fetch(self.cfg.run.batch_max_triggers, timeout_s)
        if len(batch) or batch.losses:
            if not self.pending:
                self.pending_since = time.monotonic()
            self.pending.append(batch)
            self.read += len(batch)
            self.lost += sum(loss.count for loss in batch.losses)
            self.counters["losses"] = self.lost
        return len(batch)

    def _send_pending(self) -> None:
        if not self.pending:
            return
        arrays = concat(self.pending)
        n = len(arrays["triggers"])
        if n:
            self.last_trigger_time = int(arrays["triggers"]["time"][-1])
        self.pending = []
        self.counters["triggers_in"] += n
        self.send_lossless(self.out, self.message(STREAM, arrays=arrays), triggers=n)

    def on_tick(self) -> bool:
        if self.state != "running" or self.device is None:
            return False
        full = self._fetch(0.01) >= self.cfg.run.batch_max_triggers
        if getattr(self.device, "exhausted", False) and not self.exhausted_reported:
            self.exhausted_reported = True
            self.report("exhausted")  # a finite source ended: the supervisor stops the run
        n_pending = sum(len(b) for b in self.pending)
        if n_pending >= self.cfg.run.batch_max_triggers or (
            self.pending and time.monotonic() - self.pending_since >= self.cfg.run.batch_max_latency_s
        ):
            self._send_pending()
        self.counters["queue_depth"] = n_pending
        return full

    def _drain(self) -> None:
        """Read out what the stopped device still holds (bounded by its buffer), heartbeating."""
        while self._fetch(0.0):
            if sum(len(b) for b in self.pending) >= self.cfg.run.batch_max_triggers:
                self._send_pending()
            self.heartbeat()

    def on_stop(self, meta: dict[str, Any]) -> None:
        assert self.device is not None
        # Disarm first, then read out the buffer: draining a device that still triggers would
        # never end when it triggers faster than the reader reads.
        generated = self.device.stop()
        self._drain()
        last = [b.triggers["time"][-1] for b in self.pending if len(b)]
        self.last_trigger_time = int(last[-1]) if last else self.last_trigger_time
        self._send_pending()
        self.device.close()
        self.device = None
        meta = {"generated": int(generated), "read": self.read, "lost": self.lost,
                "last_trigger_time_ns": self.last_trigger_time}
        log.info("reader: run %d ends: %s", self.params.run_number if self.params else -1, meta)
        self.send_lossless(self.out, self.message(STREAM, "eor", meta=meta))
        self.extra["last_run"] = meta
        self.report("stopped", **meta)
        self.state = "idle"

    def on_exit(self) -> None:
        if self.device is not None:
            self.device.close()
