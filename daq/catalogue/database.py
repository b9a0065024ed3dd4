"""Engines for the catalogue: the URL (SQLite in the run directory by default), SQLite in WAL mode with
write transactions that take the write lock at once, and timeouts so that a locked or unreachable
database fails fast (the writer then queues) instead of hanging."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event, exc

SQLITE_NAME = "catalogue.sqlite"


class CatalogueError(RuntimeError):
    """A catalogue that cannot be used as asked (refused schema, unknown run, bad URL): one line for a person."""


def default_url(run_dir: str | Path) -> str:
    """``sqlite:///RUN_DIR/catalogue.sqlite`` (absolute)."""
    return f"sqlite:///{Path(run_dir).resolve() / SQLITE_NAME}"


def resolve_url(url: str, run_dir: str | Path) -> str:
    """``catalogue.url``, or the run directory's SQLite file when it is empty."""
    return url.strip() or default_url(run_dir)


def display_url(url: str) -> str:
    """The URL with any password hidden (for status, logs and good-run lists)."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return "<unparseable catalogue URL>"


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL, None for other databases (and in-memory SQLite)."""
    u = sa.engine.make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def make_engine(url: str, timeout_s: float = 2.0) -> sa.Engine:
    """An engine whose waits on locks and connections end after about ``timeout_s``."""
    try:
        u = sa.engine.make_url(url)
    except exc.ArgumentError as e:
        raise CatalogueError(f"catalogue URL {url!r}: {e}") from None
    backend = u.get_backend_name()
    if backend == "sqlite":
        engine = sa.create_engine(u, connect_args={"timeout": timeout_s, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn, _record) -> None:  # noqa: ANN001 - DBAPI objects
            dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
            if sqlite_path(url) is not None:
                cur.execute("PRAGMA journal_mode = WAL")  # readers never block the writer, nor it them
                cur.execute("PRAGMA synchronous = NORMAL")
            cur.execute("PRAGMA foreign_keys = ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn) -> None:  # noqa: ANN001
            # take the write lock at the start: a deferred transaction that later writes fails at once
            # (SQLITE_BUSY) when another connection wrote meanwhile, whatever the busy timeout
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if backend == "postgresql":
        ms = int(timeout_s * 1000)
        return sa.create_engine(u, pool_pre_ping=True, connect_args={
            "connect_timeout": max(1, round(timeout_s)),
            "options": f"-c lock_timeout={ms} -c idle_in_transaction_session_timeout=60000"})
    try:
        return sa.create_engine(u, pool_pre_ping=True)
    except (exc.ArgumentError, exc.NoSuchModuleError, ImportError) as e:
        raise CatalogueError(f"catalogue URL {display_url(url)}: {e}") from None


#: errors after which a write is worth retrying later: the database is down, locked or unreachable
TRANSIENT = (exc.OperationalError, exc.InterfaceError, exc.DisconnectionError, exc.TimeoutError)


def is_transient(error: BaseException) -> bool:
    return isinstance(error, TRANSIENT) or (isinstance(error, exc.DBAPIError) and error.connection_invalidated)


def describe(error: BaseException) -> str:
    """One line for the status and the CLI: the driver's message without SQLAlchemy's background link."""
    if isinstance(error, exc.DBAPIError) and error.orig is not None:
        text = str(error.orig)
    else:
        text = str(error)
    return " ".join(text.split("[SQL:")[0].split())[:300] or type(error).__name__
