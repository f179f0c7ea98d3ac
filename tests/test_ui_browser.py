"""The web UI in a real headless Chromium: runs -> run -> lineage -> experiment.

Needs Chromium at /usr/bin/chromium (Debian's ``chromium`` package; ``.ci/run``
installs it) and Playwright's Python client (the ``dev`` extra); the tests are
skipped, saying which is missing, otherwise. Playwright's own browser
downloads are never used.

Set ``VERTEX_TRACK_UI_SCREENSHOTS=docs/images`` to write a screenshot of each
page there (``ui-*.png``); normal runs write none.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import DemoStore

from vertex_track import config
from vertex_track.store import set_read_only

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = os.environ.get("VERTEX_TRACK_UI_SCREENSHOTS")

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("demo_store")]

if not Path(CHROMIUM).exists():
    pytestmark.append(pytest.mark.skip(
        reason=f"no Chromium at {CHROMIUM} (apt-get install chromium) for the browser tests"))
try:
    from playwright.sync_api import Page, sync_playwright
except ImportError:
    pytestmark.append(pytest.mark.skip(
        reason="Playwright is not installed (pip install -e '.[dev]') for the browser tests"))


class Server:
    """uvicorn serving the UI app in a thread, on a free port of 127.0.0.1."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.server = uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def ui(demo_store: DemoStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The UI over the demo store, served on localhost; yields its base URL."""
    from vertex_track.ui.app import create_app

    monkeypatch.setenv("VERTEX_TRACK_HOME", str(demo_store.home))
    config.reset()
    try:
        with Server(create_app()) as server:
            yield server.url
    finally:
        set_read_only(False)


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            tab.on("pageerror", lambda exc: errors.append(str(exc)))
            tab.on("console", lambda m: errors.append(m.text) if m.type == "error" and not
                   m.text.endswith("status of 400 (Bad Request)") else None)  # a bad filter
            yield tab
            assert errors == [], errors
        finally:
            browser.close()


def shot(page: Page, name: str, full_page: bool = False) -> None:
    if SCREENSHOTS:
        folder = Path(SCREENSHOTS)
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"ui-{name}.png"), full_page=full_page)


def test_runs_run_timeline_lineage_and_side_panel(ui: str, page: Page,
                                                   demo_store: DemoStore) -> None:
    page.goto(f"{ui}/runs")
    first = page.locator("#runs tbody tr").first
    first.locator("a").wait_for()
    assert page.locator("#runs tbody tr").count() >= 2
    assert first.locator("td").first.inner_text() == demo_store.runs[0]
    assert "COMPLETE" in first.inner_text()
    shot(page, "runs")

    # a filter error shows the message with its caret, and no rows
    page.fill("#filter", "display_name = ")
    page.click("#filter-form button[type=submit]")
    page.locator("#error .error").wait_for()
    assert "400" in page.inner_text("#error") and "^" in page.inner_text("#error")
    page.fill("#filter", f'display_name = "{demo_store.runs[1]}"')
    page.click("#filter-form button[type=submit]")
    page.wait_for_function("document.querySelectorAll('#runs tbody tr').length === 1")
    assert page.locator("#runs tbody tr td").first.inner_text() == demo_store.runs[1]

    # into the run: a Gantt bar per task run, coloured by state, and the DAG
    page.locator("#runs tbody tr a").first.click()
    page.locator("#gantt svg rect.bar").first.wait_for()
    bars = page.locator("#gantt svg rect.bar")
    assert bars.count() == 4
    assert {bars.nth(i).get_attribute("data-state") for i in range(4)} == {"COMPLETE"}
    page.wait_for_function("window.vtDag && window.vtDag.nodes().length === 11")
    xs = page.evaluate("""() => Object.fromEntries(window.vtDag.nodes().map(
        n => [n.data('task_name') || n.data('label'), n.position('x')]))""")
    assert xs["load_data"] < xs["split"] < xs["train"] < xs["evaluate"], "inputs left"
    shot(page, "run", full_page=True)

    # the model's lineage: click a node, expand upstream one hop, read the side panel
    page.locator("#artifacts tbody tr", has_text="system.Model").locator(
        "a", has_text="lineage").click()
    page.wait_for_function("window.vtLineage && window.vtLineage.nodes().length > 0")
    page.select_option("#direction", "upstream")
    page.fill("#depth", "1")
    page.click("#controls button[type=submit]")
    page.wait_for_function("window.vtLineage.nodes().length === 2")  # the model and train
    clicked = page.evaluate("""() => {
        const n = window.vtLineage.nodes().filter(n => n.data('task_name') === 'train')[0];
        n.emit('tap'); return n.id(); }""")
    page.locator("#panel #expand-up").wait_for()
    page.locator("#panel #details dl").wait_for()
    panel = page.inner_text("#panel")
    assert "train" in panel and "COMPLETE" in panel and "train_set" in panel
    page.click("#expand-up")
    page.wait_for_function("window.vtLineage.nodes().length === 3")  # + the training set
    assert "upstream: 1 new node(s)" in page.inner_text("#expand-info")
    page.click("#fit")
    assert clicked.endswith(page.evaluate(
        "() => window.vtLineage.nodes().filter(n => n.data('task_name') === 'train')[0].id()"))
    svg = page.evaluate("() => VTGraph.toSvg(window.vtLineage)")
    assert svg.startswith("<svg") and svg.count("<rect") == 4  # background + 3 nodes
    png = page.evaluate("() => window.vtLineage.png({full: true}).length")
    assert png > 1000
    shot(page, "lineage")


