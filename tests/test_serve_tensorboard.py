"""TensorboardService of ``vertex-track serve`` as plain HTTP: tensorboards, experiments, runs,
time series, ``:write`` and ``:batchRead``, over the time series of the metadata store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("pandas")

from serve_server import LOC, LOCATION, PROJECT, running_server  # noqa: E402

import vertex_track as vt  # noqa: E402

TB = f"{LOC}/tensorboards/default"
INT = {"$alt": "json;enum-encoding=int"}


@pytest.fixture(params=["sqlite", "postgresql"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store (SQLite, and PostgreSQL when configured) that vt.* reads too."""
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'metadata.db'}"
    else:
        uri = request.getfixturevalue("postgres_url")
    vt.init(store_uri=uri, project=PROJECT, location=LOCATION)
    return uri


@contextmanager
def client(store_uri: str) -> Iterator[Any]:
    """An HTTP client of a server over ``store_uri``, based at ``/v1/``."""
    with running_server(store_uri) as srv, httpx.Client(base_url=f"{srv.url}/v1/") as http:
        yield http


@pytest.fixture
def http(store_uri: str) -> Iterator[Any]:
    with client(store_uri) as http:
        yield http


def error(response: Any, code: int, status: str) -> str:
    """The message of a Google-shaped error response, after checking its code and status."""
    assert response.status_code == code, response.text
    body = response.json()["error"]
    assert body["code"] == code and body["status"] == status
    return str(body["message"])


def make_run(http: Any, exp: str = "exp", run: str = "r1") -> str:
    """An experiment and a run created through the API; returns the run's name."""
    assert http.post(f"{TB}/experiments", params={"tensorboardExperimentId": exp},
                     json={"displayName": exp}).status_code == 200
    r = http.post(f"{TB}/experiments/{exp}/runs", params={"tensorboardRunId": run},
                  json={"displayName": run})
    assert r.status_code == 200, r.text
    return str(r.json()["name"])


# -- tensorboards ----------------------------------------------------------------------------
def test_the_default_tensorboard_is_listed_got_and_created(http: Any) -> None:
    for params in ({}, {"filter": "is_default=true"}, {"filter": "is_default = true"}):
        (tb,) = http.get(f"{LOC}/tensorboards", params=params).json()["tensorboards"]
        assert tb["name"] == TB and tb["isDefault"] is True
    assert http.get(f"{LOC}/tensorboards", params={"filter": "is_default=false"}).json() == {
        "tensorboards": []}
    assert http.get(TB).json()["displayName"] == "Default Tensorboard"

    op = http.post(f"{LOC}/tensorboards", json={"displayName": "mine", "isDefault": True}).json()
    assert op["done"] is True and op["response"]["name"] == TB
    assert op["response"]["@type"].endswith("google.cloud.aiplatform.v1.Tensorboard")
    root = str(http.base_url).removesuffix("/v1/")
    polled = http.get(f"{root}/ui/{op['name']}")  # where Google's SDK polls
    assert polled.status_code == 200 and polled.json()["done"] is True


def test_unknown_tensorboards_and_filters_are_refused(http: Any) -> None:
    msg = error(http.get(f"{LOC}/tensorboards/123"), 404, "NOT_FOUND")
    assert "one tensorboard per metadata store, 'default'" in msg
    msg = error(http.get(f"{LOC}/tensorboards", params={"filter": 'display_name="x"'}),
                400, "INVALID_ARGUMENT")
    assert "filter with 'is_default=true'" in msg


# -- experiments and runs --------------------------------------------------------------------
def test_experiments_and_runs_are_the_stores_contexts(http: Any, store_uri: str) -> None:
    msg = error(http.get(f"{TB}/experiments/exp"), 404, "NOT_FOUND")
    assert "no experiment 'exp'" in msg
    run_name = make_run(http)
    assert run_name == f"{TB}/experiments/exp/runs/r1"
    assert http.get(f"{TB}/experiments/exp").json()["displayName"] == "exp"
    assert http.get(run_name).json()["displayName"] == "r1"
    assert [r["name"] for r in http.get(f"{TB}/experiments/exp/runs").json()["tensorboardRuns"]] == [
        run_name]
    assert [e["name"] for e in http.get(f"{TB}/experiments").json()["tensorboardExperiments"]] == [
        f"{TB}/experiments/exp"]

    # the same records vt.start_run / vt.ExperimentRun.create write
    exp = vt.Context.get("exp")
    assert exp.schema_title == "system.Experiment" and exp.metadata == {"experiment_deleted": False}
    run = vt.ExperimentRun("r1", experiment="exp")
    assert run.state.value == "RUNNING" and run.get_params() == {}
    assert vt.Context.get("exp-r1").parent_contexts == [exp.name]

    # and runs vt created are tensorboard runs
    vt.ExperimentRun.create("r2", experiment="exp")
    assert http.get(f"{TB}/experiments/exp/runs/r2").json()["name"].endswith("/runs/r2")


