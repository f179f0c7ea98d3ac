"""The materializer interface: what a materializer is and what it writes to.

A :class:`Materializer` turns one kind of value into a stream of bytes; a
:class:`DirectoryMaterializer` into a folder of files, written through a
:class:`TreeWriter`. The registry that picks one for a value is in
:mod:`vertex_track.artifacts.materializers`; the built-ins in
:mod:`vertex_track.artifacts.builtin`.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from ..exceptions import InvalidArgumentError
from .hashing import CHUNK_SIZE

__all__ = [
    "DESCRIBED_COLUMNS",
    "MANIFEST_SUFFIX",
    "DirectoryMaterializer",
    "Materializer",
    "MaterializerDeclined",
    "TreeWriter",
    "installed",
    "iter_tree",
    "module_of",
    "require",
]

_EXTRAS = {"numpy": "numpy", "pandas": "pandas", "pyarrow": "pandas"}
#: Suffix of the manifest that commits a stored folder; no extension may end with it.
MANIFEST_SUFFIX = ".tree.json"


class MaterializerDeclined(Exception):
    """Raised by :meth:`Materializer.write` to hand the value to the next materializer.

    Use it when ``can_handle`` was too cheap to be sure (a DataFrame whose
    columns parquet cannot store, say). Raise it before the value is half
    written or after: the partial bytes are discarded either way.
    """


def require(module: str, materializer: str) -> Any:
    """Import an optional dependency or say how to install it.

    Raises:
        InvalidArgumentError: the package is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = _EXTRAS.get(module)
        hint = f" (or `pip install 'vertex-track[{extra}]'`)" if extra else ""
        raise InvalidArgumentError(
            f"materializer {materializer!r} needs the {module!r} package, which is not "
            f"installed; install it with `pip install {module}`{hint}"
        ) from exc


@cache
def installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    return importlib.util.find_spec(module) is not None


def module_of(value: Any) -> str:
    """The module of ``value``'s type: a check that imports nothing."""
    return type(value).__module__ or ""


# -- the base classes ------------------------------------------------------------------


class Materializer(ABC):
    """Serialises one kind of Python value to bytes and back.

    Subclass it, set the class attributes and implement the three methods, then
    :func:`register_materializer` it. ``write`` and ``read`` must be exact
    inverses, and ``write`` must be deterministic (the same value gives the same
    bytes), because the bytes' SHA-256 is the value's identity.

    Attributes:
        name: stable identifier recorded with the bytes; never reuse one for a
            different encoding.
        version: encoding version recorded with the bytes; raise it when the
            encoding changes and keep ``read`` able to read older versions.
        extension: file name suffix of the stored object (``".npy"``), or
            ``""``.
        schema_title: schema inferred for values this materializer handles.
        is_directory: the value is stored as a folder (see
            :class:`DirectoryMaterializer`).
        reads_path: ``read`` receives a local :class:`~pathlib.Path` instead of
            an open binary file.
        runs_code: reading can run code stored with the bytes (pickle). Such
            values are loaded by ``Artifact.load()`` only from artifact roots
            this process trusts, unless ``trust=True``.
    """

    name: str = ""
    version: int = 1
    extension: str = ""
    schema_title: str = "system.Artifact"
    is_directory: bool = False
    reads_path: bool = False
    runs_code: bool = False

    @abstractmethod
    def can_handle(self, value: Any) -> bool:
        """Whether this materializer can store ``value``. Runs often: keep it cheap."""

    @abstractmethod
    def write(self, value: Any, sink: Any) -> None:
        """Write ``value``'s bytes to ``sink``, a writable binary file.

        Do not seek or close ``sink``. Raise :class:`MaterializerDeclined` to
        let the next materializer try.
        """

    @abstractmethod
    def read(self, source: Any) -> Any:
        """Rebuild the value from ``source``: an open binary file, or a local
        :class:`~pathlib.Path` when ``reads_path`` is true."""

    def read_local(self, path: str) -> Any:
        """Rebuild the value from a file on the local disk (an object of a local
        artifact store, never modified after it was written).

        The default opens it and calls :meth:`read`; override it to read the
        file another way, e.g. to memory-map it. Not called when ``reads_path``
        or ``is_directory`` is true.
        """
        with open(path, "rb") as f:
            return self.read(f)

    def describe(self, value: Any) -> dict[str, Any]:
        """Facts about ``value`` for the Artifact's metadata, found without serialising it.

        Tracking puts them at the top level of the metadata, so filters reach
        them (``metadata.rows.number_value > 1000``). JSON-friendly values
        only; keep it cheap (it runs for every stored value) and small (cap
        long lists). The default describes nothing.
        """
        return {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} v{self.version}>"


#: At most this many column names/dtypes are recorded in a table's description.
DESCRIBED_COLUMNS = 100


class TreeWriter(ABC):
    """Where a :class:`DirectoryMaterializer` writes the files of a folder.

    The artifact store provides it; each file written through it is hashed as
    it is written, and the folder's digest is computed from them.
    """

    @abstractmethod
    def open(self, relpath: str) -> contextlib.AbstractContextManager[io.BufferedIOBase]:
        """Open the file at ``relpath`` (``/``-separated, relative) for writing."""

    def add_file(self, relpath: str, source: str | os.PathLike[str]) -> None:
        """Copy the local file ``source`` to ``relpath``."""
        with open(source, "rb") as src, self.open(relpath) as dst:
            shutil.copyfileobj(src, dst, CHUNK_SIZE)

    def add_tree(self, folder: str | os.PathLike[str]) -> None:
        """Copy every file under the local ``folder``, keeping relative paths.

        Useful for a library that can only save to a path: save to a temporary
        folder, then ``add_tree`` it.
        """
        for relpath, path in iter_tree(Path(folder)):
            self.add_file(relpath, path)


class DirectoryMaterializer(Materializer):
    """A materializer whose value is stored as a folder of files, not one stream.

    ``write(value, tree)`` receives a :class:`TreeWriter`; ``read(path)``
    receives the local folder. Empty sub-folders are not kept, as in git.
    """

    is_directory = True
    reads_path = True
    extension = ""

    @abstractmethod
    def write(self, value: Any, sink: TreeWriter) -> None:
        """Write ``value``'s files through ``sink`` (a :class:`TreeWriter`)."""


def iter_tree(folder: Path) -> Iterator[tuple[str, Path]]:
    """Yield ``(relative_posix_path, path)`` for every file under ``folder``, sorted.

    Symbolic links are followed (a linked file contributes its content); a link
    back into a folder being walked is an error rather than an endless walk.

    Raises:
        InvalidArgumentError: a link cycle, or something that is neither a file
            nor a folder (a socket, a FIFO).
    """
    yield from _walk_tree(folder, "", {os.path.realpath(folder)})


def _walk_tree(folder: Path, prefix: str, active: set[str]) -> Iterator[tuple[str, Path]]:
    with os.scandir(folder) as entries:
        children = sorted(entries, key=lambda e: e.name)
    for entry in children:
        rel = prefix + entry.name
        path = Path(entry.path)
        if entry.is_dir():
            real = os.path.realpath(entry.path)
            if real in active:
                raise InvalidArgumentError(
                    f"cannot store folder: the link {entry.path!r} points back to {real!r}"
                )
            yield from _walk_tree(path, rel + "/", active | {real})
        elif entry.is_file():
            yield rel, path
        else:
            raise InvalidArgumentError(
                f"cannot store folder: {entry.path!r} is neither a file nor a folder"
            )
