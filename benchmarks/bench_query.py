"""Query latency on a large SQLite store: filters and lineage.

Bulk-loads a store through the schema's own tables (``executemany``, ids made
on the client): at ``--scale 1`` 1,000,000 artifacts, 300,200 executions,
about 1.5 million events and the context links, shaped like real pipelines:

- 300 pipeline-run contexts of 1,000 executions each: 100 pipelines of 10
  steps; step k consumes the main output of step k-1 (step 0: a raw dataset)
  plus one dataset shared by the run, and outputs a main artifact (a
  ``system.Dataset``; a ``system.Model`` at the last step), a
  ``system.Metrics`` with ``metadata.acc`` and a log ``system.Artifact``.
  So the leaf model of every pipeline is exactly 20 hops from its raw data.
- one chain of 200 executions (artifact -> execution -> artifact ...).
- standalone artifacts to reach the artifact count.

Then it reports the median latency (after warm-up) of, through the public API:

- ``filter_first_page_ms``: first page (100) of
  ``schema_title = "system.Model" AND create_time > "<10% into the load>"``
- ``wildcard_ms``: first page of ``display_name = "*foo*"``
- ``metadata_filter_ms``: first page of ``metadata.acc.number_value > 0.9``
- ``in_context_ms``: every execution of one run (1,000) via ``in_context(...)``
- ``lineage_20_hops_ms``: ``vt.lineage(leaf, "upstream")``, 20 hops deep
- ``chain_200_ms``: ``vt.lineage(end of the 200-chain, "upstream")`` in one call

Usage: python benchmarks/bench_query.py [--scale 1.0] [--repeats 15] [--db PATH]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import report

import vertex_track as vt
from vertex_track import lineage  # the public function (the same on every version)
from vertex_track.store.sql import tables as t
from vertex_track.store.sql.store import SqlStore

PIPELINES_PER_RUN, STEPS = 100, 10
BASE_TIME = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z in microseconds
BATCH = 20_000


class Loader:
    """Collects rows per table and flushes them with executemany in one transaction."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.next_id = {"artifacts": 1, "executions": 1, "contexts": 1, "events": 1}
        self.clock = BASE_TIME
        self.counts = {"artifacts": 0, "executions": 0, "events": 0}
        self.conn = store.engine.connect().execution_options(vt_write=True)
        self.tx = self.conn.begin()

    def _add(self, table: str, row: dict[str, Any]) -> None:
        batch = self.rows.setdefault(table, [])
        batch.append(row)
        if len(batch) >= BATCH:  # parents first, for the foreign keys
            for name in self.ORDER:
                self._flush(name)

    def _flush(self, table: str) -> None:
        batch = self.rows.get(table)
        if batch:
            self.conn.execute(t.metadata_obj.tables[table].insert(), batch)
            self.rows[table] = []

    ORDER = ("vt_contexts", "vt_artifacts", "vt_executions", "vt_events", "vt_attributions",
             "vt_associations")

    def finish(self) -> None:
        for table in self.ORDER:
            self._flush(table)
        self.tx.commit()
        self.conn.close()

    def _resource(self, kind: str, rid: str, schema_title: str, display_name: str,
                  metadata: dict[str, Any]) -> dict[str, Any]:
        pk = self.next_id[kind]
        self.next_id[kind] += 1
        self.clock += 1000
        return {
            "id": pk, "store_id": self.store.store_id, "resource_id": rid,
            "display_name": display_name, "schema_title": schema_title,
            "schema_version": "0.0.1", "description": "", "metadata": metadata, "labels": {},
            "etag": 1, "create_time": self.clock, "update_time": self.clock,
        }

    def context(self, rid: str) -> int:
        row = self._resource("contexts", rid, "system.PipelineRun", rid, {})
        self._add("vt_contexts", row)
        return int(row["id"])

    def artifact(self, rid: str, schema_title: str, display_name: str,
                 metadata: dict[str, Any], ctx: int | None) -> int:
        row = self._resource("artifacts", rid, schema_title, display_name, metadata)
        row.update(uri=f"file:///data/{rid}", state="LIVE", content_digest=None)
        self._add("vt_artifacts", row)
        self.counts["artifacts"] += 1
        if ctx is not None:
            self._add("vt_attributions", {"context_id": ctx, "artifact_id": row["id"]})
        return int(row["id"])

    def execution(self, rid: str, display_name: str, ctx: int | None,
                  inputs: list[int], outputs: list[int]) -> int:
        row = self._resource("executions", rid, "system.ContainerExecution", display_name,
                             {"step": display_name})
        row["state"] = "COMPLETE"
        self._add("vt_executions", row)
        self.counts["executions"] += 1
        if ctx is not None:
            self._add("vt_associations", {"context_id": ctx, "execution_id": row["id"]})
        for kind, ids in (("INPUT", inputs), ("OUTPUT", outputs)):
            for a in ids:
                eid = self.next_id["events"]
                self.next_id["events"] += 1
                self._add("vt_events", {
                    "id": eid, "artifact_id": a, "execution_id": row["id"], "type": kind,
                    "event_time": self.clock, "labels": {},
                })
                self.counts["events"] += 1
        return int(row["id"])


