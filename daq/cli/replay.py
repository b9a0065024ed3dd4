"""``sevens replay``, ``sevens report`` and ``sevens export``: reprocess recorded runs and hand them over.

``replay`` feeds a recorded run (the file and its sub-run files) through the same processes
as a live run — reader and beam receiver with the replay backends (:mod:`daq.replay.sources`),
builder, veto, cuts, recorder — driven by the same :class:`~daq.control.supervisor.Supervisor`, on
private ipc sockets so it can run beside a live DAQ. The config is the run's own (the
``config`` attribute of its file) unless ``--config`` replaces it; the output file's
``lineage`` names the inputs, their config hash and run number. ``report`` writes the run
report (:mod:`monitor.report`), ``export`` the selected events for the fit (:mod:`daq.runfile.export`).

No output ever replaces an input (:mod:`daq.runfile.outputs`). A replay writes into a directory
of replays, never a live run directory: the output takes the next number of that directory's
own counter, is recorded in a private working directory inside it, and appears under its final
name only once the recorder has closed it (and its raw waveforms are linked).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from daq import config as config_mod
from daq.cli.common import UsageError
from daq.config import Config
from daq.control import run_numbers
from daq.replay.inputs import (
    InputFile,
    gate_path,
    mark_damaged_input,
    mark_input_status,
    scan_inputs,
    stop_report_path,
)
from daq.replay.sources import MAX_SPEED
from daq.runfile import RunFileError, open_run, run_files
from daq.runfile.outputs import live_run_problem, mark_replay_dir, publish
from daq.runfile.raw_links import MODES

MAX_BATCH = 256  # records per reader message at --speed max (features do not depend on batching)
MAX_HWM = 8  # messages queued per lossless link at --speed max (a message is up to 18 MB)
REPLAY_HEARTBEAT_TIMEOUT_S = 10.0  # at least this before a silent replay process counts as hung


def parse_speed(text: str) -> float:
    if text == "max":
        return MAX_SPEED
    try:
        speed = float(text)
    except ValueError:
        speed = -1.0
    if not speed > 0:
        raise UsageError(f"--speed: expected a positive number or 'max', got {text!r}")
    return min(speed, MAX_SPEED)


def input_run_number(info: InputFile) -> int:
    if "run_number" in info.attrs:
        return int(info.attrs["run_number"])
    digits = info.path.name.removeprefix("run_").split("_")[0].removesuffix(".h5")
    return int(digits) if digits.isdigit() else -1


def replay_config(infos: list[InputFile], config_path: str | None, out_dir: Path, ipc_dir: Path, speed: float,
                  ) -> tuple[Config, tuple[str, ...]]:
    """The input's config (or ``config_path``) with the replay backends, inputs, output and private
    endpoints; and the raw channels that config records (``--raw copy`` copies them after the run)."""
    if config_path:
        cfg = config_mod.load(config_path)
    else:
        text = next((str(i.attrs["config"]) for i in infos if "config" in i.attrs), None)
        if text is None:
            raise UsageError(f"{infos[0].path}: its config attribute is unreadable (file cut short?); "
                             "give --config FILE")
        cfg = config_mod.parse(text, f"{infos[0].path}[config]")
    run: dict[str, Any] = {"directory": str(out_dir.resolve())}
    overrides: dict[str, dict[str, Any]] = {
        "digitizer": {"backend": "replay"}, "beam": {"backend": "replay"},
        "replay": {"files": [str(i.path.resolve()) for i in infos]}, "run": run}
    if speed >= MAX_SPEED:  # big messages, few of them in flight
        run["batch_max_triggers"] = max(cfg.run.batch_max_triggers, MAX_BATCH)
        overrides["endpoints"] = {"lossless_hwm": min(cfg.endpoints.lossless_hwm, MAX_HWM)}
    # the raw waveforms never travel through the pipeline to the recorder: they are linked or copied
    # after the run (daq.runfile.raw_links), or left out
    channels = tuple(c for c, on in (("csi", cfg.recorder.raw_csi), ("veto", cfg.recorder.raw_veto)) if on)
    overrides["recorder"] = {"raw_csi": False, "raw_veto": False}
    # every process local, no second metrics server beside a live DAQ; a busy analysis host is not
    # a hung process, and a process that does die ends the replay (a restart would lose records)
    sup = {"heartbeat_timeout_s": max(cfg.supervisor.heartbeat_timeout_s, REPLAY_HEARTBEAT_TIMEOUT_S)}
    sup.update({k: v for k, v in (("remote", []), ("metrics_port", 0), ("restart_policy", "stop"))
                if hasattr(cfg.supervisor, k)})
    overrides["supervisor"] = sup
    return config_mod.with_ipc_endpoints(config_mod.with_overrides(cfg, overrides), ipc_dir), channels


class Progress:
    """A one-line progress bar on stderr, drawn only on a terminal."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label = max(total, 1), label
        self.on = sys.stderr.isatty()
        self.next = 0.0

    def update(self, done: int, elapsed: float, span_s: float, force: bool = False) -> None:
        if not self.on or (time.monotonic() < self.next and not force):
            return
        self.next = time.monotonic() + 0.2
        frac = min(done / self.total, 1.0)
        bar = "#" * int(30 * frac) + "." * (30 - int(30 * frac))
        rate = f"{span_s * frac / elapsed:6.1f} x real time" if elapsed > 0 else ""
        sys.stderr.write(f"\r{self.label} [{bar}] {done}/{self.total} triggers {rate} ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.on:
            sys.stderr.write("\n")


def _span_s(path: Path) -> tuple[int, float]:
    """(triggers, recorded time they span [s]) of a run file."""
    with open_run(path) as f:
        times = f["triggers"]["time"]
        return len(times), (int(times[-1]) - int(times[0])) / 1e9 if len(times) > 1 else 0.0


def run_replay(run_file: str, config_path: str | None = None, speed: float = MAX_SPEED, out: str | None = None,
               raw: str = "link", announce: bool = False, observer: Callable[[Any], None] | None = None,
               ) -> dict[str, Any]:
    """Replay ``run_file`` (and its sub-runs); returns the summary (see docs/replay.md).

    ``raw``: ``link`` makes the output's raw waveforms virtual datasets over the inputs' rows, ``copy``
    copies them (the inputs' stored chunks as they are where they line up; :mod:`daq.runfile.raw_links`),
    ``none`` leaves them out.

    ``announce``: say on stderr how a GUI can watch the replay. ``observer(supervisor)`` is
    called every poll during the run (benchmarks sample it)."""
    if raw not in MODES:
        raise UsageError(f"--raw: expected one of {', '.join(MODES)}, got {raw!r}")
    files = run_files(run_file)
    infos = scan_inputs(files)
    if infos[0].error:
        raise RunFileError(infos[0].error)
    total = sum(i.rows for i in infos)
    if total == 0:
        raise UsageError(f"{files[0]}: no records to replay")
    out_dir = _replay_dir(Path(out) if out else files[0].parent / "replay")
    number = run_numbers.next_run_number(out_dir)  # the replay directory's own counter, never a live one
    work = Path(tempfile.mkdtemp(prefix=f".replay-{number:06d}-", dir=out_dir))
    (work / run_numbers.COUNTER).write_text(f"{number - 1}\n")  # so the run recorded in it is run `number`
    done = False
    try:
        result = _run(infos, files, total, config_path, speed, raw, announce, observer, out_dir, work)
        done = True
        return result
    finally:
        if done:  # a failed replay keeps its logs (its error names them), nothing else
            _move_logs(work, out_dir)
            shutil.rmtree(work, ignore_errors=True)
        else:
            for p in work.glob("run_*.h5"):
                p.unlink(missing_ok=True)


def _replay_dir(out_dir: Path) -> Path:
    """``out_dir``, created and marked as a directory of replays; UsageError if it is a live run directory."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir}: is a file; give a directory for the replay's run file")
    why = live_run_problem(out_dir, run_numbers.COUNTER)
    if why:
        raise UsageError(f"--out {out_dir}: not a directory for replays: {why}; give a directory of its own "
                         "(default: replay/ beside the input)")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        mark_replay_dir(out_dir)
    except OSError as exc:
        raise UsageError(f"--out {out_dir}: cannot create the output directory ({exc.strerror})") from None
    return out_dir


def _move_logs(work: Path, out_dir: Path) -> None:
    logs = out_dir / "logs"
    logs.mkdir(exist_ok=True)
    for p in (work / "logs").glob("*"):
        os.replace(p, logs / p.name)


def _run(infos: list[InputFile], files: list[Path], total: int, config_path: str | None, speed: float, raw: str,
         announce: bool, observer: Callable[[Any], None] | None, out_dir: Path, work: Path) -> dict[str, Any]:
    from daq.control.summary import run_summary
    from daq.control.supervisor import Supervisor, SupervisorError
    from daq.runfile.raw_links import copy_raw, link_raw

    span_in = _first_last_span(infos)
    ipc = Path(tempfile.mkdtemp(prefix="svr"))
    try:
        cfg, channels = replay_config(infos, config_path, out_dir, ipc, speed)
        bad = [i for i in infos if i.error is None and i.n_samples != cfg.digitizer.n_samples]
        if bad:
            raise UsageError(f"{bad[0].path}: raw records of {bad[0].n_samples} samples, the config has "
                         f"{cfg.digitizer.n_samples} (digitizer.record_length_ns x sample_rate_hz)")
        sha = sorted({str(i.attrs["config_sha256"]) for i in infos if "config_sha256" in i.attrs})
        lineage = {"inputs": [str(i.path.resolve()) for i in infos],
                   "input_config_sha256": sha[0] if len(sha) == 1 else sha,
                   "input_run_number": input_run_number(infos[0]),
                   "replay_config": str(Path(config_path).resolve()) if config_path else "input",
                   "replay_speed": "max" if speed >= MAX_SPEED else speed}
        try:
            sup = Supervisor(cfg, work)  # the recorder writes into ``work``; cfg.run.directory stays out_dir
        except SupervisorError as exc:
            raise UsageError(str(exc)) from None
        stop = {"n": 0}
        old = signal.signal(signal.SIGINT, lambda *_: stop.update(n=stop["n"] + 1))
        progress = Progress(total, f"replay of run {lineage['input_run_number']}")
        try:
            sup.launch()
            sup.wait_ready()
            run = sup.start_run(speed=speed, lineage=lineage)
            t0 = time.monotonic()
            if announce:
                print(f"replay of {files[0]} ({len(files)} file(s), {total} records) as run {run.run_number} in "
                      f"{out_dir}; watch it with: sevens gui --connect --config {cfg.path}", file=sys.stderr)
            while sup.state.value in ("running", "stopping"):
                sup.poll(0.1)
                progress.update(int(sup.procs["recorder"].heartbeat.get("triggers_in", 0)), time.monotonic() - t0,
                                span_in)
                if observer is not None:
                    observer(sup)
                if stop["n"] and sup.state.value == "running":
                    sup.stop_run()
            seconds = time.monotonic() - t0
        except SupervisorError as exc:
            raise UsageError(str(exc)) from None
        finally:
            progress.close()
            sup.shutdown()
            sup.close()
            signal.signal(signal.SIGINT, old)
        report = stop_report_path(out_dir, run.run_number)
        problems = json.loads(report.read_text()) if report.exists() else []
        report.unlink(missing_ok=True)
        gate_path(out_dir, run.run_number).unlink(missing_ok=True)
        if sup.run_file is None:
            raise UsageError(f"the replay produced no file: {sup.error}")
        with open_run(sup.run_file) as f:
            if str(f.attrs.get("exit_status", "running")) == "running":  # half-written: never published
                raise UsageError(f"the replay's recorder never closed its file: {sup.error}")
    finally:
        shutil.rmtree(ipc, ignore_errors=True)
    t_link = time.monotonic()
    recorded = Path(sup.run_file)
    inputs = [i.path for i in infos if i.error is None]
    linked = link_raw(recorded, inputs, final_dir=out_dir) if raw == "link" else {}
    copied = copy_raw(recorded, inputs, channels, cfg.recorder.compression, cfg.recorder.chunk_records) \
        if raw == "copy" else {}
    if problems:
        mark_damaged_input(recorded, problems)
    mark_input_status(recorded, files[-1])
    final = out_dir / recorded.name
    publish(recorded, final)
    seconds += time.monotonic() - t_link  # the output is complete only once linked or copied
    n, span = _span_s(final)
    summary = run_summary(final)
    with open_run(final) as f:
        file_lineage = json.loads(str(f.attrs["lineage"]))
    return {
        "file": str(final.resolve()), "run_number": summary["run_number"],
        "input": lineage["inputs"], "input_run_number": lineage["input_run_number"],
        "triggers": n, "input_triggers": total, "seconds": round(seconds, 3), "recorded_span_s": round(span, 3),
        "realtime_factor": round(span / seconds, 2) if seconds > 0 else None,
        "speed": lineage["replay_speed"], "raw": raw, "raw_linked_segments": linked, "raw_copied_chunks": copied,
        "exit_status": summary["exit_status"], "error": sup.error,
        "stopped_at": problems, "interrupted": bool(stop["n"]), "lineage": file_lineage, "summary": summary,
    }


def _first_last_span(infos: list[InputFile]) -> float:
    """Recorded time the inputs span [s], from their first and last readable trigger (for the progress bar)."""
    try:
        with open_run(infos[0].path) as f:
            t0 = int(f["triggers"][0]["time"])
        last = [i for i in infos if i.error is None and i.rows][-1]
        with open_run(last.path) as f:
            t1 = int(f["triggers"][last.rows - 1]["time"])
        return (t1 - t0) / 1e9
    except (OSError, ValueError, RuntimeError, KeyError, IndexError):
        return 0.0


def human(result: dict[str, Any]) -> str:
    from daq.control.summary import human as run_human

    lines = [f"replay of run {result['input_run_number']} ({len(result['input'])} file(s)) -> {result['file']}",
             f"  {result['triggers']} of {result['input_triggers']} triggers in {result['seconds']} s: "
             f"{result['realtime_factor']} x real time (speed {result['speed']})"]
    if result["interrupted"]:
        lines.append("  INTERRUPTED (Ctrl-C): the output holds the records replayed until then")
    for p in result["stopped_at"]:
        if p.get("skipped"):
            lines.append(f"  SKIPPED {p['file']}: {p['reason']}; its {p['rows_not_replayed']} records "
                         f"(trigger ids from {p['trigger_id']}) counted lost")
        else:
            lines.append(f"  STOPPED {p['file']} at row {p['trigger_index']} (trigger id {p['trigger_id']}): "
                         f"{p['reason']}; {p['rows_not_replayed']} rows not replayed")
    return "\n".join(lines + [run_human(result["summary"])])


def cmd_replay(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    result = run_replay(args.run_file, args.config, parse_speed(args.speed), args.out,
                        raw="none" if args.no_raw else args.raw, announce=True)
    for p in result["stopped_at"]:
        what = "skipped" if p.get("skipped") else f"stopped at row {p['trigger_index']}"
        print(f"sevens replay: {p['file']}: {what}: {p['reason']}", file=sys.stderr)
    print(human(result), file=sys.stderr if args.json else sys.stdout)
    if result["error"]:
        print(f"sevens replay: the run ended with an error: {result['error']}", file=sys.stderr)
    if args.json:
        print(json.dumps(result, separators=(",", ":"), default=str))
    ok = result["exit_status"] == "ok" and not (result["error"] or result["stopped_at"] or result["interrupted"])
    return 0 if ok else 1


def cmd_report(args: argparse.Namespace) -> int:
    from monitor.report import write_report

    html = write_report(args.run_file, args.out, force=args.force)
    print(html)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from daq.runfile.export import export_selected

    result = export_selected(args.run_files, args.out, force=args.force)
    if len(result["config_sha256"]) > 1:
        print(f"sevens export: warning: the runs were processed with {len(result['config_sha256'])} different "
              "configs (see the 'runs' attribute)", file=sys.stderr)
    print(json.dumps(result, separators=(",", ":")) if args.json else
          f"{result['events']} selected events of {len(result['runs'])} run(s) ({result['pot_total']:.4g} POT) "
          f"-> {result['file']}")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``replay``, ``report`` and ``export`` to the ``sevens`` argument parser."""
    r = subparsers.add_parser("replay", help="replay a recorded run through the pipeline (new cuts, calibration)")
    r.add_argument("run_file", help="run_NNNNNN.h5 (its _subKKK sub-run files are replayed with it)")
    r.add_argument("--config", help="config to replay with (default: the run's own, stored in its file)")
    r.add_argument("--speed", default="max", help="1 = recorded rate, N = N times faster, max = unpaced (default)")
    r.add_argument("--out", help="directory of replays for the output run file, numbered by its own counter; "
                                 "never a live run directory (default: replay/ beside the input)")
    r.add_argument("--raw", choices=MODES, default="link",
                   help="raw waveforms of the output: link = virtual datasets reading the input's rows (default; "
                        "as fast as none), copy = the input's stored chunks copied (self-contained), none = left out")
    r.add_argument("--no-raw", action="store_true", help="the same as --raw none")
    r.add_argument("--json", action="store_true", help="print the summary as JSON on the last line")
    r.set_defaults(func=cmd_replay)
    p = subparsers.add_parser("report", help="run report: data-quality trends, cuts, spectra (PNG + HTML)")
    p.add_argument("run_file")
    p.add_argument("--out", help="directory for the report (default: RUN_report/ beside the input)")
    p.add_argument("--force", action="store_true", help="replace the report files if they exist")
    p.set_defaults(func=cmd_report)
    e = subparsers.add_parser("export", help="selected events of runs in one small HDF5 file for the fit")
    e.add_argument("run_files", nargs="+", help="run files (sub-run files of each run are included)")
    e.add_argument("--out", required=True, help="output HDF5 file (never one of the inputs)")
    e.add_argument("--force", action="store_true", help="replace --out if it exists")
    e.add_argument("--json", action="store_true", help="print the result as JSON")
    e.set_defaults(func=cmd_export)

