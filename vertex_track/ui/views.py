"""Resources as the JSON the pages draw: summaries, timelines, graphs."""

from __future__ import annotations

import datetime as dt
from typing import Any

STATE_KEY = "state"


def vt_meta(resource: Any) -> dict[str, Any]:
    """The plugin's bookkeeping (``metadata["vertex_track"]``), or ``{}``."""
    value = resource.metadata.get("vertex_track")
    return value if isinstance(value, dict) else {}


def user_metadata(resource: Any) -> dict[str, Any]:
    """Metadata without the plugin's reserved ``vertex_track`` key."""
    return {k: v for k, v in resource.metadata.items() if k != "vertex_track"}


def iso(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.isoformat()
    return value if isinstance(value, str) else None


def parse_time(value: Any) -> dt.datetime | None:
    """An RFC 3339 string (as tracking writes ``start_time``/``end_time``) as a datetime."""
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def run_summary(context: Any, executions: int | None = None) -> dict[str, Any]:
    """One pipeline run (a ``system.PipelineRun`` Context) for the runs table."""
    md = context.metadata
    start = md.get("start_time") or iso(context.create_time)
    duration = md.get("duration_s")
    if duration is None:
        began, ended = parse_time(start), parse_time(md.get("end_time"))
        if began is not None and ended is not None:
            duration = (ended - began).total_seconds()
    return {
        "name": context.name,
        "resource_id": context.resource_id,
        "display_name": context.display_name,
        "flow_name": md.get("flow_name"),
        "flow_run_id": md.get("flow_run_id"),
        "state": md.get(STATE_KEY) or "RUNNING",
        "start_time": start,
        "end_time": md.get("end_time"),
        "duration_s": duration,
        "parameters": md.get("parameters") or {},
        "executions": executions,
        "create_time": iso(context.create_time),
    }


def brief(resource: Any) -> dict[str, Any]:
    """Name, id, display name, schema and state of a resource: what a link needs."""
    out = {
        "kind": resource.kind[:-1],
        "name": resource.name,
        "resource_id": resource.resource_id,
        "display_name": resource.display_name,
        "schema_title": resource.schema_title,
        "create_time": iso(resource.create_time),
    }
    state = getattr(resource, "state", None)
    if state is not None:
        out["state"] = str(getattr(state, "value", state))
    if resource.kind == "artifacts":
        out["uri"] = resource.uri
    elif resource.kind == "executions":
        meta = vt_meta(resource)
        out["task_name"] = meta.get("task_name")
        out["start_time"] = meta.get("start_time") or iso(resource.create_time)
        out["end_time"] = meta.get("end_time")
        out["duration_s"] = meta.get("duration_s")
    return out


def detail(resource: Any) -> dict[str, Any]:
    """Every field of a resource (``to_dict``) plus ``kind``."""
    out = resource.to_dict()
    out["kind"] = resource.kind[:-1]
    return out


def timeline(executions: list[Any]) -> list[dict[str, Any]]:
    """One bar per execution: start, end (``None`` while running), state, task name.

    Times are what tracking recorded (``metadata.vertex_track.start_time`` /
    ``end_time``); an execution recorded some other way (``vt.start_execution``)
    starts at its creation and, once it left RUNNING, ends at its last update.
    Bars are ordered by start time.
    """
    bars = []
    for e in executions:
        meta = vt_meta(e)
        state = str(e.state.value)
        start = meta.get("start_time") or iso(e.create_time)
        end = meta.get("end_time")
        if end is None and state not in ("RUNNING", "NEW"):
            end = iso(e.update_time)
        duration = meta.get("duration_s")
        if duration is None:
            began, ended = parse_time(start), parse_time(end)
            if began is not None and ended is not None:
                duration = max((ended - began).total_seconds(), 0.0)
        bars.append({
            "resource_id": e.resource_id,
            "name": e.name,
            "display_name": e.display_name,
            "task_name": meta.get("task_name") or e.display_name,
            "state": state,
            "start_time": start,
            "end_time": end,
            "duration_s": duration,
            "cached": bool(meta.get("cached")) or state == "CACHED",
            "error_message": meta.get("error_message"),
        })
    bars.sort(key=lambda b: (b["start_time"] or "", b["name"]))
    return bars
