"""Vertex AI Experiments through ``vertex-track serve``, driven by Google's real SDK.

The SDK (``google-cloud-aiplatform``, REST transport, plain HTTP) logs an
experiment against a real server on a free port; what it wrote is read back
with ``vt.*`` on the same store, and an experiment logged with ``vt.*`` is
read with the SDK. The samples are those of the SDK's ``ExperimentRun``
reference page, unchanged but for ``aiplatform.init`` pointing at the server.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("google.cloud.aiplatform")
pytest.importorskip("pandas")

import google.auth.credentials
from google.cloud import aiplatform
from serve_server import LOCATION, PROJECT, running_server

import vertex_track as vt


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(server URL, store URI): a server over a fresh store; vt.* reads the same store."""
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'metadata.db'}"
    else:
        uri = request.getfixturevalue("postgres_url")
    with running_server(uri) as srv:
        vt.init(store_uri=uri, project=PROJECT, location=LOCATION,
                artifact_root=str(tmp_path / "a"))
        try:
            yield srv.url, uri
        finally:
            aiplatform.metadata.metadata._experiment_tracker.reset()


def init_sdk(url: str, **kwargs: Any) -> None:
    """The one change the SDK's samples need: ``aiplatform.init`` pointed at the server."""
    aiplatform.init(
        project=PROJECT, location=LOCATION, api_endpoint=url, api_transport="rest",
        credentials=google.auth.credentials.AnonymousCredentials(), **kwargs,
    )


def frame_rows(df: Any) -> list[dict[str, Any]]:
    """A DataFrame's rows as dicts (NaN dropped), for comparisons."""
    return [{k: v for k, v in row.items() if not (isinstance(v, float) and math.isnan(v))}
            for row in df.to_dict("records")]


# -- the SDK writes, vt reads -----------------------------------------------------------------
def test_sdk_experiment_is_read_back_by_vt(server: tuple[str, str]) -> None:
    url, _ = server
    init_sdk(url, experiment="exp1")
    aiplatform.start_run("run-1")
    aiplatform.log_params({"optimizer": "adam", "epochs": 3, "lr": 0.01})
    aiplatform.log_metrics({"loss": 0.1, "accuracy": 0.9})
    aiplatform.log_classification_metrics(
        labels=["cat", "dog"], matrix=[[9, 1], [1, 9]], fpr=[0.1, 0.5, 0.9],
        tpr=[0.1, 0.7, 0.9], threshold=[0.9, 0.5, 0.1], display_name="cm-1",
    )
    for step in range(3):
        aiplatform.log_time_series_metrics({"train_loss": 0.5 / (step + 1), "acc": 0.1 * step},
                                           step=step)
    aiplatform.end_run()

    # vt reads what the SDK wrote
    df = vt.get_experiment_df("exp1")
    (row,) = frame_rows(df)
    assert row == {
        "experiment_name": "exp1", "run_name": "run-1", "run_type": "system.ExperimentRun",
        "state": "COMPLETE", "param.optimizer": "adam", "param.epochs": 3, "param.lr": 0.01,
        "metric.loss": 0.1, "metric.accuracy": 0.9,
        "time_series_metric.acc": pytest.approx(0.2), "time_series_metric.train_loss": pytest.approx(0.5 / 3),
    }
    run = vt.ExperimentRun("run-1", experiment="exp1")
    assert run.get_params() == {"optimizer": "adam", "epochs": 3, "lr": 0.01}
    assert run.get_metrics() == {"loss": 0.1, "accuracy": 0.9}
    assert run.state.value == "COMPLETE"
    ts = run.get_time_series_data_frame()
    assert list(ts.columns) == ["step", "wall_time", "acc", "train_loss"]
    assert ts["step"].tolist() == [0, 1, 2]
    assert ts["train_loss"].tolist() == pytest.approx([0.5, 0.25, 0.5 / 3])
    (cm,) = run.get_classification_metrics()
    assert cm["display_name"] == "cm-1" and cm["labels"] == ["cat", "dog"]
    assert cm["matrix"] == [[9, 1], [1, 9]] and cm["fpr"] == [0.1, 0.5, 0.9]
    assert cm["tpr"] == [0.1, 0.7, 0.9] and cm["thresholds"] == [0.9, 0.5, 0.1]

    # and the SDK reads it back the same way
    sdk_df = aiplatform.get_experiment_df("exp1")
    assert frame_rows(sdk_df) == frame_rows(df)
    sdk_run = aiplatform.ExperimentRun("run-1", experiment="exp1")
    sdk_ts = sdk_run.get_time_series_data_frame()
    assert sdk_ts["train_loss"].tolist() == pytest.approx(ts["train_loss"].tolist())
    assert sdk_ts["step"].tolist() == [0, 1, 2]
    assert (sdk_ts["wall_time"] == ts["wall_time"]).all()
    assert sdk_run.get_state() == "COMPLETE"


