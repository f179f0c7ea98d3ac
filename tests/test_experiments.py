"""Experiments (the Vertex AI SDK's ``ExperimentRun``, 1.26.0): every method, its behaviour and errors.

Runs on SQLite and PostgreSQL through the ``store`` fixture. The link between
a Prefect flow run and the active run is tested with the tracking package.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import vertex_track as vt
from vertex_track import config
from vertex_track.context import current_run_context
from vertex_track.experiments import time_series, tracker
from vertex_track.store.base import MetadataStore
from vertex_track.store.sql import tables as t

PREFIX = "projects/local/locations/local/metadataStores/default"


@pytest.fixture(autouse=True)
def _clean_experiment_state() -> Iterator[None]:
    yield
    tracker._reset()
    for buf in list(time_series._registry.values()):
        buf.discard()
    time_series._registry.clear()


@pytest.fixture
def exp(store: MetadataStore) -> str:
    config.init(experiment="exp")
    return "exp"


def stored_points(store: Any, run: vt.ExperimentRun) -> int:
    from sqlalchemy import func, select

    ts, c = t.time_series, t.contexts
    with store.read() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(ts.join(c, c.c.id == ts.c.context_id))
                .where(c.c.resource_id == run.resource_id)
            ).scalar_one()
        )


# -- create / get / list / properties ------------------------------------------------------
def test_create_makes_experiment_and_run_contexts(store: MetadataStore) -> None:
    run = vt.ExperimentRun.create("run-1", experiment="my-experiment")
    assert run.name == "run-1"
    assert run.resource_id == "my-experiment-run-1"
    assert run.resource_name == f"{PREFIX}/contexts/my-experiment-run-1"
    assert (run.project, run.location, run.credentials) == ("local", "local", None)
    assert run.state == vt.ExecutionState.RUNNING and run.state == "RUNNING"

    experiment = vt.Context.get("my-experiment")
    assert experiment.schema_title == "system.Experiment"
    context = vt.Context.get(run.resource_name)
    assert context.schema_title == "system.ExperimentRun"
    assert context.display_name == "run-1"
    assert context.parent_contexts == [experiment.name]
    assert context.metadata == {"_params": {}, "_metrics": {}, "_state": "RUNNING"}


def test_create_with_state_and_existing_experiment(store: MetadataStore) -> None:
    vt.ExperimentRun.create("a", experiment="e")
    run = vt.ExperimentRun.create("b", experiment="e", state="COMPLETE")
    assert run.state == "COMPLETE"
    assert len(vt.Context.list('schema_title = "system.Experiment"')) == 1


def test_create_existing_run_raises_already_exists(store: MetadataStore) -> None:
    vt.ExperimentRun.create("run-1", experiment="e")
    with pytest.raises(vt.AlreadyExistsError, match="resume=True"):
        vt.ExperimentRun.create("run-1", experiment="e")


def test_constructor_reads_an_existing_run(store: MetadataStore) -> None:
    created = vt.ExperimentRun.create("run-1", experiment="e")
    created.log_params({"lr": 0.1})
    run = vt.ExperimentRun("run-1", experiment="e")
    assert run == created and run.resource_name == created.resource_name
    assert run.get_params() == {"lr": 0.1}
    assert "run-1" in repr(run)


def test_constructor_missing_run_or_experiment_raises_not_found(store: MetadataStore) -> None:
    vt.ExperimentRun.create("run-1", experiment="e")
    with pytest.raises(vt.NotFoundError, match="run-2"):
        vt.ExperimentRun("run-2", experiment="e")
    with pytest.raises(LookupError, match="experiment 'nope' does not exist"):
        vt.ExperimentRun("run-1", experiment="nope")


def test_get_returns_none_when_missing(store: MetadataStore) -> None:
    assert vt.ExperimentRun.get("run-1", experiment="e") is None
    vt.ExperimentRun.create("run-1", experiment="e")
    assert vt.ExperimentRun.get("run-1", experiment="e").name == "run-1"
    assert vt.ExperimentRun.get("other", experiment="e") is None


def test_list_runs_of_one_experiment_in_creation_order(store: MetadataStore) -> None:
    for name in ("c", "a", "b"):
        vt.ExperimentRun.create(name, experiment="e1")
    vt.ExperimentRun.create("x", experiment="e2")
    assert [r.name for r in vt.ExperimentRun.list(experiment="e1")] == ["c", "a", "b"]
    assert [r.name for r in vt.ExperimentRun.list(experiment="e2")] == ["x"]
    with pytest.raises(vt.NotFoundError):
        vt.ExperimentRun.list(experiment="missing")


def test_default_experiment_comes_from_init(store: MetadataStore) -> None:
    with pytest.raises(vt.InvalidArgumentError, match=r"vt\.init"):
        vt.ExperimentRun.create("run-1")
    config.init(experiment="from-init")
    run = vt.ExperimentRun.create("run-1")
    assert run.resource_id == "from-init-run-1"
    assert [r.name for r in vt.ExperimentRun.list()] == ["run-1"]
    assert vt.ExperimentRun.get("run-1").name == "run-1"


@pytest.mark.parametrize("bad", ["My-Exp", "1exp", "-exp", "e" * 64, "exp.1", ""])
def test_invalid_experiment_name(store: MetadataStore, bad: str) -> None:
    with pytest.raises(vt.InvalidArgumentError, match="experiment"):
        vt.ExperimentRun.create("run", experiment=bad)


@pytest.mark.parametrize("bad", ["Run", "run 1", "r" * 60, "run/1", ""])
def test_invalid_run_name(store: MetadataStore, bad: str) -> None:
    with pytest.raises(vt.InvalidArgumentError, match="run_name"):
        vt.ExperimentRun.create(bad, experiment="exp")


def test_experiment_name_taken_by_another_kind_of_context(store: MetadataStore) -> None:
    vt.Context.create("system.PipelineRun", resource_id="taken")
    with pytest.raises(vt.InvalidArgumentError, match=r"system\.PipelineRun"):
        vt.ExperimentRun.create("run", experiment="taken")


def test_experiment_given_as_context(store: MetadataStore) -> None:
    vt.ExperimentRun.create("a", experiment="e")
    experiment = vt.Context.get("e")
    assert vt.ExperimentRun("a", experiment=experiment).name == "a"


# -- params and metrics ----------------------------------------------------------------------
def test_log_params_overwrites_same_key(store: MetadataStore) -> None:
    run = vt.ExperimentRun.create("run", experiment="e")
    run.log_params({"learning_rate": 0.1, "dropout_rate": 0.2})
    run.log_params({"learning_rate": 0.01, "optimizer": "adam", "epochs": 10})
    assert run.get_params() == {
        "learning_rate": 0.01, "dropout_rate": 0.2, "optimizer": "adam", "epochs": 10,
    }
    assert vt.Context.get(run.resource_name).metadata["_params"]["learning_rate"] == 0.01


def test_log_metrics_overwrites_same_key(store: MetadataStore) -> None:
    run = vt.ExperimentRun.create("run", experiment="e")
    run.log_metrics({"accuracy": 0.9, "recall": 0.8})
    run.log_metrics({"accuracy": 0.95, "note": "best"})
    assert run.get_metrics() == {"accuracy": 0.95, "recall": 0.8, "note": "best"}
    assert run.get_params() == {}


@pytest.mark.parametrize("method", ["log_params", "log_metrics"])
@pytest.mark.parametrize(
    "bad",
    [{1: 0.1}, {("a",): 1}, {"k": [1, 2]}, {"k": None}, {"k": {"a": 1}}, {"k": True}, {"k": b"x"}],
)
def test_log_params_and_metrics_type_errors(store: MetadataStore, method: str, bad: dict) -> None:
    run = vt.ExperimentRun.create("run", experiment="e")
    with pytest.raises(TypeError):
        getattr(run, method)(bad)
    assert run.get_params() == {} and run.get_metrics() == {}


@pytest.mark.parametrize("method", ["log_params", "log_metrics"])
def test_log_params_and_metrics_reject_non_dicts_and_nan(store: MetadataStore, method: str) -> None:
    run = vt.ExperimentRun.create("run", experiment="e")
    with pytest.raises(TypeError):
        getattr(run, method)([("a", 1)])
    with pytest.raises(ValueError, match="finite"):
        getattr(run, method)({"a": float("nan")})
    with pytest.raises(ValueError, match="non-empty"):
        getattr(run, method)({"": 1})


def test_numpy_scalars_are_accepted(store: MetadataStore) -> None:
    run = vt.ExperimentRun.create("run", experiment="e")
    run.log_metrics({"f32": np.float32(0.5), "i64": np.int64(3), "f64": np.float64(0.25)})
    assert run.get_metrics() == {"f32": 0.5, "i64": 3, "f64": 0.25}
    assert type(run.get_metrics()["i64"]) is int


def test_concurrent_log_metrics_lose_no_key(store: MetadataStore) -> None:
    run = vt.ExperimentRun.create("run", experiment="e")

    def work(n: int) -> None:
        other = vt.ExperimentRun("run", experiment="e")
        for i in range(20):
            other.log_metrics({f"t{n}-{i}": i})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(run.get_metrics()) == 80


def test_params_filterable_by_metadata(store: MetadataStore) -> None:
    run = vt.ExperimentRun.create("run", experiment="e")
    run.log_params({"lr": 0.1, "opt": "sgd"})
    vt.ExperimentRun.create("other", experiment="e").log_params({"lr": 0.5})
    try:
        found = vt.Context.list("metadata._params.lr.number_value = 0.1")
    except vt.FilterError:
        pytest.skip("metadata filters need the full filter compiler")
    assert [c.name for c in found] == [run.resource_name]
    done = vt.Context.list('metadata._state.string_value = "RUNNING"')
    assert len(done) == 2


# -- state -----------------------------------------------------------------------------------
def test_update_state_and_end_run(store: MetadataStore) -> None:
    run = vt.ExperimentRun.create("run", experiment="e")
    run.update_state(vt.ExecutionState.CANCELLED)
    assert run.state == "CANCELLED"
    run.update_state("running")
    assert run.state == vt.ExecutionState.RUNNING
    run.end_run()
    assert run.state == "COMPLETE"
    run.end_run(state="FAILED")
    assert vt.ExperimentRun("run", experiment="e").state == "FAILED"
    with pytest.raises(vt.InvalidArgumentError, match="state"):
        run.update_state("DONE")


def test_state_accepts_foreign_enums_by_name(store: MetadataStore) -> None:
    import enum

    class State(enum.Enum):  # like aiplatform.gapic.Execution.State
        COMPLETE = 3

    run = vt.ExperimentRun.create("run", experiment="e")
    run.update_state(State.COMPLETE)
    assert run.state == "COMPLETE"


# -- time series -----------------------------------------------------------------------------
def test_time_series_round_trip(store: MetadataStore) -> None:
    run = vt.ExperimentRun.create("run", experiment="e")
    for step in range(3):
        run.log_time_series_metrics({"loss": 1.0 / (step + 1), "accuracy": step / 10}, step=step)
    df = run.get_time_series_data_frame()
    assert list(df.columns) == ["step", "wall_time", "accuracy", "loss"]
    assert df["step"].tolist() == [0, 1, 2]
    assert df["loss"].tolist() == [1.0, 0.5, 1.0 / 3]
    assert df["accuracy"].tolist() == [0.0, 0.1, 0.2]
    assert str(df["wall_time"].dt.tz) == "UTC"
    assert stored_points(store, run) == 6


def test_default_step_is_latest_step_logged(store: MetadataStore) -> None:
    """As the SDK documents ``step=None``: the latest step among all time series already logged, 0 when none."""
    run = vt.ExperimentRun.create("run", experiment="e")
    run.log_time_series_metrics({"a": 1.0}, wall_time=100.0)
    run.log_time_series_metrics({"a": 2.0}, step=7, wall_time=101.0)
    run.log_time_series_metrics({"b": 3.0}, wall_time=102.0)
    run.log_time_series_metrics({"a": 4.0}, step=3, wall_time=103.0)
    run.log_time_series_metrics({"b": 5.0}, wall_time=104.0)
    df = run.get_time_series_data_frame()
    assert df["step"].tolist() == [0, 3, 7, 7, 7]
    assert df["b"].iloc[3:].tolist() == [3.0, 5.0]


def test_default_step_reads_points_written_by_an_earlier_process(store: MetadataStore) -> None:
    run = vt.ExperimentRun.create("run", experiment="e")
    run.log_time_series_metrics({"a": 1.0}, step=41)
    run.end_run()
    time_series._registry.clear()  # as in a fresh process
    again = vt.ExperimentRun("run", experiment="e")
    again.log_time_series_metrics({"a": 2.0})
    assert again.get_time_series_data_frame()["step"].tolist() == [41, 41]


def test_wall_time_forms(store: MetadataStore) -> None:
    run = vt.ExperimentRun.create("run", experiment="e")
    aware = dt.datetime(2024, 5, 1, 12, 0, 0, 250, tzinfo=dt.timezone.utc)
    run.log_time_series_metrics({"x": 1.0}, step=0, wall_time=aware)
    run.log_time_series_metrics({"x": 2.0}, step=1, wall_time=aware.timestamp() + 1)
    naive = dt.datetime(2024, 5, 1, 14, 0, 0)
    run.log_time_series_metrics({"x": 3.0}, step=2, wall_time=naive)

    class Timestamp:  # the shape of google.protobuf.timestamp_pb2.Timestamp
        seconds, nanos = 1_714_564_800, 500_000_000

    run.log_time_series_metrics({"x": 4.0}, step=3, wall_time=Timestamp())
    before = dt.datetime.now(dt.timezone.utc)
    run.log_time_series_metrics({"x": 5.0}, step=4)
    walls = run.get_time_series_data_frame()["wall_time"].tolist()
    assert walls[0] == pd.Timestamp(aware)
    assert walls[1] == pd.Timestamp(aware + dt.timedelta(seconds=1))
    assert walls[2] == pd.Timestamp(naive.astimezone(dt.timezone.utc))
    assert walls[3] == pd.Timestamp("2024-05-01T12:00:00.5Z")
    assert walls[4] >= pd.Timestamp(before) - pd.Timedelta(seconds=1)


def test_points_logged_in_one_call_share_a_row_first_value_wins(store: MetadataStore) -> None:
    run = vt.ExperimentRun.create("run", experiment="e")
    run.log_time_series_metrics({"a": 1.0, "b": 2.0}, step=5, wall_time=10.0)
    run.log_time_series_metrics({"a": 9.0}, step=5, wall_time=10.0)  # same row: first wins
    run.log_time_series_metrics({"a": 3.0}, step=5, wall_time=11.0)
    df = run.get_time_series_data_frame()
    assert df["step"].tolist() == [5, 5]
    assert df["a"].tolist() == [1.0, 3.0]
    assert df["b"].iloc[0] == 2.0 and math.isnan(df["b"].iloc[1])


def test_time_series_accepts_ints_and_numpy(store: MetadataStore) -> None:
    run = vt.ExperimentRun.create("run", experiment="e")
    run.log_time_series_metrics({"i": 3, "f": np.float32(0.5)}, step=np.int64(2))
    df = run.get_time_series_data_frame()
    assert df.loc[0, "i"] == 3.0 and df.loc[0, "f"] == 0.5 and df.loc[0, "step"] == 2


@pytest.mark.parametrize(
    ("metrics", "kwargs", "error"),
    [
        ({1: 1.0}, {}, TypeError),
        ({"a": "high"}, {}, TypeError),
        ({"a": True}, {}, TypeError),
        ({"a": None}, {}, TypeError),
        ({"a": float("nan")}, {}, ValueError),
        ({"a": float("inf")}, {}, ValueError),
        ({"": 1.0}, {}, ValueError),
        ({"a": 1.0}, {"step": -1}, ValueError),
        ({"a": 1.0}, {"step": 1.5}, TypeError),
        ({"a": 1.0}, {"step": True}, TypeError),
        ({"a": 1.0}, {"wall_time": "yesterday"}, TypeError),
        ([("a", 1.0)], {}, TypeError),
    ],
)
def test_time_series_validation(
    store: MetadataStore, metrics: Any, kwargs: dict, error: type[Exception]
) -> None:
    run = vt.ExperimentRun.create("run", experiment="e")
    run.log_time_series_metrics({"ok": 1.0}, step=0)
    with pytest.raises(error):
        run.log_time_series_metrics(metrics, **kwargs)
    assert stored_points(store, run) + time_series.pending_points() == 1


def test_empty_time_series_frame(store: MetadataStore) -> None:
    run = vt.ExperimentRun.create("run", experiment="e")
    run.log_time_series_metrics({})  # nothing to log
    df = run.get_time_series_data_frame()
    assert df.empty and list(df.columns) == ["step", "wall_time"]


def test_metric_names_needing_escapes_round_trip(store: MetadataStore) -> None:
    run = vt.ExperimentRun.create("run", experiment="e")
    names = ["tab\there", "back\\slash", "new\nline", "ünï cödé", "a,b;c'd\"e"]
    run.log_time_series_metrics({n: float(i) for i, n in enumerate(names)}, step=0)
    df = run.get_time_series_data_frame()
    assert sorted(df.columns[2:]) == sorted(names)
    assert [df.loc[0, n] for n in names] == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_points_are_buffered_then_written_by_reads_and_end_run(store: MetadataStore) -> None:
    run = vt.ExperimentRun.create("run", experiment="e")
    run.log_time_series_metrics({"a": 1.0}, step=0)
    assert time_series.pending_points() == 1
    assert len(run.get_time_series_data_frame()) == 1  # a read writes first
    assert stored_points(store, run) == 1
    run.log_time_series_metrics({"a": 2.0}, step=1)
    run.end_run()
    assert stored_points(store, run) == 2 and time_series.pending_points() == 0


def test_full_buffer_is_written_inline(store: MetadataStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time_series, "FLUSH_ROWS", 10)
    run = vt.ExperimentRun.create("run", experiment="e")
    for i in range(25):
        run.log_time_series_metrics({"a": float(i)}, step=i)
    assert stored_points(store, run) == 20
    assert time_series.pending_points() == 5


def test_background_thread_writes_old_points(store: MetadataStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time_series, "FLUSH_SECONDS", 0.05)
    run = vt.ExperimentRun.create("run", experiment="e")
    run.log_time_series_metrics({"a": 1.0}, step=0)
    deadline = time.monotonic() + 10
    while stored_points(store, run) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stored_points(store, run) == 1


def test_many_points_round_trip(store: MetadataStore) -> None:
    run = vt.ExperimentRun.create("run", experiment="e")
    n = 30_000
    for i in range(n):
        run.log_time_series_metrics({"loss": 1.0 / (i + 1), "acc": i / n}, step=i)
    df = run.get_time_series_data_frame()
    assert df.shape == (n, 4)
    assert df["step"].is_monotonic_increasing
    assert np.allclose(df["loss"].to_numpy(), 1.0 / (np.arange(n) + 1))


def test_points_survive_a_normal_process_exit(store_uri: str, store: MetadataStore, tmp_path: Path) -> None:
    """atexit writes what is still buffered when the interpreter exits."""
    script = textwrap.dedent(
        f"""
        import vertex_track as vt
        vt.init(store_uri={store_uri!r}, artifact_root={str(tmp_path / 'art')!r})
        run = vt.ExperimentRun.create("child", experiment="e")
        for i in range(1000):
            run.log_time_series_metrics({{"a": float(i)}}, step=i)
        raise SystemExit(3)  # no end_run, no flush
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERTEX_TRACK_")}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    run = vt.ExperimentRun("child", experiment="e")
    assert len(run.get_time_series_data_frame()) == 1000


