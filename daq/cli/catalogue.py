"""``sevens runs``, ``tag``, ``flag``, ``log``, ``goodruns``, ``catalogue import|verify|sync`` and ``history``:
the run catalogue (docs/catalogue.md).

Every command finds the catalogue as the DAQ does: ``--catalogue URL``, else ``catalogue.url`` of the
config, else ``RUN_DIR/catalogue.sqlite`` (``--run-dir``, else ``run.directory``). A database that
cannot be reached is one line ``sevens: error: catalogue URL: <why>``, exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from daq.cli.common import UsageError, load_config, with_config


def _url(args: argparse.Namespace) -> str:
    from daq.catalogue.database import resolve_url

    if getattr(args, "catalogue", None):
        return args.catalogue
    cfg = load_config(args)
    return resolve_url(cfg.catalogue.url, args.run_dir or cfg.run.directory)


@contextlib.contextmanager
def opened(args: argparse.Namespace, create: bool = False) -> Iterator[Any]:
    """The catalogue, with its errors as one-line usage errors."""
    from sqlalchemy import exc

    from daq.catalogue import Catalogue, CatalogueError, display_url
    from daq.catalogue.database import describe

    url = _url(args)
    try:
        cat = Catalogue(url, timeout_s=args.timeout, create=create)
    except CatalogueError as e:
        raise UsageError(str(e)) from None
    except exc.SQLAlchemyError as e:
        raise UsageError(f"catalogue {display_url(url)}: {describe(e)}") from None
    try:
        yield cat
    except CatalogueError as e:
        raise UsageError(str(e)) from None
    except exc.SQLAlchemyError as e:
        raise UsageError(f"catalogue {cat.shown}: {describe(e)}") from None
    finally:
        cat.close()


def _who(args: argparse.Namespace) -> str:
    return args.who or os.environ.get("SEVENS_USER") or getpass.getuser()


def _time(text: str | None) -> int | None:
    from daq.catalogue import CatalogueError
    from daq.catalogue.selection import parse_time

    if text is None:
        return None
    try:
        return parse_time(text)
    except CatalogueError as e:
        raise UsageError(str(e)) from None


def _selection(args: argparse.Namespace, **extra: Any) -> Any:
    from daq.catalogue.selection import Selection

    return Selection(tags=tuple(getattr(args, "tag", None) or ()), run_type=args.type,
                     since_ns=_time(args.since), until_ns=_time(args.until),
                     notes={k: v for k, v in (("since", args.since), ("until", args.until)) if v}, **extra)


def _dump(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), default=str)


def _g(value: Any, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


# -- runs ------------------------------------------------------------------------------------------
RUN_COLUMNS = ("run", "type", "start (UTC)", "dur s", "status", "recorded", "lost", "POT", "GWhr", "baseline",
               "rms", "SPE gain", "afterglow", "tags")


def run_table(runs: list[dict[str, Any]]) -> str:
    from daq.catalogue.selection import iso

    rows = [RUN_COLUMNS]
    for r in runs:
        status = r["exit_status"] if len(r["exit_status"]) <= 20 else r["exit_status"][:19] + "~"
        rec = "-" if r["triggers_recorded"] is None else f"{r['triggers_recorded']}/{_g(r['triggers_generated'], 'd')}"
        rows.append((str(r["number"]), r["run_type"], (iso(r["start_ns"]) or "-").replace("T", " ").rstrip("Z"),
                     _g(r["duration_s"], ".1f"), status, rec, _g(r["triggers_lost"], "d"), _g(r["pot"], ".3e"),
                     _g(r["gwhr"], ".3e"), _g(r["baseline_adc"], ".2f"), _g(r["baseline_rms_adc"], ".3f"),
                     _g(r["spe_gain"], ".2f"), _g(r["afterglow_fraction"], ".3f"), ",".join(r["tags"]) or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(RUN_COLUMNS))]
    left = {1, 2, 4, 13}
    return "\n".join("  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(
        zip(row, widths, strict=True))).rstrip() for row in rows)


def run_text(run: dict[str, Any]) -> str:
    from daq.catalogue.selection import iso

    lines = [f"run {run['number']}  ({run['run_type']})  {run['exit_status']}",
             f"  start        {iso(run['start_ns'])}   stop {iso(run['stop_ns']) or '-'}   duration "
             f"{_g(run['duration_s'], '.3f')} s   livetime {_g(run['livetime_s'], '.1f')} s",
             f"  triggers     generated {_g(run['triggers_generated'], 'd')}  recorded "
             f"{_g(run['triggers_recorded'], 'd')}  lost {_g(run['triggers_lost'], 'd')}   restarts "
             f"{_g(run['restarts'], 'd')}",
             f"  beam         {_g(run['beam_pulses'], 'd')} pulses, {_g(run['pot'], '.4e')} POT, "
             f"{_g(run['gwhr'], '.4e')} GWhr",
             f"  dq           baseline {_g(run['baseline_adc'], '.3f')} ADC (rms {_g(run['baseline_rms_adc'], '.3f')}),"
             f" SPE gain {_g(run['spe_gain'], '.3f')} ADC*sample, afterglow {_g(run['afterglow_fraction'], '.4f')}",
             "  cuts         " + (", ".join(f"{k} {v:.3f}" for k, v in run["cut_fractions"].items()) or "-"),
             f"  config       {run['config_path']}  sha256 {(run['config_sha256'] or '-')[:16]}  "
             f"software {run['software_version']}  backend {run['backend']}",
             f"  run          seed {run['seed']}  rate boost {run['rate_boost']}  speed {run['speed']}  "
             f"host {run['host'] or '-'}  dir {run['run_dir']}",
             "  tags         " + (", ".join(run["tags"]) or "-")]
    lines.append(f"  files        {len(run['files'])}")
    for f in run["files"]:
        lines.append(f"    {f['path']}  sub-run {f['sub_run']}  {_g(f['size'], 'd')} bytes  {f['status']}  "
                     f"sha256 {(f['sha256'] or '-')[:16]}")
    for key, title, text in (("tag_history", "tag history", lambda x: f"{x['action']} {x['tag']}: {x['why']}"),
                             ("dq_flags", "DQ flags", lambda x: f"{x['severity']} {x['flag']}: {x['why']}"),
                             ("shift_log", "shift log", lambda x: x["text"])):
        if run[key]:
            lines.append(f"  {title}")
            lines.extend(f"    {iso(x['at_ns'])}  {x['who']}: {text(x)}" for x in run[key])
    for d in run["derived"]:
        lines.append(f"  derived      {d['kind']} {d['path']} ({d['exit_status']})")
    return "\n".join(lines)


def cmd_runs(args: argparse.Namespace) -> int:
    if args.action == "show":
        if args.number is None:
            raise UsageError("runs show: which run? (`sevens runs show N`)")
        with opened(args) as cat:
            run = cat.run(args.number)
        print(_dump(run) if args.json else run_text(run))
        return 0
    if args.action is not None or args.number is not None:
        raise UsageError(f"runs: unknown action {args.action!r} (`sevens runs` lists, `sevens runs show N` shows one)")
    from daq.catalogue.selection import select

    with opened(args) as cat:
        runs = select(cat, _selection(args))
    if args.json:
        print(_dump(runs))
    elif not runs:
        print("no runs match")
    else:
        print(run_table(runs))
    return 0


def cmd_tag(args: argparse.Namespace) -> int:
    with opened(args) as cat:
        cat.tag(args.number, args.tag, _who(args), args.why, clear=args.clear)
        now = cat.current_tags([args.number]).get(args.number, [])
    print(f"run {args.number}: {'cleared' if args.clear else 'tagged'} {args.tag} ({_who(args)}: {args.why}); "
          f"tags now: {', '.join(now) or 'none'}")
    return 0


def cmd_flag(args: argparse.Namespace) -> int:
    with opened(args) as cat:
        cat.flag(args.number, args.flag, _who(args), args.why, args.severity, _time(args.start), _time(args.stop))
    print(f"run {args.number}: DQ flag {args.flag} ({args.severity}) by {_who(args)}: {args.why}")
    return 0


def cmd_log(args: argparse.Namespace) -> int:
    from daq.catalogue.selection import iso

    if args.list or not args.text:
        with opened(args) as cat:
            entries = cat.shift_log(_time(args.since), args.run)
        if args.json:
            print(_dump(entries))
        for e in [] if args.json else entries:
            run = f" [run {e['run_number']}]" if e["run_number"] is not None else ""
            print(f"{iso(e['at_ns'])}  {e['who']}{run}: {e['text']}")
        return 0
    with opened(args, create=True) as cat:
        number = cat.log(" ".join(args.text), _who(args), args.run)
    print(f"shift log entry {number}" + (f" for run {args.run}" if args.run is not None else "") + " added")
    return 0


def cmd_goodruns(args: argparse.Namespace) -> int:
    from daq.catalogue.selection import goodrun_list
    from daq.runfile.outputs import check_output, replacing

    out = Path(args.out)
    check_output(out, [], args.force)
    excluded = tuple(t for t in args.exclude.split(",") if t)
    args.tag = args.tag or ["good"]  # a good-run list: runs tagged good, unless other tags are asked for
    with opened(args) as cat:
        doc = goodrun_list(cat, _selection(args, exclude_tags=excluded, ok_only=not args.any_status))
    with replacing([out], args.force) as (tmp,):
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
    t = doc["totals"]
    print(f"{out}: {t['runs']} runs ({', '.join(str(r['run']) for r in doc['runs']) or 'none'}), "
          f"{t['pot']:.4e} POT, {t['gwhr']:.4e} GWhr, livetime {t['livetime_s']:.1f} s; selection "
          f"{json.dumps(doc['selection'])}")
    return 0


def cmd_catalogue(args: argparse.Namespace) -> int:
    if args.action == "import":
        from daq.catalogue.importer import import_dir

        if not args.directory or not Path(args.directory).is_dir():
            raise UsageError(f"catalogue import: {args.directory!r}: not a directory")
        with opened(args, create=True) as cat:
            report = import_dir(cat, args.directory, args.type)
            shown = cat.shown
        print("\n".join(report.lines) if report.lines else f"{args.directory}: no run files")
        print(f"{shown}: {report.runs} runs, {report.files} files, {report.derived} derived files indexed"
              + (f", {report.skipped} skipped" if report.skipped else ""))
        return 1 if report.skipped else 0
    if args.action == "verify":
        from daq.catalogue.importer import verify

        with opened(args) as cat:
            checks = verify(cat, args.run or None)
        bad = [c for c in checks if c.status != "ok"]
        if args.json:
            print(_dump({"ok": not bad, "files": [c.__dict__ for c in checks]}))
        else:
            print("\n".join(c.text for c in checks) or "no files in the catalogue")
            print(f"{len(checks)} files: {len(checks) - len(bad)} ok, {len(bad)} not" if checks else "", end="\n"
                  if checks else "")
        return 1 if bad else 0
    return cmd_sync(args)


def cmd_sync(args: argparse.Namespace) -> int:
    """Write the spool of a run directory whose supervisor has gone (it would, on its next start)."""
    from daq.catalogue.writer import SPOOL, CatalogueWriter
    from daq.wire import ownership

    cfg = load_config(args)
    run_dir = Path(args.directory or args.run_dir or cfg.run.directory)
    if not (run_dir / SPOOL).is_file():
        print(f"{run_dir}: nothing queued")
        return 0
    try:
        claim = ownership.claim(run_dir / ".sevens.lock", f"run directory {run_dir}")
    except ownership.OwnedElsewhere as exc:
        raise UsageError(f"{exc}: its supervisor writes its own queue") from None
    try:
        writer = CatalogueWriter(args.catalogue or cfg.catalogue.url, run_dir, args.timeout, 0.5)
        done = writer.flush(args.wait)
        state = writer.status()
        writer.close(1.0)
    finally:
        claim.release()
    print(f"{run_dir}: {state['written']} entries written to {state['url']}"
          + ("" if done else f"; {state['queued']} still queued: {state['error']}"))
    return 0 if done else 1


def cmd_history(args: argparse.Namespace) -> int:
    from daq.catalogue import CatalogueError
    from daq.catalogue.history import csv_text, history, plot
    from daq.catalogue.selection import RELATIVE, UNIT_S
    from daq.runfile.outputs import check_output, replacing

    every = None
    if args.every:
        m = RELATIVE.match(args.every)
        if m is None:
            raise UsageError(f"--every {args.every!r}: expected a length like 10m, 1h, 1d")
        every = float(m.group(1)) * UNIT_S[m.group(2)]
    outs = [Path(p) for p in (args.png, args.csv) if p]
    for out in outs:
        check_output(out, [], args.force, "--png" if str(out) == args.png else "--csv")
    with opened(args) as cat:
        try:
            rows, problems = history(cat, _selection(args), args.quantities, every)
        except CatalogueError as e:
            raise UsageError(str(e)) from None
        shown = cat.shown
    for p in problems:
        print(f"sevens: warning: history: {p}", file=sys.stderr)
    if not rows:
        raise UsageError("history: no DQ intervals in the selected runs")
    runs = sorted({r["run"] for r in rows})
    with replacing(outs, args.force) as tmps:
        paths = dict(zip([str(o) for o in outs], tmps, strict=True))
        if args.csv:
            paths[args.csv].write_text(csv_text(rows, args.quantities))
        if args.png:
            plot(rows, args.quantities, paths[args.png],
                 f"{', '.join(args.quantities)}: runs {runs[0]}-{runs[-1]} ({len(runs)} runs) from {shown}")
    if args.json:
        print(_dump(rows))
    elif not outs:
        print(csv_text(rows, args.quantities), end="")
    print(f"{len(rows)} DQ intervals of {len(runs)} runs ({', '.join(map(str, runs))})"
          + "".join(f"; {o}" for o in outs), file=sys.stderr if args.json or not outs else sys.stdout)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    def where(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        with_config(sp)
        sp.add_argument("--catalogue", metavar="URL", help="database URL (default: catalogue.url, else "
                                                           "sqlite:///RUN_DIR/catalogue.sqlite)")
        sp.add_argument("--run-dir", help="run directory of the default SQLite catalogue (default: run.directory)")
        sp.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a locked database (10)")
        return sp

    def selecting(sp: argparse.ArgumentParser, tag_default: list[str] | None = None) -> None:
        sp.add_argument("--since", help="runs started since: 30d, 12h (ago), 2025-06-01, 2025-06-01T08:00 (UTC)")
        sp.add_argument("--until", help="runs started before (same forms)")
        sp.add_argument("--tag", action="append", default=tag_default,
                        help="only runs with this tag now (repeat: all of them)")
        sp.add_argument("--type", choices=("physics", "calibration", "beam-off", "test"), help="only runs of this type")

    def by(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--who", help="who says so (default: $SEVENS_USER, else the login name)")

    r = where(sub.add_parser("runs", help="list catalogued runs; `sevens runs show N` gives one in full"))
    r.add_argument("action", nargs="?", metavar="show", help="`show N`: one run in full")
    r.add_argument("number", nargs="?", type=int, metavar="N")
    selecting(r)
    r.add_argument("--json", action="store_true", help="print JSON")
    r.set_defaults(func=cmd_runs)

    t = where(sub.add_parser("tag", help="tag a run: good, bad, messy (one verdict per run) or any word"))
    t.add_argument("number", type=int, metavar="N")
    t.add_argument("tag", metavar="TAG")
    t.add_argument("--why", required=True, help="the reason (kept with who and when)")
    t.add_argument("--clear", action="store_true", help="withdraw the tag (appended, like every tag)")
    by(t)
    t.set_defaults(func=cmd_tag)

    f = where(sub.add_parser("flag", help="add a DQ flag to a run (a quantity or a name, with a severity)"))
    f.add_argument("number", type=int, metavar="N")
    f.add_argument("flag", metavar="NAME", help="a DQ quantity (baseline_adc) or a short name (hv_trip)")
    f.add_argument("--why", required=True)
    f.add_argument("--severity", choices=("info", "warning", "bad"), default="warning")
    f.add_argument("--start", help="start of the stretch it concerns (a time; default: the whole run)")
    f.add_argument("--stop", help="end of that stretch")
    by(f)
    f.set_defaults(func=cmd_flag)

    lg = where(sub.add_parser("log", help="add a shift-log entry (`sevens log --list` reads the log)"))
    lg.add_argument("text", nargs="*", metavar="TEXT")
    lg.add_argument("--run", type=int, metavar="N", help="the run it is about")
    lg.add_argument("--list", action="store_true", help="print the entries (of --run, --since)")
    lg.add_argument("--since", help="with --list: entries since (30d, 2025-06-01, ...)")
    lg.add_argument("--json", action="store_true", help="with --list: print JSON")
    by(lg)
    lg.set_defaults(func=cmd_log)

    g = where(sub.add_parser("goodruns", help="write a good-run list (JSON): runs tagged good (or --tag), not bad "
                                               "or messy, exit status ok"))
    g.add_argument("--out", required=True, help="the JSON file to write")
    selecting(g, None)
    g.add_argument("--exclude", default="bad,messy", help="runs with any of these tags are left out (bad,messy)")
    g.add_argument("--any-status", action="store_true", help="also runs whose exit status is not ok")
    g.add_argument("--force", action="store_true", help="replace an existing --out")
    g.set_defaults(func=cmd_goodruns, tag=None)

    c = where(sub.add_parser("catalogue", help="import DIR: index run files; verify: files present, "
                                               "checksums match; sync [DIR]: write a stopped DAQ's queue"))
    c.add_argument("action", choices=("import", "verify", "sync"))
    c.add_argument("directory", nargs="?", metavar="DIR")
    c.add_argument("--type", choices=("physics", "calibration", "beam-off", "test"),
                   help="import: the type of the imported runs (default: the files' config, else physics)")
    c.add_argument("--run", type=int, action="append", metavar="N", help="verify: only this run (repeat)")
    c.add_argument("--wait", type=float, default=30.0, help="sync: longest wait for the database [s]")
    c.add_argument("--json", action="store_true", help="verify: print JSON")
    c.set_defaults(func=cmd_catalogue)

    h = where(sub.add_parser("history", help="DQ quantities per interval across runs: CSV, PNG"))
    h.add_argument("quantities", nargs="+", metavar="QUANTITY",
                   help="DQ fields or aliases: baseline, baseline_rms, spe_gain, spe_charge, afterglow_fraction, ...")
    selecting(h)
    h.add_argument("--every", help="average the intervals of each run over this length (10m, 1h, 1d)")
    h.add_argument("--png", help="draw one panel per quantity against time into this PNG")
    h.add_argument("--csv", help="write the rows to this CSV (without --png/--csv: CSV on stdout)")
    h.add_argument("--json", action="store_true", help="print the rows as JSON")
    h.add_argument("--force", action="store_true", help="replace existing outputs")
    h.set_defaults(func=cmd_history)
