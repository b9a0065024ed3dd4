"""``sevens reprocess``: many recorded runs through the pipeline's stages with a new config, on Dask.

One task per run (:mod:`daq.cluster.runs`: the replay devices feed the builder, veto and cut stages
in one process), fanned out on a LocalCluster, an existing scheduler, or SLURM / HTCondor jobs
(:mod:`daq.cluster.client`). The outputs are run files in a directory of replays, numbered by its
own counter (reserved here, in input order, before the fan-out), with the lineage of ``sevens
replay`` and registered in the run catalogue as derived files. Their features, cut bits, selected
events and DQ rows are those of ``sevens replay`` of the same input with the same config.
See docs/reprocessing.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from daq import config as config_mod
from daq.cli.common import UsageError
from daq.cli.replay import _replay_dir, input_run_number, replay_config
from daq.control import run_numbers
from daq.replay.inputs import scan_inputs
from daq.runfile import RunFileError, run_files

RAW_MODES = ("link", "none")
SELECT_KEYS = ("tag", "type", "since", "until", "runs", "status")


def parse_select(text: str) -> dict[str, Any]:
    """``good`` (a tag) or ``tag=good,type=physics,since=30d,until=2025-07-01,runs=3-9,status=ok``."""
    out: dict[str, Any] = {"tags": []}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        key, eq, value = part.partition("=")
        if not eq:
            key, value = "tag", key
        key, value = key.strip(), value.strip()
        if key not in SELECT_KEYS or not value:
            raise UsageError(f"--select {text!r}: {part!r}: expected a tag or KEY=VALUE with KEY one of "
                             f"{', '.join(SELECT_KEYS)}")
        if key == "tag":
            out["tags"].append(value)
        elif key == "runs":
            lo, dash, hi = value.partition("-")
            if not (lo.isdigit() and (not dash or hi.isdigit())):
                raise UsageError(f"--select {text!r}: runs={value}: expected N or N-M")
            out["runs"] = tuple(range(int(lo), int(hi if dash else lo) + 1))
        else:
            out[key] = value
    return out


def selected_files(text: str, url: str) -> list[str]:
    """The first file of every catalogued run that ``--select`` names, in run order."""
    from daq.catalogue import Catalogue, CatalogueError
    from daq.catalogue.selection import Selection, parse_time, select

    q = parse_select(text)
    try:
        sel = Selection(tags=tuple(q["tags"]), run_type=q.get("type"), runs=q.get("runs"),
                        since_ns=parse_time(q["since"]) if "since" in q else None,
                        until_ns=parse_time(q["until"]) if "until" in q else None, ok_only=q.get("status") == "ok")
        with Catalogue(url, create=False) as cat:
            runs = select(cat, sel)
            files = cat.files([r["number"] for r in runs]) if runs else []
    except CatalogueError as exc:
        raise UsageError(f"--select {text!r}: {exc}") from None
    first = {f["run_number"]: f["path"] for f in sorted(files, key=lambda f: -f["sub_run"])}
    if not first:
        raise UsageError(f"--select {text!r}: no catalogued run with a file matches (catalogue {url})")
    return [first[n] for n in sorted(first)]


def plan(inputs: list[str], config_path: str | None, out_dir: Path, raw: str) -> list[Any]:
    """One :class:`~daq.cluster.runs.RunJob` per input run, with its output number reserved."""
    from daq.cluster.runs import RunJob
    from daq.replay.sources import MAX_SPEED

    jobs, seen = [], set()
    configs: dict[str, Any] = {}  # one replay config per distinct config: the runs' files are set in the task
    for name in inputs:
        files = run_files(name)
        if files[0].resolve() in seen:
            raise UsageError(f"{name}: the same run given twice")
        seen.add(files[0].resolve())
        infos = scan_inputs(files)
        if infos[0].error:
            raise RunFileError(infos[0].error)
        if sum(i.rows for i in infos) == 0:
            raise UsageError(f"{files[0]}: no records to reprocess")
        key = "--config" if config_path else str(next((i.attrs.get("config") for i in infos if "config" in i.attrs),
                                                      ""))
        if key not in configs:
            ipc = Path(tempfile.mkdtemp(prefix="svp"))
            try:
                configs[key], _ = replay_config(infos, config_path, out_dir, ipc, MAX_SPEED)
            finally:
                shutil.rmtree(ipc, ignore_errors=True)
        cfg = configs[key]
        bad = [i for i in infos if i.error is None and i.n_samples != cfg.digitizer.n_samples]
        if bad:
            raise UsageError(f"{bad[0].path}: raw records of {bad[0].n_samples} samples, the config has "
                             f"{cfg.digitizer.n_samples} (digitizer.record_length_ns x sample_rate_hz)")
        sha = sorted({str(i.attrs["config_sha256"]) for i in infos if "config_sha256" in i.attrs})
        lineage = {"inputs": [str(i.path.resolve()) for i in infos], "kind": "reprocess",
                   "input_config_sha256": sha[0] if len(sha) == 1 else sha,
                   "input_run_number": input_run_number(infos[0]),
                   "replay_config": str(Path(config_path).resolve()) if config_path else "input",
                   "replay_speed": "max"}
        jobs.append(RunJob(name=name, files=tuple(str(p.resolve()) for p in files), config_text=cfg.text,
                           config_name=str(cfg.path), out_dir=str(out_dir.resolve()), run_number=0,
                           lineage=lineage, raw=raw))
    # numbers only once every input is known good: a refused command leaves the counter alone
    return [_numbered(job, run_numbers.next_run_number(out_dir)) for job in jobs]


def _numbered(job: Any, number: int) -> Any:
    from dataclasses import replace

    return replace(job, run_number=number)


def register(url: str, path: str) -> str | None:
    """Register an output in the catalogue as a derived file; the error in words if it could not be."""
    from daq.catalogue import Catalogue, CatalogueError
    from daq.catalogue.facts import derived_facts

    try:
        found = derived_facts(path)
        if found is not None:
            with Catalogue(url) as cat:
                cat.put_derived(*found)
    except (CatalogueError, RunFileError, OSError) as exc:
        return str(exc)
    return None


def run_reprocess(inputs: list[str], config_path: str | None, out: str, scheduler: str = "local",
                  workers: int = 2, raw: str = "link", catalogue: str | None = None,
                  per_worker_cache: str | None = None, client: Any = None) -> dict[str, Any]:
    """Reprocess ``inputs``; returns the summary (see docs/reprocessing.md). ``client``: an open
    :class:`distributed.Client` to use instead of starting one from ``scheduler``."""
    from daq.catalogue.database import resolve_url
    from daq.cluster import client as cluster_client
    from daq.cluster import numba_cache
    from daq.cluster.fanout import fan_out
    from daq.cluster.runs import remove_leftovers, reprocess_run

    if raw not in RAW_MODES:
        raise UsageError(f"--raw: expected one of {', '.join(RAW_MODES)}, got {raw!r}")
    if workers < 1:
        raise UsageError(f"--workers: expected at least 1, got {workers}")
    out_dir = _replay_dir(Path(out))
    jobs = plan(inputs, config_path, out_dir, raw)
    cfg = config_mod.parse(jobs[0].config_text, jobs[0].config_name)
    url = catalogue or (resolve_url(cfg.catalogue.url, out_dir) if cfg.catalogue.enabled else None)
    registered: dict[str, str | None] = {}

    def on_result(i: int, result: dict[str, Any]) -> None:
        if url:
            registered[result["file"]] = register(url, result["file"])

    def go(c: Any) -> Any:
        numba_cache.warm_workers(c, cfg)
        return fan_out(c, reprocess_run, jobs, [j.name for j in jobs], "reprocess", on_result=on_result)

    try:
        if client is not None:
            outcome = go(client)
        else:
            try:
                with cluster_client.open_client(scheduler, workers, per_worker_cache) as c:
                    outcome = go(c)
            except cluster_client.ClusterError as exc:
                raise UsageError(str(exc)) from None
    finally:
        remove_leftovers(out_dir, [j.run_number for j in jobs])
    runs = [r for r in outcome.results if r is not None]
    triggers = sum(r["triggers"] for r in runs)
    return {"out": str(out_dir.resolve()), "scheduler": scheduler if client is None else "client",
            "runs": runs, "failed": outcome.failures, "triggers": triggers, "seconds": round(outcome.seconds, 3),
            "triggers_per_s": round(triggers / outcome.seconds, 1) if outcome.seconds > 0 else None,
            "catalogue": url, "catalogue_errors": {k: v for k, v in registered.items() if v}}


def human(result: dict[str, Any]) -> str:
    lines = [f"reprocessed {len(result['runs'])} run(s), {result['triggers']} triggers in {result['seconds']} s "
             f"({result['triggers_per_s']} triggers/s) -> {result['out']}"]
    for r in result["runs"]:
        lines.append(f"  {r['input']} -> {Path(r['file']).name}: {r['triggers']} triggers, {r['exit_status']}")
    for name, why in result["failed"].items():
        lines.append(f"  FAILED {name} (twice): {why}")
    for path, why in result["catalogue_errors"].items():
        lines.append(f"  not catalogued: {path}: {why}")
    return "\n".join(lines)


def cmd_reprocess(args: argparse.Namespace) -> int:
    from daq.cluster.client import check_scheduler

    try:
        scheduler = check_scheduler(args.scheduler)
    except ValueError as exc:
        raise UsageError(f"--scheduler: {exc}") from None
    if bool(args.run_files) == bool(args.select):
        raise UsageError("give run files or --select TAG/QUERY (one of the two)")
    inputs = list(args.run_files)
    if args.select:
        from daq.catalogue.database import resolve_url

        base = config_mod.load(args.config)
        inputs = selected_files(args.select, args.catalogue or resolve_url(base.catalogue.url, base.run.directory))
    result = run_reprocess(inputs, args.config, args.out, scheduler, args.workers, args.raw, args.catalogue,
                           args.per_worker_cache)
    for name, why in result["failed"].items():
        print(f"sevens reprocess: {name}: failed twice: {why}", file=sys.stderr)
    print(human(result), file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(result, separators=(",", ":"), default=str))
    ok = not result["failed"] and all(r["exit_status"] == "ok" and not r["stopped_at"] for r in result["runs"])
    return 0 if ok else 1


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``reprocess`` to the ``sevens`` argument parser."""
    r = subparsers.add_parser("reprocess", help="reprocess many recorded runs with a new config, on Dask")
    r.add_argument("run_files", nargs="*", metavar="RUN.h5", help="run files (their sub-run files come with them)")
    r.add_argument("--select", metavar="TAG/QUERY",
                   help="runs from the catalogue: a tag, or tag=T,type=physics,since=30d,until=DATE,runs=N-M,status=ok")
    r.add_argument("--catalogue", metavar="URL", help="catalogue to select from and register in (default: "
                                                      "catalogue.url, else the run directory's / --out's SQLite file)")
    r.add_argument("--config", help="config to reprocess with (default: each run's own, stored in its file)")
    r.add_argument("--out", required=True, help="directory of replays for the outputs (never a live run directory)")
    r.add_argument("--scheduler", default="local", metavar="local|ADDRESS|slurm|htcondor",
                   help="local = a LocalCluster (default); tcp://host:8786 = a running scheduler; slurm, htcondor = "
                        "jobs from the Dask jobqueue config (docs/reprocessing.md)")
    r.add_argument("--workers", type=int, default=2, help="LocalCluster processes, or jobqueue jobs (2)")
    r.add_argument("--raw", choices=RAW_MODES, default="link",
                   help="raw waveforms of the outputs: link = virtual datasets over the inputs (default), none")
    r.add_argument("--per-worker-cache", metavar="DIR",
                   help="one numba cache directory per worker under DIR (default: the package's cache, warmed "
                        "by one worker at a time)")
    r.add_argument("--json", action="store_true", help="print the summary as JSON on the last line")
    r.set_defaults(func=cmd_reprocess)
