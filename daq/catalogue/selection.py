"""Which runs: a selection by tags, type, date range, exit status or number, and good-run lists.

A good-run list (``sevens goodruns --out goodruns.json``) is a JSON document naming the selection,
the catalogue it came from, and per run its exposure and its files with their SHA-256; the fit can
read one instead of asking the catalogue (``[data.select] goodruns``, docs/dataset-format.md).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from daq.catalogue.database import CatalogueError
from daq.catalogue.store import Catalogue

GOODRUNS_FORMAT = "sevens-goodruns"
GOODRUNS_VERSION = 1
RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_time(text: str, now_ns: int | None = None) -> int:
    """ns since the epoch from ``30d`` / ``12h`` (that long ago), an ISO date or date-time (UTC unless it
    names its zone), or a number of ns."""
    t = str(text).strip()
    now_ns = time.time_ns() if now_ns is None else now_ns
    if m := RELATIVE.match(t):
        return now_ns - int(float(m.group(1)) * UNIT_S[m.group(2)] * 1e9)
    if t.isdigit() and len(t) > 10:
        return int(t)
    try:
        when = datetime.fromisoformat(t)
    except ValueError:
        raise CatalogueError(f"time {text!r}: expected 30d, 12h, 2w (ago), an ISO date (2025-06-01) or date-time "
                             "(2025-06-01T08:00, UTC unless it names its zone)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1e9)


def iso(ns: int | None) -> str | None:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ns else None


@dataclass(frozen=True)
class Selection:
    tags: tuple[str, ...] = ()  # runs that have every one of these tags now
    exclude_tags: tuple[str, ...] = ()  # ... and none of these
    run_type: str | None = None
    since_ns: int | None = None  # runs starting in [since, until)
    until_ns: int | None = None
    ok_only: bool = False  # only runs whose exit_status is "ok"
    runs: tuple[int, ...] | None = None
    notes: dict[str, Any] = field(default_factory=dict)  # how it was asked (for the good-run list)

    def describe(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if v not in (None, (), {}, False) and k != "notes"}
        d.update({k: iso(d.pop(k)) for k in ("since_ns", "until_ns") if k in d})
        return {**d, **self.notes}


def select(cat: Catalogue, sel: Selection) -> list[dict[str, Any]]:
    """The runs of the catalogue that match, by number, with their current tags."""
    out = []
    for run in cat.runs(sel.since_ns, sel.until_ns, sel.run_type, sel.runs):
        tags = set(run["tags"])
        if not set(sel.tags) <= tags or tags & set(sel.exclude_tags):
            continue
        if sel.ok_only and run["exit_status"] != "ok":
            continue
        out.append(run)
    return out


def goodrun_list(cat: Catalogue, sel: Selection) -> dict[str, Any]:
    runs = select(cat, sel)
    files: dict[int, list[dict[str, Any]]] = {}
    for f in cat.files([r["number"] for r in runs]) if runs else []:
        files.setdefault(f["run_number"], []).append(
            {"path": f["path"], "sub_run": f["sub_run"], "size": f["size"], "sha256": f["sha256"],
             "status": f["status"]})
    entries = [{"run": r["number"], "type": r["run_type"], "start": iso(r["start_ns"]), "stop": iso(r["stop_ns"]),
                "exit_status": r["exit_status"], "tags": r["tags"], "pot": r["pot"], "gwhr": r["gwhr"],
                "livetime_s": r["livetime_s"], "files": files.get(r["number"], [])} for r in runs]
    total = {k: sum(e[k] or 0.0 for e in entries) for k in ("pot", "gwhr", "livetime_s")}
    return {"format": GOODRUNS_FORMAT, "version": GOODRUNS_VERSION, "created": iso(time.time_ns()),
            "catalogue": cat.shown, "selection": sel.describe(), "runs": entries,
            "totals": {"runs": len(entries), **total}}


def read_goodruns(path: str | Path) -> dict[str, Any]:
    """A good-run list, checked: its format, and per run a number, an exposure and files."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
    except OSError as exc:
        raise CatalogueError(f"{p}: cannot read the good-run list: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CatalogueError(f"{p}: not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != GOODRUNS_FORMAT:
        raise CatalogueError(f"{p}: not a good-run list (expected \"format\": \"{GOODRUNS_FORMAT}\")")
    if doc.get("version") != GOODRUNS_VERSION:
        raise CatalogueError(f"{p}: good-run list version {doc.get('version')!r}; this sevens reads "
                             f"{GOODRUNS_VERSION}")
    for i, run in enumerate(doc.get("runs", [])):
        if not isinstance(run, dict) or not isinstance(run.get("run"), int) or not isinstance(run.get("files"), list):
            raise CatalogueError(f"{p}: runs[{i}]: expected a run number and its files")
    return doc
