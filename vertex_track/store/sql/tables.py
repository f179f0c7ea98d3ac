"""The SQL schema, shared by SQLite and PostgreSQL (SQLAlchemy Core).

Conventions that the rest of the SQL layer relies on:

- Primary keys are 63-bit integers made on the client from blocks the
  database hands out (:mod:`.keys`), so a whole execution record can be
  written with ``executemany`` and no round trips for generated keys.
- Timestamps are integer microseconds since the Unix epoch (UTC): compact,
  index-friendly and identical on both backends.
- Every resource row belongs to one metadata store (``store_id``); resource
  ids are unique per store. Several stores may share one database.
- Text columns that can be sorted on are NOT NULL (empty string when unset)
  so keyset pagination never meets a NULL.
"""

from __future__ import annotations

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
        from .dialects import dialect_named

        try:
            ours = dialect_named(dialect.name)
        except ValueError:  # SQLAlchemy's generic dialect (str() of a statement)
            return dialect.type_descriptor(JSON())
        return dialect.type_descriptor(ours.json_column_type())


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

key_blocks = Table(  # one row: the next block of primary keys to hand out (see keys.py)
    "vt_key_blocks",
    metadata_obj,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("next_block", BigInteger, nullable=False),
)

#: Tables whose primary keys are made on the client from key blocks.
CLIENT_KEYED = (artifacts, executions, contexts, events, time_series)
