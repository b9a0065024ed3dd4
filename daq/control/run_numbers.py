"""Run numbers: one counter file per run directory, taken under a file lock."""

from __future__ import annotations

import fcntl
from pathlib import Path

COUNTER = "last_run_number"


def next_run_number(run_dir: str | Path) -> int:
    """Reserve and return the next run number of ``run_dir`` (1 for a new directory)."""
    d = Path(run_dir)
    d.mkdir(parents=True, exist_ok=True)
    path = d / COUNTER
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        text = f.read().strip()
        last = int(text) if text.isdigit() else 0
        # never reuse a number whose file exists (a counter file lost or edited by hand)
        existing = [int(p.stem.split("_")[1]) for p in d.glob("run_*.h5") if p.stem.split("_")[1].isdigit()]
        number = max([last, *existing]) + 1
        f.seek(0)
        f.truncate()
        f.write(f"{number}\n")
        f.flush()
        fcntl.flock(f, fcntl.LOCK_UN)
    return number
