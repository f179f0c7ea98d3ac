"""A Prefect flow tracked by vertex_track is visible to Google's SDK through ``vertex-track serve``."""

from __future__ import annotations

import pytest

pytest.importorskip("google.cloud.aiplatform")

from google.cloud import aiplatform
from prefect import task
from serve_server import LOCATION, PROJECT, init_sdk, running_server

import vertex_track as vt
from vertex_track.store.base import MetadataStore
from vertex_track.tracking import flush


@vt.track
@task
def make_rows(n: int) -> vt.Dataset:
    return list(range(n))


@vt.track
@task
def total(rows: list) -> vt.Metrics:
    return {"sum": sum(rows)}


@vt.flow
def summing(n: int = 5) -> dict:
    return total(make_rows(n))


def test_a_tracked_flow_run_is_visible_to_the_sdk(tracked: MetadataStore) -> None:
    vt.init(project=PROJECT, location=LOCATION)
    assert summing(n=5) == {"sum": 10}
    flush()
    run = vt.PipelineRun.list()[-1]
    with running_server(vt.init().store_uri) as srv:
        init_sdk(srv.url)
        contexts = aiplatform.Context.list(filter='schema_title="system.PipelineRun"')
        assert [c.resource_name for c in contexts] == [run.name]
        executions = aiplatform.Execution.list(filter=f'in_context("{run.name}")')
        assert {e.display_name for e in executions} == {
            e.display_name for e in run.get_executions()}
        assert all(e.state == aiplatform.gapic.Execution.State.COMPLETE for e in executions)
        by_name = {e.display_name: e for e in executions}
        step = next(e for name, e in by_name.items() if name.startswith("total"))
        inputs = step.get_input_artifacts()
        assert [a.schema_title for a in inputs] == ["system.Dataset"]
        produced = next(e for name, e in by_name.items() if name.startswith("make_rows"))
        assert [a.resource_name for a in produced.get_output_artifacts()] == [
            a.resource_name for a in inputs]
        graph = aiplatform.Context(run.resource_id).query_lineage_subgraph()
        assert {e.name for e in graph.executions} == {e.resource_name for e in executions}
        assert len(graph.events) >= 2
