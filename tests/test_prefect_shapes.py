"""Flows in the shapes of Prefect's documentation and examples, untracked and tracked.

Each shape is built twice from the same function bodies: once with Prefect's
``task``/``flow`` and once with ``vt.task``/``vt.flow`` (a builder takes the
two decorators). Both run in this process under Prefect's test harness, and
the test asserts:

- the same results and the same final Prefect states (``return_state=True``);
- Prefect ran the same task runs, in the same states, with the same
  recorded data dependencies (tracking changes nothing Prefect sees);
- exactly one Execution per task run that ran (``taskrun-<task run id>``), in
  the state Prefect gave the task run, and nothing else in the store; each
  flow run's PipelineRun has the flow run's final state;
- lineage agrees with Prefect's own data-dependency graph. Prefect records,
  for every task run, which upstream runs produced each argument
  (``task_run.task_inputs``, read back from its API). The upstream
  executions one event pair away (``vt.lineage(e, "upstream", max_hops=2)``)
  must be exactly those task runs: a ``TaskRunResult`` is that task run; a
  ``FlowRunResult`` (a subflow's return value) is a task run inside that
  subflow. ``wait_for`` is ordering, not data, and makes no edge. Two things
  the oracle cannot say are allowed for, and nothing else:

  * a task inside a subflow may also link to the producers of the subflow's
    parameters (Prefect records those on the subflow's parent task run, not on
    the tasks that use them; vertex_track links a value handed down to the
    task that made it);
  * an upstream that produced no value (it failed, e.g. under
    ``allow_failure``, or returned ``None``) has no output Artifact, and the
    Vertex AI data model links executions only through artifacts.
"""

import asyncio
import datetime as dt
import functools
import logging
import re
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import prefect
import pytest
from prefect import allow_failure, unmapped
from prefect import flow as prefect_flow
from prefect import task as prefect_task
from prefect.cache_policies import INPUTS
from prefect.futures import as_completed, wait
from prefect.states import State
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.transactions import transaction
from pydantic import BaseModel

import vertex_track as vt
from vertex_track.store.base import MetadataStore

UNTRACKED = (prefect_task, prefect_flow)
TRACKED = (vt.task, vt.flow)
TRACKING_DIR = "vertex_track/tracking/"
POLL_SECONDS = 30.0
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# -- reading Prefect's records back ----------------------------------------------------
@dataclass
class Runs:
    """What Prefect recorded for the flow runs one call started (roots and subflows)."""

    roots: list[Any]
    flow_runs: dict[UUID, Any]
    task_runs: dict[UUID, Any]
    #: task run id of a subflow's placeholder in its parent -> the subflow's run id
    placeholders: dict[UUID, UUID] = field(default_factory=dict)

    def ran(self) -> list[Any]:
        """Task runs that ran or were served from cache (not subflow placeholders)."""
        return [
            tr for tid, tr in self.task_runs.items()
            if tid not in self.placeholders and tr.state is not None
            and tr.state.type.value in ("COMPLETED", "FAILED", "CRASHED")
        ]

    def subtree(self, flow_run_id: UUID) -> set[UUID]:
        """``flow_run_id`` and every flow run nested in it."""
        out = {flow_run_id}
        grew = True
        while grew:
            grew = False
            for fr in self.flow_runs.values():
                parent = self.parent_flow_run(fr)
                if parent in out and fr.id not in out:
                    out.add(fr.id)
                    grew = True
        return out

    def parent_flow_run(self, flow_run: Any) -> UUID | None:
        ptr = flow_run.parent_task_run_id
        if ptr is None or ptr not in self.task_runs:
            return None
        return self.task_runs[ptr].flow_run_id


def _client() -> Any:
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def read_runs(since: dt.datetime, expected_task_runs: int) -> Runs:
    """Prefect's flow and task runs started after ``since``.

    Prefect writes task runs through its event stream, so they reach its API
    a little after the flow returns: poll until ``expected_task_runs`` are
    there, all in a final state (bounded).
    """
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterId,
        FlowRunFilterParentFlowRunId,
        FlowRunFilterParentTaskRunId,
    )
    from prefect.client.schemas.sorting import FlowRunSort, TaskRunSort

    with _client() as client:
        roots = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_task_run_id=FlowRunFilterParentTaskRunId(is_null_=True),
            expected_start_time=FlowRunFilterExpectedStartTime(after_=since),
        ), sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=200)
        flow_runs = {fr.id: fr for fr in roots}
        frontier = list(flow_runs)
        while frontier:
            children = client.read_flow_runs(flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=frontier)
            ), sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=200)
            frontier = [fr.id for fr in children if fr.id not in flow_runs]
            flow_runs.update({fr.id: fr for fr in children})
        deadline = time.monotonic() + POLL_SECONDS
        while True:
            task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=list(flow_runs))
            ), sort=TaskRunSort.EXPECTED_START_TIME_ASC, limit=200)
            done = len(task_runs) >= expected_task_runs and all(
                tr.state is not None and tr.state.is_final() for tr in task_runs
            )
            if done or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert len(task_runs) == expected_task_runs, (
        f"Prefect recorded {len(task_runs)} task runs, the shape makes {expected_task_runs}: "
        f"{sorted(tr.name for tr in task_runs)}"
    )
    placeholders = {
        fr.parent_task_run_id: fr.id for fr in flow_runs.values() if fr.parent_task_run_id
    }
    return Runs(
        roots=sorted(roots, key=lambda fr: fr.expected_start_time),
        flow_runs=flow_runs, task_runs={tr.id: tr for tr in task_runs},
        placeholders=placeholders,
    )


