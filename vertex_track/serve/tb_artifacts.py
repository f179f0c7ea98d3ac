"""The TensorBoard-run reference artifact ``{experiment}-{run}-tb-run``, for runs logged with ``vt.*``.

Google's Vertex SDK finds the time series of an experiment run through an
artifact it writes when it starts the run: ``{experiment}-{run}-tb-run``
(schema ``google.VertexTensorboardRun``), whose ``metadata.resourceName`` is
the run's tensorboard run. Runs started with ``vt.start_run`` have no such
artifact, so for them ``GET`` answers the artifact the SDK would have written
(it is not stored) and ``DELETE`` has nothing to delete: their time series then
show in the SDK's ``get_experiment_df`` and ``get_time_series_data_frame`` too.
A stored artifact of that id is answered (and deleted) as it is.

These routes are part of :mod:`.tensorboard`'s router, which the app lists
before MetadataService's, so they take ``artifacts/...-tb-run`` first.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ..exceptions import InvalidArgumentError, NotFoundError
from ..experiments import records
from ..resources import Artifact, Context
from .operations import done_operation
from .stores import store_for
from .wire import resource_json, rfc3339, wants_int_enums

__all__ = ["DEFAULT_TENSORBOARD", "router"]

router = APIRouter()

#: The id of the one tensorboard of a store.
DEFAULT_TENSORBOARD = "default"
LOC = "/v1/projects/{project}/locations/{location}"
_TB_RUN_SUFFIX = "-tb-run"
_TB_RUN_SCHEMA = "google.VertexTensorboardRun"


STORE = LOC + "/metadataStores/{store_id}"


@router.delete(STORE + "/artifacts/{run_id}" + _TB_RUN_SUFFIX)
def delete_tb_run_artifact(request: Request, project: str, location: str, store_id: str,
                           run_id: str) -> dict[str, Any]:
    """``DeleteArtifact`` of ``{experiment}-{run}-tb-run``: the stored one, or, for a run
    started with ``vt.start_run``, the answered one (nothing is stored to delete)."""
    store = store_for(project, location, store_id)
    name = f"{store.prefix}/artifacts/{run_id}{_TB_RUN_SUFFIX}"
    try:
        Artifact.get(run_id + _TB_RUN_SUFFIX, store=store).delete(store=store)
    except NotFoundError:
        get_tb_run_artifact(request, project, location, store_id, run_id)  # 404 when no such run
    return done_operation(
        request, name, response_type="google.protobuf.Empty", response={},
        metadata_type="google.cloud.aiplatform.v1.DeleteOperationMetadata",
    )


@router.get(STORE + "/artifacts/{run_id}" + _TB_RUN_SUFFIX)
def get_tb_run_artifact(request: Request, project: str, location: str, store_id: str,
                        run_id: str) -> dict[str, Any]:
    """``GetArtifact`` of ``{experiment}-{run}-tb-run``, the artifact by which the Vertex SDK
    finds a run's time series.

    The SDK writes it when it starts a run; runs started with ``vt.start_run``
    have none, so for them this answers the artifact the SDK would have
    written (not stored), and their time series show in the SDK's
    ``get_experiment_df`` and ``get_time_series_data_frame`` too.
    """
    store = store_for(project, location, store_id)
    try:
        art = Artifact.get(run_id + _TB_RUN_SUFFIX, store=store)
        return resource_json(art, as_int=wants_int_enums(request))
    except NotFoundError:
        pass
    try:
        ctx = Context.get(run_id, store=store)
    except (NotFoundError, InvalidArgumentError):
        ctx = None
    if ctx is None or ctx.schema_title != records.RUN_SCHEMA or not ctx.parent_contexts:
        raise NotFoundError(f"artifact {store.prefix}/artifacts/{run_id}{_TB_RUN_SUFFIX} not found")
    exp = ctx.parent_contexts[0].rsplit("/", 1)[-1]
    if not run_id.startswith(exp + "-"):
        raise NotFoundError(f"artifact {store.prefix}/artifacts/{run_id}{_TB_RUN_SUFFIX} not found")
    run_name = (f"projects/{project}/locations/{location}/tensorboards/{DEFAULT_TENSORBOARD}/experiments/{exp}/runs/"
                f"{run_id[len(exp) + 1:]}")
    base = str(request.base_url).rstrip("/")
    stamp = rfc3339(ctx.create_time)
    return {
        "name": f"{store.prefix}/artifacts/{run_id}{_TB_RUN_SUFFIX}",
        "displayName": "",
        "uri": f"{base}/v1/{run_name}",
        "etag": ctx.etag,
        "labels": {},
        "createTime": stamp,
        "updateTime": stamp,
        "state": 2 if wants_int_enums(request) else "LIVE",
        "schemaTitle": _TB_RUN_SCHEMA,
        "schemaVersion": "0.0.1",
        "metadata": {"resourceName": run_name, "vertex_experiment_tracking": True},
        "description": "",
    }
