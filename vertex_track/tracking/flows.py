"""``vt.flow``: a Prefect flow whose run is a ``system.PipelineRun`` with its final state.

The flow function is wrapped (not hooked): the wrapper runs inside the flow
run, before and after the body, in the caller's process, so the records are
committed by the time the flow call returns — Prefect's own hooks may run
after that point and its local-mode records can be lost at exit. The wrapper
is the same kind of function as the user's (sync, async, generator, async
generator), so Prefect runs it exactly as it would run the user's function;
``classmethod`` and ``staticmethod`` flows keep their descriptor.

The run's recorded state is the one Prefect gives the flow run: the wrapper
applies Prefect's rule for return values (a returned state, or a list, tuple
or set made only of states, decides the final state; any other value,
including a tuple that merely contains a state, means COMPLETED).
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from typing import Any

from .. import _time
from ..config import get_settings
from ..context import current_run_context
from ..exceptions import ConflictError, StoreUnavailableError, TrackingError
from ..processes import process_info
from ..resources import Context
from ..store import get_store
from .frames import drop_own_frame
from .pipeline_run import SCHEMA, context_id_for, ensure_context
from .provenance import flow_inputs, param_provenance, record_flow_result, scope_chain
from .recorder import Tracker, current_pipeline, jsonable_parameters
from .workers import ray_worker_settings
from .writer import flush

#: Callables ``fn(context, ended)`` told when a tracked flow run starts (its
#: PipelineRun context, ``ended=False``) and ends (the context with its final
#: state, ``ended=True``): what an exporter (OpenLineage) listens to.
listeners: list[Any] = []


class _FlowRun:
    def __init__(self, context: Context, started: float, flow_run_id: str) -> None:
        self.context = context
        self.started = started
        self.flow_run_id = flow_run_id


class _Tokens:
    def __init__(self, pipeline: Any, inputs: Any, scopes: Any, workers: Any) -> None:
        self.pipeline = pipeline
        self.inputs = inputs
        self.scopes = scopes
        self.workers = workers  # entered: the settings handed to Ray workers

    def reset(self) -> None:
        self.workers.__exit__(None, None, None)
        current_pipeline.reset(self.pipeline)
        flow_inputs.reset(self.inputs)
        scope_chain.reset(self.scopes)


def _begin() -> tuple[_FlowRun | None, _Tokens | None]:
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
        now = _time.now()
        metadata = {
            "flow_name": frc.flow.name,
            "flow_run_id": str(flow_run.id),
            "flow_run_name": flow_run.name,
            "parameters": jsonable_parameters(frc.parameters),
            "state": "RUNNING",
            "start_time": now.isoformat(),
            "run_count": int(flow_run.run_count or 1),
            "vertex_track": {"process": process_info()},  # for `vertex-track doctor`
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
        # Where the flow's parameters came from (a subflow's inputs), before the
        # body's tasks need it.
        provenance = param_provenance(flow_run, frc.parameters or {})
        # Ray workers do not inherit this process's settings (see .workers).
        workers = ray_worker_settings(getattr(frc, "task_runner", None))
        tokens = _Tokens(
            current_pipeline.set(context), flow_inputs.set(provenance),
            scope_chain.set((context.resource_id, *scope_chain.get())), workers,
        )
        workers.__enter__()
        if listeners:
            _notify(context, ended=False)
        return _FlowRun(context, time.perf_counter(), str(flow_run.id)), tokens
    except Exception as exc:
        Tracker._handle(exc, "the start of the flow run", settings)
        return None, None


def _notify(context: Context, *, ended: bool) -> None:
    for listener in list(listeners):
        try:
            listener(context, ended)
        except Exception:  # an exporter's bug never costs the flow run
            logging.getLogger("vertex_track.tracking").debug("flow listener failed", exc_info=True)


def _update(context: Context, metadata: dict[str, Any]) -> Context:
    for _ in range(5):
        try:
            return context.update(metadata=metadata)
        except ConflictError:
            context = Context.get(context.resource_id, store=context._own_store())
    return context.update(metadata=metadata)


_NO_RESULT = object()


def _end(
    run: _FlowRun | None,
    tokens: _Tokens | None,
    error: BaseException | None,
    result: Any = _NO_RESULT,
) -> None:
    """Commit the run's records and its final state.

    Raises:
        TrackingError: under ``on_tracking_error="raise"``, something of the
            run could not be recorded (the flow run then fails, as Prefect
            records it too).
    """
    settings = None
    unrecorded: TrackingError | None = None
    try:
        settings = get_settings()
        if run is not None and result is not _NO_RESULT:
            record_flow_result(run.flow_run_id, result)
        if tokens is not None:
            tokens.reset()
        try:
            # Every task record of the run is committed before the flow returns;
            # what this run's tracking could not record is raised now.
            flush(deferred=run.flow_run_id if run is not None else False)
        except TrackingError as exc:
            unrecorded = exc
        if run is None:
            return
        end = _time.now()
        if error is not None:
            state, reason = _state_of_exception(error), error
        else:
            state, reason = _state_of_return(result)
        if unrecorded is not None and state == "COMPLETE":
            state, reason = "FAILED", unrecorded
        metadata: dict[str, Any] = {
            "state": state,
            "end_time": end.isoformat(),
            "duration_s": round(time.perf_counter() - run.started, 6),
        }
        if reason is not None:
            metadata["error_type"] = type(reason).__name__ if isinstance(
                reason, BaseException
            ) else "State"
            metadata["error_message"] = str(reason)[:2000]
        try:
            run.context = _update(run.context, metadata)
            if listeners:
                _notify(run.context, ended=True)
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
        try:  # under "raise", reports what _handle deferred
            flush(deferred=run.flow_run_id if run is not None else False)
        except TrackingError as deferred:
            unrecorded = unrecorded or deferred
    if unrecorded is not None and error is None:
        raise unrecorded


def _state_of_exception(error: BaseException) -> str:
    """Prefect's final state for a flow that raised: CANCELLED, else FAILED (or CRASHED)."""
    from prefect.exceptions import CancelledRun

    return "CANCELLED" if isinstance(error, CancelledRun) else "FAILED"


