"""Lineage: walks over events, answered by the store's ``lineage`` primitive.

The graph is the one ml-metadata defines: artifacts and executions are nodes,
every Event is an edge, and one hop is one event edge (artifact -> execution
or execution -> artifact). Walking *upstream* goes from an artifact to the
executions that output it and from an execution to its inputs; *downstream*
goes from an artifact to the executions that consumed it and from an
execution to its outputs. ``direction="both"`` is the union of the two walks
(not an undirected walk).

Each call is one read of the store (:meth:`MetadataStore.lineage
<vertex_track.store.base.MetadataStore.lineage>`: on the SQL store one
recursive statement, whatever the depth); cycles terminate. This module only
orders the result and builds its views (Mermaid, DOT, JSON).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .exceptions import InvalidArgumentError
from .resources import Artifact, Context, Event, Execution, _Resource

if TYPE_CHECKING:
    from .store.base import MetadataStore

__all__ = [
    "LineageSubgraph",
    "contexts_of",
    "lineage",
    "query_context_lineage_subgraph",
    "query_execution_inputs_and_outputs",
]

Direction = Literal["upstream", "downstream", "both"]


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


def _subgraph(
    found: tuple[list[Artifact], list[Execution], list[Event]],
) -> LineageSubgraph:
    """The store's lineage answer in the documented order of :class:`LineageSubgraph`."""
    artifacts, executions, events = found

    def order(r: _Resource) -> tuple[dt.datetime, str]:
        return (r.create_time, r.name)

    return LineageSubgraph(
        artifacts=sorted(artifacts, key=order),
        executions=sorted(executions, key=order),
        events=sorted(events, key=lambda ev: (ev.event_time, ev.execution, ev.artifact,
                                              str(ev.type))),
    )


def _store(store: MetadataStore | None) -> Any:
    if store is not None:
        return store
    from .store import get_store

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
    return _subgraph(s.lineage(kind, [rid], direction=direction, max_depth=max_hops,
                               filter=filter))


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
    return _subgraph(s.lineage("contexts", [rid], max_depth=0))


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
        keep = {a.name for a in Artifact.list(
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
    for kind, rids in by_kind.items():
        for rid, contexts in s.get_contexts(kind, rids, schema_title=schema_title).items():
            out[s.resource_name(kind, rid)] = contexts
    return out