def data_inputs(task_run: Any) -> dict[str, list[Any]]:
    """``task_inputs`` without ordering (``wait_for``) and nesting (``__parents__``)."""
    return {
        name: list(deps) for name, deps in (task_run.task_inputs or {}).items()
        if name not in ("wait_for", "__parents__")
    }


def base_name(run_name: str) -> str:
    return run_name.rsplit("-", 1)[0]


def prefect_graph(runs: Runs) -> list[tuple[Any, ...]]:
    """Every task run by name, state and kinds of recorded inputs (no ids)."""
    rows = []
    for tr in runs.task_runs.values():
        kinds = tuple(sorted(
            (name, tuple(sorted(d.input_type for d in deps)))
            for name, deps in data_inputs(tr).items()
        ))
        rows.append((base_name(tr.name), tr.state.name if tr.state else None, kinds))
    return sorted(rows, key=repr)


# -- comparing outcomes ----------------------------------------------------------------
def normalize(value: Any) -> Any:
    """A comparable picture of a call's outcome: states, results, exceptions."""
    if isinstance(value, State):
        result = value.result(raise_on_failure=False)
        return ("state", value.type.value, value.name, value.message, normalize(result))
    if isinstance(value, BaseException):
        return ("raised", type(value).__name__, str(value))
    if isinstance(value, BaseModel):
        return (type(value).__name__, value.model_dump())
    if isinstance(value, (list, tuple)):
        return type(value)(normalize(v) for v in value)
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    return value


PIPELINE_STATE = {"COMPLETED": "COMPLETE", "FAILED": "FAILED", "CRASHED": "FAILED",
                  "CANCELLED": "CANCELLED"}


def execution_state(state: Any) -> str:
    if state.name == "Cached":
        return "CACHED"
    return PIPELINE_STATE[state.type.value]


@dataclass
class Outcome:
    value: Any
    runs: Runs


def run_variant(build: Callable[..., Callable[[], Any]], decorators: tuple[Any, Any],
                expected_task_runs: int) -> Outcome:
    run = build(*decorators)
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(milliseconds=1)
    value = run()
    return Outcome(normalize(value), read_runs(since, expected_task_runs))


def upstream(execution_id: str) -> set[str]:
    """Executions one INPUT/OUTPUT event pair upstream of ``execution_id``."""
    graph = vt.lineage(vt.Execution.get(execution_id), direction="upstream", max_hops=2)
    return {e.resource_id for e in graph.executions} - {execution_id}


def exec_id(task_run_id: UUID) -> str:
    return f"taskrun-{task_run_id}"


