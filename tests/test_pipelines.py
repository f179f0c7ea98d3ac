"""Training pipelines run for real: Prefect flows (test harness), real subprocesses, small data.

The training code is written the way Vertex AI training code is: it reads
``AIP_*`` environment variables, writes its model to ``AIP_MODEL_DIR``, takes
its hyperparameters as ``--name=value`` arguments and reports its metric with
the ``cloudml-hypertune`` package, unchanged.
"""

from __future__ import annotations

import importlib.util
import json
import re
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import vertex_track as vt
from vertex_track.cli.app import app
from vertex_track.store.base import MetadataStore

pytestmark = [pytest.mark.xdist_group("pipelines"), pytest.mark.slow]

CUSTOM = "gs://google-cloud-aiplatform/schema/trainingjob/definition/custom_task_1.0.0.yaml"
HPT = "gs://google-cloud-aiplatform/schema/trainingjob/definition/hyperparameter_tuning_task_1.0.0.yaml"
ROOT = Path(__file__).resolve().parent.parent

# Training code as Vertex runs it. MODE (from the pool's env) chooses a behaviour.
TRAIN = '''
import json, os, sys, time
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
mode = os.environ.get("MODE", "ok")
if args.get("mode"):
    mode = args["mode"]
print("training with", args, flush=True)
if mode == "sleep":
    time.sleep(60)
if mode == "crash":
    print("loading data", file=sys.stderr)
    print("ValueError: the data has no label column", file=sys.stderr)
    sys.exit(3)

def rows(var):
    uri = os.environ.get(var)
    if not uri:
        return None
    with open(uri) as f:
        return sum(1 for _ in f) - 1  # CSV minus its header

spec = json.loads(os.environ["CLUSTER_SPEC"])
model_dir = os.environ.get("MODEL_OUT") or os.environ["AIP_MODEL_DIR"]
os.makedirs(model_dir, exist_ok=True)
snapshot = {k: v for k, v in os.environ.items() if k.startswith(("AIP_", "CLOUD_ML_"))}
snapshot.update(argv=sys.argv[1:], cluster_spec=spec, tf_config=json.loads(os.environ["TF_CONFIG"]),
                rows={k: rows(f"AIP_{k.upper()}_DATA_URI") for k in ("training", "validation", "test")})
with open(os.path.join(model_dir, f"env-{spec['task']['index']}.json"), "w") as f:
    json.dump(snapshot, f)
if mode != "noreport":
    import hypertune
    depth = float(args.get("depth", 1))
    score = depth - (float(args.get("lr", 0.3)) - 0.3) ** 2 + (0.5 if args.get("kind") == "b" else 0)
    hypertune.HyperTune().report_hyperparameter_tuning_metric(
        hyperparameter_metric_tag="score", metric_value=score / 2, global_step=1)
    hypertune.HyperTune().report_hyperparameter_tuning_metric(
        hyperparameter_metric_tag="score", metric_value=score, global_step=2)
print("done", flush=True)
'''

TENSORBOARD_TRAIN = '''
import os
from tensorboardX import SummaryWriter
w = SummaryWriter(os.environ["AIP_TENSORBOARD_LOG_DIR"])
for step, loss in enumerate([0.9, 0.5, 0.25]):
    w.add_scalar("loss", loss, step)
w.close()
os.makedirs(os.environ["AIP_MODEL_DIR"], exist_ok=True)
open(os.path.join(os.environ["AIP_MODEL_DIR"], "model.txt"), "w").write("weights")
'''


@pytest.fixture
def data(tracked: MetadataStore, tmp_path: Path) -> vt.Artifact:
    """A 40-row CSV registered as a system.Dataset (as a user registers a data set)."""
    path = tmp_path / "data.csv"
    lines = ["x,label,when,part"]
    parts = ["training"] * 6 + ["validation"] * 2 + ["test"] * 2
    for i in range(40):
        lines.append(f"{i},{i % 2},2024-02-{(39 - i) % 28 + 1:02d}T{i % 24:02d}:00:00Z,"
                     f"{parts[i % 10]}")
    path.write_text("\n".join(lines) + "\n")
    return vt.Artifact.create("system.Dataset", uri=str(path), resource_id="raw-data",
                              display_name="raw-data")


@pytest.fixture
def train(tmp_path: Path) -> Path:
    path = tmp_path / "train.py"
    path.write_text(TRAIN)
    return path


