"""The examples `make demo` runs work on a fresh home, and say what they should."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DemoStore, _run_example, demo_env

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("demo_store")]


def test_quickstart_prints_the_model_lineage_down_to_the_raw_data(demo_store: DemoStore) -> None:
    text = demo_store.outputs["quickstart.py"]
    assert "flow run with C=1.0: {'accuracy':" in text
    lineage = text.split("Lineage of the model", 1)[1]
    for step in ("train [COMPLETE]", "split [COMPLETE]", "load_data [COMPLETE]"):
        assert step in lineage
    assert "system.Model" in lineage and "system.Dataset" in lineage
    assert (demo_store.home / "metadata.db").exists()


def test_experiments_example_prints_the_experiment_dataframe(demo_store: DemoStore) -> None:
    text = demo_store.outputs["experiments.py"]
    assert "param." in text and "metric." in text


def test_tuning_example_registers_the_best_trials_model_with_lineage(tmp_path: Path) -> None:
    pytest.importorskip("hypertune")
    pytest.importorskip("optuna")
    log = tmp_path / "tuning.log"
    _run_example("tuning.py", demo_env(tmp_path), log, "--trials", "2")
    text = log.read_text()
    assert "breast-cancer-tuning: PIPELINE_STATE_SUCCEEDED" in text
    lineage = text.split("Lineage of the model", 1)[1]
    assert "trial-" in lineage and "-> training, validation, test" in lineage
    assert "split-dataset [COMPLETE]: breast-cancer -> training, validation, test" in lineage
    trials = text.split("vt.get_experiment_df('breast-cancer-tuning')", 1)[1]
    assert "param.C" in trials and "metric.accuracy" in trials
    assert len([ln for ln in trials.splitlines() if ln.startswith("trial-")]) == 2
