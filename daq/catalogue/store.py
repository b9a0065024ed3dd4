"""The :class:`Catalogue`: one database connection (an engine), its writes and its queries.

Writes are idempotent upserts keyed by run number or file path, so an entry written twice (a spool
replayed after a crash) changes nothing; tags, DQ flags and shift-log entries are appended. Reads
return plain dicts (column name -> value), ready for JSON.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc

from daq.catalogue import schema
from daq.catalogue.database import CatalogueError, display_url, make_engine, sqlite_path
from daq.catalogue.migrations import LATEST, migrate

#: quality verdicts: a run has at most one, the latest set (``good`` after ``bad`` makes it good)
VERDICTS = ("good", "bad", "messy")
TAG_ACTIONS = ("set", "clear")
SEVERITIES = ("info", "warning", "bad")


def _row(r: sa.Row) -> dict[str, Any]:
    return dict(r._mapping)


class Catalogue:
    """A catalogue database. ``create=False`` refuses an SQLite file that does not exist yet (a reading
    command pointed at the wrong directory); otherwise the database is created and migrated."""

    def __init__(self, url: str, timeout_s: float = 2.0, create: bool = True) -> None:
        self.url = url
        self.shown = display_url(url)
        path = sqlite_path(url)
        if path is not None and not create and not path.is_file():
            raise CatalogueError(f"no catalogue at {path}: run the DAQ there, or index its files with "
                                 f"`sevens catalogue import {path.parent}`")
        if path is not None and not path.parent.is_dir():
            raise CatalogueError(f"catalogue {path}: directory {path.parent} does not exist")
        self.engine = make_engine(url, timeout_s)
        try:
            migrate(self.engine, self.shown)
        except CatalogueError:
            self.engine.dispose()
            raise

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Catalogue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- writes ------------------------------------------------------------------------------
    @staticmethod
    def _upsert(conn: sa.Connection, table: sa.Table, key: dict[str, Any], values: dict[str, Any],
                insert_only: dict[str, Any] | None = None) -> None:
        """Update the row with ``key``, or insert it (with ``insert_only`` too); a concurrent insert
        of the same key (another writer) turns into the update."""
        where = sa.and_(*[table.c[k] == v for k, v in key.items()])
        if values and conn.execute(table.update().where(where).values(**values)).rowcount:
            return
        if not values and conn.execute(sa.select(sa.literal(1)).select_from(table).where(where)).first():
            return
        try:
            with conn.begin_nested():
                conn.execute(table.insert().values({**(insert_only or {}), **values, **key}))
        except exc.IntegrityError:
            if values:
                conn.execute(table.update().where(where).values(**values))

    def put_run(self, facts: dict[str, Any]) -> None:
        """Register or complete a run: the columns given replace the stored ones (None leaves them)."""
        cols = {k: v for k, v in facts.items() if k in schema.runs.c and k != "number" and v is not None}
        for key in ("cut_fractions", "lineage"):
            if isinstance(cols.get(key), dict):
                cols[key] = json.dumps(cols[key])
        now = time.time_ns()
        cols["updated_ns"] = now
        with self.engine.begin() as conn:
            self._upsert(conn, schema.runs, {"number": int(facts["number"])}, cols,
                         {"registered_ns": now, "exit_status": cols.get("exit_status", "running"),
                          "run_type": cols.get("run_type", "physics")})

    def put_file(self, facts: dict[str, Any]) -> None:
        """Register a closed file of a run (keyed by its path); the run must be known."""
        cols = {k: v for k, v in facts.items() if k in schema.files.c and k not in ("id", "path") and v is not None}
        cols.setdefault("status", "written")
        with self.engine.begin() as conn:
            self._require_run(conn, int(cols["run_number"]))
            self._upsert(conn, schema.files, {"path": str(facts["path"])}, cols, {"registered_ns": time.time_ns()})

    def put_derived(self, facts: dict[str, Any], inputs: Iterable[tuple[str, int | None]]) -> None:
        """Register a derived file (a replay, a reprocessing, an export) and the files it was made from;
        catalogued input files become ``replayed``."""
        cols = {k: v for k, v in facts.items() if k in schema.derived.c and k not in ("id", "path") and v is not None}
        if isinstance(cols.get("lineage"), dict):
            cols["lineage"] = json.dumps(cols["lineage"])
        with self.engine.begin() as conn:
            self._upsert(conn, schema.derived, {"path": str(facts["path"])}, cols, {"registered_ns": time.time_ns()})
            did = conn.execute(sa.select(schema.derived.c.id).where(schema.derived.c.path == str(facts["path"]))
                               ).scalar_one()
            for path, run in inputs:
                self._upsert(conn, schema.derived_inputs, {"derived_id": did, "input_path": str(path)},
                             {"input_run": run})
                conn.execute(schema.files.update().where(schema.files.c.path == str(path),
                                                         schema.files.c.status == "written").values(status="replayed"))

    def _require_run(self, conn: sa.Connection, number: int) -> None:
        if conn.execute(sa.select(schema.runs.c.number).where(schema.runs.c.number == number)).first() is None:
            raise CatalogueError(f"no run {number} in the catalogue {self.shown}")

    def tag(self, run: int, tag: str, who: str, why: str, clear: bool = False) -> None:
        if not tag or len(tag) > 64 or any(c.isspace() for c in tag):
            raise CatalogueError(f"tag {tag!r}: expected one word of at most 64 characters")
        if not why.strip():
            raise CatalogueError("a tag needs a reason (--why)")
        with self.engine.begin() as conn:
            self._require_run(conn, run)
            conn.execute(schema.tags.insert().values(run_number=run, tag=tag, action="clear" if clear else "set",
                                                     who=who, at_ns=time.time_ns(), why=why))

    def flag(self, run: int, flag: str, who: str, why: str, severity: str = "warning",
             start_ns: int | None = None, stop_ns: int | None = None) -> None:
        if severity not in SEVERITIES:
            raise CatalogueError(f"severity {severity!r}: expected one of {', '.join(SEVERITIES)}")
        with self.engine.begin() as conn:
            self._require_run(conn, run)
            conn.execute(schema.dq_flags.insert().values(run_number=run, flag=flag, severity=severity, who=who,
                                                         at_ns=time.time_ns(), why=why, start_ns=start_ns,
                                                         stop_ns=stop_ns))

    def log(self, text: str, who: str, run: int | None = None, at_ns: int | None = None) -> int:
        if not text.strip():
            raise CatalogueError("an empty shift-log entry")
        with self.engine.begin() as conn:
            if run is not None:
                self._require_run(conn, run)
            return conn.execute(schema.shift_log.insert().values(at_ns=at_ns or time.time_ns(), who=who, text=text,
                                                                 run_number=run)).inserted_primary_key[0]

    def set_file(self, current: str, **values: Any) -> None:
        """Change the status, path (moved), checksum or check time of the file catalogued at ``current``."""
        with self.engine.begin() as conn:
            conn.execute(schema.files.update().where(schema.files.c.path == current).values(**values))

    def apply(self, entry: dict[str, Any]) -> None:
        """Write one queued entry of the DAQ's writer (:mod:`daq.catalogue.writer`)."""
        op = entry["op"]
        if op == "run":
            self.put_run(entry["run"])
        elif op == "file":
            self.put_file(entry["file"])
        elif op == "flags":
            with self.engine.begin() as conn:
                for f in entry["flags"]:
                    self._require_run(conn, f["run_number"])
                    done = conn.execute(sa.select(schema.dq_flags.c.id).where(
                        schema.dq_flags.c.run_number == f["run_number"], schema.dq_flags.c.flag == f["flag"],
                        schema.dq_flags.c.who == f["who"], schema.dq_flags.c.why == f["why"])).first()
                    if done is None:  # an automatic flag is written once, also when its entry is replayed
                        conn.execute(schema.dq_flags.insert().values(**f))
        elif op == "derived":
            self.put_derived(entry["derived"], [tuple(i) for i in entry["inputs"]])
        else:
            raise CatalogueError(f"unknown catalogue entry {op!r}")

    # -- reads -------------------------------------------------------------------------------
    def version(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.max(schema.schema_version.c.version))).scalar() or LATEST

    def current_tags(self, numbers: Iterable[int] | None = None) -> dict[int, list[str]]:
        """Run -> its tags now: the latest verdict (good / bad / messy) and every other tag whose last
        row is ``set``; in the order they were set."""
        t = schema.tags
        q = sa.select(t).order_by(t.c.at_ns, t.c.id)
        if numbers is not None:
            q = q.where(t.c.run_number.in_(list(numbers)))
        state: dict[int, dict[str, bool]] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(q):
                tags = state.setdefault(r.run_number, {})
                if r.tag in VERDICTS and r.action == "set":
                    for v in VERDICTS:
                        tags.pop(v, None)
                tags.pop(r.tag, None)
                if r.action == "set":
                    tags[r.tag] = True
        return {run: list(tags) for run, tags in state.items()}

    def runs(self, since_ns: int | None = None, until_ns: int | None = None, run_type: str | None = None,
             numbers: Iterable[int] | None = None) -> list[dict[str, Any]]:
        """Runs by number (starting in [since, until)), each with its current ``tags``."""
        r = schema.runs
        q = sa.select(r).order_by(r.c.number)
        if since_ns is not None:
            q = q.where(r.c.start_ns >= since_ns)
        if until_ns is not None:
            q = q.where(r.c.start_ns < until_ns)
        if run_type is not None:
            q = q.where(r.c.run_type == run_type)
        if numbers is not None:
            q = q.where(r.c.number.in_(list(numbers)))
        with self.engine.connect() as conn:
            rows = [_row(x) for x in conn.execute(q)]
        tags = self.current_tags([x["number"] for x in rows]) if rows else {}
        for x in rows:
            x["tags"] = tags.get(x["number"], [])
            x["cut_fractions"] = json.loads(x["cut_fractions"]) if x["cut_fractions"] else {}
        return rows

    def files(self, numbers: Iterable[int] | None = None) -> list[dict[str, Any]]:
        f = schema.files
        q = sa.select(f).order_by(f.c.run_number, f.c.sub_run, f.c.path)
        if numbers is not None:
            q = q.where(f.c.run_number.in_(list(numbers)))
        with self.engine.connect() as conn:
            return [_row(x) for x in conn.execute(q)]

    def run(self, number: int) -> dict[str, Any]:
        """One run in full: its columns, files, tag history, DQ flags, shift-log entries, derived files."""
        found = self.runs(numbers=[number])
        if not found:
            raise CatalogueError(f"no run {number} in the catalogue {self.shown}")
        run = found[0]
        run["lineage"] = json.loads(run["lineage"]) if run["lineage"] else {}
        run["files"] = self.files([number])
        with self.engine.connect() as conn:
            for key, table in (("tag_history", schema.tags), ("dq_flags", schema.dq_flags),
                               ("shift_log", schema.shift_log)):
                run[key] = [_row(x) for x in conn.execute(
                    sa.select(table).where(table.c.run_number == number).order_by(table.c.at_ns, table.c.id))]
            d, i = schema.derived, schema.derived_inputs
            run["derived"] = [_row(x) for x in conn.execute(
                sa.select(d).join(i, i.c.derived_id == d.c.id).where(i.c.input_run == number).distinct()
                .order_by(d.c.id))]
        for x in run["tag_history"] + run["dq_flags"] + run["shift_log"] + run["derived"]:
            x.pop("run_number", None)
        return run

    def shift_log(self, since_ns: int | None = None, run: int | None = None) -> list[dict[str, Any]]:
        s = schema.shift_log
        q = sa.select(s).order_by(s.c.at_ns, s.c.id)
        if since_ns is not None:
            q = q.where(s.c.at_ns >= since_ns)
        if run is not None:
            q = q.where(s.c.run_number == run)
        with self.engine.connect() as conn:
            return [_row(x) for x in conn.execute(q)]

    def derived(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [_row(x) for x in conn.execute(sa.select(schema.derived).order_by(schema.derived.c.id))]
