"""Indexing run files that exist (``sevens catalogue import DIR``) and checking the catalogued ones
(``sevens catalogue verify``): present, the same size, the same SHA-256."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daq.catalogue import facts
from daq.catalogue.store import Catalogue
from daq.runfile import RunFileError
from daq.runfile.files import SUB_RUN


@dataclass
class ImportReport:
    lines: list[str] = field(default_factory=list)
    runs: int = 0
    files: int = 0
    derived: int = 0
    skipped: int = 0


def _first_files(directory: Path) -> list[Path]:
    """One file per run (its first, or its earliest sub-run if the first is gone), by run number."""
    by_run: dict[str, Path] = {}
    for p in sorted(directory.glob("run_*.h5")):
        m = SUB_RUN.match(p.name)
        if m is not None:
            by_run.setdefault(m.group(1), p)
    return [by_run[k] for k in sorted(by_run)]


def import_dir(cat: Catalogue, directory: str | Path, run_type: str | None = None) -> ImportReport:
    """Index every run file in ``directory``: its run (completed from the files), the files with their
    SHA-256, the DQ-limit flags; a replay's outputs as derived files with their inputs. A file that moved
    (same run and sub-run, same SHA-256, the old path gone) keeps its entry with the new path."""
    from daq.runfile import run_files

    d = Path(directory).resolve()
    report = ImportReport()
    for first in _first_files(d):
        try:
            paths = run_files(first)
            found = facts.derived_facts(first)
            if found is not None:
                for p in paths:
                    item = facts.derived_facts(p)
                    if item is not None:
                        cat.put_derived(*item)
                        report.derived += 1
                report.lines.append(f"{first.name}: a replay of {found[0]['lineage'].get('input_run_number')}: "
                                    f"{len(paths)} derived file(s)")
                continue
            run = facts.run_facts(first, run_type)
            clash = _clash(cat, run)
            if clash:
                report.skipped += 1
                report.lines.append(f"{first.name}: skipped: {clash}")
                continue
            if run_type is None and cat.runs(numbers=[run["number"]]):
                run.pop("run_type")  # a type set before stays
            cat.put_run(run)
            n_new = 0
            for p in paths:
                f = facts.file_facts(p)
                n_new += _put_file(cat, f)
            flags = facts.dq_limit_flags(first, run["number"])
            if flags:
                cat.apply({"op": "flags", "flags": flags})
            report.runs += 1
            report.files += len(paths)
            report.lines.append(f"run {run['number']}: {run['exit_status']}, {len(paths)} file(s)"
                                + (f" ({n_new} moved)" if n_new else "") + (f", {len(flags)} DQ flag(s)"
                                                                             if flags else ""))
        except (RunFileError, OSError, KeyError, ValueError) as exc:
            report.skipped += 1
            report.lines.append(f"{first.name}: skipped: {exc}")
    return report


def _clash(cat: Catalogue, run: dict[str, Any]) -> str | None:
    """Why a run from these files is not the catalogued run of that number (another DAQ's run directory)."""
    known = cat.runs(numbers=[run["number"]])
    if not known:
        return None
    k = known[0]
    if k["config_sha256"] and run["config_sha256"] and k["config_sha256"] != run["config_sha256"]:
        return (f"run {run['number']} is catalogued from {k['run_dir']} with another config "
                f"({k['config_sha256'][:12]}): not the same run")
    if k["start_ns"] and run["start_ns"] and abs(k["start_ns"] - run["start_ns"]) > 600e9:
        return f"run {run['number']} is catalogued from {k['run_dir']} with another start time: not the same run"
    return None


def _put_file(cat: Catalogue, f: dict[str, Any]) -> int:
    """Register ``f``; 1 if it is a catalogued file found at a new path (moved)."""
    for old in cat.files([f["run_number"]]):
        if (old["sub_run"] == f["sub_run"] and old["path"] != f["path"] and old["sha256"] == f["sha256"]
                and not Path(old["path"]).exists()):
            cat.set_file(old["path"], path=f["path"], status="moved", size=f["size"])
            return 1
    cat.put_file(f)
    return 0


@dataclass
class FileCheck:
    path: str
    run: int | None
    status: str  # ok | missing | size | sha256
    text: str


def verify(cat: Catalogue, runs: list[int] | None = None, update: bool = True) -> list[FileCheck]:
    """Check every catalogued file (of ``runs``): present, same size, same SHA-256. A missing file is marked
    ``missing`` in the catalogue, one found again goes back to its former status (``written``)."""
    checks = []
    now = time.time_ns()
    for f in cat.files(runs):
        p = Path(f["path"])
        if not p.is_file():
            check = FileCheck(f["path"], f["run_number"], "missing", f"{p}: missing")
        elif f["size"] is not None and p.stat().st_size != f["size"]:
            check = FileCheck(f["path"], f["run_number"], "size",
                              f"{p}: size {p.stat().st_size} bytes, the catalogue says {f['size']}")
        else:
            sha = facts.sha256_of(p)
            if f["sha256"] and sha != f["sha256"]:
                check = FileCheck(f["path"], f["run_number"], "sha256",
                                  f"{p}: SHA-256 {sha[:16]}..., the catalogue says {f['sha256'][:16]}...")
            else:
                check = FileCheck(f["path"], f["run_number"], "ok", f"{p}: ok")
        checks.append(check)
        if update:
            values: dict[str, Any] = {"checked_ns": now}
            if check.status == "missing":
                values["status"] = "missing"
            elif f["status"] == "missing":
                values["status"] = "written"
            cat.set_file(f["path"], **values)
    return checks
