"""Rows -> models: the only code that builds resources and events from stored rows.

The store sits below :mod:`vertex_track.resources`, so it builds the class
registered for each kind in :mod:`vertex_track.types` (trusted rows skip
pydantic's validation: this runs for every listed resource and every event of
a lineage walk).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Connection, RowMapping

from ..._json import loads
from ..._time import from_micros
from ...types import ArtifactState, Event, EventType, ExecutionState, resource_class
from . import tables as t

if TYPE_CHECKING:
    from .core import SqlCore

__all__ = [
    "chunks", "json_value", "parents_of", "row_to_event", "row_to_resource", "rows_to_resources",
    "stored_copy",
]

T = TypeVar("T")
R = TypeVar("R")

# Enum lookups by value without Enum.__call__ (hot when rows become models).
_ARTIFACT_STATES = {m.value: m for m in ArtifactState}
_EXECUTION_STATES = {m.value: m for m in ExecutionState}
_EVENT_TYPES = {m.value: m for m in EventType}
_EVENT_FIELDS = frozenset({"artifact", "execution", "event_time", "type", "labels"})
_CLASSES: dict[str, Any] = {}  # kind -> its registered class, looked up once (hot per row)


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in slices of at most ``size`` (bound-parameter limits of one statement)."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def json_value(value: Any) -> Any:
    """A JSON column's value: decoded already, or text (raw rows of recursive queries)."""
    if type(value) is str:
        return {} if value == "{}" else loads(value)
    return {} if value is None else value


def row_to_resource(
    store: SqlCore, kind: str, row: RowMapping, parents: list[str] | None = None
) -> Any:
    """The resource of ``kind`` stored in ``row``, bound to ``store``.

    ``parents``: a context's parent context names (see :func:`parents_of`).
    """
    fields: dict[str, Any] = {
        "name": f"{store.prefix}/{kind}/{row['resource_id']}",
        "display_name": row["display_name"],
        "schema_title": row["schema_title"],
        "schema_version": row["schema_version"],
        "metadata": json_value(row["metadata"]),
        "labels": json_value(row["labels"]),
        "description": row["description"],
        "create_time": from_micros(row["create_time"]),
        "update_time": from_micros(row["update_time"]),
        "etag": str(row["etag"]),
    }
    if kind == "artifacts":
        fields["uri"] = row["uri"]
        fields["state"] = _ARTIFACT_STATES[row["state"]]
    elif kind == "executions":
        fields["state"] = _EXECUTION_STATES[row["state"]]
    else:
        fields["parent_contexts"] = parents or []
    cls = _CLASSES.get(kind)
    if cls is None:
        cls = _CLASSES[kind] = resource_class(kind)
    obj = cls.construct_fast(**fields)
    obj.__pydantic_private__["_bound"] = store  # skip pydantic's __setattr__
    return obj


def row_to_event(row: RowMapping, artifact_name: str, execution_name: str) -> Event:
    """The event stored in ``row`` between the two named resources."""
    event = Event.__new__(Event)  # trusted row: skip validation (hot in lineage)
    object.__setattr__(event, "__dict__", {
        "artifact": artifact_name,
        "execution": execution_name,
        "event_time": from_micros(row["event_time"]),
        "type": _EVENT_TYPES[row["type"]],
        "labels": json_value(row["labels"]),
    })
    object.__setattr__(event, "__pydantic_fields_set__", _EVENT_FIELDS)
    object.__setattr__(event, "__pydantic_extra__", None)
    object.__setattr__(event, "__pydantic_private__", None)
    return event


def rows_to_resources(
    store: SqlCore, conn: Connection, kind: str, rows: Sequence[Any]
) -> list[Any]:
    """Resources of full table rows, in order (contexts with their parents, read on ``conn``)."""
    if kind != "contexts":
        return [row_to_resource(store, kind, r._mapping) for r in rows]
    parents = parents_of(store, conn, [r._mapping["id"] for r in rows])
    return [
        row_to_resource(store, kind, r._mapping, parents.get(r._mapping["id"], []))
        for r in rows
    ]


def parents_of(store: SqlCore, conn: Connection, ids: list[int]) -> dict[int, list[str]]:
    """``context pk -> names of its parent contexts`` (sorted by resource id)."""
    if not ids:
        return {}
    pc, c = t.parent_contexts, t.contexts
    out: dict[int, list[str]] = {}
    for chunk in chunks(ids, 500):
        q = (
            select(pc.c.child_id, c.c.resource_id)
            .join(c, c.c.id == pc.c.parent_id)
            .where(pc.c.child_id.in_(chunk))
            .order_by(pc.c.child_id, c.c.resource_id)
        )
        for child_id, rid in conn.execute(q):
            out.setdefault(child_id, []).append(store.resource_name("contexts", rid))
    return out


def stored_copy(store: SqlCore, resource: R, etag: str) -> R:
    """A shallow copy of ``resource`` with ``etag``, bound to ``store``.

    What ``model_copy`` does, without its generic machinery (this runs for
    every created resource).
    """
    src: Any = resource
    out = src.__class__.__new__(src.__class__)
    data = dict(src.__dict__)
    data["etag"] = etag
    object.__setattr__(out, "__dict__", data)
    object.__setattr__(out, "__pydantic_fields_set__", {*src.__pydantic_fields_set__, "etag"})
    object.__setattr__(out, "__pydantic_extra__", None)
    private = dict(src.__pydantic_private__ or ())
    private["_bound"] = store
    object.__setattr__(out, "__pydantic_private__", private)
    return out  # type: ignore[no-any-return]
