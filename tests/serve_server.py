"""A real ``vertex-track serve`` HTTP server for the serve tests: uvicorn in a thread, free port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from vertex_track.serve.app import create_app

PROJECT = "local"
LOCATION = "us-central1"
LOC = f"projects/{PROJECT}/locations/{LOCATION}"
STORE = f"{LOC}/metadataStores/default"


@dataclass
class Server:
    """A running server: its base URL (``http://127.0.0.1:PORT``) and store URI."""

    url: str
    store_uri: str
    port: int


@contextmanager
def running_server(store_uri: str, *, token: str | None = None,
                   max_body_bytes: int | None = None) -> Iterator[Server]:
    """Serve ``store_uri`` on a free loopback port until the block ends."""
    kwargs = {} if max_body_bytes is None else {"max_body_bytes": max_body_bytes}
    app = create_app(store_uri, token=token, **kwargs)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield Server(f"http://127.0.0.1:{port}", store_uri, port)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def init_sdk(url: str, *, credentials: object | None = None) -> None:
    """Point Google's Vertex AI SDK at the server (the only change the SDK samples need)."""
    import google.auth.credentials
    from google.cloud import aiplatform

    aiplatform.init(
        project=PROJECT, location=LOCATION, api_endpoint=url, api_transport="rest",
        credentials=credentials or google.auth.credentials.AnonymousCredentials(),
    )
