"""Reading the rows and attributes of a run file that may be damaged or cut short.

:func:`read_block` reads rows and, where it stops, says which rows of which dataset could not
be read and whether their chunk failed its checksum (:class:`ReadFailure`); :func:`read_rows`
is the same with the failure as text. Tables are read by field name (:func:`by_name`), never by
position, after :func:`check_fields` has refused a foreign layout in one line.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from daq.runfile.files import H5_ERRORS, RunFileError, open_run
from daq.runfile.raw_codecs import direct_readable, read_direct_rows

UNCHUNKED_STEP = 64  # rows of a dataset without chunks (a virtual one) read at once when narrowing a failure
FILTER_FAILED = "filter returned failure"  # HDF5's words for a chunk its filters (checksum, Blosc) refuse


def checksummed(ds: h5py.Dataset) -> bool:
    """True if every stored chunk behind ``ds`` carries a Fletcher-32 checksum (for a virtual
    dataset: every source dataset it reads that can be opened)."""
    if not ds.is_virtual:
        return bool(ds.fletcher32)
    base = Path(ds.file.filename).resolve().parent
    for src in {(s.file_name, s.dset_name) for s in ds.virtual_sources()}:
        path = Path(ds.file.filename) if src[0] == "." else base / src[0]
        try:
            with open_run(path) as f:
                if not checksummed(f[src[1]]):
                    return False
        except (RunFileError, *H5_ERRORS):
            return False
    return True


@dataclass(frozen=True)
class ReadFailure:
    """Rows ``lo`` .. ``hi - 1`` of ``dataset`` could not be read."""

    dataset: str
    lo: int
    hi: int
    error: str  # HDF5's first line
    checksum: bool  # the chunk is there but fails its Fletcher-32 checksum (a damaged byte)
    cut_short: bool = False  # the chunk lies (partly) beyond the end of the file

    @property
    def rows(self) -> str:
        return f"{self.dataset} rows {self.lo}-{self.hi - 1}"

    @property
    def local(self) -> bool:
        """The damage is in these rows' chunk only (its filters refuse it); later rows may read."""
        return not self.cut_short and (self.checksum or FILTER_FAILED in self.error)

    def __str__(self) -> str:
        if self.cut_short:
            return f"{self.rows} unreadable: the file ends before their chunk (cut short)"
        if self.checksum:
            return f"{self.rows} unreadable: they fail their Fletcher-32 checksum (damaged on disk)"
        return f"{self.rows} unreadable: {self.error}"


def _beyond_end(ds: h5py.Dataset, row: int) -> bool:
    """True if the stored chunk holding ``row`` of ``ds`` does not fit in the file (a truncated file)."""
    if ds.is_virtual or not ds.chunks:
        return False
    try:
        info = ds.id.get_chunk_info_by_coord((row // ds.chunks[0] * ds.chunks[0],) + (0,) * (len(ds.shape) - 1))
        return info.byte_offset is not None and info.byte_offset + info.size > Path(ds.file.filename).stat().st_size
    except (*H5_ERRORS, AttributeError):
        return False


def _failure(ds: h5py.Dataset, lo: int, hi: int, exc: BaseException) -> ReadFailure:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if _beyond_end(ds, lo):
        return ReadFailure(ds.name.lstrip("/"), lo, hi, text, False, cut_short=True)
    filtered = FILTER_FAILED in text or "Fletcher32" in text or "checksum" in text.lower()
    return ReadFailure(ds.name.lstrip("/"), lo, hi, text, filtered and checksummed(ds))


def read_block(ds: h5py.Dataset, lo: int, hi: int) -> tuple[np.ndarray, ReadFailure | None]:
    """Rows ``lo:hi`` of ``ds``, or the readable prefix of them and the rows that stopped it:
    a whole chunk, or for a dataset without chunks (a virtual one) the run of rows that fail.
    Raw waveforms of ``huffman-zstd`` are read by :func:`~daq.runfile.raw_codecs.read_direct_rows` when
    every chunk is plainly readable; HDF5 reads (and words the failure of) anything else."""
    if direct_readable(ds):
        rows = read_direct_rows(ds, lo, hi)
        if rows is not None:
            return rows, None
    try:
        return ds[lo:hi], None
    except H5_ERRORS:
        pass
    step = ds.chunks[0] if ds.chunks else UNCHUNKED_STEP
    parts = [ds[0:0]]
    start = lo
    while start < hi:
        stop = min(hi, (start // step + 1) * step)
        try:
            parts.append(ds[start:stop])
        except H5_ERRORS as exc:
            if ds.chunks:
                return np.concatenate(parts), _failure(ds, start, stop, exc)
            row, error = start, exc  # no chunks (a virtual dataset): find the rows that fail, one by one
            while row < stop:
                try:
                    parts.append(ds[row:row + 1])
                    row += 1
                except H5_ERRORS as e:
                    error = e
                    break
            if row < stop:
                end = row + 1
                while end < hi and _fails(ds, end):
                    end += 1
                return np.concatenate(parts), _failure(ds, row, end, error)
        start = stop
    return np.concatenate(parts), None


def _fails(ds: h5py.Dataset, row: int) -> bool:
    try:
        ds[row:row + 1]
        return False
    except H5_ERRORS:
        return True


def read_rows(ds: h5py.Dataset, lo: int, hi: int) -> tuple[np.ndarray, str | None]:
    """Rows ``lo:hi`` of ``ds``, or the readable prefix of them and what stopped it."""
    rows, failure = read_block(ds, lo, hi)
    return rows, None if failure is None else str(failure)


def field_problem(have: np.dtype, want: np.dtype, fields: tuple[str, ...] | None = None) -> str | None:
    """Why rows of dtype ``have`` cannot be read by name as ``want`` (its ``fields``), or None."""
    for name in fields or want.names or ():
        if have.names is None or name not in have.names:
            return f"has no field '{name}'"
        src, dst = have.fields[name][0], want.fields[name][0]
        if src.shape != dst.shape or not np.can_cast(src, dst, "same_kind"):
            return f"field '{name}' is {src.str}, expected {dst.str}"
    return None


def check_fields(ds: h5py.Dataset, want: np.dtype, path: str | Path,
                 fields: tuple[str, ...] | None = None) -> None:
    """RunFileError naming the file, the table and the field if ``ds`` cannot be read as ``want``."""
    problem = field_problem(ds.dtype, want, fields)
    if problem:
        raise RunFileError(f"{path}: table '{ds.name.lstrip('/')}' {problem}; not a run file of this layout")


def by_name(rows: np.ndarray, want: np.ndarray | np.dtype) -> np.ndarray:
    """``rows`` as dtype ``want``, field by field by name (numpy's ``astype`` goes by position)."""
    want = np.dtype(want)
    out = np.zeros(len(rows), want)
    for name in want.names or ():
        out[name] = rows[name]
    return out


ATTRS = ("run_number", "config", "config_sha256", "exit_status", "triggers_generated", "lineage")


def readable_attrs(f: h5py.File, keys: tuple[str, ...] = ATTRS) -> dict[str, Any]:
    """The root attributes among ``keys`` that can be read (a cut-short file may have lost them)."""
    out = {}
    for key in keys:
        with contextlib.suppress(*H5_ERRORS):
            out[key] = f.attrs[key]
    return out
