"""The tracking writer's batch: the rows of many task runs in ONE transaction.

Tracking describes each call as plain rows (:class:`~vertex_track.store.base.TrackedRecord`:
strings and numbers, artifact metadata already encoded as JSON), so the writer
only assigns primary keys and runs a few set-wise statements per batch, each
compiled once with positional parameters and run with ``executemany`` on the
DBAPI cursor.

Inserts are optimistic. An execution's first record and every new artifact
are inserted with keys made here (``INSERT ... ON CONFLICT DO NOTHING``); only
when the driver's row count says some rows were already there (an artifact
with content seen before, an execution another process recorded) are the
stored keys looked up. A batch of new work therefore costs no lookups at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, bindparam

from ...exceptions import NotFoundError
from ..base import ArtifactRow, TrackedRecord
from . import tables as t
from .store import _label_json

if TYPE_CHECKING:
    from .fast import Tx
    from .store import SqlStore


class _Statements:
    """The batch's statements for one store, compiled once with positional parameters."""

    def __init__(self, store: SqlStore) -> None:
        if store.dialect_name == "sqlite":
            from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

            self._dialect: Any = SQLiteDialect_pysqlite(paramstyle="qmark")
        else:
            self._dialect = type(store.engine.dialect)(paramstyle="format")  # type: ignore[call-arg]
        ignore = store.dialect.insert_ignore
        self.insert_execution = self._insert(ignore(t.executions), t.executions)
        self.insert_artifact = self._insert(ignore(t.artifacts), t.artifacts)
        self.insert_event = self._insert(t.events.insert(), t.events)
        self.insert_association = self._insert(ignore(t.associations), t.associations)
        self.insert_attribution = self._insert(ignore(t.attributions), t.attributions)
        ex = t.executions
        update = ex.update().where(ex.c.id == bindparam("pk")).values(
            state=bindparam("v_state"), metadata=bindparam("v_metadata"),
            display_name=bindparam("v_display_name"), update_time=bindparam("v_update_time"),
            etag=bindparam("v_etag"),
        )
        compiled = update.compile(dialect=self._dialect)
        self.update_execution = str(compiled)
        self.update_order: tuple[str, ...] = tuple(compiled.positiontup or ())

    def _insert(self, stmt: Any, table: Table) -> str:
        """SQL of an insert of every column of ``table``, parameters in column order."""
        compiled = stmt.compile(dialect=self._dialect)
        columns = tuple(c.name for c in table.columns)
        if tuple(compiled.positiontup or ()) != columns:  # rows below are built in this order
            raise AssertionError(f"unexpected parameter order for {table.name}")
        return str(compiled)


    @staticmethod
    def insert(cur: Any, sql: str, rows: list[tuple[Any, ...]]) -> int:
        """Insert ``rows`` with ``sql``; returns how many rows were inserted."""
        cur.executemany(sql, rows)
        return int(cur.rowcount)


def _statements(store: SqlStore) -> _Statements:
    st = store.__dict__.get("_batch_statements")
    if st is None:
        st = store.__dict__["_batch_statements"] = _Statements(store)
    return st


def put_tracked(store: SqlStore, records: Sequence[TrackedRecord], now: int) -> None:
    """Write ``records`` in one transaction (see :meth:`MetadataStore.put_tracked`)."""
    if not records:
        return
    st = _statements(store)

    def tx(tx: Tx) -> None:
        rids = list(dict.fromkeys(rid for record in records for rid in record.contexts))
        ctx_ids = store._tx_ids(tx, "contexts", rids, required=False) if rids else {}
        for group in _unique_executions(records):
            _write_group(store, st, tx, group, ctx_ids, now)

    store.fast_write(tx)


def _unique_executions(records: Sequence[TrackedRecord]) -> list[list[TrackedRecord]]:
    """Split records, in order, into runs where no execution appears twice."""
    groups: list[list[TrackedRecord]] = [[]]
    seen: set[str] = set()
    for record in records:
        rid = record.execution[0]
        if rid in seen:
            groups.append([])
            seen = set()
        groups[-1].append(record)
        seen.add(rid)
    return groups


