"""``runs list|show`` and ``diff``: pipeline runs, one per tracked Prefect flow run.

A pipeline run is the ``system.PipelineRun`` Context that tracking writes for a
flow run (resource id ``pipelinerun-<flow run id>``, display name = the flow
run's name, run facts in its metadata). Its executions are associated to it and
its artifacts attributed to it; one lineage query
(:func:`vertex_track.query_context_lineage_subgraph`) returns all of them.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, replace
from typing import Any, Optional

import typer

from . import _listing as L
from ._common import (
    and_filter,
    check_store,
    handle_errors,
    inline_value,
    metadata_vt,
    quote,
    resolve,
    user_metadata,
)
from ._output import (
    Column,
    Id,
    Styled,
    fmt_duration,
    fmt_time,
    fmt_value,
    heading,
    iso,
    line,
    print_json,
    print_kv,
    print_table,
    short_digest,
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
    md = ctx.metadata
    return {
        "name": ctx.name,
        "resource_id": ctx.resource_id,
        "display_name": ctx.display_name,
        "flow_name": md.get("flow_name"),
        "flow_run_id": md.get("flow_run_id"),
        "state": md.get("state"),
        "start_time": md.get("start_time"),
        "end_time": md.get("end_time"),
        "duration_s": md.get("duration_s"),
        "parameters": md.get("parameters") or {},
        "create_time": iso(ctx.create_time),
    }


RUN_COLUMNS = [
    Column("run", style="bold", min_width=12), Column("flow", min_width=8, drop=5),
    Column("state", min_width=8), Column("started", min_width=16, drop=3),
    Column("duration", justify="right", min_width=6, drop=4),
    Column("parameters", max_width=40, drop=1),
    Column("id", style="cyan", min_width=21, drop=2),
]


def _params_text(params: dict[str, Any]) -> str:
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


@dataclass
class TaskView:
    key: str  # task name, "#2" for the second run of the same task
    execution: Any
    params: dict[str, Any]
    inputs: dict[str, Any] = field(default_factory=dict)  # label -> Artifact
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def vt(self) -> dict[str, Any]:
        return metadata_vt(self.execution)

    def to_dict(self) -> dict[str, Any]:
        e, vt = self.execution, self.vt
        return {
            "task": self.key,
            "name": e.name,
            "resource_id": e.resource_id,
            "display_name": e.display_name,
            "task_name": vt.get("task_name"),
            "task_run_id": vt.get("task_run_id"),
            "state": str(e.state),
            "start_time": vt.get("start_time"),
            "end_time": vt.get("end_time"),
            "duration_s": vt.get("duration_s"),
            "error_type": vt.get("error_type"),
            "error_message": vt.get("error_message"),
            "parameters": self.params,
            "inputs": [_io_item(label, a) for label, a in self.inputs.items()],
            "outputs": [_io_item(label, a) for label, a in self.outputs.items()],
        }


def _io_item(label: str, a: Any) -> dict[str, Any]:
    item = {
        "label": label, "artifact": a.name, "display_name": a.display_name,
        "schema_title": a.schema_title, "digest": metadata_vt(a).get("digest"), "uri": a.uri,
    }
    has_value, value = inline_value(a)
    if has_value:
        item["value"] = value
    return item


@dataclass
class RunView:
    context: Any
    tasks: list[TaskView]
    artifacts: list[Any]

    @property
    def summary(self) -> dict[str, Any]:
        return run_summary(self.context)


def load_run(ctx: Any) -> RunView:
    """The run's executions (in start order), their labelled inputs/outputs, its artifacts."""
    from ..lineage import query_context_lineage_subgraph

    graph = query_context_lineage_subgraph(ctx)
    artifacts = {a.name: a for a in graph.artifacts}

    def start(e: Any) -> tuple[str, str, str]:
        # RFC 3339 strings in UTC sort as time; create_time breaks ties.
        started = str(metadata_vt(e).get("start_time") or "")
        return (started, e.create_time.isoformat(), e.name)

    tasks: list[TaskView] = []
    by_name: dict[str, TaskView] = {}
    seen: dict[str, int] = {}
    for e in sorted(graph.executions, key=start):
        base = metadata_vt(e).get("task_name") or e.display_name or e.resource_id
        seen[base] = seen.get(base, 0) + 1
        key = base if seen[base] == 1 else f"{base}#{seen[base]}"
        params = {
            k: v for k, v in user_metadata(e).items()
            if v is None or isinstance(v, (str, int, float, bool))
        }
        view = TaskView(key, e, params)
        tasks.append(view)
        by_name[e.name] = view
    for ev in graph.events:
        found = by_name.get(ev.execution)
        a = artifacts.get(ev.artifact)
        if found is None or a is None:
            continue
        view = found
        label = ev.labels.get("name") or a.display_name or a.resource_id
        target = view.outputs if str(ev.type) == "OUTPUT" else view.inputs
        target.setdefault(label, a)
    return RunView(ctx, tasks, graph.artifacts)


