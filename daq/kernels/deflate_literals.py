"""zlib streams of Huffman-coded literals only (RFC 1950/1951): raw samples at their order-0 entropy,
read by HDF5's built-in deflate filter (plain h5py, no plugin).

One dynamic-Huffman deflate block of literals and end-of-block (no LZ77 matches: on white noise
they cost more than they save) per chunk, codes limited to 15 bits. The zero padding of a
partial chunk (rows past the dataset's end) is a second, fixed-Huffman block of a zero and
length-258 matches at distance 1: 13 bits per 258 bytes. A chunk that does not shrink becomes
stored blocks. The trailer is the Adler-32 of the whole chunk, padding included.

The inflate side (zlib) reads these at ~250-300 MB/s of samples, a quarter of what the zstd
form of the same code reads at (:mod:`daq.kernels.zstd_literals`); it is the codec for readers
that have h5py and nothing else.
"""

from __future__ import annotations

import numba
import numpy as np

from daq.kernels.huffman import (
    MASK32,
    adler32,
    byte_histogram,
    code_lengths,
    deflate_codes,
    pair_table,
    present_symbols,
    put_le,
    reverse_bits,
)

MAX_BITS = 15
STORED = 65535  # the longest stored block
CL_ORDER = np.array([16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15], np.int64)
LENGTH_BASE = np.array([3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115,
                        131, 163, 195, 227, 258], np.int64)
LENGTH_EXTRA = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0],
                        np.int64)


