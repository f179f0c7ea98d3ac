"""The write fast path: SQLAlchemy Core statements, compiled once, run on the DBAPI cursor.

SQLAlchemy's per-``execute`` machinery (events, result setup, parameter
processing) costs about 80 µs a statement on these machines; a tracked task
writes a dozen rows, so the overhead would dwarf SQLite itself (measured
here: the per-row style is 6x slower than executemany). The statements stay SQLAlchemy Core constructs, one definition for both
backends; only their execution skips the machinery: each is compiled once per
dialect to the driver's SQL with named parameters and run on a DBAPI
connection. JSON values are serialized here, since the driver sees plain text.

Which connection: on PostgreSQL, one from the engine's pool per transaction.
On SQLite, each thread keeps a write connection of its own
(:class:`_SqliteWriters`): a pool checkout with its reset-on-return costs
about 10 µs, a seventh of a one-row SQLite commit. SQLite serializes writers
on its file lock anyway, so a connection per thread adds no contention, and
every call still commits before it returns, with the engine's PRAGMAs (WAL,
``synchronous=NORMAL``, the busy timeout).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine

from .dialects import Dialect
from .errors import Backoff, StoreDownError
from .keys import LOW_WATER, allocator_for, is_key_clash

T = TypeVar("T")


class _Conn:
    """One thread's SQLite write connection.

    ``lock`` guards ``busy``/``closed`` between the owning thread and a
    thread disposing of the engine, which closes only idle connections.
    """

    __slots__ = (
        "__weakref__", "broken", "busy", "closed", "cur", "dbapi", "epoch", "lock", "pid", "used",
    )

    def __init__(self, dbapi: Any, epoch: int) -> None:
        self.dbapi = dbapi
        self.cur = dbapi.cursor()
        self.epoch = epoch
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.busy = False
        self.broken = False  # left inside a transaction: never reuse
        self.closed = False
        self.used = 0  # when its thread last took it (for _MAX_PER_THREAD)

    def close(self) -> None:
        """Close it (the caller holds ``lock`` or is its only user)."""
        if self.closed:
            return
        self.closed = True
        if self.pid != os.getpid():
            # Inherited across fork(): the parent still uses this SQLite
            # connection, so the child neither uses nor closes it.
            _inherited.append(self.dbapi)
            return
        try:
            self.dbapi.close()
        except Exception:  # already unusable; nothing left to release
            pass


class _SqliteWriters:
    """The per-thread write connections to one SQLite engine.

    Each is made through the engine's pool (so the engine's ``connect``
    listeners set the PRAGMAs), then detached from it. ``Engine.dispose()``
    closes the idle ones at once and the busy ones when their transaction
    ends; a thread's connection is also closed when the thread ends, or to
    make room when the thread writes to more than ``_MAX_PER_THREAD`` databases.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.local = threading.local()
        self.epoch = 0
        self.conns: weakref.WeakSet[_Conn] = weakref.WeakSet()

    def acquire(self) -> _Conn | None:
        """This thread's connection, marked busy; None if it is busy already (nested)."""
        conn: _Conn | None = getattr(self.local, "conn", None)
        if conn is not None:
            with conn.lock:
                if conn.busy:
                    return None
                if not conn.closed and conn.epoch == self.epoch:
                    conn.busy = True
                    conn.used = next(_ticks)
                    return conn
                conn.close()
        owned = _make_room()
        raw = self.engine.raw_connection()
        dbapi = raw.driver_connection
        raw.detach()
        conn = _Conn(dbapi, self.epoch)
        conn.busy = True
        conn.used = next(_ticks)
        self.local.conn = conn
        owned.append(conn)
        with _writers_lock:
            self.conns.add(conn)
        return conn

    def release(self, conn: _Conn) -> None:
        with conn.lock:
            conn.busy = False
            if conn.broken or conn.epoch != self.epoch:
                conn.close()

    def disposed(self) -> None:
        self.epoch += 1
        pid = os.getpid()
        with _writers_lock:  # other threads add to the set under it
            conns = list(self.conns)
        for conn in conns:
            if conn.pid != pid:
                continue  # inherited across fork: see _after_fork_in_child
            with conn.lock:
                if not conn.busy:
                    conn.close()


