"""Compare scikit-learn models in one experiment: params, metrics, curves, models.

Trains a logistic regression with three values of ``C`` and an SGD classifier
epoch by epoch on the breast cancer data set, one experiment run each, and
logs what Vertex AI Experiments would: parameters, summary metrics, a time
series (SGD's loss and accuracy per epoch), classification metrics (the
confusion matrix and the ROC curve) and the model with an input example.
Then it prints the runs side by side with ``vt.get_experiment_df``.

Run: ``python examples/experiments.py`` (writes to the default store,
``~/.vertex_track`` unless ``VERTEX_TRACK_HOME`` or ``VERTEX_TRACK_STORE_URI``
say otherwise; each invocation is a new experiment).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    roc_auc_score,
    roc_curve,
)
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import vertex_track as vt
from vertex_track.config import get_settings


def evaluate(model: Any, X_test: np.ndarray, y_test: np.ndarray, labels: list[str]) -> None:
    """Log summary metrics, the confusion matrix and the ROC curve of the current run."""
    proba = model.predict_proba(X_test)[:, 1]
    predicted = (proba >= 0.5).astype(int)
    vt.log_metrics({
        "accuracy": accuracy_score(y_test, predicted),
        "f1": f1_score(y_test, predicted),
        "roc_auc": roc_auc_score(y_test, proba),
    })
    fpr, tpr, thresholds = roc_curve(y_test, proba)
    vt.log_classification_metrics(
        labels=labels,
        matrix=confusion_matrix(y_test, predicted).tolist(),
        fpr=fpr,
        tpr=tpr,
        threshold=thresholds,  # the first one is +inf: stored as "Infinity"
        display_name="test-set",
    )


def main() -> None:
    experiment = f"breast-cancer-{time.strftime('%Y%m%d-%H%M%S')}"
    vt.init(experiment=experiment)
    data = load_breast_cancer()
    labels = [str(name) for name in data.target_names]
    X_train, X_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.25, random_state=0, stratify=data.target
    )

    for c in (0.01, 0.1, 1.0):
        with vt.start_run(f"logreg-c{c:g}".replace(".", "-")):
            vt.log_params({"model": "LogisticRegression", "C": c, "max_iter": 1000})
            model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000))
            model.fit(X_train, y_train)
            evaluate(model, X_test, y_test, labels)
            vt.log_model(model, input_example=X_test[:3])

    epochs = 30
    with vt.start_run("sgd-log-loss") as run:
        vt.log_params({"model": "SGDClassifier", "loss": "log_loss", "alpha": 1e-4, "epochs": epochs})
        scaler = StandardScaler().fit(X_train)
        train, test = scaler.transform(X_train), scaler.transform(X_test)
        sgd = SGDClassifier(loss="log_loss", alpha=1e-4, random_state=0)
        for epoch in range(epochs):
            sgd.partial_fit(train, y_train, classes=np.unique(y_train))
            vt.log_time_series_metrics(
                {
                    "train_loss": log_loss(y_train, sgd.predict_proba(train)),
                    "test_accuracy": accuracy_score(y_test, sgd.predict(test)),
                },
                step=epoch,
            )
        model = make_pipeline(scaler, sgd)
        evaluate(model, X_test, y_test, labels)
        vt.log_model(model, input_example=X_test[:3])

    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    print(f"SGD per-epoch curve (first rows of {run.name}'s time series):")
    print(run.get_time_series_data_frame().drop(columns="wall_time").head().to_string(index=False))
    roc = run.get_classification_metrics()[0]
    print(f"\nROC curve of {run.name}: {len(roc['fpr'])} points; confusion matrix {roc['matrix']}")

    df = vt.get_experiment_df(experiment)
    shown = ["run_name", "state", "param.C", "param.model", "metric.accuracy", "metric.f1",
             "metric.roc_auc", "time_series_metric.train_loss"]
    print(f"\nvt.get_experiment_df({experiment!r}):")
    print(df[shown].to_string(index=False))
    best = df.sort_values("metric.roc_auc", ascending=False).iloc[0]
    print(f"\nbest run by ROC AUC: {best['run_name']} ({best['metric.roc_auc']:.4f})")
    model = vt.ExperimentRun(best["run_name"], experiment=experiment).get_experiment_models()[0]
    print(f"its model: {model.resource_name}\n  {model.get_model_info()['model_class']} "
          f"-> predicts {model.load_model().predict(X_test[:5]).tolist()} for 5 test rows")
    print(f"\nstore: {get_settings().store_uri}")


if __name__ == "__main__":
    main()
