"""Raw-cursor helpers for the experiment hot paths (bulk time series, metadata merges).

These paths run once per ``log_*`` call or per 10^4 points, where SQLAlchemy's
per-statement overhead (building, caching and compiling the statement) costs
more than the database work; they send fixed SQL through the DBAPI cursor of
the store's connection, inside :meth:`SqlStore.write` / :meth:`SqlStore.read`
transactions. The only SQL that differs between SQLite and PostgreSQL is here
and in :mod:`.time_series` (``COPY``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError


def placeholder(store: Any) -> str:
    """The DBAPI parameter marker of the store's driver."""
    return "?" if store.dialect_name == "sqlite" else "%s"


@contextmanager
def cursor(conn: Connection, statement: str) -> Iterator[Any]:
    """A DBAPI cursor of ``conn``; driver errors come out as SQLAlchemy errors.

    The store translates SQLAlchemy errors (``IntegrityError``, transient
    ``OperationalError`` retried, others to ``StoreUnavailableError``); a raw
    cursor's errors must look the same to it.
    """
    dbapi = conn.dialect.loaded_dbapi
    try:
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            yield cur
        finally:
            cur.close()
    except dbapi.Error as exc:
        raise DBAPIError.instance(statement, None, exc, dbapi.Error, dialect=conn.dialect) from exc
