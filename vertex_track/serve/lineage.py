"""MetadataService's custom methods: events, context links and lineage subgraphs.

``:addExecutionEvents``, ``:queryExecutionInputsAndOutputs``,
``:addContextArtifactsAndExecutions``, ``:addContextChildren``,
``:queryContextLineageSubgraph`` and ``:queryArtifactLineageSubgraph``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from ..exceptions import InvalidArgumentError
from ..lineage import LineageSubgraph, lineage
from ..lineage import query_context_lineage_subgraph as context_subgraph
from ..lineage import query_execution_inputs_and_outputs as inputs_and_outputs
from ..resources import Artifact, Context, EventType, Execution
from ..store import MetadataStore
from .metadata import STORE
from .stores import store_for
from .wire import (
    EVENT_TYPES,
    check_fields,
    enum_in,
    enum_out,
    int64_in,
    read_body,
    resource_json,
    rfc3339,
    wants_int_enums,
)

__all__ = ["router", "subgraph_json"]

router = APIRouter()


def subgraph_json(graph: LineageSubgraph, *, as_int: bool) -> dict[str, Any]:
    """A ``LineageSubgraph``'s JSON, in the Python API's order (oldest first)."""
    return {
        "artifacts": [resource_json(a, as_int=as_int) for a in graph.artifacts],
        "executions": [resource_json(e, as_int=as_int) for e in graph.executions],
        "events": [{
            "artifact": ev.artifact, "execution": ev.execution,
            "eventTime": rfc3339(ev.event_time),
            "type": enum_out(ev.type.value, EVENT_TYPES, as_int),
            "labels": dict(ev.labels),
        } for ev in graph.events],
    }


def _names(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgumentError(f"{key} must be a list of resource names, got {value!r}")
    return value


def _add_events(store: MetadataStore, execution_id: str, body: dict[str, Any]) -> None:
    check_fields(body, {"events"}, "AddExecutionEvents")
    events = body.get("events") or []
    if not isinstance(events, list):
        raise InvalidArgumentError("events must be a list of {artifact, type} objects")
    execution = Execution.get(execution_id, store=store)
    runs: list[tuple[str, list[str]]] = []  # consecutive events of one type, in order
    for i, ev in enumerate(events):
        if not isinstance(ev, dict) or not isinstance(ev.get("artifact"), str):
            raise InvalidArgumentError(
                f"events[{i}] must be an object with an artifact resource name, got {ev!r}")
        extra = set(ev) - {"artifact", "type", "labels", "execution", "eventTime"}
        if extra:
            raise InvalidArgumentError(f"unknown Event field(s) in events[{i}]: "
                                       f"{', '.join(sorted(extra))}")
        if ev.get("labels"):
            raise InvalidArgumentError(f"events[{i}].labels are not supported by "
                                       "vertex-track serve; send events without labels")
        kind = enum_in(ev.get("type", 0), EVENT_TYPES, f"events[{i}].type")
        if kind == "TYPE_UNSPECIFIED":
            raise InvalidArgumentError(f"events[{i}].type must be INPUT or OUTPUT")
        name = store.name_of("artifacts", ev["artifact"])
        if runs and runs[-1][0] == kind:
            runs[-1][1].append(name)
        else:
            runs.append((kind, [name]))
    for kind, names in runs:
        store.add_events(execution, names, EventType(kind))


@router.post(STORE + "/executions/{execution_id}:addExecutionEvents")
async def add_execution_events(request: Request, project: str, location: str, store_id: str,
                               execution_id: str) -> dict[str, Any]:
    """``AddExecutionEvents``: INPUT/OUTPUT events between the execution and artifacts."""
    body = await read_body(request)
    await run_in_threadpool(
        lambda: _add_events(store_for(project, location, store_id), execution_id, body))
    return {}


@router.get(STORE + "/executions/{execution_id}:queryExecutionInputsAndOutputs")
def query_execution_inputs_and_outputs(request: Request, project: str, location: str,
                                       store_id: str, execution_id: str) -> dict[str, Any]:
    """``QueryExecutionInputsAndOutputs``: the execution, its artifacts and their events."""
    store = store_for(project, location, store_id)
    execution = Execution.get(execution_id, store=store)
    return subgraph_json(inputs_and_outputs(execution, store=store),
                         as_int=wants_int_enums(request))


@router.post(STORE + "/contexts/{context_id}:addContextArtifactsAndExecutions")
async def add_context_artifacts_and_executions(
    request: Request, project: str, location: str, store_id: str, context_id: str,
) -> dict[str, Any]:
    """``AddContextArtifactsAndExecutions``: attribute artifacts, associate executions."""
    body = await read_body(request)
    check_fields(body, {"artifacts", "executions"}, "AddContextArtifactsAndExecutions")
    artifacts, executions = _names(body, "artifacts"), _names(body, "executions")

    def run() -> None:
        store = store_for(project, location, store_id)
        context = Context.get(context_id, store=store)
        store.add_to_context(
            context, artifacts=[store.resource_id_from("artifacts", a) for a in artifacts],
            executions=[store.resource_id_from("executions", e) for e in executions])

    await run_in_threadpool(run)
    return {}


@router.post(STORE + "/contexts/{context_id}:addContextChildren")
async def add_context_children(request: Request, project: str, location: str, store_id: str,
                               context_id: str) -> dict[str, Any]:
    """``AddContextChildren``: make contexts children of this one (no cycles, at most 10 parents)."""
    body = await read_body(request)
    check_fields(body, {"childContexts"}, "AddContextChildren")
    children = _names(body, "childContexts")

    def run() -> None:
        store = store_for(project, location, store_id)
        Context.get(context_id, store=store).add_context_children(children)

    await run_in_threadpool(run)
    return {}


@router.get(STORE + "/contexts/{context_id}:queryContextLineageSubgraph")
def query_context_lineage_subgraph(request: Request, project: str, location: str,
                                   store_id: str, context_id: str) -> dict[str, Any]:
    """``QueryContextLineageSubgraph``: the context's artifacts and executions and their events."""
    store = store_for(project, location, store_id)
    context = Context.get(context_id, store=store)
    return subgraph_json(context_subgraph(context, store=store),
                         as_int=wants_int_enums(request))


@router.get(STORE + "/artifacts/{artifact_id}:queryArtifactLineageSubgraph")
def query_artifact_lineage_subgraph(request: Request, project: str, location: str,
                                    store_id: str, artifact_id: str) -> dict[str, Any]:
    """``QueryArtifactLineageSubgraph``: up to ``maxHops`` events away, artifacts ``filter``-ed."""
    max_hops = int64_in(request.query_params.get("maxHops"), "maxHops")
    if max_hops is not None and max_hops < 0:
        raise InvalidArgumentError(f"maxHops must be 0 or more (or unset for the whole "
                                   f"lineage), got {max_hops}")
    store = store_for(project, location, store_id)
    artifact = Artifact.get(artifact_id, store=store)
    graph = lineage(artifact, direction="both", max_hops=max_hops,
                    filter=request.query_params.get("filter") or None, store=store)
    return subgraph_json(graph, as_int=wants_int_enums(request))