def check_tracking(runs: Runs) -> dict[str, vt.Execution]:
    """Executions, PipelineRuns and lineage against what Prefect recorded."""
    from vertex_track.tracking import flush

    flush()
    executions = vt.Execution.list()
    by_id = {e.resource_id: e for e in executions}
    ran = runs.ran()
    assert len(by_id) == len(executions)
    assert sorted(by_id) == sorted(exec_id(tr.id) for tr in ran), (
        "one Execution per task run that ran, and nothing else"
    )
    for tr in ran:
        execution = by_id[exec_id(tr.id)]
        assert execution.state == execution_state(tr.state), (tr.name, tr.state)
    for fr in runs.flow_runs.values():
        assert vt.PipelineRun.get(fr.id).state == PIPELINE_STATE[fr.state.type.value], fr.name

    produced = {exec_id(tr.id) for tr in ran if by_id[exec_id(tr.id)].get_output_artifacts()}
    executions_in = {
        frid: {exec_id(tr.id) for tr in ran if tr.flow_run_id in runs.subtree(frid)}
        for frid in runs.flow_runs
    }

    def sources(deps: list[Any]) -> tuple[set[str], list[set[str]]]:
        """(task runs that must be upstream, subflows one of whose tasks must be)."""
        must: set[str] = set()
        some: list[set[str]] = []
        for dep in deps:
            if dep.input_type == "task_run" and dep.id in runs.placeholders:
                some.append(executions_in[runs.placeholders[dep.id]])
            elif dep.input_type == "task_run":
                must.add(exec_id(dep.id))
            elif dep.input_type == "flow_run":
                some.append(executions_in[dep.id])
        return must, some

    def handed_down(flow_run_id: UUID) -> set[str]:
        """Producers of a subflow's parameters (and of its parents' parameters)."""
        fr = runs.flow_runs[flow_run_id]
        if fr.parent_task_run_id is None or fr.parent_task_run_id not in runs.task_runs:
            return set()
        parent = runs.task_runs[fr.parent_task_run_id]
        out = handed_down(parent.flow_run_id)
        for deps in data_inputs(parent).values():
            must, some = sources(deps)
            out |= must
            for group in some:
                out |= group
        return out

    for tr in ran:
        eid = exec_id(tr.id)
        ours = upstream(eid)
        must: set[str] = set()
        some: list[set[str]] = []
        for deps in data_inputs(tr).values():
            m, s = sources(deps)
            must |= m
            some.extend(s)
        allowed = must | handed_down(tr.flow_run_id)
        for group in some:
            allowed |= group
        for silent in must - produced:  # no output to link: it must have failed
            assert by_id[silent].state == "FAILED", f"{tr.name}: upstream {silent} left no output"
        missing = (must & produced) - ours
        assert not missing, f"{tr.name}: Prefect's upstream {missing} not in lineage {ours}"
        for group in some:
            if group & produced:
                assert ours & group, f"{tr.name}: no upstream inside the subflow {group}"
        extra = ours - allowed
        assert not extra, f"{tr.name}: lineage has {extra}, Prefect knows only {allowed}"
    return by_id


def check_shape(build: Callable[..., Callable[[], Any]], expected_task_runs: int
                ) -> tuple[Outcome, Outcome, dict[str, vt.Execution]]:
    """Run ``build``'s shape untracked, then tracked; compare; check the records."""
    plain = run_variant(build, UNTRACKED, expected_task_runs)
    assert vt.Execution.list() == [], "the untracked run records nothing"
    tracked = run_variant(build, TRACKED, expected_task_runs)
    assert tracked.value == plain.value
    assert prefect_graph(tracked.runs) == prefect_graph(plain.runs)
    assert [r.state.name for r in tracked.runs.roots] == [r.state.name for r in plain.runs.roots]
    executions = check_tracking(tracked.runs)
    return plain, tracked, executions


def executions_named(executions: dict[str, vt.Execution], name: str) -> list[vt.Execution]:
    return [e for e in executions.values() if e.metadata["vertex_track"]["task_name"] == name]


# -- shapes ----------------------------------------------------------------------------
def build_retries(task: Any, flow: Any) -> Callable[[], Any]:
    attempts = {"flaky": 0}

    @task(retries=2, retry_delay_seconds=0)
    def flaky(x: int) -> int:
        attempts["flaky"] += 1
        if attempts["flaky"] < 3:
            raise RuntimeError(f"attempt {attempts['flaky']} failed")
        return x * 10

    @task(retries=1, retry_delay_seconds=0)
    def always_fails(x: int) -> int:
        raise ValueError(f"no luck with {x}")

    @task
    def add(a: int, b: int) -> int:
        return a + b

    @flow
    def retrying(x: int = 400) -> tuple[int, str]:
        total = add(flaky(x), 1000)
        failed = always_fails(x, return_state=True)
        return total, failed.type.value

    return lambda: (retrying(return_state=True), dict(attempts))


def test_retries(tracked: MetadataStore) -> None:
    _plain, _tracked, executions = check_shape(build_retries, expected_task_runs=3)
    (flaky,) = executions_named(executions, "flaky")
    (add,) = executions_named(executions, "add")
    assert upstream(add.resource_id) == {flaky.resource_id}
    assert flaky.state == "COMPLETE" and flaky.metadata["vertex_track"]["attempt"] == 3
    (failing,) = executions_named(executions, "always_fails")
    assert failing.state == "FAILED"
    assert failing.metadata["vertex_track"]["error_message"] == "no luck with 400"


def build_futures(task: Any, flow: Any) -> Callable[[], Any]:
    @task
    def numbers(n: int) -> list[int]:
        return [1000 + i for i in range(n)]

    @task
    def offset() -> int:
        return 5000

    @task
    def shift(x: int, by: int) -> int:
        return x + by

    @task
    def total(values: list[int]) -> int:
        return sum(values)

    @task
    def spread(low: int, high: int) -> int:
        return high - low + 1000

    @flow
    def futures(n: int = 3) -> tuple[int, int, int]:
        nums = numbers.submit(n)
        by = offset.submit()
        shifted = shift.map(nums, unmapped(by))
        done, not_done = wait(shifted)
        assert len(done) == n and not not_done
        finished = sorted((f.result() for f in as_completed(shifted)), key=lambda v: v)
        summed = total.submit(shifted).result()  # a list of futures is one argument
        return summed, spread(finished[0], finished[-1]), len(finished)

    return lambda: futures(return_state=True)