def test_deleting_a_run_discards_its_buffered_points(store: MetadataStore) -> None:
    run = vt.ExperimentRun.create("run", experiment="e")
    run.log_time_series_metrics({"a": 1.0}, step=0)
    run.get_time_series_data_frame()
    run.log_time_series_metrics({"a": 2.0}, step=1)
    run.delete()
    assert time_series.pending_points() == 0
    recreated = vt.ExperimentRun.create("run", experiment="e")
    assert recreated.get_time_series_data_frame().empty


def test_points_of_a_run_deleted_elsewhere_raise_not_found(store: MetadataStore) -> None:
    run = vt.ExperimentRun.create("run", experiment="e")
    run.log_time_series_metrics({"a": 1.0}, step=0)
    run.get_time_series_data_frame()
    run.log_time_series_metrics({"a": 2.0}, step=1)
    vt.Context.get(run.resource_name).delete()  # another process deletes the run
    with pytest.raises(vt.NotFoundError):
        vt.experiments.flush_all()
    assert time_series.pending_points() == 0


# -- classification metrics --------------------------------------------------------------------
def test_log_classification_metrics(store: MetadataStore) -> None:
    run = vt.ExperimentRun.create("run", experiment="e")
    artifact = run.log_classification_metrics(
        display_name="my-classification-metrics",
        labels=["cat", "dog"],
        matrix=[[9, 1], [1, 9]],
        fpr=[0.1, 0.5, 0.9],
        tpr=[0.1, 0.7, 0.9],
        threshold=[0.9, 0.5, 0.1],
    )
    assert artifact.schema_title == "google.ClassificationMetrics"
    assert artifact.metadata["confusionMatrix"]["annotationSpecs"] == [
        {"displayName": "cat"}, {"displayName": "dog"}
    ]
    assert artifact.metadata["confidenceMetrics"][0] == {
        "confidenceThreshold": 0.9, "falsePositiveRate": 0.1, "recall": 0.1
    }
    (metric,) = run.get_classification_metrics()
    assert metric == {
        "id": artifact.resource_id,
        "display_name": "my-classification-metrics",
        "labels": ["cat", "dog"],
        "matrix": [[9, 1], [1, 9]],
        "fpr": [0.1, 0.5, 0.9],
        "tpr": [0.1, 0.7, 0.9],
        "thresholds": [0.9, 0.5, 0.1],
    }
    assert [a.name for a in run.get_artifacts()] == [artifact.name]


