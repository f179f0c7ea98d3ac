"""How objects are written atomically, per kind of filesystem.

The layout is the same everywhere (``<root>`` is the store's root)::

    <root>/sha256/<first 2 hex>/<hex><extension>    a stored stream
    <root>/sha256/<first 2 hex>/<hex>/...           a stored folder
    <root>/sha256/<first 2 hex>/<hex>.tree.json     its manifest: the folder is
                                                    committed once this exists
    <root>/.tmp/                                    work in progress

An object is written under ``.tmp/`` while it is hashed, then moved to its
content address, so a reader never finds a half-written file at a final path.
How that move is made atomic differs, hence two strategies:

* :class:`LocalBackend` (the local disk): ``fsync`` the temporary file,
  ``os.replace`` it (atomic), ``fsync`` the folder. A folder is renamed into
  place in one step.
* :class:`~vertex_track.artifacts.fsspec_backend.FsspecBackend` (object stores, ``memory://``, ...): one PUT of a whole
  object is atomic, so the temporary object is moved (a server-side copy on
  S3/GCS) to its final key. A folder cannot be moved atomically, so its files
  are moved first and its manifest written last, as the commit.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import stat
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from ..exceptions import InvalidArgumentError, VertexTrackError
from .base import MANIFEST_SUFFIX, TreeWriter, iter_tree
from .hashing import CHUNK_SIZE, HashingWriter, hash_stream, tree_manifest

__all__ = ["Backend", "LocalBackend", "check_relpath", "hashing_writer", "object_names"]

_OBJECTS = "sha256"
_TMP = ".tmp"
_HEX_RE = re.compile(r"[0-9a-f]{64}")
_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH

Written = tuple[str, str, int]  # (final path, hex digest, size)


def check_relpath(relpath: str) -> str:
    """Validate a ``/``-separated relative path inside a stored folder."""
    parts = relpath.split("/")
    if (
        not relpath
        or relpath.startswith("/")
        or "\\" in relpath
        or any(p in ("", ".", "..") for p in parts)
        or parts[-1].endswith(MANIFEST_SUFFIX)
    ):
        raise InvalidArgumentError(
            f"a file in a stored folder needs a relative '/'-separated path without "
            f"'.', '..' or empty parts, got {relpath!r}"
        )
    return relpath


class Backend:
    """The mechanics of one filesystem under one store root.

    Paths here are the filesystem's own (protocol stripped); the store turns
    them into URIs.
    """

    def __init__(self, fs: Any, root: str) -> None:
        self.fs = fs
        self.root = root.rstrip("/") or "/"
        self.objects_dir = f"{self.root.rstrip('/')}/{_OBJECTS}"
        self.tmp_dir = f"{self.root.rstrip('/')}/{_TMP}"

    # -- layout ----------------------------------------------------------------------
    def object_path(self, hexdigest: str, extension: str) -> str:
        return f"{self.objects_dir}/{hexdigest[:2]}/{hexdigest}{extension}"

    def uri(self, path: str) -> str:
        return self.fs.unstrip_protocol(path)

    def in_layout(self, path: str) -> bool:
        """Whether ``path`` names an object of this store (a final content address)."""
        prefix = self.objects_dir + "/"
        if not path.startswith(prefix):
            return False
        shard, _, name = path[len(prefix) :].partition("/")
        return len(shard) == 2 and _HEX_RE.match(name) is not None and name.startswith(shard)

    def new_tmp_name(self, suffix: str) -> str:
        return f"{self.tmp_dir}/{uuid.uuid4().hex}{suffix}.part"

    # -- the operations each strategy implements ------------------------------------
    def store_stream(self, write: Callable[[HashingWriter], None], extension: str) -> Written:
        raise NotImplementedError

    def store_tree(self, write: Callable[[TreeWriter], None]) -> Written:
        raise NotImplementedError

    def kind(self, path: str) -> str | None:
        """``"file"``, ``"tree"`` (a committed folder) or ``None`` (nothing there)."""
        raise NotImplementedError

    def open_read(self, path: str) -> IO[bytes]:
        raise NotImplementedError

    def file_size(self, path: str) -> int | None:
        """Bytes in the file at ``path``; None when no file is there (absent, or a folder)."""
        raise NotImplementedError

    def local_path(self, path: str, cache_dir: Path) -> Path:
        raise NotImplementedError

    def delete(self, path: str) -> None:
        raise NotImplementedError

    def iter_object_paths(self) -> Iterator[str]:
        raise NotImplementedError

    def cleanup_tmp(self, older_than_s: float) -> int:
        raise NotImplementedError

    def tree_files(self, path: str) -> list[tuple[str, str]]:
        """``(relative path, filesystem path)`` of every file in a stored folder."""
        raise NotImplementedError

    # -- shared on top of the primitives ---------------------------------------------
    def hash_object(self, path: str) -> str | None:
        """Recompute the digest (hex) of the object at ``path``; None if absent."""
        kind = self.kind(path)
        if kind == "file":
            with self.open_read(path) as f:
                return hash_stream(f)[0]
        if kind == "tree":
            entries = []
            for rel, file_path in self.tree_files(path):
                with self.open_read(file_path) as f:
                    hexdigest, size = hash_stream(f)
                entries.append((rel, hexdigest, size))
            return hashlib.sha256(tree_manifest(entries)).hexdigest()
        return None

    def _download(self, path: str, dest: Path, expected_hex: str | None) -> tuple[str, int]:
        """Copy a remote file to ``dest`` atomically, checking its digest.

        Returns the ``(hex digest, size)`` of what was copied."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{uuid.uuid4().hex}.part")
        try:
            with self.open_read(path) as src, open(tmp, "wb", buffering=0) as raw:
                writer = HashingWriter(raw)
                shutil.copyfileobj(src, writer, CHUNK_SIZE)
                hexdigest, size = writer.finish()
            if expected_hex is not None and hexdigest != expected_hex:
                raise VertexTrackError(
                    f"stored object {self.uri(path)} is corrupt: its content hashes to "
                    f"sha256:{hexdigest}, not sha256:{expected_hex}"
                )
            _make_read_only(str(tmp))
            os.replace(tmp, dest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return hexdigest, size

    def _cached_copy(self, path: str, cache_dir: Path) -> Path:
        """A local read-only copy of a file or folder of this (remote) filesystem."""
        if self.in_layout(path):
            name = path.rsplit("/", 1)[-1]
            expected: str | None = name[:64]
        else:  # a URI outside any store: it may change, so fetch it every time
            name = hashlib.sha256(self.uri(path).encode()).hexdigest()
            expected = None
        dest = cache_dir / name
        if self.kind(path) == "file":
            if expected is None or not dest.is_file():
                self._download(path, dest, expected)
            return dest
        if expected is not None and dest.is_dir():
            return dest
        staging = cache_dir / f".{uuid.uuid4().hex}.tree.part"
        try:
            entries = [
                (rel, *self._download(file_path, staging / rel, None))
                for rel, file_path in self.tree_files(path)
            ]
            staging.mkdir(parents=True, exist_ok=True)
            if expected is not None:
                got = hashlib.sha256(tree_manifest(entries)).hexdigest()
                if got != expected:
                    raise VertexTrackError(
                        f"stored folder {self.uri(path)} is corrupt: its files hash to "
                        f"sha256:{got}, not sha256:{expected}"
                    )
            if dest.exists():
                shutil.rmtree(dest)
            try:
                os.rename(staging, dest)
            except OSError:
                if not dest.is_dir():  # another loader won the race otherwise
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return dest


# -- the local disk ------------------------------------------------------------------------


@contextlib.contextmanager
def hashing_writer(raw: Any) -> Iterator[HashingWriter]:
    """A :class:`HashingWriter` over ``raw`` that is aborted if the block raises."""
    writer = HashingWriter(raw)
    try:
        yield writer
    except BaseException:
        writer.abort()
        raise


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:
        # Some filesystems (network mounts, FUSE) cannot fsync a folder; the
        # rename is still atomic there, only its durability is up to them.
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
    finally:
        os.close(fd)


def _make_read_only(path: str) -> None:
    # A safety net against writes through paths that load() hands out, not a
    # guarantee: filesystems without POSIX modes may refuse it.
    with contextlib.suppress(OSError):
        os.chmod(path, _READ_ONLY)


def _makedirs_durable(path: str) -> None:
    """``mkdir -p`` that also fsyncs each parent whose listing changed."""
    missing = []
    while not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for folder in reversed(missing):
        try:
            os.mkdir(folder)
        except FileExistsError:
            continue
        _fsync_dir(os.path.dirname(folder))


def _tree_sizes(folder: str) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for root, _dirs, files in os.walk(folder):
        rel_root = os.path.relpath(root, folder)
        for name in files:
            rel = name if rel_root == "." else f"{rel_root.replace(os.sep, '/')}/{name}"
            with contextlib.suppress(FileNotFoundError):
                sizes[rel] = os.stat(os.path.join(root, name)).st_size
    return sizes


class _LocalTree(TreeWriter):
    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.entries: dict[str, tuple[str, int]] = {}
        self.dirs = {folder}

    @contextlib.contextmanager
    def open(self, relpath: str) -> Iterator[HashingWriter]:
        check_relpath(relpath)
        if relpath in self.entries:
            raise InvalidArgumentError(f"file {relpath!r} written twice to a stored folder")
        path = os.path.join(self.folder, *relpath.split("/"))
        parent = os.path.dirname(path)
        if parent not in self.dirs:
            os.makedirs(parent, exist_ok=True)
            while parent not in self.dirs:
                self.dirs.add(parent)
                parent = os.path.dirname(parent)
        with open(path, "wb", buffering=0) as raw, hashing_writer(raw) as writer:
            yield writer
            hexdigest, size = writer.finish()
            os.fsync(raw.fileno())
        _make_read_only(path)
        self.entries[relpath] = (hexdigest, size)


class LocalBackend(Backend):
    """The local disk: fsync, then an atomic ``os.replace`` / ``os.rename``."""

    def _open_tmp(self, suffix: str) -> tuple[str, IO[bytes]]:
        tmp = self.new_tmp_name(suffix)
        try:
            return tmp, open(tmp, "xb", buffering=0)
        except FileNotFoundError:
            os.makedirs(self.tmp_dir, exist_ok=True)
            return tmp, open(tmp, "xb", buffering=0)

    def store_stream(self, write: Callable[[HashingWriter], None], extension: str) -> Written:
        tmp, raw = self._open_tmp(extension)
        writer = HashingWriter(raw)
        try:
            try:
                write(writer)
                hexdigest, size = writer.finish()
            except BaseException:
                writer.abort()
                raise
            final = self.object_path(hexdigest, extension)
            try:
                existing = os.stat(final)
                if stat.S_ISREG(existing.st_mode) and existing.st_size == size:
                    # Same content is already there: skip, and skip the fsync too.
                    return final, hexdigest, size
            except FileNotFoundError:
                pass
            os.fsync(raw.fileno())
            raw.close()
            _make_read_only(tmp)
            _makedirs_durable(os.path.dirname(final))
            os.replace(tmp, final)
            _fsync_dir(os.path.dirname(final))
            return final, hexdigest, size
        finally:
            raw.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def store_tree(self, write: Callable[[TreeWriter], None]) -> Written:
        staging = self.new_tmp_name(".tree")
        try:
            os.makedirs(staging)
            tree = _LocalTree(staging)
            write(tree)
            entries = [(rel, h, s) for rel, (h, s) in tree.entries.items()]
            manifest = tree_manifest(entries)
            hexdigest = hashlib.sha256(manifest).hexdigest()
            size = sum(s for _, _, s in entries)
            final = self.object_path(hexdigest, "")
            marker = final + MANIFEST_SUFFIX
            if os.path.isfile(marker) and os.path.isdir(final):
                return final, hexdigest, size
            for folder in tree.dirs:
                _fsync_dir(folder)
            _makedirs_durable(os.path.dirname(final))
            self._move_tree_into_place(staging, final, {rel: s for rel, _, s in entries})
            self._write_small(marker, manifest)
            _fsync_dir(os.path.dirname(final))
            return final, hexdigest, size
        finally:
            if os.path.isdir(staging):
                shutil.rmtree(staging, ignore_errors=True)

    def _move_tree_into_place(self, staging: str, final: str, sizes: dict[str, int]) -> None:
        """Rename a finished staging folder to its content address.

        A folder already at ``final`` arrived there by rename, complete, from a
        writer of the same content: a concurrent one that has not written its
        manifest yet, or one that died before it. If its files are the ones we
        wrote (same paths, same sizes) it is adopted as it is; discarding it
        would pull it from under the concurrent writer. Only a folder that does
        not match (damaged by hand) is replaced.
        """
        for _ in range(5):
            try:
                os.rename(staging, final)
                return
            except OSError:
                if not os.path.isdir(final):
                    if os.path.isdir(staging):
                        continue  # it was being replaced; try again
                    raise
            if _tree_sizes(final) == sizes:
                return
            self._discard(final)
        raise OSError(errno.EEXIST, "could not place a stored folder", final)

    def _write_small(self, path: str, data: bytes) -> None:
        tmp, raw = self._open_tmp(".small")
        try:
            raw.write(data)
            os.fsync(raw.fileno())
            raw.close()
            _make_read_only(tmp)
            os.replace(tmp, path)
        finally:
            raw.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def kind(self, path: str) -> str | None:
        if os.path.isfile(path):
            return "file"
        if self.in_layout(path):
            committed = os.path.isfile(path + MANIFEST_SUFFIX) and os.path.isdir(path)
            return "tree" if committed else None
        return "tree" if os.path.isdir(path) else None

    def open_read(self, path: str) -> IO[bytes]:
        # A real (buffered) file lets numpy read straight into the array.
        return open(path, "rb")

    def file_size(self, path: str) -> int | None:
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return st.st_size if stat.S_ISREG(st.st_mode) else None

    def local_path(self, path: str, cache_dir: Path) -> Path:
        return Path(path)

    def delete(self, path: str) -> None:
        # The manifest goes first, so the folder is uncommitted before it changes.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path + MANIFEST_SUFFIX)
        if os.path.isdir(path) and not os.path.islink(path):
            self._discard(path)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def _discard(self, folder: str) -> None:
        """Remove a folder without ever leaving part of it at its path."""
        os.makedirs(self.tmp_dir, exist_ok=True)
        trash = self.new_tmp_name(".deleted")
        try:
            os.rename(folder, trash)
        except FileNotFoundError:
            return
        shutil.rmtree(trash, ignore_errors=True)

    def iter_object_paths(self) -> Iterator[str]:
        try:
            shards = sorted(e.path for e in os.scandir(self.objects_dir) if e.is_dir())
        except FileNotFoundError:
            return
        for shard in shards:
            try:
                names = [e.name for e in os.scandir(shard)]
            except FileNotFoundError:
                continue
            yield from (f"{shard}/{n}" for n in object_names(names))

    def cleanup_tmp(self, older_than_s: float) -> int:
        deadline = time.time() - older_than_s
        removed = 0
        try:
            entries = list(os.scandir(self.tmp_dir))
        except FileNotFoundError:
            return 0
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_mtime > deadline:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
            except FileNotFoundError:
                continue  # its writer finished meanwhile
            removed += 1
        return removed

    def tree_files(self, path: str) -> list[tuple[str, str]]:
        return [(rel, str(p)) for rel, p in iter_tree(Path(path))]


def object_names(names: list[str]) -> list[str]:
    """Object names in a shard listing: a folder and its manifest count once."""
    found = set()
    for name in names:
        if name.endswith(MANIFEST_SUFFIX):
            name = name[: -len(MANIFEST_SUFFIX)]
        if _HEX_RE.match(name):
            found.add(name)
    return sorted(found)
