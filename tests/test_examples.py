"""The examples `make demo` runs work on a fresh home, and say what they should."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_example(name: str, home: Path, prefect_home: Path, *args: str) -> str:
    env = {
        **os.environ,
        "VERTEX_TRACK_HOME": str(home),
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    out = home.parent / f"{name}.out"
    with out.open("w") as stdout:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "examples" / name), *args], stdout=stdout,
            stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True,
        )
        try:
            code = proc.wait(timeout=400)
        finally:  # Prefect's temporary server is a child of the example
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    text = out.read_text()
    assert code == 0, text[-3000:]
    return text


@pytest.mark.slow
def test_quickstart_prints_the_model_lineage_down_to_the_raw_data(tmp_path: Path) -> None:
    text = run_example("quickstart.py", tmp_path / "home", tmp_path / "prefect")
    assert "flow run with C=1.0: {'accuracy':" in text
    lineage = text.split("Lineage of the model", 1)[1]
    for step in ("train [COMPLETE]", "split [COMPLETE]", "load_data [COMPLETE]"):
        assert step in lineage
    assert "system.Model" in lineage and "system.Dataset" in lineage
    assert (tmp_path / "home" / "metadata.db").exists()


@pytest.mark.slow
def test_experiments_example_prints_the_experiment_dataframe(tmp_path: Path) -> None:
    text = run_example("experiments.py", tmp_path / "home", tmp_path / "prefect")
    assert "param." in text and "metric." in text


@pytest.mark.slow
def test_tuning_example_prints_the_lineage_and_the_trials(tmp_path: Path) -> None:
    pytest.importorskip("hypertune")
    pytest.importorskip("optuna")
    text = run_example("tuning.py", tmp_path / "home", tmp_path / "prefect", "--trials", "2")
    assert "breast-cancer-tuning: PIPELINE_STATE_SUCCEEDED" in text
    lineage = text.split("Lineage of the model", 1)[1]
    assert "trial-" in lineage and "-> training, validation, test" in lineage
    assert "split-dataset [COMPLETE]: breast-cancer -> training, validation, test" in lineage
    trials = text.split("vt.get_experiment_df('breast-cancer-tuning')", 1)[1]
    assert "param.C" in trials and "metric.accuracy" in trials
    assert len([ln for ln in trials.splitlines() if ln.startswith("trial-")]) == 2
