"""What differs between SQLite and PostgreSQL, in one class each.

Everything else in the SQL layer is written once against SQLAlchemy Core.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Table, event, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from ..._random import rng

T = TypeVar("T")


class Dialect:
    """Strategy object for one database family."""

    name = "generic"

    def url(self, uri: str) -> URL:
        return make_url(uri)

    def engine_kwargs(self, url: URL | None = None) -> dict[str, Any]:
        return {}

    def install(self, engine: Engine) -> None:
        """Attach connect/begin listeners to a new engine."""

    def insert_ignore(self, table: Table) -> Any:
        """``INSERT ... ON CONFLICT DO NOTHING`` for ``table``.

        For resource tables only a taken ``(store_id, resource_id)`` is
        skipped; a clash of primary keys is an error (see :mod:`.keys`).
        """
        raise NotImplementedError

    def lock_for_migration(self, conn: Connection) -> None:
        """Serialize concurrent migrators (called inside the migration transaction)."""

    def is_transient(self, exc: BaseException) -> bool:
        """Whether retrying the whole transaction may succeed."""
        return False

    # -- experiment records (raw driver SQL, see .experiments) -----------------------
    def placeholder(self) -> str:
        """The driver's parameter marker in raw SQL."""
        raise NotImplementedError

    def insert_time_series(
        self, cur: Any, table: str, ids: Sequence[int], context_id: int, rows: Sequence[Any]
    ) -> None:
        """Insert ``(metric, step, wall_time, value)`` rows with keys ``ids`` through ``cur``."""
        raise NotImplementedError

    def merge_json_sql(
        self, column: str, patch: dict[str, Any], dumps: Callable[[Any], str]
    ) -> tuple[str, tuple[Any, ...]]:
        """An SQL expression of ``column`` with ``patch`` merged one level deep, and its
        parameters (see ``MetadataStore.merge_metadata``)."""
        raise NotImplementedError

    def integrity_problems(self, conn: Connection, limit: int) -> list[str]:
        """The database's own consistency check, as messages (none: consistent).

        PostgreSQL checks its pages itself; nothing to run there.
        """
        return []


#: SQLite settings every connection gets (the benchmarks' raw ceilings use them too).
WAL_AUTOCHECKPOINT_PAGES = 10_000
WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024


class SqliteDialect(Dialect):
    """SQLite: WAL, a busy timeout, and ``BEGIN IMMEDIATE`` for writes.

    pysqlite's own transaction handling starts transactions lazily and
    upgrades read locks to write locks mid-transaction, which fails with
    "database is locked" under concurrent writers regardless of the busy
    timeout. So the driver is put in autocommit mode and we emit ``BEGIN``
    ourselves: ``BEGIN IMMEDIATE`` when the connection is marked for writing,
    a deferred ``BEGIN`` for reads (readers never block each other in WAL).
    """

    name = "sqlite"
    busy_timeout_s = 60.0

    def url(self, uri: str) -> URL:
        url = make_url(uri)
        if url.drivername == "sqlite":
            url = url.set(drivername="sqlite+pysqlite")
        return url

    def engine_kwargs(self, url: URL | None = None) -> dict[str, Any]:
        return {"connect_args": {"timeout": self.busy_timeout_s, "check_same_thread": False}}

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

    def insert_ignore(self, table: Table) -> Any:
        from sqlalchemy.dialects.sqlite import insert

        return insert(table).on_conflict_do_nothing(index_elements=_conflict_target(table))

    def is_transient(self, exc: BaseException) -> bool:
        msg = str(getattr(exc, "orig", exc)).lower()
        return isinstance(exc, OperationalError) and ("locked" in msg or "busy" in msg)

    def placeholder(self) -> str:
        return "?"

    def insert_time_series(
        self, cur: Any, table: str, ids: Sequence[int], context_id: int, rows: Sequence[Any]
    ) -> None:
        sql = (f"INSERT INTO {table} (id, context_id, metric, step, wall_time, value) "
               "VALUES (?, ?, ?, ?, ?, ?)")
        cur.executemany(sql, [(i, context_id, *row) for i, row in zip(ids, rows, strict=True)])

    def merge_json_sql(
        self, column: str, patch: dict[str, Any], dumps: Callable[[Any], str]
    ) -> tuple[str, tuple[Any, ...]]:
        # RFC 7386 merge: one level deep for the patches merge_metadata accepts
        # (no None, no dict inside a dict value).
        return f"json_patch({column}, ?)", (dumps(patch),)

    def integrity_problems(self, conn: Connection, limit: int) -> list[str]:
        rows = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check").fetchmany(limit)]
        fk = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchmany(limit)
        out = [] if rows == ["ok"] else [f"SQLite integrity_check: {r}" for r in rows]
        return out + [
            f"SQLite foreign_key_check: row {r[1]} of {r[0]} points at a missing {r[2]} row"
            for r in fk
        ]


