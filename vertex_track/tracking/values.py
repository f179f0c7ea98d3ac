"""Python values <-> Artifacts: identity, inline vs stored, and ``Artifact.load()``.

Identity (SPEC section 11):
- a value written to the artifact store is the Artifact ``sha256-<digest>``:
  the same bytes are the same Artifact across the whole store;
- a small JSON value kept inline is identified by its digest *within its
  PipelineRun* (``inline-<sha256(run, digest)>``), so equal small values of
  unrelated runs never merge their lineage.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from typing import Any

from ..artifacts import ArtifactStore
from ..artifacts.hashing import encode_inline_text
from ..config import get_settings
from ..exceptions import InvalidArgumentError
from ..resources import Artifact
from ..store.base import ArtifactRow
from ..validation import json_text

SCALAR_TYPES = (bool, int, float, type(None))
MAX_PARAM_STR = 256
INLINE_SCHEMA = "system.Artifact"


def is_parameter(value: Any) -> bool:
    """Scalars recorded as Execution parameters instead of Artifacts."""
    t = type(value)
    if t in SCALAR_TYPES:
        return True
    return t is str and len(value) <= MAX_PARAM_STR


#: NaN and infinities are not JSON: a tracked parameter keeps them as these
#: strings, the mapping protobuf's JSON format uses for doubles (a filter
#: finds them with ``metadata.lr.string_value = "NaN"``).
NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def parameter_value(value: Any) -> Any:
    if type(value) is float and not math.isfinite(value):
        return NON_FINITE[repr(value)]
    return value


class _Produced:
    """Objects recorded as artifacts in this process: ``id(obj) -> (obj, resource_id)``.

    Lets a value that one task returned be recognised when the next task
    receives it, without hashing it again. Holds strong references to at
    most ``maxsize`` objects (LRU), so memory stays bounded.
    """

    def __init__(self, maxsize: int = 512) -> None:
        self._items: OrderedDict[int, tuple[Any, Any, str]] = OrderedDict()
        self._lock = threading.Lock()
        self.maxsize = maxsize

    def get(self, value: Any, scope: str) -> Any:
        with self._lock:
            hit = self._items.get(id(value))
            if hit is None or hit[0] is not value or (hit[2] and hit[2] != scope):
                return None
            self._items.move_to_end(id(value))
            return hit[1]

    def add(self, value: Any, resource_id: Any, scope: str) -> None:
        """Remember ``value`` (by identity) as recorded: a resource id, or for a
        returned dict/tuple the ``{key: resource_id}`` of its elements."""
        if is_parameter(value):
            return  # small ints/strings are shared objects: identity means nothing
        with self._lock:
            self._items[id(value)] = (value, resource_id, scope)
            self._items.move_to_end(id(value))
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


produced = _Produced()


def inline_resource_id(scope: str, digest: str) -> str:
    return "inline-" + hashlib.sha256(f"{scope}|{digest}".encode()).hexdigest()[:48]


def stored_resource_id(digest: str) -> str:
    return "sha256-" + digest.split(":", 1)[-1][:56]


def artifact_row(
    value: Any,
    *,
    label: str,
    scope: str,
    schema_title: str | None,
    now_us: int,
) -> ArtifactRow:
    """The (unsaved) artifact row that stands for ``value``; bytes are written if needed.

    Args:
        value: the Python value.
        label: argument name or output key (the Artifact's display name when new).
        scope: the PipelineRun context id (or the process session) scoping inline values.
        schema_title: from an annotation; else inferred.
        now_us: the creation time, in microseconds since the epoch.
    """
    inline = encode_inline_text(value)
    if inline is not None:
        digest, text = inline
        # {"value": <the canonical JSON already made for the digest>, "vertex_track": {...}}
        metadata_json = (
            '{"value":' + text + ',"vertex_track":{"digest":"' + digest
            + '","inline":true,"python_type":' + _type_json(type(value)) + "}}"
        )
        return (
            inline_resource_id(scope, digest), label[:128], schema_title or INLINE_SCHEMA,
            metadata_json, "", digest, now_us,
        )
    stored = ArtifactStore.for_root(get_settings().artifact_root).put(value)
    from ..artifacts import get_materializer

    metadata = {
        "vertex_track": {
            "digest": stored.digest,
            "materializer": stored.materializer,
            "materializer_version": stored.materializer_version,
            "size": stored.size,
            "python_type": _type_name(value),
        }
    }
    return (
        stored_resource_id(stored.digest), label[:128],
        schema_title or get_materializer(stored.materializer).schema_title,
        dumps(metadata), stored.uri,
        stored.digest, now_us,
    )


# JSON text of tracked metadata, checked like the API's (NUL, lone surrogates,
# NaN, the size limit): a value no backend can store fails the call that got it.
dumps = json_text

_type_json_cache: dict[type, str] = {}


def _type_json(t: type) -> str:
    """``_type_name`` of a value of type ``t`` as a JSON string (memoized per type)."""
    text = _type_json_cache.get(t)
    if text is None:
        text = dumps(_type_name_of(t))
        if len(_type_json_cache) < 1024:
            _type_json_cache[t] = text
    return text


def _type_name(value: Any) -> str:
    return _type_name_of(type(value))


def _type_name_of(t: type) -> str:
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def load_artifact_value(artifact: Artifact) -> Any:
    """Implementation of :meth:`Artifact.load`."""
    vt_meta = artifact.metadata.get("vertex_track")
    if isinstance(vt_meta, dict) and vt_meta.get("inline"):
        return artifact.metadata.get("value")
    if not isinstance(vt_meta, dict) or "materializer" not in vt_meta:
        raise InvalidArgumentError(
            f"artifact {artifact.name!r} (uri {artifact.uri!r}) was not written by "
            "vertex_track's materializers, so load() cannot read it; open its uri yourself "
            "(e.g. with fsspec.open)"
        )
    astore = ArtifactStore.for_root(get_settings().artifact_root)
    return astore.load(
        artifact.uri, vt_meta["materializer"], vt_meta.get("materializer_version")
    )
