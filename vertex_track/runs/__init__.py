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

from .diff import ArtifactDiff, MetricDiff, ParameterDiff, RunDiff, TaskDiff
from .summary import ArtifactUse, RunMetric, RunSummary, TaskSummary, run_fields

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