def test_experiment_run_reference_samples_run_as_written(server: tuple[str, str]) -> None:
    url, _ = server
    init_sdk(url, experiment="my-experiment")  # creates the experiment, as init does on Vertex

    my_run = aiplatform.ExperimentRun.create('my-run', experiment='my-experiment')
    my_run = aiplatform.ExperimentRun('my-run', experiment='my-experiment')
    my_run.log_params({'learning_rate': 0.1, 'dropout_rate': 0.2})
    my_run.log_metrics({'accuracy': 0.9, 'recall': 0.8})
    run = my_run
    run.log_time_series_metrics({'accuracy': 0.9}, step=10)
    classification_metrics = my_run.log_classification_metrics(
        display_name='my-classification-metrics',
        labels=['cat', 'dog'],
        matrix=[[9, 1], [1, 9]],
        fpr=[0.1, 0.5, 0.9],
        tpr=[0.1, 0.7, 0.9],
        threshold=[0.9, 0.5, 0.1],
    )
    metric = my_run.get_classification_metrics()[0]
    my_run.update_state(state=aiplatform.gapic.Execution.State.COMPLETE)
    my_runs = aiplatform.ExperimentRun.list(experiment='my-experiment')

    assert classification_metrics is not None
    assert metric["display_name"] == "my-classification-metrics"
    assert metric["matrix"] == [[9, 1], [1, 9]] and metric["threshold"] == [0.9, 0.5, 0.1]
    assert [r.name for r in my_runs] == ["my-run"]
    assert my_runs[0].get_time_series_data_frame()["accuracy"].tolist() == [0.9]

    vt_run = vt.ExperimentRun("my-run", experiment="my-experiment")
    assert vt_run.get_params() == {"learning_rate": 0.1, "dropout_rate": 0.2}
    assert vt_run.get_metrics() == {"accuracy": 0.9, "recall": 0.8}
    assert vt_run.state.value == "COMPLETE"
    ts = vt_run.get_time_series_data_frame()
    assert ts["step"].tolist() == [10] and ts["accuracy"].tolist() == [0.9]
    assert vt_run.get_classification_metrics()[0]["labels"] == ["cat", "dog"]
    assert [r.name for r in vt.ExperimentRun.list(experiment="my-experiment")] == ["my-run"]


# -- vt writes, the SDK reads -----------------------------------------------------------------
def test_vt_experiment_is_visible_to_the_sdk(server: tuple[str, str]) -> None:
    url, _ = server
    with vt.start_run("lr-1", experiment="churn"):
        vt.log_params({"lr": 0.1, "solver": "sgd"})
        for step, loss in enumerate([0.9, 0.6, 0.4]):
            vt.log_time_series_metrics({"loss": loss}, step=step)
        vt.log_metrics({"accuracy": 0.93})
        vt.log_classification_metrics(labels=["no", "yes"], matrix=[[50, 3], [4, 43]],
                                      display_name="cm")

    init_sdk(url)
    df = aiplatform.get_experiment_df("churn")
    (row,) = frame_rows(df)
    assert row == {
        "experiment_name": "churn", "run_name": "lr-1", "run_type": "system.ExperimentRun",
        "state": "COMPLETE", "param.lr": 0.1, "param.solver": "sgd", "metric.accuracy": 0.93,
        "time_series_metric.loss": 0.4,
    }
    assert frame_rows(vt.get_experiment_df("churn")) == [row]
    run = aiplatform.ExperimentRun("lr-1", experiment="churn")
    assert run.get_params() == {"lr": 0.1, "solver": "sgd"}
    assert run.get_metrics() == {"accuracy": 0.93}
    ts = run.get_time_series_data_frame()
    assert ts["step"].tolist() == [0, 1, 2] and ts["loss"].tolist() == [0.9, 0.6, 0.4]
    (cm,) = run.get_classification_metrics()
    assert cm["display_name"] == "cm" and cm["matrix"] == [[50, 3], [4, 43]]
    # the SDK logs on into the run vt started: same run context, same series
    init_sdk(url, experiment="churn")
    aiplatform.start_run("lr-1", resume=True)
    aiplatform.log_time_series_metrics({"loss": 0.3}, step=3)
    aiplatform.end_run()
    assert vt.ExperimentRun("lr-1", "churn").get_time_series_data_frame()["loss"].tolist() == [
        0.9, 0.6, 0.4, 0.3]