class PostgresDialect(Dialect):
    """PostgreSQL through psycopg 3."""

    name = "postgresql"

    def engine_kwargs(self, url: URL | None = None) -> dict[str, Any]:
        from ... import config

        kwargs: dict[str, Any] = {"pool_pre_ping": False, "pool_size": 5, "max_overflow": 10}
        # Without a connect timeout an unresponsive server blocks for the
        # kernel's TCP retries (~130 s); a timeout in the URI wins.
        if url is None or "connect_timeout" not in url.query:
            timeout = config.get_settings().connect_timeout
            kwargs["connect_args"] = {"connect_timeout": max(1, round(timeout))}
        return kwargs

    def url(self, uri: str) -> URL:
        url = make_url(uri)
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        return url

    def install(self, engine: Engine) -> None:
        from ... import config

        timeout_ms = int(config.get_settings().statement_timeout * 1000)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # A statement the server has not answered within the timeout is
            # cancelled by the server (0: no limit), so no call hangs on it.
            with dbapi_conn.cursor() as cur:
                cur.execute(f"SET statement_timeout = {timeout_ms}")
            dbapi_conn.commit()

    def insert_ignore(self, table: Table) -> Any:
        from sqlalchemy.dialects.postgresql import insert

        return insert(table).on_conflict_do_nothing(index_elements=_conflict_target(table))

    def lock_for_migration(self, conn: Connection) -> None:
        conn.execute(text("SELECT pg_advisory_xact_lock(1987343979)"))  # 0x7674726b, "vtrk"

    def is_transient(self, exc: BaseException) -> bool:
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return True
        from .fast import is_transient_postgres

        orig = getattr(exc, "orig", None)
        if not isinstance(orig, BaseException):
            return False
        import psycopg

        return is_transient_postgres(orig, psycopg.OperationalError)

    def placeholder(self) -> str:
        return "%s"

    def insert_time_series(
        self, cur: Any, table: str, ids: Sequence[int], context_id: int, rows: Sequence[Any]
    ) -> None:
        escaped: dict[str, str] = {}
        for name, *_ in rows:
            if name not in escaped:  # COPY's text format
                escaped[name] = (name.replace("\\", "\\\\").replace("\t", "\\t")
                                 .replace("\n", "\\n").replace("\r", "\\r"))
        text = "".join(
            f"{i}\t{context_id}\t{escaped[m]}\t{s}\t{w}\t{val!r}\n"
            for i, (m, s, w, val) in zip(ids, rows, strict=True)
        )
        sql = f"COPY {table} (id, context_id, metric, step, wall_time, value) FROM STDIN"
        with cur.copy(sql) as copy:
            copy.write(text)

    def merge_json_sql(
        self, column: str, patch: dict[str, Any], dumps: Callable[[Any], str]
    ) -> tuple[str, tuple[Any, ...]]:
        # Inside an UPDATE every ``column -> key`` reads the old row, so nesting
        # one jsonb_set per key stays linear in the number of keys.
        expr, params = column, []
        for key, value in patch.items():
            text = dumps(value)
            if isinstance(value, dict):
                expr = (f"jsonb_set({expr}, ARRAY[%s], CASE WHEN jsonb_typeof({column} -> %s) "
                        f"= 'object' THEN ({column} -> %s) || %s::jsonb ELSE %s::jsonb END)")
                params += [key, key, key, text, text]
            else:
                expr = f"jsonb_set({expr}, ARRAY[%s], %s::jsonb)"
                params += [key, text]
        return expr, tuple(params)


def _conflict_target(table: Table) -> list[str] | None:
    """The columns whose clash an insert-or-ignore skips: a resource's id in its store."""
    if "resource_id" in table.c:
        return ["store_id", "resource_id"]
    return None


def dialect_for(uri: str) -> Dialect:
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme == "sqlite":
        return SqliteDialect()
    if scheme in ("postgresql", "postgres"):
        return PostgresDialect()
    from ...exceptions import InvalidArgumentError

    raise InvalidArgumentError(
        f"store_uri scheme {scheme!r} is not supported; use 'sqlite:///path/to/metadata.db' "
        "or 'postgresql://user@host:5432/database'"
    )


def retry_transient(dialect: Dialect, fn: Callable[[], T], retry_s: float | None = None) -> T:
    """Run ``fn`` again after transient errors, with jittered exponential back-off,
    for at most ``retry_s`` seconds (default: the ``retry_timeout`` setting)."""
    if retry_s is None:
        from ... import config

        retry_s = config.get_settings().retry_timeout
    deadline = time.monotonic() + retry_s
    delay = 0.02
    while True:
        try:
            return fn()
        except DBAPIError as exc:
            left = deadline - time.monotonic()
            if left <= 0 or not dialect.is_transient(exc):
                raise
            time.sleep(min(left, delay * (0.5 + rng.random())))  # never the user's random
            delay = min(delay * 2, 1.0)
