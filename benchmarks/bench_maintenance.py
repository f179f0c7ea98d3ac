"""What ``vertex-track gc`` and ``vertex-track doctor`` cost, against a full read of the store.

Bulk-loads an SQLite store through the schema's tables (``executemany``): N
artifacts whose bytes are real files in the artifact root's layout, every
tenth of them referenced only from another artifact's metadata field (as
``log_model`` references its input example), plus N/10 objects nothing
references. Then runs each command as a whole process with stdout piped,
rounds interleaved, and reports median wall times and the ratio to
``artifacts list --limit 0 --json`` (which reads every artifact once: the
floor of anything that scans the records). ``gc`` must find exactly the
unreferenced objects; the benchmark checks it.

Usage: python benchmarks/bench_maintenance.py [--artifacts 20000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import report

from vertex_track.store.sql import tables as t
from vertex_track.store.sql.store import SqlStore

BATCH = 5000


def _object(root: Path, content: bytes) -> tuple[str, str]:
    hexd = hashlib.sha256(content).hexdigest()
    path = root / "sha256" / hexd[:2] / f"{hexd}.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return f"file://{path}", f"sha256:{hexd}"


def load(uri: str, root: Path, n: int) -> int:
    """Write the store and the objects; returns how many objects nothing references."""
    store = SqlStore(uri)
    rows: list[dict[str, Any]] = []
    with store.engine.connect().execution_options(vt_write=True) as conn, conn.begin():
        for i in range(n):
            obj_uri, digest = _object(root, f"artifact {i}".encode() * 20)
            metadata: dict[str, Any] = {"vertex_track": {"digest": digest, "materializer": "bytes"}}
            if i % 10 == 0:  # a second object, named only inside a metadata field
                extra_uri, extra_digest = _object(root, f"example {i}".encode() * 20)
                metadata["inputExample"] = {"uri": extra_uri, "digest": extra_digest}
            rows.append({
                "id": i + 1, "store_id": store.store_id, "resource_id": f"a-{i}",
                "display_name": f"a-{i}", "schema_title": "system.Dataset",
                "schema_version": "0.0.1", "description": "", "metadata": metadata,
                "labels": {}, "etag": 1, "create_time": 1_700_000_000_000_000 + i,
                "update_time": 1_700_000_000_000_000 + i, "uri": obj_uri, "state": "LIVE",
            })
            if len(rows) >= BATCH:
                conn.execute(t.artifacts.insert(), rows)
                rows = []
        if rows:
            conn.execute(t.artifacts.insert(), rows)
    orphans = n // 10
    for i in range(orphans):
        _object(root, f"orphan {i}".encode() * 20)
    return orphans


def once(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if out.returncode not in (0, 5):
        raise SystemExit(f"{argv} failed ({out.returncode}): {out.stderr}")
    return elapsed, out.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--artifacts", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db, root = Path(tmp) / "metadata.db", Path(tmp) / "artifacts"
        uri = f"sqlite:///{db}"
        orphans = load(uri, root, args.artifacts)
        env = {**os.environ, "VERTEX_TRACK_STORE_URI": uri,
               "VERTEX_TRACK_ARTIFACT_ROOT": str(root), "VERTEX_TRACK_HOME": tmp}
        base = [sys.executable, "-m", "vertex_track.cli"]
        commands = {
            "list_all": [*base, "artifacts", "list", "--limit", "0", "--json"],
            "gc": [*base, "gc", "--min-age", "0", "--json"],
            "doctor": [*base, "doctor", "--no-prefect", "--json"],
        }
        samples: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(args.repeats):
            for name, argv in commands.items():
                elapsed, stdout = once(argv, env)
                samples[name].append(elapsed)
                if name == "gc":
                    found = len(json.loads(stdout)["unreferenced"])
                    assert found == orphans, (found, orphans)
    med = {k: statistics.median(v) for k, v in samples.items()}
    objects = args.artifacts + args.artifacts // 10 + orphans
    rows = [
        ("artifacts (records)", args.artifacts, ""),
        ("objects in the artifact root", objects, ""),
        ("artifacts list --limit 0 --json", med["list_all"], "s"),
        ("gc --json", med["gc"], "s"),
        ("doctor --json", med["doctor"], "s"),
        ("gc / list_all", med["gc"] / med["list_all"], "x"),
        ("doctor / list_all", med["doctor"] / med["list_all"], "x"),
    ]
    report("maintenance", rows, {
        "artifacts": args.artifacts, "objects": objects, "list_all_s": round(med["list_all"], 3),
        "gc_s": round(med["gc"], 3), "doctor_s": round(med["doctor"], 3),
        "gc_ratio": round(med["gc"] / med["list_all"], 2),
        "doctor_ratio": round(med["doctor"] / med["list_all"], 2),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    })


if __name__ == "__main__":
    main()
