"""Identity cache of stored values, so a value put twice is not serialised twice.

The same Python object is often put more than once in a run: a task's output
is also the next task's input. The cache remembers, by ``id()``, the
:class:`~vertex_track.artifacts.StoredValue` of objects that *cannot change*,
and nothing else. A stale digest would silently corrupt lineage, so
correctness wins over hit rate:

* Only objects that accept a weak reference are cached, and an entry holds a
  weak reference, never the object: the cache does not keep values alive and
  an ``id()`` reused by a new object is detected (``ref() is value``).
* Only values whose content is frozen are cached. Today that is a numpy array
  that is read-only *and* whose every base (the arrays and buffer it views) is
  read-only too; the data pointer, shape, strides and dtype are checked again
  on every hit. A writable array is never cached, because an in-place change
  (``x += 1``) keeps its identity and every cheap fingerprint. DataFrames,
  pyarrow tables (which may share a writable numpy buffer), files behind paths
  and arbitrary objects are mutable, so they are never cached either.
* numpy lets the owner of an array set ``writeable`` back to ``True``. Doing so
  after the array was stored, changing it and making it read-only again is not
  detected: treat a read-only array as frozen for good.
* Size is bounded: a least-recently-used map of ``maxsize`` entries (1024 by
  default) of a few hundred bytes each, whatever the values' sizes.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import StoredValue

__all__ = ["DigestCache", "frozen_fingerprint"]


def _numpy_fingerprint(array: Any) -> Hashable | None:
    import numpy as np

    if type(array) is not np.ndarray:
        return None  # a memmap's file can change under it
    node: Any = array
    while isinstance(node, np.ndarray):
        if node.flags.writeable:
            return None
        node = node.base
    # The chain ends at memory the array owns (node is None) or at a buffer
    # exporter; only an immutable bytes object is known not to change.
    if node is not None and type(node) is not bytes:
        return None
    interface = array.__array_interface__
    return ("numpy", interface["data"][0], array.shape, array.strides, array.dtype.str)


def frozen_fingerprint(value: Any) -> Hashable | None:
    """A fingerprint of ``value`` if its content cannot change, else ``None``."""
    if (type(value).__module__ or "").startswith("numpy"):
        return _numpy_fingerprint(value)
    return None


_instances: weakref.WeakSet[DigestCache] = weakref.WeakSet()


def _reset_locks_after_fork() -> None:
    # A lock held by another thread at fork time would never be released in
    # the child (dask and multiprocessing workers fork).
    for cache in list(_instances):
        cache._lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_locks_after_fork)


class DigestCache:
    """Bounded identity cache: (object, materializer name) -> StoredValue.

    Thread-safe. See the module docstring for what is cached and why.
    """

    def __init__(self, maxsize: int = 1024) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[
            tuple[int, str], tuple[weakref.ReferenceType[Any], Hashable, StoredValue]
        ] = OrderedDict()
        self._lock = threading.Lock()
        _instances.add(self)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, value: Any, materializer: str) -> StoredValue | None:
        """The StoredValue recorded for this very object, if it cannot have changed."""
        if not self._entries:
            return None
        key = (id(value), materializer)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            ref, fingerprint, stored = entry
            if ref() is not value or frozen_fingerprint(value) != fingerprint:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return stored

    def add(self, value: Any, materializer: str, stored: StoredValue) -> bool:
        """Remember ``stored`` for ``value``; returns whether it was cacheable."""
        fingerprint = frozen_fingerprint(value)
        if fingerprint is None:
            return False
        try:
            ref = weakref.ref(value)
        except TypeError:
            return False
        key = (id(value), materializer)
        with self._lock:
            self._entries[key] = (ref, fingerprint, stored)
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
        return True

    def discard_uri(self, uri: str) -> None:
        """Forget every entry stored at ``uri`` (after the object was deleted)."""
        with self._lock:
            for key in [k for k, e in self._entries.items() if e[2].uri == uri]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
