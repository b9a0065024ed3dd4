"""`sevens daemon` with `sevens start/stop/status/shutdown`; a viewer without the token cannot act."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import h5py

from daq.config import Config
from daq.control.client import request

SEVENS = [sys.executable, "-m", "daq.cli"]


def sevens(cfg: Config, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*SEVENS, *args, "--config", cfg.path], capture_output=True, text=True, timeout=timeout)


def wait_state(cfg: Config, state: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc = sevens(cfg, "status", "--json", "--timeout", "2")
        if proc.returncode == 0:
            status = json.loads(proc.stdout)
            if status["state"] == state:
                return status
        time.sleep(0.3)
    raise AssertionError(f"daemon never reached {state!r}")


def test_daemon_runs_start_stop_and_refuses_viewers(tmp_path: Path, daq_config: Config) -> None:
    run_dir = tmp_path / "runs"
    daemon = subprocess.Popen([*SEVENS, "daemon", "--config", daq_config.path, "--run-dir", str(run_dir)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_state(daq_config, "ready")
        # a viewer: no control token
        viewer = request(daq_config, {"cmd": "start"})
        assert not viewer["ok"] and "not authorised" in viewer["error"]
        refused = sevens(daq_config, "start", "--run-dir", str(tmp_path / "elsewhere"))
        assert refused.returncode == 2 and "no control token" in refused.stderr
        # the control role
        started = sevens(daq_config, "start", "--run-dir", str(run_dir), "--speed", "3")
        assert started.returncode == 0, started.stderr
        number = int(started.stdout.split()[1])
        assert started.stdout.strip() == f"run {number} started"  # a person's reply; --json for machines
        status = wait_state(daq_config, "running")
        assert status["run_number"] == number and len(status["processes"]) == 6
        human = sevens(daq_config, "status")
        assert "recorder" in human.stdout and "running" in human.stdout
        time.sleep(3)
        assert not request(daq_config, {"cmd": "stop", "token": "guess"})["ok"]
        stopped = sevens(daq_config, "stop", "--run-dir", str(run_dir), "--json")
        assert stopped.returncode == 0 and json.loads(stopped.stdout)["run_number"] == number, stopped.stderr
        ready = wait_state(daq_config, "ready")
        assert ready["last_run"]["exit_status"] == "ok"
        with h5py.File(ready["last_run"]["file"], "r") as f:
            assert f.attrs["run_number"] == number
            assert f.attrs["triggers_generated"] == f.attrs["triggers_recorded"] + f.attrs["triggers_lost"] > 0
        assert sevens(daq_config, "shutdown", "--run-dir", str(run_dir)).returncode == 0
        assert daemon.wait(30) == 0
        assert not (run_dir / ".control-token").exists()
    finally:
        if daemon.poll() is None:
            daemon.kill()