def load(store: SqlStore, scale: float) -> dict[str, Any]:
    rng = random.Random(4)
    runs = max(1, round(300 * scale))
    target_artifacts = max(1, round(1_000_000 * scale))
    per_run_artifacts = 1 + PIPELINES_PER_RUN * (1 + 3 * STEPS)
    standalone = max(0, target_artifacts - runs * per_run_artifacts - 201)
    standalone_per_run = standalone // runs
    ld = Loader(store)
    info: dict[str, Any] = {}
    for r in range(runs):
        ctx = ld.context(f"run-{r}")
        if r == 0:
            info["context"] = "run-0"
        shared = ld.artifact(f"shared-{r}", "system.Dataset", f"shared-{r}", {"rows": 10_000},
                             ctx)
        for p in range(PIPELINES_PER_RUN):
            prev = ld.artifact(f"raw-{r}-{p}", "system.Dataset", f"raw-{r}-{p}",
                               {"rows": rng.randrange(1000, 100_000)}, ctx)
            for k in range(STEPS):
                last = k == STEPS - 1
                main = ld.artifact(
                    f"out-{r}-{p}-{k}", "system.Model" if last else "system.Dataset",
                    f"{'model' if last else 'data'}-{r}-{p}-{k}",
                    {"acc": round(rng.random(), 6), "framework": "sklearn"} if last
                    else {"rows": rng.randrange(1000, 100_000)},
                    ctx,
                )
                metrics = ld.artifact(f"met-{r}-{p}-{k}", "system.Metrics", f"metrics-{r}-{p}-{k}",
                                      {"acc": round(rng.random(), 6), "loss": rng.random()}, ctx)
                name = ("foolog" if (p * STEPS + k) % 100 == 7 else "log") + f"-{r}-{p}-{k}"
                log = ld.artifact(f"log-{r}-{p}-{k}", "system.Artifact", name, {}, ctx)
                ld.execution(f"step-{r}-{p}-{k}", f"train-{k}", ctx, [prev, shared],
                             [main, metrics, log])
                prev = main
            if r == 0 and p == 0:
                info["leaf"] = f"out-{r}-{p}-{STEPS - 1}"
        extra = standalone - standalone_per_run * runs if r == runs - 1 else 0
        for i in range(standalone_per_run + extra):
            ld.artifact(f"file-{r}-{i}", "system.Artifact", f"upload-{r}-{i}",
                        {"size": rng.randrange(1, 1 << 30)}, None)
        if r == runs // 10:
            info["time_cut"] = ld.clock
    chain_ctx = ld.context("chain")
    prev = ld.artifact("chain-a-0", "system.Dataset", "chain-a-0", {}, chain_ctx)
    for i in range(200):
        out = ld.artifact(f"chain-a-{i + 1}", "system.Dataset", f"chain-a-{i + 1}", {}, chain_ctx)
        ld.execution(f"chain-e-{i}", f"chain-{i}", chain_ctx, [prev], [out])
        prev = out
    info["chain_end"] = "chain-a-200"
    ld.finish()
    info.update(ld.counts)
    return info


