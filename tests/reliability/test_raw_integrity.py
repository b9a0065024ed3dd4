"""Bit flips in raw waveforms: every raw chunk carries a checksum, and a flipped bit is an error naming
the dataset and rows, never silently changed samples.

A real run file is recorded once (a short simulated run with raw waveforms); each case flips single
bits inside the stored bytes of its ``raw/csi`` chunks (``get_chunk_info`` says where they lie) and
checks every reader: ``sevens verify`` names the dataset and rows; a replay skips the damaged
chunk, counts its records lost with a reason naming the rows, and does not end ``ok``; the report
and the fit's run-file reader refuse the file; a replay whose raw waveforms link to the damaged
file (``--raw link``) sees the damage through the link. A file written before raw checksums still
replays and reports, and ``sevens verify`` says it has none.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from analysis.datafiles import read_run_files
from analysis.schema import DatasetError
from daq.runfile import RunFileWriter, compression_options, open_run
from daq.runfile.integrity import check_file
from tests.reliability.recorded import record_short_run
from tests.replay.replay_helpers import last_json, sevens

FLIPS = 20
ZSTD = 32015  # the HDF5 filter id of Zstd (hdf5plugin): the default codec, huffman-zstd, is read through it


@pytest.fixture(scope="module")
def run_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A recorded simulated run: ~600 triggers, raw waveforms in 64-record chunks."""
    return record_short_run(tmp_path_factory.mktemp("raw-integrity"))


def chunk_of(path: Path, k: int, name: str = "raw/csi") -> tuple[int, int, int, int]:
    """(byte offset, stored size, first row, last row) of chunk ``k`` of ``name``."""
    with h5py.File(path, "r") as f:
        ds = f[name]
        info = ds.id.get_chunk_info(k)
        first = int(info.chunk_offset[0])
        return int(info.byte_offset), int(info.size), first, min(first + ds.chunks[0], ds.shape[0]) - 1


def flip_bit(path: Path, offset: int, bit: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)[0]
        fh.seek(offset)
        fh.write(bytes([byte ^ (1 << bit)]))


