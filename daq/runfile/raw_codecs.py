"""Raw-waveform codecs of the run file: the HDF5 filters each declares, and direct chunk writes.

``recorder.compression`` names one of :data:`COMPRESSIONS`:

- ``huffman-zstd`` (the default) and ``huffman-deflate``: the recorder Huffman-codes each chunk
  itself (:mod:`daq.kernels.raw_chunks`), appends the Fletcher-32 checksum, and writes the bytes
  with ``write_direct_chunk`` into a dataset that declares the filters that undo them: HDF5's
  Zstd filter (32015, from hdf5plugin) or its built-in deflate, then Fletcher-32. A reader's HDF5
  cannot tell these chunks from ones it compressed itself;
- ``blosc-lz4``, ``blosc-zstd``, ``gzip``, ``lzf``, ``none``: the HDF5 filter pipeline compresses
  (the codecs of files written before the direct ones; still written and read).

:class:`DirectRawAppender` holds the records of the chunk being filled. A full chunk is encoded
and written once. At a flush the partial chunk is written too, zero-padded (rows past the
dataset's end), so a killed recorder leaves it readable; it is written again, whole, when it
fills. In SWMR mode HDF5 never frees the space of a chunk rewritten at another size, so each such
rewrite leaves dead space in the file: :meth:`RunFileWriter.flush_due
<daq.runfile.writer.RunFileWriter.flush_due>` lets the recorder flush on a chunk boundary when it
can.
"""

from __future__ import annotations

from typing import Any

import h5py
import hdf5plugin
import numpy as np

from daq.runfile.files import H5_ERRORS

# The coding kernels (numba) are imported where a chunk is coded or checked, not here: reading a
# run file, and every `sevens` command, then starts without loading numba.

DIRECT = ("huffman-zstd", "huffman-deflate")  # the compressions whose chunks the recorder codes itself
PIPELINE = ("blosc-lz4", "blosc-zstd", "gzip", "lzf", "none")
COMPRESSIONS = (*DIRECT, *PIPELINE)
FLETCHER32 = h5py.h5z.FILTER_FLETCHER32
SKIPPABLE = 0x184D2A50  # magic of a zstd skippable frame (RFC 8878 3.1.2): padding any zstd decoder skips
RESERVE = 1.05  # a chunk written partial reserves this much more than the largest recent full chunk


def compression_options(name: str) -> dict[str, Any]:
    """h5py create_dataset keyword arguments of the compression filter for ``name`` (fletcher32 apart)."""
    if name == "huffman-zstd":  # the filter that decodes the frames; its level only matters to HDF5's own writes
        return dict(hdf5plugin.Zstd(clevel=1))
    if name in ("huffman-deflate", "gzip"):
        return {"compression": "gzip", "compression_opts": 1}
    if name == "blosc-lz4":
        return dict(hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.NOSHUFFLE))
    if name == "blosc-zstd":
        return dict(hdf5plugin.Blosc(cname="zstd", clevel=3, shuffle=hdf5plugin.Blosc.NOSHUFFLE))
    if name == "lzf":
        return {"compression": "lzf"}
    return {}


class ChunkEncoder:
    """Encodes chunks of ``chunk_bytes`` with a direct codec (a name of :data:`DIRECT`), into a
    buffer reused between calls."""

    def __init__(self, compression: str, chunk_bytes: int, fletcher32: bool = True) -> None:
        from daq.kernels import raw_chunks
        from daq.kernels.huffman import append_fletcher32

        self._encode, self._append_fletcher32 = raw_chunks.encode_chunk, append_fletcher32
        self.codec = {"huffman-zstd": raw_chunks.ZSTD, "huffman-deflate": raw_chunks.DEFLATE}[compression]
        self.zstd, self.fletcher32 = self.codec == raw_chunks.ZSTD, fletcher32
        self.bound = raw_chunks.chunk_bound(self.codec, chunk_bytes)
        self.out = np.empty(self.bound, np.uint8)
        self.pairs = np.zeros(65536, np.uint64)
        self.words = np.empty(raw_chunks.scratch_words(self.codec, chunk_bytes), np.uint32)
        self.natural = 0

    def __call__(self, chunk: np.ndarray, n_valid: int | None = None, stored_size: int | None = None
                 ) -> np.ndarray | None:
        """The stored bytes of ``chunk`` (its bytes from ``n_valid`` on must be zero): a view of the
        buffer, valid until the next call.

        With ``stored_size`` the bytes are padded to exactly that length, checksum included (after
        the zstd frame a skippable frame, after the zlib stream zeros: both formats' decoders stop
        at the end of their stream); None if they do not fit in it."""
        src = np.ascontiguousarray(chunk).view(np.uint8).reshape(-1)
        n = self._encode(src, src.size if n_valid is None else n_valid, self.codec, False,
                         self.out, self.pairs, self.words)
        self.natural = n + (4 if self.fletcher32 else 0)  # the stored size without padding
        if stored_size is not None:
            pad = stored_size - (4 if self.fletcher32 else 0) - n
            if pad < 0 or stored_size > self.bound or (self.zstd and 0 < pad < 8):
                return None
            if self.zstd and pad:
                self.out[n:n + 4] = np.frombuffer(SKIPPABLE.to_bytes(4, "little"), np.uint8)
                self.out[n + 4:n + 8] = np.frombuffer((pad - 8).to_bytes(4, "little"), np.uint8)
                self.out[n + 8:n + pad] = 0
            else:
                self.out[n:n + pad] = 0
            n += pad
        if self.fletcher32:
            n = self._append_fletcher32(self.out, n)
        return self.out[:n]


