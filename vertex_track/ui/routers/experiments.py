"""Experiments: the runs x params/metrics table, one run's time series and classification metrics."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from ...exceptions import NotFoundError
from ...experiments import ExperimentRun, get_experiment_df
from ...resources import Context
from .. import views
from ._common import PageSize, PageToken, listing, page, quote

router = APIRouter()

EXPERIMENT_SCHEMA = "system.Experiment"
RUN_SCHEMA = "system.ExperimentRun"
_GROUPS = ("param.", "metric.", "time_series_metric.")


@router.get("/experiments", include_in_schema=False)
def experiments_page() -> FileResponse:
    return page("experiments.html")


@router.get("/experiments/{name}", include_in_schema=False)
def experiment_page(name: str) -> FileResponse:
    return page("experiment.html")


def _experiment(name: str) -> Any:
    context = Context.get(name)
    if context.schema_title != EXPERIMENT_SCHEMA:
        raise NotFoundError(f"no experiment named {name!r} ({name!r} is a "
                               f"{context.schema_title} context)")
    return context


def _runs_of(experiment: Any) -> list[Any]:
    return list(Context.list(
        f'schema_title = "{RUN_SCHEMA}" AND parent_contexts:{quote(experiment.name)}',
        order_by="create_time asc"))


@router.get("/api/experiments")
def list_experiments(page_size: int = PageSize, page_token: str | None = PageToken) -> dict[str, Any]:
    """Experiments, newest first, with their number of runs."""
    contexts = Context.list(f'schema_title = "{EXPERIMENT_SCHEMA}"', order_by="create_time desc",
                               page_size=page_size, page_token=page_token)
    items = [{**views.brief(c), "runs": len(_runs_of(c)), "description": c.description}
             for c in contexts]
    return listing(items, contexts.next_page_token)


@router.get("/api/experiments/{name}")
def get_experiment(name: str) -> dict[str, Any]:
    """Runs x params/metrics: one row per run (oldest first), columns as ``vt.get_experiment_df``.

    ``columns`` lists ``param.*``, ``metric.*`` and (when pandas is installed)
    ``time_series_metric.*`` (each series' latest value) in key order; each row
    has ``run_name``, ``resource_id``, ``state`` and ``values`` by column.
    """
    experiment = _experiment(name)
    try:
        frame = get_experiment_df(name)
    except ImportError:
        rows = _rows_without_pandas(name)
    else:
        rows = [{k: v for k, v in record.items() if not _missing(v)}
                for record in frame.to_dict(orient="records")]
    columns: list[str] = []
    for prefix in _GROUPS:
        columns += sorted({k for r in rows for k in r if k.startswith(prefix)})
    table = [{
        "run_name": r["run_name"],
        "resource_id": f"{name}-{r['run_name']}",
        "state": r.get("state"),
        "values": {c: r[c] for c in columns if c in r},
    } for r in rows]
    return {"experiment": views.brief(experiment), "columns": columns, "runs": table}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _rows_without_pandas(name: str) -> list[dict[str, Any]]:
    rows = []
    for run in ExperimentRun.list(experiment=name):
        row: dict[str, Any] = {"run_name": run.name, "state": str(run.state.value)}
        row.update({f"param.{k}": v for k, v in run.get_params().items()})
        row.update({f"metric.{k}": v for k, v in run.get_metrics().items()})
        rows.append(row)
    return rows


def _run(name: str, run: str) -> Any:
    _experiment(name)
    return ExperimentRun(run, name)


@router.get("/api/experiments/{name}/runs/{run}")
def get_experiment_run(name: str, run: str) -> dict[str, Any]:
    """One run: state, params, metrics, classification metrics, models and pipeline runs."""
    r = _run(name, run)
    return {
        "experiment": name,
        "run_name": r.name,
        "resource_id": r.resource_id,
        "state": str(r.state.value),
        "params": r.get_params(),
        "metrics": r.get_metrics(),
        "classification_metrics": r.get_classification_metrics(),
        "artifacts": [views.brief(a) for a in r.get_artifacts()],
        "pipeline_runs": [views.run_summary(p.context) for p in r.get_pipeline_runs()],
    }


@router.get("/api/experiments/{name}/runs/{run}/time-series")
def get_time_series(name: str, run: str) -> dict[str, Any]:
    """The run's time series, columnar: ``step``, ``wall_time`` and one list per metric.

    ``available`` is false (with a ``message``) when pandas is not installed.
    """
    r = _run(name, run)
    try:
        frame = r.get_time_series_data_frame()
    except ImportError as exc:
        return {"available": False, "message": f"{exc}; pip install 'vertex-track[pandas]'",
                "step": [], "wall_time": [], "series": {}}
    metrics = [c for c in frame.columns if c not in ("step", "wall_time")]
    return {
        "available": True,
        "step": [int(s) for s in frame["step"].tolist()],
        "wall_time": [t.isoformat() for t in frame["wall_time"].tolist()],
        "series": {m: frame[m].tolist() for m in metrics},
    }
