"""Conformance suite for the metadata store: runs on SQLite and PostgreSQL.

Each operation of Vertex AI's "Track executions and artifacts" and "Manage ML Metadata"
guides (create/get/list/update/delete/purge of
artifacts, executions and contexts, start_execution, context links) in
``vt`` calls, plus validation, pagination, etags and purge semantics.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest

import vertex_track as vt
from vertex_track.store.base import MetadataStore

PREFIX = "projects/local/locations/local/metadataStores/default"


# -- create / get ("Create artifact" in both guides) ----------------------------------
def test_create_artifact_has_vertex_fields(store: MetadataStore) -> None:
    before = dt.datetime.now(dt.timezone.utc)
    a = vt.Artifact.create(
        schema_title="system.Dataset",
        uri="gs://your_bucket_name/artifacts/dataset.csv",
        resource_id="my-dataset",
        display_name="Example artifact",
        schema_version="0.0.1",
        description="Description of the example artifact.",
        metadata={"payload_format": "CSV"},
        labels={"test_label": "test_label_value"},
    )
    assert a.name == f"{PREFIX}/artifacts/my-dataset"
    assert a.resource_id == "my-dataset"
    assert a.state == vt.ArtifactState.LIVE and a.state == "LIVE"
    assert a.create_time.tzinfo is not None and a.create_time >= before
    assert a.update_time == a.create_time
    assert a.etag
    got = vt.Artifact.get("my-dataset")
    assert got.name == a.name
    assert got.uri == "gs://your_bucket_name/artifacts/dataset.csv"
    assert got.metadata == {"payload_format": "CSV"}
    assert got.labels == {"test_label": "test_label_value"}
    assert got.description == "Description of the example artifact."
    assert got.schema_title == "system.Dataset"
    assert got.create_time == a.create_time
    assert vt.Artifact.get(a.name).resource_id == "my-dataset"


def test_generated_resource_ids_follow_the_id_rule(store: MetadataStore) -> None:
    ids = {vt.Execution.create("system.ContainerExecution").resource_id for _ in range(50)}
    assert len(ids) == 50
    for rid in ids:
        assert len(rid) <= 63 and not rid[0].isdigit() and rid[0] != "-"
        assert set(rid) <= set("abcdefghijklmnopqrstuvwxyz0123456789_-")


def test_create_with_taken_id_raises_already_exists(store: MetadataStore) -> None:
    vt.Context.create("system.Experiment", resource_id="exp-1")
    with pytest.raises(vt.AlreadyExistsError, match="exp-1.*already exists"):
        vt.Context.create("system.Experiment", resource_id="exp-1")


def test_get_missing_raises_not_found_also_lookup_error(store: MetadataStore) -> None:
    with pytest.raises(vt.NotFoundError, match="artifacts/nope"):
        vt.Artifact.get("nope")
    with pytest.raises(LookupError):
        vt.Execution.get(f"{PREFIX}/executions/nope")


def test_get_rejects_a_name_of_another_kind(store: MetadataStore) -> None:
    a = vt.Artifact.create("system.Artifact")
    with pytest.raises(vt.InvalidArgumentError, match="does not belong"):
        vt.Execution.get(a.name)


def test_states_accept_strings_and_enums(store: MetadataStore) -> None:
    e1 = vt.Execution.create("system.ContainerExecution", state="COMPLETE")
    e2 = vt.Execution.create("system.ContainerExecution", state=vt.ExecutionState.FAILED)
    assert vt.Execution.get(e1.resource_id).state is vt.ExecutionState.COMPLETE
    assert vt.Execution.get(e2.resource_id).state == "FAILED"
    a = vt.Artifact.create("system.Artifact", state="pending")
    assert a.state is vt.ArtifactState.PENDING
    with pytest.raises(vt.InvalidArgumentError, match="state must be one of"):
        vt.Execution.create("system.ContainerExecution", state="DONE")


# -- validation -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"schema_title": "System.Dataset"}, "schema_title"),
        ({"schema_title": "s.Dataset"}, "schema_title"),
        ({"schema_title": "system.dataset"}, "schema_title"),
        ({"schema_title": "system.D"}, "schema_title"),
        ({"schema_title": "system"}, "schema_title"),
        ({"schema_title": "a" * 21 + ".Dataset"}, "schema_title"),
        ({"schema_title": "system." + "D" * 50}, "schema_title"),
        ({"schema_title": "sys_tem.Dataset"}, "schema_title"),
        ({"schema_version": "1.0"}, "schema_version"),
        ({"schema_version": "v1.0.0"}, "schema_version"),
        ({"schema_version": "1.0.0.0"}, "schema_version"),
        ({"resource_id": "1abc"}, "resource_id"),
        ({"resource_id": "-abc"}, "resource_id"),
        ({"resource_id": "Abc"}, "resource_id"),
        ({"resource_id": "a" * 64}, "resource_id"),
        ({"resource_id": "a.b"}, "resource_id"),
        ({"resource_id": ""}, "resource_id"),
        ({"display_name": "x" * 129}, "display_name"),
        ({"metadata": {"x": object()}}, "metadata"),
        ({"metadata": {"x": float("nan")}}, "metadata"),
        ({"metadata": {1: "a"}}, "metadata"),
        ({"labels": {"a": 1}}, "labels"),
    ],
)
def test_bad_input_names_the_field(store: MetadataStore, kwargs: dict, field: str) -> None:
    args = {"schema_title": "system.Artifact", **kwargs}
    with pytest.raises(vt.InvalidArgumentError, match=field) as info:
        vt.Artifact.create(**args)
    assert isinstance(info.value, ValueError)
    assert vt.Artifact.list() == []


def test_valid_boundaries_are_accepted(store: MetadataStore) -> None:
    a = vt.Artifact.create(
        "ab." + "A" + "b" * 48, resource_id="a" * 63, display_name="é" * 128,
        schema_version="10.20.30",
    )
    assert vt.Artifact.get(a.resource_id).display_name == "é" * 128
    assert vt.Artifact.create("a1b2c3d4e5f6g7h8i9j0.Xy").schema_title == "a1b2c3d4e5f6g7h8i9j0.Xy"


def test_context_parent_rules(store: MetadataStore) -> None:
    parents = [vt.Context.create("system.Experiment", resource_id=f"p{i}") for i in range(11)]
    with pytest.raises(vt.InvalidArgumentError, match="parent_contexts.*at most 10"):
        vt.Context.create("system.ExperimentRun", parent_contexts=parents)
    child = vt.Context.create("system.ExperimentRun", parent_contexts=parents[:10])
    assert sorted(child.parent_contexts) == sorted(p.name for p in parents[:10])
    assert vt.Context.get(child.resource_id).parent_contexts == sorted(
        p.name for p in parents[:10]
    )
    with pytest.raises(vt.InvalidArgumentError, match="10 parent contexts"):
        parents[10].add_context_children([child])
    with pytest.raises(vt.NotFoundError, match="missing"):
        vt.Context.create("system.Run", parent_contexts=[f"{PREFIX}/contexts/missing"])


def test_context_cycles_are_refused(store: MetadataStore) -> None:
    a = vt.Context.create("system.Run", resource_id="a")
    b = vt.Context.create("system.Run", resource_id="b", parent_contexts=[a])
    c = vt.Context.create("system.Run", resource_id="c", parent_contexts=[b.name])
    with pytest.raises(vt.InvalidArgumentError, match="cycle"):
        c.add_context_children([a])
    with pytest.raises(vt.InvalidArgumentError, match="cycle"):
        a.add_context_children([a])
    a.add_context_children([c])  # a diamond is fine
    assert sorted(vt.Context.get("c").parent_contexts) == [a.name, b.name]
    assert [x.resource_id for x in a.get_child_contexts()] == ["b", "c"]


# -- list, order, pages ------------------------------------------------------------
def test_list_filters_and_orders(store: MetadataStore) -> None:
    for i, title in enumerate(["system.Dataset", "system.Model", "system.Dataset"]):
        vt.Artifact.create(title, resource_id=f"a{i}", display_name=f"example-{i}")
    vt.Artifact.create("system.Model", resource_id="other", display_name="other")
    datasets = vt.Artifact.list(filter='schema_title = "system.Dataset"')
    assert [a.resource_id for a in datasets] == ["a0", "a2"]
    wild = vt.Artifact.list(filter='display_name = "*example*"', order_by="display_name desc")
    assert [a.display_name for a in wild] == ["example-2", "example-1", "example-0"]
    assert [a.resource_id for a in vt.Artifact.list()] == ["a0", "a1", "a2", "other"]
    with pytest.raises(vt.InvalidArgumentError, match="order_by"):
        vt.Artifact.list(order_by="colour")
    with pytest.raises(vt.InvalidArgumentError, match="page_size"):
        vt.Artifact.list(page_size=0)


def test_create_time_filter_with_offsets(store: MetadataStore) -> None:
    a = vt.Artifact.create("system.Artifact", resource_id="old")
    cut = a.create_time + dt.timedelta(microseconds=1)
    b = vt.Artifact.create("system.Artifact", resource_id="new")
    assert b.create_time > a.create_time
    as_offset = cut.astimezone(dt.timezone(dt.timedelta(hours=-4))).isoformat()
    older = vt.Artifact.list(filter=f'create_time < "{as_offset}"')
    assert [x.resource_id for x in older] == ["old"]
    newer = vt.Artifact.list(filter=f'create_time > "{as_offset}"')
    assert [x.resource_id for x in newer] == ["new"]


def test_pages_walk_every_record_once(store: MetadataStore) -> None:
    for i in range(25):
        vt.Execution.create("system.ContainerExecution", resource_id=f"e{i:02d}")
    first = vt.Execution.list(page_size=10)
    assert len(first) == 10 and first.next_page_token
    seen = [e.resource_id for e in vt.Execution.iter(page_size=7)]
    assert seen == [f"e{i:02d}" for i in range(25)]
    last = vt.Execution.list(page_size=25)
    assert last.next_page_token is None
    desc = [e.resource_id for e in vt.Execution.iter(order_by="name desc", page_size=4)]
    assert desc == [f"e{i:02d}" for i in reversed(range(25))]


def test_page_tokens_reject_garbage_and_other_queries(store: MetadataStore) -> None:
    for _ in range(3):
        vt.Artifact.create("system.Artifact")
    token = vt.Artifact.list(page_size=1).next_page_token
    with pytest.raises(vt.InvalidArgumentError, match="page_token"):
        vt.Artifact.list(page_size=1, page_token="garbage!")
    with pytest.raises(vt.InvalidArgumentError, match="different query"):
        vt.Artifact.list(page_size=1, page_token=token, order_by="display_name")


def test_pagination_under_concurrent_inserts(store: MetadataStore) -> None:
    original = {
        vt.Artifact.create("system.Dataset", display_name="orig").resource_id for _ in range(60)
    }
    stop = threading.Event()
    errors: list[BaseException] = []

    def insert_more() -> None:
        try:
            # Bounded: on a busy machine an unbounded writer can outpace the walk,
            # which then never reaches the end (each page finds newer records).
            for _ in range(300):
                if stop.is_set():
                    break
                vt.Artifact.create("system.Dataset", display_name="late")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    writer = threading.Thread(target=insert_more)
    writer.start()
    try:
        seen = [a.resource_id for a in vt.Artifact.iter(page_size=7)]
    finally:
        stop.set()
        writer.join()
    assert not errors
    assert len(seen) == len(set(seen)), "a record came back twice"
    assert original <= set(seen), "a record that existed before the walk was skipped"


# -- update / etag -------------------------------------------------------------------
def test_update_merges_metadata_bumps_time_and_etag(store: MetadataStore) -> None:
    e = vt.Execution.create("system.ContainerExecution", metadata={"a": 1, "b": 2})
    old_etag, old_time = e.etag, e.update_time
    e.update(metadata={"b": 3, "c": 4}, state="COMPLETE", display_name="done")
    assert e.metadata == {"a": 1, "b": 3, "c": 4}
    assert e.etag != old_etag and e.update_time > old_time
    got = vt.Execution.get(e.resource_id)
    assert got.metadata == {"a": 1, "b": 3, "c": 4}
    assert got.state == "COMPLETE" and got.display_name == "done"
    assert got.etag == e.etag and got.update_time == e.update_time


def test_stale_etag_raises_conflict(store: MetadataStore) -> None:
    a = vt.Artifact.create("system.Artifact")
    stale = vt.Artifact.get(a.resource_id)
    a.update(description="first")
    with pytest.raises(vt.ConflictError, match="stale"):
        stale.update(description="second")
    assert vt.Artifact.get(a.resource_id).description == "first"
    stale.sync_resource()
    stale.update(description="second")
    assert vt.Artifact.get(a.resource_id).description == "second"


def test_update_validates(store: MetadataStore) -> None:
    a = vt.Artifact.create("system.Artifact")
    with pytest.raises(vt.InvalidArgumentError, match="display_name"):
        a.update(display_name="x" * 200)
    with pytest.raises(vt.InvalidArgumentError, match="state"):
        a.update(state="COMPLETE")


def test_update_of_deleted_resource_raises_not_found(store: MetadataStore) -> None:
    a = vt.Artifact.create("system.Artifact")
    a.delete()
    with pytest.raises(vt.NotFoundError):
        a.update(description="x")
    with pytest.raises(vt.NotFoundError):
        a.delete()


# -- delete / purge ("Manage ML Metadata") ---------------------------------------------
def test_delete_removes_events_and_links(store: MetadataStore) -> None:
    ctx = vt.Context.create("system.PipelineRun")
    a = vt.Artifact.create("system.Dataset")
    with vt.start_execution(schema_title="system.ContainerExecution") as e:
        e.assign_input_artifacts([a])
    ctx.add_artifacts_and_executions([a.name], [e.name])
    assert [x.name for x in ctx.get_artifacts()] == [a.name]
    a.delete()
    assert e.get_input_artifacts() == []
    assert ctx.get_artifacts() == []
    assert [x.name for x in ctx.get_executions()] == [e.name]


@pytest.mark.parametrize("cls", [vt.Artifact, vt.Execution, vt.Context])
def test_purge_dry_run_then_force(store: MetadataStore, cls: type) -> None:
    title = {"Artifact": "system.Dataset", "Execution": "system.Run", "Context": "system.Run"}
    for i in range(5):
        cls.create(title[cls.__name__], display_name=f"tmp-example-{i}")
    keep = cls.create(title[cls.__name__], display_name="keep")
    dry = cls.purge(filter='display_name = "*example*"')
    assert dry.purge_count == 5 and not dry.forced
    assert len(dry.purge_sample) == 5
    assert all(n.startswith(f"{PREFIX}/{cls.kind}/") for n in dry.purge_sample)
    assert len(cls.list()) == 6, "a dry run must delete nothing"
    done = cls.purge(filter='display_name = "*example*"', force=True)
    assert done.purge_count == 5 and done.forced
    assert sorted(done.purge_sample) == sorted(dry.purge_sample)
    assert [x.name for x in cls.list()] == [keep.name]


def test_purge_sample_is_capped_at_100(store: MetadataStore) -> None:
    for _ in range(120):
        vt.Execution.create("system.Run", display_name="bulk")
    result = vt.Execution.purge('display_name = "bulk"')
    assert result.purge_count == 120 and len(result.purge_sample) == 100


def test_purge_reports_the_provenance_it_cuts(store: MetadataStore) -> None:
    data = vt.Artifact.create("system.Dataset", display_name="raw")
    with vt.start_execution(schema_title="system.ContainerExecution", display_name="train") as e:
        e.assign_input_artifacts([data])
    result = vt.Artifact.purge('display_name = "raw"')
    assert result.downstream_executions == [e.name]


def test_purge_requires_a_filter(store: MetadataStore) -> None:
    with pytest.raises(vt.InvalidArgumentError, match="filter is required"):
        vt.Artifact.purge("")


# -- start_execution ("Start execution" in "Track executions and artifacts") ----------
def test_start_execution_records_inputs_outputs_and_state(store: MetadataStore) -> None:
    data = vt.Artifact.create("system.Dataset", uri="file:///data.csv")
    params = vt.Artifact.create("system.Artifact", metadata={"lr": 0.1})
    with vt.start_execution(
        schema_title="system.ContainerExecution", display_name="train",
        metadata={"lr": 0.1},
    ) as e:
        assert vt.Execution.get(e.resource_id).state == "RUNNING"
        e.assign_input_artifacts([data, params.name])
        model = vt.Artifact.create("system.Model", uri="file:///model.pkl")
        e.assign_output_artifacts([model])
    stored = vt.Execution.get(e.resource_id)
    assert stored.state == vt.ExecutionState.COMPLETE == e.state
    assert [a.name for a in stored.get_input_artifacts()] == [data.name, params.name]
    assert [a.name for a in stored.get_output_artifacts()] == [model.name]
    assert [x.name for x in model.get_executions("OUTPUT")] == [e.name]
    types = [(ev.type, ev.artifact) for ev in stored.get_events()]
    assert (vt.EventType.OUTPUT, model.name) in types


def test_start_execution_failure_marks_failed_and_reraises(store: MetadataStore) -> None:
    with pytest.raises(KeyError, match="boom"), vt.start_execution(
        schema_title="system.ContainerExecution", resource_id="fails"
    ):
        raise KeyError("boom")
    e = vt.Execution.get("fails")
    assert e.state == "FAILED"
    assert e.metadata["vertex_track"]["error_type"] == "KeyError"
    assert "boom" in e.metadata["vertex_track"]["error_message"]


def test_start_execution_resume(store: MetadataStore) -> None:
    with vt.start_execution(schema_title="system.ContainerExecution", resource_id="job") as e:
        e.assign_input_artifacts([vt.Artifact.create("system.Dataset", resource_id="d1")])
    with vt.start_execution(resource_id="job", resume=True) as again:
        assert vt.Execution.get("job").state == "RUNNING"
        again.assign_output_artifacts([vt.Artifact.create("system.Model", resource_id="m1")])
    got = vt.Execution.get("job")
    assert got.state == "COMPLETE"
    assert [a.resource_id for a in got.get_input_artifacts()] == ["d1"]
    assert [a.resource_id for a in got.get_output_artifacts()] == ["m1"]
    with pytest.raises(vt.NotFoundError), vt.start_execution(resource_id="ghost", resume=True):
        pass


def test_assign_outside_a_block_writes_immediately(store: MetadataStore) -> None:
    e = vt.Execution.create("system.ContainerExecution")
    a = vt.Artifact.create("system.Dataset")
    e.assign_input_artifacts([a])
    assert [x.name for x in vt.Execution.get(e.name).get_input_artifacts()] == [a.name]
    with pytest.raises(vt.InvalidArgumentError, match="list of Artifacts"):
        e.assign_input_artifacts(a)  # type: ignore[arg-type]
    with pytest.raises(vt.NotFoundError):
        e.assign_output_artifacts([f"{PREFIX}/artifacts/missing"])


def test_context_add_artifacts_and_executions(store: MetadataStore) -> None:
    ctx = vt.Context.create("system.PipelineRun", display_name="run")
    arts = [vt.Artifact.create("system.Dataset") for _ in range(3)]
    exe = vt.Execution.create("system.ContainerExecution")
    ctx.add_artifacts_and_executions(
        artifact_resource_names=[a.name for a in arts], execution_resource_names=[exe.name]
    )
    ctx.add_artifacts_and_executions(artifact_resource_names=[arts[0].name])  # idempotent
    assert sorted(a.name for a in ctx.get_artifacts()) == sorted(a.name for a in arts)
    assert [e.name for e in vt.Execution.list(filter=f'in_context("{ctx.name}")')] == [exe.name]


def test_stores_in_one_database_are_separate(store: MetadataStore, store_uri: str) -> None:
    vt.Artifact.create("system.Dataset", resource_id="shared-id")
    vt.init(metadata_store="other")
    assert vt.Artifact.list() == []
    b = vt.Artifact.create("system.Dataset", resource_id="shared-id")
    assert b.name == "projects/local/locations/local/metadataStores/other/artifacts/shared-id"
    vt.init(metadata_store="default")
    assert [a.resource_id for a in vt.Artifact.list()] == ["shared-id"]


# -- writes by known primary keys ----------------------------------------------------
# A store remembers the keys of what it created or read, and links those without
# looking them up. These pin that the shortcut never changes an outcome when
# someone else (here: a second store object, which shares no keys) changed the rows.
def _elsewhere(store_uri: str) -> MetadataStore:
    from vertex_track.store.sql.store import SqlStore

    return SqlStore(store_uri)


def test_linking_an_artifact_deleted_elsewhere_raises_not_found(
    store: MetadataStore, store_uri: str
) -> None:
    ctx = vt.Context.create("system.PipelineRun")
    kept, gone = vt.Artifact.create("system.Dataset"), vt.Artifact.create("system.Dataset")
    exe = vt.Execution.create("system.ContainerExecution")
    _elsewhere(store_uri).delete("artifacts", [gone.resource_id])
    with pytest.raises(vt.NotFoundError, match=gone.resource_id):
        ctx.add_artifacts_and_executions([kept.name, gone.name], [exe.name])
    assert ctx.get_artifacts() == [] and ctx.get_executions() == []  # all or nothing
    ctx.add_artifacts_and_executions([kept.name], [exe.name])
    assert [a.name for a in ctx.get_artifacts()] == [kept.name]


def test_links_follow_a_resource_recreated_elsewhere(store: MetadataStore, store_uri: str) -> None:
    ctx = vt.Context.create("system.PipelineRun")
    old = vt.Artifact.create("system.Dataset", resource_id="again")
    other = _elsewhere(store_uri)
    other.delete("artifacts", ["again"])
    vt.Artifact.create("system.Model", resource_id="again", store=other)
    ctx.add_artifacts_and_executions([old.name])
    assert [a.schema_title for a in ctx.get_artifacts()] == ["system.Model"]
    e = vt.Execution.create("system.ContainerExecution")
    e.assign_input_artifacts([old.name])
    assert [a.schema_title for a in vt.Execution.get(e.name).get_input_artifacts()] == [
        "system.Model"
    ]


def test_start_execution_after_rows_changed_elsewhere(store: MetadataStore, store_uri: str) -> None:
    # As put_execution: an assigned artifact object that is gone is inserted again,
    # a deleted execution is recorded again, and the block's fields overwrite.
    other = _elsewhere(store_uri)
    data = vt.Artifact.create("system.Dataset", resource_id="data")
    with vt.start_execution(display_name="mine", resource_id="job") as e:
        e.assign_input_artifacts([data])
        other.delete("artifacts", ["data"])
        vt.Execution.get("job", store=other).update(display_name="theirs", labels={"k": "v"})
    stored = vt.Execution.get("job")
    assert (stored.state, stored.display_name, stored.labels) == ("COMPLETE", "mine", {})
    assert stored.etag == e.etag == "3" and stored.update_time == e.update_time
    assert [a.name for a in stored.get_input_artifacts()] == [data.name]
    with vt.start_execution(resource_id="job2") as e2:
        e2.display_name = "renamed in the block"
        other.delete("executions", ["job2"])
    stored = vt.Execution.get("job2")
    assert (stored.state, stored.display_name) == ("COMPLETE", "renamed in the block")


def test_start_execution_in_an_experiment_run_is_one_transaction(store: MetadataStore) -> None:
    vt.init(experiment="exp")
    vt.Execution.create("system.ContainerExecution", resource_id="taken")
    with vt.start_run("run") as run:
        with pytest.raises(vt.AlreadyExistsError, match="taken"), vt.start_execution(
            resource_id="taken"
        ):
            pass  # pragma: no cover - the block never runs
        with vt.start_execution(resource_id="fresh", display_name="train") as e:
            assert [x.name for x in run.get_executions()] == [e.name]  # associated on entry
            model = vt.Artifact.create("system.Model")
            e.assign_output_artifacts([model])
    assert [x.resource_id for x in run.get_executions()] == ["fresh"]
    assert model.name in {a.name for a in run.get_artifacts()}
