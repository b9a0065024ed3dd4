"""One DAQ owns its endpoints and its run directory; its processes never outlive it.

Each test here failed on the code before the ownership work: a second `sevens daq` on the same
ipc config silently took the first one's sockets (its file then held 1929 rows for 1160 trigger
ids and said `ok`), and a killed supervisor left all six processes running and writing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import h5py
import pytest

from daq.config import Config
from daq.runfile import open_run
from tests.reliability.daqrun import SEVENS, DaqRun, status, wait_for


def pids_alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split()[2] != "Z":
                    alive.append(pid)
        except OSError:
            pass
    return alive


def exit_status(path: str | Path) -> str:
    with h5py.File(path, "r") as f:
        return str(f.attrs["exit_status"])


def test_a_second_daq_on_the_same_endpoints_or_run_dir_is_refused_naming_the_first(
        rel_config, tmp_path: Path) -> None:  # noqa: ANN001
    cfg: Config = rel_config()
    first = DaqRun(cfg, tmp_path / "runs", 60.0, 3.0)
    try:
        first.wait_running()
        for run_dir in ("runs2", "runs"):  # the same endpoints elsewhere; the same everything
            second = subprocess.run([*SEVENS, "daq", "--simulate", "--config", cfg.path, "--run-dir",
                                     str(tmp_path / run_dir), "--duration", "5"],
                                    capture_output=True, text=True, timeout=120)
            assert second.returncode == 2, second.stderr
            lines = second.stderr.strip().splitlines()
            assert len(lines) == 1 and f"owned by pid {first.proc.pid}" in lines[0], second.stderr
        daemon = subprocess.run([*SEVENS, "daemon", "--config", cfg.path, "--run-dir", str(tmp_path / "runs3")],
                                capture_output=True, text=True, timeout=120)
        assert daemon.returncode == 2 and f"owned by pid {first.proc.pid}" in daemon.stderr
        by_hand = subprocess.run([*SEVENS, "process", "builder", "--config", cfg.path],
                                 capture_output=True, text=True, timeout=120)
        assert by_hand.returncode == 2 and "owned by pid" in by_hand.stderr, by_hand.stderr
        assert status(cfg)["state"] == "running"  # the first DAQ did not notice
    finally:
        code = first.stop()
    summary = first.summary()
    assert code == 0 and summary["exit_status"] == "ok", first.err[-2000:]
    with h5py.File(summary["file"], "r") as f:
        ids = f["triggers"]["trigger_id"][:]
    assert len(ids) == len(set(ids.tolist())) == summary["triggers"]["recorded"]
    assert not (tmp_path / "runs2").exists() or not list((tmp_path / "runs2").glob("run_*.h5"))


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGHUP])
def test_the_processes_never_outlive_their_supervisor(rel_config, tmp_path: Path, sig: int) -> None:  # noqa: ANN001
    """kill -9 of `sevens daq`: every process ends and the file says the supervisor was lost.
    SIGHUP (a closed terminal) ends the run cleanly, with its summary and stop record."""
    cfg: Config = rel_config()
    run = DaqRun(cfg, tmp_path / "runs", 120.0, 3.0)
    try:
        st = run.wait_running()
        children = [p["pid"] for p in st["processes"]]
        assert len(pids_alive(children)) == 6
        time.sleep(1.0)
        os.kill(run.proc.pid, sig)
        code = run.communicate(60)
        wait_for(lambda: not pids_alive(children), 30, "every process to end with its supervisor")
    finally:
        run.kill()
    status_text = exit_status(st["run_file"])
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL
        assert status_text.startswith("aborted: supervisor lost"), status_text
    else:
        assert status_text == "ok", (status_text, run.err[-2000:])
        assert run.summary()["exit_status"] == "ok" and code == 0


def test_a_daemon_after_a_crash_marks_the_left_file_and_continues_the_numbers(
        rel_config, tmp_path: Path) -> None:  # noqa: ANN001
    cfg: Config = rel_config()
    runs = tmp_path / "runs"
    run = DaqRun(cfg, runs, 120.0, 3.0)
    try:
        st = run.wait_running()
        children = [p["pid"] for p in st["processes"]]
        for pid in [run.proc.pid, *children]:  # the whole host loses power, as far as the DAQ can tell
            os.kill(pid, signal.SIGKILL)
        run.communicate(60)
    finally:
        run.kill()
    left = st["run_file"]
    with open_run(left) as f:
        assert str(f.attrs["exit_status"]) == "running"  # what a killed recorder leaves
    daemon = subprocess.Popen([*SEVENS, "daemon", "--config", cfg.path, "--run-dir", str(runs)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (s := status(cfg)) and s["state"] == "ready", 120, "the new daemon")
        assert exit_status(left).startswith("aborted: the DAQ stopped without closing this file")
        started = subprocess.run([*SEVENS, "start", "--config", cfg.path, "--run-dir", str(runs), "--json"],
                                 capture_output=True, text=True, timeout=60)
        assert started.returncode == 0, started.stderr
        assert '"run_number": 2' in started.stdout
        subprocess.run([*SEVENS, "stop", "--config", cfg.path, "--run-dir", str(runs)], timeout=60)
        wait_for(lambda: (s := status(cfg)) and s["state"] == "ready", 120, "the run to stop")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=60)
    assert exit_status(runs / "run_000002.h5") == "ok"

