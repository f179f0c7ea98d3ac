"""``vertex-track serve``: Google's SDK round trips, and the server under 8 concurrent HTTP clients.

The server runs as its own process (``python -m vertex_track.cli serve``) over
a fresh SQLite store; this process is the client. Measured, side by side in
one run (medians of ``--repeats`` rounds):

- ``sdk_creates_per_s``: ``aiplatform.Artifact.create`` (each one is two
  requests: the SDK gets the metadata store first), against
  ``vt_creates_per_s``: ``vt.Artifact.create`` on a store of its own, in this
  process (no HTTP); their ratio is what the REST route costs.
- ``sdk_list_ms``: ``aiplatform.Artifact.list(filter=...)`` matching 10 of
  ``--artifacts`` artifacts, against ``vt_list_ms`` (``vt.Artifact.list``).
- ``serve_creates_per_s``: ``POST .../artifacts`` from 8 threads with their
  own HTTP connection (httpx), the server's own throughput.
- ``serve_list_ms``: the latency of ``GET .../artifacts?filter=...`` under 8
  concurrent clients.

Usage: python benchmarks/bench_serve.py [--artifacts 1000] [--creates 200] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import report

import vertex_track as vt

PROJECT, LOCATION = "bench", "us-central1"
STORE = f"projects/{PROJECT}/locations/{LOCATION}/metadataStores/default"
CLIENTS = 8


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(uri: str, home: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "VERTEX_TRACK_STORE_URI": uri, "VERTEX_TRACK_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "vertex_track.cli", "serve", "--port",
                             str(port)], env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("vertex-track serve did not start") from None
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=int, default=1000)
    parser.add_argument("--creates", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import google.auth.credentials
    import httpx
    from google.cloud import aiplatform

    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    served_uri = f"sqlite:///{tmp / 'served.db'}"
    local_uri = f"sqlite:///{tmp / 'local.db'}"
    vt.init(store_uri=served_uri, project=PROJECT, location=LOCATION)
    for i in range(args.artifacts):  # the list's haystack, in both stores
        vt.Artifact.create("system.Dataset", display_name=f"item-{i % (args.artifacts // 10)}",
                           uri=f"gs://b/{i}")
    vt.init(store_uri=local_uri)
    for i in range(args.artifacts):
        vt.Artifact.create("system.Dataset", display_name=f"item-{i % (args.artifacts // 10)}",
                           uri=f"gs://b/{i}")
    proc, url = start_server(served_uri, tmp / "home")
    try:
        aiplatform.init(project=PROJECT, location=LOCATION, api_endpoint=url,
                        api_transport="rest",
                        credentials=google.auth.credentials.AnonymousCredentials())
        flt = 'display_name="item-7"'
        sdk_c, vt_c, sdk_l, vt_l, srv_c, srv_l = [], [], [], [], [], []
        for r in range(args.repeats):
            start = time.perf_counter()
            for i in range(args.creates):
                aiplatform.Artifact.create(schema_title="system.Model", uri=f"gs://m/{r}/{i}")
            sdk_c.append(args.creates / (time.perf_counter() - start))
            start = time.perf_counter()
            for i in range(args.creates):
                vt.Artifact.create("system.Model", uri=f"gs://m/{r}/{i}")
            vt_c.append(args.creates / (time.perf_counter() - start))
            start = time.perf_counter()
            assert len(aiplatform.Artifact.list(filter=flt)) == 10
            sdk_l.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            assert len(vt.Artifact.list(filter=flt)) == 10
            vt_l.append((time.perf_counter() - start) * 1000)
            srv_c.append(concurrent_creates(httpx, url, args.creates, r))
            srv_l.append(concurrent_list_ms(httpx, url, flt))
    finally:
        proc.terminate()
        proc.wait(30)
    med = statistics.median
    summary = {
        "sdk_creates_per_s": round(med(sdk_c), 1), "vt_creates_per_s": round(med(vt_c), 1),
        "sdk_list_ms": round(med(sdk_l), 2), "vt_list_ms": round(med(vt_l), 2),
        "serve_creates_per_s": round(med(srv_c), 1), "serve_list_ms": round(med(srv_l), 2),
        "artifacts": args.artifacts, "creates": args.creates, "clients": CLIENTS,
    }
    report("serve", [
        ("SDK Artifact.create", med(sdk_c), "per s"),
        ("vt.Artifact.create (no HTTP)", med(vt_c), "per s"),
        ("  ratio vt / SDK", med(vt_c) / med(sdk_c), "x"),
        (f"SDK Artifact.list(filter) of {args.artifacts}", med(sdk_l), "ms"),
        ("vt.Artifact.list(filter) (no HTTP)", med(vt_l), "ms"),
        (f"server POST artifacts, {CLIENTS} clients", med(srv_c), "per s"),
        (f"server GET artifacts?filter, {CLIENTS} clients", med(srv_l), "ms"),
    ], summary)


def concurrent_creates(httpx: object, url: str, n: int, round_: int) -> float:
    """Requests per second of ``n`` creates from :data:`CLIENTS` threads."""
    per = max(1, n // CLIENTS)

    def work(k: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as c:  # type: ignore[attr-defined]
            for i in range(per):
                r = c.post(f"/v1/{STORE}/artifacts", json={"schemaTitle": "system.Artifact",
                                                            "uri": f"gs://c/{round_}/{k}/{i}"})
                r.raise_for_status()

    start = time.perf_counter()
    threads = [threading.Thread(target=work, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return per * CLIENTS / (time.perf_counter() - start)


def concurrent_list_ms(httpx: object, url: str, flt: str, per: int = 10) -> float:
    """Median latency (ms) of filtered lists, :data:`CLIENTS` threads at once."""
    samples: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        with httpx.Client(base_url=url, timeout=60) as c:  # type: ignore[attr-defined]
            for _ in range(per):
                start = time.perf_counter()
                c.get(f"/v1/{STORE}/artifacts", params={"filter": flt}).raise_for_status()
                with lock:
                    samples.append((time.perf_counter() - start) * 1000)

    threads = [threading.Thread(target=work) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statistics.median(samples)


if __name__ == "__main__":
    main()
