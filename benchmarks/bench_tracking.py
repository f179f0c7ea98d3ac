"""What tracking costs, side by side in one run (medians, ratios).

1. overhead: a flow of N sequential trivial Prefect tasks, each taking a small
   numpy array, tracked vs untracked (interleaved repetitions): per-task time ratio.
2. plain: tracked plain functions (no Prefect) with 2 new inputs + 1 new
   output, executions/s including the final flush, vs the ceiling: raw
   sqlite3 inserting exactly the rows we stored (read back from our store),
   batched as our writer batches (MAX_BATCH executions per transaction).
3. large: a large numpy array as a task output: MB/s of materialize + hash +
   atomic write vs plain ``np.save`` + fsync of the same array.
4. memory: RSS after 10,000 tracked calls vs after 1,000 (flat = ~1.0).

Usage: python benchmarks/bench_tracking.py [--tasks 200] [--repeats 5] [--large-mb 1024]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESOURCE_COLUMNS, raw_sqlite, report

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

import numpy as np

import vertex_track as vt
from vertex_track.store import get_store
from vertex_track.store.sql.store import now_micros
from vertex_track.tracking import flush
from vertex_track.tracking.writer import MAX_BATCH

_ids = itertools.count(1)  # raw ceilings: keys in insertion order, as the store makes them


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


# -- 1. tracked vs untracked Prefect tasks --------------------------------------------
def bench_overhead(n_tasks: int, repeats: int) -> tuple[float, float]:
    from prefect import flow, task

    def step(x: np.ndarray, i: int) -> float:
        return float(x[i % x.size])

    plain_step = task(step, name="step")
    tracked_step = vt.track(task(step, name="step"))
    array = np.arange(64, dtype=np.float64)

    @flow
    def plain_flow() -> float:
        return sum(plain_step(array, i) for i in range(n_tasks))

    @vt.flow
    def tracked_flow() -> float:
        return sum(tracked_step(array, i) for i in range(n_tasks))

    plain_flow()  # warm up both (server start, imports, first connection)
    tracked_flow()
    plain_times, tracked_times = [], []
    def timed_run(fn: object, out: list[float]) -> None:
        start = time.perf_counter()
        fn()  # type: ignore[operator]  # the tracked flow returns after its records are committed
        out.append((time.perf_counter() - start) / n_tasks)

    for r in range(repeats):  # interleaved, alternating which goes first
        pair = [(plain_flow, plain_times), (tracked_flow, tracked_times)]
        for fn, out in pair if r % 2 == 0 else reversed(pair):
            timed_run(fn, out)
    return statistics.median(plain_times), statistics.median(tracked_times)


# -- 2. plain functions vs raw ceiling ---------------------------------------------------
def bench_plain(n: int) -> float:
    @vt.track
    def step(a: dict, b: dict) -> list:
        return [a["v"] + b["v"], a["i"]]  # one new output artifact

    get_store()  # create the store and its schema untimed, as bench_raw does
    gc.collect()  # start clean: no collection of the previous section's garbage timed here
    start = time.perf_counter()
    for i in range(n):
        step({"i": i, "v": i * 1.5, "tag": "left"}, {"i": i, "v": i * 0.5, "tag": "right"})
    flush()
    return n / (time.perf_counter() - start)


def bench_raw(path: Path, template: Path, n: int) -> float:
    """Exactly the rows our tracked calls stored (read back from ``template``), written
    with plain sqlite3 into the same schema, MAX_BATCH executions per transaction,
    JSON serialized and ids made in the loop as any writer must."""
    src = sqlite3.connect(template)
    executions = src.execute(
        "SELECT id, resource_id, display_name, schema_title, metadata, create_time, update_time, "
        "state FROM vt_executions ORDER BY create_time"
    ).fetchall()
    artifacts = {
        row[0]: row[1:] for row in src.execute(
            "SELECT id, resource_id, display_name, schema_title, metadata, create_time, uri, "
            "state, content_digest FROM vt_artifacts"
        )
    }
    events: dict[int, list[tuple[int, str, str]]] = {}
    for ex_id, art_id, kind, labels in src.execute(
        "SELECT execution_id, artifact_id, type, labels FROM vt_events ORDER BY id"
    ):
        events.setdefault(ex_id, []).append((art_id, kind, labels))
    src.close()
    # (execution row, [(artifact row, event type, event labels)]) with JSON as Python data
    records = [
        (
            (rid, name, title, json.loads(meta), created, updated, state),
            [
                ((*artifacts[a][:3], json.loads(artifacts[a][3]), *artifacts[a][4:]), kind,
                 json.loads(labels))
                for a, kind, labels in events.get(ex_id, [])
            ],
        )
        for ex_id, rid, name, title, meta, created, updated, state in executions[:n]
    ]
    assert len(records) == n, "the template holds fewer executions than asked for"

    conn, store_id = raw_sqlite(path)  # same schema, indexes and PRAGMAs
    cols = RESOURCE_COLUMNS
    ex_sql = f"INSERT INTO vt_executions ({cols}, state) VALUES ({','.join('?' * 13)})"
    art_sql = f"INSERT INTO vt_artifacts ({cols}, uri, state, content_digest) VALUES ({','.join('?' * 15)})"
    ev_sql = (
        "INSERT INTO vt_events (id, artifact_id, execution_id, type, event_time, labels) "
        "VALUES (?,?,?,?,?,?)"
    )
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    gc.collect()
    start = time.perf_counter()
    for lo in range(0, n, MAX_BATCH):
        now = now_micros()
        ex_rows, art_rows, ev_rows = [], [], []
        for (rid, name, title, meta, created, updated, state), links in records[lo:lo + MAX_BATCH]:
            ex_id = next(_ids)
            ex_rows.append((ex_id, store_id, rid, name, title, "0.0.1", "", dumps(meta), "{}", 1,
                            created, updated, state))
            for (arid, aname, atitle, ameta, acreated, uri, astate, digest), kind, labels in links:
                aid = next(_ids)
                art_rows.append((aid, store_id, arid, aname, atitle, "0.0.1", "", dumps(ameta),
                                 "{}", 1, acreated, acreated, uri, astate, digest))
                ev_rows.append((next(_ids), aid, ex_id, kind, now, dumps(labels)))
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(ex_sql, ex_rows)
        conn.executemany(art_sql, art_rows)
        conn.executemany(ev_sql, ev_rows)
        conn.execute("COMMIT")
    rate = n / (time.perf_counter() - start)
    conn.close()
    return rate


# -- 3. large array ----------------------------------------------------------------------
def bench_large(root: Path, mb: int) -> tuple[float, float]:
    from vertex_track.artifacts import ArtifactStore

    array = np.random.default_rng(0).random(mb * 2**20 // 8)
    size_mb = array.nbytes / 2**20
    plain_path = root / "plain.npy"
    start = time.perf_counter()
    with open(plain_path, "wb") as f:
        np.save(f, array, allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())
    plain = size_mb / (time.perf_counter() - start)
    plain_path.unlink()
    store = ArtifactStore(str(root / "artifacts"))
    start = time.perf_counter()
    stored = store.put(array)
    ours = size_mb / (time.perf_counter() - start)
    assert stored.size >= array.nbytes
    return plain, ours


# -- 4. memory ---------------------------------------------------------------------------
def bench_memory() -> tuple[float, float]:
    @vt.track
    def step(a: dict, i: int) -> dict:
        return {"i": i, "double": a["v"] * 2}

    def run(count: int, offset: int) -> None:
        for i in range(offset, offset + count):
            step({"v": float(i)}, i)
        flush()

    run(1000, 0)
    gc.collect()
    after_1k = rss_mb()
    run(9000, 1000)
    gc.collect()
    return after_1k, rss_mb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--plain", type=int, default=5000, help="plain tracked calls")
    parser.add_argument("--large-mb", type=int, default=1024)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["PREFECT_HOME"] = str(root / "prefect")
        vt.init(store_uri=f"sqlite:///{root / 'overhead.db'}", artifact_root=str(root / "a1"))
        plain_task, tracked_task = bench_overhead(args.tasks, args.repeats)

        ours_rates, raw_rates = [], []
        for r in range(5):  # interleaved
            vt.init(store_uri=f"sqlite:///{root / f'plain{r}.db'}", artifact_root=str(root / "a2"))
            ours_rates.append(bench_plain(args.plain))
            raw_rates.append(bench_raw(root / f"raw{r}.db", root / f"plain{r}.db", args.plain))
        ours, ceiling = statistics.median(ours_rates), statistics.median(raw_rates)

        plain_mbs, ours_mbs = bench_large(root, args.large_mb)

        vt.init(store_uri=f"sqlite:///{root / 'mem.db'}", artifact_root=str(root / "a3"))
        rss_1k, rss_10k = bench_memory()

    overhead = tracked_task / plain_task
    report(
        "tracking",
        [
            (f"untracked Prefect task (median of {args.repeats} x {args.tasks})", plain_task * 1e3, "ms/task"),
            ("tracked Prefect task", tracked_task * 1e3, "ms/task"),
            ("overhead ratio tracked / untracked", overhead, ""),
            ("tracked plain function, 2 in + 1 out", ours, "executions/s"),
            ("raw sqlite3 ceiling, same rows, same batches", ceiling, "executions/s"),
            ("ratio to ceiling", ours / ceiling, ""),
            ("ml-metadata reference (FIELD-NOTES)", 730.0, "executions/s"),
            (f"np.save + fsync, {args.large_mb} MiB", plain_mbs, "MB/s"),
            ("ArtifactStore.put (materialize+hash+write)", ours_mbs, "MB/s"),
            ("large write ratio", ours_mbs / plain_mbs, ""),
            ("RSS after 1,000 tracked calls", rss_1k, "MiB"),
            ("RSS after 10,000 tracked calls", rss_10k, "MiB"),
        ],
        {
            "overhead_ratio": round(overhead, 3),
            "untracked_ms_per_task": round(plain_task * 1e3, 3),
            "tracked_ms_per_task": round(tracked_task * 1e3, 3),
            "plain_executions_per_s": round(ours, 1),
            "raw_ceiling_executions_per_s": round(ceiling, 1),
            "ceiling_ratio": round(ours / ceiling, 3),
            "large_write_mb_per_s": round(ours_mbs, 1),
            "plain_write_mb_per_s": round(plain_mbs, 1),
            "large_write_ratio": round(ours_mbs / plain_mbs, 3),
            "rss_1k_mb": round(rss_1k, 1),
            "rss_10k_mb": round(rss_10k, 1),
            "rss_growth_ratio": round(rss_10k / rss_1k, 3),
        },
    )


if __name__ == "__main__":
    main()
