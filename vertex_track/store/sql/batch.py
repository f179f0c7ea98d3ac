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

from sqlalchemy import Table, bindparam, select

from ..._json import loads
from ...exceptions import NotFoundError
from ..base import ArtifactRow, TrackedRecord
from . import tables as t
from .writes import label_json, tx_ids, tx_rows, unique_groups

if TYPE_CHECKING:
    from .core import SqlCore as SqlStore
    from .fast import Tx


def _insert(store: SqlStore, table: Table, *, ignore: bool = False) -> str:
    """Driver SQL of an insert of every column of ``table`` (rows are built in column
    order), ``ON CONFLICT DO NOTHING`` with ``ignore``; compiled once per store."""
    build = (lambda: store.dialect.insert_ignore(table)) if ignore else table.insert
    sql, order = store.fast.positional(("batch_insert", table.name, ignore), build)
    if order != tuple(c.name for c in table.columns):
        raise AssertionError(f"unexpected parameter order for {table.name}: {order}")
    return sql


def _insert_rows(store: SqlStore, tx: Tx, table: Table, rows: list[Any], ignore: bool) -> int:
    """Insert ``rows`` into ``table``; returns how many were inserted (not ignored)."""
    tx.cur.executemany(_insert(store, table, ignore=ignore), rows)
    return int(tx.cur.rowcount)


def _update_execution(store: SqlStore) -> tuple[str, tuple[str, ...]]:
    ex = t.executions
    return store.fast.positional(
        ("batch_update_execution",),
        lambda: ex.update().where(ex.c.id == bindparam("pk")).values(
            state=bindparam("v_state"), metadata=bindparam("v_metadata"),
            display_name=bindparam("v_display_name"), update_time=bindparam("v_update_time"),
            etag=bindparam("v_etag"),
        ),
    )


_FINAL_STATES = frozenset({"COMPLETE", "FAILED", "CACHED", "CANCELLED"})


def put_tracked(
    store: SqlStore, records: Sequence[TrackedRecord], now: int, *, replay: bool = False
) -> None:
    """Write ``records`` in one transaction (see :meth:`MetadataStore.put_tracked`)."""
    if not records:
        return
    if replay:  # maybe written before: look every execution up
        records = [r._replace(fresh=False) for r in records]

    def tx(tx: Tx) -> None:
        rids = list(dict.fromkeys(rid for record in records for rid in record.contexts))
        ctx_ids = tx_ids(store, tx, "contexts", rids, required=False) if rids else {}
        for group in unique_groups(records, lambda r: r.execution[0]):
            _write_group(store, tx, group, ctx_ids, now, replay)

    store.fast_write(tx)


def _write_group(
    store: SqlStore, tx: Tx, group: list[TrackedRecord], ctx_ids: dict[str, int], now: int,
    replay: bool = False,
) -> None:
    cur, sid = tx.cur, store.store_id

    # -- executions: insert the fresh ones, update the others ---------------------
    ex_ids = tx.ids(len(group))
    stale = [r.execution[0] for r in group if not r.fresh]
    columns = ("id", "etag", "state") if replay else ("id", "etag")
    found = tx_rows(store, tx, "executions", stale, *columns) if stale else {}
    inserts: list[int] = []
    updates: list[tuple[int, int]] = []  # (index in group, new etag)
    for i, record in enumerate(group):
        hit = None if record.fresh else found.get(record.execution[0])
        if hit is None:
            inserts.append(i)
        else:
            ex_ids[i] = hit[0]
            if replay and hit[2] in _FINAL_STATES and record.execution[3] not in _FINAL_STATES:
                continue  # a spooled RUNNING record after its end was written: keep the end
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
        if _insert_rows(store, tx, t.executions, rows, ignore=True) != len(rows):
            # Some were recorded already (by another process): update those.
            stored = tx_rows(
                store, tx, "executions", [group[i].execution[0] for i in inserts], "id", "etag"
            )
            for i in inserts:
                pk, etag = stored[group[i].execution[0]]
                if pk != ex_ids[i]:
                    ex_ids[i] = pk
                    updates.append((i, etag + 1))
    if updates:
        update_sql, update_order = _update_execution(store)
        rows = []
        for i, etag in updates:
            _rid, name, _title, state, meta, _created, _updated = group[i].execution
            values = {
                "pk": ex_ids[i], "v_state": state, "v_metadata": meta, "v_display_name": name,
                "v_update_time": now, "v_etag": etag,
            }
            rows.append(tuple(values[k] for k in update_order))
        cur.executemany(update_sql, rows)

    # -- artifacts: insert the new ones; look up the ones seen before -------------
    new: dict[str, ArtifactRow] = {}
    known: list[str] = []
    wanted: list[str] = []  # "@execution": every OUTPUT artifact of that execution
    for record in group:
        for _type, _label, a in record.links:
            if isinstance(a, str):
                (wanted if a[:1] == "@" else known).append(a)
            elif a[0] not in new:
                new[a[0]] = a
    art_ids: dict[str, int] = {}
    if new:
        rows = []
        for pk, (rid, name, title, meta, uri, digest, created) in zip(
            tx.ids(len(new)), new.values()
        ):
            art_ids[rid] = pk
            rows.append((
                pk, sid, rid, name, title, "0.0.1", "", meta, "{}", 1, created, created, uri,
                "LIVE", digest,
            ))
        if _insert_rows(store, tx, t.artifacts, rows, ignore=True) != len(rows):
            # Content recorded before: link the stored artifacts.
            art_ids.update(tx_ids(store, tx, "artifacts", list(new), required=False))
    known = [rid for rid in dict.fromkeys(known) if rid not in art_ids]
    if known:
        art_ids.update(tx_ids(store, tx, "artifacts", known, required=False))
    outputs_of = _outputs_of(store, tx, group, wanted, art_ids) if wanted else {}

    # -- events and context links ------------------------------------------------
    events: list[tuple[Any, ...]] = []
    associations: list[tuple[int, int]] = []
    attributions: list[tuple[int, int]] = []
    for record, ex_id in zip(group, ex_ids):
        linked: dict[int, None] = {}
        seen: set[tuple[int, str]] = set()
        for kind, label, a in record.links:
            if isinstance(a, str) and a[:1] == "@":
                targets = outputs_of.get(a, ())
            else:
                art_id = art_ids.get(a if isinstance(a, str) else a[0])
                # None: a link to an earlier artifact that is gone (purged)
                targets = () if art_id is None else (art_id,)
            labels = label_json(label) if label else "{}"
            for art_id in targets:
                if (art_id, kind + label) in seen:
                    continue  # one argument, one event per artifact
                seen.add((art_id, kind + label))
                events.append((art_id, ex_id, kind, now, labels))
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
        events = [(pk, *event) for pk, event in zip(tx.ids(len(events)), events)]
    if events and replay:
        events = _new_events(store, tx, events)
    if events:
        _insert_rows(store, tx, t.events, events, ignore=False)
    if associations:
        _insert_rows(store, tx, t.associations, associations, ignore=True)
    if attributions:
        _insert_rows(store, tx, t.attributions, attributions, ignore=True)


