"""How a tracked task hooks into Prefect: its function wrapped, its Task made a ``TrackedTask``.

Shared by ``vt.track``/``vt.task`` (:mod:`vertex_track.tracking`) and by :func:`autotrack`
(:mod:`.auto`), which tracks every task Prefect builds.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from .frames import drop_own_frame
from .recorder import Tracker

__all__ = ["finish_task", "wrap_task_fn"]


def wrap_task_fn(fn: Callable[..., Any], tracker: Tracker) -> Callable[..., Any]:
    """``fn`` wrapped so that ``tracker`` records every call; the wrapper is tagged ``__vt_tracker__``."""
    if tracker.options.cache is not None:  # cache=True: consult the result cache first
        from .cache import TaskCache, wrap_cached

        return wrap_cached(fn, tracker, TaskCache(fn, tracker, tracker.options.cache))
    # The wrapper must be the same kind of function as the user's: Prefect
    # decides from it whether the task is async and/or a generator.
    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def async_gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            run = tracker.begin(args, kwargs)
            items: list[Any] = []
            try:
                async for item in fn(*args, **kwargs):
                    items.append(item)
                    yield item
            except BaseException as exc:
                tracker.end_failed(run, exc)
                drop_own_frame(exc, async_gen_wrapper)
                raise
            tracker.end_ok(run, items)

        async_gen_wrapper.__vt_tracker__ = tracker  # type: ignore[attr-defined]
        return async_gen_wrapper
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            run = tracker.begin(args, kwargs)
            items: list[Any] = []  # a generator's output is recorded as the list it yielded
            try:
                for item in fn(*args, **kwargs):
                    items.append(item)
                    yield item
            except BaseException as exc:
                tracker.end_failed(run, exc)
                drop_own_frame(exc, gen_wrapper)
                raise
            tracker.end_ok(run, items)

        gen_wrapper.__vt_tracker__ = tracker  # type: ignore[attr-defined]
        return gen_wrapper
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            run = tracker.begin(args, kwargs)
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                tracker.end_failed(run, exc)
                drop_own_frame(exc, async_wrapper)
                raise
            tracker.end_ok(run, result)
            return result

        wrapper: Any = async_wrapper
    else:

        @functools.wraps(fn)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            run = tracker.begin(args, kwargs)
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                tracker.end_failed(run, exc)
                drop_own_frame(exc, sync_wrapper)
                raise
            tracker.end_ok(run, result)
            return result

        wrapper = sync_wrapper
    wrapper.__vt_tracker__ = tracker
    return wrapper


def _on_completion(task: Any, task_run: Any, state: Any) -> None:
    """Prefect hook: record cache hits, which never call the wrapped function."""
    if state.name != "Cached":
        return
    tracker = getattr(task.fn, "__vt_tracker__", None)
    if tracker is None:
        return
    from prefect.context import TaskRunContext
    from prefect.futures import resolve_futures_to_results

    ctx = TaskRunContext.get()
    parameters = resolve_futures_to_results(ctx.parameters) if ctx is not None else {}
    tracker.record_cached(task_run, parameters or {}, state.result())


def _serving_from_cache() -> bool:
    """Is the task run Prefect is finishing right now a cache hit?"""
    from prefect.context import TaskRunContext

    ctx = TaskRunContext.get()
    task_run = ctx.task_run if ctx is not None else None
    return task_run is not None and task_run.state_name == "Cached"


def _tracked_task_class() -> type:
    from prefect.tasks import Task

    class TrackedTask(Task):  # type: ignore[misc]
        """A Prefect Task whose runs are tracked; ``with_options`` keeps tracking.

        Cache hits never call the task's function, so a completion hook
        records them. Prefect logs two INFO lines for every hook it runs, so
        the hook is handed to Prefect only when the run being finished is a
        cache hit: a tracked task logs what an untracked one logs.
        """

        _vt_task_key: str

        @property
        def on_completion_hooks(self) -> list[Any]:
            hooks = self.__dict__.setdefault("_vt_completion_hooks", [])
            if _serving_from_cache():
                return [*hooks, _on_completion]
            return hooks

        @on_completion_hooks.setter
        def on_completion_hooks(self, hooks: list[Any]) -> None:
            self.__dict__["_vt_completion_hooks"] = [h for h in hooks if h is not _on_completion]

        def with_options(self, *args: Any, **kwargs: Any) -> Any:
            return finish_task(super().with_options(*args, **kwargs), self._vt_task_key)

    return TrackedTask


_TRACKED_TASK: type | None = None


def finish_task(task: Any, task_key: str) -> Any:
    """Make ``task`` (whose fn is already wrapped) a ``TrackedTask`` keeping ``task_key``; returns it."""
    global _TRACKED_TASK
    if _TRACKED_TASK is None:
        _TRACKED_TASK = _tracked_task_class()
    hooks = task.__dict__.pop("on_completion_hooks", None)
    if hooks is None:
        hooks = list(task.__dict__.get("_vt_completion_hooks", []))
    task.__class__ = _TRACKED_TASK
    task.on_completion_hooks = hooks
    task._vt_task_key = task_key
    task.task_key = task_key  # Prefect derives it from fn; keep the untracked one
    return task
