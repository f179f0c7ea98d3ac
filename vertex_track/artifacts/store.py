"""The content-addressed artifact store over any fsspec filesystem.

A value is serialised by a materializer into ``<root>/sha256/<2 hex>/<hex><ext>``,
where ``<hex>`` is the SHA-256 of the bytes (of the manifest, for a folder). The
same content is therefore one object, written once; objects never change after
they are written, and a half-written object is never visible at its final URI
(see :mod:`vertex_track.artifacts.backends` for how, per filesystem).

The encoding (materializer name and version) is not written next to the bytes:
the caller records it in the Artifact's metadata, from :class:`StoredValue`.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from ..exceptions import InvalidArgumentError, NotFoundError
from .backends import Backend, LocalBackend
from .cache import DigestCache
from .fsspec_backend import FsspecBackend
from .hashing import DIGEST_PREFIX
from .materializers import (
    Materializer,
    MaterializerDeclined,
    get_materializer,
    materializers_for,
)

__all__ = ["ArtifactStore", "StoredValue"]

_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}\Z")
# Any store object's URI names its store: "<root>/sha256/<2 hex>/<64 hex>[ext]".
_OBJECT_URI_RE = re.compile(r"(?P<root>.*)/sha256/[0-9a-f]{2}/[0-9a-f]{64}[^/]*\Z")


@dataclass(frozen=True)
class StoredValue:
    """Where and how a value was stored.

    Attributes:
        uri: protocol-qualified URI of the object (``file:///...``,
            ``s3://...``); a folder's URI has no trailing slash.
        digest: ``"sha256:<hex>"`` of the stored bytes (of the manifest for a
            folder): the value's identity.
        size: bytes stored (the sum of the files' sizes for a folder).
        materializer: name of the materializer that wrote it.
        materializer_version: that materializer's encoding version.
        extension: the object's file name suffix (``""`` for folders).
    """

    uri: str
    digest: str
    size: int
    materializer: str
    materializer_version: int
    extension: str


_stores: dict[str, ArtifactStore] = {}
#: Roots this process has written objects to (``Artifact.load()`` trusts them).
WRITTEN_ROOTS: set[str] = set()
_stores_lock = threading.Lock()


def _reset_after_fork() -> None:
    # Remote filesystems (s3fs, gcsfs) are not fork-safe: a child builds its
    # own stores, and fsspec its own filesystem instances. Local and memory://
    # data is unaffected (memory:// lives in a class-level dict).
    global _stores_lock
    _stores_lock = threading.Lock()
    _stores.clear()


os.register_at_fork(after_in_child=_reset_after_fork)


class ArtifactStore:
    """Content-addressed storage of Python values under an fsspec root.

    Prefer :meth:`for_root`, which shares one store (and one filesystem
    object) per root in the process. All methods are thread-safe, and several
    processes may write to one root at once.

    Args:
        root: local folder or fsspec URL (``file://``, ``memory://``,
            ``s3://bucket/prefix``, ``gs://...``).
        cache_dir: local folder for copies of remote files and folders that
            :meth:`load` returns as paths. Default
            ``$VERTEX_TRACK_HOME/cache/artifacts``.

    Attributes:
        root_uri: the root as a protocol-qualified URI.
        fs: the fsspec filesystem.
        digest_cache: the :class:`~vertex_track.artifacts.cache.DigestCache`
            that spares re-serialising a frozen value put again.
    """

    def __init__(
        self, root: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None
    ):
        try:
            fs, path = fsspec.core.url_to_fs(os.fspath(root))
        except (ValueError, ImportError) as exc:  # unknown protocol, or its package missing
            raise InvalidArgumentError(
                f"artifact_root {os.fspath(root)!r} cannot be opened: {exc}. Use a local "
                "folder or an fsspec URL whose filesystem is installed (s3:// needs s3fs, "
                "gs:// gcsfs)"
            ) from exc
        self.fs = fs
        backend_cls = LocalBackend if isinstance(fs, LocalFileSystem) else FsspecBackend
        self._backend: Backend = backend_cls(fs, path)
        self.root_uri: str = self._backend.uri(self._backend.root)
        self.digest_cache = DigestCache()
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None

    def __repr__(self) -> str:
        return f"ArtifactStore({self.root_uri!r})"

    @classmethod
    def for_root(cls, root: str | os.PathLike[str]) -> ArtifactStore:
        """The process-wide store for ``root`` (created on first use).

        Safe to call from forked worker processes (dask workers): a child
        process starts with no stores and builds its own on first use, since
        clients of remote filesystems cannot be shared across a fork.
        """
        key = os.fspath(root)
        store = _stores.get(key)
        if store is not None:
            return store
        with _stores_lock:
            store = _stores.get(key)
            if store is None:
                created = cls(key)
                # Spellings of one root ("/a", "file:///a") share one store.
                store = _stores.setdefault(created.root_uri, created)
                _stores[key] = store
        return store

    # -- writing ------------------------------------------------------------------------
    def put(self, value: Any, materializer: Materializer | str | None = None) -> StoredValue:
        """Store ``value`` and return where it is.

        The bytes are hashed while they are written to a temporary object,
        which is then moved to its content address; if an object is already
        there, the temporary one is dropped. (On an object store a small
        object is hashed in memory and written once, at its content address:
        see :mod:`~vertex_track.artifacts.fsspec_backend`.) A value put twice therefore gives
        equal StoredValues and one object. A read-only numpy array put again
        is not even serialised again (see :attr:`digest_cache`).

        Args:
            value: any Python value.
            materializer: force a materializer (instance or name). By default
                :func:`~vertex_track.artifacts.materializers_for` chooses, and
                a materializer that declines the value passes it on to the next
                (pickle last).

        Returns:
            The :class:`StoredValue`.

        Raises:
            InvalidArgumentError: the forced materializer declined the value,
                or it is unknown.
            Exception: whatever the materializer raises (for example a
                ``PicklingError``); nothing is left at a final URI then.
        """
        if materializer is not None:
            forced = (
                get_materializer(materializer) if isinstance(materializer, str) else materializer
            )
            try:
                return self._put_with(value, forced)
            except MaterializerDeclined as exc:
                raise InvalidArgumentError(
                    f"materializer {forced.name!r} cannot store this "
                    f"{type(value).__qualname__}: {exc}"
                ) from exc
        for candidate in materializers_for(value):
            try:
                return self._put_with(value, candidate)
            except MaterializerDeclined:
                continue
        raise InvalidArgumentError(  # unreachable while pickle, which never declines, is last
            f"no materializer can store a value of type {type(value).__qualname__}"
        )

    def _put_with(self, value: Any, m: Materializer) -> StoredValue:
        cached = self.digest_cache.get(value, m.name)
        if cached is not None and self._backend.kind(self._path_of(cached.uri)) is not None:
            return cached
        if m.is_directory:
            path, hexdigest, size = self._backend.store_tree(lambda tree: m.write(value, tree))
        else:
            path, hexdigest, size = self._backend.store_stream(
                lambda sink: m.write(value, sink), m.extension
            )
        stored = StoredValue(
            uri=self._backend.uri(path),
            digest=DIGEST_PREFIX + hexdigest,
            size=size,
            materializer=m.name,
            materializer_version=m.version,
            extension=m.extension,
        )
        self.digest_cache.add(value, m.name, stored)
        WRITTEN_ROOTS.add(self.root_uri)
        return stored

    # -- reading ------------------------------------------------------------------------
    def load(
        self, uri: str, materializer_name: str, materializer_version: int | None = None
    ) -> Any:
        """Read a stored value back.

        ``uri`` may belong to another root (its store is found from the URI) or
        be any fsspec URI a materializer can read: this low-level call trusts
        its arguments. ``Artifact.load()`` checks a record's URI, digest and
        materializer first (:mod:`vertex_track.artifacts.safety`). ``path.file`` and
        ``path.dir`` values come back as a local :class:`~pathlib.Path`: on the
        local disk, the stored object itself (read-only: never modify it); on
        other filesystems, a read-only copy in the local cache folder.

        Args:
            uri: the object's URI, as in :attr:`StoredValue.uri`.
            materializer_name: the materializer that wrote it.
            materializer_version: the encoding version it was written with;
                newer than the installed materializer is an error.

        Raises:
            InvalidArgumentError: unknown materializer, a version too new, a
                missing optional package, or a folder where a file is expected
                (or the reverse).
            NotFoundError: nothing is stored at ``uri``.
        """
        m = get_materializer(materializer_name)
        if materializer_version is not None and materializer_version > m.version:
            raise InvalidArgumentError(
                f"{uri} was written by materializer {m.name!r} version "
                f"{materializer_version}, but the installed one reads up to version "
                f"{m.version}; upgrade vertex_track (or the package providing {m.name!r})"
            )
        backend, path = self._resolve(uri)
        kind = backend.kind(path)
        if kind is None:
            raise NotFoundError(f"no stored object at {uri}")
        if (kind == "tree") != m.is_directory:
            what = "a folder" if kind == "tree" else "a file"
            raise InvalidArgumentError(
                f"{uri} is {what}, which materializer {m.name!r} cannot read"
            )
        if m.reads_path:
            return m.read(backend.local_path(path, self._local_cache_dir()))
        if isinstance(backend, LocalBackend):
            # A local object may be memory-mapped by its materializer: objects are
            # immutable (content-addressed, read-only), so a mapping stays valid.
            return m.read_local(path)
        with backend.open_read(path) as f:
            return m.read(f)

    def exists(self, uri: str) -> bool:
        """Whether a complete object is stored at ``uri`` (a folder: committed)."""
        backend, path = self._resolve(uri)
        return backend.kind(path) is not None

    def file_size(self, uri: str) -> int | None:
        """Bytes in the file at ``uri`` (one ``stat``, nothing read); None when no
        file is there (nothing stored, or a folder)."""
        backend, path = self._resolve(uri)
        return backend.file_size(path)

    def verify(self, uri: str, digest: str) -> bool:
        """Re-hash the object at ``uri`` and compare with ``digest``.

        Reads the whole object. Returns False when the object is missing.

        Raises:
            InvalidArgumentError: ``digest`` is not ``"sha256:<64 hex>"``.
        """
        if not isinstance(digest, str) or not _DIGEST_RE.match(digest):
            raise InvalidArgumentError(
                f"digest must look like 'sha256:<64 lowercase hex digits>', got {digest!r}"
            )
        backend, path = self._resolve(uri)
        return backend.hash_object(path) == digest[len(DIGEST_PREFIX) :]

    def delete(self, uri: str) -> None:
        """Delete a stored object (file or folder). Deleting a missing one is a no-op.

        Only objects of an artifact store can be deleted this way, never an
        arbitrary file named by a hand-made Artifact's URI.

        Raises:
            InvalidArgumentError: ``uri`` is not a store object's URI.
        """
        backend, path = self._resolve(uri)
        if not backend.in_layout(path):
            raise InvalidArgumentError(
                f"{uri} is not an object of an artifact store "
                "('<root>/sha256/<2 hex>/<64 hex>[extension]'); refusing to delete it"
            )
        self.digest_cache.discard_uri(uri)
        backend.delete(path)

    def iter_objects(self) -> Iterator[str]:
        """Yield the URI of every object under ``<root>/sha256/`` (for garbage collection).

        Includes folders whose commit was interrupted, which nothing can
        reference. Not a snapshot: objects written meanwhile may be missed.
        """
        for path in self._backend.iter_object_paths():
            yield self._backend.uri(path)

    def cleanup_tmp(self, older_than_s: float = 3600) -> int:
        """Remove temporary objects left by crashed writers; returns how many.

        Only entries not modified for ``older_than_s`` seconds are removed, so
        writers still at work are left alone; ``0`` removes everything (use it
        only when nothing writes to the root).
        """
        return self._backend.cleanup_tmp(older_than_s)

    # -- helpers ----------------------------------------------------------------------------
    def _path_of(self, uri: str) -> str:
        return self._resolve(uri)[1]

    def _resolve(self, uri: str) -> tuple[Backend, str]:
        root = self.root_uri.rstrip("/") + "/"
        if uri.startswith(root):  # the common case, without parsing
            return self._backend, self._backend.root.rstrip("/") + "/" + uri[len(root) :]
        fs, path = fsspec.core.url_to_fs(uri)
        canonical = fs.unstrip_protocol(path)
        if canonical.startswith(root):
            return self._backend, path
        match = _OBJECT_URI_RE.match(canonical)
        if match is not None:  # an object of another store
            return ArtifactStore.for_root(match["root"])._backend, path
        backend_cls = LocalBackend if isinstance(fs, LocalFileSystem) else FsspecBackend
        return backend_cls(fs, "/"), path

    def _local_cache_dir(self) -> Path:
        if self._cache_dir is None:
            from ..config import home

            self._cache_dir = home() / "cache" / "artifacts"
        return self._cache_dir
