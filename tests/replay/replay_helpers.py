"""Helpers of the replay tests: run `sevens`, and damage, split or strip copies of a run file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from daq.runfile import compression_options

SEVENS = [sys.executable, "-m", "daq.cli"]
TABLES = ("beam", "triggers", "features", "peaks", "veto_hits", "dq", "losses", "selected", "truth/events",
          "truth/windows")


def sevens(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([*SEVENS, *args], capture_output=True, text=True, timeout=timeout)


def last_json(proc: subprocess.CompletedProcess) -> dict[str, Any]:
    assert proc.stdout.strip(), proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def write_run(path: Path, attrs: dict[str, Any], tables: dict[str, np.ndarray], swmr: bool = False) -> None:
    """A run file with the recorder's layout (raw waveforms Blosc-compressed in 64-record chunks);
    ``swmr``: as the recorder writes it (latest format, SWMR, every dataset made before any data),
    so that a copy cut short still opens and reads up to its cut, as a recording does."""
    with h5py.File(path, "w", **({"libver": "latest"} if swmr else {})) as f:
        for key, value in attrs.items():
            f.attrs[key] = value
        made = {}
        for name, rows in tables.items():
            data = {"shape": rows.shape, "dtype": rows.dtype} if swmr else {"data": rows}
            if name.startswith("raw/"):
                made[name] = f.create_dataset(name, chunks=(64, rows.shape[1]), maxshape=(None, rows.shape[1]),
                                              **data, **compression_options("blosc-lz4"))
            else:
                made[name] = f.create_dataset(name, maxshape=(None,), chunks=True, **data)
        if swmr:
            f.swmr_mode = True
            for name, rows in tables.items():
                if len(rows):
                    made[name][...] = rows


def read_run(path: Path, with_raw: bool = True) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    with h5py.File(path, "r") as f:
        attrs = dict(f.attrs)
        names = [*TABLES, *(("raw/csi", "raw/veto") if with_raw else ())]
        return attrs, {n: f[n][:] for n in names if n in f}


def split_into_sub_runs(src: Path, directory: Path, at: int, overlap: int = 0) -> list[Path]:
    """``run_NNNNNN.h5`` with records [0, at) and ``run_NNNNNN_sub001.h5`` with [at - overlap, n):
    what a recorder restarted mid-run leaves (a restart may repeat a few records)."""
    attrs, t = read_run(src)
    ids = t["triggers"]["trigger_id"]
    first_sub = int(ids[at - overlap])
    t_split = int(t["triggers"]["time"][at - 1]) + 8_000_000  # pulses up to the next trigger's pulse
    paths = [directory / src.name, directory / (src.stem + "_sub001.h5")]
    for k, path in enumerate(paths):
        part: dict[str, np.ndarray] = {}
        for name, rows in t.items():
            if name.startswith("raw/"):
                part[name] = rows[:at] if k == 0 else rows[at - overlap:]
            elif name == "beam":
                part[name] = rows[rows["time"] <= t_split] if k == 0 else rows[rows["time"] > t_split]
            elif name in ("dq", "losses"):
                part[name] = rows if k == 0 else rows[:0]
            else:
                part[name] = rows[rows["trigger_id"] < int(ids[at])] if k == 0 else rows[
                    rows["trigger_id"] >= first_sub]
        write_run(path, {**attrs, "sub_run": k}, part)
    return paths


def without_raw(src: Path, dst: Path, channel: str = "csi") -> Path:
    """A copy of ``src`` recorded with ``recorder.raw_<channel> = false``."""
    attrs, t = read_run(src)
    del t[f"raw/{channel}"]
    write_run(dst, attrs, t)
    return dst


def truncate(src: Path, dst: Path, fraction: float) -> Path:
    """A copy of ``src`` cut to ``fraction`` of its bytes (a copy interrupted, a full disk)."""
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def corrupt_raw_chunk(src: Path, dst: Path, chunk: int, seed: int = 1) -> int:
    """A copy of ``src`` with garbage over the first half of raw/csi chunk ``chunk``; returns its first row."""
    dst.write_bytes(src.read_bytes())
    with h5py.File(dst, "r") as f:
        ds = f["raw/csi"]
        info = ds.id.get_chunk_info(chunk)
        rows = ds.chunks[0]
    with open(dst, "r+b") as fh:
        fh.seek(info.byte_offset)
        fh.write(np.random.default_rng(seed).integers(0, 256, info.size // 2, np.uint8).tobytes())
    return int(info.chunk_offset[0]) if info.chunk_offset is not None else chunk * rows
