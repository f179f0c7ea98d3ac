"""The metadata store behind a request's ``projects/{p}/locations/{l}/metadataStores/{s}``.

One database holds many Vertex metadata stores, one per (project, location,
metadata store id), exactly as the Python API names them: a server over
``sqlite:///m.db`` answering ``projects/p/locations/us-central1/...`` writes
what ``vt.init(store_uri="sqlite:///m.db", project="p",
location="us-central1")`` reads. A metadata store exists from its first use.
"""

from __future__ import annotations

import re

from ..config import get_settings
from ..exceptions import InvalidArgumentError
from ..store import MetadataStore, open_store

__all__ = ["check_segment", "serve_store_uri", "store_for"]

_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_served: list[str] = []  # the database this process serves, once create_app chose it


def serve_store_uri(uri: str) -> None:
    """Serve ``uri`` from now on, whatever ``vt.init`` later configures in this process."""
    _served[:] = [uri]


def check_segment(field: str, value: str) -> str:
    """``value`` if it can be a project, location or store id in a resource name.

    Raises:
        InvalidArgumentError: it cannot (empty, too long, other characters).
    """
    if not _SEGMENT.fullmatch(value):
        raise InvalidArgumentError(
            f"{field} must be 1-128 letters, digits, '.', '_' or '-' starting with a letter "
            f"or digit, got {value!r}"
        )
    return value


def store_for(project: str, location: str, metadata_store: str = "default") -> MetadataStore:
    """The store of the configured database named ``projects/{project}/locations/{location}
    /metadataStores/{metadata_store}`` (opened once per process, then reused).

    Raises:
        InvalidArgumentError: a malformed project, location or store id.
        StoreUnavailableError: the database cannot be opened.
    """
    check_segment("project", project)
    check_segment("location", location)
    check_segment("metadata store id", metadata_store)
    uri = _served[0] if _served else get_settings().store_uri
    return open_store(uri, project=project, location=location, metadata_store=metadata_store)
