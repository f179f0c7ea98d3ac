"""The SQL metadata store: one implementation for SQLite and PostgreSQL."""

from __future__ import annotations

import atexit
import base64
import builtins
import datetime as dt
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import (
    Table,
    and_,
    bindparam,
    create_engine,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.exc import DBAPIError, OperationalError

from ...exceptions import (
    AlreadyExistsError,
    ConflictError,
    FilterError,
    InvalidArgumentError,
    NotFoundError,
    StoreUnavailableError,
)
from ...resources import (
    Artifact,
    ArtifactState,
    Context,
    Event,
    EventType,
    Execution,
    ExecutionState,
    _Resource,
)
from ..barrier import wait_for_pending_writes
from ..base import ArtifactLink, PurgeResult, TrackedRecord
from . import tables as t
from .dialects import Dialect, dialect_for, retry_transient
from .experiments import ExperimentQueries
from .fast import FastPath, StoreDownError, Tx, dumps
from .integrity import MaintenanceQueries
from .keys import is_key_clash
from .lineage import LineageQueries
from .migrations import ensure_schema

T = TypeVar("T")
R = TypeVar("R", bound=_Resource)
KINDS = ("artifacts", "executions", "contexts")
MODELS: dict[str, type[_Resource]] = {
    "artifacts": Artifact,
    "executions": Execution,
    "contexts": Context,
}
ORDER_FIELDS = {
    "name": "resource_id",
    "resource_id": "resource_id",
    "display_name": "display_name",
    "schema_title": "schema_title",
    "schema_version": "schema_version",
    "state": "state",
    "uri": "uri",
    "create_time": "create_time",
    "update_time": "update_time",
}
MAX_PAGE_SIZE = 10_000
_MAX_KNOWN_PKS = 100_000  # per kind and store object: a few MB at most
_RESOURCE_ORDER = (
    "id", "store_id", "resource_id", "display_name", "schema_title", "schema_version",
    "description", "metadata", "labels", "etag", "create_time", "update_time",
)
_EVENT_ORDER = ("id", "artifact_id", "execution_id", "type", "event_time", "labels")
_FINISH_ORDER = (  # parameters of SqlStore._finish_known's UPDATE
    "v_description", "v_metadata", "v_labels", "v_update_time", "v_state", "pk", "sid", "rid",
)
_INSERT_ORDER = {  # column order of SqlStore._insert_row's rows
    "artifacts": (*_RESOURCE_ORDER, "uri", "state", "content_digest"),
    "executions": (*_RESOURCE_ORDER, "state"),
    "contexts": _RESOURCE_ORDER,
}
# Enum lookups by value without Enum.__call__ (hot when rows become models).
_ARTIFACT_STATES = {m.value: m for m in ArtifactState}
_EXECUTION_STATES = {m.value: m for m in ExecutionState}
_EVENT_TYPES = {m.value: m for m in EventType}
_EVENT_FIELDS = frozenset({"artifact", "execution", "event_time", "type", "labels"})
UTC = dt.timezone.utc


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = dt.timedelta(microseconds=1)


def to_micros(value: dt.datetime) -> int:
    """Microseconds since the epoch (a naive datetime is taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _MICRO


def from_micros(value: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=value)


def _json(value: Any) -> Any:
    """A JSON column's value: decoded already, or text (raw rows of the lineage query)."""
    if type(value) is str:
        return {} if value == "{}" else json.loads(value)
    return {} if value is None else value


def now_micros() -> int:
    return time.time_ns() // 1000


_LABEL_JSON: dict[str, str] = {}


def _label_json(label: str) -> str:
    """The labels document of an event, ``{"name": label}`` (memoized: labels repeat)."""
    text = _LABEL_JSON.get(label)
    if text is None:
        text = dumps({"name": label})
        if len(_LABEL_JSON) < 4096:
            _LABEL_JSON[label] = text
    return text


def _state_text(state: Any) -> str:
    """A state enum's value (or a plain string state) without Enum.__str__."""
    return state if type(state) is str else state._value_


# -- engines: one per (process, uri) ------------------------------------------------
_engines: dict[str, tuple[Engine, Dialect]] = {}
_engines_lock = threading.Lock()
_migrated: set[str] = set()


def _drop_engines_after_fork() -> None:
    # A forked child must not share pooled connections with its parent.
    for engine, _ in _engines.values():
        engine.dispose(close=False)
    _engines.clear()


os.register_at_fork(after_in_child=_drop_engines_after_fork)


def _engine_for(uri: str) -> tuple[Engine, Dialect]:
    hit = _engines.get(uri)
    if hit is not None:
        return hit
    with _engines_lock:
        hit = _engines.get(uri)
        if hit is None:
            dialect = dialect_for(uri)
            url = dialect.url(uri)
            if dialect.name == "sqlite" and url.database and url.database != ":memory:":
                os.makedirs(os.path.dirname(os.path.abspath(url.database)), exist_ok=True)
            engine = create_engine(url, **dialect.engine_kwargs(url))
            dialect.install(engine)
            hit = _engines[uri] = (engine, dialect)
    return hit


def dispose_engine(uri: str) -> None:
    """Close the pooled connections of one store URI and forget its engine.

    An SQLite store's WAL is folded into the database file first (see
    :func:`_checkpoint`).
    """
    with _engines_lock:
        hit = _engines.pop(uri, None)
        _migrated.discard(uri)
    if hit is not None:
        _checkpoint(*hit)
        hit[0].dispose()
    from .readonly import dispose as dispose_read_only  # inspection's engine, if any

    dispose_read_only(uri)
    from .. import _forget_uri

    _forget_uri(uri)


def _checkpoint(engine: Engine, dialect: Dialect) -> None:
    """Fold an SQLite store's WAL into its database file and cut the WAL to zero bytes.

    So the database file alone holds every record (``cp metadata.db copy.db``
    copies them all) once the process is done with it. Best effort: another
    process still reading keeps the checkpoint from finishing, which is
    harmless (its records stay in the WAL, as durable).
    """
    database = engine.url.database
    if dialect.name != "sqlite" or not database or database == ":memory:":
        return
    try:
        raw = engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
        finally:
            raw.close()
    except Exception:  # a damaged or vanished file: nothing to fold back
        pass


def _close_sqlite_stores_at_exit() -> None:
    """At interpreter exit: write what the tracking writer holds, then checkpoint and
    close every SQLite store of this process (its WAL file then goes away)."""
    try:
        wait_for_pending_writes()
    except Exception:  # reported by the writer's own exit hook
        pass
    with _engines_lock:
        engines = list(_engines.values())
    for engine, dialect in engines:
        if dialect.name == "sqlite":
            _checkpoint(engine, dialect)
            engine.dispose()


atexit.register(_close_sqlite_stores_at_exit)


def _redact(uri: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(uri).render_as_string(hide_password=True)
    except Exception:
        return uri


class SqlStore(LineageQueries, ExperimentQueries, MaintenanceQueries):
    """A metadata store in an SQL database (see :class:`~vertex_track.store.base.MetadataStore`).

    Args:
        uri: ``sqlite:///path.db`` or ``postgresql://user@host:port/db``.
        project, location, metadata_store: the store's place in resource names.
        read_only: open it for inspection (see :mod:`.readonly`): nothing is
            created, migrated or written, and a database that is not a
            vertex_track store is an error instead of becoming an empty store.

    Raises:
        StoreUnavailableError: the database cannot be reached, or has a newer
            schema; read-only, also: it is not a vertex_track store.
    """

    def __init__(
        self,
        uri: str,
        *,
        project: str = "local",
        location: str = "local",
        metadata_store: str = "default",
        read_only: bool = False,
    ) -> None:
        self.uri = uri
        self.read_only = read_only
        if read_only:
            from .readonly import open_read_only

            self.engine, self.dialect = open_read_only(uri, _redact(uri))
        else:
            self.engine, self.dialect = _engine_for(uri)
        self.dialect_name = self.dialect.name
        self.fast = FastPath(self.engine, self.dialect_name)
        # resource_id -> primary key of resources created or read through this
        # object, so writes that link them skip the lookups (see _known_pks).
        self._pks: dict[str, dict[str, int]] = {kind: {} for kind in KINDS}
        self.project, self.location, self.metadata_store = project, location, metadata_store
        self.prefix = (
            f"projects/{project}/locations/{location}/metadataStores/{metadata_store}"
        )
        health = self.fast.health
        try:
            # After a failed open, one attempt (no retry window) until it works again.
            retry_s = max(0.0, health.begin() - time.monotonic())
            if uri not in _migrated and not read_only:
                retry_transient(
                    self.dialect,
                    lambda: ensure_schema(self.engine, self.dialect, _redact(uri)),
                    retry_s,
                )
                _migrated.add(uri)
            self.store_id = retry_transient(self.dialect, self._ensure_store_row, retry_s)
            health.ok()
        except StoreDownError as exc:
            err = StoreUnavailableError(f"cannot open the metadata store at {_redact(uri)}: {exc}")
            err.transient = True  # type: ignore[attr-defined]
            raise err from None
        except (OperationalError, DBAPIError) as exc:
            transient = self.dialect.is_transient(exc)
            if transient:
                health.failed(str(exc.orig or exc))
            if self.dialect_name == "sqlite" and _is_corruption(exc):
                raise self._unavailable(exc.orig or exc) from exc
            err = StoreUnavailableError(
                f"cannot open the metadata store at {_redact(uri)}: {exc.orig}"
            )
            err.transient = transient  # type: ignore[attr-defined]  # tracking spools for it
            raise err from exc

    def __repr__(self) -> str:
        return f"SqlStore({_redact(self.uri)!r}, prefix={self.prefix!r})"

    def retry_now(self) -> None:
        """Let the next write try the database even within the remembered hold
        (a flush, the end of a process: explicit moments to try again)."""
        health = self.fast.health
        if health.failing:
            health.down_until = 0.0

    # -- transactions -----------------------------------------------------------
    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in a read transaction (after this process's queued writes)."""
        wait_for_pending_writes()
        try:
            self.fast.health.begin()
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except StoreDownError as exc:
            raise self._unavailable(exc) from None
        except DBAPIError as exc:
            if _too_complex(exc):
                raise FilterError(
                    f"the filter is too complex for this database ({exc.orig}); split it "
                    "into several queries or use fewer terms"
                ) from exc
            if not _unavailable_kind(exc):
                raise
            if self.dialect_name != "sqlite" and self.dialect.is_transient(exc):
                self.engine.dispose()  # its pooled connections are dead; the next call reconnects
            raise self._unavailable(exc.orig or exc) from exc

    def write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn(conn)`` in one write transaction, retried on transient errors."""

        if self.read_only:
            self._refuse_write()

        def attempt() -> T:
            with self.engine.connect().execution_options(vt_write=True) as conn:
                with conn.begin():
                    return fn(conn)

        try:
            self.fast.health.begin()
            result = retry_transient(self.dialect, attempt)
        except StoreDownError as exc:
            raise self._unavailable(exc) from None
        except DBAPIError as exc:
            if not _unavailable_kind(exc):
                raise
            if self.dialect.is_transient(exc):
                self.fast.health.failed(str(exc.orig))
                if self.dialect_name != "sqlite":
                    self.engine.dispose()
            raise self._unavailable(exc.orig or exc) from exc
        self.fast.health.ok()
        return result

    def fast_write(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn(tx)`` in one write transaction on the fast path (see :mod:`.fast`)."""
        return self._unavailable_as_error(self.fast.write, fn)

    def fast_write_one(self, sql: str, params: Any) -> int:
        """One statement as its own write transaction (see :meth:`.FastPath.write_one`)."""
        return self._unavailable_as_error(self.fast.write_one, sql, params)

    def _unavailable_as_error(self, write: Callable[..., T], *args: Any) -> T:
        """``write(*args)``; the driver's operational errors (and a damaged SQLite file)
        become StoreUnavailableError; integrity errors pass through for the caller."""
        if self.read_only:
            self._refuse_write()
        try:
            return write(*args)
        except self.fast.integrity_error:
            raise
        except StoreDownError as exc:
            raise self._unavailable(exc) from None
        except self.fast.database_error as exc:
            if not _unavailable_kind(exc):
                raise
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: BaseException) -> StoreUnavailableError:
        """The error for a store that cannot be used now, naming it and saying what to do."""
        where = _redact(self.uri)
        if self.dialect_name == "sqlite" and _is_corruption(exc):
            path = self.engine.url.database
            return StoreUnavailableError(
                f"the SQLite file of metadata store {path} is damaged ({exc}); restore it "
                "from a backup, or check it with: sqlite3 "
                f"{path} 'PRAGMA integrity_check'"
            )
        return StoreUnavailableError(f"metadata store {where} is unavailable: {exc}")

    def _refuse_write(self) -> None:
        raise StoreUnavailableError(
            f"the metadata store {_redact(self.uri)} is open read-only (for inspection); "
            "open it with vertex_track.store.open_store(uri) to write"
        )

    # -- primary keys of known resources ------------------------------------------
    def _remember(self, kind: str, resource_id: str, pk: int) -> None:
        known = self._pks[kind]
        if len(known) >= _MAX_KNOWN_PKS:
            known.clear()  # bounded memory; entries are only a shortcut
        known[resource_id] = pk

    def _forget(self, kind: str, resource_ids: Sequence[str] | None = None) -> None:
        known = self._pks[kind]
        if resource_ids is None:
            known.clear()
        else:
            for rid in resource_ids:
                known.pop(rid, None)

    def _known_pks(self, kind: str, resource_ids: Sequence[str]) -> builtins.list[int] | None:
        """Primary keys of ``resource_ids`` if all are known to this object, else None.

        A known key may be stale (the row deleted since, by anyone). Writes
        that use them only insert link rows, whose foreign keys then fail
        (IntegrityError), or update by key and see no row; either way the
        caller retries the write with lookups. Keys are never reused, so a
        key that still exists is still the same resource.
        """
        known = self._pks[kind]
        out = []
        for rid in resource_ids:
            pk = known.get(rid)
            if pk is None:
                return None
            out.append(pk)
        return out

    def _ensure_store_row(self) -> int:
        ms = t.metadata_stores
        where = and_(
            ms.c.project == self.project,
            ms.c.location == self.location,
            ms.c.name == self.metadata_store,
        )
        with self.engine.connect() as conn:
            row = conn.execute(select(ms.c.id).where(where)).first()
            conn.rollback()
        if row is not None:
            return int(row[0])
        if self.read_only:
            return -1  # no such metadata store in this database: it has no resources

        def insert(conn: Connection) -> int:
            conn.execute(
                self.dialect.insert_ignore(ms).values(
                    project=self.project, location=self.location,
                    name=self.metadata_store, create_time=now_micros(),
                )
            )
            return int(conn.execute(select(ms.c.id).where(where)).scalar_one())

        return self.write(insert)

    # -- names --------------------------------------------------------------------
    def resource_name(self, kind: str, resource_id: str) -> str:
        return f"{self.prefix}/{kind}/{resource_id}"

    def resource_id_from(self, kind: str, id_or_name: str) -> str:
        """The resource id of ``id_or_name`` (an id, or a full name of this store)."""
        if not isinstance(id_or_name, str) or not id_or_name:
            raise InvalidArgumentError(
                f"expected a resource id or a resource name, got {id_or_name!r}"
            )
        if "/" not in id_or_name:
            return id_or_name
        head, _, rid = id_or_name.rpartition("/")
        if head != f"{self.prefix}/{kind}":
            expected = f"{self.prefix}/{kind}/<resource_id>"
            raise InvalidArgumentError(
                f"resource name {id_or_name!r} does not belong to this store's {kind}; "
                f"expected {expected!r}"
            )
        return rid

    def name_of(self, kind: str, resource_or_name: Any) -> str:
        if isinstance(resource_or_name, _Resource):
            return resource_or_name.name
        return self.resource_name(kind, self.resource_id_from(kind, resource_or_name))

    # -- row <-> model --------------------------------------------------------------
    def row_to_resource(
        self, kind: str, row: RowMapping, parents: builtins.list[str] | None = None
    ) -> _Resource:
        fields: dict[str, Any] = {
            "name": f"{self.prefix}/{kind}/{row['resource_id']}",
            "display_name": row["display_name"],
            "schema_title": row["schema_title"],
            "schema_version": row["schema_version"],
            "metadata": _json(row["metadata"]),
            "labels": _json(row["labels"]),
            "description": row["description"],
            "create_time": from_micros(row["create_time"]),
            "update_time": from_micros(row["update_time"]),
            "etag": str(row["etag"]),
        }
        obj: _Resource
        if kind == "artifacts":
            fields["uri"] = row["uri"]
            fields["state"] = _ARTIFACT_STATES[row["state"]]
            obj = Artifact.construct_fast(**fields)
        elif kind == "executions":
            fields["state"] = _EXECUTION_STATES[row["state"]]
            obj = Execution.construct_fast(**fields)
        else:
            fields["parent_contexts"] = parents or []
            obj = Context.construct_fast(**fields)
        obj.__pydantic_private__["_bound"] = self  # type: ignore[index]  # skip pydantic's __setattr__
        return obj

    def row_to_event(self, row: RowMapping, artifact_name: str, execution_name: str) -> Event:
        event = Event.__new__(Event)  # trusted row: skip validation (hot in lineage)
        object.__setattr__(event, "__dict__", {
            "artifact": artifact_name,
            "execution": execution_name,
            "event_time": from_micros(row["event_time"]),
            "type": _EVENT_TYPES[row["type"]],
            "labels": _json(row["labels"]),
        })
        object.__setattr__(event, "__pydantic_fields_set__", _EVENT_FIELDS)
        object.__setattr__(event, "__pydantic_extra__", None)
        object.__setattr__(event, "__pydantic_private__", None)
        return event

    def _rows_to_resources(self, conn: Connection, kind: str, rows: Sequence[Any]) -> builtins.list[Any]:
        if kind != "contexts":
            return [self.row_to_resource(kind, r._mapping) for r in rows]
        parents = self._parents_of(conn, [r._mapping["id"] for r in rows])
        return [
            self.row_to_resource(kind, r._mapping, parents.get(r._mapping["id"], []))
            for r in rows
        ]

    def _parents_of(self, conn: Connection, ids: builtins.list[int]) -> dict[int, builtins.list[str]]:
        if not ids:
            return {}
        pc, c = t.parent_contexts, t.contexts
        out: dict[int, list[str]] = {}
        for chunk in _chunks(ids, 500):
            q = (
                select(pc.c.child_id, c.c.resource_id)
                .join(c, c.c.id == pc.c.parent_id)
                .where(pc.c.child_id.in_(chunk))
                .order_by(pc.c.child_id, c.c.resource_id)
            )
            for child_id, rid in conn.execute(q):
                out.setdefault(child_id, []).append(self.resource_name("contexts", rid))
        return out

    def _row_values(self, kind: str, r: _Resource, pk: int, raw: bool = False) -> dict[str, Any]:
        """Column values of ``r``; ``raw`` serializes JSON for the fast path."""
        values: dict[str, Any] = {
            "id": pk,
            "store_id": self.store_id,
            "resource_id": r.resource_id,
            "display_name": r.display_name or "",
            "schema_title": r.schema_title,
            "schema_version": r.schema_version,
            "description": r.description or "",
            "metadata": r.metadata,
            "labels": r.labels,
            "etag": 1,
            "create_time": to_micros(r.create_time),
            "update_time": to_micros(r.update_time),
        }
        if kind == "artifacts":
            assert isinstance(r, Artifact)
            values["uri"] = r.uri or ""
            values["state"] = str(r.state)
            vt_meta = r.metadata.get("vertex_track")
            values["content_digest"] = (
                vt_meta.get("digest") if isinstance(vt_meta, dict) else None
            )
        elif kind == "executions":
            values["state"] = str(r.state)  # type: ignore[attr-defined]
        if raw:
            values["metadata"] = dumps(values["metadata"])
            values["labels"] = dumps(values["labels"])
        return values

    def _tx_ids(
        self, tx: Tx, kind: str, rids: Sequence[str], *, required: bool = True
    ) -> dict[str, int]:
        """``resource_id -> pk`` for ``rids`` inside a fast-path transaction."""
        out = {rid: row[0] for rid, row in self._tx_rows(tx, kind, rids, "id").items()}
        if required:
            self._require_all(kind, rids, out)
        return out

    def _require_all(self, kind: str, rids: Sequence[str], found: dict[str, int]) -> None:
        """Raise NotFoundError for the first of ``rids`` missing from ``found``."""
        for rid in rids:
            if rid not in found:
                raise NotFoundError(
                    f"{kind[:-1]} {self.resource_name(kind, rid)!r} does not exist"
                )

    def _tx_link(self, tx: Tx, link: Table, rows: builtins.list[dict[str, Any]]) -> None:
        tx.executemany(("link", link.name), lambda: self.dialect.insert_ignore(link), rows)

    def _ids_by_resource_id(
        self, conn: Connection, kind: str, rids: Sequence[str], *, required: bool = True
    ) -> dict[str, int]:
        table = t.RESOURCE_TABLES[kind]
        out: dict[str, int] = {}
        for chunk in _chunks(list(dict.fromkeys(rids)), 500):
            q = select(table.c.resource_id, table.c.id).where(
                table.c.store_id == self.store_id, table.c.resource_id.in_(chunk)
            )
            out.update({rid: pk for rid, pk in conn.execute(q)})
        if required:
            self._require_all(kind, rids, out)
        return out

    # -- create / get -------------------------------------------------------------
    def create(self, resource: _Resource) -> _Resource:
        return self.create_in_contexts(resource, ())

    def create_in_contexts(self, resource: _Resource, contexts: Sequence[Context]) -> _Resource:
        """:meth:`create`, and link the new resource to existing ``contexts``, atomically.

        An execution is associated with each context, an artifact attributed
        to it. Returns a copy of ``resource`` bound to this store, etag ``"1"``.

        Raises:
            AlreadyExistsError: the resource id is taken.
            NotFoundError: a parent context or one of ``contexts`` does not exist.
        """
        kind = resource.kind
        parents = resource.parent_contexts if isinstance(resource, Context) else None
        if self.read_only:
            self._refuse_write()  # before a key block is taken (that is a write too)
        for attempt in range(4):
            pk = self.fast.keys.take(self.fast, 1)[0]
            sql, row = self._insert_row(kind, resource, pk)
            try:
                if parents or contexts:
                    self._create_linked(resource, pk, sql, row, parents or [], contexts)
                else:  # the common case: one INSERT, a transaction of its own
                    self.fast_write_one(sql, row)
                break
            except self.fast.integrity_error as exc:
                if is_key_clash(exc) and attempt < 3:
                    # Not the resource id: the primary key. Take a new key block.
                    self.fast.keys.discard()
                    continue
                raise AlreadyExistsError(
                    f"{kind[:-1]} {resource.name!r} already exists; choose another resource_id "
                    "or get() the existing one"
                ) from exc
        self._remember(kind, row[2], pk)
        return self._stored_copy(resource, "1")

    def _insert_row(self, kind: str, r: _Resource, pk: int) -> tuple[str, tuple[Any, ...]]:
        """The INSERT of a new resource: driver SQL and its positional row.

        The values of :meth:`_row_values`, built straight into a tuple (this
        runs for every created resource).
        """
        sql, order = self.fast.positional(("insert_row", kind), t.RESOURCE_TABLES[kind].insert)
        if order != _INSERT_ORDER[kind]:  # the row below is built in this order
            raise AssertionError(f"unexpected column order for {kind}: {order}")
        d = r.__dict__
        name = d["name"]
        metadata = d["metadata"]
        common = (
            pk, self.store_id, name[name.rfind("/") + 1 :], d["display_name"] or "",
            d["schema_title"], d["schema_version"], d["description"] or "", dumps(metadata),
            dumps(d["labels"]), 1, to_micros(d["create_time"]), to_micros(d["update_time"]),
        )
        if kind == "artifacts":
            vt_meta = metadata.get("vertex_track")
            digest = vt_meta.get("digest") if isinstance(vt_meta, dict) else None
            return sql, (*common, d["uri"] or "", _state_text(d["state"]), digest)
        if kind == "executions":
            return sql, (*common, _state_text(d["state"]))
        return sql, common

    def _create_linked(
        self,
        resource: _Resource,
        pk: int,
        sql: str,
        row: tuple[Any, ...],
        parents: Sequence[str],
        contexts: Sequence[Context],
    ) -> None:
        """The insert of :meth:`create_in_contexts` with parent links or context links."""
        kind = resource.kind
        if contexts and kind == "contexts":
            raise InvalidArgumentError("a context is linked to contexts by parent_contexts")
        parent_rids = [self.resource_id_from("contexts", p) for p in parents]
        ctx_rids = [c.resource_id for c in contexts]
        link, link_col = (
            (t.associations, "execution_id") if kind == "executions"
            else (t.attributions, "artifact_id")
        )

        def tx(tx: Tx, known: builtins.list[int] | None) -> None:
            parent_ids = self._tx_ids(tx, "contexts", parent_rids) if parent_rids else {}
            ctx_ids = known if known is not None else builtins.list(
                self._tx_ids(tx, "contexts", ctx_rids).values()
            )
            tx.cur.execute(sql, row)
            if parent_ids:
                tx.executemany(
                    ("insert", "parent_contexts"), t.parent_contexts.insert,
                    [{"child_id": pk, "parent_id": p} for p in parent_ids.values()],
                )
            self._tx_link(tx, link, [{"context_id": c, link_col: pk} for c in ctx_ids])

        known = self._known_pks("contexts", ctx_rids) if ctx_rids else None
        if known is not None:
            try:
                self.fast_write(lambda t_: tx(t_, known))
                return
            except self.fast.integrity_error:
                # A taken resource id, or a stale context key: tell them apart
                # by doing it again with the contexts looked up.
                self._forget("contexts", ctx_rids)
        self.fast_write(lambda t_: tx(t_, None))

    def _stored_copy(self, resource: R, etag: str) -> R:
        """A shallow copy of ``resource`` with ``etag``, bound to this store.

        What ``model_copy`` does, without its generic machinery (this runs
        for every created resource).
        """
        out = resource.__class__.__new__(resource.__class__)
        data = dict(resource.__dict__)
        data["etag"] = etag
        object.__setattr__(out, "__dict__", data)
        object.__setattr__(out, "__pydantic_fields_set__", {*resource.__pydantic_fields_set__, "etag"})
        object.__setattr__(out, "__pydantic_extra__", None)
        private = dict(resource.__pydantic_private__ or ())
        private["_bound"] = self
        object.__setattr__(out, "__pydantic_private__", private)
        return out

    def get(self, kind: str, resource_id: str) -> _Resource:
        table = t.RESOURCE_TABLES[kind]
        with self.read() as conn:
            rows = conn.execute(
                select(table).where(
                    table.c.store_id == self.store_id, table.c.resource_id == resource_id
                )
            ).all()
            if not rows:
                raise NotFoundError(
                    f"{kind[:-1]} {self.resource_name(kind, resource_id)!r} does not exist"
                )
            self._remember(kind, resource_id, rows[0]._mapping["id"])
            return self._rows_to_resources(conn, kind, rows)[0]

    # -- list ---------------------------------------------------------------------
    def _where(self, kind: str, filter: str | None, strict: bool) -> builtins.list[Any]:
        from ...query.filters import compile_filter

        table = t.RESOURCE_TABLES[kind]
        clauses: builtins.list[Any] = [table.c.store_id == self.store_id]
        expr = compile_filter(
            kind, filter, store_id=self.store_id, store_prefix=self.prefix,
            dialect_name=self.dialect_name, strict=strict,
        )
        if expr is not None:
            clauses.append(expr)
        return clauses

    def _order(self, kind: str, order_by: str | None) -> builtins.list[tuple[str, bool]]:
        table = t.RESOURCE_TABLES[kind]
        if not order_by:
            return [("create_time", False), ("resource_id", False)]
        if not isinstance(order_by, str):
            raise InvalidArgumentError(f"order_by must be a string, got {order_by!r}")
        out: builtins.list[tuple[str, bool]] = []
        for part in order_by.split(","):
            words = part.split()
            if not words or len(words) > 2:
                raise InvalidArgumentError(
                    f"order_by must be 'field [asc|desc], ...'; cannot read {part.strip()!r} "
                    f"in {order_by!r}"
                )
            column = ORDER_FIELDS.get(words[0])
            if column is None or column not in table.c:
                allowed = ", ".join(f for f in ORDER_FIELDS if ORDER_FIELDS[f] in table.c)
                raise InvalidArgumentError(
                    f"order_by field {words[0]!r} is not sortable for {kind}; use one of {allowed}"
                )
            direction = words[1].lower() if len(words) == 2 else "asc"
            if direction not in ("asc", "desc"):
                raise InvalidArgumentError(
                    f"order_by direction must be 'asc' or 'desc', got {words[1]!r}"
                )
            out.append((column, direction == "desc"))
        return out

    def list(
        self,
        kind: str,
        *,
        filter: str | None = None,
        order_by: str | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
        strict: bool = False,
    ) -> tuple[builtins.list[Any], str | None]:
        table = t.RESOURCE_TABLES[kind]
        if page_size is not None and (
            not isinstance(page_size, int) or isinstance(page_size, bool)
            or not 1 <= page_size <= MAX_PAGE_SIZE
        ):
            raise InvalidArgumentError(
                f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}, got {page_size!r}"
            )
        order = self._order(kind, order_by)
        clauses = self._where(kind, filter, strict)
        query_key = _query_key(kind, filter, order, strict)
        if page_token:
            cursor = _decode_token(page_token, query_key)
            clauses.append(_keyset_after(table, order, cursor))
        q = select(table).where(*clauses).order_by(
            *[(table.c[col].desc() if desc else table.c[col].asc()) for col, desc in order],
            table.c.id.asc(),
        )
        if page_size is not None:
            q = q.limit(page_size + 1)
        with self.read() as conn:
            rows = conn.execute(q).all()
            more = page_size is not None and len(rows) > page_size
            if more:
                rows = rows[:page_size]
            items = self._rows_to_resources(conn, kind, rows)
        token = None
        if more:
            last = rows[-1]._mapping
            token = _encode_token(query_key, [last[col] for col, _ in order], last["id"])
        return items, token

    def count(self, kind: str, filter: str | None = None, *, strict: bool = False) -> int:
        table = t.RESOURCE_TABLES[kind]
        q = select(func.count()).select_from(table).where(*self._where(kind, filter, strict))
        with self.read() as conn:
            return int(conn.execute(q).scalar_one())

    # -- update / delete / purge ---------------------------------------------------
    def update(self, resource: _Resource, changes: dict[str, Any]) -> _Resource:
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
            vt_meta = values["metadata"].get("vertex_track")
            values["content_digest"] = vt_meta.get("digest") if isinstance(vt_meta, dict) else None
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
            for chunk in _chunks(rids, 500):
                deleted += conn.execute(
                    table.delete().where(
                        table.c.store_id == self.store_id, table.c.resource_id.in_(chunk)
                    )
                ).rowcount
            if not missing_ok and deleted < len(set(rids)):
                raise NotFoundError(
                    f"{kind[:-1]} {self.resource_name(kind, rids[0])!r} does not exist"
                )
            return deleted

        self._forget(kind, rids)
        return self.write(tx)

    def purge(self, kind: str, filter: str, *, force: bool = False) -> PurgeResult:
        table = t.RESOURCE_TABLES[kind]
        clauses = self._where(kind, filter, False)
        matched = select(table.c.id).where(*clauses)
        sample_q = (
            select(table.c.resource_id)
            .where(*clauses)
            .order_by(table.c.create_time, table.c.resource_id)
            .limit(100)
        )
        count_q = select(func.count()).select_from(table).where(*clauses)
        downstream_q = self._downstream_query(kind, matched)

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

        self._forget(kind)
        return self.write(tx)

    def _downstream_query(self, kind: str, matched: Any) -> Any:
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

    # -- events and links ------------------------------------------------------------
    def put_execution(
        self,
        execution: Execution,
        links: Sequence[ArtifactLink] = (),
        contexts: Sequence[Context] = (),
    ) -> tuple[Execution, builtins.list[Artifact]]:
        return self.put_executions([(execution, links, contexts)])[0]

    def finish_execution(
        self,
        execution: Execution,
        links: Sequence[ArtifactLink] = (),
        contexts: Sequence[Context] = (),
    ) -> tuple[str, dt.datetime]:
        """:meth:`put_execution` for an execution this object created or read.

        Same contract, but it returns only the stored execution's new etag and
        update time. When the execution, every linked artifact and every
        context are known to this object (created or read through it), the
        record is written by primary key: one UPDATE and the event and link
        inserts, no lookups. Otherwise, or when a known key turned out stale,
        it is :meth:`put_execution`.
        """
        ex_rid = execution.resource_id
        art_rids = [
            a.resource_id if isinstance(a, Artifact) else self.resource_id_from("artifacts", a)
            for a in [link.artifact for link in links]
        ]
        ctx_rids = [c.resource_id for c in contexts]
        ex_known = self._known_pks("executions", [ex_rid])
        art_known = self._known_pks("artifacts", art_rids)
        ctx_known = self._known_pks("contexts", ctx_rids) if ctx_rids else []
        if ex_known is not None and art_known is not None and ctx_known is not None:
            now = now_micros()
            etag = self._finish_known(execution, ex_known[0], links, art_known, ctx_known, now)
            if etag is not None:
                for link in links:
                    if isinstance(link.artifact, Artifact):
                        link.artifact.__pydantic_private__["_bound"] = self  # type: ignore[index]
                return str(etag), from_micros(now)
            self._forget("executions", [ex_rid])
            self._forget("artifacts", art_rids)
            self._forget("contexts", ctx_rids)
        stored, _ = self.put_execution(execution, links, contexts)
        return stored.etag, stored.update_time

    def _finish_known(
        self,
        execution: Execution,
        ex_id: int,
        links: Sequence[ArtifactLink],
        art_ids: Sequence[int],
        ctx_ids: Sequence[int],
        now: int,
    ) -> int | None:
        """:meth:`finish_execution` by primary keys; None if a key is stale (nothing written)."""
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
            _state_text(d["state"]), ex_id, self.store_id, execution.resource_id,
        )
        display_name = d["display_name"] or ""
        events = [
            (
                event_id, art_id, ex_id, _state_text(link.type), now,
                _label_json(link.label) if link.label else "{}",
            )
            for event_id, link, art_id in zip(self.fast.keys.take(self.fast, len(links)), links, art_ids)
        ]
        linked = builtins.list(dict.fromkeys(art_ids))

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
                self._link_rows(tx, t.associations, [(c, ex_id) for c in ctx_ids])
                self._link_rows(tx, t.attributions, [(c, a) for c in ctx_ids for a in linked])
            return int(rows[0][0])

        try:
            return self.fast_write(tx)
        except self.fast.integrity_error:  # a known artifact or context key is stale
            return None

    def _link_rows(self, tx: Tx, link: Table, rows: builtins.list[tuple[int, int]]) -> None:
        """Insert-or-ignore ``(context_id, other_id)`` rows into ``link``."""
        if rows:
            sql, order = self.fast.positional(
                ("link_rows", link.name), lambda: self.dialect.insert_ignore(link)
            )
            if order[0] != "context_id":
                raise AssertionError(f"unexpected column order for {link.name}: {order}")
            tx.cur.executemany(sql, rows)

    def put_executions(
        self,
        records: Sequence[tuple[Execution, Sequence[ArtifactLink], Sequence[Context]]],
    ) -> builtins.list[tuple[Execution, builtins.list[Artifact]]]:
        """Several :meth:`put_execution` records in ONE transaction, in order."""
        now = now_micros()
        prepared = []
        for execution, links, contexts in records:
            # Artifacts to insert-or-reuse are objects; resource ids (str) of
            # ``only_existing`` links are only looked up; other names must exist.
            artifacts: builtins.list[Any] = [
                link.artifact if isinstance(link.artifact, Artifact)
                else self.resource_id_from("artifacts", link.artifact) if link.only_existing
                else self.get("artifacts", self.resource_id_from("artifacts", link.artifact))
                for link in links
            ]
            prepared.append((execution, links, artifacts, contexts))

        def tx(tx: Tx) -> builtins.list[int]:
            etags: builtins.list[int] = []
            for group in _unique_groups(prepared, lambda r: r[0].resource_id):
                etags.extend(self._put_batch_tx(tx, group, now))
            return etags

        etags = self.fast_write(tx)
        out: builtins.list[tuple[Execution, builtins.list[Artifact]]] = []
        for (execution, _links, artifacts, _contexts), etag in zip(prepared, etags):
            stored = execution.model_copy()
            stored._bound = self
            stored.etag = str(etag)
            if etag > 1:
                stored.update_time = from_micros(now)
            objects = [a for a in artifacts if isinstance(a, Artifact)]
            for a in objects:
                a._bound = self
            out.append((stored, objects))
        return out

    def put_tracked(self, records: Sequence[TrackedRecord], *, replay: bool = False) -> None:
        """Tracking's batch of row records in one transaction (see :mod:`.batch`)."""
        from .batch import put_tracked

        put_tracked(self, records, now_micros(), replay=replay)

    def _put_batch_tx(self, tx: Tx, group: builtins.list[Any], now: int) -> builtins.list[int]:
        """Write records with distinct executions, set-wise: a few statements per batch.

        Returns each record's new etag.
        """
        ex_t, art_t = t.executions, t.artifacts
        ex_rids = [execution.resource_id for execution, _l, _a, _c in group]
        found = self._tx_rows(tx, "executions", ex_rids, "id", "etag")
        inserts, updates, ex_ids, etags = [], [], [], []
        for execution, _links, _artifacts, _contexts in group:
            values = self._row_values("executions", execution, 0, raw=True)
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
        record_rids: builtins.list[builtins.list[str]] = []
        for _execution, _links, artifacts, _contexts in group:
            rids = []
            for a in artifacts:
                if isinstance(a, Artifact):
                    rids.append(a.resource_id)
                    if a.resource_id not in new_rows:
                        new_rows[a.resource_id] = self._row_values("artifacts", a, 0, raw=True)
                else:
                    rids.append(a)
            record_rids.append(rids)
        all_rids = [rid for rids in record_rids for rid in rids]
        art_ids = self._tx_ids(tx, "artifacts", all_rids, required=False)
        missing = [rid for rid in new_rows if rid not in art_ids]
        if missing:
            rows = []
            for rid, pk in zip(missing, tx.ids(len(missing))):
                art_ids[rid] = pk
                rows.append({**new_rows[rid], "id": art_ids[rid]})
            tx.executemany(
                ("insert_ignore", "artifacts"), lambda: self.dialect.insert_ignore(art_t), rows
            )
            if self.dialect_name != "sqlite":  # a concurrent writer may have won the race
                art_ids.update(self._tx_ids(tx, "artifacts", missing, required=False))

        ctx_rids = [c.resource_id for _e, _l, _a, contexts in group for c in contexts]
        ctx_ids = self._tx_ids(tx, "contexts", ctx_rids, required=False)
        events: builtins.list[dict[str, Any]] = []
        associations: builtins.list[dict[str, Any]] = []
        attributions: builtins.list[dict[str, Any]] = []
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
                events.append({
                    "id": next(event_ids), "artifact_id": art_id, "execution_id": ex_id,
                    "type": str(link.type), "event_time": now,
                    "labels": dumps({"name": link.label} if link.label else {}),
                })
            for context in contexts:
                ctx_id = ctx_ids.get(context.resource_id)
                if ctx_id is None:
                    raise NotFoundError(f"context {context.name!r} does not exist")
                associations.append({"context_id": ctx_id, "execution_id": ex_id})
                attributions.extend(
                    {"context_id": ctx_id, "artifact_id": a} for a in dict.fromkeys(linked)
                )
        tx.executemany(("insert", "events"), t.events.insert, events)
        self._tx_link(tx, t.associations, associations)
        self._tx_link(tx, t.attributions, attributions)
        return etags

    def _tx_rows(
        self, tx: Tx, kind: str, rids: Sequence[str], *columns: str
    ) -> dict[str, tuple[Any, ...]]:
        """``resource_id -> (columns...)`` for ``rids``, 50 per query."""
        table = t.RESOURCE_TABLES[kind]
        out: dict[str, tuple[Any, ...]] = {}
        unique = builtins.list(dict.fromkeys(rids))
        for chunk in _chunks(unique, 50):
            n = len(chunk)
            params: dict[str, Any] = {f"r{i}": rid for i, rid in enumerate(chunk)}
            params["sid"] = self.store_id
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

    def add_events(
        self, execution: Execution, artifacts: Sequence[Artifact | str], type: EventType
    ) -> None:
        rids = [
            a.resource_id if isinstance(a, Artifact) else self.resource_id_from("artifacts", a)
            for a in artifacts
        ]
        if not rids:
            return
        now = now_micros()
        ex_rid = execution.resource_id

        def rows(ex_id: int, art_ids: Sequence[int], tx: Tx) -> builtins.list[dict[str, Any]]:
            return [
                {
                    "id": pk, "artifact_id": art_id, "execution_id": ex_id,
                    "type": str(type), "event_time": now, "labels": "{}",
                }
                for pk, art_id in zip(tx.ids(len(art_ids)), art_ids)
            ]

        known_ex = self._known_pks("executions", [ex_rid])
        known_arts = self._known_pks("artifacts", rids)
        if known_ex is not None and known_arts is not None:
            try:
                self.fast_write(
                    lambda tx: tx.executemany(
                        ("insert", "events"), t.events.insert, rows(known_ex[0], known_arts, tx)
                    )
                )
                return
            except self.fast.integrity_error:  # a known key is stale: look them up
                self._forget("executions", [ex_rid])
                self._forget("artifacts", rids)

        def tx(tx: Tx) -> None:
            ex_id = self._tx_ids(tx, "executions", [ex_rid])[ex_rid]
            art_ids = self._tx_ids(tx, "artifacts", rids)
            tx.executemany(
                ("insert", "events"), t.events.insert, rows(ex_id, [art_ids[r] for r in rids], tx)
            )
            self._remember("executions", ex_rid, ex_id)
            for rid, pk in art_ids.items():
                self._remember("artifacts", rid, pk)

        self.fast_write(tx)

    def get_events(
        self, *, execution: Execution | None = None, artifact: Artifact | None = None
    ) -> builtins.list[Event]:
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
                self.row_to_event(
                    r._mapping,
                    self.resource_name("artifacts", r.a_rid),
                    self.resource_name("executions", r.e_rid),
                )
                for r in conn.execute(q)
            ]

    def get_artifacts_by_execution(
        self, execution: Execution, type: EventType | None
    ) -> builtins.list[Artifact]:
        return self._linked(execution, "artifacts", type)

    def get_executions_by_artifact(
        self, artifact: Artifact, type: EventType | None
    ) -> builtins.list[Execution]:
        return self._linked(artifact, "executions", type)

    def _linked(self, start: _Resource, kind: str, type: EventType | None) -> Any:
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
            return self._rows_to_resources(conn, kind, conn.execute(q).all())

    def add_to_context(
        self, context: Context, *, artifacts: Sequence[str], executions: Sequence[str]
    ) -> None:
        a_rids = [self.resource_id_from("artifacts", n) for n in artifacts]
        e_rids = [self.resource_id_from("executions", n) for n in executions]
        c_rid = context.resource_id

        def link(tx: Tx, ctx_id: int, art_ids: Sequence[int], ex_ids: Sequence[int]) -> None:
            self._link_rows(tx, t.attributions, [(ctx_id, i) for i in art_ids])
            self._link_rows(tx, t.associations, [(ctx_id, i) for i in ex_ids])

        # Everything known to this object (the usual case: just created here):
        # no lookups, only the link inserts, whose foreign keys check the keys.
        ctx_known = self._known_pks("contexts", [c_rid])
        a_known = self._known_pks("artifacts", a_rids)
        e_known = self._known_pks("executions", e_rids)
        if (a_rids or e_rids) and None not in (ctx_known, a_known, e_known):
            assert ctx_known is not None and a_known is not None and e_known is not None
            try:
                self.fast_write(lambda tx: link(tx, ctx_known[0], a_known, e_known))
                return
            except self.fast.integrity_error:  # a known key is stale: look them up
                self._forget("contexts", [c_rid])
                self._forget("artifacts", a_rids)
                self._forget("executions", e_rids)

        def tx(tx: Tx) -> None:
            ctx_id = self._tx_ids(tx, "contexts", [c_rid])[c_rid]
            a_ids = self._tx_ids(tx, "artifacts", a_rids) if a_rids else {}
            e_ids = self._tx_ids(tx, "executions", e_rids) if e_rids else {}
            link(tx, ctx_id, builtins.list(a_ids.values()), builtins.list(e_ids.values()))
            self._remember("contexts", c_rid, ctx_id)
            for kind, ids in (("artifacts", a_ids), ("executions", e_ids)):
                for rid, pk in ids.items():
                    self._remember(kind, rid, pk)

        self.fast_write(tx)

    def add_context_children(self, context: Context, children: Sequence[Context | str]) -> None:
        c_rids = [
            c.resource_id if isinstance(c, Context) else self.resource_id_from("contexts", c)
            for c in children
        ]
        if not c_rids:
            return
        pc = t.parent_contexts

        def tx(conn: Connection) -> None:
            parent_id = self._ids_by_resource_id(conn, "contexts", [context.resource_id])[
                context.resource_id
            ]
            child_ids = self._ids_by_resource_id(conn, "contexts", c_rids)
            ancestors = self._ancestor_ids(conn, parent_id)
            for rid, child_id in child_ids.items():
                if child_id == parent_id or child_id in ancestors:
                    raise InvalidArgumentError(
                        f"parent_contexts: making {self.resource_name('contexts', rid)!r} a child "
                        f"of {context.name!r} would create a cycle in the context graph"
                    )
                existing = conn.execute(
                    select(pc.c.parent_id).where(pc.c.child_id == child_id)
                ).scalars().all()
                if parent_id not in existing and len(existing) >= 10:
                    raise InvalidArgumentError(
                        f"parent_contexts: {self.resource_name('contexts', rid)!r} already has "
                        "10 parent contexts, the maximum"
                    )
            conn.execute(
                self.dialect.insert_ignore(pc),
                [{"child_id": c, "parent_id": parent_id} for c in child_ids.values()],
            )

        self.write(tx)

    def _ancestor_ids(self, conn: Connection, context_id: int) -> set[int]:
        pc = t.parent_contexts
        anchor = select(pc.c.parent_id.label("id")).where(pc.c.child_id == context_id)
        cte = anchor.cte("ancestors", recursive=True)
        cte = cte.union(select(pc.c.parent_id).where(pc.c.child_id == cte.c.id))
        return set(conn.execute(select(cte.c.id)).scalars())

    # -- time series (experiments) -------------------------------------------------
    def context_pk(self, conn: Connection, context: Context) -> int:
        return self._ids_by_resource_id(conn, "contexts", [context.resource_id])[
            context.resource_id
        ]


