"""Auto-tracking with real Prefect flows (Prefect's test harness), on SQLite.

Every test runs real flows; assertions read the records back through the
public API, artifact by artifact.
"""

from __future__ import annotations

import asyncio
import os
import textwrap
import warnings
from pathlib import Path
from typing import Annotated

import numpy as np
import pytest
from conftest import run_python
from prefect import flow, task
from prefect.cache_policies import INPUTS

import vertex_track as vt
from vertex_track.store.base import MetadataStore
from vertex_track.tracking import TrackingError, TrackingWarning, flush


def outputs(execution: vt.Execution) -> dict[str, vt.Artifact]:
    events = {e.artifact: e.label for e in execution.get_events() if e.type == "OUTPUT"}
    return {events[a.name]: a for a in execution.get_output_artifacts()}


def inputs(execution: vt.Execution) -> dict[str, vt.Artifact]:
    by_name = {a.name: a for a in execution.get_input_artifacts()}
    return {e.label: by_name[e.artifact] for e in execution.get_events() if e.type == "INPUT"}


def by_task(run: vt.PipelineRun) -> dict[str, vt.Execution]:
    return {e.metadata["vertex_track"]["task_name"]: e for e in run.get_executions()}


# -- a three-step pipeline, lineage artifact by artifact ----------------------------
@vt.track
@task
def load(n: int) -> vt.Dataset:
    return np.arange(n, dtype=np.float64)


@vt.track(ignore=["verbose"])
@task
def fit(data: np.ndarray, lr: float = 0.1, verbose: bool = False) -> vt.Model:
    return {"weights": (data * lr).tolist(), "bias": 1.5}


@vt.track
@task
def score(model: dict, data: np.ndarray) -> Annotated[dict, vt.Metrics]:
    return {"accuracy": 0.75, "n": int(data.size)}


@vt.flow
def three_steps(n: int = 4, lr: float = 0.5) -> dict:
    data = load(n)
    model = fit(data, lr=lr, verbose=True)
    return score(model, data)


def test_three_step_pipeline_lineage(tracked: MetadataStore) -> None:
    result = three_steps(n=4, lr=0.5)
    assert result == {"accuracy": 0.75, "n": 4}

    run = vt.PipelineRun.list()[-1]
    assert run.state == "COMPLETE"
    assert run.flow_name == "three-steps"
    assert run.parameters == {"n": 4, "lr": 0.5}
    steps = by_task(run)
    assert set(steps) == {"load", "fit", "score"}
    assert all(e.state == vt.ExecutionState.COMPLETE for e in steps.values())
    assert all(e.schema_title == "system.ContainerExecution" for e in steps.values())

    # load: n is a parameter, one Dataset output stored as .npy
    assert steps["load"].metadata["n"] == 4
    assert inputs(steps["load"]) == {}
    dataset = outputs(steps["load"])["output"]
    assert dataset.schema_title == "system.Dataset"
    assert dataset.uri.endswith(".npy") and dataset.digest.startswith("sha256:")
    np.testing.assert_array_equal(dataset.load(), np.arange(4, dtype=np.float64))

    # fit: consumes exactly load's output; lr recorded, verbose ignored
    assert steps["fit"].metadata["lr"] == 0.5
    assert "verbose" not in steps["fit"].metadata
    assert inputs(steps["fit"]) == {"data": dataset}
    model = outputs(steps["fit"])
    assert set(model) == {"weights", "bias"}
    assert model["weights"].schema_title == "system.Model"
    assert model["weights"].load() == [0.0, 0.5, 1.0, 1.5]

    # score: the whole model dict, its recorded elements, and the dataset
    score_inputs = inputs(steps["score"])
    assert score_inputs["data"] == dataset
    assert score_inputs["model.weights"] == model["weights"]
    assert score_inputs["model.bias"] == model["bias"]
    metrics = outputs(steps["score"])
    assert metrics["accuracy"].schema_title == "system.Metrics"
    assert metrics["accuracy"].load() == 0.75

    # execution metadata carries Prefect's ids and timings
    meta = steps["fit"].metadata["vertex_track"]
    assert meta["task_run_id"] and meta["flow_run_id"] == run.flow_run_id
    assert meta["duration_s"] >= 0 and meta["end_time"] >= meta["start_time"]
    assert steps["fit"].resource_id == f"taskrun-{meta['task_run_id']}"

    # everything is in the run's context
    names = {a.name for a in run.get_artifacts()}
    assert {dataset.name, model["weights"].name, metrics["accuracy"].name} <= names
    assert vt.PipelineRun.get(run.flow_run_id) == run


