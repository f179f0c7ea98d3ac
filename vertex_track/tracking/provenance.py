"""Where an argument came from: Prefect's data-dependency graph, turned into event targets.

Prefect records, for every task run, which upstream runs produced each
argument (``task_run.task_inputs``: built from futures, states and the
results it tracks in the flow run, through ``.map()``, ``unmapped`` and
containers). That graph, not equality of values, decides lineage:

- a ``TaskRunResult`` names the producing task run; the argument gets an
  INPUT event on that run's output Artifact (the one the value *is*, when it
  is one of several outputs; otherwise its outputs);
- a ``FlowRunResult`` names a subflow whose return value was passed on; the
  subflow's wrapper remembered which task produced that value;
- a subflow's parameters have no ``task_inputs`` inside the subflow: the
  subflow's wrapper reads them from the parent's placeholder task run (one
  API read per subflow run) and matches the values by identity.

``wait_for`` is not a data dependency and makes no event; it is kept in the
Execution's bookkeeping metadata (``vertex_track.wait_for``).

Targets are strings: an artifact resource id, or ``"@" + execution resource
id`` meaning "every OUTPUT artifact of that execution", which the writer
resolves when it commits (the producer may have run in another process, a
Dask worker, and be known only to the store).
"""

from __future__ import annotations

import contextvars
import threading
from collections import OrderedDict
from typing import Any

from .._time import now_micros
from .values import artifact_row, is_parameter, produced

#: PipelineRun context ids of the current flow run and the runs that contain it:
#: a value recorded in one of them is recognised by identity.
scope_chain: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "vertex_track_scope_chain", default=()
)
#: Targets of the current flow's parameters: ``[(value, targets), ...]``.
flow_inputs: contextvars.ContextVar[tuple[tuple[Any, tuple[str, ...]], ...]] = (
    contextvars.ContextVar("vertex_track_flow_inputs", default=())
)

_OPAQUE = object()  # an output that is not a scalar: matched by identity only


class _Lru:
    """A small thread-safe LRU map (per process)."""

    def __init__(self, maxsize: int) -> None:
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.maxsize = maxsize

    def get(self, key: str) -> Any:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


#: Generator tasks still running -> resource ids of the items consumed so far.
#: A consumer gets an item while its producer is still running, before the
#: producer's outputs exist: the item becomes an Artifact then, and the
#: producer's end record names it as an OUTPUT.
generator_items: dict[str, list[str]] = {}

#: ``taskrun-<id>`` -> ((artifact resource id, scalar value or _OPAQUE), ...)
task_outputs = _Lru(4096)
#: flow run id -> targets of the value the flow returned
flow_results = _Lru(1024)


def execution_id_of_task_run(task_run_id: Any) -> str:
    return f"taskrun-{task_run_id}"


def remember_outputs(execution_id: str, outputs: list[tuple[str, Any]]) -> None:
    """Record what a task run returned: ``[(artifact resource id, value), ...]``.

    Only Prefect task runs are named as producers (``@taskrun-<id>`` targets);
    a plain function's execution is never looked up here, so it is not kept.
    """
    if not execution_id.startswith("taskrun-"):
        return
    task_outputs.put(
        execution_id,
        tuple((rid, value if is_parameter(value) else _OPAQUE) for rid, value in outputs),
    )


def producers(deps: Any) -> list[str]:
    """Producer targets of one argument from its Prefect ``task_inputs`` entry."""
    out: list[str] = []
    for dep in deps or ():
        kind = getattr(dep, "input_type", None)
        if kind == "task_run":
            out.append("@" + execution_id_of_task_run(dep.id))
        elif kind == "flow_run":
            targets = flow_results.get(str(dep.id))
            if targets:
                out.extend(targets)
    return out


def from_flow_inputs(value: Any) -> list[str]:
    """Targets of ``value`` if it is (or is an element of) a parameter of the current flow."""
    entries = flow_inputs.get()
    if not entries:
        return []
    for param, targets in entries:
        if value is param:
            return list(targets)
    for param, targets in entries:
        if isinstance(param, (list, tuple)):
            if any(value is element for element in param[:4096]):
                return list(targets)
        elif isinstance(param, dict) and any(value is v for v in list(param.values())[:4096]):
            return list(targets)
    return []


