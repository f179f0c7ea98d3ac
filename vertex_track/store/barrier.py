"""A read barrier: reads in this process first wait for records queued before them.

The tracking writer commits in the background (see
:mod:`vertex_track.tracking.writer`). So that a process always reads its own
writes, every store read calls :func:`wait_for_pending_writes` first; it is a
no-op (one attribute check) when nothing is queued.
"""

from __future__ import annotations

from collections.abc import Callable

_flush: Callable[[], None] | None = None


def set_flush(fn: Callable[[], None] | None) -> None:
    global _flush
    _flush = fn


def wait_for_pending_writes() -> None:
    if _flush is not None:
        _flush()
