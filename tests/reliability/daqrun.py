"""Drive a real `sevens daq --simulate` run from a test: start it, ask its status, stop it early.

The run uses the private ipc endpoints of its config, so it cannot collide with another DAQ
on the host. ``stop()`` sends SIGINT to `sevens daq`, which stops the run cleanly (the same
as Ctrl-C), so a test can end a run as soon as it has seen what it needs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from daq import config
from daq.config import Config
from daq.control.client import NoAnswer, request

SEVENS = [sys.executable, "-m", "daq.cli"]
PROCESS_NAMES = ("reader", "beam", "builder", "veto", "cuts", "recorder")
T = TypeVar("T")
# The DAQ processes of these tests share two cores with whatever else runs on the host; a
# heartbeat timeout of a second or two then fires on scheduling delays alone. The tests are
# about bad input and resources, not heartbeats, so their configs allow 10 s.
BASE_OVERRIDES: dict[str, dict[str, Any]] = {"supervisor": {"heartbeat_timeout_s": 10.0}}


def reliability_config(ipc_dir: Path, **overrides: dict[str, Any]) -> Config:
    """The shipped config with ipc endpoints in ``ipc_dir`` and ``overrides`` ({section: {key: value}})."""
    merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in BASE_OVERRIDES.items()}
    for section, values in overrides.items():
        merged.setdefault(section, {}).update(values)
    return config.with_ipc_endpoints(config.load(), ipc_dir, **merged)


def private_ipc_dir() -> Path:
    """A short directory for ipc socket paths (limited to ~100 characters)."""
    return Path(tempfile.mkdtemp(prefix="svr"))


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def wait_for(predicate: Callable[[], T], timeout: float, what: str, every: float = 0.25) -> T:
    """The first truthy value of ``predicate()`` within ``timeout`` seconds, else AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def status(cfg: Config, timeout_s: float = 2.0) -> dict[str, Any] | None:
    """The supervisor's status (the reply `sevens status --json` prints), or None if nobody answers."""
    try:
        reply = request(cfg, {"cmd": "status"}, timeout_s)
    except NoAnswer:
        return None
    return reply if reply.get("ok") else None


def status_cli(cfg: Config) -> dict[str, Any] | None:
    """The same through the command line, as an operator would ask."""
    proc = subprocess.run([*SEVENS, "status", "--json", "--config", cfg.path, "--timeout", "3"],
                          capture_output=True, text=True, timeout=60)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def by_name(st: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in st["processes"]}


class DaqRun:
    """One `sevens daq --simulate ... --json` subprocess."""

    def __init__(self, cfg: Config, run_dir: Path, duration: float = 120.0, speed: float = 3.0,
                 *extra: str) -> None:
        self.cfg = cfg
        self.run_dir = run_dir
        cmd = [*SEVENS, "daq", "--simulate", "--config", cfg.path, "--run-dir", str(run_dir),
               "--duration", str(duration), "--speed", str(speed), "--json", *extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out = ""
        self.err = ""

    def wait_running(self, timeout: float = 120.0) -> dict[str, Any]:
        """Status once the run is running and its file is open."""

        def running() -> dict[str, Any] | None:
            if self.proc.poll() is not None:
                self.communicate(10)
                raise AssertionError(f"`sevens daq` ended before the run started:\n{self.err[-3000:]}")
            st = status(self.cfg)
            return st if st and st["state"] == "running" and st["run_file"] else None

        return wait_for(running, timeout, "the run to start")

    def stop(self, timeout: float = 90.0) -> int:
        """Ctrl-C: the run stops cleanly; returns the exit status of `sevens daq`."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)
        return self.communicate(timeout)

    def communicate(self, timeout: float = 90.0) -> int:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            out, err = self.proc.communicate(timeout=30)
            self.err = err + "\n[test] `sevens daq` hung; killed"
            self.out = out
            raise AssertionError(f"`sevens daq` did not end within {timeout} s (hang)") from None
        self.out, self.err = self.out + out, self.err + err
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL `sevens daq` and every process it launched (cleanup after a failed test)."""
        pids = []
        st = status(self.cfg, 1.0) if self.proc.poll() is None else None
        if st:
            pids = [p["pid"] for p in st["processes"] if p.get("pid") and not p.get("remote")]
        for pid in [self.proc.pid, *pids]:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def summary(self) -> dict[str, Any] | None:
        """The JSON run summary `sevens daq --json` printed last, if any."""
        for line in reversed(self.out.strip().splitlines()):
            if line.startswith("{"):
                return json.loads(line)
        return None
