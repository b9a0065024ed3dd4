"""Cut pipeline: applies the cut families to the C and AC windows identically.

Every event goes on to the recorder with its cut bits (lossless). Data-quality rows are
made here, where every quantity they need is at hand, and go both to the recorder and
to the monitoring stream. The monitoring stream (PUB) carries, per batch: the triggers,
the features with cut bits, the veto hits, and the last record's waveforms and peaks
for the waveform viewer; a viewer that cannot keep up loses messages, which are counted
here (``monitor_dropped``) and seen as sequence gaps by the viewer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import zmq

from daq import cuts, dtypes, transport
from daq.config import Config
from daq.dq import DQAccumulator
from daq.envelope import Message
from daq.hardware import RunParameters
from daq.node import Node

STREAM = "selected"
MONITOR = "monitor"


class CutPipeline(Node):
    name = "cuts"

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        hwm = cfg.endpoints.lossless_hwm
        self.vetoed = transport.pull(self.ctx, cfg.endpoints.vetoed, hwm, "vetoed")
        self.out = transport.push(self.ctx, cfg.endpoints.selected, hwm)
        self.monitor = transport.publisher(self.ctx, cfg.endpoints.monitor, cfg.endpoints.monitor_hwm, "monitor")
        self.cut_params = cuts.cut_params(cfg)
        self.dq = DQAccumulator(cfg)
        self.fail_counts = dict.fromkeys(dtypes.CUT_NAMES.values(), 0)
        self.n_windows = 0
        self.counters["monitor_dropped"] = 0

    def inputs(self) -> list[zmq.Socket]:
        return [self.vetoed]

    def input_stream(self, sock: zmq.Socket) -> str | None:
        return "vetoed"

    def on_start(self, params: RunParameters, meta: dict[str, Any]) -> None:
        self.dq = DQAccumulator(self.cfg)
        self.fail_counts = dict.fromkeys(dtypes.CUT_NAMES.values(), 0)
        self.n_windows = 0

    def publish(self, msg: Message) -> None:
        if not transport.try_send(self.monitor, msg):
            self.counters["monitor_dropped"] += 1

    def _send_dq(self, rows: list[np.ndarray]) -> None:
        if not rows:
            return
        arr = np.array(rows, dtype=dtypes.DQ)
        self.send_lossless(self.out, self.message(STREAM, "dq", arrays={"dq": arr}))
        self.publish(self.message(MONITOR, "dq", arrays={"dq": arr}))

    def cut_fractions(self) -> dict[str, float]:
        n = max(self.n_windows, 1)
        return {name: count / n for name, count in self.fail_counts.items()}

    def on_message(self, sock: zmq.Socket, msg: Message) -> None:
        if msg.kind != "data":
            if msg.kind == "eor":
                last = self.dq.flush()
                self._send_dq(last)
                meta = {**msg.meta, "cut_fractions": self.cut_fractions(), "windows": self.n_windows}
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
        self.dq.add_beam(arrays["beam"])
        self.dq.add_losses(arrays["losses"])
        if n:
            cuts.apply_cuts(feats, arrays["veto_hits"], self.cut_params)
            for bit, name in dtypes.CUT_NAMES.items():
                self.fail_counts[name] += int(np.count_nonzero(feats["cut_mask"] & bit))
            self.n_windows += len(feats)
        arrays["features"] = feats
        arrays["selected"] = cuts.selected_events(feats, triggers)
        rows = self.dq.add(triggers, feats, arrays["veto_hits"], arrays["peaks"])
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
            self.publish(self.message(MONITOR, arrays=view, meta={"cut_fractions": self.cut_fractions()}))
