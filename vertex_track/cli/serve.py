"""``serve``: Vertex AI's v1 REST API over the metadata store, for Google's SDK and HTTP clients."""

from __future__ import annotations

import os
from typing import Optional

import typer

from ._common import EXIT_FAILED, fail, handle_errors
from ._output import stderr

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
TOKEN_ENV = "VERTEX_TRACK_SERVE_TOKEN"


@handle_errors
def serve(
    host: str = typer.Option(
        "127.0.0.1", "--host", metavar="ADDRESS",
        help="Address to listen on. The default serves this machine only; another address "
        "(0.0.0.0) lets anyone who can reach it read and write the store: set --token.",
    ),
    port: int = typer.Option(8080, "--port", min=1, max=65535, help="TCP port to listen on."),
    token: Optional[str] = typer.Option(
        None, "--token", metavar="TOKEN",
        help=f"Require 'Authorization: Bearer TOKEN' on every request (default: ${TOKEN_ENV}; "
        "unset: no token).",
    ),
) -> None:
    """Serve Vertex AI's REST API over the store, for Google's SDK and HTTP clients.

    Answers Vertex AI's v1 MetadataService (metadata stores, artifacts,
    executions, contexts, events, lineage, purge), the part of
    TensorboardService that Vertex AI Experiments use for time series,
    training pipelines (create, get, list, cancel) and long-running operations,
    in Vertex's JSON, writing the same store the library and the other
    commands read. Point Google's SDK at it with

      aiplatform.init(project=..., location=..., api_endpoint="http://127.0.0.1:8080",
      api_transport="rest", credentials=AnonymousCredentials())

    Resource names are projects/P/locations/L/metadataStores/default/...; the
    library reads them with vt.init(project=P, location=L). Stop it with Ctrl+C.

    Example:

    $ vertex-track serve
    $ vertex-track --store-uri sqlite:///team/metadata.db serve --port 9000 --token s3cret
    """
    # A writer, like the library: the store is created (or upgraded) if need be.
    from ..store import set_read_only

    set_read_only(False)
    try:
        import uvicorn

        from ..serve.app import LOOPBACK_HOSTS, create_app
    except ImportError as exc:
        fail(f"serve needs FastAPI and uvicorn ({exc}); pip install 'vertex-track[serve]'",
             EXIT_FAILED)
    from .ui import _check_port

    _check_port(host, port)
    token = token or os.environ.get(TOKEN_ENV) or None
    app = create_app(
        token=token,
        allowed_hosts=[*LOOPBACK_HOSTS, host] if host in _LOOPBACK else ["*"],
    )
    from ..config import get_settings
    from ..store import redact_uri

    shown = f"[{host}]" if ":" in host else host
    stderr(f"vertex-track serve: {redact_uri(get_settings().store_uri)} at http://{shown}:{port}"
           f"/v1/  ({'bearer token required' if token else 'no token'}; Ctrl+C stops)")
    if host not in _LOOPBACK and not token:
        stderr(f"note: listening on {host} without --token: anyone who can reach this address "
               "can read and write the store", style="yellow")
    uvicorn.run(app, host=host, port=port, log_level="warning")
