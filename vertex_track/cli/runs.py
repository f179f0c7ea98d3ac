"""``runs list|show|delete``: pipeline runs, one per tracked Prefect flow run.

A pipeline run is the ``system.PipelineRun`` Context that tracking writes for a
flow run (resource id ``pipelinerun-<flow run id>``, display name = the flow
run's name, run facts in its metadata). Its executions are associated to it and
its artifacts attributed to it; one lineage query
(:func:`vertex_track.query_context_lineage_subgraph`) returns all of them.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from typing import Any, Optional

import typer

from ..runs import RunSummary, run_fields
from . import _listing as L
from ._common import and_filter, check_store, handle_errors, quote, resolve
from ._output import (
    Column,
    Id,
    Styled,
    fmt_duration,
    fmt_time,
    fmt_value,
    heading,
    line,
    print_json,
    print_kv,
    print_table,
    state_cell,
)


def _artifact_value(a: Any, width: int) -> str:
    from .resources import artifact_value

    return artifact_value(a, width)


runs_app = typer.Typer(
    help="List and inspect pipeline runs (one per tracked Prefect flow run)."
    "\n\n$ vertex-track runs list\n$ vertex-track runs show crimson-fox",
    no_args_is_help=True,
)

PIPELINE_RUN = "system.PipelineRun"
RUN_FILTER = f'schema_title = "{PIPELINE_RUN}"'
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")


def _context_cls() -> Any:
    from ..resources import Context

    return Context


def resolve_run(ref: str) -> Any:
    """A PipelineRun context by flow run id, flow run name, resource id or full name."""
    context_cls = _context_cls()
    if _UUID.match(ref):
        from ..exceptions import NotFoundError

        try:
            return context_cls.get(f"pipelinerun-{ref.lower()}")
        except NotFoundError:
            pass
    return resolve(context_cls, ref, base_filter=RUN_FILTER, what="pipeline run")


def resolve_run_exactly(ref: str) -> Any:
    """A PipelineRun context whose flow run id, resource id or flow run name is ``ref``.

    No prefixes, no suggestions: ``NotFoundError`` when nothing has that exact name.
    """
    from ..exceptions import InvalidArgumentError, NotFoundError

    context_cls = _context_cls()
    ref = ref.strip().rstrip("…")
    if _UUID.match(ref):
        ref = f"pipelinerun-{ref.lower()}"
    try:
        found = context_cls.get(ref)
    except (NotFoundError, InvalidArgumentError):
        pass
    else:
        if found.schema_title == PIPELINE_RUN:
            return found
    hits = context_cls.list(and_filter(RUN_FILTER, f"display_name = {quote(ref)}"),
                            order_by="create_time desc", page_size=1)
    if hits:
        return hits[0]
    raise NotFoundError(f"no pipeline run named {ref!r}")


def run_summary(ctx: Any) -> dict[str, Any]:
    """The documented JSON of one run (``runs list --json`` items)."""
    return run_fields(ctx)


RUN_COLUMNS = [
    Column("run", style="bold", min_width=12), Column("flow", min_width=8, drop=5),
    Column("state", min_width=8), Column("started", min_width=16, drop=3),
    Column("duration", justify="right", min_width=6, drop=4),
    Column("parameters", max_width=40, drop=1),
    Column("id", style="cyan", min_width=21, drop=2),
]


def _params_text(params: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={fmt_value(v, 20)}" for k, v in params.items())


def run_row(s: dict[str, Any]) -> list[Any]:
    return [
        s["display_name"], s["flow_name"] or "", state_cell(s["state"]),
        fmt_time(s["start_time"] or s["create_time"]), fmt_duration(s["duration_s"]),
        _params_text(s["parameters"]), Id(s["resource_id"]),
    ]


@runs_app.command("list")
@handle_errors
def runs_list(
    filter: Optional[str] = L.FilterOpt,
    flow: Optional[str] = typer.Option(None, "--flow", help="Only runs of this flow (by name)."),
    state: Optional[str] = typer.Option(
        None, "--state", help="Only runs in this state: RUNNING, COMPLETE, FAILED or CANCELLED."
    ),
    limit: int = L.LimitOpt,
    order_by: str = L.OrderOpt,
    json_mode: bool = L.JsonOpt,
) -> None:
    """List pipeline runs, newest first.

    Example:

    $ vertex-track runs list --flow training --state FAILED --limit 5
    """
    check_store()
    f: str | None = RUN_FILTER
    if state and state.upper() not in RUN_STATES:
        from ..exceptions import InvalidArgumentError

        raise InvalidArgumentError(
            f"--state: {state!r} is not a run state; use one of {', '.join(RUN_STATES)}"
        )
    if flow:
        f = and_filter(f, f"metadata.flow_name.string_value = {quote(flow)}")
    if state:
        f = and_filter(f, f"metadata.state.string_value = {quote(state.upper())}")
    f = and_filter(f, filter)
    items, more = L.fetch(_context_cls(), f, limit, order_by, what="pipeline runs")
    if flow and not items:
        _check_flow_exists(flow)
    summaries = [run_summary(c) for c in items]
    if json_mode:
        print_json(summaries)
    else:
        print_table(RUN_COLUMNS, (run_row(s) for s in summaries), empty="no pipeline runs")
    L.more_hint(len(items), more, json_mode)


RUN_STATES = ("RUNNING", "COMPLETE", "FAILED", "CANCELLED")


def _check_flow_exists(flow: str) -> None:
    """No run at all of ``flow``: a not-found error naming the flows that do have runs."""
    f = and_filter(RUN_FILTER, f"metadata.flow_name.string_value = {quote(flow)}")
    context_cls = _context_cls()
    if context_cls.list(f, page_size=1):
        return  # the flow has runs; other conditions left none
    flows: list[str] = []
    for c in context_cls.iter(RUN_FILTER, "create_time desc", page_size=1000):
        name = c.metadata.get("flow_name")
        if isinstance(name, str) and name not in flows:
            flows.append(name)
        if len(flows) >= 200:
            break
    from ._common import not_found

    # A part of the name ("breast-cancer") is what people remember of a flow.
    close = [n for n in flows if flow.lower() in n.lower()][:3]
    not_found("flow", flow, close + flows, hint="flows with runs: " + ", ".join(flows[:10])
              if flows else "no pipeline runs recorded yet")


# -- one run in detail ------------------------------------------------------------------


def load_run(ctx: Any) -> RunSummary:
    """The run's summary: executions in start order, their labelled inputs/outputs."""
    from ..tracking.pipeline_run import PipelineRun

    return PipelineRun(ctx).summary()