def _new_events(store: SqlStore, tx: Tx, events: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The ``events`` that their executions do not have yet (same artifact, type and label)."""
    ev = t.events
    ex_ids = list(dict.fromkeys(e[2] for e in events))
    have: set[tuple[int, int, str, str]] = set()
    for lo in range(0, len(ex_ids), 50):
        chunk = ex_ids[lo : lo + 50]
        n = len(chunk)
        rows = tx.fetchall(
            ("events_of", n),
            lambda n=n: select(ev.c.execution_id, ev.c.artifact_id, ev.c.type, ev.c.labels)  # type: ignore[misc]
            .where(ev.c.execution_id.in_([bindparam(f"e{i}") for i in range(n)])),
            {f"e{i}": pk for i, pk in enumerate(chunk)},
        )
        for ex_id, art_id, kind, labels in rows:
            have.add((ex_id, art_id, kind, _label_of(labels)))
    out = []
    for e in events:
        key = (e[2], e[1], e[3], _label_of(e[5]))
        if key not in have:
            have.add(key)
            out.append(e)
    return out


def _label_of(labels: Any) -> str:
    if isinstance(labels, str):
        labels = loads(labels) if labels else {}
    return str((labels or {}).get("name", ""))


def _outputs_of(
    store: SqlStore, tx: Tx, group: list[TrackedRecord], wanted: list[str],
    art_ids: dict[str, int],
) -> dict[str, tuple[int, ...]]:
    """``"@execution" -> pks of its OUTPUT artifacts``: from this group, else from the store.

    The producer of a value is named by Prefect's graph; it may have run in
    this batch, in an earlier transaction, or in another process.
    """
    out: dict[str, tuple[int, ...]] = {}
    in_group: dict[str, list[int]] = {}
    for record in group:
        for kind, _label, a in record.links:
            if kind != "OUTPUT":
                continue
            pk = art_ids.get(a if isinstance(a, str) else a[0])
            if pk is not None:
                in_group.setdefault(record.execution[0], []).append(pk)
    missing: list[str] = []
    for target in dict.fromkeys(wanted):
        pks = in_group.get(target[1:])
        if pks:
            out[target] = tuple(dict.fromkeys(pks))
        else:
            missing.append(target[1:])
    ex, ev = t.executions, t.events
    for start in range(0, len(missing), 50):
        chunk = missing[start:start + 50]
        n = len(chunk)
        params: dict[str, Any] = {f"r{i}": rid for i, rid in enumerate(chunk)}
        params["sid"] = store.store_id
        params["output"] = "OUTPUT"
        rows = tx.fetchall(
            ("producer_outputs", n),
            lambda n=n: select(ex.c.resource_id, ev.c.artifact_id)  # type: ignore[misc]
            .select_from(ev.join(ex, ev.c.execution_id == ex.c.id))
            .where(
                ex.c.store_id == bindparam("sid"),
                ex.c.resource_id.in_([bindparam(f"r{i}") for i in range(n)]),
                ev.c.type == bindparam("output"),
            )
            .order_by(ev.c.id),
            params,
        )
        found: dict[str, list[int]] = {}
        for rid, pk in rows:
            found.setdefault(rid, []).append(pk)
        for rid, pks in found.items():
            out["@" + rid] = tuple(dict.fromkeys(pks))
    return out
