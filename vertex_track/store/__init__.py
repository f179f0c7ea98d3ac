"""Metadata stores, chosen by URI scheme.

``get_store()`` returns the store the current settings point at (opened once
per process and reused: no reconnects on the hot path). ``open_store(uri)``
opens any other one.
"""

from __future__ import annotations

import threading

from .. import config
from .base import ArtifactLink, MetadataStore, PurgeResult

__all__ = ["ArtifactLink", "MetadataStore", "PurgeResult", "get_store", "open_store"]

_lock = threading.Lock()
_stores: dict[tuple[str, str, str, str], MetadataStore] = {}


def open_store(
    uri: str,
    *,
    project: str = "local",
    location: str = "local",
    metadata_store: str = "default",
) -> MetadataStore:
    """Open (or reuse) the metadata store at ``uri``.

    Raises:
        InvalidArgumentError: the URI scheme is not supported.
        StoreUnavailableError: the database cannot be opened.
    """
    key = (uri, project, location, metadata_store)
    store = _stores.get(key)
    if store is None:
        with _lock:
            store = _stores.get(key)
            if store is None:
                from .sql.store import SqlStore

                store = _stores[key] = SqlStore(
                    uri, project=project, location=location, metadata_store=metadata_store
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
