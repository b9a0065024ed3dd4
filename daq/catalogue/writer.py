"""The DAQ's catalogue writer: a background thread with a bounded queue, spooled to the run directory.

The supervisor hands it entries (a run started, a run done with its file, files a crash left) and
goes on: :meth:`CatalogueWriter.submit` never blocks and never raises. The thread

1. spools every entry at once to ``RUN_DIR/catalogue-spool.jsonl`` (a daemon restart loses nothing:
   the next writer in that directory starts with the spool);
2. prepares it: reads the closed file's attributes and DQ table, computes its SHA-256;
3. writes it to the catalogue, in order. When the database is down, locked or refuses its schema,
   the entries stay queued and are retried every ``catalogue.retry_s``; the alarm is in
   :meth:`status` (the supervisor's ``status["catalogue"]``: ``queued``, ``error``), which the GUI and
   ``sevens status`` show. An entry the database rejects for good (not a transient error) goes to
   ``RUN_DIR/catalogue-rejected.jsonl`` with the reason, and the alarm says so.

At most ``catalogue.queue_max`` entries wait; beyond that new ones are dropped and counted (the files
themselves still say everything: ``sevens catalogue import RUN_DIR`` indexes them again).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SPOOL = "catalogue-spool.jsonl"
REJECTED = "catalogue-rejected.jsonl"


class CatalogueWriter:
    def __init__(self, url: str, run_dir: str | Path, timeout_s: float = 2.0, retry_s: float = 5.0,
                 queue_max: int = 10000, run_type: str = "physics") -> None:
        from daq.catalogue.database import display_url, resolve_url

        self.run_dir = Path(run_dir).resolve()
        self.url = resolve_url(url, self.run_dir)
        self.shown = display_url(self.url)
        self.timeout_s, self.retry_s, self.queue_max, self.run_type = timeout_s, retry_s, queue_max, run_type
        self.spool = self.run_dir / SPOOL
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._inbox: list[dict[str, Any]] = []
        self._pending: list[dict[str, Any]] = self._read_spool()
        self._stop = False
        self._error: str | None = None
        self._error_since: int | None = None
        self.written = self.dropped = self.rejected = 0
        self._catalogue: Any = None
        self._thread = threading.Thread(target=self._loop, name="catalogue-writer", daemon=True)
        self._thread.start()

    # -- the DAQ's side: never blocks, never raises ---------------------------------------------
    def submit(self, entry: dict[str, Any]) -> None:
        with self._lock:
            if self._stop:
                return
            if len(self._inbox) + len(self._pending) >= self.queue_max:
                self.dropped += 1
                log.error("catalogue: queue full (%d entries, catalogue.queue_max): dropped %s", self.queue_max,
                          entry.get("op"))
                return
            self._inbox.append(entry)
        self._wake.set()

    def run_started(self, params: dict[str, Any], cfg: Any, lineage: dict[str, Any] | None = None) -> None:
        """The supervisor started a run (``params``: its RunParameters as a dict). A replay's run (its
        lineage names input files) is not a run of the detector: it is catalogued as a derived file."""
        if (lineage or {}).get("inputs"):
            return
        from daq.catalogue.facts import start_facts

        try:
            self.submit({"op": "run", "run": start_facts(params, cfg, self.run_dir)})
        except Exception as exc:  # the DAQ goes on whatever happens here
            log.error("catalogue: run start not queued: %s", exc)

    def run_done(self, meta: dict[str, Any], lineage: dict[str, Any] | None = None) -> None:
        """The recorder closed the run (its ``run_done``: file, exit status, counts)."""
        if meta.get("file"):
            self.submit({"op": "closed", "file": str(meta["file"]), "exit_status": meta.get("exit_status"),
                         "derived": bool((lineage or {}).get("inputs"))})

    def recovered(self, paths: list[Path]) -> None:
        """Run files a crashed DAQ left open, now marked: their runs are completed from the files."""
        for p in paths:
            self.submit({"op": "closed", "file": str(p), "exit_status": None, "derived": False})

    def status(self) -> dict[str, Any]:
        with self._lock:
            queued = len(self._inbox) + len(self._pending)
            out = {"url": self.shown, "queued": queued, "written": self.written, "error": self._error}
            if self._error_since:
                out["error_since_ns"] = self._error_since
            if self.dropped:
                out["dropped"] = self.dropped
            if self.rejected:
                out["rejected"] = self.rejected
                out["rejected_file"] = str(self.run_dir / REJECTED)
            if queued:
                out["spool"] = str(self.spool)
        return out

    def close(self, wait_s: float | None = None) -> None:
        """Write what can still be written (for at most ``wait_s``), leave the rest in the spool."""
        with self._lock:
            self._stop = True
        self._wake.set()
        self._thread.join(wait_s if wait_s is not None else 2 * self.timeout_s + 1.0)
        state = self.status()
        if state["queued"]:
            log.warning("catalogue %s: %d entries not written (%s); they stay in %s and are written by the next "
                        "supervisor in %s", self.shown, state["queued"], state["error"] or "still being prepared",
                        self.spool, self.run_dir)

    def flush(self, timeout_s: float) -> bool:
        """Wait until nothing is queued (tests, ``sevens catalogue sync``); True if so."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.status()["queued"]:
                return True
            self._wake.set()
            time.sleep(0.05)
        return False

    # -- the thread ------------------------------------------------------------------------------
    def _read_spool(self) -> list[dict[str, Any]]:
        entries = []
        with contextlib.suppress(FileNotFoundError):
            for n, line in enumerate(self.spool.read_text().splitlines(), 1):
                try:
                    entries.append(json.loads(line))
                except ValueError:
                    log.error("catalogue: %s line %d: not an entry, skipped", self.spool, n)
        if entries:
            log.info("catalogue: %d entries from %s to write", len(entries), self.spool)
        return entries

    def _write_spool(self) -> None:
        try:
            if not self._pending:
                self.spool.unlink(missing_ok=True)
                return
            tmp = self.spool.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in self._pending))
            os.replace(tmp, self.spool)
        except OSError as exc:
            self._set_error(f"spool {self.spool}: {exc.strerror or exc}")

    def _set_error(self, text: str | None) -> None:
        with self._lock:
            if text and not self._error:
                self._error_since = time.time_ns()
                log.error("catalogue %s: %s; entries stay queued", self.shown, text)
            elif not text and self._error:
                log.warning("catalogue %s: writing again", self.shown)
                self._error_since = None
            self._error = text

    def _take_inbox(self) -> bool:
        with self._lock:
            new, self._inbox = self._inbox, []
            self._pending.extend(new)
        return bool(new)

    def _loop(self) -> None:
        while True:
            self._wake.clear()  # a submit from now on wakes the wait below
            if self._take_inbox():
                self._write_spool()
            self._prepare()
            down = self._drain()
            with self._lock:
                stopping = self._stop
            if stopping:  # one last try for what came meanwhile, then the rest stays in the spool
                if self._take_inbox():
                    self._write_spool()
                self._prepare()
                self._drain()
                if self._catalogue is not None:
                    self._catalogue.close()
                return
            self._wake.wait(self.retry_s if down else 1.0)

    def _prepare(self) -> None:
        """Turn ``closed`` entries into the rows they mean: read the files, compute their SHA-256."""
        from daq.catalogue import facts

        changed = False
        i = 0
        while i < len(self._pending):
            entry = self._pending[i]
            if entry.get("op") != "closed":
                i += 1
                continue
            try:
                ops = self._closed_ops(entry, facts)
            except Exception as exc:  # an unreadable file: say so, keep the DAQ's own account of it
                log.error("catalogue: %s: cannot read it for the catalogue: %s", entry.get("file"), exc)
                ops = []
                self._reject(entry, f"cannot read the file: {exc}")
            self._pending[i:i + 1] = ops
            i += len(ops)
            changed = True
        if changed:
            self._write_spool()

    def _closed_ops(self, entry: dict[str, Any], facts: Any) -> list[dict[str, Any]]:
        from daq.runfile import run_files

        paths = run_files(entry["file"])
        if entry.get("derived"):
            ops = []
            for p in paths:
                found = facts.derived_facts(p)
                if found is not None:
                    ops.append({"op": "derived", "derived": found[0], "inputs": found[1]})
            return ops
        run = facts.run_facts(entry["file"])
        run.pop("run_type", None)  # the type given at start (or the file's config) stays
        if entry.get("exit_status") and run["exit_status"] == "running":
            run["exit_status"] = entry["exit_status"]
        ops: list[dict[str, Any]] = [{"op": "run", "run": run}]
        ops += [{"op": "file", "file": facts.file_facts(p)} for p in paths]
        flags = facts.dq_limit_flags(entry["file"], run["number"])
        if flags:
            ops.append({"op": "flags", "flags": flags})
        return ops

    def _reject(self, entry: dict[str, Any], why: str) -> None:
        with self._lock:
            self.rejected += 1
            self._error = self._error or f"{self.rejected} entries rejected (see {self.run_dir / REJECTED})"
        try:
            with open(self.run_dir / REJECTED, "a") as f:
                f.write(json.dumps({"entry": entry, "why": why, "at_ns": time.time_ns()}) + "\n")
        except OSError as exc:
            log.error("catalogue: cannot keep the rejected entry in %s: %s", self.run_dir / REJECTED, exc)

    def _drain(self) -> bool:
        """Write the prepared entries in order; True if the database is down (entries left queued)."""
        from daq.catalogue.database import CatalogueError, describe, is_transient
        from daq.catalogue.store import Catalogue

        while self._pending and self._pending[0].get("op") != "closed":
            try:
                if self._catalogue is None:
                    self._catalogue = Catalogue(self.url, self.timeout_s)
                self._catalogue.apply(self._pending[0])
            except CatalogueError as exc:
                if self._catalogue is None:  # refused as a whole (schema): keep everything queued
                    self._set_error(str(exc))
                    return True
                self._reject(self._pending.pop(0), str(exc))
                self._write_spool()
                continue
            except Exception as exc:
                if is_transient(exc) or self._catalogue is None:
                    self._set_error(describe(exc))
                    if self._catalogue is not None:
                        self._catalogue.engine.dispose()  # connections may be dead: reconnect next time
                    return True
                self._reject(self._pending.pop(0), describe(exc))
                self._write_spool()
                continue
            with self._lock:
                self._pending.pop(0)
                self.written += 1
            if self._error and not self.rejected:
                self._set_error(None)
            self._write_spool()
        return False


class NoCatalogue:
    """What the supervisor has when ``catalogue.enabled`` is false: it takes every entry and keeps none."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None

    def status(self) -> dict[str, Any]:
        return {"enabled": False, "queued": 0, "error": None}


def for_supervisor(cfg: Any, run_dir: Path) -> CatalogueWriter | NoCatalogue:
    """The writer a supervisor uses (one that keeps nothing when ``catalogue.enabled`` is false)."""
    c = cfg.catalogue
    if not c.enabled:
        return NoCatalogue()
    return CatalogueWriter(c.url, run_dir, c.timeout_s, c.retry_s, c.queue_max, c.run_type)
