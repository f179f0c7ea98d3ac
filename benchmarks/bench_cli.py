"""Startup plus query time of the ``vertex-track`` command as a whole process.

Bulk-loads an SQLite store through the schema's own tables (``executemany``,
ids made on the client): 100 pipeline runs (``system.PipelineRun`` contexts in
tracking's layout) of 10 executions each, 100,000 artifacts attributed to the
runs (each execution outputs 100 of them: datasets, models, metrics), with
their OUTPUT events. Then it times, as whole processes with stdout piped (what
a script sees), the median wall time of:

- ``runs_list_s``: ``vertex-track runs list``
- ``artifacts_filter_s``: ``vertex-track artifacts list --filter
  'schema_title = "system.Model" AND metadata.vertex_track.size.number_value > 1000'``
- ``runs_list_tty_style_s``: ``runs list`` rendered as on a terminal
  (``FORCE_COLOR=1``: rich tables), for reference
- ``help_s``: ``vertex-track --help`` (no store access), for reference
- ``python_pass_s``: ``python -c pass`` (the floor)
- ``import_prefect_s``: ``python -c "import prefect"`` (the bar to stay under)

Target: each command <= 0.5 s median and below the bare Prefect import.

Usage: python benchmarks/bench_cli.py [--artifacts 100000] [--repeats 15] [--db PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import report

from vertex_track.store.sql import tables as t
from vertex_track.store.sql.store import SqlStore

RUNS, STEPS = 100, 10
BASE_TIME = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z in microseconds
BATCH = 20_000
ARTIFACTS_FILTER = (
    'schema_title = "system.Model" AND metadata.vertex_track.size.number_value > 1000'
)


def load(uri: str, n_artifacts: int) -> dict[str, int]:
    """Write the store; returns row counts."""
    store = SqlStore(uri)
    per_execution = max(1, n_artifacts // (RUNS * STEPS))
    clock = BASE_TIME
    next_id = 1
    rows: dict[str, list[dict[str, Any]]] = {
        "vt_contexts": [], "vt_executions": [], "vt_artifacts": [], "vt_events": [],
        "vt_attributions": [], "vt_associations": [],
    }
    counts = dict.fromkeys(rows, 0)

    def new() -> int:
        nonlocal next_id, clock
        next_id += 1
        clock += 1000
        return next_id

    def base(pk: int, rid: str, display: str, schema: str, metadata: dict[str, Any]) -> dict:
        return {
            "id": pk, "store_id": store.store_id, "resource_id": rid, "display_name": display,
            "schema_title": schema, "schema_version": "0.0.1", "description": "",
            "metadata": metadata, "labels": {}, "etag": 1, "create_time": clock,
            "update_time": clock,
        }

    with store.engine.connect().execution_options(vt_write=True) as conn, conn.begin():

        def flush(force: bool = False) -> None:
            if not force and sum(len(v) for v in rows.values()) < BATCH:
                return
            for table in rows:  # parents first, for the foreign keys
                if rows[table]:
                    conn.execute(t.metadata_obj.tables[table].insert(), rows[table])
                    counts[table] += len(rows[table])
                    rows[table] = []

        made = 0
        for r in range(RUNS):
            flow_run_id = str(uuid.UUID(int=r + 1))
            ctx = new()
            rows["vt_contexts"].append(base(
                ctx, f"pipelinerun-{flow_run_id}", f"run-{r:03d}", "system.PipelineRun",
                {
                    "flow_name": "training", "flow_run_id": flow_run_id,
                    "flow_run_name": f"run-{r:03d}", "parameters": {"lr": 0.1 / (r + 1)},
                    "state": "FAILED" if r % 17 == 0 else "COMPLETE",
                    "start_time": "2024-01-01T00:00:00Z", "end_time": "2024-01-01T00:00:09Z",
                    "duration_s": 9.0,
                },
            ))
            for s in range(STEPS):
                ex = new()
                rows["vt_executions"].append({
                    **base(ex, f"ex-{r:03d}-{s}", f"step-{s}", "system.ContainerExecution",
                           {"vertex_track": {"task_name": f"step-{s}", "duration_s": 0.9}}),
                    "state": "COMPLETE",
                })
                rows["vt_associations"].append({"context_id": ctx, "execution_id": ex})
                for k in range(per_execution):
                    if made >= n_artifacts:
                        break
                    made += 1
                    digest = "sha256:" + hashlib.sha256(str(made).encode()).hexdigest()
                    schema = ("system.Model" if k == 0 and s == STEPS - 1 else
                              "system.Metrics" if k == 1 else "system.Dataset")
                    art = new()
                    rows["vt_artifacts"].append({
                        **base(art, "sha256-" + digest[7:63], f"{schema[7:].lower()}-{made}",
                               schema, {"vertex_track": {"digest": digest, "size": 100 * k + 5000}}),
                        "uri": f"file:///data/sha256/{digest[7:9]}/{digest[7:]}.pkl",
                        "state": "LIVE", "content_digest": digest,
                    })
                    rows["vt_events"].append({
                        "id": new(), "artifact_id": art, "execution_id": ex, "type": "OUTPUT",
                        "event_time": clock, "labels": {"name": f"output.{k}"},
                    })
                    rows["vt_attributions"].append({"context_id": ctx, "artifact_id": art})
                flush()
        flush(force=True)
    return {k.removeprefix("vt_"): v for k, v in counts.items()}


def count_rows(uri: str) -> dict[str, int]:
    from sqlalchemy import func, select

    store = SqlStore(uri)
    with store.read() as conn:
        return {
            name: int(conn.execute(select(func.count()).select_from(
                t.metadata_obj.tables[f"vt_{name}"])).scalar_one())
            for name in ("contexts", "executions", "artifacts", "events")
        }


def command() -> list[str]:
    script = Path(sys.executable).with_name("vertex-track")
    return [str(script)] if script.exists() else [sys.executable, "-m", "vertex_track.cli"]


def once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of ``argv``; CPU is user + system of the child."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, env=env, capture_output=True, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(
    plan: list[tuple[str, list[str], dict[str, str]]], repeats: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall and CPU times of each command as a fresh process, ``repeats`` rounds.

    Rounds are interleaved (every command once per round) so a change in the
    machine's load during the run affects all commands alike. CPU time is
    reported too: on a busy machine it moves much less than wall time.
    """
    for _, argv, env in plan:
        once(argv, env)  # warm-up: disk cache, bytecode cache
    walls: dict[str, list[float]] = {key: [] for key, _, _ in plan}
    cpus: dict[str, list[float]] = {key: [] for key, _, _ in plan}
    for _ in range(repeats):
        for key, argv, env in plan:
            w, c = once(argv, env)
            walls[key].append(w)
            cpus[key].append(c)
    return walls, cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--artifacts", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--db", help="SQLite file to (re)use; default: a temporary one")
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="vt-bench-cli-")
    db = Path(args.db) if args.db else Path(folder) / "metadata.db"
    uri = f"sqlite:///{db}"
    try:
        start = time.perf_counter()
        counts = load(uri, args.artifacts) if not db.exists() else count_rows(uri)
        load_s = time.perf_counter() - start
        env = {k: v for k, v in os.environ.items() if not k.startswith("VERTEX_TRACK_")}
        env.pop("FORCE_COLOR", None)
        # An installed package has its bytecode compiled (pip does it); an
        # editable checkout under PYTHONDONTWRITEBYTECODE=1 would recompile
        # every vertex_track module in every process. Cache bytecode outside
        # the source tree so the measurement matches an installation.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(VERTEX_TRACK_STORE_URI=uri, VERTEX_TRACK_HOME=str(Path(folder) / "home"),
                   COLUMNS="120", PYTHONPYCACHEPREFIX=str(Path(folder) / "pycache"))
        vt_cmd = command()
        py = sys.executable
        plan = [
            ("python_pass_s", [py, "-c", "pass"], env),
            ("runs_list_s", [*vt_cmd, "runs", "list"], env),
            ("artifacts_filter_s", [*vt_cmd, "artifacts", "list", "--filter", ARTIFACTS_FILTER],
             env),
            ("runs_list_tty_style_s", [*vt_cmd, "runs", "list"], {**env, "FORCE_COLOR": "1"}),
            ("help_s", [*vt_cmd, "--help"], env),
            ("import_prefect_s", [py, "-c", "import prefect"], env),
        ]
        walls, cpus = measure(plan, args.repeats)
        results = {key: statistics.median(values) for key, values in walls.items()}
        cpu = {key: statistics.median(values) for key, values in cpus.items()}
        out = subprocess.run([*vt_cmd, "artifacts", "list", "--filter", ARTIFACTS_FILTER,
                              "--limit", "0"], env=env, capture_output=True, text=True,
                             check=True)
        matched = len(out.stdout.splitlines()) - 1
        rows = [
            ("artifacts in the store", counts.get("artifacts", 0), ""),
            ("events", counts.get("events", 0), ""),
            ("pipeline runs", counts.get("contexts", 0), ""),
            ("load time", load_s, "s"),
            ("artifacts matching the filter", matched, ""),
        ]
        labels = {
            "python_pass_s": "python -c pass",
            "runs_list_s": "vertex-track runs list",
            "artifacts_filter_s": "vertex-track artifacts list --filter",
            "runs_list_tty_style_s": "runs list, terminal style (rich)",
            "help_s": "vertex-track --help",
            "import_prefect_s": "python -c 'import prefect'",
        }
        for key, label in labels.items():
            rows.append((f"{label}: wall", results[key], "s"))
        for key, label in labels.items():
            rows.append((f"{label}: CPU", cpu[key], "s"))
        worst = max(results["runs_list_s"], results["artifacts_filter_s"])
        report("cli", rows, {
            "runs_list_s": round(results["runs_list_s"], 4),
            "artifacts_filter_s": round(results["artifacts_filter_s"], 4),
            "python_pass_s": round(results["python_pass_s"], 4),
            "import_prefect_s": round(results["import_prefect_s"], 4),
            "runs_list_tty_style_s": round(results["runs_list_tty_style_s"], 4),
            "help_s": round(results["help_s"], 4),
            "cpu_s": {key: round(value, 4) for key, value in cpu.items()},
            "artifacts": counts.get("artifacts"),
            "repeats": args.repeats,
            "load_avg_1m": round(os.getloadavg()[0], 2),
            "target_met": worst <= 0.5 and worst < results["import_prefect_s"],
        })
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