def test_content_addressing_across_flow_runs(tracked: MetadataStore) -> None:
    three_steps(n=5, lr=0.1)
    three_steps(n=5, lr=0.2)
    first, second = vt.PipelineRun.list()[-2:]
    d1 = outputs(by_task(first)["load"])["output"]
    d2 = outputs(by_task(second)["load"])["output"]
    assert d1.name == d2.name, "the same data set in two runs is one Artifact"
    assert d1.name in {a.name for a in second.get_artifacts()}
    # small inline values are per run: equal accuracies do not merge lineage
    a1 = outputs(by_task(first)["score"])["accuracy"]
    a2 = outputs(by_task(second)["score"])["accuracy"]
    assert a1.load() == a2.load() == 0.75 and a1.name != a2.name
    consumers = {e.name for e in d1.get_executions("INPUT")}
    assert by_task(first)["fit"].name in consumers and by_task(second)["fit"].name in consumers


# -- failures, retries, cache hits -------------------------------------------------------
@vt.track
@task
def explode(x: int) -> int:
    raise ValueError(f"bad value {x}")


@vt.flow
def failing() -> int:
    return explode(7)


def test_failed_task_is_recorded_and_fails_as_prefect_would(tracked: MetadataStore) -> None:
    with pytest.raises(ValueError, match="bad value 7"):
        failing()
    run = vt.PipelineRun.list()[-1]
    assert run.state == "FAILED"
    (execution,) = run.get_executions()
    assert execution.state == "FAILED"
    assert execution.metadata["vertex_track"]["error_type"] == "ValueError"
    assert execution.metadata["vertex_track"]["error_message"] == "bad value 7"


ATTEMPTS: list[int] = []


@vt.track
@task(retries=2, retry_delay_seconds=0)
def flaky(x: int) -> int:
    ATTEMPTS.append(x)
    if len(ATTEMPTS) < 3:
        raise RuntimeError("transient")
    return x * 10


@vt.flow
def retrying() -> int:
    return flaky(4)


def test_retries_update_the_same_execution(tracked: MetadataStore) -> None:
    ATTEMPTS.clear()
    assert retrying() == 40
    assert len(ATTEMPTS) == 3
    (execution,) = vt.PipelineRun.list()[-1].get_executions()
    assert execution.state == "COMPLETE"
    assert execution.metadata["vertex_track"]["attempt"] == 3
    assert "error_type" not in execution.metadata["vertex_track"]
    assert outputs(execution)["output"].load() == 40


CALLS: list[int] = []


@vt.track
@task(cache_policy=INPUTS)
def expensive(values: list) -> np.ndarray:
    CALLS.append(1)
    return np.asarray(values, dtype=np.float64) ** 2


@vt.flow
def cached_twice() -> None:
    expensive([1.0, 2.0, 3.0])
    expensive([1.0, 2.0, 3.0])


def test_prefect_cache_hit_is_a_cached_execution_with_the_original_outputs(
    tracked: MetadataStore,
) -> None:
    CALLS.clear()
    cached_twice()
    assert len(CALLS) == 1, "Prefect served the second call from its cache"
    first, second = vt.PipelineRun.list()[-1].get_executions()
    assert first.state == "COMPLETE" and second.state == "CACHED"
    assert outputs(first)["output"] == outputs(second)["output"]
    assert inputs(second)["values"] == inputs(first)["values"]
    np.testing.assert_array_equal(outputs(second)["output"].load(), [1.0, 4.0, 9.0])


