"""Lineage: walks over events, answered by one recursive SQL statement per call.

The graph is the one ml-metadata defines: artifacts and executions are nodes,
every Event is an edge, and one hop is one event edge (artifact -> execution
or execution -> artifact). Walking *upstream* goes from an artifact to the
executions that output it and from an execution to its inputs; *downstream*
goes from an artifact to the executions that consumed it and from an
execution to its outputs. ``direction="both"`` is the union of the two walks
(not an undirected walk).

Each call is one ``WITH RECURSIVE`` statement that walks, then returns the
artifacts, the executions and the events between them in a single result
set: no per-hop round trips, whatever the depth. Cycles terminate: an
unbounded walk deduplicates nodes with ``UNION``; a bounded one carries a hop
counter that stops at ``max_hops``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from ..exceptions import InvalidArgumentError, NotFoundError
from ..resources import Artifact, Context, Event, Execution, _Resource
from ..store.sql import tables as t

if TYPE_CHECKING:
    from ..store.base import MetadataStore

__all__ = [
    "LineageSubgraph",
    "contexts_of",
    "lineage",
    "query_context_lineage_subgraph",
    "query_execution_inputs_and_outputs",
]

Direction = Literal["upstream", "downstream", "both"]
_ART, _EXE, _EVT = 0, 1, 2


# -- the result -------------------------------------------------------------------------

@dataclass
class LineageSubgraph:
    """Artifacts, executions and the events between them.

    Lists are in a deterministic order: resources by ``create_time`` then
    name, events by ``event_time``, execution name, artifact name, type.
    """

    artifacts: list[Artifact] = field(default_factory=list)
    executions: list[Execution] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def __repr__(self) -> str:
        return (
            f"LineageSubgraph(artifacts={len(self.artifacts)}, "
            f"executions={len(self.executions)}, events={len(self.events)})"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict: ``{"artifacts": [...], "executions": [...], "events": [...]}``."""
        return {
            "artifacts": [a.to_dict() for a in self.artifacts],
            "executions": [e.to_dict() for e in self.executions],
            "events": [ev.model_dump(mode="json") for ev in self.events],
        }

    def to_json(self, indent: int | None = 2) -> str:
        """The subgraph as a JSON document (see :meth:`to_dict`)."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    # Node ids in exports are positional (a0, a1, e0, ...) so they are valid
    # identifiers in every syntax, and stable because the lists are ordered.
    def _node_ids(self) -> dict[str, str]:
        ids = {a.name: f"a{i}" for i, a in enumerate(self.artifacts)}
        ids.update({e.name: f"e{i}" for i, e in enumerate(self.executions)})
        return ids

    @staticmethod
    def _label_lines(resource: _Resource) -> list[str]:
        lines = [resource.display_name or resource.resource_id, resource.schema_title]
        state = getattr(resource, "state", None)
        if state is not None:
            lines.append(str(state))
        return lines

    def _edges(self, ids: dict[str, str]) -> list[tuple[str, str, str]]:
        edges = []
        for ev in self.events:
            a, e = ids.get(ev.artifact), ids.get(ev.execution)
            if a is None or e is None:
                continue
            label = ev.labels.get("name", "")
            edges.append((a, e, label) if str(ev.type) == "INPUT" else (e, a, label))
        return edges

    def to_mermaid(self) -> str:
        """A Mermaid ``flowchart LR``: artifacts as cylinders, executions as boxes.

        Edges follow the data: input artifact --> execution --> output
        artifact, labelled with the event's argument name / output key.
        """

        def esc(text: str) -> str:
            out = text.replace("&", "#amp;").replace('"', "#quot;")
            return out.replace("<", "#lt;").replace(">", "#gt;").replace("|", "#124;")

        ids = self._node_ids()
        lines = ["flowchart LR"]
        for a in self.artifacts:
            lines.append(f'    {ids[a.name]}[("{"<br/>".join(esc(x) for x in self._label_lines(a))}")]')
        for e in self.executions:
            lines.append(f'    {ids[e.name]}["{"<br/>".join(esc(x) for x in self._label_lines(e))}"]')
        for src, dst, label in self._edges(ids):
            lines.append(f"    {src} -->|{esc(label)}| {dst}" if label else f"    {src} --> {dst}")
        return "\n".join(lines) + "\n"

    def to_dot(self) -> str:
        """A Graphviz DOT digraph: artifacts as ellipses, executions as boxes."""

        def q(text: str) -> str:
            return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

        ids = self._node_ids()
        lines = ["digraph lineage {", "    rankdir=LR;", '    node [fontname="Helvetica"];']
        for a in self.artifacts:
            label = "\n".join(self._label_lines(a))
            lines.append(f"    {ids[a.name]} [shape=ellipse, label={q(label)}, tooltip={q(a.name)}];")
        for e in self.executions:
            label = "\n".join(self._label_lines(e))
            lines.append(f"    {ids[e.name]} [shape=box, label={q(label)}, tooltip={q(e.name)}];")
        for src, dst, label in self._edges(ids):
            lines.append(f"    {src} -> {dst} [label={q(label)}];" if label else f"    {src} -> {dst};")
        lines.append("}")
        return "\n".join(lines) + "\n"


# -- SQL --------------------------------------------------------------------------------

def _lit(value: int) -> ColumnElement:
    # Node-type tags and hop constants are inlined, not bound, so PostgreSQL
    # sees plain integers in both terms of the recursive CTE.
    return sa.literal_column(str(int(value)), sa.Integer())


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
        # max_hops times; without a bound, (t, id) rows end every cycle.
        step = sa.select(*cols, walk.c.hop + _lit(1)).select_from(walk.join(ev, join)).where(
            walk.c.hop < sa.bindparam("max_hops", type_=sa.Integer())
        )
    return walk.union(step)


def _anchor(kind: str, store_id: int, bounded: bool) -> sa.Select:
    table = t.RESOURCE_TABLES[kind]
    cols: list[Any] = [_lit(_ART if kind == "artifacts" else _EXE).label("t"), table.c.id.label("id")]
    if bounded:
        cols.append(_lit(0).label("hop"))
    return sa.select(*cols).where(
        table.c.store_id == store_id, table.c.resource_id == sa.bindparam("start", type_=sa.String())
    )


@functools.lru_cache(maxsize=256)
def _lineage_statement(
    kind: str, direction: str, bounded: bool, filter: str | None, store_id: int, prefix: str,
    dialect_name: str,
) -> sa.CompoundSelect:
    """The whole lineage query for one shape; ``start`` and ``max_hops`` are bound at run time.

    Built once per shape and reused, so SQLAlchemy's statement cache hits.
    """
    walks = [
        _walk(f"walk_{d}", _anchor(kind, store_id, bounded), d, bounded)
        for d in (("upstream", "downstream") if direction == "both" else (direction,))
    ]
    node_ids = [sa.select(w.c.id).where(w.c.t == _lit(_ART)) for w in walks]
    exe_ids = [sa.select(w.c.id).where(w.c.t == _lit(_EXE)) for w in walks]
    art_ids: sa.Select | sa.CompoundSelect = (
        sa.union(*node_ids) if len(node_ids) > 1 else node_ids[0]
    )
    exes: sa.Select | sa.CompoundSelect = sa.union(*exe_ids) if len(exe_ids) > 1 else exe_ids[0]
    if filter is not None:
        from ..store.sql.filters import compile_filter

        cond = compile_filter("artifacts", filter, store_id=store_id, store_prefix=prefix,
                              dialect_name=dialect_name)
        if cond is not None:
            a = t.artifacts
            # Look the walked ids up by primary key; events never cross stores,
            # so no store_id test is needed (it would invite a store-wide scan).
            keep_start = a.c.resource_id == sa.bindparam("start") if kind == "artifacts" \
                else sa.false()
            filtered = sa.select(a.c.id).where(a.c.id.in_(art_ids), sa.or_(cond, keep_start))
            art_ids = sa.select(filtered.cte("lineage_artifacts").c.id)
    if len(walks) > 1 or filter is not None:
        art_cte, exe_cte = art_ids.cte("lineage_artifact_ids"), exes.cte("lineage_execution_ids")
        art_ids, exes = sa.select(art_cte.c.id), sa.select(exe_cte.c.id)
    return _result_union(art_ids, exes)


_RESOURCE_COLS = ("id", "resource_id", "display_name", "schema_title", "schema_version",
                  "description", "metadata", "labels", "etag", "create_time", "update_time")


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


def _subgraph(store: Any, rows: Sequence[Any]) -> LineageSubgraph:
    arts: dict[int, Artifact] = {}
    exes: dict[int, Execution] = {}
    event_rows = []
    for row in rows:
        m = row._mapping
        if m["k"] == _ART:
            arts[m["id"]] = store.row_to_resource("artifacts", m)
        elif m["k"] == _EXE:
            exes[m["id"]] = store.row_to_resource("executions", m)
        else:
            event_rows.append(m)
    events = [
        store.row_to_event(m, arts[m["artifact_id"]].name, exes[m["execution_id"]].name)
        for m in event_rows
        if m["artifact_id"] in arts and m["execution_id"] in exes
    ]

    def order(r: _Resource) -> tuple[dt.datetime, str]:
        return (r.create_time, r.name)

    events.sort(key=lambda ev: (ev.event_time, ev.execution, ev.artifact, str(ev.type)))
    return LineageSubgraph(
        artifacts=sorted(arts.values(), key=order),
        executions=sorted(exes.values(), key=order),
        events=events,
    )


def _store(store: MetadataStore | None) -> Any:
    if store is not None:
        return store
    from ..store import get_store

    return get_store()


def _start_of(store: Any, resource: Any) -> tuple[str, str]:
    """(kind, resource_id) of an Artifact, an Execution or a full resource name."""
    if isinstance(resource, (Artifact, Execution)):
        return resource.kind, resource.resource_id
    if isinstance(resource, Context):
        raise InvalidArgumentError(
            "lineage starts from an Artifact or an Execution; for a context use "
            "vt.query_context_lineage_subgraph(context)"
        )
    if isinstance(resource, str):
        head, _, rid = resource.rpartition("/")
        for kind in ("artifacts", "executions"):
            if head == f"{store.prefix}/{kind}" and rid:
                return kind, rid
        raise InvalidArgumentError(
            f"resource {resource!r} is not the full name of an artifact or execution of this "
            f"store; expected '{store.prefix}/artifacts/<id>' or "
            f"'{store.prefix}/executions/<id>', or pass the Artifact/Execution object"
        )
    raise InvalidArgumentError(
        f"resource must be an Artifact, an Execution or a resource name, "
        f"not {type(resource).__name__}"
    )


def lineage(
    resource: Artifact | Execution | str,
    direction: Direction = "upstream",
    max_hops: int | None = None,
    filter: str | None = None,
    *,
    context: Context | str | None = None,
    store: MetadataStore | None = None,
) -> LineageSubgraph:
    """The lineage subgraph around an artifact or execution.

    Args:
        resource: the start node: an Artifact, an Execution, or its full
            resource name. It is always part of the result.
        direction: ``"upstream"`` (what it was made from), ``"downstream"``
            (what was made from it) or ``"both"`` (the union of the two walks).
        max_hops: how many event edges to follow (``0``: the start node alone;
            ``None``: unbounded; cycles terminate).
        filter: an artifact filter (same language as ``Artifact.list``); only
            matching artifacts are returned, though the walk goes through all
            of them. Executions are not filtered.
        context: walk only through the executions associated with this
            context and the artifacts attributed to it (say, one pipeline
            run's: a data set shared by content with other runs then shows
            this run's producer and consumers only). A Context, its full
            resource name or its resource id. The start node must be in it.
        store: the metadata store; default ``vertex_track.store.get_store()``.

    Returns:
        A :class:`LineageSubgraph` with the reached artifacts and executions
        and the events among them.

    Raises:
        NotFoundError: the start resource does not exist.
        InvalidArgumentError: bad ``direction`` or ``max_hops``, a
            ``resource`` that is not an artifact or execution, or one that is
            not in ``context``.
        FilterError: a malformed ``filter``.
    """
    s = _store(store)
    if direction not in ("upstream", "downstream", "both"):
        raise InvalidArgumentError(
            f"direction must be 'upstream', 'downstream' or 'both', got {direction!r}"
        )
    if max_hops is not None and (
        not isinstance(max_hops, int) or isinstance(max_hops, bool) or max_hops < 0
    ):
        raise InvalidArgumentError(f"max_hops must be None or an integer >= 0, got {max_hops!r}")
    kind, rid = _start_of(s, resource)
    if context is not None:
        return _lineage_in_context(s, kind, rid, direction, max_hops, filter, context)
    bounded = max_hops is not None
    query = _lineage_statement(kind, direction, bounded, filter, s.store_id, s.prefix,
                               s.dialect_name)
    params: dict[str, Any] = {"start": rid}
    if bounded:
        params["max_hops"] = max_hops
    with s.read() as conn:
        rows = conn.execute(query, params).all()
    graph = _subgraph(s, rows)
    found = graph.artifacts if kind == "artifacts" else graph.executions
    if not any(r.resource_id == rid for r in found):
        raise NotFoundError(f"{kind[:-1]} {s.resource_name(kind, rid)!r} does not exist")
    return graph


def query_execution_inputs_and_outputs(
    execution: Execution | str, *, store: MetadataStore | None = None
) -> LineageSubgraph:
    """The execution, its input and output artifacts, and its events.

    Same as ``lineage(execution, direction="both", max_hops=1)``.

    Raises:
        NotFoundError: the execution does not exist.
    """
    if isinstance(execution, Artifact):
        raise InvalidArgumentError("query_execution_inputs_and_outputs takes an Execution")
    return lineage(execution, direction="both", max_hops=1, store=store)


def query_context_lineage_subgraph(
    context: Context | str, *, store: MetadataStore | None = None
) -> LineageSubgraph:
    """The artifacts attributed and executions associated to ``context``, and their events.

    Direct links only (not those of child contexts); events are those between
    the returned artifacts and executions.

    Args:
        context: a Context, its full resource name or its resource id.

    Raises:
        NotFoundError: the context does not exist.
    """
    s = _store(store)
    if isinstance(context, Context):
        rid = context.resource_id
    elif isinstance(context, str):
        rid = s.resource_id_from("contexts", context)
    else:
        raise InvalidArgumentError(
            f"context must be a Context or a resource name, not {type(context).__name__}"
        )
    c = t.contexts
    ctx_id = sa.select(c.c.id).where(c.c.store_id == s.store_id, c.c.resource_id == rid)
    art_ids = sa.select(t.attributions.c.artifact_id).where(
        t.attributions.c.context_id == ctx_id.scalar_subquery())
    exe_ids = sa.select(t.associations.c.execution_id).where(
        t.associations.c.context_id == ctx_id.scalar_subquery())
    with s.read() as conn:
        found = conn.execute(ctx_id).first()
        if found is None:
            raise NotFoundError(f"context {s.resource_name('contexts', rid)!r} does not exist")
        rows = conn.execute(_result_union(art_ids, exe_ids)).all()
    return _subgraph(s, rows)


def _lineage_in_context(
    s: Any, kind: str, rid: str, direction: str, max_hops: int | None, filter: str | None,
    context: Context | str,
) -> LineageSubgraph:
    """:func:`lineage` restricted to one context's subgraph (walked in Python: it is small)."""
    graph = query_context_lineage_subgraph(context, store=s)
    ctx_name = context.name if isinstance(context, Context) else s.resource_name(
        "contexts", s.resource_id_from("contexts", context))
    start = s.resource_name(kind, rid)
    nodes: dict[str, _Resource] = {a.name: a for a in graph.artifacts}
    nodes.update({e.name: e for e in graph.executions})
    if start not in nodes:
        s.get(kind, rid)  # NotFoundError when it does not exist at all
        raise InvalidArgumentError(
            f"{kind[:-1]} {start!r} is not in context {ctx_name!r}: no execution of it "
            "produced or consumed it; leave out the context to see its whole lineage"
        )
    up: dict[str, list[str]] = {}
    down: dict[str, list[str]] = {}
    for ev in graph.events:
        src, dst = (ev.artifact, ev.execution) if str(ev.type) == "INPUT" else (
            ev.execution, ev.artifact)
        up.setdefault(dst, []).append(src)
        down.setdefault(src, []).append(dst)
    reached = {start}
    for index in ([up] if direction == "upstream" else [down] if direction == "downstream"
                  else [up, down]):
        frontier, hops = [start], 0
        seen = {start}
        while frontier and (max_hops is None or hops < max_hops):
            hops += 1
            frontier = [n for f in frontier for n in index.get(f, ()) if n not in seen]
            seen.update(frontier)
        reached |= seen
    artifacts = [a for a in graph.artifacts if a.name in reached]
    if filter is not None:
        from ..resources import Artifact as _A

        keep = {a.name for a in _A.list(
            f'({filter}) AND in_context("{ctx_name}")', store=s)}
        artifacts = [a for a in artifacts if a.name in keep or a.name == start]
    executions = [e for e in graph.executions if e.name in reached]
    names = {r.name for r in artifacts} | {e.name for e in executions}
    events = [ev for ev in graph.events if ev.artifact in names and ev.execution in names]
    return LineageSubgraph(artifacts=artifacts, executions=executions, events=events)


def contexts_of(
    resources: Sequence[Artifact | Execution],
    schema_title: str | None = None,
    *,
    store: MetadataStore | None = None,
) -> dict[str, list[Context]]:
    """The contexts each artifact is attributed to / each execution is associated with.

    One query for the whole list (the CLI's RUN column uses it with
    ``schema_title="system.PipelineRun"``). Direct links only. An artifact
    shared by content between runs is in every run that produced or consumed
    it.

    Args:
        resources: Artifacts and/or Executions of this store.
        schema_title: only contexts of this schema title (``None``: all).
        store: the metadata store; default ``vertex_track.store.get_store()``.

    Returns:
        ``{resource name: [Context, ...]}``, contexts oldest first; resources
        in no context map to ``[]``.
    """
    s = _store(store)
    out: dict[str, list[Context]] = {r.name: [] for r in resources}
    by_kind: dict[str, list[str]] = {}
    for r in resources:
        by_kind.setdefault(r.kind, []).append(r.resource_id)
    c = t.contexts
    links: list[tuple[str, str, int]] = []  # (kind, resource_id, context pk)
    with s.read() as conn:
        for kind, rids in by_kind.items():
            table = t.RESOURCE_TABLES[kind]
            link, own = (t.attributions, t.attributions.c.artifact_id) if kind == "artifacts" \
                else (t.associations, t.associations.c.execution_id)
            for i in range(0, len(rids), 500):
                q = (
                    sa.select(table.c.resource_id, link.c.context_id)
                    .select_from(table.join(link, own == table.c.id))
                    .where(table.c.store_id == s.store_id,
                           table.c.resource_id.in_(rids[i:i + 500]))
                )
                links += [(kind, row[0], row[1]) for row in conn.execute(q)]
        ctx_ids = sorted({pk for _, _, pk in links})
        contexts: dict[int, Context] = {}
        for i in range(0, len(ctx_ids), 500):
            q = sa.select(*(c.c[n] for n in _RESOURCE_COLS)).where(c.c.id.in_(ctx_ids[i:i + 500]))
            if schema_title is not None:
                q = q.where(c.c.schema_title == schema_title)
            rows = [row._mapping for row in conn.execute(q)]
            parents = s._parents_of(conn, [m["id"] for m in rows])
            for m in rows:
                contexts[m["id"]] = s.row_to_resource("contexts", m, parents.get(m["id"], []))
    for kind, rid, pk in links:
        if pk in contexts:
            out[s.resource_name(kind, rid)].append(contexts[pk])
    for found in out.values():
        found.sort(key=lambda x: (x.create_time, x.name))
    return out
