"""Reprocessing throughput on Dask with 1 and 2 workers, beside `sevens replay` and a bare read of the same runs.

A script, not a test. It records one run with ``sevens daq --simulate`` (or takes ``--run FILE``)
and copies it to ``--runs`` run files (reprocessing does not care that they hold the same records;
each is one task), then, in the same invocation:

* ``bare read``: h5py reads of ``triggers``, ``beam``, ``raw/csi`` and ``raw/veto`` of every file in
  blocks of 256 records, decoding included (the I/O limit of one core; benchmarks/bench_replay.py);
* ``sevens' read``: the same rows through ``read_block``, as reprocessing reads them (``huffman-zstd``
  raw chunks read with ``read_direct_chunk``, checked and decoded without HDF5's pipeline);
* ``chain, one process``: :func:`daq.cluster.runs.reprocess_run` of every run in this process, no Dask
  (what one task costs);
* ``replay``: :func:`daq.cli.replay.run_replay` of every run, one after the other (its ``seconds``:
  process launch excluded), as ``sevens replay`` does it;
* ``reprocess, N workers``: :func:`daq.cli.reprocess.run_reprocess` on a LocalCluster of N = 1 and 2
  worker processes (cluster start-up and the numba warm-up excluded: the fan-out's wall time).

Throughput in triggers/s and in GB/s of raw samples (both channels, decoded: 2 x n_samples bytes a
trigger) and of the compressed file; scaling efficiency = rate(2 workers) / (2 x rate(1 worker)).
The machine is shared: besides wall time, each line gives the CPU time it took (this process's, or
the tasks' own thread CPU time on the workers) and triggers per CPU second, which other jobs on the
host disturb much less than the wall time; the per-core ratio to the bare read is taken per CPU second.

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
from collections.abc import Callable
from pathlib import Path

import h5py

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_replay import BLOCK, bare_read, record  # noqa: E402

from daq.cli.replay import run_replay  # noqa: E402
from daq.cli.reprocess import plan, run_reprocess  # noqa: E402
from daq.cluster.client import open_client  # noqa: E402
from daq.cluster.runs import reprocess_run  # noqa: E402
from daq.replay.sources import MAX_SPEED  # noqa: E402
from daq.runfile.tables import read_block  # noqa: E402

YEAR_TRIGGERS = 1.9e9  # SPEC section 7: one year at 60 Hz


def copies(src: Path, directory: Path, n: int) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for k in range(n):
        dst = directory / f"run_{k + 1:06d}.h5"
        shutil.copyfile(src, dst)
        out.append(dst)
    return out


def line(label: str, seconds: float, cpu_s: float | None, n: int, raw_bytes: int, file_bytes: int,
         note: str = "") -> tuple[float, float | None]:
    rate = n / seconds
    per_cpu = n / cpu_s if cpu_s else None
    cpu = f"{cpu_s:8.2f} {per_cpu:11.0f}" if cpu_s else f"{'':8s} {'':11s}"
    print(f"{label:28s} {seconds:8.2f} {rate:11.0f} {raw_bytes / seconds / 1e9:9.3f} {file_bytes / seconds / 1e9:9.3f}"
          f" {cpu}  {note}")
    return rate, per_cpu


def timed(func: Callable[[], object]) -> tuple[float, float]:
    """(wall, CPU seconds of this process) of ``func()``."""
    t0, c0 = time.perf_counter(), time.process_time()
    func()
    return time.perf_counter() - t0, time.process_time() - c0


def own_read(path: Path) -> None:
    """The same rows as :func:`bare_read`, read as reprocessing reads them: ``read_block``, which reads
    ``huffman-zstd`` raw chunks directly (:func:`daq.runfile.raw_codecs.read_direct_rows`)."""
    with h5py.File(path, "r") as f:
        for name in ("triggers", "beam"):
            read_block(f[name], 0, f[name].shape[0])
        n = f["raw/csi"].shape[0]
        for lo in range(0, n, BLOCK):
            for name in ("raw/csi", "raw/veto"):
                read_block(f[name], lo, lo + BLOCK)


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
        print(f"{'':28s} {'seconds':>8s} {'triggers/s':>11s} {'raw GB/s':>9s} {'file GB/s':>9s} {'CPU s':>8s} "
              f"{'per CPU s':>11s}")
        reps = max(args.repeats, 1)
        bare = min((timed(lambda: [bare_read(r) for r in runs]) for _ in range(reps)), key=lambda t: t[1])
        _, bare_cpu = line("bare h5py read (1 core)", *bare, n, raw_bytes, file_bytes)
        own = min((timed(lambda: [own_read(r) for r in runs]) for _ in range(reps)), key=lambda t: t[1])
        line("sevens' read (read_block)", *own, n, raw_bytes, file_bytes, "(raw chunks read directly)")

        def chain() -> None:
            out = work / f"chain-{time.monotonic_ns()}"
            for job in plan([str(r) for r in runs], None, out, "link"):
                reprocess_run(job)

        chain()  # numba warm-up in this process
        best = min((timed(chain) for _ in range(reps)), key=lambda t: t[1])
        _, chain_cpu = line("chain, one process", *best, n, raw_bytes, file_bytes, "(no Dask)")

        def replay_all() -> float:
            out = work / f"replay-{time.monotonic_ns()}"
            return sum(run_replay(str(r), None, MAX_SPEED, str(out), raw="link")["seconds"] for r in runs)

        line("sevens replay (6 processes)", min(replay_all() for _ in range(reps)), None, n, raw_bytes, file_bytes,
             "(one run after the other, launch excluded)")
        rates, per_cpu = {}, {}
        for workers in (1, 2):
            with open_client("local", workers) as client:
                def fan(client=client) -> tuple[float, float]:  # noqa: ANN001
                    out = work / f"reprocess-{time.monotonic_ns()}"
                    result = run_reprocess([str(r) for r in runs], None, str(out), client=client)
                    if result["failed"]:
                        raise SystemExit(f"reprocessing failed: {result['failed']}")
                    return float(result["seconds"]), sum(r["cpu_s"] for r in result["runs"])

                fan()  # workers warm
                best = min((fan() for _ in range(reps)), key=lambda t: t[0])
                rates[workers], per_cpu[workers] = line(f"reprocess, {workers} worker(s)", *best, n, raw_bytes,
                                                        file_bytes, "(LocalCluster, fan-out only; CPU: the tasks')")
        eff = rates[2] / (2 * rates[1])
        eff_cpu = per_cpu[2] / per_cpu[1]
        print(f"scaling 1 -> 2 workers: {rates[2] / rates[1]:.2f}x, efficiency {eff:.0%} (wall; needs 2 idle cores), "
              f"{eff_cpu:.0%} (CPU per trigger, 1 worker / 2 workers at once); per CPU second: reprocess / bare read "
              f"{per_cpu[1] / bare_cpu:.2f}, chain / bare read {chain_cpu / bare_cpu:.2f}")
        bytes_per_trigger = file_bytes / n
        core_rate = per_cpu[1] * min(eff_cpu, 1.0)  # a core of its own per worker, as on a cluster node
        cpu_s = YEAR_TRIGGERS / (core_rate * 100)
        io_s = YEAR_TRIGGERS * bytes_per_trigger / (args.io_gbps * 1e9)
        print(f"one year ({YEAR_TRIGGERS:.2g} triggers, {YEAR_TRIGGERS * bytes_per_trigger / 1e12:.0f} TB of files) "
              f"on 100 cores: CPU {cpu_s / 3600:.1f} h at {core_rate:.0f} triggers per CPU second per core "
              f"({per_cpu[1]:.0f} x {min(eff_cpu, 1.0):.0%}); "
              f"I/O {io_s / 3600:.1f} h at {args.io_gbps:g} GB/s; estimate {max(cpu_s, io_s) / 3600:.1f} h")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
