"""The stores this process has opened, and the ones it could not open lately.

Kept apart from the registry (:mod:`vertex_track.store`) so that the SQL
engines below it can make the registry forget a store whose engine they
close, without importing the package above them.
"""

from __future__ import annotations

import threading
from typing import Any

lock = threading.Lock()
#: (uri, project, location, metadata_store, read_only) -> the open store.
stores: dict[tuple[str, str, str, str, bool], Any] = {}
#: A store that could not be opened, remembered for ``unavailable_hold`` seconds:
#: key -> (monotonic time until which opens fail at once, the error).
failed: dict[tuple[str, str, str, str, bool], tuple[float, Any]] = {}
#: (uri, project, location, metadata_store) -> the stand-in of a store not reachable yet.
pending: dict[tuple[str, str, str, str], Any] = {}


def forget_uri(uri: str) -> None:
    """Drop the open store(s) at ``uri`` and its remembered failure: the next use reopens."""
    with lock:
        for key in [k for k in stores if k[0] == uri]:
            del stores[key]
        for key in [k for k in failed if k[0] == uri]:
            del failed[key]


def forget_all() -> None:
    """Drop every open store, remembered failure and stand-in (the settings changed)."""
    with lock:
        stores.clear()
        failed.clear()
        pending.clear()
