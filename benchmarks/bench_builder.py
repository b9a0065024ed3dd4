"""CPU per trigger of the event builder's stage, taken apart: feature kernels and the SPE calibration.

The builder (``daq.processes.builder``) runs :func:`daq.stages.building.build_batch` on batches of records;
this runs the same on a recorded run's records in batches of 256 (as a ``--speed max`` replay) in one
process and reports CPU time per trigger (``time.process_time``, so other jobs on the host inflate it
less than wall time) of the whole stage and of its parts, beside a memory copy of the same records:

    .venv/bin/python benchmarks/bench_builder.py RUN.h5 [--triggers N] [--repeats 3]
"""

from __future__ import annotations

import argparse
import collections
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import daq.stages.building as building
import daq.stages.calibration as calibration
from daq.config import parse
from daq.runfile.files import open_run

PARTS = {"fit_gain": (calibration, "fit_gain"), "inject": (calibration.SpeCalibrator, "_inject"),
         "shape": (calibration.SpeCalibrator, "_shape"), "calibration (all)": (calibration.SpeCalibrator, "block_done"),
         "feature kernels (all calls)": (building.features, "extract_features")}


def timed(spent: collections.Counter, key: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[key] += time.process_time() - t
    return wrapper


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", help="a recorded run file with raw CsI waveforms")
    ap.add_argument("--triggers", type=int, default=6000, help="records to process (default 6000)")
    ap.add_argument("--repeats", type=int, default=3, help="passes; the fastest is kept (default 3)")
    args = ap.parse_args()
    with open_run(args.run) as f:
        trig = f["triggers"][: args.triggers]
        csi = np.asarray(f["raw/csi"][: args.triggers])
        beam = f["beam"][:]
        cfg = parse(str(f.attrs["config"]))
    spent: collections.Counter = collections.Counter()
    for key, (owner, name) in PARTS.items():
        setattr(owner, name, timed(spent, key, getattr(owner, name)))
    best: tuple[float, dict[str, float]] | None = None
    for _ in range(args.repeats):
        extraction = building.FeatureExtraction(cfg)
        extraction.warm()
        spent.clear()
        t = time.process_time()
        for lo in range(0, len(trig), 256):
            building.build_batch(trig[lo:lo + 256].copy(), csi[lo:lo + 256], beam, cfg.beam.match_window_ns, extraction)
        total = time.process_time() - t
        if best is None or total < best[0]:
            best = (total, dict(spent))
    t = time.process_time()
    for _ in range(args.repeats):
        np.copy(csi)
    copy = (time.process_time() - t) / args.repeats
    assert best is not None
    n = len(trig)
    print(f"{os.uname().machine}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; {n} triggers of "
          f"{args.run} ({csi.nbytes / 1e6:.0f} MB of CsI samples), best of {args.repeats}")
    print(f"{'builder stage (build_batch)':32s} {best[0] / n * 1e6:8.1f} us CPU per trigger   "
          f"({csi.nbytes / best[0] / 1e9:.2f} GB/s of samples)")
    for key, value in best[1].items():
        print(f"  {key:30s} {value / n * 1e6:8.1f} us CPU per trigger")
    print(f"{'memory copy of the records':32s} {copy / n * 1e6:8.1f} us CPU per trigger   "
          f"(builder / copy = {best[0] / max(copy, 1e-12):.0f})")
    print(f"SPE gain at the end: {extraction.calibration.gain:.3f} ADC*sample, window {extraction.calibration.window}")


if __name__ == "__main__":
    main()
