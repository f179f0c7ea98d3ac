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

from .entry import main

__all__ = ["app", "main"]


def __getattr__(name: str) -> Any:
    if name == "app":
        from .app import app

        return app
    raise AttributeError(f"module 'vertex_track.cli' has no attribute {name!r}")
