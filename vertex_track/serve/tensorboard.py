"""TensorboardService, the subset Vertex AI Experiments use for time series, over our store.

What the Vertex SDK calls when an experiment logs time series
(``aiplatform.init(experiment=...)``, ``start_run``,
``log_time_series_metrics``, ``get_experiment_df``,
``run.get_time_series_data_frame()``), answered from the time series of
experiment runs in the metadata store
(:meth:`~vertex_track.store.base.MetadataStore.append_time_series` /
``read_time_series``). Nothing is stored besides the runs' points (the
server only remembers, in memory, time series created but not written to yet):

- **one tensorboard per store**, ``tensorboards/default`` (the default
  tensorboard), which exists from its first use; ``tensorboards.create``
  returns it (as a finished long-running operation);
- a **tensorboard experiment** is the ``system.Experiment`` context of the
  same id (the experiment's name);
- a **tensorboard run** ``experiments/{exp}/runs/{run}`` is the
  ``system.ExperimentRun`` context ``{exp}-{run}`` (the id Vertex AI
  Experiments give a run's context);
- a **time series** is a metric of that run; its id is the metric name's
  UTF-8 bytes in lower-case hex (``loss`` -> ``6c6f7373``), so it is
  deterministic and turns back into the metric name without a lookup.

So runs and time series logged with ``vt.log_time_series_metrics`` are
visible here, and points written here (``:write``) are what
``vt.ExperimentRun(...).get_time_series_data_frame()`` reads.

Limits: only ``SCALAR`` time series (``TENSOR`` and ``BLOB_SEQUENCE`` are
refused with 400); reads return every point (Vertex AI samples at most 1000
per series); a time series created but never written to is listed only by the
server process that created it (it has no points in the store yet).
"""

from __future__ import annotations

import re
import threading
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from .._time import from_micros, now_micros, to_micros
from ..exceptions import AlreadyExistsError, InvalidArgumentError, NotFoundError
from ..experiments import records
from ..experiments.time_series import check_points, check_step
from ..resources import Context
from .errors import ApiError
from .operations import done_operation
from .stores import store_for
from .tb_artifacts import DEFAULT_TENSORBOARD
from .tb_artifacts import router as tb_artifacts_router
from .wire import int64_in, parse_time, read_body, rfc3339, wants_int_enums

__all__ = ["DEFAULT_TENSORBOARD", "metric_of", "router", "time_series_id"]

router = APIRouter()
router.include_router(tb_artifacts_router)  # artifacts/{run}-tb-run, ahead of MetadataService

LOC = "/v1/projects/{project}/locations/{location}"
TB = LOC + "/tensorboards/{tb}"
EXP = TB + "/experiments/{exp}"
RUN = EXP + "/runs/{run}"

VALUE_TYPES = {"VALUE_TYPE_UNSPECIFIED": 0, "SCALAR": 1, "TENSOR": 2, "BLOB_SEQUENCE": 3}
_HEX = re.compile(r"(?:[0-9a-f]{2})+")

# Time series created but not written to yet: {(store uri, prefix, run id): {metric}}.
_created: dict[tuple[str, str, str], set[str]] = {}
_created_lock = threading.Lock()


# -- names -----------------------------------------------------------------------------------
def time_series_id(metric: str) -> str:
    """The time series id of a metric: its UTF-8 bytes in lower-case hex."""
    return metric.encode("utf-8").hex()


def metric_of(ts_id: str) -> str:
    """The metric a time series id stands for.

    Raises:
        ApiError: 404 when ``ts_id`` is not an id this server gives out.
    """
    if _HEX.fullmatch(ts_id):
        try:
            return bytes.fromhex(ts_id).decode("utf-8")
        except UnicodeDecodeError:
            pass
    raise ApiError(404, f"time series {ts_id!r} not found: this server's time series ids are "
                   "the metric name's UTF-8 bytes in hex (list the run's timeSeries to get them)")


def _loc(project: str, location: str) -> str:
    return f"projects/{project}/locations/{location}"


def _tb_name(project: str, location: str) -> str:
    return f"{_loc(project, location)}/tensorboards/{DEFAULT_TENSORBOARD}"


