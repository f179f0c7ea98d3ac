"""The :class:`Dialect` base: every difference between database backends, documented once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import Table
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import ColumnElement

from ....exceptions import StoreUnavailableError

__all__ = ["Dialect", "JsonType"]

JsonType = Literal["number", "string", "bool", "any"]

_OPS = {
    "=": sa.sql.operators.eq,
    "!=": sa.sql.operators.ne,
    "<": sa.sql.operators.lt,
    "<=": sa.sql.operators.le,
    ">": sa.sql.operators.gt,
    ">=": sa.sql.operators.ge,
}


def _bind(value: object, type_: sa.types.TypeEngine | None = None) -> ColumnElement:
    return sa.bindparam(None, value, type_=type_) if type_ is not None else sa.bindparam(None, value)


def _orig(exc: BaseException) -> BaseException:
    """The driver's exception inside SQLAlchemy's wrapper (or ``exc`` itself)."""
    orig = getattr(exc, "orig", None) if isinstance(exc, DBAPIError) else None
    return orig if isinstance(orig, BaseException) else exc


class Dialect:
    """The strategy for one database family; every method states the difference it covers."""

    #: SQLAlchemy's name for the backend.
    name = "generic"
    #: How the driver's positional placeholder is written in raw SQL.
    placeholder = "?"
    #: How messages describe such a database.
    description = "a database"
    #: Whether an insert-or-ignore may lose a race to a concurrent writer inside one
    #: transaction (then the caller looks up the winner's keys).
    concurrent_inserts = True

    # -- connecting -------------------------------------------------------------------
    def url(self, uri: str) -> URL:
        """The SQLAlchemy URL of ``uri``, with the driver vertex_track uses."""
        return make_url(uri)

    def engine_kwargs(self, url: URL | None = None) -> dict[str, Any]:
        """Keyword arguments of ``create_engine`` for a store engine."""
        return {}

    def prepare(self, url: URL) -> None:
        """Make what the database needs to be created at ``url`` (a file's folder)."""

    def install(self, engine: Engine) -> None:
        """Attach connect/begin listeners to a new (writing) engine."""

    def read_only_engine(self, url: URL) -> Engine:
        """An engine that cannot change the database (inspection).

        Raises:
            StoreUnavailableError: nothing readable is there.
        """
        raise NotImplementedError

    def table_names(self, conn: Connection, shown: str) -> tuple[list[str], str]:
        """The tables of the database (sorted) and where they were looked for (" (schema 'x')")."""
        raise NotImplementedError

    # -- the DBAPI fast path ------------------------------------------------------------
    def named_compiler(self, engine: Engine) -> Any:
        """The SQLAlchemy dialect compiling statements to the driver's named parameters."""
        return engine.dialect

    def positional_compiler(self, engine: Engine) -> Any:
        """The SQLAlchemy dialect compiling statements to positional parameters."""
        return type(engine.dialect)(paramstyle="format")  # type: ignore[call-arg]

    def thread_writers(self, engine: Engine) -> bool:
        """Whether writes use one DBAPI connection per thread instead of the pool."""
        return False

    def begin_raw(self, cur: Any) -> None:
        """Start a write transaction on a pooled DBAPI connection's cursor."""

    def commit_raw(self, raw: Any, cur: Any) -> None:
        raw.commit()

    def rollback_raw(self, raw: Any, cur: Any) -> None:
        raw.rollback()

    # -- errors ---------------------------------------------------------------------------
    def is_transient(self, exc: BaseException) -> bool:
        """Whether retrying the whole transaction may succeed (a lock, a lost connection).

        ``exc`` is a driver exception or SQLAlchemy's wrapper of one.
        """
        return False

    def drop_dead_connections(self, engine: Engine, exc: BaseException) -> None:
        """After transient ``exc``: close pooled connections it showed to be dead."""

    def discard_if_broken(self, raw: Any, exc: BaseException) -> None:
        """After ``exc`` on pooled DBAPI connection ``raw``: keep it out of the pool if dead."""

    def damaged(self, engine: Engine, exc: BaseException) -> StoreUnavailableError | None:
        """The error for a damaged database file, or None when ``exc`` is not that."""
        return None

    def not_a_database(self, exc: BaseException) -> bool:
        """Whether ``exc`` says the location holds something that is not a database."""
        return False

    # -- statements -------------------------------------------------------------------------
    def insert_ignore(self, table: Table) -> Any:
        """``INSERT ... ON CONFLICT DO NOTHING`` for ``table``.

        For resource tables only a taken ``(store_id, resource_id)`` is
        skipped; a clash of primary keys is an error (see :mod:`.keys`).
        """
        raise NotImplementedError

    def lock_for_migration(self, conn: Connection) -> None:
        """Serialize concurrent migrators (called inside the migration transaction)."""

    def checkpoint(self, engine: Engine) -> None:
        """Fold what a write-ahead log holds into the database file (best effort)."""

    def json_column_type(self) -> Any:
        """The SQLAlchemy type of a JSON document column."""
        return sa.JSON()

    def seed_planner_statistics(self, conn: Connection, tables: Sequence[Table]) -> None:
        """Tell the query planner that ``store_id`` (first in every index of ``tables``)
        is not selective, where the planner needs telling (a schema migration step)."""

    def merge_json_sql(
        self, column: str, patch: dict[str, Any]
    ) -> tuple[str, tuple[Any, ...]]:
        """An SQL expression of JSON ``column`` with ``patch`` merged into it, and its
        parameters, so concurrent writers never lose each other's keys.

        Each key of ``patch`` replaces the stored member, except that a mapping
        is merged member by member into a mapping stored under that key (see
        ``MetadataStore.merge_metadata``).
        """
        raise NotImplementedError

    def integrity_problems(self, conn: Connection, limit: int) -> list[str]:
        """The database's own consistency check, as messages (none: consistent).

        The default has nothing to run: a server such as PostgreSQL checks its
        pages itself.
        """
        return []

    def bulk_insert(
        self, cur: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Insert ``rows`` (values in ``columns`` order: ints, floats, strings, None) into
        ``table`` on DBAPI cursor ``cur``, the fastest way the database offers."""
        marks = ", ".join([self.placeholder] * len(columns))
        cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    # -- filters ------------------------------------------------------------------------------
    def wildcard_match(self, expr: ColumnElement, parts: tuple[str, ...]) -> ColumnElement[bool]:
        """Case-sensitive match of ``expr`` against ``parts`` joined by ``*`` wildcards."""
        raise NotImplementedError

    def contains(self, expr: ColumnElement, text: str) -> ColumnElement[bool]:
        """Case-sensitive substring test (no wildcards)."""
        raise NotImplementedError

    def compare(self, expr: ColumnElement, op: str, text: str) -> ColumnElement[bool]:
        """``=``/``!=``/``<``/... on strings, in code point (byte) order on both backends."""
        value = _bind(text, sa.String())
        if op == "=":
            return expr == value
        if op == "!=":
            return expr != value
        return self._ordered(expr).operate(_OPS[op], value)  # type: ignore[no-any-return]

    def _ordered(self, expr: ColumnElement) -> ColumnElement:
        return expr

    def json_is(self, col: ColumnElement, keys: tuple[str, ...], jtype: JsonType) -> ColumnElement[bool]:
        """True when the value at ``keys`` exists and has JSON type ``jtype``."""
        raise NotImplementedError

    def json_text(self, col: ColumnElement, keys: tuple[str, ...]) -> ColumnElement:
        """The value at ``keys`` as text; only meaningful where it is a JSON string."""
        raise NotImplementedError

    def json_number_compare(
        self, col: ColumnElement, keys: tuple[str, ...], op: str, number: str
    ) -> ColumnElement[bool]:
        """The value at ``keys`` is a JSON number and compares ``op`` to ``number``."""
        raise NotImplementedError

    def json_bool_is(self, col: ColumnElement, keys: tuple[str, ...], value: bool) -> ColumnElement[bool]:
        """The value at ``keys`` is the JSON boolean ``value``."""
        raise NotImplementedError

    def json_nonempty_object(self, col: ColumnElement) -> ColumnElement[bool]:
        """The JSON object in ``col`` has at least one member."""
        raise NotImplementedError


def _conflict_target(table: Table) -> list[str] | None:
    """The columns whose clash an insert-or-ignore skips: a resource's id in its store."""
    if "resource_id" in table.c:
        return ["store_id", "resource_id"]
    return None