def test_submit_map_unmapped_wait_as_completed(tracked: MetadataStore) -> None:
    _p, _t, executions = check_shape(build_futures, expected_task_runs=7)
    (made,) = executions_named(executions, "numbers")
    (offset,) = executions_named(executions, "offset")
    shifts = executions_named(executions, "shift")
    assert len(shifts) == 3
    for e in shifts:  # every mapped element links to the list and to the unmapped value
        assert upstream(e.resource_id) == {made.resource_id, offset.resource_id}
    (total,) = executions_named(executions, "total")
    assert upstream(total.resource_id) == {e.resource_id for e in shifts}


def build_async_gather(task: Any, flow: Any) -> Callable[[], Any]:
    @task
    async def fetch(i: int) -> str:
        await asyncio.sleep(0)
        return f"item-{i}"

    @task
    async def join(parts: list[str]) -> str:
        return ",".join(parts)

    @flow
    async def gathering(n: int = 3) -> str:
        parts = await asyncio.gather(*[fetch(i) for i in range(n)])
        return await join(list(parts))

    return lambda: asyncio.run(gathering(return_state=True))


def test_async_gather(tracked: MetadataStore) -> None:
    _p, _t, executions = check_shape(build_async_gather, expected_task_runs=4)
    (join,) = executions_named(executions, "join")
    fetched = {e.resource_id for e in executions_named(executions, "fetch")}
    assert len(fetched) == 3 and upstream(join.resource_id) == fetched


def build_thread_pool(task: Any, flow: Any) -> Callable[[], Any]:
    @task
    def load(name: str) -> list[str]:
        return [name] * 3

    @task
    def combine(a: list[str], b: list[str]) -> list[str]:
        return a + b

    @task
    def report(rows: list[str]) -> str:
        return f"{len(rows)} rows"

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=3))
    def threaded() -> str:
        a = load.submit("a")
        b = load.submit("b")
        both = combine.submit(a, b)
        # wait_for orders the run; it is not a data dependency
        return report.submit(both, wait_for=[a]).result()

    return lambda: threaded(return_state=True)


def test_thread_pool_and_wait_for(tracked: MetadataStore) -> None:
    _p, _t, executions = check_shape(build_thread_pool, expected_task_runs=4)
    (report,) = executions_named(executions, "report")
    (combine,) = executions_named(executions, "combine")
    assert upstream(report.resource_id) == {combine.resource_id}


def build_dask(task: Any, flow: Any, address: str) -> Callable[[], Any]:
    from prefect_dask import DaskTaskRunner

    @task
    def square(x: int) -> int:
        return x * x

    @task
    def total(values: list[int]) -> int:
        return sum(values)

    @flow(task_runner=DaskTaskRunner(address=address))
    def on_dask(xs: list[int]) -> int:
        return total.submit(square.map(xs)).result()

    return lambda: on_dask([300, 400], return_state=True)


@pytest.mark.slow
def test_dask_task_runner(tracked: MetadataStore) -> None:
    pytest.importorskip("prefect_dask", reason="prefect-dask is not installed")
    from distributed import LocalCluster

    # One cluster with a worker process for both builds (each start costs seconds);
    # the worker inherits the store settings vt.init put in the environment.
    with LocalCluster(
        n_workers=1, processes=True, threads_per_worker=2,
        dashboard_address=":0",  # parallel test runs must not fight over :8787
    ) as cluster:
        _p, _t, executions = check_shape(
            functools.partial(build_dask, address=cluster.scheduler_address),
            expected_task_runs=3,
        )
    (total,) = executions_named(executions, "total")
    assert upstream(total.resource_id) == {
        e.resource_id for e in executions_named(executions, "square")
    }


def build_subflows(task: Any, flow: Any) -> Callable[[], Any]:
    @task
    def make(n: int) -> list[str]:
        return [f"row-{i}" for i in range(n)]

    @task
    def validate(rows: list[str]) -> list[str]:
        return [r.upper() for r in rows if r.startswith("row-")]  # new values

    @task
    def measure(rows: list[str], checked: list[str]) -> dict[str, Any]:
        return {"rows": len(rows), "valid": len(checked), "first": rows[0]}

    @task
    def label(stats: dict[str, Any], tag: str) -> str:
        return f"{tag}:{stats['valid']}/{stats['rows']}"

    @flow
    def leaf(rows: list[str], checked: list[str]) -> dict[str, Any]:
        return measure(rows, checked)

    @flow
    def middle(rows: list[str]) -> dict[str, Any]:
        checked = validate(rows)
        return leaf(rows, checked)  # the parameter handed further down

    @flow
    def outer(n: int = 3) -> tuple[str, str]:
        rows = make(n)
        stats = middle(rows)
        return label(stats, "run"), stats["first"]

    return lambda: outer(return_state=True)