def test_experiment_table_chart_and_classification(ui: str, page: Page,
                                                   demo_store: DemoStore) -> None:
    page.goto(f"{ui}/experiments")
    page.locator("#experiments tbody a").first.click()
    page.locator("#ts-chart canvas").wait_for()
    assert page.locator("#runs tbody tr").count() == 4
    # a chart with content: the canvas has non-white pixels
    drawn = page.evaluate("""() => {
        const c = document.querySelector('#ts-chart canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let ink = 0; for (let i = 0; i < d.length; i += 4) if (d[i+3] && d[i] < 200) ink++;
        return ink; }""")
    assert drawn > 200
    # the ROC curves and the matrices are drawn by a request of their own, which may
    # finish after the chart's
    page.wait_for_function("document.querySelectorAll('#roc-svg polyline').length === 4")
    page.wait_for_function("document.querySelectorAll('#matrices table.matrix').length === 4")
    # sort by accuracy, descending on the second click
    header = page.locator("#runs thead th[data-col='metric.accuracy']")
    header.click()
    header.click()
    values = page.evaluate("""() => {
        const col = [...document.querySelectorAll('#runs thead th')].findIndex(
            th => th.dataset.col === 'metric.accuracy');
        return [...document.querySelectorAll('#runs tbody tr')].map(
            tr => Number(tr.children[col].textContent)); }""")
    assert len(values) == 4 and all(0.9 < v <= 1 for v in values)
    assert values == sorted(values, reverse=True)
    # compare two runs
    page.locator("#runs tbody tr[data-run='logreg-c1'] input").check()
    page.locator("#runs tbody tr[data-run='sgd-log-loss'] input").check()
    page.locator("#compare-table").wait_for()
    assert "logreg-c1" in page.inner_text("#compare-table thead")
    page.wait_for_function("document.querySelectorAll('#roc-svg polyline').length === 2")
    shot(page, "experiment", full_page=True)


def test_timeline_colours_cached_and_failed_task_runs_apart(tracked: Any, page: Page) -> None:
    import uuid

    from test_ui_api import mixed

    from vertex_track.tracking import flush
    from vertex_track.ui.app import create_app

    assert mixed(uuid.uuid4().hex) == 91
    flush()
    try:
        with Server(create_app()) as server:
            page.goto(f"{server.url}/runs")
            page.locator("#runs tbody tr a").first.click()
            page.locator("#gantt svg rect.bar").first.wait_for()
            fills = page.evaluate("""() => Object.fromEntries(
                [...document.querySelectorAll('#gantt rect.bar')].map(
                    r => [r.dataset.state, r.getAttribute('fill')]))""")
            assert set(fills) == {"COMPLETE", "CACHED", "FAILED"}
            assert len(set(fills.values())) == 3, fills
            failed = page.locator("#gantt rect.bar[data-state=FAILED] title").text_content()
            assert "refusing 91" in (failed or "")
    finally:
        set_read_only(False)
