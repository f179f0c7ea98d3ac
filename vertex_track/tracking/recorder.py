"""One task run -> one Execution record (the tracking hot path).

:class:`Tracker` holds what is known about a tracked function once (its
signature, annotations, options); :meth:`Tracker.begin` and the ``end_*``
methods turn one call into records for the background writer
(:mod:`.writer`). Nothing here blocks on the database.
"""

from __future__ import annotations

import contextvars
import inspect
import itertools
import logging
import time
import typing
import uuid
import warnings
from dataclasses import dataclass, field
from typing import Any

from .._time import iso, now, now_micros
from ..config import Settings, get_settings
from ..processes import process_info
from ..resources import Context, ExecutionState
from ..store import tracking_store
from ..store.base import ExecutionRow, LinkRow
from ..validation import generate_resource_id
from .execution_json import MetaHead, meta_head, metadata_json
from .markers import schema_from_annotation
from .pipeline_run import SCHEMA, context_id_for, ensure_context
from .provenance import (
    flow_inputs,
    from_flow_inputs,
    generator_items,
    links_for,
    producers,
    remember_outputs,
    scope_chain,
)
from .values import (
    artifact_row,
    is_parameter,
    parameter_value,
    placeholder,
    produced,
)
from .writer import Record, TrackingError, TrackingWarning, get_writer

logger = logging.getLogger("vertex_track.tracking")

DEFAULT_EXECUTION_SCHEMA = "system.ContainerExecution"
FIX_HINT = (
    "To go on: leave the value out with vt.track(ignore=[...]) / vt.task(ignore=[...]), "
    "register a materializer for its type (vt.register_materializer), or set "
    'on_tracking_error="warn" (vt.init or VERTEX_TRACK_ON_TRACKING_ERROR)'
)
_SESSION = f"session-{uuid.uuid4().hex[:16]}"  # scope of inline values outside flows

# The PipelineRun context of the vt.flow being run (set by the flow wrapper).
current_pipeline: contextvars.ContextVar[Context | None] = contextvars.ContextVar(
    "vertex_track_pipeline", default=None
)


_iso = iso  # RFC 3339 text of a time in microseconds since the epoch (UTC)


@dataclass
class Options:
    schema_title: str = DEFAULT_EXECUTION_SCHEMA
    display_name: str | None = None
    ignore: frozenset[str] = frozenset()
    cache: Any = None  # a cache.CacheOptions when the task reuses results (cache=True)


@dataclass
class Run:
    """State of one call between begin and end."""

    store: Any
    settings: Settings
    resource_id: str
    display_name: str
    params: dict[str, Any]
    context_ids: tuple[str, ...]  # the PipelineRun it runs in, if any
    inputs: list[LinkRow]
    scope: str
    scopes: tuple[str, ...]  # scope and the runs containing it (identity lookups)
    started: float
    start_us: int
    attempt: int
    in_flow_process: bool
    vt_meta: dict[str, Any] = field(default_factory=dict)
    # The metadata as begin knows it, encoded once: see execution_json.
    meta_head: MetaHead | None = None
    # The RUNNING record while it is queued: the end record is merged into it
    # if the writer has not taken it yet (one row written instead of two).
    queued: Record | None = None


