"""The process that runs one training pipeline for ``vertex-track serve``.

``python -m vertex_track.serve.pipeline_worker REQUEST.json RESULT.json``: runs
the request with :func:`vertex_track.pipelines.run_training_pipeline` (a
tracked Prefect flow) and writes the result's summary to ``RESULT.json``.
The server starts one per ``trainingPipelines.create`` so that ``:cancel``
can interrupt exactly that pipeline: SIGINT ends it as
``PIPELINE_STATE_CANCELLED`` (the training processes are stopped, the run's
records say so), like Ctrl+C on ``vertex-track pipelines run``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, default=str))
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    """Run ``argv[0]`` (a request file), write the summary to ``argv[1]``; exit 0 succeeded, 1 not."""
    if len(argv) != 2:
        print("usage: python -m vertex_track.serve.pipeline_worker REQUEST.json RESULT.json",
              file=sys.stderr)
        return 2
    request, out = json.loads(Path(argv[0]).read_text()), Path(argv[1])
    from ..pipelines import run_training_pipeline

    try:
        result = run_training_pipeline(request)
    except KeyboardInterrupt:
        _write(out, {"state": "PIPELINE_STATE_CANCELLED", "error": "cancelled"})
        return 130
    except Exception as exc:
        _write(out, {"state": "PIPELINE_STATE_FAILED", "error": f"{type(exc).__name__}: {exc}"})
        return 1
    _write(out, result.to_dict())
    return 0 if result.succeeded else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
