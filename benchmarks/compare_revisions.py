"""Run one benchmark under two installs of vertex_track, alternating, and compare.

These machines are noisy: a figure measured an hour apart says little. This
script runs the same benchmark script under two Python interpreters (each
with its own install of vertex_track, e.g. a venv of the revision before a
change and one of the revision after it), one after the other, for several
rounds, and reports each figure's median per side and the ratio of medians.

    python benchmarks/compare_revisions.py \
        --before ../before/.venv/bin/python --after .venv/bin/python \
        --rounds 3 -- benchmarks/bench_store.py --n 2000

The benchmark must print its figures as one JSON line (every script in this
folder does). The benchmark file is taken from the current checkout for both
sides, so both measure the same thing. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def _run(python: str, argv: list[str]) -> dict[str, Any]:
    # Run from a neutral folder so each interpreter imports its own install
    # (Python puts only the script's own folder, benchmarks/, on the path).
    done = subprocess.run([python, *argv], capture_output=True, text=True, cwd="/", check=False)
    if done.returncode != 0:
        sys.exit(f"{python} {' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            data: dict[str, Any] = json.loads(line)
            return data
    sys.exit(f"{python} {' '.join(argv)} printed no JSON line:\n{done.stdout[-2000:]}")


def _origin(python: str) -> str:
    done = subprocess.run(
        [python, "-c", "import vertex_track, os; print(os.path.dirname(vertex_track.__file__))"],
        capture_output=True, text=True, cwd="/", check=True,
    )
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", required=True, help="Python of the install before the change")
    parser.add_argument("--after", required=True, help="Python of the install after the change")
    parser.add_argument("--rounds", type=int, default=3, help="runs per side, alternating")
    parser.add_argument("bench", nargs=argparse.REMAINDER,
                        help="-- then the benchmark script and its arguments")
    args = parser.parse_args()
    bench = [a for a in args.bench if a != "--"]
    if not bench:
        parser.error("name the benchmark script after --")
    bench[0] = str(Path(bench[0]).resolve())
    sides = {"before": args.before, "after": args.after}
    origins = {side: _origin(python) for side, python in sides.items()}
    if origins["before"] == origins["after"]:
        parser.error(f"both interpreters import the same vertex_track ({origins['before']})")
    results: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    started = time.monotonic()
    for i in range(args.rounds):
        # Alternate which side goes first, so a drift in load hits both alike.
        order = ["before", "after"] if i % 2 == 0 else ["after", "before"]
        for side in order:
            results[side].append(_run(sides[side], bench))
    keys = [
        k for k, v in results["after"][0].items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
        and all(isinstance(r.get(k), (int, float)) for r in results["before"])
    ]
    summary: dict[str, Any] = {
        "bench": "compare_revisions", "script": Path(bench[0]).name, "rounds": args.rounds,
        "load_1min": round(os.getloadavg()[0], 2),
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    width = max([len(k) for k in keys] + [10])
    print(f"\n{Path(bench[0]).name}: {args.rounds} alternating rounds per side "
          f"(medians; load {summary['load_1min']})")
    print(f"{'figure':<{width}}  {'before':>12}  {'after':>12}  {'after/before':>12}")
    print("-" * (width + 44))
    figures: dict[str, Any] = {}
    for k in keys:
        b = statistics.median(r[k] for r in results["before"])
        a = statistics.median(r[k] for r in results["after"])
        ratio = round(a / b, 3) if b else None
        figures[k] = {"before": b, "after": a, "ratio": ratio}
        shown = "-" if ratio is None else f"{ratio:.3f}"
        print(f"{k:<{width}}  {b:>12.4g}  {a:>12.4g}  {shown:>12}")
    print("-" * (width + 44))
    print(json.dumps({**summary, "figures": figures}))


if __name__ == "__main__":
    main()
