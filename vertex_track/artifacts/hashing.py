"""Hashing while writing, canonical JSON, inline encoding and folder manifests.

Everything the artifact store knows about a value's identity comes from here:

* :class:`HashingWriter` wraps a writable binary file and updates a SHA-256 and a
  byte count on every write, so serialising a value and computing its digest is
  one pass over the bytes.
* :func:`canonical_json` is the one JSON encoding used for digests, so the same
  value has the same digest whether it is kept inline or written to a file.
* :func:`encode_inline` decides whether a value is "small JSON".
* :func:`tree_manifest` turns a folder's files into the bytes whose hash is the
  folder's digest.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

from .._json import CANONICAL, NOT_JSON_ERRORS, encode_str

__all__ = [
    "CHUNK_SIZE",
    "DIGEST_PREFIX",
    "INLINE_MAX_BYTES",
    "HashingWriter",
    "canonical_json",
    "encode_inline",
    "encode_inline_text",
    "hash_stream",
    "is_jsonable",
    "tree_manifest",
]

#: Size of the writes handed to the underlying file, and of reads when re-hashing.
CHUNK_SIZE = 8 * 1024 * 1024
#: Largest canonical JSON encoding (in bytes) kept inline in an Artifact's metadata.
INLINE_MAX_BYTES = 4096
DIGEST_PREFIX = "sha256:"

# Below this size, handing the hash to another thread costs more than it saves.
_PARALLEL_MIN = 1024 * 1024



# -- hashing while writing ---------------------------------------------------------

_executor: ThreadPoolExecutor | None = None
_executor_pid = 0
_executor_lock = threading.Lock()


def _reset_after_fork() -> None:
    # Worker threads do not survive fork and the lock may have been held by a
    # thread that no longer exists: start from scratch in the child.
    global _executor, _executor_pid, _executor_lock
    _executor, _executor_pid, _executor_lock = None, 0, threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


def _hash_executor() -> ThreadPoolExecutor:
    global _executor, _executor_pid
    pid = os.getpid()
    if _executor is None or _executor_pid != pid:
        with _executor_lock:
            if _executor is None or _executor_pid != pid:
                workers = max(1, min(4, os.cpu_count() or 1))
                _executor = ThreadPoolExecutor(workers, thread_name_prefix="vertex-track-hash")
                _executor_pid = pid
    return _executor


def _byte_view(data: Any) -> memoryview:
    view = data if isinstance(data, memoryview) else memoryview(data)
    if view.format == "B" and view.ndim == 1:
        return view
    if view.c_contiguous:
        return view.cast("B")
    return memoryview(view.tobytes())


class HashingWriter(io.BufferedIOBase):
    """A write-only binary file that hashes (SHA-256) and counts what goes through it.

    Small writes are gathered into chunks of ``chunk_size`` bytes; a write at
    least that large goes straight through without a copy. For large chunks the
    hash runs on a worker thread while the calling thread writes the same memory
    to the file (both release the GIL), so hashing costs little wall time.

    The writer never closes ``raw``: its owner does, after :meth:`finish`.
    Closing the writer flushes it, so a library that closes the file object it
    was given loses nothing.
    """

    def __init__(self, raw: IO[bytes], chunk_size: int = CHUNK_SIZE) -> None:
        super().__init__()
        self._raw = raw
        self._chunk_size = chunk_size
        self._sha = hashlib.sha256()
        self._buf = bytearray()
        self._size = 0
        self._detached = False  # set once raw must not be touched again

    # -- the file protocol ---------------------------------------------------------
    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._size + len(self._buf)

    def write(self, data: Any) -> int:  # type: ignore[override]
        if self.closed:
            raise ValueError("write to a closed HashingWriter")
        view = _byte_view(data)
        n = len(view)
        if n >= self._chunk_size:
            self._drain()
            self._emit(view)
        elif n:
            if len(self._buf) + n > self._chunk_size:
                self._drain()
            self._buf += view
        return n

    def flush(self) -> None:
        if not self._detached:
            self._drain()
            flush = getattr(self._raw, "flush", None)
            if flush is not None:
                flush()

    # -- results ----------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Bytes written so far, buffered ones included."""
        return self.tell()

    def finish(self) -> tuple[str, int]:
        """Flush everything to ``raw``, close the writer, return ``(hex_digest, size)``."""
        self.flush()
        self._detached = True
        self.close()
        return self._sha.hexdigest(), self._size

    def abort(self) -> None:
        """Drop buffered bytes and close without touching ``raw`` again."""
        self._detached = True
        self._buf = bytearray()
        self.close()

    # -- internals ---------------------------------------------------------------------
    def _drain(self) -> None:
        if self._buf:
            buf, self._buf = self._buf, bytearray()
            with memoryview(buf) as view:
                self._emit(view)

    def _emit(self, view: memoryview) -> None:
        if len(view) >= _PARALLEL_MIN:
            try:
                pending = _hash_executor().submit(self._sha.update, view)
            except RuntimeError:  # interpreter shutting down: no new threads
                pending = None
                self._sha.update(view)
            try:
                self._write_all(view)
            finally:
                # The caller may reuse its buffer once write() returns, so the
                # worker must be done with it before we return, even on error.
                if pending is not None:
                    pending.result()
        else:
            self._sha.update(view)
            self._write_all(view)
        self._size += len(view)

    def _write_all(self, view: memoryview) -> None:
        while view:
            written = self._raw.write(view)
            if written is None or written >= len(view):
                return
            view = view[written:]


