"""The public API is a contract (code outside this repository calls it): every name exists and resolves."""

from __future__ import annotations

import subprocess
import sys

import pytest

import vertex_track as vt

PUBLIC_NAMES = [
    "init", "track", "task", "flow", "Dataset", "Model", "Metrics", "Artifact", "Execution",
    "Context", "PipelineRun", "start_execution", "lineage", "LineageSubgraph", "ExperimentRun",
    "start_run", "end_run", "log_params", "log_metrics", "log_time_series_metrics",
    "log_classification_metrics", "log_model", "get_experiment_df", "VertexTrackError",
    "NotFoundError", "AlreadyExistsError", "ConflictError", "InvalidArgumentError",
    "FilterError", "StoreUnavailableError", "query_execution_inputs_and_outputs",
    "query_context_lineage_subgraph", "explain_cache", "cache_policy", "CacheExplanation",
]


@pytest.mark.parametrize("name", PUBLIC_NAMES)
def test_public_names_are_exported(name: str) -> None:
    assert name in vt.__all__
    assert getattr(vt, name) is not None


def test_every_exported_name_resolves() -> None:
    missing = [name for name in vt.__all__ if not hasattr(vt, name)]
    assert missing == []


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        vt.nope  # noqa: B018


def test_exception_tree_refines_the_builtins() -> None:
    assert issubclass(vt.NotFoundError, vt.VertexTrackError)
    assert issubclass(vt.NotFoundError, LookupError)
    assert issubclass(vt.InvalidArgumentError, ValueError)
    assert issubclass(vt.FilterError, vt.InvalidArgumentError)
    assert issubclass(vt.FilterError, ValueError)
    for cls in (vt.AlreadyExistsError, vt.ConflictError, vt.StoreUnavailableError):
        assert issubclass(cls, vt.VertexTrackError)


def test_importing_vertex_track_does_not_import_prefect() -> None:
    code = "import sys, vertex_track; print('prefect' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_all_is_exactly_the_public_namespace() -> None:
    """``__all__`` checked both ways: nothing public is left out, nothing listed is missing."""
    import types

    public = {
        name for name in dir(vt)
        if not name.startswith("_")
        and not isinstance(getattr(vt, name), types.ModuleType)
        and name not in {"annotations", "importlib", "Any", "TYPE_CHECKING"}
    } | {"pipelines"}  # the one public submodule: vt.pipelines.run_training_pipeline
    assert sorted(public - set(vt.__all__)) == []
    assert sorted(set(vt.__all__) - public) == []


def test_types_users_receive_or_subclass_are_exported() -> None:
    assert isinstance(vt.Artifact.list(), vt.ResourceList)  # what list() returns
    assert issubclass(vt.TrackingError, vt.VertexTrackError)
    assert issubclass(vt.TrackingWarning, UserWarning)
    from vertex_track.artifacts import Materializer
    from vertex_track.store.base import PurgeResult

    assert vt.Materializer is Materializer and vt.PurgeResult is PurgeResult
    from vertex_track.runs import RunDiff, RunSummary

    assert vt.RunSummary is RunSummary and vt.RunDiff is RunDiff  # PipelineRun.summary()/diff()
