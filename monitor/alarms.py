"""Alarm logic, no Qt: what is wrong now, and the alarm list the shift crew acknowledges.

Three parts:

* **checks** return :class:`Condition` s: :func:`check_dq_row` (a DQ value outside its ``[dq]``
  limits, lost triggers), :func:`check_status` (the DAQ in ERROR, a dead, silent or lossy
  process, run control not answering) and :class:`StreamChecker` (no monitor data while the DAQ
  runs; and, as *events* since its last call, messages dropped or malformed on the stream). Level
  conditions hold as long as the cause; events happen once;
* the **book** (:class:`AlarmBook`) turns them into the alarm list. An alarm appears when its
  condition becomes true (with the time and severity), stays while the condition holds, and
  leaves the list only when it has both cleared and been acknowledged — so an alarm that came
  and went while nobody looked is still there. Acknowledging silences it; escalating to a
  higher severity makes it unacknowledged again. Events are raised and cleared at once;
* :class:`AlarmMonitor` runs the checks on the model (every new DQ row at its own time; the
  status and the stream at the wall clock) and keeps the book.

Severity: WARNING for a DQ value outside its limits or a viewer-side drop; ERROR for
anything that stops data taking or loses data (a dead or silent process, ERROR state,
lost triggers, a DQ value far outside its limits, no data while the DAQ runs).
"""

from __future__ import annotations

import enum
import math
import time
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from daq.config import Config

# DQ field -> (label, unit) for the messages; the limits come from cfg.dq
DQ_LABELS = {
    "baseline_adc": ("CsI baseline", "ADC"),
    "spe_mean_charge": ("SPE mean charge (gain)", "ADC*sample"),
    "afterglow_fraction": ("afterglow-cut fraction", ""),
    "veto_fraction": ("muon-veto cut fraction", ""),
    "linear_gate_fraction": ("linear-gate fraction", ""),
    "overflow_fraction": ("overflow fraction", ""),
    "trigger_rate_hz": ("trigger rate", "Hz"),
    "line_gain": ("internal-line gain", ""),
    "baseline_rms_adc": ("CsI baseline rms", "ADC"),
    "noise_peak_rate_hz": ("noise-peak rate", "Hz"),
}
FAR_OUTSIDE = 0.5  # beyond a limit by this fraction of the band width: ERROR
STREAM_TIMEOUT_S = 3.0  # no monitor message this long while the DAQ runs: ERROR
LIVE_STATES = ("ready", "running", "stopping", "error")  # states in which processes must heartbeat


class Severity(enum.IntEnum):
    WARNING = 1
    ERROR = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Condition:
    key: str  # what the alarm is about, e.g. "dq:baseline_adc", "process:builder"
    severity: Severity
    message: str


@dataclass
class Alarm:
    key: str
    severity: Severity
    message: str
    raised: float  # wall time first raised [s since epoch]
    last: float  # wall time last seen true
    active: bool = True
    acknowledged: bool = False
    count: int = 1  # how often it was raised
    # the supervisor's alarms (shared by every GUI, see daq.control.alarm_log); None for this viewer's own
    shared_id: int | None = None
    cause: str = ""
    cleared: float | None = None  # wall time it cleared
    acked_at: float | None = None
    acked_by: str | None = None

    @property
    def state(self) -> str:
        return ("ACTIVE" if self.active else "cleared") + ("" if self.acknowledged else ", unack")


def from_log_entry(e: dict[str, Any]) -> Alarm:
    """One entry of the supervisor's alarm log as an :class:`Alarm` (times in s since the epoch)."""
    def sec(key: str) -> float | None:
        return e[key] / 1e9 if isinstance(e.get(key), int | float) else None

    raised = sec("raised_ns") or 0.0
    return Alarm(key=str(e.get("key", "")), severity=Severity.ERROR if e.get("severity") == "error"
                 else Severity.WARNING, message=str(e.get("message", "")), raised=raised,
                 last=sec("last_ns") or raised, active=e.get("cleared_ns") is None,
                 acknowledged=e.get("acked_ns") is not None, count=int(e.get("count", 1)),
                 shared_id=int(e["id"]) if isinstance(e.get("id"), int) else None, cause=str(e.get("cause", "")),
                 cleared=sec("cleared_ns"), acked_at=sec("acked_ns"), acked_by=e.get("acked_by"))


