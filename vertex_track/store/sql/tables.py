"""The SQL schema, shared by SQLite and PostgreSQL (SQLAlchemy Core).

Conventions that the rest of the SQL layer relies on:

- Primary keys are 63-bit integers made on the client (:func:`new_id`), so a
  whole execution record can be written with ``executemany`` and no
  round trips for generated keys.
- Timestamps are integer microseconds since the Unix epoch (UTC): compact,
  index-friendly and identical on both backends.
- Every resource row belongs to one metadata store (``store_id``); resource
  ids are unique per store. Several stores may share one database.
- Text columns that can be sorted on are NOT NULL (empty string when unset)
  so keyset pagination never meets a NULL.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

from ..._random import rng

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata_obj = MetaData(naming_convention=NAMING)

class JsonDocument(TypeDecorator):  # type: ignore[type-arg]
    """JSON on SQLite, JSONB on PostgreSQL.

    A decorator rather than ``JSON().with_variant(JSONB(), ...)`` so that
    SQLite users (and every CLI start) do not import the PostgreSQL dialect.
    """

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


JsonType = JsonDocument()

# In SQLite only a column declared exactly "INTEGER PRIMARY KEY" becomes the
# rowid; a BIGINT key would be a second b-tree beside the rowid's.
IdType = BigInteger().with_variant(Integer(), "sqlite")


def _fk(table: str, **kw: object) -> ForeignKey:
    return ForeignKey(f"{table}.id", ondelete="CASCADE", **kw)  # type: ignore[arg-type]


schema_version = Table(
    "vt_schema_version",
    metadata_obj,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("applied_time", BigInteger, nullable=False),
)

metadata_stores = Table(
    "vt_metadata_stores",
    metadata_obj,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", String(128), nullable=False),
    Column("location", String(128), nullable=False),
    Column("name", String(128), nullable=False),
    Column("create_time", BigInteger, nullable=False),
    UniqueConstraint("project", "location", "name"),
)


def _resource_columns() -> list[Column]:
    return [
        Column("id", IdType, primary_key=True, autoincrement=False),
        Column("store_id", Integer, _fk("vt_metadata_stores"), nullable=False),
        Column("resource_id", String(63), nullable=False),
        Column("display_name", String(128), nullable=False, server_default=""),
        Column("schema_title", String(80), nullable=False),
        Column("schema_version", String(32), nullable=False, server_default="0.0.1"),
        Column("description", Text, nullable=False, server_default=""),
        Column("metadata", JsonType, nullable=False),
        Column("labels", JsonType, nullable=False),
        Column("etag", BigInteger, nullable=False),
        Column("create_time", BigInteger, nullable=False),
        Column("update_time", BigInteger, nullable=False),
    ]


artifacts = Table(
    "vt_artifacts",
    metadata_obj,
    *_resource_columns(),
    Column("uri", Text, nullable=False, server_default=""),
    Column("state", String(16), nullable=False),
    # Content digest ("sha256:...") of tracked values, copied from
    # metadata.vertex_track.digest so content lookups use an index.
    Column("content_digest", String(80), nullable=True),
    UniqueConstraint("store_id", "resource_id"),
)

executions = Table(
    "vt_executions",
    metadata_obj,
    *_resource_columns(),
    Column("state", String(16), nullable=False),
    UniqueConstraint("store_id", "resource_id"),
)

contexts = Table(
    "vt_contexts",
    metadata_obj,
    *_resource_columns(),
    UniqueConstraint("store_id", "resource_id"),
)

events = Table(
    "vt_events",
    metadata_obj,
    Column("id", IdType, primary_key=True, autoincrement=False),
    Column("artifact_id", BigInteger, _fk("vt_artifacts"), nullable=False),
    Column("execution_id", BigInteger, _fk("vt_executions"), nullable=False),
    Column("type", String(8), nullable=False),  # INPUT | OUTPUT
    Column("event_time", BigInteger, nullable=False),
    Column("labels", JsonType, nullable=False),
)

attributions = Table(  # context -- artifact
    "vt_attributions",
    metadata_obj,
    Column("context_id", BigInteger, _fk("vt_contexts"), primary_key=True),
    Column("artifact_id", BigInteger, _fk("vt_artifacts"), primary_key=True),
)

associations = Table(  # context -- execution
    "vt_associations",
    metadata_obj,
    Column("context_id", BigInteger, _fk("vt_contexts"), primary_key=True),
    Column("execution_id", BigInteger, _fk("vt_executions"), primary_key=True),
)

parent_contexts = Table(  # child context -- parent context
    "vt_parent_contexts",
    metadata_obj,
    Column("child_id", BigInteger, _fk("vt_contexts"), primary_key=True),
    Column("parent_id", BigInteger, _fk("vt_contexts"), primary_key=True),
)

time_series = Table(  # experiment run time series metrics
    "vt_time_series",
    metadata_obj,
    Column("id", IdType, primary_key=True, autoincrement=False),
    Column("context_id", BigInteger, _fk("vt_contexts"), nullable=False),
    Column("metric", String(256), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("wall_time", BigInteger, nullable=False),
    Column("value", Float, nullable=False),
)

# Indexes: every foreign key, and every column filters and the default order
# use. Each index costs every insert a b-tree write, so columns filtered
# rarely (update_time, content_digest) have none yet; a migration can add them.
for _t in (artifacts, executions, contexts):
    # The default order (create_time, then name) walks this index; with the
    # rowid (id) as its implicit last column it also settles the keyset ties.
    Index(None, _t.c.store_id, _t.c.create_time, _t.c.resource_id)
    Index(None, _t.c.store_id, _t.c.schema_title, _t.c.create_time, _t.c.resource_id)
    Index(None, _t.c.store_id, _t.c.display_name)
for _t in (artifacts, executions):
    Index(None, _t.c.store_id, _t.c.state, _t.c.create_time, _t.c.resource_id)
Index(None, artifacts.c.store_id, artifacts.c.uri)
Index(None, events.c.artifact_id, events.c.type)
Index(None, events.c.execution_id, events.c.type)
Index(None, attributions.c.artifact_id)
Index(None, associations.c.execution_id)
Index(None, parent_contexts.c.parent_id)
Index(None, time_series.c.context_id, time_series.c.metric, time_series.c.step)

RESOURCE_TABLES: dict[str, Table] = {
    "artifacts": artifacts,
    "executions": executions,
    "contexts": contexts,
}

# -- client-side ids ------------------------------------------------------------
# 41 bits of milliseconds since 2024-01-01, 10 bits per process, 12 bits of
# counter: roughly time ordered, and unique without asking the database.
_EPOCH_MS = 1_704_067_200_000
_id_lock = threading.Lock()
_id_state = {"ms": 0, "seq": 0, "proc": rng.getrandbits(10)}


def _reseed_after_fork() -> None:
    _id_state.update(ms=0, seq=0, proc=rng.getrandbits(10))


os.register_at_fork(after_in_child=_reseed_after_fork)


def new_id() -> int:
    """A new 63-bit primary key, unique across threads and (practically) processes."""
    with _id_lock:
        ms = int(time.time() * 1000) - _EPOCH_MS
        if ms <= _id_state["ms"]:
            ms = _id_state["ms"]
            seq = _id_state["seq"] + 1
            if seq >= 4096:  # 4096 ids in one millisecond: borrow the next one
                ms += 1
                seq = 0
        else:
            seq = 0
        _id_state["ms"], _id_state["seq"] = ms, seq
        return (ms << 22) | (_id_state["proc"] << 12) | seq


def new_ids(n: int) -> list[int]:
    """``n`` new primary keys, allocated under one lock acquisition."""
    out: list[int] = []
    with _id_lock:
        ms = max(int(time.time() * 1000) - _EPOCH_MS, _id_state["ms"])
        seq = _id_state["seq"] if ms == _id_state["ms"] else -1
        proc = _id_state["proc"] << 12
        for _ in range(n):
            seq += 1
            if seq >= 4096:
                ms, seq = ms + 1, 0
            out.append((ms << 22) | proc | seq)
        _id_state["ms"], _id_state["seq"] = ms, seq
    return out
