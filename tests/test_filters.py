"""The filter language: tables of (filter -> expected resource ids) on both backends.

One fixed fixture (artifacts, executions, contexts, events and links) is
created through the public API once per backend and module (creating it per
case would dominate the run time); every case then lists through
``Artifact.list`` / ``Execution.list`` / ``Context.list``. Create and update
times are pinned afterwards with one UPDATE per row so timestamp cases can be
written as literal RFC 3339 strings.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import NO_POSTGRES, POSTGRES_URL, postgres_schema_url
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

import vertex_track as vt
from vertex_track.exceptions import FilterError, InvalidArgumentError
from vertex_track.query import ast
from vertex_track.query.filters import parse_filter, parse_order_by
from vertex_track.store.sql import tables as t
from vertex_track.store.sql.filters import compile_filter
from vertex_track.store.sql.store import SqlStore, dispose_engine

pytestmark = pytest.mark.xdist_group("filters")

P = "projects/local/locations/local/metadataStores/default"
UTC = dt.timezone.utc


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


ARTIFACTS: dict[str, dict[str, Any]] = {
    "a_model": dict(
        schema_title="system.Model", display_name="Model One", uri="gs://bucket/model_1",
        schema_version="0.0.2",
        metadata={"acc": 0.95, "framework": "sklearn", "nested": {"depth": {"x": 3}},
                  "f:1": 1, "flag": True, "n_str": "5", 'q"k': "quoted", "back\\slash": 7,
                  "new\nline": {"é": 8}},
        labels={"team": "ml", "env": "prod"}, time="2020-11-19T15:00:00Z",
    ),
    "a_upper": dict(
        schema_title="system.Model", display_name="MODEL ONE", uri="gs://bucket/MODEL_1",
        metadata={"acc": 1}, labels={"team": "ML"}, time="2020-11-19T15:30:00Z",
    ),
    "a_data": dict(
        schema_title="system.Dataset", display_name="train_data%1", uri="s3://b/train",
        state="PENDING", metadata={"acc": 0.5, "rows": 100, "flag": False, "name": "Alpha"},
        labels={"team": "data"}, time="2020-11-19T16:00:00Z",
    ),
    "a_data2": dict(
        schema_title="system.Dataset", display_name="trainXdataZ1", uri="s3://b/train2",
        metadata={"rows": -3, "name": "alpha"}, time="2020-11-20T00:00:00Z",
    ),
    "a_metrics": dict(
        schema_title="system.Metrics", display_name="metrics",
        metadata={"acc": "0.99", "loss": 0.1, "flag": "true"}, time="2021-01-01T00:00:00Z",
    ),
    "a_empty": dict(schema_title="system.Artifact", time="2021-06-01T12:00:00.500000Z"),
    "a_bool": dict(
        schema_title="system.Artifact", display_name="x[ab]?*y",
        metadata={"acc": True, "nested": {"depth": 3}}, labels={"env": ""},
        time="2022-01-01T00:00:00Z",
    ),
    "a_inject": dict(
        schema_title="system.Artifact", display_name='" OR 1=1 --',
        uri="'; DROP TABLE vt_artifacts; --", metadata={"acc": None},
        time="2022-06-01T00:00:00Z",
    ),
}
EXECUTIONS: dict[str, dict[str, Any]] = {
    "e_train": dict(state="COMPLETE", display_name="train", metadata={"lr": 0.01, "epochs": 10},
                    labels={"team": "ml"}, time="2020-11-19T14:00:00Z",
                    inputs=["a_data"], outputs=["a_model", "a_metrics"]),
    "e_eval": dict(state="RUNNING", display_name="eval", metadata={"lr": "0.01"},
                   time="2020-11-19T17:00:00Z", inputs=["a_model", "a_data2"], outputs=[]),
    "e_failed": dict(schema_title="system.Run", state="FAILED", display_name="failed step",
                     time="2021-01-01T00:00:00Z", inputs=[], outputs=[]),
    "e_cached": dict(state="CACHED", display_name="cached", time="2021-02-01T00:00:00Z",
                     inputs=[], outputs=["a_data2"]),
}
CONTEXTS: dict[str, dict[str, Any]] = {
    "c_exp": dict(schema_title="system.Experiment", display_name="experiment",
                  time="2020-01-01T00:00:00Z"),
    "c_root": dict(schema_title="system.Experiment", display_name="root",
                   time="2020-01-02T00:00:00Z"),
    "c_run": dict(schema_title="system.PipelineRun", display_name="run 1", parents=["c_exp"],
                  metadata={"git": "abc"}, time="2020-11-19T13:00:00Z",
                  artifacts=["a_data", "a_model", "a_metrics"], executions=["e_train", "e_eval"]),
    "c_run2": dict(schema_title="system.PipelineRun", display_name="run 2",
                   parents=["c_exp", "c_root"], time="2021-02-01T00:00:00Z",
                   artifacts=["a_data2"], executions=["e_cached"]),
    "c_grand": dict(schema_title="system.Run", display_name="grandchild", parents=["c_run"],
                    time="2021-03-01T00:00:00Z"),
    "c_lonely": dict(schema_title="system.Run", time="2021-04-01T00:00:00Z"),
}
A, E, C = set(ARTIFACTS), set(EXECUTIONS), set(CONTEXTS)


def _populate(store: SqlStore) -> None:
    for rid, spec in ARTIFACTS.items():
        kw = {k: v for k, v in spec.items() if k != "time"}
        vt.Artifact.create(resource_id=rid, store=store, **kw)
    for rid, spec in EXECUTIONS.items():
        kw = {k: v for k, v in spec.items() if k not in ("time", "inputs", "outputs")}
        execution = vt.Execution.create(resource_id=rid, store=store, **kw)
        if spec["inputs"]:
            store.add_events(execution, [f"{P}/artifacts/{a}" for a in spec["inputs"]],
                             vt.EventType.INPUT)
        if spec["outputs"]:
            store.add_events(execution, [f"{P}/artifacts/{a}" for a in spec["outputs"]],
                             vt.EventType.OUTPUT)
    for rid, spec in CONTEXTS.items():
        context = vt.Context.create(
            spec["schema_title"], resource_id=rid, display_name=spec.get("display_name"),
            metadata=spec.get("metadata"), store=store,
            parent_contexts=[f"{P}/contexts/{p}" for p in spec.get("parents", [])],
        )
        if spec.get("artifacts") or spec.get("executions"):
            store.add_to_context(
                context,
                artifacts=[f"{P}/artifacts/{a}" for a in spec.get("artifacts", [])],
                executions=[f"{P}/executions/{e}" for e in spec.get("executions", [])],
            )
    # Pin the timestamps (the API stamps "now"); the rows are ours, in a test store.
    with store.engine.begin() as conn:
        for table, specs in ((t.artifacts, ARTIFACTS), (t.executions, EXECUTIONS),
                             (t.contexts, CONTEXTS)):
            for rid, spec in specs.items():
                micros = (ts(spec["time"]) - dt.datetime(1970, 1, 1, tzinfo=UTC)) // dt.timedelta(
                    microseconds=1)
                conn.execute(update(table).where(
                    table.c.store_id == store.store_id, table.c.resource_id == rid,
                ).values(create_time=micros, update_time=micros))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fstore(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[SqlStore]:
    """The fixed fixture, on each backend (one Postgres schema per module)."""
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path_factory.mktemp('filters') / 'metadata.db'}"
        store = SqlStore(uri)
        _populate(store)
        yield store
        dispose_engine(uri)
        return
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    import psycopg

    schema = f"vt_test_filters_{uuid.uuid4().hex[:10]}"
    dsn = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    uri = postgres_schema_url(POSTGRES_URL, schema)
    try:
        store = SqlStore(uri)
        _populate(store)
        yield store
    finally:
        dispose_engine(uri)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def ids(resources: list[Any]) -> set[str]:
    return {r.resource_id for r in resources}


def listed(store: SqlStore, kind: str, filter: str, strict: bool = False) -> set[str]:
    cls = {"artifacts": vt.Artifact, "executions": vt.Execution, "contexts": vt.Context}[kind]
    return ids(cls.list(filter, strict=strict, store=store))


# -- (filter -> expected) tables ------------------------------------------------------------

ARTIFACT_CASES: list[tuple[str, set[str]]] = [
    # display_name: equality, case, wildcards, literal _ % ? [ ], has, order
    ('display_name = "Model One"', {"a_model"}),
    ('display_name = "model one"', set()),
    ('display_name = "*One*"', {"a_model"}),
    ('display_name = "*ONE"', {"a_upper"}),
    ('display_name = "M*"', {"a_model", "a_upper"}),
    ('display_name != "*One*"', A - {"a_model"}),
    ('display_name = "train_data%1"', {"a_data"}),
    ('display_name = "train*%1"', {"a_data"}),
    ('display_name = "train_*"', {"a_data"}),
    ('display_name = "train?data*"', set()),
    ('display_name = "x[ab]?*"', {"a_bool"}),
    ('display_name = "x[ab]?\\*y"', {"a_bool"}),
    ('display_name = "xa*"', set()),
    ('display_name = ""', {"a_empty"}),
    ('display_name = "*"', A),
    ("display_name:*", A - {"a_empty"}),
    ('display_name:"odel"', {"a_model"}),
    ('display_name:"ODEL"', {"a_upper"}),
    ('display_name:"*"', {"a_bool"}),
    ('display_name < "a"', {"a_model", "a_upper", "a_inject", "a_empty"}),
    ('display_name >= "train"', {"a_data", "a_data2", "a_bool"}),
    ('display_name > "trainX"', {"a_data", "a_data2", "a_bool"}),
    ('display_name <= "MODEL ONE"', {"a_upper", "a_inject", "a_empty"}),
    ("display_name = metrics", {"a_metrics"}),
    ("display_name = 'Model One'", {"a_model"}),
    ('display_name = "\\" OR 1=1 --"', {"a_inject"}),
    ('display_name = "%"', set()),
    ('display_name = "_"', set()),
    ('display_name = "*%*"', {"a_data"}),
    ('display_name = "*_*"', {"a_data"}),
    ('display_name:"1=1"', {"a_inject"}),
    # schema_title / schema_version / uri
    ('schema_title = "system.Model"', {"a_model", "a_upper"}),
    ('schema_title = "system.*"', A),
    ('schema_title != "system.Artifact"', A - {"a_empty", "a_bool", "a_inject"}),
    ('schema_version = "0.0.2"', {"a_model"}),
    ('schema_version > "0.0.1"', {"a_model"}),
    ('uri = "gs://*"', {"a_model", "a_upper"}),
    ('uri = "*model_1"', {"a_model"}),
    ("uri:*", {"a_model", "a_upper", "a_data", "a_data2", "a_inject"}),
    ('uri = "\'; DROP TABLE vt_artifacts; --"', {"a_inject"}),
    ('uri:"DROP TABLE"', {"a_inject"}),
    # state, quoted or not
    ("state = LIVE", A - {"a_data"}),
    ('state = "PENDING"', {"a_data"}),
    ("state != LIVE", {"a_data"}),
    ("state:PENDING", {"a_data"}),
    # name: the full resource name
    (f'name = "{P}/artifacts/a_model"', {"a_model"}),
    ('name = "projects/other/locations/local/metadataStores/default/artifacts/a_model"', set()),
    ('name = "*/artifacts/a_data*"', {"a_data", "a_data2"}),
    (f'name != "{P}/artifacts/a_model"', A - {"a_model"}),
    (f'name = "{P}/artifacts/a_*"', A),
    (f'name = "{P}/artifacts/a_?*"', set()),
    ('name = "a_model"', set()),
    ('name:"a_d"', {"a_data", "a_data2"}),
    (f'name = "{P}/executions/e_train"', set()),
    (f'name < "{P}/artifacts/a_d"', {"a_bool"}),
    # timestamps: RFC 3339 with offsets, fractions, lower case
    ('create_time < "2020-11-19T11:30:00-04:00"', {"a_model"}),
    ('create_time <= "2020-11-19T11:30:00-04:00"', {"a_model", "a_upper"}),
    ('create_time = "2020-11-19T21:00:00+05:30"', {"a_upper"}),
    ('create_time != "2020-11-19T21:00:00+05:30"', A - {"a_upper"}),
    ('create_time > "2021-06-01T12:00:00.5Z"', {"a_bool", "a_inject"}),
    ('create_time >= "2021-06-01T12:00:00.500000001Z"', {"a_bool", "a_inject"}),
    ('create_time < "2021-06-01T12:00:00.500000001Z"',
     A - {"a_bool", "a_inject"}),
    ('create_time = "2021-06-01T12:00:00.500000001Z"', set()),
    ('create_time = "2021-06-01t12:00:00.5z"', {"a_empty"}),
    ('create_time = "2021-06-01 12:00:00.5+00:00"', {"a_empty"}),
    ('update_time > "2022-01-01T00:00:00Z"', {"a_inject"}),
    ('create_time >= "2020-11-19T10:00:00-05:00" AND create_time < "2020-11-19T16:00:00Z"',
     {"a_model", "a_upper"}),
    # metadata: typed accessors, nesting, quoting, missing fields
    ("metadata.acc.number_value > 0.9", {"a_model", "a_upper"}),
    ("metadata.acc.number_value = 1", {"a_upper"}),
    ("metadata.acc.number_value = 0.95", {"a_model"}),
    ("metadata.acc.number_value > 1e-1", {"a_model", "a_upper", "a_data"}),
    ("metadata.acc.number_value != 0.5", {"a_model", "a_upper"}),
    ("NOT metadata.acc.number_value = 0.5", A - {"a_data"}),
    ('metadata.acc.string_value = "0.99"', {"a_metrics"}),
    ("metadata.acc.bool_value = true", {"a_bool"}),
    ("metadata.flag.bool_value = false", {"a_data"}),
    ("metadata.flag.bool_value != true", {"a_data"}),
    ("metadata.flag.bool_value:true", {"a_model"}),
    ('metadata.flag.string_value = "true"', {"a_metrics"}),
    ("metadata.n_str.number_value = 5", set()),
    ('metadata.n_str.string_value = "5"', {"a_model"}),
    ("metadata.nested.depth.x.number_value = 3", {"a_model"}),
    ("metadata.nested.depth.number_value = 3", {"a_bool"}),
    ('metadata."f:1".number_value = 1', {"a_model"}),
    ('metadata."q\\"k".string_value = "quoted"', {"a_model"}),
    ('metadata."nested"."depth".x.number_value >= 3', {"a_model"}),
    ('metadata."back\\\\slash".number_value = 7', {"a_model"}),
    ('metadata."new\\nline"."é".number_value = 8', {"a_model"}),
    ('metadata.name.string_value = "alpha"', {"a_data2"}),
    ('metadata.name.string_value = "*lpha"', {"a_data", "a_data2"}),
    ('metadata.name.string_value != "*lpha"', set()),
    ('metadata.name.string_value:"lph"', {"a_data", "a_data2"}),
    ('metadata.name.string_value < "a"', {"a_data"}),
    ("metadata.rows.number_value < 0", {"a_data2"}),
    ("metadata.rows.number_value >= -3.0e0", {"a_data", "a_data2"}),
    ("metadata.acc.number_value:*", {"a_model", "a_upper", "a_data"}),
    ("metadata.acc.string_value:*", {"a_metrics"}),
    ("metadata.acc.bool_value:*", {"a_bool"}),
    ("metadata.missing.number_value != 1", set()),
    ("NOT metadata.missing.number_value = 1", A),
    ("-metadata.acc.number_value:*", A - {"a_model", "a_upper", "a_data"}),
    # labels (extension)
    ('labels.team = "ml"', {"a_model"}),
    ('labels.team = "ML"', {"a_upper"}),
    ("labels:team", {"a_model", "a_upper", "a_data"}),
    ('labels:"env"', {"a_model", "a_bool"}),
    ("labels:*", {"a_model", "a_upper", "a_data", "a_bool"}),
    ('labels.env = ""', {"a_bool"}),
    ('labels.team != "ml"', {"a_upper", "a_data"}),
    ('NOT labels.team = "ml"', A - {"a_model"}),
    ("labels.team:*", {"a_model", "a_upper", "a_data"}),
    ('labels.env:"ro"', {"a_model"}),
    ('labels.team = "*a*"', {"a_data"}),
    # events.type (extension): "has at least one event of that type"
    ("events.type = INPUT", {"a_data", "a_model", "a_data2"}),
    ('events.type = "OUTPUT"', {"a_model", "a_metrics", "a_data2"}),
    ("events.type != INPUT", {"a_model", "a_metrics", "a_data2"}),
    ("NOT events.type = INPUT", A - {"a_data", "a_model", "a_data2"}),
    ("events.type:*", {"a_data", "a_model", "a_data2", "a_metrics"}),
    ("events.type = INPUT AND events.type = OUTPUT", {"a_model", "a_data2"}),
    # in_context: direct attribution only
    (f'in_context("{P}/contexts/c_run")', {"a_data", "a_model", "a_metrics"}),
    (f'in_context("{P}/contexts/c_exp")', set()),
    (f'in_context("{P}/contexts/nope")', set()),
    # a bare resource id or (unique) display name names the context too
    ('in_context("c_run")', {"a_data", "a_model", "a_metrics"}),
    ('in_context("run 1")', {"a_data", "a_model", "a_metrics"}),
    ('in_context("run")', set()),
    ('in_context("contexts/c_run")', set()),
    ('in_context("projects/x/locations/local/metadataStores/default/contexts/c_run")', set()),
    (f'NOT in_context("{P}/contexts/c_run")', A - {"a_data", "a_model", "a_metrics"}),
    (f'in_context("{P}/contexts/c_run") AND schema_title = "system.Model"', {"a_model"}),
    # precedence: OR binds tighter than AND; juxtaposition is AND; NOT / -; parentheses
    ('schema_title = "system.Model" AND display_name = "MODEL ONE" OR display_name = "metrics"',
     {"a_upper"}),
    ('(schema_title = "system.Model" AND display_name = "MODEL ONE") OR display_name = "metrics"',
     {"a_upper", "a_metrics"}),
    ('display_name = "metrics" OR schema_title = "system.Model" AND state = LIVE',
     {"a_metrics", "a_model", "a_upper"}),
    ('schema_title = "system.Model" display_name = "Model One"', {"a_model"}),
    ('schema_title = "system.Dataset" state = LIVE OR state = PENDING', {"a_data", "a_data2"}),
    ('schema_title = "system.Dataset" OR schema_title = "system.Metrics" state = LIVE',
     {"a_data2", "a_metrics"}),
    ('-display_name = "metrics" AND -schema_title = "system.Artifact"',
     {"a_model", "a_upper", "a_data", "a_data2"}),
    ('NOT (schema_title = "system.Model" OR state = PENDING)',
     A - {"a_model", "a_upper", "a_data"}),
    ('NOT(NOT(display_name = "metrics"))', {"a_metrics"}),
    ('((((display_name = "metrics"))))', {"a_metrics"}),
    ('schema_title = "system.Model"\n\tAND\r\n state = LIVE', {"a_model", "a_upper"}),
    ("  ", A),
    ("", A),
]

EXECUTION_CASES: list[tuple[str, set[str]]] = [
    ("state = COMPLETE", {"e_train"}),
    ("state != RUNNING", {"e_train", "e_failed", "e_cached"}),
    ('state = "CACHED" OR state = FAILED', {"e_failed", "e_cached"}),
    (f'in_context("{P}/contexts/c_run")', {"e_train", "e_eval"}),
    (f'in_context("{P}/contexts/c_run2")', {"e_cached"}),
    ('in_context("run 2")', {"e_cached"}),
    ('in_context("c_run2") OR in_context("c_run")', {"e_cached", "e_train", "e_eval"}),
    ("events.type = OUTPUT", {"e_train", "e_cached"}),
    ("events.type = INPUT", {"e_train", "e_eval"}),
    ("NOT events.type:*", {"e_failed"}),
    ("metadata.lr.number_value = 0.01", {"e_train"}),
    ('metadata.lr.string_value = "0.01"', {"e_eval"}),
    ("metadata.epochs.number_value >= 10", {"e_train"}),
    ('schema_title = "system.Run"', {"e_failed"}),
    ('display_name = "* step"', {"e_failed"}),
    (f'name = "{P}/executions/e_train"', {"e_train"}),
    (f'name = "{P}/artifacts/e_train"', set()),
    ('create_time < "2020-11-19T12:00:00-05:00"', {"e_train"}),
    ('labels.team = "ml"', {"e_train"}),
]

CONTEXT_CASES: list[tuple[str, set[str]]] = [
    (f'parent_contexts:"{P}/contexts/c_exp"', {"c_run", "c_run2"}),
    (f'parent_contexts:"{P}/contexts/c_root"', {"c_run2"}),
    ('parent_contexts:"root"', {"c_run2"}),
    ('child_contexts:"c_grand"', {"c_run"}),
    (f'parent_contexts:"{P}/contexts/c_run"', {"c_grand"}),
    (f'child_contexts:"{P}/contexts/c_run2"', {"c_exp", "c_root"}),
    (f'child_contexts:"{P}/contexts/c_run"', {"c_exp"}),
    (f'child_contexts:"{P}/contexts/c_grand"', {"c_run"}),
    (f'child_contexts:"{P}/contexts/c_lonely"', set()),
    ("parent_contexts:*", {"c_run", "c_run2", "c_grand"}),
    ("NOT parent_contexts:*", {"c_exp", "c_root", "c_lonely"}),
    ("child_contexts:*", {"c_exp", "c_root", "c_run"}),
    (f'schema_title = "system.PipelineRun" AND parent_contexts:"{P}/contexts/c_root"',
     {"c_run2"}),
    (f'parent_contexts:"{P}/contexts/c_exp" OR parent_contexts:"{P}/contexts/c_run"',
     {"c_run", "c_run2", "c_grand"}),
    ('display_name = ""', {"c_lonely"}),
    ('metadata.git.string_value = "abc"', {"c_run"}),
    ('display_name = "run *"', {"c_run", "c_run2"}),
    ('create_time < "2020-01-02T00:00:00Z"', {"c_exp"}),
]


@pytest.mark.parametrize(("filter", "expected"), ARTIFACT_CASES, ids=[c[0] for c in ARTIFACT_CASES])
def test_artifact_filters(fstore: SqlStore, filter: str, expected: set[str]) -> None:
    assert listed(fstore, "artifacts", filter) == expected


@pytest.mark.parametrize(("filter", "expected"), EXECUTION_CASES,
                         ids=[c[0] for c in EXECUTION_CASES])
def test_execution_filters(fstore: SqlStore, filter: str, expected: set[str]) -> None:
    assert listed(fstore, "executions", filter) == expected


@pytest.mark.parametrize(("filter", "expected"), CONTEXT_CASES, ids=[c[0] for c in CONTEXT_CASES])
def test_context_filters(fstore: SqlStore, filter: str, expected: set[str]) -> None:
    assert listed(fstore, "contexts", filter) == expected


def test_not_is_the_exact_complement(fstore: SqlStore) -> None:
    for filter, expected in ARTIFACT_CASES:
        if filter.strip():
            assert listed(fstore, "artifacts", f"NOT ({filter})") == A - expected, filter


def test_purge_dry_run_uses_the_same_compiler(fstore: SqlStore) -> None:
    result = vt.Artifact.purge('display_name = "*_*"', store=fstore)
    assert result.purge_count == 1
    assert result.purge_sample == [f"{P}/artifacts/a_data"]


# -- strict mode ----------------------------------------------------------------------------

def test_strict_accepts_documented_syntax(fstore: SqlStore) -> None:
    assert listed(fstore, "artifacts", 'display_name = "metrics" OR uri = "gs://*"',
                  strict=True) == {"a_metrics", "a_model", "a_upper"}
    assert listed(fstore, "contexts", f'parent_contexts:"{P}/contexts/c_root"',
                  strict=True) == {"c_run2"}


@pytest.mark.parametrize(("filter", "position", "message"), [
    ('NOT display_name = "x"', 0, "NOT and '-'"),
    ('state = LIVE AND -display_name = "x"', 17, "NOT and '-'"),
    ('labels.team = "ml"', 0, "'labels' filters are an extension"),
    ("state = LIVE OR labels:team", 16, "'labels' filters are an extension"),
    ("events.type = INPUT", 0, "'events' filters are an extension"),
])
def test_strict_rejects_extensions(fstore: SqlStore, filter: str, position: int,
                                   message: str) -> None:
    with pytest.raises(FilterError) as info:
        vt.Artifact.list(filter, strict=True, store=fstore)
    assert info.value.position == position
    assert message in str(info.value)
    vt.Artifact.list(filter, store=fstore)  # fine without strict


# -- malformed filters: the exact position and what was expected --------------------------

MALFORMED: list[tuple[str, str, int, str]] = [
    ("artifacts", 'display_name = "x" AND', 22, "expected"),
    ("artifacts", 'display_name "x"', 13, "comparison operator"),
    ("artifacts", 'display_name == "x"', 14, "unexpected '='"),
    ("artifacts", '= "x"', 0, "a field name"),
    ("artifacts", 'display_name = "x', 15, "unterminated string"),
    ("artifacts", '(display_name = "x"', 19, ")"),
    ("artifacts", 'display_name = "x")', 18, "unexpected ')'"),
    ("artifacts", 'foo = "x"', 0, "unknown field 'foo'"),
    ("artifacts", 'state = LIVE AND colour = "red"', 17, "unknown field 'colour'"),
    ("executions", 'uri = "x"', 0, "not available on executions"),
    ("contexts", "state = LIVE", 0, "not available on contexts"),
    ("artifacts", "metadata.acc = 1", 9, "typed accessor"),
    ("artifacts", "metadata.acc.float_value = 1", 13, "unknown accessor 'float_value'"),
    ("artifacts", 'metadata."number_value" = 1', 9, "typed accessor"),
    ("artifacts", "metadata = 1", 9, "a key"),
    ("artifacts", 'metadata.acc.number_value = "0.5"', 28, "number"),
    ("artifacts", 'metadata.flag.bool_value = "true"', 27, "true or false"),
    ("artifacts", "metadata.flag.bool_value > true", 25, "bool_value supports"),
    ("artifacts", 'create_time > "yesterday"', 14, "RFC 3339"),
    ("artifacts", 'create_time > "2020-11-19"', 14, "RFC 3339"),
    ("artifacts", 'create_time > "2020-11-19T25:00:00Z"', 14, "RFC 3339"),
    ("artifacts", 'update_time < "2020-11-19T10:00:00+24:00"', 14, "RFC 3339"),
    ("artifacts", "create_time > 5", 14, "RFC 3339"),
    ("artifacts", 'create_time = "2020-*"', 14, "RFC 3339"),
    ("artifacts", "state = live", 8, "expected one of PENDING, LIVE"),
    ("executions", "state = LIVE", 8, "expected one of NEW, RUNNING"),
    ("artifacts", "state > LIVE", 6, "state supports =, != and :"),
    ("artifacts", "display_name = *", 15, "only valid after ':'"),
    ("artifacts", "display_name = foo*", 18, "inside a quoted string"),
    ("artifacts", f'in_context("{P}/contexts/c", "y")', len(P) + 26, "exactly one"),
    ("artifacts", "in_context(x)", 11, "context resource name in quotes"),
    ("artifacts", "in_context = 1", 11, "in_context is a function"),
    ("artifacts", 'foo("x")', 0, "unknown function 'foo'"),
    ("contexts", 'in_context("x")', 0, "not contexts"),
    ("contexts", 'parent_contexts = "x"', 16, "supports only \":\""),
    ("artifacts", 'parent_contexts:"x"', 0, "not available on artifacts"),
    ("artifacts", 'display_name = "a\\qb"', 17, "unknown escape"),
    ("artifacts", 'NOT NOT display_name = "x"', 4, "unexpected 'NOT'"),
    ("artifacts", "(" * 21 + 'display_name = "x"' + ")" * 21, 20, "20 levels"),
    ("artifacts", 'labels.a.b = "x"', 9, "labels are flat"),
    ("artifacts", 'labels = "x"', 7, "labels needs a key"),
    ("artifacts", "events.kind = INPUT", 7, "events.type"),
    ("artifacts", "events.type = SIDE", 14, "not an event type"),
    ("artifacts", "events.type > INPUT", 12, "supports =, != and :"),
    ("artifacts", 'display_name.foo = "x"', 13, "has no subfield 'foo'"),
    ("artifacts", '"display_name" = "x"', 0, "unexpected"),
    ("artifacts", "metadata.acc.number_value = 1e5x", 28, "malformed number"),
    ("artifacts", 'display_name = "a\x00"', 17, "NUL"),
    ("artifacts", 'display_name = "x" AND AND state = LIVE', 23, "unexpected 'AND'"),
    ("artifacts", 'display_name = "x" ; DROP TABLE vt_artifacts', 19, "unexpected character ';'"),
]


@pytest.mark.parametrize(("kind", "filter", "position", "message"), MALFORMED,
                         ids=[repr(m[1])[:60] for m in MALFORMED])
def test_malformed_filters(kind: str, filter: str, position: int, message: str) -> None:
    with pytest.raises(FilterError) as info:
        compile_filter(kind, filter, store_id=1, store_prefix=P, dialect_name="sqlite")
    err = info.value
    assert err.position == position, str(err)
    assert message in str(err)
    assert isinstance(err, ValueError) and isinstance(err, vt.InvalidArgumentError)
    # The message shows the filter with a caret under the problem.
    lines = str(err).split("\n")
    if "\n" not in filter and "\x00" not in filter:
        assert lines[-2] == f"  {filter}" and lines[-1] == "  " + " " * position + "^"


def test_malformed_filter_reaches_list_as_filter_error(fstore: SqlStore) -> None:
    with pytest.raises(FilterError) as info:
        vt.Execution.list('uri = "x"', store=fstore)
    assert info.value.position == 0
    assert "expected one of:" in str(info.value)


def test_parse_is_cached_and_returns_typed_nodes() -> None:
    node = parse_filter('display_name = "*x*" AND metadata."f:1".number_value > -0.5')
    assert node is parse_filter('display_name = "*x*" AND metadata."f:1".number_value > -0.5')
    assert isinstance(node, ast.And)
    first, second = node.operands
    assert isinstance(first, ast.Comparison) and first.value == ast.StringValue(("", "x", ""))
    assert isinstance(second, ast.Comparison)
    assert [s.name for s in second.member.segments] == ["metadata", "f:1", "number_value"]
    assert second.value == ast.NumberValue("-0.5")
    assert parse_filter("   ") is None and parse_filter(None) is None


def test_compile_rejects_unknown_kind_and_dialect() -> None:
    with pytest.raises(ValueError, match="kind"):
        compile_filter("models", "state = LIVE", store_id=1, store_prefix=P, dialect_name="sqlite")
    with pytest.raises(ValueError, match="dialect"):
        compile_filter("artifacts", "state = LIVE", store_id=1, store_prefix=P,
                       dialect_name="mysql")


# -- order_by ---------------------------------------------------------------------------------

def test_parse_order_by() -> None:
    assert parse_order_by("artifacts", "create_time desc, display_name") == [
        ("create_time", True), ("display_name", False)]
    assert parse_order_by("executions", " state ASC ,name DESC ") == [
        ("state", False), ("name", True)]
    assert parse_order_by("contexts", None) == [] == parse_order_by("contexts", " ")
    assert parse_order_by("contexts", "resource_id desc") == [("resource_id", True)]


@pytest.mark.parametrize(("kind", "order_by", "message"), [
    ("artifacts", "colour", "cannot sort artifacts by 'colour'"),
    ("executions", "uri", "cannot sort executions by 'uri'"),
    ("contexts", "state desc", "cannot sort contexts by 'state'"),
    ("artifacts", "create_time sideways", "must be 'asc' or 'desc'"),
    ("artifacts", "create_time desc extra", "malformed"),
    ("artifacts", "create_time,", "malformed"),
    ("artifacts", "name, name desc", "more than once"),
    ("artifacts", "name, resource_id desc", "names 'resource_id' more than once"),
    ("executions", 5, "must be a string"),
])
def test_parse_order_by_rejects(kind: str, order_by: Any, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match="order_by") as info:
        parse_order_by(kind, order_by)
    assert message in str(info.value)


# -- properties --------------------------------------------------------------------------------

TOKENS = ["display_name", "metadata", ".", "acc", "number_value", "string_value", "labels",
          "events", "type", "state", "create_time", "name", "in_context", "(", ")", ",", "=",
          "!=", "<", "<=", ">", ">=", ":", "*", "-", "AND", "OR", "NOT", '"x*y"', "'q'", "1.5",
          "-2", "true", "LIVE", '"2020-01-01T00:00:00Z"', '"', "\\", "%", "_", ";", " "]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=40), st.lists(st.sampled_from(TOKENS), max_size=12).map(
    "".join), st.lists(st.sampled_from(TOKENS), max_size=12).map(" ".join)))
def test_random_input_parses_or_raises_filter_error(text: str) -> None:
    for strict in (False, True):
        try:
            parse_filter(text, strict=strict)
        except FilterError as err:
            assert 0 <= err.position <= len(text)
    for kind in ("artifacts", "executions", "contexts"):
        for dialect in ("sqlite", "postgresql"):
            try:
                compile_filter(kind, text, store_id=1, store_prefix=P, dialect_name=dialect)
            except FilterError as err:
                assert 0 <= err.position <= len(text)


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("*", "\\*") + '"'


NAMES = [spec.get("display_name", "") for spec in ARTIFACTS.values()]
VALUE = st.one_of(
    st.sampled_from([*NAMES, "' OR 1=1 --", "%", "_", "'; DROP TABLE vt_artifacts; --", "[",
                     "?", "\\", "%1", "train%", "x[ab]"]),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
            max_size=12),
)


def _glob(parts: list[str]) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(p) for p in parts), re.DOTALL)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=VALUE, parts=st.lists(VALUE, min_size=2, max_size=3))
def test_values_match_literally(fstore: SqlStore, value: str, parts: list[str]) -> None:
    """Injection-looking values and pattern characters match exactly what Python says."""
    names = {rid: spec.get("display_name", "") for rid, spec in ARTIFACTS.items()}
    assert listed(fstore, "artifacts", f"display_name = {quote(value)}") == {
        rid for rid, n in names.items() if n == value}
    assert listed(fstore, "artifacts", f"display_name != {quote(value)}") == {
        rid for rid, n in names.items() if n != value}
    assert listed(fstore, "artifacts", f"display_name:{quote(value)}") == {
        rid for rid, n in names.items() if value in n}
    assert listed(fstore, "artifacts", f"display_name < {quote(value)}") == {
        rid for rid, n in names.items() if n < value}
    pattern = "*".join(quote(p)[1:-1] for p in parts)
    regex = _glob(parts)
    assert listed(fstore, "artifacts", f'display_name = "{pattern}"') == {
        rid for rid, n in names.items() if regex.fullmatch(n)}
    assert listed(fstore, "artifacts", f'labels.team = "{pattern}"') == {
        rid for rid, spec in ARTIFACTS.items()
        if "team" in spec.get("labels", {}) and regex.fullmatch(spec["labels"]["team"])}


def test_unparse_round_trips() -> None:
    for filter, _ in ARTIFACT_CASES + EXECUTION_CASES + CONTEXT_CASES:
        node = parse_filter(filter)
        assert parse_filter(ast.unparse(node)) == node, filter



def test_in_context_by_display_name_needs_it_to_be_unique(store: Any) -> None:
    """A display name two contexts share names neither (the full name or id still works)."""
    a, b = (vt.Artifact.create("system.Dataset", display_name=n) for n in ("a", "b"))
    first = vt.Context.create("system.Experiment", display_name="twin")
    second = vt.Context.create("system.Experiment", display_name="twin")
    solo = vt.Context.create("system.Experiment", display_name="solo")
    first.add_artifacts_and_executions(artifact_resource_names=[a.name])
    second.add_artifacts_and_executions(artifact_resource_names=[b.name])
    solo.add_artifacts_and_executions(artifact_resource_names=[a.name, b.name])
    assert ids(vt.Artifact.list('in_context("twin")')) == set()
    assert ids(vt.Artifact.list('in_context("solo")')) == {a.resource_id, b.resource_id}
    assert ids(vt.Artifact.list(f'in_context("{second.resource_id}")')) == {b.resource_id}
    assert ids(vt.Artifact.list(f'in_context("{first.name}")')) == {a.resource_id}