def pool(script: Path, *, replicas: int = 1, env: dict[str, str] | None = None,
         args: list[str] | None = None) -> dict[str, Any]:
    return {
        "replicaCount": replicas, "machineSpec": {"machineType": "n1-standard-4"},
        "containerSpec": {"imageUri": "us-docker.pkg.dev/project/trainer:latest",
                          "command": ["python", str(script)], "args": args or [],
                          "env": [{"name": k, "value": v} for k, v in (env or {}).items()]},
    }


def custom(tmp_path: Path, pools: list[dict[str, Any]], *, split: dict[str, Any] | None = None,
           timeout: str | None = None, model: dict[str, Any] | None = None,
           name: str = "custom-job") -> dict[str, Any]:
    inputs: dict[str, Any] = {
        "workerPoolSpecs": pools,
        "baseOutputDirectory": {"outputUriPrefix": str(tmp_path / "out")},
    }
    if timeout:
        inputs["scheduling"] = {"timeout": timeout}
    return {
        "displayName": name,
        "inputDataConfig": {"datasetId": "raw-data", **(split or {}),
                            "gcsDestination": {"outputUriPrefix": str(tmp_path / "splits")}},
        "trainingTaskDefinition": CUSTOM,
        "trainingTaskInputs": inputs,
        "modelToUpload": model if model is not None else {
            "displayName": "my-model", "description": "a model", "labels": {"env": "test"},
            "containerSpec": {"imageUri": "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu"}},
    }


def tuning(tmp_path: Path, script: Path, parameters: list[dict[str, Any]], *,
           algorithm: str, max_trials: int, parallel: int = 2, max_failed: int = 0,
           name: str = "tuning-job") -> dict[str, Any]:
    return {
        "displayName": name,
        "inputDataConfig": {"datasetId": "raw-data", "fractionSplit": {
            "trainingFraction": 0.5, "validationFraction": 0.25, "testFraction": 0.25}},
        "trainingTaskDefinition": HPT,
        "trainingTaskInputs": {
            "studySpec": {"metrics": [{"metricId": "score", "goal": "MAXIMIZE"}],
                          "parameters": parameters, "algorithm": algorithm},
            "maxTrialCount": max_trials, "parallelTrialCount": parallel,
            "maxFailedTrialCount": max_failed,
            "trialJobSpec": {"workerPoolSpecs": [pool(script)],
                             "baseOutputDirectory": {"outputUriPrefix": str(tmp_path / "out")}},
        },
        "modelToUpload": {"displayName": "best-model"},
    }


def snapshot(model_dir: str | Path, index: int = 0) -> dict[str, Any]:
    return json.loads((Path(model_dir) / f"env-{index}.json").read_text())


def producer(artifact: vt.Artifact) -> vt.Execution:
    (ex,) = artifact.get_executions(type="OUTPUT")
    return ex


# -- custom jobs ------------------------------------------------------------------------------
def test_custom_job_gets_vertex_environment_and_registers_its_model(
    data: vt.Artifact, train: Path, tmp_path: Path,
) -> None:
    request = custom(tmp_path, [pool(train, args=["--epochs=2"])], split={"fractionSplit": {
        "trainingFraction": 0.5, "validationFraction": 0.25, "testFraction": 0.25}})
    result = vt.pipelines.run_training_pipeline(request)

    assert result.state == "PIPELINE_STATE_SUCCEEDED", result.error
    assert result.error is None and result.trials == [] and result.best_trial is None
    run = result.pipeline_run
    assert run.state.value == "COMPLETE" and run.flow_name == "training-pipeline"
    assert run.display_name == "custom-job"

    model = result.model
    assert model.schema_title == "system.Model" and model.display_name == "my-model"
    assert model.description == "a model" and model.labels == {"env": "test"}
    assert model.metadata["container_spec"] == {
        "imageUri": "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu"}
    env = snapshot(model.load())  # the stored copy of what the code left in AIP_MODEL_DIR
    out = tmp_path / "out"
    assert env["AIP_MODEL_DIR"] == str(out / "model")
    assert env["AIP_CHECKPOINT_DIR"] == str(out / "checkpoints")
    assert env["AIP_TENSORBOARD_LOG_DIR"] == str(out / "logs")
    assert env["AIP_DATA_FORMAT"] == "csv"
    assert env["AIP_TRAINING_DATA_URI"].startswith(str(tmp_path / "splits"))
    assert env["rows"] == {"training": 20, "validation": 10, "test": 10}
    assert env["CLOUD_ML_JOB_ID"] == run.flow_run_id
    assert env["argv"] == ["--epochs=2"]
    assert "CLOUD_ML_TRIAL_ID" not in env

    job = producer(model)
    assert job.display_name == "custom-job" and job.state.value == "COMPLETE"
    assert {a.display_name for a in job.get_input_artifacts()} == {"training", "validation", "test"}
    logs = next(a for a in job.get_output_artifacts() if a.display_name == "custom-job-logs")
    text = logs.load().read_text()
    assert "[workerpool0-0] stdout: training with {'epochs': '2'}" in text
    assert job.metadata["vertex_track"]["exit_codes"] == {"workerpool0-0": 0}

    split = producer(job.get_input_artifacts()[0])
    assert split.display_name == "split-dataset" and split.metadata["split"] == "fractionSplit"
    assert [a.name for a in split.get_input_artifacts()] == [data.name]
    names = {e.display_name for e in run.get_executions()}
    assert names == {"split-dataset", "custom-job"}
    assert model.name in {a.name for a in run.get_artifacts()}


