"""The raw waveforms of a replay's output: linked to its inputs, or copied from them chunk by chunk.

A replay changes features, cuts and calibration, never the recorded samples, so the raw
waveforms skip the pipeline's recorder and are added to the output after the run:

- ``sevens replay --raw link`` (default, :func:`link_raw`): ``/raw/csi`` and ``/raw/veto`` are
  HDF5 virtual datasets: row i reads the input row of the output's trigger i. They read like any
  other dataset, cost nothing to write, and keep the replay as fast as one without raw waveforms
  (docs/performance.md, "Replay"). The source paths are stored relative to the output file, so
  moving the output and input directories together keeps the link. An input that is no longer
  where the link says would read as zeros (HDF5's fill value), so every reader of raw waveforms
  here checks :func:`daq.runfile.missing_raw_sources` first.
- ``--raw copy`` (:func:`copy_raw`): a self-contained copy. Where a chunk of the output holds
  exactly the rows of one chunk of an input (the usual case: the replayed rows keep their
  order, and a skipped damaged chunk keeps the rest aligned), its stored bytes are copied as
  they are (``read_direct_chunk`` / ``write_direct_chunk``, filter mask and checksum included;
  the checksum is verified first). Other chunks are read and encoded again.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from daq.runfile.files import RAW, RunFileError, open_run
from daq.runfile.raw_codecs import DIRECT, ChunkEncoder, checksum_ok, compression_options, filters
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


def _same_layout(sources: list[h5py.Dataset]) -> bool:
    """True if every source stores chunks that can be copied as they are into one dataset: chunked
    alike, one filter pipeline ending in Fletcher-32 (a file without raw checksums is encoded again)."""
    first = sources[0]
    if any(ds.is_virtual or not ds.chunks for ds in sources) or not first.fletcher32:
        return False
    return all(ds.chunks == first.chunks and filters(ds) == filters(first) for ds in sources)


def _create_like(out: h5py.File, name: str, source: h5py.Dataset, n: int) -> h5py.Dataset:
    """A dataset ``name`` of ``n`` rows with the creation properties (chunks, filters) of ``source``."""
    n_samples = source.shape[1]
    out.require_group(name.rpartition("/")[0])
    space = h5py.h5s.create_simple((n, n_samples), (h5py.h5s.UNLIMITED, n_samples))
    dsid = h5py.h5d.create(out.id, name.encode(), h5py.h5t.NATIVE_INT8, space, dcpl=source.id.get_create_plist())
    return h5py.Dataset(dsid)


def copy_raw(output: Path, inputs: list[Path], channels: tuple[str, ...], compression: str,
             chunk_records: int) -> dict[str, dict[str, int]]:
    """Add ``/raw/<channel>`` to ``output``: the inputs' rows of its triggers, copied.

    For each of ``channels`` all inputs have. If the inputs' chunks can be copied as stored
    (same chunks and filters, with checksums), the output takes their layout and codec;
    otherwise it is written with ``compression`` in chunks of ``chunk_records``. A stored chunk
    that fails its checksum is a RunFileError (it is never copied). Returns, per channel, the
    chunks ``copied`` as stored and the chunks ``encoded`` again.
    """
    output = Path(output)
    counts: dict[str, dict[str, int]] = {}
    with h5py.File(output, "r+") as out:
        out_ids = np.asarray(out["triggers"]["trigger_id"][:], np.int64)
        ids, shapes = _read_inputs(inputs)
        file_of, row_of = _row_map(out_ids, ids)
        files = [open_run(p) for p in inputs]
        try:
            for channel in channels:
                name = RAW[channel]
                if name in out or not all(shapes[channel]):
                    continue
                sources = [f[name] for f in files]
                counts[channel] = _copy_channel(out, name, sources, inputs, file_of, row_of, compression,
                                                chunk_records)
        finally:
            for f in files:
                f.close()
    return counts


def _copy_channel(out: h5py.File, name: str, sources: list[h5py.Dataset], inputs: list[Path], file_of: np.ndarray,
                  row_of: np.ndarray, compression: str, chunk_records: int) -> dict[str, int]:
    n = len(file_of)
    n_samples = sources[0].shape[1]
    as_stored = _same_layout(sources)
    if as_stored:
        ds = _create_like(out, name, sources[0], n)
        codec = str(sources[0].attrs.get("compression", ""))
    else:
        ds = out.create_dataset(name, shape=(n, n_samples), maxshape=(None, n_samples), dtype="i1",
                                chunks=(chunk_records, n_samples), fletcher32=True,
                                **compression_options(compression))
        codec = compression
    c = ds.chunks[0]
    encode = ChunkEncoder(codec, c * n_samples) if codec in DIRECT else None
    copied = encoded = 0
    block = np.zeros((c, n_samples), np.int8)
    for lo in range(0, n, c):
        hi = min(n, lo + c)
        k, r0 = int(file_of[lo]), int(row_of[lo])
        if (as_stored and r0 % c == 0 and (file_of[lo:hi] == k).all()
                and (row_of[lo:hi] == np.arange(r0, r0 + hi - lo)).all()):
            mask, data = sources[k].id.read_direct_chunk((r0, 0))
            if not checksum_ok(sources[k], data, mask):
                raise RunFileError(f"{inputs[k]}: {name} rows {r0}-{r0 + c - 1} fail their Fletcher-32 checksum; "
                                   "not copied")
            ds.id.write_direct_chunk((lo, 0), data, mask)
            copied += 1
            continue
        block[:] = 0
        for a, b, kk, r in _segments(file_of[lo:hi], row_of[lo:hi]):
            block[a:b] = sources[kk][r:r + (b - a)]
        if encode is not None:
            ds.id.write_direct_chunk((lo, 0), encode(block, (hi - lo) * n_samples), 0)
        else:
            ds[lo:hi] = block[:hi - lo]
        encoded += 1
    ds.attrs["units"] = "ADC"
    ds.attrs["description"] = f"{name.rpartition('/')[2]} channel samples, one row per row of /triggers"
    ds.attrs["compression"] = codec
    ds.attrs["copied"] = ("the rows of the replay's input files (lineage 'inputs'): chunks copied as stored where "
                          "they line up, encoded again elsewhere")
    return {"copied": copied, "encoded": encoded}
