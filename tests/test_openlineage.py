"""OpenLineage events of tracked Prefect flows: live emission, schema, transports, export."""

from __future__ import annotations

import http.server
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import vertex_track as vt
from vertex_track import openlineage as ol
from vertex_track.openlineage import events as ev
from vertex_track.openlineage import spool
from vertex_track.store.base import MetadataStore

pytest.importorskip("openlineage.client")
jsonschema = pytest.importorskip("jsonschema")

# The RunEvent structure of the OpenLineage specification (OpenLineage.json,
# https://openlineage.io/spec/2-0-2/OpenLineage.json): required fields, the
# event types, facets with _producer and _schemaURL. openlineage-python does
# not ship the JSON file itself, so its structure is restated here; each event
# is also rebuilt with the client's own generated classes (validate()).
_FACET = {
    "type": "object", "required": ["_producer", "_schemaURL"],
    "properties": {"_producer": {"type": "string", "format": "uri"},
                   "_schemaURL": {"type": "string", "format": "uri"}},
}
_FACETS = {"type": "object", "additionalProperties": {"$ref": "#/$defs/Facet"}}
_DATASET = {
    "type": "object", "required": ["namespace", "name"],
    "properties": {"namespace": {"type": "string"}, "name": {"type": "string"},
                   "facets": _FACETS, "inputFacets": _FACETS, "outputFacets": _FACETS},
}
RUN_EVENT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": {"Facet": _FACET},
    "type": "object",
    "required": ["run", "job", "eventTime", "producer", "schemaURL"],
    "properties": {
        "eventType": {"enum": ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]},
        "eventTime": {"type": "string", "format": "date-time"},
        "producer": {"type": "string", "format": "uri"},
        "schemaURL": {"type": "string", "format": "uri"},
        "run": {"type": "object", "required": ["runId"], "properties": {
            "runId": {"type": "string", "format": "uuid"}, "facets": _FACETS}},
        "job": {"type": "object", "required": ["namespace", "name"], "properties": {
            "namespace": {"type": "string"}, "name": {"type": "string"}, "facets": _FACETS}},
        "inputs": {"type": "array", "items": _DATASET},
        "outputs": {"type": "array", "items": _DATASET},
    },
}


