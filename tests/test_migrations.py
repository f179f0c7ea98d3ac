"""Schema versioning: an empty database is created, an existing one reopened
as it is, an older one upgraded in place, a newer one refused."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, String, create_engine, inspect, select, text

import vertex_track as vt
from vertex_track.store import open_store
from vertex_track.store.sql import migrations, tables
from vertex_track.store.sql.store import dispose_engine


def _version(uri: str) -> int:
    engine = create_engine(uri.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        version = conn.execute(select(tables.schema_version.c.version)).scalar_one()
    engine.dispose()
    return int(version)


def test_empty_database_gets_the_whole_schema(store_uri: str) -> None:
    store = open_store(store_uri)
    assert _version(store_uri) == migrations.HEAD
    names = set(inspect(store.engine).get_table_names())  # type: ignore[attr-defined]
    assert {t.name for t in tables.metadata_obj.sorted_tables} <= names


def test_reopening_keeps_data_and_does_not_migrate(store_uri: str) -> None:
    store = open_store(store_uri)
    vt.Artifact.create("system.Dataset", resource_id="kept", store=store)
    dispose_engine(store_uri)
    reopened = open_store(store_uri)
    assert vt.Artifact.get("kept", store=reopened).schema_title == "system.Dataset"
    found = migrations.ensure_schema(reopened.engine, reopened.dialect, store_uri)  # type: ignore[attr-defined]
    assert found == migrations.HEAD


def test_newer_schema_is_refused_with_the_fix(store_uri: str) -> None:
    store = open_store(store_uri)
    with store.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(tables.schema_version.update().values(version=migrations.HEAD + 1))
    dispose_engine(store_uri)
    with pytest.raises(vt.StoreUnavailableError, match="newer than this vertex_track"):
        open_store(store_uri)


def test_older_schema_is_upgraded_in_place(
    store_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(store_uri)
    vt.Artifact.create("system.Model", resource_id="before-upgrade", store=store)
    dispose_engine(store_uri)

    def v2(conn) -> None:  # type: ignore[no-untyped-def]
        migrations.ops(conn).add_column("vt_artifacts", Column("extra", String(10)))

    nxt = migrations.HEAD + 1
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, (nxt, "test", v2)])
    monkeypatch.setattr(migrations, "HEAD", nxt)
    upgraded = open_store(store_uri)
    assert _version(store_uri) == nxt
    columns = {c["name"] for c in inspect(upgraded.engine).get_columns("vt_artifacts")}  # type: ignore[attr-defined]
    assert "extra" in columns
    assert vt.Artifact.get("before-upgrade", store=upgraded).schema_title == "system.Model"


def test_unreachable_store_raises_store_unavailable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(vt.StoreUnavailableError, match="cannot open the metadata store"):
        open_store("postgresql://nobody@127.0.0.1:1/none")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises((vt.StoreUnavailableError, OSError)):
        open_store(f"sqlite:///{blocker}/sub/metadata.db")


def test_unsupported_scheme_is_an_invalid_argument() -> None:
    with pytest.raises(vt.InvalidArgumentError, match="mysql.*not supported"):
        open_store("mysql://root@localhost/test")


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    uri = f"sqlite:///{tmp_path / 'wal.db'}"
    store = open_store(uri)
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar_one() >= 1000
        assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
        assert conn.execute(text("PRAGMA synchronous")).scalar_one() == 1  # NORMAL
        assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar_one() == 10_000
        assert conn.execute(text("PRAGMA journal_size_limit")).scalar_one() == 64 * 2**20