def test_subflows_three_deep(tracked: MetadataStore) -> None:
    # 4 tasks + 2 placeholders of the subflows in their parents
    _p, t, executions = check_shape(build_subflows, expected_task_runs=6)
    assert len(t.runs.flow_runs) == 3
    (make,) = executions_named(executions, "make")
    (validate,) = executions_named(executions, "validate")
    (measure,) = executions_named(executions, "measure")
    (label,) = executions_named(executions, "label")
    # A value passed into a subflow links to its producer in the parent run...
    assert upstream(validate.resource_id) == {make.resource_id}
    assert validate.resource_id in upstream(measure.resource_id)
    # ...and a value returned up two levels links to the task that made it.
    assert upstream(label.resource_id) == {measure.resource_id}


def build_handed_down(task: Any, flow: Any) -> Callable[[], Any]:
    @task
    def make(n: int) -> list[str]:
        return [f"row-{i}" for i in range(n)]

    @task
    def count(rows: list[str]) -> int:
        return len(rows) + 1000

    @flow
    def inner(rows: list[str]) -> int:
        return count(rows)

    @flow
    def between(rows: list[str]) -> int:
        return inner(rows)

    @flow
    def top(n: int = 3) -> int:
        return between(make(n))

    return top


def test_value_handed_down_two_subflow_levels_links_to_its_producer(
    tracked: MetadataStore,
) -> None:
    assert build_handed_down(*TRACKED)() == 1003
    executions = {e.metadata["vertex_track"]["task_name"]: e for e in vt.Execution.list()}
    assert upstream(executions["count"].resource_id) == {executions["make"].resource_id}


def build_transaction(task: Any, flow: Any) -> Callable[[], Any]:
    journal: list[Any] = []

    @task
    def write_record(data: str) -> str:
        journal.append(("write", data))
        return f"written:{data}"

    @write_record.on_rollback
    def undo(txn: Any) -> None:
        journal.append(("rollback",))

    @task
    def quality_check(record: str) -> None:
        raise ValueError(f"bad record {record}")

    @flow
    def guarded(data: str = "2024-01-01") -> None:
        with transaction():
            record = write_record(data)
            quality_check(record)

    return lambda: (guarded(return_state=True), journal)


def test_transaction_on_rollback(tracked: MetadataStore) -> None:
    plain, _t, executions = check_shape(build_transaction, expected_task_runs=2)
    state, journal = plain.value
    assert state[1] == "FAILED" and journal == [("write", "2024-01-01"), ("rollback",)]
    (check,) = executions_named(executions, "quality_check")
    (write,) = executions_named(executions, "write_record")
    assert upstream(check.resource_id) == {write.resource_id}


def build_hooks(task: Any, flow: Any) -> Callable[[], Any]:
    calls: list[tuple[str, ...]] = []

    def task_done(tsk: Any, run: Any, state: Any) -> None:
        calls.append(("task completed", tsk.name, state.name))

    def task_failed(tsk: Any, run: Any, state: Any) -> None:
        calls.append(("task failed", tsk.name, state.name))

    def flow_ended(flw: Any, run: Any, state: Any) -> None:
        calls.append(("flow", flw.name, state.name))

    @task(on_completion=[task_done], on_failure=[task_failed])
    def shout(x: str) -> str:
        return x.upper() + "!"

    @task(on_failure=[task_failed])
    def refuse(x: str) -> str:
        raise KeyError(x)

    @flow(on_completion=[flow_ended], on_failure=[flow_ended])
    def hooked(word: str = "hello") -> str:
        loud = shout(word)
        refuse(loud, return_state=True)
        return loud

    return lambda: (hooked(return_state=True), calls)


def test_state_hooks(tracked: MetadataStore) -> None:
    plain, _t, executions = check_shape(build_hooks, expected_task_runs=2)
    _state, calls = plain.value
    (shout,) = executions_named(executions, "shout")
    (refuse,) = executions_named(executions, "refuse")
    assert upstream(refuse.resource_id) == {shout.resource_id}
    assert sorted(calls) == sorted([
        ("task completed", "shout", "Completed"), ("task failed", "refuse", "Failed"),
        ("flow", "hooked", "Completed"),
    ])


