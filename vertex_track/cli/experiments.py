"""``experiments list|show``: experiments and their runs by params/metrics."""

from __future__ import annotations

from typing import Any, Optional

import typer

from . import _listing as L
from ._common import and_filter, check_store, handle_errors, quote, resolve
from ._output import Column, fmt_time, fmt_value, print_json, print_table, state_cell

experiments_app = typer.Typer(
    help="List experiments and compare their runs (params and metrics)."
    "\n\n$ vertex-track experiments list\n$ vertex-track experiments show my-experiment",
    no_args_is_help=True
)

EXPERIMENT_FILTER = 'schema_title = "system.Experiment"'
RUN_FILTER = 'schema_title = "system.ExperimentRun"'


def _context_cls() -> Any:
    from ..resources import Context

    return Context


@experiments_app.command("list")
@handle_errors
def experiments_list(
    filter: Optional[str] = L.FilterOpt,
    limit: int = L.LimitOpt,
    order_by: str = L.OrderOpt,
    json_mode: bool = L.JsonOpt,
) -> None:
    """List experiments, newest first, with how many runs each has.

    Example:

    $ vertex-track experiments list --filter 'display_name = "*churn*"'
    """
    check_store()
    from .resources import count

    context_cls = _context_cls()
    items, more = L.fetch(context_cls, and_filter(EXPERIMENT_FILTER, filter), limit, order_by)
    rows = []
    for c in items:
        n = count(context_cls, f"{RUN_FILTER} AND parent_contexts:{quote(c.name)}")
        rows.append({**c.to_dict(), "run_count": n})
    if json_mode:
        print_json(rows)
    else:
        print_table(
            [Column("experiment", style="bold"), Column("runs", justify="right"),
             Column("created"), Column("id", style="cyan")],
            [[r["display_name"] or r["resource_id"], r["run_count"], fmt_time(r["create_time"]),
              r["resource_id"]] for r in rows],
            empty="no experiments",
        )
    L.more_hint(len(items), more, json_mode)


def _state_of(run: Any) -> str:
    state = run.state
    return str(getattr(state, "value", state))


@experiments_app.command("show")
@handle_errors
def experiments_show(
    experiment: str = typer.Argument(..., help="Experiment name (display name or id)."),
    sort: Optional[str] = typer.Option(
        None, "--sort", "-s", metavar="COLUMN",
        help="Order the runs by this column: run, state, param.<name> or metric.<name> "
        "(runs without a value last).",
    ),
    desc: bool = typer.Option(False, "--desc", help="With --sort: largest first."),
    json_mode: bool = L.JsonOpt,
) -> None:
    """Show an experiment's runs as a table: one row per run, a column per param and metric.

    On a narrow terminal the state, then params, then metrics are left out
    (the last ones first, the --sort column last), never squashed.

    Example:

    $ vertex-track experiments show churn-model --sort metric.accuracy --desc
    $ vertex-track experiments show churn-model --json | jq '.runs[].metrics'
    """
    check_store()
    ctx = resolve(_context_cls(), experiment, base_filter=EXPERIMENT_FILTER, what="experiment")
    from ..experiments import ExperimentRun

    runs = ExperimentRun.list(experiment=ctx)
    data: list[dict[str, Any]] = []
    for run in runs:
        params = dict(run.get_params() or {})
        metrics = dict(run.get_metrics() or {})
        data.append({
            "run": run.name,
            "resource_name": run.resource_name,
            "state": _state_of(run),
            "params": params,
            "metrics": metrics,
        })
    param_keys = list(dict.fromkeys(k for d in data for k in d["params"]))
    metric_keys = list(dict.fromkeys(k for d in data for k in d["metrics"]))
    if sort is not None:
        data = sort_runs(data, sort, desc, param_keys, metric_keys)
    if json_mode:
        print_json({"experiment": ctx.display_name or ctx.resource_id, "name": ctx.name,
                    "runs": data})
        return
    # Least important first: the state, the params (last first), the metrics (last
    # first); the sorted column is kept longest. Run names are never dropped.
    names = [f"param.{k}" for k in param_keys] + [f"metric.{k}" for k in metric_keys]
    rank = {n: 1 + i for i, n in enumerate(reversed(names[:len(param_keys)]))}
    rank.update({n: 1 + len(param_keys) + i
                 for i, n in enumerate(reversed(names[len(param_keys):]))})
    if sort in rank:
        rank[sort] = len(names) + 1
    columns = [Column("run", style="bold"), Column("state", drop=0)]
    # Param and metric names are case-sensitive: headers keep their case.
    columns += [Column(f"param.{k}", justify="right", upper=False, drop=rank[f"param.{k}"])
                for k in param_keys]
    columns += [Column(f"metric.{k}", justify="right", style="green", upper=False,
                       drop=rank[f"metric.{k}"]) for k in metric_keys]
    print_table(
        columns,
        [[d["run"], state_cell(d["state"]),
          *[fmt_value(d["params"].get(k, ""), 20) for k in param_keys],
          *[fmt_value(d["metrics"].get(k, ""), 20) for k in metric_keys]]
         for d in data],
        title=f"Experiment {ctx.display_name or ctx.resource_id} ({len(data)} runs)",
        empty="no runs in this experiment",
    )


def sort_runs(data: list[dict[str, Any]], column: str, desc: bool, param_keys: list[str],
              metric_keys: list[str]) -> list[dict[str, Any]]:
    """The runs ordered by ``column`` (``run``, ``state``, ``param.x``, ``metric.x``).

    Numbers sort as numbers, other values as text after them; runs without the
    value come last either way.

    Raises:
        InvalidArgumentError: an unknown column (exit 2), naming the columns there are.
    """
    known = ["run", "state", *(f"param.{k}" for k in param_keys),
             *(f"metric.{k}" for k in metric_keys)]
    if column not in known:
        from ..exceptions import InvalidArgumentError
        from ._common import suggestions

        close = suggestions(column, known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise InvalidArgumentError(
            f"--sort: this experiment has no column {column!r}; {hint}columns: {', '.join(known)}"
        )

    def value(d: dict[str, Any]) -> Any:
        if column in ("run", "state"):
            return d[column]
        group, _, key = column.partition(".")
        return d["params" if group == "param" else "metrics"].get(key)

    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    present = [d for d in data if value(d) not in (None, "")]
    missing = [d for d in data if value(d) in (None, "")]
    present.sort(key=lambda d: (0, value(d), "") if number(value(d)) else (1, 0, str(value(d))),
                 reverse=desc)
    return present + missing
