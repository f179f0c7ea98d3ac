"""One pipeline run as a snapshot: :class:`RunSummary` and what it is made of."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._time import now as _now

if TYPE_CHECKING:
    from ..resources import Artifact, Context, Execution

__all__ = [
    "ArtifactUse", "RunMetric", "RunSummary", "TaskSummary", "inline_value", "metadata_vt", "number",
    "run_fields", "user_metadata",
]


def metadata_vt(resource: Any) -> dict[str, Any]:
    """The plugin's bookkeeping (``metadata["vertex_track"]``), or ``{}``."""
    value = resource.metadata.get("vertex_track") if resource is not None else None
    return value if isinstance(value, dict) else {}


def inline_value(artifact: Any) -> tuple[bool, Any]:
    """``(True, value)`` for a small value tracking kept inline, else ``(False, None)``.

    Tracking keeps it at ``metadata["value"]`` and marks the artifact with
    ``metadata["vertex_track"]["inline"]``.
    """
    vt = metadata_vt(artifact)
    if vt.get("inline") and "value" in artifact.metadata:
        return True, artifact.metadata["value"]
    if "value" in vt:
        return True, vt["value"]
    return False, None


def user_metadata(resource: Any) -> dict[str, Any]:
    """Metadata without the plugin's reserved ``vertex_track`` key."""
    return {k: v for k, v in resource.metadata.items() if k != "vertex_track"}


def _iso(value: dt.datetime) -> str:
    """RFC 3339 in UTC with ``Z``, as the library's JSON writes times."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def number(value: Any) -> float | None:
    """``value`` as a float if it is an int or float (not a bool), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def run_fields(context: Context) -> dict[str, Any]:
    """The run's own facts, read from its PipelineRun context alone (no lineage query).

    This is one item of ``vertex-track runs list --json``, and the head of
    :meth:`RunSummary.to_dict`. Missing metadata reads as ``None``
    (``parameters`` as ``{}``).
    """
    md = context.metadata
    return {
        "name": context.name,
        "resource_id": context.resource_id,
        "display_name": context.display_name,
        "flow_name": md.get("flow_name"),
        "flow_run_id": md.get("flow_run_id"),
        "state": md.get("state"),
        "start_time": md.get("start_time"),
        "end_time": md.get("end_time"),
        "duration_s": md.get("duration_s"),
        "parameters": md.get("parameters") or {},
        "create_time": _iso(context.create_time),
    }


# -- one run --------------------------------------------------------------------------


@dataclass(frozen=True)
class ArtifactUse:
    """An artifact as one task consumed or produced it, under the argument/output ``label``."""

    label: str
    artifact: Artifact

    @property
    def digest(self) -> str | None:
        """The content digest tracking recorded (``sha256-...``), if any."""
        return metadata_vt(self.artifact).get("digest")

    @property
    def has_value(self) -> bool:
        """Whether tracking kept the value inline (small values), so :attr:`value` is it."""
        return inline_value(self.artifact)[0]

    @property
    def value(self) -> Any:
        """The inline value, or ``None`` when :attr:`has_value` is false."""
        return inline_value(self.artifact)[1]

    @property
    def identity(self) -> str:
        """What makes two uses "the same content": the digest, else the URI, else the name."""
        return self.digest or self.artifact.uri or self.artifact.name

    def to_dict(self) -> dict[str, Any]:
        """``label``, ``artifact`` (its name), ``display_name``, ``schema_title``,
        ``digest``, ``uri``, and ``value`` only when the value is inline."""
        a = self.artifact
        item = {
            "label": self.label, "artifact": a.name, "display_name": a.display_name,
            "schema_title": a.schema_title, "digest": self.digest, "uri": a.uri,
        }
        has_value, value = inline_value(a)
        if has_value:
            item["value"] = value
        return item


