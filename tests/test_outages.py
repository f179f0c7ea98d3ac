"""Database outages and unresponsive servers: nothing lost, no call waits unboundedly.

Every test here runs against a PostgreSQL server of its own (see
``private_postgres.py``), stopped and restarted under a running flow; the
shared test server is never touched. The unresponsive server is a socket
that accepts connections and never answers.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect import task
from private_postgres import PrivatePostgres, pg_bin

import vertex_track as vt
from vertex_track.store import open_store
from vertex_track.tracking import spool as spool_mod

pytestmark = pytest.mark.skipif(pg_bin() is None, reason="PostgreSQL binaries not installed")

# Short bounds so a test's outage outlasts them: retried 2 s, then spooled.
BOUNDS = {"connect_timeout": 1, "retry_timeout": 2, "unavailable_hold": 1}


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    pg.start()
    try:
        yield pg
    finally:
        from vertex_track.store.sql.store import dispose_engine

        dispose_engine(pg.url)
        pg.close()


_sixth_task = threading.Event()


@vt.track
@task
def square(i: int) -> dict:
    if i == 5:
        _sixth_task.set()
    time.sleep(0.2)
    return {"i": i, "square": i * i}


def _outage(pg: PrivatePostgres, down_s: float) -> threading.Thread:
    """Stop the server when the sixth task runs, start it again ``down_s`` later."""
    _sixth_task.clear()

    def run() -> None:
        _sixth_task.wait(timeout=300)
        pg.stop()
        time.sleep(down_s)
        pg.start()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _check_run_recorded(url: str, n: int) -> None:
    store = open_store(url)
    executions = vt.Execution.list(store=store)
    assert len(executions) == n
    assert sorted(e.state.value for e in executions) == ["COMPLETE"] * n
    # No task's outputs lost: each has its two (the dict's "i" and "square").
    values = {}
    for e in executions:
        outs = {ev.label: ev.artifact for ev in e.get_events() if ev.type == "OUTPUT"}
        assert sorted(outs) == ["i", "square"]
        values[e.resource_id] = vt.Artifact.get(outs["i"], store=store).metadata["value"]
    assert sorted(values.values()) == list(range(n))
    runs = vt.PipelineRun.list(store=store)
    assert [r.state for r in runs] == [vt.ExecutionState.COMPLETE]


@pytest.mark.parametrize("policy", ["raise", "warn"])
def test_a_flow_through_a_database_outage_loses_nothing(
    prefect_harness: None, private_pg: PrivatePostgres, tmp_path: Path, policy: str
) -> None:
    vt.init(store_uri=private_pg.url, artifact_root=str(tmp_path / "art"),
            on_tracking_error=policy, **BOUNDS)

    @vt.flow
    def fifty() -> int:
        return sum(square(i)["square"] for i in range(50))

    outage = _outage(private_pg, down_s=8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        state = fifty(return_state=True)
    outage.join()
    assert state.is_completed(), state.message  # Prefect's own verdict stands
    assert state.result() == sum(i * i for i in range(50))
    assert not [w for w in caught if "lost" in str(w.message)]
    vt.tracking.flush()
    _check_run_recorded(private_pg.url, 50)
    own = spool_mod.own_spool()
    assert own is None or not own.pending  # replayed once the server was back


SPOOLING_SCRIPT = textwrap.dedent("""
    import sys, time, vertex_track as vt
    from prefect import task
    from vertex_track.store.sql.store import dispose_engine

    url, root, stop_marker = sys.argv[1], sys.argv[2], sys.argv[3]
    vt.init(store_uri=url, artifact_root=root, connect_timeout=1, retry_timeout=1,
            unavailable_hold=1)

    @vt.track
    @task
    def square(i: int) -> dict:
        if i == 3:  # the server goes away now, for good (for this process)
            open(stop_marker, "w").close()
            time.sleep(2)
        return {"i": i, "square": i * i}

    @vt.flow
    def ten():
        return sum(square(i)["square"] for i in range(10))

    started = time.monotonic()
    state = ten(return_state=True)
    print("STATE", state.type.value, state.result(), round(time.monotonic() - started, 1),
          flush=True)
