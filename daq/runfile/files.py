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
import fcntl
import json
import os
import re
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401 - registers the filters the raw waveforms are read with
import numpy as np

from daq import dtypes

H5_ERRORS = (OSError, ValueError, RuntimeError, KeyError, TypeError)  # what h5py raises on a damaged file
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


class RunFileError(RuntimeError):
    """A run file that cannot be written or read as asked."""


#: the run directory's SPE calibration record (JSON: run_number, file, calibration), replaced at each end of run
CALIBRATION_RECORD = Path("calibration") / "spe.json"


#: a run file's exit_status until its recorder closes it (or a crash left it so)
RUNNING_STATUS = "running"
#: held (``flock``) by the one supervisor of a run directory for its whole life (daq.control.supervisor)
RUN_DIR_LOCK = ".sevens.lock"


def recording_now(path: str | Path) -> str | None:
    """Who is writing the run directory of run file ``path`` right now ('pid N (command)'), or None:
    its supervisor holds the directory's lock while it lives. A run file that says ``running`` in a
    directory nobody holds was left by a crash."""
    lock = Path(path).resolve().parent / RUN_DIR_LOCK
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            pid, _, cmd = lock.read_text().partition("\n")
        except OSError:
            pid, cmd = "", ""
        cmd = " ".join(cmd.split()[1:4])  # the subcommand and its first arguments
        return f"pid {pid.strip()} (sevens {cmd} ...)" if pid.strip() else "another process"
    finally:
        os.close(fd)  # also drops our shared lock
    return None


def refuse_while_recording(path: str | Path, exit_status: str, then: str) -> None:
    """RunFileError if run file ``path`` (whose ``exit_status`` this is) is being recorded right now:
    what is in it at this moment is an arbitrary part of the run. ``then`` says what to do instead."""
    if exit_status != RUNNING_STATUS:
        return
    writer = recording_now(path)
    if writer is not None:
        raise RunFileError(f"{path}: the run is still being recorded (exit_status {RUNNING_STATUS!r}; its run "
                           f"directory is held by {writer}); {then}")


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
    daq.runfile.raw_links) and do not exist: HDF5 would read their rows as zeros without a word."""
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
