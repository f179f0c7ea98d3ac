"""OpenLineage events of stored records: what ``vertex-track export openlineage`` prints.

Built by the same functions as the live stream (:mod:`.events`) from the
same facts, so the export of a run equals what was emitted while it ran, and
exporting twice gives identical events.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from ..resources import Artifact, Context, Execution
from . import events as ev

PIPELINE_SCHEMA = "system.PipelineRun"
_RANK = {"START": 0, "OTHER": 1, "COMPLETE": 2, "FAIL": 2, "ABORT": 2}


def _artifact(artifact: Artifact) -> ev.ArtifactInfo:
    return ev.ArtifactInfo(artifact.name, artifact.uri or "", artifact.schema_title,
                           dict(artifact.metadata))


def _micros(value: Any) -> int:
    return int(value.timestamp() * 1_000_000) if isinstance(value, datetime) else 0


def pipeline_info(context: Context, store: Any, known: dict[str, ev.PipelineInfo]) -> ev.PipelineInfo:
    """The :class:`~.events.PipelineInfo` of a stored PipelineRun context (parents included)."""
    hit = known.get(context.name)
    if hit is not None:
        return hit
    parent = None
    for name in context.parent_contexts:
        if name.split("/")[-1].startswith("pipelinerun-"):
            try:
                parent = pipeline_info(Context.get(name, store=store), store, known)
            except Exception:
                parent = None
            break
    info = ev.PipelineInfo(context.name, context.display_name, dict(context.metadata), parent)
    known[context.name] = info
    return info


def execution_info(execution: Execution, pipeline: ev.PipelineInfo | None) -> ev.ExecutionInfo:
    """The :class:`~.events.ExecutionInfo` of a stored execution."""
    return ev.ExecutionInfo(
        name=execution.name, display_name=execution.display_name,
        schema_title=execution.schema_title, state=execution.state.value,
        metadata=dict(execution.metadata),
        create_us=_micros(execution.create_time), update_us=_micros(execution.update_time),
        inputs=[_artifact(a) for a in execution.get_input_artifacts()],
        outputs=[_artifact(a) for a in execution.get_output_artifacts()],
        pipeline=pipeline,
    )


def run_events(context: Context, namespace: str, *, store: Any = None,
               known: dict[str, ev.PipelineInfo] | None = None) -> list[dict[str, Any]]:
    """Every event of one PipelineRun: its own, and its executions', in time order."""
    store = store or context._own_store()
    known = {} if known is None else known
    info = pipeline_info(context, store, known)
    out: list[dict[str, Any]] = []
    start = ev.pipeline_start(info, namespace)
    if start is not None:
        out.append(start)
    for execution in context.get_executions():
        out.extend(ev.execution_events(execution_info(execution, info), namespace))
    end = ev.pipeline_end(info, namespace)
    if end is not None:
        out.append(end)
    return sort_events(out)


def sort_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events in time order (a START before the end of the same instant)."""
    return sorted(events, key=lambda e: (e["eventTime"], _RANK.get(e["eventType"], 1)))


def export_events(namespace: str, *, filter: str | None = None, since: datetime | None = None,
                  store: Any = None) -> Iterator[dict[str, Any]]:
    """Events of every stored PipelineRun matching ``filter`` (a Vertex AI metadata filter
    on the run's context) and created at or after ``since``, run after run."""
    clauses = [f'schema_title = "{PIPELINE_SCHEMA}"']
    if filter:
        clauses.append(f"({filter})")
    if since is not None:
        clauses.append(f'create_time >= "{since.isoformat()}"')
    known: dict[str, ev.PipelineInfo] = {}
    for context in Context.list(" AND ".join(clauses), order_by="create_time", store=store):
        yield from run_events(context, namespace, store=store, known=known)
