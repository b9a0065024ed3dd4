"""Muon-veto trigger: finds muon hits in the veto channel of every record.

The hits (VETO_HIT rows) travel on with the event, the trigger's ``n_veto_hits`` is
filled, and the cut pipeline flags CsI windows with a veto coincidence.
"""

from __future__ import annotations

import numpy as np
import zmq

from daq import transport, veto_hits
from daq.config import Config
from daq.envelope import Message
from daq.node import Node

STREAM = "vetoed"


class VetoTrigger(Node):
    name = "veto"

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        hwm = cfg.endpoints.lossless_hwm
        self.events = transport.pull(self.ctx, cfg.endpoints.events, hwm, "events")
        self.out = transport.push(self.ctx, cfg.endpoints.vetoed, hwm)
        v, d = cfg.veto, cfg.digitizer
        self.kernel_args = (d.polarity, v.threshold_adc, max(1, round(v.deadtime_ns / d.sample_ns)),
                            v.baseline_samples, d.sample_ns)
        veto_hits.find_veto_hits(np.zeros((1, d.n_samples), np.int8), np.zeros(1, np.int64), *self.kernel_args)

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
            hits = veto_hits.find_veto_hits(arrays["veto"], triggers["trigger_id"], *self.kernel_args)
            counts = np.bincount(np.searchsorted(triggers["trigger_id"], hits["trigger_id"]), minlength=n)
            triggers["n_veto_hits"] = counts[:n]
            arrays["veto_hits"] = hits
        arrays["triggers"] = triggers
        if not self.cfg.recorder.raw_veto:  # past here only the recorder reads the veto channel
            arrays["veto"] = arrays["veto"][:0]
        self.send_lossless(self.out, self.message(STREAM, arrays=arrays), triggers=n)
