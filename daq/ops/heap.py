"""Handing freed heap memory back to the system, for the processes that run for months.

The recorder allocates and frees multi-MB chunk and compression buffers of varying sizes.
glibc serves them from the heap (its mmap threshold rises to 32 MB as large blocks are freed),
the heap fragments, and the freed pages between live blocks stay resident: ~120 MB per hour at
600 Hz without any object leaking (docs/performance.md, "Memory"). ``malloc_trim(0)`` returns
every free page of the heap to the system (glibc >= 2.8 releases the middle of the heap too,
not only its top), so calling it after each flush keeps the recorder flat.

The opposite case is a Dask worker: its nanny starts it with ``MALLOC_TRIM_THRESHOLD_=65536``, and
setting any malloc tunable switches glibc's rising mmap threshold off, so every block of records
(a few MB) is mmapped fresh and faulted in page by page: a reprocessing task took 65 % more CPU
(docs/performance.md). :func:`serve_blocks_from_heap` restores heap service for such blocks.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc: nothing to do
        return None
    if trim is not None:
        trim.argtypes = (ctypes.c_size_t,)
        trim.restype = ctypes.c_int
    return trim


_TRIM = _malloc_trim()
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
HEAP_BLOCK_LIMIT = 32 * 1024 * 1024  # glibc's largest mmap threshold on 64-bit systems
TRIM_ABOVE = 256 * 1024 * 1024  # free heap top kept before glibc trims it by itself


def _mallopt() -> Callable[[int, int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        fn = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        return None
    if fn is not None:
        fn.argtypes = (ctypes.c_int, ctypes.c_int)
        fn.restype = ctypes.c_int
    return fn


_MALLOPT = _mallopt()


def serve_blocks_from_heap() -> bool:
    """Serve allocations up to 32 MB from the heap and keep up to 256 MB of its free top, whatever the
    environment set; False if not glibc. Pair with :func:`release_free_memory` when a job ends."""
    if _MALLOPT is None:
        return False
    return bool(_MALLOPT(M_MMAP_THRESHOLD, HEAP_BLOCK_LIMIT)) and bool(_MALLOPT(M_TRIM_THRESHOLD, TRIM_ABOVE))


def release_free_memory() -> bool:
    """Return the heap's free pages to the system; whether any were released (False if not glibc)."""
    return bool(_TRIM(0)) if _TRIM is not None else False
