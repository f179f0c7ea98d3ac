"""Nothing is lost, nothing is corrupted: concurrent writers and crashes."""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import pytest

import vertex_track as vt
from vertex_track.store import get_store, open_store

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


# -- SQLite write connections: one per thread, closed with the engine, not shared by fork --
def _writers(store: object) -> Any:
    return store.fast._writers  # type: ignore[attr-defined]


def test_sqlite_threads_write_on_their_own_connections(tmp_path: Path) -> None:
    vt.init(store_uri=f"sqlite:///{tmp_path / 'threads.db'}")
    ctx = vt.Context.create("system.PipelineRun")
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(40):
                with vt.start_execution(display_name=f"t{k}-{i}") as e:
                    a = vt.Artifact.create("system.Dataset", display_name=f"t{k}-{i}")
                    e.assign_input_artifacts([a])
                ctx.add_artifacts_and_executions([a.name], [e.name])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(ctx.get_executions()) == len(ctx.get_artifacts()) == 6 * 40
    assert all(e.state == "COMPLETE" for e in vt.Execution.list())
    gc.collect()
    assert len(_writers(get_store()).conns) <= 1  # ended threads closed theirs


def test_sqlite_dispose_closes_write_connections_and_writing_reopens(tmp_path: Path) -> None:
    from vertex_track.store.sql.store import dispose_engine

    uri = f"sqlite:///{tmp_path / 'dispose.db'}"
    store = open_store(uri)
    vt.Artifact.create("system.Dataset", resource_id="before", store=store)
    idle = threading.Thread(
        target=lambda: vt.Artifact.create("system.Dataset", resource_id="idle", store=store)
    )
    idle.start()
    idle.join()
    conns = list(_writers(store).conns)
    dispose_engine(uri)
    assert all(c.closed for c in conns)
    vt.Artifact.create("system.Dataset", resource_id="after", store=store)  # a new connection
    fresh = open_store(uri)
    assert {a.resource_id for a in vt.Artifact.list(store=fresh)} == {"before", "idle", "after"}


def test_sqlite_a_thread_keeps_few_write_connections(tmp_path: Path) -> None:
    from vertex_track.store.sql import fast

    stores = [open_store(f"sqlite:///{tmp_path / f'db{k}.db'}") for k in range(fast._MAX_PER_THREAD + 3)]
    for round_ in range(2):  # the second round reopens the ones closed to make room
        for store in stores:
            vt.Artifact.create("system.Dataset", display_name=f"r{round_}", store=store)
    live = [c for store in stores for c in _writers(store).conns if not c.closed]
    assert len(live) == fast._MAX_PER_THREAD
    assert all(len(vt.Artifact.list(store=store)) == 2 for store in stores)


def _write_in_forked_child(store: Any, tag: str, report: str) -> None:
    try:
        for i in range(20):
            vt.Artifact.create("system.Dataset", display_name=f"{tag}-{i}", store=store)
    except BaseException:
        Path(report).write_text(traceback.format_exc())
        os._exit(1)
    # Skip multiprocessing's exit handlers: in a long test session they run
    # finalizers inherited from earlier tests, which can fail in a fork.
    os._exit(0)


def test_sqlite_a_forked_child_writes_on_its_own_connection(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'fork.db'}")
    vt.Artifact.create("system.Dataset", display_name="parent-0", store=store)
    parent_conn = _writers(store).local.conn
    ctx = mp.get_context("fork")
    reports = [tmp_path / f"child{k}.txt" for k in range(2)]
    procs = [
        ctx.Process(target=_write_in_forked_child, args=(store, f"c{k}", str(reports[k])))
        for k in range(2)
    ]
    for p in procs:
        p.start()
    for i in range(1, 21):  # the parent keeps writing meanwhile, on the same connection
        vt.Artifact.create("system.Dataset", display_name=f"parent-{i}", store=store)
    for p, report in zip(procs, reports):
        p.join(timeout=120)
        assert p.exitcode == 0, report.read_text() if report.exists() else p.exitcode
    assert _writers(store).local.conn is parent_conn and not parent_conn.closed
    assert len(vt.Artifact.list(store=store)) == 21 + 2 * 20
    with sqlite3.connect(tmp_path / "fork.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_sqlite_in_memory_store_writes_through_its_one_connection() -> None:
    store = open_store("sqlite:///:memory:")
    a = vt.Artifact.create("system.Dataset", store=store)
    with vt.start_execution(store=store) as e:
        e.assign_output_artifacts([a])
    assert [x.name for x in vt.Execution.get(e.name, store=store).get_output_artifacts()] == [a.name]
