"""Zstandard frames of Huffman-coded literals only (RFC 8878): raw samples at their order-0 entropy,
decoded by any zstd (the HDF5 Zstd filter of ``hdf5plugin``, id 32015) at GB/s.

The records are close to white noise, so matches (LZ77) buy nothing and cost bits: a zstd
compressor spends them on 5-byte repeats of a noisy baseline. This encoder writes what zstd
would if it found no match: per block of 128 KiB a *compressed literals* section (one Huffman
code per block, four streams, RFC 8878 3.1.1.3.1) and an empty sequences section. Blocks with a
single byte value become RLE blocks, blocks that do not shrink raw blocks, and the zero padding
of a partial chunk (rows past the dataset's end) RLE blocks of a few bytes.

The Huffman tree description is either the direct form (4-bit weights, when the largest byte
value is at most 128) or FSE-compressed weights (accuracy log 6, two interleaved states:
RFC 8878 4.1 and 4.2.1.2), whichever is shorter. The frame header stores the content size, which
the HDF5 filter needs to size its output.
"""

from __future__ import annotations

import numba
import numpy as np

from daq.kernels.huffman import MASK32, byte_histogram, code_lengths, pair_table, present_symbols, put_le, zstd_codes

BLOCK = 1 << 17  # the largest block zstd allows (128 KiB)
MAX_BITS = 11  # the longest Huff0 code (RFC 8878 4.2.1)
FSE_LOG = 6  # accuracy log of the FSE table of the Huffman weights
MAGIC = 0xFD2FB528
MIN_HUFFMAN_BLOCK = 64  # shorter blocks are stored raw


