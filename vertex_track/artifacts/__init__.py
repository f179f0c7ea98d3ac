"""Content-addressed artifact storage over fsspec, and the materializer registry.

::

    from vertex_track.artifacts import ArtifactStore, encode_inline

    store = ArtifactStore.for_root("s3://bucket/artifacts")
    stored = store.put(numpy_array)          # StoredValue(uri, digest, size, ...)
    store.load(stored.uri, stored.materializer)

Small JSON values are not written at all: :func:`encode_inline` gives their
digest and they are kept in the Artifact's metadata.
"""

from __future__ import annotations

from .cache import DigestCache
from .hashing import INLINE_MAX_BYTES, canonical_json, encode_inline
from .materializers import (
    DirectoryMaterializer,
    Materializer,
    MaterializerDeclined,
    TreeWriter,
    get_materializer,
    materializer_for,
    materializers_for,
    register_materializer,
    unregister_materializer,
)
from .store import ArtifactStore, StoredValue

__all__ = [
    "INLINE_MAX_BYTES",
    "ArtifactStore",
    "DigestCache",
    "DirectoryMaterializer",
    "Materializer",
    "MaterializerDeclined",
    "StoredValue",
    "TreeWriter",
    "canonical_json",
    "encode_inline",
    "get_materializer",
    "materializer_for",
    "materializers_for",
    "register_materializer",
    "unregister_materializer",
]
