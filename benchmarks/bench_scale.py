"""Scale-out: one 400-task flow on the thread pool, Dask and Ray, tracked vs untracked.

The flow: ``make.map(range(N/2))`` (each makes a small numpy array, an artifact
written under the artifact root) then ``stats.map(...)`` over the arrays (each
an input edge from its producer): N task runs. It runs on

- ``thread``: Prefect's ``ThreadPoolTaskRunner(max_workers=W)``;
- ``dask``: ``DaskTaskRunner`` on one local Dask cluster of W worker processes
  (one thread each), started once;
- ``ray``: ``RayTaskRunner`` on one local Ray cluster with W CPUs (W worker
  processes), started once;

each tracked (``vt.track`` tasks in a ``vt.flow``) and untracked (the same
plain Prefect tasks in a plain flow), all six interleaved in every repetition
(the order rotates), after one untimed warm-up run of each, each timed run starting once Prefect's API
server has gone quiet (``_common.quiesce``). The clusters are
started after ``vt.init``, so their workers inherit the settings; the
untracked Ray runs get the same ``runtime_env`` a ``vt.flow`` hands to Ray,
so both run on the same worker processes.

The store is PostgreSQL (a fresh schema, dropped afterwards); the artifact root
a local folder, or ``--artifact-root s3://bucket/prefix`` (credentials and
endpoint from the usual AWS environment variables), or ``--s3``: a local
S3-protocol server (``python -m moto.server``, when moto is installed) on
127.0.0.1, in a process of its own, with a fresh bucket.

Reported: median wall seconds per flow run of each, the number of worker processes Ray
started during each Ray flow run (median), the overhead ratios
tracked / untracked (the ratio of the medians, and the median of the ratios of
the tracked and untracked runs of each repetition, which ran one after the
other), and ``lost``: task runs of the tracked runs with no
COMPLETE execution in their pipeline run, read right after each flow returns
(must be 0).

``--ray-keep-idle-workers`` keeps Ray's idle workers: by default Ray kills a
worker idle for a second once it has more workers than CPUs. A task waiting in
``ray.get`` (prefect-ray's wrapper resolves a consuming task's inputs that way)
lends its CPU to a queued task, for which Ray starts a new worker when none is
idle; on a 2-core machine Ray started 5-19 workers per 400-task flow run. Each
new worker imports Prefect (and, in tracked runs, opens its store and S3
connections) again.

Usage: python benchmarks/bench_scale.py [--tasks 400] [--workers 4] [--repeats 3]
       [--store-uri postgresql://...] [--artifact-root DIR|s3://...] [--s3]
       [--only thread|dask|ray ...] [--ray-keep-idle-workers]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).parent))
from _common import quiesce, report

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

import numpy as np

import vertex_track as vt

RUNNERS = ("thread", "dask", "ray")
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def make(i: int) -> np.ndarray:
    return np.full(256, float(i))  # 2 KB: written as a file under the artifact root


def stats(data: np.ndarray) -> float:
    return float(data.mean())


def build_flows(runner: str, n_tasks: int, workers: int, dask_address: str | None) -> tuple[
    Callable[[], Any], Callable[[], Any]
]:
    """(untracked flow, tracked flow) of ``n_tasks`` task runs on ``runner``."""
    from prefect import flow, task

    def task_runner() -> Any:
        if runner == "thread":
            from prefect.task_runners import ThreadPoolTaskRunner

            return ThreadPoolTaskRunner(max_workers=workers)
        if runner == "dask":
            from prefect_dask import DaskTaskRunner

            return DaskTaskRunner(address=dask_address)
        from prefect_ray import RayTaskRunner

        return RayTaskRunner()  # the cluster ray.init() started in this process

    def body(make_task: Any, stats_task: Any) -> Callable[[], float]:
        def scale() -> float:
            made = make_task.map(range(n_tasks // 2))
            return sum(f.result() for f in stats_task.map(made))
        return scale

    plain = flow(body(task(make, name="make"), task(stats, name="stats")),
                 name=f"scale-{runner}", task_runner=task_runner())
    tracked = vt.flow(
        body(vt.track(task(make, name="make")), vt.track(task(stats, name="stats"))),
        name=f"scale-{runner}-tracked", task_runner=task_runner(),
    )
    if runner != "ray":
        return plain, tracked

    from prefect_ray.context import remote_options

    from vertex_track.tracking.workers import worker_env

    def plain_on_same_workers(**kwargs: Any) -> Any:
        # Ray keeps a worker process per runtime_env: the untracked runs get the one
        # a vt.flow sets, so both kinds of run use the same (warm) workers.
        with remote_options(runtime_env={"env_vars": worker_env()}):
            return plain(**kwargs)

    return plain_on_same_workers, tracked


@contextlib.contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """A fresh schema on ``base_url`` (dropped afterwards); yields a URL that uses it."""
    import psycopg

    schema = f"vt_bench_scale_{uuid.uuid4().hex[:10]}"
    dsn = base_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        from vertex_track.store.sql.store import dispose_engine

        with contextlib.suppress(Exception):
            dispose_engine(f"{base_url}{sep}options={quote(f'-csearch_path={schema}')}")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextlib.contextmanager
def local_s3() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 (a free port), in a process of its own as a real
    object store would be (in this process it would take the GIL from the flows it
    serves), and a fresh bucket; yields ``s3://bucket/artifacts``.

    Sets the AWS environment variables s3fs (botocore) reads, before any worker
    process starts, so the workers find the same endpoint and credentials."""
    import importlib.util
    import socket
    import subprocess

    if importlib.util.find_spec("moto.server") is None:
        sys.exit("--s3 needs moto's server: pip install 'moto[server]' (or give --artifact-root)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # until it accepts connections
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"moto's server did not start on port {port}")
            time.sleep(0.2)
        os.environ.update(
            AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
        )
        import s3fs

        bucket = f"vt-bench-{uuid.uuid4().hex[:8]}"
        s3fs.S3FileSystem().mkdir(bucket)
        yield f"s3://{bucket}/artifacts"
    finally:
        server.terminate()
        server.wait(timeout=30)


