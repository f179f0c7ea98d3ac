"""Many writer processes at once, and a database outage under load: nothing lost.

Two runs, each against a private PostgreSQL server started in a temp folder
(the shared one is never used) and an SQLite file:

1. ``concurrent``: P processes x N tracked executions on SQLite and P x N on
   PostgreSQL, all 2P processes at the same time. Each execution is a
   ``@vt.track`` call with a parameter naming its process and index and a
   string output derived from both, so the check afterwards can tell whether
   any output was linked to another process's execution. Reported per
   backend: ``lost`` (executions or outputs missing), ``misattributed``
   (an output event pointing at an artifact of another call), ``lock_errors``
   (tracking warnings or "database is locked" in a worker's output) and the
   aggregate rate (all executions / wall time from the common start to the
   last worker's final commit).
2. ``outage``: P processes x N tracked executions on PostgreSQL; the server
   is stopped for ``--outage-s`` seconds when a third of the work is done,
   then started again; each call also sleeps 15 ms (the task's own work), so
   the run goes on after the outage. Reported: ``lost`` (after the workers
   exited and ``vertex-track sync`` ran for any record still in a spool, also
   reported), ``max_call_stall_s`` (the longest a tracked call took), with the
   configured bound (``retry_timeout + connect_timeout``), and
   ``max_flush_s`` (the longest final flush, which replays the spool).

Usage: python benchmarks/bench_concurrency.py [--processes 8] [--n 2000] [--outage-s 10]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))  # the private server helper
from _common import report
from private_postgres import PrivatePostgres

WORKER = textwrap.dedent("""
    import json, sys, time, warnings
    import vertex_track as vt
    from vertex_track.tracking import TrackingWarning, flush

    uri, root, tag, n, start_at, progress, pace = sys.argv[1:8]
    n, start_at, pace = int(n), float(start_at), float(pace)
    vt.init(store_uri=uri, artifact_root=root, on_tracking_error="warn",
            connect_timeout=1, retry_timeout=2, unavailable_hold=1)

    @vt.track
    def step(tag: str, i: int) -> str:
        return f"{tag}-{i}-out"

    warnings.simplefilter("always")
    stalls = []
    with warnings.catch_warnings(record=True) as caught:
        step(tag, -1)  # open the store before the common start
        flush()
        while time.time() < start_at:
            time.sleep(0.001)
        started = time.time()
        for i in range(n):
            t0 = time.perf_counter()
            step(tag, i)
            stalls.append(time.perf_counter() - t0)
            if i % 100 == 0 and progress != "-":
                with open(progress, "a") as f:
                    f.write(".")
            if pace:
                time.sleep(pace)  # a task's own work: the run spans the outage
        t0 = time.perf_counter()
        flush()
        flush_s = time.perf_counter() - t0
        ended = time.time()
    warned = [str(w.message) for w in caught if issubclass(w.category, TrackingWarning)]
    print(json.dumps({
        "tag": tag, "started": started, "ended": ended, "max_stall": max(stalls),
        "flush_s": flush_s, "warnings": len(warned), "first_warning": warned[:1],
    }), flush=True)