def test_classification_metrics_partial_and_numpy_and_infinite_threshold(store: MetadataStore) -> None:
    run = vt.ExperimentRun.create("run", experiment="e")
    run.log_classification_metrics(labels=["a", "b", "c"], matrix=np.eye(3, dtype=int))
    run.log_classification_metrics(
        fpr=np.array([0.0, 0.2, 1.0]), tpr=[0.0, 0.8, 1.0], threshold=[np.inf, 0.5, 0.0]
    )
    first, second = run.get_classification_metrics()
    assert first["matrix"] == [[1, 0, 0], [0, 1, 0], [0, 0, 1]] and "fpr" not in first
    assert second["thresholds"] == [math.inf, 0.5, 0.0] and "labels" not in second


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"labels": ["a", "b"]}, "labels and matrix must be set together"),
        ({"matrix": [[1, 2], [3, 4]]}, "labels and matrix must be set together"),
        ({"labels": ["a", "b", "c"], "matrix": [[1, 2], [3, 4]]}, "Length of labels and matrix"),
        ({"labels": ["a", "b"], "matrix": [[1, 2, 3], [3, 4, 5]]}, "square"),
        ({"fpr": [0.1]}, "fpr, tpr, and threshold must be set together"),
        ({"fpr": [0.1], "tpr": [0.2]}, "fpr, tpr, and threshold must be set together"),
        ({"tpr": [0.2], "threshold": [0.5]}, "fpr, tpr, and threshold must be set together"),
        ({"fpr": [0.1, 0.2], "tpr": [0.2], "threshold": [0.5]}, "Length of fpr, tpr and threshold"),
        ({"fpr": [0.1], "tpr": [0.2], "threshold": [0.5, 0.4]}, "Length of fpr, tpr and threshold"),
        ({}, "nothing to log"),
    ],
)
def test_classification_metrics_value_errors(store: MetadataStore, kwargs: dict, message: str) -> None:
    run = vt.ExperimentRun.create("run", experiment="e")
    with pytest.raises(ValueError, match=message):
        run.log_classification_metrics(**kwargs)
    assert run.get_artifacts() == []


