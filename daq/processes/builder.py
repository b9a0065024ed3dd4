"""Event builder: joins digitizer records with beam pulses and extracts per-window features.

A socket adapter around :mod:`daq.stages.building` (matching and features; the same functions
batch reprocessing calls). Here: when a record is decided — once its pulse has arrived, once
the beam stream has moved past it, or once the beam stream has ended — and what travels on.

The SPE calibration a run starts from (:mod:`daq.stages.calibration`) is, first found: the one the
digitizer's start of run names (a replay: the recorded run's own start), the previous run's end in
this process, the run directory's calibration record (``calibration/spe.json``, which the recorder
writes at each end of run), the config's initial values. The end of run carries the start and end
calibrations to the recorder (run-file attribute ``spe_calibration``).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from daq import dtypes
from daq.config import Config
from daq.hardware.protocols import RunParameters
from daq.processes.node import Node
from daq.runfile import CALIBRATION_RECORD
from daq.stages.building import FeatureExtraction, build_batch, hold_pulses, prune_pulses
from daq.stages.calibration import SpeCalibration
from daq.wire import streams, transport
from daq.wire.envelope import Message

log = logging.getLogger(__name__)

STREAM = "events"
BEAM_WAIT_S = 3.0  # wall time a record waits for its pulse while the beam stream is silent


class EventBuilder(Node):
    name = "builder"

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        hwm = cfg.endpoints.lossless_hwm
        self.records = transport.pull(self.ctx, cfg.endpoints.records, hwm, "records", cfg.endpoints.max_data_bytes)
        self.beam = transport.pull(self.ctx, cfg.endpoints.beam, hwm, "beam", cfg.endpoints.max_data_bytes)
        self.out = transport.push(self.ctx, cfg.endpoints.events, hwm)
        self.window_ns = cfg.beam.match_window_ns
        self.n_samples = cfg.digitizer.n_samples
        self.carry: SpeCalibration | None = None  # the previous run's end calibration
        self.sor_calibration: dict[int, SpeCalibration | None] = {}  # by run number, from the start of run
        self.run_dir = Path(cfg.run.directory)
        self._reset()

    @staticmethod
    def warm_kernels(cfg: Config) -> None:
        FeatureExtraction(cfg).warm()

    def _reset(self) -> None:
        self.pending: list[Message] = []
        self.pulses = np.zeros(0, dtypes.BEAM_PULSE)
        self.beam_out: list[np.ndarray] = []
        self.loss_out: list[np.ndarray] = []
        self.reader_eor: dict[str, Any] | None = None
        self.beam_eor: dict[str, Any] | None = None
        self.last_beam_wall = time.monotonic()
        self.extraction: FeatureExtraction | None = None  # made at the run's first record
        self.start_calibration: SpeCalibration | None = None
        self.stats = {"unmatched_triggers": 0, "beam_pulses": 0, "matched_pulses": 0}

    def inputs(self) -> list[zmq.Socket]:
        return [self.records, self.beam]

    def input_stream(self, sock: zmq.Socket) -> str | None:
        return {id(self.beam): "beam", id(self.records): "records"}.get(id(sock))

    def on_start(self, params: RunParameters, meta: dict[str, Any]) -> None:
        self.run_dir = Path(meta.get("run_dir", self.cfg.run.directory))
        self._reset()

    def _recorded_calibration(self) -> SpeCalibration | None:
        path = self.run_dir / CALIBRATION_RECORD
        try:
            return SpeCalibration.from_dict(json.loads(path.read_text())["calibration"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("builder: calibration record %s unusable (%s); starting from the config", path, exc)
            return None

    def _extraction(self) -> FeatureExtraction:
        if self.extraction is None:
            run = self.params.run_number if self.params else -1
            if run in self.sor_calibration:
                start = self.sor_calibration.pop(run)
            else:
                start = self.carry or self._recorded_calibration()
            self.start_calibration = start
            self.extraction = FeatureExtraction(self.cfg, start)
        return self.extraction

    def on_message(self, sock: zmq.Socket, msg: Message) -> None:
        if sock is self.beam:
            if msg.kind == "eor":
                self.beam_eor = msg.meta
            elif msg.kind == "data":
                self._add_pulses(msg.arrays.get("beam", np.zeros(0, dtypes.BEAM_PULSE)))
                if len(msg.arrays.get("losses", ())):
                    self.loss_out.append(np.array(msg.arrays["losses"]))
        elif msg.kind == "eor":
            self.reader_eor = msg.meta
        elif msg.kind == "sor":
            if "spe_calibration" in msg.meta:  # the digitizer names the run's start calibration (a replay)
                cal = msg.meta["spe_calibration"]
                self.sor_calibration[msg.run] = None if cal is None else SpeCalibration.from_dict(cal)
            self.send_lossless(self.out, self.message(STREAM, "sor", meta=msg.meta))
        elif msg.kind == "data":
            if len(msg.arrays["triggers"]) == 0:  # only losses: they travel with the next event message
                if len(msg.arrays["losses"]):
                    self.loss_out.append(np.array(msg.arrays["losses"]))
                return
            self.pending.append(msg)
            self.counters["triggers_in"] += len(msg.arrays["triggers"])
        self.counters["queue_depth"] = sum(len(m.arrays["triggers"]) for m in self.pending)

    def _add_pulses(self, pulses: np.ndarray) -> None:
        if len(pulses) == 0:
            return
        pulses = np.array(pulses)
        if pulses.dtype != dtypes.BEAM_PULSE:
            self.counters["malformed"] += 1
            return
        self.last_beam_wall = time.monotonic()
        self.stats["beam_pulses"] += len(pulses)
        self.beam_out.append(pulses)
        self.pulses = hold_pulses(self.pulses, pulses)

    def _decided(self, msg: Message) -> bool:
        if self.beam_eor is not None:
            return True
        t_last = int(msg.arrays["triggers"]["time"][-1])
        if len(self.pulses) and self.pulses["time"][-1] > t_last + self.window_ns:
            return True
        return time.monotonic() - self.last_beam_wall > BEAM_WAIT_S

    def _build(self, msg: Message) -> None:
        a = msg.arrays
        triggers = np.array(a["triggers"])  # writable copy; the frame is read-only
        feats, peaks = build_batch(triggers, a["csi"], self.pulses, self.window_ns, self._extraction())
        self.stats["unmatched_triggers"] += int(np.count_nonzero(triggers["pulse_id"] < 0))
        self.stats["matched_pulses"] += int(np.count_nonzero(triggers["pulse_id"] >= 0))
        losses = [np.asarray(a.get("losses", np.zeros(0, dtypes.LOSS)))] + self.loss_out
        arrays = event_arrays(
            self.n_samples,
            triggers=triggers,
            csi=a["csi"] if self.cfg.recorder.raw_csi else None,  # past here only the recorder reads CsI
            veto=a["veto"],
            view_csi=a["csi"][-1:],
            view_veto=a["veto"][-1:],
            features=feats,
            peaks=peaks,
            beam=np.concatenate(self.beam_out) if self.beam_out else np.zeros(0, dtypes.BEAM_PULSE),
            truth_events=a.get("truth_events", np.zeros(0, dtypes.TRUTH_EVENT)),
            truth_windows=a.get("truth_windows", np.zeros(0, dtypes.TRUTH_WINDOW)),
            losses=np.concatenate(losses),
        )
        self.beam_out, self.loss_out = [], []
        self.extra["spe_gain"] = float(self._extraction().gain.value)
        self.send_lossless(self.out, self.message(STREAM, arrays=arrays), triggers=len(triggers))
        # keep only pulses that a later record could still match
        self.pulses = prune_pulses(self.pulses, triggers["time"][-1], self.window_ns)

    def on_tick(self) -> None:
        while self.pending and self._decided(self.pending[0]):
            self._build(self.pending.pop(0))
        self.counters["queue_depth"] = sum(len(m.arrays["triggers"]) for m in self.pending)
        if self.reader_eor is not None and not self.pending:
            waited = time.monotonic() - self.last_beam_wall
            if self.beam_eor is None and waited < BEAM_WAIT_S:
                return
            self._end_of_run()

    def _end_of_run(self) -> None:
        if self.beam_out or self.loss_out:  # pulses after the last record still belong in the file
            arrays = event_arrays(
                self.n_samples,
                beam=np.concatenate(self.beam_out) if self.beam_out else np.zeros(0, dtypes.BEAM_PULSE),
                losses=np.concatenate(self.loss_out) if self.loss_out else np.zeros(0, dtypes.LOSS),
            )
            self.send_lossless(self.out, self.message(STREAM, arrays=arrays))
            self.beam_out, self.loss_out = [], []
        assert self.reader_eor is not None
        meta = {**self.reader_eor, **self.stats, "beam_eor": self.beam_eor is not None,
                "beam_missed": (self.beam_eor or {}).get("missed", 0)}
        if self.extraction is not None:
            end = self.extraction.calibration
            meta["spe_calibration"] = {"start": None if self.start_calibration is None else
                                       self.start_calibration.to_dict(), "end": end.to_dict()}
            self.carry = end
        if self.beam_eor is None:
            log.warning("builder: beam stream ended without end-of-run; closing the run anyway")
        self.send_lossless(self.out, self.message(STREAM, "eor", meta=meta))
        self.extra["last_run"] = meta
        self.reader_eor = None
        self.beam_eor = None
        self.state = "idle"


def event_arrays(n_samples: int, **given: np.ndarray | None) -> dict[str, np.ndarray]:
    """The arrays of an events/vetoed/selected data message, empty where not given (or None)."""
    out = {name: given.get(name, np.zeros(0, dt)) for name, dt in streams.EVENTS.items()}
    for channel in (*streams.WAVEFORMS, *streams.VIEWS):
        wave = given.get(channel)
        out[channel] = np.zeros((0, n_samples), np.int8) if wave is None else wave
    return out

