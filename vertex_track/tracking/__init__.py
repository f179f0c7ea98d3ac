"""Auto-tracking of Prefect tasks and flows: ``vt.track``, ``vt.task``, ``vt.flow``.

How a tracked task hooks in (a deliberate choice between Prefect's state
hooks and wrapping): the task's function is wrapped (``functools.wraps``, so Prefect sees the same
signature, source and description) and the Task is rebuilt with
``Task.with_options`` so every option the user gave stays. Wrapping is what
sees argument values and the return value on every attempt; Prefect state
hooks do not. A cache hit never calls the function, so an ``on_completion``
hook records those (state ``Cached``); it is handed to Prefect only for a
run that is a cache hit (Prefect logs two lines per hook it runs). The task key is kept equal to the
untracked task's so Prefect's cache keys and task identity do not change.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, overload

from ..exceptions import InvalidArgumentError, TrackingError, TrackingWarning
from ..validation import check_schema_title
from .auto import autotrack
from .markers import ArtifactType, Dataset, Metrics, Model
from .recorder import DEFAULT_EXECUTION_SCHEMA, Options, Tracker
from .tasks import finish_task, wrap_task_fn
from .writer import flush

__all__ = [
    "ArtifactType",
    "Dataset",
    "Metrics",
    "Model",
    "TrackingError",
    "TrackingWarning",
    "autotrack",
    "flow",
    "flush",
    "task",
    "track",
]

F = TypeVar("F")


_CACHE_ARGS = ("cache_expiration", "refresh_cache", "verify", "version")


def _options(
    schema_title: str | None, display_name: str | None, ignore: Iterable[str],
    cache: bool = False, cache_args: dict[str, Any] | None = None,
) -> Options:
    title = schema_title or DEFAULT_EXECUTION_SCHEMA
    check_schema_title(title)
    if isinstance(ignore, str):
        raise InvalidArgumentError(
            f"ignore must be a list of argument names, got the string {ignore!r}"
        )
    cache_opts = None
    given = {k: v for k, v in (cache_args or {}).items() if v is not None}
    if cache:
        from .cache import cache_options

        cache_opts = cache_options(**given)
    elif given.keys() & {"verify", "version"}:
        raise InvalidArgumentError(
            f"{' and '.join(sorted(given.keys() & {'verify', 'version'}))} apply to "
            "vertex_track's result cache: pass cache=True as well"
        )
    return Options(
        schema_title=title, display_name=display_name, ignore=frozenset(ignore),
        cache=cache_opts,
    )


@overload
def track(obj: F, /) -> F: ...
@overload
def track(
    obj: None = None, /, *, schema_title: str | None = ..., display_name: str | None = ...,
    ignore: Iterable[str] = ..., cache: bool = ..., cache_expiration: Any = ...,
    refresh_cache: bool | None = ..., verify: str | None = ..., version: str | None = ...,
) -> Callable[[F], F]: ...


def track(
    obj: Any = None,
    /,
    *,
    schema_title: str | None = None,
    display_name: str | None = None,
    ignore: Iterable[str] = (),
    cache: bool = False,
    cache_expiration: Any = None,
    refresh_cache: bool | None = None,
    verify: str | None = None,
    version: str | None = None,
) -> Any:
    """Record every run of a Prefect task (or a plain function) as an Execution.

    Stack it on ``@task``::

        @vt.track
        @task(retries=2)
        def train(data: vt.Dataset, lr: float = 0.1) -> vt.Model: ...

    Each run becomes one Execution (``RUNNING``, then ``COMPLETE`` /
    ``FAILED``, or ``CACHED`` for a Prefect cache hit); scalar arguments go to
    its metadata, other arguments and return values become input/output
    Artifacts linked by Events, inside the flow run's PipelineRun context.
    The task's behaviour, return value, retries, caching and task runners are
    unchanged. A plain function is tracked the same way, outside any flow.

    Args:
        schema_title: the Execution's schema (default ``system.ContainerExecution``).
        display_name: the Execution's display name (default: the task run name).
        ignore: argument names not to record (nor to key the cache on).
        cache: reuse an earlier result when the code, the parameters and the
            inputs' contents are the same (see ``docs/cache.md``): the
            function is not called, a ``CACHED`` Execution points at the
            original outputs, and the reason a run did not reuse is recorded
            (``vt.explain_cache``).
        cache_expiration: with ``cache``, a ``datetime.timedelta``: results
            older than this are not reused.
        refresh_cache: with ``cache``, run anyway (the new result is reused later).
        verify: with ``cache``, what is checked before a result is reused:
            ``"exists"`` (default: recorded and its stored bytes present) or
            ``"digest"`` (the stored bytes re-hashed too).
        version: with ``cache``, stands for the code in the key instead of the
            function's source (bump it when a helper the task calls changes).

    Raises:
        InvalidArgumentError: bad options (``verify`` other than ``"exists"`` /
            ``"digest"``, a non-positive ``cache_expiration``, ``verify`` or
            ``version`` without ``cache``, ``cache`` on a generator), or
            ``obj`` is a flow (use ``vt.flow``).
    """
    options = _options(schema_title, display_name, ignore, cache, {
        "cache_expiration": cache_expiration, "refresh_cache": refresh_cache,
        "verify": verify, "version": version,
    })
    if obj is None:
        return lambda target: _track(target, options)
    return _track(obj, options)


def _track(obj: Any, options: Options) -> Any:
    from prefect.flows import Flow
    from prefect.tasks import Task

    if isinstance(obj, Flow):
        raise InvalidArgumentError("vt.track takes a task or a function; use vt.flow for flows")
    if isinstance(obj, Task):
        return _track_task(obj, options)
    if callable(obj):
        if getattr(obj, "__vt_tracker__", None) is not None:
            return obj
        return wrap_task_fn(obj, Tracker(obj, options))
    raise InvalidArgumentError(f"vt.track needs a Prefect task or a function, got {obj!r}")


def _track_task(task: Any, options: Options) -> Any:
    from prefect.tasks import Task

    if getattr(task.fn, "__vt_tracker__", None) is not None:
        return task
    shell = copy.copy(task)
    shell.fn = wrap_task_fn(task.fn, Tracker(task.fn, options))
    # with_options re-runs Task.__init__ with every option of `task`, so what
    # Prefect derives from fn (isasync, description, source) is recomputed
    # from the wrapper, which follows __wrapped__.
    if options.cache is not None and _prefect_default_policy(task):
        # vertex_track's cache replaces Prefect's default one, which would hash
        # (cloudpickle) every input again on each run for nothing.
        from prefect.cache_policies import NO_CACHE

        return finish_task(Task.with_options(shell, cache_policy=NO_CACHE), task.task_key)
    return finish_task(Task.with_options(shell), task.task_key)


def _prefect_default_policy(task: Any) -> bool:
    """Did the task's author leave Prefect's caching at its default?"""
    from prefect.utilities.annotations import NotSet

    return (
        getattr(task, "_user_cache_policy", None) is NotSet
        and getattr(task, "cache_key_fn", None) is None
    )


def task(
    __fn: Any = None,
    *,
    schema_title: str | None = None,
    ignore: Iterable[str] = (),
    **task_kwargs: Any,
) -> Any:
    """``vt.task(...)`` is ``vt.track(prefect.task(...))``; takes Prefect's task options.

    With ``cache=True`` the options ``cache_expiration``, ``refresh_cache``,
    ``verify`` and ``version`` are those of :func:`track` (vertex_track's
    result cache) rather than Prefect's.

    Example::

        @vt.task(retries=2, schema_title="system.ContainerExecution")
        def train(data, lr: float = 0.1): ...

    Raises:
        InvalidArgumentError: bad tracking or cache options (see :func:`track`).
    """
    # Prefect's Task class, not the `prefect.task` attribute: a code base that
    # replaced `prefect.task` by `vt.task` must not recurse into us.
    from prefect.tasks import Task

    display_name = task_kwargs.pop("display_name", None)
    cache = bool(task_kwargs.pop("cache", False))
    # With cache=True, cache_expiration and refresh_cache are vertex_track's, not Prefect's.
    cache_args = {
        k: task_kwargs.pop(k) for k in _CACHE_ARGS
        if k in task_kwargs and (cache or k in ("verify", "version"))
    }
    options = _options(schema_title, display_name, ignore, cache, cache_args)

    def decorate(fn: Any) -> Any:
        if isinstance(fn, Task):
            return _track_task(fn, options)
        return _track_task(Task(fn, **task_kwargs), options)

    return decorate(__fn) if __fn is not None else decorate


def flow(__fn: Any = None, **flow_kwargs: Any) -> Any:
    """``prefect.flow`` that also records the PipelineRun's parameters and final state.

    Use it bare (``@vt.flow``) or with Prefect's options (``@vt.flow(name=...)``).
    When the flow call returns, every tracked record of the run is committed.
    """
    from .flows import make_flow

    def decorate(fn: Any) -> Any:
        return make_flow(fn, flow_kwargs)

    return decorate(__fn) if __fn is not None else decorate
