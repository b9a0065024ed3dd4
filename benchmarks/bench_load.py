"""Load: the whole DAQ at a multiple of the nominal 60 Hz trigger rate; every trigger recorded or lost with a reason.

Runs `sevens daq --simulate` (real processes, real ZeroMQ over private ipc endpoints, a real run
file) at each ``--speeds`` value for ``--duration`` seconds of wall time. ``--speed 10`` is
10x real time: 600 triggers per second, 42 MB/s of raw waveforms. While a run goes, it samples
`sevens status` (queue depths, losses, restarts, and ``blocked_s`` where the status carries
it) and each process's CPU time and RSS from /proc. After it, it reads the run file and checks
the accounting:

    generated == recorded + lost        (anything else is "unexplained": the benchmark fails)

and prints the losses by stage and reason. The process that holds a core (CPU near 100 %)
while those upstream of it wait (``blocked_s``, full queues) is the bottleneck.

Examples (see docs/performance.md, "Load")::

    .venv/bin/python benchmarks/bench_load.py --speeds 10 --duration 600        # the 10-minute record
    .venv/bin/python benchmarks/bench_load.py --speeds 10,15,20,30,40 --duration 60   # where losses start

It is a benchmark, not a test: it takes minutes, writes GB-size files (deleted after each run
unless ``--keep``) and its numbers depend on the machine and what else runs on it (the load
average before and after each run is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from daq import config as config_mod  # noqa: E402
from daq.config import Config  # noqa: E402
from daq.control.client import NoAnswer, request  # noqa: E402

PROCESS_NAMES = ("reader", "beam", "builder", "veto", "cuts", "recorder")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


# -- /proc ---------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` [s], None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float | None:
    """Resident set size of ``pid`` [MB] from /proc/PID/status (VmRSS), None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def machine() -> dict[str, Any]:
    return {"host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "loadavg": [round(x, 2) for x in os.getloadavg()],
            "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()}


# -- one DAQ run ---------------------------------------------------------------------------
def bench_config(workdir: Path, heartbeat_timeout_s: float | None, buffer_records: int | None,
                 raw: bool) -> Config:
    """The shipped config with private ipc endpoints (and the given overrides)."""
    over: dict[str, dict[str, Any]] = {}
    if heartbeat_timeout_s is not None:
        over["supervisor"] = {"heartbeat_timeout_s": heartbeat_timeout_s}
    if buffer_records is not None:
        over["digitizer"] = {"buffer_records": buffer_records}
    if not raw:
        over["recorder"] = {"raw_csi": False, "raw_veto": False}
    return config_mod.with_ipc_endpoints(config_mod.load(), workdir / "ipc", **over)


def status(cfg: Config) -> dict[str, Any] | None:
    try:
        reply = request(cfg, {"cmd": "status"}, 2.0)
    except NoAnswer:
        return None
    return reply if reply.get("ok") else None


@dataclass
class Sample:
    t: float  # seconds since the run started
    procs: dict[str, dict[str, Any]]  # name -> pid, rss_mb, cpu_s, queue_depth, triggers_in, losses, blocked_s
    state: str = ""
    restarts: list[dict[str, Any]] = field(default_factory=list)


def _rate(samples: list[Sample], name: str, key: str) -> float | None:
    """Mean d(key)/dt of process ``name`` over the samples, summing only intervals in which its pid
    did not change (a restarted process starts its counters and CPU time again)."""
    num = den = 0.0
    for a, b in zip(samples, samples[1:], strict=False):
        pa, pb = a.procs.get(name), b.procs.get(name)
        if not pa or not pb or pa["pid"] != pb["pid"] or pa.get(key) is None or pb.get(key) is None:
            continue
        num += pb[key] - pa[key]
        den += b.t - a.t
    return num / den if den > 0 else None


@dataclass
class RunResult:
    speed: float
    rate_boost: float
    duration_s: float
    machine_before: dict[str, Any]
    machine_after: dict[str, Any] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    summary: dict[str, Any] | None = None
    losses_by_reason: dict[str, int] = field(default_factory=dict)
    loss_times_s: list[float] = field(default_factory=list)  # when loss rows were written [s after file start]
    restarts: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    returncode: int | None = None
    run_wall_s: float = 0.0

    # derived ---------------------------------------------------------------------------
    def accounting(self) -> dict[str, int]:
        """The run's trigger accounting; ``unexplained`` is None when the run was aborted (no count
        of generated triggers came back from the reader)."""
        t = (self.summary or {}).get("triggers", {"generated": -1, "recorded": 0, "lost": 0})
        unexplained = t["generated"] - t["recorded"] - t["lost"] if t["generated"] >= 0 else None
        return {**t, "unexplained": unexplained}

    def cpu_percent(self) -> dict[str, float]:
        """Mean CPU use of each process over the sampled part of the run [% of one core]."""
        out = {}
        for name in ("supervisor", *PROCESS_NAMES):
            r = _rate(self.samples, name, "cpu_s")
            if r is not None:
                out[name] = round(100 * r, 1)
        return out

    def queue_stats(self) -> dict[str, dict[str, float]]:
        out = {}
        for name in PROCESS_NAMES:
            q = [s.procs[name]["queue_depth"] for s in self.samples if name in s.procs]
            if q:
                out[name] = {"mean": round(sum(q) / len(q), 1), "max": max(q)}
        return out

    def blocked_fraction(self) -> dict[str, float | None]:
        """Fraction of wall time each process spent waiting on a full downstream queue (if the
        status carries ``blocked_s``)."""
        out: dict[str, float | None] = {}
        for name in PROCESS_NAMES:
            r = _rate(self.samples, name, "blocked_s")
            out[name] = None if r is None else round(r, 3)
        return out

    def bottleneck(self) -> str:
        cpu = self.cpu_percent()
        busiest = max(PROCESS_NAMES, key=lambda n: cpu.get(n, 0.0))
        blocked = {n: f for n, f in self.blocked_fraction().items() if f}
        text = f"{busiest} ({cpu.get(busiest, 0):.0f} % of a core)"
        if blocked:
            text += "; waiting on backpressure: " + ", ".join(f"{n} {100 * f:.0f} %" for n, f in blocked.items())
        return text


def sample(cfg: Config, sup_pid: int, t0: float) -> Sample | None:
    st = status(cfg)
    if st is None:
        return None
    procs: dict[str, dict[str, Any]] = {"supervisor": {"pid": sup_pid, "rss_mb": rss_mb(sup_pid),
                                                       "cpu_s": cpu_seconds(sup_pid), "queue_depth": 0}}
    for p in st["processes"]:
        pid = p.get("pid")
        procs[p["name"]] = {"pid": pid, "rss_mb": rss_mb(pid) if pid else None,
                            "cpu_s": cpu_seconds(pid) if pid else None, "queue_depth": p.get("queue_depth", 0),
                            "triggers_in": p.get("triggers_in", 0), "losses": p.get("losses", 0),
                            "blocked_s": p.get("blocked_s"), "state": p.get("state"), "alive": p.get("alive")}
    return Sample(t=round(time.monotonic() - t0, 2), procs=procs, state=st["state"],
                  restarts=st.get("restarts", []))


def losses_by_reason(files: list[str]) -> tuple[dict[str, int], list[float]]:
    """Lost counts by "stage: reason", and the times of the trigger-loss rows [s after the file's start]."""
    from daq.runfile import open_run

    out: dict[str, int] = defaultdict(int)
    times: list[float] = []
    for path in files:
        with open_run(path) as f:
            start = int(f.attrs["start_time_ns"])
            for row in f["losses"][:]:
                key = f"{row['stage'].decode()}: {row['reason'].decode()}" + (" (not triggers)"
                                                                              if row["trigger_id"] < 0 else "")
                out[key] += int(row["count"])
                if row["trigger_id"] >= 0:
                    times.append(round((int(row["time"]) - start) / 1e9, 1))
    return dict(out), times


def run_once(cfg: Config, run_dir: Path, speed: float, rate_boost: float, duration: float, interval: float,
             warmup_s: float = 0.0, keep: bool = False, on_sample: Any = None) -> RunResult:
    """One `sevens daq` run of ``duration`` wall seconds; samples every ``interval`` seconds."""
    res = RunResult(speed=speed, rate_boost=rate_boost, duration_s=duration, machine_before=machine())
    cmd = [sys.executable, "-m", "daq.cli", "daq", "--simulate", "--config", cfg.path, "--run-dir", str(run_dir),
           "--duration", str(duration), "--speed", str(speed), "--rate-boost", str(rate_boost), "--json"]
    out_path, err_path = run_dir.with_suffix(".stdout"), run_dir.with_suffix(".stderr")
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT)
    try:
        t_start = None
        deadline = time.monotonic() + 180
        while t_start is None:  # wait for the run (numba may compile on a first start)
            st = status(cfg)
            if st and st["state"] == "running":
                t_start = time.monotonic()
            elif proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the run did not start: {err_path.read_text()[-2000:]}")
            else:
                time.sleep(0.2)
        next_t = t_start + warmup_s
        while proc.poll() is None:
            now = time.monotonic()
            if now >= next_t:
                s = sample(cfg, proc.pid, t_start)
                if s is not None and s.state == "running":
                    res.samples.append(s)
                    res.restarts = s.restarts
                    if on_sample:
                        on_sample(s)
                next_t += interval
            time.sleep(min(0.2, max(0.0, next_t - time.monotonic())))
        res.run_wall_s = round(time.monotonic() - t_start, 1)
        res.returncode = proc.wait()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()
    res.machine_after = machine()
    lines = out_path.read_text().strip().splitlines()
    if lines and lines[-1].startswith("{"):
        res.summary = json.loads(lines[-1])
        res.error = res.summary.get("error")
        res.losses_by_reason, res.loss_times_s = losses_by_reason(res.summary.get("files") or [res.summary["file"]])
    else:
        res.error = err_path.read_text()[-2000:]
    if not keep:
        for p in run_dir.glob("run_*.h5"):
            p.unlink()
    return res


