"""Running a training pipeline request as a tracked Prefect flow.

What a run records (all in the flow run's ``system.PipelineRun`` context):

- ``split-dataset``: an Execution whose input is the source ``system.Dataset``
  and whose outputs are the ``training``, ``validation`` and ``test``
  Datasets written under ``gcsDestination.outputUriPrefix``;
- ``custom-job`` (custom task) or ``trial-N`` (tuning): an Execution per job,
  its inputs the split Datasets, its outputs the job's log file (an Artifact)
  and, for the job that trained it, the registered ``system.Model``;
- an ExperimentRun per job in the Experiment named after the pipeline, with
  the trial's parameters, its final measurement and the TensorBoard scalars
  its code wrote, so ``vt.get_experiment_df(name)`` compares the trials;
- the pipeline's summary in the PipelineRun's metadata under
  ``training_pipeline`` (what ``vertex-track pipelines list|show`` read).
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from ..exceptions import NotFoundError
from .common import (
    EXECUTION_SCHEMA,
    FLOW_NAMES,
    METADATA_KEY,
    PipelineFailed,
    ProgressFn,
    check_ready,
    experiment_name_for,
    progress_callback,
    result_slot,
)
from .request import parse_request
from .result import CANCELLED, FAILED, TrainingPipelineResult
from .steps import PipelineSteps

__all__ = [
    "EXECUTION_SCHEMA",
    "METADATA_KEY",
    "PipelineFailed",
    "check_ready",
    "experiment_name_for",
    "run_in_flow",
    "run_request_file",
    "run_training_pipeline",
]


def run_in_flow(request: Any) -> TrainingPipelineResult:
    """Run a training pipeline inside the current Prefect flow run (a ``vt.flow``).

    This is the body of the flows in ``flows/``; outside a flow use
    :func:`run_training_pipeline`.

    Returns:
        The result; when the pipeline failed, :class:`PipelineFailed` is raised
        instead (carrying the result) so the flow run ends Failed.

    Raises:
        InvalidArgumentError: the request breaks a rule (nothing is run).
        PipelineFailed: the pipeline failed.
    """
    req = parse_request(request)
    check_ready(req)
    result = PipelineSteps(req).run()
    slot = result_slot.get()
    if slot is not None:
        slot.append(result)
    if result.state == FAILED:
        raise PipelineFailed(result.error or result.state, result)
    return result


# -- the entry point -----------------------------------------------------------------------------
_flows: dict[str, Any] = {}
_flows_lock = threading.Lock()


def _flow(kind: str) -> Any:
    with _flows_lock:
        flow = _flows.get(kind)
        if flow is None:
            from ..tracking import flow as vt_flow

            def body(request: dict[str, Any]) -> dict[str, Any]:
                return run_in_flow(request).to_dict()

            body.__name__ = FLOW_NAMES[kind].replace("-", "_")
            body.__qualname__ = body.__name__
            flow = _flows[kind] = vt_flow(
                name=FLOW_NAMES[kind], validate_parameters=False, persist_result=False,
            )(body)
        return flow


def run_training_pipeline(
    request: Any, *, wait: bool = True, on_progress: ProgressFn | None = None,
) -> TrainingPipelineResult:
    """Run a Vertex AI training pipeline request locally, as a tracked Prefect flow.

    The request is the JSON body of ``projects.locations.trainingPipelines.create``
    ("Create training pipelines" in the Vertex AI docs): a custom job
    (``trainingTaskDefinition`` ``.../custom_task_1.0.0.yaml``) or a
    hyperparameter tuning job (``.../hyperparameter_tuning_task_1.0.0.yaml``).
    The data set is split, the training code runs as local processes with
    Vertex's environment, and the model it leaves in ``AIP_MODEL_DIR`` (of the
    best trial, for tuning) is registered as a ``system.Model`` Artifact, with
    lineage back to the source data set. Each job is also a run of the
    Experiment named after the pipeline.

    Example::

        result = vt.pipelines.run_training_pipeline("request.json")
        print(result.state, result.model.uri)
        print(vt.get_experiment_df(result.experiment))

    Args:
        request: the body as a dict (camelCase or snake_case keys), the path of
            a JSON file, or a :class:`~vertex_track.pipelines.TrainingPipelineRequest`.
        wait: block until the pipeline ends (default). With False it runs in a
            background thread and the result (state ``PIPELINE_STATE_RUNNING``)
            fills in when it ends; ``result.wait()`` blocks for it.
        on_progress: called with a dict per step (``{"event": "trial_finished",
            "trial": "3", "state": "SUCCEEDED", ...}``), e.g. for a progress bar.

    Returns:
        A :class:`TrainingPipelineResult`. A pipeline that fails (the code
        exits non-zero, times out, too many trials fail) is returned with state
        ``PIPELINE_STATE_FAILED`` and ``error`` saying why; it is not raised.

    Raises:
        InvalidArgumentError: the request breaks a rule; the message starts
            with the field's path (``trainingTaskInputs.studySpec.parameters[0]
            .doubleValueSpec.minValue``). Nothing is recorded.
        NotFoundError: ``inputDataConfig.datasetId`` names no artifact.
        ImportError: the study's algorithm needs Optuna and it is missing.
    """
    req = parse_request(request)
    check_ready(req)
    body = req.to_json_dict()
    flow = _flow(req.kind).with_options(
        flow_run_name=req.display_name.replace("{", "{{").replace("}", "}}"),
    )
    result = TrainingPipelineResult(
        display_name=req.display_name, kind=req.kind,
        experiment=experiment_name_for(req.display_name),
    )

    def go() -> None:
        slot: list[TrainingPipelineResult] = []
        t1 = result_slot.set(slot)
        t2 = progress_callback.set(on_progress)
        try:
            state = flow(body, return_state=True)
        finally:
            result_slot.reset(t1)
            progress_callback.reset(t2)
        if slot:
            result._fill(slot[-1])
            if result.pipeline_run is not None:  # read its final state (set as the flow ended)
                result.pipeline_run.refresh()
            return
        # The flow ended before the pipeline produced a result (e.g. Prefect itself failed).
        result.state = CANCELLED if state.is_cancelled() else FAILED
        result.error = state.message or f"the flow run ended {state.name}"
        _attach_run_from_state(result, state)

    if wait:
        go()
        return result

    def background() -> None:
        try:
            go()
        except BaseException as exc:
            result._exception = exc
            if result.state == "PIPELINE_STATE_RUNNING":
                result.state, result.error = FAILED, f"{type(exc).__name__}: {exc}"

    thread = threading.Thread(target=background, name=f"vt-pipeline-{uuid.uuid4().hex[:6]}",
                              daemon=False)
    result._thread = thread
    thread.start()
    return result


def _attach_run_from_state(result: TrainingPipelineResult, state: Any) -> None:
    from ..tracking.pipeline_run import PipelineRun

    flow_run_id = getattr(state, "state_details", None) and state.state_details.flow_run_id
    if flow_run_id:
        try:
            result.pipeline_run = PipelineRun.get(str(flow_run_id))
        except NotFoundError:
            pass


def run_request_file(flow: Any, argv: list[str], *, script: str) -> int:
    """Command-line entry of a pipeline flow: ``python SCRIPT REQUEST.json``.

    Validates the request before the flow starts (a bad request records
    nothing), names the flow run after the pipeline, prints the result's
    summary as JSON. Returns the process exit code: 0 succeeded, 1 failed,
    2 usage error.
    """
    import json
    import sys

    if len(argv) != 1:
        print(f"usage: python {script} REQUEST.json", file=sys.stderr)
        return 2
    request = parse_request(argv[0])  # a bad request fails here, recording nothing
    name = request.display_name.replace("{", "{{").replace("}", "}}")  # a template
    state = flow.with_options(flow_run_name=name)(request.to_json_dict(), return_state=True)
    if state.is_completed():
        print(json.dumps(state.result(), indent=2))
        return 0
    print(f"{flow.name} failed: {state.message}", file=sys.stderr)
    return 1
