"""Deleting a pipeline run with what belongs to it alone, in one transaction.

Vertex's ``DeleteContext`` removes the context only: its executions and
artifacts stay, unattached. For a tracked flow run that leaves the run's
task records behind with no run to find them by, which is not what someone
deleting "the run" means. :func:`delete_run` removes

- the run's context and those of its subflows (child ``system.PipelineRun``
  contexts, at any depth);
- the executions associated with them, with their events (cascade);
- the artifacts attributed to them that nothing else references: no event
  of an execution outside the deletion and no other context. An artifact
  shared by content with another run (the same data set), or logged to an
  experiment run, stays.

Artifact bytes are not touched (``vertex-track gc`` removes files no
Artifact references). The whole deletion is one write transaction: all or
nothing, and concurrent writers see the run either whole or gone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import tables as t

__all__ = ["RunDeletion", "delete_run"]

PIPELINE_RUN = "system.PipelineRun"


@dataclass
class RunDeletion:
    """What :func:`delete_run` deletes (``force=False``) or deleted (``force=True``).

    Lists hold full resource names (each at most ``SAMPLE`` long; the counts are exact).
    """

    contexts: list[str] = field(default_factory=list)
    executions: list[str] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)
    kept_artifacts: list[str] = field(default_factory=list)
    execution_count: int = 0
    artifact_count: int = 0
    kept_artifact_count: int = 0
    deleted: bool = False


def delete_run(store: Any, context_resource_id: str, *, force: bool = False) -> RunDeletion:
    """Delete a PipelineRun context, its subflows' contexts, their executions and the
    artifacts only they reference.

    Args:
        store: an ``SqlStore``.
        context_resource_id: the run's context resource id (``pipelinerun-<flow run id>``).
        force: ``False`` (the default) computes what would be deleted and
            deletes nothing.

    Returns:
        A :class:`RunDeletion`.

    Raises:
        NotFoundError: no such context.
    """
    from ...exceptions import NotFoundError

    c, ex, art, ev = t.contexts, t.executions, t.artifacts, t.events
    attr, assoc, pc = t.attributions, t.associations, t.parent_contexts

    def plan(conn: Connection) -> tuple[RunDeletion, list[int], list[int], list[int]]:
        root = conn.execute(sa.select(c.c.id).where(
            c.c.store_id == store.store_id, c.c.resource_id == context_resource_id)).scalar()
        if root is None:
            raise NotFoundError(
                f"context {store.resource_name('contexts', context_resource_id)!r} does not exist"
            )
        ctx_ids, frontier = [root], [root]
        while frontier:  # subflows: child PipelineRun contexts, at any depth
            frontier = [pk for pk in conn.execute(
                sa.select(pc.c.child_id).join(c, c.c.id == pc.c.child_id).where(
                    pc.c.parent_id.in_(frontier), c.c.schema_title == PIPELINE_RUN)).scalars()
                if pk not in ctx_ids]
            ctx_ids += frontier
        exe_ids = list(dict.fromkeys(conn.execute(
            sa.select(assoc.c.execution_id).where(assoc.c.context_id.in_(ctx_ids))).scalars()))
        art_ids = list(dict.fromkeys(conn.execute(
            sa.select(attr.c.artifact_id).where(attr.c.context_id.in_(ctx_ids))).scalars()))
        used_elsewhere = set(conn.execute(
            sa.select(ev.c.artifact_id).where(
                ev.c.artifact_id.in_(art_ids), ev.c.execution_id.not_in(exe_ids))).scalars())
        used_elsewhere |= set(conn.execute(
            sa.select(attr.c.artifact_id).where(
                attr.c.artifact_id.in_(art_ids), attr.c.context_id.not_in(ctx_ids))).scalars())
        doomed = [a for a in art_ids if a not in used_elsewhere]
        kept = [a for a in art_ids if a in used_elsewhere]

        def names(table: sa.Table, kind: str, ids: list[int]) -> list[str]:
            if not ids:
                return []
            rows = conn.execute(sa.select(table.c.resource_id).where(table.c.id.in_(ids))
                                .order_by(table.c.create_time, table.c.resource_id)
                                .limit(SAMPLE)).scalars()
            return [store.resource_name(kind, rid) for rid in rows]

        result = RunDeletion(
            contexts=names(c, "contexts", ctx_ids),
            executions=names(ex, "executions", exe_ids),
            artifacts=names(art, "artifacts", doomed),
            kept_artifacts=names(art, "artifacts", kept),
            execution_count=len(exe_ids),
            artifact_count=len(doomed),
            kept_artifact_count=len(kept),
        )
        return result, ctx_ids, exe_ids, doomed

    if not force:
        with store.read() as conn:
            return plan(conn)[0]

    def tx(conn: Connection) -> RunDeletion:
        result, ctx_ids, exe_ids, doomed = plan(conn)
        for table, ids in ((ex, exe_ids), (art, doomed), (c, ctx_ids)):
            for i in range(0, len(ids), 500):
                conn.execute(table.delete().where(table.c.id.in_(ids[i:i + 500])))
        result.deleted = True
        return result

    try:
        return store.write(tx)
    finally:
        for kind in ("executions", "artifacts", "contexts"):
            store.known.forget(kind)  # cached primary keys of deleted rows


SAMPLE = 100