def test_classification_metrics_type_errors(store: MetadataStore) -> None:
    run = vt.ExperimentRun.create("run", experiment="e")
    with pytest.raises(TypeError):
        run.log_classification_metrics(labels=[1, 2], matrix=[[1, 0], [0, 1]])
    with pytest.raises(TypeError):
        run.log_classification_metrics(labels=["a", "b"], matrix=[["x", 0], [0, 1]])
    with pytest.raises(TypeError):
        run.log_classification_metrics(fpr="0.1", tpr=[0.1], threshold=[0.1])


# -- models -------------------------------------------------------------------------------------
def _fitted_model() -> tuple[Any, Any]:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=500).fit(X, y), X


def test_log_model_sklearn(store: MetadataStore) -> None:
    import sklearn

    model, X = _fitted_model()
    run = vt.ExperimentRun.create("run", experiment="e")
    logged = run.log_model(model, "my-model", input_example=X[:3], display_name="iris")
    assert logged.resource_id == "my-model" and logged.display_name == "iris"
    assert logged.schema_title == "system.Model"
    assert logged.metadata["frameworkName"] == "sklearn"
    assert logged.metadata["frameworkVersion"] == sklearn.__version__
    assert logged.metadata["modelClass"].endswith("LogisticRegression")
    assert logged.uri.endswith(".pkl")

    (model_back,) = run.get_experiment_models()
    assert model_back.name == logged.name
    assert (model_back.load_model().predict(X) == model.predict(X)).all()
    info = model_back.get_model_info()
    assert info["framework_name"] == "sklearn"
    assert np.array_equal(info["input_example"], X[:3])
    assert [a.name for a in run.get_artifacts()] == [logged.name]