def dq_limits(cfg: Config) -> dict[str, tuple[float, float]]:
    """DQ field -> (low, high) alarm limits from the config's ``[dq]`` table."""
    return {f.name: tuple(getattr(cfg.dq, f.name)) for f in fields(cfg.dq)}


def check_dq_row(row: np.ndarray | None, limits: dict[str, tuple[float, float]]) -> list[Condition]:
    """Conditions of one DQ row: values outside their limits, lost triggers. NaN is no measurement."""
    if row is None:
        return []
    out = []
    for name, (lo, hi) in limits.items():
        value = float(row[name])
        if math.isnan(value) or lo <= value <= hi:
            continue
        label, unit = DQ_LABELS.get(name, (name, ""))
        side, limit = ("below", lo) if value < lo else ("above", hi)
        far = abs(value - limit) > FAR_OUTSIDE * max(hi - lo, 1e-12)
        out.append(Condition(f"dq:{name}", Severity.ERROR if far else Severity.WARNING,
                             f"{label} {value:.4g} {unit} {side} the limit {limit:g}".replace("  ", " ")))
    if int(row["losses"]) > 0:
        lost = int(row["losses"])
        out.append(Condition("dq:losses", Severity.ERROR, f"{lost} triggers lost in the last DQ interval"))
    return out


def check_status(status: dict[str, Any] | None, error: str | None, heartbeat_timeout_s: float) -> list[Condition]:
    """Conditions from the supervisor's status reply (None: it did not answer, ``error`` says why).

    A supervisor that keeps an alarm log (``alarms`` in its status) raises the dead, hung and
    restarted processes and its ERROR state itself, with their causes: they are not guessed here."""
    if status is None:
        if not error:
            return []
        return [Condition("control:unreachable", Severity.ERROR, f"run control does not answer: {error}")]
    out = []
    state = status.get("state")
    supervised = isinstance(status.get("alarms"), list)
    if state == "error" and not supervised:
        out.append(Condition("daq:error", Severity.ERROR, f"DAQ in ERROR: {status.get('error')}"))
    if state not in LIVE_STATES:
        return out
    for p in status.get("processes", []):
        name = p.get("name")
        age = p.get("heartbeat_age_s")
        if supervised:  # the supervisor's log says it, with the cause
            pass
        elif not p.get("alive"):
            code = p.get("exit_code")
            why = f" (exit code {code})" if code is not None else ""
            out.append(Condition(f"process:{name}", Severity.ERROR, f"process {name} is not running{why}"))
        elif (age is None or age > heartbeat_timeout_s) and p.get("state") != "warming":  # compiling: silent
            what = "never sent a heartbeat" if age is None else f"stopped heartbeating ({age:.1f} s)"
            out.append(Condition(f"process:{name}", Severity.ERROR, f"process {name} {what}"))
        if p.get("losses"):
            out.append(Condition(f"losses:{name}", Severity.ERROR, f"process {name} lost {p['losses']} triggers"))
        if p.get("malformed") or p.get("gaps"):
            out.append(Condition(f"links:{name}", Severity.WARNING,
                                 f"process {name}: {p.get('malformed', 0)} malformed messages, "
                                 f"{p.get('gaps', 0)} missing from its inputs"))
    return out


@dataclass
class StreamView:
    """What the stream checks need from the model."""

    live: bool  # connected to a DAQ (not a file)
    received: int
    dropped: int
    malformed: int
    last_message: float | None  # monotonic
    run_ended: bool
    state: str | None  # supervisor state if known
    elapsed_s: float | None  # run time if running


