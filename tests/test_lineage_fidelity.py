"""Lineage that is true on real Prefect code, and tracking that never costs the task its outcome.

Edges come from Prefect's own data-dependency graph (``task_inputs``): every
argument Prefect knows came from a task run links to that run's output, and
no edge links tasks that merely made equal values.
"""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path

import pytest
from prefect import flow, task, unmapped

import vertex_track as vt
from vertex_track.store.base import MetadataStore
from vertex_track.tracking import TrackingError, TrackingWarning, flush


def upstream_tasks(execution: vt.Execution) -> list[tuple[str, object]]:
    """(task name, its ``src`` parameter) of every execution upstream of ``execution``."""
    graph = vt.lineage(execution, direction="upstream")
    return sorted(
        (e.metadata["vertex_track"]["task_name"], e.metadata.get("src"))
        for e in graph.executions
        if e.name != execution.name
    )


def by_case(executions: list[vt.Execution]) -> dict[str, list[vt.Execution]]:
    out: dict[str, list[vt.Execution]] = {}
    for e in executions:
        out.setdefault(e.metadata["case"], []).append(e)
    return out


@vt.task
def make() -> list:
    return [{"id": i} for i in range(2)]


@vt.task
def path() -> str:
    return "/data/out/2024-01-01.parquet"


@vt.task
def stats(src: str) -> dict:
    return {"source": src + "-table", "rows": 20}


@vt.task
def use(case: str, x: object) -> str:
    return f"{case}: {x!r}" + "." * 300


@vt.flow
def grandchild(x: object) -> str:
    return use("grandchild", x)


@vt.flow
def child(x: object) -> str:
    grandchild(x)
    return use("subflow", x)


@vt.flow
def pipeline() -> None:
    items = make()
    use.map(unmapped("map"), items).result()
    use("str", path())
    made_in_child = child(items)
    use("from-subflow", made_in_child)
    stats("orders")
    use("equal", stats("users"))
    # Made at run time: a string constant equal to path()'s would be the very same
    # object (CPython shares a module's equal constants), and Prefect tracks
    # results by object identity.
    use("literal", "/data/out/" + str(2024) + "-01-01.parquet")


