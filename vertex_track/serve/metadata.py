"""MetadataService: artifacts, executions and contexts — create, get, list, patch, delete, purge.

Every input goes through the same validation as the Python API (the
resource classes of :mod:`vertex_track.resources`), so a value the Python
API refuses is answered 400 INVALID_ARGUMENT with the same message. The
custom methods (``:addExecutionEvents``, lineage queries, ...) are in
:mod:`.lineage`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from ..exceptions import ConflictError, InvalidArgumentError, NotFoundError
from ..resources import Artifact, Context, Execution
from ..store import MetadataStore
from .errors import ApiError
from .operations import done_operation
from .stores import store_for
from .wire import (
    ARTIFACT_STATES,
    EXECUTION_STATES,
    check_fields,
    enum_in,
    int64_in,
    read_body,
    resource_json,
    wants_int_enums,
)

__all__ = ["CLASSES", "SINGULAR", "router"]

router = APIRouter()
STORE = "/v1/projects/{project}/locations/{location}/metadataStores/{store_id}"

#: The resource class of each collection.
CLASSES: dict[str, Any] = {"artifacts": Artifact, "executions": Execution, "contexts": Context}
#: The proto message name of each collection's resource.
SINGULAR = {"artifacts": "Artifact", "executions": "Execution", "contexts": "Context"}
_ID_PARAM = {"artifacts": "artifactId", "executions": "executionId", "contexts": "contextId"}
_OUTPUT_ONLY = {"name", "etag", "createTime", "updateTime"}
_FIELDS = {
    "artifacts": {"displayName", "uri", "labels", "state", "schemaTitle", "schemaVersion",
                  "metadata", "description"},
    "executions": {"displayName", "state", "labels", "schemaTitle", "schemaVersion",
                   "metadata", "description"},
    "contexts": {"displayName", "labels", "parentContexts", "schemaTitle", "schemaVersion",
                 "metadata", "description"},
}
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def collection(kind: str) -> Any:
    """The resource class of ``kind``.

    Raises:
        ApiError: 404 for a collection MetadataService does not have.
    """
    cls = CLASSES.get(kind)
    if cls is None:
        raise ApiError(404, f"no collection {kind!r} in a metadata store; "
                       "there are artifacts, executions and contexts")
    return cls


def plain_id(resource_id: str) -> str:
    """``resource_id`` of a path, refusing an unknown custom method (``id:nosuch``)."""
    if ":" in resource_id:
        rid, _, method = resource_id.partition(":")
        raise ApiError(404, f"no custom method {method!r} on {rid!r}")
    return resource_id


def _fields(kind: str, body: dict[str, Any], *, check_unknown: bool = True) -> dict[str, Any]:
    """The settable fields of a request body, validated as the Python API does, snake_case."""
    if check_unknown:
        unknown = set(body) - _FIELDS[kind] - _OUTPUT_ONLY
        if unknown:
            raise InvalidArgumentError(
                f"unknown {SINGULAR[kind]} field(s): {', '.join(sorted(unknown))}; "
                f"the fields are {', '.join(sorted(_FIELDS[kind] | _OUTPUT_ONLY))}"
            )
    out: dict[str, Any] = {}
    for key in ("displayName", "description", "schemaTitle", "schemaVersion", "uri"):
        if key in body and body[key] is not None:
            if not isinstance(body[key], str):
                raise InvalidArgumentError(
                    f"{key} must be a string, got {type(body[key]).__name__}")
            out[_snake(key)] = body[key]
    for key in ("metadata", "labels"):
        if key in body and body[key] is not None:
            if not isinstance(body[key], dict):
                raise InvalidArgumentError(
                    f"{key} must be a JSON object, got {type(body[key]).__name__}")
            out[key] = body[key]
    if body.get("state") is not None:
        table = ARTIFACT_STATES if kind == "artifacts" else EXECUTION_STATES
        state = enum_in(body["state"], table, "state")
        if state != "STATE_UNSPECIFIED":
            out["state"] = state
    if kind == "contexts" and body.get("parentContexts") is not None:
        parents = body["parentContexts"]
        if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
            raise InvalidArgumentError("parentContexts must be a list of context resource names")
        out["parent_contexts"] = parents
    return out


def _snake(key: str) -> str:
    return {"displayName": "display_name", "schemaTitle": "schema_title",
            "schemaVersion": "schema_version"}.get(key, key)


def create_resource(store: MetadataStore, kind: str, resource_id: str | None,
                    body: dict[str, Any]) -> Any:
    """Create a resource of ``kind`` from a request body through the resource class."""
    fields = _fields(kind, body)
    fields.setdefault("schema_title", None)
    if not fields.get("state"):
        fields.pop("state", None)
    return collection(kind).create(resource_id=resource_id or None, store=store, **fields)


def _etag_check(resource: Any, etag: Any) -> None:
    if etag and etag != resource.etag:
        raise ConflictError(
            f"{resource.name} changed since it was read: the request's etag {etag!r} is not "
            f"the stored one {resource.etag!r}; get it again and retry"
        )


def patch_resource(store: MetadataStore, kind: str, resource_id: str, body: dict[str, Any],
                   update_mask: str | None, allow_missing: bool) -> Any:
    """``Update<Resource>``: the body's updatable fields (or those of ``update_mask``)."""
    cls = collection(kind)
    try:
        resource = cls.get(resource_id, store=store)
    except NotFoundError:
        if allow_missing:
            return create_resource(store, kind, resource_id, body)
        raise
    fields = _fields(kind, body)
    if update_mask:
        wanted = {_snake(p.strip()) if "_" not in p else p.strip()
                  for p in update_mask.split(",") if p.strip()}
        fields = {k: v for k, v in fields.items() if k in wanted}
    for fixed in ("schema_title", "schema_version"):
        value = fields.pop(fixed, None)
        if value is not None and value != getattr(resource, fixed):
            raise InvalidArgumentError(
                f"{fixed} cannot be changed (stored {getattr(resource, fixed)!r}, "
                f"got {value!r}); create a new {SINGULAR[kind]} instead"
            )
    parents = fields.pop("parent_contexts", None)
    _etag_check(resource, body.get("etag"))
    if parents is not None:
        stored = set(resource.parent_contexts)
        wanted_parents = [store.name_of("contexts", p) for p in parents]
        if stored - set(wanted_parents):
            raise InvalidArgumentError(
                "parentContexts can only be added to by an update, not removed from "
                f"(stored: {sorted(stored)})"
            )
        added = [p for p in wanted_parents if p not in stored]
        for parent in added:
            store.add_context_children(Context.get(parent, store=store), [resource.name])
        if added:
            resource = cls.get(resource_id, store=store)
    fields = {k: v for k, v in fields.items() if v is not None}
    if fields:
        resource.update(**fields)
    return resource