@pytest.mark.parametrize(
    ("split", "rows"),
    [
        ({"filterSplit": {"trainingFilter": "x < 30", "validationFilter": "x >= 30 and x < 35",
                          "testFilter": "x >= 35"}}, {"training": 30, "validation": 5, "test": 5}),
        ({"predefinedSplit": {"key": "part"}}, {"training": 24, "validation": 8, "test": 8}),
        ({"timestampSplit": {"trainingFraction": 0.75, "validationFraction": 0.125,
                             "testFraction": 0.125, "key": "when"}},
         {"training": 30, "validation": 5, "test": 5}),
    ],
    ids=["filter", "predefined", "timestamp"],
)
def test_each_split_kind_reaches_the_training_code(
    data: vt.Artifact, train: Path, tmp_path: Path, split: dict[str, Any],
    rows: dict[str, int],
) -> None:
    result = vt.pipelines.run_training_pipeline(custom(tmp_path, [pool(train)], split=split))
    assert result.state == "PIPELINE_STATE_SUCCEEDED", result.error
    assert snapshot(result.model.load())["rows"] == rows
    datasets = {a.display_name: a for a in producer(result.model).get_input_artifacts()}
    assert {k: a.metadata["rows"] for k, a in datasets.items()} == rows
    assert producer(datasets["test"]).metadata["split"] == next(iter(split))


def test_a_filter_the_data_cannot_answer_fails_the_split(
    data: vt.Artifact, train: Path, tmp_path: Path,
) -> None:
    request = custom(tmp_path, [pool(train)], split={"filterSplit": {
        "trainingFilter": "price > 3", "validationFilter": "-", "testFilter": "-"}})
    result = vt.pipelines.run_training_pipeline(request)
    assert result.state == "PIPELINE_STATE_FAILED"
    assert result.error.startswith(
        "splitting the data set failed: inputDataConfig.filterSplit.trainingFilter: "
        "'price > 3' is not a valid pandas query")
    (split,) = result.pipeline_run.get_executions()
    assert split.display_name == "split-dataset" and split.state.value == "FAILED"
    assert not any(e.display_name == "custom-job" for e in vt.Execution.list())


def test_python_module_from_a_wheel_and_an_sdist(
    data: vt.Artifact, tmp_path: Path,
) -> None:
    # The trainer package as an sdist, a helper as a pure-Python wheel: Vertex's packageUris.
    src = tmp_path / "build" / "trainer-0.1"
    (src / "trainer").mkdir(parents=True)
    (src / "trainer" / "__init__.py").write_text("")
    (src / "trainer" / "task.py").write_text(TRAIN.replace(
        "print(\"done\", flush=True)", "import helpers; print('helper', helpers.VALUE)"))
    sdist = tmp_path / "trainer-0.1.tar.gz"
    with tarfile.open(sdist, "w:gz") as t:
        t.add(src, arcname="trainer-0.1")
    wheel = tmp_path / "helpers-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("helpers/__init__.py", "VALUE = 42\n")
    request = custom(tmp_path, [{
        "replicaCount": 1,
        "pythonPackageSpec": {
            "executorImageUri": "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-0:latest",
            "packageUris": [str(sdist), str(wheel)], "pythonModule": "trainer.task",
            "args": ["--lr=0.1"], "env": [{"name": "MODE", "value": "ok"}]},
    }])
    result = vt.pipelines.run_training_pipeline(request)
    assert result.state == "PIPELINE_STATE_SUCCEEDED", result.error
    assert snapshot(result.model.load())["argv"] == ["--lr=0.1"]
    logs = next(a for a in producer(result.model).get_output_artifacts()
                if a.display_name.endswith("-logs"))
    assert "helper 42" in logs.load().read_text()


