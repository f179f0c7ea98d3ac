"""A lineage subgraph as graph elements for the browser, with mapped tasks collapsed.

A ``.map()`` over 500 items makes 500 executions of one task and as many
artifacts; drawn one by one they bury the rest of the graph. When a graph has
more than ``collapse_over`` nodes, the executions of one task (same task
name and schema, at least ``MIN_GROUP`` of them) become one group node with a
count, and so do the artifacts linked the same way to the same nodes once
those are folded (the items the mapped task made, or read). The start node
is never folded into a group.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .views import vt_meta

MIN_GROUP = 3


def _label(resource: Any) -> str:
    return str(resource.display_name or resource.resource_id)


def _state(resource: Any) -> str:
    state = getattr(resource, "state", None)
    return str(getattr(state, "value", state)) if state is not None else ""


def elements(subgraph: Any, *, start: str | None = None, collapse_over: int = 150) -> dict[str, Any]:
    """``{"nodes", "edges", "collapsed"}`` of a :class:`vertex_track.LineageSubgraph`.

    Nodes: ``id`` (the resource name, or ``group:...`` for a group), ``kind``
    (``artifact``, ``execution``, ``execution_group``, ``artifact_group``),
    ``label``, ``schema_title``, ``state``, ``resource_id``, ``count`` (1 for a
    resource) and ``members`` (a group's first 50 resource ids). Edges go with
    the data (input artifact -> execution -> output artifact): ``source``,
    ``target``, ``type`` (INPUT/OUTPUT), ``label`` (the argument name or output
    key; several when edges were merged) and ``count``.
    """
    artifacts = list(subgraph.artifacts)
    executions = list(subgraph.executions)
    group_of: dict[str, str] = {}
    groups: dict[str, dict[str, Any]] = {}
    if len(artifacts) + len(executions) > collapse_over:
        _group_executions(executions, start, group_of, groups)
        _group_artifacts(artifacts, subgraph.events, start, group_of, groups)
    nodes: list[dict[str, Any]] = []
    for resource, kind in [*((a, "artifact") for a in artifacts),
                           *((e, "execution") for e in executions)]:
        if resource.name in group_of:
            continue
        node = {
            "id": resource.name, "kind": kind, "label": _label(resource),
            "schema_title": resource.schema_title, "state": _state(resource),
            "resource_id": resource.resource_id, "count": 1,
        }
        if kind == "execution":
            node["task_name"] = vt_meta(resource).get("task_name")
        nodes.append(node)
    nodes.extend(groups.values())
    edges: dict[tuple[str, str], dict[str, Any]] = {}
    for ev in subgraph.events:
        a = group_of.get(ev.artifact, ev.artifact)
        e = group_of.get(ev.execution, ev.execution)
        etype = str(getattr(ev.type, "value", ev.type))
        source, target = (a, e) if etype == "INPUT" else (e, a)
        label = ev.labels.get("name", "") if isinstance(ev.labels, dict) else ""
        edge = edges.get((source, target))
        if edge is None:
            edges[(source, target)] = {
                "id": f"{source}->{target}", "source": source, "target": target,
                "type": etype, "label": label, "count": 1,
            }
        else:
            edge["count"] += 1
            if label and label not in edge["label"].split(", ") and len(edge["label"]) < 60:
                edge["label"] = f"{edge['label']}, {label}" if edge["label"] else label
    return {"nodes": nodes, "edges": list(edges.values()), "collapsed": bool(groups)}


def _group_executions(
    executions: list[Any], start: str | None, group_of: dict[str, str],
    groups: dict[str, dict[str, Any]],
) -> None:
    by_task: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for e in executions:
        if e.name != start:
            task = vt_meta(e).get("task_name") or e.display_name
            by_task[(str(task), e.schema_title)].append(e)
    for (task, schema), members in by_task.items():
        if len(members) < MIN_GROUP:
            continue
        gid = f"group:executions:{schema}:{task}"
        states = sorted({_state(m) for m in members})
        groups[gid] = {
            "id": gid, "kind": "execution_group", "label": f"{task} ({len(members)} runs)",
            "schema_title": schema, "state": states[0] if len(states) == 1 else "MIXED",
            "states": {s: sum(1 for m in members if _state(m) == s) for s in states},
            "resource_id": None, "count": len(members), "task_name": task,
            "members": [m.resource_id for m in members[:50]],
        }
        for m in members:
            group_of[m.name] = gid


def _group_artifacts(
    artifacts: list[Any], events: list[Any], start: str | None, group_of: dict[str, str],
    groups: dict[str, dict[str, Any]],
) -> None:
    # Artifacts join a group when they are linked the same way to the same nodes
    # once mapped executions are folded: the items a mapped task made (and that
    # the same consumers read), or the items it alone read.
    links: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for ev in events:
        links[ev.artifact].add(
            (group_of.get(ev.execution, ev.execution), str(getattr(ev.type, "value", ev.type))))
    buckets: dict[tuple[frozenset[tuple[str, str]], str], list[Any]] = defaultdict(list)
    for a in artifacts:
        signature = frozenset(links.get(a.name, ()))
        if a.name != start and any(node in groups for node, _ in signature):
            buckets[(signature, a.schema_title)].append(a)
    for (signature, schema), members in buckets.items():
        if len(members) < MIN_GROUP:
            continue
        gid, etype = sorted((node, t) for node, t in signature if node in groups)[0]
        role = "outputs" if etype == "OUTPUT" else "inputs"
        aid = f"{gid}:{role}:{schema}:{len(groups)}"
        groups[aid] = {
            "id": aid, "kind": "artifact_group",
            "label": f"{groups[gid]['task_name']} {role} ({len(members)})", "schema_title": schema,
            "state": "", "resource_id": None, "count": len(members),
            "members": [m.resource_id for m in members[:50]],
        }
        for m in members:
            group_of[m.name] = aid
