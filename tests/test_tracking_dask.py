"""Tracked tasks on prefect-dask's DaskTaskRunner with worker processes.

Records are written from the workers themselves; lineage still connects
across processes because artifacts are content-addressed.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from prefect import task

import vertex_track as vt
from vertex_track.store.base import MetadataStore

prefect_dask = pytest.importorskip("prefect_dask", reason="prefect-dask is not installed")


@vt.track
@task
def make(seed: int) -> vt.Dataset:
    return np.random.default_rng(seed).normal(size=1000)


@vt.track
@task
def stats(data: np.ndarray) -> dict:
    return {"mean": float(data.mean()), "pid": os.getpid()}


def dask_flow():  # built lazily: the runner starts a cluster when the flow runs
    @vt.flow(
        task_runner=prefect_dask.DaskTaskRunner(
            cluster_kwargs={
                "n_workers": 2, "processes": True, "threads_per_worker": 1,
                "dashboard_address": ":0",  # parallel test runs must not fight over :8787
            }
        )
    )
    def distributed() -> list[dict]:
        datasets = make.map([1, 2, 3])
        return [f.result() for f in stats.map(datasets)]

    return distributed


@pytest.mark.slow
def test_dask_workers_record_and_lineage_connects(tracked: MetadataStore) -> None:
    results = dask_flow()()
    assert len(results) == 3
    assert {r["pid"] for r in results} != {os.getpid()}, "tasks ran in worker processes"

    run = vt.PipelineRun.list()[-1]
    assert run.state == "COMPLETE"
    executions = run.get_executions()
    assert len(executions) == 6 and all(e.state == "COMPLETE" for e in executions)
    makes = [e for e in executions if e.metadata["vertex_track"]["task_name"] == "make"]
    for made in makes:
        (dataset,) = made.get_output_artifacts()
        consumers = dataset.get_executions("INPUT")
        assert len(consumers) == 1
        assert consumers[0].metadata["vertex_track"]["task_name"] == "stats"
        expected = np.random.default_rng(made.metadata["seed"]).normal(size=1000)
        np.testing.assert_array_equal(dataset.load(), expected)


@vt.track
@task
def tag(i: int) -> str:
    return f"part-{i}"  # small: inline, identified by the task run that made it


@vt.track
@task
def shout(name: str) -> str:
    return name.upper()


@pytest.mark.slow
def test_small_values_handed_between_workers_link_to_their_producer(
    tracked: MetadataStore,
) -> None:
    @vt.flow(
        task_runner=prefect_dask.DaskTaskRunner(
            cluster_kwargs={
                "n_workers": 2, "processes": True, "threads_per_worker": 1,
                "dashboard_address": ":0",
            }
        )
    )
    def hand_over() -> list[str]:
        return [f.result() for f in shout.map(tag.map([1, 2, 3]))]

    assert hand_over() == ["PART-1", "PART-2", "PART-3"]
    shouts = vt.Execution.list(filter='display_name = "shout*"')
    assert len(shouts) == 3
    for execution in shouts:
        producers = [
            e for e in vt.lineage(execution, direction="upstream", max_hops=2).executions
            if e.name != execution.name
        ]
        # exactly the tag run that made this value: Prefect's graph, resolved by
        # the writer even when the producer ran in the other worker process
        assert [p.metadata["i"] for p in producers] == [
            int(execution.metadata["name"].split("-")[1])
        ]
