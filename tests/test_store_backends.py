"""Backends by URI scheme, and the dialect differences the SQL store delegates to."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import run_python

import vertex_track as vt
from vertex_track.store import backend_for, open_store, redact_uri, register_backend, retry_now
from vertex_track.store.base import MetadataStore
from vertex_track.store.sql.dialects import PostgresDialect, SqliteDialect, dialect_for

# -- the registry ------------------------------------------------------------------------------


def test_every_supported_scheme_opens_the_sql_store() -> None:
    from vertex_track.store.sql.store import SqlStore

    for uri in ("sqlite:///x.db", "sqlite+pysqlite:///x.db", "postgresql://u@h/db",
                "postgresql+psycopg://u@h/db", "postgres://u@h/db"):
        assert backend_for(uri) is SqlStore


def test_unknown_scheme_lists_the_supported_ones() -> None:
    with pytest.raises(vt.InvalidArgumentError) as info:
        open_store("mysql://root@localhost/test")
    message = str(info.value)
    assert "'mysql' is not supported" in message
    for scheme in ("sqlite", "postgresql", "postgresql+psycopg"):
        assert scheme in message


def test_registered_backend_is_imported_on_use(monkeypatch: pytest.MonkeyPatch) -> None:
    import collections

    from vertex_track import store as store_pkg

    monkeypatch.setattr(store_pkg, "_BACKENDS", dict(store_pkg._BACKENDS))
    register_backend("memo", "collections:OrderedDict")
    assert backend_for("memo://anything") is collections.OrderedDict
    register_backend("gone", "collections:OrderedDict", driver="vt_no_such_driver", extra="gone")
    with pytest.raises(vt.StoreUnavailableError, match=r'pip install "vertex-track\[gone\]"'):
        backend_for("gone://anything")


def test_missing_driver_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # an import of it now fails
    with pytest.raises(vt.StoreUnavailableError) as info:
        open_store("postgresql://nobody@127.0.0.1:1/none")
    message = str(info.value)
    assert "'psycopg' driver, which is not installed" in message
    assert 'pip install "vertex-track[postgres]"' in message
    assert isinstance(info.value.__cause__, ImportError)
    assert not getattr(info.value, "transient", False)  # tracking must not spool for it


def test_missing_driver_in_a_fresh_process(tmp_path: Path) -> None:
    """No psycopg at all (as after a plain ``pip install vertex-track``)."""
    script = tmp_path / "probe.py"
    script.write_text(
        "import sys\n"
        "sys.modules['psycopg'] = None\n"
        "import vertex_track as vt\n"
        "try:\n"
        "    vt.init(store_uri='postgresql://u@127.0.0.1:1/db')\n"
        "    from vertex_track.store import get_store\n"
        "    get_store()\n"
        "except vt.StoreUnavailableError as exc:\n"
        "    print('ERROR', exc)\n"
    )
    out = tmp_path / "out.txt"
    import os

    env = {**os.environ, "VERTEX_TRACK_HOME": str(tmp_path / "home")}
    assert run_python([str(script)], env=env, stdout=out) == 0
    text = out.read_text()
    assert 'ERROR a postgresql:// store needs the \'psycopg\' driver' in text
    assert 'pip install "vertex-track[postgres]"' in text


def test_redact_uri_hides_the_password() -> None:
    assert redact_uri("postgresql://me:secret@host/db") == "postgresql://me:***@host/db"
    assert redact_uri("sqlite:///a.db") == "sqlite:///a.db"


def test_retry_now_clears_a_remembered_failure() -> None:
    uri = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1"
    with pytest.raises(vt.StoreUnavailableError):
        open_store(uri)
    with pytest.raises(vt.StoreUnavailableError, match="remembered"):
        open_store(uri)
    retry_now(uri)
    with pytest.raises(vt.StoreUnavailableError) as info:
        open_store(uri)
    assert "remembered: not retried" not in str(info.value)


# -- dialects ----------------------------------------------------------------------------------


def test_dialect_for_uri() -> None:
    assert isinstance(dialect_for("sqlite:///a.db"), SqliteDialect)
    assert isinstance(dialect_for("postgres://u@h/db"), PostgresDialect)
    assert dialect_for("sqlite:///a.db").placeholder == "?"
    assert dialect_for("postgresql://u@h/db").placeholder == "%s"


def _context(store: MetadataStore, metadata: dict[str, Any]) -> Any:
    return vt.Context.create("system.Experiment", resource_id="ctx", metadata=metadata)


def test_merge_metadata_inside_the_database(store: MetadataStore) -> None:
    ctx = _context(store, {"params": {"lr": 0.1}, "other": 1})
    etag, _ = store.merge_metadata("contexts", "ctx", {"params": {"batch": 32}})
    assert etag == "2"  # bumped by the merge
    etag, _ = store.merge_metadata("contexts", "ctx", {"other": [1, 2]})
    assert etag == "3"
    got = vt.Context.get("ctx")
    assert got.metadata == {"params": {"lr": 0.1, "batch": 32}, "other": [1, 2]}
    assert got.etag == "3"
    assert ctx.etag == "1"


def test_bulk_insert_writes_every_value(store: MetadataStore) -> None:
    s: Any = store
    table = "vt_bulk_test"

    def tx(conn: Any) -> None:
        cur = conn.connection.driver_connection.cursor()
        cur.execute(f"CREATE TABLE {table} (i BIGINT, name TEXT, x DOUBLE PRECISION)")
        s.dialect.bulk_insert(cur, table, ("i", "name", "x"), [
            (1, "tab\there", 0.1), (2, "new\nline \\ back", -1e300), (3, None, None),
        ])

    s.write(tx)
    with s.read() as conn:
        rows = conn.exec_driver_sql(f"SELECT i, name, x FROM {table} ORDER BY i").fetchall()
    assert [tuple(r) for r in rows] == [
        (1, "tab\there", 0.1), (2, "new\nline \\ back", -1e300), (3, None, None),
    ]
    assert not any(isinstance(r[2], float) and math.isnan(r[2]) for r in rows)


# -- order_by: one set of rules ------------------------------------------------------------------


def test_list_accepts_resource_id_and_rejects_a_repeated_key(store: MetadataStore) -> None:
    for rid in ("b", "a", "c"):
        vt.Artifact.create("system.Dataset", resource_id=rid, uri=f"file:///{rid}")
    assert [a.resource_id for a in vt.Artifact.list(order_by="resource_id desc")] == [
        "c", "b", "a"]
    assert [a.resource_id for a in vt.Artifact.list(order_by="name")] == ["a", "b", "c"]
    with pytest.raises(vt.InvalidArgumentError, match="order_by names 'resource_id' more than once"):
        vt.Artifact.list(order_by="name, resource_id desc")
    with pytest.raises(vt.InvalidArgumentError, match="cannot sort contexts by 'uri'"):
        vt.Context.list(order_by="uri")


# -- errors and retries ----------------------------------------------------------------------------


def test_retry_retries_transient_errors_until_the_deadline() -> None:
    from vertex_track.store.sql.errors import retry

    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TimeoutError("busy")
        return "done"

    assert retry(flaky, lambda e: isinstance(e, TimeoutError), 5.0) == "done"
    assert len(calls) == 3

    def always() -> None:
        calls.append(1)
        raise TimeoutError("always")

    calls.clear()
    with pytest.raises(TimeoutError, match="always"):  # the last one, once time is up
        retry(always, lambda e: isinstance(e, TimeoutError), 0.05)
    assert len(calls) >= 2
    with pytest.raises(KeyError):  # not transient: at once
        retry(lambda: {}["x"], lambda e: isinstance(e, TimeoutError), 5.0)


class _ProtocolOnly:
    """A store exposing only the public protocol (no SQL store shortcuts)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._inner, name)


def test_start_execution_works_on_any_store_of_the_protocol(store: MetadataStore) -> None:
    data = vt.Artifact.create("system.Dataset", resource_id="data", uri="file:///d")
    proxy: Any = _ProtocolOnly(store)
    with vt.start_execution(schema_title="system.ContainerExecution", resource_id="ex",
                            store=proxy) as execution:
        execution.assign_input_artifacts([data])
    assert execution.state == vt.ExecutionState.COMPLETE
    stored = vt.Execution.get("ex")
    assert (stored.state, stored.etag) == (vt.ExecutionState.COMPLETE, execution.etag)
    assert [e.artifact for e in store.get_events(execution=stored)] == [data.name]