def warm(compression: str) -> None:
    """Compile (or load from numba's cache) the encoder of ``compression`` now: the first call takes
    about a second, which inside a run would hold the recorder past its heartbeat timeout."""
    if compression in DIRECT:
        ChunkEncoder(compression, 1024)(np.arange(1024, dtype=np.uint8).view(np.int8) % 7, 512)


def filters(ds: h5py.Dataset) -> list[tuple[int, tuple[int, ...]]]:
    """(filter id, client values) of each filter of ``ds``'s pipeline, in order."""
    dcpl = ds.id.get_create_plist()
    return [(f[0], tuple(f[2])) for f in (dcpl.get_filter(i) for i in range(dcpl.get_nfilters()))]


def checksum_ok(ds: h5py.Dataset, data: bytes, filter_mask: int) -> bool:
    """True unless ``ds`` ends its pipeline with Fletcher-32, applied to this chunk, and the stored
    bytes ``data`` fail it (what HDF5 checks on read; read_direct_chunk does not)."""
    pipeline = filters(ds)
    if not pipeline or pipeline[-1][0] != FLETCHER32 or filter_mask & (1 << (len(pipeline) - 1)):
        return True
    return fletcher32_holds(data)


def fletcher32_holds(data: bytes) -> bool:
    """True if a stored chunk's last 4 bytes are the Fletcher-32 of the bytes before them, as HDF5's filter
    appends it (little-endian)."""
    body = np.frombuffer(data, np.uint8)
    if body.size < 4:
        return False
    from daq.kernels.huffman import fletcher32 as fletcher32_of

    return fletcher32_of(body, body.size - 4) == int.from_bytes(data[-4:], "little")


