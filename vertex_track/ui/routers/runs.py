"""Pipeline runs: the runs list and one run (its Gantt timeline and DAG)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from ...resources import Context, Execution
from ...tracking.pipeline_run import PipelineRun
from .. import graph, views
from ._common import FilterQuery, PageSize, PageToken, listed, listing, page

router = APIRouter()

RUN_SCHEMA = "system.PipelineRun"
RUN_FILTER = f'schema_title = "{RUN_SCHEMA}"'
#: Executions counted per run in the runs list; more show as "1000+" (``executions_capped``).
COUNT_CAP = 1000


def count_executions(context: Any) -> tuple[int, bool]:
    """(executions associated with ``context``, up to COUNT_CAP; whether there are more)."""
    page = Execution.list(f'in_context("{context.name}")', page_size=COUNT_CAP)
    return len(page), page.next_page_token is not None


@router.get("/", include_in_schema=False)
@router.get("/runs", include_in_schema=False)
def runs_page() -> FileResponse:
    return page("runs.html")


@router.get("/runs/{run_id}", include_in_schema=False)
def run_page(run_id: str) -> FileResponse:
    return page("run.html")


@router.get("/api/runs")
def list_runs(
    filter: str | None = FilterQuery, page_size: int = PageSize, page_token: str | None = PageToken,
) -> dict[str, Any]:
    """Pipeline runs, newest first: flow, state, start, duration, executions, parameters.

    ``executions`` counts up to 1000 per run (``executions_capped`` says there are more).

    ``filter`` applies to the runs' ``system.PipelineRun`` Contexts (e.g.
    ``metadata.flow_name.string_value = "training"``); a malformed one is a
    400 whose ``message`` and ``position`` point at the problem.
    """
    contexts = listed(Context, RUN_FILTER, filter, order_by="create_time desc",
                      page_size=page_size, page_token=page_token)
    items = []
    for c in contexts:
        count, capped = count_executions(c)
        items.append({**views.run_summary(c, executions=count), "executions_capped": capped})
    return listing(items, contexts.next_page_token)


@router.get("/api/runs/{run_id}")
def get_run(run_id: str) -> dict[str, Any]:
    """One run: its summary, a timeline bar per execution, its DAG and its child runs.

    ``run_id`` is the flow run id, the context's resource id or its full name.
    404 when no such run was tracked.
    """
    run = PipelineRun.get(run_id)
    subgraph = run.get_lineage()
    summary = views.run_summary(run.context, executions=len(subgraph.executions))
    return {
        "run": summary,
        "metadata": run.metadata,
        "parent_contexts": run.context.parent_contexts,
        "child_runs": [views.run_summary(c.context) for c in run.get_child_runs()],
        "timeline": views.timeline(subgraph.executions),
        "artifacts": [views.brief(a) for a in subgraph.artifacts],
        "dag": graph.elements(subgraph),
    }
