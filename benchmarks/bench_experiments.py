"""Experiment logging rates, side by side with MLflow's ``log_metric`` on SQLite.

Measured in one process, on a fresh store (an SQLite file in a temp folder
unless ``--store-uri`` says otherwise):

- ``log_metrics``: calls per second of ``run.log_metrics({key: value})``, one
  key per call cycling over 10 names (each call is one durable transaction);
  likewise ``log_params``;
- time series, 100,000 points: logged as 100,000 calls of one metric each
  (the worst case for per-call overhead) and as 25,000 calls of 4 metrics,
  each timed until every point is written (``flush_all``), then read back
  with ``get_time_series_data_frame`` (pandas already imported);
- MLflow (if a Python with ``mlflow`` is available): ``mlflow.log_metric``
  calls per second on its SQLite backend, in a subprocess of that Python
  (``--mlflow-python``, else ``$VERTEX_TRACK_BENCH_MLFLOW_PYTHON``, else
  ``/tmp/mlflow-venv/bin/python`` when it exists), plus ``log_batch`` points
  per second for the bulk comparison. ``null`` when MLflow is unavailable.

Every figure is the best of ``--repeats`` (default 3) samples, ours and
MLflow's alike: on a shared machine noise only ever slows a sample down.

Targets: ``log_metrics`` >= 10x MLflow's ``log_metric``; 100,000
points logged in <= 2 s and read back in <= 0.5 s.

Usage: python benchmarks/bench_experiments.py [--calls 3000] [--points 100000]
       [--store-uri URI] [--mlflow-python PATH] [--mlflow-calls 500] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import report

import vertex_track as vt
from vertex_track.experiments import flush_all

DEFAULT_MLFLOW_PYTHON = "/tmp/mlflow-venv/bin/python"

MLFLOW_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, time, warnings
    warnings.filterwarnings("ignore")
    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    folder, calls, points, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

    def best(fn):
        rates = []
        for r in range(repeats):
            start = time.perf_counter()
            n = fn(r)
            rates.append(n / (time.perf_counter() - start))
        return max(rates)

    mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
    mlflow.set_experiment("bench")
    with mlflow.start_run() as run:
        mlflow.log_metric("warmup", 0.0)          # schema created, caches warm

        def metrics(r):
            for i in range(calls):
                mlflow.log_metric(f"m{i % 10}", float(i), step=r * calls + i)
            return calls

        def params(r):
            for i in range(calls):
                mlflow.log_param(f"p{r}-{i}", i)  # params cannot change value in MLflow
            return calls

        client, now = MlflowClient(), int(time.time() * 1000)

        def batches(r):
            for first in range(0, points, 1000):
                batch = [Metric(f"loss{r}", float(i), now, i)
                         for i in range(first, min(first + 1000, points))]
                client.log_batch(run.info.run_id, metrics=batch)
            return points

        per_call, params, batch_rate = best(metrics), best(params), best(batches)
    print(json.dumps({"version": mlflow.__version__, "log_metric_per_s": per_call,
                      "log_param_per_s": params, "log_batch_points_per_s": batch_rate}))
    """
)


