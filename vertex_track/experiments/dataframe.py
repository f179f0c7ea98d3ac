"""``vt.get_experiment_df``: an experiment's runs side by side, as a pandas DataFrame."""

from __future__ import annotations

from typing import Any

from ..resources import Context
from . import records, time_series
from .records import METRICS_KEY, PARAMS_KEY, RUN_SCHEMA, STATE_KEY
from .run import resolve_store

_FIXED = ("experiment_name", "run_name", "run_type", "state")


def get_experiment_df(
    experiment: Any = None, *, include_time_series: bool = True, store: Any = None
) -> Any:
    """One row per run of ``experiment``: its name, state, params and metrics.

    Columns, in this order (as the Vertex SDK): ``experiment_name``,
    ``run_name``, ``run_type`` (``system.ExperimentRun``), ``state``, then
    ``param.<key>``, ``metric.<key>`` and ``time_series_metric.<key>`` (the
    value at each time series' latest step), each group in key order. A run
    without some key has NaN (None for strings) there. Rows are ordered by
    run creation time. Time series points still buffered in this process are
    written first.

    Args:
        experiment: name or ``system.Experiment`` Context; default
            ``vt.init(experiment=...)``.
        include_time_series: add the ``time_series_metric.*`` columns.
        store: a metadata store (default: the configured one).

    Raises:
        ImportError: pandas is not installed (``pip install 'vertex-track[pandas]'``).
        NotFoundError: the experiment does not exist.
        InvalidArgumentError: no experiment given or set.
    """
    pd = time_series.require_pandas("get_experiment_df")
    s = resolve_store(store)
    name = records.experiment_name(experiment)
    exp_ctx = records.get_experiment(s, name)
    runs = Context.list(
        f'schema_title = "{RUN_SCHEMA}" AND parent_contexts:"{exp_ctx.name}"', store=s
    )
    latest: dict[str, dict[str, float]] = {}
    if include_time_series and runs:
        time_series.flush_all(s)
        latest = time_series.latest_values(s, [r.resource_id for r in runs])
    rows = []
    groups: dict[str, set[str]] = {"param.": set(), "metric.": set(), "time_series_metric.": set()}
    for run in runs:
        row: dict[str, Any] = {
            "experiment_name": name,
            "run_name": run.display_name,
            "run_type": run.schema_title,
            "state": run.metadata.get(STATE_KEY),
        }
        for prefix, values in (
            ("param.", run.metadata.get(PARAMS_KEY) or {}),
            ("metric.", run.metadata.get(METRICS_KEY) or {}),
            ("time_series_metric.", latest.get(run.resource_id, {})),
        ):
            for key, value in values.items():
                row[prefix + key] = value
                groups[prefix].add(prefix + key)
        rows.append(row)
    columns = [*_FIXED]
    for names in groups.values():
        columns.extend(sorted(names))
    return pd.DataFrame(rows, columns=columns)