TASK_COLUMNS = [
    Column("task", style="bold"), Column("state"), Column("start", justify="right", drop=4),
    Column("duration", justify="right", drop=3),
    Column("inputs", max_width=40, drop=2), Column("outputs", max_width=40, drop=1),
    Column("id", style="cyan", drop=0),
]


def _offset_text(offset: float | None) -> str:
    return "" if offset is None else f"+{fmt_duration(max(offset, 0.0))}"


def task_rows(view: RunSummary) -> list[list[Any]]:
    rows = []
    for t in view.executions:
        offset, duration = view.task_timing(t)
        rows.append([
            t.key + (f"  ({_params_text(t.parameters)})" if t.parameters else ""),
            state_cell(t.execution.state), _offset_text(offset), fmt_duration(duration),
            _io_text(t.inputs), _io_text(t.outputs, sort=True), Id(t.execution.resource_id),
        ])
    return rows


def _io_text(uses: tuple[Any, ...], sort: bool = False) -> str:
    ordered = sorted(uses, key=lambda u: u.label) if sort else uses
    return ", ".join(f"{u.label}={fmt_value(u.value, 16)}" if u.has_value else u.label
                     for u in ordered)


@runs_app.command("show")
@handle_errors
def runs_show(
    run: str = typer.Argument(..., help="Flow run name, flow run id, or the context's id/name."),
    watch: bool = typer.Option(
        False, "--watch", "-w",
        help="Follow the run while it runs: each task's start (from the run's start), "
        "duration and state, until the run ends (Ctrl-C stops watching, not the run).",
    ),
    interval: float = typer.Option(
        1.0, "--interval", min=0.05, help="With --watch: seconds between two looks at the store.",
    ),
    json_mode: bool = L.JsonOpt,
) -> None:
    """Show one pipeline run: its state, parameters, tasks and the artifacts they made.

    With --watch, a live table on a terminal (one line per task state change
    when piped) until the run is COMPLETE, FAILED or CANCELLED; then the
    full view. The table's START column is the task's start from the run's start.

    Example:

    $ vertex-track runs show crimson-fox
    $ vertex-track runs show crimson-fox --watch
    """
    check_store()
    ctx = resolve_run(run)
    if watch:
        ctx = watch_run(ctx, interval, quiet=json_mode)
    view = load_run(ctx)
    if json_mode:
        print_json(view.to_dict())
        return
    s = view.fields()
    pairs: list[tuple[str, Any]] = [
        ("name", s["name"]),
        ("flow", s["flow_name"] or ""),
        ("flow run id", s["flow_run_id"] or ""),
        ("state", state_cell(s["state"])),
        ("started", s["start_time"] or s["create_time"]),
        ("ended", s["end_time"] or ""),
        ("duration", fmt_duration(s["duration_s"])),
        ("parameters", s["parameters"]),
    ]
    print_kv(f"Pipeline run {s['display_name'] or s['resource_id']}", pairs)
    heading(f"Tasks ({len(view.executions)})")
    print_table(TASK_COLUMNS, task_rows(view), empty="no tracked tasks")
    for t in view.executions:
        if t.error_type:
            msg = f"{t.key}: {t.error_type}: {t.error_message or ''}"
            print_kv("Error", [("task", Styled(msg, "red"))])
    produced = [(t.key, u.label, u.artifact) for t in view.executions for u in t.outputs]
    if produced:
        heading(f"Outputs ({len(produced)})")
        print_table(
            [Column("task"), Column("as"), Column("artifact", style="cyan"),
             Column("schema"), Column("content", max_width=40)],
            [[key, label, Id(a.resource_id), a.schema_title, _artifact_value(a, 36)]
             for key, label, a in produced],
        )