def _check_tb(tb: str) -> None:
    if tb != DEFAULT_TENSORBOARD:
        raise ApiError(404, f"tensorboard {tb!r} not found: this server has one tensorboard per "
                       f"metadata store, {DEFAULT_TENSORBOARD!r} (the default tensorboard)")


def _experiment(store: Any, exp: str) -> Context:
    try:
        ctx = Context.get(exp, store=store)
    except (NotFoundError, InvalidArgumentError):
        raise ApiError(404, f"tensorboard experiment {exp!r} not found: there is no experiment "
                       f"{exp!r} (create it with aiplatform.init(experiment={exp!r}) or "
                       f"vt.init(experiment={exp!r}))") from None
    if ctx.schema_title != records.EXPERIMENT_SCHEMA:
        raise ApiError(404, f"tensorboard experiment {exp!r} not found: context {exp!r} is a "
                       f"{ctx.schema_title}, not a {records.EXPERIMENT_SCHEMA}")
    return ctx


def _run(store: Any, exp: str, run: str) -> Context:
    rid = f"{exp}-{run}"
    try:
        ctx = Context.get(rid, store=store)
    except (NotFoundError, InvalidArgumentError):
        ctx = None
    if ctx is None or ctx.schema_title != records.RUN_SCHEMA:
        raise ApiError(404, f"tensorboard run {run!r} not found in experiment {exp!r}: there is no "
                       f"{records.RUN_SCHEMA} context {rid!r} (start the run first)")
    return ctx


# -- JSON ------------------------------------------------------------------------------------
def _tensorboard_json(store: Any, project: str, location: str) -> dict[str, Any]:
    created = rfc3339(from_micros(0))
    return {
        "name": _tb_name(project, location),
        "displayName": "Default Tensorboard",
        "description": "The time series of the experiment runs in this metadata store",
        "isDefault": True,
        "createTime": created,
        "updateTime": created,
        "etag": "default",
        "blobStoragePathPrefix": "",
    }


def _ctx_times(ctx: Context) -> dict[str, Any]:
    return {"createTime": rfc3339(ctx.create_time), "updateTime": rfc3339(ctx.update_time),
            "etag": ctx.etag}


def _experiment_json(project: str, location: str, ctx: Context) -> dict[str, Any]:
    return {
        "name": f"{_tb_name(project, location)}/experiments/{ctx.resource_id}",
        "displayName": ctx.display_name or ctx.resource_id,
        "description": ctx.description or "",
        "labels": dict(ctx.labels),
        **_ctx_times(ctx),
        "source": "vertex_experiment",
    }


def _run_json(project: str, location: str, exp: str, ctx: Context) -> dict[str, Any]:
    run = ctx.resource_id[len(exp) + 1:]
    return {
        "name": f"{_tb_name(project, location)}/experiments/{exp}/runs/{run}",
        "displayName": ctx.display_name or run,
        "description": ctx.description or "",
        "labels": dict(ctx.labels),
        **_ctx_times(ctx),
    }


def _series_json(request: Request, run_name: str, ctx: Context, metric: str,
                 latest: tuple[int, int, float] | None) -> dict[str, Any]:
    ts_id = time_series_id(metric)
    as_int = wants_int_enums(request)
    out: dict[str, Any] = {
        "name": f"{run_name}/timeSeries/{ts_id}",
        "displayName": metric,
        "valueType": VALUE_TYPES["SCALAR"] if as_int else "SCALAR",
        "pluginName": "scalars",
        "createTime": rfc3339(ctx.create_time),
        "updateTime": rfc3339(ctx.update_time),
        "etag": ts_id[:16],
    }
    if latest is not None:
        out["updateTime"] = rfc3339(from_micros(latest[1]))
        out["metadata"] = {"maxStep": str(latest[0]), "maxWallTime": rfc3339(from_micros(latest[1]))}
    return out


def _point_json(step: int, wall_us: int, value: float) -> dict[str, Any]:
    return {"wallTime": rfc3339(from_micros(wall_us)), "step": str(step), "scalar": {"value": value}}


