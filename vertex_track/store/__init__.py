"""Metadata stores, chosen by URI scheme.

``get_store()`` returns the store the current settings point at (opened once
per process and reused: no reconnects on the hot path). ``open_store(uri)``
opens any other one.

Backends are registered by URI scheme (as fsspec's ``registry.py`` does for
file systems) and imported only when a store of theirs is opened; a backend
whose database driver is not installed raises :class:`StoreUnavailableError`
naming the package extra to install, not a bare ``ModuleNotFoundError``.

Inspection (the CLI, the UI) calls ``set_read_only(True)`` first: every store
this process opens afterwards is opened read-only (nothing created, migrated
or written; something that is not a vertex_track store is an error).
"""

from __future__ import annotations

import importlib
import sys
import time
from dataclasses import dataclass
from typing import Any

from .. import config
from ..exceptions import InvalidArgumentError, StoreUnavailableError
from . import _opened
from .base import ArtifactLink, MetadataStore, PurgeResult

__all__ = [
    "ArtifactLink", "MetadataStore", "PurgeResult", "backend_for", "close_all", "get_store",
    "open_store", "redact_uri", "register_backend", "retry_now", "set_read_only",
    "tracking_store",
]


@dataclass(frozen=True)
class _Backend:
    target: str  # "module:Class"
    driver: str  # the module the backend needs ("" for none beyond the standard library)
    extra: str  # the vertex-track extra that installs it


_SQL = "vertex_track.store.sql.store:SqlStore"
_BACKENDS: dict[str, _Backend] = {
    "sqlite": _Backend(_SQL, "sqlite3", ""),
    "sqlite+pysqlite": _Backend(_SQL, "sqlite3", ""),
    "postgresql": _Backend(_SQL, "psycopg", "postgres"),
    "postgresql+psycopg": _Backend(_SQL, "psycopg", "postgres"),
    "postgres": _Backend(_SQL, "psycopg", "postgres"),
}


def register_backend(scheme: str, target: str, *, driver: str = "", extra: str = "") -> None:
    """Make URIs ``scheme://...`` open ``target`` (``"package.module:Class"``).

    The class is imported on first use and called as
    ``Class(uri, project=..., location=..., metadata_store=..., read_only=...)``.

    Args:
        driver: a module the backend cannot work without; when it is missing,
            opening such a store says to install ``vertex-track[extra]``.
        extra: the package extra that installs ``driver``.
    """
    _BACKENDS[scheme.lower()] = _Backend(target, driver, extra)


def _scheme(uri: str) -> str:
    return uri.partition(":")[0].lower() if ":" in uri else ""


def backend_for(uri: str) -> Any:
    """The store class registered for ``uri``'s scheme, imported now.

    Raises:
        InvalidArgumentError: no backend is registered for the scheme (the
            message lists the supported ones).
        StoreUnavailableError: the backend's database driver is not installed
            (the message says what to install).
    """
    scheme = _scheme(uri)
    backend = _BACKENDS.get(scheme)
    if backend is None:
        supported = ", ".join(sorted(_BACKENDS))
        raise InvalidArgumentError(
            f"store_uri scheme {scheme!r} is not supported; supported schemes: {supported} "
            "(e.g. 'sqlite:///path/to/metadata.db' or 'postgresql://user@host:5432/database')"
        )
    if backend.driver:
        try:
            importlib.import_module(backend.driver)
        except ImportError as exc:
            extra = f'"vertex-track[{backend.extra}]"' if backend.extra else backend.driver
            raise StoreUnavailableError(
                f"a {scheme}:// store needs the {backend.driver!r} driver, which is not "
                f"installed; install it with: pip install {extra}"
            ) from exc
    module, _, name = backend.target.partition(":")
    return getattr(importlib.import_module(module), name)


def redact_uri(uri: str) -> str:
    """``uri`` with its password hidden, as messages and spool files show it."""
    from .sql.errors import redact

    return redact(uri)

_lock, _stores, _failed, _pending = _opened.lock, _opened.stores, _opened.failed, _opened.pending
_read_only = False


def set_read_only(read_only: bool) -> None:
    """Open stores read-only (``True``) or for writing (``False``, the default) from now on.

    Stores already opened keep their mode; ``get_store()`` returns the one of
    the current mode.
    """
    global _read_only
    _read_only = read_only


