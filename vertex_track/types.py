"""Leaf types shared by every layer: resource states, event types, events, and
the classes the store builds for each kind of resource.

The store sits below the user-facing resource classes
(:mod:`vertex_track.resources`), so it cannot import them; it builds the class
registered here for a kind instead (``resources`` registers ``Artifact``,
``Execution`` and ``Context`` when it is imported).
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "KINDS", "ArtifactState", "Event", "EventType", "ExecutionState",
    "register_resource_class", "resource_class",
]

#: The kinds of resource, as they appear in resource names.
KINDS = ("artifacts", "executions", "contexts")


class _StrEnum(str, Enum):
    def __str__(self) -> str:
        return self.value


class ArtifactState(_StrEnum):
    """State of an Artifact (Vertex's ``Artifact.State``)."""

    PENDING = "PENDING"
    LIVE = "LIVE"


class ExecutionState(_StrEnum):
    """State of an Execution (Vertex's ``Execution.State``)."""

    NEW = "NEW"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"
    CACHED = "CACHED"
    CANCELLED = "CANCELLED"


class EventType(_StrEnum):
    """Direction of an Event: the artifact was an INPUT or an OUTPUT of the execution."""

    INPUT = "INPUT"
    OUTPUT = "OUTPUT"


class Event(BaseModel):
    """A link between an artifact and an execution: it was an INPUT or an OUTPUT.

    ``labels`` carry the argument name or output key under ``"name"``
    (e.g. ``{"name": "data"}``, ``{"name": "output.0"}``); :attr:`label` reads it.
    """

    model_config = ConfigDict(extra="forbid", defer_build=True)

    artifact: str
    execution: str
    event_time: dt.datetime
    type: EventType
    labels: dict[str, str] = Field(default_factory=dict)

    @property
    def label(self) -> str | None:
        """The argument name or output key this event stands for."""
        return self.labels.get("name")


_CLASSES: dict[str, Any] = {}


def register_resource_class(cls: Any) -> Any:
    """Make ``cls`` (with a ``kind`` class attribute) the class built for its kind."""
    if cls.kind not in KINDS:
        raise ValueError(f"unknown resource kind {cls.kind!r}; expected one of {KINDS}")
    _CLASSES[cls.kind] = cls
    return cls


def resource_class(kind: str) -> Any:
    """The class registered for ``kind`` ("artifacts", "executions" or "contexts").

    Raises:
        KeyError: nothing is registered for ``kind`` (``vertex_track.resources``
            was not imported).
    """
    try:
        return _CLASSES[kind]
    except KeyError:
        raise KeyError(
            f"no resource class is registered for {kind!r}: import vertex_track first"
        ) from None
