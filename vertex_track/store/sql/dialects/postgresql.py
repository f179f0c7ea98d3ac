"""PostgreSQL (through psycopg 3)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Table, event, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import ColumnElement

from ...._json import dumps
from ....exceptions import StoreUnavailableError
from .base import _OPS, Dialect, JsonType, _bind, _conflict_target, _orig

__all__ = ["PostgresDialect"]


def _copy_value(value: Any) -> str:
    """``value`` in PostgreSQL's COPY text format."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return (
            value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    if isinstance(value, float):
        return repr(value)
    return str(value)


class PostgresDialect(Dialect):
    """PostgreSQL through psycopg 3.

    Filters: LIKE (case-sensitive), strpos(), ``COLLATE "C"``, jsonb functions.
    """

    name = "postgresql"
    placeholder = "%s"
    description = "a PostgreSQL database"
    concurrent_inserts = True

    # -- connecting -------------------------------------------------------------------
    def url(self, uri: str) -> URL:
        url = make_url(uri)
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        return url

    def engine_kwargs(self, url: URL | None = None) -> dict[str, Any]:
        from .... import config

        kwargs: dict[str, Any] = {"pool_pre_ping": False, "pool_size": 5, "max_overflow": 10}
        # Without a connect timeout an unresponsive server blocks for the
        # kernel's TCP retries (~130 s); a timeout in the URI wins.
        if url is None or "connect_timeout" not in url.query:
            timeout = config.get_settings().connect_timeout
            kwargs["connect_args"] = {"connect_timeout": max(1, round(timeout))}
        return kwargs

    def install(self, engine: Engine) -> None:
        from .... import config

        timeout_ms = int(config.get_settings().statement_timeout * 1000)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # A statement the server has not answered within the timeout is
            # cancelled by the server (0: no limit), so no call hangs on it.
            with dbapi_conn.cursor() as cur:
                cur.execute(f"SET statement_timeout = {timeout_ms}")
            dbapi_conn.commit()

    def read_only_engine(self, url: URL) -> Engine:
        engine = sa.create_engine(url, **self.engine_kwargs())

        @event.listens_for(engine, "connect")
        def _read_only(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.read_only = True  # psycopg 3: every transaction is READ ONLY

        return engine

    def table_names(self, conn: Connection, shown: str) -> tuple[list[str], str]:
        schema = conn.execute(text("SELECT current_schema()")).scalar()
        if schema is None:
            path = conn.execute(text("SHOW search_path")).scalar()
            raise StoreUnavailableError(
                f"no metadata store at {shown}: none of the schemas on its "
                f"search_path ({path}) exists, so there are no vertex_track tables"
            )
        tables = [r[0] for r in conn.execute(text(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() ORDER BY table_name"
        ))]
        return tables, f" (schema {schema!r})"

    # -- errors ---------------------------------------------------------------------------
    def is_transient(self, exc: BaseException) -> bool:
        """Serialization failures, deadlocks, and a server that is unreachable, restarting
        or shutting down (a refused or lost connection)."""
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return True
        orig = _orig(exc)
        code = getattr(orig, "sqlstate", None) or ""
        if code in {"40001", "40P01"} or code.startswith("08") or code in {"57P01", "57P02", "57P03"}:
            return True
        # psycopg reports a failed connect (refused, timed out) as OperationalError
        # without an SQLSTATE: the server never answered.
        import psycopg

        return isinstance(orig, psycopg.OperationalError) and not code

    def drop_dead_connections(self, engine: Engine, exc: BaseException) -> None:
        code = getattr(_orig(exc), "sqlstate", None) or ""
        if not code or code.startswith("08") or code.startswith("57P"):
            engine.dispose()  # pooled connections to a server that went away are all dead

    def discard_if_broken(self, raw: Any, exc: BaseException) -> None:
        if self.is_transient(exc):
            raw.invalidate()

    # -- statements -------------------------------------------------------------------------
    def insert_ignore(self, table: Table) -> Any:
        from sqlalchemy.dialects.postgresql import insert

        return insert(table).on_conflict_do_nothing(index_elements=_conflict_target(table))

    def lock_for_migration(self, conn: Connection) -> None:
        conn.execute(text("SELECT pg_advisory_xact_lock(1987343979)"))  # 0x7674726b, "vtrk"

    def json_column_type(self) -> Any:
        from sqlalchemy.dialects.postgresql import JSONB

        return JSONB()

    def merge_json_sql(
        self, column: str, patch: dict[str, Any]
    ) -> tuple[str, tuple[Any, ...]]:
        # Inside an UPDATE every ``column -> key`` reads the old row, so nesting
        # one jsonb_set per key stays linear in the number of keys.
        expr, params = column, []
        for key, value in patch.items():
            text = dumps(value)
            if isinstance(value, Mapping):
                expr = (f"jsonb_set({expr}, ARRAY[%s], CASE WHEN jsonb_typeof({column} -> %s) "
                        f"= 'object' THEN ({column} -> %s) || %s::jsonb ELSE %s::jsonb END)")
                params += [key, key, key, text, text]
            else:
                expr = f"jsonb_set({expr}, ARRAY[%s], %s::jsonb)"
                params += [key, text]
        return expr, tuple(params)

    def bulk_insert(
        self, cur: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        # COPY: one round trip for any number of rows (executemany sends one per row).
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        text = "".join("\t".join(map(_copy_value, row)) + "\n" for row in rows)
        with cur.copy(sql) as copy:
            copy.write(text)

    # -- filters ------------------------------------------------------------------------------
    def wildcard_match(self, expr: ColumnElement, parts: tuple[str, ...]) -> ColumnElement[bool]:
        def esc(text: str) -> str:
            return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")

        pattern = "%".join(esc(p) for p in parts)
        return expr.like(_bind(pattern, sa.String()), escape="!")

    def contains(self, expr: ColumnElement, text: str) -> ColumnElement[bool]:
        return sa.func.strpos(expr, _bind(text, sa.String())) > 0

    def _ordered(self, expr: ColumnElement) -> ColumnElement:
        # The database collation may sort "B" after "a"; "C" is code point
        # order, the order SQLite's BINARY collation gives.
        return sa.collate(expr, "C")

    @staticmethod
    def _keys(keys: tuple[str, ...]) -> list[ColumnElement]:
        return [_bind(k, sa.Text()) for k in keys]

    _TYPES = {"number": "number", "string": "string", "bool": "boolean"}

    def _typeof(self, col: ColumnElement, keys: tuple[str, ...]) -> ColumnElement:
        return sa.func.coalesce(
            sa.func.jsonb_typeof(sa.func.jsonb_extract_path(col, *self._keys(keys))), ""
        )

    def json_is(self, col: ColumnElement, keys: tuple[str, ...], jtype: JsonType) -> ColumnElement[bool]:
        if jtype == "any":
            return self._typeof(col, keys) != ""
        return self._typeof(col, keys) == self._TYPES[jtype]

    def json_text(self, col: ColumnElement, keys: tuple[str, ...]) -> ColumnElement:
        return sa.func.jsonb_extract_path_text(col, *self._keys(keys), type_=sa.Text())

    def json_number_compare(
        self, col: ColumnElement, keys: tuple[str, ...], op: str, number: str
    ) -> ColumnElement[bool]:
        try:
            bound = Decimal(number)
        except InvalidOperation:  # pragma: no cover - the grammar only lets numbers through
            return sa.false()
        # The CASE guarantees the cast only sees JSON numbers (PostgreSQL does
        # not promise to evaluate AND operands in order); NUMERIC holds any
        # JSON number, so there is no overflow either.
        guard = self.json_is(col, keys, "number")
        value = sa.case(
            (guard, sa.cast(self.json_text(col, keys), sa.Numeric())), else_=sa.null()
        )
        return sa.and_(guard, value.operate(_OPS[op], sa.cast(_bind(bound, sa.Numeric()), sa.Numeric())))

    def json_bool_is(self, col: ColumnElement, keys: tuple[str, ...], value: bool) -> ColumnElement[bool]:
        return sa.and_(
            self.json_is(col, keys, "bool"),
            self.json_text(col, keys) == ("true" if value else "false"),
        )

    def json_nonempty_object(self, col: ColumnElement) -> ColumnElement[bool]:
        from sqlalchemy.dialects.postgresql import JSONB

        return col != sa.cast(_bind("{}", sa.Text()), JSONB())
