"""Content digests of Python values: equal contents give equal digests, in any process.

:func:`content_digest` is what a cache key is built from. Unlike the digest of
an Artifact (the SHA-256 of the bytes its materializer wrote, which may depend
on how a value happens to be laid out in memory), it is defined over the
value's content:

* ``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes``: type and value;
* numpy arrays: dtype, shape and the bytes in C order (a Fortran-ordered or
  strided view of the same numbers has the same digest); arrays of Python
  objects element by element;
* pandas DataFrames and Series: column names, dtypes, index and values, column
  by column, so the internal block layout does not matter;
* dicts, sets and frozensets: their items whatever the insertion order; lists
  and tuples: their items in order (a list and a tuple differ);
* dataclass instances and pydantic models: type name and fields;
* paths (:class:`pathlib.PurePath`): a file by its bytes, a folder by its
  files' relative paths and bytes (as the ``path.dir`` materializer), a path
  that does not exist by its text;
* anything else: the bytes of the materializer vertex_track would store it
  with. When that materializer is pickle, equal values may pickle differently
  (sets of strings, objects holding dicts built in another order), so a
  :class:`~vertex_track.exceptions.TrackingWarning` says the digest may not be
  stable; pass ``ignore=[...]`` or a ``version`` to the cached task, or
  register a materializer for the type.

Containers are hashed over their items' digests (a Merkle tree), so an item
whose digest is already known is not hashed again (see ``known``).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import os
import struct
import warnings
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any

from ..exceptions import TrackingWarning
from .hashing import DIGEST_PREFIX, HashingWriter, hash_stream, tree_manifest

__all__ = ["content_digest"]

Known = Callable[[Any], "str | None"]

_SCALARS = (bool, int, float, str, type(None))
_warned: set[str] = set()


def content_digest(value: Any, known: Known | None = None) -> str:
    """The content digest (``"sha256:<hex>"``) of ``value`` (rules in the module docstring).

    Args:
        value: any Python value.
        known: looks up the digest of an item already hashed (by identity),
            or returns None; consulted for every non-scalar item of a container.

    Raises:
        Exception: what the fallback materializer raises for a value it cannot
            serialise (an open socket, a lock).
    """
    return DIGEST_PREFIX + _digest(value, known).hex()


def _digest(value: Any, known: Known | None) -> bytes:
    if known is not None and type(value) not in _SCALARS:
        hit = known(value)
        if hit is not None:
            return bytes.fromhex(hit[len(DIGEST_PREFIX):])
    h = hashlib.sha256()
    _feed(h, value, known)
    return h.digest()


def _tag(h: Any, tag: str, *parts: bytes) -> None:
    h.update(tag.encode() + b"\0")
    for part in parts:
        h.update(struct.pack("<Q", len(part)))
        h.update(part)


def _type_name(value: Any) -> str:
    t = type(value)
    return f"{t.__module__}.{t.__qualname__}"


def _feed(h: Any, value: Any, known: Known | None) -> None:
    t = type(value)
    if value is None:
        _tag(h, "none")
    elif t is bool:
        _tag(h, "bool", b"1" if value else b"0")
    elif t is int:
        _tag(h, "int", str(value).encode())
    elif t is float:
        _tag(h, "float", float.hex(value).encode())
    elif t is str:
        _tag(h, "str", value.encode("utf-8", "surrogatepass"))
    elif t in (bytes, bytearray) or t is memoryview:
        _tag(h, "bytes", bytes(value))
    elif t is list or t is tuple:
        _tag(h, t.__name__, str(len(value)).encode())
        for item in value:
            h.update(_digest(item, known))
    elif t is dict:
        pairs = sorted(_digest(k, known) + _digest(v, known) for k, v in value.items())
        _tag(h, "dict", str(len(pairs)).encode())
        for pair in pairs:
            h.update(pair)
    elif t is set or t is frozenset:
        items = sorted(_digest(item, known) for item in value)
        _tag(h, t.__name__, str(len(items)).encode())
        for item in items:
            h.update(item)
    elif isinstance(value, enum.Enum):
        _tag(h, "enum", _type_name(value).encode(), _digest(value.value, known))
    elif isinstance(value, PurePath):
        _feed_path(h, value)
    elif _feed_library(h, value, known):
        pass
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        _tag(h, "dataclass", _type_name(value).encode())
        for f in dataclasses.fields(value):
            h.update(_digest(f.name, None) + _digest(getattr(value, f.name), known))
    elif _is_pydantic(value):
        _tag(h, "pydantic", _type_name(value).encode())
        for name in type(value).model_fields:
            h.update(_digest(name, None) + _digest(getattr(value, name), known))
    else:
        _feed_materialized(h, value)


def _feed_library(h: Any, value: Any, known: Known | None) -> bool:
    """numpy and pandas values (their modules are imported only for their values)."""
    module = type(value).__module__
    if module.startswith("numpy"):
        return _feed_numpy(h, value, known)
    if module.startswith("pandas"):
        return _feed_pandas(h, value, known)
    return False


def _is_pydantic(value: Any) -> bool:
    fields = getattr(type(value), "model_fields", None)
    return isinstance(fields, dict) and hasattr(value, "model_dump")


def _feed_path(h: Any, path: PurePath) -> None:
    if os.path.isfile(path):
        with open(path, "rb") as f:
            hexdigest, _size = hash_stream(f)
        _tag(h, "file", bytes.fromhex(hexdigest))
    elif os.path.isdir(path):
        from .base import iter_tree

        entries = []
        for rel, file in iter_tree(Path(path)):
            with open(file, "rb") as f:
                hexdigest, size = hash_stream(f)
            entries.append((rel, hexdigest, size))
        _tag(h, "tree", tree_manifest(entries))
    else:
        _tag(h, "path", str(path).encode("utf-8", "surrogatepass"))


def _feed_numpy(h: Any, value: Any, known: Known | None) -> bool:
    import numpy as np

    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            _tag(h, "ndarray-object", str(value.shape).encode())
            for item in value.ravel(order="C"):
                h.update(_digest(item, known))
            return True
        _tag(h, "ndarray", value.dtype.str.encode(), str(value.shape).encode())
        data = np.ascontiguousarray(value)  # a copy only for non-C-contiguous views
        if data.dtype.fields is not None or data.dtype.subdtype is not None:
            h.update(data.tobytes())
        else:
            h.update(memoryview(data.reshape(-1)).cast("B"))  # type: ignore[arg-type]
        return True
    if isinstance(value, np.generic) and not value.dtype.hasobject:
        _tag(h, "npscalar", value.dtype.str.encode(), value.tobytes())
        return True
    return False


def _feed_pandas(h: Any, value: Any, known: Known | None) -> bool:
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        _tag(h, "dataframe", str(value.shape).encode())
        h.update(_index_digest(value.columns))
        h.update(_index_digest(value.index))
        for i in range(value.shape[1]):
            h.update(_column_digest(value.iloc[:, i]))
        return True
    if isinstance(value, pd.Series):
        _tag(h, "series", _digest(value.name, None))
        h.update(_index_digest(value.index))
        h.update(_column_digest(value))
        return True
    if isinstance(value, pd.Index):
        h.update(_index_digest(value))
        return True
    return False


def _column_digest(column: Any) -> bytes:
    """Digest of one Series' dtype and values (its index and name left out)."""
    import numpy as np
    import pandas as pd

    h = hashlib.sha256()
    dtype = column.dtype
    _tag(h, "column", str(dtype).encode())
    if isinstance(dtype, np.dtype) and dtype.kind in "biufcmM":
        _feed_numpy(h, column.to_numpy(), None)
    else:  # object, strings, categoricals, extension types: pandas' stable row hashes
        rows = pd.util.hash_pandas_object(column, index=False, categorize=False)
        _feed_numpy(h, rows.to_numpy(), None)
    return h.digest()


