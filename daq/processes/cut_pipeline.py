"""Cut pipeline: applies the cut families to the C and AC windows identically.

A socket adapter around :class:`daq.stages.selection.Selection` (cut bits, selected events,
DQ rows: the same code batch reprocessing runs). Every event goes on to the recorder with its
cut bits (lossless). Data-quality rows are made here, where every quantity they need is at hand,
and go both to the recorder and to the monitoring stream. The monitoring stream (PUB) carries, per batch: the triggers,
the features with cut bits, the veto hits, and the last record's waveforms and peaks
for the waveform viewer; a viewer that cannot keep up loses messages, which are counted
here (``monitor_dropped``) and seen as sequence gaps by the viewer.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import zmq

from daq.config import Config
from daq.hardware.protocols import RunParameters
from daq.processes.node import Node
from daq.stages.selection import Selection
from daq.wire import transport
from daq.wire.envelope import Message

log = logging.getLogger(__name__)
STREAM = "selected"
MONITOR = "monitor"
MAX_EARLY = 2000  # messages held before the first start (a restarted process); beyond, handled at once


class CutPipeline(Node):
    name = "cuts"

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        hwm = cfg.endpoints.lossless_hwm
        self.vetoed = transport.pull(self.ctx, cfg.endpoints.vetoed, hwm, "vetoed", cfg.endpoints.max_data_bytes)
        self.out = transport.push(self.ctx, cfg.endpoints.selected, hwm)
        self.monitor = transport.publisher(self.ctx, cfg.endpoints.monitor, cfg.endpoints.monitor_hwm, "monitor")
        self.selection = Selection(cfg)
        self.counters["monitor_dropped"] = 0
        # a restarted cut pipeline gets data before the supervisor's start (with the running sums to
        # continue from): held until then, so no DQ row starts again from zero
        self._early: list[tuple[zmq.Socket, Message]] = []

    def inputs(self) -> list[zmq.Socket]:
        return [self.vetoed]

    def input_stream(self, sock: zmq.Socket) -> str | None:
        return "vetoed"

    def on_start(self, params: RunParameters, meta: dict[str, Any]) -> None:
        self.selection = Selection(self.cfg)
        resume = meta.get("resume")
        if isinstance(resume, dict) and resume.get("run") == params.run_number:
            self.selection.resume(resume)  # restarted within the run: POT, GWhr and counts go on
            log.info("cuts: run %d continues from %.4g POT", params.run_number, self.selection.dq.pot_total)
        self._note_totals()
        early, self._early = self._early, []
        for sock, msg in early:  # what reached a restarted process before its start, now in order
            self.on_message(sock, msg)

    def _note_totals(self) -> None:
        """The running sums in every heartbeat (sent now): the supervisor hands them to a successor."""
        run = self.params.run_number if self.params else None
        self.extra["resume"] = {**self.selection.totals(), "run": run}
        self.heartbeat(force=True)

    def publish(self, msg: Message) -> None:
        if not transport.try_send(self.monitor, msg):
            self.counters["monitor_dropped"] += 1

    def _send_dq(self, arr: np.ndarray) -> None:
        if not len(arr):
            return
        self.send_lossless(self.out, self.message(STREAM, "dq", arrays={"dq": arr}))
        self.publish(self.message(MONITOR, "dq", arrays={"dq": arr}))
        self._note_totals()

    def on_message(self, sock: zmq.Socket, msg: Message) -> None:
        if self.params is None and len(self._early) < MAX_EARLY:
            self._early.append((sock, msg))
            return
        if msg.kind != "data":
            if msg.kind == "eor":
                self._send_dq(self.selection.finish())
                meta = {**msg.meta, "cut_fractions": self.selection.cut_fractions(),
                        "windows": self.selection.n_windows}
                self.send_lossless(self.out, self.message(STREAM, "eor", meta=meta))
                self.publish(self.message(MONITOR, "eor", meta=meta))
                self.state = "idle"
            else:
                self.send_lossless(self.out, self.message(STREAM, msg.kind, meta=msg.meta))
                self.publish(self.message(MONITOR, msg.kind, meta=msg.meta))
            return
        arrays = dict(msg.arrays)
        triggers = arrays["triggers"]
        feats = np.array(arrays["features"])
        n = len(triggers)
        self.counters["triggers_in"] += n
        selected, rows = self.selection(triggers, feats, arrays["veto_hits"], arrays["peaks"], arrays["beam"],
                                        arrays["losses"])
        arrays["features"] = feats
        arrays["selected"] = selected
        self.send_lossless(self.out, self.message(STREAM, arrays=arrays), triggers=n)
        self._send_dq(rows)
        if n:
            last_id = triggers["trigger_id"][-1]
            peaks = arrays["peaks"]
            view = {
                "triggers": triggers,
                "features": feats,
                "veto_hits": arrays["veto_hits"],
                "beam": arrays["beam"],
                "losses": arrays["losses"],
                "csi": arrays["view_csi"],
                "veto": arrays["view_veto"],
                "peaks": peaks[peaks["trigger_id"] == last_id],
            }
            self.publish(self.message(MONITOR, arrays=view, meta={"cut_fractions": self.selection.cut_fractions()}))
