"""Feed a recorded run file into the monitor model, through the same path as the live stream.

The file is read in blocks of triggers (SWMR-safe, so a file still being written works too);
each block becomes a ``data`` message like the cut pipeline's, the DQ table one ``dq``
message, and the run's last records go to the waveform viewer with their raw samples.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from daq import dtypes
from daq.runfile import open_run
from daq.wire.envelope import Message
from monitor.model import MonitorModel

BLOCK_TRIGGERS = 65536
FILE_ATTRS = ("exit_status", "triggers_generated", "triggers_recorded", "triggers_lost", "beam_pulses", "pot_total",
              "gwhr_total", "unmatched_triggers", "backend", "seed", "rate_boost", "speed", "software_version",
              "config_path", "start_time_ns", "stop_time_ns")
FILE_STREAM = "file"


def _plain(value: object) -> object:
    """An HDF5 attribute as a plain Python value."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value.item() if isinstance(value, np.generic) else value


def _table(f: object, name: str, dtype: np.dtype, a: int | None = None, b: int | None = None) -> np.ndarray:
    if name not in f:  # type: ignore[operator]
        return np.zeros(0, dtype)
    ds = f[name]  # type: ignore[index]
    rows = ds[a:b] if a is not None else ds[:]
    return rows.astype(dtypes.plain(dtype)).view(dtype) if len(rows) else np.zeros(0, dtype)


def load_run_file(model: MonitorModel, path: str | Path, history: int | None = None) -> int:
    """Load ``path`` into ``model``; returns the number of triggers read."""
    path = Path(path)
    with open_run(path) as f:
        a = f.attrs
        run = int(a["run_number"])
        start, stop = int(a.get("start_time_ns", 0)), int(a.get("stop_time_ns", 0))
        shown = {k: _plain(a[k]) for k in FILE_ATTRS if k in a}
        model.set_file_info(str(path.resolve()), run, str(a.get("exit_status", "?")),
                            (stop - start) / 1e9 if stop and start else None, shown)
        seq = 0

        def feed(kind: str, arrays: dict[str, np.ndarray], meta: dict | None = None) -> None:
            nonlocal seq
            model.ingest(Message(stream=FILE_STREAM, kind=kind, source=path.name, run=run, seq=seq,
                                 meta=meta or {}, arrays=arrays))
            seq += 1

        n = len(f["triggers"])
        beam = _table(f, "beam", dtypes.BEAM_PULSE)
        losses = _table(f, "losses", dtypes.LOSS)
        cut_fractions = json.loads(a["cut_fractions"]) if "cut_fractions" in a else {}
        empty = {"peaks": np.zeros(0, dtypes.PEAK), "veto_hits": np.zeros(0, dtypes.VETO_HIT)}
        feed("data", {"triggers": np.zeros(0, dtypes.TRIGGER), "features": np.zeros(0, dtypes.FEATURES),
                      "beam": beam, "losses": losses, **empty}, {"cut_fractions": cut_fractions})
        for lo in range(0, n, BLOCK_TRIGGERS):
            hi = min(n, lo + BLOCK_TRIGGERS)
            feats = _table(f, "features", dtypes.FEATURES, 2 * lo, 2 * hi)
            trig = _table(f, "triggers", dtypes.TRIGGER, lo, hi)
            feed("data", {"triggers": trig, "features": feats, "beam": np.zeros(0, dtypes.BEAM_PULSE),
                          "losses": np.zeros(0, dtypes.LOSS), **empty}, {"cut_fractions": cut_fractions})
        feed("dq", {"dq": _table(f, "dq", dtypes.DQ)})
        _load_records(model, f, n, history or model.history)
        model.set_alarm_log(alarm_log_of(a))
        if str(a.get("exit_status", "running")) != "running":
            feed("eor", {}, {"cut_fractions": cut_fractions,
                             "generated": int(a.get("triggers_generated", -1))})
    return n


def _load_records(model: MonitorModel, f: object, n: int, history: int) -> None:
    """The last ``history`` records with raw samples, for the waveform viewer."""
    if "raw/csi" not in f or n == 0:  # type: ignore[operator]
        return
    raw_csi = f["raw/csi"]  # type: ignore[index]
    n_raw = min(n, len(raw_csi))
    lo = max(0, n_raw - history)
    if n_raw <= lo:
        return
    trig = _table(f, "triggers", dtypes.TRIGGER, lo, n_raw)
    feats = _table(f, "features", dtypes.FEATURES, 2 * lo, 2 * n_raw)
    peaks_ds = f["peaks"]  # type: ignore[index]
    first = _first_row_at_or_after(peaks_ds, int(trig["trigger_id"][0]))
    peaks = _table(f, "peaks", dtypes.PEAK, first, len(peaks_ds))
    csi = raw_csi[lo:n_raw]
    veto = f["raw/veto"][lo:n_raw] if "raw/veto" in f else None  # type: ignore[operator, index]
    hits_ds = f["veto_hits"]  # type: ignore[index]
    hits = _table(f, "veto_hits", dtypes.VETO_HIT, _first_row_at_or_after(hits_ds, int(trig["trigger_id"][0])),
                  len(hits_ds))
    for i in range(len(trig)):
        model.add_record(trig[i], feats, peaks, csi[i], None if veto is None else veto[i], hits)


def _first_row_at_or_after(ds: object, trigger_id: int) -> int:
    """Bisection on a table in trigger-id order, reading one row per step (tables can be large)."""
    lo, hi = 0, len(ds)  # type: ignore[arg-type]
    while lo < hi:
        mid = (lo + hi) // 2
        if int(ds[mid]["trigger_id"]) < trigger_id:  # type: ignore[index]
            lo = mid + 1
        else:
            hi = mid
    return lo


def alarm_log_of(attrs: Any) -> list[dict[str, Any]]:
    """The alarm log of a run file: its ``alarms`` attribute (the supervisor's log), or for a file
    written before there was one, entries made from its ``restarts`` and its ``exit_status``."""
    try:
        if "alarms" in attrs:
            log = json.loads(str(_plain(attrs["alarms"])))
            if isinstance(log, list):
                return [e for e in log if isinstance(e, dict)]
        restarts = json.loads(str(_plain(attrs["restarts"]))) if "restarts" in attrs else []
    except (ValueError, TypeError):
        return []
    out: list[dict[str, Any]] = []
    for k, r in enumerate(r for r in restarts if isinstance(r, dict)):
        t = int(r.get("time_ns", 0))
        out.append({"id": k + 1, "key": f"process:{r.get('process')}", "severity": "error", "cause": "restarted",
                    "message": f"{r.get('reason')}; restarted", "run": r.get("run"), "count": 1, "raised_ns": t,
                    "last_ns": t, "cleared_ns": None, "acked_ns": None, "acked_by": None})
    status = str(_plain(attrs.get("exit_status", "ok")))
    if status not in ("ok", "running"):
        t = int(attrs.get("stop_time_ns", 0))
        out.append({"id": len(out) + 1, "key": "run:exit_status", "severity": "error" if status.startswith("aborted")
                    else "warning", "cause": "run status", "message": f"run ended: {status}", "run": None,
                    "count": 1, "raised_ns": t, "last_ns": t, "cleared_ns": None, "acked_ns": None, "acked_by": None})
    return out
