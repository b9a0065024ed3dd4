"""Supervision you can see (issue 16): ``kill -9`` of the cut pipeline in a short simulated run.

* the supervisor pushes the restart as an alarm with its cause on ``endpoints.alarms`` (two
  subscribers, as two GUIs, see the same entry), and clears it when the process is back;
* an acknowledgement is a control command: a viewer's is refused, the control role's is
  recorded (who, when) and seen by both subscribers; the run file keeps the alarm log;
* the process table counts this run's restarts;
* the run ends ``ok`` with every trigger recorded or lost in the restart (as the chaos test
  asks of the other pipeline processes);
* the DQ running sums go on across the restart: ``pot_total`` stays the running sum of the
  rows' ``pot`` and ``gwhr_total`` follows it (before, they fell back to the restarted
  process's own sums: a sawtooth).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import zmq

from daq.config import Config
from daq.control.client import read_control_token, request
from daq.kernels.exposure import gwhr
from daq.wire import transport
from monitor.longterm import catalogue_dq
from monitor.report import write_report
from tests.reliability.daqrun import DaqRun, by_name, status, wait_for


def _latest(sock: zmq.Socket, seen: dict[str, Any]) -> list[dict[str, Any]]:
    """Drain ``sock``; the newest alarm log it delivered (kept in ``seen``)."""
    while sock.poll(0):
        msg = transport.recv(sock, zmq.NOBLOCK)
        assert msg.stream == "alarms" and msg.source == "supervisor"
        seen["alarms"] = msg.meta["alarms"]
    return seen.get("alarms", [])


def _entry(log: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    return next((e for e in log if e["key"] == key), None)


def test_a_killed_cut_pipeline_raises_a_shared_alarm_and_keeps_the_dq_sums(
        tmp_path: Path, rel_config: Callable[..., Config]) -> None:
    cfg = rel_config(run={"dq_interval_s": 1.0})
    run = DaqRun(cfg, tmp_path, 16.0, 3.0)  # wall seconds: the ack must come before the file closes
    ctx = zmq.Context.instance()
    guis = [transport.subscriber(ctx, cfg.endpoints.alarms) for _ in range(2)]
    seen: list[dict[str, Any]] = [{}, {}]
    try:
        st = run.wait_running()
        st = wait_for(lambda: (s := status(cfg)) and (s.get("elapsed_s") or 0) > 3.0 and s, 60, "3 s of run")
        killed_ns = time.time_ns()
        os.kill(by_name(st)["cuts"]["pid"], signal.SIGKILL)

        def both_cleared() -> list[dict[str, Any]] | None:
            entries = [_entry(_latest(g, s), "process:cuts") for g, s in zip(guis, seen, strict=True)]
            return entries if all(e and e["cleared_ns"] for e in entries) else None

        a, b = wait_for(both_cleared, 30, "the restart alarm, cleared, on both subscribers", 0.05)
        assert a == b  # every GUI sees the same state
        assert a["cause"] == "restarted" and a["severity"] == "error"
        assert "process cuts died (exit code -9)" in a["message"]
        assert 0 < (a["raised_ns"] - killed_ns) / 1e9 < 2.0  # pushed at once, not found by a poll
        assert a["cleared_ns"] > a["raised_ns"] and a["acked_ns"] is None

        table = by_name(status(cfg))
        assert table["cuts"]["restarts"] == 1
        assert all(table[n]["restarts"] == 0 for n in table if n != "cuts")

        viewer = request(cfg, {"cmd": "ack", "ids": [a["id"]], "by": "viewer"})
        assert not viewer["ok"] and "not authorised" in viewer["error"]
        token = read_control_token(tmp_path)
        reply = request(cfg, {"cmd": "ack", "ids": [a["id"]], "by": "alice", "token": token})
        assert reply == {"ok": True, "acknowledged": 1}

        def both_acked() -> list[dict[str, Any]] | None:
            entries = [_entry(_latest(g, s), "process:cuts") for g, s in zip(guis, seen, strict=True)]
            return entries if all(e and e["acked_by"] for e in entries) else None

        a, b = wait_for(both_acked, 10, "the acknowledgement on both subscribers", 0.05)
        assert a == b and a["acked_by"] == "alice (control)" and a["acked_ns"] >= a["cleared_ns"]
        code = run.communicate(120)
    finally:
        for g in guis:
            g.close(0)
        if run.proc.poll() is None:
            run.kill()
    assert code == 0, run.err[-3000:]
    summary = run.summary()
    assert summary and summary["restarted"] == ["cuts"] and summary["exit_status"] == "ok"
    t = summary["triggers"]  # as tests/integration/test_chaos.py asks of the other pipeline processes
    assert t["generated"] == t["recorded"] + t["lost"] and t["recorded"] > 0
    assert {r for r in summary["loss_reasons"] if not r.startswith("beam pulses")} <= {"lost in restart of cuts"}
    with h5py.File(summary["files"][-1], "r") as f:
        dq = f["dq"][:]
        log = json.loads(f.attrs["alarms"])
        energy = cfg.beam.proton_energy_gev
    assert len(dq) >= 15  # 48 s of triggers in 1 s intervals; the kill came after 9 or more of them
    assert np.all(np.diff(dq["pot_total"]) >= 0)
    np.testing.assert_allclose(dq["pot_total"], np.cumsum(dq["pot"]), rtol=1e-9)
    np.testing.assert_allclose(dq["gwhr_total"], [gwhr(p, energy) for p in dq["pot_total"]], rtol=1e-9)
    entry = _entry(log, "process:cuts")
    assert entry is not None and entry["acked_by"] == "alice (control)" and entry["cleared_ns"]
    long_term, starts, problem = catalogue_dq(cfg, str(tmp_path), days=1.0, every_s=5.0)  # the GUI's 30 days
    assert problem is None and [run for _, run in starts] == [1] and len(long_term) >= 5
    page = write_report(summary["files"][-1], tmp_path / "report").read_text()  # the report lists the log
    assert "process cuts died (exit code -9)" in page and "alice (control)" in page

