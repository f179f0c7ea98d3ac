"""Two pipeline runs compared row by row: :class:`RunDiff` and its rows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .summary import ArtifactUse, RunMetric, RunSummary, TaskSummary, number

__all__ = ["ArtifactDiff", "MetricDiff", "ParameterDiff", "RunDiff", "TaskDiff"]


def _same(a: Any, b: Any) -> bool:
    # 1 and 1.0 (or True) are different parameter values for a reproducibility check.
    return a == b and type(a) is type(b)


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
        delta = db - da if number(da) is not None and number(db) is not None else None
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