@pytest.fixture(scope="module")
def pipeline_store(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One run of ``pipeline`` (a store of its own) for the tests that only read its records."""
    base = tmp_path_factory.mktemp("lineage_fidelity")
    settings = {"store_uri": f"sqlite:///{base / 'metadata.db'}",
                "artifact_root": str(base / "artifacts")}
    vt.config.init(**settings)
    try:
        pipeline()
        flush()
    finally:
        vt.config.reset()
    return settings


@pytest.fixture
def pipeline_run(pipeline_store: dict[str, str]) -> dict[str, list[vt.Execution]]:
    vt.config.init(**pipeline_store)
    return by_case(vt.Execution.list(filter='display_name = "use*"'))


def test_map_over_a_task_output_links_each_element_to_its_producer(pipeline_run) -> None:
    assert len(pipeline_run["map"]) == 2
    for execution in pipeline_run["map"]:
        assert upstream_tasks(execution) == [("make", None)]


def test_a_short_string_from_a_task_is_an_edge_and_still_a_parameter(pipeline_run) -> None:
    (execution,) = pipeline_run["str"]
    assert upstream_tasks(execution) == [("path", None)]
    # still filterable as a parameter
    assert execution.metadata["x"] == "/data/out/2024-01-01.parquet"
    found = vt.Execution.list(filter='metadata.x.string_value = "/data/out/2024-01-01.parquet"')
    assert execution.name in {e.name for e in found}


def test_an_equal_literal_string_is_a_parameter_with_no_producer(pipeline_run) -> None:
    (execution,) = pipeline_run["literal"]
    assert upstream_tasks(execution) == []
    assert execution.metadata["x"] == "/data/out/2024-01-01.parquet"


def test_values_passed_into_subflows_link_back_to_the_parent_runs_producer(pipeline_run) -> None:
    (execution,) = pipeline_run["subflow"]
    assert upstream_tasks(execution) == [("make", None)]
    (deeper,) = pipeline_run["grandchild"]
    assert upstream_tasks(deeper) == [("make", None)]


def test_a_subflows_return_value_links_to_the_task_that_made_it(pipeline_run) -> None:
    (execution,) = pipeline_run["from-subflow"]
    upstream = upstream_tasks(execution)
    assert ("use", None) in upstream  # the subflow's `use("subflow", x)`
    producer = [
        e for e in vt.lineage(execution, direction="upstream", max_hops=2).executions
        if e.name != execution.name
    ]
    assert [e.metadata["case"] for e in producer] == ["subflow"]


def test_equal_small_values_of_two_task_runs_never_merge(pipeline_run) -> None:
    (execution,) = pipeline_run["equal"]
    # stats("orders") and stats("users") both returned rows=20: only "users" fed this task.
    assert upstream_tasks(execution) == [("stats", "users")]
    rows = [
        a for a in vt.Artifact.list(filter='display_name = "stats.rows"')
    ]
    assert len(rows) == 2 and len({a.name for a in rows}) == 2


def test_wait_for_is_recorded_but_is_not_a_data_edge(tracked: MetadataStore) -> None:
    @vt.flow
    def ordered() -> str:
        first = path.submit()
        return use.submit("after", 1, wait_for=[first]).result()

    ordered()
    (execution,) = vt.Execution.list(filter='display_name = "use*"')
    assert upstream_tasks(execution) == []
    (first,) = vt.Execution.list(filter='display_name = "path*"')
    waited = execution.metadata["vertex_track"]["wait_for"]
    assert waited == [first.metadata["vertex_track"]["task_run_id"]]


def test_futures_and_containers_of_futures_link(tracked: MetadataStore) -> None:
    @vt.task
    def total(parts: list) -> int:
        return sum(len(p) for p in parts)

    @vt.flow
    def fan_in() -> int:
        futures = [path.submit(), path.submit()]
        return total.submit(futures).result()

    assert fan_in() == 2 * len("/data/out/2024-01-01.parquet")
    (execution,) = vt.Execution.list(filter='display_name = "total*"')
    assert upstream_tasks(execution) == [("path", None), ("path", None)]


# -- flow shapes ------------------------------------------------------------------------
def test_generator_flow_yields_its_values_and_completes(tracked: MetadataStore) -> None:
    @vt.flow
    def generator():
        yield from range(3)

    assert list(generator()) == [0, 1, 2]
    (run,) = vt.PipelineRun.list()
    assert run.state == "COMPLETE"


def test_flows_on_classmethods_staticmethods_and_methods(tracked: MetadataStore) -> None:
    class Pipelines:
        factor = 3

        def __init__(self, offset: int) -> None:
            self.offset = offset

        @vt.flow
        @classmethod
        def scaled(cls, x: int) -> int:
            return x * cls.factor

        @vt.flow
        @staticmethod
        def doubled(x: int) -> int:
            return 2 * x

        @vt.flow
        def shifted(self, x: int) -> int:
            return x + self.offset

    assert Pipelines.scaled(2) == 6
    assert Pipelines.doubled(5) == 10
    assert Pipelines(7).shifted(1) == 8
    runs = vt.PipelineRun.list()
    assert sorted(r.flow_name for r in runs) == ["doubled", "scaled", "shifted"]
    assert all(r.state == "COMPLETE" for r in runs)


def test_run_state_is_prefects_final_state_for_returned_states(tracked: MetadataStore) -> None:
    @vt.task
    def bad() -> None:
        raise ValueError("bad")

    @vt.flow
    def mixed() -> tuple:
        return ("bar", bad(return_state=True))

    @vt.flow
    def only_states() -> list:
        return [bad(return_state=True)]

    state = mixed(return_state=True)
    assert state.is_completed()
    assert vt.PipelineRun.get(state.state_details.flow_run_id).state == "COMPLETE"
    state = only_states(return_state=True)
    assert state.is_failed()
    assert vt.PipelineRun.get(state.state_details.flow_run_id).state == "FAILED"


def test_tracebacks_have_no_wrapper_frames(tracked: MetadataStore) -> None:
    @vt.task
    def explode() -> None:
        raise KeyError("missing")

    @vt.flow
    def boom() -> None:
        explode()

    with pytest.raises(KeyError) as info:
        boom()
    files = [entry.path for entry in info.traceback]
    tracking_dir = os.path.join("vertex_track", "tracking")
    assert not [str(f) for f in files if tracking_dir in str(f)]


def test_replacing_prefects_decorators_does_not_recurse(tracked: MetadataStore) -> None:
    import prefect

    saved = prefect.task, prefect.flow
    prefect.task, prefect.flow = vt.task, vt.flow
    try:
        @prefect.task
        def inc(x: int) -> int:
            return x + 1

        @prefect.flow
        def run() -> int:
            return inc(1)

        assert run() == 2
    finally:
        prefect.task, prefect.flow = saved
    (execution,) = vt.Execution.list()
    assert execution.state == "COMPLETE"


def test_autotrack_tracks_tasks_and_flows_created_after_it(tracked: MetadataStore) -> None:
    vt.autotrack(exclude=["noisy_*"])
    try:
        @task
        def double(x: int) -> int:
            return 2 * x

        @task
        def noisy_log(x: int) -> int:
            return x

        @flow
        def plain(x: int) -> int:
            return noisy_log(double(x))

        assert plain(4) == 8
    finally:
        vt.autotrack(disable=True)

    @task
    def later(x: int) -> int:
        return x

    @flow
    def after_disable() -> int:
        return later(1)

    after_disable()
    names = sorted(e.metadata["vertex_track"]["task_name"] for e in vt.Execution.list())
    assert names == ["double"]
    run = vt.PipelineRun.list(filter='metadata.flow_name.string_value = "plain"')[0]
    assert run.state == "COMPLETE"


def test_autotrack_rejects_a_single_string() -> None:
    with pytest.raises(vt.InvalidArgumentError, match=r"exclude=\['noisy'\]"):
        vt.autotrack(exclude="noisy")


# -- tracking never costs the task its outcome -------------------------------------------
class Unpicklable:
    def __init__(self) -> None:
        self.lock = threading.Lock()


def test_unrecordable_return_value_is_returned_and_the_flow_fails_at_its_end(
    tracked: MetadataStore,
) -> None:
    seen: list[object] = []

    @vt.task
    def produce() -> Unpicklable:
        return Unpicklable()

    @vt.flow
    def keeps_going() -> str:
        value = produce()
        seen.append(value)
        return "body finished"

    with pytest.raises(TrackingError) as info:
        keeps_going()
    message = str(info.value)
    assert "could not record the outputs of produce" in message
    assert "ignore=" in message and 'on_tracking_error="warn"' in message
    assert len(seen) == 1 and isinstance(seen[0], Unpicklable)  # the body got its value
    (execution,) = vt.Execution.list()
    assert execution.state == "FAILED"  # never RUNNING forever
    assert "outputs not recorded" in execution.metadata["vertex_track"]["tracking_error"]
    (run,) = vt.PipelineRun.list()
    assert run.state == "FAILED"


def test_unrecordable_return_value_under_warn_is_one_warning(tracked: MetadataStore) -> None:
    vt.init(on_tracking_error="warn")

    @vt.task
    def produce() -> Unpicklable:
        return Unpicklable()

    @vt.flow
    def keeps_going() -> bool:
        return isinstance(produce(), Unpicklable)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert keeps_going() is True
    ours = [w for w in caught if issubclass(w.category, TrackingWarning)]
    assert len(ours) == 1
    assert "outputs of produce" in str(ours[0].message)
    (run,) = vt.PipelineRun.list()
    assert run.state == "COMPLETE"


def test_handles_are_recorded_as_placeholders_never_read(
    tracked: MetadataStore, tmp_path: Path
) -> None:
    data = tmp_path / "big.bin"
    data.write_bytes(b"x" * 100_000)

    @vt.task
    def consume(handle: object, lock: object, gen: object) -> int:
        return len(handle.read())  # the task, not tracking, reads the file

    @vt.flow
    def handles() -> int:
        with data.open("rb") as fh:
            return consume(fh, threading.Lock(), (i for i in range(3)))

    assert handles() == 100_000
    (execution,) = vt.Execution.list()
    assert execution.state == "COMPLETE"
    inputs = {a.display_name: a for a in execution.get_input_artifacts()}
    assert inputs["handle"].metadata["value"] == {
        "type": "_io.BufferedReader", "name": str(data), "mode": "rb", "closed": False,
    }
    assert inputs["lock"].metadata["value"] == {"type": "_thread.lock"}
    assert inputs["gen"].metadata["value"]["type"] == "generator"
    assert all(a.uri == "" for a in inputs.values())  # nothing was read or stored


def test_unwritable_artifact_root_keeps_the_task_result(
    prefect_harness: None, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the artifact root's parent should be")
    # Nobody, root included, can create a folder below a regular file.
    vt.init(
        store_uri=f"sqlite:///{tmp_path / 'm.db'}", artifact_root=str(blocker / "artifacts"),
        on_tracking_error="warn",
    )

    @vt.task
    def big() -> bytes:
        return b"y" * 1_000_000

    @vt.flow
    def writes() -> int:
        return len(big())

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert writes() == 1_000_000
    assert any("outputs of big" in str(w.message) for w in caught)
    (execution,) = vt.Execution.list()
    assert execution.state == "FAILED"
    assert "outputs not recorded" in execution.metadata["vertex_track"]["tracking_error"]


def test_outside_a_flow_raise_fails_the_call_that_could_not_be_recorded(tmp_path: Path) -> None:
    vt.init(store_uri=f"sqlite:///{tmp_path / 'm.db'}", artifact_root=str(tmp_path / "a"))

    @vt.track
    def f(obj: object) -> int:
        return 7

    # Nothing later belongs to a call outside a flow run: under "raise" it fails now,
    # saying what and how to go on, and the next call is unaffected.
    with pytest.raises(TrackingError, match="argument 'obj' of f") as info:
        f(Unpicklable())
    assert "ignore=" in str(info.value)
    assert f(None) == 7
    flush()
    (execution,) = vt.Execution.list()
    assert execution.state == "COMPLETE" and execution.metadata["obj"] is None


def test_inside_a_flow_an_unrecordable_argument_is_a_placeholder_and_fails_the_run_at_its_end(
    tracked: MetadataStore,
) -> None:
    ran: list[int] = []

    @vt.task
    def f(obj: object) -> int:
        ran.append(1)
        return 7

    @vt.flow
    def uses() -> int:
        return f(Unpicklable()) + 1

    with pytest.raises(TrackingError, match="argument 'obj' of f"):
        uses()
    assert ran == [1]  # the task ran and its value was used
    (execution,) = vt.Execution.list()
    assert execution.state == "COMPLETE"
    assert execution.metadata["obj"]["recorded"] is False
    assert "reason" in execution.metadata["obj"]