def open_store(
    uri: str,
    *,
    project: str = "local",
    location: str = "local",
    metadata_store: str = "default",
    read_only: bool | None = None,
) -> MetadataStore:
    """Open (or reuse) the metadata store at ``uri``.

    A store that cannot be opened (its server down or not answering within
    ``connect_timeout``) is remembered for ``unavailable_hold`` seconds: opens
    in that time raise at once instead of waiting on the server again.

    Args:
        read_only: open it for inspection only; ``None`` follows
            :func:`set_read_only` (default: for writing, creating or upgrading
            the schema as needed).

    Raises:
        InvalidArgumentError: the URI scheme is not supported.
        StoreUnavailableError: the database cannot be opened, or its driver is
            not installed; read-only, also when it is not a vertex_track store
            (the message says what is there).
    """
    if read_only is None:
        read_only = _read_only
    key = (uri, project, location, metadata_store, read_only)
    store = _stores.get(key)
    if store is None:
        with _lock:
            store = _stores.get(key)
            if store is None:
                failed = _failed.get(key)
                if failed is not None:
                    left = failed[0] - time.monotonic()
                    if left > 0:
                        err = StoreUnavailableError(
                            f"{failed[1]} (remembered: not retried for another {left:.1f} s)"
                        )
                        err.transient = getattr(failed[1], "transient", False)  # type: ignore[attr-defined]
                        raise err
                    del _failed[key]
                cls = backend_for(uri)
                try:
                    store = _stores[key] = cls(
                        uri, project=project, location=location, metadata_store=metadata_store,
                        read_only=read_only,
                    )
                except StoreUnavailableError as exc:
                    if getattr(exc, "transient", False):  # unreachable, not "not a store"
                        hold = config.get_settings().unavailable_hold
                        _failed[key] = (time.monotonic() + hold, exc)
                    raise
    return store


def get_store() -> MetadataStore:
    """The store of the current settings (``vt.init`` / ``VERTEX_TRACK_*``)."""
    s = config.get_settings()
    return open_store(
        s.store_uri, project=s.project, location=s.location, metadata_store=s.metadata_store
    )


class PendingStore:
    """Stands in for a store that could not be opened (unreachable) when tracking started.

    Tracking records need a store only to be named and written: this object
    names them like the real store and hands writes to it once it opens; until
    then writes raise :class:`StoreUnavailableError`, so the tracking writer
    spools them. Anything else is delegated to the real store (and raises the
    same way while it is unreachable).
    """

    def __init__(self, uri: str, project: str, location: str, metadata_store: str) -> None:
        self.uri = uri
        self._key = (project, location, metadata_store)
        self.prefix = (
            f"projects/{project}/locations/{location}/metadataStores/{metadata_store}"
        )

    def resource_name(self, kind: str, resource_id: str) -> str:
        return f"{self.prefix}/{kind}/{resource_id}"

    def _real(self) -> MetadataStore:
        project, location, metadata_store = self._key
        return open_store(
            self.uri, project=project, location=location, metadata_store=metadata_store
        )

    def put_tracked(self, records: object, *, replay: bool = False) -> None:
        self._real().put_tracked(records, replay=replay)  # type: ignore[arg-type]

    def retry_now(self) -> None:
        """Let the next write try to open the store even within the remembered hold."""
        retry_now(self.uri)

    def __getattr__(self, name: str) -> object:
        return getattr(self._real(), name)


def tracking_store() -> MetadataStore:
    """:func:`get_store` for tracking: a store that cannot be reached now (a refused or
    timed-out connection) gives a :class:`PendingStore`, so the records of this
    call are spooled instead of lost.

    Raises:
        StoreUnavailableError: the store cannot be used for another reason (a
            newer schema, a damaged file).
    """
    try:
        return get_store()
    except StoreUnavailableError as exc:
        if not getattr(exc, "transient", False):
            raise
        s = config.get_settings()
        key = (s.store_uri, s.project, s.location, s.metadata_store)
        pending = _pending.get(key)
        if pending is None:
            pending = _pending[key] = PendingStore(*key)
        return pending  # type: ignore[return-value]


def retry_now(uri: str) -> None:
    """Let the next open of (or write to) the store at ``uri`` try the database again,
    even within the hold after it was found unavailable."""
    with _lock:
        for key in [k for k in _failed if k[0] == uri]:
            del _failed[key]
    engine = sys.modules.get("vertex_track.store.sql.engine")
    health: Any = engine.health_of(uri) if engine is not None else None
    if health is not None and health.failing:
        health.down_until = 0.0


def close_all() -> None:
    """Close the database connections of every store this process opened (an SQLite
    store's WAL is folded back into its file first). Cheap when none was opened;
    stores used afterwards reconnect."""
    engine = sys.modules.get("vertex_track.store.sql.engine")
    if engine is not None:
        engine.close_all(wait=False)


config.on_change(lambda _settings: _opened.forget_all())
