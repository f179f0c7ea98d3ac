"""Versioned schema migrations.

The schema version is one row in ``vt_schema_version``. Opening a store
checks it with a single query; only when it is behind does the store take a
migration lock (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on
PostgreSQL) and apply the missing steps in order, each in the same
transaction as the version bump, so a crash never leaves a half-migrated
store. A store written by a newer vertex_track is refused, never touched.

Each step takes the migration connection; steps after the first use
alembic's portable DDL through :func:`ops` (``ops(conn).add_column(...)``,
``batch_alter_table`` on SQLite).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import inspect, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from ...exceptions import StoreUnavailableError
from . import tables as t
from .dialects import Dialect, dialect_named


def ops(conn: Connection):  # type: ignore[no-untyped-def]
    """alembic ``Operations`` bound to ``conn``, for migration steps."""
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    return Operations(MigrationContext.configure(conn))


def _v1_initial(conn: Connection) -> None:
    t.metadata_obj.create_all(conn)


def _v2_sqlite_planner_statistics(conn: Connection) -> None:
    """Tell the planner that ``store_id`` is not selective (SQLite only needs it;
    see :meth:`.dialects.Dialect.seed_planner_statistics`)."""
    dialect_named(conn.dialect.name).seed_planner_statistics(
        conn, (t.artifacts, t.executions, t.contexts)
    )


def _v3_key_blocks(conn: Connection) -> None:
    """Primary keys from database-handed blocks (see :mod:`.keys`).

    The first block starts above every key already stored (keys made by
    earlier versions from the clock), so new keys can never meet old ones.
    """
    from sqlalchemy import func

    from .keys import BLOCK_BITS

    t.key_blocks.create(conn, checkfirst=True)
    if conn.execute(select(t.key_blocks.c.id)).first() is not None:
        return
    top = 0
    for table in t.CLIENT_KEYED:
        top = max(top, int(conn.execute(select(func.max(table.c.id))).scalar() or 0))
    conn.execute(t.key_blocks.insert().values(id=1, next_block=(top >> BLOCK_BITS) + 1))


# (version, description, step). Append only; never edit a released step.
MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "initial schema: resources, events, links, time series", _v1_initial),
    (2, "SQLite planner statistics for store-scoped indexes", _v2_sqlite_planner_statistics),
    (3, "primary keys from database-handed blocks", _v3_key_blocks),
]
HEAD = MIGRATIONS[-1][0]


def current_version(conn: Connection) -> int:
    """The store's schema version; 0 for an empty database."""
    try:
        row = conn.execute(select(t.schema_version.c.version)).first()
    except (OperationalError, ProgrammingError):
        conn.rollback()
        return 0
    return 0 if row is None else int(row[0])


def ensure_schema(engine: Engine, dialect: Dialect, store_uri: str) -> int:
    """Bring the schema to :data:`HEAD`; return the version found before.

    Raises:
        StoreUnavailableError: the store was written by a newer vertex_track.
    """
    with engine.connect() as conn:
        found = current_version(conn)
        conn.rollback()
    if found == HEAD:
        return found
    if found > HEAD:
        raise StoreUnavailableError(
            f"the metadata store at {store_uri} has schema version {found}, newer than "
            f"this vertex_track understands ({HEAD}); upgrade vertex_track "
            "(pip install -U vertex-track) instead of opening it with an older one"
        )
    with engine.connect().execution_options(vt_write=True) as conn, conn.begin():
        dialect.lock_for_migration(conn)
        if "vt_schema_version" in inspect(conn).get_table_names():
            found = current_version(conn)
        else:
            found = 0
        if found > HEAD:  # someone newer migrated while we waited
            raise StoreUnavailableError(
                f"the metadata store at {store_uri} has schema version {found}, newer than "
                f"this vertex_track understands ({HEAD}); upgrade vertex_track"
            )
        for version, _desc, step in MIGRATIONS:
            if version > found:
                step(conn)
        now = int(time.time() * 1_000_000)
        conn.execute(t.schema_version.delete())
        conn.execute(t.schema_version.insert().values(id=1, version=HEAD, applied_time=now))
    return found
