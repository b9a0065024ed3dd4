"""Only the processes a supervisor launched speak for them; no frame is too big to refuse.

Before: one PUSH of ``{"kind": "status", "source": "recorder", "meta": {"event": "error"}}`` to
the status endpoint aborted the run with no token, and one unauthenticated 1 GiB frame raised
the supervisor to 1.4 GB, where it stayed. A message of another run on a data link was written
into the file, which still said ``ok``.
"""

from __future__ import annotations

import time
from pathlib import Path

import h5py
import numpy as np
import zmq

from daq import dtypes
from daq.config import Config
from daq.processes.builder import event_arrays
from daq.wire import envelope
from daq.wire.envelope import Message
from tests.reliability.daqrun import DaqRun, by_name, status


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def push(endpoint: str, frames: list) -> None:
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.PUSH)
    sock.setsockopt(zmq.LINGER, 5000)
    sock.connect(endpoint)
    sock.send_multipart(frames, copy=False)
    sock.close()  # lingers until sent (or the peer hung up on it)


def test_spoofed_status_and_a_huge_frame_change_nothing(rel_config, tmp_path: Path) -> None:  # noqa: ANN001
    cfg: Config = rel_config()
    run = DaqRun(cfg, tmp_path / "runs", 120.0, 3.0)
    try:
        run.wait_running()
        before = status(cfg)["malformed"]["status"]
        for source, meta in (("recorder", {"event": "error", "reason": "spoofed"}),
                             ("reader", {"event": "exhausted"}),
                             ("recorder", {"event": "run_done", "exit_status": "ok"})):
            push(cfg.endpoints.status, envelope.pack(Message(stream="status", kind="status", source=source,
                                                             meta=meta)))
        # a heartbeat under a process's name, with its pid but not its launch token (an orphan of
        # an earlier supervisor, or a forger)
        builder = by_name(status(cfg))["builder"]
        push(cfg.endpoints.status, envelope.pack(Message(stream="status", kind="heartbeat", source="builder",
                                                         meta={"pid": builder["pid"], "state": "idle",
                                                               "launch": "0" * 16})))
        time.sleep(2.0)
        st = status(cfg)
        assert st["state"] == "running" and st["error"] is None, st
        assert st["malformed"]["status"] >= before + 4
        assert by_name(st)["builder"]["state"] == "running"
        rss0 = rss_mb(run.proc.pid)
        push(cfg.endpoints.status, [np.zeros(2**30, np.uint8)])  # one 1 GiB frame, no envelope
        time.sleep(2.0)
        assert rss_mb(run.proc.pid) - rss0 < 100, "the supervisor read the 1 GiB frame"
        assert status(cfg)["state"] == "running"
    finally:
        code = run.stop()
    assert code == 0 and run.summary()["exit_status"] == "ok", run.err[-2000:]


def test_a_message_of_another_run_is_refused_and_the_run_is_not_ok(rel_config, tmp_path: Path) -> None:  # noqa: ANN001
    cfg: Config = rel_config()
    run = DaqRun(cfg, tmp_path / "runs", 120.0, 3.0)
    try:
        st = run.wait_running()
        triggers = np.zeros(2, dtypes.TRIGGER)
        triggers["trigger_id"] = [0, 1]  # ids this run has too: a second DAQ's first triggers
        feats = np.zeros(4, dtypes.FEATURES)
        arrays = event_arrays(cfg.digitizer.n_samples, triggers=triggers, features=feats)
        foreign = Message(stream="selected", kind="data", source="cuts", run=st["run_number"] + 100, seq=0,
                          arrays=arrays)
        push(cfg.endpoints.selected, envelope.pack(foreign))
        time.sleep(1.5)
    finally:
        code = run.stop()
    summary = run.summary()
    assert code == 1 and summary["exit_status"].startswith("inconsistent:"), summary
    assert "another run refused" in summary["exit_status"]
    with h5py.File(summary["file"], "r") as f:
        ids = f["triggers"]["trigger_id"][:]
        reasons = [r.decode() for r in f["losses"]["reason"]]
    assert len(ids) == len(set(ids.tolist())), "the foreign triggers were written"
    assert any(r.startswith("foreign: run") for r in reasons)
