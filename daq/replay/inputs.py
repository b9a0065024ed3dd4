"""Reading run files for replay: find a run's files, open damaged ones, read them chunk by chunk.

Used by the replay devices (:mod:`daq.replay.sources`), ``sevens replay``, ``report`` and ``export``.
A file is read up to its last readable, consistent row: :func:`read_rows` returns the
readable prefix of a range and what stopped it, :class:`RecordSource` hands out records in
blocks of whole raw chunks and ends a file at its first unreadable chunk, trigger ids that do
not increase, or the end of the shortest of ``triggers``, ``raw/csi``, ``raw/veto``; a raw chunk
that fails its checksum (a damaged byte: the chunk is there, its rows are not) is skipped, its
records counted lost with a reason naming the dataset and rows, and the file goes on after it.
Tables are read by field name; a table without a field replay needs, or with one of an
incompatible type, is refused before the replay starts (:func:`scan_input`).
:class:`Gate` is the small shared file through which the replay digitizer tells the replay
beam how far it may deliver pulses (see :mod:`daq.replay.sources`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin  # noqa: F401 - registers the Blosc filter of the raw waveforms
import numpy as np

from daq import dtypes
from daq.hardware.protocols import LossRecord
from daq.runfile import (
    H5_ERRORS,
    RUNNING_STATUS,
    RunFileError,
    missing_raw_sources,
    open_run,
    read_rows,
    readable_attrs,
    refuse_while_recording,
)
from daq.runfile.tables import ReadFailure, by_name, check_fields, read_block

log = logging.getLogger(__name__)

UNREADABLE = "replay: input unreadable"
TABLE_BLOCK = 8192  # rows of a small table read at once
ALL = np.iinfo(np.int64).max
NONE = np.iinfo(np.int64).min
TRIGGER_FIELDS = ("trigger_id", "time")  # what replay reads of /triggers (the rest is made again)
TRIGGER_READ = np.dtype([("trigger_id", "<i8"), ("time", "<i8")])
# the tables replay reads from its input, and the dtype it reads each as (by field name)
READ_AS = {"triggers": (dtypes.TRIGGER, TRIGGER_FIELDS), "beam": (dtypes.BEAM_PULSE, None),
           "losses": (dtypes.LOSS, None), "truth/events": (dtypes.TRUTH_EVENT, None),
           "truth/windows": (dtypes.TRUTH_WINDOW, None)}


@dataclass
class InputFile:
    """What a replay learns about one input file before reading its records."""

    path: Path
    rows: int = 0  # records it can replay at most: the shortest of triggers, raw/csi, raw/veto
    n_samples: int = 0
    attrs: dict[str, Any] = field(default_factory=dict)
    losses: np.ndarray = field(default_factory=lambda: np.zeros(0, dtypes.plain(dtypes.LOSS)))
    error: str | None = None  # the file cannot be replayed at all


def scan_input(path: Path) -> InputFile:
    """Check one input file (raw waveforms present...) without reading its bulk data.

    Raises RunFileError if it cannot be opened or holds no raw records."""
    with open_run(path) as f:
        refuse_while_recording(path, str(f.attrs.get("exit_status", "")), "replay it after it has ended")
        try:
            for name in ("triggers", "raw/csi", "raw/veto", "beam"):
                if name not in f:
                    what = "recorder.raw_" + name[4:] + " = false" if name.startswith("raw/") else "incomplete file"
                    raise RunFileError(f"{path}: no '{name}' dataset ({what}); replay needs the raw records")
            for name, (dt, fields) in READ_AS.items():
                if name in f:
                    check_fields(f[name], dt, path, fields)
            gone = missing_raw_sources(f)
            if gone:
                raise RunFileError(f"{path}: its raw waveforms are links to {', '.join(gone)}, which is not "
                                   "there (moved or deleted); replay needs the raw records")
            shapes = [f["triggers"].shape[0], f["raw/csi"].shape[0], f["raw/veto"].shape[0]]
            info = InputFile(path, min(shapes), int(f["raw/csi"].shape[1]), readable_attrs(f))
            if "losses" in f:
                info.losses = by_name(read_rows(f["losses"], 0, f["losses"].shape[0])[0], dtypes.plain(dtypes.LOSS))
        except H5_ERRORS as exc:
            raise RunFileError(f"{path}: damaged beyond reading its datasets ({exc})") from None
        return info


def scan_inputs(paths: list[Path]) -> list[InputFile]:
    """:func:`scan_input` of each file; one that fails carries its ``error`` instead of raising."""
    out = []
    for p in paths:
        try:
            out.append(scan_input(p))
        except RunFileError as exc:
            out.append(InputFile(p, error=str(exc)))
    return out


def first_trigger_time(path: Path) -> int:
    with open_run(path) as f:
        rows, err = read_rows(f["triggers"], 0, 1)
    if len(rows) == 0:
        raise RunFileError(f"{path}: no readable trigger to replay{f' ({err})' if err else ''}")
    return int(rows["time"][0])


# -- side files shared by the two devices and the replay command ---------------------------
def gate_path(run_dir: str | Path, run_number: int) -> Path:
    return Path(run_dir) / f".replay_{run_number:06d}.gate"


def stop_report_path(run_dir: str | Path, run_number: int) -> Path:
    return Path(run_dir) / f".replay_{run_number:06d}.json"


class Gate:
    """Per input file, the latest recorded time up to which the beam may deliver pulses."""

    def __init__(self, path: Path, n_files: int, create: bool = False) -> None:
        self.path, self.n = path, n_files
        self.fd: int | None = None
        if create:
            self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
            os.pwrite(self.fd, np.full(n_files, NONE, np.int64).tobytes(), 0)

    def set(self, k: int, t_ns: int) -> None:
        if self.fd is not None:
            os.pwrite(self.fd, np.int64(t_ns).tobytes(), 8 * k)

    def get(self) -> np.ndarray:
        if self.fd is None:
            try:
                self.fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                return np.full(self.n, NONE, np.int64)
        data = os.pread(self.fd, 8 * self.n, 0)
        return np.frombuffer(data.ljust(8 * self.n, b"\0"), np.int64) if data else np.full(self.n, NONE, np.int64)

    def close(self, unlink: bool = False) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if unlink:
            self.path.unlink(missing_ok=True)


class _IdCursor:
    """Rows of a trigger-id-ordered table (truth) handed out in trigger-id order, block by block."""

    def __init__(self, ds: h5py.Dataset, dtype: np.dtype) -> None:
        self.ds, self.dtype, self.next_row = ds, dtype, 0
        self.buf = np.zeros(0, dtypes.plain(dtype))
        self.broken = False

    def take(self, last_id: int) -> np.ndarray:
        while not self.broken and self.next_row < self.ds.shape[0] and (
                len(self.buf) == 0 or self.buf["trigger_id"][-1] <= last_id):
            rows, err = read_rows(self.ds, self.next_row, self.next_row + TABLE_BLOCK)
            self.buf = np.concatenate([self.buf, by_name(rows, self.buf.dtype)])
            self.next_row += len(rows)
            if err:
                log.warning("replay: %s; no more truth rows from this file", err)
                self.broken = True
        k = int(np.searchsorted(self.buf["trigger_id"], last_id, side="right"))
        out, self.buf = self.buf[:k], self.buf[k:]
        return out.astype(self.dtype)


@dataclass
class Block:
    """Consecutive records of one input file."""

    file: int
    triggers: np.ndarray
    csi: np.ndarray
    veto: np.ndarray
    truth_events: np.ndarray
    truth_windows: np.ndarray


class RecordSource:
    """Reads the records of the input files in order, in blocks of whole raw chunks (>= ``block_rows``).

    ``next_block`` returns the next :class:`Block` or None after the last file. A file
    ends early at its first unreadable or inconsistent row; a raw chunk that fails its checksum
    is skipped and its records handed to ``on_skip(file, losses)``; ``problems`` lists where and why.
    """

    def __init__(self, paths: list[Path], on_file_end: Callable[[int, bool], None] | None = None,
                 block_rows: int = 1, on_skip: Callable[[int, list[LossRecord]], None] | None = None) -> None:
        self.paths, self.block_rows = paths, block_rows
        self.on_file_end = on_file_end or (lambda k, clean: None)
        self.on_skip = on_skip or (lambda k, losses: None)
        self.k = -1
        self.f: h5py.File | None = None
        self.last_id = -1
        self.last_time = NONE
        self.problems: list[dict[str, Any]] = []

    def _open(self, k: int) -> None:
        self.k, self.row, self.trig_lo = k, 0, 0
        info = scan_input(self.paths[k])
        self.f = open_run(self.paths[k])
        self.rows, self.shape_rows = info.rows, self.f["triggers"].shape[0]
        self.trig = np.zeros(0, TRIGGER_READ)
        self.step = self.f["raw/csi"].chunks[0] if self.f["raw/csi"].chunks else 64
        self.truth = [_IdCursor(self.f[n], dt) for n, dt in (("truth/events", dtypes.TRUTH_EVENT),
                                                              ("truth/windows", dtypes.TRUTH_WINDOW)) if n in self.f]
        lengths = {n: self.f[n].shape[0] for n in ("triggers", "raw/csi", "raw/veto")}
        self.end_reason = None if len(set(lengths.values())) == 1 else (
            "datasets of different lengths (" + ", ".join(f"{n} {v}" for n, v in lengths.items())
            + "): replayed the common prefix")

    def _stop_file(self, reason: str | None) -> None:
        """End the current file (``reason`` None: it ended cleanly)."""
        if reason is not None:
            tid = int(self.trig["trigger_id"][self.row - self.trig_lo]) if self.row - self.trig_lo < len(
                self.trig) else None
            problem = {"file": str(self.paths[self.k]), "trigger_index": self.row, "trigger_id": tid,
                       "reason": reason, "rows_not_replayed": max(self.shape_rows - self.row, 0),
                       "ids_end": self._readable_ids_end()}
            self.problems.append(problem)
            log.warning("replay: %s stopped at row %d: %s", self.paths[self.k], self.row, reason)
        self.on_file_end(self.k, reason is None)
        if self.f is not None:
            self.f.close()
        self.f = None

    def _readable_ids_end(self) -> int | None:
        """1 + the last trigger id the rest of ``triggers`` still shows (its readable, increasing part):
        the records not replayed reach at least that far (None: it shows none)."""
        assert self.f is not None
        rows, _ = read_rows(self.f["triggers"], self.row, self.shape_rows)
        ids = by_name(rows, TRIGGER_READ)["trigger_id"] if len(rows) else np.zeros(0, np.int64)
        ids = ids[ids > self.last_id]
        if len(ids) == 0:
            return None
        bad = np.flatnonzero(np.diff(ids) <= 0)
        return int(ids[bad[0] if len(bad) else -1]) + 1

    def _triggers(self, n: int) -> tuple[np.ndarray, str | None]:
        """Up to ``n`` valid trigger rows from ``self.row`` (buffered in TABLE_BLOCK reads)."""
        assert self.f is not None
        have = self.trig_lo + len(self.trig)
        if self.row + n > have and have < self.rows:
            start = max(have, self.row)
            rows, err = read_rows(self.f["triggers"], start, min(self.rows, start + TABLE_BLOCK))
            self.trig = np.concatenate([self.trig[self.row - self.trig_lo:], by_name(rows, TRIGGER_READ)])
            self.trig_lo = self.row
            if err:
                self.rows = self.trig_lo + len(self.trig)
                self.end_reason = err
        out = self.trig[self.row - self.trig_lo: self.row - self.trig_lo + n]
        ids, times = out["trigger_id"], out["time"]
        prev_id = np.r_[self.last_id, ids[:-1]]
        prev_t = np.r_[self.last_time, times[:-1]]
        bad = np.flatnonzero((ids <= prev_id) | (times < prev_t) | (times <= 0))
        if len(bad):
            return out[: bad[0]], f"triggers row {self.row + bad[0]}: trigger id or time does not increase"
        return out, None

    def next_block(self) -> Block | None:
        while True:
            if self.f is None:
                if self.k + 1 >= len(self.paths):
                    return None
                try:
                    self._open(self.k + 1)
                except RunFileError as exc:  # a sub-run file that cannot be read at all
                    self.problems.append({"file": str(self.paths[self.k]), "trigger_index": 0, "trigger_id": None,
                                          "reason": str(exc), "rows_not_replayed": None})
                    self.f = None
                    self.on_file_end(self.k, False)
                    continue
                self._skip_replayed()
                continue
            if self.row >= self.rows:
                self._stop_file(self.end_reason)
                continue
            block = -(-self.block_rows // self.step) * self.step  # whole raw chunks
            n = min(block - self.row % self.step, self.rows - self.row)
            trig, reason = self._triggers(n)
            csi, err_c = read_block(self.f["raw/csi"], self.row, self.row + len(trig))
            veto, err_v = read_block(self.f["raw/veto"], self.row, self.row + len(trig))
            good, reason, failure = min(
                (len(trig), reason, None), (len(csi), err_c and str(err_c), err_c),
                (len(veto), err_v and str(err_v), err_v), key=lambda r: (r[0], r[1] is None))  # the shortest says why
            damaged_chunk = failure is not None and failure.local and len(trig) > good
            if good == 0 and damaged_chunk:
                assert failure is not None
                self._skip(trig, failure)
                continue
            if good == 0:
                self._stop_file(reason or self.end_reason)
                continue
            trig = trig[:good]
            self.row += good
            self.last_id, self.last_time = int(trig["trigger_id"][-1]), int(trig["time"][-1])
            if reason and not damaged_chunk:  # a damaged chunk is skipped at the next call
                self.rows, self.end_reason = self.row, reason
            out = np.zeros(good, dtypes.TRIGGER)
            out["trigger_id"], out["time"] = trig["trigger_id"], trig["time"]
            truth = [c.take(self.last_id) for c in self.truth]
            return Block(self.k, out, csi[:good], veto[:good],
                         truth[0] if truth else np.zeros(0, dtypes.TRUTH_EVENT),
                         truth[1] if len(truth) > 1 else np.zeros(0, dtypes.TRUTH_WINDOW))

    def _skip(self, trig: np.ndarray, failure: ReadFailure) -> None:
        """Skip the rows of a raw chunk that cannot be read (``trig`` starts at its first row):
        their trigger ids go to ``on_skip`` as losses whose reason names the dataset and rows."""
        k = min(failure.hi, self.row + len(trig)) - self.row
        ids = np.asarray(trig["trigger_id"][:k], np.int64)
        lo, hi = self.row, self.row + k
        what = "bad checksum" if failure.checksum else "unreadable"
        reason = f"{what}: {failure.dataset} rows {lo}-{hi - 1}"  # fits LOSS.reason (48 bytes)
        runs = np.split(ids, np.flatnonzero(np.diff(ids) != 1) + 1)
        losses = [LossRecord(int(r[0]), len(r), reason) for r in runs if len(r)]
        last = self.problems[-1] if self.problems else None
        if (last is not None and last.get("skipped") and last["file"] == str(self.paths[self.k])
                and last["dataset"] == failure.dataset and last["rows"][1] == lo - 1):
            lo = last["rows"][0]  # the chunk after a damaged one: one entry for both
            self.problems.pop()
        entry = ReadFailure(failure.dataset, lo, hi, failure.error, failure.checksum)
        self.problems.append({"file": str(self.paths[self.k]), "trigger_index": lo,
                              "trigger_id": int(ids[0]) if last is None or lo == self.row else last["trigger_id"],
                              "reason": str(entry), "rows_not_replayed": hi - lo, "skipped": True,
                              "dataset": failure.dataset, "rows": [lo, hi - 1]})
        log.warning("replay: %s: skipped %s", self.paths[self.k], entry)
        self.row = hi
        self.last_id, self.last_time = int(ids[-1]), int(trig["time"][k - 1])
        self.on_skip(self.k, losses)

    def _skip_replayed(self) -> None:
        """Skip rows of a sub-run that repeat trigger ids already replayed (a restart's overlap)."""
        assert self.f is not None
        while self.row < self.rows:
            trig, _ = read_rows(self.f["triggers"], self.row, min(self.rows, self.row + TABLE_BLOCK))
            if len(trig) == 0:
                return
            k = int(np.searchsorted(trig["trigger_id"], self.last_id, side="right"))
            self.row += k
            if k < len(trig):
                return

    def close(self) -> None:
        if self.f is not None:
            self.f.close()
            self.f = None


def input_losses(infos: list[InputFile]) -> tuple[list[LossRecord], int, int]:
    """(trigger losses recorded in the input, in id order; beam pulses it missed; trigger ids it spans)."""
    rows = np.concatenate([i.losses for i in infos])
    trig = np.sort(rows[rows["trigger_id"] >= 0], order="trigger_id")
    records = [LossRecord(int(r["trigger_id"]), int(r["count"]), r["reason"].decode(errors="replace"))
               for r in trig if r["count"] > 0]
    beam = rows[(rows["trigger_id"] < 0) & (rows["stage"] == b"beam")]
    generated = max([int(i.attrs.get("triggers_generated", -1)) for i in infos] + [-1])
    return records, int(beam["count"].sum()), generated


def ids_spanned(first: int, rows: int, declared: list[LossRecord]) -> int:
    """The trigger id after ``rows`` recorded records from id ``first`` on: the records' ids step over
    the ids ``declared`` lost (a truncated input's unread rows end there, not at ``first + rows``)."""
    end = first + rows
    for loss in sorted(declared, key=lambda r: r.first_trigger_id):
        lo, hi = loss.first_trigger_id, loss.first_trigger_id + loss.count
        if hi <= first:
            continue
        if lo >= end:
            break
        end += hi - max(lo, first)
    return end


def not_replayed(first: int, stop: int, declared: list[LossRecord]) -> list[LossRecord]:
    """LOSS records for ids ``first .. stop-1`` not already declared lost."""
    covered = np.zeros(max(stop - first, 0), bool)
    for loss in declared:
        covered[max(loss.first_trigger_id - first, 0): max(loss.first_trigger_id + loss.count - first, 0)] = True
    edges = np.diff(np.r_[0, (~covered).astype(np.int8), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [LossRecord(first + int(a), int(b - a), UNREADABLE) for a, b in zip(starts, ends, strict=True)]


def mark_damaged_input(path: Path, problems: list[dict[str, Any]]) -> None:
    """A replay (or reprocessing) that could not read all of its input does not say ``ok``: its exit status and
    lineage say what was not read (the trigger ids are in its ``losses``)."""
    lost = sum(int(p["rows_not_replayed"] or 0) for p in problems)
    with h5py.File(path, "r+") as f:
        if str(f.attrs["exit_status"]) == "ok":
            f.attrs["exit_status"] = f"damaged input: {lost} records not replayed (see losses and lineage)"
        lineage = json.loads(str(f.attrs["lineage"]))
        lineage["input_damage"] = [f"{p['file']}: {p['reason']}" for p in problems]
        f.attrs["lineage"] = json.dumps(lineage)


def mark_input_status(path: Path, last_input: Path) -> None:
    """A replay (or reprocessing) of a run that did not end ``ok`` does not say ``ok`` either: the run's
    own status is its last (sub-run) file's, and a crash, an abort or a damaged input stays visible
    in the output's exit status and lineage. (A run whose recorder was restarted ends ``ok`` in its
    last sub-run file, with its earlier file still saying ``running``: that run is complete.)"""
    try:
        with open_run(last_input) as f:
            status = str(f.attrs.get("exit_status", RUNNING_STATUS))
    except RunFileError as exc:
        status = f"unreadable ({exc})"
    if status == "ok":
        return
    with h5py.File(path, "r+") as f:
        if str(f.attrs["exit_status"]) == "ok":
            f.attrs["exit_status"] = f"input not ok: {last_input.name} says {status!r}"
        lineage = json.loads(str(f.attrs["lineage"]))
        lineage["input_exit_status"] = status
        f.attrs["lineage"] = json.dumps(lineage)

