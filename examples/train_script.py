"""Training code written for Vertex AI custom training, unchanged: scikit-learn on breast cancer data.

It does what Vertex AI training code does ("Prepare training code" in the
Vertex AI docs):

- reads the training and validation sets from ``AIP_TRAINING_DATA_URI`` and
  ``AIP_VALIDATION_DATA_URI`` (CSV files here: ``AIP_DATA_FORMAT`` is ``csv``);
- takes its hyperparameters as ``--C=0.5 --max_iter=200`` arguments, the way
  a hyperparameter tuning job passes them;
- saves the model as ``model.joblib`` in ``AIP_MODEL_DIR``;
- reports the validation accuracy with the ``cloudml-hypertune`` package.

``examples/tuning.py`` runs it as a 12-trial hyperparameter tuning job.
"""

from __future__ import annotations

import argparse
import os

import hypertune
import joblib
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--max_iter", type=int, default=100)
    parser.add_argument("--solver", default="lbfgs")
    args = parser.parse_args()

    train = pd.read_csv(os.environ["AIP_TRAINING_DATA_URI"])
    valid = pd.read_csv(os.environ["AIP_VALIDATION_DATA_URI"])
    model = make_pipeline(
        StandardScaler(), LogisticRegression(C=args.C, max_iter=args.max_iter, solver=args.solver)
    )
    model.fit(train.drop(columns="target"), train["target"])
    accuracy = model.score(valid.drop(columns="target"), valid["target"])
    print(f"C={args.C:.4g} max_iter={args.max_iter} solver={args.solver}: "
          f"validation accuracy {accuracy:.4f}")

    model_dir = os.environ["AIP_MODEL_DIR"]
    os.makedirs(model_dir, exist_ok=True)
    joblib.dump(model, os.path.join(model_dir, "model.joblib"))
    hypertune.HyperTune().report_hyperparameter_tuning_metric(
        hyperparameter_metric_tag="accuracy", metric_value=accuracy, global_step=args.max_iter,
    )


if __name__ == "__main__":
    main()