# -- helpers ---------------------------------------------------------------------------
def _too_complex(exc: BaseException) -> bool:
    """SQLite's limits on one statement (expression depth, terms), not an outage."""
    msg = str(getattr(exc, "orig", exc)).lower()
    return "too large" in msg or "too many" in msg


def _unavailable_kind(exc: BaseException) -> bool:
    """Errors that mean "the store cannot be used now", not "this request is wrong":
    operational errors (connection, lock, disk, timeout) and a damaged database file."""
    if _too_complex(exc):
        return False
    orig = getattr(exc, "orig", exc)
    if type(orig).__name__ == "DatabaseError" or _is_corruption(orig):
        return True  # SQLite's "not a database" and damaged pages raise the base class
    # Operational errors and their subclasses (psycopg's QueryCanceled for a
    # statement over statement_timeout, AdminShutdown, ...).
    names = {cls.__name__ for cls in type(orig).__mro__}
    return bool(names & {"OperationalError", "InterfaceError"})


def _is_corruption(exc: BaseException) -> bool:
    msg = str(exc).lower()
    return "malformed" in msg or "not a database" in msg or "disk image" in msg


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _unique_groups(
    records: Sequence[T], execution_id: Callable[[T], str]
) -> Iterator[builtins.list[T]]:
    """Split records, in order, into runs where no execution appears twice."""
    group: builtins.list[T] = []
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


