"""``vertex-track serve`` as a command: a real subprocess that the CLI and the library then read."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

BASE = "/v1/projects/local/locations/local/metadataStores/default"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERTEX_TRACK_")}
    env.update(VERTEX_TRACK_HOME=str(tmp_path / "home"),
               VERTEX_TRACK_STORE_URI=f"sqlite:///{tmp_path / 'metadata.db'}")
    env.update(extra)
    return env


@contextmanager
def serving(env: dict[str, str], *args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vertex_track.cli", "serve", "--port", str(port), *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"serve exited {proc.returncode}: {proc.stderr.read()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(30)


def test_serve_writes_what_the_cli_lists(tmp_path: Path) -> None:
    env = env_for(tmp_path, VERTEX_TRACK_SERVE_TOKEN="t0ken")
    with serving(env) as (url, _proc), httpx.Client(base_url=url, timeout=30) as http:
        assert http.get(BASE).status_code == 401
        auth = {"Authorization": "Bearer t0ken"}
        made = http.post(f"{BASE}/artifacts", params={"artifactId": "from-rest"}, headers=auth,
                         json={"schemaTitle": "system.Dataset", "uri": "gs://b/d",
                               "displayName": "over http"})
        assert made.status_code == 200, made.text
        # Another site's page rebinding its DNS name to 127.0.0.1 cannot talk to it.
        assert http.get(BASE, headers={**auth, "Host": "evil.example"}).status_code == 400
    out = subprocess.run([sys.executable, "-m", "vertex_track.cli", "artifacts", "list", "--json"],
                         env=env, capture_output=True, text=True, timeout=120, check=True)
    rows = json.loads(out.stdout)
    assert [(r["resource_id"], r["display_name"]) for r in rows] == [("from-rest", "over http")]


def test_serve_token_option_and_busy_port(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    with serving(env, "--token", "abc") as (url, _proc):
        assert httpx.get(url + BASE, headers={"Authorization": "Bearer abc"}).status_code == 200
        port = url.rsplit(":", 1)[1]
        busy = subprocess.run([sys.executable, "-m", "vertex_track.cli", "serve", "--port", port],
                              env=env, capture_output=True, text=True, timeout=120)
        assert busy.returncode == 4
        assert f"cannot listen on 127.0.0.1:{port}" in busy.stderr


def test_serve_refuses_a_file_that_is_not_a_store(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_text("not a database")
    env = env_for(tmp_path, VERTEX_TRACK_STORE_URI=f"sqlite:///{tmp_path / 'notes.db'}")
    out = subprocess.run([sys.executable, "-m", "vertex_track.cli", "serve", "--port",
                          str(free_port())], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 3
    assert "is damaged (file is not a database)" in out.stderr
