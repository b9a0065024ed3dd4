"""The supervisor's alarm log: what went wrong with the DAQ, when, and who acknowledged it.

The supervisor owns this state; every GUI shows the same. An entry is raised with a severity,
a message and its cause (``died``, ``hung``, ``source lost``, ``run aborted``...); it clears
when the cause is gone (a restarted process heartbeats again) and is acknowledged by the
control role (``ack`` request, with who). Each entry keeps its raise, clear and acknowledge
times (ns since the epoch), so the log is the run's history of faults: it is published on
``endpoints.alarms`` (PUB) at every change and once a second (a late viewer has it at once),
sent to the recorder (``note``), which writes it into the run file (``alarms`` attribute, JSON),
and is part of the ``status`` reply.

Entry fields: ``id``, ``key`` (what it is about: ``process:cuts``, ``daq:error``...),
``severity`` (``warning`` / ``error``), ``message``, ``cause``, ``run``, ``count``,
``raised_ns``, ``cleared_ns``, ``acked_ns``, ``acked_by`` (None until it happens).
"""

from __future__ import annotations

import time
from typing import Any

import zmq

from daq.wire import transport
from daq.wire.envelope import Message

MAX_ENTRIES = 500  # the log keeps the newest; older cleared-and-acknowledged ones go first
PUBLISH_PERIOD_S = 1.0
SEVERITIES = ("warning", "error")


class AlarmLog:
    """Raise, clear and acknowledge alarms; one open entry per key."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.entries: list[dict[str, Any]] = []
        self.max_entries = max_entries
        self.version = 0  # changes with every change of the log
        self._next_id = 1

    def _open(self, key: str) -> dict[str, Any] | None:
        for e in reversed(self.entries):
            if e["key"] == key and e["cleared_ns"] is None:
                return e
        return None

    def raise_(self, key: str, severity: str, message: str, cause: str, run: int | None = None,
               now_ns: int | None = None) -> dict[str, Any]:
        """A new entry, or the open one of ``key`` again (its message, a higher severity, a count)."""
        if severity not in SEVERITIES:
            raise ValueError(f"severity: expected one of {SEVERITIES}, got {severity!r}")
        now_ns = time.time_ns() if now_ns is None else now_ns
        e = self._open(key)
        if e is not None:
            e["count"] += 1
            e["message"], e["cause"], e["last_ns"] = message, cause, now_ns
            if SEVERITIES.index(severity) > SEVERITIES.index(e["severity"]):
                e["severity"], e["acked_ns"], e["acked_by"] = severity, None, None  # escalated: ack again
        else:
            e = {"id": self._next_id, "key": key, "severity": severity, "message": message, "cause": cause,
                 "run": run, "count": 1, "raised_ns": now_ns, "last_ns": now_ns, "cleared_ns": None,
                 "acked_ns": None, "acked_by": None}
            self._next_id += 1
            self.entries.append(e)
            self._trim()
        self.version += 1
        return e

    def clear(self, key: str, now_ns: int | None = None) -> bool:
        """Mark the open entry of ``key`` cleared; False if there is none."""
        e = self._open(key)
        if e is None:
            return False
        e["cleared_ns"] = time.time_ns() if now_ns is None else now_ns
        self.version += 1
        return True

    def clear_prefix(self, prefix: str) -> None:
        for e in self.entries:
            if e["cleared_ns"] is None and e["key"].startswith(prefix):
                self.clear(e["key"])

    def acknowledge(self, ids: list[int] | None, by: str, now_ns: int | None = None) -> int:
        """Acknowledge the entries ``ids`` (None: every unacknowledged one) by ``by``; how many."""
        now_ns = time.time_ns() if now_ns is None else now_ns
        wanted = None if ids is None else {int(i) for i in ids}
        n = 0
        for e in self.entries:
            if e["acked_ns"] is None and (wanted is None or e["id"] in wanted):
                e["acked_ns"], e["acked_by"] = now_ns, by
                n += 1
        if n:
            self.version += 1
        return n

    def _trim(self) -> None:
        while len(self.entries) > self.max_entries:
            done = next((k for k, e in enumerate(self.entries)
                         if e["cleared_ns"] is not None and e["acked_ns"] is not None), 0)
            del self.entries[done]

    def snapshot(self) -> list[dict[str, Any]]:
        return [dict(e) for e in self.entries]

    def open_count(self) -> int:
        return sum(1 for e in self.entries if e["cleared_ns"] is None or e["acked_ns"] is None)


def check_ack_request(meta: dict[str, Any]) -> tuple[list[int] | None, str]:
    """The ids (None: all) and the name of who acknowledges, from an ``ack`` request; ValueError if malformed."""
    ids = meta.get("ids")
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool)
                                                                  for i in ids)):
        raise ValueError(f"ack: ids: expected a list of alarm ids, got {ids!r}")
    by = meta.get("by")
    if not isinstance(by, str) or not by.strip() or len(by) > 200:
        raise ValueError("ack: by: expected who acknowledges (a name, up to 200 characters)")
    return ids, by.strip()


class AlarmPublisher:
    """The alarm log on ``endpoints.alarms`` (PUB): at every change, and once a second."""

    def __init__(self, ctx: zmq.Context, endpoint: str) -> None:
        self.sock = transport.publisher(ctx, endpoint, 100, "alarms")
        self.seq = 0
        self._sent_version = -1
        self._next = 0.0

    def publish(self, log: AlarmLog, run: int | None, force: bool = False) -> bool:
        """Send the log if it changed or is due; True if it changed since the last send."""
        now = time.monotonic()
        changed = log.version != self._sent_version
        if not force and not changed and now < self._next:
            return False
        self.seq += 1
        msg = Message(stream="alarms", kind="status", source="supervisor", seq=self.seq, run=run or 0,
                      meta={"alarms": log.snapshot(), "version": log.version, "time_ns": time.time_ns()})
        transport.try_send(self.sock, msg)
        self._sent_version, self._next = log.version, now + PUBLISH_PERIOD_S
        return changed

    def close(self) -> None:
        self.sock.close(0)