def _write_group(
    store: SqlStore, st: _Statements, tx: Tx, group: list[TrackedRecord],
    ctx_ids: dict[str, int], now: int,
) -> None:
    cur, sid = tx.cur, store.store_id

    # -- executions: insert the fresh ones, update the others ---------------------
    ex_ids = t.new_ids(len(group))
    stale = [r.execution[0] for r in group if not r.fresh]
    found = store._tx_rows(tx, "executions", stale, "id", "etag") if stale else {}
    inserts: list[int] = []
    updates: list[tuple[int, int]] = []  # (index in group, new etag)
    for i, record in enumerate(group):
        hit = None if record.fresh else found.get(record.execution[0])
        if hit is None:
            inserts.append(i)
        else:
            ex_ids[i] = hit[0]
            updates.append((i, hit[1] + 1))
    rows: list[tuple[Any, ...]]
    if inserts:
        rows = []
        for i in inserts:
            rid, name, title, state, meta, created, updated = group[i].execution
            rows.append(
                (ex_ids[i], sid, rid, name, title, "0.0.1", "", meta, "{}", 1, created, updated,
                 state)
            )
        if st.insert(cur, st.insert_execution, rows) != len(rows):
            # Some were recorded already (by another process): update those.
            stored = store._tx_rows(
                tx, "executions", [group[i].execution[0] for i in inserts], "id", "etag"
            )
            for i in inserts:
                pk, etag = stored[group[i].execution[0]]
                if pk != ex_ids[i]:
                    ex_ids[i] = pk
                    updates.append((i, etag + 1))
    if updates:
        rows = []
        for i, etag in updates:
            _rid, name, _title, state, meta, _created, _updated = group[i].execution
            values = {
                "pk": ex_ids[i], "v_state": state, "v_metadata": meta, "v_display_name": name,
                "v_update_time": now, "v_etag": etag,
            }
            rows.append(tuple(values[k] for k in st.update_order))
        cur.executemany(st.update_execution, rows)

    # -- artifacts: insert the new ones; look up the ones seen before -------------
    new: dict[str, ArtifactRow] = {}
    known: list[str] = []
    for record in group:
        for _type, _label, a in record.links:
            if isinstance(a, str):
                known.append(a)
            elif a[0] not in new:
                new[a[0]] = a
    art_ids: dict[str, int] = {}
    if new:
        rows = []
        for pk, (rid, name, title, meta, uri, digest, created) in zip(
            t.new_ids(len(new)), new.values()
        ):
            art_ids[rid] = pk
            rows.append((
                pk, sid, rid, name, title, "0.0.1", "", meta, "{}", 1, created, created, uri,
                "LIVE", digest,
            ))
        if st.insert(cur, st.insert_artifact, rows) != len(rows):
            # Content recorded before: link the stored artifacts.
            art_ids.update(store._tx_ids(tx, "artifacts", list(new), required=False))
    known = [rid for rid in dict.fromkeys(known) if rid not in art_ids]
    if known:
        art_ids.update(store._tx_ids(tx, "artifacts", known, required=False))

    # -- events and context links ------------------------------------------------
    n_links = sum(len(r.links) for r in group)
    event_ids = iter(t.new_ids(n_links)) if n_links else iter(())
    events: list[tuple[Any, ...]] = []
    associations: list[tuple[int, int]] = []
    attributions: list[tuple[int, int]] = []
    for record, ex_id in zip(group, ex_ids):
        linked: dict[int, None] = {}
        for kind, label, a in record.links:
            art_id = art_ids.get(a if isinstance(a, str) else a[0])
            if art_id is None:
                continue  # a link to an earlier artifact that is gone (purged)
            labels = _label_json(label) if label else "{}"
            events.append((next(event_ids), art_id, ex_id, kind, now, labels))
            linked[art_id] = None
        for crid in record.contexts:
            ctx_id = ctx_ids.get(crid)
            if ctx_id is None:
                raise NotFoundError(
                    f"context {store.resource_name('contexts', crid)!r} does not exist"
                )
            associations.append((ctx_id, ex_id))
            attributions.extend((ctx_id, art_id) for art_id in linked)
    if events:
        st.insert(cur, st.insert_event, events)
    if associations:
        st.insert(cur, st.insert_association, associations)
    if attributions:
        st.insert(cur, st.insert_attribution, attributions)
