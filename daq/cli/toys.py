"""``sevens fit DATASET --toys N``: toy studies of the fit, serial or fanned out on Dask.

Each toy is a pure function of ``(--seed, its index)`` (:mod:`daq.cluster.toys`), so a cluster
returns exactly the numbers of ``--scheduler serial``, in toy order.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from daq.cli.common import UsageError

SCHEDULER_HELP = ("serial = in this process; local = a LocalCluster; tcp://host:8786 = a running "
                  "scheduler; slurm, htcondor = jobs from the Dask jobqueue config (docs/reprocessing.md)")


def run_toys(dataset: str, data_dir: str | None, n: int, seed: int, scheduler: str = "local", workers: int = 2,
             mu_true: float = 1.0, client: Any = None) -> dict[str, Any]:
    """``n`` toys of ``dataset``; results in toy order and their pull summary."""
    from daq.cluster import toys

    if n < 1:
        raise UsageError(f"--toys: expected at least 1, got {n}")
    todo = toys.jobs(str(Path(dataset).resolve()), str(Path(data_dir).resolve()) if data_dir else None, n, seed,
                     mu_true)
    toys.model_of(todo[0].dataset, todo[0].data_dir)  # a bad dataset fails here, once, with its own message
    t0 = time.monotonic()
    failures: dict[str, str] = {}
    if scheduler == "serial" and client is None:
        results: list[Any] = toys.run_serial(todo)
    else:
        from daq.cluster import client as cluster_client
        from daq.cluster.fanout import fan_out

        def go(c: Any) -> Any:
            return fan_out(c, toys.run_toy, todo, [f"toy {j.index}" for j in todo], "toys")

        if client is not None:
            outcome = go(client)
        else:
            try:
                with cluster_client.open_client(scheduler, workers) as c:
                    outcome = go(c)
            except cluster_client.ClusterError as exc:
                raise UsageError(str(exc)) from None
        results, failures = outcome.results, outcome.failures
    seconds = time.monotonic() - t0
    return {"dataset": dataset, "seed": seed, "mu_true": mu_true, "scheduler": scheduler, "seconds": round(seconds, 3),
            "summary": toys.summarise(results), "failed": failures, "results": results}


def cmd_toys(args: argparse.Namespace) -> int:
    from analysis.schema import DatasetError
    from daq.cluster.client import check_scheduler

    scheduler = args.scheduler or "local"
    if scheduler != "serial":
        try:
            check_scheduler(scheduler)
        except ValueError as exc:
            raise UsageError(f"--scheduler: {exc} (or serial)") from None
    try:
        out = run_toys(args.dataset, args.data_dir, args.toys, args.seed, scheduler, args.workers, args.mu_true)
    except DatasetError as exc:
        raise UsageError(str(exc)) from None
    s = out["summary"]
    print(f"{args.dataset}: {s['valid']}/{s['toys']} valid toys (seed {args.seed}, mu_true {args.mu_true:g}) in "
          f"{out['seconds']:.1f} s on {scheduler}")
    for name in ("pull_n_cevns", "pull_n_cevns_profile", "pull_mu"):
        p = s[name]
        if p["mean"] is not None and p["width"] is not None:
            print(f"  {name:20s} mean {p['mean']:+.3f} +- {p['mean_err']:.3f}  width {p['width']:.3f}")
    for name, why in out["failed"].items():
        print(f"sevens fit: {name}: failed twice: {why}", file=sys.stderr)
    if args.json:
        try:
            Path(args.json).write_text(json.dumps(out, indent=1, default=str) + "\n")
        except OSError as exc:
            raise UsageError(f"--json {args.json}: cannot write: {exc.strerror or exc}") from None
    return 1 if out["failed"] else 0


def add_options(f: argparse.ArgumentParser) -> None:
    """The toy options of ``sevens fit``."""
    f.add_argument("--toys", type=int, metavar="N", help="fit N toys drawn from the model instead of the data")
    f.add_argument("--seed", type=int, default=0, help="seed of the toy study; toy i draws from (seed, i) (0)")
    f.add_argument("--mu-true", type=float, default=1.0, help="signal strength the toys are drawn at (1)")
    f.add_argument("--scheduler", metavar="serial|local|ADDRESS|slurm|htcondor",
                   help=SCHEDULER_HELP + ". Toys: default local. A fit: its profile-scan and NSI points go there "
                        "(default serial)")
    f.add_argument("--workers", type=int, default=2, help="LocalCluster processes, or jobqueue jobs (2)")
