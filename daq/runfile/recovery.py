"""After a crash: run files a killed recorder left open, found and marked with what happened.

A recorder killed with its supervisor leaves its file readable to the last flush, with
``exit_status == "running"`` and HDF5's "open for write" flags set, which refuse a normal
read-write open. :func:`mark_unclosed` clears those flags (as the ``h5clear`` tool does, through
the library h5py loaded) and writes an ``exit_status`` that names the crash, so nobody later
takes the file for a run in progress, or for a complete one.
"""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path

import h5py

from daq.runfile.files import RUNNING_STATUS, SUB_RUN, RunFileError, _hdf5_library, open_run

log = logging.getLogger(__name__)

UNCLOSED_STATUS = RUNNING_STATUS


def _open_clearing_flags(path: Path) -> h5py.File:
    lib = _hdf5_library()
    if lib is None:
        raise RunFileError(f"{path}: cannot reach the HDF5 library to clear its open-for-write flags")
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_LATEST, h5py.h5f.LIBVER_LATEST)
    clear = ctypes.c_uint(1)
    lib.H5Pset.argtypes = [ctypes.c_int64, ctypes.c_char_p, ctypes.c_void_p]
    if lib.H5Pset(fapl.id, b"clear_status_flags", ctypes.byref(clear)) < 0:
        raise RunFileError(f"{path}: HDF5 refused to clear its open-for-write flags")
    try:
        return h5py.File(h5py.h5f.open(str(path).encode(), h5py.h5f.ACC_RDWR, fapl=fapl))
    except OSError as exc:
        raise RunFileError(f"{path}: cannot open for marking: {exc}") from None


def unclosed_run_files(run_dir: str | Path) -> list[Path]:
    """The run files of ``run_dir`` whose exit status still says ``running``."""
    found = []
    for path in sorted(Path(run_dir).glob("run_*.h5")):
        if not SUB_RUN.match(path.name):
            continue
        try:
            with open_run(path) as f:
                status = f.attrs.get("exit_status", "")
        except (RunFileError, OSError):
            continue  # unreadable: sevens verify and replay say so when asked
        if str(status) == UNCLOSED_STATUS:
            found.append(path)
    return found


def mark_unclosed(path: str | Path, status: str) -> None:
    """Set ``exit_status`` of a file its writer never closed (a killed recorder)."""
    p = Path(path)
    try:
        f = h5py.File(p, "r+")
    except OSError:
        f = _open_clearing_flags(p)
    with f:
        f.attrs["exit_status"] = status
