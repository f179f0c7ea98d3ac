"""``pipelines run|list|show``: Vertex AI training pipeline requests, run locally and read back.

A training pipeline run is a ``system.PipelineRun`` context whose metadata has
a ``training_pipeline`` summary (what :mod:`vertex_track.pipelines` writes):
``list`` and ``show`` read that; ``run`` runs a request file in this process
(it imports Prefect, so it is the one slow-starting command).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from . import _listing as L
from ._common import EXIT_FAILED, and_filter, check_store, handle_errors, resolve
from ._output import (
    Column,
    fmt_duration,
    fmt_time,
    fmt_value,
    is_rich,
    print_json,
    print_kv,
    print_table,
    state_cell,
    stderr,
)

pipelines_app = typer.Typer(
    help="Run Vertex AI training pipeline requests locally, and list or show past runs."
    "\n\n$ vertex-track pipelines run request.json\n$ vertex-track pipelines list"
    "\n$ vertex-track pipelines show my-tuning-job",
    no_args_is_help=True,
)

PIPELINE_FILTER = (
    'schema_title = "system.PipelineRun" AND metadata.training_pipeline.kind.string_value = "*"'
)
_SHORT_STATE = {
    "PIPELINE_STATE_SUCCEEDED": "SUCCEEDED", "PIPELINE_STATE_FAILED": "FAILED",
    "PIPELINE_STATE_CANCELLED": "CANCELLED", "PIPELINE_STATE_RUNNING": "RUNNING",
}


def _context_cls() -> Any:
    from ..resources import Context

    return Context


def _summary(ctx: Any) -> dict[str, Any]:
    value = ctx.metadata.get("training_pipeline")
    return value if isinstance(value, dict) else {}


def _row(ctx: Any) -> dict[str, Any]:
    s = _summary(ctx)
    meta = ctx.metadata
    return {
        "name": ctx.name,
        "resource_id": ctx.resource_id,
        "display_name": s.get("display_name") or ctx.display_name,
        "kind": s.get("kind"),
        "state": s.get("state"),
        "error": s.get("error"),
        "model": s.get("model"),
        "experiment": s.get("experiment"),
        "trial_count": s.get("trial_count", 0),
        "succeeded_trials": s.get("succeeded_trials", 0),
        "best_trial": s.get("best_trial"),
        "best_measurement": s.get("best_measurement"),
        "flow_run_id": meta.get("flow_run_id"),
        "start_time": meta.get("start_time"),
        "duration_s": meta.get("duration_s"),
        "create_time": ctx.create_time,
    }


def _state(value: Any) -> Any:
    return state_cell(_SHORT_STATE.get(str(value), str(value or "")))


@pipelines_app.command("list")
@handle_errors
def pipelines_list(
    filter: Optional[str] = L.FilterOpt,
    limit: int = L.LimitOpt,
    order_by: str = L.OrderOpt,
    json_mode: bool = L.JsonOpt,
) -> None:
    """List training pipeline runs, newest first: kind, state, trials, best metric, model.

    --filter applies to the run's context, e.g.
    'metadata.training_pipeline.state.string_value = "PIPELINE_STATE_FAILED"'.

    Example:

    $ vertex-track pipelines list --limit 5
    """
    check_store()
    items, more = L.fetch(_context_cls(), and_filter(PIPELINE_FILTER, filter), limit, order_by)
    rows = [_row(c) for c in items]
    if json_mode:
        print_json(rows)
    else:
        print_table(
            [Column("pipeline", style="bold"), Column("kind"), Column("state"),
             Column("trials", justify="right"), Column("best", drop=2),
             Column("started", drop=3), Column("duration", justify="right", drop=4),
             Column("id", style="cyan", drop=1)],
            [[r["display_name"], "tuning" if r["kind"] == "hyperparameter_tuning" else "custom",
              _state(r["state"]),
              f"{r['succeeded_trials']}/{r['trial_count']}" if r["trial_count"] else "",
              ", ".join(f"{k}={fmt_value(v, 12)}" for k, v in (r["best_measurement"] or {})
                        .items()),
              fmt_time(r["start_time"] or r["create_time"]), fmt_duration(r["duration_s"]),
              r["resource_id"]] for r in rows],
            empty="no training pipelines (run one with: vertex-track pipelines run request.json)",
        )
    L.more_hint(len(items), more, json_mode)


@pipelines_app.command("show")
@handle_errors
def pipelines_show(
    pipeline: str = typer.Argument(
        ..., help="The pipeline's display name, its run's context id, or its flow run id."
    ),
    json_mode: bool = L.JsonOpt,
) -> None:
    """Show one training pipeline run: its state, error, model and trials.

    Example:

    $ vertex-track pipelines show my-tuning-job --json | jq '.trials[] | .final_measurement'
    """
    check_store()
    ctx = _find(pipeline)
    row = _row(ctx)
    trials = _summary(ctx).get("trials") or []
    if json_mode:
        print_json({**row, "trials": trials})
        return
    print_kv(
        f"Training pipeline {row['display_name']}",
        [("kind", row["kind"]), ("state", _state(row["state"])),
         *([("error", row["error"])] if row["error"] else []),
         ("model", row["model"] or ""), ("experiment", row["experiment"] or ""),
         ("best trial", row["best_trial"] or ""), ("started", fmt_time(row["start_time"])),
         ("duration", fmt_duration(row["duration_s"])), ("run", ctx.name)],
    )
    if trials:
        _trials_table(trials)


def _trials_table(trials: list[dict[str, Any]]) -> None:
    params = list(dict.fromkeys(k for t in trials for k in t.get("parameters", {})))
    metrics = list(dict.fromkeys(k for t in trials for k in t.get("final_measurement", {})))
    columns = [Column("trial", justify="right"), Column("state")]
    columns += [Column(k, justify="right", upper=False) for k in params]
    columns += [Column(k, justify="right", style="green", upper=False) for k in metrics]
    columns += [Column("duration", justify="right", drop=1)]
    if is_rich():
        sys.stdout.write("\n")
    print_table(
        columns,
        [[t["id"], state_cell(t.get("state", "")),
          *[fmt_value(t.get("parameters", {}).get(k, ""), 14) for k in params],
          *[fmt_value(t.get("final_measurement", {}).get(k, ""), 14) for k in metrics],
          fmt_duration(t.get("duration_s"))] for t in trials],
        title=f"Trials ({len(trials)})", plain_title=True,
    )


def _find(ref: str) -> Any:
    cls = _context_cls()
    try:
        return resolve(cls, ref, base_filter=PIPELINE_FILTER, what="training pipeline")
    except Exception:
        # A Prefect flow run id names its run's context "pipelinerun-<id>".
        if "/" not in ref and not ref.startswith("pipelinerun-"):
            try:
                return resolve(cls, f"pipelinerun-{ref}", base_filter=PIPELINE_FILTER,
                               what="training pipeline")
            except Exception:
                pass
        raise


# -- run -------------------------------------------------------------------------------------
class _Progress:
    """Shows what the pipeline does: a progress bar on a terminal, plain lines otherwise."""

    def __init__(self, total_trials: int | None, label: str) -> None:
        self.total = total_trials
        self.rich = _stderr_is_tty()
        self.bar: Any = None
        self.task: Any = None
        self.label = label
        self.finished = 0

    def __enter__(self) -> _Progress:
        if self.rich:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            from ._output import console

            self.bar = Progress(
                SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                MofNCompleteColumn(), TimeElapsedColumn(), console=console(err=True),
                transient=False,
            )
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=self.total)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()

    def say(self, text: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, description=f"{self.label}: {text}")
        else:
            stderr(text)

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "split_finished":
            rows = event.get("rows", {})
            self.say("split " + ", ".join(f"{k} {v}" for k, v in rows.items()))
        elif kind == "job_started":
            self.say("training")
        elif kind == "job_finished":
            self.say(f"training done in {fmt_duration(event.get('duration_s'))}")
        elif kind == "trial_started":
            params = ", ".join(f"{k}={fmt_value(v, 12)}"
                               for k, v in event.get("parameters", {}).items())
            self.say(f"trial {event['trial']} started ({params})")
        elif kind == "trial_finished":
            self.finished += 1
            value = event.get("value")
            text = f"trial {event['trial']} {event.get('state')}"
            if value is not None:
                text += f" ({value:.6g})"
            if self.bar is not None:
                self.bar.update(self.task, completed=self.finished)
            self.say(text)
        elif kind == "model_uploaded":
            self.say("model registered")


def _stderr_is_tty() -> bool:
    if os.environ.get("FORCE_COLOR"):
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@pipelines_app.command("run")
@handle_errors
def pipelines_run(
    request: Path = typer.Argument(
        ..., exists=True, dir_okay=False, readable=True,
        help="The JSON body of trainingPipelines.create (custom job or hyperparameter tuning).",
    ),
    json_mode: bool = L.JsonOpt,
    logs: bool = typer.Option(
        False, "--logs", help="Show Prefect's logs (the training code's output) on stderr "
        "instead of the progress display.",
    ),
) -> None:
    """Run a Vertex AI training pipeline request locally, as a tracked Prefect flow.

    The request is validated first (a broken rule exits 2, naming the field,
    and records nothing). The training code runs as local processes; the
    model it leaves in AIP_MODEL_DIR is registered as a system.Model. Exit
    code 0 when the pipeline succeeded, 4 when it failed.

    Example:

    $ vertex-track pipelines run request.json
    $ vertex-track pipelines run request.json --json | jq .best_trial
    """
    from ..pipelines import parse_request

    req = parse_request(request)  # before Prefect is imported: a bad request fails fast
    if not logs:
        # Prefect's console handlers would interleave with the progress display;
        # its API log (the flow run's logs) still gets every line.
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_FLOW_RUNS_LEVEL", "CRITICAL")
    from ..pipelines import run_training_pipeline

    tuning = req.tuning
    total = tuning.max_trial_count if tuning is not None else None
    with _Progress(total, req.display_name) as progress:
        result = run_training_pipeline(req, on_progress=None if logs else progress)
    data = result.to_dict()
    if json_mode:
        print_json(data)
    else:
        pairs: list[tuple[str, Any]] = [("kind", result.kind), ("state", _state(result.state))]
        if result.error:
            pairs.append(("error", result.error))
        pairs += [
            ("model", data["model"] or ""), ("model uri", data["model_uri"] or ""),
            ("experiment", result.experiment or ""),
            ("best trial", data["best_trial"] or ""),
            ("duration", fmt_duration(result.duration_s)),
            ("run", data["pipeline_run"] or ""),
        ]
        print_kv(f"Training pipeline {result.display_name}", pairs)
        if result.trials:
            _trials_table(data["trials"])
    if not result.succeeded:
        raise typer.Exit(EXIT_FAILED)
