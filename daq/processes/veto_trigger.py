"""Muon-veto trigger: finds muon hits in the veto channel of every record.

A socket adapter around :class:`daq.stages.veto.VetoHits`. The hits (VETO_HIT rows) travel on
with the event, the trigger's ``n_veto_hits`` is filled, and the cut pipeline flags CsI windows
with a veto coincidence.
"""

from __future__ import annotations

import numpy as np
import zmq

from daq.config import Config
from daq.processes.node import Node
from daq.stages.veto import VetoHits
from daq.wire import transport
from daq.wire.envelope import Message

STREAM = "vetoed"


class VetoTrigger(Node):
    name = "veto"

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        hwm = cfg.endpoints.lossless_hwm
        self.events = transport.pull(self.ctx, cfg.endpoints.events, hwm, "events", cfg.endpoints.max_data_bytes)
        self.out = transport.push(self.ctx, cfg.endpoints.vetoed, hwm)
        self.veto_hits = VetoHits(cfg)

    @staticmethod
    def warm_kernels(cfg: Config) -> None:
        VetoHits(cfg).warm()

    def inputs(self) -> list[zmq.Socket]:
        return [self.events]

    def input_stream(self, sock: zmq.Socket) -> str | None:
        return "events"

    def on_message(self, sock: zmq.Socket, msg: Message) -> None:
        if msg.kind != "data":
            if msg.kind == "eor":
                self.state = "idle"
            self.send_lossless(self.out, self.message(STREAM, msg.kind, meta=msg.meta))
            return
        arrays = dict(msg.arrays)
        triggers = np.array(arrays["triggers"])
        n = len(triggers)
        self.counters["triggers_in"] += n
        if n:
            arrays["veto_hits"] = self.veto_hits(arrays["veto"], triggers)
        arrays["triggers"] = triggers
        if not self.cfg.recorder.raw_veto:  # past here only the recorder reads the veto channel
            arrays["veto"] = arrays["veto"][:0]
        self.send_lossless(self.out, self.message(STREAM, arrays=arrays), triggers=n)
