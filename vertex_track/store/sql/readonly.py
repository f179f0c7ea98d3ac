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
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Engine
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


def sqlite_path(url: URL) -> str | None:
    """The file of an SQLite URL; None for in-memory databases and ``file:`` URIs."""
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return os.path.abspath(database)


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


def _create(uri: str, dialect: Dialect, shown: str) -> Engine:
    url = dialect.url(uri)
    if dialect.name == "sqlite":
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
        engine = create_engine(url, **dialect.engine_kwargs())
        _install_sqlite(engine, dialect)
        return engine
    engine = create_engine(url, **dialect.engine_kwargs())

    @event.listens_for(engine, "connect")
    def _read_only(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.read_only = True  # psycopg 3: every transaction is READ ONLY

    return engine


def _install_sqlite(engine: Engine, dialect: Dialect) -> None:
    busy_ms = int(getattr(dialect, "busy_timeout_s", 60.0) * 1000)

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


def probe(engine: Engine, dialect: Dialect, shown: str) -> int:
    """Check that ``engine`` holds a vertex_track store this version can read.

    Returns:
        The store's schema version.

    Raises:
        StoreUnavailableError: what was found instead.
    """
    kind = "an SQLite database" if dialect.name == "sqlite" else "a PostgreSQL database"
    try:
        with engine.connect() as conn:
            if dialect.name == "sqlite":
                tables = [r[0] for r in conn.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%' ORDER BY name"
                )]
                where = ""
            else:
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
                where = f" (schema {schema!r})"
            version = None
            if "vt_schema_version" in tables:
                version = conn.exec_driver_sql("SELECT version FROM vt_schema_version").scalar()
            conn.rollback()
    except StoreUnavailableError:
        raise
    except DBAPIError as exc:
        orig = exc.orig if exc.orig is not None else exc
        if dialect.name == "sqlite" and "not a database" in str(orig):
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
