"""``vertex-track doctor``: are the metadata store and the artifact root reachable and
writable from this machine?

Each failure is a named finding with a hint and a non-zero exit: an S3 endpoint that
does not answer, a bucket that does not exist, a folder this user may not write, a
PostgreSQL server that does not answer (an unused port, and a private server stopped).
The failure cases run the command as a real process, as a user on that machine would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import fsspec
import pytest
from conftest import BIN
from typer.testing import CliRunner

import vertex_track as vt
from vertex_track.cli.app import app

runner = CliRunner()


def _doctor_json(*args: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["doctor", "--no-prefect", "--json", *args])
    return result.exit_code, json.loads(result.stdout)


def _doctor_process(env: dict[str, str], *, wrap: tuple[str, ...] = ()) -> tuple[int, Any, str]:
    """``vertex-track doctor --json`` as its own process: (exit code, report, stderr)."""
    cmd = [*wrap, str(BIN / "vertex-track"), "doctor", "--no-prefect", "--json"]
    base = {k: v for k, v in os.environ.items() if not k.startswith("VERTEX_TRACK_")}
    proc = subprocess.run(cmd, env={**base, **env}, capture_output=True, text=True, timeout=180)
    report = json.loads(proc.stdout) if proc.stdout.strip() else None
    return proc.returncode, report, proc.stderr


def _only(report: dict[str, Any], check: str) -> dict[str, Any]:
    found = [f for f in report["findings"] if f["check"] == check]
    assert len(found) == 1, report
    return found[0]


# -- reachable ---------------------------------------------------------------------------


def test_a_local_store_and_folder_are_healthy(store: Any, tmp_path: Path) -> None:
    code, report = _doctor_json()
    assert code == 0 and report["healthy"] and report["findings"] == []
    tmp = tmp_path / "artifacts" / ".tmp"
    assert not tmp.exists() or list(tmp.iterdir()) == []  # the probe was deleted


@pytest.mark.parametrize("protocol", ["s3", "gcs"])
def test_a_bucket_that_takes_the_probe_is_healthy(
    protocol: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    bucket = request.getfixturevalue(f"{protocol}_bucket")
    root = bucket.root("doctor")
    vt.init(store_uri=f"sqlite:///{tmp_path / 'metadata.db'}", artifact_root=root)
    vt.Artifact.create("system.Dataset", display_name="d")  # creates the store
    code, report = _doctor_json()
    assert code == 0 and report["findings"] == [], report
    fs, path = fsspec.core.url_to_fs(root)
    fs.invalidate_cache()
    assert fs.find(path) == []  # written, read back, deleted


# -- unreachable -------------------------------------------------------------------------


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    """A healthy SQLite store, so only the artifact root can be at fault."""
    db = tmp_path / "metadata.db"
    vt.init(store_uri=f"sqlite:///{db}", artifact_root=str(tmp_path / "artifacts"))
    vt.Artifact.create("system.Dataset", display_name="d")  # creates the store
    return {"VERTEX_TRACK_HOME": str(tmp_path / "home"), "VERTEX_TRACK_STORE_URI": f"sqlite:///{db}"}


def test_an_s3_endpoint_that_does_not_answer(s3_bucket: Any, sqlite_env: dict[str, str]) -> None:
    from object_stores import free_port

    env = {**sqlite_env, **s3_bucket.env,
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
           "AWS_MAX_ATTEMPTS": "1",
           "VERTEX_TRACK_ARTIFACT_ROOT": s3_bucket.root()}
    code, report, err = _doctor_process(env)
    assert code == 5, err
    finding = _only(report, "artifact-root")
    assert finding["severity"] == "error"
    assert "cannot be reached" in finding["message"]
    assert "AWS_ENDPOINT_URL" in finding["hint"]


@pytest.mark.parametrize("protocol", ["s3", "gcs"])
def test_a_missing_bucket(
    protocol: str, request: pytest.FixtureRequest, sqlite_env: dict[str, str]
) -> None:
    bucket = request.getfixturevalue(f"{protocol}_bucket")
    scheme = "s3" if protocol == "s3" else "gs"
    missing = f"{bucket.name}-nope"
    env = {**sqlite_env, **bucket.env, "VERTEX_TRACK_ARTIFACT_ROOT": f"{scheme}://{missing}/vt"}
    code, report, err = _doctor_process(env)
    assert code == 5, err
    finding = _only(report, "artifact-root")
    assert f"bucket {missing!r} does not exist" in finding["message"]
    assert "create the bucket" in finding["hint"]
    fs = fsspec.filesystem(scheme)
    fs.invalidate_cache()
    assert not fs.exists(missing)  # the check created nothing


def test_a_folder_this_user_may_not_write(tmp_path: Path) -> None:
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    wrap: tuple[str, ...] = ()
    if os.geteuid() == 0:
        # Root writes through any mode bits: the folder becomes a read-only mount in
        # a mount namespace of the doctor process alone (nothing else sees it).
        unshare = shutil.which("unshare")
        probe = unshare and subprocess.run(
            [unshare, "-m", "sh", "-c", f"mount -t tmpfs -o ro tmpfs '{read_only}'"],
            capture_output=True)
        if not probe or probe.returncode != 0:
            pytest.skip("running as root, and no private read-only mount can be made here")
        wrap = (unshare, "-m", "sh", "-c", 'mount -t tmpfs -o ro tmpfs "$0" && exec "$@"',
                str(read_only))
    else:
        read_only.chmod(0o555)
    db = tmp_path / "metadata.db"
    vt.init(store_uri=f"sqlite:///{db}", artifact_root=str(read_only))
    vt.Artifact.create("system.Dataset", display_name="d")
    env = {"VERTEX_TRACK_HOME": str(tmp_path / "home"), "VERTEX_TRACK_STORE_URI": f"sqlite:///{db}",
           "VERTEX_TRACK_ARTIFACT_ROOT": str(read_only)}
    try:
        code, report, err = _doctor_process(env, wrap=wrap)
    finally:
        read_only.chmod(0o755)
    assert code == 5, err
    finding = _only(report, "artifact-root")
    assert "may not write there" in finding["message"]
    assert "writable" in finding["hint"]


def test_a_postgresql_port_where_nothing_listens(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    from object_stores import free_port

    port = free_port()
    env = {"VERTEX_TRACK_HOME": str(tmp_path / "home"),
           "VERTEX_TRACK_STORE_URI": f"postgresql://postgres@127.0.0.1:{port}/test",
           "VERTEX_TRACK_ARTIFACT_ROOT": str(tmp_path / "artifacts"),
           "VERTEX_TRACK_CONNECT_TIMEOUT": "2", "VERTEX_TRACK_RETRY_TIMEOUT": "0"}
    code, report, err = _doctor_process(env)
    assert code == 3, err
    finding = _only(report, "store")
    assert f"PostgreSQL store at 127.0.0.1:{port}" in finding["message"]
    assert f"pg_isready -h 127.0.0.1 -p {port}" in finding["hint"]
    assert f"127.0.0.1:{port}" in err
    assert [f["check"] for f in report["findings"]] == ["store"]  # the folder is fine


@pytest.mark.slow
def test_a_private_postgresql_server_up_then_down(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    from private_postgres import PrivatePostgres, pg_bin

    if pg_bin() is None:
        pytest.skip("PostgreSQL's binaries (initdb, pg_ctl) are not installed")
    server = PrivatePostgres()
    try:
        server.start()
        env = {"VERTEX_TRACK_HOME": str(tmp_path / "home"),
               "VERTEX_TRACK_STORE_URI": server.url,
               "VERTEX_TRACK_ARTIFACT_ROOT": str(tmp_path / "artifacts"),
               "VERTEX_TRACK_CONNECT_TIMEOUT": "2", "VERTEX_TRACK_RETRY_TIMEOUT": "0"}
        made = subprocess.run(
            [sys.executable, "-c", "import vertex_track as vt; vt.Artifact.create('system.Dataset')"],
            env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
        assert made.returncode == 0, made.stderr
        code, report, err = _doctor_process(env)
        assert code == 0 and report["findings"] == [], (report, err)
        server.stop()
        code, report, err = _doctor_process(env)
        assert code == 3, err
        assert f"127.0.0.1:{server.port}" in _only(report, "store")["message"]
    finally:
        server.close()
