"""What a run file says about its run and about itself, as catalogue columns; its SHA-256.

Reads only root attributes and the ``dq`` table, so it is quick on a file of any size (the SHA-256
reads the whole file, in 1 MiB blocks: the writer thread does that, never the DAQ's loop).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from daq.runfile import H5_ERRORS, RunFileError, open_run, run_files
from daq.runfile.files import SUB_RUN

#: DQ quantities of the runs table: column -> DQ field (means over the run's intervals)
DQ_SUMMARY = {"baseline_adc": "baseline_adc", "baseline_rms_adc": "baseline_rms_adc", "spe_gain": "spe_gain",
              "afterglow_fraction": "afterglow_fraction"}
FLAGGER = "sevens (DQ limits)"


def sha256_of(path: str | Path, block: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def sub_run_of(path: Path) -> int:
    m = SUB_RUN.match(path.name)
    return int(m.group(2)) if m and m.group(2) else 0


def _attr(attrs: Any, key: str, default: Any = None) -> Any:
    try:
        value = attrs[key]
    except (KeyError, *H5_ERRORS):
        return default
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, np.generic):
        value = value.item()
    return value


def _json(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _mean(x: np.ndarray) -> float | None:
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    return float(x.mean()) if len(x) else None


def read_dq(path: str | Path) -> np.ndarray | None:
    """The ``dq`` table of one file (None when it has none or it cannot be read)."""
    try:
        with open_run(path) as f:
            return f["dq"][:] if "dq" in f else None
    except (RunFileError, *H5_ERRORS):
        return None


def dq_field(dq: np.ndarray, name: str) -> np.ndarray:
    """A DQ column by name; ``spe_gain`` of a file written before that column is its ``spe_mean_charge``."""
    names = dq.dtype.names or ()
    if name in names:
        return dq[name].astype(np.float64)
    if name == "spe_gain" and "spe_mean_charge" in names:
        return dq["spe_mean_charge"].astype(np.float64)
    return np.full(len(dq), np.nan)


def file_facts(path: str | Path, with_sha: bool = True) -> dict[str, Any]:
    """Columns of the ``files`` table for one run file (``run_number`` from its attributes)."""
    p = Path(path).resolve()
    with open_run(p) as f:
        number = _attr(f.attrs, "run_number")
        stop = _attr(f.attrs, "stop_time_ns", 0)
    if number is None:
        raise RunFileError(f"{p}: no run_number attribute: not a sevens run file")
    return {"path": str(p), "run_number": int(number), "sub_run": sub_run_of(p), "size": p.stat().st_size,
            "sha256": sha256_of(p) if with_sha else None, "status": "written",
            "closed_ns": int(stop) or int(p.stat().st_mtime_ns)}


def run_type_of(config_text: str, default: str = "physics") -> str:
    try:
        return str(tomllib.loads(config_text).get("catalogue", {}).get("run_type", default))
    except (tomllib.TOMLDecodeError, AttributeError):
        return default


def run_facts(path: str | Path, run_type: str | None = None) -> dict[str, Any]:
    """Columns of the ``runs`` table from the files of the run ``path`` belongs to (its sub-runs too):
    the start record of the first, the stop record and totals of the last, the DQ means over all."""
    paths = run_files(path) or [Path(path)]
    attrs: list[dict[str, Any]] = []
    dqs = []
    for p in paths:
        with open_run(p) as f:
            attrs.append({k: _attr(f.attrs, k) for k in f.attrs})
        dq = read_dq(p)
        if dq is not None and len(dq):
            dqs.append(dq)
    first, last = attrs[0], attrs[-1]
    if first.get("run_number") is None:
        raise RunFileError(f"{paths[0]}: no run_number attribute: not a sevens run file")
    config_text = str(first.get("config") or "")
    start, stop = int(first.get("start_time_ns") or 0) or None, int(last.get("stop_time_ns") or 0) or None
    restarts = json.loads(last["restarts"]) if last.get("restarts") else []
    out: dict[str, Any] = {
        "number": int(first["run_number"]),
        "run_type": run_type or run_type_of(config_text),
        "start_ns": start, "stop_ns": stop,
        "exit_status": str(last.get("exit_status") or "running"),
        "config_sha256": first.get("config_sha256"), "config_text": config_text,
        "config_path": first.get("config_path"), "software_version": first.get("software_version"),
        "backend": first.get("backend"), "seed": first.get("seed"), "rate_boost": first.get("rate_boost"),
        "speed": first.get("speed"), "run_dir": str(Path(paths[0]).resolve().parent),
        "lineage": _json(first.get("lineage")), "cut_fractions": _json(last.get("cut_fractions")),
        "restarts": len(restarts) if isinstance(restarts, list) else None,
        "duration_s": round((stop - start) / 1e9, 3) if start and stop else None,
    }
    for key, attr in (("triggers_generated", "triggers_generated"), ("triggers_recorded", "triggers_recorded"),
                      ("triggers_lost", "triggers_lost"), ("beam_pulses", "beam_pulses")):
        value = last.get(attr)
        out[key] = int(value) if value is not None and int(value) >= 0 else None
    for key in ("pot", "gwhr"):
        value = last.get(f"{key}_total")
        out[key] = float(value) if value is not None and float(value) >= 0 else None
    if dqs:
        dq = np.concatenate(dqs)
        out["livetime_s"] = float(np.asarray(dq["interval_s"], dtype=np.float64).sum())
        for col, name in DQ_SUMMARY.items():
            out[col] = _mean(dq_field(dq, name))
    return out


def start_facts(params: dict[str, Any], cfg: Any, run_dir: Path) -> dict[str, Any]:
    """What the supervisor knows at the start of a run (``params``: the RunParameters as a dict)."""
    import daq

    return {"number": int(params["run_number"]), "run_type": cfg.catalogue.run_type,
            "start_ns": int(time.time_ns()), "exit_status": "running", "config_sha256": cfg.sha256,
            "config_text": cfg.text, "config_path": cfg.path, "software_version": daq.__version__,
            "backend": cfg.digitizer.backend, "seed": int(params["seed"]), "rate_boost": float(params["rate_boost"]),
            "speed": float(params["speed"]), "run_dir": str(run_dir), "host": socket.gethostname()}


def dq_limit_flags(path: str | Path, number: int) -> list[dict[str, Any]]:
    """DQ flags for the quantities whose intervals left the ``[dq]`` alarm limits of the run's own config."""
    from daq import config as config_mod

    paths = run_files(path) or [Path(path)]
    dqs = [d for p in paths if (d := read_dq(p)) is not None and len(d)]
    if not dqs:
        return []
    try:
        with open_run(paths[0]) as f:
            cfg = config_mod.parse(str(_attr(f.attrs, "config", "")))
    except Exception:  # a config this version cannot parse: no limits to apply
        return []
    dq = np.concatenate(dqs)
    flags = []
    for name in (f for f in dq.dtype.names or () if hasattr(cfg.dq, f)):
        lo, hi = getattr(cfg.dq, name)
        x = dq[name].astype(np.float64)
        ok = np.isfinite(x)
        out = ok & ((x < lo) | (x > hi))
        if out.any():
            with contextlib.suppress(ValueError):
                flags.append({"run_number": number, "flag": name, "severity": "warning", "who": FLAGGER,
                              "at_ns": time.time_ns(), "start_ns": int(dq["time"][out].min()),
                              "stop_ns": int(dq["time"][out].max()),
                              "why": f"{int(out.sum())} of {int(ok.sum())} DQ intervals outside its alarm limits "
                                     f"[{lo:g}, {hi:g}] (mean {float(x[ok].mean()):.4g})"})
    return flags


def derived_facts(path: str | Path) -> tuple[dict[str, Any], list[tuple[str, int | None]]] | None:
    """A replay's output (its lineage names input files): the ``derived`` columns and its inputs; None
    for a file of the DAQ itself."""
    p = Path(path).resolve()
    with open_run(p) as f:
        lineage = _json(_attr(f.attrs, "lineage"))
        number, status = _attr(f.attrs, "run_number"), _attr(f.attrs, "exit_status")
    inputs = lineage.get("inputs")
    if not inputs:
        return None
    run = lineage.get("input_run_number")
    facts = {"path": str(p), "kind": lineage.get("kind", "replay"), "run_number": number,
             "config_sha256": lineage.get("config_sha256"), "code_version": lineage.get("code_version"),
             "lineage": lineage, "size": p.stat().st_size, "sha256": sha256_of(p), "exit_status": status}
    return facts, [(str(i), int(run) if run is not None else None) for i in inputs]
