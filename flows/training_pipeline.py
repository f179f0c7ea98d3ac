"""A Vertex AI training pipeline request, run as a tracked Prefect flow.

Run a request file (the JSON body of ``trainingPipelines.create``; a custom
job or a hyperparameter tuning job)::

    python flows/training_pipeline.py request.json

or deploy it with Prefect (``prefect deploy flows/training_pipeline.py:training_pipeline``)
and pass the body as the ``request`` parameter. The flow's result is the
pipeline's summary (``TrainingPipelineResult.to_dict()``); a failed pipeline
fails the flow run with the reason. ``vertex-track pipelines list`` shows it.
"""

from __future__ import annotations

import sys
from typing import Any

import vertex_track as vt


@vt.flow(name="training-pipeline", validate_parameters=False, persist_result=False)
def training_pipeline(request: dict[str, Any]) -> dict[str, Any]:
    """Run ``request`` (custom job or hyperparameter tuning) and register its model."""
    return vt.pipelines.run_in_flow(request).to_dict()


def main(argv: list[str]) -> int:
    return vt.pipelines.run_request_file(training_pipeline, argv, script="flows/training_pipeline.py")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
