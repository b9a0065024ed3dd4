"""Order-0 entropy coding of raw int8 samples: byte histograms, length-limited Huffman codes, checksums.

The pieces the two chunk encoders share (:mod:`daq.kernels.zstd_literals`,
:mod:`daq.kernels.deflate_literals`): a byte histogram, Huffman code lengths limited to
``max_bits`` (Huffman's algorithm, then the overlong codes folded back as miniz and zlib do),
the canonical codes of both formats, the LSB-first bit writer both formats use, and the two
checksums the files carry: Adler-32 (RFC 1950, the zlib trailer) and HDF5's Fletcher-32 (the
``fletcher32`` filter, appended after the compressed bytes of every chunk).

Every function is a numba kernel over uint8 / int64 arrays; none allocates more than a few
hundred words, none does I/O.
"""

from __future__ import annotations

import numba
import numpy as np

MASK32 = np.uint64(0xFFFFFFFF)


@numba.njit(cache=True, nogil=True)
def byte_histogram(src: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Counts (int64[256]) of the bytes ``src[lo:hi]`` of a uint8 array.

    Eight interleaved histograms: neighbouring equal samples (most of a baseline) do not wait on
    each other's increment."""
    hist = np.zeros(8 * 256, np.int64)
    i = lo
    while i + 8 <= hi:
        for k in range(8):  # unsigned indices: no negative-index wraparound test
            hist[np.uint64(256 * k) + np.uint64(src[np.uint64(i + k)])] += 1
        i += 8
    while i < hi:
        hist[src[i]] += 1
        i += 1
    counts = np.zeros(256, np.int64)
    for s in range(256):
        total = 0
        for k in range(8):
            total += hist[256 * k + s]
        counts[s] = total
    return counts


@numba.njit(cache=True, nogil=True)
def code_lengths(counts: np.ndarray, max_bits: int) -> np.ndarray:
    """Huffman code lengths (int64, 0 for absent symbols) of the symbols with counts > 0, no longer
    than ``max_bits``; the code is complete (Kraft sum exactly 1). Needs at least two symbols present.

    Huffman's two-queue construction on the sorted counts; then, if codes came out longer than
    ``max_bits``, the overlong ones are cut to ``max_bits`` and codes are lengthened from the
    longest allowed length down until the Kraft sum is 1 again, and the lengths are handed out
    to the symbols by falling count (miniz ``tdefl_huffman_enforce_max_code_size``)."""
    n = counts.size
    m = 0
    for i in range(n):
        if counts[i] > 0:
            m += 1
    order = np.argsort(-counts, kind="mergesort")  # most frequent first, ties by symbol
    leaves = order[:m][::-1].copy()  # least frequent first
    weight = np.empty(2 * m, np.int64)
    parent = np.full(2 * m, -1, np.int64)
    for j in range(m):
        weight[j] = counts[leaves[j]]
    next_leaf = 0
    next_node = m
    top = m
    for _ in range(m - 1):
        a = 0
        b = 0
        for s in range(2):
            if next_leaf < m and (next_node >= top or weight[next_leaf] <= weight[next_node]):
                pick = next_leaf
                next_leaf += 1
            else:
                pick = next_node
                next_node += 1
            if s == 0:
                a = pick
            else:
                b = pick
        weight[top] = weight[a] + weight[b]
        parent[a] = top
        parent[b] = top
        top += 1
    depth = np.zeros(2 * m, np.int64)
    for j in range(top - 2, -1, -1):
        depth[j] = depth[parent[j]] + 1
    n_codes = np.zeros(64, np.int64)  # codes per length
    for j in range(m):
        n_codes[min(depth[j], 63)] += 1
    for length in range(max_bits + 1, 64):
        n_codes[max_bits] += n_codes[length]
        n_codes[length] = 0
    total = 0
    for length in range(1, max_bits + 1):
        total += n_codes[length] << (max_bits - length)
    while total != (1 << max_bits):
        n_codes[max_bits] -= 1
        for length in range(max_bits - 1, 0, -1):
            if n_codes[length]:
                n_codes[length] -= 1
                n_codes[length + 1] += 2
                break
        total -= 1
    lengths = np.zeros(n, np.int64)
    j = 0
    for length in range(1, max_bits + 1):
        for _ in range(n_codes[length]):
            lengths[order[j]] = length
            j += 1
    return lengths


@numba.njit(cache=True, nogil=True)
def reverse_bits(code: int, length: int) -> int:
    r = 0
    for _ in range(length):
        r = (r << 1) | (code & 1)
        code >>= 1
    return r


@numba.njit(cache=True, nogil=True)
def deflate_codes(lengths: np.ndarray) -> np.ndarray:
    """Canonical deflate codes (RFC 1951 3.2.2: shorter codes first, then by symbol), bit-reversed
    for an LSB-first bit writer."""
    n = lengths.size
    bl_count = np.zeros(16, np.int64)
    for i in range(n):
        bl_count[lengths[i]] += 1
    bl_count[0] = 0
    next_code = np.zeros(16, np.int64)
    code = 0
    for bits in range(1, 16):
        code = (code + bl_count[bits - 1]) << 1
        next_code[bits] = code
    out = np.zeros(n, np.int64)
    for i in range(n):
        if lengths[i]:
            out[i] = reverse_bits(next_code[lengths[i]], lengths[i])
            next_code[lengths[i]] += 1
    return out


@numba.njit(cache=True, nogil=True)
def zstd_codes(lengths: np.ndarray) -> np.ndarray:
    """Huff0 codes (RFC 8878 4.2.1.3: longest codes first, then by symbol, counting up), as the
    values an LSB-first writer stores for a decoder that reads the stream backwards."""
    n = lengths.size
    longest = 0
    for i in range(n):
        longest = max(longest, lengths[i])
    out = np.zeros(n, np.int64)
    u = 0  # position in the decoding table of 2**longest entries
    for length in range(longest, 0, -1):
        for i in range(n):
            if lengths[i] == length:
                out[i] = u >> (longest - length)
                u += 1 << (longest - length)
    return out


@numba.njit(cache=True, nogil=True)
def adler32(src: np.ndarray, lo: int, hi: int, value: int = 1) -> int:
    """Adler-32 (RFC 1950) of ``src[lo:hi]``, continuing from ``value``.

    Per block of L bytes b_k: s1 += sum b_k, s2 += L * s1 + sum (L - k) b_k, a loop without a
    carried dependency (it vectorises); int64 sums cannot overflow for L = 2**16."""
    s1 = value & 0xFFFF
    s2 = (value >> 16) & 0xFFFF
    i = lo
    while i < hi:
        stop = min(hi, i + 65536)
        length = stop - i
        t1 = 0
        t2 = 0
        for k in range(length):
            b = np.int64(src[np.uint64(i + k)])
            t1 += b
            t2 += (length - k) * b
        s2 = (s2 + length * s1 + t2) % 65521
        s1 = (s1 + t1) % 65521
        i = stop
    return (s2 << 16) | s1


@numba.njit(cache=True, nogil=True)
def fletcher32(data: np.ndarray, n: int) -> int:
    """HDF5's Fletcher-32 (H5_checksum_fletcher32) of the first ``n`` bytes of ``data``: 16-bit
    big-endian words, both sums folded every 360 words; an odd last byte is the high half of a word."""
    sum1 = np.uint32(0)
    sum2 = np.uint32(0)
    words = n // 2
    i = 0
    while words:
        t = min(words, 360)
        words -= t
        for k in range(t):
            j = np.uint64(i + 2 * k)  # unsigned: no negative-index wraparound test
            sum1 += (np.uint32(data[j]) << np.uint32(8)) | np.uint32(data[j + np.uint64(1)])
            sum2 += sum1
        i += 2 * t
        sum1 = (sum1 & np.uint32(0xFFFF)) + (sum1 >> np.uint32(16))
        sum2 = (sum2 & np.uint32(0xFFFF)) + (sum2 >> np.uint32(16))
    if n % 2:
        sum1 += np.uint32(data[n - 1]) << np.uint32(8)
        sum2 += sum1
        sum1 = (sum1 & np.uint32(0xFFFF)) + (sum1 >> np.uint32(16))
        sum2 = (sum2 & np.uint32(0xFFFF)) + (sum2 >> np.uint32(16))
    sum1 = (sum1 & np.uint32(0xFFFF)) + (sum1 >> np.uint32(16))
    sum2 = (sum2 & np.uint32(0xFFFF)) + (sum2 >> np.uint32(16))
    return int((sum2 << np.uint32(16)) | sum1)


@numba.njit(cache=True, nogil=True)
def append_fletcher32(out: np.ndarray, n: int) -> int:
    """Append the Fletcher-32 of ``out[:n]`` as HDF5's filter stores it (little-endian); returns n + 4."""
    f = fletcher32(out, n)
    for k in range(4):
        out[n + k] = (f >> (8 * k)) & 0xFF
    return n + 4


@numba.njit(cache=True, nogil=True)
def put_le(out: np.ndarray, pos: int, value: int, n_bytes: int) -> int:
    """Write ``value`` little-endian in ``n_bytes`` at ``out[pos]``; returns the position after it."""
    for k in range(n_bytes):
        out[pos + k] = (value >> (8 * k)) & 0xFF
    return pos + n_bytes


@numba.njit(cache=True, nogil=True)
def pair_table(codes: np.ndarray, lengths: np.ndarray, present: np.ndarray, n_present: int, table: np.ndarray,
               backwards: bool) -> None:
    """Fill ``table`` (uint64[65536]) for the byte pairs of the present symbols: the two codes
    concatenated in the low 32 bits, their total length in the high 32 bits. Pair ``a | b << 8`` is
    the bytes a, b in memory order; ``backwards`` (Huff0) encodes b before a. Entries of absent
    symbols are left as they are (never looked up)."""
    for ia in range(n_present):
        a = present[ia]
        for ib in range(n_present):
            b = present[ib]
            if backwards:
                bits = np.uint64(codes[b]) | (np.uint64(codes[a]) << np.uint64(lengths[b]))
            else:
                bits = np.uint64(codes[a]) | (np.uint64(codes[b]) << np.uint64(lengths[a]))
            table[a | (b << 8)] = bits | (np.uint64(lengths[a] + lengths[b]) << np.uint64(32))


@numba.njit(cache=True, nogil=True)
def present_symbols(counts: np.ndarray) -> tuple[np.ndarray, int]:
    present = np.empty(256, np.int64)
    n = 0
    for s in range(256):
        if counts[s] > 0:
            present[n] = s
            n += 1
    return present, n
