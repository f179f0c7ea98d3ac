"""``vt.PipelineRun.summary()`` and ``.diff()`` on runs of real tracked Prefect flows.

The command line renders these objects (``runs show``, ``diff``); here the
library is called directly, and its JSON is checked against the CLI's.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated

import pytest
from prefect import task
from typer.testing import CliRunner

import vertex_track as vt
from vertex_track.cli.app import app
from vertex_track.runs import RunDiff, RunSummary
from vertex_track.store.base import MetadataStore


@vt.track
@task
def load(n: int) -> list[int]:
    return list(range(n))


@vt.track
@task
def fit(data: list[int], lr: float) -> Annotated[dict, vt.Metrics]:
    return {"accuracy": 0.5 + lr, "loss": 1.0 - lr}


@vt.track
@task
def check(x: int) -> int:
    if x > 5:
        raise ValueError(f"too big: {x}")
    return x


@vt.flow
def train(n: int = 3, lr: float = 0.1, strict: bool = False) -> dict:
    data = load(n)
    metrics = fit(data, lr=lr)
    check(1)
    if strict:
        check(n)  # the second run of `check`: fails when n > 5
    return metrics


def _runs() -> list[vt.PipelineRun]:
    return vt.PipelineRun.list(order_by="create_time")


def _cli_json(*args: str) -> object:
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_summary_of_a_completed_run(tracked: MetadataStore) -> None:
    train(n=3, lr=0.1)
    (run,) = _runs()
    s = run.summary()

    assert isinstance(s, RunSummary) and isinstance(s, vt.RunSummary)
    assert (s.name, s.flow_name, s.flow_run_id) == (run.name, "train", run.flow_run_id)
    assert s.state == "COMPLETE" and s.parameters == {"n": 3, "lr": 0.1, "strict": False}
    assert s.start_time and s.end_time and s.end_time >= s.start_time
    assert s.duration_s is not None and s.duration_s >= 0

    assert [t.key for t in s.executions] == ["load", "fit", "check"]  # start order
    assert all(t.state == "COMPLETE" and t.error is None for t in s.executions)
    load_t, fit_t, check_t = s.executions
    assert load_t.parameters == {"n": 3} and fit_t.parameters == {"lr": 0.1}
    (made,) = load_t.outputs
    assert (made.label, made.has_value, made.value) == ("output", True, [0, 1, 2])
    (used,) = fit_t.inputs
    assert used.label == "data" and used.artifact.name == made.artifact.name
    assert sorted(u.label for u in fit_t.outputs) == ["accuracy", "loss"]
    assert {u.artifact.schema_title for u in fit_t.outputs} == {"system.Metrics"}
    assert check_t.outputs[0].value == 1

    metrics = {(m.task, m.label, m.key): m.value for m in s.metrics}
    assert metrics == pytest.approx({("fit", "accuracy", ""): 0.6, ("fit", "loss", ""): 0.9})
    assert {m.name: m.value for m in s.metrics} == pytest.approx({"accuracy": 0.6, "loss": 0.9})
    names = {a.name for a in s.artifacts}
    assert {u.artifact.name for t in s.executions for u in (*t.inputs, *t.outputs)} == names

    offset, duration = s.task_timing(fit_t)
    assert offset is not None and offset >= 0 and duration == fit_t.duration_s
    # The JSON is what `runs show --json` prints, key for key.
    assert json.loads(json.dumps(s.to_dict())) == _cli_json("runs", "show", run.flow_run_id)


def test_summary_is_a_frozen_snapshot(tracked: MetadataStore) -> None:
    train(n=2, lr=0.3)
    s = _runs()[0].summary()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.state = "FAILED"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.executions[0].key = "other"  # type: ignore[misc]


def test_failed_run_and_a_task_run_twice(tracked: MetadataStore) -> None:
    with pytest.raises(ValueError, match="too big: 7"):
        train(n=7, lr=0.1, strict=True)
    s = _runs()[0].summary()
    assert s.state == "FAILED"
    assert [t.key for t in s.executions] == ["load", "fit", "check", "check#2"]
    failed = s.task("check#2")
    assert failed.state == "FAILED" and failed.outputs == ()
    assert (failed.error_type, failed.error_message) == ("ValueError", "too big: 7")
    assert failed.error == "ValueError: too big: 7"
    assert s.task("check").error is None
    with pytest.raises(KeyError, match=r"has no task 'evaluate'; its tasks: load, fit, check"):
        s.task("evaluate")


def test_diff_of_two_runs(tracked: MetadataStore) -> None:
    train(n=3, lr=0.1)
    with pytest.raises(ValueError):
        train(n=7, lr=0.2, strict=True)
    a, b = _runs()
    d = a.diff(b)

    assert isinstance(d, RunDiff) and isinstance(d, vt.RunDiff)
    assert (d.a.name, d.b.name) == (a.name, b.name)
    assert (d.a.state, d.b.state, d.same_state) == ("COMPLETE", "FAILED", False)
    assert d.duration_delta_s == pytest.approx(d.b.duration_s - d.a.duration_s)

    params = {p.name: (p.a, p.b, p.same) for p in d.parameters}
    assert params == {"n": (3, 7, False), "lr": (0.1, 0.2, False), "strict": (False, True, False)}
    tasks = {t.task: t for t in d.tasks}
    assert list(tasks) == ["load", "fit", "check", "check#2"]
    assert tasks["load"].same and tasks["check"].same
    assert tasks["check#2"].a is None and tasks["check#2"].b is not None
    assert not tasks["check#2"].same
    task_params = {(p.task, p.name): (p.a, p.b, p.same) for p in d.task_parameters}
    assert task_params[("check", "x")] == (1, 1, True)
    assert task_params[("check#2", "x")] == (None, 7, False)
    # Inputs and outputs are compared by content.
    inputs = {(r.task, r.label): r.same for r in d.inputs}
    assert inputs == {("fit", "data"): False}
    outputs = {(r.task, r.label): r.same for r in d.outputs}
    assert outputs[("check", "output")] is True and outputs[("load", "output")] is False
    metrics = {m.name: m for m in d.metrics}
    assert set(metrics) == {"accuracy", "loss"}
    assert metrics["accuracy"].delta == pytest.approx(0.1)
    assert metrics["loss"].delta == pytest.approx(-0.1) and not metrics["loss"].same

    # The JSON is what `diff --json` prints.
    assert json.loads(json.dumps(d.to_dict())) == _cli_json("diff", a.flow_run_id, b.flow_run_id)


def test_a_run_against_itself_has_no_changes(tracked: MetadataStore) -> None:
    train(n=4, lr=0.25)
    (run,) = _runs()
    d = run.diff(vt.PipelineRun.get(run.flow_run_id))
    rows = [*d.parameters, *d.tasks, *d.task_parameters, *d.inputs, *d.outputs, *d.metrics]
    assert rows and all(r.same for r in rows)
    assert d.same_state and d.duration_delta_s == 0
    assert all(m.delta == 0 for m in d.metrics)


def test_diff_refuses_what_is_not_a_pipeline_run(tracked: MetadataStore) -> None:
    train(n=2, lr=0.1)
    (run,) = _runs()
    with pytest.raises(TypeError, match=r"compares two pipeline runs, got str; "
                                        r"pass vt.PipelineRun.get\("):
        run.diff(run.flow_run_id)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got Context"):
        run.diff(run.context)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"b must be a RunSummary .* not PipelineRun"):
        RunDiff.between(run.summary(), run)  # type: ignore[arg-type]