def test_log_model_any_picklable_and_dataframe_example(store: MetadataStore) -> None:
    run = vt.ExperimentRun.create("run", experiment="e")
    example = pd.DataFrame({"x": [1.0, 2.0], "y": ["a", "b"]})
    logged = run.log_model({"weights": [1, 2, 3]}, input_example=example)
    assert logged.metadata["frameworkName"] == "python"
    assert logged.display_name == "python-model"
    assert logged.load_model() == {"weights": [1, 2, 3]}
    pd.testing.assert_frame_equal(logged.get_model_info()["input_example"], example)


def test_log_model_to_given_uri(store: MetadataStore, tmp_path: Path) -> None:
    model, _ = _fitted_model()
    run = vt.ExperimentRun.create("run", experiment="e")
    target = tmp_path / "my-models"
    logged = run.log_model(model, uri=str(target), input_example=[[1.0, 2.0, 3.0, 4.0]])
    assert str(target) in logged.uri and str(target) in logged.metadata["inputExample"]["uri"]
    assert logged.load_model().coef_.shape == model.coef_.shape
    assert logged.get_model_info()["input_example"] == [[1.0, 2.0, 3.0, 4.0]]


def test_framework_is_found_in_the_class_hierarchy() -> None:
    from vertex_track.experiments.models import framework_of

    def fake(module: str, name: str, *bases: type) -> type:
        return type(name, bases, {"__module__": module})

    torch_module = fake("torch.nn.modules.module", "Module")
    net = fake("__main__", "Net", torch_module)  # a user's subclass
    sklearn_base = fake("sklearn.base", "BaseEstimator")
    xgb = fake("xgboost.sklearn", "XGBClassifier", sklearn_base)
    assert framework_of(net())[0] == "torch"
    assert framework_of(xgb())[0] == "xgboost"
    assert framework_of(sklearn_base())[0] == "sklearn"
    assert framework_of(object())[0] == "python"


