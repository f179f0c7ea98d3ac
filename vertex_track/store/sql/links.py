"""Links between resources: events (artifact <-> execution), context membership
(attributions, associations) and the context graph (parent contexts)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from ..._time import now_micros
from ...exceptions import InvalidArgumentError
from ...types import Event, EventType
from . import tables as t
from .core import SqlCore
from .fast import Tx
from .rows import row_to_event, rows_to_resources
from .writes import ids_by_resource_id, link_rows, tx_ids, write_with_keys

#: A context's parents at most (Vertex's limit on ``parent_contexts``).
MAX_PARENTS = 10


class Links(SqlCore):
    """Events and context links of :class:`~.store.SqlStore`."""

    def add_events(self, execution: Any, artifacts: Sequence[Any], type: EventType) -> None:
        rids = [
            self.resource_id_from("artifacts", a) if isinstance(a, str) else a.resource_id
            for a in artifacts
        ]
        if not rids:
            return
        now = now_micros()
        kind = str(type)

        def write(tx: Tx, keys: list[list[int]]) -> None:
            (ex_id,), art_ids = keys
            tx.executemany(("insert", "events"), t.events.insert, [
                {
                    "id": pk, "artifact_id": art_id, "execution_id": ex_id,
                    "type": kind, "event_time": now, "labels": "{}",
                }
                for pk, art_id in zip(tx.ids(len(art_ids)), art_ids)
            ])

        write_with_keys(
            self, [("executions", [execution.resource_id]), ("artifacts", rids)], write
        )

    def get_events(self, *, execution: Any = None, artifact: Any = None) -> list[Event]:
        ev, a, e = t.events, t.artifacts, t.executions
        q = (
            select(ev, a.c.resource_id.label("a_rid"), e.c.resource_id.label("e_rid"))
            .join(a, a.c.id == ev.c.artifact_id)
            .join(e, e.c.id == ev.c.execution_id)
            .where(a.c.store_id == self.store_id)
            .order_by(ev.c.event_time, ev.c.id)
        )
        if execution is not None:
            q = q.where(e.c.resource_id == execution.resource_id, e.c.store_id == self.store_id)
        if artifact is not None:
            q = q.where(a.c.resource_id == artifact.resource_id)
        with self.read() as conn:
            return [
                row_to_event(
                    r._mapping,
                    self.resource_name("artifacts", r.a_rid),
                    self.resource_name("executions", r.e_rid),
                )
                for r in conn.execute(q)
            ]

    def get_artifacts_by_execution(self, execution: Any, type: EventType | None) -> list[Any]:
        return self._linked(execution, "artifacts", type)

    def get_executions_by_artifact(self, artifact: Any, type: EventType | None) -> list[Any]:
        return self._linked(artifact, "executions", type)

    def _linked(self, start: Any, kind: str, type: EventType | None) -> list[Any]:
        """Resources of ``kind`` on the other end of ``start``'s events, in event order."""
        ev = t.events
        own, other = t.RESOURCE_TABLES[start.kind], t.RESOURCE_TABLES[kind]
        own_col, other_col = (
            (ev.c.execution_id, ev.c.artifact_id) if kind == "artifacts"
            else (ev.c.artifact_id, ev.c.execution_id)
        )
        start_id = select(own.c.id).where(
            own.c.store_id == self.store_id, own.c.resource_id == start.resource_id
        ).scalar_subquery()
        first = (
            select(other_col.label("other_id"), func.min(ev.c.id).label("first_event"))
            .where(own_col == start_id)
            .group_by(other_col)
        )
        if type is not None:
            first = first.where(ev.c.type == str(type))
        sub = first.subquery()
        q = select(other).join(sub, sub.c.other_id == other.c.id).order_by(sub.c.first_event)
        with self.read() as conn:
            return rows_to_resources(self, conn, kind, conn.execute(q).all())

    def add_to_context(
        self, context: Any, *, artifacts: Sequence[str], executions: Sequence[str]
    ) -> None:
        a_rids = [self.resource_id_from("artifacts", n) for n in artifacts]
        e_rids = [self.resource_id_from("executions", n) for n in executions]
        if not (a_rids or e_rids):
            # Nothing to link; the context must still exist.
            self.fast_write(lambda tx: tx_ids(self, tx, "contexts", [context.resource_id]))
            return

        def write(tx: Tx, keys: list[list[int]]) -> None:
            (ctx_id,), art_ids, ex_ids = keys
            link_rows(self, tx, t.attributions, [(ctx_id, i) for i in art_ids])
            link_rows(self, tx, t.associations, [(ctx_id, i) for i in ex_ids])

        write_with_keys(
            self,
            [("contexts", [context.resource_id]), ("artifacts", a_rids), ("executions", e_rids)],
            write,
        )

    def add_context_children(self, context: Any, children: Sequence[Any]) -> None:
        c_rids = [
            self.resource_id_from("contexts", c) if isinstance(c, str) else c.resource_id
            for c in children
        ]
        if not c_rids:
            return
        pc = t.parent_contexts

        def tx(conn: Connection) -> None:
            parent_id = ids_by_resource_id(self, conn, "contexts", [context.resource_id])[
                context.resource_id
            ]
            child_ids = ids_by_resource_id(self, conn, "contexts", c_rids)
            ancestors = _ancestor_ids(conn, parent_id)
            for rid, child_id in child_ids.items():
                if child_id == parent_id or child_id in ancestors:
                    raise InvalidArgumentError(
                        f"parent_contexts: making {self.resource_name('contexts', rid)!r} a child "
                        f"of {context.name!r} would create a cycle in the context graph"
                    )
                existing = conn.execute(
                    select(pc.c.parent_id).where(pc.c.child_id == child_id)
                ).scalars().all()
                if parent_id not in existing and len(existing) >= MAX_PARENTS:
                    raise InvalidArgumentError(
                        f"parent_contexts: {self.resource_name('contexts', rid)!r} already has "
                        f"{MAX_PARENTS} parent contexts, the maximum"
                    )
            conn.execute(
                self.dialect.insert_ignore(pc),
                [{"child_id": c, "parent_id": parent_id} for c in child_ids.values()],
            )

        self.write(tx)


def _ancestor_ids(conn: Connection, context_id: int) -> set[int]:
    pc = t.parent_contexts
    anchor = select(pc.c.parent_id.label("id")).where(pc.c.child_id == context_id)
    cte = anchor.cte("ancestors", recursive=True)
    cte = cte.union(select(pc.c.parent_id).where(pc.c.child_id == cte.c.id))
    return set(conn.execute(select(cte.c.id)).scalars())
