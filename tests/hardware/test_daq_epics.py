"""The whole DAQ with the EPICS beam backend against `sevens sim-ioc` (simulated digitizer, real CA).

Time alignment (docs/interfaces.md): csi-sns-epics.toml fixes simulation.start_time_ns, the time
of pulse 0 for both the simulated digitizer (RunParameters.start_time_ns) and the IOC; the IOC
starts its timeline when the beam receiver subscribes, as the run starts, so trigger k and
pulse k carry the same time and are published within a few ms of each other.

Accepted: no unmatched trigger beyond those explained by beam pulses counted missed (each
missed pulse can leave at most its own trigger unmatched); on loopback that is none.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from daq import config
from daq.hardware.protocols import RunParameters
from simulators.beam import SNSBeamTimeline
from tests.hardware.helpers import EPICS_CONFIG, REPO

SEED, SPEED, DURATION_S = 11, 1.0, 4.0


def process_logs(directory: Path) -> str:
    """The last lines of every process log (for a failure message)."""
    tails = [f"--- {p.name}\n" + "\n".join(p.read_text().splitlines()[-15:]) for p in sorted(directory.glob("*.log"))]
    return "\n".join(tails)


def test_daq_records_every_trigger_with_its_epics_pulse(start_ioc: Callable, ca_env: dict, tmp_path: Path) -> None:
    ipc = Path(tempfile.mkdtemp(prefix="sv"))
    try:
        cfg = config.with_ipc_endpoints(config.load(EPICS_CONFIG), ipc,
                                        supervisor={"heartbeat_timeout_s": 5.0})  # slack for a loaded test host
        assert cfg.beam.backend == "epics" and cfg.digitizer.backend == "simulated"
        start_ioc("--seed", str(SEED), "--speed", str(SPEED), config=cfg.path)
        proc = subprocess.run(
            [sys.executable, "-m", "daq.cli", "daq", "--config", cfg.path, "--run-dir", str(tmp_path / "runs"),
             "--duration", str(DURATION_S), "--seed", str(SEED), "--speed", str(SPEED), "--json"],
            env=ca_env, capture_output=True, text=True, timeout=150, cwd=REPO)
    finally:
        shutil.rmtree(ipc, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-2000:] + process_logs(tmp_path / "runs" / "logs")
    s = json.loads(proc.stdout.strip().splitlines()[-1])

    t = s["triggers"]
    assert t["generated"] == t["recorded"] + t["lost"]
    assert t["lost"] == 0
    assert t["generated"] > 0.4 * 60 * SPEED * DURATION_S  # start-up and stop take some of the duration

    with h5py.File(s["file"]) as f:
        triggers = f["triggers"][:]
        beam = f["beam"][:]
        losses = f["losses"][:]
    beam_missed = int(losses["count"][losses["trigger_id"] == -1].sum())
    assert s["unmatched_triggers"] <= beam_missed <= 0.01 * len(beam)

    matched = triggers[triggers["pulse_id"] >= 0]
    assert len(matched) >= 0.99 * len(triggers)
    np.testing.assert_array_equal(matched["pulse_id"], matched["trigger_id"])  # trigger k <-> pulse k
    assert np.abs(matched["match_dt"]).max() < cfg.beam.match_window_ns
    params = RunParameters(run_number=0, seed=SEED, rate_boost=1.0, speed=SPEED,
                           start_time_ns=cfg.simulation.start_time_ns)
    truth = SNSBeamTimeline(cfg, params).pulses(0, int(beam["pulse_id"].max()) + 1)
    np.testing.assert_array_equal(matched["pot"], truth["pot"][matched["pulse_id"]])
    np.testing.assert_array_equal(beam["time"], truth["time"][beam["pulse_id"]])