def test_two_replicas_get_cluster_spec_and_tf_config(
    data: vt.Artifact, train: Path, tmp_path: Path,
) -> None:
    result = vt.pipelines.run_training_pipeline(custom(tmp_path, [pool(train, replicas=2)]))
    assert result.state == "PIPELINE_STATE_SUCCEEDED", result.error
    model_dir = result.model.load()
    first, second = snapshot(model_dir, 0), snapshot(model_dir, 1)
    addresses = first["cluster_spec"]["cluster"]["workerpool0"]
    assert len(addresses) == 2 and len(set(addresses)) == 2
    assert first["cluster_spec"]["task"] == {"type": "workerpool0", "index": 0}
    assert second["cluster_spec"]["task"] == {"type": "workerpool0", "index": 1}
    assert first["cluster_spec"]["environment"] == "cloud"
    assert first["tf_config"]["cluster"] == {"chief": [addresses[0]], "worker": [addresses[1]]}
    assert first["tf_config"]["task"] == {"type": "chief", "index": 0}
    assert second["tf_config"]["task"] == {"type": "worker", "index": 0}
    codes = producer(result.model).metadata["vertex_track"]["exit_codes"]
    assert codes == {"workerpool0-0": 0, "workerpool0-1": 0}


def test_scheduling_timeout_stops_the_job(data: vt.Artifact, train: Path, tmp_path: Path) -> None:
    result = vt.pipelines.run_training_pipeline(
        custom(tmp_path, [pool(train, env={"MODE": "sleep"})], timeout="1s")
    )
    assert result.state == "PIPELINE_STATE_FAILED"
    assert "custom job failed: the job exceeded scheduling.timeout (1s)" in result.error
    assert result.model is None
    assert result.pipeline_run.state.value == "FAILED"
    job = next(e for e in result.pipeline_run.get_executions() if e.display_name == "custom-job")
    assert job.state.value == "FAILED" and job.metadata["vertex_track"]["timed_out"] is True


def test_non_zero_exit_fails_with_the_end_of_stderr(
    data: vt.Artifact, train: Path, tmp_path: Path,
) -> None:
    result = vt.pipelines.run_training_pipeline(
        custom(tmp_path, [pool(train, env={"MODE": "crash"})])
    )
    assert result.state == "PIPELINE_STATE_FAILED"
    assert "replica workerpool0-0" in result.error and "exited with code 3" in result.error
    assert "ValueError: the data has no label column" in result.error
    job = next(e for e in result.pipeline_run.get_executions() if e.display_name == "custom-job")
    assert job.state.value == "FAILED"
    assert "exited with code 3" in job.metadata["vertex_track"]["error_message"]
    assert [a.display_name for a in job.get_output_artifacts()] == ["custom-job-logs"]
    assert vt.Artifact.list('schema_title = "system.Model"') == []


def test_model_artifact_uri_wins_over_model_dir(
    data: vt.Artifact, train: Path, tmp_path: Path,
) -> None:
    elsewhere = tmp_path / "exported"
    request = custom(tmp_path, [pool(train, env={"MODEL_OUT": str(elsewhere)})],
                     model={"displayName": "exported", "artifactUri": str(elsewhere)})
    result = vt.pipelines.run_training_pipeline(request)
    assert result.state == "PIPELINE_STATE_SUCCEEDED", result.error
    assert result.model.metadata["source_uri"] == str(elsewhere)
    assert (result.model.load() / "env-0.json").exists()


def test_nothing_in_the_model_dir_fails_the_upload(
    data: vt.Artifact, tmp_path: Path,
) -> None:
    script = tmp_path / "noop.py"
    script.write_text("print('trained, saved nothing')\n")
    result = vt.pipelines.run_training_pipeline(custom(tmp_path, [pool(script)]))
    assert result.state == "PIPELINE_STATE_FAILED"
    assert "modelToUpload: nothing to upload: AIP_MODEL_DIR" in result.error
    assert str(tmp_path / "out" / "model") in result.error