def list_page(store: MetadataStore, kind: str, params: Any) -> tuple[list[Any], str | None]:
    """One page of a list request (``filter``, ``orderBy``, ``pageSize``, ``pageToken``)."""
    size = int64_in(params.get("pageSize"), "pageSize", default=0)
    if size is None or size == 0:
        size = DEFAULT_PAGE_SIZE
    if size < 0:
        raise InvalidArgumentError(f"pageSize must be between 1 and {MAX_PAGE_SIZE}, got {size}")
    items, token = store.list(
        kind, filter=params.get("filter") or None, order_by=params.get("orderBy") or None,
        page_size=min(size, MAX_PAGE_SIZE), page_token=params.get("pageToken") or None,
    )
    return items, token


# -- routes (custom methods first: ``{id}`` would also match ``id:method``) --------------------


@router.post(STORE + "/{kind}:purge")
async def purge(request: Request, project: str, location: str, store_id: str,
                kind: str) -> dict[str, Any]:
    """``Purge{Artifacts,Executions,Contexts}`` (long-running; done when returned)."""
    collection(kind)
    body = await read_body(request)
    check_fields(body, {"filter", "force"}, "purge")
    filter_ = body.get("filter")
    if not isinstance(filter_, str) or not filter_.strip():
        raise InvalidArgumentError("filter is required for purge (an empty filter would "
                                   'delete everything); send e.g. {"filter": '
                                   '"display_name=\\"tmp\\"", "force": true}')
    force = body.get("force", False)
    if not isinstance(force, bool):
        raise InvalidArgumentError(f"force must be true or false, got {force!r}")
    store = await run_in_threadpool(store_for, project, location, store_id)
    result = await run_in_threadpool(collection(kind).purge, filter_, force, store=store)
    plural = SINGULAR[kind] + "s"
    return done_operation(
        request, store.prefix,
        response_type=f"google.cloud.aiplatform.v1.Purge{plural}Response",
        response={"purgeCount": str(result.purge_count), "purgeSample": result.purge_sample},
        metadata_type=f"google.cloud.aiplatform.v1.Purge{plural}Metadata",
    )