def test_bad_experiment_and_run_requests(http: Any) -> None:
    msg = error(http.post(f"{TB}/experiments", params={"tensorboardExperimentId": "Bad Name"},
                          json={}), 400, "INVALID_ARGUMENT")
    assert "experiment must be 1-63 characters of [a-z0-9_-]" in msg
    error(http.post(f"{TB}/experiments", json={}), 400, "INVALID_ARGUMENT")
    make_run(http)
    msg = error(http.post(f"{TB}/experiments", params={"tensorboardExperimentId": "exp"}, json={}),
                409, "ALREADY_EXISTS")
    assert "tensorboard experiment 'exp' already exists" in msg
    msg = error(http.post(f"{TB}/experiments/exp/runs", params={"tensorboardRunId": "r1"}, json={}),
                409, "ALREADY_EXISTS")
    assert "tensorboard run 'r1' already exists" in msg
    msg = error(http.post(f"{TB}/experiments/nope/runs", params={"tensorboardRunId": "r"}, json={}),
                404, "NOT_FOUND")
    assert "no experiment 'nope'" in msg
    msg = error(http.get(f"{TB}/experiments/exp/runs/missing"), 404, "NOT_FOUND")
    assert "no system.ExperimentRun context 'exp-missing'" in msg


# -- time series ----------------------------------------------------------------------------
def test_time_series_write_and_read(http: Any) -> None:
    run_name = make_run(http)
    ts = http.post(f"{run_name}/timeSeries", params=INT,
                   json={"displayName": "train/loss", "valueType": 1, "pluginName": "scalars"})
    assert ts.status_code == 200, ts.text
    ts_id = ts.json()["name"].rsplit("/", 1)[1]
    assert ts_id == b"train/loss".hex() and ts.json()["valueType"] == 1
    listed = http.get(f"{run_name}/timeSeries").json()["tensorboardTimeSeries"]
    assert [(t["displayName"], t["valueType"]) for t in listed] == [("train/loss", "SCALAR")]

    body = {"timeSeriesData": [{"tensorboardTimeSeriesId": ts_id, "valueType": "SCALAR", "values": [
        {"wallTime": "2024-05-01T12:00:00.5Z", "step": "1", "scalar": {"value": 0.5}},
        {"wallTime": "2024-05-01T12:00:01Z", "step": "2", "scalar": {"value": 0.25}},
    ]}]}
    assert http.post(f"{run_name}:write", json=body).json() == {}

    # written: vt reads the points at once
    frame = vt.ExperimentRun("r1", experiment="exp").get_time_series_data_frame()
    assert frame["step"].tolist() == [1, 2] and frame["train/loss"].tolist() == [0.5, 0.25]
    assert str(frame["wall_time"][0]) == "2024-05-01 12:00:00.500000+00:00"

    read = http.get(f"{TB}:batchRead", params={"timeSeries": f"{run_name}/timeSeries/{ts_id}"}).json()
    (data,) = read["timeSeriesData"]
    assert data["tensorboardTimeSeriesId"] == ts_id
    assert data["values"] == [
        {"wallTime": "2024-05-01T12:00:00.500000Z", "step": "1", "scalar": {"value": 0.5}},
        {"wallTime": "2024-05-01T12:00:01.000000Z", "step": "2", "scalar": {"value": 0.25}},
    ]
    one = http.get(f"{run_name}/timeSeries/{ts_id}:read").json()["timeSeriesData"]
    assert one["values"] == data["values"]
    got = http.get(f"{run_name}/timeSeries/{ts_id}").json()
    assert got["metadata"] == {"maxStep": "2", "maxWallTime": "2024-05-01T12:00:01.000000Z"}
    filtered = http.get(f"{run_name}/timeSeries", params={"filter": 'display_name="train/loss"'})
    assert len(filtered.json()["tensorboardTimeSeries"]) == 1


def test_points_vt_logged_are_read_through_the_api(http: Any) -> None:
    with vt.start_run("r1", experiment="exp"):
        vt.log_time_series_metrics({"acc": 0.5, "loss": 2.0}, step=0)
        vt.log_time_series_metrics({"acc": 0.75}, step=1)
    run_name = f"{TB}/experiments/exp/runs/r1"
    listed = http.get(f"{run_name}/timeSeries").json()["tensorboardTimeSeries"]
    assert [t["displayName"] for t in listed] == ["acc", "loss"]
    read = http.get(f"{TB}:batchRead", params=[("timeSeries", t["name"]) for t in listed]).json()
    assert [[p["scalar"]["value"] for p in d["values"]] for d in read["timeSeriesData"]] == [
        [0.5, 0.75], [2.0]]
    # the TensorBoard-run artifact the SDK looks a run up by, for a run vt started
    art = http.get(f"{LOC}/metadataStores/default/artifacts/exp-r1-tb-run").json()
    assert art["schemaTitle"] == "google.VertexTensorboardRun"
    assert art["metadata"]["resourceName"] == run_name
    error(http.get(f"{LOC}/metadataStores/default/artifacts/nothing-tb-run"), 404, "NOT_FOUND")