# -- everything Prefect offers keeps working --------------------------------------------
@vt.track
@task
def double(x: int) -> int:
    return 2 * x


@vt.track
@task
async def adouble(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


@vt.flow
def fanned() -> tuple[list[int], int, int]:
    mapped = double.map([1, 2, 3])
    submitted = double.submit(10)
    renamed = double.with_options(name="renamed-double")(20)
    return [f.result() for f in mapped], submitted.result(), renamed


@vt.flow
async def async_flow() -> int:
    return await adouble(21)


def test_submit_map_with_options(tracked: MetadataStore) -> None:
    assert fanned() == ([2, 4, 6], 20, 40)
    executions = vt.PipelineRun.list()[-1].get_executions()
    assert len(executions) == 5 and all(e.state == "COMPLETE" for e in executions)
    assert sorted(e.metadata["x"] for e in executions) == [1, 2, 3, 10, 20]
    names = {e.metadata["vertex_track"]["task_name"] for e in executions}
    assert names == {"double", "renamed-double"}


def test_async_task_in_async_flow(tracked: MetadataStore) -> None:
    assert asyncio.run(async_flow()) == 42
    (execution,) = vt.PipelineRun.list()[-1].get_executions()
    assert execution.state == "COMPLETE" and execution.metadata["x"] == 21
    assert outputs(execution)["output"].load() == 42


@vt.flow
def child(x: int) -> int:
    return double(x)


@vt.flow
def parent() -> int:
    return child(3) + double(1)


def test_subflow_run_is_a_child_of_the_parent_run(tracked: MetadataStore) -> None:
    assert parent() == 8
    runs = {r.flow_name: r for r in vt.PipelineRun.list()}
    assert runs["child"].context.parent_contexts == [runs["parent"].name]
    assert [r.name for r in runs["parent"].get_child_runs()] == [runs["child"].name]
    assert [e.metadata["x"] for e in runs["child"].get_executions()] == [3]
    assert [e.metadata["x"] for e in runs["parent"].get_executions()] == [1]


def test_plain_prefect_flow_gets_a_pipeline_run_on_first_use(tracked: MetadataStore) -> None:
    @flow
    def plain_flow() -> int:
        return double(5)

    assert plain_flow() == 10
    flush()
    run = vt.PipelineRun.list()[-1]
    assert run.flow_name == "plain-flow"
    assert [e.metadata["x"] for e in run.get_executions()] == [5]


def test_tracking_does_not_change_results_keys_or_signature(tracked: MetadataStore) -> None:
    def make(x: int, y: float = 2.0) -> np.ndarray:
        return np.full(3, x * y)

    plain = task(make)
    tracked_task = vt.track(task(make))
    assert tracked_task.task_key == plain.task_key
    assert tracked_task.name == plain.name
    import inspect

    assert inspect.signature(tracked_task.fn) == inspect.signature(plain.fn)

    @flow
    def both() -> tuple[np.ndarray, np.ndarray]:
        return plain(2), tracked_task(2)

    a, b = both()
    assert type(a) is type(b) and np.array_equal(a, b)
    assert isinstance(tracked_task.with_options(retries=1), type(tracked_task))


def test_vt_task_shorthand(tracked: MetadataStore) -> None:
    @vt.task(retries=1, schema_title="system.Run", ignore=["secret"])
    def step(x: int, secret: str = "hide") -> int:
        return x + 1

    @vt.flow(name="shorthand")
    def f() -> int:
        return step(1)

    assert f() == 2
    assert step.retries == 1
    (execution,) = vt.PipelineRun.list()[-1].get_executions()
    assert execution.schema_title == "system.Run"
    assert "secret" not in execution.metadata and execution.metadata["x"] == 1


def test_track_rejects_bad_options() -> None:
    with pytest.raises(vt.InvalidArgumentError, match="schema_title"):
        vt.track(schema_title="not a title")
    with pytest.raises(vt.InvalidArgumentError, match="ignore must be a list"):
        vt.track(ignore="verbose")
    with pytest.raises(vt.InvalidArgumentError, match="use vt.flow"):
        vt.track(three_steps)


# -- plain functions, no Prefect ---------------------------------------------------------
def test_plain_function_tracking(tmp_path: Path) -> None:
    vt.init(store_uri=f"sqlite:///{tmp_path / 'm.db'}", artifact_root=str(tmp_path / "a"))

    @vt.track
    def make_data(n: int) -> vt.Dataset:
        return np.ones(n)

    @vt.track(schema_title="system.Run")
    def total(data: np.ndarray) -> float:
        return float(data.sum())

    data = make_data(3)
    assert total(data) == 3.0
    made, summed = vt.Execution.list()
    assert made.display_name == "make_data" and made.state == "COMPLETE"
    assert summed.schema_title == "system.Run"
    assert inputs(summed)["data"] == outputs(made)["output"]


# -- tracking-store failures under both policies -------------------------------------
def test_an_unreachable_store_spools_the_record_and_raise_does_not_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vertex_track.tracking import spool

    monkeypatch.setattr(spool, "_spool", None)  # this test's spool file
    vt.init(store_uri="postgresql://nobody@127.0.0.1:1/none", artifact_root=str(tmp_path),
            retry_timeout=0)

    @vt.track
    def f(x: int) -> int:
        return x + 1

    assert f(1) == 2
    flush()  # nothing lost (the record waits in the spool), so nothing raised
    own = spool.own_spool()
    assert own is not None and own.pending and own.path.parent == tmp_path / "vt_home" / "spool"
    assert '"run-' in own.path.read_text()


@pytest.mark.parametrize("policy", ["raise", "warn"])
def test_a_record_neither_written_nor_spooled_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy: str
) -> None:
    from vertex_track.tracking import spool

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("VERTEX_TRACK_HOME", str(blocker))  # the spool cannot be made here
    monkeypatch.setattr(spool, "_spool", None)
    vt.init(store_uri="postgresql://nobody@127.0.0.1:1/none", artifact_root=str(tmp_path),
            retry_timeout=0, on_tracking_error=policy)

    @vt.track
    def f(x: int) -> int:
        return x * 3

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert f(2) == 6
        if policy == "raise":
            with pytest.raises(TrackingError, match="could not record"):
                flush()
        else:
            flush()
    if policy == "warn":
        assert any(
            issubclass(w.category, TrackingWarning) and "lost the tracking record" in str(w.message)
            for w in caught
        )


