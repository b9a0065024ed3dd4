"""daq.ops.heap: the recorder hands freed heap pages back to the system after each flush."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = """
import ctypes, json
from daq.ops.heap import release_free_memory

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
libc.mallopt(-3, 64 << 20)  # M_MMAP_THRESHOLD: blocks up to 64 MB from the heap, as after a few large frees

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

# a fragmented heap: 400 blocks of 500 kB, each written, then all freed except every 50th
blocks = [libc.malloc(500_000) for _ in range(400)]
for b in blocks:
    ctypes.memset(b, 1, 500_000)
for i, b in enumerate(blocks):
    if i % 50:
        libc.free(b)
before = rss_mb()
released = release_free_memory()
print(json.dumps({"released": released, "before": before, "after": rss_mb()}))
"""


def test_freed_pages_between_live_blocks_go_back_to_the_system() -> None:
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    freed_mb = 392 * 500_000 / 2**20
    assert out["released"] is True
    assert out["before"] - out["after"] > 0.8 * freed_mb, out


BLOCKS = """
import json, resource, sys
import numpy as np
from daq.ops.heap import serve_blocks_from_heap

if sys.argv[1] == "heap":
    assert serve_blocks_from_heap()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(200):  # what a reprocessing task does per block of records: a fresh 4.5 MB array, filled
    a = np.empty(4_500_000, np.uint8)
    a.fill(1)
    del a
print(json.dumps({"faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults}))
"""


def test_a_dask_workers_malloc_setting_no_longer_maps_every_block_afresh() -> None:
    """Under MALLOC_TRIM_THRESHOLD_=65536 (a Dask nanny's default) each 4.5 MB block is mmapped and
    faulted in again (~1100 pages each); served from the heap, the pages are faulted in once."""
    # numpy's transparent-huge-page advice would make the count depend on free huge pages: off, 4 kB pages
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536", "NUMPY_MADVISE_HUGEPAGE": "0"}
    faults = {}
    for mode in ("env", "heap"):
        out = subprocess.run([sys.executable, "-c", BLOCKS, mode], capture_output=True, text=True, check=True,
                             env=env).stdout
        faults[mode] = json.loads(out)["faults"]
    pages_per_block = 4_500_000 // 4096
    assert faults["env"] > 100 * pages_per_block  # the cost this guards against is real here
    assert faults["heap"] < 5 * pages_per_block
