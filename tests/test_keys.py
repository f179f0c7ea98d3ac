"""Primary keys are unique by construction, and a clash is detected, never skipped.

Keys come from blocks the database hands out, so two processes cannot draw the
same key. The tests below force them to anyway (both processes put on the
same block, again and again, as clashing random bits used to do) and check
that nothing is lost and nothing is linked to the other process's records.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from sqlalchemy import text

import vertex_track as vt
from vertex_track.store import open_store
from vertex_track.store.sql import keys

FORCED_BLOCK = 7_000_000  # far above any block a fresh store hands out

WORKER = textwrap.dedent("""
    import sys, time, vertex_track as vt
    from vertex_track.store import get_store
    from vertex_track.tracking import flush
    uri, root, tag, n, start_at, forced = sys.argv[1:7]
    n, start_at, forced = int(n), float(start_at), int(forced)
    vt.init(store_uri=uri, artifact_root=root)
    store = get_store()
    keys = store.fast.keys

    def force(offset):
        # What a clash of random key bits did: both processes on the same keys.
        with keys.lock:
            keys.next = (forced << 20) + offset
            keys.end = (forced + 1) << 20

    @vt.track
    def step(x: str) -> str:
        return x + "-out"

    force(0)
    while time.time() < start_at:
        time.sleep(0.001)
    created = 0
    for i in range(n):
        if i % 100 == 0:
            force(i * 7)
        step(f"{tag}-{i}")
        if i % 10 == 0:
            force(i * 7)
            vt.Artifact.create("system.Dataset", display_name=f"{tag}-made-{i}")
            created += 1
    flush()
    print("done", created, flush=True)
""")


def _run_clashing(uri: str, tmp_path: Path, n: int) -> list[str]:
    script = tmp_path / "clash.py"
    script.write_text(WORKER)
    open_store(uri)  # migrate once, before the race
    start_at = time.time() + 4
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), uri, str(tmp_path / "art"), tag, str(n),
             str(start_at), str(FORCED_BLOCK)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for tag in ("p", "q")
    ]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        assert "done" in out, err[-3000:]
        outs.append(out)
    return outs


def test_processes_forced_onto_the_same_keys_lose_nothing_and_link_only_their_own(
    store_uri: str, tmp_path: Path
) -> None:
    n = 600
    _run_clashing(store_uri, tmp_path, n)
    store = open_store(store_uri)
    executions = vt.Execution.list(store=store)
    assert len(executions) == 2 * n
    assert all(e.state == vt.ExecutionState.COMPLETE for e in executions)
    made = vt.Artifact.list(filter='schema_title = "system.Dataset"', store=store)
    assert sorted(a.display_name for a in made) == sorted(
        f"{tag}-made-{i}" for tag in "pq" for i in range(0, n, 10)
    )
    # Every execution is linked to exactly its own input and output: the value
    # it was called with, and that value + "-out" (no event points at a row
    # of the other process).
    with store.read() as conn:
        rows = conn.execute(text(
            "SELECT e.metadata, a.metadata, ev.type FROM vt_events ev "
            "JOIN vt_executions e ON e.id = ev.execution_id "
            "JOIN vt_artifacts a ON a.id = ev.artifact_id"
        )).all()
    assert len(rows) == 2 * n  # one OUTPUT each (a str argument is a parameter)
    misattributed = 0
    for e_meta, a_meta, kind in rows:
        e_meta = json.loads(e_meta) if isinstance(e_meta, str) else e_meta
        a_meta = json.loads(a_meta) if isinstance(a_meta, str) else a_meta
        if kind != "OUTPUT" or a_meta.get("value") != f"{e_meta['x']}-out":
            misattributed += 1
    assert misattributed == 0


def test_create_never_reports_a_key_clash_as_an_existing_resource(store: object) -> None:
    alloc = store.fast.keys  # type: ignore[attr-defined]
    first = vt.Artifact.create("system.Dataset", display_name="first")
    with alloc.lock:  # put this process back on the key the first artifact got
        alloc.next -= 1
    second = vt.Artifact.create("system.Dataset", display_name="second")
    assert second.resource_id != first.resource_id
    names = sorted(a.display_name for a in vt.Artifact.list())
    assert names == ["first", "second"]


def test_keys_come_from_blocks_the_database_hands_out_once(store_uri: str) -> None:
    store = open_store(store_uri)
    fast = store.fast  # type: ignore[attr-defined]
    seen = set()
    for _ in range(3):
        fast.keys.discard()  # as a new process would: a block of its own
        block = fast.keys.take(fast, 1)[0] >> keys.BLOCK_BITS
        assert block not in seen
        seen.add(block)


def test_a_migrated_store_hands_out_keys_above_its_old_ones(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'old.db'}"
    store = open_store(uri)
    old_key = (1 << 57) + 12345  # a key of the clock-based scheme of earlier versions
    with store.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("DROP TABLE vt_key_blocks"))
        conn.execute(text("UPDATE vt_schema_version SET version = 2"))
        conn.execute(text(
            "INSERT INTO vt_contexts (id, store_id, resource_id, display_name, schema_title, "
            "schema_version, description, metadata, labels, etag, create_time, update_time) "
            f"VALUES ({old_key}, 1, 'old', '', 'system.Experiment', '0.0.1', '', '{{}}', "
            "'{}', 1, 0, 0)"
        ))
    from vertex_track.store.sql.store import dispose_engine

    dispose_engine(uri)
    store = open_store(uri)
    fast = store.fast  # type: ignore[attr-defined]
    fast.keys.discard()
    assert fast.keys.take(fast, 1)[0] > old_key
    assert vt.Context.get("old", store=store).resource_id == "old"
