"""Reading the rows and attributes of a run file that may be damaged or cut short."""

from __future__ import annotations

import contextlib
from typing import Any

import h5py
import numpy as np

H5_ERRORS = (OSError, ValueError, RuntimeError, KeyError, TypeError)  # what h5py raises on a damaged file


def read_rows(ds: h5py.Dataset, lo: int, hi: int) -> tuple[np.ndarray, str | None]:
    """Rows ``lo:hi`` of ``ds``, or the readable prefix of them and what stopped it."""
    try:
        return ds[lo:hi], None
    except H5_ERRORS:
        pass
    step = ds.chunks[0] if ds.chunks else 1
    parts = [ds[0:0]]
    start = lo
    while start < hi:
        stop = min(hi, (start // step + 1) * step)
        try:
            parts.append(ds[start:stop])
        except H5_ERRORS as exc:
            return np.concatenate(parts), f"{ds.name.lstrip('/')} rows {start}-{stop - 1} unreadable: {exc}"
        start = stop
    return np.concatenate(parts), None


ATTRS = ("run_number", "config", "config_sha256", "exit_status", "triggers_generated", "lineage")


def readable_attrs(f: h5py.File, keys: tuple[str, ...] = ATTRS) -> dict[str, Any]:
    """The root attributes among ``keys`` that can be read (a cut-short file may have lost them)."""
    out = {}
    for key in keys:
        with contextlib.suppress(*H5_ERRORS):
            out[key] = f.attrs[key]
    return out