def frame_bound(n: int) -> int:
    """The most bytes :func:`zstd_literals_frame` writes for a chunk of ``n`` bytes."""
    return n + 3 * (n // BLOCK + 2) + 16


def scratch_words(n: int) -> int:
    """uint32 words of stream scratch a chunk of ``n`` bytes needs (four streams of one block)."""
    block = min(n, BLOCK)
    return (block * MAX_BITS) // 32 + 64


@numba.njit(cache=True, nogil=True)
def _highbit(x: int) -> int:
    r = -1
    while x:
        x >>= 1
        r += 1
    return r


@numba.njit(cache=True, nogil=True)
def _fse_weights(weights: np.ndarray, n: int, out: np.ndarray, pos: int) -> int:
    """The FSE-compressed Huffman weights ``weights[:n]`` with their header byte at ``out[pos]``;
    returns the bytes written, or 0 if they cannot be written that way (fewer than three weights,
    a single weight value, or 128 bytes or more)."""
    if n < 3:
        return 0
    size = 1 << FSE_LOG
    cnt = np.zeros(16, np.int64)
    for i in range(n):
        cnt[weights[i]] += 1
    maxw = 0
    distinct = 0
    for s in range(16):
        if cnt[s]:
            maxw = s
            distinct += 1
    if distinct < 2:
        return 0
    norm = np.zeros(16, np.int64)
    total = 0
    for s in range(maxw + 1):
        if cnt[s]:
            norm[s] = max(1, (cnt[s] * size + n // 2) // n)
            total += norm[s]
    while total != size:
        best = 0
        for s in range(maxw + 1):
            if total > size:
                if norm[s] > norm[best]:
                    best = s
            elif cnt[s] > cnt[best]:
                best = s
        norm[best] += 1 if total < size else -1
        total += 1 if total < size else -1

    buf = np.zeros(160, np.uint8)  # header byte, table description, bit stream; < 128 bytes or given up
    o = 1
    # table description (FSE_writeNCount)
    stream = 0
    nbits_used = 0
    stream += (FSE_LOG - 5) << nbits_used
    nbits_used += 4
    remaining = size + 1
    threshold = size
    nb = FSE_LOG + 1
    symbol = 0
    previous0 = False
    while symbol <= maxw and remaining > 1:
        if previous0:
            start = symbol
            while norm[symbol] == 0:
                symbol += 1
            while symbol >= start + 24:
                start += 24
                stream += 0xFFFF << nbits_used
                buf[o] = stream & 0xFF
                buf[o + 1] = (stream >> 8) & 0xFF
                o += 2
                stream >>= 16
            while symbol >= start + 3:
                start += 3
                stream += 3 << nbits_used
                nbits_used += 2
            stream += (symbol - start) << nbits_used
            nbits_used += 2
            if nbits_used > 16:
                buf[o] = stream & 0xFF
                buf[o + 1] = (stream >> 8) & 0xFF
                o += 2
                stream >>= 16
                nbits_used -= 16
        count = norm[symbol]
        symbol += 1
        top = (2 * threshold - 1) - remaining
        remaining -= count
        count += 1
        if count >= threshold:
            count += top
        stream += count << nbits_used
        nbits_used += nb
        if count < top:
            nbits_used -= 1
        previous0 = count == 1
        while remaining < threshold:
            nb -= 1
            threshold >>= 1
        if nbits_used > 16:
            buf[o] = stream & 0xFF
            buf[o + 1] = (stream >> 8) & 0xFF
            o += 2
            stream >>= 16
            nbits_used -= 16
    buf[o] = stream & 0xFF
    buf[o + 1] = (stream >> 8) & 0xFF
    o += (nbits_used + 7) // 8

    # encoding table (FSE_buildCTable)
    cumul = np.zeros(18, np.int64)
    for u in range(1, maxw + 2):
        cumul[u] = cumul[u - 1] + norm[u - 1]
    table_symbol = np.zeros(size, np.int64)
    step = (size >> 1) + (size >> 3) + 3
    position = 0
    for s in range(maxw + 1):
        for _ in range(norm[s]):
            table_symbol[position] = s
            position = (position + step) & (size - 1)
    state_table = np.zeros(size, np.int64)
    for u in range(size):
        s = table_symbol[u]
        state_table[cumul[s]] = size + u
        cumul[s] += 1
    delta_bits = np.zeros(16, np.int64)
    delta_state = np.zeros(16, np.int64)
    running = 0
    for s in range(maxw + 1):
        c = norm[s]
        if c == 1:
            delta_bits[s] = (FSE_LOG << 16) - size
            delta_state[s] = running - 1
            running += 1
        elif c > 1:
            max_out = FSE_LOG - _highbit(c - 1)
            delta_bits[s] = (max_out << 16) - (c << max_out)
            delta_state[s] = running - c
            running += c

    # the weights, last first, alternating two states (FSE_compress_usingCTable); the decoder reads
    # them backwards, state 1 first
    acc = 0
    acc_bits = 0
    states = np.zeros(2, np.int64)
    for k in range(2):  # the last two weights set the states the decoder ends in (FSE_initCState2)
        s = weights[n - 1 - k]
        out_bits = (delta_bits[s] + (1 << 15)) >> 16
        value = (out_bits << 16) - delta_bits[s]
        states[(n - 1 - k) % 2] = state_table[(value >> out_bits) + delta_state[s]]
    i = n - 2
    while i > 0:
        i -= 1
        k = i % 2  # weight i belongs to state 1 (index 0) if i is even
        s = weights[i]
        out_bits = (states[k] + delta_bits[s]) >> 16
        acc |= (states[k] & ((1 << out_bits) - 1)) << acc_bits
        acc_bits += out_bits
        states[k] = state_table[(states[k] >> out_bits) + delta_state[s]]
        while acc_bits >= 8:
            if o >= 128:
                return 0
            buf[o] = acc & 0xFF
            o += 1
            acc >>= 8
            acc_bits -= 8
    for k in (1, 0):  # state 2, then state 1 (read first)
        acc |= (states[k] & (size - 1)) << acc_bits
        acc_bits += FSE_LOG
        while acc_bits >= 8:
            if o >= 128:
                return 0
            buf[o] = acc & 0xFF
            o += 1
            acc >>= 8
            acc_bits -= 8
    acc |= 1 << acc_bits  # end mark
    acc_bits += 1
    while acc_bits > 0:
        if o >= 128:
            return 0
        buf[o] = acc & 0xFF
        o += 1
        acc >>= 8
        acc_bits -= 8
    if o - 1 >= 128:
        return 0
    buf[0] = o - 1
    for k in range(o):
        out[pos + k] = buf[k]
    return o


@numba.njit(cache=True, nogil=True)
def _tree_description(lengths: np.ndarray, out: np.ndarray, pos: int) -> int:
    """The Huffman tree description of ``lengths`` at ``out[pos]``; returns its size, 0 if it has none."""
    longest = np.int64(0)  # typed, not a literal 0: numba compiles a callee once per literal argument
    max_symbol = np.int64(0)
    for s in range(256):
        if lengths[s]:
            max_symbol = s
            longest = max(longest, lengths[s])
    weights = np.zeros(256, np.int64)
    for s in range(max_symbol):  # the last symbol's weight is implied
        if lengths[s]:
            weights[s] = longest + 1 - lengths[s]
    n = _fse_weights(weights, max_symbol, out, pos)
    direct = 1 + (max_symbol + 1) // 2
    if max_symbol <= 128 and (n == 0 or direct < n):
        out[pos] = 127 + max_symbol
        for k in range((max_symbol + 1) // 2):
            hi = weights[2 * k]
            lo = weights[2 * k + 1] if 2 * k + 1 < max_symbol else 0
            out[pos + 1 + k] = (hi << 4) | lo
        return direct
    return n


@numba.njit(cache=True, nogil=True)
def _stream(src: np.ndarray, src16: np.ndarray, a: int, b: int, codes: np.ndarray, lengths: np.ndarray,
            pairs: np.ndarray, words: np.ndarray, w0: int) -> int:
    """One Huff0 stream of ``src[a:b]`` into ``words[w0:]``: the bytes last to first, LSB first, then
    the end mark; returns its length in bytes. ``src16`` is ``src`` as uint16 (empty if ``src``
    has an odd length): byte pairs at even offsets are read from it in one load."""
    buf = np.uint64(0)
    nbits = np.uint64(0)
    w = w0
    j = b
    if (b - a) % 2:
        s = src[b - 1]
        buf = np.uint64(codes[s])
        nbits = np.uint64(lengths[s])
        j = b - 1
    # byte pairs backwards; nbits < 32 before a pair, < 54 after: store the low word, keep the rest
    if j % 2 == 0 and src16.size > 0:  # pairs at even offsets: one uint16 load each
        for i in range((j >> 1) - 1, (a >> 1) - 1, -1):
            e = pairs[src16[np.uint64(i)]]  # an unsigned index: no negative-index wraparound test
            buf |= (e & MASK32) << nbits
            nbits += e >> np.uint64(32)
            words[np.uint64(w)] = np.uint32(buf & MASK32)
            full = nbits >> np.uint64(5)
            w += np.int64(full)
            buf >>= full << np.uint64(5)
            nbits -= full << np.uint64(5)
    else:
        while j - 2 >= a:
            e = pairs[np.int64(src[j - 2]) | (np.int64(src[j - 1]) << 8)]
            buf |= (e & MASK32) << nbits
            nbits += e >> np.uint64(32)
            words[w] = np.uint32(buf & MASK32)
            full = nbits >> np.uint64(5)
            w += np.int64(full)
            buf >>= full << np.uint64(5)
            nbits -= full << np.uint64(5)
            j -= 2
    buf |= np.uint64(1) << nbits
    nbits += np.uint64(1)
    total = 4 * (w - w0) + (np.int64(nbits) + 7) // 8
    while nbits > 0:
        words[w] = np.uint32(buf & MASK32)
        w += 1
        buf >>= np.uint64(32)
        nbits = nbits - np.uint64(32) if nbits > 32 else np.uint64(0)
    return total


@numba.njit(cache=True, nogil=True)
def _copy_words(words: np.ndarray, w0: int, n_bytes: int, out: np.ndarray, pos: int) -> int:
    out[pos:pos + n_bytes] = words.view(np.uint8)[4 * w0:4 * w0 + n_bytes]
    return pos + n_bytes


@numba.njit(cache=True, nogil=True)
def _raw_block(src: np.ndarray, lo: int, hi: int, last: bool, out: np.ndarray, pos: int) -> int:
    pos = put_le(out, pos, int(last) | (0 << 1) | ((hi - lo) << 3), 3)
    out[pos:pos + hi - lo] = src[lo:hi]
    return pos + hi - lo


@numba.njit(cache=True, nogil=True)
def _rle_block(value: int, n: int, last: bool, out: np.ndarray, pos: int) -> int:
    pos = put_le(out, pos, int(last) | (1 << 1) | (n << 3), 3)
    out[pos] = value
    return pos + 1


@numba.njit(cache=True, nogil=True)
def _block(src: np.ndarray, src16: np.ndarray, lo: int, hi: int, last: bool, out: np.ndarray, pos: int,
           pairs: np.ndarray, words: np.ndarray) -> int:
    """One block of ``src[lo:hi]`` (at most BLOCK bytes) at ``out[pos]``; returns the position after it."""
    n = hi - lo
    counts = byte_histogram(src, lo, hi)
    present, n_present = present_symbols(counts)
    if n_present == 1:
        return _rle_block(present[0], n, last, out, pos)
    if n < MIN_HUFFMAN_BLOCK:
        return _raw_block(src, lo, hi, last, out, pos)
    lengths = code_lengths(counts, np.int64(MAX_BITS))
    codes = zstd_codes(lengths)
    tree = pos + 3 + 5  # after the block header and the literals section header
    n_tree = _tree_description(lengths, out, tree)
    if n_tree == 0:
        return _raw_block(src, lo, hi, last, out, pos)
    pair_table(codes, lengths, present, n_present, pairs, True)
    seg = (n + 3) // 4
    sizes = np.zeros(4, np.int64)
    starts = np.zeros(4, np.int64)
    w = 0
    for k in range(4):
        a = lo + k * seg
        b = min(hi, a + seg) if k < 3 else hi
        starts[k] = w
        sizes[k] = _stream(src, src16, a, b, codes, lengths, pairs, words, w)
        w += (sizes[k] + 3) // 4 + 1
    literals = n_tree + 6 + sizes.sum()  # tree, jump table, streams
    block_size = 5 + literals + 1  # literals header, literals, sequences header
    if block_size >= n or sizes[0] > 0xFFFF or sizes[1] > 0xFFFF or sizes[2] > 0xFFFF:
        return _raw_block(src, lo, hi, last, out, pos)
    pos = put_le(out, pos, int(last) | (2 << 1) | (block_size << 3), 3)
    pos = put_le(out, pos, 2 | (3 << 2) | (n << 4) | (literals << 22), 5)
    pos += n_tree
    for k in range(3):
        pos = put_le(out, pos, sizes[k], 2)
    for k in range(4):
        pos = _copy_words(words, starts[k], sizes[k], out, pos)
    out[pos] = 0  # no sequences: the block is its literals
    return pos + 1


@numba.njit(cache=True, nogil=True)
def zstd_literals_frame(src: np.ndarray, n_valid: int, out: np.ndarray, pairs: np.ndarray,
                        words: np.ndarray) -> int:
    """A zstd frame of the uint8 chunk ``src`` into ``out`` (:func:`frame_bound` bytes); returns its length.

    Bytes from ``n_valid`` on are padding (zeros, rows past the end of the dataset) and are written
    as RLE blocks; pass ``n_valid = src.size`` for a full chunk. ``pairs`` (uint64[65536]) and
    ``words`` (uint32[:func:`scratch_words`]) are scratch, reused between calls."""
    n = src.size
    pos = put_le(out, 0, MAGIC, 4)
    out[pos] = (2 << 6) | (1 << 5)  # 4-byte content size, single segment (window = content), no checksum
    pos = put_le(out, pos + 1, n, 4)
    if n == 0:
        return _raw_block(src, n, n, n == 0, out, pos)  # variables, not literals: one specialization
    src16 = src.view(np.uint16) if n % 2 == 0 else np.empty(0, np.uint16)
    lo = np.int64(0)  # not a literal 0, which would compile _block a second time
    while lo < n:
        if lo < n_valid:
            hi = min(lo + BLOCK, n_valid)
            pos = _block(src, src16, lo, hi, hi == n, out, pos, pairs, words)
        else:
            hi = min(lo + BLOCK, n)
            pos = _rle_block(0, hi - lo, hi == n, out, pos)
        lo = hi
    return pos
