"""End to end: `sevens daq` runs the real processes over real ZeroMQ sockets and writes a real file.

Each test uses private ipc endpoints, so it cannot collide with another DAQ on the host.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from daq import config, dtypes
from daq.config import Config
from daq.runfile import RunFileError, open_run
from tests.reliability.daqrun import status  # the control request, in this process

SEVENS = [sys.executable, "-m", "daq.cli"]
DATASETS = ("beam", "triggers", "features", "peaks", "veto_hits", "raw/csi", "raw/veto", "dq", "losses",
            "truth/events", "truth/windows")
ROOT_ATTRS = ("run_number", "config", "software_version", "start_time_ns", "stop_time_ns", "exit_status")


def daq_command(cfg: Config, run_dir: Path, duration: float, *extra: str) -> list[str]:
    return [*SEVENS, "daq", "--simulate", "--config", cfg.path, "--run-dir", str(run_dir),
            "--duration", str(duration), "--json", *extra]




def wait_for(predicate, timeout: float, what: str):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One short simulated run at 3x real time, with `sevens status` asked while it runs."""
    import shutil
    import tempfile

    ipc = Path(tempfile.mkdtemp(prefix="sv"))
    cfg = config.with_ipc_endpoints(config.load(), ipc)
    run_dir = tmp_path_factory.mktemp("runs")
    duration, speed = 8.0, 3.0
    proc = subprocess.Popen(daq_command(cfg, run_dir, duration, "--speed", str(speed), "--rate-boost", "3000",
                                        "--seed", "11"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    running = wait_for(lambda: (s := status(cfg)) and s["state"] == "running" and s, 120, "the run to start")
    out, err = proc.communicate(timeout=180)
    shutil.rmtree(ipc, ignore_errors=True)
    assert proc.returncode == 0, err[-3000:]
    return {"summary": json.loads(out.strip().splitlines()[-1]), "status": running, "duration": duration,
            "speed": speed, "stdout": out}


def test_every_trigger_is_recorded_or_counted_lost(finished_run: dict[str, Any]) -> None:
    s = finished_run["summary"]
    t = s["triggers"]
    assert t["generated"] == t["recorded"] + t["lost"]
    assert t["lost"] == 0
    # 60 Hz x speed x duration, minus start-up and stop slack
    expected = 60 * finished_run["speed"] * finished_run["duration"]
    assert 0.8 * expected < t["generated"] < 1.3 * expected
    assert s["unmatched_triggers"] == 0
    assert s["exit_status"] == "ok"


def test_summary_json_has_the_documented_keys(finished_run: dict[str, Any]) -> None:
    s = finished_run["summary"]
    for key in ("run_number", "file", "duration_s", "triggers", "beam_pulses", "pot", "gwhr", "dq",
                "cut_fractions", "counts"):
        assert key in s
    assert set(s["dq"]) >= {"baseline_adc", "spe_mean_charge", "afterglow_fraction"}
    assert set(s["cut_fractions"]) >= {"veto", "linear_gate", "overflow", "afterglow", "cherenkov", "rise_time"}
    assert set(s["counts"]) == {"C", "AC"}
    assert s["pot"] > 0 and s["gwhr"] > 0 and s["beam_pulses"] >= s["triggers"]["recorded"]
    assert "run " in finished_run["stdout"]  # the human summary precedes the JSON line


def test_run_file_holds_every_dataset_and_attribute(finished_run: dict[str, Any]) -> None:
    s = finished_run["summary"]
    with h5py.File(s["file"], "r") as f:
        for name in DATASETS:
            assert name in f, name
        for attr in ROOT_ATTRS:
            assert attr in f.attrs, attr
        assert "[digitizer]" in f.attrs["config"]
        n = len(f["triggers"])
        assert n == s["triggers"]["recorded"]
        np.testing.assert_array_equal(f["triggers"]["trigger_id"], np.arange(n))
        assert f["raw/csi"].shape == (n, 35000) and f["raw/veto"].shape == (n, 35000)
        assert len(f["features"]) == 2 * n
        assert f["raw/csi"].attrs["units"] == "ADC" and "units" in f["features"].attrs
        assert len(f["dq"]) >= 1
        kinds = set(f["truth/events"]["kind"])
        assert dtypes.TRUTH_CEVNS_PROMPT in kinds or dtypes.TRUTH_CEVNS_DELAYED in kinds


def test_status_answers_during_a_run(finished_run: dict[str, Any]) -> None:
    st = finished_run["status"]
    assert st["state"] == "running" and st["run_number"] == finished_run["summary"]["run_number"]
    names = {p["name"] for p in st["processes"]}
    assert names == {"reader", "beam", "builder", "veto", "cuts", "recorder"}
    for p in st["processes"]:
        assert p["alive"] and p["pid"] > 0
        assert {"msgs_in", "msgs_out", "queue_depth", "losses"} <= set(p)


def test_killed_recorder_is_detected_and_leaves_a_readable_file(tmp_path: Path, make_config) -> None:  # noqa: ANN001
    """With restart_policy = "stop" (the restart policy is tests/integration/test_chaos.py's)."""
    daq_config = make_config(supervisor={"restart_policy": "stop"})
    proc = subprocess.Popen(daq_command(daq_config, tmp_path, 60, "--speed", "2"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    st = wait_for(lambda: (s := status(daq_config)) and s["state"] == "running" and s["run_file"] and s, 120,
                  "the run to start")
    run_file = Path(st["run_file"])

    def flushed() -> bool:
        try:
            with open_run(run_file) as f:
                return len(f["triggers"]) > 50
        except RunFileError:
            return False

    wait_for(flushed, 60, "triggers flushed to the file")
    recorder = next(p for p in st["processes"] if p["name"] == "recorder")
    os.kill(recorder["pid"], signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "recorder died" in out + err
    # a file killed mid-write keeps HDF5's "open for write" flag: read it as a SWMR reader
    with open_run(run_file) as f:
        assert f.attrs["exit_status"] == "running"  # the recorder never wrote its stop record
        assert len(f["triggers"]) > 50
        assert len(f["raw/csi"]) >= 50
