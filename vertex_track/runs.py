"""What one tracked flow run did, and how two runs differ.

:meth:`vertex_track.PipelineRun.summary` returns a :class:`RunSummary` and
:meth:`vertex_track.PipelineRun.diff` a :class:`RunDiff`. Both are frozen
snapshots read from the store once (later writes do not change them), and
``to_dict()`` gives the JSON that ``vertex-track runs show --json`` and
``vertex-track diff --json`` print.

Where the facts come from (the layout tracking writes):

- the run: its ``system.PipelineRun`` Context's metadata (``flow_name``,
  ``flow_run_id``, ``state``, ``start_time``, ``end_time``, ``duration_s``,
  ``parameters``);
- a task: its Execution; the plugin's bookkeeping is ``metadata["vertex_track"]``
  (``task_name``, ``task_run_id``, times, ``error_type``, ``error_message``), the
  rest of the metadata is the task's parameters;
- a task's inputs and outputs: the run's lineage events, labelled with the
  argument or output name (``Event.labels["name"]``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._time import now as _now

if TYPE_CHECKING:
    from .resources import Artifact, Context, Execution

__all__ = [
    "ArtifactDiff",
    "ArtifactUse",
    "MetricDiff",
    "ParameterDiff",
    "RunDiff",
    "RunMetric",
    "RunSummary",
    "TaskDiff",
    "TaskSummary",
    "run_fields",
]


def _bookkeeping(resource: Any) -> dict[str, Any]:
    """The plugin's ``metadata["vertex_track"]``, or ``{}``."""
    value = resource.metadata.get("vertex_track")
    return value if isinstance(value, dict) else {}


def _inline_value(artifact: Any) -> tuple[bool, Any]:
    """``(True, value)`` for a small value tracking kept inline, else ``(False, None)``."""
    vt = _bookkeeping(artifact)
    if vt.get("inline") and "value" in artifact.metadata:
        return True, artifact.metadata["value"]
    if "value" in vt:
        return True, vt["value"]
    return False, None


