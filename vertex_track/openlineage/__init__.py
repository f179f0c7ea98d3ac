"""OpenLineage events of what vertex_track records (``pip install 'vertex-track[openlineage]'``).

Each tracked execution is an OpenLineage run of job ``<flow>.<task>`` with a
START and a COMPLETE / FAIL / ABORT event, its inputs and outputs as
datasets, and a ``parent`` facet naming its flow run (a run of job
``<flow>``, with its own START and end events). See ``docs/openlineage.md``.

On when the ``openlineage-python`` package is installed and either
``VERTEX_TRACK_OPENLINEAGE=on`` (``vt.init(openlineage="on")``) or the
OpenLineage client is configured: ``OPENLINEAGE_URL``, ``OPENLINEAGE_CONFIG``,
an ``OPENLINEAGE__...`` variable, or an ``openlineage.yml`` in the working
directory or ``~/.openlineage``. ``VERTEX_TRACK_OPENLINEAGE=off`` (or
``OPENLINEAGE_DISABLED=true``) turns it off. Off costs nothing: no listener
is registered.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from .. import config

__all__ = ["configured", "disable", "enable", "enabled", "flush"]


def _client_configured() -> bool:
    if os.environ.get("OPENLINEAGE_URL") or os.environ.get("OPENLINEAGE_CONFIG"):
        return True
    if any(key.startswith("OPENLINEAGE__") for key in os.environ):
        return True
    return any(p.is_file() for p in (
        Path.cwd() / "openlineage.yml", Path("~/.openlineage/openlineage.yml").expanduser(),
    ))


def configured(settings: config.Settings | None = None) -> bool:
    """Whether events should be emitted now (the setting, the OpenLineage configuration,
    and the ``openlineage-python`` package)."""
    settings = settings or config.get_settings()
    mode = settings.openlineage
    if mode == "off" or os.environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return False
    if mode == "auto" and not _client_configured():
        return False
    return importlib.util.find_spec("openlineage") is not None and (
        importlib.util.find_spec("openlineage.client") is not None
    )


def enable(namespace: str | None = None, *, send: Any = None) -> None:
    """Emit OpenLineage events of every tracked execution and flow run from now on.

    Args:
        namespace: the jobs' namespace (default: the ``openlineage_namespace``
            setting, ``VERTEX_TRACK_OPENLINEAGE_NAMESPACE``, default ``vertex_track``).
        send: a callable taking one event dict, instead of the configured
            OpenLineage client (tests, custom sinks).
    """
    global _automatic
    from . import emitter

    _automatic = False
    emitter.start(namespace or config.get_settings().openlineage_namespace, send)


def _current() -> Any:
    """The running emitter, or None; never imports the emitter (nor the client)."""
    emitter = sys.modules.get(f"{__name__}.emitter")
    return None if emitter is None else emitter.get_emitter()  # type: ignore[attr-defined]


def disable() -> None:
    """Stop emitting (what is queued is sent first)."""
    emitter = sys.modules.get(f"{__name__}.emitter")
    if emitter is not None:
        emitter.stop()  # type: ignore[attr-defined]


def enabled() -> bool:
    """Whether events are being emitted."""
    return _current() is not None


def flush(timeout: float | None = None) -> bool:
    """Wait until every event queued so far is sent (or spooled); True if it was in time."""
    current = _current()
    return True if current is None else bool(current.flush(timeout))


def _apply(settings: config.Settings | None = None) -> None:
    """Turn emission on or off as the settings and environment say (at import, on init)."""
    try:
        wanted = configured(settings)
    except Exception:  # a bad setting is reported by whoever uses it, not at import
        return
    global _automatic
    if wanted:
        namespace = (settings or config.get_settings()).openlineage_namespace
        current = _current()
        if current is None or (_automatic and current.namespace != namespace):
            enable(namespace)
            _automatic = True
    elif _automatic and enabled():
        disable()
        _automatic = False


_automatic = False  # emission was turned on by the settings (not by enable())


def autostart() -> None:
    """Apply the settings now and after every ``vt.init`` / reset (called by ``import vertex_track``)."""
    config.on_change(_apply)
    _apply()
