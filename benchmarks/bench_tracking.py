"""What tracking costs, side by side in one run (medians, ratios).

1. overhead: a flow of N sequential trivial Prefect tasks, each taking a small
   numpy array, tracked vs untracked (interleaved repetitions): per-task time ratio.
   The same for N trivial tasks taking and returning an int (the floor of what
   a task can cost, so the ratio shows all of tracking's per-task cost), and for
   a task's 100-element list output mapped over by a second task with
   ``.map()`` (each element an edge from the list's producer). Each ratio is
   given two ways: the ratio of the two medians, and the median (with
   quartiles) of the ratios of back-to-back pairs, which a drifting machine
   moves less.
2. plain: tracked plain functions (no Prefect) with 2 new inputs + 1 new
   output, executions/s including the final flush, vs the ceiling: raw
   sqlite3 inserting exactly the rows we stored (read back from our store),
   batched as our writer batches (MAX_BATCH executions per transaction).
3. large: a large numpy array as a task output: MB/s of materialize + hash +
   atomic write vs plain ``np.save`` + fsync of the same array.
4. memory: RSS after 10,000 tracked calls vs after 1,000 (flat = ~1.0).
5. openlineage: the flow of 1., tracked, with OpenLineage events written by the
   client's file transport vs without them: ``openlineage_overhead_ratio``.

Usage: python benchmarks/bench_tracking.py [--tasks 200] [--repeats 9] [--map-size 100]
       [--trivial-repeats 15] [--large-mb 1024] [--only prefect|plain|large|memory|openlineage ...]
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
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESOURCE_COLUMNS, children_cpu_seconds, quiesce, raw_sqlite, report

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


def cpu_seconds() -> float:
    """CPU time of this process and of its child processes (Prefect's local API server
    runs as one: ``python -m uvicorn ...``), from ``/proc`` where there is one."""
    return time.process_time() + (children_cpu_seconds() or 0.0)


# -- 1. tracked vs untracked Prefect tasks --------------------------------------------
class SideBySide(NamedTuple):
    """Medians, in seconds per unit, of interleaved runs of two flows, and the
    median and quartiles of the ratio of each back-to-back pair (second / first):
    a pair shares the machine's state of the moment, so its ratio moves less
    than the ratio of two medians when the machine's speed drifts."""

    plain: float
    tracked: float
    plain_cpu: float
    tracked_cpu: float
    paired: float
    paired_q1: float
    paired_q3: float


def side_by_side(plain_flow: object, tracked_flow: object, repeats: int, per: int) -> SideBySide:
    """Run both flows ``repeats`` times, interleaved (alternating which goes first),
    after one warm-up run of each; ``per`` units a run. CPU counts every thread of
    this process (Prefect's engine, our writer) and Prefect's API server process;
    on a busy machine it moves far less than wall time."""
    plain_flow()  # type: ignore[operator]  # warm up both (server start, imports, first connection)
    tracked_flow()  # type: ignore[operator]
    times: dict[object, tuple[list[float], list[float]]] = {plain_flow: ([], []), tracked_flow: ([], [])}

    def timed_run(fn: object) -> None:
        quiesce()
        wall, cpu = times[fn]
        start_cpu = cpu_seconds()
        start = time.perf_counter()
        fn()  # type: ignore[operator]  # the tracked flow returns after its records are committed
        wall.append((time.perf_counter() - start) / per)
        cpu.append((cpu_seconds() - start_cpu) / per)

    for r in range(repeats):
        pair = [plain_flow, tracked_flow]
        for fn in pair if r % 2 == 0 else reversed(pair):
            timed_run(fn)
    (plain_wall, plain_cpu), (tracked_wall, tracked_cpu) = times[plain_flow], times[tracked_flow]
    ratios = [t / p for p, t in zip(plain_wall, tracked_wall, strict=True)]
    q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    return SideBySide(
        statistics.median(plain_wall), statistics.median(tracked_wall),
        statistics.median(plain_cpu), statistics.median(tracked_cpu),
        statistics.median(ratios), q1, q3,
    )


def bench_overhead(n_tasks: int, repeats: int) -> SideBySide:
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

    return side_by_side(plain_flow, tracked_flow, repeats, n_tasks)


def bench_trivial(n_tasks: int, repeats: int) -> SideBySide:
    """An int in, an int out: Prefect's cheapest task, so every cost of ours shows."""
    from prefect import flow, task

    def inc(i: int) -> int:
        return i + 1

    plain_inc = task(inc, name="inc")
    tracked_inc = vt.track(task(inc, name="inc"))

    @flow
    def plain_flow() -> int:
        return sum(plain_inc(i) for i in range(n_tasks))

    @vt.flow
    def tracked_flow() -> int:
        return sum(tracked_inc(i) for i in range(n_tasks))

    return side_by_side(plain_flow, tracked_flow, repeats, n_tasks)


