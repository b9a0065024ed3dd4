"""Run numbers: one counter file per run directory, advanced under a file lock, replaced atomically.

The counter is never truncated in place: the new number goes to a temporary file that replaces
the counter only once written and synced, so a full disk or an unwritable directory refuses the
start (an OSError) and leaves the counter as it was.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

COUNTER = "last_run_number"


def next_run_number(run_dir: str | Path) -> int:
    """Reserve and return the next run number of ``run_dir`` (1 for a new directory)."""
    d = Path(run_dir)
    d.mkdir(parents=True, exist_ok=True)
    path = d / COUNTER
    with open(d / f"{COUNTER}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            text = ""
        last = int(text) if text.isdigit() else 0
        # never reuse a number whose file exists (a counter file lost or edited by hand)
        existing = [int(p.stem.split("_")[1]) for p in d.glob("run_*.h5") if p.stem.split("_")[1].isdigit()]
        number = max([last, *existing]) + 1
        tmp = d / f".{COUNTER}.{os.getpid()}"
        try:
            with open(tmp, "w") as f:
                f.write(f"{number}\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    return number