LIVE_KEYS = ("control:", "daq:", "process:", "losses:", "links:", "stream:")


@dataclass
class StreamChecker:
    """Stream conditions (silence) and events (drops, malformed); remembers counters between calls."""

    timeout_s: float = STREAM_TIMEOUT_S
    _dropped: int = 0
    _malformed: int = 0
    _since: float | None = field(default=None)

    def check(self, s: StreamView, now: float) -> tuple[list[Condition], list[Condition]]:
        level = []
        silent = self._silent_for(s, now) if s.live else None
        if silent is not None:
            level.append(Condition("stream:silent", Severity.ERROR,
                                   f"no data on the monitor stream for {silent:.0f} s while the DAQ runs"))
        events = []
        if s.dropped > self._dropped:
            events.append(Condition("stream:dropped", Severity.WARNING,
                                    f"monitor stream: {s.dropped - self._dropped} messages dropped "
                                    f"({s.dropped} in total); this viewer fell behind, the DAQ is not affected"))
        if s.malformed > self._malformed:
            events.append(Condition("stream:malformed", Severity.WARNING,
                                    f"monitor stream: {s.malformed - self._malformed} malformed messages"))
        self._dropped, self._malformed = s.dropped, s.malformed
        return level, events

    def _silent_for(self, s: StreamView, now: float) -> float | None:
        """Seconds of silence if the stream should be talking, else None."""
        running = s.state == "running" if s.state is not None else (s.received > 0 and not s.run_ended)
        if not running:
            self._since = None
            return None
        if self._since is None:
            self._since = now
        since = max(s.last_message, self._since) if s.last_message is not None else self._since
        quiet = now - since
        return quiet if quiet > self.timeout_s else None


class AlarmBook:
    """The alarm list: raise, clear, acknowledge (see the module docstring)."""

    def __init__(self, max_history: int = 1000) -> None:
        self.alarms: dict[str, Alarm] = {}
        self.history: list[Alarm] = []  # every alarm raised, newest last (bounded)
        self.max_history = max_history

    def update(self, level: list[Condition], events: list[Condition] = (), now: float | None = None,
               scope: tuple[str, ...] = ("",)) -> bool:
        """Apply the conditions true now and the events; True if the list changed.

        ``level`` holds every condition of ``scope`` (key prefixes) that is true now; active
        alarms of that scope not in it clear. Alarms outside the scope are left alone.
        """
        now = time.time() if now is None else now
        changed = False
        true_now = {c.key for c in level}
        for c in level:
            changed |= self._raise(c, now)
        for key, alarm in self.alarms.items():
            if alarm.active and key not in true_now and key.startswith(scope):
                alarm.active = False
                changed = True
        for c in events:
            changed |= self._raise(c, now)
            self.alarms[c.key].active = False
        for key in [k for k, a in self.alarms.items() if not a.active and a.acknowledged]:
            del self.alarms[key]
            changed = True
        return changed

    def _raise(self, c: Condition, now: float) -> bool:
        alarm = self.alarms.get(c.key)
        if alarm is None:
            alarm = Alarm(c.key, c.severity, c.message, raised=now, last=now)
            self.alarms[c.key] = alarm
            self._log(alarm)
            return True
        changed = alarm.message != c.message or not alarm.active or c.severity != alarm.severity
        if not alarm.active:  # raised again after it cleared: a fresh, unacknowledged alarm
            alarm.count += 1
            alarm.raised = now
            alarm.acknowledged = False
            alarm.severity = c.severity
            self._log(alarm)
        elif c.severity > alarm.severity:  # escalation needs a new acknowledgement
            alarm.acknowledged = False
        # unacknowledged alarms keep the worst severity seen; acknowledged ones follow the condition
        alarm.severity = c.severity if alarm.acknowledged else max(alarm.severity, c.severity)
        alarm.message, alarm.last, alarm.active = c.message, now, True
        return changed

    def _log(self, alarm: Alarm) -> None:
        self.history.append(Alarm(**alarm.__dict__))
        del self.history[: -self.max_history]

    def acknowledge(self, key: str) -> None:
        alarm = self.alarms.get(key)
        if alarm is None:
            return
        alarm.acknowledged = True
        if not alarm.active:
            del self.alarms[key]

    def acknowledge_all(self) -> None:
        for key in list(self.alarms):
            self.acknowledge(key)

    def listing(self) -> list[Alarm]:
        """Alarms to show: unacknowledged first, then by severity, newest first."""
        return sorted(self.alarms.values(), key=lambda a: (a.acknowledged, -a.severity, -a.raised))

    def unacknowledged(self) -> list[Alarm]:
        return [a for a in self.alarms.values() if not a.acknowledged]

    def worst(self) -> Severity | None:
        """Highest severity among active or unacknowledged alarms."""
        return max((a.severity for a in self.alarms.values() if a.active or not a.acknowledged), default=None)


