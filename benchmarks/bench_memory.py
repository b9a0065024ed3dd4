"""Memory over a long run: the RSS of every DAQ process sampled during >= 30 minutes of simulated data.

Runs `sevens daq --simulate` (real processes, private ipc endpoints, a real run file) at
``--speed`` x real time with ``--rate-boost`` (default 10 x for 180 s wall = 30 minutes of
simulated beam at rate boost 1e5), and every ``--interval`` seconds reads VmRSS from
/proc/PID/status of the supervisor (`sevens daq`) and of the six processes, whose pids come
from `sevens status`. After ``--warmup`` seconds (numba JIT, HDF5 chunk caches, ZeroMQ queues
filling up) it reports, per process, the RSS at the first and last sample, the maximum, and
the slope of a least-squares line through the samples in MB per hour. A flat process has a
slope within the noise (a few MB/h); a leak of 1 kB per trigger at 600 Hz would show as
~2 GB/h.

    .venv/bin/python benchmarks/bench_memory.py                       # 3 min wall, 30 min simulated
    .venv/bin/python benchmarks/bench_memory.py --duration 1800       # 5 hours of simulated data

A benchmark, not a test (docs/performance.md, "Memory").
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_load import PROCESS_NAMES, RunResult, Sample, bench_config, machine, run_once  # noqa: E402


def fit_slope(ts: list[float], ys: list[float]) -> float:
    """Least-squares slope dy/dt."""
    n = len(ts)
    mt, my = sum(ts) / n, sum(ys) / n
    var = sum((t - mt) ** 2 for t in ts)
    return sum((t - mt) * (y - my) for t, y in zip(ts, ys, strict=True)) / var if var else 0.0


def memory_table(res: RunResult) -> list[dict[str, object]]:
    rows = []
    for name in ("supervisor", *PROCESS_NAMES):
        pts = [(s.t, s.procs[name]["rss_mb"], s.procs[name]["pid"]) for s in res.samples
               if name in s.procs and s.procs[name].get("rss_mb") is not None]
        if len(pts) < 3:
            continue
        pids = {p for _, _, p in pts}
        if len(pids) > 1:  # restarted: fit only the longest stretch of one pid
            best = max(pids, key=lambda pid: sum(1 for *_, p in pts if p == pid))
            pts = [x for x in pts if x[2] == best]
        ts, ys = [t for t, _, _ in pts], [y for _, y, _ in pts]
        rows.append({"process": name, "pid": pts[-1][2], "restarted": len(pids) > 1, "samples": len(pts),
                     "start_mb": round(ys[0], 1), "end_mb": round(ys[-1], 1), "max_mb": round(max(ys), 1),
                     "slope_mb_per_h": round(3600 * fit_slope(ts, ys), 1),
                     "span_min": round((ts[-1] - ts[0]) / 60, 1)})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=180.0, help="wall seconds of the run (180)")
    ap.add_argument("--speed", type=float, default=10.0, help="simulated time per wall time (10)")
    ap.add_argument("--rate-boost", type=float, default=1e5, help="CEvNS/neutron rate boost (1e5)")
    ap.add_argument("--interval", type=float, default=5.0, help="seconds between RSS samples (5)")
    ap.add_argument("--warmup", type=float, default=30.0, help="seconds after the run start before sampling (30)")
    ap.add_argument("--heartbeat-timeout", type=float,
                    help="supervisor.heartbeat_timeout_s (default: the config's; raise it on a busy machine)")
    ap.add_argument("--no-raw", action="store_true", help="do not record raw waveforms")
    ap.add_argument("--keep", action="store_true", help="keep the run file")
    ap.add_argument("--workdir", help="directory for ipc sockets and the run file (default: a new temp dir)")
    ap.add_argument("--json", help="write the result (every sample) to this file")
    args = ap.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="svmem"))
    cfg = bench_config(work, args.heartbeat_timeout, None, not args.no_raw)
    print(f"machine: {machine()['uptime']}; workdir {work}", flush=True)

    def progress(s: Sample) -> None:
        rss = ", ".join(f"{n} {s.procs[n]['rss_mb']:.0f}" for n in ("supervisor", *PROCESS_NAMES)
                        if n in s.procs and s.procs[n].get("rss_mb") is not None)
        print(f"  t={s.t:7.1f} s  recorded {s.procs['recorder'].get('triggers_in', 0):>7}  RSS [MB]: {rss}",
              flush=True)

    run_dir = work / "runs"
    run_dir.mkdir(parents=True, exist_ok=True)
    res = run_once(cfg, run_dir, args.speed, args.rate_boost, args.duration, args.interval,
                   warmup_s=args.warmup, keep=args.keep, on_sample=progress)
    a = res.accounting()
    print(f"\nrun: {res.run_wall_s} s wall x speed {args.speed:g} = {res.run_wall_s * args.speed / 60:.0f} min "
          f"of simulated data; rate boost {args.rate_boost:g}; exit status "
          f"{(res.summary or {}).get('exit_status')!r}; load average before {res.machine_before['loadavg']}, "
          f"after {res.machine_after['loadavg']}")
    print(f"triggers: generated {a['generated']}, recorded {a['recorded']}, lost {a['lost']} "
          f"({', '.join(f'{k} {v}' for k, v in res.losses_by_reason.items()) or 'no losses'}), "
          f"unexplained {a['unexplained']}")
    if res.restarts:
        print(f"restarts during the run: {res.restarts}")
    rows = memory_table(res)
    print(f"\nRSS after {args.warmup:g} s of warm-up, sampled every {args.interval:g} s:\n")
    print("| process | RSS start [MB] | RSS end [MB] | max [MB] | slope [MB/h] | samples |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        flag = " (restarted; longest stretch)" if r["restarted"] else ""
        print(f"| {r['process']}{flag} | {r['start_mb']} | {r['end_mb']} | {r['max_mb']} | {r['slope_mb_per_h']} "
              f"| {r['samples']} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"table": rows, "run": asdict(res)}, indent=1))
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if a["unexplained"] == 0 and res.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
