"""Everything that differs between SQLite and PostgreSQL, in one class per backend.

As Prefect keeps its ``AioSqliteQueryComponents`` / ``AsyncPostgresQueryComponents``
(``prefect/server/database/query_components.py``): :class:`Dialect` documents
each difference once (:mod:`.base`), :class:`SqliteDialect` (:mod:`.sqlite`)
and :class:`PostgresDialect` (:mod:`.postgresql`) implement it, and the rest
of the SQL layer is written once against SQLAlchemy Core and these methods.
No other module of the SQL store asks which database it is talking to.

The differences, by group:

- connecting: URL driver, engine arguments, per-connection settings, the
  read-only engine, what an empty location needs (a folder for a file);
- transactions on the DBAPI fast path (:mod:`..fast`): statement compilers,
  ``BEGIN``/``COMMIT``, a write connection per thread;
- errors: which are transient (worth retrying the whole transaction), what a
  damaged database looks like, dropping dead pooled connections;
- statements: insert-or-ignore, the migration lock, the WAL checkpoint, the
  driver's placeholder, listing tables;
- filters (:mod:`..filters`): case-sensitive matching, code point ordering,
  typed JSON access. Every expression these return is TRUE or FALSE, never
  NULL, so the filter compiler negates them with a plain ``NOT``.
"""

from __future__ import annotations

from ....exceptions import InvalidArgumentError
from .base import Dialect, JsonType
from .postgresql import PostgresDialect
from .sqlite import WAL_AUTOCHECKPOINT_PAGES, WAL_SIZE_LIMIT_BYTES, SqliteDialect, sqlite_path

__all__ = [
    "WAL_AUTOCHECKPOINT_PAGES", "WAL_SIZE_LIMIT_BYTES", "Dialect", "JsonType", "PostgresDialect",
    "SqliteDialect", "dialect_for", "dialect_named", "sqlite_path",
]

_BY_NAME: dict[str, Dialect] = {"sqlite": SqliteDialect(), "postgresql": PostgresDialect()}


def dialect_named(name: str) -> Dialect:
    """The shared dialect object for SQLAlchemy backend ``name`` ('sqlite', 'postgresql').

    Raises:
        ValueError: another backend (a programming error).
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(
            f"vertex_track supports the sqlite and postgresql dialects, not {name!r}"
        ) from None


def dialect_for(uri: str) -> Dialect:
    """The dialect of store URI ``uri``.

    Raises:
        InvalidArgumentError: a scheme other than SQLite's or PostgreSQL's.
    """
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme == "postgres":
        scheme = "postgresql"
    hit = _BY_NAME.get(scheme)
    if hit is None:
        raise InvalidArgumentError(
            f"store_uri scheme {scheme!r} is not supported; use 'sqlite:///path/to/metadata.db' "
            "or 'postgresql://user@host:5432/database'"
        )
    return hit