def bench_map(n_elements: int, repeats: int) -> SideBySide:
    """``.map()`` over a task's list output: per element (one mapped task run each)."""
    from prefect import flow, task

    def make(n: int) -> list:
        return [{"id": i, "v": i * 0.5} for i in range(n)]

    def use(item: dict) -> float:
        return item["v"] * 2

    plain_make, plain_use = task(make, name="make"), task(use, name="use")
    tracked_make, tracked_use = vt.track(task(make, name="make")), vt.track(task(use, name="use"))

    @flow
    def plain_flow() -> float:
        return sum(plain_use.map(plain_make(n_elements)).result())

    @vt.flow
    def tracked_flow() -> float:
        return sum(tracked_use.map(tracked_make(n_elements)).result())

    return side_by_side(plain_flow, tracked_flow, repeats, n_elements)


def bench_openlineage(
    n_tasks: int, repeats: int, events: Path,
) -> tuple[SideBySide, int, float]:
    """The overhead ratio's flow, tracked, with OpenLineage events written by the
    client's file transport vs without (same process; the listeners are attached
    for one run and detached for the next). Returns ``side_by_side``'s figures,
    the number of events written and the emitter thread's CPU seconds per task
    (its own clock: what emission costs, whatever else loads the machine)."""
    from prefect import task

    from vertex_track import openlineage as ol
    from vertex_track.openlineage import emitter as ol_emitter
    from vertex_track.tracking import flows, writer

    os.environ["OPENLINEAGE__TRANSPORT__TYPE"] = "file"
    os.environ["OPENLINEAGE__TRANSPORT__LOG_FILE_PATH"] = str(events)
    os.environ["OPENLINEAGE__TRANSPORT__APPEND"] = "true"
    ol.enable("bench")
    emitter = ol_emitter.get_emitter()
    assert emitter is not None

    def attach(on: bool) -> None:
        for hooks, fn in ((writer.listeners, emitter.on_records), (flows.listeners, emitter.on_flow)):
            if on and fn not in hooks:
                hooks.append(fn)
            elif not on and fn in hooks:
                hooks.remove(fn)

    def step(x: np.ndarray, i: int) -> float:
        return float(x[i % x.size])

    tracked_step = vt.track(task(step, name="step"))
    array = np.arange(64, dtype=np.float64)

    @vt.flow(name="bench-openlineage")
    def tracked_flow() -> float:
        return sum(tracked_step(array, i) for i in range(n_tasks))

    def without() -> float:
        attach(False)
        return tracked_flow()

    def with_events() -> float:
        attach(True)
        return tracked_flow()

    result = side_by_side(without, with_events, repeats, n_tasks)
    ol.disable()
    written = len(events.read_text().splitlines()) if events.exists() else 0
    runs_with = repeats + 1  # the warm-up run too
    return result, written, emitter.cpu_s / (runs_with * n_tasks)


def map_edges(db: Path) -> tuple[int, int]:
    """(mapped ``use`` executions, of them with an INPUT event on a ``make`` output)."""
    conn = sqlite3.connect(db)
    total = conn.execute(
        "SELECT count(*) FROM vt_executions WHERE display_name LIKE 'use-%'"
    ).fetchone()[0]
    linked = conn.execute(
        "SELECT count(DISTINCT e.id) FROM vt_executions e "
        "JOIN vt_events i ON i.execution_id = e.id AND i.type = 'INPUT' "
        "JOIN vt_events o ON o.artifact_id = i.artifact_id AND o.type = 'OUTPUT' "
        "JOIN vt_executions m ON m.id = o.execution_id AND m.display_name LIKE 'make-%' "
        "WHERE e.display_name LIKE 'use-%'"
    ).fetchone()[0]
    conn.close()
    return total, linked


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