# A thread keeps write connections to at most this many databases (2-3 file
# descriptors each); beyond that its least recently used idle one is closed.
_MAX_PER_THREAD = 4
_owned = threading.local()  # .conns: the calling thread's live write connections
_ticks = itertools.count()


def _make_room() -> list[_Conn]:
    """The calling thread's live connections, fewer than _MAX_PER_THREAD."""
    owned: list[_Conn] = [c for c in getattr(_owned, "conns", ()) if not c.closed]
    _owned.conns = owned
    while len(owned) >= _MAX_PER_THREAD:
        idle = [c for c in owned if not c.busy]
        if not idle:
            break
        oldest = min(idle, key=lambda c: c.used)
        with oldest.lock:
            oldest.close()
        owned.remove(oldest)
    return owned


_writers: weakref.WeakKeyDictionary[Engine, _SqliteWriters] = weakref.WeakKeyDictionary()
_writers_lock = threading.Lock()
_inherited: list[Any] = []  # SQLite connections of the parent process: kept open, unused
_at_fork: list[_Conn] = []


def _writers_for(engine: Engine) -> _SqliteWriters:
    with _writers_lock:
        writers = _writers.get(engine)
        if writers is None:
            writers = _writers[engine] = _SqliteWriters(engine)
            event.listen(engine, "engine_disposed", _on_engine_disposed)
        return writers


def _on_engine_disposed(engine: Engine) -> None:
    writers = _writers.get(engine)
    if writers is not None:
        writers.disposed()


def _before_fork() -> None:
    # Hold every write connection across fork(): in the child the threads
    # owning them are gone, and dropping the last reference would close them.
    with _writers_lock:
        _at_fork[:] = [c for w in list(_writers.values()) for c in list(w.conns)]


def _after_fork_in_parent() -> None:
    _at_fork.clear()


def _after_fork_in_child() -> None:
    global _writers_lock
    _writers_lock = threading.Lock()  # another thread may have held it at fork time
    for conn in _at_fork:
        conn.lock = threading.Lock()
        conn.busy = False
        conn.close()  # pid differs: kept in _inherited, not closed
    _at_fork.clear()
    for writers in list(_writers.values()):
        writers.epoch += 1


os.register_at_fork(
    before=_before_fork,
    after_in_parent=_after_fork_in_parent,
    after_in_child=_after_fork_in_child,
)


