"""Ambient state read across layers: the current experiment run (the role ``prefect.context`` plays).

``vertex_track.experiments`` sets the current run (``vt.start_run``) and clears it; executions
made by hand and tracked flows read its Context, to attribute what they record to the run. Keeping
the state here, below all three, lets them share it without importing each other.

As in the Vertex SDK, the current run is process-wide (one at a time): it is seen from every
thread, so Prefect tasks running in worker threads record into it. Worker *processes* (Dask, Ray)
do not inherit it.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["clear_current_run", "current_run", "current_run_context", "set_current_run"]

_lock = threading.Lock()
# (run, its Context): read without the lock (one atomic load), written under it.
_current: tuple[Any, Any] | None = None


def current_run() -> Any:
    """The current experiment run (an ``ExperimentRun``), or None when none is set."""
    current = _current
    return current[0] if current is not None else None


def current_run_context() -> Any:
    """The current run's Context, or None. No I/O: called on every tracked flow and execution."""
    current = _current
    return current[1] if current is not None else None


def set_current_run(run: Any, context: Any) -> None:
    """Make ``run`` (whose Context is ``context``) the current run, replacing any other."""
    global _current
    with _lock:
        _current = (run, context)


def clear_current_run(run: Any = None) -> None:
    """Clear the current run: only if it equals ``run`` when ``run`` is given, else whichever."""
    global _current
    with _lock:
        if _current is not None and (run is None or _current[0] == run):
            _current = None
