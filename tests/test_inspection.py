"""Inspection never writes: the CLI opens stores read-only and refuses what is not a store.

A mistyped ``--store-uri``, an empty file or another application's database
must be an error (exit 3, saying what was found), never a freshly created,
empty vertex_track store.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import POSTGRES_URL, postgres_schema_url
from typer.testing import CliRunner

import vertex_track as vt
from vertex_track.cli.app import app
from vertex_track.exceptions import StoreUnavailableError
from vertex_track.store import open_store
from vertex_track.store.base import MetadataStore
from vertex_track.store.sql.migrations import HEAD

runner = CliRunner()


def cli(*args: str, input: str | None = None) -> Any:
    return runner.invoke(app, list(args), input=input)


def _tables(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]


def _journal_mode(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0])


# -- SQLite -------------------------------------------------------------------------------


def test_missing_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    db = tmp_path / "nowhere" / "other.db"
    result = cli("--store-uri", f"sqlite:///{db}", "artifacts", "list")
    assert result.exit_code == 3
    assert "no such file" in result.stderr and str(db) in result.stderr
    assert not db.exists() and not db.parent.exists()


def test_empty_file_is_not_a_store_and_stays_empty(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    db.touch()
    result = cli("--store-uri", f"sqlite:///{db}", "artifacts", "list")
    assert result.exit_code == 3
    assert "empty file, not a vertex_track store" in result.stderr
    assert db.stat().st_size == 0


def test_another_applications_database_is_named_and_untouched(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE users (id INTEGER)")
        conn.execute("CREATE TABLE orders (id INTEGER)")
    before = db.read_bytes()
    for command in (["artifacts", "list"], ["runs", "list"], ["lineage", "x"],
                    ["purge", "artifacts", "--filter", "state = LIVE", "--force", "--yes"]):
        result = cli("--store-uri", f"sqlite:///{db}", *command)
        assert result.exit_code == 3, (command, result.stderr)
        assert ("a SQLite database without vertex_track's tables (found: orders, users)"
                in result.stderr.replace("an SQLite", "a SQLite")), result.stderr
    assert sorted(_tables(db)) == ["orders", "users"]
    assert _journal_mode(db) == "delete"  # not switched to WAL
    assert db.read_bytes() == before


def test_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "notes.txt"
    db.write_text("just some notes\n" * 100)
    result = cli("--store-uri", f"sqlite:///{db}", "executions", "list")
    assert result.exit_code == 3
    assert "not an SQLite database" in result.stderr
    assert db.read_text() == "just some notes\n" * 100


def test_newer_schema_is_refused_by_inspection(tmp_path: Path) -> None:
    db = tmp_path / "metadata.db"
    uri = f"sqlite:///{db}"
    vt.init(store_uri=uri)
    vt.Artifact.create("system.Dataset", uri="file:///data.csv")
    from vertex_track.store.sql.store import dispose_engine

    dispose_engine(uri)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE vt_schema_version SET version = ?", (HEAD + 5,))
    result = cli("--store-uri", uri, "artifacts", "list")
    assert result.exit_code == 3
    assert f"schema version {HEAD + 5} is newer than this vertex_track" in result.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version FROM vt_schema_version").fetchone()[0] == HEAD + 5


def test_read_only_open_of_the_library(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    with pytest.raises(StoreUnavailableError, match="no such file"):
        open_store(f"sqlite:///{db}", read_only=True)
    assert not db.exists()


def test_inspection_reads_a_real_store_and_leaves_no_wal_files(tmp_path: Path) -> None:
    db = tmp_path / "store" / "metadata.db"
    uri = f"sqlite:///{db}"
    vt.init(store_uri=uri)
    vt.Artifact.create("system.Dataset", uri="file:///data.csv", display_name="data")
    from vertex_track.store.sql.store import dispose_engine

    dispose_engine(uri)
    out = subprocess.run(
        [sys.executable, "-m", "vertex_track.cli", "--store-uri", uri, "artifacts", "list",
         "--json"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    assert [a["display_name"] for a in json.loads(out.stdout)] == ["data"]
    assert not db.with_name("metadata.db-wal").exists()


def test_read_only_store_refuses_writes(store: MetadataStore, store_uri: str) -> None:
    vt.Artifact.create("system.Dataset", uri="file:///data.csv", display_name="data")
    ro = open_store(store_uri, read_only=True)
    assert [a.display_name for a in vt.Artifact.list(store=ro)] == ["data"]
    with pytest.raises(StoreUnavailableError):
        vt.Artifact.create("system.Dataset", uri="file:///other.csv", store=ro)
    assert len(vt.Artifact.list()) == 1


def test_an_unknown_metadata_store_in_a_real_database_reads_as_empty(
    store: MetadataStore, store_uri: str
) -> None:
    vt.Artifact.create("system.Dataset", uri="file:///data.csv")
    ro = open_store(store_uri, metadata_store="elsewhere", read_only=True)
    assert vt.Artifact.list(store=ro) == []
    rw = open_store(store_uri, metadata_store="elsewhere2")
    assert rw is not ro


def test_writing_commands_still_write(store: MetadataStore) -> None:
    vt.Artifact.create("system.Dataset", uri="file:///tmp.csv", display_name="tmp")
    result = cli("purge", "artifacts", "--filter", 'display_name = "tmp"', "--force", "--yes")
    assert result.exit_code == 0, result.stderr
    assert vt.Artifact.list() == []


# -- PostgreSQL ---------------------------------------------------------------------------


@pytest.fixture
def foreign_schema() -> Any:
    """A PostgreSQL schema with another application's table, dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need VERTEX_TRACK_TEST_POSTGRES_URL")
    import psycopg

    schema = f"vt_foreign_{uuid.uuid4().hex[:10]}"
    dsn = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'CREATE TABLE "{schema}".invoices (id int)')
    try:
        yield dsn, schema
    finally:
        from vertex_track.store.sql.store import dispose_engine

        dispose_engine(postgres_schema_url(POSTGRES_URL, schema))
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _schema_tables(dsn: str, schema: str) -> list[str]:
    import psycopg

    with psycopg.connect(dsn) as conn:
        return [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (schema,),
        )]


