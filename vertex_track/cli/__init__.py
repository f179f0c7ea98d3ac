"""The ``vertex-track`` command line: a thin view over the public library API.

Commands (``vertex-track --help`` for all, ``docs/cli.md`` for the reference):
``runs list|show``, ``artifacts|executions|contexts list|show``, ``lineage``,
``diff``, ``experiments list|show``, ``purge``, ``gc``.

Startup is kept short for a command people run right after a flow: this
package imports Typer and nothing else heavy up front (no Prefect, pandas or
numpy, ever; SQLAlchemy and the filter parser only when a command reads the
store; rich only to draw on a terminal).
"""

from __future__ import annotations

from typing import Any

__all__ = ["app", "main"]


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


def __getattr__(name: str) -> Any:
    if name == "app":
        from .app import app

        return app
    raise AttributeError(f"module 'vertex_track.cli' has no attribute {name!r}")