# -- watch ------------------------------------------------------------------------------


def watch_run(ctx: Any, interval: float, quiet: bool = False) -> Any:
    """Poll the run until it is no longer RUNNING; returns its final context.

    On a terminal, a live table; piped, one line per task state change
    (``+0.52s  train  RUNNING``); with ``quiet`` (``--json``), nothing until the end.
    """
    import time

    from ._output import is_rich

    context_cls = _context_cls()
    if is_rich() and not quiet:
        from rich.live import Live

        from ._output import console

        with Live(console=console(), auto_refresh=False, transient=False) as live:
            while True:
                ctx = context_cls.get(ctx.resource_id)
                view = load_run(ctx)
                live.update(_live_table(view), refresh=True)
                if run_summary(ctx)["state"] not in (None, "RUNNING"):
                    return ctx
                time.sleep(interval)
    seen: dict[str, str] = {}
    while True:
        ctx = context_cls.get(ctx.resource_id)
        view = load_run(ctx)
        state = run_summary(ctx)["state"]
        if not quiet:
            for t in view.executions:
                now = t.state
                if seen.get(t.key) != now:
                    seen[t.key] = now
                    offset, duration = view.task_timing(t)
                    took = f"  {fmt_duration(duration)}" if now != "RUNNING" else ""
                    line(f"{_offset_text(offset) or '+?'}\t{t.key}\t{now}{took}")
        if state not in (None, "RUNNING"):
            if not quiet:
                line(f"# run {state} in {fmt_duration(run_summary(ctx)['duration_s'])}")
            return ctx
        # A pipe is block-buffered: without a flush, `--watch | grep` would see
        # nothing until the run ends.
        sys.stdout.flush()
        time.sleep(interval)


