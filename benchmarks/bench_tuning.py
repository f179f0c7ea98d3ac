"""Training pipelines: parallel trials, and what a pipeline costs around the training code.

Measured in one process on a fresh store (SQLite in a temp folder), Prefect
in local mode (its temporary server is started by a warm-up run first):

- ``parallel_speedup``: a hyperparameter tuning job of ``--trials`` (8)
  trials of a CPU-bound training script (pure-Python arithmetic, calibrated to
  ``--trial-seconds`` (1) of CPU on this machine), run with
  ``parallelTrialCount`` 1 and then 2, side by side: sequential wall time /
  parallel wall time, the median of ``--pairs`` (3) alternating pairs. On 2
  cores the ceiling is 2. The table also shows how many trials ran at once
  (from their Executions' start and end times) and the load average: on a
  machine other work keeps busy, the speedup says more about that work.
- ``pipeline_overhead_s``: the wall time of ``run_training_pipeline`` for a
  custom job around a trivial script (it writes one file to
  ``AIP_MODEL_DIR``), minus the script's own run time (from process start to
  exit, as the job's Execution records it): validation, the flow run, the
  records, the model upload. Median of ``--repeats`` (5) runs.

Target: ``parallel_speedup`` >= 1.6 on 2 cores; ``pipeline_overhead_s`` <= 2 s.

Usage: python benchmarks/bench_tuning.py [--trials 8] [--trial-seconds 1.0] [--repeats 5]
       [--pairs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
# Prefect's console output would bury the table (its API still gets every log line).
os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_FLOW_RUNS_LEVEL", "CRITICAL")

sys.path.insert(0, str(Path(__file__).parent))
from _common import report

CUSTOM = "gs://google-cloud-aiplatform/schema/trainingjob/definition/custom_task_1.0.0.yaml"
HPT = ("gs://google-cloud-aiplatform/schema/trainingjob/definition/"
       "hyperparameter_tuning_task_1.0.0.yaml")

BURN = textwrap.dedent(
    """
    import json, os, sys, time
    args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--"))
    n = int(os.environ["BURN_N"])
    x = 0
    for i in range(n):  # CPU-bound "training"
        x = (x * 31 + i) % 1000003
    lr = float(args.get("lr", 0.1))
    path = os.environ["CLOUD_ML_HP_METRIC_FILE"]
    with open(path, "w") as f:  # the cloudml-hypertune file format
        f.write(json.dumps({"timestamp": time.time(), "trial": os.environ.get("CLOUD_ML_TRIAL_ID"),
                            "score": str(-(lr - 0.1) ** 2), "global_step": "0",
                            "checkpoint_path": ""}) + "\\n")
    os.makedirs(os.environ["AIP_MODEL_DIR"], exist_ok=True)
    open(os.path.join(os.environ["AIP_MODEL_DIR"], "model.txt"), "w").write(str(x))
    """
)
TRIVIAL = textwrap.dedent(
    """
    import os
    os.makedirs(os.environ["AIP_MODEL_DIR"], exist_ok=True)
    open(os.path.join(os.environ["AIP_MODEL_DIR"], "model.txt"), "w").write("w")
    """
)


def calibrate(script: Path, seconds: float) -> int:
    """Loop count that makes ``script`` burn about ``seconds`` of CPU here."""
    n = 200_000
    while True:
        env = {**os.environ, "BURN_N": str(n), "CLOUD_ML_HP_METRIC_FILE": os.devnull,
               "AIP_MODEL_DIR": tempfile.mkdtemp()}
        start = time.perf_counter()
        subprocess.run([sys.executable, str(script)], env=env, check=True)
        took = time.perf_counter() - start
        if took > 0.25:
            return int(n * seconds / took)
        n *= 4


def tuning_request(script: Path, out: Path, trials: int, parallel: int, n: int) -> dict:
    return {
        "displayName": f"bench-tuning-p{parallel}",
        "trainingTaskDefinition": HPT,
        "trainingTaskInputs": {
            "studySpec": {
                "metrics": [{"metricId": "score", "goal": "MAXIMIZE"}],
                "parameters": [{"parameterId": "lr", "scaleType": "UNIT_LOG_SCALE",
                                "doubleValueSpec": {"minValue": 0.001, "maxValue": 1.0}}],
                "algorithm": "RANDOM_SEARCH",
            },
            "maxTrialCount": trials, "parallelTrialCount": parallel,
            "trialJobSpec": {
                "workerPoolSpecs": [{"replicaCount": 1, "containerSpec": {
                    "command": ["python", str(script)],
                    "env": [{"name": "BURN_N", "value": str(n)}]}}],
                "baseOutputDirectory": {"outputUriPrefix": str(out)},
            },
        },
        "modelToUpload": {"displayName": "bench-model"},
    }


def custom_request(script: Path, out: Path) -> dict:
    return {
        "displayName": "bench-overhead",
        "trainingTaskDefinition": CUSTOM,
        "trainingTaskInputs": {
            "workerPoolSpecs": [{"replicaCount": 1, "containerSpec": {
                "command": ["python", str(script)]}}],
            "baseOutputDirectory": {"outputUriPrefix": str(out)},
        },
        "modelToUpload": {"displayName": "trivial-model"},
    }


def max_concurrent(result: object) -> int:
    """Most trials whose Executions were open at the same moment (start = create, end = update)."""
    points = []
    for t in result.trials:  # type: ignore[attr-defined]
        ex = t.execution
        points += [(ex.create_time, 1), (ex.update_time, -1)]
    best = now = 0
    for _, step in sorted(points, key=lambda p: (p[0], p[1])):
        now += step
        best = max(best, now)
    return best


def mean_trial(result: object) -> float:
    """Mean wall time of a trial's job (process start to exit), as its Execution records it."""
    return statistics.mean(
        t.execution.metadata["vertex_track"]["duration_s"]
        for t in result.trials  # type: ignore[attr-defined]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--trial-seconds", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=3,
                        help="sequential/parallel study pairs (the speedup is their median)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="vt-bench-tuning-"))
    os.environ["VERTEX_TRACK_HOME"] = str(tmp / "home")
    import vertex_track as vt

    burn, trivial = tmp / "burn.py", tmp / "trivial.py"
    burn.write_text(BURN)
    trivial.write_text(TRIVIAL)
    n = calibrate(burn, args.trial_seconds)

    def run(request: dict) -> tuple[float, vt.pipelines.TrainingPipelineResult]:
        start = time.perf_counter()
        result = vt.pipelines.run_training_pipeline(request)
        took = time.perf_counter() - start
        if result.state != "PIPELINE_STATE_SUCCEEDED":
            raise SystemExit(f"benchmark pipeline failed: {result.error}")
        return took, result

    run(custom_request(trivial, tmp / "warmup"))  # starts Prefect's temporary server

    overheads, walls = [], []
    for i in range(args.repeats):
        took, result = run(custom_request(trivial, tmp / f"overhead-{i}"))
        (job,) = result.model.get_executions(type="OUTPUT")
        script_s = job.metadata["vertex_track"]["duration_s"]
        overheads.append(took - script_s)
        walls.append(took)

    # Sequential and parallel studies alternate, so a change in the machine's load
    # hits both sides; the figure is the median of the pairs' ratios.
    load_before = os.getloadavg()[0]
    pairs = []
    for i in range(args.pairs):
        seq_s, seq = run(tuning_request(burn, tmp / f"seq-{i}", args.trials, 1, n))
        par_s, par = run(tuning_request(burn, tmp / f"par-{i}", args.trials, 2, n))
        pairs.append((seq_s, par_s))
    load_after = os.getloadavg()[0]
    ratios = [a / b for a, b in pairs]
    speedup = statistics.median(ratios)
    seq_s = statistics.median(a for a, _ in pairs)
    par_s = statistics.median(b for _, b in pairs)
    overhead = statistics.median(overheads)

    report(
        "tuning",
        [
            ("CPU cores", os.cpu_count() or 0, ""),
            ("trial CPU time (calibrated)", args.trial_seconds, "s"),
            (f"{args.trials} trials, parallelTrialCount=1 (median)", seq_s, "s"),
            (f"{args.trials} trials, parallelTrialCount=2 (median)", par_s, "s"),
            (f"parallel_speedup (median of {args.pairs} pairs)", speedup, "x"),
            ("mean trial wall time, parallelTrialCount=1", mean_trial(seq), "s"),
            ("mean trial wall time, parallelTrialCount=2", mean_trial(par), "s"),
            ("trials running at once, parallelTrialCount=1", max_concurrent(seq), ""),
            ("trials running at once, parallelTrialCount=2", max_concurrent(par), ""),
            ("load average (1 min) before / after", f"{load_before:.1f} / {load_after:.1f}", ""),
            ("custom pipeline wall time (median)", statistics.median(walls), "s"),
            ("pipeline_overhead_s (wall - script, median)", overhead, "s"),
        ],
        {
            "trials": args.trials,
            "trial_seconds": args.trial_seconds,
            "sequential_s": round(seq_s, 3),
            "parallel_s": round(par_s, 3),
            "parallel_speedup": round(speedup, 3),
            "speedup_samples": [round(r, 3) for r in ratios],
            "pipeline_overhead_s": round(overhead, 3),
            "overhead_samples_s": [round(x, 3) for x in overheads],
            "cpu_count": os.cpu_count(),
            "max_concurrent_trials": [max_concurrent(seq), max_concurrent(par)],
            "mean_trial_s": [round(mean_trial(seq), 3), round(mean_trial(par), 3)],
            "load_average": [round(load_before, 2), round(load_after, 2)],
        },
    )


if __name__ == "__main__":
    main()
