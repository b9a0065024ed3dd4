"""Reprocessing throughput on Dask with 1 and 2 workers, beside `sevens replay` and a bare read of the same runs.

A script, not a test. It records one run with ``sevens daq --simulate`` (or takes ``--run FILE``)
and copies it to ``--runs`` run files (reprocessing does not care that they hold the same records;
each is one task), then, in the same invocation:

* ``bare read``: h5py reads of ``triggers``, ``beam``, ``raw/csi`` and ``raw/veto`` of every file in
  blocks of 256 records, decoding included (the I/O limit of one core; benchmarks/bench_replay.py);
* ``chain, one process``: :func:`daq.cluster.runs.reprocess_run` of every run in this process, no Dask
  (what one task costs);
* ``replay``: :func:`daq.cli.replay.run_replay` of every run, one after the other (its ``seconds``:
  process launch excluded), as ``sevens replay`` does it;
* ``reprocess, N workers``: :func:`daq.cli.reprocess.run_reprocess` on a LocalCluster of N = 1 and 2
  worker processes (cluster start-up and the numba warm-up excluded: the fan-out's wall time).

Throughput in triggers/s and in GB/s of raw samples (both channels, decoded: 2 x n_samples bytes a
trigger) and of the compressed file; scaling efficiency = rate(2 workers) / (2 x rate(1 worker));
per-core ratio = rate(1 worker) / rate(bare read).

    .venv/bin/python benchmarks/bench_reprocess.py --duration 10 --runs 4
    .venv/bin/python benchmarks/bench_reprocess.py --run runs/run_000001.h5 --runs 4
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import h5py

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_replay import bare_read, record  # noqa: E402

from daq.cli.replay import run_replay  # noqa: E402
from daq.cli.reprocess import plan, run_reprocess  # noqa: E402
from daq.cluster.client import open_client  # noqa: E402
from daq.cluster.runs import reprocess_run  # noqa: E402
from daq.replay.sources import MAX_SPEED  # noqa: E402

YEAR_TRIGGERS = 1.9e9  # SPEC section 7: one year at 60 Hz


def copies(src: Path, directory: Path, n: int) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for k in range(n):
        dst = directory / f"run_{k + 1:06d}.h5"
        shutil.copyfile(src, dst)
        out.append(dst)
    return out


def line(label: str, seconds: float, n: int, raw_bytes: int, file_bytes: int, note: str = "") -> float:
    rate = n / seconds
    print(f"{label:28s} {seconds:8.2f} {rate:11.0f} {raw_bytes / seconds / 1e9:9.3f} {file_bytes / seconds / 1e9:9.3f}"
          f"  {note}")
    return rate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", help="a recorded run file (default: record one)")
    p.add_argument("--duration", type=float, default=10.0, help="recording: wall-clock seconds (10)")
    p.add_argument("--speed", type=float, default=10.0, help="recording: simulated speed (10)")
    p.add_argument("--runs", type=int, default=4, help="run files reprocessed (copies of the run; 4)")
    p.add_argument("--repeats", type=int, default=1, help="timings of each kind; the best is kept")
    p.add_argument("--io-gbps", type=float, default=10.0,
                   help="aggregate read bandwidth of the cluster's file system assumed for the one-year estimate, "
                        "GB/s of compressed files (10)")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-reprocess-"))
    try:
        src = Path(args.run) if args.run else record(work / "recorded", args.duration, args.speed, 1.0)
        runs = copies(src, work / "runs", args.runs)
        with h5py.File(src, "r") as f:
            per_run, n_samples = int(f["triggers"].shape[0]), int(f["raw/csi"].shape[1])
        n = per_run * len(runs)
        raw_bytes = n * 2 * n_samples
        file_bytes = sum(r.stat().st_size for r in runs)
        print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
              f"{os.getloadavg()[0]:.2f}; {len(runs)} runs of {per_run} triggers ({src.stat().st_size / 1e6:.0f} MB "
              f"each, {raw_bytes / file_bytes:.1f}x compressed)")
        print(f"{'':28s} {'seconds':>8s} {'triggers/s':>11s} {'raw GB/s':>9s} {'file GB/s':>9s}")
        reps = max(args.repeats, 1)
        bare = min(sum(bare_read(r)[0] for r in runs) for _ in range(reps))
        r_bare = line("bare h5py read (1 core)", bare, n, raw_bytes, file_bytes)

        def chain() -> float:
            out = work / f"chain-{time.monotonic_ns()}"
            jobs = plan([str(r) for r in runs], None, out, "link")
            t0 = time.perf_counter()
            for job in jobs:
                reprocess_run(job)
            return time.perf_counter() - t0

        chain()  # numba warm-up in this process
        r_chain = line("chain, one process", min(chain() for _ in range(reps)), n, raw_bytes, file_bytes,
                       "(no Dask)")

        def replay_all() -> float:
            out = work / f"replay-{time.monotonic_ns()}"
            return sum(run_replay(str(r), None, MAX_SPEED, str(out), raw="link")["seconds"] for r in runs)

        line("sevens replay (6 processes)", min(replay_all() for _ in range(reps)), n, raw_bytes, file_bytes,
             "(one run after the other, launch excluded)")
        rates = {}
        for workers in (1, 2):
            with open_client("local", workers) as client:
                def fan(client=client) -> float:  # noqa: ANN001
                    out = work / f"reprocess-{time.monotonic_ns()}"
                    result = run_reprocess([str(r) for r in runs], None, str(out), client=client)
                    if result["failed"]:
                        raise SystemExit(f"reprocessing failed: {result['failed']}")
                    return float(result["seconds"])

                fan()  # workers warm
                rates[workers] = line(f"reprocess, {workers} worker(s)", min(fan() for _ in range(reps)), n,
                                      raw_bytes, file_bytes, "(LocalCluster, fan-out only)")
        eff = rates[2] / (2 * rates[1])
        print(f"scaling 1 -> 2 workers: {rates[2] / rates[1]:.2f}x, efficiency {eff:.0%}; per-core reprocess / "
              f"bare read {rates[1] / r_bare:.2f}; chain / bare read {r_chain / r_bare:.2f}")
        bytes_per_trigger = file_bytes / n
        cpu_s = YEAR_TRIGGERS / (rates[1] * 100 * min(eff, 1.0))
        io_s = YEAR_TRIGGERS * bytes_per_trigger / (args.io_gbps * 1e9)
        print(f"one year ({YEAR_TRIGGERS:.2g} triggers, {YEAR_TRIGGERS * bytes_per_trigger / 1e12:.0f} TB of files) "
              f"on 100 cores: CPU {cpu_s / 3600:.1f} h at {rates[1]:.0f} triggers/s per core x {min(eff, 1.0):.0%}; "
              f"I/O {io_s / 3600:.1f} h at {args.io_gbps:g} GB/s; estimate {max(cpu_s, io_s) / 3600:.1f} h")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