def _live_table(view: RunSummary) -> Any:
    from rich import box
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    title = Text(f"Pipeline run {view.display_name}  {view.state}"
                 + (f"  {fmt_duration(view.duration_s)}" if view.duration_s is not None else ""),
                 style="bold", no_wrap=True, overflow="ellipsis")
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for c in ("TASK", "STATE", "START", "DURATION"):
        table.add_column(c, justify="right" if c in ("START", "DURATION") else "left",
                         no_wrap=True)
    for t in view.executions:
        offset, duration = view.task_timing(t)
        state = t.state
        style = {"COMPLETE": "green", "FAILED": "bold red", "RUNNING": "yellow"}.get(state, "")
        table.add_row(escape(t.key), f"[{style}]{state}[/]" if style else state,
                      _offset_text(offset), fmt_duration(duration))
    return Group(title, table)


# -- delete -----------------------------------------------------------------------------


@runs_app.command("delete")
@handle_errors
def runs_delete(
    run: str = typer.Argument(..., help="Flow run name, flow run id, or the context's id/name."),
    force: bool = typer.Option(False, "--force", help="Delete (without it: a dry run)."),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="With --force: do not ask (needed when stdin is not a terminal)."
    ),
    running: bool = typer.Option(
        False, "--running",
        help="Also delete a run still marked RUNNING (its flow's process was killed); "
        "refused otherwise, since a live flow may still be writing into it.",
    ),
    json_mode: bool = L.JsonOpt,
) -> None:
    """Delete a pipeline run: its context, its tasks' executions and the artifacts only it has.

    Without --force, a dry run that says what would go. Deleted: the run and its
    subflows' runs, their executions with their events, and their artifacts
    that nothing else references. Kept: artifacts another run also produced or
    used (the same data, shared by content) or that another context holds (an
    experiment run). One transaction: all or nothing. Artifact files stay
    until `vertex-track gc --force`.

    Example:

    $ vertex-track runs delete crimson-fox
    $ vertex-track runs delete crimson-fox --force --yes
    """
    check_store(write=force)
    from ..tracking.pipeline_run import PipelineRun
    from ._common import EXIT_FAILED, EXIT_USAGE, fail
    from ._output import stderr
    from .purge import stdin_is_tty

    ctx = resolve_run(run)
    pipeline_run = PipelineRun(ctx)
    plan = pipeline_run.delete(force=False)
    name = ctx.display_name or ctx.resource_id

    def as_json(result: Any) -> dict[str, Any]:
        return {"run": ctx.name, "display_name": ctx.display_name, "dry_run": not force,
                "contexts": result.contexts, "executions": result.executions,
                "execution_count": result.execution_count, "artifacts": result.artifacts,
                "artifact_count": result.artifact_count,
                "kept_artifacts": result.kept_artifacts,
                "kept_artifact_count": result.kept_artifact_count, "deleted": result.deleted}

    if not json_mode:
        subflows = len(plan.contexts) - 1
        verb = "Deleting" if force else "Would delete"
        stderr(
            f"{verb} pipeline run {name}"
            + (f" and {subflows} subflow run(s)" if subflows else "")
            + f": {plan.execution_count} execution(s) with their events, "
            f"{plan.artifact_count} artifact(s) only it references. "
            f"Kept: {plan.kept_artifact_count} artifact(s) other records also reference.",
            style="bold",
        )
    if run_summary(ctx)["state"] == "RUNNING" and not running:
        stderr(f"note: {name} is still RUNNING; --force refuses it unless --running is given "
               "too (for a run whose process is gone)", style="yellow")
    if not force:
        if json_mode:
            print_json(as_json(plan))
        else:
            stderr("Dry run: nothing was deleted. Add --force to delete.", style="yellow")
        return
    if not yes:
        if not stdin_is_tty():
            fail(f"refusing to delete pipeline run {name} without confirmation: stdin is not "
                 "a terminal; add --yes", EXIT_USAGE)
        if not typer.confirm(f"Delete pipeline run {name}? This cannot be undone",
                             default=False, err=True):
            stderr("Nothing deleted.")
            raise typer.Exit(EXIT_FAILED)
    done = pipeline_run.delete(force=True, running_ok=running)
    if json_mode:
        print_json(as_json(done))
    else:
        stderr(f"Deleted pipeline run {name}: {done.execution_count} execution(s), "
               f"{done.artifact_count} artifact(s). `vertex-track gc --force` frees the files "
               "no artifact references any more.", style="green")
