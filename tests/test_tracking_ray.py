"""Tracked tasks on prefect-ray's RayTaskRunner, on a local Ray cluster of four worker processes.

The cluster is started once for this module, before any test calls ``vt.init``, so the
workers' own environment holds no ``VERTEX_TRACK_*`` settings: what the tests see
recorded got to the workers the way a ``vt.flow`` hands its settings to Ray (each
task's ``runtime_env``). Records are written from the workers themselves, and lineage
connects across worker processes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from prefect import task

import vertex_track as vt
from vertex_track import config
from vertex_track.store import get_store

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'vertex-track[ray]')")
prefect_ray = pytest.importorskip(
    "prefect_ray", reason="prefect-ray is not installed (pip install 'vertex-track[ray]')"
)
from prefect_ray.context import remote_options  # noqa: E402

# One Ray cluster for the module, so every Ray test runs on the same xdist worker.
pytestmark = [pytest.mark.xdist_group("ray"), pytest.mark.slow]

WORKERS = 4


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    """A local Ray cluster with four CPUs (four worker processes), started before any
    ``vt.init``: the workers inherit no vertex_track settings from it."""
    env = {k: v for k, v in os.environ.items() if k.startswith("VERTEX_TRACK_")}
    for var in env:
        if var != "VERTEX_TRACK_TEST_POSTGRES_URL":
            os.environ.pop(var)
    try:
        ray.init(
            num_cpus=WORKERS, include_dashboard=False, log_to_driver=False,
            object_store_memory=100 * 2**20,
        )
    finally:
        os.environ.update(env)
    yield
    ray.shutdown()


@pytest.fixture(params=["sqlite", "postgresql"])
def ray_tracked(
    request: pytest.FixtureRequest, ray_cluster: None, prefect_harness: None, tmp_path: Path
) -> Iterator[str]:
    """A fresh store (SQLite file or PostgreSQL schema) made the default with ``vt.init``."""
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'metadata.db'}"
    else:
        uri = request.getfixturevalue("postgres_url")
    config.init(store_uri=uri, artifact_root=str(tmp_path / "artifacts"))
    get_store()
    yield uri
    from vertex_track.tracking import flush

    flush()


@vt.track
@task
def make(seed: int) -> vt.Dataset:
    time.sleep(0.3)  # the four run at once, so each on its own worker process
    return np.random.default_rng(seed).normal(size=1000)


@vt.track
@task
def combine(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> dict:
    return {"total": float(a.sum() + b.sum() + c.sum() + d.sum()), "pid": os.getpid(),
            "store_uri": os.environ.get("VERTEX_TRACK_STORE_URI")}


@vt.track
@task
def tag(i: int) -> str:
    return f"part-{i}"  # small: inline, identified by the task run that made it


@vt.track
@task
def shout(name: str) -> dict:
    return {"name": name.upper(), "mine": os.environ.get("MY_SETTING")}


def ray_flow():  # built lazily, like the runner
    @vt.flow(task_runner=prefect_ray.RayTaskRunner())
    def on_ray() -> dict:
        a, b, c, d = make.map([1, 2, 3, 4])
        combined = combine.submit(a, b, c, d)
        shouts = shout.map(tag.map([1, 2, 3]))
        return {"combined": combined.result(), "shouts": [s.result() for s in shouts]}

    return on_ray


def _pid(execution: vt.Execution) -> int:
    pid: int = execution.metadata["vertex_track"]["process"]["pid"]
    return pid


def _task(execution: vt.Execution) -> str:
    name: str = execution.metadata["vertex_track"]["task_name"]
    return name


def test_ray_workers_record_every_task_run_and_lineage_crosses_workers(
    ray_tracked: str,
) -> None:
    # The caller's own Ray options, a runtime_env included, still reach the workers.
    with remote_options(num_cpus=1, runtime_env={"env_vars": {"MY_SETTING": "kept"}}):
        result = ray_flow()()
    combined_result = result["combined"]
    assert combined_result["store_uri"] == ray_tracked, "the workers got vt.init's settings"
    assert combined_result["pid"] != os.getpid(), "the task ran in a Ray worker process"
    assert result["shouts"] == [{"name": f"PART-{i}", "mine": "kept"} for i in (1, 2, 3)]

    (run,) = vt.PipelineRun.list()
    assert run.state == "COMPLETE"
    executions = run.get_executions()  # read at once: the workers committed before returning
    assert sorted(_task(e) for e in executions) == sorted(
        ["make"] * 4 + ["combine"] + ["tag"] * 3 + ["shout"] * 3
    )
    assert all(e.state == "COMPLETE" for e in executions)
    assert all(_pid(e) != os.getpid() for e in executions), "recorded by the workers"

    makes = [e for e in executions if _task(e) == "make"]
    (combined,) = [e for e in executions if _task(e) == "combine"]
    assert _pid(combined) == combined_result["pid"]
    assert sorted(a.name for a in combined.get_input_artifacts()) == sorted(
        a.name for m in makes for a in m.get_output_artifacts()
    )
    # An artifact made on one worker process is the input of a task on another.
    assert {_pid(m) for m in makes} - {_pid(combined)}
    for made in makes:
        (dataset,) = made.get_output_artifacts()
        assert [e.name for e in dataset.get_executions("INPUT")] == [combined.name]
        expected = np.random.default_rng(made.metadata["seed"]).normal(size=1000)
        np.testing.assert_array_equal(dataset.load(), expected)
    upstream = vt.lineage(combined, direction="upstream", max_hops=2).executions
    assert {e.name for e in upstream} == {combined.name, *(m.name for m in makes)}

    # Small values handed between workers link to exactly the task run that made them
    # (Prefect's graph), not to another run that made an equal value.
    for execution in (e for e in executions if _task(e) == "shout"):
        producers = [
            e for e in vt.lineage(execution, direction="upstream", max_hops=2).executions
            if e.name != execution.name
        ]
        assert [p.metadata["i"] for p in producers] == [
            int(execution.metadata["name"].split("-")[1])
        ]