""")


def _spawn(script: Path, uri: str, root: Path, tag: str, n: int, start_at: float,
           progress: str, home: Path, pace: float = 0.0) -> subprocess.Popen[str]:
    env = {**os.environ, "VERTEX_TRACK_HOME": str(home / tag)}
    return subprocess.Popen(
        [sys.executable, str(script), uri, str(root), tag, str(n), str(start_at), progress,
         str(pace)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def _collect(procs: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=3600)
        if proc.returncode != 0:
            raise SystemExit(f"worker failed ({proc.returncode}):\n{stderr[-3000:]}")
        result = json.loads(stdout.strip().splitlines()[-1])
        result["locked"] = stderr.lower().count("database is locked")
        out.append(result)
    return out


def _check(uri: str, tags: list[str], n: int) -> dict[str, int]:
    """lost / misattributed executions of the workers ``tags`` in the store at ``uri``."""
    from sqlalchemy import text

    import vertex_track as vt
    from vertex_track.store import open_store

    store: Any = open_store(uri)
    with store.read() as conn:
        rows = conn.execute(text(
            "SELECT e.resource_id, e.metadata, e.state, a.metadata FROM vt_executions e "
            "LEFT JOIN vt_events ev ON ev.execution_id = e.id AND ev.type = 'OUTPUT' "
            "LEFT JOIN vt_artifacts a ON a.id = ev.artifact_id"
        )).all()
    seen: dict[tuple[str, int], int] = {}
    misattributed = 0
    for _rid, e_meta, state, a_meta in rows:
        e_meta = json.loads(e_meta) if isinstance(e_meta, str) else e_meta
        a_meta = json.loads(a_meta) if isinstance(a_meta, str) else (a_meta or {})
        key = (e_meta.get("tag"), e_meta.get("i"))
        if key[1] is None or key[1] < 0:
            continue  # the warm-up call
        if state != "COMPLETE" or not a_meta:
            continue  # counted as lost below
        if a_meta.get("value") != f"{key[0]}-{key[1]}-out":
            misattributed += 1
            continue
        seen[key] = seen.get(key, 0) + 1
    expected = {(tag, i) for tag in tags for i in range(n)}
    lost = len(expected - set(seen))
    duplicated = sum(c - 1 for c in seen.values() if c > 1)
    del vt
    return {"lost": lost, "misattributed": misattributed, "duplicated": duplicated}


def run_concurrent(pg: PrivatePostgres, work: Path, processes: int, n: int) -> dict[str, Any]:
    script = work / "worker.py"
    script.write_text(WORKER)
    sqlite_uri = f"sqlite:///{work / 'concurrent.db'}"
    pg_uri = pg.url
    from vertex_track.store import open_store

    open_store(sqlite_uri), open_store(pg_uri)  # migrate once, before the race
    start_at = time.time() + 8 + processes  # every worker imported and warmed up
    procs = {
        backend: [
            _spawn(script, uri, work / "art", f"{backend[0]}{k}", n, start_at, "-", work)
            for k in range(processes)
        ]
        for backend, uri in (("sqlite", sqlite_uri), ("postgres", pg_uri))
    }
    results = {backend: _collect(p) for backend, p in procs.items()}
    out: dict[str, Any] = {}
    for backend, uri in (("sqlite", sqlite_uri), ("postgres", pg_uri)):
        res = results[backend]
        wall = max(r["ended"] for r in res) - min(r["started"] for r in res)
        check = _check(uri, [r["tag"] for r in res], n)
        out[backend] = {
            **check,
            "lock_errors": sum(r["warnings"] + r["locked"] for r in res),
            "exec_per_s": processes * n / wall,
            "wall_s": wall,
        }
    return out


def run_outage(
    pg: PrivatePostgres, work: Path, processes: int, n: int, outage_s: float
) -> dict[str, Any]:
    script = work / "worker.py"
    script.write_text(WORKER)
    from vertex_track.store import open_store
    from vertex_track.store.sql.store import dispose_engine

    db = "outage"
    import psycopg

    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {db}")
    uri = pg.url.rsplit("/", 1)[0] + f"/{db}"
    open_store(uri)
    dispose_engine(uri)
    progress = work / "progress"
    progress.write_text("")
    start_at = time.time() + 8 + processes
    # Each call also "works" 15 ms, so the run spans the outage and goes on after it.
    procs = [
        _spawn(script, uri, work / "art", f"o{k}", n, start_at, str(progress), work, 0.015)
        for k in range(processes)
    ]
    total_ticks = processes * ((n + 99) // 100)
    outage: dict[str, float] = {}

    def stop_when_a_third_is_done() -> None:
        while len(progress.read_text()) < total_ticks // 3:
            if all(p.poll() is not None for p in procs):
                return
            time.sleep(0.05)
        outage["stopped"] = time.time()
        pg.stop()
        time.sleep(outage_s)
        pg.start()
        outage["started"] = time.time()

    thread = threading.Thread(target=stop_when_a_third_is_done, daemon=True)
    thread.start()
    res = _collect(procs)
    thread.join()
    # Whatever a worker could not replay before it exited is in its spool:
    # that is what `vertex-track sync` is for (counted, then written).
    left = 0
    for r in res:
        for path in (work / r["tag"] / "spool").glob("*.jsonl"):
            left += sum(len(json.loads(line).get("records", [])) for line in
                        path.read_text().splitlines() if line.strip())
        sync = subprocess.run(
            [sys.executable, "-m", "vertex_track.cli", "--store-uri", uri, "sync"],
            capture_output=True, text=True,
            env={**os.environ, "VERTEX_TRACK_HOME": str(work / r["tag"])},
        )
        if sync.returncode != 0:
            raise SystemExit(f"vertex-track sync failed: {sync.stderr[-2000:]}")
    check = _check(uri, [r["tag"] for r in res], n)
    return {
        **check,
        "left_for_sync": left,
        "max_call_stall_s": max(r["max_stall"] for r in res),
        "max_flush_s": max(r["flush_s"] for r in res),
        "warnings": sum(r["warnings"] for r in res),
        "first_warning": [w for r in res for w in r["first_warning"]][:1],
        "outage_s": outage.get("started", 0) - outage.get("stopped", 0),
        "wall_s": max(r["ended"] for r in res) - min(r["started"] for r in res),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--n", type=int, default=2000, help="tracked executions per process")
    parser.add_argument("--outage-processes", type=int, default=4)
    parser.add_argument("--outage-n", type=int, default=2000)
    parser.add_argument("--outage-s", type=float, default=10.0)
    parser.add_argument("--only", choices=["concurrent", "outage"], help="run one part only")
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    bound = 2 + 1  # the workers' retry_timeout + connect_timeout

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pg = PrivatePostgres()
        pg.start()
        try:
            empty = {"lost": 0, "misattributed": 0, "lock_errors": 0, "duplicated": 0,
                     "exec_per_s": 0.0}
            conc = (
                run_concurrent(pg, work, args.processes, args.n) if args.only != "outage"
                else {"sqlite": empty, "postgres": empty}
            )
            out = (
                run_outage(pg, work, args.outage_processes, args.outage_n, args.outage_s)
                if args.only != "concurrent"
                else {**empty, "max_call_stall_s": 0.0, "max_flush_s": 0.0, "warnings": 0,
                      "outage_s": 0.0, "first_warning": [], "left_for_sync": 0}
            )
        finally:
            pg.close()

    s, p = conc["sqlite"], conc["postgres"]
    rows = [
        (f"sqlite: {args.processes} x {args.n} executions, rate", s["exec_per_s"], "exec/s"),
        ("sqlite: lost / misattributed / lock errors",
         f"{s['lost']} / {s['misattributed']} / {s['lock_errors']}", ""),
        (f"postgres: {args.processes} x {args.n} executions, rate", p["exec_per_s"], "exec/s"),
        ("postgres: lost / misattributed / lock errors",
         f"{p['lost']} / {p['misattributed']} / {p['lock_errors']}", ""),
        (f"outage: {args.outage_processes} x {args.outage_n}, server down",
         out["outage_s"], "s"),
        ("outage: lost / misattributed", f"{out['lost']} / {out['misattributed']}", ""),
        ("outage: records left in spools at exit (then vertex-track sync)",
         out["left_for_sync"], ""),
        ("outage: longest tracked call", out["max_call_stall_s"], f"s (bound {bound} s)"),
        ("outage: longest final flush", out["max_flush_s"], "s"),
    ]
    summary = {
        "processes": args.processes, "n": args.n,
        "lost": s["lost"] + p["lost"], "misattributed": s["misattributed"] + p["misattributed"],
        "lock_errors": s["lock_errors"] + p["lock_errors"],
        "duplicated": s["duplicated"] + p["duplicated"],
        "sqlite_exec_per_s": round(s["exec_per_s"], 1),
        "postgres_exec_per_s": round(p["exec_per_s"], 1),
        "outage_processes": args.outage_processes, "outage_n": args.outage_n,
        "outage_s": round(out["outage_s"], 1), "outage_lost": out["lost"],
        "outage_misattributed": out["misattributed"], "left_for_sync": out["left_for_sync"],
        "max_call_stall_s": round(out["max_call_stall_s"], 3), "stall_bound_s": bound,
        "max_flush_s": round(out["max_flush_s"], 2), "outage_warnings": out["warnings"],
        "cpu_count": os.cpu_count(),
    }
    if out["first_warning"]:
        print("first tracking warning of the outage run:", out["first_warning"][0][:2000])
    report("concurrency", rows, summary)


if __name__ == "__main__":
    main()
