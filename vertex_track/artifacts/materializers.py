"""Materializers: how a Python value becomes bytes in the artifact store, and back.

A materializer has a stable ``name`` and an encoding ``version``; both are
recorded with every stored value (in the Artifact's metadata), so bytes written
today stay readable after the encoding changes. :func:`materializer_for` picks
one for a value: materializers registered with :func:`register_materializer`
first (highest ``priority`` first, then the most recent), then the built-ins in
this order:

====================  ============  ===============  =================================
name                  extension     schema_title     handles
====================  ============  ===============  =================================
``path.file``         ``.bin``      system.Artifact  a ``pathlib`` path to a file
``path.dir``          (a folder)    system.Artifact  a ``pathlib`` path to a folder
``bytes``             ``.bin``      system.Artifact  bytes, bytearray, memoryview
``numpy``             ``.npy``      system.Dataset   an ndarray without Python objects
``pandas.parquet``    ``.parquet``  system.Dataset   a DataFrame (needs pyarrow)
``pyarrow.parquet``   ``.parquet``  system.Dataset   a ``pyarrow.Table``
``json``              ``.json``     system.Artifact  JSON that round-trips exactly
``pickle``            ``.pkl``      system.Artifact  anything else (cloudpickle)
====================  ============  ===============  =================================

Schema titles: tables and arrays are data, hence ``system.Dataset``. A file or
a folder may hold a data set as well as a model, so it stays the generic
``system.Artifact``; the task's annotation (``-> vt.Model``) says more.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from typing import Any

from ..exceptions import InvalidArgumentError
from .base import (
    MANIFEST_SUFFIX,
    DirectoryMaterializer,
    Materializer,
    MaterializerDeclined,
    TreeWriter,
)
from .builtin import BUILTINS

__all__ = [
    "DirectoryMaterializer",
    "Materializer",
    "MaterializerDeclined",
    "TreeWriter",
    "get_materializer",
    "materializer_for",
    "materializers_for",
    "register_materializer",
    "unregister_materializer",
]

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_EXTENSION_RE = re.compile(r"(\.[A-Za-z0-9_-]{1,16}){0,3}\Z")

_BUILTIN_NAMES = frozenset(m.name for m in BUILTINS)

_lock = threading.Lock()
_user: list[tuple[int, int, Materializer]] = []  # (priority, sequence, materializer)
_sequence = 0
# Rebuilt under _lock on every change and read without it: lookups on the hot
# path never wait for a registration.
_order: tuple[Materializer, ...] = BUILTINS
_by_name: dict[str, Materializer] = {m.name: m for m in BUILTINS}


def _reset_lock_after_fork() -> None:
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_lock_after_fork)


def _validate(m: Materializer) -> None:
    if not isinstance(m, Materializer):
        raise InvalidArgumentError(
            f"register_materializer expects a Materializer subclass or instance, got {m!r}"
        )
    if not isinstance(m.name, str) or not _NAME_RE.match(m.name):
        raise InvalidArgumentError(
            f"materializer name must be 1-64 characters of letters, digits, '.', '_' "
            f"or '-', starting with a letter or digit; got {m.name!r}"
        )
    if m.name in _BUILTIN_NAMES:
        raise InvalidArgumentError(
            f"materializer name {m.name!r} belongs to a built-in materializer; "
            "choose another name (data written by the built-in must stay readable)"
        )
    if type(m.version) is not int or m.version < 1:
        raise InvalidArgumentError(
            f"materializer version must be an int >= 1, got {m.version!r} for {m.name!r}"
        )
    if (
        not isinstance(m.extension, str)
        or not _EXTENSION_RE.match(m.extension)
        or m.extension.endswith(MANIFEST_SUFFIX)
        or (m.is_directory and m.extension)
    ):
        raise InvalidArgumentError(
            f"materializer extension must be '' or like '.npy' (at most 3 parts of "
            f"letters, digits, '_' or '-'; '' for folders; not ending in "
            f"{MANIFEST_SUFFIX!r}), got {m.extension!r} for {m.name!r}"
        )


def register_materializer(
    materializer: Materializer | type[Materializer], *, priority: int = 0
) -> Materializer:
    """Register a materializer; registered ones are tried before the built-ins.

    Among registered materializers the highest ``priority`` is tried first;
    ties go to the most recent registration. Registering a name again replaces
    the earlier registration.

    Args:
        materializer: a :class:`Materializer` instance, or a subclass that can
            be instantiated without arguments.
        priority: order among registered materializers.

    Returns:
        The registered instance.

    Raises:
        InvalidArgumentError: not a Materializer, a built-in's name, or an
            invalid name, version or extension.
    """
    global _order, _sequence
    if isinstance(materializer, type) and issubclass(materializer, Materializer):
        materializer = materializer()
    _validate(materializer)  # type: ignore[arg-type]
    m: Materializer = materializer  # type: ignore[assignment]
    with _lock:
        _sequence += 1
        _user[:] = [entry for entry in _user if entry[2].name != m.name]
        _user.append((priority, _sequence, m))
        _user.sort(key=lambda entry: (-entry[0], -entry[1]))
        _publish()
    return m


def unregister_materializer(name: str) -> None:
    """Remove a registered materializer (built-ins cannot be removed).

    Raises:
        InvalidArgumentError: ``name`` is a built-in or is not registered.
    """
    with _lock:
        if name in _BUILTIN_NAMES:
            raise InvalidArgumentError(f"cannot unregister the built-in materializer {name!r}")
        if not any(entry[2].name == name for entry in _user):
            raise InvalidArgumentError(f"no registered materializer is named {name!r}")
        _user[:] = [entry for entry in _user if entry[2].name != name]
        _publish()


def _publish() -> None:
    global _order, _by_name
    user = tuple(entry[2] for entry in _user)
    _order = user + BUILTINS
    _by_name = {m.name: m for m in _order}


def get_materializer(name: str) -> Materializer:
    """The materializer registered under ``name``.

    Raises:
        InvalidArgumentError: no materializer has that name (the message lists
            the known ones).
    """
    try:
        return _by_name[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(_by_name))
        raise InvalidArgumentError(
            f"unknown materializer {name!r}; known materializers: {known}. If the bytes "
            "were written by a custom materializer, register it with "
            "vertex_track.artifacts.register_materializer() before loading"
        ) from None


def materializers_for(value: Any) -> Iterator[Materializer]:
    """Every materializer that can handle ``value``, best first (pickle is last)."""
    for m in _order:
        if m.can_handle(value):
            yield m


def materializer_for(value: Any) -> Materializer:
    """The materializer :meth:`ArtifactStore.put` uses for ``value`` by default.

    ``put`` moves on to the next candidate of :func:`materializers_for` if this
    one raises :class:`MaterializerDeclined` while writing.
    """
    return next(materializers_for(value))
