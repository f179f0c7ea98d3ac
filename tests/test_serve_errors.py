"""``vertex-track serve`` answers bad requests in Google's error shape, with vertex_track's messages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serve_server import LOCATION, PROJECT, STORE, Server, running_server

import vertex_track as vt

BASE = f"/v1/{STORE}"


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[Server]:
    uri = f"sqlite:///{tmp_path / 'metadata.db'}"
    with running_server(uri, max_body_bytes=64 * 1024) as server:
        vt.init(store_uri=uri, project=PROJECT, location=LOCATION)
        yield server


@pytest.fixture
def http(srv: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.url, timeout=30) as client:
        yield client


def error_of(response: httpx.Response, code: int, status: str) -> str:
    """The message of a Google-shaped error response, after checking its code and status."""
    assert response.status_code == code, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code and body["error"]["status"] == status
    return body["error"]["message"]


def test_a_bad_filter_is_invalid_argument_with_the_python_api_message(http: httpx.Client) -> None:
    bad = 'display_name = "x" AND'
    with pytest.raises(vt.FilterError) as exc:
        vt.Artifact.list(filter=bad)
    message = error_of(http.get(f"{BASE}/artifacts", params={"filter": bad}),
                       400, "INVALID_ARGUMENT")
    assert message == str(exc.value)


def test_invalid_fields_get_the_python_api_message(http: httpx.Client) -> None:
    with pytest.raises(vt.InvalidArgumentError) as exc:
        vt.Artifact.create("not a schema")
    message = error_of(http.post(f"{BASE}/artifacts", json={"schemaTitle": "not a schema"}),
                       400, "INVALID_ARGUMENT")
    assert message == str(exc.value)
    msg = error_of(http.post(f"{BASE}/artifacts", params={"artifactId": "Bad Id!"}, json={}),
                   400, "INVALID_ARGUMENT")
    assert "Bad Id!" in msg
    msg = error_of(http.post(f"{BASE}/artifacts", json={"colour": "red"}),
                   400, "INVALID_ARGUMENT")
    assert "unknown Artifact field(s): colour" in msg
    msg = error_of(http.post(f"{BASE}/executions", json={"state": "SLEEPING"}),
                   400, "INVALID_ARGUMENT")
    assert "state must be one of" in msg and "'SLEEPING'" in msg
    msg = error_of(http.post(f"{BASE}/artifacts", json={"metadata": [1, 2]}),
                   400, "INVALID_ARGUMENT")
    assert msg == "metadata must be a JSON object, got list"
    msg = error_of(http.post(f"{BASE}/artifacts", content=b"{not json",
                             headers={"content-type": "application/json"}),
                   400, "INVALID_ARGUMENT")
    assert msg.startswith("the request body is not valid JSON")
    msg = error_of(http.get(f"{BASE}/artifacts", params={"pageSize": "-1"}),
                   400, "INVALID_ARGUMENT")
    assert "pageSize" in msg
    msg = error_of(http.get(f"{BASE}/artifacts", params={"pageToken": "garbage"}),
                   400, "INVALID_ARGUMENT")
    assert "token" in msg
    msg = error_of(http.post(f"{BASE}/artifacts:purge", json={"force": True}),
                   400, "INVALID_ARGUMENT")
    assert msg.startswith("filter is required for purge")
    msg = error_of(http.get(f"/v1/projects/{PROJECT}/locations/bad%20place/metadataStores/default"),
                   400, "INVALID_ARGUMENT")
    assert "location" in msg


def test_custom_methods_refuse_fields_they_do_not_take(http: httpx.Client) -> None:
    vt.Execution.create(resource_id="train")
    vt.Context.create(resource_id="pipe")
    cases = [
        (f"{BASE}/executions/train:addExecutionEvents", {"events": [], "evnts": []},
         "unknown AddExecutionEvents field(s): evnts; the fields are events"),
        (f"{BASE}/contexts/pipe:addContextArtifactsAndExecutions", {"artifact": []},
         "unknown AddContextArtifactsAndExecutions field(s): artifact; "
         "the fields are artifacts, executions"),
        (f"{BASE}/contexts/pipe:addContextChildren", {"children": []},
         "unknown AddContextChildren field(s): children; the fields are childContexts"),
        (f"{BASE}/artifacts:purge", {"filter": "uri = \"x\"", "dryRun": True},
         "unknown purge field(s): dryRun; the fields are filter, force"),
    ]
    for url, body, expected in cases:
        assert error_of(http.post(url, json=body), 400, "INVALID_ARGUMENT") == expected
    assert vt.Context.get("pipe").metadata == {}  # nothing was done


def test_missing_resources_and_routes_are_not_found(http: httpx.Client) -> None:
    msg = error_of(http.get(f"{BASE}/artifacts/nope"), 404, "NOT_FOUND")
    assert msg == f"artifact '{STORE}/artifacts/nope' does not exist"
    error_of(http.delete(f"{BASE}/executions/nope"), 404, "NOT_FOUND")
    error_of(http.get(f"{BASE}/contexts/nope:queryContextLineageSubgraph"), 404, "NOT_FOUND")
    msg = error_of(http.get(f"{BASE}/widgets"), 404, "NOT_FOUND")
    assert "no collection 'widgets'" in msg
    msg = error_of(http.get(f"{BASE}/artifacts/a:frobnicate"), 404, "NOT_FOUND")
    assert "no custom method 'frobnicate'" in msg
    error_of(http.get("/v2/anything"), 404, "NOT_FOUND")
    msg = error_of(http.get(f"/ui/projects/{PROJECT}/locations/{LOCATION}/operations/42"),
                   404, "NOT_FOUND")
    assert "operation" in msg


def test_a_taken_id_is_already_exists(http: httpx.Client) -> None:
    http.post(f"{BASE}/contexts", params={"contextId": "c1"}, json={})
    msg = error_of(http.post(f"{BASE}/contexts", params={"contextId": "c1"}, json={}),
                   409, "ALREADY_EXISTS")
    assert "already exists" in msg


def test_a_stale_etag_is_aborted(http: httpx.Client) -> None:
    made = http.post(f"{BASE}/artifacts", params={"artifactId": "a"}, json={}).json()
    assert made["etag"] == "1"
    assert http.patch(f"{BASE}/artifacts/a", json={**made, "description": "one"}).status_code == 200
    msg = error_of(http.patch(f"{BASE}/artifacts/a", json={**made, "description": "two"}),
                   409, "ABORTED")
    assert "etag '1' is not the stored one '2'" in msg
    error_of(http.delete(f"{BASE}/artifacts/a", params={"etag": "1"}), 409, "ABORTED")
    assert vt.Artifact.get("a").description == "one"
    msg = error_of(http.patch(f"{BASE}/artifacts/a", json={"schemaTitle": "system.Model"}),
                   400, "INVALID_ARGUMENT")
    assert "schema_title cannot be changed" in msg


def test_oversized_bodies_get_413(http: httpx.Client) -> None:
    big = {"metadata": {"blob": "x" * (100 * 1024)}}
    msg = error_of(http.post(f"{BASE}/artifacts", json=big), 413, "INVALID_ARGUMENT")
    assert "65536 bytes" in msg

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while reading
        yield b'{"metadata": {"blob": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}}'

    error_of(http.post(f"{BASE}/artifacts", content=chunks()), 413, "INVALID_ARGUMENT")
    assert vt.Artifact.list() == []


def test_a_token_is_required_when_set(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'metadata.db'}"
    with running_server(uri, token="s3cret") as server, httpx.Client(base_url=server.url) as c:
        msg = error_of(c.get(BASE), 401, "UNAUTHENTICATED")
        assert "no bearer token" in msg
        error_of(c.get(BASE, headers={"Authorization": "Bearer wrong"}), 401, "UNAUTHENTICATED")
        assert c.get(BASE, headers={"Authorization": "Bearer s3cret"}).status_code == 200

        pytest.importorskip("google.cloud.aiplatform")
        import google.auth.exceptions
        import google.oauth2.credentials
        from google.cloud import aiplatform
        from serve_server import init_sdk

        init_sdk(server.url)
        # The SDK answers a 401 by refreshing its credentials, which anonymous ones cannot.
        with pytest.raises(google.auth.exceptions.GoogleAuthError):
            aiplatform.Artifact.create(schema_title="system.Artifact", resource_id="x")
        init_sdk(server.url, credentials=google.oauth2.credentials.Credentials(token="s3cret"))
        made = aiplatform.Artifact.create(schema_title="system.Artifact", resource_id="x")
        assert made.resource_name == f"{STORE}/artifacts/x"


def test_the_sdk_raises_googles_exceptions(srv: Server) -> None:
    pytest.importorskip("google.cloud.aiplatform")
    from google.api_core import exceptions as gexc
    from google.cloud import aiplatform
    from serve_server import init_sdk

    init_sdk(srv.url)
    # google.api_core picks the exception class by HTTP status (400, 409).
    with pytest.raises(gexc.BadRequest, match="expected"):
        aiplatform.Artifact.list(filter="display_name = ")
    aiplatform.Artifact.create(schema_title="system.Artifact", resource_id="dup")
    with pytest.raises(gexc.Conflict, match="already exists"):
        aiplatform.Artifact.create(schema_title="system.Artifact", resource_id="dup")


def test_operation_ids_leave_the_users_global_random_alone() -> None:
    """A script that seeds Python's global random for a reproducible run gets the
    same numbers whether or not the server numbered its operations in between."""
    import random

    from vertex_track.serve.operations import OperationLog

    random.seed(1234)
    expected = random.random()
    random.seed(1234)
    logs = [OperationLog() for _ in range(3)]
    assert random.random() == expected
    first = [log.add("p", {"done": True})["name"] for log in logs]
    assert len(set(first)) == 3  # each log starts its numbering somewhere else
