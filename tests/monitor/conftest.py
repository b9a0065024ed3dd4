"""Fixtures of the GUI tests: synthetic monitor messages, and one short live simulated DAQ run.

Qt runs offscreen (no display needed). The live run (`sevens daq` at 3x real time, private ipc
endpoints) is shared by the module's tests: the GUI follows it, a subscriber that does not
read during the run checks that the monitor never slows the DAQ, and its run file is then
opened by the file-view tests.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import zmq  # noqa: E402

from daq import config, dtypes  # noqa: E402
from daq.config import Config  # noqa: E402
from daq.wire import transport
from daq.wire.envelope import Message  # noqa: E402

T0 = 1_700_000_000_000_000_000  # [ns]
PERIOD = 16_666_667  # 60 Hz [ns]
LIVE_SECONDS, LIVE_SPEED = 10.0, 3.0
MONITOR_HWM = 2  # small, so a subscriber that does not read loses messages within seconds
SLEEP_S = 5.0


@pytest.fixture
def make_data() -> Callable[..., Message]:
    """``make_data(first, n, seq=..., c_pe=..., c_onset_ns=..., beam_on=..., cut_mask=..., run=...)``:
    a monitor ``data`` message of ``n`` triggers whose C windows all have the given PE and onset and
    whose AC windows have no onset."""

    def make(first: int, n: int, *, seq: int = 0, run: int = 7, c_pe: float = 10.0, c_onset_ns: int = 1000,
             beam_on: bool = True, cut_mask: int = 0, samples: int = 35000) -> Message:
        trig = np.zeros(n, dtypes.TRIGGER)
        trig["trigger_id"] = np.arange(first, first + n)
        trig["time"] = T0 + trig["trigger_id"] * PERIOD
        trig["beam_on"] = beam_on
        trig["power_mw"] = 1.4
        feats = np.zeros(2 * n, dtypes.FEATURES)
        feats["trigger_id"] = np.repeat(trig["trigger_id"], 2)
        feats["window"] = np.tile([dtypes.WINDOW_AC, dtypes.WINDOW_C], n)
        feats["baseline"] = 100.0
        feats["onset_ns"] = np.tile([-1, c_onset_ns], n)
        feats["pe"] = np.tile([0.0, c_pe], n)
        feats["cut_mask"] = np.tile([dtypes.CUT_NO_ONSET, cut_mask], n)
        feats["selected"] = np.tile([False, cut_mask == 0 and 6 <= c_pe <= 30 and 0 <= c_onset_ns <= 6000], n)
        peaks = np.zeros(1, dtypes.PEAK)
        peaks["trigger_id"] = first + n - 1
        peaks["window"] = dtypes.WINDOW_C
        peaks["region"] = dtypes.REGION_ROI
        peaks["time_ns"] = 52000 + c_onset_ns
        peaks["amplitude"] = 8.0
        csi = np.full((1, samples), 100, np.int8)
        beam = np.zeros(n, dtypes.BEAM_PULSE)
        beam["pot"] = 1.5e14
        arrays = {"triggers": trig, "features": feats, "veto_hits": np.zeros(0, dtypes.VETO_HIT), "beam": beam,
                  "losses": np.zeros(0, dtypes.LOSS), "csi": csi, "veto": csi.copy(), "peaks": peaks}
        return Message(stream="monitor", kind="data", source="cuts", run=run, seq=seq, arrays=arrays,
                       meta={"cut_fractions": {"afterglow": 0.1}})

    return make


@pytest.fixture
def make_dq() -> Callable[..., Message]:
    """``make_dq(times_s, seq=..., run=..., **field_values)``: a ``dq`` message of in-limit rows."""

    def make(times_s: list[float], *, seq: int = 0, run: int = 7, **values: Any) -> Message:
        rows = np.zeros(len(times_s), dtypes.DQ)
        rows["time"] = T0 + (np.asarray(times_s) * 1e9).astype(np.int64)
        rows["interval_s"] = 5.0
        rows["triggers"] = 300
        defaults = {"trigger_rate_hz": 60.0, "baseline_adc": 100.0, "spe_mean_charge": 30.0, "line_gain": 1.0,
                    "afterglow_fraction": 0.07, "veto_fraction": 0.01, "beam_on_fraction": 1.0,
                    "beam_power_mw": 1.4, "baseline_rms_adc": 0.8, "noise_peak_rate_hz": 100.0}
        for name, value in {**defaults, **values}.items():
            rows[name] = value
        return Message(stream="monitor", kind="dq", source="cuts", run=run, seq=seq, arrays={"dq": rows})

    return make


def status_reply(state: str = "running", **process_overrides: dict[str, Any]) -> dict[str, Any]:
    """A supervisor status reply with the six healthy processes; override fields per process."""
    names = ("recorder", "cuts", "veto", "builder", "beam", "reader")
    procs = []
    for i, name in enumerate(names):
        p = {"name": name, "pid": 1000 + i, "alive": True, "state": "running", "heartbeat_age_s": 0.2,
             "msgs_in": 10, "msgs_out": 10, "triggers_in": 100, "triggers_out": 100, "queue_depth": 0, "losses": 0,
             "malformed": 0, "gaps": 0, "exit_code": None}
        p.update(process_overrides.get(name, {}))
        procs.append(p)
    return {"ok": True, "state": state, "run_number": 7, "run_file": "/tmp/run_000007.h5", "elapsed_s": 12.0,
            "error": None, "last_run": None, "processes": procs}


@pytest.fixture
def status() -> Callable[..., dict[str, Any]]:
    return status_reply


class Sleeper(threading.Thread):
    """A monitor subscriber that reads nothing for ``SLEEP_S`` of the run, then everything to the end."""

    def __init__(self, cfg: Config, proc: subprocess.Popen) -> None:
        super().__init__(daemon=True)
        self.cfg, self.proc = cfg, proc
        self.messages: list[Message] = []
        self.error: str | None = None

    def run(self) -> None:
        sock = transport.subscriber(zmq.Context.instance(), self.cfg.endpoints.monitor, hwm=MONITOR_HWM)
        try:
            deadline = time.monotonic() + 120
            while not self._running() and time.monotonic() < deadline and self.proc.poll() is None:
                time.sleep(0.2)
            time.sleep(SLEEP_S)  # subscribed, queue full, not reading: the DAQ must not care
            while True:
                if sock.poll(500):
                    msg = transport.recv(sock)
                    self.messages.append(msg)
                    if msg.kind == "eor":
                        return
                elif self.proc.poll() is not None:
                    return
        except Exception as exc:  # reported by the test
            self.error = repr(exc)
        finally:
            sock.close(0)

    def _running(self) -> bool:
        from daq.control.client import request

        try:
            return request(self.cfg, {"cmd": "status"}, 1.0).get("state") == "running"
        except Exception:
            return False


@dataclass
class LiveRun:
    cfg: Config
    run_dir: Path
    proc: subprocess.Popen
    sleeper: Sleeper
    seconds: float = LIVE_SECONDS
    speed: float = LIVE_SPEED
    _result: dict[str, Any] = field(default_factory=dict)

    def finish(self, timeout: float = 120.0) -> dict[str, Any]:
        """Wait for the run to end; its JSON summary."""
        if not self._result:
            out, err = self.proc.communicate(timeout=timeout)
            assert self.proc.returncode == 0, err[-3000:]
            self._result = json.loads(out.strip().splitlines()[-1])
        return self._result


@pytest.fixture(scope="session")
def live_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRun]:
    """`sevens daq --simulate` for LIVE_SECONDS at LIVE_SPEED x real time, started once per session."""
    ipc = Path(tempfile.mkdtemp(prefix="sv"))
    cfg = config.with_ipc_endpoints(config.load(), ipc)
    small_hwm = config.with_overrides(cfg, {"endpoints": {"monitor_hwm": MONITOR_HWM}})
    Path(cfg.path).write_text(small_hwm.text)
    cfg = config.load(cfg.path)
    assert cfg.endpoints.monitor.startswith("ipc://") and cfg.endpoints.monitor_hwm == MONITOR_HWM
    run_dir = tmp_path_factory.mktemp("guiruns")
    cmd = [sys.executable, "-m", "daq.cli", "daq", "--simulate", "--config", cfg.path, "--run-dir", str(run_dir),
           "--duration", str(LIVE_SECONDS), "--speed", str(LIVE_SPEED), "--rate-boost", "100000", "--seed", "5",
           "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sleeper = Sleeper(cfg, proc)
    sleeper.start()
    run = LiveRun(cfg, run_dir, proc, sleeper)
    try:
        yield run
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.communicate(timeout=30)
        sleeper.join(10)
        shutil.rmtree(ipc, ignore_errors=True)
