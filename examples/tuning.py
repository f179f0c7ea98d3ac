"""Hyperparameter tuning: a Vertex AI training pipeline request, run locally and tracked.

1. Writes scikit-learn's breast cancer data to a CSV file and registers it as
   a ``system.Dataset`` Artifact (``inputDataConfig.datasetId`` names it).
2. Runs the JSON body of ``trainingPipelines.create`` as Vertex AI's page
   "Create training pipelines" writes it: a hyperparameter tuning job of 12
   trials (2 at a time, Bayesian search) of ``examples/train_script.py``,
   which reports its validation accuracy with ``cloudml-hypertune``.
3. Prints the registered model's lineage (best trial -> split data sets ->
   split -> raw data) and the trials side by side (``vt.get_experiment_df``).

    python examples/tuning.py [--trials 12]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
# The trials' output goes to Prefect's logs (its API); keep the console for the results.
os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_FLOW_RUNS_LEVEL", "WARNING")

import pandas as pd
from sklearn.datasets import load_breast_cancer

import vertex_track as vt

HERE = Path(__file__).resolve().parent


def register_data(folder: Path) -> vt.Artifact:
    path = folder / "breast_cancer.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(path, index=False)
    return vt.Artifact.create(
        "system.Dataset", uri=str(path), display_name="breast-cancer",
        metadata={"rows": 569, "source": "sklearn.datasets.load_breast_cancer"},
    )


def request(dataset: vt.Artifact, out: Path, trials: int) -> dict:
    return {
        "displayName": "breast-cancer-tuning",
        "inputDataConfig": {
            "datasetId": dataset.resource_id,
            "fractionSplit": {"trainingFraction": 0.7, "validationFraction": 0.15,
                              "testFraction": 0.15},
            "gcsDestination": {"outputUriPrefix": str(out / "splits")},
        },
        "trainingTaskDefinition": "gs://google-cloud-aiplatform/schema/trainingjob/"
                                  "definition/hyperparameter_tuning_task_1.0.0.yaml",
        "trainingTaskInputs": {
            "studySpec": {
                "metrics": [{"metricId": "accuracy", "goal": "MAXIMIZE"}],
                "parameters": [
                    {"parameterId": "C", "scaleType": "UNIT_LOG_SCALE",
                     "doubleValueSpec": {"minValue": 0.001, "maxValue": 10.0}},
                    {"parameterId": "max_iter", "discreteValueSpec": {"values": [50, 100, 200]}},
                    {"parameterId": "solver",
                     "categoricalValueSpec": {"values": ["lbfgs", "liblinear"]}},
                ],
                "algorithm": "ALGORITHM_UNSPECIFIED",
            },
            "maxTrialCount": trials,
            "parallelTrialCount": 2,
            "maxFailedTrialCount": 2,
            "trialJobSpec": {
                "workerPoolSpecs": [{
                    "machineSpec": {"machineType": "n1-standard-4"},
                    "replicaCount": 1,
                    "containerSpec": {
                        "imageUri": "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-0:latest",
                        "command": ["python", str(HERE / "train_script.py")],
                    },
                }],
                "baseOutputDirectory": {"outputUriPrefix": str(out / "output")},
                "scheduling": {"timeout": "600s"},
            },
        },
        "modelToUpload": {
            "displayName": "breast-cancer-model",
            "description": "logistic regression, best of the tuning trials",
            "labels": {"team": "ml"},
            "containerSpec": {
                "imageUri": "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-0:latest"},
        },
        "labels": {"example": "tuning"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12, help="maxTrialCount (default 12)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="vt-tuning-example-"))
    dataset = register_data(work)
    result = vt.pipelines.run_training_pipeline(request(dataset, work, args.trials))
    print(f"\n{result.display_name}: {result.state}")
    if result.error:
        raise SystemExit(result.error)
    best = result.best_trial
    assert best is not None and result.model is not None
    print(f"best trial {best.id}: accuracy {best.final_measurement['accuracy']:.4f} "
          f"with {best.parameters}")
    print(f"model {result.model.display_name}: {result.model.uri}")

    print("\nLineage of the model (upstream):")
    graph = vt.lineage(result.model, direction="upstream")
    by_name = {e.name: e for e in graph.executions}
    for execution in sorted(by_name.values(), key=lambda e: e.create_time, reverse=True):
        inputs = ", ".join(a.display_name for a in execution.get_input_artifacts())
        outputs = ", ".join(a.display_name for a in execution.get_output_artifacts())
        print(f"  {execution.display_name} [{execution.state.value}]: {inputs} -> {outputs}")

    print(f"\nTrials (vt.get_experiment_df({result.experiment!r})):")
    frame = vt.get_experiment_df(result.experiment)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(frame.drop(columns=["experiment_name", "run_type"]).to_string(index=False))


if __name__ == "__main__":
    main()
