"""Settings: ``vt.init(...)`` over ``VERTEX_TRACK_*`` environment variables over defaults.

``vt.init`` changes only the settings it is given. A setting not given to
``init`` is read from the environment when first needed, so a process started
with ``VERTEX_TRACK_STORE_URI=...`` needs no code at all.

``vt.init`` also exports what it sets as ``VERTEX_TRACK_*`` environment
variables, so processes started afterwards (Dask workers, subprocesses)
record into the same store; :func:`reset` restores the previous values.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .exceptions import InvalidArgumentError

__all__ = ["Settings", "get_settings", "init"]

_ENV = {
    "store_uri": "VERTEX_TRACK_STORE_URI",
    "artifact_root": "VERTEX_TRACK_ARTIFACT_ROOT",
    "project": "VERTEX_TRACK_PROJECT",
    "location": "VERTEX_TRACK_LOCATION",
    "metadata_store": "VERTEX_TRACK_METADATA_STORE",
    "experiment": "VERTEX_TRACK_EXPERIMENT",
    "on_tracking_error": "VERTEX_TRACK_ON_TRACKING_ERROR",
    "connect_timeout": "VERTEX_TRACK_CONNECT_TIMEOUT",
    "statement_timeout": "VERTEX_TRACK_STATEMENT_TIMEOUT",
    "retry_timeout": "VERTEX_TRACK_RETRY_TIMEOUT",
    "unavailable_hold": "VERTEX_TRACK_UNAVAILABLE_HOLD",
    "max_metadata_bytes": "VERTEX_TRACK_MAX_METADATA_BYTES",
    "openlineage": "VERTEX_TRACK_OPENLINEAGE",
    "openlineage_namespace": "VERTEX_TRACK_OPENLINEAGE_NAMESPACE",
}
# Numeric settings: (type, smallest allowed value).
_NUMBERS: dict[str, tuple[type, float]] = {
    "connect_timeout": (float, 0.1),
    "statement_timeout": (float, 0.0),
    "retry_timeout": (float, 0.0),
    "unavailable_hold": (float, 0.0),
    "max_metadata_bytes": (int, 1024),
}
_POLICIES = ("raise", "warn")


def home() -> Path:
    """``VERTEX_TRACK_HOME``, default ``~/.vertex_track``."""
    return Path(os.environ.get("VERTEX_TRACK_HOME") or Path.home() / ".vertex_track").expanduser()


@dataclass(frozen=True)
class Settings:
    """The effective configuration. Read it with :func:`get_settings`.

    The reliability settings (see docs/reliability.md):

    Attributes:
        connect_timeout: seconds to wait for a PostgreSQL server to accept a
            connection (``VERTEX_TRACK_CONNECT_TIMEOUT``, default 5).
        statement_timeout: seconds a PostgreSQL statement may run before the
            server cancels it; 0 for no limit (``VERTEX_TRACK_STATEMENT_TIMEOUT``,
            default 30).
        retry_timeout: seconds a write is retried after transient errors (a
            lost or refused connection, a deadlock, a locked SQLite file),
            with jittered exponential back-off, before it fails
            (``VERTEX_TRACK_RETRY_TIMEOUT``, default 10). Tracking records that
            still fail then go to the local spool.
        unavailable_hold: seconds a store that failed is remembered as
            unavailable: opens and writes in that time fail at once, without
            waiting on the server again (``VERTEX_TRACK_UNAVAILABLE_HOLD``, default 5).
        max_metadata_bytes: the largest ``metadata`` of one resource, as JSON
            text in UTF-8 (``VERTEX_TRACK_MAX_METADATA_BYTES``, default 1 MiB).
    """

    store_uri: str
    artifact_root: str
    project: str = "local"
    location: str = "local"
    metadata_store: str = "default"
    experiment: str | None = None
    on_tracking_error: str = "raise"
    connect_timeout: float = 5.0
    statement_timeout: float = 30.0
    retry_timeout: float = 10.0
    unavailable_hold: float = 5.0
    max_metadata_bytes: int = 1024 * 1024
    openlineage: str = "auto"
    openlineage_namespace: str = "vertex_track"

    @property
    def store_prefix(self) -> str:
        """``projects/{p}/locations/{l}/metadataStores/{s}``."""
        return (
            f"projects/{self.project}/locations/{self.location}"
            f"/metadataStores/{self.metadata_store}"
        )


_lock = threading.Lock()
_overrides: dict[str, Any] = {}
_cached: Settings | None = None
_saved_env: dict[str, str | None] = {}  # env values before init() exported ours


def _from_env() -> dict[str, Any]:
    h = home()
    values: dict[str, Any] = {
        "store_uri": f"sqlite:///{h / 'metadata.db'}",
        "artifact_root": str(h / "artifacts"),
    }
    for key, var in _ENV.items():
        if os.environ.get(var):
            values[key] = os.environ[var]
    return values


def _validate(values: dict[str, Any]) -> None:
    mode = values.get("openlineage", "auto")
    if mode not in ("auto", "on", "off"):
        raise InvalidArgumentError(
            f"openlineage (or VERTEX_TRACK_OPENLINEAGE) must be 'auto', 'on' or 'off', got {mode!r}"
        )
    namespace = values.get("openlineage_namespace", "vertex_track")
    if not isinstance(namespace, str) or not namespace.strip():
        raise InvalidArgumentError(
            "openlineage_namespace (or VERTEX_TRACK_OPENLINEAGE_NAMESPACE) must be a non-empty "
            f"string, got {namespace!r}"
        )
    policy = values.get("on_tracking_error", "raise")
    if policy not in _POLICIES:
        raise InvalidArgumentError(
            f"on_tracking_error must be one of {_POLICIES}, got {policy!r}"
        )
    for key, (kind, low) in _NUMBERS.items():
        if key not in values:
            continue
        value = values[key]
        try:
            number = kind(value)
            if isinstance(value, bool) or not number >= low or number != number:
                raise ValueError
        except (TypeError, ValueError):
            var = _ENV[key]
            raise InvalidArgumentError(
                f"{key} (or {var}) must be a number >= {low}, got {value!r}"
            ) from None
        values[key] = number
    for key in ("project", "location", "metadata_store"):
        value = values.get(key)
        if value is not None and (not isinstance(value, str) or not value or "/" in value):
            raise InvalidArgumentError(
                f"{key} must be a non-empty string without '/', got {value!r}"
            )


def get_settings() -> Settings:
    """The current settings (cached until :func:`init` or :func:`reset`)."""
    global _cached
    settings = _cached
    if settings is None:
        with _lock:
            values = {**_from_env(), **_overrides}
            _validate(values)
            settings = _cached = Settings(**values)
    return settings


def init(
    store_uri: str | None = None,
    artifact_root: str | None = None,
    project: str | None = None,
    location: str | None = None,
    metadata_store: str | None = None,
    experiment: str | None = None,
    on_tracking_error: str | None = None,
    *,
    connect_timeout: float | None = None,
    statement_timeout: float | None = None,
    retry_timeout: float | None = None,
    unavailable_hold: float | None = None,
    max_metadata_bytes: int | None = None,
    openlineage: str | None = None,
    openlineage_namespace: str | None = None,
) -> Settings:
    """Configure vertex_track for this process.

    Only the settings given here change; the others keep their current values
    (from an earlier ``init``, else the ``VERTEX_TRACK_*`` environment, else
    the defaults: an SQLite file and an artifact folder under
    ``VERTEX_TRACK_HOME``).

    Args:
        store_uri: metadata store, ``sqlite:///path.db`` or ``postgresql://...``.
        artifact_root: fsspec URL where artifact bytes go (folder, ``s3://``, ``memory://``).
        project, location, metadata_store: the parts of resource names.
        experiment: the default experiment for :func:`vertex_track.start_run`.
        on_tracking_error: what a tracking failure does; never the task's own
            outcome (its value is returned, its exception raised) either way.
            ``"raise"`` (default): the ``vt.flow`` run fails at its end with a
            :class:`~vertex_track.TrackingError` naming what could not be
            recorded and how to go on (outside a flow: the next
            ``vertex_track.tracking.flush()``). A record *spooled* during a
            store outage is not lost, so it raises nothing (``vertex-track
            sync`` or the next write replays it). ``"warn"``: one
            ``TrackingWarning`` per problem, at the time, and the run goes on.
            Either way a tracked call waits at most about ``connect_timeout``
            on a store that cannot be reached.
        connect_timeout, statement_timeout, retry_timeout, unavailable_hold,
        max_metadata_bytes: see :class:`Settings`.
        openlineage: ``"auto"`` (default: OpenLineage events are sent when the
            ``openlineage-python`` client is installed and configured), ``"on"``
            or ``"off"``; see ``docs/openlineage.md``.
        openlineage_namespace: the namespace of the OpenLineage jobs
            (default ``"vertex_track"``).

    Returns:
        The effective :class:`Settings`.

    Raises:
        InvalidArgumentError: a value breaks its rule.
    """
    global _cached
    given = {
        "store_uri": store_uri,
        "artifact_root": artifact_root,
        "project": project,
        "location": location,
        "metadata_store": metadata_store,
        "experiment": experiment,
        "on_tracking_error": on_tracking_error,
        "connect_timeout": connect_timeout,
        "statement_timeout": statement_timeout,
        "retry_timeout": retry_timeout,
        "unavailable_hold": unavailable_hold,
        "max_metadata_bytes": max_metadata_bytes,
        "openlineage": openlineage,
        "openlineage_namespace": openlineage_namespace,
    }
    given = {k: v for k, v in given.items() if v is not None}
    with _lock:
        candidate = {**_overrides, **given}
        _validate({**_from_env(), **candidate})
        _overrides.clear()
        _overrides.update(candidate)
        for key, value in given.items():
            var = _ENV[key]
            _saved_env.setdefault(var, os.environ.get(var))
            os.environ[var] = str(value)
        _cached = None
    settings = get_settings()
    _notify(settings)
    return settings


def reset() -> None:
    """Forget everything :func:`init` set (tests use this)."""
    global _cached
    with _lock:
        _overrides.clear()
        for var, value in _saved_env.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
        _saved_env.clear()
        _cached = None
    _notify(None)


_listeners: list[Any] = []


def on_change(callback: Any) -> None:
    """Register ``callback(settings_or_None)``, called after init()/reset()."""
    _listeners.append(callback)


def _notify(settings: Settings | None) -> None:
    for callback in list(_listeners):
        callback(settings)
