"""A Vertex AI hyperparameter tuning pipeline request, run as a tracked Prefect flow.

The request's ``trainingTaskDefinition`` must be
``.../hyperparameter_tuning_task_1.0.0.yaml``::

    python flows/hyperparameter_tuning.py request.json

Each trial is a Prefect task run, a tracked Execution and a run of the
Experiment named after the pipeline; the best trial's model is registered.
Prefect deployments: ``prefect deploy flows/hyperparameter_tuning.py:hyperparameter_tuning``.
"""

from __future__ import annotations

import sys
from typing import Any

import vertex_track as vt


@vt.flow(name="hyperparameter-tuning", validate_parameters=False, persist_result=False)
def hyperparameter_tuning(request: dict[str, Any]) -> dict[str, Any]:
    """Run the trials of ``request``'s study and register the best trial's model."""
    parsed = vt.pipelines.parse_request(request)
    if parsed.kind != "hyperparameter_tuning":
        raise vt.InvalidArgumentError(
            "trainingTaskDefinition: this flow runs hyperparameter tuning jobs "
            f"({vt.pipelines.HYPERPARAMETER_TUNING_TASK!r}); use flows/training_pipeline.py "
            "for a custom job"
        )
    return vt.pipelines.run_in_flow(parsed).to_dict()


def main(argv: list[str]) -> int:
    return vt.pipelines.run_request_file(hyperparameter_tuning, argv, script="flows/hyperparameter_tuning.py")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