# -- conformance: the same operations through the SDK and through vt --------------------------
def test_sdk_and_vt_leave_equal_records(server: tuple[str, str]) -> None:
    url, _ = server
    init_sdk(url, experiment="conf")
    aiplatform.start_run("sdk")
    aiplatform.log_params({"lr": 0.1, "opt": "adam"})
    aiplatform.log_metrics({"acc": 0.5})
    aiplatform.log_time_series_metrics({"loss": 1.0}, step=1)
    aiplatform.log_time_series_metrics({"loss": 0.5}, step=2)
    aiplatform.log_classification_metrics(labels=["a", "b"], matrix=[[1, 2], [3, 4]],
                                          display_name="cm")
    aiplatform.end_run()

    with vt.start_run("vt", experiment="conf"):
        vt.log_params({"lr": 0.1, "opt": "adam"})
        vt.log_metrics({"acc": 0.5})
        vt.log_time_series_metrics({"loss": 1.0}, step=1)
        vt.log_time_series_metrics({"loss": 0.5}, step=2)
        vt.log_classification_metrics(labels=["a", "b"], matrix=[[1, 2], [3, 4]],
                                      display_name="cm")

    exp = vt.Context.get("conf")
    runs = {c.display_name: c for c in vt.Context.list('schema_title = "system.ExperimentRun"')}
    for ctx in runs.values():
        assert ctx.schema_title == "system.ExperimentRun"
        assert ctx.parent_contexts == [exp.name]
        assert ctx.resource_id == f"conf-{ctx.display_name}"
    assert runs["sdk"].metadata == runs["vt"].metadata == {
        "_params": {"lr": 0.1, "opt": "adam"}, "_metrics": {"acc": 0.5}, "_state": "COMPLETE"}
    for name in ("sdk", "vt"):
        run = vt.ExperimentRun(name, "conf")
        ts = run.get_time_series_data_frame()
        assert ts[["step", "loss"]].to_dict("list") == {"step": [1, 2], "loss": [1.0, 0.5]}
        (cm,) = vt.Artifact.list(
            f'schema_title = "google.ClassificationMetrics" AND in_context("{run.resource_name}")')
        assert cm.display_name == "cm"
        assert cm.metadata["confusionMatrix"] == {
            "annotationSpecs": [{"displayName": "a"}, {"displayName": "b"}],
            "rows": [[1, 2], [3, 4]]}
    df = aiplatform.get_experiment_df("conf")
    rows = {r["run_name"]: r for r in frame_rows(df)}
    assert {k: v for k, v in rows["sdk"].items() if k != "run_name"} == {
        k: v for k, v in rows["vt"].items() if k != "run_name"}


def test_sdk_deletes_runs_with_their_time_series(server: tuple[str, str]) -> None:
    url, _ = server
    init_sdk(url, experiment="gone")
    aiplatform.start_run("sdk-run")
    aiplatform.log_time_series_metrics({"loss": 1.0}, step=1)
    aiplatform.end_run()
    with vt.start_run("vt-run", experiment="gone"):
        vt.log_time_series_metrics({"loss": 2.0}, step=1)

    for name in ("sdk-run", "vt-run"):
        aiplatform.ExperimentRun(name, experiment="gone").delete(delete_backing_tensorboard_run=True)
        with pytest.raises(vt.NotFoundError):
            vt.ExperimentRun(name, experiment="gone")
    assert vt.Artifact.list('schema_title = "google.VertexTensorboardRun"') == []
    assert aiplatform.get_experiment_df("gone").empty