def test_tensorboard_scalars_become_time_series(data: vt.Artifact, tmp_path: Path) -> None:
    pytest.importorskip("tensorboardX")
    pytest.importorskip("tensorboard")
    script = tmp_path / "tb.py"
    script.write_text(TENSORBOARD_TRAIN)
    result = vt.pipelines.run_training_pipeline(custom(tmp_path, [pool(script)], name="tb-job"))
    assert result.state == "PIPELINE_STATE_SUCCEEDED", result.error
    (run,) = vt.ExperimentRun.list(experiment="tb-job")
    frame = run.get_time_series_data_frame()
    assert list(frame["step"]) == [0, 1, 2]
    assert [round(v, 3) for v in frame["loss"]] == [0.9, 0.5, 0.25]


# -- hyperparameter tuning --------------------------------------------------------------------
def test_grid_search_trials_lineage_and_experiment_frame(
    data: vt.Artifact, train: Path, tmp_path: Path,
) -> None:
    pytest.importorskip("hypertune")  # the cloudml-hypertune package, used unchanged
    params = [
        {"parameterId": "depth", "integerValueSpec": {"minValue": 1, "maxValue": 2}},
        {"parameterId": "kind", "categoricalValueSpec": {"values": ["a", "b"]}},
    ]
    request = tuning(tmp_path, train, params, algorithm="GRID_SEARCH", max_trials=10)
    result = vt.pipelines.run_training_pipeline(request)

    assert result.state == "PIPELINE_STATE_SUCCEEDED", result.error
    assert [t.id for t in result.trials] == ["1", "2", "3", "4"]  # the grid ran out first
    assert [t.parameters for t in result.trials] == [
        {"depth": 1, "kind": "a"}, {"depth": 1, "kind": "b"},
        {"depth": 2, "kind": "a"}, {"depth": 2, "kind": "b"}]
    assert all(t.state == "SUCCEEDED" for t in result.trials)
    # The last value reported for the tag: depth - (0.3 - 0.3)^2 + 0.5 for kind b.
    assert [t.final_measurement["score"] for t in result.trials] == [1.0, 1.5, 2.0, 2.5]
    best = result.best_trial
    assert best is not None and best.id == "4"

    env = snapshot(result.model.load())
    assert env["CLOUD_ML_TRIAL_ID"] == "4"
    assert env["AIP_MODEL_DIR"] == str(tmp_path / "out" / "4" / "model")
    assert env["argv"] == ["--depth=2", "--kind=b"]
    assert env["cluster_spec"]["task"]["trial"] == "4"
    assert producer(result.model).name == best.execution.name
    assert result.model.metadata["trial_id"] == "4"

    # Upstream lineage of the model: best trial -> split datasets -> split -> the raw data.
    out = CliRunner().invoke(app, ["lineage", result.model.resource_id, "--direction", "up",
                                   "--format", "tree"])
    assert out.exit_code == 0, out.stdout
    lines = out.stdout.splitlines()
    order = [next(i for i, ln in enumerate(lines) if re.search(pattern, ln)) for pattern in (
        r"^Model best-model", r"← trial-4 \[COMPLETE\]", r"Dataset (training|validation|test)",
        r"← split-dataset \[COMPLETE\]", r"Dataset raw-data")]
    assert order == sorted(order), out.stdout
    for name in ("training", "validation", "test"):
        assert f"Dataset {name}" in out.stdout
    assert "depth=2" in out.stdout and "kind=b" in out.stdout

    frame = vt.get_experiment_df("tuning-job")
    assert len(frame) == 4
    assert list(frame["param.depth"]) == [1, 1, 2, 2]
    assert list(frame["param.kind"]) == ["a", "b", "a", "b"]
    assert list(frame["metric.score"]) == [1.0, 1.5, 2.0, 2.5]
    assert set(frame["state"]) == {"COMPLETE"}


