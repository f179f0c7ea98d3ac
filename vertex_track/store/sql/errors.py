"""Driver errors -> vertex_track exceptions, and the one retry loop with back-off.

As httpx's ``map_exceptions`` (``httpx/_transports/default.py``), errors of
the database driver (or SQLAlchemy's wrappers of them) are translated in ONE
place, :class:`translate_errors`, which raises the vertex_track exception
``from`` the driver's; integrity errors and errors of the caller's own code
pass through unchanged.

Transient errors (see :meth:`.Dialect.is_transient`) are retried with
jittered exponential back-off by :class:`Backoff`, which both the SQLAlchemy
path (:func:`retry`) and the DBAPI fast path (:mod:`.fast`) use.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import IntegrityError as SaIntegrityError

from ..._random import rng
from ...exceptions import FilterError, StoreUnavailableError

if TYPE_CHECKING:
    from .core import SqlCore as SqlStore

T = TypeVar("T")

__all__ = [
    "Backoff", "StoreDownError", "raise_translated", "redact", "retry", "translate_errors",
    "unavailable",
]

Action = Literal["open", "read", "write", "fast"]


class StoreDownError(Exception):
    """Raised while a database is remembered as unavailable (see :class:`.fast.Health`)."""


class Backoff:
    """Jittered exponential back-off (20 ms doubling to 1 s) until a deadline."""

    __slots__ = ("deadline", "delay")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.delay = 0.02

    def wait(self) -> bool:
        """Sleep before the next attempt; False (no sleep) once the deadline has passed."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(left, self.delay * (0.5 + rng.random())))  # never the user's random
        self.delay = min(self.delay * 2, 1.0)
        return True


def retry(
    fn: Callable[[], T], is_transient: Callable[[BaseException], bool],
    retry_s: float | None = None,
) -> T:
    """``fn()``, run again after transient errors for at most ``retry_s`` seconds
    (default: the ``retry_timeout`` setting); other errors, and the last transient
    one, are raised."""
    if retry_s is None:
        from ... import config

        retry_s = config.get_settings().retry_timeout
    backoff = Backoff(time.monotonic() + retry_s)
    while True:
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc) or not backoff.wait():
                raise


def redact(uri: str) -> str:
    """``uri`` with its password hidden, as messages show it."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(uri).render_as_string(hide_password=True)
    except Exception:
        return uri


def too_complex(exc: BaseException) -> bool:
    """SQLite's limits on one statement (expression depth, terms), not an outage."""
    msg = str(getattr(exc, "orig", exc)).lower()
    return "too large" in msg or "too many" in msg


def _is_corruption(exc: BaseException) -> bool:
    msg = str(exc).lower()
    return "malformed" in msg or "not a database" in msg or "disk image" in msg


def unavailable_kind(exc: BaseException) -> bool:
    """Errors that mean "the store cannot be used now", not "this request is wrong":
    operational errors (connection, lock, disk, timeout) and a damaged database file."""
    if too_complex(exc):
        return False
    orig = getattr(exc, "orig", exc)
    if type(orig).__name__ == "DatabaseError" or _is_corruption(orig):
        return True  # SQLite's "not a database" and damaged pages raise the base class
    # Operational errors and their subclasses (psycopg's QueryCanceled for a
    # statement over statement_timeout, AdminShutdown, ...).
    names = {cls.__name__ for cls in type(orig).__mro__}
    return bool(names & {"OperationalError", "InterfaceError"})


def unavailable(store: SqlStore, exc: BaseException) -> StoreUnavailableError:
    """The error for a store that cannot be used now, naming it and saying what to do."""
    damaged = store.dialect.damaged(store.engine, exc)
    if damaged is not None:
        return damaged
    return StoreUnavailableError(f"metadata store {redact(store.uri)} is unavailable: {exc}")


def _translate(store: SqlStore, exc: BaseException, action: Action) -> BaseException | None:
    """The exception to raise instead of ``exc``; None: raise ``exc`` itself."""
    if isinstance(exc, StoreDownError):
        if action == "open":
            err = StoreUnavailableError(
                f"cannot open the metadata store at {redact(store.uri)}: {exc}"
            )
            err.transient = True  # type: ignore[attr-defined]  # tracking spools for it
            return err
        return unavailable(store, exc)
    fast = store.fast
    if not isinstance(exc, (DBAPIError, fast.database_error)):
        return None  # the caller's own exception
    if isinstance(exc, (SaIntegrityError, fast.integrity_error)):
        return None  # the request is wrong (a taken id, a stale key): the caller decides
    orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    dialect = store.dialect
    if action == "open":
        transient = dialect.is_transient(exc)
        if transient:
            fast.health.failed(str(orig))
        damaged = dialect.damaged(store.engine, orig)
        if damaged is not None:
            return damaged
        err = StoreUnavailableError(
            f"cannot open the metadata store at {redact(store.uri)}: {orig}"
        )
        err.transient = transient  # type: ignore[attr-defined]
        return err
    if action == "read" and too_complex(exc):
        return FilterError(
            f"the filter is too complex for this database ({orig}); split it "
            "into several queries or use fewer terms"
        )
    if not unavailable_kind(exc):
        return None
    if action != "fast" and dialect.is_transient(exc):
        # (the fast path did both itself before giving up)
        if action == "write":
            fast.health.failed(str(orig))
        dialect.drop_dead_connections(store.engine, exc)
    return unavailable(store, orig)


def raise_translated(store: SqlStore, exc: BaseException, action: Action) -> None:
    """Raise the vertex_track exception for ``exc`` (``from`` it); return when ``exc``
    passes through unchanged (the caller then re-raises it).

    For hot paths: ``try: ... except BaseException as exc: raise_translated(...); raise``
    costs nothing when no error is raised.
    """
    err = _translate(store, exc, action)
    if err is None:
        return
    if isinstance(exc, StoreDownError):
        raise err from None
    raise err from exc


class translate_errors:
    """Context manager: database errors raised inside become vertex_track exceptions.

    ``action`` says what the block does, which decides the message and what
    is remembered:

    - ``"open"``: any database error is :class:`StoreUnavailableError`
      ("cannot open ..."), with ``transient`` set when retrying later may work
      (tracking then spools instead of failing);
    - ``"read"``/``"write"``: operational errors (a lost server, a lock held
      past the retries, a damaged file) are :class:`StoreUnavailableError`;
      a filter SQLite finds too complex is :class:`FilterError`; other errors
      (integrity, programming) pass through;
    - ``"fast"``: as ``"write"``, for the driver's own exceptions on the fast path.
    """

    __slots__ = ("action", "store")

    def __init__(self, store: SqlStore, action: Action) -> None:
        self.store = store
        self.action = action

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, tp: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        if exc is not None:
            raise_translated(self.store, exc, self.action)
        return False


def refuse_write(store: Any) -> None:
    """Raise the error for a write to a store opened read-only."""
    raise StoreUnavailableError(
        f"the metadata store {redact(store.uri)} is open read-only (for inspection); "
        "open it with vertex_track.store.open_store(uri) to write"
    )
