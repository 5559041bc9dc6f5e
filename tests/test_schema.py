"""The catalogue's schema upgrades in place and refuses what it cannot read."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pximse.store.sqlite.catalog import SqliteCatalog
from pximse.store.sqlite.schema import MIGRATIONS, SCHEMA_VERSION, SchemaError


def test_an_old_catalogue_is_migrated_in_place_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(f"BEGIN; {MIGRATIONS[0]}; PRAGMA user_version = 1; COMMIT;")
    conn.execute("INSERT INTO root (name, path) VALUES ('old', '/x')")
    conn.commit()
    conn.close()

    catalog = SqliteCatalog(path)
    try:
        conn = catalog.db.reader()
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert catalog.root_paths() == [("old", "/x")]
        indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master"
                                                  " WHERE type = 'index'")}
        assert {"content_date", "content_frames", "content_page"} <= indexes
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        catalog.close()


def test_a_catalogue_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaError, match="newer"):
        SqliteCatalog(path)


def test_a_failed_migration_leaves_the_catalogue_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pximse.store.sqlite import schema

    path = tmp_path / "catalog.sqlite3"
    SqliteCatalog(path).close()
    monkeypatch.setattr(schema, "MIGRATIONS", (*MIGRATIONS, "CREATE TABLE x (a); BOGUS SQL"))
    monkeypatch.setattr(schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(sqlite3.OperationalError):
        schema.migrate(sqlite3.connect(path, isolation_level=None))
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'x'").fetchone()[0] == 0