def test_bad_time_series_requests_say_what_is_wrong(http: Any) -> None:
    run_name = make_run(http)
    msg = error(http.post(f"{run_name}/timeSeries", json={"displayName": "img", "valueType": "TENSOR"}),
                400, "INVALID_ARGUMENT")
    assert "SCALAR time series only" in msg
    msg = error(http.post(f"{run_name}/timeSeries", json={"valueType": 1}), 400, "INVALID_ARGUMENT")
    assert "displayName is required" in msg
    msg = error(http.post(f"{run_name}/timeSeries", json={"displayName": "x" * 300}),
                400, "INVALID_ARGUMENT")
    assert "metric names must be 1-256 characters" in msg
    http.post(f"{run_name}/timeSeries", json={"displayName": "loss"})
    msg = error(http.post(f"{run_name}/timeSeries", json={"displayName": "loss"}), 409, "ALREADY_EXISTS")
    assert "time series 'loss' already exists" in msg

    loss = b"loss".hex()

    def write(point: dict[str, Any], ts_id: str = loss) -> Any:
        return http.post(f"{run_name}:write", json={"timeSeriesData": [
            {"tensorboardTimeSeriesId": ts_id, "values": [point]}]})

    msg = error(write({"step": "-1", "scalar": {"value": 1.0}}), 400, "INVALID_ARGUMENT")
    assert "step must be >= 0" in msg
    msg = error(write({"step": "1", "scalar": {"value": "NaN"}}), 400, "INVALID_ARGUMENT")
    assert "timeSeriesData[0].values[0]" in msg and "must be float or int" in msg
    msg = error(write({"step": "1", "wallTime": "yesterday", "scalar": {"value": 1.0}}),
                400, "INVALID_ARGUMENT")
    assert "RFC 3339" in msg
    msg = error(write({"step": "1", "tensor": {"value": "AAAA"}}), 400, "INVALID_ARGUMENT")
    assert "must have a scalar value" in msg
    msg = error(write({"step": "1", "scalar": {"value": 1.0}}, ts_id="zz"), 404, "NOT_FOUND")
    assert "time series 'zz' not found" in msg
    msg = error(http.post(f"{TB}/experiments/exp/runs/gone:write", json={"timeSeriesData": []}),
                404, "NOT_FOUND")
    assert "tensorboard run 'gone' not found" in msg
    msg = error(http.get(f"{TB}:batchRead"), 400, "INVALID_ARGUMENT")
    assert "timeSeries is required" in msg
    msg = error(http.get(f"{TB}:batchRead", params={"timeSeries": "projects/x/y"}),
                400, "INVALID_ARGUMENT")
    assert "is not a time series of" in msg
    assert vt.ExperimentRun("r1", "exp").get_time_series_data_frame().empty  # nothing written


def test_experiment_write_covers_several_runs(http: Any) -> None:
    r1 = make_run(http, run="r1")
    r2 = http.post(f"{TB}/experiments/exp/runs", params={"tensorboardRunId": "r2"}, json={}).json()
    acc = b"acc".hex()
    point = {"step": "3", "scalar": {"value": 0.5}}
    body = {"writeRunDataRequests": [
        {"tensorboardRun": r1, "timeSeriesData": [{"tensorboardTimeSeriesId": acc, "values": [point]}]},
        {"tensorboardRun": r2["name"], "timeSeriesData": [
            {"tensorboardTimeSeriesId": acc, "values": [point]}]},
    ]}
    assert http.post(f"{TB}/experiments/exp:write", json=body).json() == {}
    for run in ("r1", "r2"):
        frame = vt.ExperimentRun(run, "exp").get_time_series_data_frame()
        assert frame[["step", "acc"]].to_dict("list") == {"step": [3], "acc": [0.5]}


def test_time_series_survive_a_restart(store_uri: str) -> None:
    with client(store_uri) as first:
        run_name = make_run(first)
        ts = first.post(f"{run_name}/timeSeries", json={"displayName": "loss"}).json()
        first.post(f"{run_name}:write", json={"timeSeriesData": [{
            "tensorboardTimeSeriesId": ts["name"].rsplit("/", 1)[1],
            "values": [{"step": "7", "scalar": {"value": 0.125}}]}]})
    with client(store_uri) as second:
        (listed,) = second.get(f"{run_name}/timeSeries").json()["tensorboardTimeSeries"]
        assert listed["name"] == ts["name"]  # the same id from a new server: derived from the name
        read = second.get(f"{TB}:batchRead", params={"timeSeries": ts["name"]}).json()
        assert read["timeSeriesData"][0]["values"][0]["scalar"] == {"value": 0.125}
