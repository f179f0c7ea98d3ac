"""Opening a store read-only, for inspection (the CLI, the UI).

Tracking opens a store for writing and creates or upgrades its schema on
first use: right for a flow, wrong for a command that only looks. A mistyped
``--store-uri``, a wiped file or another application's database would
otherwise be turned into an empty vertex_track store (tables created, SQLite
switched to WAL) and shown as "no artifacts". Here nothing is created,
migrated or written:

- SQLite is opened through its URI form with ``mode=rw`` or ``mode=ro``
  (the file must exist: SQLite never creates it in these modes) and
  ``PRAGMA query_only``; no WAL switch, no other PRAGMA that writes.
- PostgreSQL connections are put in read-only mode (``SET SESSION
  CHARACTERISTICS AS TRANSACTION READ ONLY`` through psycopg's
  ``read_only``), so even a bug here could not create a table.

Before anything is read, :func:`probe` says what was found at the URI and
refuses, with :class:`StoreUnavailableError`, anything that is not a
vertex_track store this version can read: a missing file, an empty file, a
file that is not SQLite, a database without our tables (naming the ones it
has), a schema version newer than this vertex_track, or older than it can
read without upgrading.
"""

from __future__ import annotations

import os
import threading

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from ...exceptions import StoreUnavailableError
from .dialects import Dialect, dialect_for
from .migrations import HEAD

#: The oldest schema version read-only inspection can read as it is. Raise it
#: when a migration changes what the read queries select (a new column);
#: migrations that only add tables or planner statistics keep old stores readable.
OLDEST_READABLE = 1

_engines: dict[str, tuple[Engine, Dialect]] = {}
_lock = threading.Lock()


def _drop_after_fork() -> None:
    for engine, _ in _engines.values():
        engine.dispose(close=False)
    _engines.clear()


os.register_at_fork(after_in_child=_drop_after_fork)


def open_read_only(uri: str, shown: str) -> tuple[Engine, Dialect]:
    """A read-only engine for ``uri`` (one per process), after :func:`probe` accepted it.

    Args:
        uri: the store URI.
        shown: the URI as messages show it (password hidden).

    Raises:
        StoreUnavailableError: nothing readable there, or not a vertex_track store
            (the message says what was found).
    """
    hit = _engines.get(uri)
    if hit is not None:
        return hit
    with _lock:
        hit = _engines.get(uri)
        if hit is None:
            dialect = dialect_for(uri)
            engine = _create(uri, dialect, shown)
            try:
                probe(engine, dialect, shown)
            except BaseException:
                engine.dispose()
                raise
            hit = _engines[uri] = (engine, dialect)
    return hit


def dispose(uri: str) -> None:
    """Close and forget the read-only engine of ``uri``, if any."""
    with _lock:
        hit = _engines.pop(uri, None)
    if hit is not None:
        hit[0].dispose()


def dispose_all() -> None:
    """Close and forget every read-only engine of this process."""
    with _lock:
        hits = list(_engines.values())
        _engines.clear()
    for engine, _ in hits:
        engine.dispose()


def _create(uri: str, dialect: Dialect, shown: str) -> Engine:
    return dialect.read_only_engine(dialect.url(uri))


def probe(engine: Engine, dialect: Dialect, shown: str) -> int:
    """Check that ``engine`` holds a vertex_track store this version can read.

    Returns:
        The store's schema version.

    Raises:
        StoreUnavailableError: what was found instead.
    """
    kind = dialect.description
    try:
        with engine.connect() as conn:
            tables, where = dialect.table_names(conn, shown)
            version = None
            if "vt_schema_version" in tables:
                version = conn.exec_driver_sql("SELECT version FROM vt_schema_version").scalar()
            conn.rollback()
    except StoreUnavailableError:
        raise
    except DBAPIError as exc:
        orig = exc.orig if exc.orig is not None else exc
        if dialect.not_a_database(orig):
            raise StoreUnavailableError(
                f"no metadata store at {shown}: the file is not an SQLite database ({orig})"
            ) from exc
        raise StoreUnavailableError(f"cannot open the metadata store at {shown}: {orig}") from exc
    if version is None:
        if not tables:
            found = f"{kind} with no tables{where}"
        else:
            listed = ", ".join(tables[:8]) + (f", ... ({len(tables)} tables)" if len(tables) > 8 else "")
            found = f"{kind} without vertex_track's tables{where} (found: {listed})"
        raise StoreUnavailableError(
            f"no metadata store at {shown}: {found}. Nothing was created or changed; "
            "point --store-uri (or VERTEX_TRACK_STORE_URI) at a vertex_track store"
        )
    version = int(version)
    if version > HEAD:
        raise StoreUnavailableError(
            f"the metadata store at {shown}: schema version {version} is newer than this "
            f"vertex_track understands ({HEAD}); upgrade vertex_track "
            "(pip install -U vertex-track) to read it"
        )
    if version < OLDEST_READABLE:
        raise StoreUnavailableError(
            f"the metadata store at {shown}: schema version {version} is older than this "
            f"vertex_track reads without upgrading it ({OLDEST_READABLE}); upgrade the store "
            "with `vertex-track doctor --fix` (or any tracked run), then read it"
        )
    return version
