"""``Artifact.load()``: the value an artifact record describes, read back through its materializer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from ..config import get_settings
from ..exceptions import InvalidArgumentError

__all__ = ["load_artifact_value"]


class RecordedArtifact(Protocol):
    """What loading reads of an Artifact: its resource name, ``uri`` and ``metadata``."""

    @property
    def name(self) -> str: ...

    @property
    def uri(self) -> str: ...

    @property
    def metadata(self) -> Mapping[str, Any]: ...


def load_artifact_value(
    artifact: RecordedArtifact, trust: bool = False, *, verify_digest: bool = True
) -> Any:
    """The value ``artifact`` records: inline in its metadata, or stored at its ``uri``.

    Stored values are read with the checks of :mod:`vertex_track.artifacts.safety` (location,
    recorded digest, materializers that run code); ``trust=True`` lifts the location rules.
    ``verify_digest=False`` skips only the re-hash of the stored bytes (for a caller that
    checks them its own way, like the result cache's ``verify="exists"``): a file changed
    in place without changing its name then loads as it now is.

    Raises:
        InvalidArgumentError: the artifact was not written by vertex_track's materializers.
        UntrustedArtifactError: the stored value is outside the roots it may be read from.
        ArtifactIntegrityError: the stored bytes do not match the recorded digest.
        NotFoundError: nothing is stored at the artifact's ``uri``.
    """
    vt_meta = artifact.metadata.get("vertex_track")
    if isinstance(vt_meta, dict) and vt_meta.get("inline"):
        return artifact.metadata.get("value")
    if not isinstance(vt_meta, dict) or "materializer" not in vt_meta:
        raise InvalidArgumentError(
            f"artifact {artifact.name!r} (uri {artifact.uri!r}) was not written by "
            "vertex_track's materializers, so load() cannot read it; open its uri yourself "
            "(e.g. with fsspec.open)"
        )
    from .safety import load_recorded

    return load_recorded(
        artifact.uri, vt_meta["materializer"], vt_meta.get("materializer_version"),
        digest=vt_meta.get("digest"), what=f"artifact {artifact.name!r}",
        root=get_settings().artifact_root, trust=trust, verify_digest=verify_digest,
    )
