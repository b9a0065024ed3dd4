"""Raw-waveform codecs in run files: every codec round-trips bit for bit, reads in a process that has only
h5py and hdf5plugin, leaves no dead space, and its chunks copy into a replay's output as stored.

The recorder codes ``huffman-zstd`` and ``huffman-deflate`` chunks itself and writes them with
``write_direct_chunk``; the others go through HDF5's filter pipeline (the codecs of older files).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from daq import dtypes
from daq.config import COMPRESSIONS
from daq.runfile import RunFileError, RunFileWriter, open_run, raw_codecs
from daq.runfile.raw_links import copy_raw

N_SAMPLES = 2000
CHUNK = 8


def records(n: int, seed: int = 0, n_samples: int = N_SAMPLES) -> np.ndarray:
    """Noisy baselines with a few negative pulses, some below the int8 range's middle (bytes > 128)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(100.0, 1.0, (n, n_samples))
    x[:, 500:520] -= rng.uniform(0, 250, (n, 1))
    return np.clip(np.round(x), -128, 127).astype(np.int8)


def write_run(path: Path, compression: str, samples: np.ndarray, batches: list[int], flush_every: int = 1,
              chunk_records: int = CHUNK) -> RunFileWriter:
    """A run file of ``samples`` on both channels, appended in ``batches`` of rows, flushed every
    ``flush_every`` batches (1: after every one, the worst case for partial chunks)."""
    w = RunFileWriter(path, run_number=1, config_text="", config_sha256="", software_version="test",
                      n_samples=samples.shape[1], raw_channels=("csi", "veto"), compression=compression,
                      chunk_records=chunk_records)
    lo = 0
    for k, n in enumerate(batches):
        trig = np.zeros(n, dtypes.TRIGGER)
        trig["trigger_id"] = np.arange(lo, lo + n)
        w.append("triggers", trig)
        w.append_raw("csi", samples[lo:lo + n])
        w.append_raw("veto", samples[lo:lo + n][:, ::-1])
        lo += n
        if (k + 1) % flush_every == 0:
            w.flush()
    return w


def uneven(total: int, seed: int = 1) -> list[int]:
    rng = np.random.default_rng(seed)
    sizes: list[int] = []
    while sum(sizes) < total:
        sizes.append(min(int(rng.integers(1, 12)), total - sum(sizes)))
    return sizes


PLAIN_READER = textwrap.dedent("""
    import hashlib, sys
    import h5py
    {plugin}
    assert not any(m == "daq" or m.startswith("daq.") for m in sys.modules), "the reader must not need daq"
    with h5py.File(sys.argv[1], "r") as f:
        print(hashlib.sha256(f["raw/csi"][:].tobytes() + f["raw/veto"][:].tobytes()).hexdigest())
""")


def plain_digest(path: Path, plugin: bool = True) -> str:
    """sha256 of both raw channels, read by a fresh interpreter that imports h5py (and hdf5plugin) only."""
    script = PLAIN_READER.format(plugin="import hdf5plugin" if plugin else "")
    env = {k: v for k, v in os.environ.items() if k != "HDF5_PLUGIN_PATH"}
    proc = subprocess.run([sys.executable, "-I", "-c", script, str(path)], capture_output=True, text=True,
                          timeout=120, env=env, cwd="/")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_every_codec_round_trips_and_reads_with_h5py_and_hdf5plugin_alone(tmp_path: Path, compression: str) -> None:
    samples = records(123)  # 15 chunks and a partial one, the last chunk zero-padded
    w = write_run(tmp_path / "run.h5", compression, samples, uneven(123))
    w.close("ok", {})
    with h5py.File(tmp_path / "run.h5", "r") as f:
        assert np.array_equal(f["raw/csi"][:], samples) and np.array_equal(f["raw/veto"][:], samples[:, ::-1])
        assert f["raw/csi"].fletcher32 and f["raw/csi"].attrs["compression"] == compression
    want = hashlib.sha256(samples.tobytes() + samples[:, ::-1].copy().tobytes()).hexdigest()
    assert plain_digest(tmp_path / "run.h5") == want
    if compression in ("huffman-deflate", "gzip", "none"):  # HDF5's built-in filters: no plugin at all
        assert plain_digest(tmp_path / "run.h5", plugin=False) == want


