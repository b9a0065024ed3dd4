"""daq.ops.heap: the recorder hands freed heap pages back to the system after each flush."""

from __future__ import annotations

import json
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
