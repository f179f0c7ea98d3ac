"""The ``vertex-track`` command line, through Typer's runner and as a real process.

The data is written with the public API in the layout tracking writes
(PipelineRun contexts, ContainerExecutions with ``vertex_track`` bookkeeping,
labelled events through ``put_execution``), so these tests do not need Prefect.
Every test that takes ``demo`` runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import vertex_track as vt
from vertex_track.cli.app import app
from vertex_track.store.base import ArtifactLink, MetadataStore

ANSI = re.compile(r"\x1b\[")
REPO = Path(__file__).resolve().parents[1]


# -- fixtures: two runs of one flow, in tracking's layout ---------------------------------


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _file_artifact(store: MetadataStore, schema: str, display: str, content: str) -> vt.Artifact:
    digest = _digest(content)
    hexd = digest.split(":")[1]
    return vt.Artifact(
        name=store.resource_name("artifacts", f"sha256-{hexd[:32]}"),
        schema_title=schema,
        display_name=display,
        uri=f"file:///tmp/vt-artifacts/sha256/{hexd[:2]}/{hexd}.pkl",
        metadata={"vertex_track": {"digest": digest, "materializer": "pickle", "size": 100}},
    )


def _inline_artifact(
    store: MetadataStore, run_id: str, schema: str, display: str, value: Any
) -> vt.Artifact:
    digest = _digest(json.dumps(value, sort_keys=True))
    hexd = digest.split(":")[1]
    return vt.Artifact(
        name=store.resource_name("artifacts", f"v-{run_id[:8]}-{hexd[:16]}"),
        schema_title=schema,
        display_name=display,
        metadata={"vertex_track": {"digest": digest, "materializer": "json", "size": 20,
                                   "value": value}},
    )


@dataclass
class Demo:
    store: MetadataStore
    run_a: vt.Context
    run_b: vt.Context
    flow_run_a: str


def _run(
    store: MetadataStore, name: str, lr: float, model_bytes: str, accuracy: float,
    eval_state: str = "COMPLETE",
) -> tuple[vt.Context, str]:
    flow_run_id = str(uuid.uuid4())
    ctx = vt.Context.create(
        "system.PipelineRun",
        resource_id=f"pipelinerun-{flow_run_id}",
        display_name=name,
        metadata={
            "flow_name": "training", "flow_run_id": flow_run_id, "flow_run_name": name,
            "parameters": {"lr": lr, "epochs": 3},
            "state": "FAILED" if eval_state == "FAILED" else "COMPLETE",
            "start_time": "2026-01-01T10:00:00Z", "end_time": "2026-01-01T10:00:12Z",
            "duration_s": 12.0 if lr > 0.05 else 9.5,
        },
    )
    raw = _file_artifact(store, "system.Dataset", "raw", "the raw csv")
    train = _file_artifact(store, "system.Dataset", "train", "train split")
    test = _file_artifact(store, "system.Dataset", "test", "test split")
    model = _file_artifact(store, "system.Model", "model", model_bytes)
    metrics = _inline_artifact(store, flow_run_id, "system.Metrics", "metrics",
                               {"accuracy": accuracy})

    def execution(task: str, state: str = "COMPLETE", **params: Any) -> vt.Execution:
        vt_meta = {
            "task_name": task, "task_run_id": str(uuid.uuid4()),
            "start_time": "2026-01-01T10:00:01Z", "end_time": "2026-01-01T10:00:02Z",
            "duration_s": 1.0, "error_type": None, "error_message": None,
        }
        if state == "FAILED":
            vt_meta.update(error_type="ValueError", error_message="bad model")
        return vt.Execution(
            name=store.resource_name("executions", f"{task}-{uuid.uuid4().hex[:12]}"),
            schema_title="system.ContainerExecution",
            display_name=f"{task}-{name}",
            state=state,
            metadata={**params, "vertex_track": vt_meta},
        )

    steps = [
        (execution("load"), [ArtifactLink(raw, vt.EventType.OUTPUT, "output")]),
        (execution("split", frac=0.8), [
            ArtifactLink(raw, vt.EventType.INPUT, "data"),
            ArtifactLink(train, vt.EventType.OUTPUT, "output.0"),
            ArtifactLink(test, vt.EventType.OUTPUT, "output.1"),
        ]),
        (execution("train", lr=lr), [
            ArtifactLink(train, vt.EventType.INPUT, "data"),
            ArtifactLink(model, vt.EventType.OUTPUT, "output"),
        ]),
        (execution("evaluate", state=eval_state), [
            ArtifactLink(model, vt.EventType.INPUT, "model"),
            ArtifactLink(test, vt.EventType.INPUT, "data"),
            ArtifactLink(metrics, vt.EventType.OUTPUT, "output"),
        ]),
    ]
    for ex, links in steps:
        store.put_execution(ex, links, [ctx])
    return ctx, flow_run_id


@pytest.fixture
def demo(store: MetadataStore) -> Demo:
    run_a, flow_run_a = _run(store, "crimson-fox", 0.1, "model A", 0.9)
    run_b, _ = _run(store, "lucky-owl", 0.01, "model B", 0.85)
    return Demo(store, run_a, run_b, flow_run_a)


runner = CliRunner()


def cli(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, list(args), input=input, env=env)


def ok(*args: str, **kw: Any) -> Any:
    result = cli(*args, **kw)
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    assert not ANSI.search(result.stdout), "plain output must not contain ANSI codes"
    return result


def ok_json(*args: str) -> Any:
    return json.loads(ok(*args, "--json").stdout)


def tsv(stdout: str) -> list[dict[str, str]]:
    lines = [ln for ln in stdout.splitlines() if ln]
    header = lines[0].split("\t")
    return [dict(zip(header, ln.split("\t"), strict=True)) for ln in lines[1:]]


# -- help ------------------------------------------------------------------------------


def _walk(cmd: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    out = [(path, cmd)]
    for name, sub in getattr(cmd, "commands", {}).items():
        out += _walk(sub, (*path, name))
    return out


def test_every_command_has_help_with_an_example() -> None:
    import typer.main

    root = typer.main.get_command(app)
    commands = _walk(root)
    assert len(commands) > 15
    for path, cmd in commands:
        assert cmd.help and cmd.help.strip(), f"{' '.join(path) or 'vertex-track'} has no help"
        assert "$ vertex-track" in cmd.help, f"{' '.join(path)} has no example in its help"
        for param in cmd.params:
            if param.name not in ("help",) and getattr(param, "param_type_name", "") == "option":
                assert param.help, f"option {param.name} of {' '.join(path)} has no help"
        result = cli(*path, "--help")
        assert result.exit_code == 0, path
        assert "Usage" in result.stdout


def test_no_arguments_shows_help() -> None:
    result = cli()
    assert "runs" in result.stdout and "lineage" in result.stdout
    assert result.exit_code in (0, 2)


# -- runs ------------------------------------------------------------------------------


def test_runs_list_plain_and_json(demo: Demo) -> None:
    rows = tsv(ok("runs", "list").stdout)
    assert [r["RUN"] for r in rows] == ["lucky-owl", "crimson-fox"]  # newest first
    assert rows[0]["STATE"] == "COMPLETE" and rows[0]["FLOW"] == "training"
    assert rows[1]["ID"] == demo.run_a.resource_id

    data = ok_json("runs", "list")
    assert [r["display_name"] for r in data] == ["lucky-owl", "crimson-fox"]
    first = data[1]
    assert set(first) == {
        "name", "resource_id", "display_name", "flow_name", "flow_run_id", "state",
        "start_time", "end_time", "duration_s", "parameters", "create_time",
    }
    assert first["flow_run_id"] == demo.flow_run_a
    assert first["parameters"] == {"lr": 0.1, "epochs": 3}

    assert len(ok_json("runs", "list", "--limit", "1")) == 1
    assert [r["display_name"] for r in ok_json("runs", "list", "--order-by", "create_time")] == [
        "crimson-fox", "lucky-owl"]
    assert ok_json("runs", "list", "--flow", "training", "--state", "FAILED") == []
    assert [r["display_name"] for r in ok_json(
        "runs", "list", "--filter", "metadata.parameters.lr.number_value < 0.05")] == ["lucky-owl"]


def test_runs_list_limit_says_more_exist(demo: Demo) -> None:
    result = ok("runs", "list", "--limit", "1")
    assert len(tsv(result.stdout)) == 1
    assert "--limit 0" in result.stderr


def test_runs_show_by_name_and_flow_run_id(demo: Demo) -> None:
    data = ok_json("runs", "show", "crimson-fox")
    assert data["name"] == demo.run_a.name
    tasks = [e["task"] for e in data["executions"]]
    assert sorted(tasks) == ["evaluate", "load", "split", "train"]
    train = next(e for e in data["executions"] if e["task"] == "train")
    assert train["parameters"] == {"lr": 0.1}
    assert [i["label"] for i in train["inputs"]] == ["data"]
    assert train["outputs"][0]["schema_title"] == "system.Model"
    assert train["outputs"][0]["digest"] == _digest("model A")
    assert len(data["artifacts"]) == 5

    by_id = ok_json("runs", "show", demo.flow_run_a)
    assert by_id["name"] == demo.run_a.name
    by_resource_id = ok_json("runs", "show", demo.run_a.resource_id)
    assert by_resource_id["name"] == demo.run_a.name

    text = ok("runs", "show", "crimson-fox").stdout
    assert "Pipeline run crimson-fox" in text and "train" in text and "metrics=" not in text


def test_unknown_run_suggests(demo: Demo) -> None:
    result = cli("runs", "show", "crimson-fx")
    assert result.exit_code == 1
    assert "did you mean 'crimson-fox'" in result.stderr
    assert result.stdout == ""


# -- artifacts, executions, contexts ---------------------------------------------------------


def test_artifacts_list_filter_and_show(demo: Demo) -> None:
    models = ok_json("artifacts", "list", "--filter", 'schema_title = "system.Model"')
    assert {m["display_name"] for m in models} == {"model"}
    assert len(models) == 2
    assert set(models[0]) >= {"name", "resource_id", "uri", "state", "metadata", "create_time"}

    rows = tsv(ok("artifacts", "list", "--filter", 'display_name = "raw"').stdout)
    assert len(rows) == 1  # content addressed: one raw dataset shared by both runs
    assert rows[0]["ID"].startswith("sha256-") and "/" not in rows[0]["ID"]

    shown = ok_json("artifacts", "show", "model")  # display name: the newest one
    assert shown["metadata"]["vertex_track"]["digest"] == _digest("model B")
    assert [p["label"] for p in shown["produced_by"]] == ["output"]
    assert [c["label"] for c in shown["consumed_by"]] == ["model"]

    raw = ok_json("artifacts", "show", rows[0]["ID"])
    assert len(raw["consumed_by"]) == 2  # split of both runs

    text = ok("artifacts", "show", rows[0]["ID"]).stdout
    assert raw["name"] in text  # full names in show


def test_bad_filter_exits_2_with_a_caret(demo: Demo) -> None:
    result = cli("artifacts", "list", "--filter", 'display_name = "x" AND')
    assert result.exit_code == 2
    assert "bad filter" in result.stderr
    assert "^" in result.stderr
    result = cli("runs", "list", "--filter", "nosuchfield = 1")
    assert result.exit_code == 2
    result = cli("runs", "list", "--order-by", "bogus desc")
    assert result.exit_code == 2


def test_executions_list_and_show(demo: Demo) -> None:
    failed = ok_json("executions", "list", "--filter", "state = FAILED")
    assert failed == []
    rows = tsv(ok("executions", "list", "--limit", "0").stdout)
    assert len(rows) == 8
    train_id = next(r["ID"] for r in rows if r["DISPLAY_NAME"] == "train-crimson-fox")
    data = ok_json("executions", "show", train_id)
    assert data["state"] == "COMPLETE"
    assert [i["label"] for i in data["inputs"]] == ["data"]
    assert data["outputs"][0]["digest"] == _digest("model A")
    assert "train-crimson-fox" in ok("executions", "show", "train-crimson-fox").stdout
    missing = cli("executions", "show", "train-crimson-fax")
    assert missing.exit_code == 1 and "did you mean" in missing.stderr


def test_contexts_list_and_show(demo: Demo) -> None:
    data = ok_json("contexts", "list")
    assert {c["display_name"] for c in data} == {"crimson-fox", "lucky-owl"}
    shown = ok_json("contexts", "show", "crimson-fox")
    assert shown["execution_count"] == 4
    assert shown["artifact_count"] == 5
    assert shown["child_contexts"] == []
    assert ok("contexts", "show", demo.run_b.resource_id).stdout.startswith("Context ")


# -- lineage ---------------------------------------------------------------------------


def test_lineage_tree_reads_upstream(demo: Demo) -> None:
    text = ok("lineage", "model").stdout
    lines = text.splitlines()
    assert lines[0].startswith("Model model")
    assert "system.Model" in lines[0]
    assert "← train [COMPLETE]" in text and "lr=0.01" in text  # newest model: run B
    assert "data: Dataset train" in text
    assert "← split [COMPLETE]" in text and "data: Dataset raw" in text
    assert "← load [COMPLETE]" in text
    assert "├──" in text or "└──" in text


def test_lineage_formats_and_directions(demo: Demo) -> None:
    raw = ok_json("artifacts", "list", "--filter", 'display_name = "raw"')[0]
    down = json.loads(ok("lineage", raw["resource_id"], "--direction", "down", "--format",
                         "json").stdout)
    assert {a["display_name"] for a in down["artifacts"]} >= {"raw", "train", "model", "metrics"}
    assert len(down["events"]) > 0
    hop1 = json.loads(ok("lineage", raw["resource_id"], "-d", "down", "--max-hops", "1",
                         "--json").stdout)
    assert [a["display_name"] for a in hop1["artifacts"]] == ["raw"]
    assert len(hop1["executions"]) == 2
    long_form = json.loads(ok("lineage", raw["resource_id"], "--direction", "downstream",
                              "--json").stdout)
    assert long_form == down  # the library's word for it is the same walk

    mermaid = ok("lineage", "model", "--format", "mermaid").stdout
    assert mermaid.startswith("flowchart")
    dot = ok("lineage", "model", "--format", "dot").stdout
    assert dot.startswith("digraph")
    both = ok("lineage", raw["resource_id"], "--direction", "both").stdout
    assert "# Upstream" in both and "# Downstream" in both and "→ split" in both

    by_type = ok("lineage", "Metrics")  # no artifact is named so: the newest system.Metrics
    assert "newest system.Metrics" in by_type.stderr
    assert by_type.stdout.startswith("Metrics metrics = {")
    missing = cli("lineage", "modle")
    assert missing.exit_code == 1 and "did you mean 'model'" in missing.stderr
    bad = cli("lineage", "model", "--direction", "sideways")
    assert bad.exit_code == 2


# -- diff ------------------------------------------------------------------------------


def test_diff_json(demo: Demo) -> None:
    d = ok_json("diff", "crimson-fox", "lucky-owl")
    params = {p["name"]: p for p in d["parameters"]}
    assert params["lr"]["a"] == 0.1 and params["lr"]["b"] == 0.01 and not params["lr"]["same"]
    assert params["epochs"]["same"]
    inputs = {(r["task"], r["label"]): r for r in d["inputs"]}
    assert inputs[("split", "data")]["same"]  # the same raw data, by digest
    assert inputs[("train", "data")]["same"]
    assert not inputs[("evaluate", "model")]["same"]
    outputs = {(r["task"], r["label"]): r for r in d["outputs"]}
    assert not outputs[("train", "output")]["same"]
    assert outputs[("split", "output.0")]["same"]
    metrics = {m["name"]: m for m in d["metrics"]}
    assert metrics["accuracy"]["a"] == 0.9 and metrics["accuracy"]["b"] == 0.85
    assert metrics["accuracy"]["delta"] == pytest.approx(-0.05)
    assert d["duration_s"]["delta"] == pytest.approx(-2.5)
    assert d["state"]["same"]
    task_params = {(p["task"], p["name"]): p for p in d["task_parameters"]}
    assert not task_params[("train", "lr")]["same"]


def test_diff_text(demo: Demo) -> None:
    text = ok("diff", "crimson-fox", demo.run_b.resource_id).stdout
    for section in ("# Parameters", "# Tasks", "# Inputs", "# Outputs", "# Metrics"):
        assert section in text
    assert "≠" in text
    changed = ok("diff", "crimson-fox", "lucky-owl", "--changes-only").stdout
    assert "epochs" not in changed and "lr" in changed
    assert cli("diff", "crimson-fox", "nope").exit_code == 1


# -- purge -----------------------------------------------------------------------------


def test_purge_dry_run_shows_cut_provenance(demo: Demo) -> None:
    result = ok("purge", "artifacts", "--filter", 'display_name = "raw"', "--json")
    data = json.loads(result.stdout)
    assert data["dry_run"] and data["purge_count"] == 1 and data["deleted"] == 0
    assert len(data["downstream_executions"]) == 2  # the split of both runs
    text = ok("purge", "artifacts", "--filter", 'display_name = "raw"')
    assert "Would delete 1 artifact matching" in text.stderr
    assert "Provenance this cuts: 2" in text.stderr
    assert "split-crimson-fox" in text.stdout
    assert "--force" in text.stderr
    assert len(ok_json("artifacts", "list", "--filter", 'display_name = "raw"')) == 1


def test_purge_force_needs_confirmation(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    f = 'display_name = "model"'
    refused = cli("purge", "artifacts", "--filter", f, "--force")
    assert refused.exit_code == 2 and "--yes" in refused.stderr

    from vertex_track.cli import purge

    monkeypatch.setattr(purge, "stdin_is_tty", lambda: True)
    declined = cli("purge", "artifacts", "--filter", f, "--force", input="n\n")
    assert declined.exit_code == 4
    assert len(ok_json("artifacts", "list", "--filter", f)) == 2
    accepted = cli("purge", "artifacts", "--filter", f, "--force", input="y\n")
    assert accepted.exit_code == 0, accepted.stderr
    assert "Deleted 2 artifacts" in accepted.stderr
    assert ok_json("artifacts", "list", "--filter", f) == []


def test_purge_force_yes_json(demo: Demo) -> None:
    data = json.loads(ok("purge", "executions", "--filter", "state = COMPLETE", "--force",
                         "--yes", "--json").stdout)
    assert data["deleted"] == 8 and not data["dry_run"]
    assert ok_json("executions", "list") == []
    nothing = json.loads(ok("purge", "contexts", "--filter", 'display_name = "x"', "--json").stdout)
    assert nothing["purge_count"] == 0


# -- gc --------------------------------------------------------------------------------


def test_gc_finds_and_deletes_unreferenced_files(store: MetadataStore, tmp_path: Path) -> None:
    from vertex_track.artifacts import ArtifactStore

    root = tmp_path / "artifacts"
    astore = ArtifactStore.for_root(str(root))
    kept = astore.put({"rows": list(range(2000))})
    orphan = astore.put(b"nobody points at me" * 500)
    vt.Artifact.create("system.Dataset", uri=kept.uri, display_name="kept",
                       metadata={"vertex_track": {"digest": kept.digest}})
    args = ("--artifact-root", str(root))
    dry = json.loads(ok(*args, "gc", "--min-age", "0", "--json").stdout)
    assert dry["dry_run"] and dry["objects"] == 2 and dry["referenced"] == 1
    assert [g["digest"] for g in dry["unreferenced"]] == [orphan.digest]
    young = json.loads(ok(*args, "gc", "--json").stdout)
    assert young["unreferenced"] == [] and young["kept_too_young"] == 1
    done = json.loads(ok(*args, "gc", "--force", "--yes", "--min-age", "0", "--json").stdout)
    assert done["deleted"] == 1
    assert not astore.exists(orphan.uri) and astore.exists(kept.uri)
    text = ok(*args, "gc", "--min-age", "0")
    assert "1 referenced, 0 unreferenced" in text.stderr


# -- experiments -----------------------------------------------------------------------


def test_experiments_list_and_show(store: MetadataStore) -> None:
    experiments = pytest.importorskip("vertex_track.experiments")
    if not hasattr(experiments, "start_run"):
        pytest.skip("vertex_track.experiments is not complete yet")
    vt.init(experiment="churn")
    for i, lr in enumerate((0.1, 0.01)):
        with vt.start_run(f"run-{i}"):
            vt.log_params({"lr": lr})
            vt.log_metrics({"accuracy": 0.8 + i / 10})
    data = ok_json("experiments", "list")
    assert [(e["display_name"], e["run_count"]) for e in data] == [("churn", 2)]
    shown = ok_json("experiments", "show", "churn")
    runs = {r["run"]: r for r in shown["runs"]}
    assert runs["run-0"]["params"] == {"lr": 0.1}
    assert runs["run-1"]["metrics"]["accuracy"] == pytest.approx(0.9)
    rows = tsv(ok("experiments", "show", "churn").stdout)
    assert {"RUN", "param.lr", "metric.accuracy"} <= set(rows[0])
    missing = cli("experiments", "show", "chrun")
    assert missing.exit_code == 1 and "did you mean 'churn'" in missing.stderr


# -- stores that cannot be read --------------------------------------------------------------


def test_missing_sqlite_store_exits_3(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "metadata.db"
    result = cli("--store-uri", f"sqlite:///{path}", "runs", "list")
    assert result.exit_code == 3
    assert "no metadata store" in result.stderr
    assert not path.exists()


def test_unreachable_postgres_exits_3() -> None:
    result = cli("--store-uri", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2",
                 "artifacts", "list")
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert "unavailable" in result.stderr or "cannot open" in result.stderr


def test_terminal_rendering(demo: Demo) -> None:
    result = cli("runs", "list", env={"FORCE_COLOR": "1", "COLUMNS": "160"})
    assert result.exit_code == 0
    assert "crimson-fox" in result.stdout and "RUN" in result.stdout
    tree = cli("lineage", "model", env={"FORCE_COLOR": "1", "COLUMNS": "160"})
    assert tree.exit_code == 0 and "train" in tree.stdout
    for args in (("runs", "show", "crimson-fox"), ("diff", "crimson-fox", "lucky-owl"),
                 ("artifacts", "show", "model"), ("executions", "list"),
                 ("contexts", "show", "lucky-owl"), ("artifacts", "list")):
        for width in ("60", "200"):  # narrow terminals leave columns out
            result = cli(*args, env={"FORCE_COLOR": "1", "COLUMNS": width})
            assert result.exit_code == 0, (args, result.stderr)
    narrow = cli("artifacts", "list", env={"FORCE_COLOR": "1", "COLUMNS": "60"}).stdout
    assert "URI" not in narrow and "ID" in narrow
    purged = cli("purge", "contexts", "--filter", 'display_name = "lucky-owl"', "--force",
                 "--yes", env={"FORCE_COLOR": "1"})
    assert purged.exit_code == 0 and "Deleted 1 context." in purged.stderr


# -- as a real process -----------------------------------------------------------------


def _env(store_uri: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERTEX_TRACK_")}
    env.pop("FORCE_COLOR", None)
    env.update(VERTEX_TRACK_STORE_URI=store_uri, VERTEX_TRACK_HOME=str(home))
    return env


def test_subprocess_json_plain_and_no_heavy_imports(demo: Demo, tmp_path: Path) -> None:
    from vertex_track.config import get_settings

    env = _env(get_settings().store_uri, tmp_path / "home")
    base = [sys.executable, "-m", "vertex_track.cli"]
    out = subprocess.run([*base, "runs", "list", "--json"], env=env, capture_output=True,
                         text=True, timeout=120, check=True)
    assert [r["display_name"] for r in json.loads(out.stdout)] == ["lucky-owl", "crimson-fox"]

    plain = subprocess.run([*base, "lineage", "model"], env=env, capture_output=True, text=True,
                           timeout=120, check=True)
    assert "← train" in plain.stdout and not ANSI.search(plain.stdout)

    bad = subprocess.run([*base, "artifacts", "list", "--filter", "display_name ="], env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "^" in bad.stderr and bad.stdout == ""

    probe = (
        "import sys\n"
        "from vertex_track.cli import main\n"
        "sys.argv = ['vertex-track', 'runs', 'list']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('prefect', 'pandas', 'numpy') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    probe_out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                               text=True, timeout=120, check=True)
    assert "HEAVY []" in probe_out.stderr, probe_out.stderr


def test_process_exit_closes_the_sqlite_store(tmp_path: Path) -> None:
    # The command skips the garbage collections of interpreter teardown
    # (gc.freeze) but still closes its connections: SQLite removes the -wal and
    # -shm files when the last connection to the file closes.
    from vertex_track.store.sql.store import dispose_engine

    db = tmp_path / "store" / "metadata.db"
    uri = f"sqlite:///{db}"
    vt.init(store_uri=uri)
    vt.Context.create("system.PipelineRun", resource_id="pipelinerun-x", display_name="lone-run")
    dispose_engine(uri)
    leftovers = [db.with_name(db.name + suffix) for suffix in ("-wal", "-shm")]
    assert not any(p.exists() for p in leftovers)

    env = _env(uri, tmp_path / "home")
    base = [sys.executable, "-m", "vertex_track.cli"]
    out = subprocess.run([*base, "runs", "list", "--json"], env=env, capture_output=True,
                         text=True, timeout=120, check=True)
    assert [r["display_name"] for r in json.loads(out.stdout)] == ["lone-run"]
    assert not any(p.exists() for p in leftovers)
    missing = subprocess.run([*base, "runs", "show", "no-such-run"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "no pipeline run" in missing.stderr
    assert not any(p.exists() for p in leftovers)


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("vertex-track")
    if not script.exists():
        pytest.skip("the vertex-track console script is not installed in this environment")
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("vertex-track ")


# -- over real tracked flows ---------------------------------------------------------


def _tracked_flow() -> Any:
    """A two-step flow with tracked tasks (defined on use: importing Prefect is slow)."""
    from prefect import task

    @vt.track
    @task
    def make_data(n: int) -> vt.Dataset:
        return list(range(n)) * 100

    @vt.track
    @task
    def fit(data: list, lr: float = 0.1) -> vt.Model:
        return {"weights": [x * lr for x in data[:50]]}

    @vt.track
    @task
    def score(model: dict) -> vt.Metrics:
        return {"accuracy": round(0.5 + len(model["weights"]) / 1000, 3)}

    @vt.flow
    def cli_pipeline(n: int = 8, lr: float = 0.1) -> dict:
        return score(fit(make_data(n), lr=lr))

    return cli_pipeline


@pytest.mark.slow
def test_cli_over_tracked_flows(tracked: MetadataStore) -> None:
    from vertex_track.tracking import flush

    pipeline = _tracked_flow()
    pipeline(n=8, lr=0.1)
    pipeline(n=8, lr=0.2)
    flush()

    runs = ok_json("runs", "list")
    assert [r["flow_name"] for r in runs] == ["cli-pipeline", "cli-pipeline"]
    assert [r["parameters"]["lr"] for r in runs] == [0.2, 0.1]  # newest first
    assert all(r["state"] == "COMPLETE" for r in runs)
    newest, oldest = runs[0]["display_name"], runs[1]["display_name"]

    shown = ok_json("runs", "show", runs[0]["flow_run_id"])
    tasks = {e["task"]: e for e in shown["executions"]}
    assert set(tasks) == {"make_data", "fit", "score"}
    assert tasks["fit"]["parameters"] == {"lr": 0.2}
    assert [i["label"] for i in tasks["fit"]["inputs"]] == ["data"]

    # "model" names score's input (the dict fit returned); "Model" is no one's
    # name, so it means the type: the newest system.Model, fit's "weights".
    tree = ok("lineage", "Model")
    assert "newest system.Model" in tree.stderr
    assert "← fit [COMPLETE]" in tree.stdout and "lr=0.2" in tree.stdout
    assert "← make_data [COMPLETE]" in tree.stdout

    d = ok_json("diff", oldest, newest)
    assert {p["name"]: p["same"] for p in d["parameters"]} == {"n": True, "lr": False}
    inputs = {(r["task"], r["label"]): r["same"] for r in d["inputs"]}
    assert inputs[("fit", "data")] is True  # the same data set in both runs
    outputs = {(r["task"], r["label"]): r["same"] for r in d["outputs"]}
    assert outputs[("fit", "weights")] is False
    assert [m["name"] for m in d["metrics"]] == ["accuracy"]
    assert "≠" in ok("diff", oldest, newest).stdout