def test_raw_codecs_are_the_configs() -> None:
    assert raw_codecs.COMPRESSIONS == COMPRESSIONS


def dead_fraction(path: Path) -> float:
    """1 - (sum of the datasets' storage) / file size."""
    stored = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda _, obj: stored.append(obj.id.get_storage_size()) if isinstance(obj, h5py.Dataset) else None)
    return 1 - sum(stored) / path.stat().st_size


@pytest.mark.parametrize("flush_every", [1, 3])
@pytest.mark.parametrize("compression", ["huffman-zstd", "huffman-deflate", "blosc-lz4"])
def test_flushes_between_chunk_boundaries_leave_no_dead_space(tmp_path: Path, compression: str,
                                                              flush_every: int) -> None:
    """SWMR never frees a chunk rewritten at another size: through the filter pipeline (blosc-lz4) every
    flush between chunk boundaries leaves the partial chunk's old copy behind. A partial chunk written
    directly reserves room for the whole chunk and is rewritten in place: the file stays within 5 % of
    the sum of its datasets' storage (records of full length, so the metadata weighs as in a run)."""
    samples = records(240, seed=2, n_samples=35000)
    w = write_run(tmp_path / "run.h5", compression, samples, uneven(240, seed=3), flush_every)
    moved = sum(a.moved for a in w.direct.values())
    w.close("ok", {})
    dead = dead_fraction(tmp_path / "run.h5")
    if compression == "blosc-lz4":
        assert dead > 0.1  # the old way, for comparison
        return
    assert dead < 0.02
    assert moved <= 2  # a chunk that outgrows its reservation moves (and leaves its old place)
    with h5py.File(tmp_path / "run.h5", "r") as f:
        assert np.array_equal(f["raw/csi"][:], samples)


def test_a_partial_chunk_is_rewritten_in_place_when_it_fills(tmp_path: Path) -> None:
    samples = records(16, seed=4)
    w = write_run(tmp_path / "run.h5", "huffman-zstd", samples[:3], [3])
    ds = w.datasets["raw/csi"]
    where = ds.id.get_chunk_info(0).byte_offset
    w.append_raw("csi", samples[3:8])  # chunk 0 is full now: written again, whole
    w.flush()
    assert ds.id.get_chunk_info(0).byte_offset == where
    with open_run(tmp_path / "run.h5") as f:  # a SWMR reader beside the writer
        assert np.array_equal(f["raw/csi"][:8], samples[:8])
    w.close("ok", {})


def test_the_recorder_flushes_on_a_chunk_boundary_when_it_can(tmp_path: Path) -> None:
    w = write_run(tmp_path / "run.h5", "huffman-zstd", records(20), [5], flush_every=1000)
    w.last_flush = time.monotonic() - 0.6
    assert not w.flush_due(1.0)  # 5 of 8 rows of a chunk: wait for the boundary or the interval
    w.append_raw("csi", records(3))
    w.append_raw("veto", records(3))
    assert w.flush_due(1.0)  # on the boundary, half the interval gone
    w.append_raw("csi", records(1))
    w.append_raw("veto", records(1))
    w.last_flush = time.monotonic() - 1.0
    assert w.flush_due(1.0)  # the interval is a bound
    w.close("ok", {})


