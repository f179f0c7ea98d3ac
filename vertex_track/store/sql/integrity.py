"""Maintenance extensions of the SQL store: the consistency checks behind
``vertex-track doctor``, and the deletion of a whole pipeline run.

Neither is part of the tracking protocol
(:class:`~vertex_track.store.base.MaintenanceStore` declares them).
"""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import Column, Table, func, select
from sqlalchemy.engine import Connection

from ..base import IntegrityFinding
from . import tables as t
from ._host import StoreHost

__all__ = ["MaintenanceQueries"]

SHOWN = 1000  # findings per check, at most
_A = {"vt_artifacts": "an artifact", "vt_executions": "an execution", "vt_contexts": "a context"}


def _links() -> builtins.list[tuple[str, Table, builtins.list[tuple[Column[Any], Table]]]]:
    """Each link table and the resource rows its columns point at."""
    ev, at, as_, pc = t.events, t.attributions, t.associations, t.parent_contexts
    return [
        ("event", ev, [(ev.c.artifact_id, t.artifacts), (ev.c.execution_id, t.executions)]),
        ("attribution", at, [(at.c.context_id, t.contexts), (at.c.artifact_id, t.artifacts)]),
        ("association", as_, [(as_.c.context_id, t.contexts),
                              (as_.c.execution_id, t.executions)]),
        ("context parent link", pc, [(pc.c.child_id, t.contexts),
                                     (pc.c.parent_id, t.contexts)]),
    ]


class MaintenanceQueries(StoreHost):
    """``check_integrity`` and ``delete_run`` of :class:`~.store.SqlStore`."""

    def check_integrity(self, *, fix: bool = False) -> builtins.list[IntegrityFinding]:
        """See :meth:`vertex_track.store.base.MaintenanceStore.check_integrity`."""
        with self.read() as conn:
            messages = self.dialect.integrity_problems(conn, SHOWN)
        out = [IntegrityFinding("integrity", m) for m in messages]
        for what, table, refs in _links():
            for column, target in refs:
                orphan = ~select(target.c.id).where(target.c.id == column).exists()
                with self.read() as conn:
                    count = conn.execute(
                        select(func.count()).select_from(table).where(orphan)
                    ).scalar_one()
                if not count:
                    continue
                if fix:
                    def delete(conn: Connection, table: Table = table, orphan: Any = orphan) -> None:
                        conn.execute(table.delete().where(orphan))

                    self.write(delete)
                out.append(IntegrityFinding(
                    "dangling",
                    f"{count} {what}(s) point at {_A[target.name]} that does not exist "
                    f"({column.name})",
                    fixed=fix,
                ))
        return out

    def delete_run(self, context_resource_id: str, *, force: bool = False) -> Any:
        """See :meth:`vertex_track.store.base.MaintenanceStore.delete_run`."""
        from .run_delete import delete_run

        return delete_run(self, context_resource_id, force=force)
