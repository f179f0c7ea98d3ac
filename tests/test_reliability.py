"""Nothing is lost, nothing is corrupted: concurrent writers and crashes."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import vertex_track as vt

WORKER = textwrap.dedent("""
    import sys, vertex_track as vt
    from vertex_track.tracking import flush
    uri, root, worker, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    vt.init(store_uri=uri, artifact_root=root)

    @vt.track
    def step(data: dict, i: int) -> dict:
        return {"worker": worker, "i": i, "payload": data["x"] * 2}

    for i in range(n):
        step({"x": i, "w": worker}, i)
        if i % 7 == 0:  # hand-made records interleave with the tracked ones
            vt.Artifact.create("system.Dataset", display_name=f"{worker}-{i}")
    flush()
    print("done", flush=True)
""")


def _run_workers(uri: str, root: Path, workers: int, n: int, tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), uri, str(root), f"w{k}", str(n)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for k in range(workers)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        assert "done" in out


def test_concurrent_processes_lose_nothing(store_uri: str, tmp_path: Path) -> None:
    workers, n = 4, 120
    _run_workers(store_uri, tmp_path / "artifacts", workers, n, tmp_path)
    vt.init(store_uri=store_uri)
    executions = list(vt.Execution.iter(page_size=500))
    assert len(executions) == workers * n
    assert all(e.state == "COMPLETE" for e in executions)
    hand_made = vt.Artifact.list(filter='schema_title = "system.Dataset"')
    assert len(hand_made) == workers * len(range(0, n, 7))
    sample = executions[::37]
    for execution in sample:
        values = {a.name: a.load() for a in execution.get_output_artifacts()}
        out = {e.label: values[e.artifact] for e in execution.get_events() if e.type == "OUTPUT"}
        (data,) = execution.get_input_artifacts()
        assert out["payload"] == data.load()["x"] * 2
        assert out["i"] == execution.metadata["i"]


CRASHER = textwrap.dedent("""
    import sys, vertex_track as vt
    uri, root = sys.argv[1], sys.argv[2]
    vt.init(store_uri=uri, artifact_root=root)

    @vt.track
    def step(blob: bytes, i: int) -> bytes:
        return blob[::-1] + bytes([i % 256])

    i = 0
    while True:  # until killed
        step(bytes(range(256)) * 64 + i.to_bytes(4, "big"), i)
        i += 1
""")


def test_a_killed_writer_leaves_a_consistent_store(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    uri = f"sqlite:///{db}"
    script = tmp_path / "crasher.py"
    script.write_text(CRASHER)
    for attempt in range(3):  # kill at different points, once writes are under way
        before = _count(db)
        proc = subprocess.Popen([sys.executable, str(script), uri, str(tmp_path / "art")])
        deadline = time.monotonic() + 120
        while _count(db) <= before and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.1 + attempt * 0.37)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    vt.init(store_uri=uri, artifact_root=str(tmp_path / "art"))
    executions = list(vt.Execution.iter(page_size=1000))
    assert executions, "the writer recorded something before it was killed"
    for execution in executions:
        # a record is whole or absent: COMPLETE ones have their output and its bytes
        if execution.state == "COMPLETE":
            (out,) = execution.get_output_artifacts()
            assert len(out.load()) == 256 * 64 + 4 + 1
        else:
            assert execution.state == "RUNNING"
    tmp_files = list((tmp_path / "art").rglob(".tmp/*"))
    final = [p for p in (tmp_path / "art" / "sha256").rglob("*") if p.is_file()]
    for path in final:  # no half-written object at a final URI
        assert path.stat().st_size == 256 * 64 + 4 or path.stat().st_size == 256 * 64 + 5
    assert all(p.name != "" for p in tmp_files)


def _count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM vt_executions").fetchone()[0])
    except sqlite3.OperationalError:  # schema not created yet
        return 0


def _hammer(uri: str, n: int, tag: str) -> None:
    vt.init(store_uri=uri)
    for i in range(n):
        vt.Artifact.create("system.Artifact", display_name=f"{tag}-{i}")


@pytest.mark.parametrize("processes", [3])
def test_sqlite_concurrent_creates_never_hit_database_locked(tmp_path: Path, processes: int) -> None:
    uri = f"sqlite:///{tmp_path / 'hammer.db'}"
    vt.init(store_uri=uri)
    vt.Artifact.list()  # create the schema first, as a user's first call would
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_hammer, args=(uri, 150, f"p{k}")) for k in range(processes)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    assert len(vt.Artifact.list()) == processes * 150
    assert os.path.getsize(tmp_path / "hammer.db") > 0