def _value_type(value: Any, field: str) -> str:
    if value is None or value == "":
        return "SCALAR"
    for name, number in VALUE_TYPES.items():
        if value == number or (isinstance(value, str) and value.upper() == name):
            if name not in ("SCALAR", "VALUE_TYPE_UNSPECIFIED"):
                raise InvalidArgumentError(
                    f"{field} is {name}: this server stores SCALAR time series only "
                    "(what aiplatform.log_time_series_metrics writes)"
                )
            return "SCALAR"
    raise InvalidArgumentError(f"{field} must be SCALAR (1), got {value!r}")


# -- tensorboards ----------------------------------------------------------------------------
@router.get(LOC + "/tensorboards")
def list_tensorboards(request: Request, project: str, location: str,
                      filter: str = "") -> dict[str, Any]:
    """``ListTensorboards``: the one tensorboard (``filter`` may be ``is_default=true``)."""
    store = store_for(project, location)
    text = re.sub(r"\s+", "", filter).lower()
    if text in ("", "is_default=true", "is_default:true"):
        return {"tensorboards": [_tensorboard_json(store, project, location)]}
    if text in ("is_default=false", "is_default:false"):
        return {"tensorboards": []}
    raise ApiError(400, f"unsupported tensorboards filter {filter!r}: this server has only the "
                   "default tensorboard; filter with 'is_default=true' or not at all")


@router.post(LOC + "/tensorboards")
async def create_tensorboard(request: Request, project: str, location: str) -> dict[str, Any]:
    """``CreateTensorboard``: a finished operation whose response is the store's tensorboard."""
    await read_body(request)
    store = store_for(project, location)
    tb = _tensorboard_json(store, project, location)
    return done_operation(
        request, tb["name"], response_type="google.cloud.aiplatform.v1.Tensorboard", response=tb,
        metadata_type="google.cloud.aiplatform.v1.CreateTensorboardOperationMetadata",
    )


# -- time series data (custom methods first: "{tb}:batchRead" must not match "{tb}") -----------
@router.get(TB + ":batchRead")
def batch_read(request: Request, project: str, location: str, tb: str) -> dict[str, Any]:
    """``BatchReadTensorboardTimeSeriesData``: every point of the ``timeSeries`` named, in one read."""
    _check_tb(tb)
    names = request.query_params.getlist("timeSeries")
    if not names:
        raise ApiError(400, "timeSeries is required: the full names of the time series to read "
                       "(repeat the parameter for several)")
    store = store_for(project, location)
    prefix = f"{_tb_name(project, location)}/experiments/"
    wanted: list[tuple[str, str, str]] = []  # (run context id, metric, ts id)
    for name in names:
        m = re.fullmatch(re.escape(prefix) + r"([^/]+)/runs/([^/]+)/timeSeries/([^/]+)", name)
        if not m:
            raise ApiError(400, f"timeSeries {name!r} is not a time series of {_tb_name(project, location)} "
                           "(projects/P/locations/L/tensorboards/T/experiments/E/runs/R/timeSeries/ID)")
        wanted.append((f"{m.group(1)}-{m.group(2)}", metric_of(m.group(3)), m.group(3)))
    found = store.read_time_series(sorted({w[0] for w in wanted}))
    data = []
    as_int = wants_int_enums(request)
    for (rid, metric, ts_id), name in zip(wanted, names):
        if rid not in found:
            raise ApiError(404, f"time series {name!r} not found: its run does not exist")
        points = found[rid].get(metric, [])
        data.append({"tensorboardTimeSeriesId": ts_id,
                     "valueType": VALUE_TYPES["SCALAR"] if as_int else "SCALAR",
                     "values": [_point_json(*p) for p in points]})
    return {"timeSeriesData": data}


@router.get(TB)
def get_tensorboard(request: Request, project: str, location: str, tb: str) -> dict[str, Any]:
    """``GetTensorboard``."""
    _check_tb(tb)
    return _tensorboard_json(store_for(project, location), project, location)


