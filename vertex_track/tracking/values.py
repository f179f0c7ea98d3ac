"""Python values <-> Artifacts: identity, inline vs stored, and ``Artifact.load()``.

Identity:
- a value written to the artifact store is the Artifact ``sha256-<digest>``:
  the same bytes are the same Artifact across the whole store;
- a small JSON value kept inline is never shared between producers: a task's
  output is ``inline-<sha256(execution, digest)>`` (equal small values that two
  task runs returned are two Artifacts), and a literal argument is identified
  within its PipelineRun (``inline-<sha256(run, digest)>``), so equal small
  values never invent an edge between tasks that did not exchange data.
"""

from __future__ import annotations

import hashlib
import io
import math
import socket
import threading
import types
from collections import OrderedDict
from typing import Any

from ..artifacts import ArtifactStore
from ..artifacts.hashing import encode_inline_text
from ..config import get_settings
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


def placeholder(value: Any, error: BaseException) -> dict[str, Any]:
    """What the Execution's metadata says about an argument that could not be recorded."""
    return {
        "python_type": _type_name(value), "recorded": False,
        "reason": f"{type(error).__name__}: {error}"[:500],
    }


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

    def get(self, value: Any, scopes: tuple[str, ...] | None) -> Any:
        """What ``value`` was recorded as, if recorded in one of ``scopes`` (any if None)."""
        with self._lock:
            hit = self._items.get(id(value))
            if hit is None or hit[0] is not value:
                return None
            if scopes is not None and hit[2] and hit[2] not in scopes:
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


def unstorable_placeholder(value: Any) -> dict[str, Any] | None:
    """A typed stand-in for a value that must not be read or pickled, else None.

    An open file would be read whole by pickle (and its content is not the
    argument: the file is), a socket, a lock, a thread or a generator cannot
    be stored at all. They are recorded as ``{"type": ..., ...}`` (the file's
    ``name`` and ``mode``, a generator's function name) kept inline, without
    touching the object. In-memory buffers (``io.BytesIO``, ``io.StringIO``)
    are data and are stored as usual.
    """
    t = type(value)
    if t in SCALAR_TYPES or t is str or t is dict or t is list or t is tuple or t is bytes:
        return None  # the common cases, without further checks
    kind = _type_name_of(t)
    if isinstance(value, io.IOBase) and not isinstance(value, (io.BytesIO, io.StringIO)):
        out: dict[str, Any] = {"type": kind}
        for attr in ("name", "mode"):
            v = getattr(value, attr, None)
            if isinstance(v, (str, int)):
                out[attr] = v
        out["closed"] = bool(getattr(value, "closed", False))
        return out
    wrapped = getattr(value, "file", None)  # tempfile.NamedTemporaryFile's wrapper
    if isinstance(wrapped, io.IOBase) and hasattr(value, "name"):
        return {"type": kind, "name": str(value.name)}
    if isinstance(value, socket.socket):
        return {"type": kind, "family": str(value.family.name), "fileno": value.fileno()}
    if isinstance(value, (types.GeneratorType, types.AsyncGeneratorType, types.CoroutineType)):
        return {"type": kind, "name": value.__qualname__}
    if isinstance(value, (threading.Thread, _LOCK_TYPES)):
        return {"type": kind}
    return None


_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))


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
    placeholder = unstorable_placeholder(value)
    if placeholder is not None:
        digest, text = encode_inline_text(placeholder)  # type: ignore[misc]
        metadata_json = (
            '{"value":' + text + ',"vertex_track":{"digest":"' + digest
            + '","inline":true,"placeholder":true,"python_type":' + _type_json(type(value))
            + "}}"
        )
        return (
            inline_resource_id(scope, digest), label[:128], schema_title or INLINE_SCHEMA,
            metadata_json, "", digest, now_us,
        )
    stored = ArtifactStore.for_root(get_settings().artifact_root).put(value)
    from ..artifacts import get_materializer

    materializer = get_materializer(stored.materializer)
    metadata = {
        # rows/shape/columns/dtypes of tables and arrays, for filters
        **_described(materializer, value),
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
        schema_title or materializer.schema_title,
        dumps(metadata), stored.uri,
        stored.digest, now_us,
    )


def _described(materializer: Any, value: Any) -> dict[str, Any]:
    """``materializer.describe(value)``; a user materializer's failure there costs the
    description only, never the record."""
    try:
        facts = materializer.describe(value)
    except Exception:
        return {}
    return {k: v for k, v in facts.items() if k != "vertex_track"} if isinstance(
        facts, dict) else {}


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