def test_postgres_schema_without_our_tables(foreign_schema: tuple[str, str]) -> None:
    dsn, schema = foreign_schema
    uri = postgres_schema_url(POSTGRES_URL or "", schema)
    for command in (["artifacts", "list"], ["runs", "list"]):
        result = cli("--store-uri", uri, *command)
        assert result.exit_code == 3, result.stderr
        assert "without vertex_track's tables" in result.stderr
        assert "(found: invoices)" in result.stderr
    assert _schema_tables(dsn, schema) == ["invoices"]


def test_postgres_missing_schema(foreign_schema: tuple[str, str]) -> None:
    uri = postgres_schema_url(POSTGRES_URL or "", "vt_no_such_schema_here")
    result = cli("--store-uri", uri, "artifacts", "list")
    assert result.exit_code == 3
    assert "vt_no_such_schema_here" in result.stderr
    assert "exists" in result.stderr


# -- Artifact.load() does not trust the record ------------------------------------------


def _hand_made(uri: str, materializer: str, digest: str | None = None) -> vt.Artifact:
    meta: dict[str, Any] = {"materializer": materializer, "materializer_version": 1}
    if digest:
        meta["digest"] = digest
    return vt.Artifact.create("system.Artifact", uri=uri, metadata={"vertex_track": meta})