# -- experiments -----------------------------------------------------------------------------
@router.post(EXP + ":write")
async def write_experiment(request: Request, project: str, location: str, tb: str,
                           exp: str) -> dict[str, Any]:
    """``WriteTensorboardExperimentData``: ``:write`` for several runs of one experiment."""
    body = await read_body(request)

    def work() -> dict[str, Any]:
        _check_tb(tb)
        store = store_for(project, location)
        prefix = f"{_tb_name(project, location)}/experiments/{exp}/runs/"
        for i, req in enumerate(body.get("writeRunDataRequests") or []):
            run_name = str(req.get("tensorboardRun", ""))
            if not run_name.startswith(prefix) or "/" in run_name[len(prefix):]:
                raise ApiError(400, f"writeRunDataRequests[{i}].tensorboardRun must be a run of "
                               f"{prefix[:-6]}, got {run_name!r}")
            _write(store, exp, run_name[len(prefix):], req.get("timeSeriesData"),
                   f"writeRunDataRequests[{i}].timeSeriesData")
        return {}

    return await run_in_threadpool(work)


@router.get(TB + "/experiments")
def list_experiments(request: Request, project: str, location: str, tb: str) -> dict[str, Any]:
    """``ListTensorboardExperiments``: every ``system.Experiment`` of the store."""
    _check_tb(tb)
    store = store_for(project, location)
    contexts = Context.list(f'schema_title = "{records.EXPERIMENT_SCHEMA}"', store=store)
    return {"tensorboardExperiments": [_experiment_json(project, location, c) for c in contexts]}


@router.post(TB + "/experiments")
async def create_experiment(request: Request, project: str, location: str, tb: str,
                            tensorboardExperimentId: str = "") -> dict[str, Any]:
    """``CreateTensorboardExperiment``: the ``system.Experiment`` context of that id.

    An experiment context that exists already (``aiplatform.init(experiment=)``
    creates it first) is answered 409 ALREADY_EXISTS, as Vertex AI answers an
    existing tensorboard experiment.
    """
    body = await read_body(request)

    def work() -> dict[str, Any]:
        _check_tb(tb)
        if not tensorboardExperimentId:
            raise ApiError(400, "tensorboardExperimentId is required (the experiment's name)")
        exp = records.experiment_name(tensorboardExperimentId)
        store = store_for(project, location)
        try:
            ctx = Context.create(
                records.EXPERIMENT_SCHEMA, resource_id=exp,
                display_name=body.get("displayName") or exp, description=body.get("description"),
                metadata={"experiment_deleted": False}, store=store,
            )
        except AlreadyExistsError:
            raise AlreadyExistsError(f"tensorboard experiment {exp!r} already exists") from None
        return _experiment_json(project, location, ctx)

    return await run_in_threadpool(work)


@router.get(EXP)
def get_experiment(request: Request, project: str, location: str, tb: str,
                   exp: str) -> dict[str, Any]:
    """``GetTensorboardExperiment``: the ``system.Experiment`` context ``exp``."""
    _check_tb(tb)
    return _experiment_json(project, location, _experiment(store_for(project, location), exp))


# -- runs ------------------------------------------------------------------------------------
@router.post(RUN + ":write")
async def write_run(request: Request, project: str, location: str, tb: str, exp: str,
                    run: str) -> dict[str, Any]:
    """``WriteTensorboardRunData``: append scalar points to the run's time series, durably."""
    body = await read_body(request)

    def work() -> dict[str, Any]:
        _check_tb(tb)
        _write(store_for(project, location), exp, run, body.get("timeSeriesData"), "timeSeriesData")
        return {}

    return await run_in_threadpool(work)


def _write(store: Any, exp: str, run: str, series: Any, field: str) -> int:
    ctx = _run(store, exp, run)
    if not isinstance(series, list):
        raise InvalidArgumentError(f"{field} must be a list of time series data, got {series!r}")
    rows: list[tuple[str, int, int, float]] = []
    for i, item in enumerate(series):
        where = f"{field}[{i}]"
        if not isinstance(item, dict):
            raise InvalidArgumentError(f"{where} must be an object")
        metric = metric_of(str(item.get("tensorboardTimeSeriesId", "")))
        _value_type(item.get("valueType"), f"{where}.valueType")
        for j, point in enumerate(item.get("values") or []):
            at = f"{where}.values[{j}]"
            if not isinstance(point, dict) or not isinstance(point.get("scalar"), dict):
                raise InvalidArgumentError(f"{at} must have a scalar value ({{'scalar': {{'value': 0.5}}}})")
            value = point["scalar"].get("value", 0.0)
            try:
                ((name, number),) = check_points({metric: value})
                step = check_step(int64_in(point.get("step"), f"{at}.step", default=0))
            except TypeError as exc:  # what the Python API raises as TypeError is a bad request here
                raise InvalidArgumentError(f"{at}: {exc}") from None
            wall = point.get("wallTime")
            wall_us = to_micros(parse_time(wall, f"{at}.wallTime")) if wall else _now_us()
            rows.append((name, step, wall_us, number))
    if rows:
        store.append_time_series(ctx.resource_id, rows)
    return len(rows)


