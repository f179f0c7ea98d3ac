"""``vertex-track serve`` under Google's Vertex AI SDK, against the same calls in-process.

The server runs as ``vertex-track --store-uri URI serve`` in its own process
(uvicorn, one worker) on a free loopback port, over a fresh store. Measured:

- ``serve_creates_per_s``: ``aiplatform.Artifact.create(...)`` round trips per
  second from one SDK client (each is two HTTP requests: the SDK checks the
  metadata store, then creates);
- ``serve_list_ms``: median ``aiplatform.Artifact.list(filter='display_name="..."')``
  over the ``--artifacts`` created, in ms;
- ``serve_ts_logs_per_s``: ``aiplatform.log_time_series_metrics`` calls per
  second (two metrics each; one ``:write`` of TensorboardService each) in one
  run, against ``vt.log_time_series_metrics`` in-process (buffered; the
  time includes ``end_run``'s write);
- ``serve_http_creates_per_s``: ``POST .../artifacts`` per second from one plain
  HTTP client (httpx, keep-alive): the server's share of an SDK create;
- ``serve_concurrent_creates_per_s`` / ``serve_concurrent_gets_per_s``: the
  server's own requests per second under 8 concurrent HTTP clients
  (``POST .../artifacts``, ``GET .../artifacts/{id}``; one keep-alive
  connection per client thread);

and, side by side on a second fresh store of the same kind, the same create
and list through ``vt.Artifact.create`` / ``vt.Artifact.list`` in-process
(``inprocess_creates_per_s``, ``inprocess_list_ms``), with the ratios.

Usage: python benchmarks/bench_serve.py [--artifacts 300] [--repeats 15]
       [--requests 400] [--clients 8] [--store-uri URI]
(``--store-uri`` e.g. a PostgreSQL database; default: SQLite files in a temporary folder.)
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import report

import vertex_track as vt

PROJECT, LOCATION = "bench", "us-central1"
STORE = f"projects/{PROJECT}/locations/{LOCATION}/metadataStores/default"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(store_uri: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``vertex-track serve`` on a free port; returns the process and its URL once it answers."""
    import httpx

    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vertex_track.cli", "--store-uri", store_uri, "serve",
             "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/v1/{STORE}", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.2)


def sdk_creates(url: str, n: int) -> float:
    """Seconds for ``n`` SDK ``Artifact.create`` calls."""
    import google.auth.credentials
    from google.cloud import aiplatform

    aiplatform.init(project=PROJECT, location=LOCATION, api_endpoint=url, api_transport="rest",
                    credentials=google.auth.credentials.AnonymousCredentials())
    aiplatform.Artifact.create(schema_title="system.Dataset", display_name="warm-up")
    start = time.perf_counter()
    for i in range(n):
        aiplatform.Artifact.create(schema_title="system.Dataset", uri=f"gs://b/data-{i}.csv",
                                   display_name=f"data-{i}", metadata={"rows": i, "split": "train"})
    return time.perf_counter() - start


def sdk_lists(n: int, repeats: int) -> list[float]:
    from google.cloud import aiplatform

    out = []
    for r in range(repeats):
        name = f"data-{(r * 7919) % n}"
        start = time.perf_counter()
        found = aiplatform.Artifact.list(filter=f'display_name="{name}"')
        out.append(time.perf_counter() - start)
        assert len(found) == 1, (name, len(found))
    return out


def sdk_time_series(n: int) -> float:
    """Seconds for ``n`` SDK ``log_time_series_metrics`` calls (one ``:write`` each) in one run."""
    from google.cloud import aiplatform

    aiplatform.init(experiment="bench-serve")
    aiplatform.start_run("ts")
    aiplatform.log_time_series_metrics({"loss": 1.0, "acc": 0.0}, step=0)  # creates the series
    start = time.perf_counter()
    for i in range(1, n + 1):
        aiplatform.log_time_series_metrics({"loss": 1.0 / i, "acc": i / n}, step=i)
    elapsed = time.perf_counter() - start
    aiplatform.end_run()
    return elapsed


def vt_time_series(n: int) -> float:
    """Seconds for ``n`` ``vt.log_time_series_metrics`` calls, including the final write."""
    vt.init(experiment="bench-serve")
    with vt.start_run("ts"):
        start = time.perf_counter()
        for i in range(1, n + 1):
            vt.log_time_series_metrics({"loss": 1.0 / i, "acc": i / n}, step=i)
    return time.perf_counter() - start


def vt_creates(n: int) -> float:
    vt.Artifact.create("system.Dataset", display_name="warm-up")
    start = time.perf_counter()
    for i in range(n):
        vt.Artifact.create("system.Dataset", uri=f"gs://b/data-{i}.csv", display_name=f"data-{i}",
                           metadata={"rows": i, "split": "train"})
    return time.perf_counter() - start


