"""Multi-host deployment on loopback: tcp endpoints, a process started on its own ("remote")
and watched by heartbeat only, the Prometheus metrics endpoint, and run-stamped rotating logs."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import h5py

from daq import config
from daq.config import ENDPOINT_KEYS

SEVENS = [sys.executable, "-m", "daq.cli"]


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            return r.read().decode()
    except OSError:
        return None


def test_remote_recorder_metrics_and_logs(tmp_path: Path) -> None:
    *ports, metrics_port = free_ports(len(ENDPOINT_KEYS) + 1)
    endpoints = {key: f"tcp://127.0.0.1:{p}" for key, p in zip(ENDPOINT_KEYS, ports, strict=True)}
    cfg = config.with_overrides(config.load(), {"endpoints": endpoints, "supervisor": {
        "remote": ["recorder"], "metrics_port": metrics_port}})
    path = tmp_path / "deploy.toml"
    path.write_text(cfg.text)
    remote_logs = tmp_path / "remote-logs"
    recorder = subprocess.Popen([*SEVENS, "process", "recorder", "--config", str(path), "--log-dir", str(remote_logs)])
    runs = tmp_path / "runs"
    daq = subprocess.Popen([*SEVENS, "daq", "--simulate", "--config", str(path), "--run-dir", str(runs),
                            "--duration", "8", "--speed", "3", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline, text = time.monotonic() + 120, None
        while time.monotonic() < deadline:
            text = scrape(metrics_port)
            if text and 'sevens_run_state{state="running"} 1' in text:
                break
            time.sleep(0.5)
        assert text and 'sevens_run_state{state="running"} 1' in text
        assert 'sevens_process_alive{process="recorder"} 1' in text
        assert 'sevens_process_triggers_in_total{process="builder"}' in text
        out, err = daq.communicate(timeout=120)
        assert daq.returncode == 0, err[-2000:]
        summary = json.loads(out.strip().splitlines()[-1])
        t = summary["triggers"]
        assert t["generated"] == t["recorded"] > 0 and t["lost"] == 0
        assert recorder.poll() is None  # the supervisor does not stop a process it did not start
        with h5py.File(summary["file"], "r") as f:
            assert f.attrs["exit_status"] == "ok"
        log_text = (remote_logs / "recorder.log").read_text()
        assert f"run={summary['run_number']} recorder[" in log_text
        assert (runs / "logs" / "builder.log").read_text().count(f"run={summary['run_number']} ") >= 1
    finally:
        for proc in (daq, recorder):
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)


def test_metrics_exposition_format() -> None:
    from daq.ops.metrics import exposition

    text = exposition({"state": "running", "run_number": 7, "processes": [
        {"name": "reader", "alive": True, "msgs_in": 3, "queue_depth": 2, "heartbeat_age_s": 0.25}]})
    assert 'sevens_run_state{state="running"} 1' in text and 'sevens_run_state{state="error"} 0' in text
    assert "sevens_run_number 7" in text
    assert 'sevens_process_messages_in_total{process="reader"} 3' in text
    assert 'sevens_process_heartbeat_age_seconds{process="reader"} 0.25' in text
    assert "# TYPE sevens_process_queue_depth gauge" in text