def run_mlflow(python: str | None, calls: int, points: int, repeats: int) -> dict | None:
    if not python or not Path(python).exists():
        return None
    with tempfile.TemporaryDirectory(prefix="bench-mlflow-") as folder:
        env = {**os.environ, "MLFLOW_TRACKING_URI": "", "PYTHONWARNINGS": "ignore"}
        proc = subprocess.run(
            [python, "-c", MLFLOW_SCRIPT, folder, str(calls), str(points), str(repeats)],
            capture_output=True, text=True, env=env, timeout=1800,
        )
    if proc.returncode != 0:
        print(f"MLflow run failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def best_rate(n: int, fn, repeats: int) -> float:
    """Highest of ``repeats`` rates: the machine's noise only ever slows a sample down."""
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = max(best, n / (time.perf_counter() - start))
    return best


def bench_vt(calls: int, points: int, repeats: int) -> dict:
    import pandas  # noqa: F401 - imported once up front, as a notebook would have it

    run = vt.ExperimentRun.create("calls", experiment="bench")

    def log_metrics() -> None:
        for i in range(calls):
            run.log_metrics({f"m{i % 10}": float(i)})

    def log_params() -> None:
        for i in range(calls):
            run.log_params({f"p{i % 10}": i})

    run.log_metrics({"warmup": 0.0})
    out = {
        "log_metrics_per_s": best_rate(calls, log_metrics, repeats),
        "log_params_per_s": best_rate(calls, log_params, repeats),
    }
    run.end_run()

    def series(name: str, per_call: int) -> tuple[float, float]:
        """(seconds to log and write ``points`` points, seconds to read them back)."""
        ts_run = vt.ExperimentRun.create(name, experiment="bench")
        names = ["loss", "accuracy", "lr", "grad_norm"][:per_call]
        steps = points // per_call
        start = time.perf_counter()
        for i in range(steps):
            ts_run.log_time_series_metrics({m: 1.0 / (i + 1) for m in names}, step=i)
        flush_all()
        log_s = time.perf_counter() - start
        start = time.perf_counter()
        frame = ts_run.get_time_series_data_frame()
        read_s = time.perf_counter() - start
        assert frame.shape == (steps, 2 + per_call), frame.shape
        ts_run.end_run()
        return log_s, read_s

    for label, per_call in (("ts", 1), ("ts_wide", 4)):
        samples = [series(f"{label.replace('_', '-')}-{i}", per_call) for i in range(repeats)]
        out[f"{label}_log_s"] = min(s[0] for s in samples)
        out[f"{label}_read_s"] = min(s[1] for s in samples)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000, help="log_metrics/log_params calls")
    parser.add_argument("--points", type=int, default=100_000, help="time series points")
    parser.add_argument("--store-uri", default=None, help="default: an SQLite file in a temp dir")
    parser.add_argument(
        "--mlflow-python",
        default=os.environ.get("VERTEX_TRACK_BENCH_MLFLOW_PYTHON") or DEFAULT_MLFLOW_PYTHON,
        help="a Python with mlflow installed (run in a subprocess)",
    )
    parser.add_argument("--mlflow-calls", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3, help="best of N for every figure")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-experiments-") as folder:
        uri = args.store_uri or f"sqlite:///{folder}/metadata.db"
        vt.init(store_uri=uri, artifact_root=f"{folder}/artifacts")
        backend = uri.split(":", 1)[0]
        ours = bench_vt(args.calls, args.points, args.repeats)
        mlflow = run_mlflow(args.mlflow_python, args.mlflow_calls, args.points, args.repeats)

    ml_rate = mlflow["log_metric_per_s"] if mlflow else None
    points = args.points
    rows = [
        (f"vt log_metrics ({backend})", ours["log_metrics_per_s"], "calls/s"),
        (f"vt log_params ({backend})", ours["log_params_per_s"], "calls/s"),
        (f"vt {points:,} points, 1 per call: log", ours["ts_log_s"], "s"),
        (f"vt {points:,} points, 1 per call: read", ours["ts_read_s"], "s"),
        (f"vt {points:,} points, 4 per call: log", ours["ts_wide_log_s"], "s"),
        (f"vt {points:,} points, 4 per call: read", ours["ts_wide_read_s"], "s"),
        ("vt time series points/s (1 per call)", points / ours["ts_log_s"], "points/s"),
    ]
    if mlflow:
        rows += [
            (f"mlflow {mlflow['version']} log_metric (sqlite)", mlflow["log_metric_per_s"], "calls/s"),
            (f"mlflow {mlflow['version']} log_param (sqlite)", mlflow["log_param_per_s"], "calls/s"),
            ("mlflow log_batch (1000/batch)", mlflow["log_batch_points_per_s"], "points/s"),
            ("log_metrics speed-up vs mlflow", ours["log_metrics_per_s"] / ml_rate, "x"),
        ]
    else:
        rows.append(("mlflow", "not available (pass --mlflow-python)", ""))
    report(
        "experiments",
        rows,
        {
            "backend": backend,
            "log_metrics_per_s": round(ours["log_metrics_per_s"], 1),
            "log_params_per_s": round(ours["log_params_per_s"], 1),
            "mlflow_log_metric_per_s": round(ml_rate, 1) if ml_rate else None,
            "mlflow_log_batch_points_per_s": (
                round(mlflow["log_batch_points_per_s"], 1) if mlflow else None
            ),
            "speedup_vs_mlflow": round(ours["log_metrics_per_s"] / ml_rate, 1) if ml_rate else None,
            "ts_points": points,
            "ts_100k_log_s": round(ours["ts_log_s"], 3),
            "ts_100k_read_s": round(ours["ts_read_s"], 3),
            "ts_100k_wide_log_s": round(ours["ts_wide_log_s"], 3),
            "ts_100k_wide_read_s": round(ours["ts_wide_read_s"], 3),
        },
    )


if __name__ == "__main__":
    main()
