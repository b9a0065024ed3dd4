"""Chaos: kill each process type in turn during a run, and hang one; the outcome is what the
reliability guarantees say (docs/reliability.md).

* builder, veto, cuts, recorder: detected, restarted into the running run (the recorder in a new
  sub-run file); the run ends ``ok``; every trigger is recorded or lost with a reason that names
  the restart; nothing ``unaccounted``.
* reader, beam (the sources): detected; the run stops with an ``exit_status`` naming the process;
  the file is intact.
* a hung process (SIGSTOP): detected within 2 s, killed and restarted.

`make test` runs one kill per process type; SEVENS_CHAOS_ROUNDS=N repeats each N times
(the long version: `SEVENS_CHAOS_ROUNDS=5 .venv/bin/python -m pytest tests/integration/test_chaos.py`).
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

from daq.config import Config
from daq.control.summary import run_summary
from tests.reliability.daqrun import status  # the control request, in this process

pytestmark = pytest.mark.serial  # timing-sensitive: run alone (make test)

SEVENS = [sys.executable, "-m", "daq.cli"]
ROUNDS = int(os.environ.get("SEVENS_CHAOS_ROUNDS", "1"))




def start_run(cfg: Config, run_dir: Path, duration: float) -> tuple[subprocess.Popen, dict[str, Any]]:
    proc = subprocess.Popen([*SEVENS, "daq", "--simulate", "--config", cfg.path, "--run-dir", str(run_dir),
                             "--duration", str(duration), "--speed", "3", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        st = status(cfg)
        recorder = next((p for p in (st or {}).get("processes", []) if p["name"] == "recorder"), None)
        if st and st["state"] == "running" and recorder and recorder["triggers_in"] > 100:
            return proc, st
        time.sleep(0.3)
    proc.kill()
    raise AssertionError("the run did not get going")


def pid_of(st: dict[str, Any], name: str) -> int:
    return next(p["pid"] for p in st["processes"] if p["name"] == name)


def stop_once_restarted(cfg: Config, proc: subprocess.Popen, name: str, old_pid: int, timeout_s: float = 60) -> None:
    """Ctrl-C to ``sevens daq`` (a clean stop) once the restarted ``name`` runs with triggers through it again,
    rather than waiting out the run's duration; at the timeout the run ends by its duration."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        st = status(cfg) or {}
        new = next((p for p in st.get("processes", []) if p["name"] == name), None)
        if (new and new["pid"] != old_pid and new["state"] == "running" and new.get("triggers_in", 0) > 50
                and st.get("state") == "running"):
            proc.send_signal(signal.SIGINT)
            return
        time.sleep(0.3)


def summary_of(proc: subprocess.Popen) -> tuple[int, dict[str, Any], str]:
    out, err = proc.communicate(timeout=180)
    lines = out.strip().splitlines()
    return proc.returncode, json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}, err


@pytest.mark.parametrize("round_", range(ROUNDS))
# the cut pipeline's kill -9 is tests/reliability/test_supervision.py (the same checks, and its alarms and DQ sums)
@pytest.mark.parametrize("name", ["builder", "veto", "recorder"])
def test_killed_pipeline_process_is_restarted_and_nothing_is_unaccounted(
        tmp_path: Path, daq_config: Config, name: str, round_: int) -> None:
    proc, st = start_run(daq_config, tmp_path, 30)
    os.kill(pid_of(st, name), signal.SIGKILL)
    stop_once_restarted(daq_config, proc, name, pid_of(st, name))
    code, summary, err = summary_of(proc)
    assert code == 0, err[-3000:]
    assert summary["exit_status"] == "ok"
    assert summary["restarted"] == [name]
    t = summary["triggers"]
    assert t["generated"] == t["recorded"] + t["lost"] and t["recorded"] > 0
    assert "unaccounted" not in summary["loss_reasons"]
    trigger_reasons = {r for r in summary["loss_reasons"] if not r.startswith("beam pulses")}
    assert trigger_reasons <= {f"lost in restart of {name}"}
    # beam pulses in flight in a restarted process are lost too: counted, never silent
    with h5py.File(summary["files"][-1], "r") as f:
        gaps = f["losses"][f["losses"]["trigger_id"] < 0]
        missing = int(gaps["count"][np.char.startswith(gaps["reason"].astype(str), "beam pulses")].sum())
    assert missing == summary["beam_pulses_missing"]
    if name == "recorder":
        assert len(summary["files"]) == 2 and summary["files"][1].endswith("_sub001.h5")
    # the whole run is readable across its files
    assert run_summary(summary["files"][-1])["triggers"] == t


@pytest.mark.parametrize("name", ["reader", "beam"])
def test_killed_source_stops_the_run_cleanly(tmp_path: Path, daq_config: Config, name: str) -> None:
    proc, st = start_run(daq_config, tmp_path, 30)
    os.kill(pid_of(st, name), signal.SIGKILL)
    code, _, err = summary_of(proc)
    assert code != 0
    assert f"process {name} died" in err
    summary = run_summary(st["run_file"])
    assert summary["exit_status"].startswith(f"aborted: process {name} died")
    assert summary["triggers"]["recorded"] > 100


def test_hung_process_is_detected_within_two_seconds(tmp_path: Path, daq_config: Config) -> None:
    proc, st = start_run(daq_config, tmp_path, 30)
    stopped_at = time.time_ns()
    os.kill(pid_of(st, "veto"), signal.SIGSTOP)
    deadline, restarts = time.monotonic() + 20, []
    while time.monotonic() < deadline and not restarts:
        restarts = (status(daq_config) or {}).get("restarts", [])
        time.sleep(0.1)
    assert restarts and restarts[0]["process"] == "veto" and "hung" in restarts[0]["reason"]
    assert (restarts[0]["time_ns"] - stopped_at) / 1e9 < 2.0
    stop_once_restarted(daq_config, proc, "veto", pid_of(st, "veto"))
    code, summary, err = summary_of(proc)
    assert code == 0, err[-3000:]
    t = summary["triggers"]
    assert t["generated"] == t["recorded"] + t["lost"]
    assert "unaccounted" not in summary["loss_reasons"]
