"""The run file: one HDF5 file per run, self-describing. The layout lives here only.

Layout (see docs/run-file.md)::

    /                 attrs: run_number, config (full TOML text), config_sha256, software_version,
                      start_time_ns, stop_time_ns, exit_status, seed, rate_boost, speed,
                      triggers_generated, triggers_recorded, triggers_lost, layout_version
    /beam             BEAM_PULSE rows, one per beam pulse received
    /triggers         TRIGGER rows, one per recorded trigger
    /features         FEATURES rows, two per trigger (AC, C), with cut bits
    /peaks            PEAK rows: SPE-like peaks found in pretraces and ROIs
    /veto_hits        VETO_HIT rows
    /raw/csi          int8 (n_triggers, n_samples), compressed; optional
    /raw/veto         int8 (n_triggers, n_samples), compressed; optional
    /dq               DQ rows, one per data-quality interval
    /losses           LOSS rows: every trigger not recorded, with the stage and reason
    /selected         SELECTED rows: windows passing every cut in the analysis window (fit input)
    /truth/events     TRUTH_EVENT rows (simulation only)
    /truth/windows    TRUTH_WINDOW rows (simulation only)

Every table carries ``units`` and ``descriptions`` attributes (JSON: field -> text).
The file is written in HDF5 SWMR mode and flushed on a bounded interval, so a killed
recorder leaves a file that opens and reads up to its last flush; its ``exit_status``
then still says ``running``. Final attributes are written after SWMR mode ends.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin
import numpy as np

from daq import dtypes

LAYOUT_VERSION = 1
TABLE_CHUNK_BYTES = 65536
CACHED_CHUNKS = 4  # per dataset: the partial chunk being appended to, and room to evict full ones

TABLES: dict[str, np.dtype] = {
    "beam": dtypes.BEAM_PULSE,
    "triggers": dtypes.TRIGGER,
    "features": dtypes.FEATURES,
    "peaks": dtypes.PEAK,
    "veto_hits": dtypes.VETO_HIT,
    "dq": dtypes.DQ,
    "losses": dtypes.LOSS,
    "selected": dtypes.SELECTED,
    "truth/events": dtypes.TRUTH_EVENT,
    "truth/windows": dtypes.TRUTH_WINDOW,
}
RAW = {"csi": "raw/csi", "veto": "raw/veto"}
# Files HDF5 could not close after a failed write. HDF5 keeps them open and retries the close in its
# own teardown at process exit, which crashes (SIGSEGV) when the write fails again; a process that
# has one ends with os._exit instead (see daq.cli.cmd_process).
UNCLOSED: set[Path] = set()


class RunFileError(RuntimeError):
    """A run file that cannot be written or read as asked."""


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


def compression_options(name: str) -> dict[str, Any]:
    """h5py create_dataset keyword arguments for a compression name from the config."""
    if name == "blosc-lz4":
        return dict(hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.NOSHUFFLE))
    if name == "blosc-zstd":
        return dict(hdf5plugin.Blosc(cname="zstd", clevel=3, shuffle=hdf5plugin.Blosc.NOSHUFFLE))
    if name == "gzip":
        return {"compression": "gzip", "compression_opts": 1}
    if name == "lzf":
        return {"compression": "lzf"}
    return {}


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
        for channel in raw_channels:
            ds = f.create_dataset(RAW[channel], shape=(0, n_samples), maxshape=(None, n_samples), dtype="i1",
                                  chunks=(chunk_records, n_samples), **compression_options(compression),
                                  rdcc_nbytes=CACHED_CHUNKS * chunk_records * n_samples, rdcc_w0=1.0)
            ds.attrs["units"] = "ADC"
            ds.attrs["description"] = f"{channel} channel samples, one row per row of /triggers"
            ds.attrs["compression"] = compression
            self.datasets[RAW[channel]] = ds
        self.raw_channels = raw_channels
        f.swmr_mode = True
        self.rows = {name: 0 for name in self.datasets}
        self.last_flush = time.monotonic()
        self.failed: RunFileError | None = None
        self.closed = False
        self.flushed_triggers = 0  # rows of /triggers on disk as of the last good flush

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
            ds.resize(n + len(rows), axis=0)
            ds[n:] = rows
        except (OSError, RuntimeError) as exc:
            self.failed = write_failure(self.path, f"writing /{name}", exc, self.flushed_triggers)
            raise self.failed from None
        self.rows[name] = n + len(rows)

    def append_raw(self, channel: str, samples: np.ndarray) -> None:
        if channel in self.raw_channels:
            self.append(RAW[channel], samples)

    def flush(self) -> None:
        """Write everything appended so far to disk (what a killed writer leaves readable)."""
        if self.failed is not None:
            raise self.failed
        try:
            self.f.flush()
        except (OSError, RuntimeError) as exc:
            self.failed = write_failure(self.path, "flushing", exc, self.flushed_triggers)
            raise self.failed from None
        self.last_flush = time.monotonic()
        self.flushed_triggers = self.rows["triggers"]

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
                self.flush()
            except RunFileError as exc:
                error = exc
        self.datasets.clear()
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


def run_file_path(run_dir: str | Path, run_number: int, sub_run: int = 0) -> Path:
    """``run_NNNNNN.h5`` for the first file of a run, ``run_NNNNNN_subKKK.h5`` for sub-run K >= 1
    (a recorder restarted during the run continues in a new sub-run file)."""
    suffix = f"_sub{sub_run:03d}" if sub_run else ""
    return Path(run_dir) / f"run_{run_number:06d}{suffix}.h5"


SUB_RUN = re.compile(r"^(run_\d+)(?:_sub(\d+))?\.h5$")


def run_files(path: str | Path) -> list[Path]:
    """The files of the run ``path`` belongs to: ``run_NNNNNN.h5`` then its ``_subKKK`` files in order."""
    p = Path(path)
    if not p.is_file():
        raise RunFileError(f"{p}: no such run file")
    m = SUB_RUN.match(p.name)
    if m is None:
        return [p]
    subs = [q for q in p.parent.glob(f"{m.group(1)}_sub*.h5") if (s := SUB_RUN.match(q.name)) and s.group(2)]
    first = p.with_name(f"{m.group(1)}.h5")
    return ([first] if first.is_file() else []) + sorted(subs, key=lambda q: int(SUB_RUN.match(q.name).group(2)))


def _hdf5_library() -> ctypes.CDLL | None:
    """The libhdf5 that h5py loaded (found in /proc/self/maps), for one setting h5py does not expose."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "libhdf5" in line and "hdf5_hl" not in line}
        return ctypes.CDLL(sorted(paths)[0]) if paths else None
    except (OSError, IndexError):
        return None


