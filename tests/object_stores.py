"""Local servers that speak the object stores' real wire protocols, for the tests.

* S3: moto's standalone server (``moto.server.ThreadedMotoServer``), reached by
  ``s3fs`` through botocore's usual settings: ``AWS_ENDPOINT_URL``,
  ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``.
* GCS: ``gcp-storage-emulator``, reached by ``gcsfs`` through its usual
  setting for an emulator: ``STORAGE_EMULATOR_HOST``.

Both listen on a free port of 127.0.0.1 and keep everything in memory. The
servers are started once per test session (per xdist worker); each test gets a
fresh prefix (or bucket) of its own. The environment variables are set for the
whole session: they are how the libraries find the server, exactly as a user's
machine finds the real service, and nothing in vertex_track passes them on.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class Bucket:
    """One bucket of a running server; ``root(name)`` is a fresh artifact root in it."""

    protocol: str  # "s3" or "gs"
    name: str
    env: dict[str, str]  # what a process needs to reach the server

    def root(self, label: str = "") -> str:
        return f"{self.protocol}://{self.name}/{label or 'vt'}-{uuid.uuid4().hex[:12]}"


@contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def moto_s3() -> Iterator[Bucket]:
    """moto's S3 server on 127.0.0.1, with one bucket made; the environment points at it."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    _wait_listening(port)
    env = {**S3_ENV, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    try:
        with _env(env):
            import s3fs

            name = f"vt-test-{uuid.uuid4().hex[:8]}"
            s3fs.S3FileSystem().mkdir(name)
            yield Bucket("s3", name, env)
    finally:
        server.stop()


def _quiet_hang_ups(httpd: Any) -> None:
    """A client that hangs up before the whole response is written is not an error of
    the test: http.server would print its BrokenPipeError traceback into the test log."""
    default = httpd.handle_error

    def handle_error(request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            default(request, client_address)

    httpd.handle_error = handle_error


@contextmanager
def gcs_emulator() -> Iterator[Bucket]:
    """gcp-storage-emulator on 127.0.0.1, with one bucket made; the environment points at it."""
    from gcp_storage_emulator.server import create_server

    port = free_port()
    name = f"vt-test-{uuid.uuid4().hex[:8]}"
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=name)
    server.start()
    _quiet_hang_ups(server._api._httpd)  # the emulator's http.server.HTTPServer
    _wait_listening(port)
    env = {"STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}"}
    try:
        with _env(env):
            yield Bucket("gs", name, env)
    finally:
        server.stop()