TASK_COLUMNS = [
    Column("task", style="bold"), Column("state"), Column("start", justify="right", drop=4),
    Column("duration", justify="right", drop=3),
    Column("inputs", max_width=40, drop=2), Column("outputs", max_width=40, drop=1),
    Column("id", style="cyan", drop=0),
]


def _parse_time(value: Any) -> Any:
    import datetime as dt

    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def task_timing(view: RunView, t: TaskView, now: Any = None) -> tuple[float | None, float | None]:
    """(seconds from the run's start to the task's start, the task's duration so far)."""
    run_start = _parse_time(view.summary["start_time"]) or view.context.create_time
    started = _parse_time(t.vt.get("start_time"))
    offset = (started - run_start).total_seconds() if started and run_start else None
    duration = t.vt.get("duration_s")
    if duration is None and started is not None and str(t.execution.state) == "RUNNING":
        import datetime as dt

        duration = ((now or dt.datetime.now(dt.timezone.utc)) - started).total_seconds()
    return offset, duration


def _offset_text(offset: float | None) -> str:
    return "" if offset is None else f"+{fmt_duration(max(offset, 0.0))}"


def task_rows(view: RunView) -> list[list[Any]]:
    rows = []
    for t in view.tasks:
        offset, duration = task_timing(view, t)
        rows.append([
            t.key + (f"  ({_params_text(t.params)})" if t.params else ""),
            state_cell(t.execution.state), _offset_text(offset), fmt_duration(duration),
            _io_text(t.inputs), _io_text(t.outputs, sort=True), Id(t.execution.resource_id),
        ])
    return rows


def _io_text(io: dict[str, Any], sort: bool = False) -> str:
    parts = []
    for label, a in sorted(io.items()) if sort else io.items():
        has_value, value = inline_value(a)
        parts.append(f"{label}={fmt_value(value, 16)}" if has_value else label)
    return ", ".join(parts)


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
    s = view.summary
    if json_mode:
        print_json({
            **s,
            "executions": [t.to_dict() for t in view.tasks],
            "artifacts": [a.to_dict() for a in view.artifacts],
        })
        return
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
    heading(f"Tasks ({len(view.tasks)})")
    print_table(TASK_COLUMNS, task_rows(view), empty="no tracked tasks")
    failed = [t for t in view.tasks if t.vt.get("error_type")]
    for t in failed:
        msg = f"{t.key}: {t.vt.get('error_type')}: {t.vt.get('error_message') or ''}"
        print_kv("Error", [("task", Styled(msg, "red"))])
    produced = [(t.key, label, a) for t in view.tasks for label, a in t.outputs.items()]
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
            for t in view.tasks:
                now = str(t.execution.state)
                if seen.get(t.key) != now:
                    seen[t.key] = now
                    offset, duration = task_timing(view, t)
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


def _live_table(view: RunView) -> Any:
    from rich import box
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    s = view.summary
    title = Text(f"Pipeline run {s['display_name']}  {s['state']}"
                 + (f"  {fmt_duration(s['duration_s'])}" if s["duration_s"] is not None else ""),
                 style="bold", no_wrap=True, overflow="ellipsis")
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for c in ("TASK", "STATE", "START", "DURATION"):
        table.add_column(c, justify="right" if c in ("START", "DURATION") else "left",
                         no_wrap=True)
    for t in view.tasks:
        offset, duration = task_timing(view, t)
        state = str(t.execution.state)
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


# -- diff -------------------------------------------------------------------------------


def _identity(a: Any) -> str:
    """What makes two artifacts "the same content": the digest, else the URI, else the name."""
    vt = metadata_vt(a)
    return vt.get("digest") or a.uri or a.name


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def run_metrics(view: RunView) -> list[tuple[tuple[str, str, str], float]]:
    """Numeric values of the run's ``*Metrics`` outputs as ((task, label, key), value)."""
    out: list[tuple[tuple[str, str, str], float]] = []
    for t in view.tasks:
        for label, a in t.outputs.items():
            if not a.schema_title.endswith("Metrics"):
                continue
            values = {k: v for k, v in user_metadata(a).items() if k != "value"}
            has_value, inline = inline_value(a)
            if has_value and isinstance(inline, dict):
                values.update(inline)
            elif has_value:
                values[""] = inline
            for key, value in values.items():
                number = _number(value)
                if number is not None:
                    out.append(((t.key, label, str(key)), number))
    return out


