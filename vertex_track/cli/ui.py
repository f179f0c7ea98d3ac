"""``ui``: serve the read-only web UI over the metadata store."""

from __future__ import annotations

import socket
import threading

import typer

from ._common import EXIT_FAILED, check_store, fail, handle_errors
from ._output import stderr

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@handle_errors
def ui(
    host: str = typer.Option(
        "127.0.0.1", "--host", metavar="ADDRESS",
        help="Address to listen on. The default serves this machine only; another "
        "address (0.0.0.0) lets anyone who can reach it read the store.",
    ),
    port: int = typer.Option(8765, "--port", min=1, max=65535, help="TCP port to listen on."),
    open_browser: bool = typer.Option(
        False, "--open", help="Open the UI in the default web browser once it is up.",
    ),
) -> None:
    """Browse runs, experiments and lineage in a web browser (read-only).

    Serves a local web app over the same store as the other commands: pipeline
    runs with a Gantt timeline of their task runs and their DAG; lineage as an
    interactive graph (expand upstream/downstream, export PNG, SVG or JSON);
    experiments as a sortable runs x params/metrics table with time series,
    confusion matrices and ROC curves; artifacts and executions with previews.
    Every page has a JSON twin under /api/ (e.g. /api/runs?filter=...).

    The store is opened read-only: nothing is created, migrated or written, and
    a path that is not a vertex_track store is an error (exit 3). Only GET
    requests are served. Stop it with Ctrl+C.

    Example:

    $ vertex-track ui --open
    $ vertex-track --store-uri sqlite:///team/metadata.db ui --port 9000
    """
    check_store()
    try:
        import uvicorn

        from ..ui.app import LOOPBACK_HOSTS, create_app
    except ImportError as exc:
        fail(f"the web UI needs FastAPI and uvicorn ({exc}); "
             "pip install 'vertex-track[ui]'", EXIT_FAILED)
    _check_port(host, port)
    # Loopback names only, unless the user chose to serve the network.
    app = create_app(allowed_hosts=[*LOOPBACK_HOSTS, host] if host in _LOOPBACK else ["*"])
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    from ..config import get_settings

    stderr(f"vertex-track ui: {get_settings().store_uri} (read-only) at {url}  (Ctrl+C stops)")
    if host not in _LOOPBACK:
        stderr(f"note: listening on {host}: anyone who can reach this address can read the store",
               style="yellow")
    if open_browser:
        import webbrowser  # not at module level: every command's start-up imports this module

        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _check_port(host: str, port: int) -> None:
    """Exit 4 with a clear message when ``host:port`` cannot be listened on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            fail(f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
                 "pass another --port or --host", EXIT_FAILED)
