"""Server time of the web UI's JSON routes on a large store, and the lineage page's first paint.

The store: ``bench_cli``'s bulk load (100 pipeline runs of 10 executions,
100,000 artifacts with their OUTPUT events), plus, written through the public
API, a mapped pipeline (one source data set, 99 mapped executions each
reading it and writing one item, one reduce step reading the 99 items and
writing a model: the model's upstream lineage is 202 nodes) and an
experiment of 100 runs (params, metrics, a 20-step time series each).

Measured (median of ``--repeats`` calls through FastAPI's TestClient, i.e.
in-process, without a network):

- ``runs_page_ms``: ``GET /api/runs`` (the first page: 50 runs with their execution counts)
- ``lineage_page_ms``: ``GET /api/lineage?artifact=<model>`` (202 nodes, folded for display)
- ``experiment_page_ms``: ``GET /api/experiments/<name>`` (100 runs x params/metrics)

Target: each <= 150 ms. With Chromium at /usr/bin/chromium and Playwright
installed, also the lineage page in a headless browser (``--browser-repeats``
loads, median): ``lineage_first_paint_ms`` (first contentful paint) and
``lineage_graph_drawn_ms`` (navigation start to the graph laid out and drawn,
folded as the page shows it) and ``lineage_graph_drawn_unfolded_ms`` (all 202
nodes drawn), target <= 1000 ms.

Usage: python benchmarks/bench_ui.py [--artifacts 100000] [--repeats 15]
       [--browser-repeats 5] [--db PATH]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import report
from bench_cli import load

import vertex_track as vt

MAPPED = 99
EXPERIMENT_RUNS = 100
EXPERIMENT = "bench-ui"
TARGET_MS = 150.0
PAINT_TARGET_MS = 1000.0
CHROMIUM = "/usr/bin/chromium"


def add_mapped_pipeline() -> str:
    """The source -> 99 mapped steps -> reduce pipeline; returns the model's resource id."""
    ctx = vt.Context.create("system.PipelineRun", display_name="mapped-bench",
                            metadata={"flow_name": "mapped", "state": "COMPLETE"})
    source = vt.Execution.create(display_name="source", state="COMPLETE",
                                 metadata={"vertex_track": {"task_name": "source"}})
    data = vt.Artifact.create("system.Dataset", display_name="source.output",
                              uri="file:///bench/data.parquet")
    source.assign_output_artifacts([data])
    items = []
    executions = [source.name]
    for i in range(MAPPED):
        step = vt.Execution.create(display_name=f"featurize-{i}", state="COMPLETE",
                                   metadata={"vertex_track": {"task_name": "featurize"}})
        step.assign_input_artifacts([data])
        item = vt.Artifact.create("system.Dataset", display_name=f"featurize.output-{i}",
                                  uri=f"file:///bench/item-{i}.parquet")
        step.assign_output_artifacts([item])
        items.append(item)
        executions.append(step.name)
    reduce = vt.Execution.create(display_name="train", state="COMPLETE",
                                 metadata={"vertex_track": {"task_name": "train"}})
    reduce.assign_input_artifacts(items)
    model = vt.Artifact.create("system.Model", display_name="train.output",
                               uri="file:///bench/model.pkl")
    reduce.assign_output_artifacts([model])
    executions.append(reduce.name)
    ctx.add_artifacts_and_executions([data.name, *(i.name for i in items), model.name],
                                     executions)
    return model.resource_id


def add_experiment() -> None:
    for r in range(EXPERIMENT_RUNS):
        run = vt.ExperimentRun.create(f"run-{r:03d}", experiment=EXPERIMENT)
        run.log_params({"learning_rate": 0.1 / (r + 1), "batch_size": 32 + r, "model": "mlp"})
        for step in range(20):
            run.log_time_series_metrics({"loss": 1.0 / (step + 1 + r)}, step=step)
        run.log_metrics({"accuracy": 0.5 + r / 250, "f1": 0.4 + r / 300})
        run.end_run()


def time_get(client: Any, url: str, repeats: int) -> tuple[float, int]:
    """Median milliseconds of ``GET url`` and the response size (after one warm-up)."""
    response = client.get(url)
    assert response.status_code == 200, (url, response.text[:500])
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    return statistics.median(samples), len(response.content)


