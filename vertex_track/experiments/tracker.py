"""The module-level ``vt.start_run`` / ``vt.log_*`` functions, on the current run.

The current run itself is ambient state kept in :mod:`vertex_track.context`: as in the Vertex
SDK it is process-wide (one at a time), seen from every thread, so Prefect tasks running in
worker threads and ``vt.start_execution`` record into it. Worker *processes* (Dask, Ray) do not
inherit it.
"""

from __future__ import annotations

from typing import Any

from .. import context
from ..exceptions import InvalidArgumentError, NotFoundError
from ..resources import Artifact, ExecutionState
from .models import ExperimentModel
from .run import ExperimentRun, resolve_store


def current_run() -> ExperimentRun | None:
    """The run started with :func:`start_run` and not ended yet, if any."""
    run: ExperimentRun | None = context.current_run()
    return run


def _require_run(method: str) -> ExperimentRun:
    run = current_run()
    if run is None:
        raise InvalidArgumentError(
            f"no run set: call vt.start_run('my-run') before vt.{method}() (or use an "
            "ExperimentRun object's methods)"
        )
    return run


def start_run(
    run: str | None = None,
    *,
    resume: bool = False,
    experiment: Any = None,
    tensorboard: Any = None,
    run_name: str | None = None,
    store: Any = None,
) -> ExperimentRun:
    """Start (or with ``resume=True`` reopen) a run and make it the current one.

    Use it as a context manager (the run ends ``COMPLETE``, or ``FAILED`` when
    the block raises, and the exception propagates) or as a plain call
    followed by :func:`end_run`. A run that is still current is ended
    (``COMPLETE``) first, as the Vertex SDK does.

    Example::

        vt.init(experiment="my-experiment")
        with vt.start_run("run-1") as run:
            vt.log_params({"learning_rate": 0.1})
            vt.log_metrics({"accuracy": 0.93})

    Args:
        run: the run's name (``run_name=`` is accepted too).
        resume: reopen an existing run and set it ``RUNNING`` again.
        experiment: default ``vt.init(experiment=...)``; created when missing.
        tensorboard: accepted for compatibility, unused.
        store: a metadata store (default: the configured one).

    Raises:
        InvalidArgumentError: no experiment is set, or a name breaks the
            resource id rule.
        AlreadyExistsError: the run exists and ``resume`` is False.
        NotFoundError: ``resume=True`` and the run does not exist.
    """
    if run is not None and run_name is not None and run != run_name:
        raise InvalidArgumentError("give the run's name once: run= or run_name=, not both")
    name = run if run is not None else run_name
    if name is None:
        raise InvalidArgumentError("start_run needs the run's name, e.g. vt.start_run('run-1')")
    if current_run() is not None:
        end_run()
    s = resolve_store(store)
    if resume:
        try:
            new = ExperimentRun(name, experiment, store=s)
        except NotFoundError as exc:
            raise NotFoundError(f"cannot resume: {exc}") from None
        new.update_state(ExecutionState.RUNNING)
    else:
        new = ExperimentRun.create(name, experiment=experiment, store=s)
    new._make_current()
    return new


def end_run(state: ExecutionState | str = ExecutionState.COMPLETE) -> None:
    """End the current run (default ``COMPLETE``) and clear it.

    Raises:
        InvalidArgumentError: no run is current.
    """
    _require_run("end_run")._end_as_current(state)


def log_params(params: dict[str, float | int | str]) -> None:
    """:meth:`ExperimentRun.log_params` on the current run."""
    _require_run("log_params").log_params(params)


def log_metrics(metrics: dict[str, float | int | str]) -> None:
    """:meth:`ExperimentRun.log_metrics` on the current run."""
    _require_run("log_metrics").log_metrics(metrics)


def log_time_series_metrics(
    metrics: dict[str, float], step: int | None = None, wall_time: Any = None
) -> None:
    """:meth:`ExperimentRun.log_time_series_metrics` on the current run."""
    _require_run("log_time_series_metrics").log_time_series_metrics(metrics, step, wall_time)


def log_classification_metrics(
    *,
    labels: list[str] | None = None,
    matrix: list[list[int]] | None = None,
    fpr: list[float] | None = None,
    tpr: list[float] | None = None,
    threshold: list[float] | None = None,
    display_name: str | None = None,
) -> Artifact:
    """:meth:`ExperimentRun.log_classification_metrics` on the current run."""
    return _require_run("log_classification_metrics").log_classification_metrics(
        labels=labels, matrix=matrix, fpr=fpr, tpr=tpr, threshold=threshold,
        display_name=display_name,
    )


def log_model(
    model: Any,
    artifact_id: str | None = None,
    *,
    uri: str | None = None,
    input_example: Any = None,
    display_name: str | None = None,
    metadata_store_id: str | None = "default",
    project: str | None = None,
    location: str | None = None,
    credentials: Any = None,
) -> ExperimentModel:
    """:meth:`ExperimentRun.log_model` on the current run."""
    return _require_run("log_model").log_model(
        model, artifact_id, uri=uri, input_example=input_example, display_name=display_name,
    )


def _reset() -> None:
    """Forget the current run without ending it (tests)."""
    context.clear_current_run()
