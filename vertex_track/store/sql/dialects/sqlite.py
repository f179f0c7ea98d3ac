"""SQLite (through the standard library's ``sqlite3``)."""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import Table, event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.sql.elements import ColumnElement

from ...._json import dumps
from ....exceptions import StoreUnavailableError
from .base import _OPS, Dialect, JsonType, _bind, _conflict_target, _orig

__all__ = ["WAL_AUTOCHECKPOINT_PAGES", "WAL_SIZE_LIMIT_BYTES", "SqliteDialect", "sqlite_path"]

#: SQLite settings every connection gets (the benchmarks' raw ceilings use them too).
WAL_AUTOCHECKPOINT_PAGES = 10_000
WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024


def sqlite_path(url: URL) -> str | None:
    """The file of an SQLite URL; None for in-memory databases and ``file:`` URIs."""
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return os.path.abspath(database)


_UNSAFE_IN_PATH = re.compile(r'["\\\x00-\x1f]')


class SqliteDialect(Dialect):
    """SQLite: WAL, a busy timeout, and ``BEGIN IMMEDIATE`` for writes.

    pysqlite's own transaction handling starts transactions lazily and
    upgrades read locks to write locks mid-transaction, which fails with
    "database is locked" under concurrent writers regardless of the busy
    timeout. So the driver is put in autocommit mode and we emit ``BEGIN``
    ourselves: ``BEGIN IMMEDIATE`` when the connection is marked for writing,
    a deferred ``BEGIN`` for reads (readers never block each other in WAL).

    Filters: GLOB (case-sensitive, unlike LIKE), instr(), json_type()/json_extract().
    """

    name = "sqlite"
    placeholder = "?"
    description = "an SQLite database"
    concurrent_inserts = False  # writers hold the file lock for the whole transaction
    busy_timeout_s = 60.0

    # -- connecting -------------------------------------------------------------------
    def url(self, uri: str) -> URL:
        url = make_url(uri)
        if url.drivername == "sqlite":
            url = url.set(drivername="sqlite+pysqlite")
        return url

    def engine_kwargs(self, url: URL | None = None) -> dict[str, Any]:
        return {"connect_args": {"timeout": self.busy_timeout_s, "check_same_thread": False}}

    def prepare(self, url: URL) -> None:
        if url.database and url.database != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(url.database)), exist_ok=True)

    def install(self, engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
            # Checkpoint the WAL into the database every ~40 MB instead of
            # SQLite's ~4 MB default: each checkpoint rewrites the hot index
            # pages and fsyncs, and with the default it ran every ~20
            # executions of the Vertex-style API (+29% write rate measured,
            # benchmarks/bench_store.py). Durability is unchanged (every commit
            # is in the WAL); the WAL file is cut back to 64 MB after a
            # checkpoint and removed when the last connection closes.
            cur.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
            cur.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES}")
            cur.execute("PRAGMA foreign_keys = ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            mode = "IMMEDIATE" if conn.get_execution_options().get("vt_write") else "DEFERRED"
            conn.exec_driver_sql(f"BEGIN {mode}")

    def read_only_engine(self, url: URL) -> Engine:
        path = sqlite_path(url)
        if path is not None:
            _check_sqlite_file(path)
            # SQLite's URI form: neither mode creates the file (or its folder).
            # "rw" when we may write the file and its folder: only so can the
            # last connection fold the WAL back and remove its -wal/-shm files
            # at close, as writers do; PRAGMA query_only still refuses every
            # change. "ro" otherwise (a store on a read-only disk or share).
            writable = os.access(path, os.W_OK) and os.access(os.path.dirname(path), os.W_OK)
            mode = "rw" if writable else "ro"
            url = url.set(database=f"file:{quote(path)}?mode={mode}", query={"uri": "true"})
        engine = sa.create_engine(url, **self.engine_kwargs())
        busy_ms = int(self.busy_timeout_s * 1000)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, as for writing
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout = {busy_ms}")
            cur.execute("PRAGMA query_only = ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN DEFERRED")  # one snapshot per read transaction

        return engine

    def table_names(self, conn: Connection, shown: str) -> tuple[list[str], str]:
        tables = [r[0] for r in conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )]
        return tables, ""

    # -- the DBAPI fast path ------------------------------------------------------------
    def named_compiler(self, engine: Engine) -> Any:
        from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

        return SQLiteDialect_pysqlite(paramstyle="named")

    def positional_compiler(self, engine: Engine) -> Any:
        from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

        return SQLiteDialect_pysqlite(paramstyle="qmark")

    def thread_writers(self, engine: Engine) -> bool:
        # Only for a database file: an in-memory database exists once per
        # connection, so writes must go through the pool's connection.
        database = engine.url.database or ""
        return bool(database) and database != ":memory:" and not database.startswith("file:")

    def begin_raw(self, cur: Any) -> None:
        cur.execute("BEGIN IMMEDIATE")

    def commit_raw(self, raw: Any, cur: Any) -> None:
        cur.execute("COMMIT")

    def rollback_raw(self, raw: Any, cur: Any) -> None:
        cur.execute("ROLLBACK")

    # -- errors ---------------------------------------------------------------------------
    def is_transient(self, exc: BaseException) -> bool:
        orig = _orig(exc)
        if not isinstance(orig, sqlite3.OperationalError):
            return False
        msg = str(orig).lower()
        return "locked" in msg or "busy" in msg

    def damaged(self, engine: Engine, exc: BaseException) -> StoreUnavailableError | None:
        msg = str(exc).lower()
        if not ("malformed" in msg or "not a database" in msg or "disk image" in msg):
            return None
        path = engine.url.database
        return StoreUnavailableError(
            f"the SQLite file of metadata store {path} is damaged ({exc}); restore it "
            f"from a backup, or check it with: sqlite3 {path} 'PRAGMA integrity_check'"
        )

    def not_a_database(self, exc: BaseException) -> bool:
        return "not a database" in str(exc)

    # -- statements -------------------------------------------------------------------------
    def insert_ignore(self, table: Table) -> Any:
        from sqlalchemy.dialects.sqlite import insert

        return insert(table).on_conflict_do_nothing(index_elements=_conflict_target(table))

    def checkpoint(self, engine: Engine) -> None:
        """Fold the WAL into the database file and cut the WAL to zero bytes.

        So the database file alone holds every record (``cp metadata.db copy.db``
        copies them all) once the process is done with it. Best effort: another
        process still reading keeps the checkpoint from finishing, which is
        harmless (its records stay in the WAL, as durable).
        """
        database = engine.url.database
        if not database or database == ":memory:":
            return
        try:
            raw = engine.raw_connection()
            try:
                raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
            finally:
                raw.close()
        except Exception:  # a damaged or vanished file: nothing to fold back
            pass

    def seed_planner_statistics(self, conn: Connection, tables: Sequence[Table]) -> None:
        """Hand-written ``sqlite_stat1`` rows saying "one store holds everything".

        Without statistics SQLite assumes an equality on the first index column
        picks ~10 rows, so for ``in_context(...)`` it scans a whole store in
        ``create_time`` order instead of looking the linked ids up by primary key
        (100-200 ms vs 3-5 ms at a million artifacts). ``ANALYZE`` later
        replaces them with measured ones.
        """
        conn.exec_driver_sql("ANALYZE sqlite_schema")  # creates sqlite_stat1
        rows = []
        for table in tables:
            # Every index, including SQLite's own for UNIQUE constraints.
            for index in conn.exec_driver_sql(f"PRAGMA index_list({table.name})").fetchall():
                name = index[1]
                columns = [
                    c[2] for c in conn.exec_driver_sql(f"PRAGMA index_info({name})").fetchall()
                ]
                if not columns or columns[0] != "store_id":
                    continue
                stat = ["1000000", "1000000"]  # rows; rows per store_id: all of them
                for column in columns[1:]:
                    stat.append(str({"schema_title": 100_000, "state": 300_000}.get(column, 1)))
                rows.append((table.name, name, " ".join(stat)))
        conn.exec_driver_sql("DELETE FROM sqlite_stat1 WHERE tbl LIKE 'vt_%'")
        for row in rows:
            conn.exec_driver_sql("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)", row)

    def merge_json_sql(
        self, column: str, patch: dict[str, Any]
    ) -> tuple[str, tuple[Any, ...]]:
        # json_patch (RFC 7396) merges objects member by member; the patches
        # merge_metadata accepts (no None, no dict inside a dict value) merge
        # one level deep.
        return f"json_patch({column}, ?)", (dumps(patch),)

    def integrity_problems(self, conn: Connection, limit: int) -> list[str]:
        rows = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check").fetchmany(limit)]
        fk = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchmany(limit)
        out = [] if rows == ["ok"] else [f"SQLite integrity_check: {r}" for r in rows]
        return out + [
            f"SQLite foreign_key_check: row {r[1]} of {r[0]} points at a missing {r[2]} row"
            for r in fk
        ]

    # -- filters ------------------------------------------------------------------------------
    def wildcard_match(self, expr: ColumnElement, parts: tuple[str, ...]) -> ColumnElement[bool]:
        # GLOB's own metacharacters are * ? [ ; a literal one is written as a
        # one-character class. "]" alone is literal outside a class.
        def esc(text: str) -> str:
            return text.replace("[", "[[]").replace("*", "[*]").replace("?", "[?]")

        pattern = "*".join(esc(p) for p in parts)
        return expr.op("GLOB", is_comparison=True)(_bind(pattern, sa.String()))

    def contains(self, expr: ColumnElement, text: str) -> ColumnElement[bool]:
        return sa.func.instr(expr, _bind(text, sa.String())) > 0

    # JSON paths: $."a"."b". A SQLite path cannot quote a key that holds a
    # double quote or a backslash (nor, safely, control characters); such a
    # key is looked up with json_each() in a correlated subquery that yields
    # the member re-encoded as JSON text.
    def _locate(self, col: ColumnElement, keys: tuple[str, ...]) -> tuple[ColumnElement, str]:
        expr: ColumnElement = col
        path = "$"
        for key in keys:
            if not _UNSAFE_IN_PATH.search(key):
                path += '."' + key + '"'
                continue
            each = sa.func.json_each(expr, _bind(path, sa.String())).table_valued(
                "key", "value", "type"
            ).alias("je")
            member = sa.case(
                (each.c.type.in_(("object", "array")), each.c.value),
                (each.c.type == "true", "true"),
                (each.c.type == "false", "false"),
                else_=sa.func.json_quote(each.c.value),
            )
            expr = (
                sa.select(member).select_from(each)
                .where(each.c.key == _bind(key, sa.String())).scalar_subquery()
            )
            path = "$"
        return expr, path

    _TYPES = {
        "number": ("integer", "real"),
        "string": ("text",),
        "bool": ("true", "false"),
    }

    def _type(self, col: ColumnElement, keys: tuple[str, ...]) -> ColumnElement:
        expr, path = self._locate(col, keys)
        return sa.func.coalesce(sa.func.json_type(expr, _bind(path, sa.String())), "")

    def json_is(self, col: ColumnElement, keys: tuple[str, ...], jtype: JsonType) -> ColumnElement[bool]:
        type_expr = self._type(col, keys)
        if jtype == "any":
            return type_expr != ""
        return type_expr.in_(self._TYPES[jtype])

    def json_text(self, col: ColumnElement, keys: tuple[str, ...]) -> ColumnElement:
        expr, path = self._locate(col, keys)
        return sa.func.json_extract(expr, _bind(path, sa.String()), type_=sa.String())

    def json_number_compare(
        self, col: ColumnElement, keys: tuple[str, ...], op: str, number: str
    ) -> ColumnElement[bool]:
        expr, path = self._locate(col, keys)
        value = sa.func.json_extract(expr, _bind(path, sa.String()), type_=sa.Float())
        try:
            as_int = int(number)
            bound: object = as_int if -(2**63) <= as_int < 2**63 else float(number)
        except ValueError:
            bound = float(number)
        # SQLite never raises on a type mismatch; the type test keeps strings
        # ("5") and booleans (stored as 1/0) from matching.
        return sa.and_(
            self.json_is(col, keys, "number"), value.operate(_OPS[op], sa.bindparam(None, bound))
        )

    def json_bool_is(self, col: ColumnElement, keys: tuple[str, ...], value: bool) -> ColumnElement[bool]:
        return self._type(col, keys) == ("true" if value else "false")

    def json_nonempty_object(self, col: ColumnElement) -> ColumnElement[bool]:
        return sa.func.json(col, type_=sa.String()) != "{}"


def _check_sqlite_file(path: str) -> None:
    if not os.path.exists(path):
        raise StoreUnavailableError(
            f"no metadata store at {path}: no such file (nothing has been tracked there "
            "yet, or the path is mistyped). Run a tracked flow first, or point --store-uri "
            "(or VERTEX_TRACK_STORE_URI) at an existing store"
        )
    if os.path.isdir(path):
        raise StoreUnavailableError(
            f"no metadata store at {path}: it is a folder; give the SQLite file "
            f"(e.g. {os.path.join(path, 'metadata.db')})"
        )
    if os.path.getsize(path) == 0:
        raise StoreUnavailableError(
            f"no metadata store at {path}: an empty file, not a vertex_track store "
            "(nothing was created or written; delete the file, or point --store-uri at "
            "the right store)"
        )
