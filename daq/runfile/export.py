"""Selected events of several runs in one small HDF5 file, the input of the offline fit.

``sevens export RUN.h5... --out FILE.h5`` merges the ``selected`` tables (windows passing
every cut inside the analysis window) of the given runs — each with its sub-run files —
into one file with the run-file layout the fit reads (``analysis.datafiles``, ``format =
"hdf5_events"``):

- ``/selected``: the SELECTED fields (trigger_id, window, pe, time_ns, beam_on) plus ``run``;
- root attributes ``pot_total`` and ``gwhr_total`` (summed over the runs), ``runs`` (JSON:
  per run its files, exposure, events and config hash) and ``lineage`` (JSON: inputs, their
  config hashes, code version), so the file says what made it.

A run's exposure is the POT of its ``beam`` table (every pulse is in exactly one of its
files; the ``pot_total`` attribute of a sub-run file may already include earlier files).
A replayed run keeps the number of the run it replays (its lineage's ``input_run_number``);
the same run given twice (e.g. a run and its replay) is refused: it would count twice.
An earlier export given as input is merged as it is.

The output is never one of the inputs (any file of their runs), an existing output is replaced
only with ``force``, and the file is written under a temporary name beside it and renamed at
the end (:mod:`daq.runfile.outputs`): a failed export leaves no output and its inputs as they
were. ``/selected`` is chunked with a Fletcher-32 checksum, like the run file's tables.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

import daq
from daq import config as config_mod
from daq import dtypes
from daq.kernels.exposure import gwhr
from daq.runfile.files import TABLE_CHUNK_BYTES, RunFileError, open_run, refuse_while_recording, run_files
from daq.runfile.outputs import check_output, replacing
from daq.runfile.tables import by_name, check_fields, read_rows, readable_attrs

EXPORT_LAYOUT = "sevens-selected-events-1"
SELECTED_RUN = np.dtype([((dtypes.SELECTED.fields[n][2], n), dtypes.SELECTED.fields[n][0])
                         for n in dtypes.SELECTED.names or ()] + [(("run number [count]", "run"), "<i8")])


def _read(f: h5py.File, name: str, dtype: np.dtype) -> np.ndarray:
    """Table ``name`` of ``f`` read by field name as ``dtype`` (a foreign layout: RunFileError)."""
    check_fields(f[name], dtype, f.filename)
    rows, err = read_rows(f[name], 0, f[name].shape[0])
    if err:
        raise RunFileError(f"{f.filename}: {err}; `sevens replay` the run to salvage the readable part")
    return by_name(rows, dtypes.plain(dtype))


def _run_number(attrs: dict[str, Any], path: Path) -> int:
    lineage = json.loads(str(attrs["lineage"])) if "lineage" in attrs else {}
    if "input_run_number" in lineage:  # a replay stands for the run it replays
        return int(lineage["input_run_number"])
    if "run_number" in attrs:
        return int(attrs["run_number"])
    raise RunFileError(f"{path}: no readable run_number attribute")


def read_run(run_file: str | Path) -> tuple[list[dict[str, Any]], np.ndarray]:
    """(per-run records, selected rows with ``run``) of one run (all its files) or of an earlier export."""
    files = run_files(run_file)
    with open_run(files[0]) as f:
        if f.attrs.get("layout") == EXPORT_LAYOUT:  # an earlier export: merge it as it is
            rows = _read(f, "selected", SELECTED_RUN)
            return json.loads(str(f.attrs["runs"])), rows
        attrs = readable_attrs(f)
    number = _run_number(attrs, files[0])
    energy = config_mod.parse(str(attrs["config"]), f"{files[0]}[config]").beam.proton_energy_gev \
        if "config" in attrs else None
    parts, pot, status = [], 0.0, ""
    for path in files:
        with open_run(path) as f:
            status = str(f.attrs.get("exit_status", ""))  # the run's own: its last file's
            refuse_while_recording(path, status, "export it after it has ended")
            for name in ("selected", "beam"):
                if name not in f:
                    raise RunFileError(f"{path}: no '{name}' dataset; not a run file of this layout")
            parts.append(_read(f, "selected", dtypes.SELECTED))
            pot += float(_read(f, "beam", np.dtype([("pot", "<f8")]))["pot"].sum())
    sel = np.concatenate(parts)
    _, first = np.unique(sel[["trigger_id", "window"]], return_index=True)  # a restart's overlap: once
    sel = sel[np.sort(first)]
    rows = np.zeros(len(sel), dtypes.plain(SELECTED_RUN))
    for name in dtypes.SELECTED.names or ():
        rows[name] = sel[name]
    rows["run"] = number
    record = {"run": number, "files": [str(p.resolve()) for p in files], "pot": pot,
              "gwhr": gwhr(pot, energy) if energy is not None else 0.0, "events": len(rows),
              "config_sha256": str(attrs.get("config_sha256", "")),
              "exit_status": status}
    return [record], rows


def export_selected(paths: list[str], out: str | Path, force: bool = False) -> dict[str, Any]:
    """Write the merged selected events of the runs of ``paths`` to ``out``; returns a summary.

    Refuses (OutputError) an ``out`` that is one of the inputs' files, or that exists unless ``force``."""
    out = Path(out)
    check_output(out, [p for given in paths for p in run_files(given)], force)
    runs: list[dict[str, Any]] = []
    parts = []
    seen: dict[str, int] = {}
    for given in paths:
        key = str(run_files(given)[0].resolve())
        if key in seen:
            continue  # the same run named twice (e.g. its first and a sub-run file)
        records, rows = read_run(given)
        for rec in records:
            if any(r["run"] == rec["run"] for r in runs):
                raise RunFileError(f"{given}: run {rec['run']} is already among the inputs (a run and its replay?); "
                                   "its events and exposure would count twice")
        seen[key] = len(runs)
        runs += records
        parts.append(rows)
    rows = np.concatenate(parts) if parts else np.zeros(0, dtypes.plain(SELECTED_RUN))
    order = np.lexsort((rows["window"], rows["trigger_id"], rows["run"]))
    rows = rows[order]
    pot, energy = sum(r["pot"] for r in runs), sum(r["gwhr"] for r in runs)
    shas = sorted({r["config_sha256"] for r in runs})
    image = _image(rows, runs, pot, energy, shas)
    try:
        with replacing([out], force) as (tmp,):
            tmp.write_bytes(image)
    except OSError as exc:
        raise RunFileError(f"{out}: cannot write the export: {exc.strerror or exc}; nothing was written") from None
    return {"file": str(out.resolve()), "events": len(rows), "runs": [r["run"] for r in runs],
            "pot_total": pot, "gwhr_total": energy, "config_sha256": shas}


def _image(rows: np.ndarray, runs: list[dict[str, Any]], pot: float, energy: float, shas: list[str]) -> bytes:
    """The export file's bytes, made in memory (small: selected events only), so that a write that
    fails on disk is a plain OSError and leaves HDF5 nothing half-open to retry at exit."""
    chunk = max(1, min(len(rows), TABLE_CHUNK_BYTES // rows.dtype.itemsize))
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        ds = f.create_dataset("selected", data=rows, chunks=(chunk,), maxshape=(None,), fletcher32=True)
        ds.attrs["units"] = json.dumps(dtypes.units(SELECTED_RUN))
        ds.attrs["descriptions"] = json.dumps(dtypes.descriptions(SELECTED_RUN))
        f.attrs["layout"] = EXPORT_LAYOUT
        f.attrs["pot_total"] = pot
        f.attrs["gwhr_total"] = energy
        f.attrs["n_events"] = len(rows)
        f.attrs["runs"] = json.dumps(runs)
        f.attrs["lineage"] = json.dumps({"made_by": "sevens export", "code_version": daq.__version__,
                                         "inputs": [p for r in runs for p in r["files"]],
                                         "input_config_sha256": shas})
    return buf.getvalue()
