"""Trigger-to-screen latency: from a trigger's digitizer time to the moment the GUI's model holds it.

A script, not a test. For each speed (1 = the 60 Hz of the SNS; 10 = ten times the trigger rate),
a real ``sevens daq --simulate`` runs with private ipc endpoints, and this process runs the GUI's
own monitor-stream thread (:class:`monitor.stream.StreamLoop`) into a :class:`MonitorModel`. The
digitizer time of trigger ``i`` is, in wall-clock terms, when the simulated digitizer made it:
``armed_ns + i / (rep_rate_hz * speed)`` (the reader's start of run says when it armed the
digitizer). The latency of a trigger is the wall time at which ``MonitorModel.ingest`` returned
with it, minus that. It covers the reader's batching (``run.batch_max_latency_s``), the event
builder's wait for beam pulses, the veto and cut stages, the monitor publisher, the subscriber
thread and the model. The GUI's redraw (5 Hz) comes after this.

    .venv/bin/python benchmarks/bench_gui_latency.py --seconds 30
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from daq import config
from daq.wire.envelope import Message
from monitor.model import MonitorModel
from monitor.stream import StreamLoop


class TimedModel(MonitorModel):
    """A model that notes, per data message, when it held the message's triggers."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.armed_ns: int | None = None
        self.samples: list[tuple[int, np.ndarray]] = []  # (held at [ns], trigger ids)
        self.lock = threading.Lock()

    def ingest(self, msg: Message, now: float | None = None) -> None:
        super().ingest(msg, now)
        held = time.time_ns()
        if msg.kind == "sor" and "armed_ns" in msg.meta:
            self.armed_ns = int(msg.meta["armed_ns"])
        elif msg.kind == "data" and len(msg.arrays.get("triggers", ())):
            with self.lock:
                self.samples.append((held, np.array(msg.arrays["triggers"]["trigger_id"])))


def measure(speed: float, seconds: float, rate_hz: float, warmup_s: float) -> dict[str, float]:
    ipc = Path(tempfile.mkdtemp(prefix="svl"))
    run_dir = Path(tempfile.mkdtemp(prefix="sevens-latency-"))
    try:
        cfg = config.with_ipc_endpoints(config.load(), ipc)
        model = TimedModel(cfg)
        loop = StreamLoop(cfg.endpoints.monitor, model, max_bytes=cfg.endpoints.max_data_bytes)
        loop.start()
        cmd = [sys.executable, "-m", "daq.cli", "daq", "--simulate", "--config", cfg.path, "--run-dir",
               str(run_dir), "--duration", str(seconds), "--speed", str(speed)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        loop.stop()
        if proc.returncode != 0:
            raise SystemExit(f"`sevens daq` failed:\n{proc.stderr[-2000:]}")
        if model.armed_ns is None:
            raise SystemExit("no start of run with armed_ns reached the model")
        period_ns = 1e9 / (rate_hz * speed)
        lat = []
        for held, ids in model.samples:
            made = model.armed_ns + ids * period_ns
            keep = made >= model.armed_ns + warmup_s * 1e9  # the pipeline's first seconds: JIT, connecting
            lat.append((held - made[keep]) / 1e9)
        x = np.concatenate(lat)
        tail = x[-max(1, len(x) // 10):]  # the run's last tenth: growing latency is a backlog
        return {"speed": speed, "trigger_hz": rate_hz * speed, "triggers": len(x), "p50_last_s": float(np.median(tail)),
                "p50_s": float(np.percentile(x, 50)), "p99_s": float(np.percentile(x, 99)),
                "max_s": float(x.max()), "min_s": float(x.min())}
    finally:
        shutil.rmtree(ipc, ignore_errors=True)
        shutil.rmtree(run_dir, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="wall-clock seconds of triggers per speed")
    ap.add_argument("--speeds", default="1,10", help="comma-separated simulation speeds")
    ap.add_argument("--warmup", type=float, default=3.0, help="wall seconds at the run's start left out")
    args = ap.parse_args()
    cfg = config.load()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; batch_max_latency_s = {cfg.run.batch_max_latency_s}")
    print("| trigger rate | triggers | p50 [s] | p99 [s] | max [s] | p50, last tenth of the run [s] |")
    print("|---|---|---|---|---|---|")
    for speed in (float(s) for s in args.speeds.split(",")):
        r = measure(speed, args.seconds, cfg.beam.rep_rate_hz, args.warmup)
        print(f"| {r['trigger_hz']:.0f} Hz (speed {speed:g}) | {r['triggers']} | {r['p50_s']:.3f} | "
              f"{r['p99_s']:.3f} | {r['max_s']:.3f} | {r['p50_last_s']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
