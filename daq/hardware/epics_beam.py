"""EPICS beam receiver: BEAM_PULSE rows from Channel Access PVs (through ``caproto``).

The accelerator publishes one update per pulse on each of a few PVs (``beam.epics``):
pulse id, protons on target, beam power, beam-on flag and, optionally, a good-pulse flag.
Channel Access has no notion of "the fields of one pulse", so they are joined here by the
**EPICS timestamp** of the updates: the timing system stamps every record of a pulse with
that pulse's time, which is also the pulse (POT) time of the row (exact to the ns; a CA
DOUBLE holding ns since 1970 would only resolve 256 ns, and CA has no 64-bit integer).

:class:`PulseAssembler` (pure, no caproto) does the joining and the accounting:

- a pulse is released when every configured PV has delivered an update with its timestamp;
- a pulse still incomplete ``assembly_timeout_s`` after its first update is dropped and
  counted as missed (never invented);
- a jump in pulse id (``id > last + 1``) counts the pulses in between as missed;
- updates older than the last released pulse (a reconnect re-sends the current value)
  are ignored; a pulse id that goes backwards (the source restarted) rebases the count.

Counting starts at the first complete pulse. The first update of every subscription is
the value the IOC held when we connected (a pulse from before the run), so it is skipped.

:class:`EpicsBeam` implements :class:`daq.hardware.protocols.BeamBackend`. ``caproto`` is an optional
dependency (``pip install 'sevens[epics]'``), imported in ``configure``.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from daq import dtypes
from daq.hardware.protocols import BackendUnavailable, RunParameters

log = logging.getLogger(__name__)

EPICS_EPOCH_UNIX_S = 631_152_000  # 1990-01-01T00:00:00Z, the EPICS epoch, in Unix seconds
REQUIRED_FIELDS = ("pulse_id", "pot", "power_mw", "beam_on")
OPTIONAL_FIELDS = ("good",)
POLL_S = 0.02  # longest wait in fetch between checks of the assembly timeout
MAX_READY = 100_000  # released pulses held for fetch (~28 min at 60 Hz) before the oldest are counted lost
CA_ENV = ("EPICS_CA_ADDR_LIST", "EPICS_CA_AUTO_ADDR_LIST", "EPICS_CA_SERVER_PORT")


def epics_stamp_to_ns(seconds_since_epics_epoch: int, nanoseconds: int) -> int:
    """An EPICS timestamp (seconds since 1990, ns) as ns since the Unix epoch."""
    return (int(seconds_since_epics_epoch) + EPICS_EPOCH_UNIX_S) * 1_000_000_000 + int(nanoseconds)


def ns_to_epics_stamp(unix_ns: int) -> tuple[int, int]:
    """ns since the Unix epoch as an EPICS timestamp (seconds since 1990, ns)."""
    seconds, nanoseconds = divmod(int(unix_ns), 1_000_000_000)
    return seconds - EPICS_EPOCH_UNIX_S, nanoseconds


def pv_names(epics_cfg: Any) -> dict[str, str]:
    """Field -> full PV name (``prefix`` + name) of the configured PVs; ``good`` only if set."""
    e = epics_cfg
    names = {"pulse_id": e.pulse_id_pv, "pot": e.pot_pv, "power_mw": e.power_pv, "beam_on": e.beam_on_pv,
             "good": e.good_pv}
    return {f: e.prefix + n for f, n in names.items() if n or f in REQUIRED_FIELDS}


@dataclass
class _Pending:
    first_seen: float
    values: dict[str, float] = field(default_factory=dict)


class PulseAssembler:
    """Joins per-PV updates, keyed by EPICS timestamp [ns], into BEAM_PULSE rows.

    Not thread-safe: :class:`EpicsBeam` calls it under its lock. ``now`` arguments are
    monotonic seconds, passed in so tests can drive the clock.
    """

    def __init__(self, fields: Sequence[str], timeout_s: float, energy_gev: float, max_ready: int = MAX_READY) -> None:
        missing = [f for f in REQUIRED_FIELDS if f not in fields]
        if missing:
            raise ValueError(f"PulseAssembler: fields {missing} are required")
        self.fields = frozenset(fields)
        self.timeout_s = timeout_s
        self.energy_gev = energy_gev
        self.max_ready = max_ready
        self._pending: dict[int, _Pending] = {}
        self._ready: deque[tuple] = deque()
        self._missed = 0  # not yet reported by collect()
        self._unidentified = 0  # incomplete pulses without a pulse id since the last identified one
        self.last_id: int | None = None
        self.last_stamp: int | None = None
        self.stats = {"pulses": 0, "gaps": 0, "incomplete": 0, "stale": 0, "duplicates": 0, "resets": 0,
                      "overflow": 0, "warmup_dropped": 0}

    def add(self, field_name: str, stamp_ns: int, value: float, now: float) -> None:
        """One PV update."""
        if field_name not in self.fields:
            raise ValueError(f"PulseAssembler.add: unknown field {field_name!r}")
        if self.last_stamp is not None and stamp_ns <= self.last_stamp:
            self.stats["stale"] += 1
            return
        pending = self._pending.get(stamp_ns)
        if pending is None:
            pending = self._pending[stamp_ns] = _Pending(now)
        pending.values[field_name] = value

    def advance(self, now: float) -> None:
        """Release complete pulses in time order; drop the oldest ones once they time out."""
        for stamp in sorted(self._pending):
            pending = self._pending[stamp]
            if pending.values.keys() == self.fields:
                del self._pending[stamp]
                self._release(stamp, pending.values)
            elif now - pending.first_seen >= self.timeout_s:
                del self._pending[stamp]
                self._drop_incomplete(stamp, pending.values)
            else:
                break  # keep time order: a younger pulse waits for this one

    def flush(self) -> None:
        """At stop: release what is complete; an incomplete pulse older than a complete one is
        counted missed, incomplete ones after the last complete pulse were still in flight."""
        complete = [s for s, p in self._pending.items() if p.values.keys() == self.fields]
        last_complete = max(complete, default=None)
        for stamp in sorted(self._pending):
            values = self._pending[stamp].values
            if values.keys() == self.fields:
                self._release(stamp, values)
            elif last_complete is not None and stamp < last_complete:
                self._drop_incomplete(stamp, values)
        self._pending.clear()

    def collect(self, max_pulses: int) -> tuple[np.ndarray, int]:
        """(up to ``max_pulses`` released rows, pulses missed since the last call)."""
        n = min(max_pulses, len(self._ready))
        rows = np.array([self._ready.popleft() for _ in range(n)], dtype=dtypes.BEAM_PULSE)
        missed, self._missed = self._missed, 0
        return rows, missed

    @property
    def n_ready(self) -> int:
        return len(self._ready)

    def summary(self) -> dict[str, int | None]:
        """Counters, and the last pulse id accounted for (released or counted missed)."""
        return {**self.stats, "last_id": self.last_id}

    def _count_gap(self, pulse_id: int) -> None:
        if self.last_id is not None and pulse_id > self.last_id + 1:
            gap = max(0, pulse_id - self.last_id - 1 - self._unidentified)
            self.stats["gaps"] += gap
            self._missed += gap
        self._unidentified = 0

    def _release(self, stamp: int, v: dict[str, float]) -> None:
        pid = int(v["pulse_id"])
        if self.last_id is not None and pid == self.last_id:
            self.stats["duplicates"] += 1
            return
        if self.last_id is not None and pid < self.last_id:
            self.stats["resets"] += 1
            log.warning("epics beam: pulse id went back from %d to %d (source restarted?)", self.last_id, pid)
            self.last_id = None
        self._count_gap(pid)
        self.last_id, self.last_stamp = pid, stamp
        beam_on = bool(v["beam_on"])
        good = bool(v["good"]) if "good" in v else beam_on and v["pot"] > 0
        if len(self._ready) >= self.max_ready:
            self._ready.popleft()
            self.stats["overflow"] += 1
            self._missed += 1
        self._ready.append((pid, stamp, v["pot"], v["power_mw"], self.energy_gev, beam_on, good))
        self.stats["pulses"] += 1

    def _drop_incomplete(self, stamp: int, v: dict[str, float]) -> None:
        if self.last_id is None:  # before the first complete pulse: counting has not started
            self.stats["warmup_dropped"] += 1
            return
        self.stats["incomplete"] += 1
        self._missed += 1
        log.debug("epics beam: pulse at %d incomplete after %.3f s (have %s)", stamp, self.timeout_s, sorted(v))
        if "pulse_id" in v and int(v["pulse_id"]) > self.last_id:
            self._count_gap(int(v["pulse_id"]))
            self.last_id = int(v["pulse_id"])
        elif "pulse_id" not in v:
            self._unidentified += 1  # the next identified pulse's gap includes this one: count it once
        self.last_stamp = max(self.last_stamp or stamp, stamp)


def _no_ioc_message(missing: list[str], timeout_s: float) -> str:
    env = ", ".join(f"{k}={os.environ[k]!r}" if k in os.environ else f"{k} unset" for k in CA_ENV)
    return (f"EPICS beam: no IOC answered for PVs {', '.join(missing)} within {timeout_s} s "
            f"(Channel Access searched with {env}); is the IOC running and reachable, "
            f"and are beam.epics.prefix and the PV names right?")


class EpicsBeam:
    """BeamBackend over Channel Access: subscribes to the configured PVs, assembles pulses."""

    def __init__(self) -> None:
        self._ctx: Any = None
        self._cond = threading.Condition()
        self._assembler: PulseAssembler | None = None
        self._callbacks: list[Any] = []  # caproto holds callbacks by weak reference: keep them alive
        self._initial: dict[str, threading.Event] = {}
        self._accepting = False
        self.disconnects = 0

    def configure(self, cfg: Any, params: RunParameters) -> None:
        """Connect to every configured PV and subscribe; raise BackendUnavailable if any is missing."""
        try:
            from caproto.threading.client import Context  # Channel Access client (threads)
        except ImportError:
            raise BackendUnavailable(
                "beam.backend = 'epics' needs the caproto package (Channel Access client), "
                "which is not installed: pip install 'sevens[epics]'") from None
        e = cfg.beam.epics
        names = pv_names(e)
        self._assembler = PulseAssembler(list(names), e.assembly_timeout_s, cfg.beam.proton_energy_gev)
        self._ctx = Context(timeout=e.connect_timeout_s)
        pvs = dict(zip(names, self._ctx.get_pvs(*names.values(), timeout=e.connect_timeout_s,
                                                connection_state_callback=self._on_connection), strict=True))
        deadline = time.monotonic() + e.connect_timeout_s
        missing = []
        for name, pv in pvs.items():
            try:
                pv.wait_for_connection(timeout=max(deadline - time.monotonic(), 0.01))
            except TimeoutError:
                missing.append(names[name])
        if missing:
            self.close()
            raise BackendUnavailable(_no_ioc_message(missing, e.connect_timeout_s))
        # pulse id last: a simulated IOC may start its timeline when that subscription arrives
        order = [f for f in names if f != "pulse_id"] + ["pulse_id"]
        self._accepting = True
        for f in order:
            self._initial[f] = threading.Event()
            callback = functools.partial(self._on_update, f)
            self._callbacks.append(callback)
            pvs[f].subscribe(data_type="time").add_callback(callback)
            if not self._initial[f].wait(max(deadline - time.monotonic(), 0.01)):
                self.close()
                raise BackendUnavailable(f"EPICS beam: {names[f]} connected but sent no value within "
                                         f"{e.connect_timeout_s} s")
        log.info("epics beam: subscribed to %s", ", ".join(names.values()))

    def _on_connection(self, pv: Any, state: str) -> None:
        if state != "connected" and self._ctx is not None:
            self.disconnects += 1
            log.warning("epics beam: %s %s (missed pulses are counted when it returns)", pv.name, state)

    def _on_update(self, field_name: str, sub: Any, response: Any) -> None:
        md = response.metadata
        stamp = epics_stamp_to_ns(md.secondsSinceEpoch, md.nanoSeconds)
        value = float(np.asarray(response.data).reshape(-1)[0])
        with self._cond:
            initial = self._initial.get(field_name)
            if initial is not None and not initial.is_set():
                initial.set()  # the value held at subscription time: a pulse from before the run
                return
            if not self._accepting or self._assembler is None:
                return
            self._assembler.add(field_name, stamp, value, time.monotonic())
            self._cond.notify_all()

    @property
    def stats(self) -> dict[str, int | None]:
        """The assembler's counters (pulses, gaps, incomplete, stale...) and the last pulse id."""
        with self._cond:
            return {} if self._assembler is None else self._assembler.summary()

    def start(self) -> None:
        """Pulses flow from the subscriptions made in ``configure``."""
        if self._assembler is None:
            raise RuntimeError("EpicsBeam.start: configure() first")

    def fetch(self, max_pulses: int, timeout_s: float) -> tuple[np.ndarray, int]:
        """(released pulses, up to ``max_pulses``; pulses counted missed since the last call)."""
        if self._assembler is None:
            raise RuntimeError("EpicsBeam.fetch: configure() first")
        deadline = time.monotonic() + max(timeout_s, 0.0)
        with self._cond:
            while True:
                now = time.monotonic()
                self._assembler.advance(now)
                if self._assembler.n_ready or now >= deadline:
                    break
                self._cond.wait(min(deadline - now, POLL_S))
            return self._assembler.collect(max_pulses)

    def stop(self) -> None:
        """Stop taking updates; complete pulses stay fetchable."""
        with self._cond:
            self._accepting = False
            if self._assembler is not None:
                self._assembler.flush()
                log.info("epics beam: %s, %d disconnects", self._assembler.summary(), self.disconnects)

    def close(self) -> None:
        """Disconnect from the IOC."""
        self._accepting = False
        if self._ctx is not None:
            ctx, self._ctx = self._ctx, None
            ctx.disconnect(wait=True)
        self._callbacks.clear()
