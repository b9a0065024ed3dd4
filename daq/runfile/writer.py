"""Writing run files: the recorder's appender, free-space reserve and write-failure errors.

The layout itself is described in :mod:`daq.runfile.files`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from daq import dtypes
from daq.runfile.files import CACHED_CHUNKS, LAYOUT_VERSION, RAW, TABLE_CHUNK_BYTES, TABLES, RunFileError
from daq.runfile.raw_codecs import DIRECT, DirectRawAppender, compression_options

# Files HDF5 could not close after a failed write. HDF5 keeps them open and retries the close in its
# own teardown at process exit, which crashes (SIGSEGV) when the write fails again; a process that
# has one ends with os._exit instead (see daq.cli.main.cmd_process).
UNCLOSED: set[Path] = set()


class DiskFullError(RunFileError):
    """The run directory's file system is full or below the configured reserve."""


_HDF5_ERRNO = re.compile(r"error message = '([^']+)'")


def write_failure(path: Path, what: str, exc: BaseException, flushed_triggers: int | None = None) -> RunFileError:
    """A RunFileError for a failed write that names the file and the operating system's reason
    (HDF5 buries it, e.g. ``No space left on device``, in a long message), and how many triggers
    the last good flush holds (rows after them may read as zeros)."""
    text = str(exc)
    found = _HDF5_ERRNO.search(text)
    reason = found.group(1) if found else text.splitlines()[0] if text else type(exc).__name__
    cls = DiskFullError if "No space left" in reason else RunFileError
    kept = f"; its last good flush holds {flushed_triggers} triggers" if flushed_triggers is not None else ""
    return cls(f"{path}: {what} failed: {reason}{kept}")


def free_bytes(directory: Path) -> int:
    """Bytes available to an unprivileged writer on the file system holding ``directory``."""
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


def check_free_space(directory: Path, reserve_bytes: int) -> None:
    """Raise DiskFullError when the file system holding ``directory`` has less than ``reserve_bytes`` free."""
    if reserve_bytes <= 0:
        return
    free = free_bytes(directory)
    if free < reserve_bytes:
        raise DiskFullError(f"{directory}: disk full: {free / 1e6:.1f} MB free, below the reserve of "
                            f"{reserve_bytes / 1e6:.0f} MB (recorder.min_free_mb)")