class FastPath:
    """Compiled statement cache and raw transactions for one engine."""

    def __init__(self, engine: Engine, dialect: Dialect) -> None:
        self.engine = engine
        self.dialect = dialect
        self._compiler: Any = dialect.named_compiler(engine)
        self._writers: _SqliteWriters | None = (
            _writers_for(engine) if dialect.thread_writers(engine) else None
        )
        self._sql: dict[Any, str] = {}
        self._positional: dict[Any, tuple[str, tuple[str, ...]]] = {}
        self._positional_dialect: Any = None
        dbapi = engine.dialect.loaded_dbapi
        self.integrity_error: type[BaseException] = dbapi.IntegrityError
        self.operational_error: type[BaseException] = dbapi.OperationalError
        self.database_error: type[BaseException] = dbapi.DatabaseError
        self.keys = allocator_for(engine)
        self.health = health_for(engine)

    def sql(self, key: Any, build: Callable[[], Any]) -> str:
        text = self._sql.get(key)
        if text is None:
            text = self._sql[key] = str(build().compile(dialect=self._compiler))
        return text

    def positional(self, key: Any, build: Callable[[], Any]) -> tuple[str, tuple[str, ...]]:
        """``(sql, parameter names in order)`` for positional parameters (hot statements).

        Binding a tuple skips the driver's per-parameter name lookups (a
        fifth of a one-row insert's cost in the driver).
        """
        hit = self._positional.get(key)
        if hit is None:
            dialect = self._positional_dialect
            if dialect is None:
                dialect = self._positional_dialect = self.dialect.positional_compiler(self.engine)
            compiled = build().compile(dialect=dialect)
            hit = self._positional[key] = (str(compiled), tuple(compiled.positiontup or ()))
        return hit

    def _retry(self, exc: BaseException, backoff: Backoff, clashes: int) -> int:
        """Back off before the next attempt after ``exc``, or re-raise it.

        Retries transient errors (and, up to 4 times, a primary-key clash with
        a new key block) until the back-off's deadline; then the store is
        remembered as unavailable (:class:`Health`) and ``exc`` raised.
        Returns the clash count for the next call.
        """
        if isinstance(exc, self.integrity_error) and is_key_clash(exc):
            # Keys from a block the database handed out cannot clash unless
            # the block was misused; a new block settles it.
            if clashes >= 4:
                raise exc
            self.keys.discard()
            return clashes + 1
        if not self.dialect.is_transient(exc):
            raise exc
        self.dialect.drop_dead_connections(self.engine, exc)
        if not backoff.wait():
            self.health.failed(f"{type(exc).__name__}: {exc}".strip())
            raise exc
        return clashes

    def write(self, fn: Callable[[Tx], T], *, top_up: bool = True) -> T:
        """Run ``fn(tx)`` in one write transaction; transient errors retry the whole of it.

        Transient errors are retried for :attr:`Health.retry_s` (jittered
        exponential back-off), then raised; while the store is remembered as
        unavailable, a write fails at once (see :class:`Health`).
        """
        health = self.health
        deadline = health.begin()
        if top_up and self.keys.end - self.keys.next < LOW_WATER:
            self.keys.top_up(self)
        writers = self._writers
        if writers is None:
            return self._write_pooled(fn, deadline)
        dialect = self.dialect
        backoff, clashes = None, 0
        while True:
            conn = writers.acquire()
            if conn is None:  # a write inside a write in this thread: as before, its own connection
                return self._write_pooled(fn, deadline)
            cur = conn.cur
            try:
                # The driver is in autocommit mode (see SqliteDialect): BEGIN IMMEDIATE
                # takes the write lock up front, so there is no lock upgrade to fail.
                dialect.begin_raw(cur)
                try:
                    result = fn(Tx(self, cur))
                    dialect.commit_raw(conn.dbapi, cur)
                    health.ok()
                    return result
                except BaseException:
                    try:
                        dialect.rollback_raw(conn.dbapi, cur)
                    except Exception:
                        pass
                    raise
            except BaseException as exc:
                conn.broken = conn.dbapi.in_transaction
                backoff = backoff or Backoff(deadline)
                clashes = self._retry(exc, backoff, clashes)
            finally:
                writers.release(conn)

    def write_one(self, sql: str, params: Any) -> int:
        """Run one statement (driver SQL) as a write transaction of its own; returns its row count.

        On SQLite the statement runs in autocommit mode: SQLite wraps it in a
        transaction, as atomic and durable as BEGIN ... COMMIT, without the
        two extra statements. Its keys are fixed: a key clash is raised, not retried.
        """
        writers = self._writers
        conn = writers.acquire() if writers is not None else None
        if writers is None or conn is None:

            def one(tx: Tx) -> int:
                tx.cur.execute(sql, params)
                return int(tx.cur.rowcount)

            return self.write(one, top_up=False)
        health = self.health
        deadline = health.begin()
        backoff, clashes = None, 0
        while True:
            if conn is None:
                conn = writers.acquire()
                assert conn is not None  # not nested: checked on the first attempt
            try:
                conn.cur.execute(sql, params)
                health.ok()
                return int(conn.cur.rowcount)
            except BaseException as exc:
                conn.broken = conn.dbapi.in_transaction  # interrupted mid-statement
                if isinstance(exc, self.integrity_error):
                    raise
                backoff = backoff or Backoff(deadline)
                clashes = self._retry(exc, backoff, clashes)
            finally:
                writers.release(conn)
            conn = None

    def _write_pooled(self, fn: Callable[[Tx], T], deadline: float) -> T:
        dialect = self.dialect
        backoff, clashes = None, 0
        while True:
            try:
                raw = self.engine.raw_connection()
            except BaseException as exc:
                backoff = backoff or Backoff(deadline)
                clashes = self._retry(_unwrap(exc), backoff, clashes)
                continue
            try:
                cur = raw.cursor()
                dialect.begin_raw(cur)
                try:
                    result = fn(Tx(self, cur))
                    dialect.commit_raw(raw, cur)
                    self.health.ok()
                    return result
                except BaseException:
                    try:
                        dialect.rollback_raw(raw, cur)
                    except Exception:
                        pass
                    raise
                finally:
                    try:
                        cur.close()
                    except Exception:
                        pass
            except BaseException as exc:
                dialect.discard_if_broken(raw, exc)
                backoff = backoff or Backoff(deadline)
                clashes = self._retry(exc, backoff, clashes)
            finally:
                raw.close()


