"""Truncated and corrupted run files: refused with a RunFileError naming the file, or read with a clear
statement of the damage; never a hang, never a raw h5py exception.

A real run file is made by a short simulated run; each case damages a copy of it:

- truncated (copy interrupted, disk full at the wrong moment): to 4 KiB, to half, by its last byte;
- corrupted bytes (bad sector, bit rot): in the superblock, in the root group's object header,
  in the object header of /triggers, and inside the data of /triggers.

``run_summary`` (what every command that summarises a run uses) must refuse each damaged copy
with a RunFileError naming it, or return a summary whose ``damage`` entry says what is wrong.
``open_run`` may refuse a damaged file or open it for a partial read (replay reads a valid
prefix); either way nothing hangs. Every read runs in a child process with a time limit, so a
hang is seen as a hang and a crash as a traceback.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from tests.reliability.daqrun import DaqRun, private_ipc_dir, reliability_config, remove

TIME_LIMIT_S = 15.0

SUMMARY_CHILD = """
import json, sys
from daq.runfile import RunFileError
from daq.control.summary import run_summary
try:
    s = run_summary(sys.argv[1])
except RunFileError as exc:
    print(json.dumps({"outcome": "RunFileError", "message": str(exc)}))
else:
    print(json.dumps({"outcome": "summary", "summary": s}))
"""

OPEN_CHILD = """
import json, sys
from daq.runfile import TABLES, RunFileError, open_run
try:
    f = open_run(sys.argv[1])
except RunFileError as exc:
    print(json.dumps({"outcome": "RunFileError", "message": str(exc)}))
    sys.exit(0)
try:
    for name in TABLES:
        f[name][...]
    print(json.dumps({"outcome": "read"}))
except Exception as exc:
    print(json.dumps({"outcome": "read failed", "message": f"{type(exc).__name__}: {exc}"}))
"""


def in_child(script: str, path: Path) -> dict[str, Any]:
    """Run ``script`` on ``path`` in a fresh interpreter: its JSON answer, or what went wrong instead."""
    try:
        proc = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True,
                              timeout=TIME_LIMIT_S)
    except subprocess.TimeoutExpired:
        return {"outcome": f"hang (no answer within {TIME_LIMIT_S} s)"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"outcome": "raw exception", "message": proc.stderr[-1500:]}
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def run_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real run file: 4 s of a simulated run at 2x real time (~500 triggers, raw waveforms on)."""
    ipc = private_ipc_dir()
    run_dir = tmp_path_factory.mktemp("source-run")
    try:
        run = DaqRun(reliability_config(ipc), run_dir, 4.0, 2.0)
        code = run.communicate(180)
        assert code == 0, run.err[-3000:]
        summary = run.summary()
        assert summary is not None and summary["exit_status"] == "ok"
        assert summary["triggers"]["recorded"] > 100
        yield Path(summary["file"])
    finally:
        remove(ipc)


def truncate_to(n: Callable[[int], int]) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        with open(path, "r+b") as f:
            f.truncate(n(path.stat().st_size))
    return damage


def overwrite(where: Callable[[h5py.File], int], n_bytes: int = 64) -> Callable[[Path], None]:
    """Overwrite ``n_bytes`` at the offset ``where(file)`` with seeded random bytes."""

    def damage(path: Path) -> None:
        with h5py.File(path, "r") as f:
            offset = where(f)
        with open(path, "r+b") as raw:
            raw.seek(offset)
            raw.write(np.random.default_rng(offset).bytes(n_bytes))
    return damage


def header_of(name: str) -> Callable[[h5py.File], int]:
    """Offset a little inside the object header of ``name`` (past its signature)."""
    return lambda f: h5py.h5o.get_info(f[name].id).addr + 8


def data_of(name: str) -> Callable[[h5py.File], int]:
    """Offset inside the first data chunk of ``name``."""
    return lambda f: f[name].id.get_chunk_info(0).byte_offset + 64


TRUNCATIONS = {
    "truncated to 4 KiB": truncate_to(lambda size: 4096),
    "truncated to half": truncate_to(lambda size: size // 2),
    "truncated by its last byte": truncate_to(lambda size: size - 1),
}
CORRUPTIONS = {
    "superblock overwritten": overwrite(lambda f: 0, 48),
    "root group header corrupted": overwrite(header_of("/")),
    "/triggers header corrupted": overwrite(header_of("triggers")),
    "/triggers data corrupted": overwrite(data_of("triggers"), 256),
}


def damaged_copy(run_file: Path, tmp_path: Path, damage: Callable[[Path], None]) -> Path:
    copy = tmp_path / run_file.name
    shutil.copyfile(run_file, copy)
    damage(copy)
    return copy


def test_the_intact_copy_reads_without_a_damage_statement(run_file: Path, tmp_path: Path) -> None:
    """The harness itself: an undamaged copy gives an ordinary summary."""
    answer = in_child(SUMMARY_CHILD, damaged_copy(run_file, tmp_path, lambda p: None))
    assert answer["outcome"] == "summary", answer
    assert answer["summary"]["exit_status"] == "ok" and not answer["summary"].get("damage")


@pytest.mark.parametrize("case", [*TRUNCATIONS, *CORRUPTIONS])
def test_run_summary_of_a_damaged_file_is_a_clear_error_or_says_what_is_damaged(
        run_file: Path, tmp_path: Path, case: str) -> None:
    copy = damaged_copy(run_file, tmp_path, {**TRUNCATIONS, **CORRUPTIONS}[case])
    answer = in_child(SUMMARY_CHILD, copy)
    if answer["outcome"] == "RunFileError":
        assert str(copy) in answer["message"], answer
    else:
        assert answer["outcome"] == "summary", answer  # not a hang, not a raw exception
        damage = answer["summary"].get("damage")
        assert damage, f"{case}: read as if intact, without a statement of the damage: {answer['summary']}"


@pytest.mark.parametrize("case", [*TRUNCATIONS, *CORRUPTIONS])
def test_open_run_on_a_damaged_file_refuses_it_by_name_or_opens_it_and_never_hangs(
        run_file: Path, tmp_path: Path, case: str) -> None:
    """``open_run`` may refuse a damaged file (RunFileError naming it) or open it for a partial read
    (what replay needs); reading its tables then succeeds or fails at once — it never hangs."""
    copy = damaged_copy(run_file, tmp_path, {**TRUNCATIONS, **CORRUPTIONS}[case])
    answer = in_child(OPEN_CHILD, copy)
    assert not answer["outcome"].startswith("hang"), answer
    assert answer["outcome"] != "raw exception", answer
    if answer["outcome"] == "RunFileError":
        assert str(copy) in answer["message"], answer