def stream_bound(n: int) -> int:
    """The most bytes :func:`deflate_literals_stream` writes for a chunk of ``n`` bytes."""
    return n + 5 * (n // STORED + 1) + 16


def scratch_words(n: int) -> int:
    """uint32 words of bit-stream scratch a chunk of ``n`` bytes needs (15 bits a byte at worst)."""
    return (n * MAX_BITS) // 32 + 256


@numba.njit(cache=True, nogil=True)
def _put(words: np.ndarray, w: int, buf: np.uint64, nbits: np.uint64, value: int, n: int
         ) -> tuple[int, np.uint64, np.uint64]:
    """Append ``n`` (<= 32) bits of ``value``, LSB first."""
    if nbits >= 32:
        words[w] = np.uint32(buf & MASK32)
        w += 1
        buf >>= np.uint64(32)
        nbits -= np.uint64(32)
    buf |= np.uint64(value) << nbits
    nbits += np.uint64(n)
    return w, buf, nbits


@numba.njit(cache=True, nogil=True)
def _fixed_code(out_words: np.ndarray, w: int, buf: np.uint64, nbits: np.uint64, symbol: int
                ) -> tuple[int, np.uint64, np.uint64]:
    """A literal/length symbol in the fixed Huffman code (RFC 1951 3.2.6)."""
    if symbol < 144:
        return _put(out_words, w, buf, nbits, reverse_bits(0x30 + symbol, 8), 8)
    if symbol < 256:
        return _put(out_words, w, buf, nbits, reverse_bits(0x190 + symbol - 144, 9), 9)
    if symbol < 280:
        return _put(out_words, w, buf, nbits, reverse_bits(symbol - 256, 7), 7)
    return _put(out_words, w, buf, nbits, reverse_bits(0xC0 + symbol - 280, 8), 8)


@numba.njit(cache=True, nogil=True)
def _zero_run(words: np.ndarray, w: int, buf: np.uint64, nbits: np.uint64, n: int
              ) -> tuple[int, np.uint64, np.uint64]:
    """A final fixed-Huffman block of ``n`` zero bytes: a literal zero, then matches at distance 1."""
    w, buf, nbits = _put(words, w, buf, nbits, 1 | (1 << 1), 3)  # BFINAL, BTYPE = 01 (fixed)
    w, buf, nbits = _fixed_code(words, w, buf, nbits, 0)
    left = n - 1
    while left > 0:
        if left < 3:
            w, buf, nbits = _fixed_code(words, w, buf, nbits, 0)
            left -= 1
            continue
        length = min(left, 258)
        if 0 < left - length < 3:  # leave a tail of 3 or more, one more match
            length -= 3
        k = 28
        while LENGTH_BASE[k] > length:
            k -= 1
        w, buf, nbits = _fixed_code(words, w, buf, nbits, 257 + k)
        if LENGTH_EXTRA[k]:
            w, buf, nbits = _put(words, w, buf, nbits, length - LENGTH_BASE[k], LENGTH_EXTRA[k])
        w, buf, nbits = _put(words, w, buf, nbits, 0, 5)  # distance code 0: distance 1
        left -= length
    return _fixed_code(words, w, buf, nbits, 256)


@numba.njit(cache=True, nogil=True)
def _huffman_block(src: np.ndarray, n_valid: int, final: bool, words: np.ndarray, pairs: np.ndarray
                   ) -> tuple[int, np.uint64, np.uint64]:
    """zlib header + a dynamic-Huffman block of the literals ``src[:n_valid]`` (and end-of-block)."""
    counts = np.zeros(257, np.int64)
    counts[:256] = byte_histogram(src, np.int64(0), n_valid)
    counts[256] = 1  # end of block
    lit_len = code_lengths(counts, np.int64(MAX_BITS))
    lit_code = deflate_codes(lit_len)
    # the 257 literal/length code lengths and one distance code length of 0, zero runs as 17 / 18
    seq = np.zeros(258, np.int64)
    seq[:257] = lit_len
    syms = np.zeros(258, np.int64)
    extra = np.zeros(258, np.int64)
    n_syms = 0
    j = 0
    while j < 258:
        if seq[j] == 0:
            run = 1
            while j + run < 258 and seq[j + run] == 0 and run < 138:
                run += 1
            if run >= 3:
                syms[n_syms] = 18 if run >= 11 else 17
                extra[n_syms] = run - 11 if run >= 11 else run - 3
                n_syms += 1
                j += run
                continue
        syms[n_syms] = seq[j]
        n_syms += 1
        j += 1
    cl_counts = np.zeros(19, np.int64)
    for k in range(n_syms):
        cl_counts[syms[k]] += 1
    used = 0
    for k in range(19):
        used += cl_counts[k] > 0
    if used < 2:  # a code needs two symbols
        cl_counts[0 if cl_counts[0] == 0 else 1] += 1
    cl_len = code_lengths(cl_counts, np.int64(7))
    cl_code = deflate_codes(cl_len)
    hclen = 19
    while hclen > 4 and cl_len[CL_ORDER[hclen - 1]] == 0:
        hclen -= 1
    # zlib header 0x78 0x01; BFINAL, BTYPE = 10 (dynamic), HLIT = 257 - 257, HDIST = 1 - 1, HCLEN
    buf = np.uint64(0x0178) | (np.uint64(int(final) | (2 << 1)) << np.uint64(16)) | (
        np.uint64(hclen - 4) << np.uint64(29))
    nbits = np.uint64(33)
    w = 0
    for k in range(hclen):
        w, buf, nbits = _put(words, w, buf, nbits, cl_len[CL_ORDER[k]], 3)
    for k in range(n_syms):
        s = syms[k]
        w, buf, nbits = _put(words, w, buf, nbits, cl_code[s], cl_len[s])
        if s == 17:
            w, buf, nbits = _put(words, w, buf, nbits, extra[k], 3)
        elif s == 18:
            w, buf, nbits = _put(words, w, buf, nbits, extra[k], 7)
    present, n_present = present_symbols(counts[:256])
    pair_table(lit_code, lit_len, present, n_present, pairs, False)
    if nbits >= 32:
        words[w] = np.uint32(buf & MASK32)
        w += 1
        buf >>= np.uint64(32)
        nbits -= np.uint64(32)
    src16 = src[:n_valid - n_valid % 2].view(np.uint16)
    for i in range(src16.size):  # nbits < 32 before a pair, < 62 after; store the low word, keep the rest
        e = pairs[src16[i]]
        buf |= (e & MASK32) << nbits
        nbits += e >> np.uint64(32)
        words[np.uint64(w)] = np.uint32(buf & MASK32)  # unsigned: no negative-index wraparound test
        full = nbits >> np.uint64(5)
        w += np.int64(full)
        buf >>= full << np.uint64(5)
        nbits -= full << np.uint64(5)
    if n_valid % 2:
        a = src[n_valid - 1]
        w, buf, nbits = _put(words, w, buf, nbits, lit_code[a], lit_len[a])
    return _put(words, w, buf, nbits, lit_code[256], lit_len[256])


@numba.njit(cache=True, nogil=True)
def _stored(src: np.ndarray, out: np.ndarray) -> int:
    """zlib header + stored blocks of all of ``src``; returns the position after them."""
    n = src.size
    out[0] = 0x78
    out[1] = 0x01
    pos = 2
    lo = 0
    while True:
        hi = min(n, lo + STORED)
        out[pos] = 1 if hi == n else 0  # BFINAL, BTYPE = 00, rest of the byte zero
        pos = put_le(out, pos + 1, hi - lo, 2)
        pos = put_le(out, pos, (hi - lo) ^ 0xFFFF, 2)
        out[pos:pos + hi - lo] = src[lo:hi]
        pos += hi - lo
        lo = hi
        if lo >= n:
            return pos


@numba.njit(cache=True, nogil=True)
def deflate_literals_stream(src: np.ndarray, n_valid: int, out: np.ndarray, pairs: np.ndarray,
                            words: np.ndarray) -> int:
    """A zlib stream of the uint8 chunk ``src`` into ``out`` (:func:`stream_bound` bytes); returns its length.

    Bytes from ``n_valid`` on are padding (zeros, rows past the end of the dataset); pass
    ``n_valid = src.size`` for a full chunk. ``pairs`` (uint64[65536]) and ``words``
    (uint32[:func:`scratch_words`]) are scratch, reused between calls."""
    n = src.size
    if n_valid < 2:
        pos = _stored(src, out)
    else:
        w, buf, nbits = _huffman_block(src, n_valid, n_valid == n, words, pairs)
        if n_valid < n:
            w, buf, nbits = _zero_run(words, w, buf, nbits, n - n_valid)
        total = 4 * w + (np.int64(nbits) + 7) // 8
        if total > n + 8:  # stored blocks are shorter
            pos = _stored(src, out)
        else:
            while nbits > 0:
                words[w] = np.uint32(buf & MASK32)
                w += 1
                buf >>= np.uint64(32)
                nbits = nbits - np.uint64(32) if nbits > 32 else np.uint64(0)
            out[:total] = words.view(np.uint8)[:total]
            pos = total
    a = adler32(src, 0, n, 1)
    for k in range(4):
        out[pos + k] = (a >> (8 * (3 - k))) & 0xFF  # big-endian
    return pos + 4