SECTIONS = ("prefect", "plain", "large", "memory", "openlineage")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--map-size", type=int, default=100, help="elements of the .map() case")
    parser.add_argument(
        "--trivial-repeats", type=int, default=15,
        help="repetitions of the int-in/int-out case (its ratio is read against 1.05)",
    )
    parser.add_argument("--plain", type=int, default=5000, help="plain tracked calls")
    parser.add_argument("--large-mb", type=int, default=1024)
    parser.add_argument(
        "--only", choices=SECTIONS, action="append",
        help="run only this part (repeatable): prefect (1), plain (2), large (3), memory (4), "
        "openlineage (5)",
    )
    args = parser.parse_args()
    sections = set(args.only or SECTIONS)
    load_before = os.getloadavg()[0]
    rows: list[tuple[str, object, str]] = []
    summary: dict[str, object] = {}

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["PREFECT_HOME"] = str(root / "prefect")
        if "prefect" in sections:
            vt.init(store_uri=f"sqlite:///{root / 'overhead.db'}", artifact_root=str(root / "a1"))
            numpy = bench_overhead(args.tasks, args.repeats)
            vt.init(store_uri=f"sqlite:///{root / 'trivial.db'}", artifact_root=str(root / "a4"))
            trivial = bench_trivial(args.tasks, args.trivial_repeats)
            vt.init(store_uri=f"sqlite:///{root / 'map.db'}", artifact_root=str(root / "a5"))
            mapping = bench_map(args.map_size, args.repeats)
            mapped, mapped_linked = map_edges(root / "map.db")
            plain_task, tracked_task, plain_task_cpu, tracked_task_cpu = numpy[:4]
            plain_trivial, tracked_trivial, plain_trivial_cpu, tracked_trivial_cpu = trivial[:4]
            plain_map, tracked_map, plain_map_cpu, tracked_map_cpu = mapping[:4]
            overhead = tracked_task / plain_task
            trivial_ratio = tracked_trivial / plain_trivial
            map_ratio = tracked_map / plain_map
            rows += [
                (f"untracked Prefect task (median of {args.repeats} x {args.tasks})", plain_task * 1e3, "ms/task"),
                ("tracked Prefect task", tracked_task * 1e3, "ms/task"),
                ("overhead ratio tracked / untracked", overhead, ""),
                ("same, median of the paired ratios [quartiles]",
                 f"{numpy.paired:.3f} [{numpy.paired_q1:.3f}, {numpy.paired_q3:.3f}]", ""),
                ("same, CPU time tracked / untracked", tracked_task_cpu / plain_task_cpu, ""),
                (f"untracked trivial task, int -> int (median of {args.trivial_repeats} x {args.tasks})",
                 plain_trivial * 1e3, "ms/task"),
                ("tracked trivial task", tracked_trivial * 1e3, "ms/task"),
                ("trivial overhead ratio tracked / untracked", trivial_ratio, ""),
                ("trivial, median of the paired ratios [quartiles]",
                 f"{trivial.paired:.3f} [{trivial.paired_q1:.3f}, {trivial.paired_q3:.3f}]", ""),
                ("trivial extra per task", (tracked_trivial - plain_trivial) * 1e3, "ms/task"),
                ("trivial task, CPU time untracked / tracked",
                 f"{plain_trivial_cpu * 1e3:.3f} / {tracked_trivial_cpu * 1e3:.3f}", "ms/task"),
                ("trivial CPU ratio tracked / untracked", tracked_trivial_cpu / plain_trivial_cpu, ""),
                (f"untracked .map() over a task's {args.map_size}-element list (median of {args.repeats})",
                 plain_map * 1e3, "ms/element"),
                ("tracked .map(), same", tracked_map * 1e3, "ms/element"),
                ("map overhead ratio tracked / untracked", map_ratio, ""),
                ("map, median of the paired ratios", mapping.paired, ""),
                ("map extra per element", (tracked_map - plain_map) * 1e3, "ms/element"),
                ("map CPU ratio tracked / untracked", tracked_map_cpu / plain_map_cpu, ""),
                ("mapped runs linked to the list's producer", f"{mapped_linked} of {mapped}", ""),
            ]
            summary.update({
                "overhead_ratio": round(overhead, 3),
                "overhead_paired_ratio": round(numpy.paired, 3),
                "overhead_paired_ratio_quartiles": [round(numpy.paired_q1, 3), round(numpy.paired_q3, 3)],
                "untracked_ms_per_task": round(plain_task * 1e3, 3),
                "tracked_ms_per_task": round(tracked_task * 1e3, 3),
                "overhead_cpu_ratio": round(tracked_task_cpu / plain_task_cpu, 3),
                "trivial_overhead_ratio": round(trivial_ratio, 3),
                "trivial_paired_ratio": round(trivial.paired, 3),
                "trivial_paired_ratio_quartiles": [round(trivial.paired_q1, 3), round(trivial.paired_q3, 3)],
                "trivial_untracked_ms_per_task": round(plain_trivial * 1e3, 3),
                "trivial_tracked_ms_per_task": round(tracked_trivial * 1e3, 3),
                "trivial_extra_ms_per_task": round((tracked_trivial - plain_trivial) * 1e3, 3),
                "trivial_cpu_overhead_ratio": round(tracked_trivial_cpu / plain_trivial_cpu, 3),
                "trivial_extra_cpu_ms_per_task": round((tracked_trivial_cpu - plain_trivial_cpu) * 1e3, 3),
                "map_overhead_ratio": round(map_ratio, 3),
                "map_paired_ratio": round(mapping.paired, 3),
                "map_untracked_ms_per_element": round(plain_map * 1e3, 3),
                "map_tracked_ms_per_element": round(tracked_map * 1e3, 3),
                "map_extra_ms_per_element": round((tracked_map - plain_map) * 1e3, 3),
                "map_cpu_overhead_ratio": round(tracked_map_cpu / plain_map_cpu, 3),
                "map_runs_linked": mapped_linked,
                "map_runs": mapped,
            })

        if "plain" in sections:
            ours_rates, raw_rates = [], []
            for r in range(5):  # interleaved
                vt.init(store_uri=f"sqlite:///{root / f'plain{r}.db'}", artifact_root=str(root / "a2"))
                ours_rates.append(bench_plain(args.plain))
                raw_rates.append(bench_raw(root / f"raw{r}.db", root / f"plain{r}.db", args.plain))
            ours, ceiling = statistics.median(ours_rates), statistics.median(raw_rates)
            rows += [
                ("tracked plain function, 2 in + 1 out", ours, "executions/s"),
                ("raw sqlite3 ceiling, same rows, same batches", ceiling, "executions/s"),
                ("ratio to ceiling", ours / ceiling, ""),
                ("ml-metadata 1.17 put_execution, measured here", 730.0, "executions/s"),
            ]
            summary.update({
                "plain_executions_per_s": round(ours, 1),
                "raw_ceiling_executions_per_s": round(ceiling, 1),
                "ceiling_ratio": round(ours / ceiling, 3),
            })

        if "large" in sections:
            plain_mbs, ours_mbs = bench_large(root, args.large_mb)
            rows += [
                (f"np.save + fsync, {args.large_mb} MiB", plain_mbs, "MB/s"),
                ("ArtifactStore.put (materialize+hash+write)", ours_mbs, "MB/s"),
                ("large write ratio", ours_mbs / plain_mbs, ""),
            ]
            summary.update({
                "large_write_mb_per_s": round(ours_mbs, 1),
                "plain_write_mb_per_s": round(plain_mbs, 1),
                "large_write_ratio": round(ours_mbs / plain_mbs, 3),
            })

        if "memory" in sections:
            vt.init(store_uri=f"sqlite:///{root / 'mem.db'}", artifact_root=str(root / "a3"))
            rss_1k, rss_10k = bench_memory()
            rows += [
                ("RSS after 1,000 tracked calls", rss_1k, "MiB"),
                ("RSS after 10,000 tracked calls", rss_10k, "MiB"),
            ]
            summary.update({
                "rss_1k_mb": round(rss_1k, 1),
                "rss_10k_mb": round(rss_10k, 1),
                "rss_growth_ratio": round(rss_10k / rss_1k, 3),
            })

        if "openlineage" in sections:
            vt.init(store_uri=f"sqlite:///{root / 'ol.db'}", artifact_root=str(root / "a6"))
            ol_runs, written, emit_cpu = bench_openlineage(
                args.tasks, args.repeats, root / "openlineage.jsonl")
            without, with_ol, without_cpu, with_cpu = ol_runs[:4]
            ratio = with_ol / without
            rows += [
                (f"tracked task, no OpenLineage (median of {args.repeats} x {args.tasks})",
                 without * 1e3, "ms/task"),
                ("tracked task + OpenLineage events, file transport", with_ol * 1e3, "ms/task"),
                ("openlineage overhead ratio with / without", ratio, ""),
                ("same, median of the paired ratios", ol_runs.paired, ""),
                ("same, CPU time with / without", with_cpu / without_cpu, ""),
                ("OpenLineage events written", written, ""),
                ("emitter thread CPU per task (build + write 2 events)", emit_cpu * 1e3, "ms/task"),
                ("same, over the tracked task's CPU without", emit_cpu / without_cpu, ""),
            ]
            summary.update({
                "openlineage_overhead_ratio": round(ratio, 3),
                "openlineage_paired_ratio": round(ol_runs.paired, 3),
                "openlineage_without_ms_per_task": round(without * 1e3, 3),
                "openlineage_with_ms_per_task": round(with_ol * 1e3, 3),
                "openlineage_cpu_overhead_ratio": round(with_cpu / without_cpu, 3),
                "openlineage_events": written,
                "openlineage_emitter_cpu_ms_per_task": round(emit_cpu * 1e3, 4),
                "openlineage_emitter_cpu_share": round(emit_cpu / without_cpu, 4),
            })

    load_after = os.getloadavg()[0]
    rows.append(("1-minute load average, start / end", f"{load_before:.2f} / {load_after:.2f}", ""))
    summary["load_avg_1m"] = [round(load_before, 2), round(load_after, 2)]
    report("tracking", rows, summary)


if __name__ == "__main__":
    main()
