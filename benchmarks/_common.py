"""Shared helpers for the benchmarks: medians, a table, one JSON line."""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

#: The columns every resource table starts with (for the raw-sqlite3 ceilings).
RESOURCE_COLUMNS = (
    "id, store_id, resource_id, display_name, schema_title, schema_version, "
    "description, metadata, labels, etag, create_time, update_time"
)


def raw_sqlite(path: Path) -> tuple[sqlite3.Connection, int]:
    """A plain ``sqlite3`` connection to a new store at ``path`` (our schema and indexes,
    our connections' PRAGMAs) and the store's id: what the raw ceilings write with."""
    from vertex_track.store import open_store
    from vertex_track.store.sql.dialects import WAL_AUTOCHECKPOINT_PAGES

    open_store(f"sqlite:///{path}")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn, conn.execute("SELECT id FROM vt_metadata_stores").fetchone()[0]


def median_of(fn: Callable[[], float], repeats: int) -> tuple[float, list[float]]:
    samples = [fn() for _ in range(repeats)]
    return statistics.median(samples), samples


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def report(bench: str, rows: Sequence[tuple[str, Any, str]], summary: dict[str, Any]) -> None:
    """Print ``rows`` (label, value, unit) as a table, then ``summary`` as one JSON line."""
    width = max(len(r[0]) for r in rows)
    print(f"\n{bench} benchmark")
    print("-" * (width + 24))
    for label, value, unit in rows:
        shown = f"{value:,.3f}" if isinstance(value, float) else f"{value}"
        print(f"{label:<{width}}  {shown:>14} {unit}")
    print("-" * (width + 24))
    print(json.dumps({"bench": bench, **summary}, sort_keys=False))


def children_cpu_seconds(cmdline_has: bytes | None = None) -> float | None:
    """CPU seconds (user + system) of this process's child processes, from ``/proc``;
    with ``cmdline_has``, only of those whose command line contains it. None where
    there is no ``/proc`` or no such child."""
    me, tick = str(os.getpid()), os.sysconf("SC_CLK_TCK")
    try:
        pids = [e.name for e in os.scandir("/proc") if e.name.isdigit()]
    except OSError:
        return None
    total, found = 0.0, False
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if fields[1] != me:  # ppid
                continue
            if cmdline_has is not None:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if cmdline_has not in f.read():
                        continue
        except (OSError, IndexError):
            continue  # gone meanwhile
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime in clock ticks
        found = True
    return total if found else None


def quiesce(limit_s: float = 60.0) -> float:
    """Wait until Prefect's local API server has worked through the events of the
    runs before (its CPU time stops growing); return the seconds waited.

    Left busy, the server holds its SQLite database while the next flow run is
    created, and that request fails and is retried after 2, then 4 seconds
    (Prefect's client backs off exponentially), whichever flow comes next:
    noise far larger than what is measured. Each timed run starts on a quiet server."""
    def server_cpu() -> float | None:  # Prefect's server: python -m uvicorn ... prefect.server...
        return children_cpu_seconds(b"prefect.server")

    start = time.monotonic()
    last = server_cpu()
    while last is not None and time.monotonic() - start < limit_s:
        time.sleep(0.5)
        now = server_cpu()
        if now is None or now - last < 0.02:  # under 4 % of a core
            break
        last = now
    return time.monotonic() - start
