"""The OpenLineage client, configured its own way, and sending event dicts with it.

:func:`make_sender` reads the client's configuration (``OpenLineageClient()``:
``openlineage.yml``, ``OPENLINEAGE__...``, ``OPENLINEAGE_URL``) and returns
the cheapest way to send that gives the same result:

- the client's full ``emit`` when its configuration adds something to events
  (event filters, tags, environment-variable or source-code facets, dataset
  reducing);
- else the configured transport's own ``emit`` (it serializes and sends);
- else, for the ``file`` transport in append mode on a local path, the JSON
  lines written directly, a batch at a time, exactly as the transport writes
  them (keys sorted, one event per line).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from typing import Any

from ..exceptions import InvalidArgumentError


def make_client() -> Any:
    """``OpenLineageClient()``: it reads ``openlineage.yml`` (``OPENLINEAGE_CONFIG``, the
    working directory, ``~/.openlineage``), ``OPENLINEAGE__TRANSPORT__...`` and
    ``OPENLINEAGE_URL``, so every transport it offers works.

    Raises:
        InvalidArgumentError: the ``openlineage-python`` package is not installed.
    """
    try:
        from openlineage.client import OpenLineageClient
    except ImportError as exc:
        raise InvalidArgumentError(
            "sending OpenLineage events needs the openlineage-python package: "
            "pip install 'vertex-track[openlineage]'"
        ) from exc
    return OpenLineageClient()


def to_client_event(event: dict[str, Any]) -> Any:
    """The client's ``RunEvent`` for an event dict (facets stay dicts: serialized as they are)."""
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent
    from openlineage.client.generated.base import EventType

    return RunEvent(
        eventType=EventType(event["eventType"]), eventTime=event["eventTime"],
        run=Run(runId=event["run"]["runId"], facets=dict(event["run"].get("facets") or {})),
        job=Job(namespace=event["job"]["namespace"], name=event["job"]["name"],
                facets=dict(event["job"].get("facets") or {})),
        inputs=[InputDataset(namespace=d["namespace"], name=d["name"],
                             facets=dict(d.get("facets") or {})) for d in event["inputs"]],
        outputs=[OutputDataset(namespace=d["namespace"], name=d["name"],
                               facets=dict(d.get("facets") or {})) for d in event["outputs"]],
        producer=event["producer"],
    )


def emit(client: Any, event: dict[str, Any]) -> None:
    """Send one event dict through ``client.emit`` (raises what its transport raises)."""
    client.emit(to_client_event(event))


def _adds_to_events(client: Any) -> bool:
    """Whether the client's configuration changes events on their way (see module docs)."""
    cfg = client.config
    return bool(
        getattr(client, "_filters", None) or cfg.facets.environment_variables
        or not cfg.facets.source_code_location.disabled or cfg.tags.job or cfg.tags.run
        or cfg.dataset.reducing_enabled
    )


class Sender:
    """Sends event dicts the configured way; ``send_many`` sends a batch in order."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._path: str | None = None
        self._full = _adds_to_events(client)
        if not self._full:
            self._path = _plain_file_path(client.transport)
        self._lock = threading.Lock()

    @property
    def batched(self) -> bool:
        """Whether a batch is written at once (the plain ``file`` transport)."""
        return self._path is not None

    def __call__(self, event: dict[str, Any]) -> None:
        self.send_many([event])

    def send_many(self, events: Sequence[dict[str, Any]]) -> None:
        """Send ``events`` in order (raises on the first that fails; the ones before it are sent)."""
        if not events:
            return
        if self._path is not None:
            text = "".join(json.dumps(e, sort_keys=True) + "\n" for e in events)
            with self._lock, open(self._path, "a", encoding="utf-8") as f:
                f.write(text)
            return
        for event in events:
            if self._full:
                self.client.emit(to_client_event(event))
            else:
                self.client.transport.emit(to_client_event(event))


def _plain_file_path(transport: Any) -> str | None:
    """The local file the ``file`` transport appends to, if it is that simple."""
    try:
        from openlineage.client.transport.file import FileTransport
    except ImportError:
        return None
    if not isinstance(transport, FileTransport):
        return None
    cfg = transport.config
    path = str(cfg.log_file_path)
    if not cfg.append or cfg.debug_mode or getattr(cfg, "filesystem", None) or (
        getattr(cfg, "storage_options", None)) or "://" in path:
        return None
    return os.path.expanduser(path)


def make_sender() -> Sender:
    """A :class:`Sender` for the configured client (see :func:`make_client`)."""
    return Sender(make_client())
