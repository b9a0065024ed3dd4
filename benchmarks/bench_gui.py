"""CPU use of the shift-crew GUI while it follows a 60 Hz monitor stream, and the model's per-message cost.

A script, not a test. Two measurements, in the same run:

1. **GUI CPU.** The whole GUI (model, socket threads, alarm checks, the 5 Hz redraw timer, offscreen
   rendering) runs in this process and follows a 60 Hz monitor stream for ``--seconds`` per tab shown
   (data quality, physics, waveforms). CPU = this process's user + system time (``resource.getrusage``,
   all threads) over wall time, in % of one core. The stream comes from

   * ``--source replay`` (default): a publisher in a child process replays a recorded run file as the
     cut pipeline would publish it at 60 Hz (one message per ``run.batch_max_latency_s``: 6 triggers
     with their features, beam pulses, the last record's raw CsI and veto waveforms and peaks; a DQ row
     every ``run.dq_interval_s``), with private ipc endpoints;
   * ``--source live``: a real ``sevens daq --simulate`` at real time (speed 1), private ipc endpoints;
     the GUI also polls the supervisor's status.

2. **Per-message cost.** The same replay messages, received over ipc with a bare ``transport.recv``
   (recv + envelope decode) and then fed to :meth:`MonitorModel.ingest`; microseconds per message of each.

    .venv/bin/python benchmarks/bench_gui.py --file runs/run_000001.h5 --seconds 20
    .venv/bin/python benchmarks/bench_gui.py --source live --seconds 20
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import zmq  # noqa: E402

from daq import config, dtypes  # noqa: E402
from daq.config import Config  # noqa: E402
from daq.runfile import open_run  # noqa: E402
from daq.wire import envelope, transport
from daq.wire.envelope import Message  # noqa: E402

TABS = ("dq", "physics", "waveform")


# -- the replayed stream ------------------------------------------------------------------
def replay_messages(cfg: Config, path: str, max_batches: int = 600) -> list[Message]:
    """Monitor messages as the cut pipeline publishes them at 60 Hz, from a run file (one pass)."""
    per_batch = max(1, round(cfg.beam.rep_rate_hz * cfg.run.batch_max_latency_s))
    per_dq = round(cfg.run.dq_interval_s / cfg.run.batch_max_latency_s)
    msgs: list[Message] = []
    with open_run(path) as f:
        n = min(len(f["triggers"]), len(f["raw/csi"]), per_batch * max_batches)
        trig = f["triggers"][:n].view(dtypes.TRIGGER)
        feats = f["features"][: 2 * n].view(dtypes.FEATURES)
        peaks = f["peaks"][:].view(dtypes.PEAK)
        hits = f["veto_hits"][:].view(dtypes.VETO_HIT)
        beam = f["beam"][:].view(dtypes.BEAM_PULSE)
        dq = f["dq"][:].view(dtypes.DQ)
        raw_csi, raw_veto = f["raw/csi"], f["raw/veto"]
        for b, lo in enumerate(range(0, n - per_batch + 1, per_batch)):
            hi = lo + per_batch
            ids = trig["trigger_id"][lo:hi]
            last = ids[-1]
            arrays = {"triggers": trig[lo:hi].copy(), "features": feats[2 * lo : 2 * hi].copy(),
                      "veto_hits": hits[np.isin(hits["trigger_id"], ids)], "beam": beam[lo:hi].copy(),
                      "losses": np.zeros(0, dtypes.LOSS), "csi": raw_csi[hi - 1 : hi], "veto": raw_veto[hi - 1 : hi],
                      "peaks": peaks[peaks["trigger_id"] == last]}
            msgs.append(Message(stream="monitor", kind="data", source="cuts", run=1, arrays=arrays,
                                meta={"cut_fractions": {}}))
            if (b + 1) % per_dq == 0 and len(dq):
                msgs.append(Message(stream="monitor", kind="dq", source="cuts", run=1,
                                    arrays={"dq": dq[((b + 1) // per_dq - 1) % len(dq)][None].copy()}))
    return msgs


def shifted(msg: Message, loop: int, id_span: int, time_span: int, seq: int) -> Message:
    """``msg`` of a later pass over the file: trigger ids and times moved on, so nothing repeats."""
    arrays = dict(msg.arrays)
    if msg.kind == "data":
        t = arrays["triggers"].copy()
        t["trigger_id"] += loop * id_span
        t["time"] += loop * time_span
        f = arrays["features"].copy()
        f["trigger_id"] += loop * id_span
        arrays.update(triggers=t, features=f)
    elif msg.kind == "dq":
        d = arrays["dq"].copy()
        d["time"] += loop * time_span
        arrays["dq"] = d
    return Message(stream=msg.stream, kind=msg.kind, source=msg.source, run=msg.run, seq=seq, arrays=arrays,
                   meta=msg.meta)


def publish(cfg: Config, path: str, seconds: float) -> None:
    """Child process: publish the replay on ``endpoints.monitor`` at the 60 Hz cadence for ``seconds``."""
    msgs = replay_messages(cfg, path)
    data = [m for m in msgs if m.kind == "data"]
    id_span = int(data[-1].arrays["triggers"]["trigger_id"][-1] - data[0].arrays["triggers"]["trigger_id"][0]) + 1
    time_span = int(data[-1].arrays["triggers"]["time"][-1] - data[0].arrays["triggers"]["time"][0]) + 10**9
    sock = transport.publisher(zmq.Context.instance(), cfg.endpoints.monitor, cfg.endpoints.monitor_hwm, "monitor")
    time.sleep(0.5)  # subscribers connect
    period = cfg.run.batch_max_latency_s
    t0 = time.monotonic()
    seq = sent = 0
    while time.monotonic() - t0 < seconds:
        loop, k = divmod(seq, len(msgs))
        msg = msgs[k]
        transport.try_send(sock, shifted(msg, loop, id_span, time_span, seq))
        seq += 1
        if msg.kind == "data":
            sent += 1
            delay = t0 + sent * period - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    sock.close(0)


# -- 1. GUI CPU ---------------------------------------------------------------------------
def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measure_gui(cfg: Config, seconds: float, warmup: float, connect_control: bool) -> dict[str, dict[str, float]]:
    """CPU of this process per tab shown, while the GUI follows the stream."""
    from PyQt5.QtCore import QEventLoop, QTimer
    from PyQt5.QtWidgets import QApplication

    from monitor.app import MonitorApp

    _app = QApplication.instance() or QApplication([])  # kept alive for the whole measurement
    gui = MonitorApp(cfg, connect=True)
    if not connect_control:
        gui.control = None  # the replay has no supervisor to ask
    window = gui.window
    tick_time = [0.0, 0]
    tick = window.tick

    def timed_tick(force: bool = False) -> None:
        t = time.perf_counter()
        tick(force)
        tick_time[0] += time.perf_counter() - t
        tick_time[1] += 1

    window.timer.timeout.disconnect()
    window.timer.timeout.connect(timed_tick)
    gui.start()
    results = {}

    def run_for(duration: float) -> None:
        loop = QEventLoop()  # the Qt event loop, as in app.exec_()
        QTimer.singleShot(int(duration * 1000), loop.quit)
        loop.exec_()

    run_for(warmup)
    for tab in TABS:
        window.show_tab(tab)
        run_for(1.0)
        s0, c0, w0 = gui.model.stream_stats(), cpu_seconds(), time.monotonic()
        tick_time[:] = [0.0, 0]
        run_for(seconds)
        s1, c1, w1 = gui.model.stream_stats(), cpu_seconds(), time.monotonic()
        results[tab] = {"cpu_pct": 100 * (c1 - c0) / (w1 - w0), "msgs_per_s": (s1.received - s0.received) / (w1 - w0),
                        "dropped": s1.dropped - s0.dropped,
                        "tick_ms": 1e3 * tick_time[0] / max(tick_time[1], 1), "ticks_per_s": tick_time[1] / (w1 - w0)}
    results["_triggers"] = {"received": gui.model.run_info().triggers}
    gui.stop()
    window.close()
    return results


# -- 2. per-message cost ------------------------------------------------------------------
def measure_messages(cfg: Config, msgs: list[Message], endpoint: str) -> dict[str, float]:
    """us per message: bare recv + decode over ipc, then MonitorModel.ingest of the same messages."""
    from monitor.model import MonitorModel

    ctx = zmq.Context.instance()
    pull = transport.pull(ctx, endpoint, len(msgs) + 10, "bench")
    frames = [envelope.pack(shifted(m, 0, 0, 0, i)) for i, m in enumerate(msgs)]

    def sender() -> None:
        push = transport.push(ctx, endpoint, len(msgs) + 10)
        for f in frames:
            push.send_multipart(f, copy=False)
        push.close()

    th = threading.Thread(target=sender)
    th.start()
    th.join()  # all queued: time the receiving side alone
    t = time.perf_counter()
    received = [transport.recv(pull) for _ in frames]
    recv_s = time.perf_counter() - t
    pull.close(0)
    model = MonitorModel(cfg)
    t = time.perf_counter()
    for m in received:
        model.ingest(m)
    ingest_s = time.perf_counter() - t
    n = len(received)
    return {"n": n, "recv_us": 1e6 * recv_s / n, "ingest_us": 1e6 * ingest_s / n,
            "bytes": sum(sum(len(memoryview(b)) for b in f) for f in frames) / n}


# -- main -----------------------------------------------------------------------------------
def newest_run() -> str | None:
    files = sorted(Path("runs").glob("run_*.h5"), key=lambda p: p.stat().st_mtime)
    return str(files[-1]) if files else None


def make_run(cfg: Config, tmp: Path) -> str:
    """A short simulated run (10x real time) to replay, when no file is given."""
    print("no run file given: recording a 6 s simulated run at 10x real time ...", flush=True)
    out = subprocess.run([sys.executable, "-m", "daq.cli", "daq", "--simulate", "--config", cfg.path, "--run-dir",
                          str(tmp / "runs"), "--duration", "6", "--speed", "10", "--json"],
                         capture_output=True, text=True, check=True)
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])["file"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--source", choices=("replay", "live"), default="replay")
    p.add_argument("--file", help="run file to replay (default: the newest runs/run_*.h5, or a new short run)")
    p.add_argument("--seconds", type=float, default=20.0, help="measurement per tab [s]")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--publish", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--config", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.publish:
        publish(config.load(args.config), args.file, args.seconds)
        return

    tmp = Path(tempfile.mkdtemp(prefix="sv"))
    cfg = config.with_ipc_endpoints(config.load(), tmp)
    total = args.warmup + len(TABS) * (args.seconds + 1.0) + 3.0
    path = args.file or newest_run() or make_run(cfg, tmp)
    if args.source == "replay":
        child = subprocess.Popen([sys.executable, __file__, "--publish", "--config", cfg.path, "--file", path,
                                  "--seconds", str(total + 2)])
    else:
        child = subprocess.Popen([sys.executable, "-m", "daq.cli", "daq", "--simulate", "--config", cfg.path,
                                  "--run-dir", str(tmp / "live"), "--duration", str(total + 30), "--speed", "1"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        from daq.control.client import request

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if request(cfg, {"cmd": "status"}, 1.0).get("state") == "running":
                    break
            except Exception:
                time.sleep(0.5)
    try:
        gui = measure_gui(cfg, args.seconds, args.warmup, connect_control=args.source == "live")
    finally:
        child.terminate()
        child.wait(60)
    msgs = replay_messages(cfg, path)
    cost = measure_messages(cfg, msgs, f"ipc://{tmp}/bench")

    print(f"\nGUI following a 60 Hz monitor stream ({args.source}{'' if args.source == 'live' else ': ' + path}),"
          f" {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'tab shown':12s} {'CPU % of 1 core':>16s} {'msgs/s':>8s} {'dropped':>8s} {'redraw ms/tick':>15s}")
    for tab in TABS:
        r = gui[tab]
        print(f"{tab:12s} {r['cpu_pct']:16.1f} {r['msgs_per_s']:8.1f} {r['dropped']:8d} {r['tick_ms']:15.2f}")
    print(f"\nper message ({cost['n']} replayed messages, {cost['bytes'] / 1e3:.0f} kB each on average):")
    print(f"  bare recv + decode   {cost['recv_us']:8.1f} us")
    print(f"  MonitorModel.ingest  {cost['ingest_us']:8.1f} us   ({cost['ingest_us'] / cost['recv_us']:.1f}x the recv)")
    rate = 1e6 / (cost["recv_us"] + cost["ingest_us"])
    print(f"  -> the socket thread could absorb {rate:,.0f} messages/s; 60 Hz needs "
          f"{1 / cfg.run.batch_max_latency_s + 1 / cfg.run.dq_interval_s:.1f}")


if __name__ == "__main__":
    main()
