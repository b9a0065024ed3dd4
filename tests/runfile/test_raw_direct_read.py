"""Raw waveforms read chunk by chunk (``read_direct_rows``): the rows HDF5 reads, or nothing.

``read_block`` reads ``huffman-zstd`` raw waveforms with ``read_direct_chunk``, its own Fletcher-32 check and
zstd, not through HDF5's filter pipeline. These tests hold that to HDF5: the same rows for any range (chunks
cut at either end, the zero-padded last chunk, past the end), no rows at all where a chunk is damaged or not
``huffman-zstd`` (HDF5 then reads and words the failure, as before), and the same failures from ``read_block``.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from daq.runfile import raw_codecs
from daq.runfile.tables import read_block
from tests.runfile.test_raw_codecs import records, uneven, write_run


@pytest.fixture
def run(tmp_path: Path) -> tuple[Path, np.ndarray]:
    samples = records(123, seed=3)  # 15 chunks of 8 and a partial one
    write_run(tmp_path / "run.h5", "huffman-zstd", samples, uneven(123, seed=4)).close("ok", {})
    return tmp_path / "run.h5", samples


RANGES = [(0, 123), (0, 8), (3, 5), (5, 21), (16, 24), (117, 123), (119, 200), (123, 130), (40, 40)]


@pytest.mark.parametrize("lo, hi", RANGES)
def test_any_range_reads_the_rows_hdf5_reads(run: tuple[Path, np.ndarray], lo: int, hi: int) -> None:
    path, samples = run
    with h5py.File(path, "r") as f:
        for name, want in (("raw/csi", samples), ("raw/veto", samples[:, ::-1])):
            ds = f[name]
            assert raw_codecs.direct_readable(ds)
            rows = raw_codecs.read_direct_rows(ds, lo, hi)
            assert rows is not None and rows.dtype == np.int8
            assert np.array_equal(rows, ds[lo:hi]) and np.array_equal(rows, want[lo:hi])


def flip_byte(path: Path, chunk: int, dataset: str = "raw/csi") -> None:
    with h5py.File(path, "r") as f:
        info = f[dataset].id.get_chunk_info(chunk)
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset + info.size // 2)
        byte = fh.read(1)[0]
        fh.seek(info.byte_offset + info.size // 2)
        fh.write(bytes([byte ^ 0x10]))


def test_a_damaged_chunk_gives_no_rows_and_read_block_names_its_checksum(run: tuple[Path, np.ndarray]) -> None:
    path, samples = run
    flip_byte(path, 2)  # rows 16-23
    with h5py.File(path, "r") as f:
        ds = f["raw/csi"]
        assert raw_codecs.read_direct_rows(ds, 0, 123) is None
        assert raw_codecs.read_direct_rows(ds, 8, 16) is not None  # the chunks around it still read
        rows, failure = read_block(ds, 0, 64)
        assert np.array_equal(rows, samples[:16])
        assert failure is not None and (failure.lo, failure.hi, failure.checksum) == (16, 24, True)
        rows, failure = read_block(ds, 24, 123)  # past the damage: every row, no failure
        assert failure is None and np.array_equal(rows, samples[24:])


def test_a_chunk_whose_checksum_is_wrong_is_refused_even_if_its_frame_decodes(run: tuple[Path, np.ndarray]) -> None:
    path, samples = run
    with h5py.File(path, "r") as f:
        info = f["raw/csi"].id.get_chunk_info(1)
    with open(path, "r+b") as fh:  # the stored checksum itself, the zstd frame intact
        fh.seek(info.byte_offset + info.size - 1)
        byte = fh.read(1)[0]
        fh.seek(info.byte_offset + info.size - 1)
        fh.write(bytes([byte ^ 0x01]))
    with h5py.File(path, "r") as f:
        assert raw_codecs.read_direct_rows(f["raw/csi"], 8, 16) is None
        rows, failure = read_block(f["raw/csi"], 0, 24)
        assert failure is not None and failure.checksum and np.array_equal(rows, samples[:8])


@pytest.mark.parametrize("compression", [c for c in raw_codecs.COMPRESSIONS if c != "huffman-zstd"])
def test_other_codecs_are_left_to_hdf5(tmp_path: Path, compression: str) -> None:
    samples = records(30, seed=8)
    write_run(tmp_path / "run.h5", compression, samples, [30]).close("ok", {})
    with h5py.File(tmp_path / "run.h5", "r") as f:
        assert not raw_codecs.direct_readable(f["raw/csi"])
        rows, failure = read_block(f["raw/csi"], 3, 30)
        assert failure is None and np.array_equal(rows, samples[3:])


def test_tables_and_virtual_datasets_are_left_to_hdf5(run: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    path, samples = run
    layout = h5py.VirtualLayout(shape=samples.shape, dtype=np.int8)
    layout[:] = h5py.VirtualSource(str(path), "raw/csi", shape=samples.shape)
    with h5py.File(tmp_path / "linked.h5", "w", libver="latest") as g:
        g.create_virtual_dataset("csi", layout)
    with h5py.File(path, "r") as f, h5py.File(tmp_path / "linked.h5", "r") as g:
        assert not raw_codecs.direct_readable(f["triggers"])
        assert not raw_codecs.direct_readable(g["csi"])
        rows, failure = read_block(g["csi"], 10, 50)
        assert failure is None and np.array_equal(rows, samples[10:50])