def test_a_flipped_bit_in_a_direct_chunk_fails_its_checksum(tmp_path: Path) -> None:
    samples = records(40)
    write_run(tmp_path / "run.h5", "huffman-zstd", samples, [40]).close("ok", {})
    with h5py.File(tmp_path / "run.h5", "r") as f:
        info = f["raw/csi"].id.get_chunk_info(2)
    with open(tmp_path / "run.h5", "r+b") as fh:
        fh.seek(info.byte_offset + info.size // 2)
        byte = fh.read(1)[0]
        fh.seek(info.byte_offset + info.size // 2)
        fh.write(bytes([byte ^ 0x10]))
    with h5py.File(tmp_path / "run.h5", "r") as f:
        assert np.array_equal(f["raw/csi"][:16], samples[:16])
        with pytest.raises(OSError, match="filter returned failure"):
            f["raw/csi"][16:24]
        assert np.array_equal(f["raw/csi"][24:], samples[24:])


def replay_output(path: Path, trigger_ids: np.ndarray) -> Path:
    """A replay's output before its raw waveforms are added: the triggers only."""
    with h5py.File(path, "w", libver="latest") as f:
        trig = np.zeros(len(trigger_ids), dtypes.plain(dtypes.TRIGGER))
        trig["trigger_id"] = trigger_ids
        f.create_dataset("triggers", data=trig)
    return path


@pytest.mark.parametrize("compression", ["huffman-zstd", "blosc-lz4"])
def test_copy_copies_stored_chunks_where_they_line_up(tmp_path: Path, compression: str) -> None:
    samples = records(100, seed=5)
    write_run(tmp_path / "in.h5", compression, samples, uneven(100)).close("ok", {})
    keep = np.r_[0:16, 24:100]  # chunk 2 skipped (a damaged chunk): the rest stays aligned
    out = replay_output(tmp_path / "out.h5", keep)
    counts = copy_raw(out, [tmp_path / "in.h5"], ("csi", "veto"), "huffman-zstd", CHUNK)
    assert counts == {"csi": {"copied": 12, "encoded": 0}, "veto": {"copied": 12, "encoded": 0}}
    with h5py.File(out, "r") as f, h5py.File(tmp_path / "in.h5", "r") as g:
        assert np.array_equal(f["raw/csi"][:], samples[keep])
        assert raw_codecs.filters(f["raw/csi"]) == raw_codecs.filters(g["raw/csi"])
        assert f["raw/csi"].id.read_direct_chunk((16, 0)) == g["raw/csi"].id.read_direct_chunk((24, 0))


def test_copy_encodes_again_what_does_not_line_up_or_has_no_checksum(tmp_path: Path) -> None:
    samples = records(60, seed=6)
    write_run(tmp_path / "in.h5", "huffman-zstd", samples, [60]).close("ok", {})
    keep = np.r_[0:10, 13:60]  # 3 rows dropped: every chunk after row 8 is out of line
    out = replay_output(tmp_path / "out.h5", keep)
    counts = copy_raw(out, [tmp_path / "in.h5"], ("csi",), "huffman-zstd", CHUNK)
    assert counts == {"csi": {"copied": 1, "encoded": 7}}
    with h5py.File(out, "r") as f:
        assert np.array_equal(f["raw/csi"][:], samples[keep]) and f["raw/csi"].fletcher32
    # inputs without raw checksums: everything coded again with the replay's codec, checksummed
    with h5py.File(tmp_path / "in.h5", "r") as f, h5py.File(tmp_path / "old.h5", "w") as g:
        f.copy(f["triggers"], g, "triggers")
        g.create_dataset("raw/csi", data=samples, chunks=(64, N_SAMPLES), maxshape=(None, N_SAMPLES),
                         **raw_codecs.compression_options("blosc-lz4"))
    out = replay_output(tmp_path / "out2.h5", np.arange(60))
    assert copy_raw(out, [tmp_path / "old.h5"], ("csi",), "huffman-deflate", CHUNK) == {
        "csi": {"copied": 0, "encoded": 8}}
    with h5py.File(out, "r") as f:
        assert np.array_equal(f["raw/csi"][:], samples) and f["raw/csi"].fletcher32
        assert f["raw/csi"].attrs["compression"] == "huffman-deflate"


def test_copy_refuses_a_stored_chunk_that_fails_its_checksum(tmp_path: Path) -> None:
    samples = records(40, seed=7)
    write_run(tmp_path / "in.h5", "huffman-zstd", samples, [40]).close("ok", {})
    with h5py.File(tmp_path / "in.h5", "r") as f:
        info = f["raw/csi"].id.get_chunk_info(1)
    with open(tmp_path / "in.h5", "r+b") as fh:
        fh.seek(info.byte_offset + 100)
        byte = fh.read(1)[0]
        fh.seek(info.byte_offset + 100)
        fh.write(bytes([byte ^ 1]))
    out = replay_output(tmp_path / "out.h5", np.arange(40))
    with pytest.raises(RunFileError, match="raw/csi rows 8-15 fail their Fletcher-32 checksum"):
        copy_raw(out, [tmp_path / "in.h5"], ("csi",), "huffman-zstd", CHUNK)