def reused_info(store: SqlStore) -> dict[str, Any]:
    """What ``load`` returned, recomputed from a store it loaded earlier."""
    with store.engine.connect() as conn:
        def scalar(sql: str) -> Any:
            return conn.exec_driver_sql(sql).scalar_one()

        runs = scalar("SELECT count(*) FROM vt_contexts WHERE resource_id LIKE 'run-%'")
        info: dict[str, Any] = {
            "context": "run-0", "leaf": f"out-0-0-{STEPS - 1}", "chain_end": "chain-a-200",
            "artifacts": scalar("SELECT count(*) FROM vt_artifacts"),
            "executions": scalar("SELECT count(*) FROM vt_executions"),
            "events": scalar("SELECT count(*) FROM vt_events"),
        }
        # load() cut the time after run runs // 10; the next run's context follows it.
        info["time_cut"] = scalar(
            f"SELECT create_time FROM vt_contexts WHERE resource_id = 'run-{runs // 10 + 1}'"
            if runs // 10 + 1 < runs else "SELECT max(create_time) FROM vt_contexts"
        ) - 1000
        conn.rollback()
    return info


def median_ms(fn: Any, repeats: int, warmup: int = 2) -> tuple[float, float, Any]:
    """Median and minimum wall time in ms, and the last result."""
    result = None
    for _ in range(warmup):
        result = fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), min(samples), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="fraction of the full size (1,000,000 artifacts); default 1")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--db", help="SQLite file to (re)create; default: a temp file")
    parser.add_argument("--analyze", action="store_true",
                        help="run ANALYZE after the load (planner statistics; see docs)")
    parser.add_argument("--reuse", action="store_true",
                        help="with --db: time the queries on a store an earlier run loaded "
                             "(load_s is then null)")
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="vt-bench-query-")
    db = Path(args.db) if args.db else Path(tmp.name) / "metadata.db"
    reuse = bool(args.reuse and args.db and db.exists())
    if not reuse:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(f"{db}{suffix}"):
                os.remove(f"{db}{suffix}")
    store = SqlStore(f"sqlite:///{db}")

    load_s: float | None = None
    if reuse:
        info = reused_info(store)
    else:
        start = time.perf_counter()
        info = load(store, args.scale)
        load_s = round(time.perf_counter() - start, 2)
    analyze_s = None
    if args.analyze:
        start = time.perf_counter()
        with store.engine.connect().execution_options(vt_write=True) as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
        analyze_s = round(time.perf_counter() - start, 2)

    prefix = store.prefix
    cut = (dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
           + dt.timedelta(microseconds=info["time_cut"])).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    queries: dict[str, Any] = {
        "filter_first_page_ms": lambda: vt.Artifact.list(
            f'schema_title = "system.Model" AND create_time > "{cut}"', page_size=100,
            store=store),
        "wildcard_ms": lambda: vt.Artifact.list('display_name = "*foo*"', page_size=100,
                                                store=store),
        "metadata_filter_ms": lambda: vt.Artifact.list("metadata.acc.number_value > 0.9",
                                                       page_size=100, store=store),
        "in_context_ms": lambda: vt.Execution.list(
            f'in_context("{prefix}/contexts/{info["context"]}")', store=store),
        "lineage_20_hops_ms": lambda: lineage(f"{prefix}/artifacts/{info['leaf']}",
                                              "upstream", store=store),
        "chain_200_ms": lambda: lineage(f"{prefix}/artifacts/{info['chain_end']}", "upstream",
                                        store=store),
    }
    results: dict[str, float] = {}
    best: dict[str, float] = {}
    sizes: dict[str, str] = {}
    for key, fn in queries.items():
        results[key], best[key], out = median_ms(fn, args.repeats)
        if isinstance(out, list):
            sizes[key] = f"{len(out)} rows"
        else:
            sizes[key] = (f"{len(out.artifacts)} artifacts, {len(out.executions)} executions, "
                          f"{len(out.events)} events")
    rows: list[tuple[str, Any, str]] = [
        ("artifacts", info["artifacts"], ""),
        ("executions", info["executions"], ""),
        ("events", info["events"], ""),
        ("bulk load", load_s if load_s is not None else "(reused)", "s"),
        ("database size", os.path.getsize(db) / 1e6, "MB"),
    ]
    rows += [(f"{k} ({sizes[k]})", v, f"ms median (min {best[k]:.3f})")
             for k, v in results.items()]
    report("query", rows, {
        "scale": args.scale,
        "artifacts": info["artifacts"], "executions": info["executions"],
        "events": info["events"],
        "load_s": load_s,
        "analyze_s": analyze_s,
        **{k: round(v, 3) for k, v in results.items()},
    })
    store.engine.dispose()
    tmp.cleanup()


if __name__ == "__main__":
    main()
