"""The OpenLineage client, configured its own way, and sending one event dict with it."""

from __future__ import annotations

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
    """Send one event dict through ``client`` (raises what its transport raises)."""
    client.emit(to_client_event(event))
