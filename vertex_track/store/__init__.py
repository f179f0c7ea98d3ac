"""Metadata stores, chosen by URI scheme.

``get_store()`` returns the store the current settings point at (opened once
per process and reused: no reconnects on the hot path). ``open_store(uri)``
opens any other one.

Inspection (the CLI, the UI) calls ``set_read_only(True)`` first: every store
this process opens afterwards is opened read-only (nothing created, migrated
or written; something that is not a vertex_track store is an error).
"""

from __future__ import annotations

import threading

from .. import config
from .base import ArtifactLink, MetadataStore, PurgeResult

__all__ = [
    "ArtifactLink", "MetadataStore", "PurgeResult", "get_store", "open_store", "set_read_only",
]

_lock = threading.Lock()
_stores: dict[tuple[str, str, str, str, bool], MetadataStore] = {}
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

    Args:
        read_only: open it for inspection only; ``None`` follows
            :func:`set_read_only` (default: for writing, creating or upgrading
            the schema as needed).

    Raises:
        InvalidArgumentError: the URI scheme is not supported.
        StoreUnavailableError: the database cannot be opened; read-only, also
            when it is not a vertex_track store (the message says what is there).
    """
    if read_only is None:
        read_only = _read_only
    key = (uri, project, location, metadata_store, read_only)
    store = _stores.get(key)
    if store is None:
        with _lock:
            store = _stores.get(key)
            if store is None:
                from .sql.store import SqlStore

                store = _stores[key] = SqlStore(
                    uri, project=project, location=location, metadata_store=metadata_store,
                    read_only=read_only,
                )
    return store


def get_store() -> MetadataStore:
    """The store of the current settings (``vt.init`` / ``VERTEX_TRACK_*``)."""
    s = config.get_settings()
    return open_store(
        s.store_uri, project=s.project, location=s.location, metadata_store=s.metadata_store
    )


def _forget_uri(uri: str) -> None:
    with _lock:
        for key in [k for k in _stores if k[0] == uri]:
            del _stores[key]


def _forget(_settings: object) -> None:
    with _lock:
        _stores.clear()


config.on_change(_forget)
