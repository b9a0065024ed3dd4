"""One raw-waveform chunk in, the bytes HDF5 stores for it out: entropy coding plus Fletcher-32.

:func:`encode_chunk` is what the recorder runs per chunk of ``recorder.chunk_records`` records:
the chunk's samples, Huffman-coded as a zstd frame (:data:`ZSTD`, read by the HDF5 Zstd filter of
hdf5plugin) or a zlib stream (:data:`DEFLATE`, read by HDF5's built-in deflate filter), then,
when the dataset declares HDF5's ``fletcher32`` filter after the compression, its checksum
appended exactly as that filter appends it. The result is written as is with
``write_direct_chunk``; a reader's HDF5 undoes both filters as if it had written the chunk itself.

Samples from ``n_valid`` bytes on are padding (the rows past the end of a dataset in its last
chunk) and must be zero; both formats code them in a few bytes.
"""

from __future__ import annotations

import numpy as np

from daq.kernels import deflate_literals, zstd_literals
from daq.kernels.huffman import append_fletcher32

ZSTD = 1
DEFLATE = 2


def chunk_bound(codec: int, n: int) -> int:
    """The most bytes :func:`encode_chunk` writes for a chunk of ``n`` bytes."""
    body = zstd_literals.frame_bound(n) if codec == ZSTD else deflate_literals.stream_bound(n)
    return body + 4


def scratch_words(codec: int, n: int) -> int:
    """The size of the ``words`` scratch :func:`encode_chunk` needs for chunks of ``n`` bytes."""
    return zstd_literals.scratch_words(n) if codec == ZSTD else deflate_literals.scratch_words(n)


def encode_chunk(src: np.ndarray, n_valid: int, codec: int, fletcher: bool, out: np.ndarray, pairs: np.ndarray,
                 words: np.ndarray) -> int:
    """Encode the uint8 chunk ``src`` into ``out`` (:func:`chunk_bound` bytes); returns the length.

    ``pairs`` (uint64[65536]) and ``words`` (uint32[:func:`scratch_words`]) are scratch, reused
    between calls. ``src`` is not changed. A Python function choosing the codec's compiled kernel, once
    per chunk: compiled itself it would hold both codecs, and a recorder would compile both (a cold
    cache: ~50 s of CPU instead of ~21 for the zstd one alone)."""
    if codec == ZSTD:
        n = zstd_literals.zstd_literals_frame(src, n_valid, out, pairs, words)
    else:
        n = deflate_literals.deflate_literals_stream(src, n_valid, out, pairs, words)
    if fletcher:
        n = append_fletcher32(out, n)
    return n
