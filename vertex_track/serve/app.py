"""The FastAPI application of ``vertex-track serve``: Vertex AI's v1 REST API over a store.

Routers are listed in :data:`ROUTERS`; a new part of the API is a module with
an ``APIRouter`` named ``router`` that is appended there. Every route answers
Vertex's JSON (:mod:`.wire`) and Google's error shape (:mod:`.errors`).
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, FastAPI

from ..config import get_settings, init
from . import lineage, metadata, metadata_stores, operations, pipelines, tensorboard
from .errors import error_response, install
from .stores import serve_store_uri
from .wire import MAX_BODY_BYTES, WireJSONResponse

__all__ = ["LOOPBACK_HOSTS", "ROUTERS", "create_app"]

LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]

#: Every router of the server, in matching order (custom methods such as
#: ``.../artifacts/{id}:purge`` are declared in their router before the plain
#: ``{id}`` routes). Add a part of the API by appending its router here.
ROUTERS: list[APIRouter] = [
    operations.router,
    metadata_stores.router,
    lineage.router,
    tensorboard.router,  # before metadata: it answers artifacts/{run}-tb-run
    metadata.router,
    pipelines.router,
]


def create_app(
    store_uri: str | None = None,
    *,
    token: str | None = None,
    allowed_hosts: list[str] | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """Vertex AI's v1 REST API over ``store_uri`` (default: the configured store), as an ASGI app.

    The store is opened (created or upgraded as needed) before the app is
    returned, so a store that cannot be used fails here, not on the first request.

    Args:
        store_uri: the database; ``None``: the configured one (``vt.init`` /
            ``VERTEX_TRACK_STORE_URI``).
        token: when set, every request must carry ``Authorization: Bearer <token>``
            (else 401 UNAUTHENTICATED).
        allowed_hosts: answer only requests whose ``Host`` header names one of
            these (others get 400); ``None``: no check.
        max_body_bytes: larger request bodies get 413.

    Raises:
        StoreUnavailableError: the store cannot be opened.
        InvalidArgumentError: ``store_uri`` is malformed.
    """
    from ..store import get_store

    if store_uri is not None:
        init(store_uri=store_uri)
    get_store()
    app = FastAPI(
        title="vertex-track serve", docs_url=None, redoc_url=None, openapi_url=None,
        default_response_class=WireJSONResponse,
    )
    app.state.max_body_bytes = max_body_bytes
    app.state.operations = operations.OperationLog()
    app.state.store_uri = get_settings().store_uri
    serve_store_uri(app.state.store_uri)
    install(app)
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(_Guard, token=token, max_body_bytes=max_body_bytes)  # type: ignore[arg-type]
    if allowed_hosts is not None:
        from fastapi.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)
    return app


class _Guard:
    """ASGI middleware: the bearer token and the declared body size, before any routing."""

    def __init__(self, app: Any, *, token: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode() if token else None
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if self.expected is not None:
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                what = "a wrong" if given else "no"
                response = error_response(
                    401, f"the request has {what} bearer token; this server requires "
                    "'Authorization: Bearer <token>' with the token it was started with "
                    "(--token / VERTEX_TRACK_SERVE_TOKEN)",
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            from .errors import BodyTooLarge

            exc = BodyTooLarge(self.max_body_bytes)
            await error_response(exc.code, exc.message, exc.status)(scope, receive, send)
            return
        await self.app(scope, receive, send)
