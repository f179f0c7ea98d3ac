"""Engines: one per (process, store URI), dropped in a forked child, checkpointed at exit.

A forked child must not share pooled connections with its parent, so the
table is emptied after ``fork()`` (the parent's connections are left alone).
At interpreter exit, what the tracking writer holds is written, then every
SQLite store's WAL is folded back into its file (``cp metadata.db`` then
copies every record).
"""

from __future__ import annotations

import atexit
import os
import threading

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from .._opened import forget_uri
from ..barrier import wait_for_pending_writes
from .dialects import Dialect, dialect_for

__all__ = ["close_all", "dispose_engine", "engine_for", "health_of", "migrated"]

_engines: dict[str, tuple[Engine, Dialect]] = {}
_engines_lock = threading.Lock()
#: URIs whose schema this process has brought up to date.
migrated: set[str] = set()


def _drop_engines_after_fork() -> None:
    for engine, _ in _engines.values():
        engine.dispose(close=False)
    _engines.clear()


os.register_at_fork(after_in_child=_drop_engines_after_fork)


def engine_for(uri: str) -> tuple[Engine, Dialect]:
    """The writing engine of ``uri`` (created once per process) and its dialect.

    Raises:
        InvalidArgumentError: the URI scheme is not SQLite's or PostgreSQL's.
    """
    hit = _engines.get(uri)
    if hit is not None:
        return hit
    with _engines_lock:
        hit = _engines.get(uri)
        if hit is None:
            dialect = dialect_for(uri)
            url = dialect.url(uri)
            dialect.prepare(url)
            engine = create_engine(url, **dialect.engine_kwargs(url))
            dialect.install(engine)
            hit = _engines[uri] = (engine, dialect)
    return hit


def health_of(uri: str) -> object | None:
    """The :class:`~.fast.Health` of ``uri``'s engine in this process, if it has one."""
    hit = _engines.get(uri)
    if hit is None:
        return None
    from .fast import health_for

    return health_for(hit[0])


def dispose_engine(uri: str) -> None:
    """Close the pooled connections of one store URI and forget its engine and stores.

    An SQLite store's WAL is folded into the database file first.
    """
    with _engines_lock:
        hit = _engines.pop(uri, None)
        migrated.discard(uri)
    if hit is not None:
        engine, dialect = hit
        dialect.checkpoint(engine)
        engine.dispose()
    from .readonly import dispose as dispose_read_only  # inspection's engine, if any

    dispose_read_only(uri)
    forget_uri(uri)


def close_all(*, wait: bool = True) -> None:
    """Checkpoint and close every engine of this process, the read-only ones too (an
    SQLite store's WAL file then goes away); first, with ``wait``, write what the
    tracking writer holds. Stores used afterwards reconnect."""
    if wait:
        try:
            wait_for_pending_writes()
        except Exception:  # reported by the writer's own exit hook
            pass
    with _engines_lock:
        engines = list(_engines.values())
    for engine, dialect in engines:
        dialect.checkpoint(engine)
        engine.dispose()
    from .readonly import dispose_all  # inspection's engines

    dispose_all()


atexit.register(close_all)