def hash_stream(fileobj: IO[bytes], chunk_size: int = CHUNK_SIZE) -> tuple[str, int]:
    """SHA-256 hex digest and size of everything left in a readable binary file."""
    sha = hashlib.sha256()
    size = 0
    readinto = getattr(fileobj, "readinto", None)
    if readinto is not None:
        buf = bytearray(chunk_size)
        with memoryview(buf) as view:
            while True:
                n = readinto(view)
                if not n:
                    break
                sha.update(view[:n])
                size += n
    else:
        while chunk := fileobj.read(chunk_size):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size


# -- JSON ------------------------------------------------------------------------------


class _TooBig(Exception):
    pass


class _NotJson(Exception):
    pass


def canonical_json(value: Any) -> bytes:
    """The canonical UTF-8 JSON encoding: sorted keys, no spaces, no NaN.

    Raises:
        ValueError, TypeError, UnicodeEncodeError: the value is not JSON.
    """
    return CANONICAL.encode(value).encode("utf-8")


def _walk(value: Any, active: set[int], budget: list[int] | None) -> None:
    """Raise _NotJson unless ``value`` round-trips exactly through JSON.

    Exact types only: a tuple comes back as a list and an ``IntEnum`` or
    ``numpy.float64`` as a plain number, so they are not "JSON" here. With a
    ``budget`` (a one-item list of bytes left), raise _TooBig as soon as a lower
    bound of the encoded size exceeds it, so a huge list is rejected early.
    """
    t = type(value)
    if t is str:
        cost = len(value) + 2
    elif t is int or t is bool or value is None:
        cost = 1
    elif t is float:
        if not math.isfinite(value):
            raise _NotJson
        cost = 1
    elif t is list or t is dict:
        key = id(value)
        if key in active:
            raise _NotJson  # a cycle
        active.add(key)
        if t is dict:
            for k, item in value.items():
                if type(k) is not str:
                    raise _NotJson
                ti = type(item)
                if budget is not None:
                    budget[0] -= len(k) + 3
                if ti is int or ti is bool or item is None or (ti is float and math.isfinite(item)):  # the common leaves, inline
                    if budget is not None:
                        budget[0] -= 1
                else:
                    _walk(item, active, budget)
        else:
            for item in value:
                ti = type(item)
                if ti is float:
                    if not math.isfinite(item):
                        raise _NotJson
                elif not (ti is int or ti is bool or item is None):
                    _walk(item, active, budget)
                    continue
                if budget is not None:
                    budget[0] -= 2
                    if budget[0] < 0:
                        raise _TooBig
        active.discard(key)
        cost = 2
    else:
        raise _NotJson
    if budget is not None:
        budget[0] -= cost
        if budget[0] < 0:
            raise _TooBig


def is_jsonable(value: Any) -> bool:
    """Whether ``value`` is JSON that loads back equal and of the same types.

    Accepts dict (str keys), list, str, int, float (finite), bool and None,
    nested; rejects tuples, subclasses and cycles. It does not check that
    strings are valid Unicode (lone surrogates); encoding such a value fails
    later with ``UnicodeEncodeError``.
    """
    try:
        _walk(value, set(), None)
    except (_NotJson, RecursionError):
        return False
    return True


def encode_inline(value: Any) -> tuple[str, Any] | None:
    """Return ``(digest, value)`` when ``value`` is small JSON, else ``None``.

    "Small JSON" means :func:`is_jsonable` and a canonical encoding of at most
    :data:`INLINE_MAX_BYTES` bytes. The digest is ``"sha256:<hex>"`` of that
    encoding, the same digest the value has once written to the artifact store
    by the ``json`` materializer. The value is returned as given, not copied.
    """
    encoded = encode_inline_text(value)
    return None if encoded is None else (encoded[0], value)


def encode_inline_text(value: Any) -> tuple[str, str] | None:
    """Like :func:`encode_inline`, returning ``(digest, canonical JSON text)``.

    This runs on every tracked value, so scalars take a short path that never
    builds an encoder, and the text is returned so the caller need not encode
    the value a second time.
    """
    t = type(value)
    try:
        if t is str:
            if len(value) > INLINE_MAX_BYTES:  # UTF-8 never has fewer bytes than chars
                return None
            text = encode_str(value)
        elif t is bool:
            text = "true" if value else "false"
        elif value is None:
            text = "null"
        elif t is int:
            text = int.__repr__(value)
        elif t is float:
            if not math.isfinite(value):
                return None
            text = float.__repr__(value)
        elif t is dict or t is list:
            try:
                _walk(value, set(), [INLINE_MAX_BYTES])
            except (_NotJson, _TooBig):
                return None
            text = CANONICAL.encode(value)
        else:
            return None
        data = text.encode("utf-8")
    except NOT_JSON_ERRORS:  # huge ints, lone surrogates, deep nesting
        return None
    if len(data) > INLINE_MAX_BYTES:
        return None
    return DIGEST_PREFIX + hashlib.sha256(data).hexdigest(), text


# -- folders ---------------------------------------------------------------------------

_TREE_FORMAT = "vertex_track.tree/1"


def tree_manifest(entries: Iterable[tuple[str, str, int]]) -> bytes:
    """Canonical manifest of a folder from ``(relative_path, sha256_hex, size)`` entries.

    The folder's digest is the SHA-256 of these bytes: it depends only on the
    relative paths (``/``-separated) and the files' contents, not on file
    times, permissions or the order the files were written in.
    """
    files = sorted([path, hexdigest, size] for path, hexdigest, size in entries)
    return canonical_json({"files": files, "format": _TREE_FORMAT})