def test_random_search_is_seeded_and_within_bounds(
    data: vt.Artifact, train: Path, tmp_path: Path,
) -> None:
    params = [{"parameterId": "lr", "scaleType": "UNIT_LOG_SCALE",
               "doubleValueSpec": {"minValue": 0.01, "maxValue": 1.0}}]
    result = vt.pipelines.run_training_pipeline(
        tuning(tmp_path, train, params, algorithm="RANDOM_SEARCH", max_trials=4, parallel=2))
    assert result.state == "PIPELINE_STATE_SUCCEEDED", result.error
    lrs = [t.parameters["lr"] for t in result.trials]
    assert len(lrs) == 4 and len(set(lrs)) == 4 and all(0.01 <= v <= 1.0 for v in lrs)
    best = result.best_trial
    assert best is not None
    assert best.final_measurement["score"] == max(
        t.final_measurement["score"] for t in result.trials)
    # Seeded: the same request samples the same values.
    from vertex_track.pipelines.request import parse_request
    from vertex_track.pipelines.samplers import make_sampler

    study = parse_request(tuning(tmp_path, train, params, algorithm="RANDOM_SEARCH",
                                 max_trials=4)).tuning.study_spec  # type: ignore[union-attr]
    sampler = make_sampler(study)
    assert [sampler.ask()[1]["lr"] for _ in range(4)] == lrs  # type: ignore[index]


