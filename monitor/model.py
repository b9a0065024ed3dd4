"""The monitor's data model: receives monitor-stream messages and run-control status, accumulates.

No Qt here. :class:`MonitorModel` is fed by the socket thread (:mod:`monitor.stream`) or by a
run file (:mod:`monitor.filesource`) through :meth:`MonitorModel.ingest`, and read by the
widgets through snapshot methods that return copies. It is thread-safe (one lock) and tells
its listeners which topics changed (see ``TOPICS``); :class:`monitor.stream.ModelNotifier`
turns that into Qt signals.

What it accumulates:

* the DQ rows of the run (``dq`` messages), for the trends;
* PE x onset-time histograms of the C and AC windows (:mod:`monitor.histograms`);
* the last ``history`` records with their waveforms, features and peaks (waveform viewer);
* counters: triggers, beam pulses, POT, trigger losses, the latest cut fractions;
* stream health: messages received, messages missed (sequence gaps), malformed messages,
  and the wall time of the last message (a silent stream raises an alarm).

A batch whose trigger ids were seen already (a file read, then the live stream of the same
run) is not counted twice; a message of another run number starts a new run.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from daq import dtypes
from daq.config import Config
from daq.wire.envelope import GapDetector, Message
from monitor.histograms import Binning, PeTimeHistograms, Projections, beam_on_per_window

TOPICS = {
    "run": "a new run, its end, a file opened (rare)",
    "counters": "triggers, beam pulses, losses, cut fractions (every data message)",
    "dq": "new DQ rows",
    "spectra": "the PE x time histograms",
    "waveform": "a new record for the waveform viewer",
    "status": "a run-control status reply or command reply",
    "supervision": "the supervisor's alarm log (pushed on endpoints.alarms, or from a run file)",
    "stream": "any message (stream statistics)",
    "gaps": "messages missing from the stream (sequence gap)",
}
RATE_WINDOW_S = 5.0
MAX_PAST_DQ_ROWS = 200_000  # DQ rows of earlier runs kept for the trends (11 days of 5 s intervals)
MAX_GAP_EVENTS = 10_000  # gap markers kept for the trends (the dropped count itself is exact)


@dataclass(frozen=True)
class WaveformRecord:
    """One record for the waveform viewer."""

    trigger: np.ndarray  # one TRIGGER row (0-d)
    features: np.ndarray  # its FEATURES rows (AC, C)
    peaks: np.ndarray  # its PEAK rows
    csi: np.ndarray  # int8 samples
    veto: np.ndarray | None
    veto_hits: np.ndarray | None = None  # its VETO_HIT rows


@dataclass
class StreamStats:
    received: int = 0
    dropped: int = 0  # messages missing from the sequence numbers
    restarts: int = 0
    malformed: int = 0
    last_message: float | None = None  # time.monotonic() of the last message
    gap_events: list[tuple[float, float, int]] = field(default_factory=list)  # (monotonic, trigger time s, missed)


@dataclass
class RunInfo:
    run_number: int | None = None
    source: str = ""  # "live" | "file"
    file: str | None = None
    exit_status: str | None = None
    ended: bool = False  # end-of-run seen
    eor: dict[str, Any] = field(default_factory=dict)
    cut_fractions: dict[str, float] = field(default_factory=dict)
    triggers: int = 0
    beam_pulses: int = 0
    pot: float = 0.0
    trigger_losses: int = 0
    first_trigger_ns: int | None = None
    last_trigger_ns: int | None = None
    last_trigger_id: int = -1
    duration_s: float | None = None  # file mode: stop - start
    attrs: dict[str, Any] = field(default_factory=dict)  # file mode: the run file's root attributes


class MonitorModel:
    """Accumulates what the GUI shows; see the module docstring."""

    def __init__(self, cfg: Config, history: int = 100) -> None:
        self.cfg = cfg
        self.binning = Binning.from_config(cfg)
        self._lock = threading.RLock()
        self._listeners: list[Callable[[set[str]], None]] = []
        self._history = history
        self.stream = StreamStats()
        self._gaps = GapDetector()
        self._status: dict[str, Any] | None = None
        self._status_error: str | None = None
        self._status_time: float | None = None
        self.token_ok = False
        self.last_command: tuple[str, dict[str, Any], float] | None = None
        self._alarm_log: list[dict[str, Any]] = []  # the supervisor's (daq.control.alarm_log)
        self._alarm_log_time: float | None = None
        self._past: list[tuple[int | None, np.ndarray]] = []  # (run, DQ rows) of earlier runs
        self._reset_run(None)

    @property
    def history(self) -> int:
        """How many records the waveform viewer keeps."""
        return self._history

    # -- listeners ---------------------------------------------------------------------
    def subscribe(self, callback: Callable[[set[str]], None]) -> None:
        """``callback(topics)`` after every change; may be called from the socket thread."""
        self._listeners.append(callback)

    def _notify(self, topics: set[str]) -> None:
        if topics:
            for cb in list(self._listeners):
                cb(topics)

    def _reset_run(self, run_number: int | None) -> None:
        if getattr(self, "_n_dq", 0):  # the trends go on across runs: keep the last runs' rows
            self._past.append((self.run.run_number, self._dq[: self._n_dq].copy()))
            while sum(len(r) for _, r in self._past) > MAX_PAST_DQ_ROWS and len(self._past) > 1:
                self._past.pop(0)
        source = self.run.source if hasattr(self, "run") else ""
        self.run = RunInfo(run_number=run_number, source=source)
        self.histograms = PeTimeHistograms(self.binning)
        self._dq = np.zeros(256, dtypes.DQ)
        self._n_dq = 0
        self._records: deque[WaveformRecord] = deque(maxlen=self._history)
        self._rate: deque[tuple[float, int]] = deque()

    # -- input -------------------------------------------------------------------------
    def ingest(self, msg: Message, now: float | None = None) -> None:
        """One monitor-stream message (or one built from a run file)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            topics = {"stream"}
            self.stream.received += 1
            self.stream.last_message = now
            missed = self._gaps(msg)
            self.stream.restarts = self._gaps.restarts
            if missed:
                topics.add("gaps")
                self.stream.dropped += missed
                t = (self.run.last_trigger_ns or 0) / 1e9
                self.stream.gap_events.append((now, t, missed))
                del self.stream.gap_events[:-MAX_GAP_EVENTS]
            if msg.run != self.run.run_number and (msg.kind == "sor" or self.run.run_number is not None):
                self._reset_run(msg.run)
                topics |= {"run", "dq", "spectra", "waveform"}
            elif self.run.run_number is None:
                self.run.run_number = msg.run
                topics.add("run")
            if msg.kind == "data":
                topics |= self._on_data(msg, now)
            elif msg.kind == "dq":
                topics |= self._on_dq(msg.arrays.get("dq"))
            elif msg.kind == "eor":
                self.run.ended = True
                self.run.eor = dict(msg.meta)
                self.run.cut_fractions = dict(msg.meta.get("cut_fractions", self.run.cut_fractions))
                topics.add("run")
            elif msg.kind == "sor":
                self.run.ended = False
                topics.add("run")
        self._notify(topics)

    def note_malformed(self) -> None:
        with self._lock:
            self.stream.malformed += 1
        self._notify({"stream"})

    def _on_data(self, msg: Message, now: float) -> set[str]:
        a = msg.arrays
        triggers = a.get("triggers", np.zeros(0, dtypes.TRIGGER))
        features = a.get("features", np.zeros(0, dtypes.FEATURES))
        run = self.run
        if len(triggers):
            new = triggers["trigger_id"] > run.last_trigger_id
            if not new.all():  # seen already (file, then the live stream): count once
                ids = triggers["trigger_id"][new]
                triggers = triggers[new]
                features = features[np.isin(features["trigger_id"], ids)]
        topics = {"counters"}
        run.cut_fractions = dict(msg.meta.get("cut_fractions", run.cut_fractions))
        beam = a.get("beam")
        if beam is not None and len(beam):
            run.beam_pulses += len(beam)
            run.pot += float(beam["pot"].sum())
        losses = a.get("losses")
        if losses is not None and len(losses):
            run.trigger_losses += int(losses["count"][losses["trigger_id"] >= 0].sum())
        if len(triggers) == 0:
            return topics
        run.triggers += len(triggers)
        run.last_trigger_id = int(triggers["trigger_id"].max())
        if run.first_trigger_ns is None:
            run.first_trigger_ns = int(triggers["time"][0])
        run.last_trigger_ns = int(triggers["time"][-1])
        self._rate.append((now, len(triggers)))
        if self.histograms.fill(features, beam_on_per_window(triggers, features)):
            topics.add("spectra")
        csi = a.get("csi")
        if csi is not None and len(csi):
            last = triggers[triggers["trigger_id"] == run.last_trigger_id]
            if len(last):
                veto = a.get("veto")
                self._add_record(last[0], features, a.get("peaks", np.zeros(0, dtypes.PEAK)), csi[-1],
                                 veto[-1] if veto is not None and len(veto) else None, a.get("veto_hits"))
                topics.add("waveform")
        return topics

    def _add_record(self, trigger: np.ndarray, features: np.ndarray, peaks: np.ndarray, csi: np.ndarray,
                    veto: np.ndarray | None, veto_hits: np.ndarray | None = None) -> None:
        tid = trigger["trigger_id"]
        self._records.append(WaveformRecord(
            trigger=np.array(trigger), features=np.array(features[features["trigger_id"] == tid]),
            peaks=np.array(peaks[peaks["trigger_id"] == tid]), csi=np.array(csi),
            veto=None if veto is None else np.array(veto),
            veto_hits=None if veto_hits is None else np.array(veto_hits[veto_hits["trigger_id"] == tid])))

    def add_record(self, trigger: np.ndarray, features: np.ndarray, peaks: np.ndarray, csi: np.ndarray,
                   veto: np.ndarray | None, veto_hits: np.ndarray | None = None) -> None:
        """A record for the waveform viewer outside the stream (a run file's last records)."""
        with self._lock:
            self._add_record(trigger, features, peaks, csi, veto, veto_hits)
        self._notify({"waveform"})

    def _on_dq(self, rows: np.ndarray | None) -> set[str]:
        if rows is None or len(rows) == 0:
            return set()
        if self._n_dq:
            rows = rows[rows["time"] > self._dq["time"][self._n_dq - 1]]
        n = self._n_dq + len(rows)
        if n > len(self._dq):
            grown = np.zeros(max(n, 2 * len(self._dq)), dtypes.DQ)
            grown[: self._n_dq] = self._dq[: self._n_dq]
            self._dq = grown
        self._dq[self._n_dq : n] = rows
        self._n_dq = n
        return {"dq"}

    def set_file_info(self, path: str, run_number: int, exit_status: str, duration_s: float | None,
                      attrs: dict[str, Any] | None = None) -> None:
        with self._lock:
            if run_number != self.run.run_number:
                self._reset_run(run_number)
            self.run.source, self.run.file, self.run.exit_status = "file", path, exit_status
            self.run.duration_s = duration_s
            self.run.attrs = dict(attrs or {})
            self.run.ended = exit_status != "running"
        self._notify({"run"})

    def set_status(self, status: dict[str, Any] | None, error: str | None = None,
                   now: float | None = None, token_ok: bool | None = None) -> None:
        """The supervisor's status reply, or None and why there is none; ``token_ok``: the control
        token could be read (control role)."""
        with self._lock:
            self._status = status
            self._status_error = error
            self._status_time = time.monotonic() if now is None else now
            if token_ok is not None:
                self.token_ok = token_ok
            if status and status.get("run_file") and self.run.source != "file":
                self.run.file = status["run_file"]
        if status and isinstance(status.get("alarms"), list):
            self.set_alarm_log(status["alarms"])
        self._notify({"status"})

    def set_alarm_log(self, entries: list[dict[str, Any]], now: float | None = None) -> None:
        """The supervisor's alarm log: pushed on ``endpoints.alarms``, in a status reply, or a run file's."""
        with self._lock:
            changed = entries != self._alarm_log
            self._alarm_log = [dict(e) for e in entries if isinstance(e, dict)]
            self._alarm_log_time = time.monotonic() if now is None else now
        if changed:
            self._notify({"supervision"})

    def alarm_log(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._alarm_log]

    def set_command_reply(self, cmd: str, reply: dict[str, Any]) -> None:
        with self._lock:
            self.last_command = (cmd, dict(reply), time.time())
        self._notify({"status"})

    # -- snapshots (copies; safe to use without the lock) --------------------------------
    def dq(self) -> np.ndarray:
        """The DQ rows so far. The end-of-run row covers only part of its interval but says the whole
        (``DQAccumulator.flush``); once the run has ended, its trigger rate is corrected here to the
        time its triggers span."""
        with self._lock:
            rows = self._dq[: self._n_dq].copy()
            last = self.run.last_trigger_ns if self.run.ended else None
        if len(rows) and last is not None:
            r = rows[-1]
            start = int(r["time"]) - int(float(r["interval_s"]) * 1e9)
            if start <= last < int(r["time"]):  # the run's last trigger lies inside the last interval
                span_s = min((last - start) / 1e9 + 1.0 / self.cfg.beam.rep_rate_hz, float(r["interval_s"]))
                rows["trigger_rate_hz"][-1] = float(r["triggers"]) / span_s
        return rows

    def dq_history(self) -> tuple[np.ndarray, list[tuple[float, int | None]]]:
        """The DQ rows of the earlier runs this viewer saw and of this one, and where each run's rows
        begin: (time [s], run number)."""
        with self._lock:
            parts = [*self._past, (self.run.run_number, self._dq[: self._n_dq].copy())]
        starts = [(float(r["time"][0] / 1e9 - r["interval_s"][0]), run) for run, r in parts if len(r)]
        return np.concatenate([r for _, r in parts]), starts

    def projections(self) -> Projections:
        with self._lock:
            return self.histograms.projections()

    def records(self) -> list[WaveformRecord]:
        with self._lock:
            return list(self._records)

    def run_info(self) -> RunInfo:
        with self._lock:
            r = self.run
            return RunInfo(**{**r.__dict__, "eor": dict(r.eor), "cut_fractions": dict(r.cut_fractions),
                              "attrs": dict(r.attrs)})

    def stream_stats(self) -> StreamStats:
        with self._lock:
            s = self.stream
            return StreamStats(s.received, s.dropped, s.restarts, s.malformed, s.last_message,
                               list(s.gap_events))

    def status(self) -> tuple[dict[str, Any] | None, str | None, float | None]:
        """(last status reply, error text if the supervisor did not answer, monotonic time of the poll)."""
        with self._lock:
            return self._status, self._status_error, self._status_time

    def trigger_rate_hz(self, now: float | None = None) -> float | None:
        """Triggers per wall-clock second received over the last RATE_WINDOW_S (live mode)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            while self._rate and now - self._rate[0][0] > RATE_WINDOW_S:
                self._rate.popleft()
            if not self._rate:
                return None
            span = max(now - self._rate[0][0], 1.0)
            return sum(n for _, n in self._rate) / span
