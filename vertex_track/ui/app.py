"""The FastAPI application: JSON routes under ``/api/``, pages, static files.

Read-only by construction: the store is opened with
:func:`vertex_track.store.set_read_only` in force (nothing is created,
migrated or written, and a path that is not a vertex_track store is an error
at start-up), and only GET routes exist.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from ..exceptions import (
    FilterError,
    InvalidArgumentError,
    NotFoundError,
    StoreUnavailableError,
    VertexTrackError,
)
from .responses import StrictJSONResponse
from .routers import experiments, lineage, resources, runs

STATIC = Path(__file__).parent / "static"
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]


def open_read_only(store_uri: str | None = None) -> None:
    """Make this process open stores read-only, point it at ``store_uri``, and open it.

    Raises:
        StoreUnavailableError: the store cannot be opened, or what is at
            ``store_uri`` is not a vertex_track store (nothing is created there).
        InvalidArgumentError: ``store_uri`` is malformed.
    """
    from vertex_track.store import get_store, set_read_only

    from ..config import init

    set_read_only(True)
    if store_uri is not None:
        init(store_uri=store_uri)
    get_store()


def create_app(
    store_uri: str | None = None, *, allowed_hosts: list[str] | None = None
) -> FastAPI:
    """The web UI as an ASGI application, over ``store_uri`` (default: the configured store).

    The store is opened read-only before the app is returned, for the whole
    process (:func:`vertex_track.store.set_read_only` is process-wide).

    Args:
        store_uri: the metadata store; default the configured one.
        allowed_hosts: answer only requests whose ``Host`` header names one
            of these (others get 400). A server on 127.0.0.1 passes its
            loopback names, so a web page of another site that rebinds its
            DNS name to 127.0.0.1 cannot read the store through the
            visitor's browser. ``None``: no check.

    Raises:
        StoreUnavailableError: the store cannot be opened or is not a
            vertex_track store; the message says what is there.
    """
    open_read_only(store_uri)
    app = FastAPI(
        title="vertex-track", docs_url=None, redoc_url=None, openapi_url=None,
        default_response_class=StrictJSONResponse,
    )
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)
    _error_handlers(app)
    for module in (runs, lineage, experiments, resources):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _error(status: int, kind: str, exc: Exception, **extra: object) -> Response:
    return StrictJSONResponse({"error": kind, "message": str(exc), **extra}, status_code=status)


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(FilterError)
    async def bad_filter(_request: Request, exc: FilterError) -> Response:
        return _error(400, "bad_filter", exc, position=exc.position,
                      expected=getattr(exc, "expected", ""))

    @app.exception_handler(InvalidArgumentError)
    async def bad_argument(_request: Request, exc: InvalidArgumentError) -> Response:
        return _error(400, "invalid_argument", exc)

    @app.exception_handler(NotFoundError)
    async def not_found(_request: Request, exc: NotFoundError) -> Response:
        return _error(404, "not_found", exc)

    @app.exception_handler(StoreUnavailableError)
    async def unavailable(_request: Request, exc: StoreUnavailableError) -> Response:
        return _error(503, "store_unavailable", exc)

    @app.exception_handler(VertexTrackError)
    async def failed(_request: Request, exc: VertexTrackError) -> Response:
        return _error(500, "failed", exc)
