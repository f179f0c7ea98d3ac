"""The REST requests of the Vertex AI documentation ("Manage Vertex ML Metadata"),
sent as plain HTTP to ``vertex-track serve`` and checked through vertex_track's Python API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serve_server import LOCATION, PROJECT, STORE, running_server

import vertex_track as vt

BASE = f"/v1/{STORE}"


@pytest.fixture(params=["sqlite", "postgresql"])
def http(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[httpx.Client]:
    """An HTTP client of a server over a fresh store; ``vt`` reads the same store."""
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'metadata.db'}"
    else:
        uri = request.getfixturevalue("postgres_url")
    with running_server(uri) as srv, httpx.Client(base_url=srv.url, timeout=30) as client:
        vt.init(store_uri=uri, project=PROJECT, location=LOCATION)
        yield client


def ok(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def test_artifacts_create_list_delete_purge(http: httpx.Client) -> None:
    body = {"displayName": "Example artifact", "uri": "gs://your_bucket_name/artifacts/dataset.csv",
            "state": "LIVE", "schemaTitle": "system.Dataset", "schemaVersion": "0.0.1",
            "metadata": {"payload_format": "CSV"}, "labels": {"test_label": "test_label_value"},
            "description": "Description of the example artifact."}
    made = ok(http.post(f"{BASE}/artifacts", params={"artifactId": "example-1"}, json=body))
    assert made["name"] == f"{STORE}/artifacts/example-1"
    assert made["state"] == "LIVE" and made["etag"] == "1"
    assert made["labels"] == {"test_label": "test_label_value"}
    assert made["createTime"].endswith("Z") and made["updateTime"] == made["createTime"]
    stored = vt.Artifact.get("example-1")
    assert stored.metadata == {"payload_format": "CSV"} and stored.uri == body["uri"]
    assert stored.labels == {"test_label": "test_label_value"}

    for i in range(3):
        ok(http.post(f"{BASE}/artifacts", params={"artifactId": f"other-{i}"},
                     json={**body, "displayName": f"Another example {i}"}))
    page = ok(http.get(f"{BASE}/artifacts", params={"pageSize": 2}))
    assert len(page["artifacts"]) == 2 and page["nextPageToken"]
    rest = ok(http.get(f"{BASE}/artifacts", params={"pageSize": 2,
                                                    "pageToken": page["nextPageToken"]}))
    assert "nextPageToken" not in rest
    names = [a["name"] for a in page["artifacts"] + rest["artifacts"]]
    assert sorted(names) == sorted(a.name for a in vt.Artifact.list())
    flt = ok(http.get(f"{BASE}/artifacts", params={"filter": 'display_name = "*example*"'}))
    assert {a["name"] for a in flt["artifacts"]} == {f"{STORE}/artifacts/other-{i}"
                                                      for i in range(3)}
    newer = ok(http.get(f"{BASE}/artifacts",
                        params={"filter": 'create_time>"2022-06-11T12:30:00-08:00"',
                                "orderBy": "display_name desc"}))
    assert [a["displayName"] for a in newer["artifacts"]] == [
        "Example artifact", "Another example 2", "Another example 1", "Another example 0"]

    op = ok(http.delete(f"{BASE}/artifacts/example-1"))
    assert op["done"] is True
    assert op["name"].startswith(f"{STORE}/artifacts/example-1/operations/")
    assert op["metadata"]["@type"].endswith("v1.DeleteOperationMetadata")
    assert op["response"] == {"@type": "type.googleapis.com/google.protobuf.Empty"}
    assert ok(http.get(f"/v1/{op['name']}")) == op
    assert ok(http.get(f"/ui/{op['name']}")) == op
    with pytest.raises(vt.NotFoundError):
        vt.Artifact.get("example-1")

    dry = ok(http.post(f"{BASE}/artifacts:purge",
                       json={"filter": 'display_name = "*example*"', "force": False}))
    assert dry["response"]["purgeCount"] == "3"
    assert len(vt.Artifact.list()) == 3
    done = ok(http.post(f"{BASE}/artifacts:purge",
                        json={"filter": 'display_name = "*example*"', "force": True}))
    assert done["name"].startswith(f"{STORE}/operations/")
    assert done["response"]["@type"].endswith("v1.PurgeArtifactsResponse")
    assert done["response"]["purgeCount"] == "3"
    assert vt.Artifact.list() == []


def test_executions_create_list_delete_purge(http: httpx.Client) -> None:
    body = {"displayName": "Example Execution", "state": "RUNNING", "schemaTitle": "system.Run",
            "schemaVersion": "0.0.1", "metadata": {}, "labels": {"test_label": "v"},
            "description": "Description of the example execution."}
    made = ok(http.post(f"{BASE}/executions", params={"executionId": "ex-1"}, json=body))
    assert made["name"] == f"{STORE}/executions/ex-1" and made["state"] == "RUNNING"
    generated = ok(http.post(f"{BASE}/executions", json={**body, "state": "COMPLETE"}))
    assert vt.Execution.get(generated["name"]).state == vt.ExecutionState.COMPLETE
    listed = ok(http.get(f"{BASE}/executions", params={"filter": 'state = "COMPLETE"'}))
    assert [e["name"] for e in listed["executions"]] == [generated["name"]]
    op = ok(http.delete(f"{BASE}/executions/ex-1"))
    assert op["done"] and op["metadata"]["@type"].endswith("DeleteOperationMetadata")
    assert [e.name for e in vt.Execution.list()] == [generated["name"]]
    done = ok(http.post(f"{BASE}/executions:purge",
                        json={"filter": 'display_name = "*Example*"', "force": True}))
    assert done["response"]["@type"].endswith("v1.PurgeExecutionsResponse")
    assert done["response"]["purgeCount"] == "1" and vt.Execution.list() == []


def test_contexts_create_with_parents_list_delete_purge(http: httpx.Client) -> None:
    parent = ok(http.post(f"{BASE}/contexts", params={"contextId": "exp-1"},
                          json={"displayName": "Experiment 1", "schemaTitle": "system.Experiment"}))
    body = {"displayName": "Example context:", "parentContexts": [parent["name"]],
            "schemaTitle": "system.PipelineRun", "schemaVersion": "0.0.1", "metadata": {},
            "labels": {"test_label": "test_label_value"},
            "description": "Description of the example context."}
    made = ok(http.post(f"{BASE}/contexts", params={"contextId": "run-1"}, json=body))
    assert made["parentContexts"] == [parent["name"]]
    assert vt.Context.get("run-1").parent_contexts == [parent["name"]]
    listed = ok(http.get(f"{BASE}/contexts",
                         params={"filter": f'parent_contexts:"{parent["name"]}"'}))
    assert [c["name"] for c in listed["contexts"]] == [made["name"]]
    op = ok(http.delete(f"{BASE}/contexts/run-1"))
    assert op["done"] is True
    done = ok(http.post(f"{BASE}/contexts:purge",
                        json={"filter": 'schema_title = "system.Experiment"', "force": True}))
    assert done["response"]["@type"].endswith("v1.PurgeContextsResponse")
    assert vt.Context.list() == []


def test_events_and_lineage_over_rest_with_int_enums(http: httpx.Client) -> None:
    q = {"$alt": "json;enum-encoding=int"}
    a = ok(http.post(f"{BASE}/artifacts", params={**q, "artifactId": "in"},
                     json={"schemaTitle": "system.Dataset", "state": 2}))
    assert a["state"] == 2
    b = ok(http.post(f"{BASE}/artifacts", params={**q, "artifactId": "out"},
                     json={"schemaTitle": "system.Model"}))
    e = ok(http.post(f"{BASE}/executions", params={**q, "executionId": "step"},
                     json={"schemaTitle": "system.ContainerExecution", "state": 2}))
    assert e["state"] == 2
    ok(http.post(f"{BASE}/executions/step:addExecutionEvents",
                 json={"events": [{"artifact": a["name"], "type": 1},
                                  {"artifact": b["name"], "type": "OUTPUT"}]}))
    io = ok(http.get(f"{BASE}/executions/step:queryExecutionInputsAndOutputs", params=q))
    assert {x["name"] for x in io["artifacts"]} == {a["name"], b["name"]}
    assert sorted((ev["artifact"], ev["type"]) for ev in io["events"]) == [
        (a["name"], 1), (b["name"], 2)]
    assert [x.name for x in vt.Execution.get("step").get_output_artifacts()] == [b["name"]]
    sub = ok(http.get(f"{BASE}/artifacts/out:queryArtifactLineageSubgraph",
                      params={"maxHops": "2"}))
    assert {x["name"] for x in sub["artifacts"]} == {a["name"], b["name"]}
    assert [x["name"] for x in sub["executions"]] == [e["name"]]
    assert {ev["type"] for ev in sub["events"]} == {"INPUT", "OUTPUT"}
    zero = ok(http.get(f"{BASE}/artifacts/out:queryArtifactLineageSubgraph",
                       params={"maxHops": "0"}))
    assert [x["name"] for x in zero["artifacts"]] == [b["name"]] and zero["executions"] == []
    ok(http.post(f"{BASE}/contexts", params={"contextId": "c"},
                 json={"schemaTitle": "system.PipelineRun"}))
    ok(http.post(f"{BASE}/contexts/c:addContextArtifactsAndExecutions",
                 json={"artifacts": [a["name"]], "executions": [e["name"]]}))
    graph = ok(http.get(f"{BASE}/contexts/c:queryContextLineageSubgraph"))
    assert [x["name"] for x in graph["artifacts"]] == [a["name"]]
    assert [x["name"] for x in graph["executions"]] == [e["name"]]
    ok(http.post(f"{BASE}/contexts", params={"contextId": "c2"},
                 json={"schemaTitle": "system.PipelineRun"}))
    ok(http.post(f"{BASE}/contexts/c:addContextChildren",
                 json={"childContexts": [f"{STORE}/contexts/c2"]}))
    assert vt.Context.get("c2").parent_contexts == [f"{STORE}/contexts/c"]


def test_metadata_store_get_create_and_patch_with_update_mask(http: httpx.Client) -> None:
    got = ok(http.get(BASE))
    assert got["name"] == STORE
    op = ok(http.post(f"/v1/projects/{PROJECT}/locations/{LOCATION}/metadataStores",
                      params={"metadataStoreId": "team"}, json={}))
    assert op["done"] is True
    assert op["response"]["name"] == f"projects/{PROJECT}/locations/{LOCATION}/metadataStores/team"
    assert ok(http.get(f"/ui/{op['name']}"))["done"] is True
    # A resource of another metadata store is invisible from the default one.
    ok(http.post(f"/v1/{op['response']['name']}/artifacts", params={"artifactId": "t"},
                 json={"schemaTitle": "system.Artifact"}))
    assert ok(http.get(f"{BASE}/artifacts"))["artifacts"] == []
    made = ok(http.post(f"{BASE}/artifacts", params={"artifactId": "m"},
                        json={"schemaTitle": "system.Artifact", "displayName": "before",
                              "description": "kept"}))
    patched = ok(http.patch(f"{BASE}/artifacts/m", params={"updateMask": "displayName"},
                            json={"displayName": "after", "description": "ignored",
                                  "etag": made["etag"]}))
    assert (patched["displayName"], patched["description"], patched["etag"]) == (
        "after", "kept", "2")
    created = ok(http.patch(f"{BASE}/artifacts/new", params={"allowMissing": "true"},
                            json={"schemaTitle": "system.Model"}))
    assert created["name"] == f"{STORE}/artifacts/new"


def test_the_server_keeps_its_store_when_the_process_configures_another(tmp_path: Path) -> None:
    served = f"sqlite:///{tmp_path / 'served.db'}"
    with running_server(served) as srv, httpx.Client(base_url=srv.url) as client:
        vt.init(store_uri=f"sqlite:///{tmp_path / 'other.db'}", project=PROJECT,
                location=LOCATION)
        ok(client.post(f"{BASE}/artifacts", params={"artifactId": "here"}, json={}))
        assert vt.Artifact.list() == []
        vt.init(store_uri=served)
        assert [a.resource_id for a in vt.Artifact.list()] == ["here"]


def test_patch_adds_parent_contexts_and_refuses_removing_them(http: httpx.Client) -> None:
    for cid in ("p1", "p2", "child"):
        ok(http.post(f"{BASE}/contexts", params={"contextId": cid},
                     json={"schemaTitle": "system.Experiment"}))
    child = ok(http.get(f"{BASE}/contexts/child"))
    both = [f"{STORE}/contexts/p1", f"{STORE}/contexts/p2"]
    patched = ok(http.patch(f"{BASE}/contexts/child",
                            json={**child, "parentContexts": both, "description": "two parents"}))
    assert sorted(patched["parentContexts"]) == both and patched["description"] == "two parents"
    assert sorted(vt.Context.get("child").parent_contexts) == both
    r = http.patch(f"{BASE}/contexts/child", json={**patched, "parentContexts": both[:1]})
    assert r.status_code == 400 and "cannot be removed" not in r.text
    assert "can only be added to" in r.json()["error"]["message"]
