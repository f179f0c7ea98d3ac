"""Annotation markers: ``-> vt.Model`` or ``Annotated[X, vt.Model]`` set an artifact's schema.

The markers are plain classes; vertex_track only reads their ``schema_title``.
Subclass :class:`ArtifactType` for a schema of your own::

    class Tokenizer(vt.ArtifactType):
        schema_title = "acme.Tokenizer"
"""

from __future__ import annotations

import typing
from typing import Any

__all__ = ["ArtifactType", "Dataset", "Metrics", "Model", "schema_from_annotation"]


class ArtifactType:
    """Base of the annotation markers; ``schema_title`` names the Artifact schema."""

    schema_title = "system.Artifact"
    schema_version = "0.0.1"


class Dataset(ArtifactType):
    """Marks a value as a ``system.Dataset`` artifact."""

    schema_title = "system.Dataset"


class Model(ArtifactType):
    """Marks a value as a ``system.Model`` artifact."""

    schema_title = "system.Model"


class Metrics(ArtifactType):
    """Marks a value as a ``system.Metrics`` artifact."""

    schema_title = "system.Metrics"


def _marker(obj: Any) -> str | None:
    if isinstance(obj, type) and issubclass(obj, ArtifactType):
        return obj.schema_title
    if isinstance(obj, ArtifactType):
        return obj.schema_title
    return None


def schema_from_annotation(annotation: Any) -> str | None:
    """The schema title an annotation asks for, or None.

    Understands a marker class, ``Annotated[X, Marker]`` and string annotations
    naming a marker (``"vt.Model"``, from ``from __future__ import annotations``).
    """
    if annotation is None:
        return None
    title = _marker(annotation)
    if title:
        return title
    if isinstance(annotation, str):
        tail = annotation.rsplit(".", 1)[-1].strip("'\" ")
        marker = {"Dataset": Dataset, "Model": Model, "Metrics": Metrics}.get(tail)
        return marker.schema_title if marker else None
    if typing.get_origin(annotation) is typing.Annotated:
        for meta in typing.get_args(annotation)[1:]:
            title = _marker(meta)
            if title:
                return title
    return None