def _user_metadata(resource: Any) -> dict[str, Any]:
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


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _same(a: Any, b: Any) -> bool:
    # 1 and 1.0 (or True) are different parameter values for a reproducibility check.
    return a == b and type(a) is type(b)


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
        return _bookkeeping(self.artifact).get("digest")

    @property
    def has_value(self) -> bool:
        """Whether tracking kept the value inline (small values), so :attr:`value` is it."""
        return _inline_value(self.artifact)[0]

    @property
    def value(self) -> Any:
        """The inline value, or ``None`` when :attr:`has_value` is false."""
        return _inline_value(self.artifact)[1]

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
        has_value, value = _inline_value(a)
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
        return _bookkeeping(self.execution).get(key)

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
            return (str(_bookkeeping(e).get("start_time") or ""), e.create_time.isoformat(),
                    e.name)

        order: list[tuple[str, Any, dict[str, Any]]] = []
        io: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        seen: dict[str, int] = {}
        for e in sorted(graph.executions, key=started):
            base = _bookkeeping(e).get("task_name") or e.display_name or e.resource_id
            seen[base] = seen.get(base, 0) + 1
            key = base if seen[base] == 1 else f"{base}#{seen[base]}"
            params = {k: v for k, v in _user_metadata(e).items()
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
                values = {k: v for k, v in _user_metadata(use.artifact).items() if k != "value"}
                has_value, inline = _inline_value(use.artifact)
                if has_value and isinstance(inline, dict):
                    values.update(inline)
                elif has_value:
                    values[""] = inline
                for key, value in values.items():
                    number = _number(value)
                    if number is not None:
                        out.append(RunMetric(t.key, use.label, str(key), number))
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


# -- two runs -------------------------------------------------------------------------


@dataclass(frozen=True)
class ParameterDiff:
    """One parameter in run A and run B. For a task's parameter, ``task`` is its key.

    ``same`` needs the parameter in both runs with equal values of the same type
    (``1`` and ``1.0`` differ).
    """

    name: str
    a: Any
    b: Any
    in_a: bool
    in_b: bool
    same: bool
    task: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Run parameters: ``name, a, b, in_a, in_b, same``; task parameters:
        ``task, name, a, b, same`` (a missing side is ``null``)."""
        if self.task is not None:
            return {"task": self.task, "name": self.name, "a": self.a, "b": self.b,
                    "same": self.same}
        return {"name": self.name, "a": self.a, "b": self.b, "in_a": self.in_a,
                "in_b": self.in_b, "same": self.same}


@dataclass(frozen=True)
class TaskDiff:
    """A task (matched by key) in run A and run B; ``same`` when both ran it to the same state."""

    task: str
    a: TaskSummary | None
    b: TaskSummary | None
    same: bool

    @staticmethod
    def _brief(t: TaskSummary | None) -> dict[str, Any] | None:
        if t is None:
            return None
        return {"execution": t.execution.name, "state": t.state,
                "duration_s": t.duration_s, "error": t.error}

    def to_dict(self) -> dict[str, Any]:
        """``task``, ``a``/``b`` (``execution``, ``state``, ``duration_s``, ``error``, or
        ``null`` when that run has no such task) and ``same``."""
        return {"task": self.task, "a": self._brief(self.a), "b": self._brief(self.b),
                "same": self.same}


@dataclass(frozen=True)
class ArtifactDiff:
    """An input or output (task key + label) in run A and run B; ``same`` when both
    have it with the same content (digest, else URI, else artifact name)."""

    task: str
    label: str
    a: ArtifactUse | None
    b: ArtifactUse | None
    same: bool

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "label": self.label,
                "a": self.a.to_dict() if self.a is not None else None,
                "b": self.b.to_dict() if self.b is not None else None, "same": self.same}


@dataclass(frozen=True)
class MetricDiff:
    """A metric in run A and run B, ``delta`` = B - A when both have it.

    ``name`` is the metric's key alone (``accuracy``) unless two outputs share
    that key; then it is prefixed with the task (and output label).
    """

    name: str
    a: float | None
    b: float | None
    delta: float | None
    same: bool

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "a": self.a, "b": self.b, "delta": self.delta,
                "same": self.same}


_GENERIC_LABEL = re.compile(r"^output(\.\d+)?$")


def _metric_names(metrics: list[RunMetric]) -> dict[tuple[str, str, str], str]:
    """Short metric names: the key alone unless two outputs share it."""
    owners: dict[str, set[tuple[str, str]]] = {}
    for m in metrics:
        owners.setdefault(m.key or m.label, set()).add((m.task, m.label))
    names = {}
    for m in metrics:
        # A scalar output is named by its output key ({"accuracy": ...} returned
        # by a task gives one artifact per key), a dict's entries by their keys.
        short = m.key or ("" if _GENERIC_LABEL.match(m.label) else m.label)
        if short and len(owners[m.key or m.label]) == 1:
            names[(m.task, m.label, m.key)] = short
        else:
            prefix = m.task if _GENERIC_LABEL.match(m.label) else f"{m.task}.{m.label}"
            names[(m.task, m.label, m.key)] = f"{prefix}.{m.key}" if m.key else prefix
    return names


@dataclass(frozen=True)
class RunDiff:
    """Run A against run B, row by row: parameters, tasks (matched by key), their
    parameters, inputs and outputs (compared by content), and metrics.

    Returned by :meth:`vertex_track.PipelineRun.diff`. Every row lists what is in
    either run, A's order first; rows have a ``same`` flag, so
    ``[p for p in d.parameters if not p.same]`` is what changed.
    """

    a: RunSummary
    b: RunSummary
    same_state: bool
    duration_delta_s: float | None
    parameters: tuple[ParameterDiff, ...]
    tasks: tuple[TaskDiff, ...]
    task_parameters: tuple[ParameterDiff, ...]
    inputs: tuple[ArtifactDiff, ...]
    outputs: tuple[ArtifactDiff, ...]
    metrics: tuple[MetricDiff, ...]

    @classmethod
    def between(cls, a: RunSummary, b: RunSummary) -> RunDiff:
        """Compare two summaries (A first).

        Raises:
            TypeError: ``a`` or ``b`` is not a :class:`RunSummary`.
        """
        for side, s in (("a", a), ("b", b)):
            if not isinstance(s, RunSummary):
                raise TypeError(f"RunDiff.between: {side} must be a RunSummary (from "
                                f"PipelineRun.summary()), not {type(s).__name__}")
        pa, pb = a.parameters, b.parameters
        parameters = tuple(
            ParameterDiff(k, pa.get(k), pb.get(k), k in pa, k in pb,
                          k in pa and k in pb and _same(pa[k], pb[k]))
            for k in dict.fromkeys([*pa, *pb])
        )
        ta = {t.key: t for t in a.executions}
        tb = {t.key: t for t in b.executions}
        tasks: list[TaskDiff] = []
        task_params: list[ParameterDiff] = []
        inputs: list[ArtifactDiff] = []
        outputs: list[ArtifactDiff] = []
        for k in dict.fromkeys([*ta, *tb]):
            x, y = ta.get(k), tb.get(k)
            tasks.append(TaskDiff(k, x, y, x is not None and y is not None
                                  and x.state == y.state))
            px = x.parameters if x else {}
            py = y.parameters if y else {}
            for p in dict.fromkeys([*px, *py]):
                task_params.append(ParameterDiff(
                    p, px.get(p), py.get(p), p in px, p in py,
                    p in px and p in py and _same(px[p], py[p]), task=k))
            for rows, side in ((inputs, "inputs"), (outputs, "outputs")):
                ux = {u.label: u for u in getattr(x, side)} if x else {}
                uy = {u.label: u for u in getattr(y, side)} if y else {}
                for label in dict.fromkeys([*ux, *uy]):
                    ax, ay = ux.get(label), uy.get(label)
                    rows.append(ArtifactDiff(
                        k, label, ax, ay,
                        ax is not None and ay is not None and ax.identity == ay.identity))
        ma, mb = list(a.metrics), list(b.metrics)
        names = _metric_names(ma + mb)
        va = {names[(m.task, m.label, m.key)]: m.value for m in ma}
        vb = {names[(m.task, m.label, m.key)]: m.value for m in mb}
        metrics = tuple(
            MetricDiff(n, va.get(n), vb.get(n),
                       (vb[n] - va[n]) if n in va and n in vb else None,
                       n in va and n in vb and va[n] == vb[n])
            for n in dict.fromkeys([*va, *vb])
        )
        # The stored numbers, not floats: two int durations give an int delta.
        da: Any = a.duration_s
        db: Any = b.duration_s
        delta = db - da if _number(da) is not None and _number(db) is not None else None
        return cls(
            a=a, b=b, same_state=a.state == b.state, duration_delta_s=delta,
            parameters=parameters, tasks=tuple(tasks), task_parameters=tuple(task_params),
            inputs=tuple(inputs), outputs=tuple(outputs), metrics=metrics,
        )

    def to_dict(self) -> dict[str, Any]:
        """``vertex-track diff --json``: ``a``/``b`` (:meth:`RunSummary.fields`),
        ``state`` (``a``, ``b``, ``same``), ``duration_s`` (``a``, ``b``, ``delta``),
        and the row lists, each row with ``same``."""
        return {
            "a": self.a.fields(),
            "b": self.b.fields(),
            "state": {"a": self.a.state, "b": self.b.state, "same": self.same_state},
            "duration_s": {"a": self.a.duration_s, "b": self.b.duration_s,
                           "delta": self.duration_delta_s},
            "parameters": [p.to_dict() for p in self.parameters],
            "tasks": [t.to_dict() for t in self.tasks],
            "task_parameters": [p.to_dict() for p in self.task_parameters],
            "inputs": [r.to_dict() for r in self.inputs],
            "outputs": [r.to_dict() for r in self.outputs],
            "metrics": [m.to_dict() for m in self.metrics],
        }