def validate(event: dict[str, Any]) -> None:
    """The event against the RunEvent schema, and through the client's own model classes."""
    checker = jsonschema.Draft202012Validator(
        RUN_EVENT_SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    checker.validate(event)
    from openlineage.client.serde import Serde

    from vertex_track.openlineage.transport import to_client_event

    # Rebuilt by the client (its validators: eventTime, runId, producer), serialized back.
    assert json.loads(Serde.to_json(to_client_event(event))) == event
    # The standard facets we emit, rebuilt with the client's generated facet classes.
    from openlineage.client.generated import (
        datasource_dataset,
        error_message_run,
        job_type_job,
        parent_run,
        schema_dataset,
    )

    def plain(facet: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in facet.items() if not k.startswith("_")}

    facets = event["run"]["facets"]
    if "parent" in facets:
        p = facets["parent"]
        parent_run.ParentRunFacet(
            run=parent_run.Run(**p["run"]), job=parent_run.Job(**p["job"]))
        assert p["_schemaURL"] == parent_run.ParentRunFacet._get_schema()
    if "errorMessage" in facets:
        error_message_run.ErrorMessageRunFacet(**plain(facets["errorMessage"]))
        assert facets["errorMessage"]["_schemaURL"] == (
            error_message_run.ErrorMessageRunFacet._get_schema())
    job_type = event["job"]["facets"]["jobType"]
    job_type_job.JobTypeJobFacet(**plain(job_type))
    assert job_type["_schemaURL"] == job_type_job.JobTypeJobFacet._get_schema()
    for ds in [*event["inputs"], *event["outputs"]]:
        source = ds["facets"]["dataSource"]
        datasource_dataset.DatasourceDatasetFacet(**plain(source))
        assert source["_schemaURL"] == datasource_dataset.DatasourceDatasetFacet._get_schema()
        if "schema" in ds["facets"]:
            fields = ds["facets"]["schema"]["fields"]
            schema_dataset.SchemaDatasetFacet(
                fields=[schema_dataset.SchemaDatasetFacetFields(**f) for f in fields])


@pytest.fixture
def emitted(tracked: MetadataStore, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """OpenLineage configured the OpenLineage way (file transport, OPENLINEAGE__ variables)."""
    path = tmp_path / "openlineage.jsonl"
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "file")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__LOG_FILE_PATH", str(path))
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__APPEND", "true")
    vt.init()  # settings re-read: the OpenLineage configuration turns emission on
    assert ol.enabled()
    yield path
    ol.disable()


def read_events(path: Path) -> list[dict[str, Any]]:
    assert ol.flush(30)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def by_job(events: list[dict[str, Any]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in events:
        out.setdefault(e["job"]["name"], []).append(e["eventType"])
    return out


# -- flows -------------------------------------------------------------------------------
@vt.task
def load(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(n, dtype=np.int64), "y": np.arange(n) * 0.5})


@vt.task
def double(frame: pd.DataFrame) -> pd.DataFrame:
    return frame * 2


@vt.task
def total(frame: pd.DataFrame) -> float:
    return float(frame["y"].sum())


@vt.flow(name="ol-three")
def three_tasks(n: int = 5) -> float:
    return total(double(load(n)))


def test_three_task_flow_emits_valid_start_and_complete_events(emitted: Path) -> None:
    three_tasks(5)
    events = read_events(emitted)
    for event in events:
        validate(event)
    jobs = by_job(events)
    assert jobs == {
        "ol-three": ["START", "COMPLETE"],
        "ol-three.load": ["START", "COMPLETE"],
        "ol-three.double": ["START", "COMPLETE"],
        "ol-three.total": ["START", "COMPLETE"],
    }
    assert {e["job"]["namespace"] for e in events} == {"vertex_track"}
    run = vt.PipelineRun.list()[0]
    flow_run_id = ev.run_id(run.name)
    assert events[0]["run"]["runId"] == flow_run_id and events[0]["eventType"] == "START"
    assert events[-1]["run"]["runId"] == flow_run_id and events[-1]["eventType"] == "COMPLETE"
    done = {e["job"]["name"]: e for e in events if e["eventType"] == "COMPLETE"}
    for name in ("load", "double", "total"):
        assert done[f"ol-three.{name}"]["run"]["facets"]["parent"]["run"]["runId"] == flow_run_id
    # The DataFrame load made is the dataset double read: same name, schema facet with its dtypes.
    made = done["ol-three.load"]["outputs"]
    assert len(made) == 1 and made[0]["namespace"] == "file"
    assert made[0]["name"].startswith(str(emitted.parent / "artifacts"))
    assert [{**d, "outputFacets": {}} for d in done["ol-three.double"]["inputs"]] == [
        {**d, "inputFacets": {}} for d in made]
    assert made[0]["facets"]["schema"]["fields"] == [
        {"name": "x", "type": "int64"}, {"name": "y", "type": "float64"}]
    digest = made[0]["facets"]["vertexTrackArtifact"]["digest"]
    assert digest.startswith("sha256:") and made[0]["facets"]["version"]["datasetVersion"] == digest
    # A float kept inline in metadata: the inline namespace, named by its artifact.
    inline = done["ol-three.total"]["outputs"][0]
    assert inline["namespace"] == ev.INLINE_NAMESPACE
    assert inline["name"].startswith("projects/local/locations/local/metadataStores/default/artifacts/inline-")


@vt.task
def explode(x: int) -> int:
    raise ValueError(f"bad input {x}")


@vt.flow(name="ol-fails")
def failing() -> int:
    return explode(3)


def test_failed_task_and_flow_emit_fail_with_error_message(emitted: Path) -> None:
    with pytest.raises(ValueError, match="bad input 3"):
        failing()
    events = read_events(emitted)
    for event in events:
        validate(event)
    assert by_job(events) == {"ol-fails": ["START", "FAIL"], "ol-fails.explode": ["START", "FAIL"]}
    fails = [e for e in events if e["eventType"] == "FAIL"]
    for e in fails:
        assert e["run"]["facets"]["errorMessage"]["message"] == "ValueError: bad input 3"
        assert e["run"]["facets"]["errorMessage"]["programmingLanguage"] == "python"


calls = {"n": 0}


@vt.task(cache=True)
def costly(n: int) -> np.ndarray:
    calls["n"] += 1
    return np.arange(n, dtype=np.float64)


@vt.flow(name="ol-cached")
def cached_flow(n: int = 4) -> float:
    return float(costly(n).sum())


def test_cached_run_is_complete_with_the_reused_execution(emitted: Path) -> None:
    calls["n"] = 0
    cached_flow(4)
    cached_flow(4)
    assert calls["n"] == 1
    events = read_events(emitted)
    for event in events:
        validate(event)
    ends = [e for e in events if e["job"]["name"] == "ol-cached.costly" and e["eventType"] != "START"]
    assert [e["eventType"] for e in ends] == ["COMPLETE", "COMPLETE"]
    first, second = ends
    assert "vertexTrackCache" not in first["run"]["facets"]
    cache = second["run"]["facets"]["vertexTrackCache"]
    original = first["run"]["facets"]["vertexTrackExecution"]["execution"]
    assert cache["reusedExecution"] == original and cache["cachedBy"] == "vertex_track"
    assert second["run"]["facets"]["vertexTrackExecution"]["state"] == "CACHED"
    assert second["outputs"] == first["outputs"]


@vt.task
def square(x: int) -> int:
    return x * x


@vt.flow(name="ol-child")
def child(values: list[int]) -> int:
    return sum(square.map(values).result())


@vt.flow(name="ol-parent")
def parent() -> int:
    return child([1, 2, 3])


def test_map_and_subflow_runs_name_their_parents(emitted: Path) -> None:
    assert parent() == 14
    events = read_events(emitted)
    for event in events:
        validate(event)
    jobs = by_job(events)
    assert jobs["ol-parent"] == ["START", "COMPLETE"]
    assert jobs["ol-child"] == ["START", "COMPLETE"]
    assert sorted(jobs["ol-child.square"]) == ["COMPLETE"] * 3 + ["START"] * 3
    runs = {r.flow_name: r for r in vt.PipelineRun.list()}
    child_start = next(e for e in events if e["job"]["name"] == "ol-child")
    assert child_start["run"]["facets"]["parent"] == {
        **child_start["run"]["facets"]["parent"],
        "run": {"runId": ev.run_id(runs["ol-parent"].name)},
        "job": {"namespace": "vertex_track", "name": "ol-parent"},
    }
    squares = {e["run"]["runId"] for e in events if e["job"]["name"] == "ol-child.square"}
    assert len(squares) == 3
    for e in events:
        if e["job"]["name"] == "ol-child.square":
            assert e["run"]["facets"]["parent"]["run"]["runId"] == ev.run_id(runs["ol-child"].name)


def test_export_replays_exactly_what_was_emitted(
    emitted: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    three_tasks(3)
    with pytest.raises(ValueError):
        failing()
    live = read_events(emitted)
    assert len(live) == 12
    from vertex_track.openlineage.replay import export_events, sort_events

    exported = list(export_events("vertex_track"))
    key = lambda e: (e["run"]["runId"], e["eventType"])  # noqa: E731
    assert sorted(exported, key=key) == sorted(live, key=key)
    assert exported == sort_events(exported)
    # The CLI, twice: the same JSON lines; through the configured transport: the same
    # events the live emitter sent.
    env = {**os.environ, "VERTEX_TRACK_STORE_URI": vt.config.get_settings().store_uri}
    cli = [sys.executable, "-m", "vertex_track.cli", "export", "openlineage"]
    out1, out2, sent = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "sent.jsonl"
    for out in (out1, out2):
        subprocess.run([*cli, "--output", str(out)], check=True, env=env, timeout=120)
    assert out1.read_text() == out2.read_text()
    lines = [json.loads(line) for line in out1.read_text().splitlines()]
    assert lines == exported
    # --filter and --since select pipeline runs.
    from vertex_track.openlineage.replay import export_events as select

    only = list(select("vertex_track", filter='metadata.flow_name.string_value = "ol-fails"'))
    assert {e["job"]["name"] for e in only} == {"ol-fails", "ol-fails.explode"}
    import datetime as dt

    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    assert list(select("vertex_track", since=later)) == []
    subprocess.run([*cli, "--since", "2000-01-01", "--output", str(out2)], check=True, env=env,
                   timeout=120)
    assert out2.read_text() == out1.read_text()
    env["OPENLINEAGE__TRANSPORT__LOG_FILE_PATH"] = str(sent)
    done = subprocess.run([*cli, "--transport"], check=True, env=env, timeout=120,
                          capture_output=True, text=True)
    assert "sent 12 OpenLineage events" in done.stdout
    replayed = [json.loads(line) for line in sent.read_text().splitlines()]
    assert sorted(replayed, key=key) == sorted(live, key=key)


def test_export_rejects_a_bad_since_and_conflicting_outputs(tracked: MetadataStore) -> None:
    from typer.testing import CliRunner

    from vertex_track.cli.app import app

    result = CliRunner().invoke(app, ["export", "openlineage", "--since", "yesterday"])
    assert result.exit_code == 2
    assert "--since must be an ISO 8601 date or time" in result.output
    result = CliRunner().invoke(app, ["export", "openlineage", "--output", "x", "--transport"])
    assert result.exit_code == 2 and "pick one" in result.output


# -- transports ------------------------------------------------------------------------
class _Collector(http.server.BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    fail = False

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if type(self).fail:
            self.send_response(503)
            self.end_headers()
            return
        type(self).received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Collector]]]:
    handler = type("Handler", (_Collector,), {"received": [], "fail": False})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


def test_http_transport_receives_the_events_in_order(
    tracked: MetadataStore, server: tuple[str, type[_Collector]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, handler = server
    monkeypatch.setenv("OPENLINEAGE_URL", url)
    monkeypatch.setenv("VERTEX_TRACK_OPENLINEAGE_NAMESPACE", "team-a")
    vt.init()
    try:
        three_tasks(4)
        assert ol.flush(30)
    finally:
        ol.disable()
    got = handler.received
    assert [(e["job"]["name"], e["eventType"]) for e in got] == [
        ("ol-three", "START"),
        ("ol-three.load", "START"), ("ol-three.load", "COMPLETE"),
        ("ol-three.double", "START"), ("ol-three.double", "COMPLETE"),
        ("ol-three.total", "START"), ("ol-three.total", "COMPLETE"),
        ("ol-three", "COMPLETE"),
    ]
    assert {e["job"]["namespace"] for e in got} == {"team-a"}
    for event in got:
        validate(event)


def test_transport_failure_warns_keeps_the_flow_and_loses_nothing(
    tracked: MetadataStore, server: tuple[str, type[_Collector]],
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    url, handler = server
    handler.fail = True
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "http")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__URL", url)
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__RETRY", '{"total": 0}')
    vt.init()
    try:
        with caplog.at_level(logging.WARNING, logger="vertex_track.openlineage"):
            assert three_tasks(4) == pytest.approx(2 * sum(range(4)) * 0.5 * 1)
            assert ol.flush(30)
        assert "OpenLineage events could not be sent" in caplog.text
        assert vt.PipelineRun.list()[0].state == vt.ExecutionState.COMPLETE
        kept = list(spool.read())
        assert len(kept) == 8 and handler.received == []
        # The collector is back: the spool is sent, in order, and emptied.
        handler.fail = False
        sent = spool.resend(lambda e: _post(url, e))
        assert sent == 8 and spool.pending() == []
        assert handler.received == kept
    finally:
        ol.disable()


def _post(url: str, event: dict[str, Any]) -> None:
    import urllib.request

    request = urllib.request.Request(
        url + "/api/v1/lineage", data=json.dumps(event).encode(),
        headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).close()


# -- naming, settings, zero cost ----------------------------------------------------------
@pytest.mark.parametrize(("uri", "namespace", "name"), [
    ("/data/x.parquet", "file", "/data/x.parquet"),
    ("file:///data/x.parquet", "file", "/data/x.parquet"),
    ("file://nas01/data/x.parquet", "file://nas01", "/data/x.parquet"),
    ("s3://bucket/runs/x.parquet", "s3://bucket", "runs/x.parquet"),
    ("gs://bucket/runs/x.npy", "gs://bucket", "runs/x.npy"),
    ("gcs://bucket/runs/x.npy", "gs://bucket", "runs/x.npy"),
    ("memory://store/sha256/ab/x", "memory://store", "sha256/ab/x"),
    ("", ev.INLINE_NAMESPACE, "projects/p/locations/l/metadataStores/m/artifacts/inline-1"),
])
def test_datasets_are_named_by_the_openlineage_naming_rules(
    uri: str, namespace: str, name: str,
) -> None:
    artifact = ev.ArtifactInfo(
        "projects/p/locations/l/metadataStores/m/artifacts/inline-1", uri, "system.Dataset",
        {"vertex_track": {"digest": "sha256:00"}},
    )
    ds = ev.dataset(artifact)
    assert (ds["namespace"], ds["name"]) == (namespace, name)
    assert ds["facets"]["dataSource"]["name"] == namespace
    assert ds["facets"]["vertexTrackArtifact"]["digest"] == "sha256:00"


def test_run_ids_are_stable_uuids_of_the_record() -> None:
    name = "projects/local/locations/local/metadataStores/default/executions/taskrun-1"
    assert ev.run_id(name) == ev.run_id(name)
    assert ev.run_id(name) != ev.run_id(name + "0")
    import uuid

    assert uuid.UUID(ev.run_id(name)).version == 5


def test_bad_settings_say_what_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(vt.InvalidArgumentError, match="must be 'auto', 'on' or 'off', got 'yes'"):
        vt.init(openlineage="yes")
    with pytest.raises(vt.InvalidArgumentError, match="openlineage_namespace .* non-empty"):
        vt.init(openlineage_namespace=" ")


def test_without_openlineage_configuration_nothing_listens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vertex_track.tracking import flows, writer

    for key in list(os.environ):
        if key.startswith("OPENLINEAGE"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no openlineage.yml here
    monkeypatch.setenv("HOME", str(tmp_path))
    vt.init()
    assert not ol.enabled() and writer.listeners == [] and flows.listeners == []
    vt.init(openlineage="on")
    assert ol.enabled() and len(writer.listeners) == 1 and len(flows.listeners) == 1
    vt.init(openlineage="off")
    assert not ol.enabled() and writer.listeners == [] and flows.listeners == []


def test_spool_is_resent_in_order_and_a_dead_senders_claim_is_taken_back(tmp_path: Path) -> None:
    events = [{"n": i} for i in range(5)]
    path = spool.append(events[:3])
    spool.append(events[3:])
    # A process that died while sending this file left it claimed.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    claimed = path.with_name(f"{path.name}.sending-{dead.stdout.strip()}")
    os.rename(path, claimed)
    assert list(spool.read()) == events
    got: list[dict[str, Any]] = []

    def flaky(event: dict[str, Any]) -> None:
        if event["n"] == 2 and not got[2:]:
            got.append({"failed": 2})
            raise ConnectionError("collector down")
        got.append(event)

    with pytest.raises(ConnectionError):
        spool.resend(flaky)
    assert list(spool.read()) == events[2:]  # what was not sent stays, in order
    assert spool.resend(got.append) == 3
    assert [e for e in got if "n" in e] == events and spool.pending() == []


def test_events_queued_at_interpreter_exit_are_written(tmp_path: Path) -> None:
    script = tmp_path / "plain.py"
    script.write_text(
        "import vertex_track as vt\n"
        "@vt.track\n"
        "def add(a: list, b: int) -> list:\n"
        "    return a + [b]\n"
        "for i in range(20):\n"
        "    add([1, 2, 3], i)\n"
    )
    events = tmp_path / "events.jsonl"
    env = {
        **os.environ, "VERTEX_TRACK_HOME": str(tmp_path / "home"),
        "OPENLINEAGE__TRANSPORT__TYPE": "file",
        "OPENLINEAGE__TRANSPORT__LOG_FILE_PATH": str(events),
        "OPENLINEAGE__TRANSPORT__APPEND": "true",
        "VERTEX_TRACK_OPENLINEAGE_NAMESPACE": "scripts",
    }
    subprocess.run([sys.executable, str(script)], check=True, env=env, timeout=120, cwd=tmp_path)
    got = [json.loads(line) for line in events.read_text().splitlines()]
    assert len(got) == 40
    assert {(e["job"]["namespace"], e["job"]["name"]) for e in got} == {("scripts", "add")}
    assert sorted(e["eventType"] for e in got) == ["COMPLETE"] * 20 + ["START"] * 20
    for event in got:
        validate(event)
        assert "parent" not in event["run"]["facets"]  # no flow run around them
