"""vertex_track: Prefect pipelines tracked in the Vertex AI ML Metadata model.

Public API (a contract: code outside this repository calls it). Names that need Prefect or other
heavy imports (``track``, ``flow``, ``PipelineRun``, experiments) are
loaded on first use, so ``import vertex_track`` stays fast for the CLI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__ as __version__
from .config import init
from .exceptions import (
    AlreadyExistsError,
    ArtifactIntegrityError,
    ConflictError,
    FilterError,
    InvalidArgumentError,
    NotFoundError,
    StoreUnavailableError,
    TrackingError,
    TrackingWarning,
    UntrustedArtifactError,
    VertexTrackError,
)
from .executions import start_execution

# Imported eagerly (it needs only the resource models): the function
# ``lineage`` then stays this package's attribute, not the module of that name.
from .lineage import (
    LineageSubgraph,
    lineage,
    query_context_lineage_subgraph,
    query_execution_inputs_and_outputs,
)
from .resources import (
    Artifact,
    ArtifactState,
    Context,
    Event,
    EventType,
    Execution,
    ExecutionState,
    ResourceList,
)
from .store.base import PurgeResult

_LAZY: dict[str, str] = {
    # tracking (imports Prefect)
    "track": "vertex_track.tracking",
    "autotrack": "vertex_track.tracking",
    "task": "vertex_track.tracking",
    "flow": "vertex_track.tracking",
    "ArtifactType": "vertex_track.tracking.markers",
    "Dataset": "vertex_track.tracking.markers",
    "Model": "vertex_track.tracking.markers",
    "Metrics": "vertex_track.tracking.markers",
    "PipelineRun": "vertex_track.tracking.pipeline_run",
    # result cache
    "explain_cache": "vertex_track.tracking.cache_lookup",
    "CacheExplanation": "vertex_track.tracking.cache_lookup",
    "cache_policy": "vertex_track.tracking.cache_policy",
    "RunSummary": "vertex_track.runs",
    "RunDiff": "vertex_track.runs",
    "register_materializer": "vertex_track.artifacts",
    "Materializer": "vertex_track.artifacts",
    # experiments
    "ExperimentRun": "vertex_track.experiments",
    "start_run": "vertex_track.experiments",
    "end_run": "vertex_track.experiments",
    "log_params": "vertex_track.experiments",
    "log_metrics": "vertex_track.experiments",
    "log_time_series_metrics": "vertex_track.experiments",
    "log_classification_metrics": "vertex_track.experiments",
    "log_model": "vertex_track.experiments",
    "get_experiment_df": "vertex_track.experiments",
}

__all__ = [
    "AlreadyExistsError",
    "Artifact",
    "ArtifactIntegrityError",
    "ArtifactState",
    "ArtifactType",
    "CacheExplanation",
    "ConflictError",
    "Context",
    "Dataset",
    "Event",
    "EventType",
    "Execution",
    "ExecutionState",
    "ExperimentRun",
    "FilterError",
    "InvalidArgumentError",
    "LineageSubgraph",
    "Materializer",
    "Metrics",
    "Model",
    "NotFoundError",
    "PipelineRun",
    "PurgeResult",
    "ResourceList",
    "RunDiff",
    "RunSummary",
    "StoreUnavailableError",
    "TrackingError",
    "TrackingWarning",
    "UntrustedArtifactError",
    "VertexTrackError",
    "autotrack",
    "cache_policy",
    "end_run",
    "explain_cache",
    "flow",
    "get_experiment_df",
    "init",
    "lineage",
    "log_classification_metrics",
    "log_metrics",
    "log_model",
    "log_params",
    "log_time_series_metrics",
    "pipelines",
    "query_context_lineage_subgraph",
    "query_execution_inputs_and_outputs",
    "register_materializer",
    "start_execution",
    "start_run",
    "task",
    "track",
]


_SUBMODULES = frozenset({"pipelines"})  # ``vt.pipelines.run_training_pipeline``


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vertex_track' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # for type checkers and IDEs
    from . import pipelines
    from .artifacts import Materializer, register_materializer
    from .experiments import (
        ExperimentRun,
        end_run,
        get_experiment_df,
        log_classification_metrics,
        log_metrics,
        log_model,
        log_params,
        log_time_series_metrics,
        start_run,
    )
    from .runs import RunDiff, RunSummary
    from .tracking import autotrack, flow, task, track
    from .tracking.cache_lookup import CacheExplanation, explain_cache
    from .tracking.cache_policy import cache_policy
    from .tracking.markers import ArtifactType, Dataset, Metrics, Model
    from .tracking.pipeline_run import PipelineRun


def _autotrack_from_environment() -> None:
    import os

    if os.environ.get("VERTEX_TRACK_AUTOTRACK", "").strip().lower() in ("1", "true", "yes", "on"):
        importlib.import_module("vertex_track.tracking.auto").autotrack()


_autotrack_from_environment()


def _openlineage_from_environment() -> None:
    # Registers a settings listener; the OpenLineage client is imported only
    # when it is installed and configured (docs/openlineage.md).
    importlib.import_module("vertex_track.openlineage").autostart()


_openlineage_from_environment()
