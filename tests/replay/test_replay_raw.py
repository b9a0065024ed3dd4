"""The raw waveforms of a replay's output: linked to the input (default), copied, or left out.

Linked raw waveforms are HDF5 virtual datasets over the input's rows, stored with a path
relative to the output file: they read the same from any working directory and after the
input and output directories move together; a replay of an output whose input is gone is
refused, naming the missing file, instead of reading zeros.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py
import pytest

from daq.runfile import missing_raw_sources
from tests.replay.replay_helpers import last_json, sevens

DIGEST = """
import hashlib, sys, h5py, hdf5plugin  # the Blosc filter of the raw waveforms
with h5py.File(sys.argv[1], "r") as f:
    print(hashlib.sha256(f["raw/csi"][:].tobytes() + f["raw/veto"][:].tobytes()).hexdigest())
"""


def raw_digest(path: Path, cwd: Path) -> str:
    """sha256 of both raw channels, read by a fresh interpreter working in ``cwd``."""
    proc = subprocess.run([sys.executable, "-c", DIGEST, str(path)], cwd=cwd, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


def input_digest(path: Path) -> str:
    with h5py.File(path, "r") as f:
        return hashlib.sha256(f["raw/csi"][:].tobytes() + f["raw/veto"][:].tobytes()).hexdigest()


def test_linked_raw_is_virtual_relative_and_reads_the_input_rows_from_anywhere(
        recorded_run: Path, replayed: dict[str, Any], tmp_path: Path) -> None:
    out = Path(replayed["file"])
    assert replayed["raw"] == "link" and replayed["raw_linked_segments"] == {"csi": 1, "veto": 1}
    with h5py.File(out, "r") as f:
        assert f["raw/csi"].is_virtual and f["raw/veto"].is_virtual
        (src,) = {s.file_name for s in f["raw/csi"].virtual_sources()}
        assert not Path(src).is_absolute()
        assert (out.parent / src).resolve() == recorded_run.resolve()
        assert "linked" in f["raw/csi"].attrs
        assert missing_raw_sources(f) == []
    assert raw_digest(out, Path("/")) == input_digest(recorded_run)
    # input and output directories moved together: the link still reads
    moved = tmp_path / "moved"
    shutil.copytree(recorded_run.parent, moved / recorded_run.parent.name)
    shutil.copytree(out.parent, moved / out.parent.name)
    assert raw_digest(moved / out.parent.name / out.name, tmp_path) == input_digest(recorded_run)


def test_a_replay_of_an_output_whose_input_is_gone_is_refused_by_name(
        recorded_run: Path, replayed: dict[str, Any], tmp_path: Path) -> None:
    out = Path(replayed["file"])
    alone = tmp_path / "alone" / out.parent.name  # the output moved without its input
    shutil.copytree(out.parent, alone)
    with h5py.File(alone / out.name, "r") as f:
        (gone,) = missing_raw_sources(f)
    assert Path(gone).name == recorded_run.name
    proc = sevens("replay", str(alone / out.name), "--out", str(tmp_path / "again"))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"its raw waveforms are links to {gone}, which is not there" in proc.stderr


def test_a_replay_of_a_replay_links_through_it(replayed: dict[str, Any], recorded_run: Path, tmp_path: Path) -> None:
    proc = sevens("replay", replayed["file"], "--out", str(tmp_path / "twice"), "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    again = last_json(proc)
    assert raw_digest(Path(again["file"]), tmp_path) == input_digest(recorded_run)
    with h5py.File(again["file"], "r") as f, h5py.File(replayed["file"], "r") as g:
        assert f["features"][:].tobytes() == g["features"][:].tobytes()


@pytest.mark.parametrize("mode", ["copy", "none"])
def test_raw_copy_is_self_contained_and_none_leaves_it_out(recorded_run: Path, tmp_path: Path, mode: str) -> None:
    proc = sevens("replay", str(recorded_run), "--out", str(tmp_path / mode), "--raw", mode, "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = last_json(proc)
    assert result["raw"] == mode and result["raw_linked_segments"] == {}
    with h5py.File(result["file"], "r") as f:
        if mode == "none":
            assert "raw/csi" not in f and "raw/veto" not in f
            return
        assert not f["raw/csi"].is_virtual and not f["raw/veto"].is_virtual
    shutil.move(str(recorded_run.parent), str(tmp_path / "input-away"))  # nothing of it is needed now
    try:
        assert raw_digest(Path(result["file"]), tmp_path) == input_digest(tmp_path / "input-away" / recorded_run.name)
    finally:
        shutil.move(str(tmp_path / "input-away"), str(recorded_run.parent))
