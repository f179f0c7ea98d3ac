"""Create, update, delete and purge resources, and the helpers every write shares.

Helpers (also used by :mod:`.put`, :mod:`.links` and :mod:`.batch`):
:func:`tx_rows`/:func:`tx_ids` look resources up inside a fast-path
transaction, :func:`link_rows` inserts context links, :func:`write_with_keys`
is the one "use the keys this object knows, else look them up" write, and
:func:`label_json`/:func:`state_text`/:func:`unique_groups` shape rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.engine import Connection

from ..._json import dumps
from ..._time import from_micros, now_micros, to_micros
from ...exceptions import AlreadyExistsError, ConflictError, InvalidArgumentError, NotFoundError
from ..base import PurgeResult
from . import tables as t
from .core import SqlCore
from .errors import refuse_write
from .fast import Tx
from .keys import is_key_clash
from .paging import where
from .rows import chunks, stored_copy

T = TypeVar("T")
R = TypeVar("R")

_RESOURCE_ORDER = (
    "id", "store_id", "resource_id", "display_name", "schema_title", "schema_version",
    "description", "metadata", "labels", "etag", "create_time", "update_time",
)
#: Column order of :func:`insert_row`'s rows.
_INSERT_ORDER = {
    "artifacts": (*_RESOURCE_ORDER, "uri", "state", "content_digest"),
    "executions": (*_RESOURCE_ORDER, "state"),
    "contexts": _RESOURCE_ORDER,
}

_LABEL_JSON: dict[str, str] = {}


def label_json(label: str) -> str:
    """The labels document of an event, ``{"name": label}`` (memoized: labels repeat)."""
    text = _LABEL_JSON.get(label)
    if text is None:
        text = dumps({"name": label})
        if len(_LABEL_JSON) < 4096:
            _LABEL_JSON[label] = text
    return text


def state_text(state: Any) -> str:
    """A state enum's value (or a plain string state) without Enum.__str__."""
    return state if type(state) is str else state._value_  # type: ignore[no-any-return]


def unique_groups(records: Sequence[T], execution_id: Callable[[T], str]) -> Iterator[list[T]]:
    """Split records, in order, into runs where no execution appears twice."""
    group: list[T] = []
    seen: set[str] = set()
    for record in records:
        rid = execution_id(record)
        if rid in seen:
            yield group
            group, seen = [], set()
        group.append(record)
        seen.add(rid)
    if group:
        yield group


def tx_rows(
    store: SqlCore, tx: Tx, kind: str, rids: Sequence[str], *columns: str
) -> dict[str, tuple[Any, ...]]:
    """``resource_id -> (columns...)`` for ``rids`` in a fast-path transaction, 50 per query."""
    table = t.RESOURCE_TABLES[kind]
    out: dict[str, tuple[Any, ...]] = {}
    unique = list(dict.fromkeys(rids))
    for chunk in chunks(unique, 50):
        n = len(chunk)
        params: dict[str, Any] = {f"r{i}": rid for i, rid in enumerate(chunk)}
        params["sid"] = store.store_id
        rows = tx.fetchall(
            ("rows", kind, columns, n),
            lambda n=n: select(  # type: ignore[misc]
                table.c.resource_id, *(table.c[c] for c in columns)
            ).where(
                table.c.store_id == bindparam("sid"),
                table.c.resource_id.in_([bindparam(f"r{i}") for i in range(n)]),
            ),
            params,
        )
        out.update({row[0]: tuple(row[1:]) for row in rows})
    return out


def tx_ids(
    store: SqlCore, tx: Tx, kind: str, rids: Sequence[str], *, required: bool = True
) -> dict[str, int]:
    """``resource_id -> pk`` for ``rids`` in a fast-path transaction.

    Raises:
        NotFoundError: ``required`` and one of ``rids`` does not exist.
    """
    out = {rid: row[0] for rid, row in tx_rows(store, tx, kind, rids, "id").items()}
    if required:
        for rid in rids:
            if rid not in out:
                raise store.missing(kind, rid)
    return out


