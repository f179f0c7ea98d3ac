"""``metadataStores``: get, list and create (long-running).

Every metadata store exists from its first use (a database holds one per
project, location and store id), so ``GET .../metadataStores/default``
always answers 200, and a create finishes at once.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from .._time import now
from .errors import ApiError
from .operations import done_operation
from .stores import check_segment, store_for
from .wire import read_body, rfc3339

__all__ = ["router", "store_json"]

router = APIRouter()
_BASE = "/v1/projects/{project}/locations/{location}/metadataStores"


def store_json(project: str, location: str, store_id: str) -> dict[str, Any]:
    """A ``MetadataStore`` resource's JSON (opening the store, which creates it on first use)."""
    store = store_for(project, location, store_id)
    stamp = rfc3339(now())
    return {
        "name": store.prefix, "createTime": stamp, "updateTime": stamp,
        "description": "", "state": {"diskUtilizationBytes": "0"},
    }


@router.get(_BASE + "/{store_id}")
def get_metadata_store(project: str, location: str, store_id: str) -> dict[str, Any]:
    """``GetMetadataStore``."""
    return store_json(project, location, store_id)


@router.get(_BASE)
def list_metadata_stores(project: str, location: str) -> dict[str, Any]:
    """``ListMetadataStores``: the ``default`` store (the others are not enumerated)."""
    return {"metadataStores": [store_json(project, location, "default")]}


@router.post(_BASE)
async def create_metadata_store(request: Request, project: str, location: str) -> dict[str, Any]:
    """``CreateMetadataStore`` (long-running; done when returned)."""
    body = await read_body(request)
    store_id = request.query_params.get("metadataStoreId") or "default"
    check_segment("metadataStoreId", store_id)
    unknown = set(body) - {"name", "description", "encryptionSpec", "createTime",
                           "updateTime", "state", "dataplexConfig"}
    if unknown:
        raise ApiError(400, f"unknown MetadataStore field(s): {', '.join(sorted(unknown))}")
    resource = await run_in_threadpool(store_json, project, location, store_id)
    return done_operation(
        request, f"projects/{project}/locations/{location}",
        response_type="google.cloud.aiplatform.v1.MetadataStore", response=resource,
        metadata_type="google.cloud.aiplatform.v1.CreateMetadataStoreOperationMetadata",
    )


@router.delete(_BASE + "/{store_id}")
def delete_metadata_store(project: str, location: str, store_id: str) -> dict[str, Any]:
    """``DeleteMetadataStore``: not supported (purge its resources instead)."""
    raise ApiError(501, "deleting a metadata store is not supported by vertex-track serve; "
                   "purge its artifacts, executions and contexts instead")
