"""The ``MetadataStore`` protocol, primitive by primitive, on SQLite and PostgreSQL.

Only protocol calls and resource models (no SQL, no higher-level helpers),
so every backend can be held to the contracts documented in
``vertex_track/store/base.py``: what is inserted and what is updated, what is
atomic, which order is guaranteed, and the errors bad input gets.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

import vertex_track as vt
from vertex_track.store.base import ArtifactLink, MetadataStore, TrackedRecord

PREFIX = "projects/local/locations/local/metadataStores/default"
NOW = 1_700_000_000_000_000


def artifact(rid: str, **fields: Any) -> vt.Artifact:
    return vt.Artifact(name=f"{PREFIX}/artifacts/{rid}", schema_title="system.Dataset", **fields)


def execution(rid: str, state: str = "RUNNING", **fields: Any) -> vt.Execution:
    return vt.Execution(name=f"{PREFIX}/executions/{rid}", schema_title="system.ContainerExecution",
                        state=state, **fields)


def context(rid: str, **fields: Any) -> vt.Context:
    return vt.Context(name=f"{PREFIX}/contexts/{rid}", schema_title="system.Experiment", **fields)


def ids(resources: list[Any]) -> list[str]:
    return [r.resource_id for r in resources]


# -- names ------------------------------------------------------------------------------
def test_names_round_trip_and_foreign_names_are_refused(store: MetadataStore) -> None:
    assert store.prefix == PREFIX
    assert store.resource_name("artifacts", "a") == f"{PREFIX}/artifacts/a"
    assert store.resource_id_from("artifacts", f"{PREFIX}/artifacts/a") == "a"
    assert store.resource_id_from("artifacts", "a") == "a"
    assert store.name_of("executions", "e") == f"{PREFIX}/executions/e"
    with pytest.raises(vt.InvalidArgumentError, match="does not belong to this store's artifacts"):
        store.resource_id_from("artifacts", f"{PREFIX}/executions/a")
    with pytest.raises(vt.InvalidArgumentError, match="expected a resource id"):
        store.resource_id_from("artifacts", "")


# -- create / get / list / count ---------------------------------------------------------
def test_create_inserts_and_never_updates(store: MetadataStore) -> None:
    created = store.create(artifact("a", uri="file:///a", metadata={"k": 1}))
    assert created.etag == "1"
    got = store.get("artifacts", "a")
    assert (got.name, got.uri, got.metadata) == (f"{PREFIX}/artifacts/a", "file:///a", {"k": 1})
    with pytest.raises(vt.AlreadyExistsError, match=r"artifact '.*/artifacts/a' already exists"):
        store.create(artifact("a", uri="file:///other"))
    assert store.get("artifacts", "a").uri == "file:///a"


def test_get_of_a_missing_resource_raises_not_found(store: MetadataStore) -> None:
    with pytest.raises(vt.NotFoundError, match=r"execution '.*/executions/nope' does not exist"):
        store.get("executions", "nope")


def test_create_of_a_context_with_a_missing_parent_writes_nothing(store: MetadataStore) -> None:
    with pytest.raises(vt.NotFoundError, match="ghost"):
        store.create(context("child", parent_contexts=[f"{PREFIX}/contexts/ghost"]))
    with pytest.raises(vt.NotFoundError):
        store.get("contexts", "child")
    store.create(context("parent"))
    child = store.create(context("child", parent_contexts=[f"{PREFIX}/contexts/parent"]))
    assert store.get("contexts", child.resource_id).parent_contexts == [f"{PREFIX}/contexts/parent"]


def test_list_pages_in_order_and_count_matches(store: MetadataStore) -> None:
    for i in range(5):
        store.create(artifact(f"a{i}", display_name=f"n{4 - i}"))
    page, token = store.list("artifacts", order_by="display_name", page_size=2)
    assert ids(page) == ["a4", "a3"] and token is not None
    rest, last = store.list("artifacts", order_by="display_name", page_size=2, page_token=token)
    assert ids(rest) == ["a2", "a1"]
    final, end = store.list("artifacts", order_by="display_name", page_size=2, page_token=last)
    assert ids(final) == ["a0"] and end is None
    assert store.count("artifacts") == 5
    assert store.count("artifacts", 'display_name = "n1" OR display_name = "n2"') == 2
    everything, none = store.list("artifacts", filter='display_name != "n0"')
    assert len(everything) == 4 and none is None


def test_list_and_count_reject_bad_input(store: MetadataStore) -> None:
    with pytest.raises(vt.InvalidArgumentError, match="page_size must be an integer from 1 to"):
        store.list("artifacts", page_size=0)
    with pytest.raises(vt.InvalidArgumentError, match="page_token 'junk' is not a token"):
        store.list("artifacts", page_token="junk")
    with pytest.raises(vt.InvalidArgumentError, match="order_by cannot sort artifacts by 'bogus'"):
        store.list("artifacts", order_by="bogus")
    with pytest.raises(vt.FilterError):
        store.count("artifacts", "display_name = ")


# -- update / delete / purge ---------------------------------------------------------------
def test_update_merges_metadata_and_checks_the_etag(store: MetadataStore) -> None:
    first = store.create(execution("e", metadata={"a": 1, "b": 2}))
    updated = store.update(first, {"metadata": {"b": 3}, "state": vt.ExecutionState.COMPLETE})
    assert updated.etag == "2" and updated.metadata == {"a": 1, "b": 3}
    stored = store.get("executions", "e")
    assert stored.state == "COMPLETE" and stored.metadata == {"a": 1, "b": 3}
    with pytest.raises(vt.ConflictError, match="etag 1 is stale, the stored one is 2"):
        store.update(first, {"description": "late"})
    assert store.get("executions", "e").description == ""
    store.delete("executions", ["e"])
    with pytest.raises(vt.NotFoundError, match="does not exist"):
        store.update(updated, {"description": "gone"})


def test_delete_removes_events_and_is_all_or_nothing(store: MetadataStore) -> None:
    store.create(artifact("a"))
    store.create(artifact("b"))
    ex = store.create(execution("e"))
    store.add_events(ex, ["a"], vt.EventType.INPUT)
    with pytest.raises(vt.NotFoundError, match="does not exist"):
        store.delete("artifacts", ["a", "missing"], missing_ok=False)
    assert store.count("artifacts") == 2
    assert store.delete("artifacts", ["a", "missing"]) == 1
    assert store.get_events(execution=ex) == []
    assert ids(store.list("artifacts")[0]) == ["b"]


def test_purge_reports_without_force_and_deletes_with_it(store: MetadataStore) -> None:
    for i in range(3):
        store.create(artifact(f"p{i}", display_name="old" if i < 2 else "new"))
    report = store.purge("artifacts", 'display_name = "old"')
    assert (report.purge_count, report.forced) == (2, False)
    assert report.purge_sample == [f"{PREFIX}/artifacts/p0", f"{PREFIX}/artifacts/p1"]
    assert store.count("artifacts") == 3
    done = store.purge("artifacts", 'display_name = "old"', force=True)
    assert (done.purge_count, done.forced) == (2, True)
    assert ids(store.list("artifacts")[0]) == ["p2"]


# -- put_execution ---------------------------------------------------------------------------
def test_put_execution_inserts_then_overwrites(store: MetadataStore) -> None:
    stored, arts = store.put_execution(execution("e", metadata={"x": 1}))
    assert stored.etag == "1" and arts == []
    again, _ = store.put_execution(execution("e", state="COMPLETE", metadata={"y": 2}))
    assert again.etag == "2"
    got = store.get("executions", "e")
    assert got.state == "COMPLETE" and got.metadata == {"y": 2}  # overwritten, not merged


def test_put_execution_reuses_artifacts_by_resource_id_and_links_contexts(
    store: MetadataStore,
) -> None:
    store.create(artifact("data", uri="file:///first", metadata={"v": 1}))
    run = store.create(context("run"))
    links = [
        ArtifactLink(artifact("data", uri="file:///second", metadata={"v": 2}),
                     vt.EventType.INPUT, "x"),
        ArtifactLink(artifact("model"), vt.EventType.OUTPUT, "out"),
    ]
    stored, arts = store.put_execution(execution("train"), links, [run])
    assert ids(arts) == ["data", "model"]
    assert store.get("artifacts", "data").uri == "file:///first"  # the stored one is kept
    events = store.get_events(execution=stored)
    assert [(e.type, e.label, e.artifact.rsplit("/", 1)[1]) for e in events] == [
        ("INPUT", "x", "data"), ("OUTPUT", "out", "model"),
    ]
    in_run = f'in_context("{run.name}")'
    assert sorted(ids(store.list("artifacts", filter=in_run)[0])) == ["data", "model"]
    assert ids(store.list("executions", filter=in_run)[0]) == ["train"]


def test_put_execution_with_a_missing_context_writes_nothing(store: MetadataStore) -> None:
    link = ArtifactLink(artifact("out"), vt.EventType.OUTPUT)
    with pytest.raises(vt.NotFoundError, match=r"context '.*/contexts/ghost' does not exist"):
        store.put_execution(execution("e"), [link], [context("ghost")])
    assert store.count("executions") == 0 and store.count("artifacts") == 0


def test_put_execution_skips_missing_only_existing_artifacts(store: MetadataStore) -> None:
    link = ArtifactLink(f"{PREFIX}/artifacts/gone", vt.EventType.INPUT, only_existing=True)
    stored, arts = store.put_execution(execution("e"), [link])
    assert arts == [] and store.get_events(execution=stored) == []
    with pytest.raises(vt.NotFoundError, match="gone"):
        store.put_execution(execution("e2"), [ArtifactLink("gone", vt.EventType.INPUT)])


# -- put_tracked --------------------------------------------------------------------------
def _ex_row(rid: str, state: str, meta: str = "{}", t: int = NOW) -> tuple[Any, ...]:
    return (rid, "step", "system.ContainerExecution", state, meta, t, t)


def _art_row(rid: str, t: int = NOW) -> tuple[Any, ...]:
    return (rid, rid, "system.Artifact", '{"n":1}', "", f"digest-{rid}", t)


def test_put_tracked_applies_records_in_order(store: MetadataStore) -> None:
    store.create(context("run"))
    store.put_tracked([
        TrackedRecord(_ex_row("t", "RUNNING"), [("INPUT", "x", _art_row("in"))], ("run",), True),
        TrackedRecord(_ex_row("t", "COMPLETE", '{"ok":true}', NOW + 1),
                      [("OUTPUT", "y", _art_row("out"))], ("run",), False),
    ])
    got = store.get("executions", "t")
    assert got.state == "COMPLETE" and got.metadata == {"ok": True} and got.etag == "2"
    assert [(e.type, e.label) for e in store.get_events(execution=got)] == [
        ("INPUT", "x"), ("OUTPUT", "y"),
    ]
    run = f'in_context("{PREFIX}/contexts/run")'
    assert sorted(ids(store.list("artifacts", filter=run)[0])) == ["in", "out"]


def test_put_tracked_replay_is_idempotent_and_keeps_final_states(store: MetadataStore) -> None:
    batch = [
        TrackedRecord(_ex_row("t", "RUNNING"), [("INPUT", "x", _art_row("in"))], (), True),
        TrackedRecord(_ex_row("t", "COMPLETE", "{}", NOW + 1), [], (), False),
    ]
    store.put_tracked(batch)
    store.put_tracked(batch, replay=True)
    store.put_tracked(batch[:1], replay=True)  # a late RUNNING record of the spool
    got = store.get("executions", "t")
    assert got.state == "COMPLETE"
    assert len(store.get_events(execution=got)) == 1
    assert store.count("artifacts") == 1


def test_put_tracked_with_a_missing_context_writes_nothing(store: MetadataStore) -> None:
    good = TrackedRecord(_ex_row("good", "COMPLETE"), [], (), True)
    bad = TrackedRecord(_ex_row("bad", "COMPLETE"), [], ("ghost",), True)
    with pytest.raises(vt.NotFoundError, match=r"context '.*/contexts/ghost' does not exist"):
        store.put_tracked([good, bad])
    assert store.count("executions") == 0


# -- links ------------------------------------------------------------------------------------
def test_events_are_added_and_read_in_recording_order(store: MetadataStore) -> None:
    a, b = store.create(artifact("a")), store.create(artifact("b"))
    ex = store.create(execution("e"))
    store.add_events(ex, [a, "b"], vt.EventType.INPUT)
    store.add_events(ex, [f"{PREFIX}/artifacts/a"], vt.EventType.OUTPUT)
    events = store.get_events(execution=ex)
    assert [(e.artifact.rsplit("/", 1)[1], e.type) for e in events] == [
        ("a", "INPUT"), ("b", "INPUT"), ("a", "OUTPUT"),
    ]
    assert [e.type for e in store.get_events(artifact=b)] == ["INPUT"]
    with pytest.raises(vt.NotFoundError, match=r"artifact '.*/artifacts/ghost' does not exist"):
        store.add_events(ex, ["a", "ghost"], vt.EventType.INPUT)
    assert len(store.get_events(execution=ex)) == 3  # nothing of the failed call


def test_add_to_context_is_idempotent_and_refuses_missing_resources(store: MetadataStore) -> None:
    run = store.create(context("run"))
    store.create(artifact("a"))
    store.create(execution("e"))
    for _ in range(2):
        store.add_to_context(run, artifacts=["a"], executions=[f"{PREFIX}/executions/e"])
    found = store.get_contexts("artifacts", ["a", "unknown"])
    assert {k: ids(v) for k, v in found.items()} == {"a": ["run"], "unknown": []}
    assert ids(store.get_contexts("executions", ["e"])["e"]) == ["run"]
    with pytest.raises(vt.NotFoundError, match="ghost"):
        store.add_to_context(run, artifacts=["ghost"], executions=[])
    with pytest.raises(vt.NotFoundError, match="nowhere"):
        store.add_to_context(context("nowhere"), artifacts=["a"], executions=[])


def test_get_contexts_filters_by_schema_and_orders_oldest_first(store: MetadataStore) -> None:
    store.create(artifact("a"))
    for rid in ("c1", "c2"):
        store.add_to_context(store.create(context(rid)), artifacts=["a"], executions=[])
    other = store.create(vt.Context(name=f"{PREFIX}/contexts/p", schema_title="system.PipelineRun"))
    store.add_to_context(other, artifacts=["a"], executions=[])
    assert ids(store.get_contexts("artifacts", ["a"])["a"]) == ["c1", "c2", "p"]
    only = store.get_contexts("artifacts", ["a"], schema_title="system.PipelineRun")
    assert ids(only["a"]) == ["p"]
    with pytest.raises(vt.InvalidArgumentError, match="get_contexts takes artifacts or executions"):
        store.get_contexts("contexts", ["p"])


def test_context_children_refuse_cycles_and_an_eleventh_parent(store: MetadataStore) -> None:
    top, mid = store.create(context("top")), store.create(context("mid"))
    store.add_context_children(top, [mid])
    store.add_context_children(top, ["mid"])  # kept, not duplicated
    assert store.get("contexts", "mid").parent_contexts == [top.name]
    with pytest.raises(vt.InvalidArgumentError, match="would create a cycle"):
        store.add_context_children(mid, [top])
    child = store.create(context("child"))
    for i in range(10):
        store.add_context_children(store.create(context(f"p{i}")), [child])
    with pytest.raises(vt.InvalidArgumentError, match="already has 10 parent contexts"):
        store.add_context_children(top, [child])
    with pytest.raises(vt.NotFoundError):
        store.add_context_children(top, ["ghost"])


# -- lineage ----------------------------------------------------------------------------------
def _chain(store: MetadataStore) -> None:
    """a0 -> e1 -> a1 -> e2 -> a2, and e1 also in context ``run``."""
    run = store.create(context("run"))
    store.put_execution(execution("e1"), [
        ArtifactLink(artifact("a0"), vt.EventType.INPUT),
        ArtifactLink(artifact("a1"), vt.EventType.OUTPUT),
    ], [run])
    store.put_execution(execution("e2"), [
        ArtifactLink("a1", vt.EventType.INPUT),
        ArtifactLink(artifact("a2", display_name="last"), vt.EventType.OUTPUT),
    ])


def _nodes(found: tuple[list[Any], list[Any], list[Any]]) -> tuple[set[str], set[str], int]:
    arts, exes, events = found
    return set(ids(arts)), set(ids(exes)), len(events)


def test_lineage_walks_by_direction_and_depth(store: MetadataStore) -> None:
    _chain(store)
    assert _nodes(store.lineage("artifacts", ["a2"])) == ({"a0", "a1", "a2"}, {"e1", "e2"}, 4)
    assert _nodes(store.lineage("artifacts", ["a2"], max_depth=1)) == ({"a2"}, {"e2"}, 1)
    assert _nodes(store.lineage("artifacts", ["a2"], direction="downstream")) == ({"a2"}, set(), 0)
    assert _nodes(store.lineage("artifacts", ["a0"], direction="downstream", max_depth=2)) == (
        {"a0", "a1"}, {"e1"}, 2)
    assert _nodes(store.lineage("executions", ["e2"], direction="both", max_depth=1)) == (
        {"a1", "a2"}, {"e2"}, 2)
    assert _nodes(store.lineage("artifacts", ["a1"], max_depth=0)) == ({"a1"}, set(), 0)


def test_lineage_events_come_in_recording_order(store: MetadataStore) -> None:
    _chain(store)
    _, _, events = store.lineage("artifacts", ["a2"])
    assert [(e.execution.rsplit("/", 1)[1], e.artifact.rsplit("/", 1)[1]) for e in events] == [
        ("e1", "a0"), ("e1", "a1"), ("e2", "a1"), ("e2", "a2"),
    ]


def test_lineage_from_a_context_and_with_a_filter(store: MetadataStore) -> None:
    _chain(store)
    assert _nodes(store.lineage("contexts", ["run"], max_depth=0)) == ({"a0", "a1"}, {"e1"}, 2)
    assert _nodes(store.lineage("contexts", ["run"], direction="downstream")) == (
        {"a0", "a1", "a2"}, {"e1", "e2"}, 4)
    # The filter drops artifacts but not the start node, nor the walk through them.
    filtered = store.lineage("artifacts", ["a0"], direction="downstream", filter='display_name = "last"')
    assert _nodes(filtered)[:2] == ({"a0", "a2"}, {"e1", "e2"})


def test_lineage_rejects_bad_input(store: MetadataStore) -> None:
    _chain(store)
    with pytest.raises(vt.NotFoundError, match=r"artifact '.*/artifacts/ghost' does not exist"):
        store.lineage("artifacts", ["a0", "ghost"])
    with pytest.raises(vt.NotFoundError, match=r"context '.*/contexts/ghost' does not exist"):
        store.lineage("contexts", ["ghost"], max_depth=0)
    with pytest.raises(vt.InvalidArgumentError, match="direction must be 'upstream', 'downstream'"):
        store.lineage("artifacts", ["a0"], direction="sideways")  # type: ignore[arg-type]
    with pytest.raises(vt.InvalidArgumentError, match="max_depth must be None or an integer >= 0"):
        store.lineage("artifacts", ["a0"], max_depth=-1)
    with pytest.raises(vt.InvalidArgumentError, match="start_kind must be one of"):
        store.lineage("events", ["a0"])
    with pytest.raises(vt.FilterError):
        store.lineage("artifacts", ["a0"], filter="display_name =")


# -- experiments: time series and metadata merges ---------------------------------------------
def test_time_series_are_appended_and_read_back(store: MetadataStore) -> None:
    store.create(context("run"))
    store.create(context("quiet"))
    assert store.append_time_series("run", [("loss", 1, NOW, 0.5), ("acc", 1, NOW, 0.1)]) == 2
    store.append_time_series("run", [("loss", 0, NOW - 5, 0.9), ("loss", 1, NOW, 0.4)])
    store.append_time_series("run", [("acc", 2, NOW + 9, 0.3), ("acc", 2, NOW + 1, 0.2)])
    found = store.read_time_series(["run", "quiet", "ghost"])
    assert found == {  # by step, then recording order (not wall time)
        "run": {
            "acc": [(1, NOW, 0.1), (2, NOW + 9, 0.3), (2, NOW + 1, 0.2)],
            "loss": [(0, NOW - 5, 0.9), (1, NOW, 0.5), (1, NOW, 0.4)],
        },
        "quiet": {},
    }
    latest = store.read_time_series(["run"], latest=True)
    assert latest == {"run": {"acc": [(2, NOW + 9, 0.3)], "loss": [(1, NOW, 0.4)]}}
    assert store.append_time_series("run", []) == 0


def test_time_series_of_a_missing_run_are_refused(store: MetadataStore) -> None:
    with pytest.raises(vt.NotFoundError, match=r"context '.*/contexts/ghost' does not exist"):
        store.append_time_series("ghost", [("loss", 0, NOW, 1.0)])


def test_merge_metadata_merges_key_by_key(store: MetadataStore) -> None:
    store.create(context("run", metadata={"_params": {"lr": 0.1}, "_state": "RUNNING", "x": 1}))
    etag, when = store.merge_metadata("contexts", "run", {"_params": {"bs": 32}, "_state": "DONE"})
    assert etag == "2" and when.tzinfo is not None
    got = store.get("contexts", "run")
    assert got.metadata == {"_params": {"lr": 0.1, "bs": 32}, "_state": "DONE", "x": 1}
    assert got.etag == "2"
    store.merge_metadata("contexts", "run", {"x": {"now": "a dict"}, "_params": {"lr": 0.2}})
    assert store.get("contexts", "run").metadata == {
        "_params": {"lr": 0.2, "bs": 32}, "_state": "DONE", "x": {"now": "a dict"},
    }


def test_merge_metadata_rejects_bad_input(store: MetadataStore) -> None:
    store.create(artifact("a"))
    store.create(context("run"))
    with pytest.raises(vt.NotFoundError, match=r"context '.*/contexts/ghost' does not exist"):
        store.merge_metadata("contexts", "ghost", {"k": 1})
    with pytest.raises(vt.InvalidArgumentError, match="merge_metadata takes contexts or executions"):
        store.merge_metadata("artifacts", "a", {"k": 1})
    with pytest.raises(vt.InvalidArgumentError, match="patch\\['k'\\] is None"):
        store.merge_metadata("contexts", "run", {"k": None})
    with pytest.raises(vt.InvalidArgumentError, match="holds a dict or None"):
        store.merge_metadata("contexts", "run", {"k": {"deep": {"er": 1}}})
    with pytest.raises(vt.InvalidArgumentError, match="patch must be a non-empty dict"):
        store.merge_metadata("contexts", "run", {})
    assert store.get("contexts", "run").etag == "1"


def test_concurrent_merges_lose_no_keys(store: MetadataStore) -> None:
    store.create(execution("e", metadata={"_metrics": {}}))
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(10):
                store.merge_metadata("executions", "e", {"_metrics": {f"w{n}_{i}": float(i)}})
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    got = store.get("executions", "e")
    assert len(got.metadata["_metrics"]) == 40 and got.etag == "41"