def ray_worker_logs() -> set[str]:
    """The log files of every Ray worker process this node has started so far (Ray writes
    one ``python-core-worker-<id>_<pid>.log`` per worker process, and keeps them after the
    worker exits), so the difference over a flow run counts the workers it started."""
    import ray._private.worker

    node = ray._private.worker._global_node  # no public API names a node's log folder
    if node is None:
        return set()
    return {p.name for p in Path(node.get_logs_dir_path()).glob("python-core-worker-*.log")}


def lost_task_runs(state: Any, n_tasks: int) -> int:
    """Task runs of a tracked flow run with no COMPLETE execution in its pipeline run."""
    run = vt.PipelineRun.get(str(state.state_details.flow_run_id))
    done = sum(1 for e in run.get_executions() if e.state == "COMPLETE")
    return n_tasks - done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=400, help="task runs per flow run (even)")
    parser.add_argument("--workers", type=int, default=4, help="threads / worker processes")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each (median)")
    parser.add_argument(
        "--store-uri",
        default=os.environ.get("VERTEX_TRACK_TEST_POSTGRES_URL") or DEFAULT_POSTGRES,
        help="PostgreSQL server; the benchmark works in a fresh schema, dropped afterwards",
    )
    parser.add_argument("--artifact-root", help="default: a temporary local folder")
    parser.add_argument("--s3", action="store_true",
                        help="artifact root in a local S3-protocol server (moto)")
    parser.add_argument(
        "--ray-keep-idle-workers", action="store_true",
        help="keep Ray's idle workers instead of killing them after a second (see docs/performance.md)",
    )
    parser.add_argument("--only", choices=RUNNERS, action="append",
                        help="run only this runner (repeatable)")
    args = parser.parse_args()
    runners = [r for r in RUNNERS if r in (args.only or RUNNERS)]
    load_before = os.getloadavg()[0]

    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        os.environ["PREFECT_HOME"] = str(tmp / "prefect")
        store_uri = stack.enter_context(postgres_schema(args.store_uri))
        if args.s3:
            artifact_root = stack.enter_context(local_s3())
        else:
            artifact_root = args.artifact_root or str(tmp / "artifacts")
        vt.init(store_uri=store_uri, artifact_root=artifact_root)  # before any worker starts
        from prefect.testing.utilities import prefect_test_harness

        stack.enter_context(prefect_test_harness(server_startup_timeout=180))
        dask_address = None
        if "dask" in runners:
            from distributed import LocalCluster

            cluster = stack.enter_context(LocalCluster(
                n_workers=args.workers, processes=True, threads_per_worker=1,
                dashboard_address=":0",
            ))
            dask_address = cluster.scheduler_address
        if "ray" in runners:
            import ray

            # --ray-keep-idle-workers: see the module docstring.
            system_config = ({"idle_worker_killing_time_threshold_ms": 3_600_000}
                             if args.ray_keep_idle_workers else None)
            ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False,
                     _system_config=system_config)
            stack.callback(ray.shutdown)

        flows: dict[tuple[str, str], Callable[[], Any]] = {}
        for runner in runners:
            plain, tracked = build_flows(runner, args.tasks, args.workers, dask_address)
            flows[(runner, "untracked")], flows[(runner, "tracked")] = plain, tracked
        times: dict[tuple[str, str], list[float]] = {key: [] for key in flows}
        started: dict[tuple[str, str], list[int]] = {key: [] for key in flows if key[0] == "ray"}
        lost = 0
        order = list(flows)
        for repeat in range(args.repeats + 1):  # the first round warms up (imports, workers)
            shift = repeat % len(order)
            for key in order[shift:] + order[:shift]:
                quiesce()
                on_ray = key in started
                workers_before = ray_worker_logs() if on_ray else set()
                start = time.perf_counter()
                state = flows[key](return_state=True)
                elapsed = time.perf_counter() - start
                new_workers = len(ray_worker_logs() - workers_before) if on_ray else 0
                if not state.is_completed():
                    sys.exit(f"{key} flow run ended {state.type}: {state.message}")
                if key[1] == "tracked":
                    lost += lost_task_runs(state, args.tasks)
                if repeat:
                    times[key].append(elapsed)
                    if on_ray:
                        started[key].append(new_workers)
                started_note = f" ({new_workers} Ray workers started)" if on_ray else ""
                print(f"  {'warm-up' if not repeat else f'run {repeat}'} {key[0]:>6} "
                      f"{key[1]:>9}: {elapsed:7.2f} s{started_note}", flush=True)

    load_after = os.getloadavg()[0]
    rows: list[tuple[str, object, str]] = []
    summary: dict[str, object] = {
        "tasks": args.tasks, "workers": args.workers, "repeats": args.repeats,
        "store": "postgresql",
        "artifact_root": "s3" if artifact_root.startswith("s3://") else "local",
    }
    if "ray" in runners:
        summary["ray_keep_idle_workers"] = args.ray_keep_idle_workers
    for runner in runners:
        plain_s = statistics.median(times[(runner, "untracked")])
        tracked_s = statistics.median(times[(runner, "tracked")])
        ratio = tracked_s / plain_s
        paired = statistics.median(
            t / u for u, t in zip(times[(runner, "untracked")], times[(runner, "tracked")], strict=True))
        rows += [
            (f"{runner}: untracked flow run (median of {args.repeats})", plain_s, "s"),
            (f"{runner}: tracked flow run", tracked_s, "s"),
            (f"{runner}: overhead ratio tracked / untracked", ratio, ""),
            (f"{runner}: median of the ratios of each repetition's pair", paired, ""),
            (f"{runner}: extra per task", (tracked_s - plain_s) / args.tasks * 1e3, "ms/task"),
        ]
        summary[f"{runner}_overhead_ratio"] = round(ratio, 3)
        summary[f"{runner}_paired_ratio"] = round(paired, 3)
        summary[f"{runner}_untracked_s"] = round(plain_s, 3)
        summary[f"{runner}_tracked_s"] = round(tracked_s, 3)
        if runner == "ray":
            for kind in ("untracked", "tracked"):
                median_started = statistics.median(started[("ray", kind)])
                rows.append((f"ray: worker processes started per {kind} flow run (median)",
                             median_started, ""))
                summary[f"ray_workers_started_{kind}"] = median_started
    rows.append(("lost task runs (tracked runs, all repetitions and warm-up)", lost, ""))
    rows.append(("load average before / after", f"{load_before:.1f} / {load_after:.1f}", ""))
    summary.update(lost=lost, load_before=round(load_before, 2), load_after=round(load_after, 2))
    report("scale", rows, summary)


if __name__ == "__main__":
    main()
