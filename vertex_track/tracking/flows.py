"""``vt.flow``: a Prefect flow whose run is a ``system.PipelineRun`` with its final state.

The flow function is wrapped (not hooked): the wrapper runs inside the flow
run, before and after the body, in the caller's process, so the records are
committed by the time the flow call returns — Prefect's own hooks may run
after that point and its local-mode records can be lost at exit.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import time
from typing import Any

from ..config import get_settings
from ..exceptions import ConflictError, StoreUnavailableError
from ..resources import Context
from ..store import get_store
from .pipeline_run import SCHEMA, context_id_for, ensure_context
from .recorder import Tracker, current_pipeline, jsonable_parameters
from .writer import flush


class _FlowRun:
    def __init__(self, context: Context, started: float) -> None:
        self.context = context
        self.started = started


def _begin() -> tuple[_FlowRun | None, Any]:
    from prefect.context import FlowRunContext

    settings = None
    try:
        settings = get_settings()
        frc = FlowRunContext.get()
        if frc is None or frc.flow_run is None or frc.flow is None:
            return None, None  # called as a plain function (e.g. flow.fn(...))
        store = get_store()
        flow_run = frc.flow_run
        parents: list[str] = []
        parent = current_pipeline.get()
        if parent is not None:
            parents.append(parent.name)
        experiment_run = _experiment_run_context()
        if experiment_run is not None and experiment_run.name not in parents:
            parents.append(experiment_run.name)
        now = dt.datetime.now(dt.timezone.utc)
        metadata = {
            "flow_name": frc.flow.name,
            "flow_run_id": str(flow_run.id),
            "flow_run_name": flow_run.name,
            "parameters": jsonable_parameters(frc.parameters),
            "state": "RUNNING",
            "start_time": now.isoformat(),
            "run_count": int(flow_run.run_count or 1),
        }
        context = ensure_context(
            store, context_id_for(flow_run.id), schema_title=SCHEMA,
            display_name=flow_run.name or str(flow_run.id), metadata=metadata,
            parent_contexts=parents,
        )
        if context.metadata.get("state") != "RUNNING" or context.metadata.get(
            "flow_name"
        ) is None:
            context = _update(context, metadata)
        return _FlowRun(context, time.perf_counter()), current_pipeline.set(context)
    except Exception as exc:
        Tracker._handle(exc, "the start of the flow run", settings)
        return None, None


def _update(context: Context, metadata: dict[str, Any]) -> Context:
    for _ in range(5):
        try:
            return context.update(metadata=metadata)
        except ConflictError:
            context = Context.get(context.resource_id, store=context._own_store())
    return context.update(metadata=metadata)


def _end(run: _FlowRun | None, token: Any, error: BaseException | None) -> None:
    if token is not None:
        current_pipeline.reset(token)
    settings = None
    try:
        settings = get_settings()
        flush()  # every task record of the run is committed before the flow returns
        if run is None:
            return
        end = dt.datetime.now(dt.timezone.utc)
        metadata: dict[str, Any] = {
            "state": "FAILED" if error is not None else "COMPLETE",
            "end_time": end.isoformat(),
            "duration_s": round(time.perf_counter() - run.started, 6),
        }
        if error is not None:
            metadata["error_type"] = type(error).__name__
            metadata["error_message"] = str(error)[:2000]
        try:
            run.context = _update(run.context, metadata)
        except StoreUnavailableError:
            # The store went away during the run: the final state waits in the
            # spool with the task records (nothing lost, so no error).
            from .spool import get_spool

            store = run.context._own_store()
            get_spool().append(store, context_update={
                "resource_id": run.context.resource_id, "metadata": metadata,
            })
    except Exception as exc:
        Tracker._handle(exc, "the end of the flow run", settings)


def _experiment_run_context() -> Context | None:
    try:
        from ..experiments import _current_run_context
    except ImportError:
        return None
    return _current_run_context()


class FailedStateReturned(Exception):
    """The flow returned a failed Prefect state instead of raising."""


def _failed_state(result: Any) -> BaseException | None:
    """A flow that *returns* a failed state ends FAILED in Prefect: record it so."""
    from prefect.states import State

    states = result if isinstance(result, (list, tuple)) else [result]
    for state in states:
        if isinstance(state, State) and (state.is_failed() or state.is_crashed()):
            return FailedStateReturned(state.message or state.name or "failed state")
    return None


def _wrap(fn: Any) -> Any:
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            run, token = _begin()
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                _end(run, token, exc)
                raise
            _end(run, token, _failed_state(result))
            return result

        return async_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        run, token = _begin()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            _end(run, token, exc)
            raise
        _end(run, token, _failed_state(result))
        return result

    return wrapper


def make_flow(fn: Any, flow_kwargs: dict[str, Any]) -> Any:
    from prefect import flow as prefect_flow
    from prefect.flows import Flow

    if isinstance(fn, Flow):
        flow_kwargs = {"name": fn.name, **flow_kwargs}
        fn = fn.fn
    if "version" not in flow_kwargs:
        # Prefect versions a flow by hashing its function's file: the user's
        # file, not this module (which the wrapper would otherwise point to).
        version = _file_version(fn)
        if version is not None:
            flow_kwargs = {**flow_kwargs, "version": version}
    return prefect_flow(_wrap(fn), **flow_kwargs)


def _file_version(fn: Any) -> str | None:
    try:
        from prefect.utilities.hashing import file_hash

        path = inspect.getsourcefile(fn)
        return file_hash(path) if path else None
    except (OSError, TypeError):
        return None