def ids_by_resource_id(
    store: SqlCore, conn: Connection, kind: str, rids: Sequence[str], *, required: bool = True
) -> dict[str, int]:
    """:func:`tx_ids` on an SQLAlchemy connection."""
    table = t.RESOURCE_TABLES[kind]
    out: dict[str, int] = {}
    for chunk in chunks(list(dict.fromkeys(rids)), 500):
        q = select(table.c.resource_id, table.c.id).where(
            table.c.store_id == store.store_id, table.c.resource_id.in_(chunk)
        )
        out.update({rid: pk for rid, pk in conn.execute(q)})
    if required:
        for rid in rids:
            if rid not in out:
                raise store.missing(kind, rid)
    return out


def link_rows(store: SqlCore, tx: Tx, link: Table, rows: list[tuple[int, int]]) -> None:
    """Insert-or-ignore ``(context_id, other_id)`` rows into ``link``."""
    if rows:
        sql, order = store.fast.positional(
            ("link_rows", link.name), lambda: store.dialect.insert_ignore(link)
        )
        if order[0] != "context_id":
            raise AssertionError(f"unexpected column order for {link.name}: {order}")
        tx.cur.executemany(sql, rows)


def write_with_keys(
    store: SqlCore,
    wanted: Sequence[tuple[str, Sequence[str]]],
    fn: Callable[[Tx, list[list[int]]], T],
) -> T:
    """``fn(tx, keys)`` in one fast-path write, ``keys[i]`` the primary keys of
    ``wanted[i] = (kind, resource_ids)`` in order.

    When this store object knows every key (it created or read the resources),
    no lookups are made; if one of them turns out stale (the write raises an
    integrity error), they are forgotten and the write is done again with the
    keys looked up in its transaction, which raises NotFoundError for a
    resource that does not exist. Integrity errors of the second write pass
    through.
    """
    known = [store.known.get(kind, rids) for kind, rids in wanted]
    if all(k is not None for k in known):
        try:
            return store.fast_write(lambda tx: fn(tx, known))  # type: ignore[arg-type]
        except store.fast.integrity_error:
            for kind, rids in wanted:
                store.known.forget(kind, rids)

    def looked_up(tx: Tx) -> T:
        keys: list[list[int]] = []
        found_all = []
        for kind, rids in wanted:
            found = tx_ids(store, tx, kind, rids) if rids else {}
            keys.append([found[rid] for rid in rids])
            found_all.append((kind, found))
        result = fn(tx, keys)
        for kind, found in found_all:
            for rid, pk in found.items():
                store.known.remember(kind, rid, pk)
        return result

    return store.fast_write(looked_up)


def insert_row(store: SqlCore, kind: str, r: Any, pk: int) -> tuple[str, tuple[Any, ...]]:
    """The INSERT of new resource ``r`` with key ``pk``: driver SQL and its positional row.

    Built straight into a tuple (this runs for every created resource).

    Raises:
        ValueError: the metadata or labels hold NaN or an infinity (not JSON).
    """
    sql, order = store.fast.positional(("insert_row", kind), t.RESOURCE_TABLES[kind].insert)
    if order != _INSERT_ORDER[kind]:  # the row below is built in this order
        raise AssertionError(f"unexpected column order for {kind}: {order}")
    d = r.__dict__
    name = d["name"]
    metadata = d["metadata"]
    common = (
        pk, store.store_id, name[name.rfind("/") + 1 :], d["display_name"] or "",
        d["schema_title"], d["schema_version"], d["description"] or "", dumps(metadata),
        dumps(d["labels"]), 1, to_micros(d["create_time"]), to_micros(d["update_time"]),
    )
    if kind == "artifacts":
        return sql, (*common, d["uri"] or "", state_text(d["state"]), content_digest(metadata))
    if kind == "executions":
        return sql, (*common, state_text(d["state"]))
    return sql, common