def browser_paint(app: Any, model: str, repeats: int) -> dict[str, float] | None:
    """First contentful paint and graph-drawn times of the lineage page, or None.

    Measured twice: as the page shows it (the 99 mapped steps folded into
    groups), and with every one of the 202 nodes drawn (``collapse_over``).
    """
    if not Path(CHROMIUM).exists():
        return None
    try:
        import uvicorn
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    fcp: list[float] = []
    drawn: list[float] = []
    drawn_all: list[float] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM)
            for i in range(2 * repeats + 2):  # the first load of each kind warms the caches
                unfolded = i % 2 == 1
                extra = "&collapse_over=100000" if unfolded else ""
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.goto(f"http://127.0.0.1:{port}/lineage?artifact={model}{extra}")
                page.wait_for_function(
                    "performance.getEntriesByName('vt-lineage-drawn').length > 0")
                times = page.evaluate("""() => ({
                    fcp: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime,
                    drawn: performance.getEntriesByName('vt-lineage-drawn')[0].startTime })""")
                page.close()
                if i >= 2 and unfolded:
                    drawn_all.append(times["drawn"])
                elif i >= 2:
                    fcp.append(times["fcp"])
                    drawn.append(times["drawn"])
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    return {"first_paint_ms": statistics.median(fcp), "graph_drawn_ms": statistics.median(drawn),
            "graph_drawn_unfolded_ms": statistics.median(drawn_all)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--artifacts", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--browser-repeats", type=int, default=5)
    parser.add_argument("--db", help="SQLite file to (re)use; default: a temporary one")
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="vt-bench-ui-")
    db = Path(args.db) if args.db else Path(folder) / "metadata.db"
    uri = f"sqlite:///{db}"
    try:
        vt.init(store_uri=uri, artifact_root=str(Path(folder) / "artifacts"))
        start = time.perf_counter()
        if not db.exists():
            load(uri, args.artifacts)
            add_mapped_pipeline()
            add_experiment()
        load_s = time.perf_counter() - start
        model = vt.Artifact.list('display_name = "train.output" AND schema_title = "system.Model"',
                                 order_by="create_time desc", page_size=1)[0].resource_id

        from vertex_track.ui.app import create_app

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TestClient's import-time notice about httpx2
            from fastapi.testclient import TestClient
        app = create_app(uri)
        client = TestClient(app)
        runs_ms, runs_bytes = time_get(client, "/api/runs", args.repeats)
        lineage_ms, lineage_bytes = time_get(client, f"/api/lineage?artifact={model}",
                                             args.repeats)
        nodes = len(client.get(f"/api/lineage?artifact={model}").json()["graph"]["nodes"])
        sub = client.get(f"/api/lineage?artifact={model}").json()["subgraph"]
        experiment_ms, experiment_bytes = time_get(client, f"/api/experiments/{EXPERIMENT}",
                                                   args.repeats)
        paint = browser_paint(app, model, args.browser_repeats)

        rows: list[tuple[str, Any, str]] = [
            ("artifacts in the store", args.artifacts + MAPPED + 2, ""),
            ("load time", load_s, "s"),
            ("lineage nodes (subgraph)", len(sub["artifacts"]) + len(sub["executions"]), ""),
            ("lineage nodes drawn (folded)", nodes, ""),
            ("GET /api/runs (50 runs)", runs_ms, "ms"),
            ("GET /api/lineage (202 nodes)", lineage_ms, "ms"),
            (f"GET /api/experiments/{{name}} ({EXPERIMENT_RUNS} runs)", experiment_ms, "ms"),
            ("response bytes: runs / lineage / experiment",
             f"{runs_bytes} / {lineage_bytes} / {experiment_bytes}", ""),
        ]
        summary: dict[str, Any] = {
            "runs_page_ms": round(runs_ms, 2),
            "lineage_page_ms": round(lineage_ms, 2),
            "experiment_page_ms": round(experiment_ms, 2),
        }
        worst = max(runs_ms, lineage_ms, experiment_ms)
        met = worst <= TARGET_MS
        if paint is None:
            rows.append(("lineage page in Chromium", "skipped (no Chromium or Playwright)", ""))
        else:
            rows.append(("lineage page: first contentful paint", paint["first_paint_ms"], "ms"))
            rows.append(("lineage page: graph drawn (folded)", paint["graph_drawn_ms"], "ms"))
            rows.append(("lineage page: graph drawn (all 202 nodes)",
                         paint["graph_drawn_unfolded_ms"], "ms"))
            summary["lineage_first_paint_ms"] = round(paint["first_paint_ms"], 1)
            summary["lineage_graph_drawn_ms"] = round(paint["graph_drawn_ms"], 1)
            summary["lineage_graph_drawn_unfolded_ms"] = round(
                paint["graph_drawn_unfolded_ms"], 1)
            met = met and max(paint["graph_drawn_ms"],
                              paint["graph_drawn_unfolded_ms"]) <= PAINT_TARGET_MS
        summary.update(artifacts=args.artifacts + MAPPED + 2, repeats=args.repeats,
                       load_avg_1m=round(os.getloadavg()[0], 2), target_met=met)
        report("ui", rows, summary)
    finally:
        from vertex_track.store import set_read_only

        set_read_only(False)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