def test_bayesian_search_with_optuna(data: vt.Artifact, train: Path, tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    params = [
        {"parameterId": "lr", "doubleValueSpec": {"minValue": 0.0, "maxValue": 1.0}},
        {"parameterId": "depth", "discreteValueSpec": {"values": [1, 2, 4]}},
    ]
    result = vt.pipelines.run_training_pipeline(
        tuning(tmp_path, train, params, algorithm="ALGORITHM_UNSPECIFIED", max_trials=5,
               parallel=1))
    assert result.state == "PIPELINE_STATE_SUCCEEDED", result.error
    assert len(result.trials) == 5 and all(t.state == "SUCCEEDED" for t in result.trials)
    assert {t.parameters["depth"] for t in result.trials} <= {1.0, 2.0, 4.0}
    scores = {t.id: t.final_measurement["score"] for t in result.trials}
    assert result.best_trial is not None and scores[result.best_trial.id] == max(scores.values())


def test_trial_states_succeeded_infeasible_failed(
    data: vt.Artifact, train: Path, tmp_path: Path,
) -> None:
    params = [{"parameterId": "mode", "categoricalValueSpec": {
        "values": ["ok", "noreport", "crash"]}}]
    result = vt.pipelines.run_training_pipeline(
        tuning(tmp_path, train, params, algorithm="GRID_SEARCH", max_trials=3, parallel=3,
               max_failed=5))
    assert result.state == "PIPELINE_STATE_SUCCEEDED", result.error
    states = {t.parameters["mode"]: t for t in result.trials}
    assert states["ok"].state == "SUCCEEDED"
    assert states["noreport"].state == "INFEASIBLE"
    assert "without reporting the metric 'score'" in (states["noreport"].error or "")
    assert states["crash"].state == "FAILED" and "exited with code 3" in (
        states["crash"].error or "")
    assert states["crash"].execution.state.value == "FAILED"
    assert result.best_trial is states["ok"]


def test_failing_trials_exhaust_the_budget(data: vt.Artifact, train: Path, tmp_path: Path) -> None:
    params = [{"parameterId": "depth", "integerValueSpec": {"minValue": 1, "maxValue": 9}}]
    request = tuning(tmp_path, train, params, algorithm="GRID_SEARCH", max_trials=9,
                     parallel=1, max_failed=1)
    request["trainingTaskInputs"]["trialJobSpec"]["workerPoolSpecs"] = [
        pool(train, env={"MODE": "crash"})]
    result = vt.pipelines.run_training_pipeline(request)
    assert result.state == "PIPELINE_STATE_FAILED"
    assert len(result.trials) == 2  # the third was never started
    assert result.error.startswith("2 trials failed, more than maxFailedTrialCount (1)")
    assert "ValueError: the data has no label column" in result.error
    assert result.model is None and result.best_trial is None
    frame = vt.get_experiment_df("tuning-job")
    assert list(frame["state"]) == ["FAILED", "FAILED"]
    assert result.pipeline_run.state.value == "FAILED"


# -- entry points -------------------------------------------------------------------------------
def test_wait_false_returns_at_once_and_fills_in(
    data: vt.Artifact, train: Path, tmp_path: Path,
) -> None:
    result = vt.pipelines.run_training_pipeline(custom(tmp_path, [pool(train)]), wait=False)
    assert result.wait(timeout=120) is result
    assert result.done() and result.state == "PIPELINE_STATE_SUCCEEDED", result.error
    assert result.model is not None


def _load_flow_module(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"vt_test_{name}", ROOT / "flows" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_flows_folder_entry_points(data: vt.Artifact, train: Path, tmp_path: Path) -> None:
    training = _load_flow_module("training_pipeline")
    summary = training.training_pipeline(custom(tmp_path, [pool(train)]))
    assert summary["state"] == "PIPELINE_STATE_SUCCEEDED" and summary["model"]
    assert vt.PipelineRun.get(summary["pipeline_run"]).flow_name == "training-pipeline"

    tuning_flow = _load_flow_module("hyperparameter_tuning")
    with pytest.raises(vt.InvalidArgumentError, match="this flow runs hyperparameter tuning"):
        tuning_flow.hyperparameter_tuning(custom(tmp_path, [pool(train)]))


def test_flows_folder_command_line(
    data: vt.Artifact, train: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    training = _load_flow_module("training_pipeline")
    assert training.main([]) == 2
    assert "usage: python flows/training_pipeline.py REQUEST.json" in capsys.readouterr().err
    request = tmp_path / "request.json"
    request.write_text(json.dumps(custom(tmp_path, [pool(train)])))
    assert training.main([str(request)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["state"] == "PIPELINE_STATE_SUCCEEDED"


# -- the command line ----------------------------------------------------------------------------
def test_cli_run_list_show(data: vt.Artifact, train: Path, tmp_path: Path) -> None:
    cli = CliRunner()
    good = tmp_path / "good.json"
    params = [{"parameterId": "depth", "integerValueSpec": {"minValue": 1, "maxValue": 2}}]
    good.write_text(json.dumps(tuning(tmp_path, train, params, algorithm="GRID_SEARCH",
                                      max_trials=2, name="cli-tuning")))
    out = cli.invoke(app, ["pipelines", "run", str(good), "--json"])
    assert out.exit_code == 0, (out.stdout, out.stderr)
    summary = json.loads(out.stdout)
    assert summary["state"] == "PIPELINE_STATE_SUCCEEDED" and summary["best_trial"] == "2"
    assert "trial 2 SUCCEEDED (2)" in out.stderr  # progress lines when stderr is not a terminal

    bad = tmp_path / "bad.json"
    body = json.loads(good.read_text())
    body["trainingTaskInputs"]["studySpec"]["parameters"][0]["integerValueSpec"]["minValue"] = 5
    bad.write_text(json.dumps(body))
    out = cli.invoke(app, ["pipelines", "run", str(bad)])
    assert out.exit_code == 2
    assert "trainingTaskInputs.studySpec.parameters[0].integerValueSpec.minValue" in out.stderr

    failing = tmp_path / "failing.json"
    failing.write_text(json.dumps(custom(tmp_path, [pool(train, env={"MODE": "crash"})],
                                         name="cli-crash")))
    out = cli.invoke(app, ["pipelines", "run", str(failing)])
    assert out.exit_code == 4
    assert "state: FAILED" in out.stdout and "exited with code 3" in out.stdout

    rows = json.loads(cli.invoke(app, ["pipelines", "list", "--json"]).stdout)
    assert [(r["display_name"], r["state"]) for r in rows] == [
        ("cli-crash", "PIPELINE_STATE_FAILED"), ("cli-tuning", "PIPELINE_STATE_SUCCEEDED")]
    plain = cli.invoke(app, ["pipelines", "list"])
    assert plain.stdout.splitlines()[0].split("\t")[:4] == ["PIPELINE", "KIND", "STATE", "TRIALS"]
    assert "cli-tuning\ttuning\tSUCCEEDED\t2/2" in plain.stdout

    shown = json.loads(cli.invoke(app, ["pipelines", "show", "cli-tuning", "--json"]).stdout)
    assert [t["parameters"] for t in shown["trials"]] == [{"depth": 1}, {"depth": 2}]
    assert shown["model"] == summary["model"]
    text = cli.invoke(app, ["pipelines", "show", "cli-tuning"]).stdout
    assert "# Trials (2)" in text and "TRIAL\tSTATE\tdepth\tscore" in text
    missing = cli.invoke(app, ["pipelines", "show", "cli-tunin"])
    assert missing.exit_code == 1 and "did you mean 'cli-tuning'" in missing.stderr


def test_pipelines_help_explains_itself() -> None:
    out = CliRunner().invoke(app, ["pipelines", "run", "--help"])
    assert out.exit_code == 0
    assert "trainingPipelines.create" in out.stdout and "Exit" in out.stdout
