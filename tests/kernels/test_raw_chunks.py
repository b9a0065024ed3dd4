"""The raw-chunk encoders: what they write is read back bit for bit by the stock decoders.

Each case encodes a chunk with :func:`daq.kernels.raw_chunks.encode_chunk` and decodes it with
the decoder a reader has: zlib for ``DEFLATE``, and for both codecs HDF5 itself (the chunk written
with ``write_direct_chunk`` into a dataset declaring the matching filter and Fletcher-32, read
back with h5py + hdf5plugin). Edge cases: an all-equal chunk, full-range random bytes (stored
uncompressed), a single record, a zero-padded last chunk, sizes not a multiple of anything,
byte values above 128 (the zstd tree then needs FSE-compressed weights).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daq.kernels.huffman import code_lengths, fletcher32
from daq.kernels.raw_chunks import DEFLATE, ZSTD, chunk_bound, encode_chunk, scratch_words

CODECS = {"huffman-zstd": ZSTD, "huffman-deflate": DEFLATE}
FILTERS = {ZSTD: dict(hdf5plugin.Zstd(1)), DEFLATE: {"compression": "gzip"}}


def encode(chunk: np.ndarray, codec: int, n_valid: int | None = None, fletcher: bool = False) -> bytes:
    src = np.ascontiguousarray(chunk).view(np.uint8).reshape(-1)
    out = np.empty(chunk_bound(codec, src.size), np.uint8)
    n = encode_chunk(src, src.size if n_valid is None else n_valid, codec, fletcher, out,
                     np.zeros(65536, np.uint64), np.empty(scratch_words(codec, src.size), np.uint32))
    assert n <= out.size
    return out[:n].tobytes()


def hdf5_round_trip(tmp_path: Path, chunk: np.ndarray, codec: int, n_valid_rows: int | None = None) -> np.ndarray:
    """``chunk`` (rows x samples) written as one direct chunk with its checksum, read back by HDF5."""
    rows = chunk.shape[0] if n_valid_rows is None else n_valid_rows
    data = encode(chunk, codec, rows * chunk.shape[1], fletcher=True)
    path = tmp_path / "chunk.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("x", shape=(rows, chunk.shape[1]), maxshape=(None, chunk.shape[1]), dtype="i1",
                              chunks=chunk.shape, fletcher32=True, **FILTERS[codec])
        ds.id.write_direct_chunk((0, 0), data, 0)
    with h5py.File(path, "r") as f:
        return f["x"][:]


def noise(rows: int, n: int = 35000, rms: float = 1.0, baseline: float = 100.0, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(baseline, rms, (rows, n))
    return np.clip(np.round(x), -128, 127).astype(np.int8)


EDGE_CASES = {
    "noise, 8 records": noise(8),
    "a single record": noise(1, seed=1),
    "all equal": np.full((8, 35000), -7, np.int8),
    "full-range random bytes": np.random.default_rng(2).integers(-128, 128, (8, 35000)).astype(np.int8),
    "negative values (bytes > 128)": noise(4, rms=4.0, baseline=-3.0, seed=3),
    "two values": np.random.default_rng(4).integers(0, 2, (3, 1001)).astype(np.int8),
    "odd sizes": noise(3, n=1001, rms=2.0, seed=5),
    "tiny": np.array([[1, -2, 3]], np.int8),
}


@pytest.mark.parametrize("codec", CODECS.values(), ids=CODECS.keys())
@pytest.mark.parametrize("case", EDGE_CASES.keys())
def test_every_chunk_reads_back_bit_for_bit_through_hdf5(tmp_path: Path, codec: int, case: str) -> None:
    chunk = EDGE_CASES[case]
    assert np.array_equal(hdf5_round_trip(tmp_path, chunk, codec), chunk)


@pytest.mark.parametrize("codec", CODECS.values(), ids=CODECS.keys())
@pytest.mark.parametrize("valid_rows", [1, 3, 7])
def test_a_zero_padded_last_chunk_codes_its_padding_in_a_few_bytes(tmp_path: Path, codec: int, valid_rows: int) -> None:
    chunk = noise(8, seed=valid_rows)
    chunk[valid_rows:] = 0
    assert np.array_equal(hdf5_round_trip(tmp_path, chunk, codec, valid_rows), chunk[:valid_rows])
    padded, alone = len(encode(chunk, codec, valid_rows * 35000)), len(encode(chunk[:valid_rows], codec))
    assert padded - alone < 2000  # 7 records of zeros: ~1.2 kB as deflate matches, 4 bytes per RLE block in zstd


def test_deflate_streams_are_plain_zlib() -> None:
    for chunk in EDGE_CASES.values():
        data = encode(chunk, DEFLATE)
        assert zlib.decompress(data) == chunk.tobytes()


def test_order_0_coding_is_near_the_entropy_of_the_samples() -> None:
    chunk = noise(8)
    counts = np.bincount(chunk.view(np.uint8).ravel(), minlength=256)
    p = counts / chunk.size
    h0 = -(p[p > 0] * np.log2(p[p > 0])).sum()
    huffman = (counts * code_lengths(counts, 15)).sum() / chunk.size  # the best code of single bytes
    for codec in CODECS.values():
        bits = 8 * len(encode(chunk, codec)) / chunk.size
        assert h0 <= huffman <= bits < huffman + 0.005, (codec, h0, huffman, bits)
    random = EDGE_CASES["full-range random bytes"]
    assert all(len(encode(random, c)) < random.size * 1.001 + 64 for c in CODECS.values())  # stored, not grown


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-128, 127), min_size=1, max_size=3000), st.sampled_from(list(CODECS.values())),
       st.integers(0, 3))
def test_any_bytes_round_trip_through_zlib_or_hdf5(values: list[int], codec: int, zeros: int) -> None:
    chunk = np.array(values + [0] * zeros, np.int8)
    data = encode(chunk, codec, len(values))
    if codec == DEFLATE:
        assert zlib.decompress(data) == chunk.tobytes()
    else:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            got = hdf5_round_trip(Path(tmp), chunk.reshape(1, -1), codec)
        assert np.array_equal(got[0], chunk)


def test_fletcher32_is_hdf5s() -> None:
    """The checksum HDF5's own fletcher32 filter appends to a chunk equals the kernel's, odd lengths too."""
    import tempfile

    for n in (1, 2, 719, 720, 721, 5000):
        x = np.random.default_rng(n).integers(-128, 128, n).astype(np.int8)
        with tempfile.TemporaryDirectory() as tmp:
            with h5py.File(Path(tmp) / "f.h5", "w") as f:
                ds = f.create_dataset("x", data=x, chunks=(n,), fletcher32=True)
                _, stored = ds.id.read_direct_chunk((0,))
        body = np.frombuffer(stored, np.uint8)
        assert body[:-4].tobytes() == x.tobytes()
        assert int.from_bytes(bytes(body[-4:]), "little") == fletcher32(body, n)


def test_code_lengths_are_complete_and_limited() -> None:
    counts = np.zeros(256, np.int64)
    counts[:40] = np.round(1e6 * 0.5 ** np.arange(40)).astype(np.int64) + 1  # geometric: unlimited codes ~40 bits
    for limit in (11, 15):
        lengths = code_lengths(counts, limit)
        used = lengths[counts > 0]
        assert used.max() <= limit and (lengths[counts == 0] == 0).all()
        assert np.sum(2.0 ** -used) == 1.0  # Kraft equality: a complete code
        order = np.argsort(-counts[:40], kind="stable")
        assert (np.diff(lengths[:40][order]) >= 0).all()  # more frequent, never longer
