"""What users do with an SQLite store file: copy it after a run, or meet a damaged one."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import run_python

import vertex_track as vt
from vertex_track.store import open_store
from vertex_track.store.sql.store import dispose_engine


def test_after_a_tracked_flow_script_exits_the_database_file_alone_holds_every_record(
    tmp_path: Path,
) -> None:
    db = tmp_path / "metadata.db"
    script = tmp_path / "flow.py"
    script.write_text(textwrap.dedent(f"""
        import vertex_track as vt
        from prefect import task
        vt.init(store_uri="sqlite:///{db}", artifact_root="{tmp_path}/art")

        @vt.track
        @task
        def work(i: int) -> list:
            return [i] * 100

        @vt.flow
        def many():
            return len([work(i) for i in range(30)])

        print(many())
    """))
    env = {
        **os.environ, "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
    }
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    returncode = run_python([str(script)], env=env, stdout=out, stderr=err)
    assert returncode == 0, err.read_text()[-3000:]
    wal = Path(f"{db}-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    copy = tmp_path / "copy.db"
    shutil.copy(db, copy)  # the database file only, as `cp metadata.db copy.db` does
    with contextlib.closing(sqlite3.connect(copy)) as conn:
        assert conn.execute("SELECT count(*) FROM vt_executions").fetchone()[0] == 30
        assert conn.execute("SELECT count(*) FROM vt_events").fetchone()[0] >= 30


def _damage(path: Path) -> None:
    """Overwrite the data pages after the header and schema page, as a bad disk would."""
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.seek(4096 * 2)
        f.write(b"\xde\xad\xbe\xef" * ((size - 4096 * 2) // 4))


def _store_with_records(tmp_path: Path) -> str:
    uri = f"sqlite:///{tmp_path / 'metadata.db'}"
    vt.init(store_uri=uri, artifact_root=str(tmp_path / "art"))
    for i in range(300):
        vt.Artifact.create("system.Dataset", display_name=f"d{i}", metadata={"i": i})
    dispose_engine(uri)  # checkpointed and closed: the pages are in the file
    return uri


def test_a_damaged_sqlite_file_is_reported_as_unavailable_naming_the_file(tmp_path: Path) -> None:
    uri = _store_with_records(tmp_path)
    _damage(tmp_path / "metadata.db")
    with pytest.raises(vt.StoreUnavailableError) as info:
        store = open_store(uri)
        vt.Artifact.list(store=store)
    assert str(tmp_path / "metadata.db") in str(info.value)
    assert "damaged" in str(info.value) or "cannot open" in str(info.value)


def test_the_cli_exits_3_on_a_damaged_store(tmp_path: Path) -> None:
    uri = _store_with_records(tmp_path)
    _damage(tmp_path / "metadata.db")
    proc = subprocess.run(
        [sys.executable, "-m", "vertex_track.cli", "--store-uri", uri, "artifacts", "list"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 3, proc.stderr
    assert str(tmp_path / "metadata.db") in proc.stderr
    assert "Traceback" not in proc.stderr


def test_sync_writes_spooled_records_once_and_reports_in_json(tmp_path: Path) -> None:
    import json

    from vertex_track.store.base import TrackedRecord
    from vertex_track.tracking.spool import Spool

    uri = f"sqlite:///{tmp_path / 'metadata.db'}"
    vt.init(store_uri=uri)
    store = open_store(uri)
    record = TrackedRecord(
        ("run-spooled", "spooled", "system.ContainerExecution", "COMPLETE", '{"x":1}', 1, 2),
        (("OUTPUT", "output", ("a-spooled", "out", "system.Artifact", '{"value":2}', "", None, 2)),),
        (), True,
    )
    Spool().append(store, [record])  # as the writer does during an outage
    dispose_engine(uri)
    cli = [sys.executable, "-m", "vertex_track.cli", "--store-uri", uri, "sync", "--json"]
    env = {**os.environ}
    first = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=120)
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert (data["records_written"], data["files_done"], data["lines_left"]) == (1, 1, 0)
    again = json.loads(subprocess.run(cli, capture_output=True, text=True, env=env,
                                      timeout=120).stdout)
    assert again["records_written"] == 0
    (execution,) = vt.Execution.list(store=open_store(uri))
    assert execution.display_name == "spooled" and execution.state == vt.ExecutionState.COMPLETE
    assert [a.metadata["value"] for a in execution.get_output_artifacts()] == [2]
