"""Experiments: Vertex AI's ``ExperimentRun`` API (Vertex AI SDK 1.26.0), on the local metadata store.

::

    import vertex_track as vt

    vt.init(experiment="churn")
    with vt.start_run("lr-0-1") as run:          # system.ExperimentRun context
        vt.log_params({"learning_rate": 0.1})
        for epoch, loss in enumerate(losses):
            vt.log_time_series_metrics({"loss": loss}, step=epoch)
        vt.log_metrics({"accuracy": 0.93})
        vt.log_classification_metrics(labels=["no", "yes"], matrix=[[50, 3], [4, 43]])
        vt.log_model(model, input_example=X[:5])
        my_flow()                                # its PipelineRun becomes a child of the run
    vt.get_experiment_df("churn")                # runs x params / metrics

Modules: :mod:`.records` (the contexts and their metadata layout),
:mod:`.run` (:class:`ExperimentRun`), :mod:`.tracker` (the current run and the
module-level functions), :mod:`.time_series` (buffered writes, columnar
reads), :mod:`.classification`, :mod:`.models`, :mod:`.dataframe`.
"""

from __future__ import annotations

from .dataframe import get_experiment_df
from .models import ExperimentModel
from .run import ExperimentRun
from .time_series import flush_all
from .tracker import (
    current_run,
    end_run,
    log_classification_metrics,
    log_metrics,
    log_model,
    log_params,
    log_time_series_metrics,
    start_run,
)

__all__ = [
    "ExperimentModel",
    "ExperimentRun",
    "current_run",
    "end_run",
    "flush_all",
    "get_experiment_df",
    "log_classification_metrics",
    "log_metrics",
    "log_model",
    "log_params",
    "log_time_series_metrics",
    "start_run",
]
