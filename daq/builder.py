"""Event builder: joins digitizer records with beam pulses and extracts per-window features.

A record matches the beam pulse closest to its trigger time within
``beam.match_window_ns``. A record is decided once its pulse has arrived, once the beam
stream has moved past it, or once the beam stream has ended; unmatched records are
flagged (TRIGGER_UNMATCHED) and counted, never dropped. Features come from the numba
kernels in :mod:`daq.features`, with PE from the running SPE-gain estimate of the
pretrace peaks, updated between fixed blocks of trigger ids (so a replay of the same
records reproduces the same features however they are batched).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import zmq

from daq import dtypes, features, streams, transport
from daq.config import Config
from daq.envelope import Message
from daq.hardware import RunParameters
from daq.node import Node
from daq.spe_gain import SpeGainTracker, quiet_pretrace_charges

log = logging.getLogger(__name__)

STREAM = "events"
BEAM_WAIT_S = 3.0  # wall time a record waits for its pulse while the beam stream is silent
GAIN_BLOCK = 64  # triggers that share one SPE-gain value (see EventBuilder._extract)


def match_pulses(trigger_times: np.ndarray, pulse_times: np.ndarray, window_ns: int) -> np.ndarray:
    """Index into ``pulse_times`` (sorted) of the pulse nearest each trigger, -1 if none within window."""
    idx = np.full(len(trigger_times), -1, np.int64)
    if len(pulse_times) == 0:
        return idx
    right = np.clip(np.searchsorted(pulse_times, trigger_times), 1, len(pulse_times) - 1)
    left = right - 1
    if len(pulse_times) == 1:
        left = right = np.zeros_like(right)
    d_left = np.abs(trigger_times - pulse_times[left])
    d_right = np.abs(trigger_times - pulse_times[right])
    best = np.where(d_right < d_left, right, left)
    ok = np.abs(trigger_times - pulse_times[best]) <= window_ns
    idx[ok] = best[ok]
    return idx


def fill_beam(triggers: np.ndarray, pulses: np.ndarray, window_ns: int) -> None:
    """Fill the beam fields of ``triggers`` in place from the matching ``pulses`` (sorted by time)."""
    idx = match_pulses(triggers["time"], pulses["time"], window_ns)
    ok = idx >= 0
    matched = pulses[idx[ok]]
    triggers["pulse_id"] = -1
    triggers["pulse_id"][ok] = matched["pulse_id"]
    triggers["match_dt"][ok] = triggers["time"][ok] - matched["time"]
    triggers["pot"][ok] = matched["pot"]
    triggers["power_mw"][ok] = matched["power_mw"]
    triggers["beam_on"][ok] = matched["beam_on"]
    triggers["flags"][~ok] |= dtypes.TRIGGER_UNMATCHED


class EventBuilder(Node):
    name = "builder"

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        hwm = cfg.endpoints.lossless_hwm
        self.records = transport.pull(self.ctx, cfg.endpoints.records, hwm, "records")
        self.beam = transport.pull(self.ctx, cfg.endpoints.beam, hwm, "beam")
        self.out = transport.push(self.ctx, cfg.endpoints.events, hwm)
        self.params_f = features.feature_params(cfg)
        self.window_ns = cfg.beam.match_window_ns
        self.n_samples = cfg.digitizer.n_samples
        # compile (or load from cache) the kernels now, not on the first data: a JIT pause
        # in the data path would stop the heartbeats
        features.extract_features(np.zeros((1, self.n_samples), np.int8), np.zeros(1, np.int64),
                                  np.zeros(1, np.int64), self.params_f, cfg.features.spe_gain_initial)
        self._reset()

    def _reset(self) -> None:
        self.pending: list[Message] = []
        self.pulses = np.zeros(0, dtypes.BEAM_PULSE)
        self.beam_out: list[np.ndarray] = []
        self.loss_out: list[np.ndarray] = []
        self.reader_eor: dict[str, Any] | None = None
        self.beam_eor: dict[str, Any] | None = None
        self.last_beam_wall = time.monotonic()
        self.gain = SpeGainTracker(self.cfg.features.spe_gain_initial, self.cfg.features.spe_gain_peaks)
        self.gain_block = -1
        self.gain_charges: list[np.ndarray] = []
        self.stats = {"unmatched_triggers": 0, "beam_pulses": 0, "matched_pulses": 0}

    def inputs(self) -> list[zmq.Socket]:
        return [self.records, self.beam]

    def input_stream(self, sock: zmq.Socket) -> str | None:
        return {id(self.beam): "beam", id(self.records): "records"}.get(id(sock))

    def on_start(self, params: RunParameters, meta: dict[str, Any]) -> None:
        self._reset()

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
        self.pulses = np.concatenate([self.pulses, pulses])
        if len(self.pulses) > 1 and np.any(np.diff(self.pulses["time"]) < 0):
            self.pulses = np.sort(self.pulses, order="time")

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
        fill_beam(triggers, self.pulses, self.window_ns)
        self.stats["unmatched_triggers"] += int(np.count_nonzero(triggers["pulse_id"] < 0))
        self.stats["matched_pulses"] += int(np.count_nonzero(triggers["pulse_id"] >= 0))
        feats, peaks = self._extract(a["csi"], triggers)
        overflow = features_overflow(a["csi"])
        triggers["flags"][overflow] |= dtypes.TRIGGER_CSI_OVERFLOW
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
        self.extra["spe_gain"] = float(self.gain.value)
        self.send_lossless(self.out, self.message(STREAM, arrays=arrays), triggers=len(triggers))
        # keep only pulses that a later record could still match
        keep_from = int(triggers["time"][-1]) - 10 * self.window_ns
        self.pulses = self.pulses[self.pulses["time"] >= keep_from]

    def _extract(self, csi: np.ndarray, triggers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Features with the PE scale of each gain block (GAIN_BLOCK consecutive trigger ids).

        The gain of block b is the tracker's value after every quiet pretrace peak of the
        blocks before b, so features do not depend on how records were batched: a replay
        reproduces them bit for bit.
        """
        blocks = triggers["trigger_id"] // GAIN_BLOCK
        cuts = np.flatnonzero(np.diff(blocks)) + 1
        out_f, out_p = [], []
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(triggers)], strict=True):
            block = int(blocks[lo])
            if block != self.gain_block:
                if self.gain_charges:
                    self.gain.update(np.concatenate(self.gain_charges))
                self.gain_charges, self.gain_block = [], block
            f, p = features.extract_features(csi[lo:hi], triggers["trigger_id"][lo:hi], triggers["time"][lo:hi],
                                             self.params_f, self.gain.value)
            self.gain_charges.append(quiet_pretrace_charges(f, p, self.cfg.cuts.afterglow_max_pretrace_peaks))
            out_f.append(f)
            out_p.append(p)
        return np.concatenate(out_f), np.concatenate(out_p)

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


def features_overflow(csi: np.ndarray) -> np.ndarray:
    """Records whose CsI samples touch either ADC rail anywhere."""
    info = np.iinfo(csi.dtype)
    return (csi.min(axis=1) == info.min) | (csi.max(axis=1) == info.max)