""")


def test_records_spooled_at_exit_are_written_by_sync_once(
    prefect_harness: None, private_pg: PrivatePostgres, tmp_path: Path
) -> None:
    home = tmp_path / "vt_home"
    script = tmp_path / "spooling.py"
    script.write_text(SPOOLING_SCRIPT)
    marker = tmp_path / "stop-now"
    env = {**os.environ, "VERTEX_TRACK_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, str(script), private_pg.url, str(tmp_path / "art"), str(marker)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    while not marker.exists() and proc.poll() is None:
        time.sleep(0.05)
    private_pg.stop()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    # The flow completed as Prefect saw it, under the default policy ("raise").
    assert "STATE COMPLETED 285" in out, out + err[-3000:]
    assert "vertex-track sync" in err  # the exit message says how to go on
    files = list((home / "spool").glob("*.jsonl"))
    assert len(files) == 1 and files[0].stat().st_size > 0

    private_pg.start()
    cli = [sys.executable, "-m", "vertex_track.cli", "--store-uri", private_pg.url, "sync"]
    first = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "spool files done" in first.stdout
    assert not list((home / "spool").glob("*.jsonl"))
    _check_run_recorded(private_pg.url, 10)
    again = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "wrote 0 spooled tracking records" in again.stdout
    _check_run_recorded(private_pg.url, 10)


def test_replaying_a_spool_twice_records_nothing_twice(
    private_pg: PrivatePostgres, tmp_path: Path
) -> None:
    vt.init(store_uri=private_pg.url, artifact_root=str(tmp_path / "art"))
    store = open_store(private_pg.url)

    @vt.track
    def double(x: list) -> list:
        return [v * 2 for v in x]

    for i in range(5):
        double([i, i + 1])
    vt.tracking.flush()
    events_before = sum(len(e.get_events()) for e in vt.Execution.list(store=store))
    # What a process that lost its acknowledgement would have spooled: the same
    # records again (RUNNING first, then the end state), replayed twice.
    from vertex_track.store.sql import tables as t

    with store.read() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(t.executions.select()).mappings().all()
    import json

    records = []
    for row in rows:
        meta = row["metadata"] if isinstance(row["metadata"], str) else json.dumps(row["metadata"])
        records.append(spool_mod.TrackedRecord(
            (row["resource_id"], row["display_name"], row["schema_title"], "RUNNING", meta,
             row["create_time"], row["create_time"]), (), (), True,
        ))
    sp = spool_mod.Spool()
    sp.append(store, records)
    for _ in range(2):
        result = spool_mod.replay_file(sp.path, lambda line: store)
        assert result.errors == []
    executions = vt.Execution.list(store=store)
    assert len(executions) == 5
    assert all(e.state == vt.ExecutionState.COMPLETE for e in executions)  # not set back
    assert sum(len(e.get_events()) for e in executions) == events_before


class Blackhole:
    """A TCP port that accepts connections and never answers (an unresponsive server)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)  # never read, never answered

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.mark.parametrize("policy", ["raise", "warn"])
def test_an_unresponsive_server_costs_a_tracked_call_at_most_the_bound_and_loses_nothing(
    tmp_path: Path, policy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool_mod, "_spool", None)  # this test's spool file, not an earlier one's
    hole = Blackhole()
    try:
        url = f"postgresql://postgres@127.0.0.1:{hole.port}/postgres"
        vt.init(store_uri=url, artifact_root=str(tmp_path / "art"), on_tracking_error=policy,
                connect_timeout=1, retry_timeout=1, unavailable_hold=30)

        @vt.track
        def step(i: int) -> int:
            return i + 1

        stalls = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for i in range(20):
                started = time.monotonic()
                assert step(i) == i + 1  # the task itself is unaffected
                stalls.append(time.monotonic() - started)
            vt.tracking.flush()  # under "raise" too: spooled records are not lost
        # The first call waits for the connect timeouts of the retry window;
        # the failure is remembered, so the next 19 do not wait at all.
        first_bound = 1 + 1 + 1  # retry window + one connect timeout + slack
        assert stalls[0] <= first_bound + 1
        assert max(stalls[1:]) < 0.5
        assert not [w for w in caught if "lost" in str(w.message) or "could not" in str(w.message)]
        with pytest.raises(vt.StoreUnavailableError, match="remembered"):
            open_store(url)
        own = spool_mod.own_spool()
        assert own is not None and own.pending
        lines = own.path.read_text().splitlines()
        spooled = [r for line in lines for r in json.loads(line).get("records", [])]
        assert len({r[0][0] for r in spooled}) == 20  # every call's execution is in the spool
    finally:
        hole.close()


def test_a_statement_over_the_statement_timeout_is_cancelled_by_the_server(
    postgres_url: str,
) -> None:
    from sqlalchemy import text

    vt.init(store_uri=postgres_url, statement_timeout=0.5)
    store = open_store(postgres_url)
    started = time.monotonic()
    with pytest.raises(vt.StoreUnavailableError, match="statement timeout"):
        with store.read() as conn:  # type: ignore[attr-defined]
            conn.execute(text("SELECT pg_sleep(5)"))
    assert time.monotonic() - started < 4
    assert vt.Artifact.list(store=store) == []  # the store itself is fine
