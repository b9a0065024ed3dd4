"""The schema is versioned: a new catalogue is at the latest version with exactly the schema's tables
and columns; a newer or a foreign database is refused, never rebuilt (both backends)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from daq.catalogue import Catalogue, CatalogueError, schema
from daq.catalogue.migrations import LATEST, MIGRATIONS


def test_a_new_catalogue_has_every_migration_and_exactly_the_schema(db_url: str) -> None:
    with Catalogue(db_url) as c:
        assert c.version() == LATEST
        with c.engine.connect() as conn:
            applied = [r.version for r in conn.execute(sa.select(schema.schema_version))]
            insp = sa.inspect(conn)
            for name, table in schema.metadata.tables.items():
                assert {col["name"] for col in insp.get_columns(name)} == set(table.c.keys()), name
            assert {"ix_runs_start_ns"} <= {i["name"] for i in insp.get_indexes("runs")}
    assert applied == [m[0] for m in MIGRATIONS]
    Catalogue(db_url).close()  # opening again applies nothing


def test_a_database_from_a_newer_sevens_is_refused(db_url: str) -> None:
    with Catalogue(db_url) as c, c.engine.begin() as conn:
        conn.execute(schema.schema_version.insert().values(version=LATEST + 1, description="future", applied_ns=0))
    with pytest.raises(CatalogueError, match=f"schema version {LATEST + 1} is newer"):
        Catalogue(db_url)


def test_a_foreign_database_is_refused_not_rebuilt(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE runs (number INTEGER PRIMARY KEY, note TEXT)"))
        conn.execute(sa.text("INSERT INTO runs VALUES (1, 'kept')"))
    with pytest.raises(CatalogueError, match="no schema_version: not a sevens catalogue"):
        Catalogue(db_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT note FROM runs")).scalar() == "kept"
    engine.dispose()
