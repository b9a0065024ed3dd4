"""Helpers of the cluster tests: small recorded runs made in-process with the simulator, a real
scheduler with workers on loopback, and table-by-table comparison of run files."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401 - the Blosc filter of the raw waveforms
import numpy as np

from daq.config import Config
from daq.hardware.protocols import RunParameters
from simulators.beam import SNSBeamTimeline
from simulators.detector import DetectorSimulator
from tests.replay.replay_helpers import write_run

# what reprocessing must reproduce bit for bit (docs/reprocessing.md); /losses rows carry wall-clock times
COMPARED = ("triggers", "features", "peaks", "veto_hits", "selected", "dq", "beam", "truth/events", "truth/windows")
DASK = [sys.executable, "-m", "distributed.cli"]  # not used directly: see start_scheduler


def simulated_run(path: Path, cfg: Config, run_number: int, seed: int, n: int) -> Path:
    """A run file as the recorder writes one with raw waveforms: ``n`` triggers of the simulated
    detector (one per beam pulse), their pulses, truth, the config; no derived tables."""
    params = RunParameters(run_number=run_number, seed=seed, rate_boost=20000.0, speed=1.0,
                           start_time_ns=1_750_000_000_000_000_000 + run_number * 10**12)
    pulses = SNSBeamTimeline(cfg, params).pulses(0, n)
    batch = DetectorSimulator(cfg, params).records(pulses, 0)
    attrs = {"run_number": run_number, "config": cfg.text, "config_sha256": cfg.sha256, "exit_status": "ok",
             "triggers_generated": np.int64(n), "sub_run": 0}
    write_run(path, attrs, {"triggers": batch.triggers, "beam": pulses, "raw/csi": batch.waveforms["csi"],
                            "raw/veto": batch.waveforms["veto"], "truth/events": batch.truth_events,
                            "truth/windows": batch.truth_windows})
    return path


def differences(a: Path, b: Path) -> list[str]:
    """Tables of COMPARED that are not byte-identical between run files ``a`` and ``b``."""
    out = []
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        for name in COMPARED:
            x, y = fa[name][:], fb[name][:]
            if x.shape != y.shape or x.tobytes() != y.tobytes():
                out.append(f"{name}: {x.shape} vs {y.shape}")
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(cmd: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=open(log, "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115


def wait_for_workers(address: str, n: int, timeout_s: float = 60.0) -> None:
    from distributed import Client

    with Client(address, timeout=timeout_s) as c:
        c.wait_for_workers(n, timeout=timeout_s)


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + 10
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