def build_allow_failure(task: Any, flow: Any) -> Callable[[], Any]:
    @task
    def steady(x: str) -> str:
        return x * 2

    @task
    def fragile(x: str) -> str:
        raise RuntimeError(f"cannot handle {x}")

    @task
    def cleanup(kept: str, broken: Any) -> str:
        return f"{kept} / {type(broken).__name__}"

    @flow
    def tolerant() -> str:
        kept = steady.submit("ab")
        broken = fragile.submit("x")
        return cleanup.submit(kept, allow_failure(broken)).result()

    return lambda: tolerant(return_state=True)


def test_allow_failure(tracked: MetadataStore) -> None:
    _p, _t, executions = check_shape(build_allow_failure, expected_task_runs=3)
    (cleanup,) = executions_named(executions, "cleanup")
    (steady,) = executions_named(executions, "steady")
    assert cleanup.state == "COMPLETE"
    assert upstream(cleanup.resource_id) == {steady.resource_id}


def build_caching(task: Any, flow: Any) -> Callable[[], Any]:
    namespace = uuid.uuid4().hex  # keeps the two builds' caches apart
    calls: list[int] = []

    @task(cache_policy=INPUTS)
    def expensive(namespace: str, x: int) -> list[int]:
        calls.append(x)
        return [x] * 3

    @task
    def consume(values: list[int]) -> int:
        return sum(values) + 1000

    @flow
    def cached(namespace: str, x: int = 7) -> int:
        return consume(expensive(namespace, x))

    return lambda: (
        cached(namespace, return_state=True), cached(namespace, return_state=True), calls,
    )


def test_cache_hit_is_one_cached_execution(tracked: MetadataStore) -> None:
    plain, t, executions = check_shape(build_caching, expected_task_runs=4)
    assert plain.value[2] == [7], "the second run is served from Prefect's cache"
    first, second = t.runs.roots
    states = {
        (tr.flow_run_id, base_name(tr.name)): e.state
        for tr in t.runs.ran() for e in [executions[exec_id(tr.id)]]
    }
    assert states == {
        (first.id, "expensive"): "COMPLETE", (first.id, "consume"): "COMPLETE",
        (second.id, "expensive"): "CACHED", (second.id, "consume"): "COMPLETE",
    }
    ids = {(tr.flow_run_id, base_name(tr.name)): exec_id(tr.id) for tr in t.runs.ran()}
    # the value served from the cache links to the CACHED execution that served it
    assert upstream(ids[second.id, "consume"]) == {ids[second.id, "expensive"]}


class Order(BaseModel):
    id: int
    items: list[str]


def build_pydantic(task: Any, flow: Any) -> Callable[[], Any]:
    @task
    def next_order(order: Order) -> Order:
        return Order(id=order.id + 1, items=[*order.items, "extra"])

    @task
    def price(order: Order, rate: float) -> float:
        return len(order.items) * rate

    @flow
    def orders(order: Order) -> tuple[Order, float, float]:
        follow_up = next_order(order)
        return follow_up, price(order, 1.5), price(follow_up, 2.5)

    return lambda: orders(Order(id=1, items=["a", "b"]), return_state=True)


def test_pydantic_models_as_arguments(tracked: MetadataStore) -> None:
    _p, _t, executions = check_shape(build_pydantic, expected_task_runs=3)
    (made,) = executions_named(executions, "next_order")
    prices = {e.metadata["rate"]: e for e in executions_named(executions, "price")}
    assert upstream(prices[1.5].resource_id) == set()
    assert upstream(prices[2.5].resource_id) == {made.resource_id}


def build_generator_flows(task: Any, flow: Any) -> Callable[[], Any]:
    @task
    def emit(i: int) -> str:
        return f"value-{i}"

    @task
    def upper(s: str) -> str:
        return s.upper()

    @flow
    def generator(n: int = 2) -> Iterator[str]:
        for i in range(n):
            yield upper(emit(i))

    @flow
    async def async_generator(n: int = 2) -> AsyncIterator[str]:
        for i in range(n):
            yield upper(emit(i))

    async def drain() -> list[str]:
        return [item async for item in async_generator()]

    return lambda: (list(generator()), asyncio.run(drain()))


def test_generator_flows(tracked: MetadataStore) -> None:
    plain, t, executions = check_shape(build_generator_flows, expected_task_runs=8)
    assert plain.value == (["VALUE-0", "VALUE-1"], ["VALUE-0", "VALUE-1"])
    assert [r.state.type.value for r in t.runs.roots] == ["COMPLETED", "COMPLETED"]
    for e in executions_named(executions, "upper"):
        (producer,) = upstream(e.resource_id)
        assert executions[producer].metadata["vertex_track"]["task_name"] == "emit"