def _now_us() -> int:
    return now_micros()


@router.get(EXP + "/runs")
def list_runs(request: Request, project: str, location: str, tb: str, exp: str) -> dict[str, Any]:
    """``ListTensorboardRuns``: the ``system.ExperimentRun`` contexts of the experiment."""
    _check_tb(tb)
    store = store_for(project, location)
    exp_ctx = _experiment(store, exp)
    contexts = Context.list(
        f'schema_title = "{records.RUN_SCHEMA}" AND parent_contexts:"{exp_ctx.name}"', store=store
    )
    return {"tensorboardRuns": [_run_json(project, location, exp, c) for c in contexts]}


@router.post(EXP + "/runs")
async def create_run(request: Request, project: str, location: str, tb: str, exp: str,
                     tensorboardRunId: str = "") -> dict[str, Any]:
    """``CreateTensorboardRun``: the run's ``system.ExperimentRun`` context (created when missing)."""
    body = await read_body(request)

    def work() -> dict[str, Any]:
        _check_tb(tb)
        if not tensorboardRunId:
            raise ApiError(400, "tensorboardRunId is required (the run's name)")
        store = store_for(project, location)
        exp_ctx = _experiment(store, exp)
        rid = records.run_resource_id(exp, tensorboardRunId)
        try:
            ctx = Context.create(
                records.RUN_SCHEMA, resource_id=rid,
                display_name=body.get("displayName") or tensorboardRunId,
                metadata={records.PARAMS_KEY: {}, records.METRICS_KEY: {}, records.STATE_KEY: "RUNNING"},
                parent_contexts=[exp_ctx], store=store,
            )
        except AlreadyExistsError:
            raise AlreadyExistsError(
                f"tensorboard run {tensorboardRunId!r} already exists in experiment {exp!r}"
            ) from None
        return _run_json(project, location, exp, ctx)

    return await run_in_threadpool(work)


@router.get(RUN)
def get_run(request: Request, project: str, location: str, tb: str, exp: str,
            run: str) -> dict[str, Any]:
    """``GetTensorboardRun``: the ``system.ExperimentRun`` context ``{exp}-{run}``."""
    _check_tb(tb)
    return _run_json(project, location, exp, _run(store_for(project, location), exp, run))


@router.delete(RUN)
def delete_run(request: Request, project: str, location: str, tb: str, exp: str,
               run: str) -> dict[str, Any]:
    """``DeleteTensorboardRun`` (long-running, done when returned).

    The run's time series are the experiment run's: they go when the run's
    context is deleted (``ExperimentRun.delete`` deletes it right after), so
    this deletes nothing by itself; it answers 404 for a run that does not exist.
    """
    _check_tb(tb)
    _run(store_for(project, location), exp, run)
    return done_operation(
        request, f"{_tb_name(project, location)}/experiments/{exp}/runs/{run}",
        response_type="google.protobuf.Empty", response={},
        metadata_type="google.cloud.aiplatform.v1.DeleteOperationMetadata",
    )


# -- time series -----------------------------------------------------------------------------
def _key(store: Any, rid: str) -> tuple[str, str, str]:
    return (store.uri, store.prefix, rid)