def content_digest(metadata: dict[str, Any]) -> str | None:
    """The content digest an artifact's metadata records (indexed for look-ups)."""
    vt_meta = metadata.get("vertex_track")
    return vt_meta.get("digest") if isinstance(vt_meta, dict) else None


class Writes(SqlCore):
    """``create``/``update``/``delete``/``purge`` of :class:`~.store.SqlStore`."""

    def create(self, resource: Any) -> Any:
        return self._create_in_contexts(resource, ())

    def _create_in_contexts(self, resource: R, contexts: Sequence[Any]) -> R:
        """:meth:`create`, and link the new resource to existing ``contexts``, atomically.

        An execution is associated with each context, an artifact attributed
        to it. Returns a copy of ``resource`` bound to this store, etag ``"1"``.

        Raises:
            AlreadyExistsError: the resource id is taken.
            NotFoundError: a parent context or one of ``contexts`` does not exist.
        """
        r: Any = resource
        kind = r.kind
        parents = r.parent_contexts if kind == "contexts" else None
        if self.read_only:
            refuse_write(self)  # before a key block is taken (that is a write too)
        for attempt in range(4):
            pk = self.fast.keys.take(self.fast, 1)[0]
            sql, row = insert_row(self, kind, r, pk)
            try:
                if parents or contexts:
                    self._create_linked(r, pk, sql, row, parents or [], contexts)
                else:  # the common case: one INSERT, a transaction of its own
                    self.fast_write_one(sql, row)
                break
            except self.fast.integrity_error as exc:
                if is_key_clash(exc) and attempt < 3:
                    # Not the resource id: the primary key. Take a new key block.
                    self.fast.keys.discard()
                    continue
                raise AlreadyExistsError(
                    f"{kind[:-1]} {r.name!r} already exists; choose another resource_id "
                    "or get() the existing one"
                ) from exc
        self.known.remember(kind, row[2], pk)
        return stored_copy(self, resource, "1")

    def _create_linked(
        self, resource: Any, pk: int, sql: str, row: tuple[Any, ...],
        parents: Sequence[str], contexts: Sequence[Any],
    ) -> None:
        """The insert of :meth:`_create_in_contexts` with parent links or context links."""
        kind = resource.kind
        if contexts and kind == "contexts":
            raise InvalidArgumentError("a context is linked to contexts by parent_contexts")
        parent_rids = [self.resource_id_from("contexts", p) for p in parents]
        link = t.associations if kind == "executions" else t.attributions

        def tx(tx: Tx, keys: list[list[int]]) -> None:
            parent_ids = tx_ids(self, tx, "contexts", parent_rids) if parent_rids else {}
            tx.cur.execute(sql, row)
            if parent_ids:
                tx.executemany(
                    ("insert", "parent_contexts"), t.parent_contexts.insert,
                    [{"child_id": pk, "parent_id": p} for p in parent_ids.values()],
                )
            link_rows(self, tx, link, [(c, pk) for c in keys[0]])

        write_with_keys(self, [("contexts", [c.resource_id for c in contexts])], tx)

    def update(self, resource: Any, changes: dict[str, Any]) -> Any:
        kind = resource.kind
        table = t.RESOURCE_TABLES[kind]
        values: dict[str, Any] = {}
        out = resource.model_copy(
            update={"metadata": dict(resource.metadata), "labels": dict(resource.labels)}
        )
        out._bound = self
        for key, value in changes.items():
            if key == "metadata":
                value = {**resource.metadata, **value}
            if key == "state":
                values["state"] = str(value)
            else:
                values[key] = value
            setattr(out, key, value)
        if kind == "artifacts" and "metadata" in values:
            values["content_digest"] = content_digest(values["metadata"])
        now = now_micros()
        try:
            expected = int(resource.etag)
        except ValueError:
            raise ConflictError(f"{resource.name!r} has no valid etag; get() it first") from None
        values["update_time"] = now
        values["etag"] = expected + 1

        def tx(conn: Connection) -> None:
            result = conn.execute(
                table.update()
                .where(
                    table.c.store_id == self.store_id,
                    table.c.resource_id == resource.resource_id,
                    table.c.etag == expected,
                )
                .values(**values)
            )
            if result.rowcount == 1:
                return
            current = conn.execute(
                select(table.c.etag).where(
                    table.c.store_id == self.store_id,
                    table.c.resource_id == resource.resource_id,
                )
            ).first()
            if current is None:
                raise NotFoundError(f"{kind[:-1]} {resource.name!r} does not exist")
            raise ConflictError(
                f"{kind[:-1]} {resource.name!r} was changed by someone else "
                f"(etag {resource.etag} is stale, the stored one is {current[0]}); "
                "get() it again and re-apply your update"
            )

        self.write(tx)
        out.update_time = from_micros(now)
        out.etag = str(expected + 1)
        return out

    def delete(self, kind: str, resource_ids: Sequence[str], *, missing_ok: bool = True) -> int:
        table = t.RESOURCE_TABLES[kind]
        rids = list(resource_ids)

        def tx(conn: Connection) -> int:
            deleted = 0
            for chunk in chunks(rids, 500):
                deleted += conn.execute(
                    table.delete().where(
                        table.c.store_id == self.store_id, table.c.resource_id.in_(chunk)
                    )
                ).rowcount
            if not missing_ok and deleted < len(set(rids)):
                raise self.missing(kind, rids[0])
            return deleted

        self.known.forget(kind, rids)
        return self.write(tx)

    def purge(self, kind: str, filter: str, *, force: bool = False) -> PurgeResult:
        table = t.RESOURCE_TABLES[kind]
        clauses = where(self, kind, filter, False)
        matched = select(table.c.id).where(*clauses)
        sample_q = (
            select(table.c.resource_id)
            .where(*clauses)
            .order_by(table.c.create_time, table.c.resource_id)
            .limit(100)
        )
        count_q = select(func.count()).select_from(table).where(*clauses)
        downstream_q = _downstream_query(kind, matched)

        def collect(conn: Connection) -> PurgeResult:
            return PurgeResult(
                purge_count=int(conn.execute(count_q).scalar_one()),
                purge_sample=[
                    self.resource_name(kind, rid) for rid in conn.execute(sample_q).scalars()
                ],
                downstream_executions=[
                    self.resource_name("executions", rid)
                    for rid in conn.execute(downstream_q).scalars()
                ] if downstream_q is not None else [],
                forced=force,
            )

        if not force:
            with self.read() as conn:
                return collect(conn)

        def tx(conn: Connection) -> PurgeResult:
            result = collect(conn)
            conn.execute(table.delete().where(table.c.id.in_(matched.scalar_subquery())))
            return result

        self.known.forget(kind)
        return self.write(tx)


def _downstream_query(kind: str, matched: Any) -> Any:
    """Executions outside the purge that consumed what the purge deletes."""
    ev, ex = t.events, t.executions
    if kind == "artifacts":
        cut_artifacts = matched
        excluded = None
    elif kind == "executions":
        produced = select(ev.c.artifact_id).where(
            ev.c.type == "OUTPUT", ev.c.execution_id.in_(matched.scalar_subquery())
        )
        cut_artifacts = produced
        excluded = matched
    else:
        return None
    consumers = select(ev.c.execution_id).where(
        ev.c.type == "INPUT", ev.c.artifact_id.in_(cut_artifacts.scalar_subquery())
    )
    q = select(ex.c.resource_id).where(ex.c.id.in_(consumers.scalar_subquery()))
    if excluded is not None:
        q = q.where(ex.c.id.not_in(excluded.scalar_subquery()))
    return q.order_by(ex.c.create_time, ex.c.resource_id).limit(100)