class RunFileWriter:
    """Appends a run's streams to its HDF5 file."""

    def __init__(
        self,
        path: Path,
        *,
        run_number: int,
        config_text: str,
        config_sha256: str,
        software_version: str,
        n_samples: int,
        raw_channels: tuple[str, ...],
        compression: str,
        chunk_records: int,
        attrs: dict[str, Any] | None = None,
    ) -> None:
        self.path = Path(path)
        if self.path.exists():
            raise RunFileError(f"{self.path}: run file exists already; refusing to overwrite it")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.f = h5py.File(self.path, "w", libver="latest")
        except OSError as exc:
            raise RunFileError(f"{self.path}: cannot create run file: {exc}") from None
        f = self.f
        f.attrs["layout_version"] = LAYOUT_VERSION
        f.attrs["run_number"] = run_number
        f.attrs["config"] = config_text
        f.attrs["config_sha256"] = config_sha256
        f.attrs["software_version"] = software_version
        f.attrs["start_time_ns"] = time.time_ns()
        f.attrs["stop_time_ns"] = np.int64(0)
        f.attrs["exit_status"] = "running"
        for key in ("triggers_generated", "triggers_recorded", "triggers_lost"):
            f.attrs[key] = np.int64(-1)
        for key, value in (attrs or {}).items():
            f.attrs[key] = value
        # One dataset object per dataset for the life of the file, each with a chunk cache of a few
        # chunks that prefers to evict full ones (w0 = 1): the partial chunk being appended to stays
        # in memory, so appends of a few rows never decompress and recompress it from disk, and the
        # cache stays bounded (~10 MB in all). A failed chunk write then surfaces at the next flush
        # (a short-lived dataset object would lose it at dealloc).
        self.datasets: dict[str, h5py.Dataset] = {}
        for name, dt in TABLES.items():
            # fletcher32: a corrupted table chunk is an error on read, never silently wrong numbers
            rows = max(1, TABLE_CHUNK_BYTES // dt.itemsize)
            ds = f.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtypes.plain(dt), chunks=(rows,),
                                  fletcher32=True, rdcc_nbytes=CACHED_CHUNKS * rows * dt.itemsize, rdcc_w0=1.0)
            ds.attrs["units"] = json.dumps(dtypes.units(dt))
            ds.attrs["descriptions"] = json.dumps(dtypes.descriptions(dt))
            self.datasets[name] = ds
        # raw waveforms coded here (DIRECT) are written chunk by chunk with write_direct_chunk and
        # need no chunk cache; the filter pipeline's codecs keep the partial chunk in the cache
        direct = compression in DIRECT
        cache = 0 if direct else CACHED_CHUNKS * chunk_records * n_samples
        self.direct: dict[str, DirectRawAppender] = {}
        for channel in raw_channels:
            # fletcher32 after the compression filter: the checksum covers the bytes on disk, so one
            # flipped bit in a raw chunk is a read error naming its rows (daq.runfile.integrity)
            ds = f.create_dataset(RAW[channel], shape=(0, n_samples), maxshape=(None, n_samples), dtype="i1",
                                  chunks=(chunk_records, n_samples), **compression_options(compression),
                                  fletcher32=True, rdcc_nbytes=cache, rdcc_w0=1.0)
            ds.attrs["units"] = "ADC"
            ds.attrs["description"] = f"{channel} channel samples, one row per row of /triggers"
            ds.attrs["compression"] = compression
            self.datasets[RAW[channel]] = ds
            if direct:
                self.direct[RAW[channel]] = DirectRawAppender(ds, compression)
        self.raw_channels = raw_channels
        f.swmr_mode = True
        self.rows = {name: 0 for name in self.datasets}
        self.last_flush = time.monotonic()
        self.failed: RunFileError | None = None
        self.closed = False
        self.flushed_triggers = 0  # rows of /triggers on disk as of the last good flush
        self.flushed_rows = dict(self.rows)  # rows of every dataset on disk as of the last good flush

    def append(self, name: str, rows: np.ndarray) -> None:
        """Append ``rows`` (a TABLES dtype or raw samples) to dataset ``name``."""
        if len(rows) == 0:
            return
        if self.failed is not None:
            raise self.failed
        ds = self.datasets[name]
        n = self.rows[name]
        if rows.dtype.names:
            rows = rows.astype(dtypes.plain(rows.dtype), copy=False)
        try:
            if name in self.direct:
                self.direct[name].append(rows)
            else:
                ds.resize(n + len(rows), axis=0)
                ds[n:] = rows
        except (OSError, RuntimeError) as exc:
            self.failed = write_failure(self.path, f"writing /{name}", exc, self.flushed_triggers)
            raise self.failed from None
        self.rows[name] = n + len(rows)

    def append_raw(self, channel: str, samples: np.ndarray) -> None:
        if channel in self.raw_channels:
            self.append(RAW[channel], samples)

    def flush(self, final: bool = False) -> None:
        """Write everything appended so far to disk (what a killed writer leaves readable); ``final``:
        nothing will be appended after it (the partial raw chunks need no room to grow)."""
        if self.failed is not None:
            raise self.failed
        try:
            for appender in self.direct.values():
                appender.flush(final)  # the partial raw chunk, so a killed recorder leaves its rows readable
            self.f.flush()
        except (OSError, RuntimeError) as exc:
            self.failed = write_failure(self.path, "flushing", exc, self.flushed_triggers)
            raise self.failed from None
        self.last_flush = time.monotonic()
        self.flushed_triggers = self.rows["triggers"]
        self.flushed_rows = dict(self.rows)

    def _back_to_last_flush(self) -> None:
        """After a failed write: shrink every dataset to its rows of the last good flush, so the close
        (which writes what metadata it still can) leaves no rows whose data never reached the disk
        (a table chunk that could not be allocated would read as zeros)."""
        for name, ds in self.datasets.items():
            keep = self.flushed_rows.get(name, 0)
            if ds.shape[0] > keep:
                with contextlib.suppress(OSError, RuntimeError, ValueError):
                    ds.resize(keep, axis=0)

    def flush_due(self, interval_s: float) -> bool:
        """Whether to flush now: ``interval_s`` after the last flush at the latest, from half of it on
        as soon as every directly written raw dataset ends on a chunk boundary. A flush then writes
        no partial raw chunk, which SWMR would never free once the chunk is rewritten whole."""
        elapsed = time.monotonic() - self.last_flush
        if not self.direct:  # the filter pipeline's codecs: HDF5 rewrites the partial chunk at every flush
            return elapsed >= interval_s
        return elapsed >= interval_s or (elapsed >= interval_s / 2
                                         and not any(a.pending for a in self.direct.values()))

    def close(self, exit_status: str, final_attrs: dict[str, Any]) -> None:
        """End SWMR mode and write the stop record (stop time, exit status, counts).

        After a write failure the file is released without the stop record (it cannot be
        written; the file then reads like one whose writer was killed, up to its last good
        flush) and the failure is raised again as a RunFileError.
        """
        if self.closed:
            raise self.failed or RunFileError(f"{self.path}: closed already")
        self.closed = True
        error = self.failed
        if error is None:
            try:
                self.flush(final=True)
            except RunFileError as exc:
                error = exc
        if error is not None:
            self._back_to_last_flush()
        self.datasets.clear()
        self.direct.clear()
        try:
            self.f.close()
        except (OSError, RuntimeError) as exc:
            error = error or write_failure(self.path, "closing", exc)
        if error is not None:
            self.failed = error
            if self.f.id.valid:
                UNCLOSED.add(self.path)
            raise error
        try:
            with h5py.File(self.path, "r+") as f:
                f.attrs["stop_time_ns"] = time.time_ns()
                f.attrs["exit_status"] = exit_status
                for key, value in final_attrs.items():
                    f.attrs[key] = value
        except (OSError, RuntimeError) as exc:
            raise write_failure(self.path, "writing the stop record", exc) from None
