"""Google's own Vertex AI SDK (``google-cloud-aiplatform``) against ``vertex-track serve``.

The SDK samples of the Vertex AI documentation ("Track executions and
artifacts") run as written, with only ``aiplatform.init`` pointed at a local
server; what they did is then read back through vertex_track's Python API on
the same store. The SDK is a client nobody here wrote, so every call checks
the server's wire format (names, enums, timestamps, long-running operations).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Dict, List, Optional  # noqa: UP035 (the samples as published)

import pytest

pytest.importorskip("google.cloud.aiplatform")

import google.auth.credentials
from google.api_core import exceptions as gexc
from google.cloud import aiplatform
from serve_server import LOC, LOCATION, PROJECT, STORE, Server, init_sdk, running_server

import vertex_track as vt


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """A server over a fresh store, the SDK pointed at it, ``vt`` reading the same store."""
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'metadata.db'}"
    else:
        uri = request.getfixturevalue("postgres_url")
    with running_server(uri) as srv:
        init_sdk(srv.url)
        vt.init(store_uri=uri, project=PROJECT, location=LOCATION)
        yield srv


# -- the samples, as published in "Track executions and artifacts" ------------------------


def create_artifact_sample(
    schema_title: str,
    project: str,
    location: str,
    uri: Optional[str] = None,
    resource_id: Optional[str] = None,
    display_name: Optional[str] = None,
    schema_version: Optional[str] = None,
    description: Optional[str] = None,
    metadata: Optional[Dict] = None,  # noqa: UP006
):  # type: ignore[no-untyped-def]
    artifact = aiplatform.Artifact.create(
        schema_title=schema_title,
        uri=uri,
        resource_id=resource_id,
        display_name=display_name,
        schema_version=schema_version,
        description=description,
        metadata=metadata,
        project=project,
        location=location,
    )
    return artifact


def start_execution_sample(
    schema_title: str,
    display_name: str,
    input_artifacts: List[aiplatform.Artifact],  # noqa: UP006
    output_artifacts: List[aiplatform.Artifact],  # noqa: UP006
    project: str,
    location: str,
    resource_id: Optional[str] = None,
    metadata: Optional[Dict[str, Any]] = None,  # noqa: UP006
    schema_version: Optional[str] = None,
    resume: bool = False,
):  # type: ignore[no-untyped-def]
    aiplatform.init(project=project, location=location)

    with aiplatform.start_execution(
        schema_title=schema_title,
        display_name=display_name,
        resource_id=resource_id,
        metadata=metadata,
        schema_version=schema_version,
        resume=resume,
    ) as execution:
        execution.assign_input_artifacts(input_artifacts)
        execution.assign_output_artifacts(output_artifacts)
        return execution


# -- tests ----------------------------------------------------------------------------------


def test_create_artifact_sample_is_stored_as_vertex_track_reads_it(server: Server) -> None:
    made = create_artifact_sample(
        "system.Dataset", PROJECT, LOCATION, uri="gs://bucket/data.csv", resource_id="ds-1",
        display_name="iris", schema_version="0.0.2", description="the iris data",
        metadata={"rows": 150, "source": "uci"},
    )
    assert made.resource_name == f"{STORE}/artifacts/ds-1"
    stored = vt.Artifact.get("ds-1")
    assert stored.name == made.resource_name
    assert (stored.schema_title, stored.schema_version, stored.uri) == (
        "system.Dataset", "0.0.2", "gs://bucket/data.csv")
    assert (stored.display_name, stored.description) == ("iris", "the iris data")
    assert stored.metadata == {"rows": 150, "source": "uci"}
    assert stored.state == vt.ArtifactState.LIVE
    # Without a resource id the server makes one, and the SDK reads it back.
    anon = create_artifact_sample("system.Model", PROJECT, LOCATION, uri="gs://bucket/model")
    assert vt.Artifact.get(anon.name).uri == "gs://bucket/model"
    assert anon.schema_title == "system.Model"
    assert anon.state == aiplatform.compat.types.artifact.Artifact.State.LIVE


def test_start_execution_sample_records_events_and_completes(server: Server) -> None:
    data = create_artifact_sample("system.Dataset", PROJECT, LOCATION, uri="gs://b/d",
                                  resource_id="data")
    model = create_artifact_sample("system.Model", PROJECT, LOCATION, uri="gs://b/m",
                                   resource_id="model")
    execution = start_execution_sample(
        "system.ContainerExecution", "train", [data], [model], PROJECT, LOCATION,
        resource_id="train-1", metadata={"lr": 0.1},
    )
    assert execution.resource_name == f"{STORE}/executions/train-1"
    stored = vt.Execution.get("train-1")
    assert stored.state == vt.ExecutionState.COMPLETE
    assert stored.display_name == "train" and stored.metadata == {"lr": 0.1}
    assert [a.name for a in stored.get_input_artifacts()] == [data.resource_name]
    assert [a.name for a in stored.get_output_artifacts()] == [model.resource_name]
    # The SDK reads the same back over :queryExecutionInputsAndOutputs.
    again = aiplatform.Execution("train-1")
    assert [a.resource_name for a in again.get_input_artifacts()] == [data.resource_name]
    assert [a.resource_name for a in again.get_output_artifacts()] == [model.resource_name]
    assert again.state == aiplatform.compat.types.execution.Execution.State.COMPLETE
    # resume=True reopens it, and its end sets COMPLETE again.
    resumed = start_execution_sample(
        "system.ContainerExecution", "train", [], [], PROJECT, LOCATION,
        resource_id="train-1", resume=True,
    )
    assert resumed.resource_name == stored.name
    assert vt.Execution.get("train-1").state == vt.ExecutionState.COMPLETE


def test_sdk_get_list_update_and_missing(server: Server) -> None:
    a = aiplatform.Artifact.create(schema_title="system.Dataset", uri="gs://bucket/data.csv",
                                   display_name="x", metadata={"source": "unit", "rows": 10},
                                   description="a dataset")
    aiplatform.Artifact.create(schema_title="system.Model", uri="gs://bucket/model",
                               display_name="model", resource_id="model-1",
                               metadata={"framework": "sk"})
    assert aiplatform.Artifact.get(resource_id="model-1").uri == "gs://bucket/model"
    assert aiplatform.Artifact(artifact_name="model-1").display_name == "model"
    assert aiplatform.Artifact(artifact_name=a.resource_name).uri == "gs://bucket/data.csv"
    assert aiplatform.Artifact.get(resource_id="does-not-exist") is None
    with pytest.raises(gexc.NotFound):
        aiplatform.Artifact(artifact_name="does-not-exist")
    listed = aiplatform.Artifact.list(filter='display_name="x"')
    assert [x.resource_name for x in listed] == [a.resource_name]
    assert {x.resource_name for x in aiplatform.Artifact.list()} == {
        a.resource_name, f"{STORE}/artifacts/model-1"}
    a.update(metadata={"rows": 11}, description="updated")
    stored = vt.Artifact.get(a.resource_name)
    assert stored.metadata == {"source": "unit", "rows": 11}
    assert stored.description == "updated" and stored.etag == "2"
    # The object the SDK caches now has the new etag: a second update works too.
    a.update(metadata={"rows": 12})
    assert vt.Artifact.get(a.resource_name).metadata["rows"] == 12


def test_sdk_update_with_a_stale_etag_is_refused(server: Server) -> None:
    a = aiplatform.Artifact.create(schema_title="system.Dataset", resource_id="shared")
    vt.Artifact.get("shared").update(description="changed behind the SDK's back")
    with pytest.raises(gexc.Conflict, match="etag"):
        a.update(description="from a stale copy")
    assert vt.Artifact.get("shared").description == "changed behind the SDK's back"


def test_sdk_execution_create_list_and_lists_with_filters(server: Server) -> None:
    creds = google.auth.credentials.AnonymousCredentials()
    e = aiplatform.Execution.create(schema_title="system.ContainerExecution",
                                    resource_id="exec-1", display_name="exec-1",
                                    metadata={"image": "python"}, credentials=creds)
    aiplatform.Execution.create(schema_title="system.Run", resource_id="exec-2",
                                credentials=creds)
    assert e.state == aiplatform.compat.types.execution.Execution.State.RUNNING
    found = aiplatform.Execution.list(filter='schema_title="system.ContainerExecution"')
    assert [x.resource_name for x in found] == [f"{STORE}/executions/exec-1"]
    assert vt.Execution.get("exec-1").metadata == {"image": "python"}
    e.update(state=aiplatform.gapic.Execution.State.FAILED)
    assert vt.Execution.get("exec-1").state == vt.ExecutionState.FAILED


def test_sdk_contexts_membership_children_and_lineage(server: Server) -> None:
    data = aiplatform.Artifact.create(schema_title="system.Dataset", resource_id="data",
                                      display_name="x", uri="gs://b/d")
    model = aiplatform.Artifact.create(schema_title="system.Model", resource_id="model",
                                       uri="gs://b/m")
    with aiplatform.start_execution(schema_title="system.ContainerExecution",
                                    display_name="train", resource_id="train") as ex:
        ex.assign_input_artifacts([data])
        ex.assign_output_artifacts([model])
    ctx = aiplatform.Context.create(schema_title="system.Pipeline", resource_id="ctx-1",
                                    display_name="pipe", metadata={"k": "v"})
    ctx.add_artifacts_and_executions(artifact_resource_names=[data.resource_name],
                                     execution_resource_names=[ex.resource_name])
    assert [a.resource_name for a in ctx.get_artifacts()] == [data.resource_name]
    child = aiplatform.Context.create(schema_title="system.PipelineRun", resource_id="run-1")
    ctx.add_context_children([child])
    assert vt.Context.get("run-1").parent_contexts == [ctx.resource_name]
    assert [c.name for c in vt.Context.get("ctx-1").get_child_contexts()] == [child.resource_name]
    assert [e.name for e in vt.Context.get("ctx-1").get_executions()] == [ex.resource_name]

    graph = ctx.query_lineage_subgraph()
    assert {a.name for a in graph.artifacts} == {data.resource_name}
    assert {e.name for e in graph.executions} == {ex.resource_name}
    assert [(ev.artifact, ev.execution, ev.type_.name) for ev in graph.events] == [
        (data.resource_name, ex.resource_name, "INPUT")]

    # The GAPIC method the SDK's Artifact has no wrapper for.
    client = aiplatform.initializer.global_config.create_client(
        client_class=aiplatform.utils.MetadataClientWithOverride).select_version("v1")
    sub = client.query_artifact_lineage_subgraph(
        request={"artifact": model.resource_name, "max_hops": 2})
    assert {a.name for a in sub.artifacts} == {data.resource_name, model.resource_name}
    assert [e.name for e in sub.executions] == [ex.resource_name]
    assert sorted(ev.type_.name for ev in sub.events) == ["INPUT", "OUTPUT"]
    only_x = client.query_artifact_lineage_subgraph(
        request={"artifact": model.resource_name, "max_hops": 2, "filter": 'display_name="x"'})
    assert {a.name for a in only_x.artifacts} == {data.resource_name, model.resource_name}
    ours = vt.lineage(vt.Artifact.get("model"), direction="both", max_hops=2)
    assert {a.name for a in ours.artifacts} == {a.name for a in sub.artifacts}


def test_sdk_delete_and_gapic_purge(server: Server) -> None:
    tmp = aiplatform.Artifact.create(schema_title="system.Artifact", resource_id="to-delete",
                                     uri="gs://b/d")
    tmp.delete()
    with pytest.raises(vt.NotFoundError):
        vt.Artifact.get("to-delete")
    for i in range(3):
        aiplatform.Artifact.create(schema_title="system.Artifact", resource_id=f"p-{i}",
                                   display_name="purge-me", uri=f"gs://b/{i}")
    aiplatform.Artifact.create(schema_title="system.Artifact", resource_id="keep")
    client = aiplatform.initializer.global_config.create_client(
        client_class=aiplatform.utils.MetadataClientWithOverride).select_version("v1")
    parent = STORE
    dry = client.purge_artifacts(request={"parent": parent, "filter": 'display_name="purge-me"',
                                          "force": False}).result()
    assert dry.purge_count == 3
    assert sorted(dry.purge_sample) == [f"{STORE}/artifacts/p-{i}" for i in range(3)]
    assert len(vt.Artifact.list()) == 4
    done = client.purge_artifacts(request={"parent": parent, "filter": 'display_name="purge-me"',
                                           "force": True}).result()
    assert done.purge_count == 3
    assert [a.resource_id for a in vt.Artifact.list()] == ["keep"]


def test_sdk_sees_what_vertex_track_wrote(server: Server) -> None:
    data = vt.Artifact.create("system.Dataset", uri="gs://b/x", resource_id="vt-data",
                              metadata={"n": 1})
    with vt.start_execution(schema_title="system.ContainerExecution", resource_id="vt-exec",
                            display_name="made by vt") as ex:
        ex.assign_input_artifacts([data])
    got = aiplatform.Execution("vt-exec")
    assert got.display_name == "made by vt"
    assert got.state == aiplatform.compat.types.execution.Execution.State.COMPLETE
    assert [a.resource_name for a in got.get_input_artifacts()] == [data.name]
    assert aiplatform.Artifact("vt-data").metadata == {"n": 1}
    assert LOC in got.resource_name


def test_sdk_lists_follow_next_page_token(server: Server) -> None:
    # The SDK never sends pageSize; the server answers 100 per page and the SDK follows.
    for i in range(230):
        vt.Artifact.create("system.Dataset", resource_id=f"a-{i:03d}",
                           display_name="many" if i % 2 else "few")
    assert len(aiplatform.Artifact.list()) == 230
    many = aiplatform.Artifact.list(filter='display_name="many"', order_by="name desc")
    assert [a.name for a in many][:2] == ["a-229", "a-227"] and len(many) == 115
