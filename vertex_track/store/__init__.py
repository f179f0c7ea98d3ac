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
import time

from .. import config
from ..exceptions import StoreUnavailableError
from .base import ArtifactLink, MetadataStore, PurgeResult

__all__ = [
    "ArtifactLink", "MetadataStore", "PurgeResult", "get_store", "open_store", "redact_uri",
    "set_read_only", "tracking_store",
]

_lock = threading.Lock()
_stores: dict[tuple[str, str, str, str, bool], MetadataStore] = {}
_read_only = False
# A store that could not be opened, remembered for ``unavailable_hold`` seconds:
# key -> (monotonic time until which opens fail at once, the error).
_failed: dict[tuple[str, str, str, str, bool], tuple[float, StoreUnavailableError]] = {}


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
                from .sql.store import SqlStore

                try:
                    store = _stores[key] = SqlStore(
                        uri, project=project, location=location, metadata_store=metadata_store,
                        read_only=read_only,
                    )
                except StoreUnavailableError as exc:
                    if getattr(exc, "transient", False):  # unreachable, not "not a store"
                        hold = config.get_settings().unavailable_hold
                        _failed[key] = (time.monotonic() + hold, exc)
                    raise
    return store


def redact_uri(uri: str) -> str:
    """``uri`` with its password hidden (``***``), as error messages and spool files show it."""
    from .sql.store import _redact

    return _redact(uri)


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
        with _lock:
            for key in [k for k in _failed if k[0] == self.uri]:
                del _failed[key]
        from .sql.store import _engines

        hit = _engines.get(self.uri)
        if hit is not None:
            from .sql.fast import health_for

            health = health_for(hit[0])
            if health.failing:
                health.down_until = 0.0

    def __getattr__(self, name: str) -> object:
        return getattr(self._real(), name)


_pending: dict[tuple[str, str, str, str], PendingStore] = {}


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
        _pending.clear()


config.on_change(_forget)
