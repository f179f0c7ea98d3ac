"""The examples `make demo` runs work on a fresh home, and say what they should."""

from __future__ import annotations

import pytest
from conftest import DemoStore

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
