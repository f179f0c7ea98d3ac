"""The console script's entry point: process settings for a short-lived command, then the app."""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    """Entry point of the ``vertex-track`` console script."""
    import gc
    import os

    # A command lives well under a second, and nearly all it allocates is the
    # code it imports (modules, classes, functions: ~100k objects) that lives
    # until exit anyway. CPython's default first threshold (700) runs the
    # cyclic collector ~140 times during those imports, re-scanning them
    # each time: 40-70 ms of a ~0.5 s command. Raise only that threshold (as
    # mypy does): startup then triggers no collection, while a long
    # `--limit 0` listing is still collected.
    gc.set_threshold(200_000, 10, 10)
    # pydantic looks for plugins through every installed distribution's entry
    # points the first time a model is built (~25 ms of a ~0.5 s command);
    # this process never needs them.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from .app import run

    try:
        run()
    finally:
        _before_exit()


def _before_exit() -> None:
    """Close the store's connections now, then spare interpreter teardown its collections.

    At exit CPython runs several full garbage collections over every object
    still alive, only to free memory the OS takes back anyway: 60-110 ms for
    the ~100k objects a command imports, a quarter of its run time.
    ``gc.freeze()`` exempts them. Cycles are then left to the OS, so the
    pooled database connections (in cycles) are closed here explicitly, as
    teardown would have done: SQLite removes its ``-wal``/``-shm`` files on
    the last close. Stream flushing, ``atexit`` handlers and module teardown
    still run as usual.
    """
    import gc
    import sys

    store = sys.modules.get("vertex_track.store")
    if store is not None:
        try:
            store.close_all()
        except Exception:  # best effort: exiting anyway, keep the command's own exit status
            pass
    gc.freeze()