def test_log_model_errors(store: MetadataStore) -> None:
    run = vt.ExperimentRun.create("run", experiment="e")
    with pytest.raises(ValueError, match="not supported"):
        run.log_model(threading.Lock())
    with pytest.raises(ValueError, match="input_example"):
        run.log_model({"w": 1}, input_example="text")
    with pytest.raises(vt.InvalidArgumentError, match="resource_id"):
        run.log_model({"w": 1}, "Bad Id")
    run.log_model({"w": 1}, "taken")
    with pytest.raises(vt.AlreadyExistsError):
        run.log_model({"w": 2}, "taken")
    assert len(run.get_experiment_models()) == 1


# -- executions, artifacts, pipeline runs ------------------------------------------------------------
def test_executions_started_in_a_run_are_associated(store: MetadataStore, exp: str) -> None:
    with vt.start_run("run") as run, vt.start_execution(
        schema_title="system.ContainerExecution", display_name="train"
    ) as ex:
        pass
    outside = vt.Execution.create(display_name="outside")
    assert [e.name for e in run.get_executions()] == [ex.name]
    run.associate_execution(outside)
    assert {e.name for e in run.get_executions()} == {ex.name, outside.name}


def test_log_pipeline_run_as_child(store: MetadataStore) -> None:
    run = vt.ExperimentRun.create("run", experiment="e")
    pipeline = vt.Context.create("system.PipelineRun", resource_id="pipelinerun-1")
    run.log(pipeline_job=pipeline)
    children = vt.Context.list(f'parent_contexts:"{run.resource_name}"')
    assert [c.name for c in children] == [pipeline.name]
    run.log(pipeline_job=None)
    with pytest.raises(vt.InvalidArgumentError):
        run.log(pipeline_job=42)
    assert run.get_logged_custom_jobs() == []
    run.assign_backing_tensorboard("projects/p/locations/l/tensorboards/1")  # accepted, unused


