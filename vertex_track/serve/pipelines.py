"""PipelineService's training pipelines: create (runs in the background), get, list, cancel.

``POST .../trainingPipelines`` validates the body (the JSON of
``projects.locations.trainingPipelines.create``, as the Vertex AI page
"Create training pipelines" writes it) exactly as ``vertex-track pipelines
run`` does, answers the new ``TrainingPipeline`` with ``state``
``PIPELINE_STATE_RUNNING`` and runs it in a process of its own
(:mod:`.pipeline_worker`, with :func:`vertex_track.pipelines.run_training_pipeline`),
so ``:cancel`` interrupts exactly that pipeline.

What the pipeline records is the same as from the CLI or the Python API: a
``system.PipelineRun`` context with the ``training_pipeline`` summary, read by
``vertex-track pipelines list|show``. The pipeline's id is kept in that
summary's ``labels`` under :data:`ID_LABEL`, so ``GET`` finds a pipeline also
after the server restarted, with the state its records have (a pipeline's
process is not stopped with the server: it runs on and records how it ended). The fields the run produced are in
``trainingTaskMetadata`` (``pipelineRun``, ``experiment``, ``model``: the
registered ``system.Model`` artifact, ``bestTrial``, ``trials``).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request

from .._random import rng
from .._time import now
from ..config import get_settings
from ..exceptions import ConflictError, InvalidArgumentError, NotFoundError
from ..resources import Artifact, Context
from .errors import ApiError
from .stores import store_for
from .wire import read_body, rfc3339, wants_int_enums

__all__ = ["CANCEL_GRACE_S", "ID_LABEL", "PIPELINE_STATES", "router"]

router = APIRouter()
LOC = "/v1/projects/{project}/locations/{location}"

#: The label (in the request's ``labels``) that carries the pipeline's id into its records.
ID_LABEL = "vertex_track_training_pipeline_id"
#: Seconds a cancelled pipeline gets to stop its training processes before it is killed.
CANCEL_GRACE_S = 30.0
PIPELINE_STATES = {
    "PIPELINE_STATE_UNSPECIFIED": 0, "PIPELINE_STATE_QUEUED": 1, "PIPELINE_STATE_PENDING": 2,
    "PIPELINE_STATE_RUNNING": 3, "PIPELINE_STATE_SUCCEEDED": 4, "PIPELINE_STATE_FAILED": 5,
    "PIPELINE_STATE_CANCELLING": 6, "PIPELINE_STATE_CANCELLED": 7, "PIPELINE_STATE_PAUSED": 8,
}
_DONE = {"PIPELINE_STATE_SUCCEEDED", "PIPELINE_STATE_FAILED", "PIPELINE_STATE_CANCELLED"}
_ERROR_CODES = {"PIPELINE_STATE_FAILED": 13, "PIPELINE_STATE_CANCELLED": 1}  # INTERNAL, CANCELLED
_SCHEMA = "system.PipelineRun"


@dataclass
class _Job:
    """A pipeline this server started."""

    id: str
    name: str
    body: dict[str, Any]
    process: subprocess.Popen[bytes]
    folder: Path
    store: Any
    create_time: Any
    end_time: Any = None
    cancelled: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Set once the process has ended and its final state is in its PipelineRun.
    reaped: threading.Event = field(default_factory=threading.Event)

    @property
    def result_path(self) -> Path:
        return self.folder / "result.json"


def _jobs(request: Request) -> dict[str, _Job]:
    jobs = getattr(request.app.state, "training_pipelines", None)
    if jobs is None:
        jobs = request.app.state.training_pipelines = {}
    return jobs


# -- create ------------------------------------------------------------------------------------
def _check(body: dict[str, Any], store: Any) -> Any:
    """The request as a model, checked as far as possible before anything runs."""
    from ..pipelines import parse_request

    req = parse_request(body)
    if req.input_data_config is not None:
        from ..pipelines.splits import data_format

        ref = req.input_data_config.dataset_id
        try:
            ds = Artifact.get(ref, store=store)
        except (NotFoundError, InvalidArgumentError):
            raise InvalidArgumentError(
                f"inputDataConfig.datasetId: no artifact {ref!r} in the metadata store "
                f"{store.prefix}; register the data set first (POST .../artifacts?artifactId={ref} "
                "with a uri, or vt.Artifact.create('system.Dataset', uri=..., resource_id=...))"
            ) from None
        if not ds.uri:
            raise InvalidArgumentError(
                f"inputDataConfig.datasetId: artifact {ds.name!r} has no uri to read the data from")
        data_format(ds.uri)
    tuning = req.tuning
    if tuning is not None and tuning.study_spec.algorithm == "ALGORITHM_UNSPECIFIED":
        from ..pipelines.samplers import require_optuna

        try:
            require_optuna()
        except ImportError as exc:
            raise InvalidArgumentError(f"trainingTaskInputs.studySpec.algorithm: {exc}") from None
    return req


def _worker_env(store_uri: str, project: str, location: str) -> dict[str, str]:
    s = get_settings()
    env = dict(os.environ)
    env.update({
        "VERTEX_TRACK_STORE_URI": store_uri, "VERTEX_TRACK_ARTIFACT_ROOT": str(s.artifact_root),
        "VERTEX_TRACK_PROJECT": project, "VERTEX_TRACK_LOCATION": location,
        "VERTEX_TRACK_METADATA_STORE": "default",
    })
    env.pop("VERTEX_TRACK_EXPERIMENT", None)
    try:  # the Prefect API this process uses (a test harness sets it in-process only)
        from prefect.settings import PREFECT_API_URL

        api = PREFECT_API_URL.value()
        if api:
            env["PREFECT_API_URL"] = str(api)
    except Exception:
        pass
    return env


@router.post(LOC + "/trainingPipelines")
async def create_training_pipeline(request: Request, project: str,
                                   location: str) -> dict[str, Any]:
    """``CreateTrainingPipeline``: validate, start in the background, answer it RUNNING."""
    body = await read_body(request)
    store = store_for(project, location)
    from starlette.concurrency import run_in_threadpool

    req = await run_in_threadpool(_check, body, store)
    pid = str(rng.randrange(10**18, 9 * 10**18))
    run_body = req.to_json_dict()
    run_body["labels"] = {**req.labels, ID_LABEL: pid}
    folder = Path(tempfile.mkdtemp(prefix=f"vt-serve-pipeline-{pid}-"))
    (folder / "request.json").write_text(json.dumps(run_body))
    log = (folder / "worker.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "vertex_track.serve.pipeline_worker",
         str(folder / "request.json"), str(folder / "result.json")],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        env=await run_in_threadpool(
            _worker_env, getattr(request.app.state, "store_uri", None) or get_settings().store_uri,
            project, location,
        ),
        start_new_session=True,
    )
    log.close()
    name = f"projects/{project}/locations/{location}/trainingPipelines/{pid}"
    job = _Job(pid, name, body, process, folder, store, now())
    _jobs(request)[pid] = job
    threading.Thread(target=_reap, args=(job,), name=f"vt-serve-pipeline-{pid}",
                     daemon=True).start()
    return _resource(request, job.name, body, "PIPELINE_STATE_RUNNING", job.create_time, None, {})


def _reap(job: _Job) -> None:
    job.process.wait()
    job.end_time = now()
    try:
        ctx = _summary_context(job.store, job.id)
        state, error, _ = _state_of(job, ctx)
        _settle(ctx, state, error)
    except Exception:  # the store is unreachable: the API still answers from the process
        logging.getLogger(__name__).warning(
            "could not record the end of training pipeline %s", job.id, exc_info=True)
    finally:
        job.reaped.set()


# -- reading -----------------------------------------------------------------------------------
def _summary_context(store: Any, pid: str) -> Context | None:
    found = Context.list(
        f'schema_title = "{_SCHEMA}" AND '
        f'metadata.training_pipeline.labels.{ID_LABEL}.string_value = "{pid}"',
        store=store,
    )
    return found[0] if found else None


def _task_metadata(ctx: Context | None, result: dict[str, Any] | None) -> dict[str, Any]:
    summary = (ctx.metadata.get("training_pipeline") if ctx is not None else None) or {}
    out: dict[str, Any] = {}
    if ctx is not None:
        out["pipelineRun"] = ctx.name
    src = {**summary, **(result or {})}
    for key, wire in (("experiment", "experiment"), ("model", "model"), ("model_uri", "modelUri"),
                      ("best_trial", "bestTrial"), ("best_measurement", "bestMeasurement"),
                      ("trials", "trials"), ("duration_s", "durationSeconds")):
        if src.get(key) not in (None, [], {}):
            out[wire] = src[key]
    return out


def _state_of(job: _Job | None, ctx: Context | None) -> tuple[str, str | None, dict[str, Any] | None]:
    """(state, error, worker result) of a pipeline."""
    summary = (ctx.metadata.get("training_pipeline") if ctx is not None else None) or {}
    if job is not None:
        if job.process.poll() is None:
            return ("PIPELINE_STATE_CANCELLING" if job.cancelled else "PIPELINE_STATE_RUNNING",
                    None, None)
        result = None
        if job.result_path.exists():
            try:
                result = json.loads(job.result_path.read_text())
            except ValueError:
                result = None
        if job.cancelled:
            return "PIPELINE_STATE_CANCELLED", "cancelled by trainingPipelines.cancel", result
        if result is not None:
            return result.get("state", "PIPELINE_STATE_FAILED"), result.get("error"), result
        if summary.get("state") in _DONE:
            return summary["state"], summary.get("error"), None
        tail = (job.folder / "worker.log").read_text(errors="replace")[-1500:]
        return ("PIPELINE_STATE_FAILED",
                f"the pipeline's process exited with code {job.process.returncode}: {tail}", None)
    # Started by an earlier server process: its worker outlives the server, and its records
    # say how far it got.
    state = summary.get("state")
    if state in PIPELINE_STATES:
        return state, summary.get("error"), None
    return "PIPELINE_STATE_RUNNING", None, None


def _resource(request: Request, name: str, body: dict[str, Any], state: str, created: Any,
              ended: Any, task_metadata: dict[str, Any], error: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    for key in ("displayName", "inputDataConfig", "trainingTaskDefinition", "trainingTaskInputs",
                "modelToUpload", "encryptionSpec", "parentModel", "modelId"):
        if key in body:
            out[key] = body[key]
    labels = {k: v for k, v in (body.get("labels") or {}).items() if k != ID_LABEL}
    if labels:
        out["labels"] = labels
    out["state"] = PIPELINE_STATES[state] if wants_int_enums(request) else state
    out["createTime"] = rfc3339(created)
    out["startTime"] = rfc3339(created)
    out["updateTime"] = rfc3339(ended or created)
    if ended is not None and state in _DONE:
        out["endTime"] = rfc3339(ended)
    if task_metadata:
        out["trainingTaskMetadata"] = task_metadata
    if error and state in _ERROR_CODES:
        out["error"] = {"code": _ERROR_CODES[state], "message": error}
    return out


def _describe(request: Request, project: str, location: str, pid: str,
              job: _Job | None) -> dict[str, Any]:
    store = job.store if job is not None else store_for(project, location)
    if job is not None and job.process.poll() is not None:
        job.reaped.wait(timeout=30)  # its final state is being written into its records
    ctx = _summary_context(store, pid)
    if job is None and ctx is None:
        raise ApiError(404, f"training pipeline {pid!r} not found in projects/{project}/"
                       f"locations/{location} (this server knows the pipelines it started, and "
                       "those whose records reached the store)")
    state, error, result = _state_of(job, ctx)
    if job is not None:
        body, created, ended = job.body, job.create_time, job.end_time
    else:
        assert ctx is not None
        summary = ctx.metadata.get("training_pipeline") or {}
        body = {"displayName": summary.get("display_name") or ctx.display_name,
                "labels": summary.get("labels") or {}}
        created, ended = ctx.create_time, ctx.update_time
    name = f"projects/{project}/locations/{location}/trainingPipelines/{pid}"
    return _resource(request, name, body, state, created, ended, _task_metadata(ctx, result), error)


def _settle(ctx: Context | None, state: str, error: str | None) -> None:
    """Write a pipeline's final state into its PipelineRun when its process ended
    without doing so: interrupted before it could record it, or killed after
    :data:`CANCEL_GRACE_S`. Its records then say what the API says, whether or
    not anyone asks this server (called once, when the process ends)."""
    if ctx is None or state not in _DONE:
        return
    summary = ctx.metadata.get("training_pipeline") or {}
    if summary.get("state") in _DONE:
        return
    settled = {**summary, "state": state}
    if error:
        settled["error"] = error
    try:
        ctx.update(metadata={"training_pipeline": settled})
    except ConflictError:  # the pipeline's process wrote it meanwhile
        pass


@router.post(LOC + "/trainingPipelines/{pid}:cancel")
def cancel_training_pipeline(request: Request, project: str, location: str,
                             pid: str) -> dict[str, Any]:
    """``CancelTrainingPipeline``: interrupt the pipeline; it ends ``PIPELINE_STATE_CANCELLED``.

    The pipeline's process gets SIGINT (its training processes are stopped and
    its records say CANCELLED, as after Ctrl+C) and is killed if it has not
    ended :data:`CANCEL_GRACE_S` seconds later.
    """
    job = _jobs(request).get(pid)
    if job is None:
        _describe(request, project, location, pid, None)  # 404 when unknown
        raise ApiError(400, f"training pipeline {pid!r} is not running on this server; "
                       "only a running pipeline can be cancelled", "FAILED_PRECONDITION")
    with job.lock:
        if job.process.poll() is not None:
            state, _, _ = _state_of(job, None)
            raise ApiError(400, f"training pipeline {pid!r} has already ended ({state}); "
                           "only a running pipeline can be cancelled", "FAILED_PRECONDITION")
        if not job.cancelled:
            job.cancelled = True
            try:
                os.kill(job.process.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            threading.Thread(target=_kill_later, args=(job,), daemon=True).start()
    return {}


def _kill_later(job: _Job) -> None:
    deadline = time.monotonic() + CANCEL_GRACE_S
    while time.monotonic() < deadline:
        if job.process.poll() is not None:
            return
        time.sleep(0.2)
    try:
        os.killpg(job.process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@router.get(LOC + "/trainingPipelines/{pid}")
def get_training_pipeline(request: Request, project: str, location: str,
                          pid: str) -> dict[str, Any]:
    """``GetTrainingPipeline``: its state (``PIPELINE_STATE_*``) and, once known, what it produced."""
    if ":" in pid:
        raise ApiError(404, f"no custom method {pid.partition(':')[2]!r} on training pipelines")
    return _describe(request, project, location, pid, _jobs(request).get(pid))


@router.get(LOC + "/trainingPipelines")
def list_training_pipelines(request: Request, project: str, location: str) -> dict[str, Any]:
    """``ListTrainingPipelines``: the ones this server started and those in the store, newest first."""
    store = store_for(project, location)
    jobs = _jobs(request)
    ids = [pid for pid, job in jobs.items()
           if job.name.startswith(f"projects/{project}/locations/{location}/")]
    for ctx in Context.list(
        f'schema_title = "{_SCHEMA}" AND '
        f'metadata.training_pipeline.labels.{ID_LABEL}.string_value = "*"', store=store,
    ):
        pid = ((ctx.metadata.get("training_pipeline") or {}).get("labels") or {}).get(ID_LABEL)
        if pid and pid not in ids:
            ids.append(pid)
    items = [_describe(request, project, location, pid, jobs.get(pid)) for pid in ids]
    items.sort(key=lambda p: p["createTime"], reverse=True)
    return {"trainingPipelines": items}