def test_load_refuses_paths_outside_the_artifact_store(store: MetadataStore) -> None:
    from vertex_track.exceptions import InvalidArgumentError, UntrustedArtifactError

    root = ArtifactStoreRoot.current()
    for uri in ("file:///etc/passwd", "/etc/hostname"):
        art = _hand_made(uri, "bytes")
        with pytest.raises(UntrustedArtifactError, match="outside the artifact store") as err:
            art.load()
        assert "load(trust=True)" in str(err.value) and art.name in str(err.value)
        assert isinstance(err.value, InvalidArgumentError)
    relative = _hand_made("../../../../etc/hostname", "bytes")
    with pytest.raises(UntrustedArtifactError, match="not an absolute URI"):
        relative.load()
    climbing = _hand_made(f"{root}/sha256/../../../../../etc/hostname", "bytes")
    with pytest.raises(UntrustedArtifactError, match=r"'\.\.'"):
        climbing.load()


def test_load_verifies_the_recorded_digest(store: MetadataStore) -> None:
    import numpy as np

    from vertex_track.exceptions import ArtifactIntegrityError

    @vt.track
    def make() -> vt.Dataset:
        return np.arange(1000, dtype=np.int64)

    make()
    art = vt.Artifact.list(filter='schema_title = "system.Dataset"')[0]
    assert list(art.load()[:3]) == [0, 1, 2]
    path = Path(art.uri.removeprefix("file://"))
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[-8:] = (12345).to_bytes(8, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError) as err:
        art.load()
    message = str(err.value)
    assert art.name in message and art.digest in message and "modified" in message
    assert err.value.expected == art.digest and err.value.actual != art.digest
    with pytest.raises(ArtifactIntegrityError):
        art.load(trust=True)  # trust is about locations, never about altered bytes


class ArtifactStoreRoot:
    @staticmethod
    def current() -> str:
        from vertex_track.artifacts import ArtifactStore
        from vertex_track.config import get_settings

        return ArtifactStore.for_root(get_settings().artifact_root).root_uri


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (Path.touch, (self.marker,))


def test_load_refuses_pickles_this_store_did_not_write(
    store: MetadataStore, tmp_path: Path
) -> None:
    import hashlib

    import cloudpickle

    from vertex_track.exceptions import UntrustedArtifactError

    marker = tmp_path / "code-ran"
    blob = cloudpickle.dumps(_Payload(marker))
    hexd = hashlib.sha256(blob).hexdigest()
    # A pickle in the content layout of a root this process never wrote to.
    obj = tmp_path / "elsewhere" / "sha256" / hexd[:2] / f"{hexd}.pkl"
    obj.parent.mkdir(parents=True)
    obj.write_bytes(blob)
    art = _hand_made(f"file://{obj}", "pickle", f"sha256:{hexd}")
    with pytest.raises(UntrustedArtifactError, match="unpickling runs code") as err:
        art.load()
    assert "load(trust=True)" in str(err.value)
    assert not marker.exists()
    art.load(trust=True)
    assert marker.exists()


def test_pickles_this_store_wrote_load_without_trust(store: MetadataStore) -> None:
    @vt.track
    def make() -> object:
        return {1, 2, 3}  # a set: stored with pickle

    make()
    art = next(a for a in vt.Artifact.list() if a.metadata["vertex_track"].get("materializer")
               == "pickle")
    assert art.load() == {1, 2, 3}


# -- gc keeps what any record references -------------------------------------------------


def _gc(*args: str) -> dict[str, Any]:
    result = cli("gc", "--min-age", "0", "--json", *args)
    assert result.exit_code == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_gc_keeps_objects_referenced_from_any_metadata_field(
    store: MetadataStore, tmp_path: Path
) -> None:
    from vertex_track.artifacts import ArtifactStore
    from vertex_track.config import get_settings

    vt.init(experiment="gc-experiment")
    with vt.start_run("run-1"):
        model = vt.log_model({"weights": [1.0, 2.0]}, input_example=[[1, 2], [3, 4]])
    astore = ArtifactStore.for_root(get_settings().artifact_root)
    orphan = astore.put(b"nobody points at me" * 100)
    # Only the input example's metadata.inputExample.uri names this object.
    example_uri = model.metadata["inputExample"]["uri"]
    report = _gc()
    assert [g["uri"] for g in report["unreferenced"]] == [orphan.uri]
    assert report["missing"] == [] and report["partials"] == []
    done = _gc("--force", "--yes")
    assert done["deleted"] == 1
    assert astore.exists(example_uri) and not astore.exists(orphan.uri)
    info = vt.ExperimentRun("run-1", experiment="gc-experiment").get_experiment_models()[0]
    assert info.get_model_info()["input_example"] == [[1, 2], [3, 4]]


