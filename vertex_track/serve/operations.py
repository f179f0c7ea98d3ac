"""Long-running operations (``google.longrunning.Operation``).

Every long-running method of this server (create a metadata store, delete,
purge, ...) finishes before it answers, so each operation is returned already
``done: true`` with its ``response`` (or ``error``); Google's clients then do
not poll. The operations are also kept (the latest :data:`KEEP`, in memory)
and answered at ``GET /v1/{name}`` and at ``GET /ui/{name}``, the path
Google's Python SDK polls over REST.

Routes add one with :func:`done_operation`::

    return done_operation(request, f"projects/{project}/locations/{location}",
                          response_type="google.protobuf.Empty", response={},
                          metadata_type="google.cloud.aiplatform.v1.DeleteOperationMetadata")
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from typing import Any

from fastapi import APIRouter, Request

from .._random import rng
from .._time import now
from .errors import ApiError
from .wire import rfc3339

__all__ = ["KEEP", "OperationLog", "done_operation", "router"]

#: How many finished operations the server remembers for polling.
KEEP = 10_000

router = APIRouter()


class OperationLog:
    """The operations this server returned, newest last (thread-safe, bounded)."""

    def __init__(self, keep: int = KEEP) -> None:
        self._ops: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._keep = keep
        self._ids = itertools.count(rng.randrange(10**17, 9 * 10**17))

    def add(self, parent: str, operation: dict[str, Any]) -> dict[str, Any]:
        """Name ``operation`` ``{parent}/operations/{id}``, keep it, return it."""
        with self._lock:
            name = f"{parent}/operations/{next(self._ids)}"
            operation = {"name": name, **operation}
            self._ops[name] = operation
            while len(self._ops) > self._keep:
                self._ops.popitem(last=False)
        return operation

    def get(self, name: str) -> dict[str, Any]:
        """The operation named ``name``.

        Raises:
            ApiError: 404 when it is unknown (never returned, or forgotten).
        """
        with self._lock:
            op = self._ops.get(name)
        if op is None:
            raise ApiError(404, f"operation {name!r} not found: this server returns every "
                           "operation already done, and remembers only the latest "
                           f"{self._keep} (or none from before it was restarted)")
        return op


def _log(request: Request) -> OperationLog:
    log = getattr(request.app.state, "operations", None)
    if log is None:
        log = request.app.state.operations = OperationLog()
    return log


def done_operation(
    request: Request,
    parent: str,
    *,
    response_type: str | None = None,
    response: dict[str, Any] | None = None,
    metadata_type: str | None = None,
    metadata: dict[str, Any] | None = None,
    error: ApiError | None = None,
) -> dict[str, Any]:
    """A finished operation's JSON, remembered for polling.

    Args:
        parent: what the operation is named under: ``projects/{p}/locations/{l}``,
            a metadata store or a resource name (Vertex names a delete's
            operation under the deleted resource).
        response_type: the full proto name of the result
            (``google.cloud.aiplatform.v1.PurgeArtifactsResponse``); it becomes the
            ``@type`` of ``response``.
        response: the result's JSON fields.
        metadata_type: the full proto name of the operation metadata; the
            metadata gets ``genericMetadata`` with the create and update times.
        metadata: more metadata fields.
        error: the operation failed with this error instead (no ``response``).
    """
    op: dict[str, Any] = {"done": True}
    if metadata_type:
        stamp = rfc3339(now())
        op["metadata"] = {
            "@type": f"type.googleapis.com/{metadata_type}",
            "genericMetadata": {"createTime": stamp, "updateTime": stamp},
            **(metadata or {}),
        }
    if error is not None:
        op["error"] = {"code": _GRPC_CODES.get(error.status, 2), "message": error.message}
    elif response_type:
        op["response"] = {"@type": f"type.googleapis.com/{response_type}", **(response or {})}
    return _log(request).add(parent, op)


# google.rpc.Code numbers, for an operation's ``error.code``.
_GRPC_CODES = {
    "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5, "ALREADY_EXISTS": 6, "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9, "ABORTED": 10, "OUT_OF_RANGE": 11, "UNIMPLEMENTED": 12,
    "INTERNAL": 13, "UNAVAILABLE": 14, "UNAUTHENTICATED": 16,
}


@router.get("/v1/projects/{project}/locations/{location}/operations/{operation_id}")
@router.get("/ui/projects/{project}/locations/{location}/operations/{operation_id}")
def get_operation(request: Request, project: str, location: str,
                  operation_id: str) -> dict[str, Any]:
    """``GetOperation``: a finished operation this server returned."""
    return _log(request).get(f"projects/{project}/locations/{location}/operations/{operation_id}")


@router.get("/v1/projects/{project}/locations/{location}/{collection:path}/operations/{operation_id}")
@router.get("/ui/projects/{project}/locations/{location}/{collection:path}/operations/{operation_id}")
def get_nested_operation(request: Request, project: str, location: str, collection: str,
                         operation_id: str) -> dict[str, Any]:
    """``GetOperation`` of an operation named under a resource (``.../tensorboards/1/operations/2``)."""
    return _log(request).get(
        f"projects/{project}/locations/{location}/{collection}/operations/{operation_id}"
    )