@router.get(RUN + "/timeSeries")
def list_time_series(request: Request, project: str, location: str, tb: str, exp: str,
                     run: str, filter: str = "") -> dict[str, Any]:
    """``ListTensorboardTimeSeries``: the run's metrics (``filter`` may be ``display_name="x"``)."""
    _check_tb(tb)
    store = store_for(project, location)
    ctx = _run(store, exp, run)
    latest = store.read_time_series([ctx.resource_id], latest=True).get(ctx.resource_id, {})
    with _created_lock:
        metrics = set(latest) | _created.get(_key(store, ctx.resource_id), set())
    if filter.strip():
        m = re.fullmatch(r'\s*display_name\s*=\s*"((?:[^"\\]|\\.)*)"\s*', filter)
        if not m:
            raise ApiError(400, f"unsupported timeSeries filter {filter!r}: use display_name=\"NAME\"")
        metrics &= {m.group(1).replace('\\"', '"').replace("\\\\", "\\")}
    run_name = f"{_tb_name(project, location)}/experiments/{exp}/runs/{run}"
    points = {k: v[-1] for k, v in latest.items() if v}
    return {"tensorboardTimeSeries": [
        _series_json(request, run_name, ctx, metric, points.get(metric)) for metric in sorted(metrics)
    ]}


@router.post(RUN + "/timeSeries")
async def create_time_series(request: Request, project: str, location: str, tb: str, exp: str,
                             run: str, tensorboardTimeSeriesId: str = "") -> dict[str, Any]:
    """``CreateTensorboardTimeSeries``: a SCALAR metric of the run, named by ``displayName``."""
    body = await read_body(request)

    def work() -> dict[str, Any]:
        _check_tb(tb)
        metric = body.get("displayName")
        if not isinstance(metric, str):
            raise InvalidArgumentError("displayName is required: the metric's name, e.g. 'loss'")
        check_points({metric: 0.0})  # the same name rules as vt.log_time_series_metrics
        _value_type(body.get("valueType"), "valueType")
        if tensorboardTimeSeriesId and tensorboardTimeSeriesId != time_series_id(metric):
            raise InvalidArgumentError(
                f"tensorboardTimeSeriesId {tensorboardTimeSeriesId!r} is not allowed: this server names "
                f"a time series after its metric ({time_series_id(metric)!r} for {metric!r}); leave it out"
            )
        store = store_for(project, location)
        ctx = _run(store, exp, run)
        latest = store.read_time_series([ctx.resource_id], latest=True).get(ctx.resource_id, {})
        key = _key(store, ctx.resource_id)
        with _created_lock:
            if metric in latest or metric in _created.get(key, set()):
                raise AlreadyExistsError(f"time series {metric!r} already exists in run {run!r} "
                                         f"of experiment {exp!r}")
            _created.setdefault(key, set()).add(metric)
        run_name = f"{_tb_name(project, location)}/experiments/{exp}/runs/{run}"
        return _series_json(request, run_name, ctx, metric, None)

    return await run_in_threadpool(work)


@router.get(RUN + "/timeSeries/{ts}:read")
def read_time_series(request: Request, project: str, location: str, tb: str, exp: str,
                     run: str, ts: str) -> dict[str, Any]:
    """``ReadTensorboardTimeSeriesData``: every point of one time series."""
    _check_tb(tb)
    store = store_for(project, location)
    ctx = _run(store, exp, run)
    metric = metric_of(ts)
    points = store.read_time_series([ctx.resource_id]).get(ctx.resource_id, {}).get(metric, [])
    as_int = wants_int_enums(request)
    return {"timeSeriesData": {"tensorboardTimeSeriesId": ts,
                               "valueType": VALUE_TYPES["SCALAR"] if as_int else "SCALAR",
                               "values": [_point_json(*p) for p in points]}}


@router.get(RUN + "/timeSeries/{ts}")
def get_time_series(request: Request, project: str, location: str, tb: str, exp: str,
                    run: str, ts: str) -> dict[str, Any]:
    """``GetTensorboardTimeSeries``."""
    _check_tb(tb)
    store = store_for(project, location)
    ctx = _run(store, exp, run)
    metric = metric_of(ts)
    latest = store.read_time_series([ctx.resource_id], latest=True).get(ctx.resource_id, {})
    with _created_lock:
        known = metric in latest or metric in _created.get(_key(store, ctx.resource_id), set())
    if not known:
        raise ApiError(404, f"time series {metric!r} not found in run {run!r} of experiment {exp!r}")
    run_name = f"{_tb_name(project, location)}/experiments/{exp}/runs/{run}"
    pts = latest.get(metric)
    return _series_json(request, run_name, ctx, metric, pts[-1] if pts else None)
