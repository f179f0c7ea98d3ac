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
}
_POLICIES = ("raise", "warn")


def home() -> Path:
    """``VERTEX_TRACK_HOME``, default ``~/.vertex_track``."""
    return Path(os.environ.get("VERTEX_TRACK_HOME") or Path.home() / ".vertex_track").expanduser()


@dataclass(frozen=True)
class Settings:
    """The effective configuration. Read it with :func:`get_settings`."""

    store_uri: str
    artifact_root: str
    project: str = "local"
    location: str = "local"
    metadata_store: str = "default"
    experiment: str | None = None
    on_tracking_error: str = "raise"

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
    policy = values.get("on_tracking_error", "raise")
    if policy not in _POLICIES:
        raise InvalidArgumentError(
            f"on_tracking_error must be one of {_POLICIES}, got {policy!r}"
        )
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
            outcome, which stands either way. ``"raise"`` (default): the
            ``vt.flow`` run fails at its end with a ``TrackingError`` naming
            what could not be recorded (outside a flow: the next
            ``vertex_track.tracking.flush()``). ``"warn"``: one
            ``TrackingWarning`` per problem, at the time, and the run goes on.

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