def test_gc_reports_missing_files_and_partial_writes(store: MetadataStore) -> None:
    import os
    import time

    from vertex_track.artifacts import ArtifactStore
    from vertex_track.config import get_settings

    @vt.track
    def make() -> object:
        return {"a set": {1, 2, 3}}

    make()
    art = next(a for a in vt.Artifact.list() if a.uri)
    path = Path(art.uri.removeprefix("file://"))
    path.unlink()
    astore = ArtifactStore.for_root(get_settings().artifact_root)
    tmp = Path(astore._backend.tmp_dir)
    tmp.mkdir(exist_ok=True)
    part = tmp / "0123abcd.npy.part"
    part.write_bytes(b"half a write")
    old = time.time() - 7200
    os.utime(part, (old, old))
    report = _gc()
    assert report["missing"] == [{"uri": art.uri, "referenced_by": art.name}]
    assert [p["uri"].rsplit("/", 1)[-1] for p in report["partials"]] == [part.name]
    assert report["partials"][0]["age_s"] >= 7000
    text = cli("gc", "--min-age", "0")
    assert "1 referenced file(s) are missing" in text.stderr and art.uri in text.stderr
    assert "unfinished writes (.part)" in text.stderr
    assert part.exists()  # a dry run deletes nothing
    done = _gc("--force", "--yes")
    assert done["tmp_removed"] == 1 and not part.exists()


def test_gc_force_needs_yes_on_a_pipe(store: MetadataStore) -> None:
    from vertex_track.artifacts import ArtifactStore
    from vertex_track.config import get_settings

    orphan = ArtifactStore.for_root(get_settings().artifact_root).put(b"orphan" * 100)
    result = cli("gc", "--force", "--min-age", "0")
    assert result.exit_code == 2
    assert "stdin is not a terminal; add --yes" in result.stderr
    assert ArtifactStore.for_root(get_settings().artifact_root).exists(orphan.uri)


def test_gc_with_an_unknown_protocol_is_a_clean_error(store: MetadataStore) -> None:
    result = cli("--artifact-root", "foo://x", "gc")
    assert result.exit_code == 2
    assert "artifact_root 'foo://x' cannot be opened" in result.stderr
    assert "Protocol not known: foo" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert result.exception is None or isinstance(result.exception, SystemExit)


# -- doctor ---------------------------------------------------------------------------------


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _doctor(*args: str) -> tuple[int, dict[str, Any]]:
    result = cli("doctor", "--no-prefect", "--json", *args)
    assert result.exit_code in (0, 5), (result.exit_code, result.stderr)
    return result.exit_code, dict(json.loads(result.stdout))