@dataclass(frozen=True)
class TaskSummary:
    """One task run of a pipeline run: its Execution, parameters, inputs and outputs.

    ``key`` is the task's name; the second run of the same task in one flow run
    is ``name#2``, the third ``name#3`` (in start order). ``parameters`` holds
    the task's scalar parameters (str, int, float, bool, None).
    """

    key: str
    execution: Execution
    parameters: Mapping[str, Any]
    inputs: tuple[ArtifactUse, ...]
    outputs: tuple[ArtifactUse, ...]

    def _vt(self, key: str) -> Any:
        return metadata_vt(self.execution).get(key)

    @property
    def state(self) -> str:
        """The execution's state (``RUNNING``, ``COMPLETE``, ``FAILED``, ...)."""
        return str(self.execution.state)

    @property
    def start_time(self) -> str | None:
        return self._vt("start_time")

    @property
    def end_time(self) -> str | None:
        return self._vt("end_time")

    @property
    def duration_s(self) -> float | None:
        return self._vt("duration_s")

    @property
    def error_type(self) -> str | None:
        return self._vt("error_type")

    @property
    def error_message(self) -> str | None:
        return self._vt("error_message")

    @property
    def error(self) -> str | None:
        """``"ErrorType: message"`` for a task that raised, else ``None``."""
        if not self.error_type:
            return None
        return f"{self.error_type}: {self.error_message or ''}".rstrip(": ")

    def to_dict(self) -> dict[str, Any]:
        """One item of ``executions`` in ``vertex-track runs show --json``."""
        e = self.execution
        return {
            "task": self.key,
            "name": e.name,
            "resource_id": e.resource_id,
            "display_name": e.display_name,
            "task_name": self._vt("task_name"),
            "task_run_id": self._vt("task_run_id"),
            "state": self.state,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "duration_s": self.duration_s,
            "error_type": self.error_type,
            "error_message": self.error_message,
            "parameters": dict(self.parameters),
            "inputs": [u.to_dict() for u in self.inputs],
            "outputs": [u.to_dict() for u in self.outputs],
        }


@dataclass(frozen=True)
class RunMetric:
    """One number a task's ``*Metrics`` output holds: ``task`` (key), output ``label``,
    metric ``key`` (``""`` for a scalar output) and ``value``."""

    task: str
    label: str
    key: str
    value: float

    @property
    def name(self) -> str:
        """The metric's own name: its key in a dict output, else the output's label."""
        return self.key or self.label


