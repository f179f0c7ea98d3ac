"""Store write rate: start_execution with 2 inputs + 1 output, events and a context link.

Side by side in one run, on SQLite files in a temp folder:
- ``vt``: our public API (``vt.start_execution`` + ``vt.Artifact.create`` +
  ``assign_*`` inside the run's context);
- ``raw``: the ceiling, plain ``sqlite3`` writing the same rows (an execution,
  three artifacts, three events, four context links) into the same schema
  with its indexes, one transaction per execution;
- ``raw_calls``: the floor of the ``vt`` path, plain ``sqlite3`` writing the
  same rows in the six transactions the six calls imply (each API call
  commits before it returns): the execution, each artifact, the end state
  with the events, the context links.

Usage: python benchmarks/bench_store.py [--n 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
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

import vertex_track as vt
from vertex_track.store import open_store
from vertex_track.store.sql.store import now_micros

_ids = itertools.count(1)  # raw ceilings: keys in insertion order, as the store makes them


def run_vt(path: Path, n: int) -> float:
    store = open_store(f"sqlite:///{path}")
    ctx = vt.Context.create("system.PipelineRun", display_name="bench", store=store)
    start = time.perf_counter()
    for i in range(n):
        with vt.start_execution(
            schema_title="system.ContainerExecution", display_name=f"step-{i}",
            metadata={"i": i}, store=store,
        ) as execution:
            a = vt.Artifact.create("system.Dataset", uri=f"file:///d/{i}/a", store=store)
            b = vt.Artifact.create("system.Dataset", uri=f"file:///d/{i}/b", store=store)
            execution.assign_input_artifacts([a, b])
            m = vt.Artifact.create("system.Model", uri=f"file:///d/{i}/m", store=store)
            execution.assign_output_artifacts([m])
        ctx.add_artifacts_and_executions(
            [a.name, b.name, m.name], [execution.name]
        )
    return n / (time.perf_counter() - start)


def run_put(path: Path, n: int) -> float:
    """The same record through ``store.put_execution`` (ml-metadata's call): one transaction."""
    from vertex_track.resources import Artifact, EventType, Execution, ExecutionState
    from vertex_track.store.base import ArtifactLink

    store = open_store(f"sqlite:///{path}")
    ctx = vt.Context.create("system.PipelineRun", display_name="bench", store=store)
    start = time.perf_counter()
    for i in range(n):
        arts = [
            Artifact.construct_fast(
                name=store.resource_name("artifacts", f"a{i}-{k}"), schema_title=title,
                uri=f"file:///d/{i}/{k}",
            )
            for k, title in enumerate(("system.Dataset", "system.Dataset", "system.Model"))
        ]
        execution = Execution.construct_fast(
            name=store.resource_name("executions", f"e{i}"),
            schema_title="system.ContainerExecution", display_name=f"step-{i}",
            metadata={"i": i}, state=ExecutionState.COMPLETE,
        )
        store.put_execution(
            execution,
            [ArtifactLink(arts[0], EventType.INPUT, "a"), ArtifactLink(arts[1], EventType.INPUT, "b"),
             ArtifactLink(arts[2], EventType.OUTPUT, "model")],
            [ctx],
        )
    return n / (time.perf_counter() - start)


def _raw_with_context(path: Path) -> tuple[sqlite3.Connection, int, int]:
    """A raw connection (see ``_common.raw_sqlite``), its store id and a new context's id."""
    conn, store_id = raw_sqlite(path)
    ctx_id, now = next(_ids), now_micros()
    conn.execute(
        f"INSERT INTO vt_contexts ({RESOURCE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (ctx_id, store_id, "ctx", "bench", "system.PipelineRun", "0.0.1", "", "{}", "{}", 1,
         now, now),
    )
    return conn, store_id, ctx_id