def test_doctor_marks_records_whose_process_is_gone(store: MetadataStore) -> None:
    import socket

    from vertex_track.processes import process_info

    host = socket.gethostname()
    dead = {"host": host, "pid": _dead_pid(), "started": 1.0}
    crashed = vt.Execution.create(
        display_name="train", state="RUNNING", metadata={"vertex_track": {"process": dead}})
    alive = vt.Execution.create(
        display_name="live", state="RUNNING",
        metadata={"vertex_track": {"process": process_info()}})
    elsewhere = vt.Execution.create(
        display_name="remote", state="RUNNING",
        metadata={"vertex_track": {"process": {"host": "another-host", "pid": 1}}})
    reused = vt.Execution.create(
        display_name="reused", state="RUNNING",
        metadata={"vertex_track": {"process": {**process_info(), "started": 1.0}}})
    run = vt.Context.create(
        "system.PipelineRun", display_name="nightly",
        metadata={"flow_run_id": str(uuid.uuid4()), "state": "RUNNING",
                  "vertex_track": {"process": dead}})
    code, report = _doctor()
    assert code == 5 and not report["healthy"]
    crashed_names = {f["resource"] for f in report["findings"] if f["check"] == "crashed"}
    assert crashed_names == {crashed.name, reused.name, run.name}
    message = next(f["message"] for f in report["findings"] if f["resource"] == crashed.name)
    assert f"pid {dead['pid']}" in message and "gone" in message
    assert vt.Execution.get(crashed.name).state.value == "RUNNING"  # a report changes nothing

    code, fixed = _doctor("--fix")
    assert code == 0 and all(f["fixed"] for f in fixed["findings"] if f["check"] == "crashed")
    after = vt.Execution.get(crashed.name)
    assert after.state.value == "FAILED"
    assert "marked FAILED by vertex-track doctor" in after.metadata["vertex_track"]["error_message"]
    assert after.metadata["vertex_track"]["process"] == dead  # bookkeeping kept
    assert vt.Execution.get(alive.name).state.value == "RUNNING"
    assert vt.Execution.get(elsewhere.name).state.value == "RUNNING"
    assert vt.Context.get(run.name).metadata["state"] == "FAILED"
    listed = json.loads(cli("runs", "list", "--json").stdout)
    assert [(r["display_name"], r["state"]) for r in listed] == [("nightly", "FAILED")]
    assert _doctor()[0] == 0


def test_doctor_reports_missing_files_and_partial_writes(store: MetadataStore) -> None:
    from vertex_track.artifacts import ArtifactStore
    from vertex_track.config import get_settings

    @vt.track
    def make() -> object:
        return {"big": list(range(5000))}

    make()
    art = next(a for a in vt.Artifact.list() if a.uri)
    Path(art.uri.removeprefix("file://")).unlink()
    tmp = Path(ArtifactStore.for_root(get_settings().artifact_root)._backend.tmp_dir)
    tmp.mkdir(exist_ok=True)
    (tmp / "feed.part").write_bytes(b"x")
    code, report = _doctor("--fix")
    assert code == 5  # missing bytes cannot be fixed
    by_check = {f["check"]: f for f in report["findings"]}
    assert by_check["missing-files"]["resource"] == art.name
    assert by_check["missing-files"]["severity"] == "error"
    assert by_check["partial-writes"]["severity"] == "warning"
    assert "feed.part" in by_check["partial-writes"]["message"]
    text = cli("doctor", "--no-prefect")
    assert text.exit_code == 5 and "missing" in text.stdout


def test_doctor_finds_and_deletes_dangling_events(tmp_path: Path) -> None:
    db = tmp_path / "metadata.db"
    uri = f"sqlite:///{db}"
    vt.init(store_uri=uri, artifact_root=str(tmp_path / "artifacts"))
    ds = vt.Artifact.create("system.Dataset", uri="file:///data.csv")
    with vt.start_execution(schema_title="system.ContainerExecution", display_name="e") as ex:
        ex.assign_input_artifacts([ds])
    from vertex_track.store.sql.store import dispose_engine

    dispose_engine(uri)
    with sqlite3.connect(db) as conn:  # another program, deleting around the foreign keys
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("DELETE FROM vt_artifacts")
    code, report = _doctor()
    assert code == 5
    messages = [f["message"] for f in report["findings"]]
    assert any("1 event(s) point at an artifact that does not exist" in m for m in messages)
    assert any("foreign_key_check" in m for m in messages)
    code, _ = _doctor("--fix")
    assert _doctor()[0] == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM vt_events").fetchone()[0] == 0


