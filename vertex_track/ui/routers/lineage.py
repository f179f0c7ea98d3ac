"""Lineage: the interactive graph around an artifact or an execution."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from ...exceptions import InvalidArgumentError
from ...lineage import lineage
from ...resources import Artifact, Execution
from .. import graph, views
from ._common import page

router = APIRouter()


@router.get("/lineage", include_in_schema=False)
def lineage_page() -> FileResponse:
    return page("lineage.html")


@router.get("/api/lineage")
def get_lineage(
    artifact: str | None = Query(None, description="Start artifact: resource id or full name."),
    execution: str | None = Query(None, description="Start execution: resource id or full name."),
    direction: Literal["upstream", "downstream", "both"] = Query("upstream"),
    depth: int | None = Query(None, ge=0, le=1000, description="Event hops; unbounded if omitted."),
    collapse_over: int = Query(150, ge=1, le=100_000,
                               description="Collapse mapped tasks above this many nodes."),
) -> dict[str, Any]:
    """The ``LineageSubgraph`` around one artifact or execution, and its graph elements.

    ``subgraph`` is :meth:`vertex_track.LineageSubgraph.to_dict`; ``graph`` is
    what the page draws (see :func:`vertex_track.ui.graph.elements`: mapped
    executions of one task folded into a group node with a count when the
    graph has more than ``collapse_over`` nodes). 400 unless exactly one of
    ``artifact``/``execution`` is given; 404 when it does not exist.
    """
    if (artifact is None) == (execution is None):
        raise InvalidArgumentError(
            "give exactly one start node: ?artifact=<id or name> or ?execution=<id or name>"
        )
    start: Any = Artifact.get(artifact) if artifact is not None else Execution.get(
        execution or "")
    subgraph = lineage(start, direction=direction, max_hops=depth)
    return {
        "start": views.brief(start),
        "direction": direction,
        "depth": depth,
        "subgraph": subgraph.to_dict(),
        "graph": graph.elements(subgraph, start=start.name, collapse_over=collapse_over),
    }
