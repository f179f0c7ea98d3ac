"""Lineage and context links of the SQL store: one recursive statement per walk.

The graph is the one ml-metadata defines: artifacts and executions are nodes,
every Event is an edge, and one hop is one event edge. Each
:meth:`LineageQueries.lineage` call is one ``WITH RECURSIVE`` statement that
walks, then returns the artifacts, the executions and the events between
them in a single result set: no per-hop round trips, whatever the depth.
Cycles terminate: an unbounded walk deduplicates nodes with ``UNION``; a
bounded one carries a hop counter that stops at ``max_depth``.
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from ...exceptions import InvalidArgumentError, NotFoundError
from . import tables as t
from ._host import StoreHost

__all__ = ["LineageQueries"]

_ART, _EXE, _EVT = 0, 1, 2
_DIRECTIONS = ("upstream", "downstream", "both")
_START_KINDS = ("artifacts", "executions", "contexts")
_RESOURCE_COLS = ("id", "resource_id", "display_name", "schema_title", "schema_version",
                  "description", "metadata", "labels", "etag", "create_time", "update_time")


def _lit(value: int) -> ColumnElement:
    # Node-type tags and hop constants are inlined, not bound, so PostgreSQL
    # sees plain integers in both terms of the recursive CTE.
    return sa.literal_column(str(int(value)), sa.Integer())


def _start_param() -> Any:
    return sa.bindparam("start", expanding=True, type_=sa.String())


def _walk(name: str, anchor: sa.Select, direction: str, bounded: bool) -> sa.CTE:
    """Recursive CTE of (t, id[, hop]) nodes reachable from ``anchor``."""
    ev = t.events
    walk = anchor.cte(name, recursive=True)
    # upstream: artifact -> executions that OUTPUT it; execution -> its INPUTs.
    from_art, from_exe = ("OUTPUT", "INPUT") if direction == "upstream" else ("INPUT", "OUTPUT")
    join = sa.or_(
        sa.and_(walk.c.t == _lit(_ART), ev.c.artifact_id == walk.c.id,
                ev.c.type == sa.literal_column(f"'{from_art}'")),
        sa.and_(walk.c.t == _lit(_EXE), ev.c.execution_id == walk.c.id,
                ev.c.type == sa.literal_column(f"'{from_exe}'")),
    )
    cols: list[Any] = [
        sa.case((walk.c.t == _lit(_ART), _lit(_EXE)), else_=_lit(_ART)),
        sa.case((walk.c.t == _lit(_ART), ev.c.execution_id), else_=ev.c.artifact_id),
    ]
    step = sa.select(*cols).select_from(walk.join(ev, join))
    if bounded:
        # UNION dedupes (t, id, hop) rows, so a cycle is walked at most
        # max_depth times; without a bound, (t, id) rows end every cycle.
        step = sa.select(*cols, walk.c.hop + _lit(1)).select_from(walk.join(ev, join)).where(
            walk.c.hop < sa.bindparam("max_hops", type_=sa.Integer())
        )
    return walk.union(step)


def _context_ids(store_id: int) -> sa.Select:
    c = t.contexts
    return sa.select(c.c.id).where(c.c.store_id == store_id, c.c.resource_id.in_(_start_param()))


def _context_members(store_id: int) -> tuple[sa.Select, sa.Select]:
    """Artifact ids attributed and execution ids associated to the ``start`` contexts."""
    at, as_ = t.attributions, t.associations
    return (
        sa.select(at.c.artifact_id).where(at.c.context_id.in_(_context_ids(store_id))),
        sa.select(as_.c.execution_id).where(as_.c.context_id.in_(_context_ids(store_id))),
    )


def _anchor(kind: str, store_id: int, bounded: bool) -> sa.Select:
    hop = [_lit(0).label("hop")] if bounded else []
    if kind == "contexts":
        # A plain SELECT over a subquery: both databases take it as the
        # non-recursive term of the walk.
        at, as_ = t.attributions, t.associations
        members = sa.union_all(
            sa.select(_lit(_ART).label("t"), at.c.artifact_id.label("id"))
            .where(at.c.context_id.in_(_context_ids(store_id))),
            sa.select(_lit(_EXE).label("t"), as_.c.execution_id.label("id"))
            .where(as_.c.context_id.in_(_context_ids(store_id))),
        ).subquery("start_nodes")
        return sa.select(members.c.t, members.c.id, *hop)
    table = t.RESOURCE_TABLES[kind]
    cols: list[Any] = [_lit(_ART if kind == "artifacts" else _EXE).label("t"), table.c.id.label("id")]
    return sa.select(*cols, *hop).where(
        table.c.store_id == store_id, table.c.resource_id.in_(_start_param())
    )


@functools.lru_cache(maxsize=256)
def _lineage_statement(
    kind: str, direction: str, bounded: bool, filter: str | None, store_id: int, prefix: str,
    dialect_name: str,
) -> sa.CompoundSelect:
    """The whole lineage query for one shape; ``start`` and ``max_hops`` are bound at run time.

    Built once per shape and reused, so SQLAlchemy's statement cache hits.
    """
    art_ids: sa.Select | sa.CompoundSelect
    exes: sa.Select | sa.CompoundSelect
    walks = [
        _walk(f"walk_{d}", _anchor(kind, store_id, bounded), d, bounded)
        for d in (("upstream", "downstream") if direction == "both" else (direction,))
    ]
    node_ids = [sa.select(w.c.id).where(w.c.t == _lit(_ART)) for w in walks]
    exe_ids = [sa.select(w.c.id).where(w.c.t == _lit(_EXE)) for w in walks]
    art_ids = sa.union(*node_ids) if len(node_ids) > 1 else node_ids[0]
    exes = sa.union(*exe_ids) if len(exe_ids) > 1 else exe_ids[0]
    if filter is not None:
        from .filters import compile_filter

        cond = compile_filter("artifacts", filter, store_id=store_id, store_prefix=prefix,
                              dialect_name=dialect_name)
        if cond is not None:
            a = t.artifacts
            # Look the walked ids up by primary key; events never cross stores,
            # so no store_id test is needed (it would invite a store-wide scan).
            if kind == "artifacts":
                keep_start: Any = a.c.resource_id.in_(_start_param())
            elif kind == "contexts":
                keep_start = a.c.id.in_(_context_members(store_id)[0])
            else:
                keep_start = sa.false()
            filtered = sa.select(a.c.id).where(a.c.id.in_(art_ids), sa.or_(cond, keep_start))
            art_ids = sa.select(filtered.cte("lineage_artifacts").c.id)
    if len(walks) > 1 or filter is not None:
        art_cte, exe_cte = art_ids.cte("lineage_artifact_ids"), exes.cte("lineage_execution_ids")
        art_ids, exes = sa.select(art_cte.c.id), sa.select(exe_cte.c.id)
    return _result_union(art_ids, exes)


@functools.lru_cache(maxsize=64)
def _members_statement(store_id: int) -> sa.CompoundSelect:
    """The start nodes of contexts and the events among them (``max_depth=0``): no walk."""
    return _result_union(*_context_members(store_id))


def _result_union(art_ids: Any, exe_ids: Any) -> sa.CompoundSelect:
    """One result set: artifact rows, execution rows, then event rows (tagged by ``k``)."""
    a, e, ev = t.artifacts, t.executions, t.events
    big, text = sa.BigInteger(), sa.String()

    def null(type_: Any) -> ColumnElement:
        return sa.cast(sa.null(), type_)

    def col(table: sa.Table, name: str) -> Any:
        # JSON comes back as the driver gives it (text on SQLite, already
        # decoded on PostgreSQL); the store decodes it with a fast path for
        # the common "{}" (SQLAlchemy's JSON processing was a third of a call).
        if name in ("metadata", "labels"):
            return sa.type_coerce(table.c[name], sa.Text()).label(name)
        return table.c[name]

    art = sa.select(
        _lit(_ART).label("k"), *(col(a, c) for c in _RESOURCE_COLS), a.c.state, a.c.uri,
        null(big).label("artifact_id"), null(big).label("execution_id"),
        null(text).label("type"), null(big).label("event_time"),
    ).where(a.c.id.in_(art_ids))
    exe = sa.select(
        _lit(_EXE), *(e.c[c] for c in _RESOURCE_COLS), e.c.state, null(text),
        null(big), null(big), null(text), null(big),
    ).where(e.c.id.in_(exe_ids))
    evt = sa.select(
        _lit(_EVT), ev.c.id, null(text), null(text), null(text), null(text), null(text),
        null(a.c.metadata.type), ev.c.labels, null(big), null(big), null(big), null(text),
        null(text), ev.c.artifact_id, ev.c.execution_id, ev.c.type, ev.c.event_time,
    ).where(ev.c.artifact_id.in_(art_ids), ev.c.execution_id.in_(exe_ids))
    return sa.union_all(art, exe, evt)


class LineageQueries(StoreHost):
    """``lineage`` and ``get_contexts`` of :class:`~.store.SqlStore` (see
    :class:`~vertex_track.store.base.MetadataStore` for their contracts)."""

    def lineage(
        self,
        start_kind: str,
        start_ids: Sequence[str],
        *,
        direction: str = "upstream",
        max_depth: int | None = None,
        filter: str | None = None,
    ) -> tuple[builtins.list[Any], builtins.list[Any], builtins.list[Any]]:
        if start_kind not in _START_KINDS:
            raise InvalidArgumentError(
                f"start_kind must be one of {', '.join(_START_KINDS)}, got {start_kind!r}"
            )
        if direction not in _DIRECTIONS:
            raise InvalidArgumentError(
                f"direction must be 'upstream', 'downstream' or 'both', got {direction!r}"
            )
        if max_depth is not None and (
            not isinstance(max_depth, int) or isinstance(max_depth, bool) or max_depth < 0
        ):
            raise InvalidArgumentError(
                f"max_depth must be None or an integer >= 0, got {max_depth!r}"
            )
        rids = builtins.list(dict.fromkeys(start_ids))
        if not rids:
            return [], [], []
        params: dict[str, Any] = {"start": rids}
        if start_kind == "contexts" and max_depth == 0 and filter is None:
            query: Any = _members_statement(self.store_id)
        else:
            query = _lineage_statement(
                start_kind, direction, max_depth is not None, filter, self.store_id, self.prefix,
                self.dialect.name,
            )
            if max_depth is not None:
                params["max_hops"] = max_depth
        with self.read() as conn:
            if start_kind == "contexts":
                self._require_contexts(conn, rids)
            rows = conn.execute(query, params).all()
        artifacts, executions, events = self._subgraph(rows)
        if start_kind != "contexts":
            found = {r.name for r in (artifacts if start_kind == "artifacts" else executions)}
            for rid in rids:
                name = self.resource_name(start_kind, rid)
                if name not in found:
                    raise NotFoundError(f"{start_kind[:-1]} {name!r} does not exist")
        return artifacts, executions, events

    def _require_contexts(self, conn: Any, rids: Sequence[str]) -> None:
        c = t.contexts
        found = set(conn.execute(
            sa.select(c.c.resource_id).where(c.c.store_id == self.store_id,
                                             c.c.resource_id.in_(rids))
        ).scalars())
        for rid in rids:
            if rid not in found:
                name = self.resource_name("contexts", rid)
                raise NotFoundError(f"context {name!r} does not exist")

    def _subgraph(
        self, rows: Sequence[Any]
    ) -> tuple[builtins.list[Any], builtins.list[Any], builtins.list[Any]]:
        """Models of the rows of :func:`_result_union`; events in recording (id) order."""
        to_resource = self.row_to_resource
        arts: dict[int, Any] = {}
        exes: dict[int, Any] = {}
        event_rows = []
        for row in rows:
            m = row._mapping
            if m["k"] == _ART:
                arts[m["id"]] = to_resource("artifacts", m)
            elif m["k"] == _EXE:
                exes[m["id"]] = to_resource("executions", m)
            else:
                event_rows.append(m)
        event_rows.sort(key=lambda m: m["id"])
        events = [
            self.row_to_event(
                m, arts[m["artifact_id"]].name, exes[m["execution_id"]].name
            )
            for m in event_rows
            if m["artifact_id"] in arts and m["execution_id"] in exes
        ]
        return builtins.list(arts.values()), builtins.list(exes.values()), events

    def get_contexts(
        self, kind: str, resource_ids: Sequence[str], *, schema_title: str | None = None
    ) -> dict[str, builtins.list[Any]]:
        if kind not in ("artifacts", "executions"):
            raise InvalidArgumentError(
                f"get_contexts takes artifacts or executions, got {kind!r}; for the parents "
                "of a context use its parent_contexts"
            )
        rids = builtins.list(dict.fromkeys(resource_ids))
        out: dict[str, builtins.list[Any]] = {rid: [] for rid in rids}
        table = t.RESOURCE_TABLES[kind]
        link, own = (t.attributions, t.attributions.c.artifact_id) if kind == "artifacts" \
            else (t.associations, t.associations.c.execution_id)
        c = t.contexts
        links: builtins.list[tuple[str, int]] = []  # (resource_id, context pk)
        contexts: dict[int, Any] = {}
        with self.read() as conn:
            for i in range(0, len(rids), 500):
                q = (
                    sa.select(table.c.resource_id, link.c.context_id)
                    .select_from(table.join(link, own == table.c.id))
                    .where(table.c.store_id == self.store_id,
                           table.c.resource_id.in_(rids[i:i + 500]))
                )
                links += [(row[0], row[1]) for row in conn.execute(q)]
            ctx_ids = sorted({pk for _, pk in links})
            for i in range(0, len(ctx_ids), 500):
                q = sa.select(*(c.c[n] for n in _RESOURCE_COLS)).where(
                    c.c.id.in_(ctx_ids[i:i + 500]))
                if schema_title is not None:
                    q = q.where(c.c.schema_title == schema_title)
                rows = [row._mapping for row in conn.execute(q)]
                parents = self._parents_of(conn, [m["id"] for m in rows])
                for m in rows:
                    contexts[m["id"]] = self.row_to_resource(
                        "contexts", m, parents.get(m["id"], []))
        for rid, pk in links:
            if pk in contexts:
                out[rid].append(contexts[pk])
        for found in out.values():
            found.sort(key=lambda x: (x.create_time, x.name))
        return out
