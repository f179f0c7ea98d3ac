"""What the pipeline's steps share: its records' names, progress events, failures, file helpers."""

from __future__ import annotations

import contextvars
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from ..config import get_settings
from ..exceptions import InvalidArgumentError, NotFoundError
from ..resources import Artifact
from . import splits
from .request import TrainingPipelineRequest
from .result import TrainingPipelineResult

log = logging.getLogger("vertex_track.pipelines")

METADATA_KEY = "training_pipeline"
EXECUTION_SCHEMA = "system.ContainerExecution"
FLOW_NAMES = {"custom": "training-pipeline", "hyperparameter_tuning": "hyperparameter-tuning"}
ProgressFn = Callable[[dict[str, Any]], None]

# Set by run_training_pipeline around the flow call (same thread as the flow body).
progress_callback: contextvars.ContextVar[ProgressFn | None] = contextvars.ContextVar(
    "vt_pipeline_progress", default=None
)
result_slot: contextvars.ContextVar[list[TrainingPipelineResult] | None] = (
    contextvars.ContextVar("vt_pipeline_result", default=None)
)


class PipelineFailed(Exception):
    """Raised by the flow body when the pipeline failed, so Prefect marks the flow run Failed."""

    def __init__(self, message: str, result: TrainingPipelineResult | None = None) -> None:
        super().__init__(message)
        self.result = result

    def __reduce__(self) -> Any:  # Prefect pickles a failed flow's exception: keep it small
        return (type(self), (str(self),))


class PipelineStop(Exception):
    """The pipeline cannot go on (message: why)."""


# -- helpers ---------------------------------------------------------------------------------
def emit(event: str, **data: Any) -> None:
    """Hand ``{"event": event, **data}`` to the progress callback of this run, if any; never raises."""
    fn = progress_callback.get()
    if fn is not None:
        try:
            fn({"event": event, **data})
        except Exception:  # a display problem never fails the pipeline
            log.debug("progress callback failed", exc_info=True)


def experiment_name_for(display_name: str) -> str:
    """The Experiment of a pipeline: its display name as a resource id (lower case,
    other characters as ``-``, at most 40 characters, so run ids fit in 63)."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", display_name.lower()).strip("-")[:40].rstrip("-")
    if not slug or not re.match(r"[a-z_]", slug):
        slug = f"p-{slug}" if slug else "pipeline"
    return slug[:40]


def is_local(uri: str) -> bool:
    """Is ``uri`` on the local disk (a path or ``file://``)?"""
    fs, _ = fsspec.core.url_to_fs(uri)
    return isinstance(fs, LocalFileSystem)


def local_or_uri(uri: str) -> str:
    """A local path for local URIs (what training code opens most easily), else the URI."""
    fs, path = fsspec.core.url_to_fs(uri)
    return path if isinstance(fs, LocalFileSystem) else uri


def join_uri(base: str, *parts: str) -> str:
    """``base`` (a path or URI) with ``parts`` appended, ``/``-separated."""
    return "/".join([base.rstrip("/"), *parts])


def flat_params(values: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``values`` that are scalars (what an experiment run's parameters hold)."""
    return {k: v for k, v in values.items() if isinstance(v, (str, int, float, bool)) or v is None}


def store_file_artifact(path: Path, *, schema_title: str, display_name: str,
                         metadata: dict[str, Any], description: str | None = None,
                         labels: dict[str, str] | None = None) -> Artifact:
    """Copy a file or folder into the artifact store and register it (``load()`` gives a path)."""
    from ..artifacts import ArtifactStore

    stored = ArtifactStore.for_root(get_settings().artifact_root).put(path)
    meta = {
        **metadata,
        "vertex_track": {
            "digest": stored.digest, "materializer": stored.materializer,
            "materializer_version": stored.materializer_version, "size": stored.size,
            "python_type": "pathlib.Path",
        },
    }
    return Artifact.create(
        schema_title, uri=stored.uri, display_name=display_name[:128], metadata=meta,
        description=description, labels=labels or None,
    )


def fetch_dir(uri: str, dest: Path) -> Path | None:
    """``uri`` (a folder or file at any fsspec URI) as a local path, or None when empty."""
    fs, path = fsspec.core.url_to_fs(uri)
    if not fs.exists(path):
        return None
    if isinstance(fs, LocalFileSystem):
        local = Path(path)
    elif fs.isdir(path):
        local = dest / "model"
        fs.get(path.rstrip("/") + "/", str(local), recursive=True)
    else:
        local = dest / path.rsplit("/", 1)[-1]
        fs.get(path, str(local))
    if local.is_dir() and not any(p.is_file() for p in local.rglob("*")):
        return None
    return local


def resolve_dataset(dataset_id: str) -> Artifact:
    """The ``system.Dataset`` artifact ``inputDataConfig.datasetId`` names.

    Raises:
        NotFoundError: no artifact has that id or name.
        InvalidArgumentError: the artifact has no uri to read the data from.
    """
    try:
        ds = Artifact.get(dataset_id)
    except (NotFoundError, InvalidArgumentError):
        raise NotFoundError(
            f"inputDataConfig.datasetId: no artifact {dataset_id!r} in the metadata store; "
            "register the data set first, e.g. vt.Artifact.create('system.Dataset', "
            "uri='data/train.csv', resource_id='my-data')"
        ) from None
    if not ds.uri:
        raise InvalidArgumentError(
            f"inputDataConfig.datasetId: artifact {ds.name!r} has no uri to read the data from"
        )
    return ds


def check_ready(req: TrainingPipelineRequest) -> None:
    """What can be checked before anything is recorded: the data set exists, Optuna
    is there when the study needs it.

    Raises:
        NotFoundError: ``inputDataConfig.datasetId`` names no artifact.
        InvalidArgumentError: the data set has no URI or an unknown file type.
        ImportError: a Bayesian study and no Optuna.
    """
    if req.input_data_config is not None:
        ds = resolve_dataset(req.input_data_config.dataset_id)
        splits.data_format(ds.uri)
    tuning = req.tuning
    if tuning is not None and tuning.study_spec.algorithm == "ALGORITHM_UNSPECIFIED":
        from .samplers import require_optuna

        require_optuna()