def _index_digest(index: Any) -> bytes:
    import pandas as pd

    h = hashlib.sha256()
    if isinstance(index, pd.RangeIndex):
        _tag(h, "range", str((index.start, index.stop, index.step, index.name)).encode())
        return h.digest()
    _tag(h, "index", str(list(index.names)).encode())
    h.update(_column_digest(index.to_series(index=pd.RangeIndex(len(index)))))
    return h.digest()


class _Discard:
    """A sink that keeps nothing: the fallback only needs the bytes' hash."""

    def write(self, data: Any) -> int:
        return len(data)


def _feed_materialized(h: Any, value: Any) -> None:
    from .materializers import MaterializerDeclined, materializers_for

    for m in materializers_for(value):
        if m.is_directory:
            continue
        writer = HashingWriter(_Discard())  # type: ignore[arg-type]
        try:
            m.write(value, writer)
        except MaterializerDeclined:
            writer.abort()
            continue
        hexdigest, _size = writer.finish()
        if m.runs_code:
            _warn_unstable(value, m.name)
        _tag(h, "materialized", m.name.encode(), bytes.fromhex(hexdigest))
        return
    raise TypeError(f"no materializer can serialise a {_type_name(value)} to digest it")


def _warn_unstable(value: Any, materializer: str) -> None:
    name = _type_name(value)
    if name in _warned:
        return
    _warned.add(name)
    warnings.warn(
        f"a {name} has no content digest of its own, so its cache key uses its "
        f"{materializer} bytes, which may differ for equal values (a cache miss, or "
        "in rare cases a stale hit if the type pickles only part of its state). Give the "
        "task a version=..., leave the argument out with ignore=[...], or register a "
        "materializer for the type (vt.register_materializer)",
        TrackingWarning,
        stacklevel=5,
    )