def _unwrap(exc: BaseException) -> BaseException:
    """The driver's exception inside SQLAlchemy's wrapper (pool checkouts wrap them)."""
    orig = getattr(exc, "orig", None)
    return orig if isinstance(orig, BaseException) else exc


class Health:
    """Whether a database is reachable, remembered for a moment after it was not.

    Every write is retried for :attr:`retry_s` after a transient error. When
    that fails, the database is remembered as unavailable: for
    :attr:`hold_s` seconds every write fails at once (no waiting on an
    unresponsive server call after call), then the next write tries once
    (without the retry window) and either finds it back or holds again.
    """

    def __init__(self, retry_s: float, hold_s: float) -> None:
        self.retry_s = retry_s
        self.hold_s = hold_s
        self.down_until = 0.0  # while now < this, fail at once
        self.failing = False  # the last attempt failed: try once, no retry window
        self.last_error = ""

    def begin(self) -> float:
        """The retry deadline of a write starting now (raises while remembered down)."""
        if not self.failing:
            return time.monotonic() + self.retry_s
        now = time.monotonic()
        if now < self.down_until:
            raise StoreDownError(
                f"{self.last_error} (remembered: not retried for another "
                f"{self.down_until - now:.1f} s)"
            )
        return now  # one attempt

    def failed(self, error: str = "") -> None:
        self.failing = True
        if error:
            self.last_error = error
        self.down_until = time.monotonic() + self.hold_s

    def ok(self) -> None:
        if self.failing:
            self.failing = False
            self.down_until = 0.0


_health: weakref.WeakKeyDictionary[Engine, Health] = weakref.WeakKeyDictionary()


def health_for(engine: Engine) -> Health:
    """The :class:`Health` of ``engine``'s database, with the current settings' timeouts."""
    with _writers_lock:
        health = _health.get(engine)
        if health is None:
            from ... import config

            s = config.get_settings()
            health = _health[engine] = Health(s.retry_timeout, s.unavailable_hold)
        return health


class Tx:
    """One open transaction of :meth:`FastPath.write`."""

    __slots__ = ("cur", "fast")

    def __init__(self, fast: FastPath, cur: Any) -> None:
        self.fast = fast
        self.cur = cur

    def ids(self, n: int) -> list[int]:
        """``n`` new primary keys for rows of this transaction (see :mod:`.keys`)."""
        return self.fast.keys.take(self.fast, n, self.cur)

    def execute(self, key: Any, build: Callable[[], Any], params: dict[str, Any]) -> int:
        self.cur.execute(self.fast.sql(key, build), params)
        return int(self.cur.rowcount)

    def executemany(
        self, key: Any, build: Callable[[], Any], rows: Sequence[dict[str, Any]]
    ) -> None:
        if rows:
            self.cur.executemany(self.fast.sql(key, build), rows)

    def fetchall(self, key: Any, build: Callable[[], Any], params: dict[str, Any]) -> list[Any]:
        self.cur.execute(self.fast.sql(key, build), params)
        return list(self.cur.fetchall())