def test_doctor_on_something_that_is_not_a_store(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    db.touch()
    result = cli("--store-uri", f"sqlite:///{db}", "doctor", "--fix")
    assert result.exit_code == 3 and "empty file" in result.stderr
    assert db.stat().st_size == 0


_KILLED_FLOW = '''
import sys, time
from pathlib import Path
from prefect import task
import vertex_track as vt

@vt.track
@task
def prepare(n: int) -> list:
    return list(range(n))

@vt.track
@task
def train(data: list) -> dict:
    Path(sys.argv[1]).write_text("started")
    time.sleep(600)  # killed here
    return {"w": sum(data)}

@vt.flow(name="killed-flow")
def pipeline():
    return train(prepare(10))

pipeline()
'''


@pytest.mark.slow
def test_doctor_after_a_flow_is_killed_mid_task(store: MetadataStore, tmp_path: Path) -> None:
    import os
    import signal
    import time

    from vertex_track.config import get_settings

    script = tmp_path / "flow.py"
    script.write_text(_KILLED_FLOW)
    marker = tmp_path / "train-started"
    settings = get_settings()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VERTEX_TRACK_", "PREFECT_"))}
    env.update(
        VERTEX_TRACK_STORE_URI=settings.store_uri, VERTEX_TRACK_ARTIFACT_ROOT=settings.artifact_root,
        VERTEX_TRACK_HOME=str(tmp_path / "home"), PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
    )
    # Its own process group, so the SIGKILL also takes the temporary Prefect
    # server the flow started (as a crash of a whole machine or container would).
    proc = subprocess.Popen([sys.executable, str(script), str(marker)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        running: list[vt.Execution] = []
        while time.monotonic() < deadline and proc.poll() is None:
            if marker.exists():
                running = vt.Execution.list(filter='display_name = "train*" AND state = RUNNING')
                if running:
                    break
            time.sleep(0.2)
        assert running, proc.stderr.read().decode() if proc.poll() is not None else "timeout"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

    code, report = _doctor()
    assert code == 5
    crashed = {f["resource"] for f in report["findings"] if f["check"] == "crashed"}
    run = vt.PipelineRun.list()[0]
    assert crashed == {running[0].name, run.name}
    listed = json.loads(cli("runs", "list", "--json").stdout)
    assert [r["state"] for r in listed] == ["RUNNING"]

    assert _doctor("--fix")[0] == 0
    assert vt.Execution.get(running[0].name).state.value == "FAILED"
    assert vt.PipelineRun.get(run.flow_run_id or "").state.value == "FAILED"
    listed = json.loads(cli("runs", "list", "--json").stdout)
    assert [(r["flow_name"], r["state"]) for r in listed] == [("killed-flow", "FAILED")]
    prepare = vt.Execution.list(filter='display_name = "prepare*"')
    assert [e.state.value for e in prepare] == ["COMPLETE"]  # finished work is untouched


# -- smaller items -----------------------------------------------------------------------


def test_an_open_file_argument_is_recorded_as_a_placeholder(
    store: MetadataStore, tmp_path: Path
) -> None:
    import threading

    from vertex_track.artifacts import ArtifactStore
    from vertex_track.config import get_settings

    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (4 << 20))

    @vt.track
    def consume(f: Any, lock: Any, chunks: Any) -> int:
        return len(f.read(16)) + sum(1 for _ in chunks)

    with big.open("rb") as f:
        assert consume(f, threading.Lock(), (i for i in range(3))) == 19
    ex = vt.Execution.list()[0]
    arts = {a.display_name: a for a in ex.get_input_artifacts()}
    assert arts["f"].metadata["value"] == {
        "type": "_io.BufferedReader", "name": str(big), "mode": "rb", "closed": False,
    }
    assert arts["f"].uri == "" and arts["f"].metadata["vertex_track"]["placeholder"] is True
    assert arts["lock"].metadata["value"] == {"type": "_thread.lock"}
    assert arts["chunks"].metadata["value"]["type"] == "generator"
    assert arts["f"].load()["name"] == str(big)
    # Nothing was read into the artifact store.
    assert list(ArtifactStore.for_root(get_settings().artifact_root).iter_objects()) == []


def test_artifacts_show_with_an_empty_name_is_an_error(store: MetadataStore) -> None:
    vt.Artifact.create("system.Dataset", uri="file:///unnamed.csv")  # display_name ""
    for ref in ("", "   "):
        result = cli("artifacts", "show", ref)
        assert result.exit_code == 2
        assert "an empty artifact name" in result.stderr
        assert "unnamed.csv" not in result.stdout


def test_a_huge_limit_is_not_a_page_size_error(store: MetadataStore) -> None:
    for i in range(3):
        vt.Artifact.create("system.Dataset", uri=f"file:///d{i}.csv", display_name=f"d{i}")
    result = cli("artifacts", "list", "--limit", str(10**12), "--json")
    assert result.exit_code == 0, result.stderr
    assert "page_size" not in result.stderr
    assert sorted(a["display_name"] for a in json.loads(result.stdout)) == ["d0", "d1", "d2"]
    result = cli("artifacts", "list", "--limit", "-1")
    assert result.exit_code == 2 and "--limit" in result.stderr


@pytest.mark.slow
def test_doctor_asks_prefect_how_runs_ended(prefect_harness: None, store: MetadataStore) -> None:
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled, Crashed

    @flow
    def plain() -> int:
        return 1

    ids = []
    for _ in range(3):
        state = plain(return_state=True)
        ids.append(str(state.state_details.flow_run_id))
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(ids[1], Crashed(message="killed"), force=True)
        client.set_flow_run_state(ids[2], Cancelled(), force=True)
    runs = [
        vt.Context.create("system.PipelineRun", display_name=f"run-{i}",
                          metadata={"flow_run_id": fid, "state": "RUNNING"})
        for i, fid in enumerate(ids)
    ]
    result = cli("doctor", "--no-prefect", "--json")
    assert result.exit_code == 0  # without Prefect's word (and no process) nothing is judged
    result = cli("doctor", "--prefect", "--fix", "--json")
    assert result.exit_code == 0, result.stderr
    messages = {f["resource"]: f["message"] for f in json.loads(result.stdout)["findings"]}
    assert "COMPLETED" in messages[runs[0].name]
    assert "ended CRASHED" in messages[runs[1].name]
    assert "CANCELLED" in messages[runs[2].name]
    states = [vt.Context.get(r.name).metadata["state"] for r in runs]
    assert states == ["COMPLETE", "FAILED", "CANCELLED"]  # Prefect's final state
    assert vt.Context.get(runs[1].name).metadata["error_type"] == "PrefectRunEnded"
    assert "error_type" not in vt.Context.get(runs[0].name).metadata


def test_inspection_reads_an_older_schema_without_upgrading_it(tmp_path: Path) -> None:
    db = tmp_path / "metadata.db"
    uri = f"sqlite:///{db}"
    vt.init(store_uri=uri)
    vt.Artifact.create("system.Dataset", uri="file:///data.csv", display_name="old")
    from vertex_track.store.sql.readonly import OLDEST_READABLE
    from vertex_track.store.sql.store import dispose_engine

    dispose_engine(uri)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE vt_schema_version SET version = ?", (OLDEST_READABLE,))
    result = cli("--store-uri", uri, "artifacts", "list", "--json")
    assert result.exit_code == 0, result.stderr
    assert [a["display_name"] for a in json.loads(result.stdout)] == ["old"]
    with sqlite3.connect(db) as conn:  # read, not migrated
        assert conn.execute("SELECT version FROM vt_schema_version").fetchone()[0] == (
            OLDEST_READABLE)