def build_generator_tasks(task: Any, flow: Any) -> Callable[[], Any]:
    @task
    def chunks(n: int) -> Iterator[str]:
        for i in range(n):
            yield f"chunk-{i}"

    @task
    async def achunks(n: int) -> AsyncIterator[str]:
        for i in range(n):
            yield f"achunk-{i}"

    @task
    def upper(s: str) -> str:
        return s.upper()

    @flow
    def consume(n: int = 2) -> list[str]:
        return [upper(part) for part in chunks(n)]

    @flow
    async def consume_async(n: int = 2) -> list[str]:
        return [upper(part) async for part in achunks(n)]

    return lambda: (consume(return_state=True), asyncio.run(consume_async(return_state=True)))


def test_generator_tasks(tracked: MetadataStore) -> None:
    plain, _t, executions = check_shape(build_generator_tasks, expected_task_runs=6)
    assert [s[4] for s in plain.value] == [["CHUNK-0", "CHUNK-1"], ["ACHUNK-0", "ACHUNK-1"]]
    assert [e.state for e in executions_named(executions, "chunks")] == ["COMPLETE"]


def build_methods(task: Any, flow: Any) -> Callable[[], Any]:
    @task
    def double(x: int) -> int:
        return x * 2

    class Pipeline:
        factor = 3

        def __init__(self, offset: int) -> None:
            self.offset = offset

        @flow
        def run(self, x: int) -> int:
            return double(x) + self.offset

        @flow
        @classmethod
        def run_cls(cls, x: int) -> int:
            return double(x) * cls.factor

        @flow
        @staticmethod
        def run_static(x: int) -> int:
            return double(x) - 1

    return lambda: (
        Pipeline(1000).run(500, return_state=True),
        Pipeline.run_cls(600, return_state=True),
        Pipeline.run_static(700, return_state=True),
    )


def test_method_flows(tracked: MetadataStore) -> None:
    plain, _t, _e = check_shape(build_methods, expected_task_runs=3)
    assert [s[4] for s in plain.value] == [2000, 3600, 1399]


def build_returned_states(task: Any, flow: Any) -> Callable[[], Any]:
    @task
    def fine() -> str:
        return "fine"

    @task
    def failing() -> str:
        raise RuntimeError("task failed on purpose")

    @flow
    def tuple_with_state() -> tuple[str, Any]:
        return ("bar", failing(return_state=True))  # Prefect: COMPLETED

    @flow
    def only_a_state() -> Any:
        return failing(return_state=True)  # Prefect: FAILED

    @flow
    def states_all_fine() -> list[Any]:
        return [fine(return_state=True), fine(return_state=True)]  # Prefect: COMPLETED

    return lambda: (
        tuple_with_state(return_state=True), only_a_state(return_state=True),
        states_all_fine(return_state=True),
    )


def test_returned_states_decide_as_prefect_decides(tracked: MetadataStore) -> None:
    plain, t, _e = check_shape(build_returned_states, expected_task_runs=4)
    assert [s[1] for s in plain.value] == ["COMPLETED", "FAILED", "COMPLETED"]
    assert [vt.PipelineRun.get(r.id).state for r in t.runs.roots] == [
        "COMPLETE", "FAILED", "COMPLETE",
    ]


# -- what Prefect logs and shows -------------------------------------------------------
class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def prefect_logs() -> Iterator[_Capture]:
    """Records of Prefect's task-run and flow-run loggers (they do not propagate)."""
    capture = _Capture()
    loggers = [logging.getLogger(n) for n in ("prefect.task_runs", "prefect.flow_runs")]
    for lg in loggers:
        lg.addHandler(capture)
    try:
        yield capture
    finally:
        for lg in loggers:
            lg.removeHandler(capture)


def build_failing(task: Any, flow: Any) -> tuple[Any, Any]:
    @task
    def explode(x: int) -> int:
        raise ZeroDivisionError(f"exploded on {x}")

    @flow
    def failing_task_flow(x: int = 500) -> int:
        return explode(x)

    @flow
    def failing_flow(x: int = 600) -> int:
        raise LookupError(f"flow body failed on {x}")

    return failing_task_flow, failing_flow


def _frames(exc: BaseException) -> list[str]:
    return [f.filename for f in traceback.extract_tb(exc.__traceback__)]