def _metric_names(
    a: list[tuple[tuple[str, str, str], float]], b: list[tuple[tuple[str, str, str], float]]
) -> dict[tuple[str, str, str], str]:
    """Short metric names: the key alone unless two outputs share it."""
    owners: dict[str, set[tuple[str, str]]] = {}
    for (task, label, key), _ in a + b:
        owners.setdefault(key or label, set()).add((task, label))
    names = {}
    for (task, label, key), _ in a + b:
        # A scalar output is named by its output key ({"accuracy": ...} returned
        # by a task gives one artifact per key), a dict's entries by their keys.
        short = key or ("" if _GENERIC_LABEL.match(label) else label)
        if short and len(owners[key or label]) == 1:
            names[(task, label, key)] = short
        else:
            prefix = task if _GENERIC_LABEL.match(label) else f"{task}.{label}"
            names[(task, label, key)] = f"{prefix}.{key}" if key else prefix
    return names


_GENERIC_LABEL = re.compile(r"^output(\.\d+)?$")


def _same(a: Any, b: Any) -> bool:
    return a == b and type(a) is type(b)


def diff_runs(a: RunView, b: RunView) -> dict[str, Any]:
    """The documented JSON of ``diff``; every row has ``a``, ``b`` and ``same``."""
    sa, sb = a.summary, b.summary
    out: dict[str, Any] = {"a": sa, "b": sb}
    out["state"] = {"a": sa["state"], "b": sb["state"], "same": sa["state"] == sb["state"]}
    da, db = sa["duration_s"], sb["duration_s"]
    out["duration_s"] = {
        "a": da, "b": db,
        "delta": (db - da) if _number(da) is not None and _number(db) is not None else None,
    }
    pa, pb = sa["parameters"], sb["parameters"]
    out["parameters"] = [
        {"name": k, "a": pa.get(k), "b": pb.get(k), "in_a": k in pa, "in_b": k in pb,
         "same": k in pa and k in pb and _same(pa[k], pb[k])}
        for k in dict.fromkeys([*pa, *pb])
    ]
    ta = {t.key: t for t in a.tasks}
    tb = {t.key: t for t in b.tasks}
    keys = list(dict.fromkeys([*ta, *tb]))
    tasks: list[dict[str, Any]] = []
    task_params: list[dict[str, Any]] = []
    inputs: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []
    for k in keys:
        x, y = ta.get(k), tb.get(k)
        tasks.append({
            "task": k,
            "a": _task_brief(x), "b": _task_brief(y),
            "same": x is not None and y is not None and str(x.execution.state) == str(
                y.execution.state),
        })
        px, py = (x.params if x else {}), (y.params if y else {})
        for p in dict.fromkeys([*px, *py]):
            task_params.append({
                "task": k, "name": p, "a": px.get(p), "b": py.get(p),
                "same": p in px and p in py and _same(px[p], py[p]),
            })
        for rows, side in ((inputs, "inputs"), (outputs, "outputs")):
            ix = getattr(x, side) if x else {}
            iy = getattr(y, side) if y else {}
            for label in dict.fromkeys([*ix, *iy]):
                ax, ay = ix.get(label), iy.get(label)
                rows.append({
                    "task": k, "label": label,
                    "a": _io_item(label, ax) if ax is not None else None,
                    "b": _io_item(label, ay) if ay is not None else None,
                    "same": ax is not None and ay is not None and _identity(ax) == _identity(ay),
                })
    out["tasks"] = tasks
    out["task_parameters"] = task_params
    out["inputs"] = inputs
    out["outputs"] = outputs
    ma, mb = run_metrics(a), run_metrics(b)
    names = _metric_names(ma, mb)
    va = {names[k]: v for k, v in ma}
    vb = {names[k]: v for k, v in mb}
    out["metrics"] = [
        {"name": n, "a": va.get(n), "b": vb.get(n),
         "delta": (vb[n] - va[n]) if n in va and n in vb else None,
         "same": n in va and n in vb and va[n] == vb[n]}
        for n in dict.fromkeys([*va, *vb])
    ]
    return out


def _task_brief(t: TaskView | None) -> dict[str, Any] | None:
    if t is None:
        return None
    error = None
    if t.vt.get("error_type"):
        error = f"{t.vt['error_type']}: {t.vt.get('error_message') or ''}".rstrip(": ")
    return {
        "execution": t.execution.name, "state": str(t.execution.state),
        "duration_s": t.vt.get("duration_s"), "error": error,
    }


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
    a, b = load_run(resolve_run(run_a)), load_run(resolve_run(run_b))
    d = diff_runs(a, b)
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