def open_run(path: str | Path) -> h5py.File:
    """Open a run file for reading: a closed one, one still being written, one whose writer was
    killed (HDF5's "open for write" flag still set), or one cut short.

    A file that opens normally is read normally. Otherwise it is opened as a SWMR reader with a
    single metadata read attempt, so damaged metadata fails at once instead of being retried
    for minutes (HDF5's SWMR default), with a RunFileError naming the file.
    """
    p = Path(path)
    try:
        return h5py.File(p, "r")
    except FileNotFoundError:
        raise RunFileError(f"{p}: no such run file") from None
    except OSError as exc:
        first_error = exc
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_LATEST, h5py.h5f.LIBVER_LATEST)
    lib = _hdf5_library()
    if lib is not None:
        lib.H5Pset_metadata_read_attempts(ctypes.c_int64(fapl.id), ctypes.c_uint(1))
    try:
        fid = h5py.h5f.open(str(p).encode(), h5py.h5f.ACC_RDONLY | h5py.h5f.ACC_SWMR_READ, fapl=fapl)
    except OSError:
        raise RunFileError(f"{p}: not a readable run file ({first_error})") from None
    return h5py.File(fid)


def missing_raw_sources(f: h5py.File) -> list[str]:
    """Files named by ``f``'s raw datasets that are virtual (a replay's links to its inputs, see
    daq.replay_raw) and do not exist: HDF5 would read their rows as zeros without a word."""
    base = Path(f.filename).resolve().parent
    gone = set()
    for name in RAW.values():
        if name in f and f[name].is_virtual:
            for src in f[name].virtual_sources():
                p = Path(src.file_name)
                if src.file_name != "." and not (p if p.is_absolute() else base / p).exists():
                    gone.add(str(p if p.is_absolute() else base / p))
    return sorted(gone)


def units_of(ds: h5py.Dataset) -> dict[str, str]:
    return json.loads(ds.attrs["units"]) if "units" in ds.attrs else {}
