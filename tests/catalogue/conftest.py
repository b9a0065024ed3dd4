"""Catalogue fixtures: a fresh database of each backend (SQLite always; PostgreSQL from
``SEVENS_TEST_PG_URL``, else a private server started here with ``.ci/postgres`` — skipped, with the
reason printed, only when none can start), and small run files built with h5py."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest
import sqlalchemy as sa

from daq import config, dtypes

REPO = Path(__file__).resolve().parents[2]
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str | None]:
    """A PostgreSQL server URL (its maintenance database), or the reason there is none."""
    url = os.environ.get("SEVENS_TEST_PG_URL")
    if url:
        yield url
        return
    d = Path(tempfile.mkdtemp(prefix="sevens-pg-"))
    port = str(55000 + os.getpid() % 5000)
    proc = subprocess.run([str(REPO / ".ci" / "postgres"), "start", str(d), port], capture_output=True, text=True,
                          timeout=120)
    if proc.returncode != 0:
        shutil.rmtree(d, ignore_errors=True)
        reason = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        yield f"SKIP: no PostgreSQL server could be started: {reason[-1] if reason else 'unknown'}"
        return
    try:
        yield proc.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([str(REPO / ".ci" / "postgres"), "stop", str(d)], capture_output=True, timeout=60)
        shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def pg_database(server: str) -> Iterator[str]:
    """A new, empty database on ``server`` for one test, dropped after it."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f"CREATE DATABASE {name}"))
    url = sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh catalogue URL of each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalogue.sqlite'}"
        return
    server = request.getfixturevalue("pg_server")
    if server.startswith("SKIP: "):
        print(server)
        pytest.skip(server[6:])
    with pg_database(server) as url:
        yield url


@contextlib.contextmanager
def database_down(url: str) -> Iterator[None]:
    """Make the catalogue unwritable while inside: SQLite locked by an exclusive transaction, PostgreSQL's
    tables locked (writers then fail on their lock timeout, as on a hung or overloaded server)."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(sa.engine.make_url(url).database, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        conn.execute(sa.text("LOCK TABLE runs, files, dq_flags, tags, shift_log IN ACCESS EXCLUSIVE MODE"))
        try:
            yield
        finally:
            conn.rollback()
    engine.dispose()


def make_run(directory: Path, number: int, start_ns: int, n_dq: int = 12, baseline: float = 100.0,
             spe_gain: float = 30.0, pot: float = 1e17, exit_status: str = "ok", sub_run: int = 0,
             interval_s: float = 5.0) -> Path:
    """A small run file with the root attributes and the ``dq`` table the catalogue reads."""
    from daq.runfile import run_file_path

    path = run_file_path(directory, number, sub_run)
    cfg = config.load()
    dq = np.zeros(n_dq, dtypes.DQ)
    dq["time"] = start_ns + (np.arange(n_dq) + 1) * int(interval_s * 1e9)
    dq["interval_s"] = interval_s
    dq["baseline_adc"] = baseline + 0.1 * np.sin(np.arange(n_dq))
    dq["baseline_rms_adc"] = 0.8
    if "spe_gain" in dq.dtype.names:
        dq["spe_gain"] = spe_gain
    dq["spe_mean_charge"] = spe_gain
    dq["afterglow_fraction"] = 0.08
    dq["trigger_rate_hz"] = 60.0
    dq["line_gain"] = 1.0
    stop = int(dq["time"][-1]) if exit_status != "running" else 0
    with h5py.File(path, "w") as f:
        f.attrs.update({"layout_version": 1, "run_number": number, "config": cfg.text, "config_sha256": cfg.sha256,
                        "config_path": cfg.path, "software_version": "0.1.0", "start_time_ns": start_ns,
                        "stop_time_ns": stop, "exit_status": exit_status, "seed": number, "rate_boost": 1.0,
                        "speed": 1.0, "backend": "simulated", "triggers_generated": 60 * n_dq,
                        "triggers_recorded": 60 * n_dq, "triggers_lost": 0, "beam_pulses": 60 * n_dq,
                        "pot_total": pot, "gwhr_total": pot * 1.6e-24, "lineage": json.dumps({"code_version": "0.1.0"}),
                        "cut_fractions": json.dumps({"veto": 0.02, "afterglow": 0.08})})
        f.create_dataset("dq", data=dq)
    return path