def damaged_copy(run_file: Path, directory: Path, k: int = 2) -> tuple[Path, int, int]:
    """A copy of the run file (named like it) with one bit flipped inside raw/csi chunk ``k``; its rows."""
    directory.mkdir(parents=True, exist_ok=True)
    copy = directory / run_file.name
    shutil.copyfile(run_file, copy)
    offset, size, first, last = chunk_of(copy, k)
    flip_bit(copy, offset + size // 3, 5)
    return copy, first, last


def without_raw_checksums(src: Path, dst: Path) -> Path:
    """A copy of ``src`` as the recorder wrote it before raw checksums: raw/* Blosc-compressed, no Fletcher-32."""
    with h5py.File(src, "r") as f, h5py.File(dst, "w", libver="latest") as g:
        for key, value in f.attrs.items():
            g.attrs[key] = value
        for name in f:
            if name != "raw":
                f.copy(f[name], g, name)
        for name in ("raw/csi", "raw/veto"):
            ds = f[name]
            new = g.create_dataset(name, data=ds[:], chunks=ds.chunks, maxshape=(None, ds.shape[1]),
                                   **compression_options("blosc-lz4"))
            for key, value in ds.attrs.items():
                new.attrs[key] = value
    return dst


def test_every_raw_chunk_carries_a_checksum_over_its_compressed_bytes(run_file: Path) -> None:
    with h5py.File(run_file, "r") as f:
        for name in ("raw/csi", "raw/veto"):
            dcpl = f[name].id.get_create_plist()
            filters = [dcpl.get_filter(i)[0] for i in range(dcpl.get_nfilters())]
            assert filters == [ZSTD, h5py.h5z.FILTER_FLETCHER32], (name, filters)  # the checksum comes last
    assert check_file(run_file).status == "ok"


def test_single_bit_flips_in_raw_chunks_are_all_detected(run_file: Path, tmp_path: Path) -> None:
    """Random single-bit flips anywhere in the stored bytes of raw/csi chunks: each makes its chunk a read
    error (before raw checksums, 14 of 20 read back as changed samples without a word)."""
    copy = tmp_path / run_file.name
    shutil.copyfile(run_file, copy)
    rng = np.random.default_rng(12)
    with h5py.File(run_file, "r") as f:
        n_chunks = f["raw/csi"].id.get_num_chunks()
    silent, named = [], 0
    for _ in range(FLIPS):
        k = int(rng.integers(n_chunks))
        offset, size, first, last = chunk_of(copy, k)
        where, bit = offset + int(rng.integers(size)), int(rng.integers(8))
        flip_bit(copy, where, bit)
        with h5py.File(copy, "r") as f:
            try:
                f["raw/csi"][first:last + 1]
                silent.append((k, where, bit))
            except OSError:
                pass
        damage = check_file(copy).damage
        named += [(d.what, d.lo, d.hi) for d in damage] == [("raw/csi", first, last + 1)]
        flip_bit(copy, where, bit)  # undo
    assert silent == [], f"{len(silent)} of {FLIPS} flips read back as changed samples: {silent}"
    assert named == FLIPS


def test_verify_names_the_damaged_dataset_and_rows(run_file: Path, tmp_path: Path) -> None:
    copy, first, last = damaged_copy(run_file, tmp_path / "damaged")
    proc = sevens("verify", str(copy), str(run_file))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == [
        f"{copy}: damaged: raw/csi rows {first}-{last}: fail their Fletcher-32 checksum", f"{run_file}: ok"]
    proc = sevens("verify", str(copy), "--json")
    result = last_json(proc)
    assert proc.returncode == 1 and result["ok"] is False
    (entry,) = result["files"]
    assert entry["status"] == "damaged" and [(d["dataset"], d["rows"]) for d in entry["damage"]] == [
        ("raw/csi", [first, last])]
    intact = sevens("verify", str(run_file))
    assert intact.returncode == 0 and intact.stdout.strip() == f"{run_file}: ok"
    missing = sevens("verify", str(tmp_path / "nothing.h5"))
    assert missing.returncode == 2 and "no such file" in missing.stderr and "Traceback" not in missing.stderr


def replay(path: Path, out: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    proc = sevens("replay", str(path), "--out", str(out), "--json", *extra)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    return proc.returncode, last_json(proc), proc.stderr


def test_replay_of_a_flipped_bit_counts_the_chunk_lost_and_does_not_end_ok(run_file: Path, tmp_path: Path) -> None:
    """``--raw copy``: the damaged chunk's records are lost with a reason naming the rows, the rest replays,
    the output does not say ``ok`` and the command exits 1; the copied raw waveforms carry checksums."""
    copy, first, last = damaged_copy(run_file, tmp_path / "damaged")
    code, result, stderr = replay(copy, tmp_path / "out", "--raw", "copy")
    assert code == 1 and result["exit_status"] != "ok" and result["exit_status"].startswith("damaged input")
    assert f"skipped: raw/csi rows {first}-{last} unreadable" in stderr
    (skip,) = result["stopped_at"]
    assert skip["skipped"] and skip["rows"] == [first, last] and "Fletcher-32 checksum" in skip["reason"]
    with h5py.File(run_file, "r") as f:
        ids = f["triggers"]["trigger_id"][:]
    assert result["triggers"] == len(ids) - (last + 1 - first)
    with open_run(result["file"]) as f:
        a = f.attrs
        assert a["triggers_generated"] == a["triggers_recorded"] + a["triggers_lost"]
        losses = f["losses"][:]
        lost = losses[losses["reason"] == f"bad checksum: raw/csi rows {first}-{last}".encode()]
        assert lost["count"].sum() == last + 1 - first and lost["trigger_id"].min() == ids[first]
        assert f["raw/csi"].fletcher32 and f["raw/veto"].fletcher32
    assert check_file(result["file"]).status == "ok"  # the damaged rows are not in the output


def test_report_and_fit_reader_refuse_a_flipped_bit_naming_the_rows(run_file: Path, tmp_path: Path) -> None:
    copy, first, last = damaged_copy(run_file, tmp_path / "damaged")
    proc = sevens("report", str(copy), "--out", str(tmp_path / "report"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert f"raw/csi rows {first}-{last}: fail their Fletcher-32 checksum" in proc.stderr
    assert not any((tmp_path / "report").glob("*.*")), "a refused report wrote files"
    edges = np.array([0.0, 10.0, 30.0]), np.array([0.0, 6.0, 12.0])
    with pytest.raises(DatasetError, match=rf"{copy.name}: damaged: raw/csi rows {first}-{last}"):
        read_run_files((copy,), *edges)
    assert read_run_files((run_file,), *edges).pot > 0  # the intact file reads


def test_a_link_replay_detects_damage_in_its_source(run_file: Path, tmp_path: Path) -> None:
    """``--raw link``: the output's raw rows are read from the input, through the input's checksums."""
    source = tmp_path / "in" / run_file.name
    source.parent.mkdir()
    shutil.copyfile(run_file, source)
    code, result, _ = replay(source, tmp_path / "out")
    assert code == 0 and result["raw"] == "link"
    linked = Path(result["file"])
    assert check_file(linked).status == "ok"
    offset, size, first, last = chunk_of(source, 1)
    flip_bit(source, offset + size // 2, 2)
    with h5py.File(linked, "r") as f:
        assert f["raw/csi"].is_virtual
        with pytest.raises(OSError):
            f["raw/csi"][first:last + 1]
    (damage,) = check_file(linked).damage
    assert (damage.what, damage.lo, damage.hi) == ("raw/csi", first, last + 1)
    assert f"{source.name} raw/csi rows {first}-{last}" in damage.linked
    code, again, _ = replay(linked, tmp_path / "again", "--no-raw")  # a replay of the replay
    assert code == 1 and again["stopped_at"][0]["rows"] == [first, last] and again["exit_status"] != "ok"


def test_a_file_without_raw_checksums_still_replays_and_reports_and_verify_says_so(
        run_file: Path, tmp_path: Path) -> None:
    old = without_raw_checksums(run_file, tmp_path / run_file.name)
    check = check_file(old)
    assert check.status == "unverified" and check.unchecksummed == ["raw/csi", "raw/veto"] and not check.damage
    proc = sevens("verify", str(old))
    assert proc.returncode == 1 and "no raw checksums" in proc.stdout and ": ok" not in proc.stdout, proc.stdout
    code, result, _ = replay(old, tmp_path / "out", "--no-raw")
    assert code == 0 and result["exit_status"] == "ok" and result["triggers"] == result["input_triggers"]
    report = sevens("report", str(old), "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr[-3000:]


@pytest.mark.parametrize("compression", ["huffman-zstd", "huffman-deflate", "blosc-lz4"])
def test_raw_checksums_hold_through_swmr_appends(tmp_path: Path, compression: str) -> None:
    """The recorder's appender: raw rows appended a few at a time in SWMR mode, read back by a SWMR reader
    while the file is open, equal and checksummed; a flipped bit in a flushed chunk is a read error
    (for the codecs coded in the recorder: a chunk written with write_direct_chunk, its Fletcher-32
    computed by the recorder)."""
    path = tmp_path / "run_000001.h5"
    rng = np.random.default_rng(3)
    samples = rng.normal(0, 4, (200, 512)).astype(np.int8)
    w = RunFileWriter(path, run_number=1, config_text="", config_sha256="", software_version="test", n_samples=512,
                      raw_channels=("csi",), compression=compression, chunk_records=64)
    for lo in range(0, 200, 7):
        w.append_raw("csi", samples[lo:lo + 7])
        w.flush()
    with open_run(path) as f:  # a SWMR reader beside the open writer
        assert f["raw/csi"].fletcher32 and np.array_equal(f["raw/csi"][:], samples)
    w.close("ok", {})
    offset, size, first, last = chunk_of(path, 1)
    flip_bit(path, offset + size // 2, 0)
    (damage,) = check_file(path).damage
    assert (damage.what, damage.lo, damage.hi) == ("raw/csi", 64, 128) and "checksum" in damage.reason
