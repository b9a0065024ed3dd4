"""Runs chosen from the run catalogue instead of listed by file name: a dataset's ``[data.select]``.

``[data.select]`` names a selection — ``tags``, ``exclude_tags`` (default ``["bad", "messy"]``),
``type``, ``since`` / ``until``, ``runs``, ``any_status`` — asked of the catalogue (``catalogue``:
a URL, or an SQLite file name resolved like the other file names; default ``catalogue.sqlite``
beside the data), or a good-run list (``goodruns = "goodruns.json"``, written by ``sevens goodruns``).
Either gives the runs, their files, and per run the exposure the catalogue recorded. The fit then
takes its exposure from the catalogue and checks it against the files: each run's POT and GWhr
against its last file's ``pot_total`` / ``gwhr_total``, each file's size against the catalogue's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .schema import DatasetError, Section

SELECT_KEYS = ("catalogue", "goodruns", "tags", "exclude_tags", "type", "since", "until", "runs", "any_status")


@dataclass(frozen=True)
class CatalogueRun:
    """One selected run: its files (in sub-run order), sizes and the exposure the catalogue holds."""

    number: int
    files: tuple[Path, ...]
    sizes: tuple[int | None, ...]
    pot: float
    gwhr: float


def _url(sec: Section, base: Path) -> str:
    text = sec.string("catalogue", "catalogue.sqlite")
    if "://" in text:
        return text
    path = base / text
    if not path.is_file():
        raise DatasetError(f"{sec.source.name}: [{sec.name}] catalogue: expected an existing catalogue file or a "
                           f"database URL, got {str(path)!r} (use --data-dir to point at the run directory)")
    return f"sqlite:///{path.resolve()}"


def _runs_from_list(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"number": r["run"], "pot": r.get("pot"), "gwhr": r.get("gwhr"),
             "files": [(f["path"], f.get("size"), f.get("status", "written")) for f in r["files"]]}
            for r in doc["runs"]]


def select_runs(sec: Section, base: Path) -> tuple[CatalogueRun, ...]:
    """The runs ``[data.select]`` names (DatasetError naming the key when it cannot)."""
    from daq.catalogue import Catalogue, CatalogueError
    from daq.catalogue.selection import Selection, parse_time, read_goodruns, select

    sec.check_keys(SELECT_KEYS)
    try:
        if sec.has("goodruns"):
            extra = [k for k in SELECT_KEYS if k != "goodruns" and sec.has(k)]
            if extra:
                raise sec.error(extra[0], "nothing else beside goodruns (the list is the selection)")
            runs = _runs_from_list(read_goodruns(base / sec.string("goodruns")))
        else:
            try:
                since = parse_time(sec.string("since")) if sec.has("since") else None
                until = parse_time(sec.string("until")) if sec.has("until") else None
            except CatalogueError as exc:
                raise DatasetError(f"{sec.source.name}: [{sec.name}] {exc}") from None
            numbers = sec.raw.get("runs")
            if numbers is not None and not (isinstance(numbers, list) and all(isinstance(n, int) for n in numbers)):
                raise sec.error("runs", "a list of run numbers", numbers)
            sel = Selection(tags=tuple(sec.strings("tags", [])),
                            exclude_tags=tuple(sec.strings("exclude_tags", ["bad", "messy"])),
                            run_type=sec.string("type", None), since_ns=since, until_ns=until,
                            ok_only=not sec.boolean("any_status", False),
                            runs=tuple(numbers) if numbers is not None else None)
            with Catalogue(_url(sec, base), create=False) as cat:
                chosen = select(cat, sel)
                files = cat.files([r["number"] for r in chosen]) if chosen else []
            runs = [{"number": r["number"], "pot": r["pot"], "gwhr": r["gwhr"],
                     "files": [(f["path"], f["size"], f["status"]) for f in files if f["run_number"] == r["number"]]}
                    for r in chosen]
    except CatalogueError as exc:
        raise DatasetError(f"{sec.source.name}: [{sec.name}]: {exc}") from None
    if not runs:
        raise DatasetError(f"{sec.source.name}: [{sec.name}]: no run in the catalogue matches the selection")
    out = []
    for r in runs:
        if not r["files"]:
            raise DatasetError(f"{sec.source.name}: [{sec.name}]: run {r['number']} has no files in the catalogue")
        for path, _size, status in r["files"]:
            if status == "missing" or not Path(path).is_file():
                raise DatasetError(f"{sec.source.name}: [{sec.name}]: run {r['number']}: file {path} is missing "
                                   "(`sevens catalogue verify`; `sevens catalogue import DIR` if it moved)")
        out.append(CatalogueRun(int(r["number"]), tuple(Path(f[0]) for f in r["files"]),
                                tuple(f[1] for f in r["files"]), float(r["pot"] or 0.0), float(r["gwhr"] or 0.0)))
    return tuple(out)


def check_exposure(runs: tuple[CatalogueRun, ...]) -> tuple[float, float]:
    """The catalogue's total POT and GWhr, after checking each run's against its files."""
    from daq.runfile import RunFileError, open_run

    for run in runs:
        for path, size in zip(run.files, run.sizes, strict=True):
            if size is not None and path.stat().st_size != size:
                raise DatasetError(f"run {run.number}: {path}: {path.stat().st_size} bytes, the catalogue says {size}"
                                   " (changed since it was catalogued: `sevens catalogue verify`)")
        try:
            with open_run(run.files[-1]) as f:  # the last file of a run holds the run's totals
                pot, gwhr = float(f.attrs.get("pot_total", -1)), float(f.attrs.get("gwhr_total", -1))
        except (RunFileError, OSError) as exc:
            raise DatasetError(str(exc)) from None
        for name, cat, file in (("POT", run.pot, pot), ("GWhr", run.gwhr, gwhr)):
            if not math.isclose(cat, file, rel_tol=1e-9, abs_tol=1e-30):
                raise DatasetError(f"run {run.number}: the catalogue says {cat:.6e} {name}, its files "
                                   f"{file:.6e} (re-index with `sevens catalogue import`)")
    return sum(r.pot for r in runs), sum(r.gwhr for r in runs)