def links_for(out: list[Any], label: str, value: Any, targets: list[str], exact: Any) -> None:
    """Append INPUT links from ``value`` (argument ``label``) to the artifacts of ``targets``.

    A producer known in this process links the output the value *is*
    (``exact``: what the value was recorded as by identity, already linked;
    or equality for scalars); when none matches, every output of that
    producer (a ``.map()`` element comes from the whole list). An unknown
    producer is left for the writer to resolve (``@`` target).
    """
    seen: set[str] = set()
    for target in targets:
        if not target.startswith("@"):
            if target not in seen:
                seen.add(target)
                out.append(("INPUT", label, target))
            continue
        outputs = task_outputs.get(target[1:])
        pending = generator_items.get(target[1:]) if outputs is None else None
        if pending is not None:  # an item of a generator task that is still running
            row = artifact_row(
                value, label=f"{label}.item", scope=target[1:], schema_title=None,
                now_us=now_micros(),
            )
            pending.append(row[0])
            if row[0] not in seen:
                seen.add(row[0])
                out.append(("INPUT", label, row))
            continue
        if outputs is None:
            if target not in seen:
                seen.add(target)
                out.append(("INPUT", label, target))
            continue
        rids = [rid for rid, _v in outputs]
        if isinstance(exact, str) and exact in rids:
            continue  # the value itself is that output: already linked by identity
        if isinstance(exact, dict) and set(exact.values()) & set(rids):
            continue  # a returned dict/tuple: its elements are already linked
        chosen = rids
        if is_parameter(value):
            same = [
                rid for rid, v in outputs
                if v is not _OPAQUE and type(v) is type(value) and v == value
            ]
            chosen = same[:1] or rids
        for rid in chosen:
            if rid not in seen:
                seen.add(rid)
                out.append(("INPUT", label, rid))


def param_provenance(flow_run: Any, parameters: dict[str, Any]) -> tuple[Any, ...]:
    """``((value, targets), ...)`` for the parameters of a (sub)flow run that came from tasks."""
    if not parameters:
        return ()
    outer = flow_inputs.get()
    chain = scope_chain.get()  # the runs containing this one (not yet including it)
    api_inputs: dict[str, Any] = {}
    parent_task_run_id = getattr(flow_run, "parent_task_run_id", None)
    if parent_task_run_id is not None:
        api_inputs = _parent_task_inputs(parent_task_run_id)
    entries: list[tuple[Any, tuple[str, ...]]] = []
    for name, value in parameters.items():
        targets = producers(api_inputs.get(name))
        if not targets and outer:
            targets = from_flow_inputs(value)  # a parameter handed down again
        if not targets and outer:
            # ... as a copy: Prefect validates a flow's parameters against their
            # annotations, which copies containers (a list[str] is a new list).
            targets = _equal_in(outer, value)
        if not targets and chain and not is_parameter(value):
            rid = produced.get(value, chain)
            if isinstance(rid, str):
                targets = [rid]
        if targets:
            entries.append((value, tuple(dict.fromkeys(targets))))
    return tuple(entries)


_COMPARABLE = (list, tuple, dict, set, frozenset, str, bytes)


def _equal_in(entries: tuple[Any, ...], value: Any) -> list[str]:
    """Targets of the outer flow's parameter equal to ``value`` (plain containers only)."""
    if type(value) not in _COMPARABLE:
        return []
    for param, targets in entries:
        if type(param) is type(value):
            try:
                if param == value:
                    return list(targets)
            except Exception:  # an element whose == is not a bool (an array, say)
                continue
    return []


def _parent_task_inputs(task_run_id: Any) -> dict[str, Any]:
    try:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            return dict(client.read_task_run(task_run_id).task_inputs or {})
    except Exception:  # lineage of a subflow's inputs is best effort, never a failure
        return {}


def record_flow_result(flow_run_id: str, result: Any) -> None:
    """Remember which task produced the value a (sub)flow returned."""
    targets: list[str] = []
    chain = scope_chain.get()
    if chain and not is_parameter(result):
        rid = produced.get(result, chain)
        if isinstance(rid, str):
            targets = [rid]
        elif isinstance(rid, dict):
            targets = list(rid.values())
    if not targets:
        targets = _prefect_producer(result)
    if not targets:
        targets = from_flow_inputs(result)
    if targets:
        flow_results.put(str(flow_run_id), tuple(targets))


def _prefect_producer(result: Any) -> list[str]:
    try:
        from prefect.client.schemas.objects import RunType
        from prefect.futures import PrefectFuture
        from prefect.states import State
        from prefect.utilities.engine import get_state_for_result
    except ImportError:  # pragma: no cover
        return []
    if isinstance(result, PrefectFuture):
        return ["@" + execution_id_of_task_run(result.task_run_id)]
    if isinstance(result, State):
        trid = result.state_details.task_run_id
        return ["@" + execution_id_of_task_run(trid)] if trid else []
    hit = get_state_for_result(result)
    if hit is None:
        return []
    state, run_type = hit
    if run_type == RunType.FLOW_RUN:
        # A value a nested subflow returned and this flow returns again: the
        # nested flow's wrapper remembered its producer.
        return list(flow_results.get(str(state.state_details.flow_run_id)) or ())
    trid = state.state_details.task_run_id
    return ["@" + execution_id_of_task_run(trid)] if trid else []
