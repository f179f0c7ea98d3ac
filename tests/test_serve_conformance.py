"""The same operations through Google's SDK (over ``vertex-track serve``) and through
``vertex_track``'s Python API leave equal records, and read back equal through either."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("google.cloud.aiplatform")

import google.auth.credentials
from google.cloud import aiplatform
from serve_server import LOCATION, PROJECT, STORE, init_sdk, running_server

import vertex_track as vt
from vertex_track.store import open_store


def with_sdk() -> None:
    """The scenario, written against Google's SDK."""
    data = aiplatform.Artifact.create(schema_title="system.Dataset", uri="gs://b/d.csv",
                                      resource_id="data", display_name="data",
                                      metadata={"rows": 10, "source": "uci"}, description="d")
    model = aiplatform.Artifact.create(schema_title="system.Model", uri="gs://b/model",
                                       resource_id="model", metadata={"framework": "sk"})
    with aiplatform.start_execution(schema_title="system.ContainerExecution",
                                    display_name="train", resource_id="train",
                                    metadata={"lr": 0.1}) as ex:
        ex.assign_input_artifacts([data])
        ex.assign_output_artifacts([model])
    aiplatform.Execution.create(schema_title="system.Run", resource_id="broken",
                                state=aiplatform.gapic.Execution.State.FAILED,
                                credentials=google.auth.credentials.AnonymousCredentials())
    pipe = aiplatform.Context.create(schema_title="system.Pipeline", resource_id="pipe",
                                     display_name="pipe", metadata={"k": "v"})
    pipe.add_artifacts_and_executions(
        artifact_resource_names=[data.resource_name, model.resource_name],
        execution_resource_names=[ex.resource_name])
    run = aiplatform.Context.create(schema_title="system.PipelineRun", resource_id="run")
    pipe.add_context_children([run])
    model.update(metadata={"accuracy": 0.9}, description="scored")


def with_vt() -> None:
    """The same scenario, written against vertex_track."""
    data = vt.Artifact.create("system.Dataset", uri="gs://b/d.csv", resource_id="data",
                              display_name="data", metadata={"rows": 10, "source": "uci"},
                              description="d")
    model = vt.Artifact.create("system.Model", uri="gs://b/model", resource_id="model",
                               metadata={"framework": "sk"})
    with vt.start_execution(schema_title="system.ContainerExecution", display_name="train",
                            resource_id="train", metadata={"lr": 0.1}) as ex:
        ex.assign_input_artifacts([data])
        ex.assign_output_artifacts([model])
    vt.Execution.create("system.Run", resource_id="broken", state="FAILED")
    pipe = vt.Context.create("system.Pipeline", resource_id="pipe", display_name="pipe",
                             metadata={"k": "v"})
    pipe.add_artifacts_and_executions([data.name, model.name], [ex.name])
    run = vt.Context.create("system.PipelineRun", resource_id="run")
    pipe.add_context_children([run])
    model.update(metadata={"accuracy": 0.9}, description="scored")


def snapshot_vt(uri: str) -> dict[str, Any]:
    """Every record of the store, without times and etags, through vertex_track."""
    store = open_store(uri, project=PROJECT, location=LOCATION)
    out: dict[str, Any] = {}
    for cls in (vt.Artifact, vt.Execution, vt.Context):
        out[cls.kind] = sorted(
            (r.name, r.display_name, r.schema_title, r.schema_version,
             str(getattr(r, "state", "")), r.metadata, r.labels, r.description,
             getattr(r, "uri", ""), sorted(getattr(r, "parent_contexts", [])))
            for r in cls.list(store=store))
    out["events"] = sorted(
        (ev.artifact, ev.execution, str(ev.type))
        for e in vt.Execution.list(store=store) for ev in store.get_events(execution=e))
    out["members"] = sorted(
        (c.name, sorted(a.name for a in c.get_artifacts()),
         sorted(e.name for e in c.get_executions()))
        for c in vt.Context.list(store=store))
    return out


def snapshot_sdk(url: str) -> dict[str, Any]:
    """Every record of the store, without times and etags, through Google's SDK."""
    init_sdk(url)
    out: dict[str, Any] = {}
    for cls in (aiplatform.Artifact, aiplatform.Execution, aiplatform.Context):
        rows = []
        for r in cls.list():
            g = r.gca_resource
            rows.append((g.name, g.display_name, g.schema_title, g.schema_version,
                         getattr(getattr(g, "state", None), "name", ""), dict(r.metadata),
                         dict(g.labels), g.description, getattr(g, "uri", ""),
                         sorted(getattr(g, "parent_contexts", []))))
        out[cls.__name__] = sorted(rows)
    out["events"] = sorted(
        (a.resource_name, e.resource_name, kind)
        for e in aiplatform.Execution.list()
        for kind, arts in (("INPUT", e.get_input_artifacts()),
                           ("OUTPUT", e.get_output_artifacts()))
        for a in arts)
    out["members"] = sorted(
        (c.resource_name, sorted(a.resource_name for a in c.get_artifacts()))
        for c in aiplatform.Context.list())
    return out


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sdk_and_python_api_leave_equal_records(backend: str, tmp_path: Path,
                                                request: pytest.FixtureRequest) -> None:
    if backend == "sqlite":
        uri_sdk = f"sqlite:///{tmp_path / 'sdk.db'}"
        uri_vt = f"sqlite:///{tmp_path / 'vt.db'}"
    else:
        uri_sdk = request.getfixturevalue("postgres_url")
        uri_vt = f"sqlite:///{tmp_path / 'vt.db'}"  # one schema per test: compare across backends
    with running_server(uri_sdk) as srv:
        init_sdk(srv.url)
        with_sdk()
    vt.init(store_uri=uri_vt, project=PROJECT, location=LOCATION)
    with_vt()
    by_sdk, by_vt = snapshot_vt(uri_sdk), snapshot_vt(uri_vt)
    assert by_sdk == by_vt
    assert len(by_vt["events"]) == 2 and by_vt["artifacts"][1][5] == {
        "framework": "sk", "accuracy": 0.9}
    assert [e[4] for e in by_vt["executions"]] == ["FAILED", "COMPLETE"]
    # ... and the SDK reads both stores back the same.
    with running_server(uri_sdk) as a:
        seen_a = snapshot_sdk(a.url)
    with running_server(uri_vt) as b:
        seen_b = snapshot_sdk(b.url)
    assert seen_a == seen_b
    assert seen_a["members"][0] == (f"{STORE}/contexts/pipe",
                                    [f"{STORE}/artifacts/data", f"{STORE}/artifacts/model"])