class AlarmMonitor:
    """Runs the checks on a :class:`~monitor.model.MonitorModel` and keeps the alarm book.

    Every new DQ row is checked in order, at its own time (so a run file's DQ history shows
    what went wrong and when); the run-control status and the stream at the wall clock.
    """

    def __init__(self, cfg: Config, live: bool) -> None:
        self.limits = dq_limits(cfg)
        self.heartbeat_timeout_s = cfg.supervisor.heartbeat_timeout_s
        self.live = live
        self.book = AlarmBook()
        self.shared: list[Alarm] = []  # the supervisor's log, the same in every GUI
        self.stream = StreamChecker()
        self._dq_seen = 0
        self._log_seen: list[dict[str, Any]] | None = None

    # -- the combined list: this viewer's alarms and the supervisor's ---------------------
    def listing(self, history: bool = False) -> list[Alarm]:
        """Alarms to show, unacknowledged first, then by severity, newest first; ``history``: also the
        supervisor's cleared and acknowledged ones (the run's log)."""
        shared = [a for a in self.shared if history or a.active or not a.acknowledged]
        return sorted([*self.book.alarms.values(), *shared], key=lambda a: (a.acknowledged, -a.severity, -a.raised))

    def unacknowledged(self) -> list[Alarm]:
        return [a for a in self.listing() if not a.acknowledged]

    def active(self) -> int:
        return sum(a.active for a in self.listing())

    def worst(self) -> Severity | None:
        return max((a.severity for a in self.listing() if a.active or not a.acknowledged), default=None)

    def evaluate(self, model: Any, now: float | None = None, wall: float | None = None) -> bool:
        """Check what is new in ``model``; True if the alarm list changed."""
        now = time.monotonic() if now is None else now
        wall = time.time() if wall is None else wall
        changed = False
        log = model.alarm_log()
        if log != self._log_seen:
            self.shared, self._log_seen, changed = [from_log_entry(e) for e in log], log, True
        dq = model.dq()
        if len(dq) < self._dq_seen:  # a new run
            self._dq_seen = 0
        for row in dq[self._dq_seen:]:
            changed |= self.book.update(check_dq_row(row, self.limits), now=float(row["time"]) / 1e9,
                                        scope=("dq:",))
        self._dq_seen = len(dq)
        status, error, _ = model.status()
        stats = model.stream_stats()
        run = model.run_info()
        view = StreamView(live=self.live, received=stats.received, dropped=stats.dropped,
                          malformed=stats.malformed, last_message=stats.last_message, run_ended=run.ended,
                          state=status.get("state") if status else None,
                          elapsed_s=status.get("elapsed_s") if status else None)
        level, events = self.stream.check(view, now)
        if self.live:
            level = check_status(status, error, self.heartbeat_timeout_s) + level
        changed |= self.book.update(level, events, now=wall, scope=LIVE_KEYS)
        return changed
