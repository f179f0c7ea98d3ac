"""What every part of :class:`~.store.SqlStore` stands on: opening, transactions,
names, and the cache of primary keys of resources this object has seen."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import and_, select
from sqlalchemy.engine import Connection

from ..._time import now_micros
from ...exceptions import InvalidArgumentError, NotFoundError
from ...types import KINDS
from ..barrier import wait_for_pending_writes
from . import tables as t
from .engine import engine_for, migrated
from .errors import raise_translated, redact, refuse_write, retry, translate_errors
from .fast import FastPath, Tx
from .migrations import ensure_schema
from .rows import rows_to_resources

T = TypeVar("T")

_MAX_KNOWN_PKS = 100_000  # per kind and store object: a few MB at most


class KnownKeys:
    """``resource_id -> primary key`` of resources created or read through one store
    object, per kind, so writes that link them skip the lookups.

    A known key may be stale (the row deleted since, by anyone). Writes that
    use them only insert link rows, whose foreign keys then fail
    (IntegrityError), or update by key and see no row; either way the caller
    forgets them and writes again with lookups (see
    :func:`.writes.write_with_keys`). Keys are never reused, so a key that
    still exists is still the same resource.
    """

    __slots__ = ("_pks",)

    def __init__(self) -> None:
        self._pks: dict[str, dict[str, int]] = {kind: {} for kind in KINDS}

    def remember(self, kind: str, resource_id: str, pk: int) -> None:
        known = self._pks[kind]
        if len(known) >= _MAX_KNOWN_PKS:
            known.clear()  # bounded memory; entries are only a shortcut
        known[resource_id] = pk

    def forget(self, kind: str, resource_ids: Sequence[str] | None = None) -> None:
        """Forget ``resource_ids`` of ``kind`` (all of that kind when None)."""
        known = self._pks[kind]
        if resource_ids is None:
            known.clear()
        else:
            for rid in resource_ids:
                known.pop(rid, None)

    def get(self, kind: str, resource_ids: Sequence[str]) -> list[int] | None:
        """The keys of ``resource_ids`` if all are known, else None."""
        known = self._pks[kind]
        out = []
        for rid in resource_ids:
            pk = known.get(rid)
            if pk is None:
                return None
            out.append(pk)
        return out


class SqlCore:
    """Opening a store, its transactions and names (see :class:`~.store.SqlStore`).

    Stable attributes the other parts (and mixins) use: :attr:`uri`,
    :attr:`prefix`, :attr:`store_id`, :attr:`dialect` (a
    :class:`~.dialects.Dialect`), :attr:`engine`, :attr:`fast` (a
    :class:`~.fast.FastPath`), :meth:`read` and :meth:`write`.
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

            self.engine, self.dialect = open_read_only(uri, redact(uri))
        else:
            self.engine, self.dialect = engine_for(uri)
        self.fast = FastPath(self.engine, self.dialect)
        self.known = KnownKeys()
        self.project, self.location, self.metadata_store = project, location, metadata_store
        self.prefix = (
            f"projects/{project}/locations/{location}/metadataStores/{metadata_store}"
        )
        health = self.fast.health
        with translate_errors(self, "open"):
            # After a failed open, one attempt (no retry window) until it works again.
            retry_s = max(0.0, health.begin() - time.monotonic())
            if uri not in migrated and not read_only:
                retry(
                    lambda: ensure_schema(self.engine, self.dialect, redact(uri)),
                    self.dialect.is_transient, retry_s,
                )
                migrated.add(uri)
            self.store_id: int = retry(self._ensure_store_row, self.dialect.is_transient, retry_s)
            health.ok()

    def __repr__(self) -> str:
        return f"SqlStore({redact(self.uri)!r}, prefix={self.prefix!r})"

    def retry_now(self) -> None:
        """Let the next write try the database even within the remembered hold
        (a flush, the end of a process: explicit moments to try again)."""
        health = self.fast.health
        if health.failing:
            health.down_until = 0.0

    # -- transactions -----------------------------------------------------------
    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in a read transaction (after this process's queued writes).

        Raises:
            StoreUnavailableError: the database cannot be used now.
            FilterError: SQLite found the statement too complex.
        """
        wait_for_pending_writes()
        with translate_errors(self, "read"):
            self.fast.health.begin()
            with self.engine.connect() as conn, conn.begin():
                yield conn

    def write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn(conn)`` in one write transaction, retried on transient errors.

        Raises:
            StoreUnavailableError: the database cannot be used (after retries), or
                the store is open read-only.
        """
        if self.read_only:
            refuse_write(self)

        def attempt() -> T:
            with self.engine.connect().execution_options(vt_write=True) as conn:
                with conn.begin():
                    return fn(conn)

        with translate_errors(self, "write"):
            self.fast.health.begin()
            result = retry(attempt, self.dialect.is_transient)
        self.fast.health.ok()
        return result

    def fast_write(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn(tx)`` in one write transaction on the fast path (see :mod:`.fast`).

        Raises:
            StoreUnavailableError: as :meth:`write`; the driver's integrity
                errors pass through for the caller.
        """
        if self.read_only:
            refuse_write(self)
        try:
            return self.fast.write(fn)
        except BaseException as exc:
            raise_translated(self, exc, "fast")
            raise

    def fast_write_one(self, sql: str, params: Any) -> int:
        """One statement as its own write transaction (see :meth:`.FastPath.write_one`)."""
        if self.read_only:
            refuse_write(self)
        try:
            return self.fast.write_one(sql, params)
        except BaseException as exc:
            raise_translated(self, exc, "fast")
            raise

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
        """The resource id of ``id_or_name`` (an id, or a full name of this store).

        Raises:
            InvalidArgumentError: not a string, or a name of another store or kind.
        """
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
        name = getattr(resource_or_name, "name", None)
        if isinstance(name, str) and not isinstance(resource_or_name, str):
            return name  # a resource
        return self.resource_name(kind, self.resource_id_from(kind, resource_or_name))

    def missing(self, kind: str, resource_id: str) -> NotFoundError:
        """The error for a resource of ``kind`` that does not exist."""
        return NotFoundError(f"{kind[:-1]} {self.resource_name(kind, resource_id)!r} does not exist")

    # -- get ------------------------------------------------------------------------
    def get(self, kind: str, resource_id: str) -> Any:
        table = t.RESOURCE_TABLES[kind]
        with self.read() as conn:
            rows = conn.execute(
                select(table).where(
                    table.c.store_id == self.store_id, table.c.resource_id == resource_id
                )
            ).all()
            if not rows:
                raise self.missing(kind, resource_id)
            self.known.remember(kind, resource_id, rows[0]._mapping["id"])
            return rows_to_resources(self, conn, kind, rows)[0]
