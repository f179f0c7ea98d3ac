"""How tracking records reach the store: the writer's queue and the batch write.

On both backends (the ``store`` fixture): tracked calls read back through the
public API; ``put_tracked`` when rows already exist (another process recorded
the execution, content seen before); a RUNNING record merged into its end
record while still queued.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import pytest

import vertex_track as vt
from vertex_track.store.base import MetadataStore, TrackedRecord
from vertex_track.tracking import flush, writer
from vertex_track.tracking.writer import Record, Writer


def labelled(execution: vt.Execution, kind: str) -> dict[str, vt.Artifact]:
    arts = {a.name: a for a in vt.Artifact.list()}
    return {e.label: arts[e.artifact] for e in execution.get_events() if e.type == kind}


def test_tracked_calls_are_written_with_their_links(store: MetadataStore) -> None:
    @vt.track
    def combine(a: dict, b: list, scale: float) -> dict:
        return {"total": a["x"] * scale + sum(b)}

    results = [combine({"x": i}, [i, 1], 0.5) for i in range(300)]  # more than one batch
    flush()
    executions = vt.Execution.list(filter='display_name = "combine"', order_by="create_time")
    assert len(executions) == 300
    last = executions[-1]
    assert last.state == "COMPLETE" and last.metadata["scale"] == 0.5
    assert last.metadata["vertex_track"]["attempt"] == 1
    ins, outs = labelled(last, "INPUT"), labelled(last, "OUTPUT")
    assert sorted(ins) == ["a", "b"] and sorted(outs) == ["total"]
    assert ins["a"].load() == {"x": 299} and ins["b"].load() == [299, 1]
    assert outs["total"].load() == results[-1]["total"]
    assert outs["total"].display_name == "combine.total"
    # A short call's RUNNING and end states were one row: no update was needed.
    assert last.etag == "1"


def test_non_finite_parameters_are_recorded_by_name_not_as_null(store: MetadataStore) -> None:
    @vt.track
    def fit(lr: float, decay: float) -> None:
        return None

    fit(math.inf, math.nan)
    flush()
    (execution,) = vt.Execution.list()
    assert (execution.metadata["lr"], execution.metadata["decay"]) == ("Infinity", "NaN")


def _execution(rid: str, state: str, meta: str, now: int) -> tuple[Any, ...]:
    return (rid, "step", "system.ContainerExecution", state, meta, now, now)


def _artifact(rid: str, value: int, now: int) -> tuple[Any, ...]:
    meta = f'{{"value":{value},"vertex_track":{{"digest":"d{value}","inline":true}}}}'
    return (rid, f"v{value}", "system.Artifact", meta, "", f"d{value}", now)


def test_put_tracked_updates_an_execution_another_process_recorded(
    store: MetadataStore,
) -> None:
    now = 1_700_000_000_000_000
    running = _execution("run-shared", "RUNNING", '{"attempt":1}', now)
    first = _artifact("inline-one", 1, now)
    store.put_tracked([TrackedRecord(running, [("INPUT", "x", first)], (), True)])
    # The same execution and artifact again, both "fresh" as far as this writer
    # knows (another process wrote them): the rows are reused, not duplicated.
    done = _execution("run-shared", "COMPLETE", '{"attempt":1,"done":true}', now + 5)
    second = _artifact("inline-two", 2, now)
    store.put_tracked([TrackedRecord(
        done, [("INPUT", "x", first), ("OUTPUT", "y", second)], (), True
    )])
    execution = vt.Execution.get("run-shared")
    assert execution.state == "COMPLETE" and execution.metadata == {"attempt": 1, "done": True}
    assert execution.etag == "2"
    assert [a.resource_id for a in vt.Artifact.list(order_by="display_name")] == [
        "inline-one", "inline-two",
    ]
    events = sorted((e.type, e.label, e.artifact.rsplit("/", 1)[-1]) for e in execution.get_events())
    assert events == [
        ("INPUT", "x", "inline-one"), ("INPUT", "x", "inline-one"), ("OUTPUT", "y", "inline-two"),
    ]


def test_put_tracked_links_earlier_artifacts_and_skips_purged_ones(store: MetadataStore) -> None:
    now = 1_700_000_000_000_000
    kept = _artifact("inline-kept", 1, now)
    store.put_tracked([TrackedRecord(_execution("run-a", "COMPLETE", "{}", now),
                                     [("OUTPUT", "out", kept)], (), True)])
    store.put_tracked([TrackedRecord(
        _execution("run-b", "COMPLETE", "{}", now),
        [("INPUT", "x", "inline-kept"), ("INPUT", "y", "inline-purged")], (), True,
    )])
    (event,) = vt.Execution.get("run-b").get_events()
    assert (event.type, event.label, event.artifact) == (
        "INPUT", "x", store.resource_name("artifacts", "inline-kept"),
    )


def test_put_tracked_refuses_a_missing_context_and_writes_nothing(store: MetadataStore) -> None:
    now = 1_700_000_000_000_000
    good = TrackedRecord(_execution("run-good", "COMPLETE", "{}", now), [], (), True)
    bad = TrackedRecord(_execution("run-bad", "COMPLETE", "{}", now), [], ("no-such-run",), True)
    with pytest.raises(vt.NotFoundError, match="context '.*/contexts/no-such-run' does not exist"):
        store.put_tracked([good, bad])
    assert vt.Execution.list() == []


def test_writer_merges_the_end_into_a_queued_running_record(
    store: MetadataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "LINGER_S", 30.0)  # nothing is taken before flush()
    w = Writer()
    now = 1_700_000_000_000_000
    queued = Record(store, _execution("run-m", "RUNNING", "{}", now), (), (), fresh=True)
    w.submit(queued)
    out = _artifact("inline-out", 3, now)
    assert w.merge(queued, _execution("run-m", "COMPLETE", '{"ok":true}', now + 1),
                   (("OUTPUT", "output", out),))
    w.flush(timeout=60)
    assert queued.taken
    execution = vt.Execution.get("run-m")
    assert (execution.state, execution.etag, execution.metadata) == ("COMPLETE", "1", {"ok": True})
    assert [a.resource_id for a in execution.get_output_artifacts()] == ["inline-out"]
    # Once written, a later state cannot be merged: it needs a record of its own.
    assert not w.merge(queued, _execution("run-m", "FAILED", "{}", now + 2), ())
    w.submit(Record(store, _execution("run-m", "FAILED", "{}", now + 2), (), ()))
    w.flush(timeout=60)
    execution = vt.Execution.get("run-m")
    assert (execution.state, execution.etag) == ("FAILED", "2")


def test_flush_does_not_wait_for_the_linger(
    store: MetadataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "LINGER_S", 30.0)
    w = Writer()
    now = 1_700_000_000_000_000
    w.submit(Record(store, _execution("run-f", "COMPLETE", "{}", now), (), (), fresh=True))
    done = threading.Event()
    flusher = threading.Thread(target=lambda: (w.flush(timeout=20), done.set()))
    flusher.start()
    assert done.wait(20), "flush waited for the writer's linger"
    flusher.join()
    assert vt.Execution.get("run-f").state == "COMPLETE"


def test_producer_targets_link_every_output_of_that_execution(store: MetadataStore) -> None:
    """``"@<execution>"``: the producer Prefect names, resolved when the consumer is written."""
    now = 1_700_000_000_000_000
    a, b = _artifact("inline-pa", 1, now), _artifact("inline-pb", 2, now)
    # The producer was written earlier (another transaction, maybe another process).
    store.put_tracked([TrackedRecord(
        _execution("taskrun-p", "COMPLETE", "{}", now),
        [("INPUT", "seed", _artifact("inline-seed", 9, now)), ("OUTPUT", "a", a),
         ("OUTPUT", "b", b)],
        (), True,
    )])
    # In one batch: a second producer and its consumer; plus a producer nobody recorded.
    c = _artifact("inline-pc", 3, now)
    store.put_tracked([
        TrackedRecord(_execution("taskrun-q", "COMPLETE", "{}", now), [("OUTPUT", "c", c)], (), True),
        TrackedRecord(
            _execution("taskrun-consumer", "COMPLETE", "{}", now),
            [("INPUT", "x", "@taskrun-p"), ("INPUT", "y", "@taskrun-q"),
             ("INPUT", "x", "@taskrun-p"), ("INPUT", "z", "@taskrun-never-recorded")],
            (), True,
        ),
    ])
    events = sorted(
        (e.label, e.artifact.rsplit("/", 1)[-1])
        for e in vt.Execution.get("taskrun-consumer").get_events()
    )
    # every OUTPUT (never the producer's inputs), once per argument; unknown producers add nothing
    assert events == [("x", "inline-pa"), ("x", "inline-pb"), ("y", "inline-pc")]


def test_execution_metadata_keeps_its_keys_and_their_order(tmp_path: Any) -> None:
    """The metadata text is assembled from parts encoded once per call: the stored
    document has every key, in the order of ``{**params, "vertex_track": {...}}``."""
    from vertex_track import config
    from vertex_track.processes import process_info

    config.init(store_uri=f"sqlite:///{tmp_path / 'm.db'}", artifact_root=str(tmp_path / "a"))

    @vt.track
    def step(data: dict, name: str, vertex_track: int, lr: float) -> list:
        if lr < 0:
            raise ValueError("negative rate")
        return [data["v"], lr]

    step({"v": 1}, "naïve ☃", 7, 0.5)
    with pytest.raises(ValueError):
        step({"v": 2}, "plain", 8, -1.0)
    flush()
    ok, failed = vt.Execution.list(order_by="create_time")
    # A parameter named like our key keeps its place; our entry replaces its value.
    assert list(ok.metadata) == ["name", "vertex_track", "lr"]
    assert (ok.metadata["name"], ok.metadata["lr"]) == ("naïve ☃", 0.5)
    assert list(ok.metadata["vertex_track"]) == [
        "task_name", "start_time", "process", "attempt", "end_time", "duration_s",
    ]
    assert ok.metadata["vertex_track"]["process"] == process_info()
    assert list(failed.metadata["vertex_track"]) == [
        "task_name", "start_time", "process", "attempt", "error_type", "error_message",
        "end_time", "duration_s",
    ]
    assert failed.metadata["vertex_track"]["error_message"] == "negative rate"

    @vt.track
    def plain(data: dict, lr: float) -> list:
        return [data["v"], lr]

    plain({"v": 3}, 0.25)
    flush()
    (last,) = vt.Execution.list(filter='display_name = "plain"')
    assert list(last.metadata) == ["lr", "vertex_track"]
    vt_meta = last.metadata["vertex_track"]
    assert list(vt_meta) == [
        "task_name", "start_time", "process", "attempt", "end_time", "duration_s",
    ]
    assert vt_meta["task_name"] == "plain" and vt_meta["attempt"] == 1
    assert vt_meta["start_time"] <= vt_meta["end_time"] and vt_meta["duration_s"] >= 0