def test_bad_policy_is_refused() -> None:
    with pytest.raises(vt.InvalidArgumentError, match="on_tracking_error"):
        vt.init(on_tracking_error="ignore")


# -- nothing lost at process exit -----------------------------------------------------
def test_records_are_durable_when_the_process_exits_right_after_the_flow(
    tmp_path: Path, prefect_harness: None
) -> None:
    script = tmp_path / "exit_fast.py"
    script.write_text(textwrap.dedent(f"""
        import os, vertex_track as vt
        from prefect import task
        vt.init(store_uri="sqlite:///{tmp_path}/exit.db", artifact_root="{tmp_path}/a")

        @vt.track
        @task
        def work(i: int) -> int:
            return i * i

        @vt.flow
        def many():
            return sum(work(i) for i in range(40))

        print(many(), flush=True)  # os._exit skips the flush of a buffered stdout
        os._exit(0)  # no atexit, no interpreter shutdown: only what the flow made durable
    """))
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    returncode = run_python([str(script)], env=env, stdout=out, stderr=err, timeout=240)
    assert returncode == 0, err.read_text()[-2000:]
    assert out.read_text().strip().splitlines()[-1] == str(sum(i * i for i in range(40)))
    vt.init(store_uri=f"sqlite:///{tmp_path}/exit.db")
    executions = vt.Execution.list()
    assert len(executions) == 40
    assert all(e.state == "COMPLETE" for e in executions)
    assert vt.PipelineRun.list()[0].state == "COMPLETE"


