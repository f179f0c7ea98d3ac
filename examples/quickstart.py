"""Quickstart: a small scikit-learn pipeline as a tracked Prefect flow.

Runs the flow twice (two regularisation strengths) on the default store
(an SQLite file under ~/.vertex_track), then prints the lineage of the
trained model back to the raw data set.

    python examples/quickstart.py
"""

from __future__ import annotations

import os

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
# A cold start of Prefect's temporary API server can pass its 20 s default on a busy 2-core box.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

import vertex_track as vt


@vt.task
def load_data() -> vt.Dataset:
    """The raw data set: scikit-learn's bundled breast cancer data."""
    frame = load_breast_cancer(as_frame=True).frame
    return frame


@vt.task
def split(data: pd.DataFrame, test_fraction: float = 0.25, seed: int = 0) -> tuple[vt.Dataset, vt.Dataset]:
    train, test = train_test_split(
        data, test_size=test_fraction, random_state=seed, stratify=data["target"]
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


@vt.task
def train(train_set: pd.DataFrame, C: float = 1.0, max_iter: int = 1000) -> vt.Model:
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    model.fit(train_set.drop(columns="target"), train_set["target"])
    return model


@vt.task
def evaluate(model: Pipeline, test_set: pd.DataFrame) -> vt.Metrics:
    features, target = test_set.drop(columns="target"), test_set["target"]
    predicted = model.predict(features)
    return {
        "accuracy": round(float(accuracy_score(target, predicted)), 4),
        "f1": round(float(f1_score(target, predicted)), 4),
        "roc_auc": round(float(roc_auc_score(target, model.predict_proba(features)[:, 1])), 4),
    }


@vt.flow(name="breast-cancer-classifier")
def quickstart(C: float = 1.0) -> dict:
    data = load_data()
    train_set, test_set = split(data, test_fraction=0.25)
    model = train(train_set, C=C)
    return evaluate(model, test_set)


def main() -> None:
    for C in (1.0, 0.05):
        metrics = quickstart(C=C)
        print(f"flow run with C={C}: {metrics}")

    run = vt.PipelineRun.list()[-1]
    trained = next(
        e for e in run.get_executions() if e.metadata["vertex_track"]["task_name"] == "train"
    )
    (model,) = trained.get_output_artifacts()
    print(f"\nLineage of the model {model.resource_id} (upstream, back to the raw data):\n")
    from vertex_track.cli.app import app as cli

    cli(
        args=["lineage", model.name, "--direction", "up", "--format", "tree"],
        prog_name="vertex-track", standalone_mode=False,
    )
    older = vt.PipelineRun.list()[-2].display_name
    print(
        "\nStore: " + vt.init().store_uri
        + "\nTry (with .venv/bin on your PATH):"
        + "\n  vertex-track runs list"
        + "\n  vertex-track lineage model            # this model's lineage again"
        + f"\n  vertex-track lineage {run.display_name}   # the whole run, each task once"
        + f"\n  vertex-track diff {older} {run.display_name}"
    )


if __name__ == "__main__":
    main()
