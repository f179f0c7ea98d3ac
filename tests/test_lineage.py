"""Lineage on both backends: chains, diamonds, cycles across contexts, hops, filters, exports."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

import vertex_track as vt
from vertex_track.exceptions import FilterError, InvalidArgumentError, NotFoundError
from vertex_track.lineage import (
    LineageSubgraph,
    lineage,
    query_context_lineage_subgraph,
    query_execution_inputs_and_outputs,
)
from vertex_track.store.base import ArtifactLink, MetadataStore

pytestmark = pytest.mark.xdist_group("lineage")


def art(store: MetadataStore, rid: str, schema_title: str = "system.Dataset",
        display_name: str | None = None) -> vt.Artifact:
    return vt.Artifact.create(schema_title, resource_id=rid, display_name=display_name,
                              store=store)


def run(store: MetadataStore, rid: str, inputs: Sequence[vt.Artifact],
        outputs: Sequence[vt.Artifact], context: vt.Context | None = None) -> vt.Execution:
    """An execution with INPUT/OUTPUT events labelled like tracked task runs."""
    execution = vt.Execution.create(resource_id=rid, state="COMPLETE", display_name=rid,
                                    store=store)
    links = [ArtifactLink(a, vt.EventType.INPUT, f"in{i}") for i, a in enumerate(inputs)]
    links += [ArtifactLink(a, vt.EventType.OUTPUT, f"out{i}") for i, a in enumerate(outputs)]
    store.put_execution(execution, links, [context] if context is not None else [])
    return execution


def nodes(g: LineageSubgraph) -> tuple[set[str], set[str]]:
    return {a.resource_id for a in g.artifacts}, {e.resource_id for e in g.executions}


def edges(g: LineageSubgraph) -> set[tuple[str, str, str]]:
    return {(e.artifact.rsplit("/", 1)[1], e.execution.rsplit("/", 1)[1], str(e.type))
            for e in g.events}


@pytest.fixture
def chain(store: MetadataStore) -> list[vt.Artifact]:
    """a0 -> e0 -> a1 -> e1 -> a2 -> e2 -> a3."""
    arts = [art(store, f"a{i}") for i in range(4)]
    for i in range(3):
        run(store, f"e{i}", [arts[i]], [arts[i + 1]])
    return arts


UP_FROM_A3 = {
    0: ({"a3"}, set()),
    1: ({"a3"}, {"e2"}),
    2: ({"a3", "a2"}, {"e2"}),
    3: ({"a3", "a2"}, {"e2", "e1"}),
    6: ({"a3", "a2", "a1", "a0"}, {"e2", "e1", "e0"}),
    None: ({"a3", "a2", "a1", "a0"}, {"e2", "e1", "e0"}),
}


@pytest.mark.parametrize("max_hops", list(UP_FROM_A3))
def test_chain_upstream_hops(store: MetadataStore, chain: list[vt.Artifact],
                             max_hops: int | None) -> None:
    g = lineage(chain[3], "upstream", max_hops, store=store)
    assert nodes(g) == UP_FROM_A3[max_hops]
    arts, exes = UP_FROM_A3[max_hops]
    # events are exactly those between returned nodes
    expected = {(a, e, t) for a, e, t in {("a0", "e0", "INPUT"), ("a1", "e0", "OUTPUT"),
                                          ("a1", "e1", "INPUT"), ("a2", "e1", "OUTPUT"),
                                          ("a2", "e2", "INPUT"), ("a3", "e2", "OUTPUT")}
                if a in arts and e in exes}
    assert edges(g) == expected


def test_chain_downstream_and_both(store: MetadataStore, chain: list[vt.Artifact]) -> None:
    assert nodes(lineage(chain[0], "downstream", 2, store=store)) == ({"a0", "a1"}, {"e0"})
    assert nodes(lineage(chain[0], "downstream", store=store)) == (
        {"a0", "a1", "a2", "a3"}, {"e0", "e1", "e2"})
    assert nodes(lineage(chain[0], "upstream", store=store)) == ({"a0"}, set())
    assert nodes(lineage(chain[3], "downstream", 5, store=store)) == ({"a3"}, set())
    g = lineage(chain[1], "both", 2, store=store)
    assert nodes(g) == ({"a0", "a1", "a2"}, {"e0", "e1"})
    assert len(g.events) == 4
    assert nodes(lineage(chain[1], "both", 0, store=store)) == ({"a1"}, set())


def test_start_from_an_execution_and_by_name(store: MetadataStore, chain: list[vt.Artifact]
                                            ) -> None:
    e1 = vt.Execution.get("e1", store=store)
    assert nodes(lineage(e1, "upstream", 1, store=store)) == ({"a1"}, {"e1"})
    assert nodes(lineage(e1, "downstream", 1, store=store)) == ({"a2"}, {"e1"})
    assert nodes(lineage(e1.name, "upstream", 2, store=store)) == ({"a1"}, {"e1", "e0"})
    assert nodes(lineage(e1, "both", 0, store=store)) == (set(), {"e1"})
    assert nodes(lineage(chain[2].name, "upstream", 1, store=store)) == ({"a2"}, {"e1"})


def test_default_store_is_the_configured_one(store: MetadataStore,
                                             chain: list[vt.Artifact]) -> None:
    assert nodes(lineage(chain[3], max_hops=2)) == ({"a3", "a2"}, {"e2"})
    assert nodes(vt.lineage(chain[3], max_hops=2)) == ({"a3", "a2"}, {"e2"})


def test_diamond(store: MetadataStore) -> None:
    src, left, right = art(store, "src"), art(store, "left"), art(store, "right")
    l2, r2 = art(store, "l2"), art(store, "r2")
    out = art(store, "out", "system.Model", "the model")
    run(store, "split", [src], [left, right])
    run(store, "el", [left], [l2])
    run(store, "er", [right], [r2])
    run(store, "join", [l2, r2], [out])
    every = ({"src", "left", "right", "l2", "r2", "out"}, {"split", "el", "er", "join"})
    up = lineage(out, "upstream", store=store)
    assert nodes(up) == every
    assert len(up.events) == 10  # every edge once
    assert nodes(lineage(src, "downstream", store=store)) == every
    # "both" is the union of the two walks, not an undirected walk: no sibling "right".
    assert nodes(lineage(left, "both", store=store)) == (
        {"src", "left", "l2", "out"}, {"split", "el", "join"})
    assert nodes(lineage(out, "upstream", 3, store=store)) == (
        {"out", "l2", "r2"}, {"join", "el", "er"})
    assert nodes(lineage(out, "upstream", 4, store=store)) == (
        {"out", "l2", "r2", "left", "right"}, {"join", "el", "er"})


def test_cycle_across_contexts_terminates(store: MetadataStore) -> None:
    """x -> e1 -> y in run 1, y -> e2 -> x in run 2 (content addressing makes such loops)."""
    run1 = vt.Context.create("system.PipelineRun", resource_id="run1", store=store)
    run2 = vt.Context.create("system.PipelineRun", resource_id="run2", store=store)
    x, y = art(store, "x"), art(store, "y")
    run(store, "e1", [x], [y], run1)
    run(store, "e2", [y], [x], run2)
    loop = run(store, "e3", [x], [x], run2)  # a self-loop too
    for direction in ("upstream", "downstream", "both"):
        g = lineage(x, direction, store=store)  # type: ignore[arg-type]
        assert nodes(g) == ({"x", "y"}, {"e1", "e2", "e3"}), direction
        assert len(g.events) == 6
    assert nodes(lineage(x, "upstream", 1, store=store)) == ({"x"}, {"e2", "e3"})
    assert nodes(lineage(x, "upstream", 2, store=store)) == ({"x", "y"}, {"e2", "e3"})
    assert nodes(lineage(x, "upstream", 50, store=store)) == ({"x", "y"}, {"e1", "e2", "e3"})
    assert nodes(query_execution_inputs_and_outputs(loop, store=store)) == ({"x"}, {"e3"})
    g1 = query_context_lineage_subgraph(run1, store=store)
    assert nodes(g1) == ({"x", "y"}, {"e1"})
    assert edges(g1) == {("x", "e1", "INPUT"), ("y", "e1", "OUTPUT")}
    g2 = query_context_lineage_subgraph(run2.name, store=store)
    assert nodes(g2) == ({"x", "y"}, {"e2", "e3"})
    assert len(g2.events) == 4


def test_filter_restricts_artifacts_but_keeps_the_start(store: MetadataStore) -> None:
    raw = art(store, "raw")
    model = art(store, "model", "system.Model")
    metrics = art(store, "metrics", "system.Metrics")
    final = art(store, "final")
    run(store, "train", [raw], [model, metrics])
    run(store, "deploy", [model], [final])
    g = lineage(final, "upstream", filter='schema_title = "system.Model"', store=store)
    assert nodes(g) == ({"final", "model"}, {"deploy", "train"})
    assert edges(g) == {("final", "deploy", "OUTPUT"), ("model", "deploy", "INPUT"),
                        ("model", "train", "OUTPUT")}
    g = lineage(raw, "downstream", filter='schema_title != "system.Dataset"', store=store)
    assert nodes(g) == ({"raw", "model", "metrics"}, {"train", "deploy"})
    g = lineage(final, "both", filter="events.type = INPUT", store=store)
    assert nodes(g)[0] == {"final", "raw", "model"}
    assert nodes(lineage(final, "upstream", filter="", store=store))[0] == {
        "final", "model", "raw"}
    with pytest.raises(FilterError):
        lineage(final, "upstream", filter="colour = red", store=store)


def test_execution_inputs_and_outputs(store: MetadataStore) -> None:
    a, b, c = art(store, "a"), art(store, "b"), art(store, "c")
    first = run(store, "first", [a, b], [c])
    run(store, "second", [c], [art(store, "d")])
    g = query_execution_inputs_and_outputs(first, store=store)
    assert nodes(g) == ({"a", "b", "c"}, {"first"})
    assert edges(g) == {("a", "first", "INPUT"), ("b", "first", "INPUT"),
                        ("c", "first", "OUTPUT")}
    assert nodes(query_execution_inputs_and_outputs(first.name, store=store)) == nodes(g)


def test_context_subgraph_is_direct_only(store: MetadataStore) -> None:
    parent = vt.Context.create("system.Experiment", resource_id="parent", store=store)
    child = vt.Context.create("system.PipelineRun", resource_id="child", store=store,
                              parent_contexts=[parent])
    a, b = art(store, "a"), art(store, "b")
    run(store, "e", [a], [b], child)
    assert nodes(query_context_lineage_subgraph(parent, store=store)) == (set(), set())
    assert nodes(query_context_lineage_subgraph("child", store=store)) == ({"a", "b"}, {"e"})
    with pytest.raises(NotFoundError):
        query_context_lineage_subgraph("missing", store=store)


def test_errors(store: MetadataStore, chain: list[vt.Artifact]) -> None:
    prefix = store.prefix
    with pytest.raises(NotFoundError):
        lineage(f"{prefix}/artifacts/missing", store=store)
    with pytest.raises(NotFoundError):
        query_execution_inputs_and_outputs(f"{prefix}/executions/missing", store=store)
    with pytest.raises(InvalidArgumentError, match="direction"):
        lineage(chain[0], "sideways", store=store)  # type: ignore[arg-type]
    for bad in (-1, True, "2", 1.5):
        with pytest.raises(InvalidArgumentError, match="max_hops"):
            lineage(chain[0], max_hops=bad, store=store)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="query_context_lineage_subgraph"):
        lineage(vt.Context.create(store=store), store=store)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="full name"):
        lineage("a0", store=store)
    with pytest.raises(InvalidArgumentError, match="full name"):
        lineage(f"{prefix}/contexts/a0", store=store)


def test_exports(store: MetadataStore) -> None:
    raw = art(store, "raw", display_name='raw "data" <v1>')
    model = art(store, "model", "system.Model")
    run(store, "train", [raw], [model])
    g = lineage(model, "upstream", store=store)
    assert [a.resource_id for a in g.artifacts] == ["raw", "model"]  # creation order

    data = json.loads(g.to_json())
    assert data == g.to_dict()
    assert [a["resource_id"] for a in data["artifacts"]] == ["raw", "model"]
    assert data["executions"][0]["state"] == "COMPLETE"
    assert {(e["type"], e["labels"]["name"]) for e in data["events"]} == {
        ("INPUT", "in0"), ("OUTPUT", "out0")}

    mermaid = g.to_mermaid()
    assert mermaid.startswith("flowchart LR\n")
    assert '    a0[("raw #quot;data#quot; #lt;v1#gt;<br/>system.Dataset<br/>LIVE")]' in mermaid
    assert '    a1[("model<br/>system.Model<br/>LIVE")]' in mermaid
    assert '    e0["train<br/>system.ContainerExecution<br/>COMPLETE"]' in mermaid
    assert "    a0 -->|in0| e0" in mermaid and "    e0 -->|out0| a1" in mermaid

    dot = g.to_dot()
    assert dot.startswith("digraph lineage {")
    assert 'a0 [shape=ellipse, label="raw \\"data\\" <v1>\\nsystem.Dataset\\nLIVE"' in dot
    assert f'tooltip="{model.name}"' in dot
    assert 'e0 [shape=box, label="train\\nsystem.ContainerExecution\\nCOMPLETE"' in dot
    assert 'a0 -> e0 [label="in0"];' in dot and 'e0 -> a1 [label="out0"];' in dot
    assert dot.rstrip().endswith("}")

    again = lineage(model, "upstream", store=store)
    assert (again.to_mermaid(), again.to_dot(), again.to_json()) == (
        mermaid, dot, g.to_json())
    assert repr(g) == "LineageSubgraph(artifacts=2, executions=1, events=2)"


def test_long_chain_in_one_statement(store: MetadataStore) -> None:
    """A 60-execution chain end to end, with one SQL statement (no per-hop queries)."""
    from sqlalchemy import event

    arts = [art(store, f"c{i}") for i in range(61)]
    for i in range(60):
        run(store, f"s{i}", [arts[i]], [arts[i + 1]])
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith(("WITH", "SELECT")):
            statements.append(statement)

    engine = store.engine  # type: ignore[attr-defined]
    event.listen(engine, "before_cursor_execute", count)
    try:
        g = lineage(arts[-1], "upstream", store=store)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(g.artifacts) == 61 and len(g.executions) == 60 and len(g.events) == 120
    assert len(statements) == 1
    assert nodes(lineage(arts[-1], "upstream", 20, store=store)) == (
        {f"c{i}" for i in range(50, 61)}, {f"s{i}" for i in range(50, 60)})
