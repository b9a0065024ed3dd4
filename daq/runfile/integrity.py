"""Checking a run file against its checksums: every chunk of every dataset, every attribute.

Every chunk the recorder writes carries a Fletcher-32 checksum (raw waveforms and tables
alike, see :mod:`daq.runfile.writer`), which HDF5 verifies whenever the chunk is read: a
damaged byte makes the read fail instead of returning changed samples. :func:`check_file`
reads a whole file that way and says, per dataset, which rows it could not read; a virtual
dataset (a replay's raw links) is read through to its sources, so damage in the input of a
link shows too. Datasets written without checksums (raw waveforms of files written before
they had them, a foreign file) read back unverified, and the result says so instead of
calling them intact. ``sevens verify``, the run report and the fit's run-file reader use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from daq.runfile.files import RAW, RunFileError, open_run
from daq.runfile.tables import H5_ERRORS, checksummed, read_block

BLOCK_BYTES = 8 << 20  # read at most this much at once (whole chunks)
VIRTUAL_BLOCK_ROWS = 64  # rows of a virtual dataset read at once (the recorder's raw chunk)


@dataclass(frozen=True)
class Damage:
    """Something of a file that cannot be read intact: rows of a dataset, an attribute, an object."""

    what: str  # dataset name, or "attribute 'key' of /name", or an object's name
    reason: str
    lo: int | None = None  # rows lo .. hi - 1 of the dataset (None: not a row range)
    hi: int | None = None
    linked: str = ""  # for a virtual dataset: where the damaged rows are stored

    def __str__(self) -> str:
        where = self.what if self.lo is None or self.hi is None else f"{self.what} rows {self.lo}-{self.hi - 1}"
        return f"{where}: {self.reason}" + (f" ({self.linked})" if self.linked else "")

    def as_dict(self) -> dict[str, Any]:
        rows = None if self.lo is None or self.hi is None else [self.lo, self.hi - 1]
        return {"dataset": self.what, "rows": rows, "reason": self.reason, "linked": self.linked or None}


@dataclass
class FileCheck:
    """What :func:`check_file` found in one file."""

    path: Path
    datasets: list[str] = field(default_factory=list)  # every dataset read
    damage: list[Damage] = field(default_factory=list)
    unchecksummed: list[str] = field(default_factory=list)  # datasets with rows but no checksum
    error: str | None = None  # the file cannot be opened at all

    @property
    def status(self) -> str:
        """``unreadable``, ``damaged``, ``unverified`` (intact as far as it can tell, but some
        datasets have no checksum) or ``ok`` (every chunk read and passed its checksum)."""
        if self.error:
            return "unreadable"
        if self.damage:
            return "damaged"
        return "unverified" if self.unchecksummed else "ok"

    @property
    def raw_unchecksummed(self) -> list[str]:
        return [name for name in self.unchecksummed if name in RAW.values()]

    def as_dict(self) -> dict[str, Any]:
        return {"file": str(self.path), "status": self.status, "error": self.error,
                "damage": [d.as_dict() for d in self.damage], "no_checksum": self.unchecksummed,
                "datasets": len(self.datasets)}

    def lines(self) -> list[str]:
        """One line per finding (``PATH: ok`` when there is none)."""
        if self.error:
            return [f"{self.path}: unreadable: {self.error}"]
        out = [f"{self.path}: damaged: {d}" for d in self.damage]
        if self.unchecksummed:
            only_raw = len(self.raw_unchecksummed) == len(self.unchecksummed)
            what = "no raw checksums" if only_raw else "no checksums"
            why = "a file written before raw checksums" if only_raw else "written without them"
            out.append(f"{self.path}: {what} on {', '.join(self.unchecksummed)} ({why}): read, but not verified"
                       + ("; everything else intact" if not self.damage else ""))
        return out or [f"{self.path}: ok"]


def _linked_rows(ds: h5py.Dataset, lo: int, hi: int) -> str:
    """Where rows ``lo:hi`` of a virtual dataset are stored: source file, dataset and rows."""
    parts = []
    for src in ds.virtual_sources():
        (v0, *_), (v1, *_) = src.vspace.get_select_bounds()
        (s0, *_), _ = src.src_space.get_select_bounds()
        a, b = max(lo, v0), min(hi, v1 + 1)
        if a < b:
            parts.append(f"{src.file_name} {src.dset_name.lstrip('/')} rows {s0 + a - v0}-{s0 + b - 1 - v0}")
    return "stored in " + ", ".join(parts) if parts else ""


def _missing_sources(ds: h5py.Dataset) -> list[str]:
    base = Path(ds.file.filename).resolve().parent
    gone = {src.file_name for src in ds.virtual_sources()
            if src.file_name != "." and not (Path(src.file_name) if Path(src.file_name).is_absolute()
                                             else base / src.file_name).exists()}
    return sorted(gone)


def check_dataset(ds: h5py.Dataset) -> tuple[list[Damage], bool]:
    """(the damaged row ranges of ``ds``, whether its chunks carry checksums), reading every row."""
    name = ds.name.lstrip("/")
    n = ds.shape[0] if ds.shape else 0
    if ds.is_virtual:
        gone = _missing_sources(ds)
        if gone:  # HDF5 would read those rows as zeros without a word
            return [Damage(name, f"linked input {', '.join(gone)} is missing: its rows read as zeros", 0, n)], True
        step = VIRTUAL_BLOCK_ROWS
    elif ds.chunks:
        row_bytes = max(1, ds.dtype.itemsize * int(np.prod(ds.shape[1:], dtype=np.int64)))
        step = ds.chunks[0] * max(1, BLOCK_BYTES // max(1, row_bytes * ds.chunks[0]))
    else:
        step = max(1, BLOCK_BYTES // max(1, ds.dtype.itemsize * int(np.prod(ds.shape[1:], dtype=np.int64))))
    if not ds.shape:  # a scalar
        try:
            ds[()]
        except H5_ERRORS as exc:
            return [Damage(name, f"unreadable: {exc}")], bool(ds.fletcher32)
        return [], bool(ds.fletcher32)
    damage: list[Damage] = []
    lo = 0
    while lo < n:
        hi = min(n, lo + step)
        _, failure = read_block(ds, lo, hi)
        if failure is None:
            lo = hi
            continue
        reason = ("unreadable: the file ends before their chunk (cut short)" if failure.cut_short else
                  "fail their Fletcher-32 checksum" if failure.checksum else f"unreadable: {failure.error}")
        last = damage[-1] if damage else None
        if last is not None and last.hi == failure.lo and last.reason == reason and not ds.is_virtual:
            damage[-1] = Damage(name, reason, last.lo, failure.hi)  # neighbouring damaged chunks: one range
        else:
            damage.append(Damage(name, reason, failure.lo, failure.hi,
                                 _linked_rows(ds, failure.lo, failure.hi) if ds.is_virtual else ""))
        lo = max(failure.hi, failure.lo + 1)
    return damage, checksummed(ds)


def _check_attrs(obj: h5py.HLObject, check: FileCheck) -> None:
    where = obj.name or "/"
    try:
        keys = list(obj.attrs.keys())
    except H5_ERRORS as exc:
        check.damage.append(Damage(f"attributes of {where}", f"unreadable: {exc}"))
        return
    for key in keys:
        try:
            obj.attrs[key]
        except H5_ERRORS as exc:
            check.damage.append(Damage(f"attribute '{key}' of {where}", f"unreadable: {exc}"))


def _walk(group: h5py.Group, check: FileCheck) -> None:
    _check_attrs(group, check)
    try:
        names = list(group.keys())
    except H5_ERRORS as exc:
        check.damage.append(Damage(group.name, f"unreadable group: {exc}"))
        return
    for key in names:
        try:
            obj = group[key]
        except H5_ERRORS as exc:
            check.damage.append(Damage(f"{group.name.rstrip('/')}/{key}".lstrip("/"), f"unreadable object: {exc}"))
            continue
        if isinstance(obj, h5py.Group):
            _walk(obj, check)
            continue
        if not isinstance(obj, h5py.Dataset):
            continue
        name = obj.name.lstrip("/")
        check.datasets.append(name)
        _check_attrs(obj, check)
        try:
            damage, summed = check_dataset(obj)
        except H5_ERRORS as exc:  # damaged beyond reading row by row
            damage, summed = [Damage(name, f"unreadable: {exc}")], True
        check.damage += damage
        if not summed and obj.shape and obj.shape[0] > 0:
            check.unchecksummed.append(name)


def check_file(path: str | Path) -> FileCheck:
    """Read every chunk of every dataset and every attribute of the HDF5 file ``path``."""
    check = FileCheck(Path(path))
    try:
        f = open_run(path)
    except RunFileError as exc:
        check.error = str(exc).removeprefix(f"{path}: ")
        return check
    with f:
        _walk(f, check)
    return check


def require_intact(path: str | Path, check: FileCheck | None = None) -> FileCheck:
    """:func:`check_file` of ``path``; a RunFileError naming the file, the dataset and the rows if
    anything in it is damaged. A file without checksums (written before them) passes."""
    check = check or check_file(path)
    if check.error:
        raise RunFileError(f"{path}: {check.error}")
    if check.damage:
        n = len(check.damage)
        more = f" (and {n - 1} more: `sevens verify {path}` lists them)" if n > 1 else ""
        raise RunFileError(f"{path}: damaged: {check.damage[0]}{more}; `sevens replay` salvages the rest")
    return check