def run_raw_calls(path: Path, n: int) -> float:
    """Plain ``sqlite3``, one transaction per call of ``run_vt`` (a single INSERT autocommits)."""
    from vertex_track.validation import generate_resource_id

    conn, store_id, ctx_id = _raw_with_context(path)
    res_cols = RESOURCE_COLUMNS
    start = time.perf_counter()
    for i in range(n):
        now = now_micros()
        ex_id = next(_ids)
        conn.execute(
            f"INSERT INTO vt_executions ({res_cols}, state) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (ex_id, store_id, generate_resource_id(), f"step-{i}", "system.ContainerExecution",
             "0.0.1", "", json.dumps({"i": i}), "{}", 1, now, now, "RUNNING"),
        )
        arts = []
        for k, title in enumerate(("system.Dataset", "system.Dataset", "system.Model")):
            arts.append(next(_ids))
            conn.execute(
                f"INSERT INTO vt_artifacts ({res_cols}, uri, state) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (arts[-1], store_id, generate_resource_id(), "", title, "0.0.1", "", "{}", "{}",
                 1, now, now, f"file:///d/{i}/{k}", "LIVE"),
            )
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "UPDATE vt_executions SET state = ?, metadata = ?, labels = ?, description = ?, "
            "update_time = ?, etag = etag + 1 WHERE id = ?",
            ("COMPLETE", json.dumps({"i": i}), "{}", "", now_micros(), ex_id),
        )
        conn.executemany(
            "INSERT INTO vt_events (id, artifact_id, execution_id, type, event_time, labels) "
            "VALUES (?,?,?,?,?,?)",
            [
                (next(_ids), aid, ex_id, "INPUT" if k < 2 else "OUTPUT", now, "{}")
                for k, aid in enumerate(arts)
            ],
        )
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT OR IGNORE INTO vt_attributions (context_id, artifact_id) VALUES (?,?)",
            [(ctx_id, aid) for aid in arts],
        )
        conn.execute(
            "INSERT OR IGNORE INTO vt_associations (context_id, execution_id) VALUES (?,?)",
            (ctx_id, ex_id),
        )
        conn.execute("COMMIT")
    rate = n / (time.perf_counter() - start)
    conn.close()
    return rate


def run_raw(path: Path, n: int) -> float:
    conn, store_id, ctx_id = _raw_with_context(path)
    res_cols = RESOURCE_COLUMNS
    start = time.perf_counter()
    for i in range(n):
        now = now_micros()
        ex_id = next(_ids)
        arts = [next(_ids) for _ in range(3)]
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            f"INSERT INTO vt_executions ({res_cols}, state) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (ex_id, store_id, f"e{i}", f"step-{i}", "system.ContainerExecution", "0.0.1", "",
             json.dumps({"i": i}), "{}", 1, now, now, "COMPLETE"),
        )
        conn.executemany(
            f"INSERT INTO vt_artifacts ({res_cols}, uri, state) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (aid, store_id, f"a{i}_{k}", "", "system.Dataset", "0.0.1", "", "{}", "{}", 1,
                 now, now, f"file:///d/{i}/{k}", "LIVE")
                for k, aid in enumerate(arts)
            ],
        )
        conn.executemany(
            "INSERT INTO vt_events (id, artifact_id, execution_id, type, event_time, labels) "
            "VALUES (?,?,?,?,?,?)",
            [
                (next(_ids), aid, ex_id, "INPUT" if k < 2 else "OUTPUT", now, "{}")
                for k, aid in enumerate(arts)
            ],
        )
        conn.executemany(
            "INSERT INTO vt_attributions (context_id, artifact_id) VALUES (?,?)",
            [(ctx_id, aid) for aid in arts],
        )
        conn.execute(
            "INSERT INTO vt_associations (context_id, execution_id) VALUES (?,?)",
            (ctx_id, ex_id),
        )
        conn.execute("COMMIT")
    rate = n / (time.perf_counter() - start)
    conn.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000, help="executions per repetition")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    vt_rates, put_rates, raw_rates, calls_rates = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):  # interleaved, so all see the same machine noise
            vt_rates.append(run_vt(Path(tmp) / f"vt{r}.db", args.n))
            put_rates.append(run_put(Path(tmp) / f"put{r}.db", args.n))
            raw_rates.append(run_raw(Path(tmp) / f"raw{r}.db", args.n))
            calls_rates.append(run_raw_calls(Path(tmp) / f"calls{r}.db", args.n))
    ours, ceiling = statistics.median(vt_rates), statistics.median(raw_rates)
    put, floor = statistics.median(put_rates), statistics.median(calls_rates)
    report(
        "store",
        [
            ("vt start_execution (2 in + 1 out + ctx)", ours, "executions/s"),
            ("vt store.put_execution (same rows, one call)", put, "executions/s"),
            ("raw sqlite3 ceiling (same rows)", ceiling, "executions/s"),
            ("raw sqlite3, a transaction per vt call (6)", floor, "executions/s"),
            ("ratio vt / ceiling", ours / ceiling, ""),
            ("ratio vt / raw with the same 6 transactions", ours / floor, ""),
            ("vt per execution, beyond the 6-transaction raw", (1 / ours - 1 / floor) * 1e6, "µs"),
            ("ml-metadata 1.17 put_execution, measured here", 730.0, "executions/s"),
        ],
        {
            "executions_per_s": round(ours, 1),
            "raw_ceiling_executions_per_s": round(ceiling, 1),
            "ceiling_ratio": round(ours / ceiling, 3),
            "raw_six_transactions_per_s": round(floor, 1),
            "six_transaction_ratio": round(ours / floor, 3),
            "put_execution_per_s": round(put, 1),
            "put_execution_ceiling_ratio": round(put / ceiling, 3),
            "n": args.n,
            "repeats": args.repeats,
            "cpu_count": os.cpu_count(),
        },
    )


if __name__ == "__main__":
    main()