def test_delete_keeps_executions_and_artifacts(store: MetadataStore) -> None:
    run = vt.ExperimentRun.create("run", experiment="e")
    artifact = run.log_classification_metrics(labels=["a"], matrix=[[1]])
    execution = vt.Execution.create(display_name="x")
    run.associate_execution(execution)
    run.log_time_series_metrics({"a": 1.0}, step=0)
    run.delete()
    assert vt.ExperimentRun.get("run", experiment="e") is None
    assert vt.Artifact.get(artifact.name).name == artifact.name
    assert vt.Execution.get(execution.name).name == execution.name
    assert vt.Context.get("e").schema_title == "system.Experiment"
    with pytest.raises(vt.NotFoundError):
        run.delete()
    with pytest.raises(vt.NotFoundError):
        run.log_params({"a": 1})


# -- module-level API ----------------------------------------------------------------------------
def test_start_run_context_manager(store: MetadataStore, exp: str) -> None:
    assert current_run_context() is None
    with vt.start_run("run-1") as run:
        assert isinstance(run, vt.ExperimentRun)
        assert vt.experiments.current_run() is run
        assert current_run_context().name == run.resource_name
        vt.log_params({"lr": 0.1})
        vt.log_metrics({"acc": 0.9})
        vt.log_time_series_metrics({"loss": 0.5}, step=0)
        vt.log_classification_metrics(labels=["a", "b"], matrix=[[1, 0], [0, 1]])
        vt.log_model({"w": 1})
    assert current_run_context() is None
    assert run.state == "COMPLETE"
    assert run.get_params() == {"lr": 0.1} and run.get_metrics() == {"acc": 0.9}
    assert run.get_time_series_data_frame()["loss"].tolist() == [0.5]
    assert len(run.get_classification_metrics()) == 1 and len(run.get_experiment_models()) == 1


def test_exception_in_run_marks_failed_and_propagates(store: MetadataStore, exp: str) -> None:
    with pytest.raises(RuntimeError, match="boom"), vt.start_run("run-1"):
        vt.log_time_series_metrics({"loss": 0.5}, step=0)
        raise RuntimeError("boom")
    run = vt.ExperimentRun("run-1", experiment="exp")
    assert run.state == "FAILED"
    assert vt.experiments.current_run() is None
    assert stored_points(store, run) == 1


def test_plain_start_run_and_end_run(store: MetadataStore, exp: str) -> None:
    run = vt.start_run("run-1")
    vt.log_metrics({"acc": 0.5})
    vt.end_run(state="CANCELLED")
    assert run.state == "CANCELLED"
    with pytest.raises(ValueError, match="start_run"):
        vt.end_run()


def test_log_without_a_run_raises(store: MetadataStore, exp: str) -> None:
    for call in (
        lambda: vt.log_params({"a": 1}),
        lambda: vt.log_metrics({"a": 1}),
        lambda: vt.log_time_series_metrics({"a": 1.0}),
        lambda: vt.log_classification_metrics(labels=["a"], matrix=[[1]]),
        lambda: vt.log_model({"w": 1}),
    ):
        with pytest.raises(vt.InvalidArgumentError, match="start_run"):
            call()


def test_start_run_needs_an_experiment(store: MetadataStore) -> None:
    with pytest.raises(vt.InvalidArgumentError, match="experiment"):
        vt.start_run("run-1")
    run = vt.start_run("run-1", experiment="given")
    assert run.resource_id == "given-run-1"
    vt.end_run()


def test_start_run_existing_without_resume_raises(store: MetadataStore, exp: str) -> None:
    with vt.start_run("run-1"):
        pass
    with pytest.raises(vt.AlreadyExistsError, match="resume=True"):
        vt.start_run("run-1")
    assert vt.experiments.current_run() is None


