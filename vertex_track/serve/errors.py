"""Errors in Google's JSON shape: ``{"error": {"code", "message", "status"}}``.

Google's client libraries read ``error.code``/``error.message``/``error.status``
and raise the matching ``google.api_core.exceptions`` class (``NotFound``,
``AlreadyExists``, ``InvalidArgument``, ...). vertex_track's exceptions map as:

=====================================  ====  ===================
exception                              HTTP  status
=====================================  ====  ===================
InvalidArgumentError, FilterError      400   INVALID_ARGUMENT
NotFoundError                          404   NOT_FOUND
AlreadyExistsError                     409   ALREADY_EXISTS
ConflictError (stale etag)             409   ABORTED
StoreUnavailableError                  503   UNAVAILABLE
any other VertexTrackError             500   INTERNAL
=====================================  ====  ===================
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..exceptions import (
    AlreadyExistsError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    StoreUnavailableError,
    VertexTrackError,
)
from .responses import WireJSONResponse

__all__ = ["STATUS_OF_HTTP", "ApiError", "BodyTooLarge", "error_response", "install"]

#: The canonical status name Google gives each HTTP code.
STATUS_OF_HTTP = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
    404: "NOT_FOUND", 405: "UNIMPLEMENTED", 409: "ABORTED", 412: "FAILED_PRECONDITION",
    413: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL",
    501: "UNIMPLEMENTED", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}


class ApiError(Exception):
    """An error answered as is: an HTTP code, a Google status name and a message.

    Raise it from a route for errors that are not vertex_track exceptions
    (an unsupported method, a missing required field, ...).
    """

    def __init__(self, code: int, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status or STATUS_OF_HTTP.get(code, "UNKNOWN")
        self.message = message


class BodyTooLarge(ApiError):
    """The request body is over the server's limit (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"the request body is larger than the server's limit of {limit} bytes "
            f"({limit / 1024 / 1024:g} MiB); send less per request",
        )


def error_response(code: int, message: str, status: str | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    """A response in Google's error shape."""
    body: dict[str, Any] = {"error": {
        "code": code, "message": message, "status": status or STATUS_OF_HTTP.get(code, "UNKNOWN"),
    }}
    return WireJSONResponse(body, status_code=code, headers=headers)


_MAPPING: list[tuple[type[Exception], int, str]] = [
    (InvalidArgumentError, 400, "INVALID_ARGUMENT"),
    (NotFoundError, 404, "NOT_FOUND"),
    (AlreadyExistsError, 409, "ALREADY_EXISTS"),
    (ConflictError, 409, "ABORTED"),
    (StoreUnavailableError, 503, "UNAVAILABLE"),
    (VertexTrackError, 500, "INTERNAL"),
]


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` in Google's shape (vertex_track's, routing, validation)."""

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> Response:
        return error_response(exc.code, exc.message, exc.status)

    for exc_type, code, status in _MAPPING:
        def handler(_request: Request, exc: Exception, code: int = code,
                    status: str = status) -> Response:
            return error_response(code, str(exc), status)

        app.add_exception_handler(exc_type, handler)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"no such resource or method: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"method {request.method} is not supported on {request.url.path}"
        return error_response(exc.status_code, message,
                              headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> Response:
        return error_response(500, f"internal error: {type(exc).__name__}: {exc}")

    @app.exception_handler(RequestValidationError)
    async def bad_request(_request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path"))
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return error_response(400, "; ".join(parts) or "invalid request")