@router.post(STORE + "/{kind}")
async def create(request: Request, project: str, location: str, store_id: str,
                 kind: str) -> dict[str, Any]:
    """``Create{Artifact,Execution,Context}``, with ``?artifactId=`` (etc.) or a generated id."""
    collection(kind)
    body = await read_body(request)
    resource_id = request.query_params.get(_ID_PARAM[kind])

    def run() -> Any:
        return create_resource(store_for(project, location, store_id), kind, resource_id, body)

    resource = await run_in_threadpool(run)
    return resource_json(resource, as_int=wants_int_enums(request))


@router.get(STORE + "/{kind}")
def list_resources(request: Request, project: str, location: str, store_id: str,
                   kind: str) -> dict[str, Any]:
    """``List{Artifacts,Executions,Contexts}`` with ``filter``, ``orderBy``, ``pageSize``, ``pageToken``."""
    collection(kind)
    items, token = list_page(store_for(project, location, store_id), kind, request.query_params)
    as_int = wants_int_enums(request)
    out: dict[str, Any] = {kind: [resource_json(r, as_int=as_int) for r in items]}
    if token:
        out["nextPageToken"] = token
    return out


@router.get(STORE + "/{kind}/{resource_id}")
def get(request: Request, project: str, location: str, store_id: str, kind: str,
        resource_id: str) -> dict[str, Any]:
    """``Get{Artifact,Execution,Context}`` by resource id."""
    cls = collection(kind)
    resource = cls.get(plain_id(resource_id), store=store_for(project, location, store_id))
    return resource_json(resource, as_int=wants_int_enums(request))


@router.patch(STORE + "/{kind}/{resource_id}")
async def patch(request: Request, project: str, location: str, store_id: str, kind: str,
                resource_id: str) -> dict[str, Any]:
    """``Update{Artifact,Execution,Context}``: the whole resource (or ``updateMask``'s fields), etag-checked."""
    collection(kind)
    body = await read_body(request)
    mask = request.query_params.get("updateMask")
    allow_missing = request.query_params.get("allowMissing", "").lower() == "true"

    def run() -> Any:
        return patch_resource(store_for(project, location, store_id), kind,
                              plain_id(resource_id), body, mask, allow_missing)

    resource = await run_in_threadpool(run)
    return resource_json(resource, as_int=wants_int_enums(request))


@router.delete(STORE + "/{kind}/{resource_id}")
def delete(request: Request, project: str, location: str, store_id: str, kind: str,
           resource_id: str) -> dict[str, Any]:
    """``Delete{Artifact,Execution,Context}`` (long-running; done when returned), ``?etag=`` checked."""
    cls = collection(kind)
    store = store_for(project, location, store_id)
    resource = cls.get(plain_id(resource_id), store=store)
    _etag_check(resource, request.query_params.get("etag"))
    resource.delete(store=store)
    return done_operation(
        request, resource.name,
        response_type="google.protobuf.Empty", response={},
        metadata_type="google.cloud.aiplatform.v1.DeleteOperationMetadata",
    )