def _state_of_return(result: Any) -> tuple[str, Any]:
    """Prefect's final state for a flow that returned ``result`` (its aggregate rule)."""
    if result is _NO_RESULT or result is None:
        return "COMPLETE", None
    from prefect.futures import PrefectFuture, resolve_futures_to_states
    from prefect.states import State, is_state_iterable

    def has_futures(value: Any) -> bool:
        if isinstance(value, PrefectFuture):
            return True
        if isinstance(value, (list, tuple, set)):
            return any(isinstance(v, (PrefectFuture, State)) for v in value)
        return isinstance(value, State)

    if not has_futures(result):
        return "COMPLETE", None  # plain data: Prefect completes the run
    resolved = resolve_futures_to_states(result)
    if isinstance(resolved, State):
        states = [resolved]
    elif is_state_iterable(resolved):
        states = list(resolved)
    else:
        return "COMPLETE", None
    if all(s.is_completed() for s in states):
        return "COMPLETE", None
    if any(s.is_cancelled() for s in states):
        return "CANCELLED", None
    failed = [s for s in states if not s.is_completed()]
    return "FAILED", failed[0].message or failed[0].name or "failed state"


def _experiment_run_context() -> Context | None:
    ctx: Context | None = current_run_context()
    return ctx


def _wrap(fn: Any) -> Any:
    # The wrapper must be the same kind of function as the user's: Prefect
    # decides from it how to run the flow (sync, async, generator).
    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def async_gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            run, tokens = _begin()
            try:
                async for item in fn(*args, **kwargs):
                    yield item
            except GeneratorExit:
                _end(run, tokens, None)
                raise
            except BaseException as exc:
                _end(run, tokens, exc)
                drop_own_frame(exc, async_gen_wrapper)
                raise
            _end(run, tokens, None)

        return async_gen_wrapper
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            run, tokens = _begin()
            try:
                result = yield from fn(*args, **kwargs)
            except GeneratorExit:
                _end(run, tokens, None)
                raise
            except BaseException as exc:
                _end(run, tokens, exc)
                drop_own_frame(exc, gen_wrapper)
                raise
            _end(run, tokens, None)
            return result

        return gen_wrapper
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            run, tokens = _begin()
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                _end(run, tokens, exc)
                drop_own_frame(exc, async_wrapper)
                raise
            _end(run, tokens, None, result)
            return result

        return async_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        run, tokens = _begin()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            _end(run, tokens, exc)
            drop_own_frame(exc, wrapper)
            raise
        _end(run, tokens, None, result)
        return result

    return wrapper


def is_tracked_flow_fn(fn: Any) -> bool:
    return getattr(fn, "__vt_flow__", False)


def wrap_flow_fn(fn: Any) -> Any:
    """``fn`` wrapped for tracking; a ``classmethod``/``staticmethod`` stays one."""
    descriptor = type(fn) if isinstance(fn, (classmethod, staticmethod)) else None
    inner = fn.__func__ if descriptor is not None else fn
    if is_tracked_flow_fn(inner):
        return fn
    wrapped = _wrap(inner)
    wrapped.__vt_flow__ = True
    return descriptor(wrapped) if descriptor is not None else wrapped


def make_flow(fn: Any, flow_kwargs: dict[str, Any]) -> Any:
    # Prefect's Flow class, not the `prefect.flow` attribute: a code base that
    # replaced `prefect.flow` by `vt.flow` must not recurse into us.
    from prefect.flows import Flow

    if isinstance(fn, Flow):
        flow_kwargs = {"name": fn.name, **flow_kwargs}
        fn = fn.fn
        if getattr(fn, "__vt_flow__", False):
            return Flow(fn, **flow_kwargs)
    if "version" not in flow_kwargs:
        # Prefect versions a flow by hashing its function's file: the user's
        # file, not this module (which the wrapper would otherwise point to).
        version = _file_version(fn)
        if version is not None:
            flow_kwargs = {**flow_kwargs, "version": version}
    return Flow(wrap_flow_fn(fn), **flow_kwargs)


def _file_version(fn: Any) -> str | None:
    try:
        from prefect.utilities.hashing import file_hash

        inner = fn.__func__ if isinstance(fn, (classmethod, staticmethod)) else fn
        path = inspect.getsourcefile(inner)
        return file_hash(path) if path else None
    except (OSError, TypeError):
        return None



