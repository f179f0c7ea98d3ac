"""``put_execution``: one execution record (the execution, its artifacts, events and
context links) in one transaction, and its fast form for executions this object knows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, literal_column

from ..._json import dumps
from ..._time import from_micros, now_micros, to_micros
from ...exceptions import NotFoundError
from ..base import ArtifactLink
from . import tables as t
from .fast import Tx
from .writes import (
    Writes,
    content_digest,
    label_json,
    link_rows,
    state_text,
    tx_ids,
    tx_rows,
    unique_groups,
)

_EVENT_ORDER = ("id", "artifact_id", "execution_id", "type", "event_time", "labels")
_FINISH_ORDER = (  # parameters of _finish_known's UPDATE
    "v_description", "v_metadata", "v_labels", "v_update_time", "v_state", "pk", "sid", "rid",
)


def _row_values(store: Writes, kind: str, r: Any) -> dict[str, Any]:
    """Column values of resource ``r`` (JSON serialized), without its primary key."""
    d = r.__dict__
    values: dict[str, Any] = {
        "store_id": store.store_id,
        "resource_id": r.resource_id,
        "display_name": d["display_name"] or "",
        "schema_title": d["schema_title"],
        "schema_version": d["schema_version"],
        "description": d["description"] or "",
        "metadata": dumps(d["metadata"]),
        "labels": dumps(d["labels"]),
        "etag": 1,
        "create_time": to_micros(d["create_time"]),
        "update_time": to_micros(d["update_time"]),
        "state": state_text(d["state"]),
    }
    if kind == "artifacts":
        values["uri"] = d["uri"] or ""
        values["content_digest"] = content_digest(d["metadata"])
    return values


class PutExecution(Writes):
    """``put_execution`` of :class:`~.store.SqlStore`, and its private fast forms."""

    def put_execution(
        self,
        execution: Any,
        links: Sequence[ArtifactLink] = (),
        contexts: Sequence[Any] = (),
    ) -> tuple[Any, list[Any]]:
        return self._put_executions([(execution, links, contexts)])[0]

    def _finish_execution(
        self,
        execution: Any,
        links: Sequence[ArtifactLink] = (),
        contexts: Sequence[Any] = (),
    ) -> tuple[str, dt.datetime]:
        """:meth:`put_execution` for an execution this object created or read.

        Same contract, but it returns only the stored execution's new etag and
        update time. When the execution, every linked artifact and every
        context are known to this object (created or read through it), the
        record is written by primary key: one UPDATE and the event and link
        inserts, no lookups. Otherwise, or when a known key turned out stale,
        it is :meth:`put_execution`.
        """
        known = self.known
        ex_rid = execution.resource_id
        art_rids = [
            self.resource_id_from("artifacts", a) if isinstance(a, str) else a.resource_id
            for a in [link.artifact for link in links]
        ]
        ctx_rids = [c.resource_id for c in contexts]
        ex_known = known.get("executions", [ex_rid])
        art_known = known.get("artifacts", art_rids)
        ctx_known = known.get("contexts", ctx_rids) if ctx_rids else []
        if ex_known is not None and art_known is not None and ctx_known is not None:
            now = now_micros()
            etag = self._finish_known(execution, ex_known[0], links, art_known, ctx_known, now)
            if etag is not None:
                for link in links:
                    if not isinstance(link.artifact, str):
                        link.artifact.__pydantic_private__["_bound"] = self  # type: ignore[index]
                return str(etag), from_micros(now)
            known.forget("executions", [ex_rid])
            known.forget("artifacts", art_rids)
            known.forget("contexts", ctx_rids)
        stored, _ = self.put_execution(execution, links, contexts)
        return stored.etag, stored.update_time

    def _finish_known(
        self,
        execution: Any,
        ex_id: int,
        links: Sequence[ArtifactLink],
        art_ids: Sequence[int],
        ctx_ids: Sequence[int],
        now: int,
    ) -> int | None:
        """:meth:`_finish_execution` by primary keys; None if a key is stale (nothing written)."""
        fast = self.fast
        ex = t.executions
        # display_name is indexed: set it only when it differs from the stored
        # one (RETURNED by the update), which spares rewriting that index.
        update_sql, update_order = fast.positional(
            ("finish_execution",),
            lambda: ex.update()
            .where(
                ex.c.id == bindparam("pk"), ex.c.store_id == bindparam("sid"),
                ex.c.resource_id == bindparam("rid"),
            )
            .values(
                state=bindparam("v_state"), metadata=bindparam("v_metadata"),
                labels=bindparam("v_labels"), description=bindparam("v_description"),
                update_time=bindparam("v_update_time"), etag=ex.c.etag + literal_column("1"),
            )
            .returning(ex.c.etag, ex.c.display_name),
        )
        rename_sql, rename_order = fast.positional(
            ("finish_execution_name",),
            lambda: ex.update().where(ex.c.id == bindparam("pk"))
            .values(display_name=bindparam("v_display_name")),
        )
        event_sql, event_order = fast.positional(("insert_row", "events"), t.events.insert)
        if update_order != _FINISH_ORDER or event_order != _EVENT_ORDER:
            raise AssertionError(f"unexpected parameter order: {update_order}, {event_order}")
        d = execution.__dict__
        update = (
            d["description"] or "", dumps(d["metadata"]), dumps(d["labels"]), now,
            state_text(d["state"]), ex_id, self.store_id, execution.resource_id,
        )
        display_name = d["display_name"] or ""
        events = [
            (
                event_id, art_id, ex_id, state_text(link.type), now,
                label_json(link.label) if link.label else "{}",
            )
            for event_id, link, art_id in zip(fast.keys.take(fast, len(links)), links, art_ids)
        ]
        linked = list(dict.fromkeys(art_ids))

        def tx(tx: Tx) -> int | None:
            cur = tx.cur
            cur.execute(update_sql, update)
            rows = cur.fetchall()
            if not rows:
                return None  # deleted since (maybe re-created): the general path
            if rows[0][1] != display_name:
                rename = {"pk": ex_id, "v_display_name": display_name}
                cur.execute(rename_sql, tuple(rename[k] for k in rename_order))
            if events:
                cur.executemany(event_sql, events)
            if ctx_ids:
                link_rows(self, tx, t.associations, [(c, ex_id) for c in ctx_ids])
                link_rows(self, tx, t.attributions, [(c, a) for c in ctx_ids for a in linked])
            return int(rows[0][0])

        try:
            return self.fast_write(tx)
        except fast.integrity_error:  # a known artifact or context key is stale
            return None

    def _put_executions(
        self, records: Sequence[tuple[Any, Sequence[ArtifactLink], Sequence[Any]]],
    ) -> list[tuple[Any, list[Any]]]:
        """Several :meth:`put_execution` records in ONE transaction, in order."""
        now = now_micros()
        prepared = []
        for execution, links, contexts in records:
            # Artifacts to insert-or-reuse are objects; resource ids (str) of
            # ``only_existing`` links are only looked up; other names must exist.
            artifacts: list[Any] = [
                link.artifact if not isinstance(link.artifact, str)
                else self.resource_id_from("artifacts", link.artifact) if link.only_existing
                else self.get("artifacts", self.resource_id_from("artifacts", link.artifact))
                for link in links
            ]
            prepared.append((execution, links, artifacts, contexts))

        def tx(tx: Tx) -> list[int]:
            etags: list[int] = []
            for group in unique_groups(prepared, lambda r: r[0].resource_id):
                etags.extend(self._put_group(tx, group, now))
            return etags

        etags = self.fast_write(tx)
        out: list[tuple[Any, list[Any]]] = []
        for (execution, _links, artifacts, _contexts), etag in zip(prepared, etags):
            stored = execution.model_copy()
            stored._bound = self
            stored.etag = str(etag)
            if etag > 1:
                stored.update_time = from_micros(now)
            objects = [a for a in artifacts if not isinstance(a, str)]
            for a in objects:
                a._bound = self
            out.append((stored, objects))
        return out

    def _put_group(self, tx: Tx, group: list[Any], now: int) -> list[int]:
        """Write records with distinct executions, set-wise: a few statements per batch.

        Returns each record's new etag.
        """
        ex_t, art_t = t.executions, t.artifacts
        ex_rids = [execution.resource_id for execution, _l, _a, _c in group]
        found = tx_rows(self, tx, "executions", ex_rids, "id", "etag")
        inserts, updates, ex_ids, etags = [], [], [], []
        for execution, _links, _artifacts, _contexts in group:
            values = _row_values(self, "executions", execution)
            hit = found.get(execution.resource_id)
            if hit is None:
                ex_id, etag = tx.ids(1)[0], 1
                inserts.append({**values, "id": ex_id})
            else:
                ex_id, etag = hit[0], hit[1] + 1
                updates.append({
                    "pk": ex_id, "v_state": values["state"], "v_metadata": values["metadata"],
                    "v_labels": values["labels"], "v_display_name": values["display_name"],
                    "v_description": values["description"], "v_update_time": now,
                    "v_etag": etag,
                })
            ex_ids.append(ex_id)
            etags.append(etag)
        tx.executemany(("insert", "executions"), ex_t.insert, inserts)
        tx.executemany(
            ("update_execution",),
            lambda: ex_t.update().where(ex_t.c.id == bindparam("pk")).values(
                state=bindparam("v_state"), metadata=bindparam("v_metadata"),
                labels=bindparam("v_labels"), display_name=bindparam("v_display_name"),
                description=bindparam("v_description"),
                update_time=bindparam("v_update_time"), etag=bindparam("v_etag"),
            ),
            updates,
        )

        # Artifacts: objects are inserted unless their resource id exists
        # (content addressing); plain ids (only_existing links) are looked up.
        new_rows: dict[str, dict[str, Any]] = {}
        record_rids: list[list[str]] = []
        for _execution, _links, artifacts, _contexts in group:
            rids = []
            for a in artifacts:
                if isinstance(a, str):
                    rids.append(a)
                else:
                    rids.append(a.resource_id)
                    if a.resource_id not in new_rows:
                        new_rows[a.resource_id] = _row_values(self, "artifacts", a)
            record_rids.append(rids)
        all_rids = [rid for rids in record_rids for rid in rids]
        art_ids = tx_ids(self, tx, "artifacts", all_rids, required=False)
        missing = [rid for rid in new_rows if rid not in art_ids]
        if missing:
            rows = []
            for rid, pk in zip(missing, tx.ids(len(missing))):
                art_ids[rid] = pk
                rows.append({**new_rows[rid], "id": art_ids[rid]})
            tx.executemany(
                ("insert_ignore", "artifacts"), lambda: self.dialect.insert_ignore(art_t), rows
            )
            if self.dialect.concurrent_inserts:  # a concurrent writer may have won the race
                art_ids.update(tx_ids(self, tx, "artifacts", missing, required=False))

        ctx_rids = [c.resource_id for _e, _l, _a, contexts in group for c in contexts]
        ctx_ids = tx_ids(self, tx, "contexts", ctx_rids, required=False)
        events: list[tuple[Any, ...]] = []
        associations: list[tuple[int, int]] = []
        attributions: list[tuple[int, int]] = []
        event_ids = iter(tx.ids(sum(len(r[1]) for r in group)))
        for (_execution, links, _artifacts, contexts), ex_id, rids in zip(
            group, ex_ids, record_rids
        ):
            linked = []
            for link, rid in zip(links, rids):
                art_id = art_ids.get(rid)
                if art_id is None:
                    continue  # an only_existing link to an artifact that is not there
                linked.append(art_id)
                events.append((
                    next(event_ids), art_id, ex_id, state_text(link.type), now,
                    label_json(link.label) if link.label else "{}",
                ))
            for context in contexts:
                ctx_id = ctx_ids.get(context.resource_id)
                if ctx_id is None:
                    raise NotFoundError(f"context {context.name!r} does not exist")
                associations.append((ctx_id, ex_id))
                attributions.extend((ctx_id, a) for a in dict.fromkeys(linked))
        if events:
            event_sql, event_order = self.fast.positional(("insert_row", "events"), t.events.insert)
            if event_order != _EVENT_ORDER:
                raise AssertionError(f"unexpected parameter order: {event_order}")
            tx.cur.executemany(event_sql, events)
        link_rows(self, tx, t.associations, associations)
        link_rows(self, tx, t.attributions, attributions)
        return etags