# -- report --------------------------------------------------------------------------------
def report(res: RunResult) -> str:
    a = res.accounting()
    s = res.summary or {}
    blocked = res.blocked_fraction()
    sim_s = a["generated"] / 60.0 if a["generated"] > 0 else 0.0
    lines = [
        f"speed {res.speed:g} ({60 * res.speed:.0f} Hz), rate boost {res.rate_boost:g}: {res.run_wall_s} s wall, "
        f"{sim_s / 60:.1f} min of simulated data; exit status {s.get('exit_status')!r}",
        f"  load average before {res.machine_before['loadavg']}, after {res.machine_after['loadavg']}",
        f"  triggers: generated {a['generated']}  recorded {a['recorded']}  lost {a['lost']}  "
        f"unexplained {a['unexplained']}  ->  " + {0: "CLOSES", None: "NOT CLOSED (run aborted)"}.get(
            a["unexplained"], "DOES NOT CLOSE"),
        f"  recorded rate {a['recorded'] / max(res.run_wall_s, 1e-9):.0f} Hz of {60 * res.speed:.0f} Hz",
        "  losses by reason: " + (", ".join(f"{k} {v}" for k, v in res.losses_by_reason.items()) or "none")
        + (f" ({len(res.loss_times_s)} loss rows, written {min(res.loss_times_s)}-{max(res.loss_times_s)} s "
           "after the file was opened)" if res.loss_times_s else ""),
        "  CPU [% of a core]: " + ", ".join(f"{k} {v:.0f}" for k, v in res.cpu_percent().items()),
        "  queue depth (mean/max triggers): " + ", ".join(f"{k} {v['mean']}/{v['max']}"
                                                           for k, v in res.queue_stats().items() if v["max"]),
        "  blocked on backpressure [fraction of wall time]: " + (", ".join(
            f"{k} {v}" for k, v in blocked.items() if v is not None) or "n/a (the status does not carry blocked_s)"),
        f"  bottleneck: {res.bottleneck()}",
    ]
    if res.restarts:
        lines.append(f"  restarts: {res.restarts}")
    if res.error:
        lines.append(f"  error: {res.error}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--speeds", default="10", help="comma-separated speeds (x real time), one run each (10)")
    ap.add_argument("--duration", type=float, default=600.0, help="wall seconds per run (600)")
    ap.add_argument("--rate-boost", type=float, default=1.0, help="CEvNS/neutron rate boost (1)")
    ap.add_argument("--interval", type=float, default=2.0, help="seconds between status samples (2)")
    ap.add_argument("--buffer-records", type=int, help="digitizer.buffer_records (default: the config's)")
    ap.add_argument("--heartbeat-timeout", type=float,
                    help="supervisor.heartbeat_timeout_s (default: the config's; raise it on a busy machine)")
    ap.add_argument("--no-raw", action="store_true", help="do not record raw waveforms")
    ap.add_argument("--keep", action="store_true", help="keep the run files")
    ap.add_argument("--workdir", help="directory for ipc sockets and run files (default: a new temp dir)")
    ap.add_argument("--json", help="write every result (with all samples) to this file")
    args = ap.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="svload"))
    cfg = bench_config(work, args.heartbeat_timeout, args.buffer_records, not args.no_raw)
    speeds = [float(x) for x in args.speeds.split(",")]
    free_gb = shutil.disk_usage(work).free / 1e9
    need_gb = max(speeds) * 60 * 0.08 * args.duration / 1000 * (0 if args.no_raw else 1)
    print(f"machine: {machine()['uptime']}; {os.cpu_count()} CPUs; workdir {work} ({free_gb:.0f} GB free, "
          f"a run needs up to {need_gb:.0f} GB)")
    print(f"config: buffer_records {cfg.digitizer.buffer_records}, heartbeat_timeout_s "
          f"{cfg.supervisor.heartbeat_timeout_s}, raw waveforms {'off' if args.no_raw else 'on'}", flush=True)
    results, unexplained = [], 0
    for speed in speeds:
        run_dir = work / f"runs-speed{speed:g}"
        run_dir.mkdir(parents=True, exist_ok=True)
        res = run_once(cfg, run_dir, speed, args.rate_boost, args.duration, args.interval, keep=args.keep)
        print(report(res), flush=True)
        unexplained += abs(res.accounting()["unexplained"] or 0) + (res.accounting()["unexplained"] is None)
        results.append(res)
    print("\n| speed | rate [Hz] | generated | recorded | lost | unexplained | losses by reason | CPU busiest "
          "| load before/after |")
    print("|---:|---:|---:|---:|---:|---:|---|---|---|")
    for r in results:
        a = r.accounting()
        cpu = r.cpu_percent()
        busiest = max(PROCESS_NAMES, key=lambda n: cpu.get(n, 0.0))
        print(f"| {r.speed:g} | {60 * r.speed:.0f} | {a['generated']} | {a['recorded']} | {a['lost']} | "
              f"{a['unexplained']} | {', '.join(f'{k} {v}' for k, v in r.losses_by_reason.items()) or '-'} | "
              f"{busiest} {cpu.get(busiest, 0):.0f} % | {r.machine_before['loadavg'][0]} / "
              f"{r.machine_after['loadavg'][0]} |")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=1))
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
