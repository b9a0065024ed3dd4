"""Handing freed heap memory back to the system, for the processes that run for months.

The recorder allocates and frees multi-MB chunk and compression buffers of varying sizes.
glibc serves them from the heap (its mmap threshold rises to 32 MB as large blocks are freed),
the heap fragments, and the freed pages between live blocks stay resident: ~120 MB per hour at
600 Hz without any object leaking (docs/performance.md, "Memory"). ``malloc_trim(0)`` returns
every free page of the heap to the system (glibc >= 2.8 releases the middle of the heap too,
not only its top), so calling it after each flush keeps the recorder flat.
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


def release_free_memory() -> bool:
    """Return the heap's free pages to the system; whether any were released (False if not glibc)."""
    return bool(_TRIM(0)) if _TRIM is not None else False
