"""Writing objects to any fsspec filesystem other than the local disk (object stores, ``memory://``).

One PUT of a whole object is atomic, so an object written under ``.tmp/`` is moved (a server-side
copy on S3/GCS) to its content address. A folder cannot be moved atomically, so its files are
moved first and its manifest written last, as the commit. The layout is described in
:mod:`vertex_track.artifacts.backends`.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from ..exceptions import InvalidArgumentError
from .backends import Backend, Written, check_relpath, hashing_writer, object_names
from .base import MANIFEST_SUFFIX, TreeWriter
from .hashing import HashingWriter, tree_manifest

__all__ = ["FsspecBackend"]


def _mtime(info: dict[str, Any]) -> float | None:
    for key in ("mtime", "LastModified", "last_modified", "updated", "created", "time"):
        value = info.get(key)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return None


class _FsspecTree(TreeWriter):
    def __init__(self, fs: Any, folder: str) -> None:
        self.fs = fs
        self.folder = folder
        self.entries: dict[str, tuple[str, int]] = {}

    @contextlib.contextmanager
    def open(self, relpath: str) -> Iterator[HashingWriter]:
        check_relpath(relpath)
        if relpath in self.entries:
            raise InvalidArgumentError(f"file {relpath!r} written twice to a stored folder")
        with self.fs.open(f"{self.folder}/{relpath}", "wb") as raw, hashing_writer(raw) as writer:
            yield writer
            hexdigest, size = writer.finish()
        self.entries[relpath] = (hexdigest, size)


class FsspecBackend(Backend):
    """Object stores and other fsspec filesystems: whole-object PUTs are atomic."""

    def _info(self, path: str) -> dict[str, Any] | None:
        try:
            return self.fs.info(path)
        except FileNotFoundError:
            return None

    def _move(self, src: str, dst: str) -> None:
        parent = dst.rsplit("/", 1)[0]
        with contextlib.suppress(FileExistsError):
            self.fs.makedirs(parent, exist_ok=True)
        self.fs.mv(src, dst)

    def store_stream(self, write: Callable[[HashingWriter], None], extension: str) -> Written:
        tmp = self.new_tmp_name(extension)
        try:
            with self.fs.open(tmp, "wb") as raw:
                writer = HashingWriter(raw)
                try:
                    write(writer)
                    hexdigest, size = writer.finish()
                except BaseException:
                    writer.abort()
                    raise
            final = self.object_path(hexdigest, extension)
            info = self._info(final)
            if info is None or info.get("type") != "file" or info.get("size") != size:
                self._move(tmp, final)
            return final, hexdigest, size
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm(tmp)

    def store_tree(self, write: Callable[[TreeWriter], None]) -> Written:
        staging = self.new_tmp_name(".tree")
        try:
            tree = _FsspecTree(self.fs, staging)
            write(tree)
            entries = [(rel, h, s) for rel, (h, s) in tree.entries.items()]
            manifest = tree_manifest(entries)
            hexdigest = hashlib.sha256(manifest).hexdigest()
            size = sum(s for _, _, s in entries)
            final = self.object_path(hexdigest, "")
            marker = final + MANIFEST_SUFFIX
            if self._info(marker) is None:
                for rel in sorted(tree.entries):
                    self._move(f"{staging}/{rel}", f"{final}/{rel}")
                # The commit: one small PUT, after every file is in place.
                self.fs.pipe_file(marker, manifest)
            return final, hexdigest, size
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm(staging, recursive=True)

    def kind(self, path: str) -> str | None:
        info = self._info(path)
        if info is not None and info.get("type") == "file":
            return "file"
        if self.in_layout(path):
            return "tree" if self._info(path + MANIFEST_SUFFIX) is not None else None
        return "tree" if info is not None and info.get("type") == "directory" else None

    def open_read(self, path: str) -> IO[bytes]:
        return self.fs.open(path, "rb")

    def file_size(self, path: str) -> int | None:
        info = self._info(path)
        if info is None or info.get("type") != "file" or info.get("size") is None:
            return None
        return int(info["size"])

    def local_path(self, path: str, cache_dir: Path) -> Path:
        return self._cached_copy(path, cache_dir)

    def delete(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(path + MANIFEST_SUFFIX)
        info = self._info(path)
        if info is not None:
            self.fs.rm(path, recursive=info.get("type") == "directory")

    def iter_object_paths(self) -> Iterator[str]:
        try:
            shards = sorted(self.fs.ls(self.objects_dir, detail=False))
        except FileNotFoundError:
            return
        for shard in shards:
            shard = shard.rstrip("/")
            try:
                names = [p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(shard, detail=False)]
            except (FileNotFoundError, NotADirectoryError):
                continue
            prefix = f"{self.objects_dir}/{shard.rsplit('/', 1)[-1]}"
            yield from (f"{prefix}/{n}" for n in object_names(names))

    def cleanup_tmp(self, older_than_s: float) -> int:
        deadline = time.time() - older_than_s
        try:
            entries = self.fs.ls(self.tmp_dir, detail=True)
        except FileNotFoundError:
            return 0
        removed = 0
        for info in entries:
            name = info["name"].rstrip("/")
            if info.get("type") == "directory":
                # Folders often carry no time of their own: use their newest file.
                times = [_mtime(i) for i in self.fs.find(name, detail=True).values()]
                known = [t for t in times if t is not None]
                stamp = max(known) if known else None
            else:
                stamp = _mtime(info)
            if older_than_s > 0 and (stamp is None or stamp > deadline):
                continue
            try:
                self.fs.rm(name, recursive=info.get("type") == "directory")
            except FileNotFoundError:
                continue
            removed += 1
        return removed

    def tree_files(self, path: str) -> list[tuple[str, str]]:
        base = path.rstrip("/") + "/"
        found = sorted(self.fs.find(path, detail=False))
        return [(p[len(base) :], p) for p in found if p.startswith(base)]