def test_resume_reopens_a_run(store: MetadataStore, exp: str) -> None:
    with vt.start_run("run-1"):
        vt.log_params({"lr": 0.1})
        vt.log_time_series_metrics({"loss": 1.0}, step=4)
    with vt.start_run("run-1", resume=True) as run:
        assert run.state == "RUNNING"
        vt.log_params({"epochs": 3})
        vt.log_time_series_metrics({"loss": 0.5})
    assert run.state == "COMPLETE"
    assert run.get_params() == {"lr": 0.1, "epochs": 3}
    assert run.get_time_series_data_frame()["step"].tolist() == [4, 4]
    with pytest.raises(vt.NotFoundError, match="resume"):
        vt.start_run("missing", resume=True)


def test_starting_a_run_ends_the_current_one(store: MetadataStore, exp: str) -> None:
    first = vt.start_run("run-1")
    second = vt.start_run(run_name="run-2")
    assert first.state == "COMPLETE" and second.state == "RUNNING"
    assert vt.experiments.current_run() is second
    vt.end_run()
    with pytest.raises(vt.InvalidArgumentError):
        vt.start_run()


def test_with_on_a_run_that_is_not_current(store: MetadataStore) -> None:
    with vt.ExperimentRun.create("run", experiment="e") as run:
        run.log_params({"a": 1})
    assert run.state == "COMPLETE"
    with pytest.raises(KeyError), vt.ExperimentRun("run", experiment="e"):
        raise KeyError("x")
    assert vt.ExperimentRun("run", experiment="e").state == "FAILED"


def test_deleting_the_current_run_clears_it(store: MetadataStore, exp: str) -> None:
    run = vt.start_run("run-1")
    run.delete()
    assert vt.experiments.current_run() is None
    assert current_run_context() is None  # what tracked flows and executions read


# -- get_experiment_df -------------------------------------------------------------------------
def test_get_experiment_df_compares_runs(store: MetadataStore, exp: str) -> None:
    with vt.start_run("run-a"):
        vt.log_params({"C": 0.1, "solver": "lbfgs"})
        vt.log_metrics({"accuracy": 0.91})
        for step, loss in enumerate([0.9, 0.5, 0.3]):
            vt.log_time_series_metrics({"loss": loss}, step=step)
    with pytest.raises(ZeroDivisionError), vt.start_run("run-b"):
        vt.log_params({"C": 1.0})
        vt.log_metrics({"accuracy": 0.95, "f1": 0.9})
        1 / 0  # noqa: B018
    vt.ExperimentRun.create("other", experiment="another")

    df = vt.get_experiment_df("exp")
    assert list(df.columns) == [
        "experiment_name", "run_name", "run_type", "state", "param.C", "param.solver",
        "metric.accuracy", "metric.f1", "time_series_metric.loss",
    ]
    assert df["run_name"].tolist() == ["run-a", "run-b"]
    assert df["experiment_name"].tolist() == ["exp", "exp"]
    assert df["run_type"].tolist() == ["system.ExperimentRun"] * 2
    assert df["state"].tolist() == ["COMPLETE", "FAILED"]
    assert df["param.C"].tolist() == [0.1, 1.0]
    assert df["metric.accuracy"].tolist() == [0.91, 0.95]
    assert math.isnan(df["metric.f1"].iloc[0]) and df["metric.f1"].iloc[1] == 0.9
    assert df["time_series_metric.loss"].iloc[0] == 0.3
    best = df.sort_values("metric.accuracy", ascending=False).iloc[0]
    assert best["run_name"] == "run-b"

    assert vt.get_experiment_df().shape == df.shape  # default experiment from init
    narrow = vt.get_experiment_df("exp", include_time_series=False)
    assert "time_series_metric.loss" not in narrow.columns


def test_get_experiment_df_reads_buffered_points(store: MetadataStore, exp: str) -> None:
    run = vt.start_run("run-a")
    vt.log_time_series_metrics({"loss": 0.7}, step=3)
    df = vt.get_experiment_df()
    assert df["time_series_metric.loss"].tolist() == [0.7]
    run.end_run()


def test_get_experiment_df_empty_and_missing(store: MetadataStore) -> None:
    vt.Context.create("system.Experiment", resource_id="empty")
    df = vt.get_experiment_df("empty")
    assert df.empty and list(df.columns) == ["experiment_name", "run_name", "run_type", "state"]
    with pytest.raises(vt.NotFoundError):
        vt.get_experiment_df("missing")


def test_without_pandas_a_clear_import_error(store: MetadataStore, monkeypatch: pytest.MonkeyPatch) -> None:
    run = vt.ExperimentRun.create("run", experiment="e")
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"pip install 'vertex-track\[pandas\]'"):
        vt.get_experiment_df("e")
    with pytest.raises(ImportError, match="pandas"):
        run.get_time_series_data_frame()


def test_public_names_are_exported() -> None:
    for name in (
        "ExperimentRun", "start_run", "end_run", "log_params", "log_metrics",
        "log_time_series_metrics", "log_classification_metrics", "log_model", "get_experiment_df",
    ):
        assert getattr(vt, name) is getattr(vt.experiments, name)
