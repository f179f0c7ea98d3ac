"""What a training pipeline returns: :class:`TrainingPipelineResult` and its :class:`Trial` s."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CANCELLED",
    "FAILED",
    "RUNNING",
    "SUCCEEDED",
    "TrainingPipelineResult",
    "Trial",
]

SUCCEEDED = "PIPELINE_STATE_SUCCEEDED"
FAILED = "PIPELINE_STATE_FAILED"
CANCELLED = "PIPELINE_STATE_CANCELLED"
RUNNING = "PIPELINE_STATE_RUNNING"


@dataclass
class Trial:
    """One trial of a hyperparameter tuning job.

    Attributes:
        id: ``"1"``, ``"2"``, ... in the order the trials started.
        parameters: ``{parameterId: value}`` the trial ran with.
        final_measurement: ``{metricId: value}``, the last value the trial
            reported for each metric (empty when it reported none).
        state: ``"SUCCEEDED"``, ``"FAILED"`` (non-zero exit, timeout) or
            ``"INFEASIBLE"`` (exited 0 without reporting the study's metric).
        execution: the trial's ``vt.Execution``.
        error: why it failed, or None.
        experiment_run: the name of the trial's ExperimentRun.
        model_dir: the trial's ``AIP_MODEL_DIR``.
    """

    id: str
    parameters: dict[str, Any]
    final_measurement: dict[str, float] = field(default_factory=dict)
    state: str = "ACTIVE"
    execution: Any = None
    error: str | None = None
    experiment_run: str | None = None
    model_dir: str | None = None
    duration_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "parameters": dict(self.parameters),
            "final_measurement": dict(self.final_measurement),
            "error": self.error,
            "execution": self.execution.name if self.execution is not None else None,
            "experiment_run": self.experiment_run,
            "model_dir": self.model_dir,
            "duration_s": self.duration_s,
        }


@dataclass
class TrainingPipelineResult:
    """The outcome of :func:`vertex_track.pipelines.run_training_pipeline`.

    Attributes:
        display_name: the request's ``displayName``.
        state: ``"PIPELINE_STATE_SUCCEEDED"``, ``"PIPELINE_STATE_FAILED"`` or
            ``"PIPELINE_STATE_CANCELLED"`` (``"PIPELINE_STATE_RUNNING"`` while a
            pipeline started with ``wait=False`` runs).
        error: None, or what went wrong.
        model: the registered ``system.Model`` ``vt.Artifact``, or None.
        pipeline_run: the ``vt.PipelineRun`` of the flow run.
        trials: the trials of a tuning job, in start order (empty for a custom job).
        best_trial: the succeeded trial with the best final metric, or None.
        experiment: the name of the Experiment the runs were logged to.
        kind: ``"custom"`` or ``"hyperparameter_tuning"``.
    """

    display_name: str
    state: str = RUNNING
    error: str | None = None
    model: Any = None
    pipeline_run: Any = None
    trials: list[Trial] = field(default_factory=list)
    best_trial: Trial | None = None
    experiment: str | None = None
    kind: str = "custom"
    duration_s: float | None = None
    _thread: threading.Thread | None = field(default=None, repr=False, compare=False)
    _exception: BaseException | None = field(default=None, repr=False, compare=False)

    @property
    def succeeded(self) -> bool:
        return self.state == SUCCEEDED

    def done(self) -> bool:
        """Whether the pipeline has finished (always True with ``wait=True``)."""
        return self.state != RUNNING

    def wait(self, timeout: float | None = None) -> TrainingPipelineResult:
        """Block until a pipeline started with ``wait=False`` ends; returns ``self``.

        Raises:
            TimeoutError: still running after ``timeout`` seconds.
            Exception: what the pipeline's thread raised, if it raised.
        """
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"training pipeline {self.display_name!r} is still running")
        if self._exception is not None:
            raise self._exception
        return self

    def _fill(self, other: TrainingPipelineResult) -> None:
        for name in ("state", "error", "model", "pipeline_run", "trials", "best_trial",
                     "experiment", "kind", "duration_s"):
            setattr(self, name, getattr(other, name))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (resources by name)."""
        return {
            "display_name": self.display_name,
            "kind": self.kind,
            "state": self.state,
            "error": self.error,
            "model": self.model.name if self.model is not None else None,
            "model_uri": self.model.uri if self.model is not None else None,
            "pipeline_run": self.pipeline_run.name if self.pipeline_run is not None else None,
            "experiment": self.experiment,
            "best_trial": self.best_trial.id if self.best_trial is not None else None,
            "trials": [t.to_dict() for t in self.trials],
            "duration_s": self.duration_s,
        }
