"""The web UI's JSON routes (``vertex-track ui``), against real tracked stores.

Every page's JSON twin, filter errors, unknown ids, the absence of any
mutating route, and that browsing never writes the store.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import BIN, DemoStore
from prefect.cache_policies import INPUTS

import vertex_track as vt
from vertex_track import config
from vertex_track.store import set_read_only
from vertex_track.store.base import MetadataStore

with warnings.catch_warnings():
    # Starlette's TestClient warns on import that it prefers httpx2 (not a dependency).
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from vertex_track.ui.app import create_app

DEMO = pytest.mark.xdist_group("demo_store")


@pytest.fixture
def read_only_mode() -> Iterator[None]:
    """The app switches the process to read-only stores; switch back after the test."""
    yield
    set_read_only(False)


def client_for(read_only_mode: None, store_uri: str | None = None) -> TestClient:
    return TestClient(create_app(store_uri))


@pytest.fixture
def demo(demo_store: DemoStore, monkeypatch: pytest.MonkeyPatch, read_only_mode: None) -> TestClient:
    """A client of the app over the store `make demo` leaves (quickstart + experiments)."""
    monkeypatch.setenv("VERTEX_TRACK_HOME", str(demo_store.home))
    config.reset()
    return TestClient(create_app())


def get(client: TestClient, url: str, status: int = 200, **params: Any) -> Any:
    response = client.get(url, params=params or None)
    assert response.status_code == status, (url, response.text[:2000])
    return response.json()


# -- pipeline runs ----------------------------------------------------------------------

@DEMO
def test_runs_list_newest_first_with_what_the_table_shows(demo: TestClient,
                                                           demo_store: DemoStore) -> None:
    data = get(demo, "/api/runs")
    names = [r["display_name"] for r in data["items"]]
    assert names[:2] == list(demo_store.runs)
    assert data["next_page_token"] is None
    newest = data["items"][0]
    assert newest["flow_name"] == "breast-cancer-classifier"
    assert newest["state"] == "COMPLETE"
    assert newest["executions"] == 4
    assert newest["parameters"] == {"C": 0.05}
    assert newest["duration_s"] > 0 and newest["start_time"] <= newest["end_time"]
    assert [r["create_time"] for r in data["items"]] == sorted(
        (r["create_time"] for r in data["items"]), reverse=True)


@DEMO
def test_runs_are_paged_with_page_tokens(demo: TestClient, demo_store: DemoStore) -> None:
    first = get(demo, "/api/runs", page_size=1)
    assert [r["display_name"] for r in first["items"]] == [demo_store.runs[0]]
    assert first["next_page_token"]
    second = get(demo, "/api/runs", page_size=1, page_token=first["next_page_token"])
    assert [r["display_name"] for r in second["items"]] == [demo_store.runs[1]]
    bad = get(demo, "/api/runs", 400, page_token="not-a-token")
    assert bad["error"] == "invalid_argument" and "page_token" in bad["message"]
    assert demo.get("/api/runs", params={"page_size": 0}).status_code == 422


@DEMO
def test_runs_filter_in_the_filter_language(demo: TestClient, demo_store: DemoStore) -> None:
    hits = get(demo, "/api/runs", filter="metadata.parameters.C.number_value = 0.05")
    assert [r["display_name"] for r in hits["items"]] == [demo_store.runs[0]]
    none = get(demo, "/api/runs", filter='metadata.flow_name.string_value = "no-such-flow"')
    assert none["items"] == []


@DEMO
def test_a_bad_filter_is_a_400_with_the_message_and_position(demo: TestClient) -> None:
    error = get(demo, "/api/runs", 400, filter="display_name = ")
    assert error["error"] == "bad_filter"
    assert error["position"] == len("display_name = ")  # in the filter as typed
    assert "unexpected" in error["message"] and "display_name = \n" in error["message"]
    # A ')' closing the runs restriction would widen the query beyond runs: refused.
    escape = get(demo, "/api/runs", 400, filter='display_name = "x") OR (name = "*"')
    assert escape["error"] == "bad_filter" and escape["position"] == len('display_name = "x"')
    assert "no '(' to close" in escape["message"]
    assert get(demo, "/api/artifacts", 400, filter="schema_title ~ 1")["error"] == "bad_filter"
    assert get(demo, "/api/executions", 400, filter="state = ")["error"] == "bad_filter"


@DEMO
def test_one_run_has_a_timeline_and_its_dag(demo: TestClient) -> None:
    run_id = get(demo, "/api/runs")["items"][0]["resource_id"]
    data = get(demo, f"/api/runs/{run_id}")
    assert data["run"]["resource_id"] == run_id
    tasks = [b["task_name"] for b in data["timeline"]]
    assert tasks == ["load_data", "split", "train", "evaluate"]
    for bar in data["timeline"]:
        assert bar["state"] == "COMPLETE" and bar["start_time"] <= bar["end_time"]
    kinds = {n["kind"] for n in data["dag"]["nodes"]}
    assert kinds == {"artifact", "execution"}
    by_id = {n["id"]: n for n in data["dag"]["nodes"]}
    train_out = [e for e in data["dag"]["edges"] if by_id[e["source"]].get("task_name") == "train"]
    assert [by_id[e["target"]]["schema_title"] for e in train_out] == ["system.Model"]
    # the flow run id works as well as the context id
    assert get(demo, f"/api/runs/{data['run']['flow_run_id']}")["run"]["resource_id"] == run_id
    assert "no PipelineRun" in get(demo, "/api/runs/pipelinerun-nope", 404)["message"]


# -- lineage ------------------------------------------------------------------------------

def _model_id(client: TestClient) -> str:
    """The newest model the quickstart flow trained (the experiments example logs others)."""
    models = get(client, "/api/artifacts",
                 filter='schema_title = "system.Model" AND display_name = "train.output"')
    return str(models["items"][0]["resource_id"])


@DEMO
def test_lineage_of_the_model_goes_back_to_the_raw_data(demo: TestClient) -> None:
    model = _model_id(demo)
    data = get(demo, "/api/lineage", artifact=model)
    assert data["start"]["resource_id"] == model and data["direction"] == "upstream"
    tasks = {e["metadata"]["vertex_track"]["task_name"] for e in data["subgraph"]["executions"]}
    assert {"load_data", "split", "train"} <= tasks and "evaluate" not in tasks
    assert len(data["graph"]["nodes"]) == (len(data["subgraph"]["artifacts"])
                                           + len(data["subgraph"]["executions"]))
    assert data["graph"]["collapsed"] is False
    one_hop = get(demo, "/api/lineage", artifact=model, depth=1)
    assert [e["metadata"]["vertex_track"]["task_name"]
            for e in one_hop["subgraph"]["executions"]] == ["train"]
    down = get(demo, "/api/lineage", artifact=model, direction="downstream", depth=1)
    assert [e["metadata"]["vertex_track"]["task_name"]
            for e in down["subgraph"]["executions"]] == ["evaluate"]
    alone = get(demo, "/api/lineage", artifact=model, depth=0)
    assert [n["resource_id"] for n in alone["graph"]["nodes"]] == [model]


@DEMO
def test_lineage_arguments_are_checked(demo: TestClient) -> None:
    assert "exactly one start node" in get(demo, "/api/lineage", 400)["message"]
    both = get(demo, "/api/lineage", 400, artifact="a", execution="b")
    assert "exactly one" in both["message"]
    assert get(demo, "/api/lineage", 404, artifact="sha256-nope")["error"] == "not_found"
    assert demo.get("/api/lineage", params={"artifact": "x", "direction": "sideways"}
                    ).status_code == 422


# -- experiments -----------------------------------------------------------------------

@DEMO
def test_experiments_table_run_details_and_time_series(demo: TestClient,
                                                      demo_store: DemoStore) -> None:
    listed = get(demo, "/api/experiments")["items"]
    assert [(x["resource_id"], x["runs"]) for x in listed] == [(demo_store.experiment, 4)]
    table = get(demo, f"/api/experiments/{demo_store.experiment}")
    assert [r["run_name"] for r in table["runs"]] == [
        "logreg-c0-01", "logreg-c0-1", "logreg-c1", "sgd-log-loss"]
    assert {"param.C", "metric.accuracy", "metric.roc_auc"} <= set(table["columns"])
    assert table["runs"][0]["values"]["param.C"] == 0.01
    assert "param.C" not in table["runs"][3]["values"]  # the SGD run has no C
    sgd = get(demo, f"/api/experiments/{demo_store.experiment}/runs/sgd-log-loss")
    assert sgd["state"] == "COMPLETE" and sgd["params"]["model"] == "SGDClassifier"
    (cm,) = sgd["classification_metrics"]
    assert cm["labels"] == ["malignant", "benign"] and len(cm["matrix"]) == 2
    assert len(cm["fpr"]) == len(cm["tpr"]) > 2
    series = get(demo, f"/api/experiments/{demo_store.experiment}/runs/sgd-log-loss/time-series")
    assert series["available"] is True and series["step"] == list(range(30))
    assert set(series["series"]) == {"train_loss", "test_accuracy"}
    assert all(len(v) == 30 for v in series["series"].values())
    logreg = get(demo, f"/api/experiments/{demo_store.experiment}/runs/logreg-c1/time-series")
    assert logreg["series"] == {}
    assert get(demo, "/api/experiments/no-such-experiment", 404)["error"] == "not_found"
    missing = get(demo, f"/api/experiments/{demo_store.experiment}/runs/nope", 404)
    assert "does not exist" in missing["message"]


# -- artifacts and executions ----------------------------------------------------------

@DEMO
def test_artifact_detail_links_producer_consumers_and_previews(demo: TestClient) -> None:
    model = get(demo, f"/api/artifacts/{_model_id(demo)}")
    assert model["artifact"]["schema_title"] == "system.Model"
    assert [p["task_name"] for p in model["producers"]] == ["train"]
    assert [c["task_name"] for c in model["consumers"]] == ["evaluate"]
    assert model["producers"][0]["run"].startswith("pipelinerun-")
    assert model["preview"]["kind"] == "object"
    assert "LogisticRegression" in model["preview"]["repr"]
    datasets = get(demo, "/api/artifacts", filter='display_name = "load_data.output"')["items"]
    table = get(demo, f"/api/artifacts/{datasets[0]['resource_id']}")["preview"]
    assert table["kind"] == "table" and table["shape"] == [569, 31]
    assert len(table["rows"]) == 10 and len(table["columns"]) == 31
    metrics = get(demo, "/api/artifacts", filter='display_name = "evaluate.accuracy"')["items"]
    value = get(demo, f"/api/artifacts/{metrics[0]['resource_id']}")["preview"]
    assert value["kind"] == "value" and 0.9 < value["value"] <= 1
    assert get(demo, "/api/artifacts/sha256-nope", 404)["error"] == "not_found"


@DEMO
def test_artifact_download_serves_the_recorded_bytes(demo: TestClient) -> None:
    model = get(demo, f"/api/artifacts/{_model_id(demo)}")
    response = demo.get(f"/api/artifacts/{model['artifact']['resource_id']}/download")
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    assert "sha256:" + hashlib.sha256(response.content).hexdigest() == model["digest"]
    metrics = get(demo, "/api/artifacts", filter='display_name = "evaluate.f1"')["items"]
    inline = demo.get(f"/api/artifacts/{metrics[0]['resource_id']}/download")
    assert inline.status_code == 200 and 0.9 < float(inline.text) <= 1


@DEMO
def test_executions_list_and_detail(demo: TestClient) -> None:
    trains = get(demo, "/api/executions", filter='metadata.vertex_track.task_name.string_value = "train"')
    assert len(trains["items"]) == 2 and {e["task_name"] for e in trains["items"]} == {"train"}
    detail = get(demo, f"/api/executions/{trains['items'][0]['resource_id']}")
    assert detail["run"].startswith("pipelinerun-")
    assert [(a["labels"], a["schema_title"]) for a in detail["outputs"]] == [
        (["output"], "system.Model")]
    assert [a["labels"] for a in detail["inputs"]] == [["train_set"]]
    assert detail["timing"]["task_name"] == "train"
    assert get(demo, "/api/executions/taskrun-nope", 404)["error"] == "not_found"


@DEMO
def test_pages_and_vendored_libraries_are_served(demo: TestClient) -> None:
    for path in ("/", "/runs", "/runs/x", "/lineage", "/experiments", "/experiments/x",
                 "/artifacts", "/artifacts/x", "/executions", "/executions/x"):
        response = demo.get(path)
        assert response.status_code == 200 and "<html" in response.text, path
        # everything comes from this server: no CDN, nothing fetched from elsewhere
        assert 'src="http' not in response.text and 'href="http' not in response.text, path
    for lib in ("cytoscape.min.js", "cytoscape-dagre.min.js", "uPlot.iife.min.js",
                "cytoscape.LICENSE", "VERSIONS.txt"):
        assert demo.get(f"/static/vendor/{lib}").status_code == 200, lib


# -- read-only -----------------------------------------------------------------------------

@DEMO
def test_no_route_accepts_a_mutating_method(demo: TestClient) -> None:
    from vertex_track.ui.routers import experiments, lineage, resources, runs

    routes = [r for m in (runs, lineage, experiments, resources) for r in m.router.routes]
    assert {m for r in routes for m in r.methods} <= {"GET", "HEAD"}
    paths = [r.path for r in routes]
    assert "/api/runs" in paths and "/api/lineage" in paths and len(paths) >= 20
    for path in paths:
        url = path
        for part in ("{run_id}", "{resource_id}", "{name}", "{run}"):
            url = url.replace(part, "x")
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            assert demo.request(method, url).status_code == 405, (method, url)
    for method in ("POST", "PUT", "DELETE"):
        assert demo.request(method, "/static/ui.css").status_code == 405


@DEMO
def test_browsing_never_writes_the_store(demo: TestClient, demo_store: DemoStore) -> None:
    db = demo_store.home / "metadata.db"
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_size)
              for p in db.parent.glob("metadata.db*")}
    runs = get(demo, "/api/runs")["items"]
    for r in runs:
        get(demo, f"/api/runs/{r['resource_id']}")
    model = _model_id(demo)
    get(demo, "/api/lineage", artifact=model, direction="both")
    get(demo, f"/api/artifacts/{model}")
    demo.get(f"/api/artifacts/{model}/download")
    get(demo, f"/api/experiments/{demo_store.experiment}")
    get(demo, f"/api/experiments/{demo_store.experiment}/runs/sgd-log-loss/time-series")
    for e in get(demo, "/api/executions")["items"]:
        get(demo, f"/api/executions/{e['resource_id']}")
    after = {p.name: (p.stat().st_mtime_ns, p.stat().st_size)
             for p in db.parent.glob("metadata.db*")}
    assert after == before
    with pytest.raises(vt.StoreUnavailableError, match="read-only|read only"):
        vt.Context.create("system.Run", display_name="written by the UI process")


def test_a_path_that_is_not_a_store_is_a_clear_error(tmp_path: Path, read_only_mode: None) -> None:
    missing = tmp_path / "typo.db"
    with pytest.raises(vt.StoreUnavailableError, match="typo.db"):
        create_app(f"sqlite:///{missing}")
    assert not missing.exists(), "nothing is created"
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER)")
    size = other.stat().st_size
    with pytest.raises(vt.StoreUnavailableError, match="not a vertex_track store|invoices"):
        create_app(f"sqlite:///{other}")
    assert other.stat().st_size == size


# -- a run with mapped, cached and failed tasks ------------------------------------------

@vt.task(cache_policy=INPUTS)
def square(namespace: str, x: int) -> int:
    return x * x


@vt.task
def total(values: list[int]) -> int:
    return sum(values)


@vt.task
def explode(value: int) -> int:
    raise ValueError(f"refusing {value}")


@vt.flow
def mixed(namespace: str) -> int:
    squares = square.map(namespace, [1, 2, 3, 4, 5, 6])
    squares.wait()
    square(namespace, 1)  # the same inputs as the first mapped call: served from the cache
    result = total(squares)
    explode(result, return_state=True)  # fails; the flow carries on
    return result


@pytest.fixture
def mixed_client(tracked: MetadataStore, read_only_mode: None) -> TestClient:
    import uuid

    assert mixed(uuid.uuid4().hex) == 91
    from vertex_track.tracking import flush

    flush()
    return TestClient(create_app())


def test_timeline_shows_cached_and_failed_task_runs(mixed_client: TestClient,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    run = get(mixed_client, "/api/runs")["items"][0]
    assert run["executions"] == 9 and run["executions_capped"] is False
    from vertex_track.ui.routers import runs

    monkeypatch.setattr(runs, "COUNT_CAP", 4)
    capped = get(mixed_client, "/api/runs")["items"][0]
    assert (capped["executions"], capped["executions_capped"]) == (4, True)
    bars = get(mixed_client, f"/api/runs/{run['resource_id']}")["timeline"]
    states = [(b["task_name"], b["state"]) for b in bars]
    assert states.count(("square", "COMPLETE")) == 6
    assert ("square", "CACHED") in states and ("explode", "FAILED") in states
    failed = next(b for b in bars if b["state"] == "FAILED")
    assert "refusing 91" in (failed["error_message"] or "")


def test_large_lineage_collapses_mapped_executions_into_a_group(mixed_client: TestClient) -> None:
    result = get(mixed_client, "/api/executions",
                 filter='metadata.vertex_track.task_name.string_value = "total"')["items"][0]
    full = get(mixed_client, "/api/lineage", execution=result["resource_id"])
    assert full["graph"]["collapsed"] is False
    assert sum(n["kind"] == "execution" for n in full["graph"]["nodes"]) == 7  # 6 + total
    small = get(mixed_client, "/api/lineage", execution=result["resource_id"], collapse_over=5)
    graph = small["graph"]
    assert graph["collapsed"] is True
    (group,) = [n for n in graph["nodes"] if n["kind"] == "execution_group"]
    assert group["count"] == 6 and group["label"] == "square (6 runs)" and len(group["members"]) == 6
    groups = {n["label"]: n for n in graph["nodes"] if n["kind"] == "artifact_group"}
    assert set(groups) == {"square outputs (6)"}  # the scalar arguments are parameters
    outputs = groups["square outputs (6)"]
    # the start node stays itself; edges are merged with a count
    assert any(n["id"] == result["name"] for n in graph["nodes"])
    into_group = [e for e in graph["edges"] if e["target"] == outputs["id"]]
    assert [(e["source"], e["count"]) for e in into_group] == [(group["id"], 6)]
    # the subgraph itself is never collapsed
    assert len(small["subgraph"]["executions"]) == 7


# -- the command -------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_ui_command_help_and_refusals(tmp_path: Path) -> None:
    cli = str(BIN / "vertex-track")
    env = {**os.environ, "VERTEX_TRACK_HOME": str(tmp_path / "home")}
    shown = subprocess.run([cli, "ui", "--help"], capture_output=True, text=True, env=env)
    assert shown.returncode == 0
    assert "read-only" in shown.stdout and "--port" in shown.stdout and "127.0.0.1" in shown.stdout
    missing = tmp_path / "typo.db"
    refused = subprocess.run([cli, "--store-uri", f"sqlite:///{missing}", "ui"],
                             capture_output=True, text=True, env=env, timeout=60)
    assert refused.returncode == 3 and "typo.db" in refused.stderr
    assert not missing.exists()


@DEMO
def test_ui_command_serves_the_store_on_localhost(demo_store: DemoStore, tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "ui.log"
    # --open goes through Python's webbrowser module, which runs $BROWSER when set.
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.py"
    browser.write_text(f"import sys\nopen({str(opened)!r}, 'w').write(sys.argv[1])\n")
    env = {**demo_store.env, "BROWSER": f"{sys.executable} {browser} %s"}
    with log.open("w") as out:
        proc = subprocess.Popen([str(BIN / "vertex-track"), "ui", "--port", str(port), "--open"],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        body = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/runs", timeout=5) as r:
                    body = r.read()
            except OSError:
                assert proc.poll() is None, log.read_text()
                time.sleep(0.2)
        assert body is not None and demo_store.runs[0].encode() in body
        # another site's name resolving to 127.0.0.1 (DNS rebinding) gets nothing
        rebound = urllib.request.Request(f"http://127.0.0.1:{port}/api/runs",
                                         headers={"Host": f"evil.example:{port}"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(rebound, timeout=5)
        assert refused.value.code == 400
        # the port is taken now: a second server says so and exits 4
        second = subprocess.run([str(BIN / "vertex-track"), "ui", "--port", str(port)],
                                env=demo_store.env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 4 and f"cannot listen on 127.0.0.1:{port}" in second.stderr
        deadline = time.monotonic() + 30
        while not opened.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert opened.read_text() == f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "(read-only) at http://127.0.0.1:" in log.read_text()


# -- both store backends -------------------------------------------------------------------

def test_json_routes_on_each_store_backend(store: MetadataStore, read_only_mode: None) -> None:
    """A run made through the public API, browsed read-only on SQLite and PostgreSQL."""
    run = vt.Context.create("system.PipelineRun", resource_id="pipelinerun-backend",
                            display_name="backend-run",
                            metadata={"flow_name": "f", "state": "FAILED", "parameters": {"n": 3}})
    data = vt.Artifact.create("system.Dataset", display_name="rows", metadata={"rows": 3})
    with vt.start_execution(schema_title="system.ContainerExecution",
                            display_name="fit") as fit:
        fit.assign_input_artifacts([data])
        model = vt.Artifact.create("system.Model", display_name="model")
        fit.assign_output_artifacts([model])
    run.add_artifacts_and_executions([data.name, model.name], [fit.name])
    client = TestClient(create_app())
    (listed,) = get(client, "/api/runs")["items"]
    assert (listed["display_name"], listed["state"], listed["executions"]) == (
        "backend-run", "FAILED", 1)
    detail = get(client, "/api/runs/pipelinerun-backend")
    (bar,) = detail["timeline"]
    assert bar["display_name"] == "fit" and bar["state"] == "COMPLETE"
    assert bar["start_time"] <= bar["end_time"] and bar["duration_s"] >= 0  # from the record
    assert len(detail["dag"]["edges"]) == 2
    graph = get(client, "/api/lineage", artifact=model.resource_id)["graph"]
    assert {n["label"] for n in graph["nodes"]} == {"rows", "fit", "model"}
    shown = get(client, f"/api/artifacts/{data.resource_id}")
    assert shown["preview"]["kind"] == "none" and shown["preview"]["rows"] == 3
    assert [c["display_name"] for c in shown["consumers"]] == ["fit"]
    assert get(client, "/api/runs", 400, filter="state = = 1")["error"] == "bad_filter"
    with pytest.raises(vt.StoreUnavailableError):
        vt.Artifact.create("system.Dataset", display_name="not while the UI reads")


# -- layering ----------------------------------------------------------------------------

def test_the_ui_uses_only_the_public_library_and_nothing_imports_it() -> None:
    import ast

    root = Path(vt.__file__).parent
    # The library's public modules, where the names of vertex_track.__all__ are
    # defined; never a private module, the store's SQL layer, or the CLI.
    def allowed(target: str) -> bool:
        parts = target.split(".")
        return (
            not any(part.startswith("_") for part in parts)
            and not target.startswith(("vertex_track.store.sql", "vertex_track.cli"))
            and target != "vertex_track"  # the package facade sits above the UI
        )

    for path in (root / "ui").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                package = ["vertex_track", *path.relative_to(root).parts[:-1]]
                base = ".".join(package[: len(package) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            elif isinstance(node, ast.ImportFrom):
                target = node.module or ""
            elif isinstance(node, ast.Import):
                target = node.names[0].name
            else:
                continue
            if target.startswith("vertex_track") and not target.startswith("vertex_track.ui"):
                assert allowed(target), f"{path.name} imports {target}"
            for alias in node.names:
                assert not alias.name.startswith("_") or alias.name == "__future__", (
                    f"{path.name} imports the private name {alias.name}")
    importers = sorted(
        str(p.relative_to(root)) for p in root.rglob("*.py")
        if "ui" not in p.relative_to(root).parts[:1]
        and ("vertex_track.ui" in p.read_text() or "from ..ui" in p.read_text()))
    assert importers == ["cli/ui.py"]