@pytest.mark.parametrize(("which", "error", "message", "logger_names", "n_executions"), [
    (0, ZeroDivisionError, "exploded on 500", {"prefect.task_runs", "prefect.flow_runs"}, 1),
    (1, LookupError, "flow body failed on 600", {"prefect.flow_runs"}, 0),
])
def test_tracebacks_have_no_tracking_frames(
    tracked: MetadataStore, prefect_logs: _Capture, which: int, error: type[Exception],
    message: str, logger_names: set[str], n_executions: int,
) -> None:
    failing = build_failing(*TRACKED)[which]
    with pytest.raises(error, match=message) as info:
        failing()
    frames = _frames(info.value)
    assert frames[-1] == __file__, "the user's frame is where it raised"
    assert not [f for f in frames if TRACKING_DIR in f]
    logged = [r for r in prefect_logs.records if r.exc_info]
    assert {r.name for r in logged} == logger_names
    for record in logged:
        text = "".join(traceback.format_exception(*record.exc_info))  # type: ignore[misc]
        assert message in text and __file__ in text
        assert TRACKING_DIR not in text, text
    assert [e.state for e in vt.Execution.list()] == ["FAILED"] * n_executions
    (run,) = vt.PipelineRun.list()
    assert run.state == "FAILED"


def build_logging(task: Any, flow: Any) -> Callable[[], Any]:
    @task
    def first(x: int) -> list[int]:
        return [x] * 2

    @task
    def second(values: list[int]) -> int:
        return sum(values)

    @flow
    def logging_flow(x: int = 300) -> int:
        return second(first(x))

    return logging_flow


def _log_lines(records: list[logging.LogRecord]) -> list[tuple[str, str, str]]:
    """(logger, level, message) with run names and ids made generic."""
    lines = []
    for r in records:
        message = r.getMessage()
        for attr in ("task_run_name", "flow_run_name", "task_run_id", "flow_run_id"):
            value = getattr(r, attr, None)
            if value:
                message = message.replace(str(value), f"<{attr}>")
        lines.append((r.name, r.levelname, UUID_RE.sub("<id>", message)))
    return lines


def test_tracked_tasks_log_what_untracked_tasks_log(
    tracked: MetadataStore, prefect_logs: _Capture
) -> None:
    assert build_logging(*UNTRACKED)() == 600
    plain = _log_lines(prefect_logs.records)
    prefect_logs.records.clear()
    assert build_logging(*TRACKED)() == 600
    ours = _log_lines(prefect_logs.records)
    assert ours == plain
    assert any(name == "prefect.task_runs" for name, _l, _m in plain)
    assert not [m for _n, _l, m in ours if "hook" in m.lower()]
    assert len(vt.Execution.list()) == 2


# -- tracking an existing code base without editing it ---------------------------------
def test_replacing_prefect_decorators_does_not_recurse(
    tracked: MetadataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prefect, "task", vt.task)
    monkeypatch.setattr(prefect, "flow", vt.flow)

    @prefect.task
    def step(x: int) -> list[int]:
        return [x, x]

    @prefect.task(retries=1)
    def total(values: list[int]) -> int:
        return sum(values)

    @prefect.flow(name="replaced-decorators")
    def replaced(x: int = 300) -> int:
        return total(step(x))

    assert replaced() == 600
    executions = {e.metadata["vertex_track"]["task_name"]: e for e in vt.Execution.list()}
    assert set(executions) == {"step", "total"}
    assert upstream(executions["total"].resource_id) == {executions["step"].resource_id}
    (run,) = vt.PipelineRun.list()
    assert run.flow_name == "replaced-decorators" and run.state == "COMPLETE"


@pytest.fixture
def autotracking() -> Iterator[Callable[..., None]]:
    """``vt.autotrack``, switched off again however the test ends."""
    try:
        yield vt.autotrack
    finally:
        vt.autotrack(disable=True)


def test_autotrack_tracks_what_is_created_after_it(
    tracked: MetadataStore, autotracking: Callable[..., None]
) -> None:
    @prefect_task
    def before(x: int) -> int:
        return x + 1000

    autotracking(exclude=["skipped_*"])

    @prefect_task
    def after(x: int) -> list[int]:
        return [x] * 2

    @prefect_task
    def skipped_step(values: list[int]) -> int:
        return sum(values)

    @prefect_flow
    def existing_code(x: int = 300) -> int:
        return skipped_step(after(before(x)))

    @prefect_flow
    def skipped_flow() -> int:
        return before(1)

    assert existing_code() == 2600
    assert skipped_flow() == 1001
    names = sorted(e.metadata["vertex_track"]["task_name"] for e in vt.Execution.list())
    assert names == ["after"]
    assert [r.flow_name for r in vt.PipelineRun.list()] == ["existing-code"]

    with pytest.raises(vt.InvalidArgumentError, match="exclude must be a list of names"):
        autotracking(exclude="skipped_*")


def test_autotrack_disabled_leaves_new_tasks_alone(
    tracked: MetadataStore, autotracking: Callable[..., None]
) -> None:
    autotracking()
    autotracking(disable=True)

    @prefect_task
    def plain_step(x: int) -> int:
        return x * 2

    @prefect_flow
    def plain_flow(x: int = 300) -> int:
        return plain_step(x)

    assert plain_flow() == 600
    assert vt.Execution.list() == [] and vt.PipelineRun.list() == []
