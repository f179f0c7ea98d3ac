"""Metadata stores, chosen by URI scheme.

``get_store()`` returns the store the current settings point at (opened once
per process and reused: no reconnects on the hot path). ``open_store(uri)``
opens any other one.
"""

from __future__ import annotations

import threading
import time

from .. import config
from ..exceptions import StoreUnavailableError
from .base import ArtifactLink, MetadataStore, PurgeResult

__all__ = ["ArtifactLink", "MetadataStore", "PurgeResult", "get_store", "open_store"]

_lock = threading.Lock()
_stores: dict[tuple[str, str, str, str], MetadataStore] = {}
# A store that could not be opened, remembered for ``unavailable_hold`` seconds:
# key -> (monotonic time until which opens fail at once, the error).
_failed: dict[tuple[str, str, str, str], tuple[float, StoreUnavailableError]] = {}


def open_store(
    uri: str,
    *,
    project: str = "local",
    location: str = "local",
    metadata_store: str = "default",
) -> MetadataStore:
    """Open (or reuse) the metadata store at ``uri``.

    A store that cannot be opened (its server down or not answering within
    ``connect_timeout``) is remembered for ``unavailable_hold`` seconds: opens
    in that time raise at once instead of waiting on the server again.

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
                failed = _failed.get(key)
                if failed is not None:
                    left = failed[0] - time.monotonic()
                    if left > 0:
                        raise StoreUnavailableError(
                            f"{failed[1]} (remembered: not retried for another {left:.1f} s)"
                        )
                    del _failed[key]
                from .sql.store import SqlStore

                try:
                    store = _stores[key] = SqlStore(
                        uri, project=project, location=location, metadata_store=metadata_store
                    )
                except StoreUnavailableError as exc:
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


def _forget_uri(uri: str) -> None:
    with _lock:
        for key in [k for k in _stores if k[0] == uri]:
            del _stores[key]
        for key in [k for k in _failed if k[0] == uri]:
            del _failed[key]


def _forget(_settings: object) -> None:
    with _lock:
        _stores.clear()
        _failed.clear()


config.on_change(_forget)