def _query_key(kind: str, filter: str | None, order: list[tuple[str, bool]], strict: bool) -> str:
    raw = json.dumps([kind, filter or "", order, strict])
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _encode_token(query_key: str, values: list[Any], last_id: int) -> str:
    raw = json.dumps({"q": query_key, "v": values, "id": last_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_token(token: str, query_key: str) -> dict[str, Any]:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        assert isinstance(data, dict) and isinstance(data["v"], list)
        assert isinstance(data["id"], int)
    except Exception as exc:
        raise InvalidArgumentError(
            f"page_token {token!r} is not a token returned by list(); pass next_page_token "
            "from the previous page"
        ) from exc
    if data.get("q") != query_key:
        raise InvalidArgumentError(
            "page_token belongs to a different query; use the same filter and order_by "
            "as the call that returned it"
        )
    return data


def _keyset_after(table: Table, order: list[tuple[str, bool]], cursor: dict[str, Any]) -> Any:
    """Rows strictly after the cursor in (order..., id asc) order."""
    cols = [(table.c[col], desc) for col, desc in order] + [(table.c.id, False)]
    values = [*cursor["v"], cursor["id"]]
    alternatives = []
    for i, (col, desc) in enumerate(cols):
        equal = [cols[j][0] == bindparam(None, values[j]) for j in range(i)]
        step = col < values[i] if desc else col > values[i]
        alternatives.append(and_(*equal, step))
    return or_(*alternatives)