def vt_lists(n: int, repeats: int) -> list[float]:
    out = []
    for r in range(repeats):
        name = f"data-{(r * 7919) % n}"
        start = time.perf_counter()
        found = vt.Artifact.list(f'display_name="{name}"')
        out.append(time.perf_counter() - start)
        assert len(found) == 1
    return out


def concurrent(url: str, clients: int, total: int, kind: str) -> float:
    """Requests per second the server answers to ``clients`` concurrent HTTP clients."""
    import httpx

    per = total // clients
    barrier = threading.Barrier(clients + 1)
    errors: list[str] = []

    def work(c: int) -> None:
        with httpx.Client(base_url=f"{url}/v1/{STORE}/", timeout=60) as http:
            barrier.wait()
            for i in range(per):
                if kind == "create":
                    r = http.post("artifacts", json={"schemaTitle": "system.Dataset",
                                                     "displayName": f"c{c}-{i}",
                                                     "uri": f"gs://b/c{c}-{i}", "metadata": {"i": i}})
                else:
                    r = http.get(f"artifacts/conc-{i % 50}")
                if r.status_code != 200:
                    errors.append(r.text)
            barrier.wait()

    threads = [threading.Thread(target=work, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    barrier.wait()
    elapsed = time.perf_counter() - start
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    return per * clients / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--store-uri", default=None,
                        help="a PostgreSQL URL to measure on (two schemas are not made: "
                        "the in-process reference then shares the database under another project)")
    args = parser.parse_args()
    os.environ.setdefault("DO_NOT_TRACK", "1")
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    served_uri = args.store_uri or f"sqlite:///{tmp / 'served.db'}"
    local_uri = args.store_uri or f"sqlite:///{tmp / 'local.db'}"
    proc, url = start_server(served_uri, tmp / "server.log")
    try:
        sdk_s = sdk_creates(url, args.artifacts)
        sdk_list = sdk_lists(args.artifacts, args.repeats)
        sdk_ts = sdk_time_series(args.artifacts)
        import httpx

        for i in range(50):
            httpx.post(f"{url}/v1/{STORE}/artifacts", params={"artifactId": f"conc-{i}"},
                       json={"schemaTitle": "system.Dataset"}).raise_for_status()
        one_client = concurrent(url, 1, args.artifacts, "create")
        conc_creates = concurrent(url, args.clients, args.requests, "create")
        conc_gets = concurrent(url, args.clients, args.requests, "get")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)

    vt.init(store_uri=local_uri, project=f"{PROJECT}-local" if args.store_uri else PROJECT,
            location=LOCATION)
    vt_s = vt_creates(args.artifacts)
    vt_list = vt_lists(args.artifacts, args.repeats)
    vt_ts = vt_time_series(args.artifacts)

    serve_creates = args.artifacts / sdk_s
    local_creates = args.artifacts / vt_s
    serve_list_ms = statistics.median(sdk_list) * 1000
    local_list_ms = statistics.median(vt_list) * 1000
    backend = "postgresql" if served_uri.startswith("postgresql") else "sqlite"
    rows: list[tuple[str, Any, str]] = [
        ("store", backend, ""),
        ("SDK Artifact.create via serve", serve_creates, "creates/s"),
        ("vt.Artifact.create in-process", local_creates, "creates/s"),
        ("  ratio serve / in-process", serve_creates / local_creates, "x"),
        ("SDK Artifact.list(filter) via serve", serve_list_ms, "ms (median)"),
        ("vt.Artifact.list(filter) in-process", local_list_ms, "ms (median)"),
        ("  ratio serve / in-process", serve_list_ms / local_list_ms, "x"),
        ("SDK log_time_series_metrics via serve", args.artifacts / sdk_ts, "calls/s"),
        ("vt.log_time_series_metrics in-process", args.artifacts / vt_ts, "calls/s"),
        ("POST artifacts, 1 plain HTTP client", one_client, "requests/s"),
        (f"POST artifacts, {args.clients} clients", conc_creates, "requests/s"),
        (f"GET artifact, {args.clients} clients", conc_gets, "requests/s"),
    ]
    report("serve", rows, {
        "backend": backend,
        "artifacts": args.artifacts,
        "serve_creates_per_s": round(serve_creates, 1),
        "inprocess_creates_per_s": round(local_creates, 1),
        "create_ratio": round(serve_creates / local_creates, 3),
        "serve_list_ms": round(serve_list_ms, 2),
        "inprocess_list_ms": round(local_list_ms, 2),
        "list_ratio": round(serve_list_ms / local_list_ms, 2),
        "serve_ts_logs_per_s": round(args.artifacts / sdk_ts, 1),
        "inprocess_ts_logs_per_s": round(args.artifacts / vt_ts, 1),
        "serve_http_creates_per_s": round(one_client, 1),
        "serve_concurrent_creates_per_s": round(conc_creates, 1),
        "serve_concurrent_gets_per_s": round(conc_gets, 1),
        "clients": args.clients,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    })


if __name__ == "__main__":
    main()