@dataclass(frozen=True)
class RunSummary:
    """A pipeline run as one snapshot: its facts, its tasks in start order, its artifacts.

    Returned by :meth:`vertex_track.PipelineRun.summary`. Times are the RFC 3339
    strings tracking wrote (``None`` while unknown); ``state`` is ``RUNNING``
    until the flow ends. ``artifacts`` are every artifact the run's tasks used
    or made (each once).
    """

    name: str
    resource_id: str
    display_name: str
    flow_name: str | None
    flow_run_id: str | None
    state: str | None
    start_time: str | None
    end_time: str | None
    duration_s: float | None
    parameters: Mapping[str, Any]
    create_time: dt.datetime
    executions: tuple[TaskSummary, ...]
    artifacts: tuple[Artifact, ...]

    @classmethod
    def from_lineage(cls, context: Context, graph: Any) -> RunSummary:
        """Build the summary of the run ``context`` from its lineage subgraph ``graph``
        (:func:`vertex_track.query_context_lineage_subgraph` of the context)."""
        artifacts = {a.name: a for a in graph.artifacts}

        def started(e: Any) -> tuple[str, str, str]:
            # RFC 3339 strings in UTC sort as time; create_time breaks ties.
            return (str(metadata_vt(e).get("start_time") or ""), e.create_time.isoformat(),
                    e.name)

        order: list[tuple[str, Any, dict[str, Any]]] = []
        io: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        seen: dict[str, int] = {}
        for e in sorted(graph.executions, key=started):
            base = metadata_vt(e).get("task_name") or e.display_name or e.resource_id
            seen[base] = seen.get(base, 0) + 1
            key = base if seen[base] == 1 else f"{base}#{seen[base]}"
            params = {k: v for k, v in user_metadata(e).items()
                      if v is None or isinstance(v, (str, int, float, bool))}
            order.append((key, e, params))
            io[e.name] = ({}, {})
        for ev in graph.events:
            sides = io.get(ev.execution)
            a = artifacts.get(ev.artifact)
            if sides is None or a is None:
                continue
            label = ev.labels.get("name") or a.display_name or a.resource_id
            # The first event under a label wins (a label names one argument).
            sides[1 if str(ev.type) == "OUTPUT" else 0].setdefault(label, a)
        tasks = tuple(
            TaskSummary(key, e, params,
                        tuple(ArtifactUse(lb, a) for lb, a in io[e.name][0].items()),
                        tuple(ArtifactUse(lb, a) for lb, a in io[e.name][1].items()))
            for key, e, params in order
        )
        f = run_fields(context)
        return cls(
            name=f["name"], resource_id=f["resource_id"], display_name=f["display_name"],
            flow_name=f["flow_name"], flow_run_id=f["flow_run_id"], state=f["state"],
            start_time=f["start_time"], end_time=f["end_time"], duration_s=f["duration_s"],
            parameters=f["parameters"], create_time=context.create_time,
            executions=tasks, artifacts=tuple(graph.artifacts),
        )

    @property
    def metrics(self) -> tuple[RunMetric, ...]:
        """The numbers in the run's ``*Metrics`` outputs (``system.Metrics``,
        ``system.ClassificationMetrics``, ...): a dict value gives one per numeric
        entry, a scalar one with key ``""``; numeric user metadata counts too.
        Booleans and non-numbers are left out."""
        out: list[RunMetric] = []
        for t in self.executions:
            for use in t.outputs:
                if not use.artifact.schema_title.endswith("Metrics"):
                    continue
                values = {k: v for k, v in user_metadata(use.artifact).items() if k != "value"}
                has_value, inline = inline_value(use.artifact)
                if has_value and isinstance(inline, dict):
                    values.update(inline)
                elif has_value:
                    values[""] = inline
                for key, value in values.items():
                    as_float = number(value)
                    if as_float is not None:
                        out.append(RunMetric(t.key, use.label, str(key), as_float))
        return tuple(out)

    def task(self, key: str) -> TaskSummary:
        """The task run named ``key`` (``train``, or ``train#2`` for its second run).

        Raises:
            KeyError: no task of this run has that key; the message lists the keys.
        """
        for t in self.executions:
            if t.key == key:
                return t
        raise KeyError(f"run {self.display_name!r} has no task {key!r}; its tasks: "
                       + ", ".join(t.key for t in self.executions))

    def task_timing(
        self, task: TaskSummary, now: dt.datetime | None = None
    ) -> tuple[float | None, float | None]:
        """``(seconds from the run's start to the task's start, the task's duration)``.

        A task still ``RUNNING`` has the duration so far (up to ``now``, default the
        current time). ``None`` where a time is unknown.
        """
        run_start = _parse_time(self.start_time) or self.create_time
        started = _parse_time(task.start_time)
        offset = (started - run_start).total_seconds() if started and run_start else None
        duration = task.duration_s
        if duration is None and started is not None and task.state == "RUNNING":
            duration = ((now or _now()) - started).total_seconds()
        return offset, duration

    def fields(self) -> dict[str, Any]:
        """The run's own facts: one item of ``vertex-track runs list --json``."""
        return {
            "name": self.name, "resource_id": self.resource_id,
            "display_name": self.display_name, "flow_name": self.flow_name,
            "flow_run_id": self.flow_run_id, "state": self.state,
            "start_time": self.start_time, "end_time": self.end_time,
            "duration_s": self.duration_s, "parameters": self.parameters,
            "create_time": _iso(self.create_time),
        }

    def to_dict(self) -> dict[str, Any]:
        """:meth:`fields` plus ``executions`` (:meth:`TaskSummary.to_dict`) and
        ``artifacts`` (``Artifact.to_dict``): ``vertex-track runs show --json``."""
        return {
            **self.fields(),
            "executions": [t.to_dict() for t in self.executions],
            "artifacts": [a.to_dict() for a in self.artifacts],
        }


