"""``diff``: two pipeline runs side by side (the library's :class:`vertex_track.RunDiff`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import typer

from . import _listing as L
from ._common import check_store, handle_errors
from ._output import (
    Column,
    Styled,
    fmt_duration,
    fmt_time,
    fmt_value,
    heading,
    line,
    print_json,
    print_table,
    short_digest,
    state_cell,
)
from .runs import resolve_run


def _mark(same: bool) -> Styled:
    return Styled("=", "dim") if same else Styled("≠", "bold yellow")


def _delta(value: float | None, unit: str = "") -> str:
    if value is None:
        return ""
    if value == 0:
        return "0"
    if unit == "s":
        return f"{value:+.2f}s" if abs(value) < 10 else f"{value:+.1f}s"
    return f"{value:+.4g}"


@handle_errors
def diff(
    run_a: str = typer.Argument(..., help="The first run (flow run name or id)."),
    run_b: str = typer.Argument(..., help="The second run (flow run name or id)."),
    changes_only: bool = typer.Option(
        False, "--changes-only", "-c", help="Hide rows that are the same in both runs."
    ),
    json_mode: bool = L.JsonOpt,
) -> None:
    """Compare two pipeline runs: state, durations, parameters, inputs, outputs and metrics.

    Inputs and outputs are compared by content digest, so "same data, different
    run" shows as the same. Tasks are matched by task name.

    Example:

    $ vertex-track diff crimson-fox lucky-owl --changes-only
    """
    check_store()
    from ..tracking.pipeline_run import PipelineRun

    d = PipelineRun(resolve_run(run_a)).diff(PipelineRun(resolve_run(run_b))).to_dict()
    if json_mode:
        print_json(d)
        return
    sa, sb = d["a"], d["b"]
    name_a = sa["display_name"] or sa["resource_id"]
    name_b = sb["display_name"] or sb["resource_id"]
    keep = (lambda row: not row["same"]) if changes_only else (lambda row: True)

    overview: list[list[Any]] = [
        ["flow", sa["flow_name"] or "", sb["flow_name"] or "",
         _mark(sa["flow_name"] == sb["flow_name"])],
        ["state", state_cell(sa["state"]), state_cell(sb["state"]), _mark(d["state"]["same"])],
        ["started", fmt_time(sa["start_time"] or sa["create_time"]),
         fmt_time(sb["start_time"] or sb["create_time"]), ""],
        ["duration", fmt_duration(sa["duration_s"]), fmt_duration(sb["duration_s"]),
         _delta(d["duration_s"]["delta"], "s")],
    ]
    print_table(
        [Column("", min_width=8), Column(f"A: {name_a}", upper=False),
         Column(f"B: {name_b}", upper=False), Column("")],
        overview, title=f"Run {name_a} (A) vs {name_b} (B)", plain_title=True,
    )

    def section(title: str, columns: list[Column], rows: list[list[Any]], total: int) -> None:
        hidden = total - len(rows)
        suffix = f", {hidden} unchanged hidden" if hidden else ""
        heading(f"{title} ({total}{suffix})")
        if rows:
            print_table([replace(c, upper=c.header not in ("A", "B")) for c in columns], rows)

    def val(present: bool, value: Any) -> str:
        return fmt_value(value, 30) if present else "-"

    params = d["parameters"]
    section("Parameters", [Column("name"), Column("A"), Column("B"), Column("")],
            [[p["name"], val(p["in_a"], p["a"]), val(p["in_b"], p["b"]), _mark(p["same"])]
             for p in params if keep(p)], len(params))

    tasks = d["tasks"]
    section(
        "Tasks",
        [Column("task"), Column("A state"), Column("B state"), Column("A time", justify="right"),
         Column("B time", justify="right"), Column("")],
        [[t["task"],
          state_cell(t["a"]["state"]) if t["a"] else "-",
          state_cell(t["b"]["state"]) if t["b"] else "-",
          fmt_duration(t["a"]["duration_s"]) if t["a"] else "",
          fmt_duration(t["b"]["duration_s"]) if t["b"] else "",
          _mark(t["same"])]
         for t in tasks if keep(t)], len(tasks))
    for t in tasks:
        for side, brief in (("A", t["a"]), ("B", t["b"])):
            if brief and brief["error"]:
                line(f"{t['task']} failed in {side}: {brief['error']}", style="red")

    tp = d["task_parameters"]
    if tp:
        section("Task parameters",
                [Column("task.param"), Column("A"), Column("B"), Column("")],
                [[f"{p['task']}.{p['name']}", fmt_value(p["a"], 30), fmt_value(p["b"], 30),
                  _mark(p["same"])] for p in tp if keep(p)], len(tp))

    def io_cell(item: dict[str, Any] | None) -> str:
        if item is None:
            return "-"
        if "value" in item:
            return "= " + fmt_value(item["value"], 24)
        return short_digest(item["digest"]) or item["uri"] or item["artifact"].rsplit("/", 1)[-1]

    for title, rows in (("Inputs (by content digest)", d["inputs"]),
                        ("Outputs (by content digest)", d["outputs"])):
        section(title, [Column("task.arg"), Column("A"), Column("B"), Column("")],
                [[f"{r['task']}.{r['label']}", io_cell(r["a"]), io_cell(r["b"]), _mark(r["same"])]
                 for r in rows if keep(r)], len(rows))

    metrics = d["metrics"]
    if metrics:
        section("Metrics", [Column("metric"), Column("A", justify="right"),
                            Column("B", justify="right"), Column("B - A", justify="right")],
                [[m["name"], "-" if m["a"] is None else f"{m['a']:.6g}",
                  "-" if m["b"] is None else f"{m['b']:.6g}", _delta(m["delta"])]
                 for m in metrics if keep(m)], len(metrics))
