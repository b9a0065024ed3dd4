"""The raw waveforms of a replay's output: linked to its inputs, not copied.

A replay changes features, cuts and calibration, never the recorded samples, so by default
(``sevens replay --raw link``) the output's ``/raw/csi`` and ``/raw/veto`` are HDF5 virtual
datasets: row i reads the input row of the output's trigger i. They read like any other
dataset, cost nothing to write, and keep the replay as fast as one without raw waveforms
(docs/performance.md, "Replay"). The source paths are stored relative to the output file, so
moving the output and input directories together keeps the link. An input that is no longer
where the link says would read as zeros (HDF5's fill value), so every reader of raw waveforms
here checks :func:`daq.runfile.missing_raw_sources` first.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from daq.runfile.files import RAW, RunFileError, open_run
from daq.runfile.tables import read_rows

MODES = ("link", "copy", "none")


def _read_inputs(inputs: list[Path]) -> tuple[list[np.ndarray], dict[str, list[tuple[int, ...]]]]:
    """Per input: the trigger ids of its readable rows, and per channel its raw shape (``()`` if absent)."""
    ids: list[np.ndarray] = []
    shapes: dict[str, list[tuple[int, ...]]] = {channel: [] for channel in RAW}
    for path in inputs:
        with open_run(path) as f:
            n = min(f["triggers"].shape[0], *(f[name].shape[0] for name in RAW.values() if name in f))
            rows_read, _ = read_rows(f["triggers"], 0, n)  # a damaged file: its readable prefix
            ids.append(np.asarray(rows_read["trigger_id"], np.int64))
            for channel, name in RAW.items():
                shapes[channel].append(f[name].shape if name in f else ())
    return ids, shapes


def _row_map(out_ids: np.ndarray, ids: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(input file index, input row) of every output trigger id; RunFileError if one is in no input."""
    files = [np.full(len(tid), k) for k, tid in enumerate(ids)]
    rows = [np.arange(len(tid)) for tid in ids]
    all_ids = np.concatenate(ids)
    order = np.argsort(all_ids, kind="stable")  # a trigger in two sub-run files: the first file's row
    sorted_ids = all_ids[order]
    pos = np.searchsorted(sorted_ids, out_ids)
    found = (pos < len(sorted_ids)) & (sorted_ids[np.minimum(pos, len(sorted_ids) - 1)] == out_ids)
    if not found.all():
        missing = int(out_ids[~found][0])
        raise RunFileError(f"trigger {missing} of the replay is in none of its inputs; cannot link raw waveforms")
    idx = order[pos]
    return np.concatenate(files)[idx], np.concatenate(rows)[idx]


def _segments(file_of: np.ndarray, row_of: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Maximal runs (out_start, out_stop, file, in_start) of output rows reading consecutive input rows."""
    if len(file_of) == 0:
        return []
    breaks = np.flatnonzero((np.diff(file_of) != 0) | (np.diff(row_of) != 1)) + 1
    starts = np.r_[0, breaks]
    stops = np.r_[breaks, len(file_of)]
    return [(int(a), int(b), int(file_of[a]), int(row_of[a])) for a, b in zip(starts, stops, strict=True)]


def link_raw(output: Path, inputs: list[Path], final_dir: Path | None = None) -> dict[str, int]:
    """Add ``/raw/<channel>`` to ``output`` as virtual datasets over the inputs' rows of its triggers.

    Links every channel all inputs have, with source paths relative to ``final_dir`` (the
    directory the output is moved to; default: where it is). The inputs' checksums still
    apply: a damaged input chunk fails the read of the linked rows. Returns {channel: number
    of linked segments}.
    """
    output = Path(output)
    base = Path(final_dir or output.parent).resolve()
    with h5py.File(output, "r+") as out:
        out_ids = np.asarray(out["triggers"]["trigger_id"][:], np.int64)
        ids, shapes = _read_inputs(inputs)
        segments = _segments(*_row_map(out_ids, ids))
        linked: dict[str, int] = {}
        for channel, name in RAW.items():
            if name in out or not all(shapes[channel]):
                continue
            n_samples = shapes[channel][0][1]
            layout = h5py.VirtualLayout((len(out_ids), n_samples), dtype="i1")
            sources = [h5py.VirtualSource(os.path.relpath(p.resolve(), base), name, shape=s)
                       for p, s in zip(inputs, shapes[channel], strict=True)]
            for a, b, k, r in segments:
                layout[a:b] = sources[k][r:r + (b - a)]
            ds = out.create_virtual_dataset(name, layout, fillvalue=0)
            ds.attrs["units"] = "ADC"
            ds.attrs["description"] = f"{channel} channel samples, one row per row of /triggers"
            ds.attrs["linked"] = ("virtual dataset: the rows of the replay's input files (lineage 'inputs'), "
                                  "not a copy; it reads as zeros if they are moved apart from this file")
            linked[channel] = len(segments)
    return linked
