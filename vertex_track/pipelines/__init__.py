"""Vertex AI training pipelines, run locally as tracked Prefect flows.

::

    import vertex_track as vt

    result = vt.pipelines.run_training_pipeline("request.json")   # or a dict
    result.state          # "PIPELINE_STATE_SUCCEEDED"
    result.model          # the registered system.Model vt.Artifact
    result.best_trial     # for hyperparameter tuning: the Trial with the best metric
    vt.get_experiment_df(result.experiment)                         # one row per trial

The request is the JSON body of ``projects.locations.trainingPipelines.create``
as the Vertex AI page "Create training pipelines" writes it. Modules:
:mod:`.request` (the body as pydantic models), :mod:`.rules` (its rules),
:mod:`.splits` (``inputDataConfig``), :mod:`.samplers` (``studySpec.algorithm``),
:mod:`.runner` (worker pools as processes), :mod:`.hypertune` (reported
metrics), :mod:`.tensorboard` (scalars), :mod:`.pipeline` (:func:`run_in_flow` and
:func:`run_training_pipeline`), :mod:`.steps` (the flow body's steps), :mod:`.common`
(what the steps share), :mod:`.result`.

Importing this package does not import Prefect; running a pipeline does.
"""

from __future__ import annotations

from .pipeline import (
    PipelineFailed,
    experiment_name_for,
    run_in_flow,
    run_request_file,
    run_training_pipeline,
)
from .request import (
    CUSTOM_TASK,
    HYPERPARAMETER_TUNING_TASK,
    TrainingPipelineRequest,
    parse_request,
)
from .result import TrainingPipelineResult, Trial

__all__ = [
    "CUSTOM_TASK",
    "HYPERPARAMETER_TUNING_TASK",
    "PipelineFailed",
    "TrainingPipelineRequest",
    "TrainingPipelineResult",
    "Trial",
    "experiment_name_for",
    "parse_request",
    "run_in_flow",
    "run_request_file",
    "run_training_pipeline",
]
