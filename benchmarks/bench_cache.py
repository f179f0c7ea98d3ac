"""What vertex_track's result cache saves, side by side in one run (medians).

A pipeline of ``--tasks`` cached tasks in a chain over a ``--mb`` MB float64
numpy array: each step sorts its input after a small shift (a stand-in for a
preprocessing step of about a second) and returns a new array of the same
size. Each round uses a fresh store and artifact folder and runs the flow
twice, each run starting once Prefect's API server has gone quiet
(``_common.quiesce``): cold (every task runs, its output is stored and its content digest
recorded) and fully cached (every task is a verified hit: its outputs are
loaded from the artifact store, nothing runs).

* ``cached_ratio``: cached / cold wall time of the flow (target <= 0.1).
* ``key_ms``: the cost of one task's cache key when its input is a ``--mb`` MB
  array seen for the first time (hashing its bytes: ``content_digest``).
* ``floor_s``: the same chain of ``--tasks`` tasks as plain, untracked Prefect
  tasks that do nothing (each returns its input, no Prefect cache policy):
  what Prefect's engine alone costs for a flow of this shape, the least any
  cached run can take. ``cached_over_floor`` is the fully cached run over it.

Prefect 3's flow engine joins its flow-run heartbeat thread when a flow run
ends, and that thread sleeps in one-second steps, so a flow run's wall time is
rounded up towards a whole second of Prefect's own (see
https://github.com/PrefectHQ/prefect/pull/19641). ``--no-heartbeat`` runs the
flows with heartbeats off (``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` set to None
for the benchmark), to show vertex_track's cost without that wait.

Usage: python benchmarks/bench_cache.py [--tasks 10] [--mb 100] [--rounds 3] [--no-heartbeat]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import quiesce, report

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

import numpy as np
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

import vertex_track as vt
from vertex_track.tracking.cache import known_digests

CALLS = [0]


@vt.task(cache=True)
def step(data: Any, shift: float) -> Any:
    CALLS[0] += 1
    return np.sort(data + shift)


@task(cache_policy=NO_CACHE)  # as a cache=True task is to Prefect: no input hashing
def nothing(data: Any, shift: float) -> Any:
    return data


def make_floor_flow(tasks: int) -> Any:
    @flow
    def chain(data: Any) -> float:
        for i in range(tasks):
            data = nothing(data, float(i))
        return float(data[-1])

    return chain


def make_flow(tasks: int) -> Any:
    @vt.flow
    def chain(data: Any) -> float:
        for i in range(tasks):
            data = step(data, float(i))
        return float(data[-1])

    return chain


def one_round(chain: Any, data: np.ndarray, base: Path, tasks: int) -> tuple[float, float]:
    vt.init(store_uri=f"sqlite:///{base / 'metadata.db'}", artifact_root=str(base / "artifacts"))
    known_digests.clear()  # a new round starts from nothing known
    before = CALLS[0]
    quiesce()
    start = time.perf_counter()
    cold_result = chain(data)
    cold = time.perf_counter() - start
    assert CALLS[0] - before == tasks
    quiesce()
    start = time.perf_counter()
    cached_result = chain(data)
    cached = time.perf_counter() - start
    assert CALLS[0] - before == tasks, "the cached run called a task"
    assert cached_result == cold_result
    states = [e.state.value for e in vt.Execution.list()]
    assert states.count("CACHED") == tasks, states
    return cold, cached


def key_cost(data: np.ndarray, repeats: int) -> float:
    """Median time of one key over ``data`` never seen before (a writable copy)."""
    from vertex_track.tracking.cache import TaskCache

    cache: TaskCache = step.fn.__vt_cache__
    data = data.copy()
    samples = []
    for _ in range(repeats):
        known_digests.clear()
        start = time.perf_counter()
        cache.components((data, 0.0), {})
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--no-heartbeat", action="store_true",
        help="run the flows with Prefect's flow-run heartbeat off",
    )
    args = parser.parse_args()
    if args.no_heartbeat:
        from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            measure(args)
    else:
        measure(args)


def measure(args: argparse.Namespace) -> None:
    """Run the rounds and print the report."""
    rng = np.random.default_rng(0)
    data = rng.random(args.mb * 2**20 // 8)
    # A read-only array is frozen: tracking stores it once and its digest is
    # computed once per process (see vertex_track.artifacts.cache), as for any
    # input a pipeline reads and does not modify.
    data.flags.writeable = False
    chain = make_flow(args.tasks)
    floor_chain = make_floor_flow(args.tasks)
    colds, cacheds, floors = [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
        warm = Path(tmp) / "warm-up"  # Prefect's server starts, imports settle: not timed
        warm.mkdir()
        one_round(chain, np.arange(1000.0), warm, args.tasks)
        for r in range(args.rounds):
            base = Path(tmp) / f"round{r}"
            base.mkdir()
            cold, cached = one_round(chain, data, base, args.tasks)
            colds.append(cold)
            cacheds.append(cached)
            quiesce()
            start = time.perf_counter()
            floor_chain(data)
            floors.append(time.perf_counter() - start)
        key_s = key_cost(data, max(3, args.rounds))
    cold_m, cached_m = statistics.median(colds), statistics.median(cacheds)
    floor_m = statistics.median(floors)
    load = os.getloadavg()
    heartbeat = "" if not args.no_heartbeat else ", Prefect heartbeat off"
    report("cache", [
        (f"cold run ({args.tasks} tasks, {args.mb} MB{heartbeat})", cold_m, "s"),
        ("fully cached run", cached_m, "s"),
        ("cached_ratio (cached / cold)", cached_m / cold_m, ""),
        ("cached per task", cached_m / args.tasks * 1000, "ms"),
        (f"floor_s (untracked no-op chain of {args.tasks})", floor_m, "s"),
        ("cached / floor", cached_m / floor_m, ""),
        (f"key_ms ({args.mb} MB input)", key_s * 1000, "ms"),
        ("load average (1 min)", load[0], ""),
    ], {
        "tasks": args.tasks, "mb": args.mb, "rounds": args.rounds,
        "heartbeat": not args.no_heartbeat,
        "cold_s": round(cold_m, 3), "cached_s": round(cached_m, 3),
        "cached_ratio": round(cached_m / cold_m, 4), "key_ms": round(key_s * 1000, 1),
        "floor_s": round(floor_m, 3), "cached_over_floor": round(cached_m / floor_m, 3),
        "cold_samples": [round(x, 3) for x in colds],
        "cached_samples": [round(x, 3) for x in cacheds],
        "floor_samples": [round(x, 3) for x in floors],
        "loadavg_1m": round(load[0], 2),
    })


if __name__ == "__main__":
    main()
