"""The catalogue's schema is versioned: a table ``schema_version`` lists the migrations applied, each in
one transaction. Opening a catalogue applies the missing ones in order (and logs them); it never
drops, rebuilds or downgrades:

- a database at a newer version than this code is refused (upgrade sevens);
- a database that has tables but no ``schema_version`` is refused (it is not a sevens catalogue);
- two processes opening a new catalogue at once: one migrates, the other waits and sees the result.

To change the schema, append a migration (``ALTER TABLE ... ADD COLUMN``, a new table, an index) and
change :mod:`daq.catalogue.schema` to match; ``tests/catalogue/test_migrations.py`` checks that the
migrated database has exactly the tables and columns of the schema. Migration 1 creates the tables as
they were at version 1: before a later migration changes a table, give migration 1 its own copy of it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import sqlalchemy as sa

from daq.catalogue import schema
from daq.catalogue.database import CatalogueError

log = logging.getLogger(__name__)

V1_TABLES = ("runs", "files", "tags", "dq_flags", "shift_log", "derived", "derived_inputs")


def _v1(conn: sa.Connection) -> None:
    schema.metadata.create_all(conn, tables=[schema.metadata.tables[n] for n in V1_TABLES])


def _v2(conn: sa.Connection) -> None:
    # plain DDL: an sa.Index on schema's tables would join them, and migration 1 would create it too
    conn.execute(sa.text("CREATE INDEX ix_runs_start_ns ON runs (start_ns)"))
    conn.execute(sa.text("CREATE INDEX ix_tags_tag ON tags (tag)"))


MIGRATIONS: list[tuple[int, str, Callable[[sa.Connection], None]]] = [
    (1, "runs, files, tags, DQ flags, shift log, derived files and their inputs", _v1),
    (2, "indexes on runs.start_ns and tags.tag (selection by date and tag)", _v2),
]
LATEST = MIGRATIONS[-1][0]


def current_version(conn: sa.Connection) -> int | None:
    """The highest migration applied; None for a database without a ``schema_version`` table."""
    if not sa.inspect(conn).has_table("schema_version"):
        return None
    return conn.execute(sa.select(sa.func.max(schema.schema_version.c.version))).scalar() or 0


def migrate(engine: sa.Engine, url_text: str) -> list[int]:
    """Bring the database to :data:`LATEST`; the versions applied now (none if it was current)."""
    with engine.connect() as conn:
        version = current_version(conn)
        conn.rollback()
    if version == LATEST:
        return []
    applied = []
    with engine.begin() as conn:  # one transaction: DDL is transactional in SQLite and PostgreSQL
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(7411)"))  # one migrating process at a time
        version = current_version(conn)
        if version is None:
            present = sorted(set(sa.inspect(conn).get_table_names()) & set(schema.metadata.tables))
            if present:
                raise CatalogueError(f"catalogue {url_text}: has tables {', '.join(present)} but no schema_version:"
                                     " not a sevens catalogue (or made by hand); refusing to touch it")
            schema.schema_version.create(conn)
            version = 0
        if version > LATEST:
            raise CatalogueError(f"catalogue {url_text}: schema version {version} is newer than this sevens knows "
                                 f"({LATEST}): use a newer sevens")
        for number, description, step in MIGRATIONS:
            if number > version:
                step(conn)
                conn.execute(schema.schema_version.insert().values(
                    version=number, description=description, applied_ns=time.time_ns()))
                applied.append(number)
    if applied:
        log.info("catalogue %s: migrated to schema version %d (applied %s)", url_text, LATEST, applied)
    return applied
