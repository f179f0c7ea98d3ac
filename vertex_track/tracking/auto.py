"""``vt.autotrack()``: track every Prefect task and flow of a code base without editing it.

Like ``mlflow.autolog()``: call it once, before the modules that define the
tasks and flows are imported (or set ``VERTEX_TRACK_AUTOTRACK=1`` and import
``vertex_track`` first). From then on every ``prefect.Task`` and
``prefect.Flow`` that is created — by ``@task``/``@flow`` however they were
imported, by ``with_options``, or by ``Task(...)`` — is tracked exactly as
``vt.track``/``vt.flow`` would track it. Tasks and flows created before the
call are left as they are.

How: Prefect's ``Task.__init__`` and ``Flow.__init__`` are wrapped once per
process; each new task's function is wrapped for tracking, each new flow's
function gets ``vt.flow``'s wrapper. Nothing else about them changes (names,
task keys, cache keys, options).
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Iterable
from typing import Any

from ..exceptions import InvalidArgumentError

_lock = threading.Lock()
_enabled = False
_exclude: tuple[str, ...] = ()
_patched = False


def autotrack(*, exclude: Iterable[str] = (), disable: bool = False) -> None:
    """Track every Prefect task and flow created from now on in this process.

    Args:
        exclude: names not to track: a task's or flow's name, its function's
            ``__name__``, or its ``module.qualname``; shell-style wildcards
            allowed (``"mypkg.io.*"``).
        disable: turn automatic tracking off again (tasks and flows created
            meanwhile stay tracked).

    Raises:
        InvalidArgumentError: ``exclude`` is a single string instead of a list.
    """
    global _enabled, _exclude
    if isinstance(exclude, str):
        raise InvalidArgumentError(
            f"exclude must be a list of names, got the string {exclude!r}; "
            f"write exclude=[{exclude!r}]"
        )
    patterns = tuple(exclude)
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern:
            raise InvalidArgumentError(f"exclude holds names (non-empty strings), got {pattern!r}")
    with _lock:
        _exclude = patterns
        _enabled = not disable
        if _enabled:
            _patch()


def _excluded(name: str | None, fn: Any) -> bool:
    if not _exclude:
        return False
    inner = getattr(fn, "__func__", fn)
    names = [
        name or "",
        getattr(inner, "__name__", ""),
        f"{getattr(inner, '__module__', '')}.{getattr(inner, '__qualname__', '')}",
    ]
    return any(fnmatch.fnmatchcase(n, p) for p in _exclude for n in names if n)


def _patch() -> None:
    global _patched
    if _patched:
        return
    from prefect.flows import Flow
    from prefect.tasks import Task

    task_init = Task.__init__
    flow_init = Flow.__init__

    def tracked_task_init(self: Any, fn: Any, *args: Any, **kwargs: Any) -> None:
        task_init(self, fn, *args, **kwargs)
        if not _enabled or getattr(self.fn, "__vt_tracker__", None) is not None:
            return
        if _excluded(getattr(self, "name", None), self.fn):
            return
        from .recorder import Options, Tracker
        from .tasks import finish_task, wrap_task_fn

        original, key = self.fn, self.task_key
        self.fn = wrap_task_fn(original, Tracker(original, Options()))
        finish_task(self, key)

    def tracked_flow_init(self: Any, fn: Any, *args: Any, **kwargs: Any) -> None:
        from .flows import _file_version, is_tracked_flow_fn, wrap_flow_fn

        inner = getattr(fn, "__func__", fn)
        if _enabled and callable(inner) and not is_tracked_flow_fn(inner) and not _excluded(
            kwargs.get("name"), fn
        ):
            if "version" not in kwargs:
                version = _file_version(fn)
                if version is not None:
                    kwargs["version"] = version
            fn = wrap_flow_fn(fn)
        flow_init(self, fn, *args, **kwargs)

    Task.__init__ = tracked_task_init  # type: ignore[method-assign]
    Flow.__init__ = tracked_flow_init  # type: ignore[method-assign]
    _patched = True