class Tracker:
    """Everything about one tracked function that does not change between calls."""

    def __init__(self, fn: Any, options: Options) -> None:
        self.fn = fn
        self.options = options
        self.signature = inspect.signature(fn)
        try:
            hints = typing.get_type_hints(fn, include_extras=True)
        except Exception:  # unresolvable forward refs: fall back to raw annotations
            hints = dict(getattr(fn, "__annotations__", {}))
        self.arg_schema = {
            name: schema_from_annotation(hint) for name, hint in hints.items() if name != "return"
        }
        ret = hints.get("return")
        self.return_schema = schema_from_annotation(ret)
        self.return_element_schemas: list[str | None] = []
        if typing.get_origin(ret) is tuple:
            self.return_element_schemas = [schema_from_annotation(a) for a in typing.get_args(ret)]
        self.name = getattr(fn, "__name__", "function")
        self.is_generator = inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn)
        # Plain signatures (positional-or-keyword parameters only) are bound
        # without inspect on the hot path when every parameter is given.
        params = list(self.signature.parameters.values())
        # Prefect keys task_inputs by parameter; ``**kwargs`` items are spread here.
        self._var_keyword = next(
            (p.name for p in params if p.kind is inspect.Parameter.VAR_KEYWORD), None
        )
        self._plain_names: tuple[str, ...] | None = None
        if all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params):
            self._plain_names = tuple(p.name for p in params)

    # -- policy -----------------------------------------------------------------------
    @staticmethod
    def _handle(exc: BaseException, what: str, settings: Settings | None) -> None:
        """Report a tracking failure without touching the user's task.

        ``warn``: one warning now (Python warning + Prefect's run logger).
        ``raise``: inside a flow run, a :class:`TrackingError` raised when the
        ``vt.flow`` run ends, after the tasks themselves ran and returned their
        values; outside any flow run, raised now (nothing later belongs to
        this call).
        """
        policy = settings.on_tracking_error if settings is not None else "raise"
        message = f"vertex_track could not record {what}: {exc!r}. {FIX_HINT}"
        if policy == "warn":
            message += " (The task itself is unaffected.)"
            warnings.warn(message, TrackingWarning, stacklevel=4)
            try:
                from prefect.logging import get_run_logger

                get_run_logger().warning(message)
            except Exception:
                logger.warning(message)
            return
        error = TrackingError(message)
        error.__cause__ = exc
        flow_run_id = _current_flow_run_id()
        if flow_run_id is None:
            # Outside a flow run nothing ends later that this call belongs to.
            raise error from exc
        get_writer().defer_error(flow_run_id, error)
        # Also said now, where the run's logs are read: a Dask worker's deferred
        # errors would otherwise only reach that worker's own exit.
        try:
            from prefect.logging import get_run_logger

            get_run_logger().error(message)
        except Exception:
            logger.error(message)

    # -- begin ---------------------------------------------------------------------------
    def begin(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Run | None:
        settings = None
        try:
            settings = get_settings()
            return self._begin(settings, args, kwargs)
        except TrackingError:
            raise  # already reported (raised: outside a flow run, under "raise")
        except Exception as exc:
            self._handle(exc, f"the start of {self.name}", settings)
            return None

    def _begin(self, settings: Settings, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Run:
        names = self._plain_names
        items: list[tuple[str, Any]] | None = None
        if names is not None and len(args) + len(kwargs) == len(names):
            try:  # every parameter given, positionally or by name (as Prefect calls)
                items = [*zip(names, args), *((n, kwargs[n]) for n in names[len(args):])]
            except KeyError:
                items = None
        if items is None:
            items = self._bind(args, kwargs)
        task_ctx, flow_ctx = _prefect_contexts()
        run = self._start(
            settings, task_ctx.task_run if task_ctx is not None else None,
            task_ctx.task.name if task_ctx is not None else self.name, flow_ctx, items,
        )
        # RUNNING (with the inputs on the first attempt) is queued now, so readers
        # see it while the body runs; the end record follows in queue order.
        run.queued = Record(
            run.store, self._row(run, ExecutionState.RUNNING, run.start_us),
            tuple(run.inputs) if run.attempt == 1 else (),
            run.context_ids, settings.on_tracking_error,
            fresh=run.attempt == 1,
        )
        get_writer().submit(run.queued)
        if self.is_generator:
            generator_items[run.resource_id] = []  # running: its items can be consumed now
        return run

    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[tuple[str, Any]]:
        """``(label, value)`` of every argument, defaults applied, ``*args``/``**kw`` spread."""
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        items: list[tuple[str, Any]] = []
        for name, value in bound.arguments.items():
            kind = self.signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_KEYWORD and isinstance(value, dict):
                items.extend(value.items())
            elif kind is inspect.Parameter.VAR_POSITIONAL:
                items.extend((f"{name}.{i}", v) for i, v in enumerate(value))
            else:
                items.append((name, value))
        return items

    def _start(
        self,
        settings: Settings,
        task_run: Any,
        task_name: str,
        flow_ctx: Any,
        arguments: list[tuple[str, Any]],
    ) -> Run:
        """Describe one call: its execution fields (not yet queued), contexts and inputs."""
        store = tracking_store()  # unreachable now: a stand-in, and the records are spooled
        start_us = now_micros()
        vt_meta: dict[str, Any] = {
            "task_name": task_name, "start_time": _iso(start_us), "process": process_info(),
        }
        contexts: list[Context] = []
        attempt = 1
        if task_run is not None:
            vt_meta.update(
                task_run_id=str(task_run.id),
                flow_run_id=str(task_run.flow_run_id) if task_run.flow_run_id else None,
            )
            attempt = max(int(task_run.run_count or 1), 1)
            resource_id = f"taskrun-{task_run.id}"
            display_name = self.options.display_name or task_run.name
            if task_run.flow_run_id is not None:
                contexts.append(pipeline_context(store, task_run.flow_run_id, flow_ctx))
        else:
            resource_id = f"run-{generate_resource_id()}"
            display_name = self.options.display_name or self.name
            pipeline = current_pipeline.get()
            if pipeline is not None:
                contexts.append(pipeline)
        vt_meta["attempt"] = attempt
        scope = contexts[0].resource_id if contexts else _SESSION
        chain = scope_chain.get()
        scopes = (scope, *chain) if chain else (scope,)
        task_inputs = getattr(task_run, "task_inputs", None) if task_run is not None else None
        if task_inputs:
            waits = task_inputs.get("wait_for")
            if waits:  # an ordering dependency, not data: no event
                vt_meta["wait_for"] = [str(getattr(w, "id", w)) for w in waits]

        params: dict[str, Any] = {}
        inputs: list[LinkRow] = []
        in_subflow = bool(flow_inputs.get())  # parameters of the current flow that tasks made
        for label, value in arguments:
            if label in self.options.ignore:
                continue
            known = None  # what the value itself was recorded as, by identity
            if is_parameter(value):
                params[label] = parameter_value(value)
            else:
                try:
                    known = self._input_links(inputs, label, value, scope, scopes, start_us)
                except Exception as exc:  # this argument only; the call is still tracked
                    params[label] = placeholder(value, exc)
                    self._handle(exc, f"argument {label!r} of {self.name}", settings)
            # Where the value came from, by Prefect's graph (any type, any size).
            targets = producers(task_inputs.get(label) or (
                task_inputs.get(self._var_keyword) if self._var_keyword else None
            )) if task_inputs else []
            if not targets and in_subflow:  # a subflow's parameter, handed on to this task
                targets = from_flow_inputs(value)
            if targets:
                links_for(inputs, label, value, targets, known)
        return Run(
            store=store, settings=settings, resource_id=resource_id,
            display_name=(display_name or "")[:128], params=params,
            context_ids=tuple(c.resource_id for c in contexts),
            inputs=inputs, scope=scope, scopes=scopes, started=time.perf_counter(),
            start_us=start_us,
            attempt=attempt, in_flow_process=task_run is None or (
                # A worker process (Dask, Ray) gets the flow's context too, marked
                # detached: there nobody flushes before the flow returns.
                flow_ctx is not None and not getattr(flow_ctx, "detached", False)
            ),
            vt_meta=vt_meta, meta_head=meta_head(params, vt_meta),
        )

    def _row(self, run: Run, state: ExecutionState, update_us: int) -> ExecutionRow:
        """The execution as it stands now (metadata: parameters + timings, as JSON text).

        Rows hold only strings and numbers: a queued row is then invisible to
        the garbage collector, which matters when thousands are queued.
        """
        return (
            run.resource_id, run.display_name, self.options.schema_title,
            state._value_,  # the enum's value without its descriptor call
            metadata_json(run.params, run.vt_meta, run.meta_head), run.start_us, update_us,
        )

    def _input_links(
        self, out: list[LinkRow], label: str, value: Any, scope: str,
        scopes: tuple[str, ...], now_us: int,
    ) -> Any:
        """Append the INPUT links of ``value``; returns what it was recorded as (identity)."""
        known = produced.get(value, scopes)
        if isinstance(known, str):  # this very object is an upstream output
            out.append(("INPUT", label, known))
            return known
        out.append(("INPUT", label, artifact_row(
            value, label=label, scope=scope, schema_title=self.arg_schema.get(label),
            now_us=now_us,
        )))
        # A dict/tuple an upstream task returned: each recorded element gets its
        # own edge (identity only: equal scalars of unrelated origin never link).
        if isinstance(known, dict):
            for key, rid in known.items():
                out.append(("INPUT", f"{label}.{key}", rid))
            return known
        if isinstance(value, dict):
            elements: Any = ((k, v) for k, v in value.items() if isinstance(k, str))
        elif isinstance(value, (tuple, list)):
            elements = enumerate(value)
        else:
            return None
        for key, element in itertools.islice(elements, 256):
            if is_parameter(element):
                continue  # scalars are never recorded by identity
            rid = produced.get(element, scopes)
            if isinstance(rid, str):
                out.append(("INPUT", f"{label}.{key}", rid))
        return None

    # -- end -----------------------------------------------------------------------------
    def end_ok(self, run: Run | None, result: Any, state: ExecutionState = ExecutionState.COMPLETE) -> None:
        if run is None:
            return
        try:
            outputs = self._outputs(run, result)
        except Exception as exc:
            # The task succeeded; its value is returned as it is. The record says
            # why its outputs are missing.
            run.vt_meta.update(
                tracking_error=f"outputs not recorded: {type(exc).__name__}: {exc}"[:2000]
            )
            self._end_quietly(run, ExecutionState.FAILED, [])
            self._handle(exc, f"the outputs of {run.display_name}", run.settings)
            return
        self._end_quietly(run, state, outputs)

    def end_failed(self, run: Run | None, exc: BaseException) -> None:
        if run is None:
            return
        run.vt_meta.update(error_type=type(exc).__name__, error_message=str(exc)[:2000])
        self._end_quietly(run, ExecutionState.FAILED, [])

    def end_reused(self, run: Run | None, outputs: list[tuple[str, str, Any]], result: Any) -> None:
        """End a run served from vertex_track's cache: ``CACHED``, with OUTPUT events
        to the reused artifacts ``[(label, resource id, loaded value)]``."""
        if run is None:
            return
        for _label, rid, value in outputs:
            produced.add(value, rid, run.scope)
        remember_outputs(run.resource_id, [(rid, value) for _label, rid, value in outputs])
        if len(outputs) > 1 or (outputs and outputs[0][0] != "output"):  # a tuple or dict
            produced.add(
                result, {label.removeprefix("output."): rid for label, rid, _v in outputs},
                run.scope,
            )
        links: list[LinkRow] = [("OUTPUT", label, rid) for label, rid, _v in outputs]
        self._end_quietly(run, ExecutionState.CACHED, links)

    def _end_quietly(self, run: Run, state: ExecutionState, links: list[LinkRow]) -> None:
        try:
            self._finish(run, state, links)
        except Exception as err:
            self._handle(err, f"the end of {run.display_name}", run.settings)

    def _outputs(self, run: Run, result: Any) -> list[LinkRow]:
        if result is None:
            return []  # nothing to record: a task that returns nothing has no output
        if isinstance(result, tuple):
            schemas = self.return_element_schemas or [self.return_schema] * len(result)
            items = [
                (f"output.{i}", v, schemas[i] if i < len(schemas) else None)
                for i, v in enumerate(result)
            ]
        elif type(result) is dict and all(isinstance(k, str) for k in result):
            items = [(k, v, self.return_schema) for k, v in result.items()]
        else:
            items = [("output", result, self.return_schema)]
        links: list[LinkRow] = []
        task_name = run.vt_meta.get("task_name") or self.name
        now_us = now_micros()
        outputs: list[tuple[str, Any]] = []
        for label, value, schema in items:
            # Inline values are scoped by their producer (this execution): equal
            # small values of two task runs are two Artifacts, never one.
            row = artifact_row(
                value, label=f"{task_name}.{label}", scope=run.resource_id,
                schema_title=schema, now_us=now_us,
            )
            produced.add(value, row[0], run.scope)
            links.append(("OUTPUT", label, row))
            outputs.append((row[0], value))
        remember_outputs(run.resource_id, outputs)
        if len(items) > 1 or items[0][0] != "output":  # a tuple or dict return
            keys = [label.removeprefix("output.") for label, _v, _s in items]
            produced.add(
                result,
                {k: link[2][0] for k, link in zip(keys, links)},
                run.scope,
            )
        return links

    def _finish(self, run: Run, state: ExecutionState, links: list[LinkRow]) -> None:
        """Queue the end record: final state, timings and ``links`` (the outputs)."""
        # Only a generator's begin adds an entry (see _begin).
        consumed = generator_items.pop(run.resource_id, None) if self.is_generator else None
        if consumed:  # items a consumer took while this generator was running
            links = [*links, *(("OUTPUT", "item", rid) for rid in dict.fromkeys(consumed))]
        end_us = now_micros()
        run.vt_meta.update(
            end_time=_iso(end_us), duration_s=round(time.perf_counter() - run.started, 6)
        )
        row = self._row(run, state, end_us)
        writer = get_writer()
        if run.queued is None or not writer.merge(run.queued, row, tuple(links)):
            writer.submit(Record(
                run.store, row, tuple(links), run.context_ids,
                run.settings.on_tracking_error, fresh=run.queued is None,
            ))
        run.queued = None
        if not run.in_flow_process:
            # A worker process (Dask, Ray): nobody flushes for us before the flow returns.
            writer.flush()

    # -- Prefect cache hits -----------------------------------------------------------
    def record_cached(self, task_run: Any, parameters: dict[str, Any], result: Any) -> None:
        """A task run that Prefect served from its cache: one CACHED execution."""
        settings = None
        try:
            settings = get_settings()
            _task_ctx, flow_ctx = _prefect_contexts()
            task_name = _task_ctx.task.name if _task_ctx is not None else self.name
            run = self._start(
                settings, task_run, task_name, flow_ctx, list((parameters or {}).items())
            )
            run.vt_meta["cached"] = True
            self._finish(run, ExecutionState.CACHED, [*run.inputs, *self._outputs(run, result)])
        except Exception as exc:
            self._handle(exc, f"the cached run of {self.name}", settings)


_context_vars: tuple[Any, Any] | None = None


def _current_flow_run_id() -> str | None:
    """The Prefect flow run this code runs in (a task's, or the flow body's), if any."""
    task_ctx, flow_ctx = _prefect_contexts()
    if task_ctx is not None and task_ctx.task_run is not None:
        flow_run_id = task_ctx.task_run.flow_run_id
        if flow_run_id is not None:
            return str(flow_run_id)
    if flow_ctx is not None and flow_ctx.flow_run is not None:
        return str(flow_ctx.flow_run.id)
    return None


def _prefect_contexts() -> tuple[Any, Any]:
    """Prefect's current task run and flow run contexts (None outside them)."""
    global _context_vars
    if _context_vars is None:
        try:
            from prefect.context import FlowRunContext, TaskRunContext
        except ImportError:  # tracking a plain function without Prefect installed
            return None, None
        _context_vars = (TaskRunContext, FlowRunContext)
    return _context_vars[0].get(), _context_vars[1].get()


def pipeline_context(store: Any, flow_run_id: Any, flow_ctx: Any) -> Context:
    """The PipelineRun context of ``flow_run_id``, created on first use."""
    pipeline = current_pipeline.get()
    rid = context_id_for(flow_run_id)
    if pipeline is not None and pipeline.resource_id == rid:
        return pipeline
    metadata: dict[str, Any] = {"flow_run_id": str(flow_run_id), "state": "RUNNING"}
    display_name = str(flow_run_id)
    if flow_ctx is not None and str(flow_ctx.flow_run.id) == str(flow_run_id):
        metadata.update(
            flow_name=flow_ctx.flow.name, flow_run_name=flow_ctx.flow_run.name,
            parameters=jsonable_parameters(flow_ctx.parameters),
            start_time=now().isoformat(),
        )
        display_name = flow_ctx.flow_run.name or display_name
    return ensure_context(
        store, rid, schema_title=SCHEMA, display_name=display_name, metadata=metadata,
        parent_contexts=[],
    )


def jsonable_parameters(parameters: dict[str, Any] | None) -> dict[str, Any]:
    """Flow parameters as JSON: scalars and small JSON as they are, others as a short repr."""
    from ..artifacts import encode_inline

    out: dict[str, Any] = {}
    for key, value in (parameters or {}).items():
        inline = encode_inline(value)
        out[str(key)] = inline[1] if inline is not None else repr(value)[:256]
    return out
