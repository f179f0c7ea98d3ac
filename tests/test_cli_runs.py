"""The command line on whole runs: a run's lineage, the run of each record, errors that help.

Uses the two-run layout of ``test_cli`` (``crimson-fox`` and ``lucky-owl``: the
same raw data and splits by content, different models), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from test_cli import Demo, cli, demo, ok, ok_json, tsv

import vertex_track as vt

__all__ = ["demo"]  # the fixture, imported for pytest


def _ids(graph: dict[str, Any], kind: str) -> set[str]:
    return {r["resource_id"] for r in graph[kind]}


def _run_execution_ids(run: vt.Context) -> set[str]:
    return {e.resource_id for e in run.get_executions()}


# -- lineage of a whole run ------------------------------------------------------------


def test_lineage_of_a_run_draws_its_dag_each_node_once(demo: Demo) -> None:
    text = ok("lineage", "crimson-fox").stdout
    lines = text.splitlines()
    assert lines[0].startswith("Pipeline run crimson-fox  (training, COMPLETE")
    tasks = [ln.split("── ", 1)[1].split(" [")[0] for ln in lines if ln.startswith(("├", "└"))]
    assert tasks == ["load", "split", "train", "evaluate"]  # each task once, in start order
    # Each artifact is described in full once; later uses name the task that made it.
    assert sum("(system.Dataset, sha256-" in ln and "raw" in ln for ln in lines) == 1
    assert "← data: Dataset raw  (from load)" in text
    assert "← model: Model model  (from train)" in text
    # Only this run's executions, although the data set is shared with lucky-owl.
    graph = ok_json("lineage", "crimson-fox")
    assert _ids(graph, "executions") == _run_execution_ids(demo.run_a)
    assert len(graph["artifacts"]) == 5


def test_lineage_of_a_run_by_flow_run_id_and_as_mermaid(demo: Demo) -> None:
    mermaid = ok("lineage", demo.flow_run_a, "--format", "mermaid").stdout
    assert mermaid.startswith(("graph", "flowchart"))
    assert mermaid.count("evaluate") == 1


def test_lineage_run_option_scopes_a_shared_artifact_to_one_run(demo: Demo) -> None:
    raw = ok_json("artifacts", "list", "--filter", 'display_name = "raw"')[0]["resource_id"]
    everywhere = ok_json("lineage", raw, "--direction", "down")
    scoped = json.loads(ok("lineage", raw, "--direction", "down", "--run", "lucky-owl",
                           "--format", "json").stdout)
    assert _ids(everywhere, "executions") > _ids(scoped, "executions")
    assert _ids(scoped, "executions") == _run_execution_ids(demo.run_b) - {
        e.resource_id for e in demo.run_b.get_executions() if "load" in e.display_name}
    text = ok("lineage", raw, "-d", "down", "--run", "lucky-owl").stdout
    assert text.count("→ split") == 1  # one split: lucky-owl's


def test_lineage_run_option_rejects_an_artifact_outside_the_run(demo: Demo) -> None:
    model_a = vt.Artifact.list('display_name = "model"', order_by="create_time")[0]
    result = cli("lineage", model_a.resource_id, "--run", "lucky-owl")
    assert result.exit_code == 2
    assert "is not in context" in result.stderr and "lucky-owl" not in result.stdout


def test_library_lineage_scoped_to_a_context_and_pipeline_run_lineage(demo: Demo) -> None:
    raw = vt.Artifact.list('display_name = "raw"')[0]
    scoped = vt.lineage(raw, direction="downstream", context=demo.run_a)
    assert {e.name for e in scoped.executions} <= {e.name for e in demo.run_a.get_executions()}
    assert {e.metadata["vertex_track"]["task_name"] for e in scoped.executions} == {
        "split", "train", "evaluate"}
    one_hop = vt.lineage(raw, direction="downstream", max_hops=1, context=demo.run_a.name)
    assert [e.metadata["vertex_track"]["task_name"] for e in one_hop.executions] == ["split"]
    whole = vt.PipelineRun.get(demo.run_a.resource_id).get_lineage()
    assert {e.name for e in whole.executions} == {e.name for e in demo.run_a.get_executions()}


def test_unknown_lineage_name_suggests_runs_too(demo: Demo) -> None:
    result = cli("lineage", "crimson-fx")
    assert result.exit_code == 1
    assert "did you mean 'crimson-fox'" in result.stderr


# -- the run of each record -------------------------------------------------------------


def test_lists_show_the_run_of_each_record(demo: Demo) -> None:
    executions = tsv(ok("executions", "list", "--limit", "0").stdout)
    assert {r["RUN"] for r in executions} == {"crimson-fox", "lucky-owl"}
    assert all(r["RUN"] in r["DISPLAY_NAME"] for r in executions)  # "train-crimson-fox"
    artifacts = {r["DISPLAY_NAME"]: r["RUN"] for r in tsv(ok("artifacts", "list").stdout)}
    assert artifacts["raw"] == "lucky-owl +1"  # same content in both runs: newest, +1
    data = ok_json("artifacts", "list", "--filter", 'display_name = "raw"')
    assert data[0]["pipeline_runs"] == [demo.run_a.name, demo.run_b.name]


def test_contexts_of_answers_for_a_whole_list(demo: Demo) -> None:
    from vertex_track.lineage import contexts_of

    executions = vt.Execution.list()
    found = contexts_of(executions, "system.PipelineRun")
    assert {len(v) for v in found.values()} == {1}
    assert {v[0].name for v in found.values()} == {demo.run_a.name, demo.run_b.name}
    by_hand = vt.Artifact.create("system.Model", display_name="lonely")
    assert contexts_of([by_hand]) == {by_hand.name: []}


# -- the model README's first command shows -----------------------------------------


def test_lineage_model_prefers_a_model_with_lineage(demo: Demo) -> None:
    newest_orphan = vt.Artifact.create("system.Model", display_name="sklearn-model")
    result = ok("lineage", "Model")  # a type: no artifact has that display name
    assert "← train" in result.stdout
    assert newest_orphan.resource_id not in result.stdout
    assert "produced by a task" in result.stderr
    assert "vertex-track artifacts list --filter" in result.stderr  # how to choose another


# -- errors instead of empty answers ------------------------------------------------------


def test_runs_list_unknown_state_exits_2_with_the_valid_states(demo: Demo) -> None:
    result = cli("runs", "list", "--state", "DONE")
    assert result.exit_code == 2
    assert "'DONE' is not a run state; use one of RUNNING, COMPLETE, FAILED, CANCELLED" in (
        result.stderr)
    assert tsv(ok("runs", "list", "--state", "complete").stdout)  # any case


def test_runs_list_unknown_flow_suggests_close_names(demo: Demo) -> None:
    result = cli("runs", "list", "--flow", "train")
    assert result.exit_code == 1
    assert "no flow named 'train'; did you mean 'training'?" in result.stderr
    nothing_close = cli("runs", "list", "--flow", "zzz")
    assert nothing_close.exit_code == 1
    assert "flows with runs: training" in nothing_close.stderr


def test_order_by_unknown_field_names_the_sortable_ones(demo: Demo) -> None:
    result = cli("runs", "list", "--order-by", "bogus")
    assert result.exit_code == 2
    assert "--order-by: 'bogus' is not a field pipeline runs can be sorted by" in result.stderr
    assert "display_name" in result.stderr and "create_time" in result.stderr
    typo = cli("artifacts", "list", "--order-by", "create_tim desc")
    assert typo.exit_code == 2
    assert "did you mean 'create_time'?" in typo.stderr
    assert "uri" in typo.stderr  # artifacts sort by uri too


def test_in_context_takes_the_run_name_the_cli_shows(demo: Demo) -> None:
    by_name = ok_json("executions", "list", "--filter", 'in_context("crimson-fox")')
    assert {e["resource_id"] for e in by_name} == _run_execution_ids(demo.run_a)
    by_full = ok_json("executions", "list", "--filter", f'in_context("{demo.run_a.name}")')
    assert by_full == by_name


# -- narrow terminals: columns are left out, never squashed ---------------------------------

ESC = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]|\r")


def _screen(*args: str, width: int) -> tuple[list[str], str]:
    result = cli(*args, env={"FORCE_COLOR": "1", "NO_COLOR": "1", "COLUMNS": str(width)})
    assert result.exit_code == 0, result.stderr
    lines = [ESC.sub("", ln).rstrip() for ln in result.stdout.splitlines()]
    return lines, result.stderr


def _experiment(runs: int = 4) -> None:
    vt.init(experiment="breast-cancer-20261205-011750")
    for i in range(runs):
        with vt.start_run(f"logreg-c{i}"):
            vt.log_params({"model": "LogisticRegression", "C": 10.0 ** -i, "max_iter": 1000,
                           "penalty": "l2", "solver": "lbfgs"})
            vt.log_metrics({"accuracy": 0.9 + i / 100, "f1": 0.8 - i / 100,
                            "roc_auc": 0.95 + i / 1000})


@pytest.mark.parametrize("width", [80, 100])
def test_experiments_show_fits_the_terminal_by_leaving_out_columns(
    store: Any, width: int
) -> None:
    _experiment()
    lines, err = _screen("experiments", "show", "breast-cancer-20261205-011750", width=width)
    assert all(len(ln) <= width for ln in lines)
    assert "…" not in "\n".join(lines)  # nothing cut: run names and numbers in full
    assert {"logreg-c0", "logreg-c1", "logreg-c2", "logreg-c3"} <= {
        ln.split()[0] for ln in lines[3:] if ln.strip()}
    assert "metric.accuracy" in lines[1]  # metrics are kept longest
    assert "left out to fit" in err and "param.solver" in err


def test_contexts_list_at_80_columns_shows_schemas_whole_or_not_at_all(demo: Demo) -> None:
    vt.Context.create("system.ExperimentRun", display_name="an-experiment-run")
    vt.Context.create("system.Experiment", display_name="an-experiment")
    for width in (80, 100):
        lines, _ = _screen("contexts", "list", width=width)
        assert all(len(ln) <= width for ln in lines)
        text = "\n".join(lines)
        assert "system.Experime…" not in text and "system.Pipel…" not in text
        if "SCHEMA" in lines[0]:
            assert "system.ExperimentRun" in text and "system.PipelineRun" in text


def test_experiments_show_sort_by_a_metric(store: Any) -> None:
    _experiment()
    runs = ok_json("experiments", "show", "breast-cancer-20261205-011750", "--sort",
                   "metric.accuracy", "--desc")["runs"]
    assert [r["run"] for r in runs] == ["logreg-c3", "logreg-c2", "logreg-c1", "logreg-c0"]
    rows = tsv(ok("experiments", "show", "breast-cancer-20261205-011750",
                  "--sort", "param.C").stdout)
    assert [r["RUN"] for r in rows] == ["logreg-c3", "logreg-c2", "logreg-c1", "logreg-c0"]
    bad = cli("experiments", "show", "breast-cancer-20261205-011750", "--sort", "metric.acc")
    assert bad.exit_code == 2
    assert "no column 'metric.acc'; did you mean 'metric.accuracy'?" in bad.stderr


# -- deleting a run -------------------------------------------------------------------------


def test_runs_delete_dry_run_then_force(demo: Demo) -> None:
    before = {a.resource_id for a in vt.Artifact.list()}
    dry = ok_json("runs", "delete", "crimson-fox")
    assert dry["dry_run"] is True and dry["deleted"] is False
    assert dry["execution_count"] == 4
    # crimson-fox's own model and metrics go; raw/train/test are lucky-owl's too.
    assert dry["artifact_count"] == 2 and dry["kept_artifact_count"] == 3
    assert {a.resource_id for a in vt.Artifact.list()} == before  # a dry run deletes nothing

    refused = cli("runs", "delete", "crimson-fox", "--force")
    assert refused.exit_code == 2 and "add --yes" in refused.stderr

    done = ok("runs", "delete", "crimson-fox", "--force", "--yes")
    assert "Deleted pipeline run crimson-fox: 4 execution(s), 2 artifact(s)" in done.stderr
    assert [r["display_name"] for r in ok_json("runs", "list")] == ["lucky-owl"]
    remaining = vt.Execution.list()
    assert len(remaining) == 4
    assert all(e.name in {x.name for x in demo.run_b.get_executions()} for e in remaining)
    # No orphan events: the shared data set's lineage shows lucky-owl's tasks only.
    raw = vt.Artifact.list('display_name = "raw"')[0]
    down = vt.lineage(raw, direction="downstream")
    assert {e.name for e in down.executions} <= {x.name for x in demo.run_b.get_executions()}
    assert len(vt.Artifact.list()) == len(before) - 2
    gone = cli("runs", "show", "crimson-fox")
    assert gone.exit_code == 1


def test_pipeline_run_delete_keeps_artifacts_another_context_holds(demo: Demo) -> None:
    model_a = next(a for a in demo.run_a.get_artifacts() if a.schema_title == "system.Model")
    experiment_run = vt.Context.create("system.ExperimentRun", display_name="keeps-the-model")
    experiment_run.add_artifacts_and_executions(artifact_resource_names=[model_a.name])
    result = vt.PipelineRun.get(demo.flow_run_a).delete(force=True)
    assert result.deleted and model_a.name in result.kept_artifacts
    assert vt.Artifact.get(model_a.resource_id).name == model_a.name
    with pytest.raises(vt.NotFoundError, match="does not exist"):
        vt.Context.get(demo.run_a.resource_id)


# -- watching a run while it runs -------------------------------------------------------------

release = threading.Event()


@vt.task
def quick(n: int) -> int:
    return n + 1


@vt.task
def gated(n: int) -> int:
    assert release.wait(120), "the test never released the gated task"
    return n * 2


@vt.flow
def watched(n: int = 1) -> int:
    return quick(gated(quick(n)))


def _wait_for(predicate: Any, what: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_runs_show_watch_follows_a_flow_until_it_ends(tracked: Any, tmp_path: Path) -> None:
    from vertex_track.config import get_settings

    release.clear()
    runner_thread = threading.Thread(target=watched, kwargs={"n": 1}, daemon=True)
    runner_thread.start()
    run = _wait_for(lambda: vt.PipelineRun.list(), "the run's context")[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VERTEX_TRACK_", "FORCE_"))}
    env.update(VERTEX_TRACK_STORE_URI=get_settings().store_uri,
               VERTEX_TRACK_HOME=str(tmp_path / "home"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "vertex_track.cli", "runs", "show", run.display_name, "--watch",
         "--interval", "0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert proc.stdout is not None
        seen: list[list[str]] = []
        for raw in proc.stdout:
            fields = raw.rstrip("\n").split("\t")
            seen.append(fields)
            if fields[1:3] == ["gated", "RUNNING"]:
                release.set()  # the watcher saw it running: let it finish
            if raw.startswith("# run "):
                break
        rest = proc.stdout.read()  # the same buffered reader: nothing is skipped
        proc.wait(120)
        assert proc.stderr is not None
        err = proc.stderr.read()
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
        runner_thread.join(120)
    assert proc.returncode == 0, err
    changes = [(f[1], f[2].split()[0]) for f in seen if len(f) >= 3]
    assert changes.index(("gated", "RUNNING")) < changes.index(("gated", "COMPLETE"))
    assert ("quick", "COMPLETE") in changes and ("quick#2", "COMPLETE") in changes
    assert all(f[0].startswith("+") for f in seen if len(f) >= 3)  # offsets from the run start
    assert seen[-1][0].startswith("# run COMPLETE in ")
    assert "# Tasks (3)" in rest  # then the full view of the finished run


def test_runs_show_watch_on_a_finished_run_returns_at_once(demo: Demo) -> None:
    result = ok("runs", "show", "crimson-fox", "--watch")
    lines = result.stdout.splitlines()
    assert lines[0].split("\t")[1:] == ["load", "COMPLETE  1.00s"]
    assert "# run COMPLETE in 12.0s" in lines
    live, _ = _screen("runs", "show", "crimson-fox", "--watch", width=80)
    assert any(ln.startswith("Pipeline run crimson-fox  COMPLETE  12.0s") for ln in live)
    assert any(ln.split()[:4] == ["evaluate", "COMPLETE", "+1.00s", "1.00s"] for ln in live)


def test_runs_delete_refuses_a_running_run_unless_told(store: Any) -> None:
    ctx = vt.Context.create("system.PipelineRun", resource_id="pipelinerun-live",
                            display_name="still-going", metadata={"state": "RUNNING"})
    with vt.start_execution(schema_title="system.ContainerExecution") as e:
        ctx.add_artifacts_and_executions(execution_resource_names=[e.name])
    refused = cli("runs", "delete", "still-going", "--force", "--yes")
    assert refused.exit_code == 2
    assert "'still-going' is still RUNNING" in refused.stderr and "--running" in refused.stderr
    assert vt.Context.get("pipelinerun-live")  # nothing deleted
    ok("runs", "delete", "still-going", "--force", "--yes", "--running")
    assert vt.Execution.list() == []
