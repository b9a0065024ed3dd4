"""The long-term view of the trends: the DQ of every catalogued run of the last days to months.

The run catalogue (:mod:`daq.catalogue`, the supervisor fills it) says which runs there were and
where their files are; :func:`daq.catalogue.history.history` reads their ``dq`` tables and averages
them over ``every_s`` (an hour by default, weighted by interval length). :func:`catalogue_dq` turns
that into DQ rows the trend panel draws like a run's, with each run's start, so the GUI's
"30 days" window shows the detector over a month. No Qt here.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from daq import dtypes
from daq.config import Config

QUANTITIES = tuple(f for f in dtypes.DQ.names if f not in ("time", "interval_s", "triggers", "losses", "pot",
                                                               "pot_total", "gwhr_total"))


def rows_to_dq(rows: list[dict[str, Any]]) -> tuple[np.ndarray, list[tuple[float, int | None]]]:
    """History rows (``time_ns``, ``run``, ``interval_s``, quantities) as DQ rows (a quantity not in
    them is NaN) and each run's first time [s]."""
    dq = np.zeros(len(rows), dtypes.DQ)
    for name in QUANTITIES:
        dq[name] = np.nan
    starts: list[tuple[float, int | None]] = []
    last_run = None
    for k, r in enumerate(rows):
        dq["time"][k] = int(r["time_ns"])
        dq["interval_s"][k] = float(r["interval_s"])
        for name in QUANTITIES:
            v = r.get(name)
            dq[name][k] = np.nan if v is None else float(v)
        if r["run"] != last_run:
            starts.append((int(r["time_ns"]) / 1e9 - float(r["interval_s"]), r["run"]))
            last_run = r["run"]
    return dq, starts


def catalogue_dq(cfg: Config, run_dir: str | None = None, days: float = 30.0, every_s: float = 3600.0
                 ) -> tuple[np.ndarray, list[tuple[float, int | None]], str | None]:
    """The DQ of the catalogued runs of the last ``days``, averaged over ``every_s``; with the run
    starts, and what went wrong (no catalogue, a file missing) or None."""
    from daq.catalogue import Catalogue, CatalogueError
    from daq.catalogue.database import resolve_url
    from daq.catalogue.history import history
    from daq.catalogue.selection import Selection

    url = resolve_url(cfg.catalogue.url, run_dir or cfg.run.directory)
    try:
        cat = Catalogue(url, create=False)
        try:
            since = int((time.time() - days * 86400) * 1e9)
            rows, problems = history(cat, Selection(since_ns=since), list(QUANTITIES), every_s)
        finally:
            cat.close()
    except (CatalogueError, OSError) as exc:
        return np.zeros(0, dtypes.DQ), [], str(exc)
    except Exception as exc:  # the database's own errors (SQLAlchemy): shown, never fatal for the GUI
        return np.zeros(0, dtypes.DQ), [], f"catalogue {url}: {exc}"
    dq, starts = rows_to_dq(rows)
    return dq, starts, "; ".join(problems) or None