class DirectRawAppender:
    """Appends records to a raw dataset (rows x samples, chunks of ``chunk_records`` rows) with
    ``write_direct_chunk``: every chunk is encoded when it fills, the partial one also at a flush.

    A partial chunk written at a flush is padded to the size a full chunk is expected to take
    (:data:`RESERVE` x the largest of the last full chunks), and so is the chunk once it fills: HDF5
    then overwrites it in place. Only a chunk that outgrows its reservation moves, and in SWMR
    mode leaves its old place unused."""

    def __init__(self, ds: h5py.Dataset, compression: str) -> None:
        self.ds = ds
        self.chunk_records, self.n_samples = ds.chunks
        self.encode = ChunkEncoder(compression, self.chunk_records * self.n_samples, fletcher32=bool(ds.fletcher32))
        self.buffer = np.zeros((self.chunk_records, self.n_samples), np.int8)
        self.fill = 0  # rows of the chunk being filled held in ``buffer``
        self.rows = ds.shape[0]  # rows appended
        self.stale = False  # the partial chunk has rows not on disk yet
        self.reserved: int | None = None  # stored size of the partial chunk on disk, if any
        self.recent: list[int] = []  # stored sizes of the last full chunks
        self.moved = 0  # chunks rewritten at another size (their old place is dead space)

    @property
    def pending(self) -> int:
        """Rows of the partial chunk (0: the rows end on a chunk boundary)."""
        return self.fill

    def append(self, samples: np.ndarray) -> None:
        """Append ``samples`` (rows x n_samples int8); every chunk they complete is written."""
        samples = np.asarray(samples, np.int8)
        if samples.ndim != 2 or samples.shape[1] != self.n_samples:
            raise ValueError(f"{self.ds.name}: records of shape {samples.shape[1:]}, expected ({self.n_samples},)")
        n = len(samples)
        if n == 0:
            return
        self.ds.resize(self.rows + n, axis=0)
        c = self.chunk_records
        i = 0
        while i < n:
            if self.fill == 0 and n - i >= c:  # a whole chunk straight from the input
                self._write(self.rows + i, samples[i:i + c], c)
                i += c
                continue
            k = min(c - self.fill, n - i)
            self.buffer[self.fill:self.fill + k] = samples[i:i + k]
            self.fill += k
            i += k
            self.stale = True
            if self.fill == c:
                self._write(self.rows + i - c, self.buffer, c)
                self.fill = 0
                self.stale = False
        self.rows += n

    def flush(self, final: bool = False) -> None:
        """Write the partial chunk (zero-padded) if it holds rows not on disk yet; ``final``: the
        last write of the file (no reservation for a later rewrite)."""
        if self.fill and self.stale:
            self.buffer[self.fill:] = 0
            self._write(self.rows - self.fill, self.buffer, self.fill, final)
            self.stale = False

    def _expected(self, partial_size: int, valid_rows: int) -> int:
        """The stored size to reserve for the chunk, ``valid_rows`` of which take ``partial_size``."""
        scaled = partial_size * self.chunk_records / max(valid_rows, 1)
        return min(self.encode.bound, int(RESERVE * max([scaled, *self.recent])) + 16)

    def _write(self, first_row: int, block: np.ndarray, valid_rows: int, final: bool = False) -> None:
        partial = valid_rows < self.chunk_records
        data = None
        if self.reserved is not None:  # rewrite in place, at the size it has on disk
            data = self.encode(block, valid_rows * self.n_samples, self.reserved)
            if data is None:
                self.moved += 1
        if data is None:
            data = self.encode(block, valid_rows * self.n_samples)
            self.reserved = None
            if partial and not final:  # room for the whole chunk, so that it is rewritten in place
                size = self._expected(len(data), valid_rows)
                padded = self.encode(block, valid_rows * self.n_samples, size)
                if padded is not None:
                    data, self.reserved = padded, size
                else:  # (an incompressible chunk near its bound) as it is, then
                    data = self.encode(block, valid_rows * self.n_samples)
        self.ds.id.write_direct_chunk((first_row, 0), data, 0)  # filter mask 0: every filter applied
        if not partial:
            self.reserved = None
            self.recent = [*self.recent[-15:], self.encode.natural]


ZSTD_FILTER = hdf5plugin.Zstd.filter_id


def direct_readable(ds: h5py.Dataset) -> bool:
    """True if :func:`read_direct_rows` can read ``ds``: stored chunks of whole records (int8, rows x
    samples) through exactly the Zstd filter and Fletcher-32, the pipeline of ``huffman-zstd``."""
    if ds.ndim != 2 or ds.dtype != np.int8 or ds.is_virtual or not ds.chunks or ds.chunks[1] != ds.shape[1]:
        return False
    return [f[0] for f in filters(ds)] == [ZSTD_FILTER, FLETCHER32]


def read_direct_rows(ds: h5py.Dataset, lo: int, hi: int) -> np.ndarray | None:
    """Rows ``lo:hi`` of a :func:`direct_readable` dataset, read chunk by chunk with
    ``read_direct_chunk``, each checked against its Fletcher-32 and decoded by zstd straight into the
    rows: what HDF5's pipeline does, without its chunk buffers and copies (a fifth of the read's CPU).
    None if any chunk is not plainly readable (missing, a filter skipped, a failed checksum or frame):
    the caller then reads the rows through HDF5, which says what is wrong in its own words."""
    from numcodecs.zstd import Zstd

    hi = min(hi, ds.shape[0])
    c, n = ds.chunks
    out = np.empty((max(hi - lo, 0), n), np.int8)
    whole = None  # a chunk that sticks out of lo:hi is decoded here first
    codec = Zstd()
    for start in range(lo // c * c, hi, c):
        try:
            mask, data = ds.id.read_direct_chunk((start, 0))
        except H5_ERRORS:
            return None
        if mask or not fletcher32_holds(data):
            return None
        a, b = max(start, lo), min(start + c, hi)
        inside = a == start and b == start + c
        if not inside and whole is None:
            whole = np.empty((c, n), np.int8)
        try:
            codec.decode(memoryview(data)[:-4], out=out[a - lo:b - lo] if inside else whole)
        except (RuntimeError, ValueError, TypeError):
            return None
        if not inside:
            out[a - lo:b - lo] = whole[a - start:b - start]
    return out
