"""Training pipelines through ``vertex-track serve``: create runs in the background, get, cancel.

The request bodies are those of the Vertex AI page "Create training pipelines"
(``projects.locations.trainingPipelines.create``), sent as plain HTTP; the
pipelines run for real (a Prefect flow in a worker process, training code as
subprocesses) and their records are read back with ``vt.*``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("pandas")

from serve_server import running_server  # noqa: E402

import vertex_track as vt  # noqa: E402
from vertex_track.config import get_settings  # noqa: E402
from vertex_track.store.base import MetadataStore  # noqa: E402

pytestmark = [pytest.mark.xdist_group("pipelines"), pytest.mark.slow]

PROJECT, LOCATION = "local", "us-central1"
LOC = f"projects/{PROJECT}/locations/{LOCATION}"
HPT = "gs://google-cloud-aiplatform/schema/trainingjob/definition/hyperparameter_tuning_task_1.0.0.yaml"
CUSTOM = "gs://google-cloud-aiplatform/schema/trainingjob/definition/custom_task_1.0.0.yaml"

TRAIN = '''
import os, sys, time
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
if os.environ.get("MODE") == "sleep":
    time.sleep(120)
os.makedirs(os.environ["AIP_MODEL_DIR"], exist_ok=True)
open(os.path.join(os.environ["AIP_MODEL_DIR"], "model.txt"), "w").write(str(args))
import hypertune
hypertune.HyperTune().report_hyperparameter_tuning_metric(
    hyperparameter_metric_tag="accuracy", metric_value=float(args.get("lr", 0.1)), global_step=1)
'''


@pytest.fixture
def http(tracked: MetadataStore, tmp_path: Path) -> Iterator[Any]:
    """A server over the test's store (under Prefect's test harness) and an HTTP client."""
    vt.init(project=PROJECT, location=LOCATION)
    data = tmp_path / "data.csv"
    data.write_text("x,label\n" + "".join(f"{i},{i % 2}\n" for i in range(20)))
    vt.Artifact.create("system.Dataset", uri=str(data), resource_id="raw-data")
    with running_server(get_settings().store_uri) as srv, httpx.Client(
        base_url=f"{srv.url}/v1/", timeout=60,
    ) as client:
        yield client


def worker_pool(script: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "machineSpec": {"machineType": "n1-standard-4"},
        "replicaCount": 1,
        "containerSpec": {"imageUri": "us-docker.pkg.dev/project/trainer:latest",
                          "command": ["python", str(script)], "args": [],
                          "env": [{"name": k, "value": v} for k, v in (env or {}).items()]},
    }


def tuning_body(tmp_path: Path, script: Path) -> dict[str, Any]:
    """The hyperparameter tuning request of "Create training pipelines", filled in."""
    return {
        "displayName": "tuning-job",
        "inputDataConfig": {
            "datasetId": "raw-data",
            "fractionSplit": {"trainingFraction": 0.5, "validationFraction": 0.25,
                              "testFraction": 0.25},
            "gcsDestination": {"outputUriPrefix": str(tmp_path / "splits")},
        },
        "trainingTaskDefinition": HPT,
        "trainingTaskInputs": {
            "studySpec": {
                "metrics": [{"metricId": "accuracy", "goal": "MAXIMIZE"}],
                "parameters": [{"parameterId": "lr", "scaleType": "UNIT_LINEAR_SCALE",
                                "discreteValueSpec": {"values": [0.1, 0.3]}}],
                "algorithm": "GRID_SEARCH",
            },
            "maxTrialCount": 2,
            "parallelTrialCount": 1,
            "maxFailedTrialCount": 0,
            "trialJobSpec": {"workerPoolSpecs": [worker_pool(script)],
                             "baseOutputDirectory": {"outputUriPrefix": str(tmp_path / "out")}},
        },
        "modelToUpload": {"displayName": "best-model", "description": "the best trial's model",
                          "containerSpec": {"imageUri": "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu"}},
        "labels": {"team": "ml"},
    }


def wait_until(http: Any, name: str, states: set[str], timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = http.get(name).json()
        if body["state"] in states:
            return dict(body)
        assert time.monotonic() < deadline, f"still {body['state']} after {timeout}s: {body}"
        time.sleep(0.5)


def test_a_tuning_pipeline_runs_in_the_background(http: Any, tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    created = http.post(f"{LOC}/trainingPipelines", json=tuning_body(tmp_path, script))
    assert created.status_code == 200, created.text
    pipeline = created.json()
    assert pipeline["state"] == "PIPELINE_STATE_RUNNING"
    assert pipeline["name"].startswith(f"{LOC}/trainingPipelines/")
    assert pipeline["displayName"] == "tuning-job" and pipeline["labels"] == {"team": "ml"}
    assert pipeline["trainingTaskDefinition"] == HPT

    done = wait_until(http, pipeline["name"], {"PIPELINE_STATE_SUCCEEDED", "PIPELINE_STATE_FAILED"})
    assert done["state"] == "PIPELINE_STATE_SUCCEEDED", done
    assert "endTime" in done and "error" not in done
    meta = done["trainingTaskMetadata"]
    assert meta["bestTrial"] == "2" and meta["bestMeasurement"] == {"accuracy": 0.3}
    model = vt.Artifact.get(meta["model"])
    assert model.schema_title == "system.Model" and model.display_name == "best-model"
    run = vt.Context.get(meta["pipelineRun"].rsplit("/", 1)[1])
    assert run.metadata["training_pipeline"]["state"] == "PIPELINE_STATE_SUCCEEDED"
    df = vt.get_experiment_df(meta["experiment"])
    assert sorted(df["param.lr"].tolist()) == [0.1, 0.3]

    as_int = http.get(pipeline["name"], params={"$alt": "json;enum-encoding=int"}).json()
    assert as_int["state"] == 4
    listed = http.get(f"{LOC}/trainingPipelines").json()["trainingPipelines"]
    assert [p["name"] for p in listed] == [pipeline["name"]]
    msg = http.post(f"{pipeline['name']}:cancel").json()["error"]
    assert msg["status"] == "FAILED_PRECONDITION" and "already ended" in msg["message"]

    # a new server over the same store finds it through its records
    with running_server(get_settings().store_uri) as again:
        seen = httpx.get(f"{again.url}/v1/{pipeline['name']}").json()
    assert seen["state"] == "PIPELINE_STATE_SUCCEEDED" and seen["displayName"] == "tuning-job"
    assert seen["labels"] == {"team": "ml"}
    assert seen["trainingTaskMetadata"]["model"] == meta["model"]
    assert seen["trainingTaskMetadata"]["pipelineRun"] == meta["pipelineRun"]


def start_sleepy_pipeline(http: Any, tmp_path: Path, **extra: Any) -> str:
    """Start a custom-job pipeline whose training script sleeps; return its name once its
    PipelineRun exists."""
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    body = {
        "displayName": "sleepy",
        "trainingTaskDefinition": CUSTOM,
        "trainingTaskInputs": {"workerPoolSpecs": [worker_pool(script, {"MODE": "sleep"})],
                               "baseOutputDirectory": {"outputUriPrefix": str(tmp_path / "out")}},
        **extra,
    }
    name: str = http.post(f"{LOC}/trainingPipelines", json=body).json()["name"]
    deadline = time.monotonic() + 240
    while "pipelineRun" not in http.get(name).json().get("trainingTaskMetadata", {}):
        assert time.monotonic() < deadline, "the pipeline never started"
        time.sleep(0.5)
    return name


def test_cancel_stops_the_pipeline(http: Any, tmp_path: Path) -> None:
    name = start_sleepy_pipeline(http, tmp_path, modelToUpload={"displayName": "m"})
    time.sleep(2)  # the training process is up
    assert http.post(f"{name}:cancel").json() == {}
    assert http.get(name).json()["state"] in {"PIPELINE_STATE_CANCELLING", "PIPELINE_STATE_CANCELLED"}
    done = wait_until(http, name, {"PIPELINE_STATE_CANCELLED", "PIPELINE_STATE_FAILED",
                                   "PIPELINE_STATE_SUCCEEDED"}, timeout=60)
    assert done["state"] == "PIPELINE_STATE_CANCELLED"
    assert done["error"]["code"] == 1
    run = vt.Context.get(done["trainingTaskMetadata"]["pipelineRun"].rsplit("/", 1)[1])
    assert run.metadata["training_pipeline"]["state"] == "PIPELINE_STATE_CANCELLED"


def test_bad_requests_are_refused_before_anything_runs(http: Any, tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    body = tuning_body(tmp_path, script)
    body["trainingTaskInputs"]["maxTrialCount"] = 0
    err = http.post(f"{LOC}/trainingPipelines", json=body).json()["error"]
    assert err["code"] == 400 and err["status"] == "INVALID_ARGUMENT"
    assert "trainingTaskInputs.maxTrialCount" in err["message"]

    body = tuning_body(tmp_path, script)
    body["inputDataConfig"]["datasetId"] = "no-such-data"
    err = http.post(f"{LOC}/trainingPipelines", json=body).json()["error"]
    assert err["code"] == 400 and "no artifact 'no-such-data'" in err["message"]

    err = http.get(f"{LOC}/trainingPipelines/123").json()["error"]
    assert err["code"] == 404 and "training pipeline '123' not found" in err["message"]
    assert http.get(f"{LOC}/trainingPipelines").json() == {"trainingPipelines": []}
    assert vt.Context.list('schema_title = "system.PipelineRun"') == []


def test_a_killed_pipeline_process_is_recorded_failed(http: Any, tmp_path: Path) -> None:
    """A pipeline whose process dies without recording its end (killed) is FAILED in
    the API and in its PipelineRun's records alike, never RUNNING forever."""
    import os
    import signal

    name = start_sleepy_pipeline(http, tmp_path)
    marker = f"vt-serve-pipeline-{name.rsplit('/', 1)[1]}-".encode()
    workers = []
    for entry in os.scandir("/proc"):
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                if b"pipeline_worker" in (cmd := f.read()) and marker in cmd:
                    workers.append(int(entry.name))
        except (OSError, ValueError):
            continue
    assert len(workers) == 1, workers
    os.killpg(workers[0], signal.SIGKILL)  # the worker and its training process
    done = wait_until(http, name, {"PIPELINE_STATE_FAILED", "PIPELINE_STATE_SUCCEEDED",
                                   "PIPELINE_STATE_CANCELLED"}, timeout=60)
    assert done["state"] == "PIPELINE_STATE_FAILED"
    assert "exited with code -9" in done["error"]["message"]
    run = vt.Context.get(done["trainingTaskMetadata"]["pipelineRun"].rsplit("/", 1)[1])
    assert run.metadata["training_pipeline"]["state"] == "PIPELINE_STATE_FAILED"
    assert "exited with code -9" in run.metadata["training_pipeline"]["error"]