# -- experiments ------------------------------------------------------------------------
def test_flow_inside_an_experiment_run_is_linked_to_it(tracked: MetadataStore) -> None:
    vt.init(experiment="tracking-exp")
    with vt.start_run("run-a") as run:
        vt.log_params({"n": 4})
        three_steps(n=4, lr=0.5)
        with vt.start_execution(schema_title="system.ContainerExecution") as by_hand:
            by_hand.assign_output_artifacts([vt.Artifact.create("system.Model")])
    pipeline = vt.PipelineRun.list()[-1]
    assert run.resource_name in pipeline.context.parent_contexts
    assert [p.name for p in run.get_pipeline_runs()] == [pipeline.name]
    assert by_hand.name in {e.name for e in run.get_executions()}
    assert run.state == "COMPLETE"


def test_tracking_into_postgresql(prefect_harness: None, postgres_url: str, tmp_path: Path) -> None:
    vt.init(store_uri=postgres_url, artifact_root=str(tmp_path / "artifacts"))
    three_steps(n=3, lr=0.5)
    three_steps(n=3, lr=0.5)
    first, second = vt.PipelineRun.list()
    assert first.state == second.state == "COMPLETE"
    d1 = outputs(by_task(first)["load"])["output"]
    d2 = outputs(by_task(second)["load"])["output"]
    assert d1.name == d2.name
    assert inputs(by_task(second)["fit"])["data"] == d1
    assert vt.Execution.list(filter="metadata.lr.number_value = 0.5", order_by="create_time")


SEEN_WHILE_RUNNING: list[str] = []


@vt.track
@task
def introspect(x: int) -> int:
    # another reader's view while this task runs: its own Execution is RUNNING
    running = vt.Execution.list(filter='state = "RUNNING"')
    SEEN_WHILE_RUNNING.extend(e.metadata["vertex_track"]["task_name"] for e in running)
    return x


def test_running_is_visible_while_the_task_body_runs(tracked: MetadataStore) -> None:
    SEEN_WHILE_RUNNING.clear()

    @vt.flow
    def f() -> int:
        return introspect(1)

    assert f() == 1
    assert SEEN_WHILE_RUNNING == ["introspect"]
    (execution,) = vt.PipelineRun.list()[-1].get_executions()
    assert execution.state == "COMPLETE"


def test_load_of_a_hand_made_artifact_says_it_cannot_read_it(store: MetadataStore) -> None:
    artifact = vt.Artifact.create("system.Dataset", uri="gs://bucket/data.csv")
    with pytest.raises(vt.InvalidArgumentError, match="load\\(\\) cannot read it"):
        artifact.load()


def test_generator_task_still_yields_and_records_what_it_yielded(tracked: MetadataStore) -> None:
    @vt.track
    @task
    def count(n: int):  # type: ignore[no-untyped-def]
        yield from range(n)

    @vt.flow
    def f() -> list[int]:
        return list(count(3))

    assert f() == [0, 1, 2]
    (execution,) = vt.PipelineRun.list()[-1].get_executions()
    assert execution.state == "COMPLETE"
    assert outputs(execution)["output"].load() == [0, 1, 2]


def test_vt_flow_keeps_prefects_version_of_the_users_file(tracked: MetadataStore) -> None:
    from prefect import flow as prefect_flow

    def body() -> int:
        return 1

    assert vt.flow(body).version == prefect_flow(body).version


def test_a_flow_returning_a_failed_state_is_recorded_failed(tracked: MetadataStore) -> None:
    from prefect.states import Failed

    @vt.flow
    def gives_up() -> object:
        return Failed(message="gave up on purpose")

    state = gives_up(return_state=True)
    assert state.is_failed()
    run = vt.PipelineRun.list()[-1]
    assert run.state == "FAILED"
    assert run.metadata["error_message"] == "gave up on purpose"
