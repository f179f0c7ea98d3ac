"""Every command and Python block of README.md and docs/*.md runs as written.

The store is the one ``make demo`` makes: ``examples/quickstart.py`` and
``examples/experiments.py`` run once (per test session) into a temporary
``VERTEX_TRACK_HOME``. Then, for each document:

- shell commands (``$ ...`` lines of console/plain blocks, every line of
  ``bash``/``sh`` blocks) run through bash in document order. A command
  whose shown output starts with ``error:``, or that ``$ echo $?`` follows
  with a non-zero code, must fail (with that code); every other command must
  succeed. Outputs are not compared: run names, ids and timings differ from
  run to run.
- Python blocks run in a fresh process against their own store, after a
  prelude that fills in what the block leaves to the reader
  (``load_my_data``, ``fit``, ``model``, ...).

The demo store fixture (``demo_store``, in conftest) also serves
``test_examples``. Names that only exist in the store a transcript was taken from (run names,
an experiment name) are replaced with the demo store's own (``DOC_NAMES``).

Excluded, and why (see ``EXCLUDED``): ``make`` itself (the session fixture
does what ``make demo`` does; ``make test`` is this suite), benchmarks
(minutes, and measured elsewhere), commands that need an executable this
machine lacks (``jq``, ``dot``), and blocks marked in the document with an
HTML comment ``<!-- readme-test: skip (reason) -->`` on the line above.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import BIN, ROOT, DemoStore, demo_env

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

pytestmark = [pytest.mark.slow]

#: Commands that are not run, with the reason.
EXCLUDED: list[tuple[str, str]] = [
    (r"^make\b", "make itself: the demo store fixture runs what `make demo` runs, and "
                 "`make test` is this suite"),
    (r"^(\.venv/bin/)?python3?(\.\d+)? benchmarks/|^python benchmarks/", "benchmarks take "
     "minutes; their numbers are in docs/performance.md"),
    (r"^(sudo )?apt(-get)? ", "installs system packages"),
    (r"^(\.venv/bin/)?pip install", "installs packages"),
    (r"\bvertex-track ui\b|\bvertex-track serve\b", "starts a server that runs until stopped"),
]

#: Names of the transcripts' stores -> a function of the demo store giving ours.
DOC_RUNS_NEWEST_FIRST = (
    ("viridian-marten", "crimson-fox", "ochre-cuscus"),  # the newest run in each document
    ("hysterical-terrier", "lucky-owl", "daffy-starfish"),  # the run before it
)


@dataclass
class Block:
    doc: Path
    line: int
    lang: str
    text: str
    skip: str | None


def blocks(doc: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file, with a skip reason if marked."""
    out: list[Block] = []
    lines = doc.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)", lines[i])
        if not m:
            i += 1
            continue
        start, lang = i, m.group(1)
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        before = lines[start - 1] if start else ""
        mark = re.match(r"<!--\s*readme-test:\s*skip\s*\((.+)\)\s*-->", before.strip())
        out.append(Block(doc, start + 1, lang, "\n".join(lines[start + 1:j]),
                         mark.group(1) if mark else None))
        i = j + 1
    return out


@dataclass
class Command:
    text: str
    expect_code: int | None  # None: any non-zero
    line: int


def commands(block: Block) -> list[Command]:
    """Shell commands of a block and the exit code each should end with."""
    if block.lang in ("bash", "sh", "shell"):
        out = []
        for n, raw in enumerate(block.text.splitlines()):
            cmd = raw.split("#", 1)[0].strip()
            if cmd:
                out.append(Command(cmd, 0, block.line + n + 1))
        return out
    if block.lang not in ("", "console", "text"):
        return []
    lines = block.text.splitlines()
    out: list[Command] = []
    for n, raw in enumerate(lines):
        if not raw.startswith("$ "):
            continue
        cmd = raw[2:].strip()
        if re.match(r"^#|^.*\s#\s", cmd):  # "$ cmd   # comment": drop the comment
            cmd = re.split(r"\s+#\s", cmd, maxsplit=1)[0].strip()
        if cmd == "echo $?":
            code = lines[n + 1].strip() if n + 1 < len(lines) else "0"
            if out and code.isdigit():
                out[-1].expect_code = int(code)
            continue
        shown = lines[n + 1] if n + 1 < len(lines) else ""
        out.append(Command(cmd, None if shown.startswith("error:") else 0, block.line + n + 1))
    return out


def excluded(cmd: str) -> str | None:
    for pattern, reason in EXCLUDED:
        if re.search(pattern, cmd):
            return reason
    for part in re.split(r"\|", cmd)[1:]:
        exe = part.strip().split(" ", 1)[0]
        if exe and shutil.which(exe) is None:
            return f"needs {exe}, which is not installed here"
    return None


#: The examples' experiment is named after the time it ran.
EXPERIMENT_NAME = re.compile(r"\bbreast-cancer-\d{8}-\d{6}\b")


def doc_names(demo: DemoStore) -> dict[str, str]:
    """A document's names for things of the demo store -> the demo store's own."""
    names = {doc: ours for docs, ours in zip(DOC_RUNS_NEWEST_FIRST, demo.runs) for doc in docs}
    newest, older = demo.runs
    names.update({"<run>": newest, "<run-a>": older, "<run-b>": newest, "RUN": newest,
                  "<experiment>": demo.experiment, "churn-model": demo.experiment})
    return names


def _fill(cmd: str, names: dict[str, str]) -> str:
    if "<experiment>" in names:
        cmd = EXPERIMENT_NAME.sub(names["<experiment>"], cmd)
    for doc_name in sorted(names, key=len, reverse=True):
        cmd = re.sub(rf"(?<![\w-]){re.escape(doc_name)}(?![\w-])", names[doc_name], cmd)
    return cmd


def _doc_id(doc: Path) -> str:
    return str(doc.relative_to(ROOT))


@pytest.mark.xdist_group("demo_store")  # one worker makes the demo store, once
@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_shell_commands_run_as_written(doc: Path, demo_store: DemoStore, tmp_path: Path) -> None:
    ran, skipped, failures = 0, [], []
    names = doc_names(demo_store)
    for block in blocks(doc):
        for cmd in commands(block):
            reason = block.skip or excluded(cmd.text)
            if reason:
                skipped.append(f"{doc.name}:{cmd.line} {cmd.text!r}: {reason}")
                continue
            filled = _fill(cmd.text, names)
            proc = subprocess.run(["bash", "-c", filled], env=demo_store.env, cwd=tmp_path,
                                  capture_output=True, text=True, timeout=300)
            ran += 1
            ok = proc.returncode != 0 if cmd.expect_code is None else (
                proc.returncode == cmd.expect_code)
            if not ok:
                want = "a failure" if cmd.expect_code is None else f"exit {cmd.expect_code}"
                failures.append(f"{doc.name}:{cmd.line} `{filled}` gave exit {proc.returncode}, "
                                f"the document shows {want}:\n{proc.stderr[-1500:]}")
    assert not failures, "\n\n".join(failures)
    if not ran and not skipped:
        pytest.skip(f"{doc.name} has no shell commands")


PRELUDE = textwrap.dedent("""
    import vertex_track as vt

    # What the documents' blocks leave to the reader, filled in.
    def load_my_data(n):
        return list(range(n))

    def fit(data, lr):
        return {"lr": lr, "n": len(data)}

    epochs, loss, acc = 2, 0.5, 0.9
    fpr, tpr, thresholds = [0.0, 0.2, 1.0], [0.0, 0.8, 1.0], [1.0, 0.5, 0.0]
    model, X_test = {"weights": [0.5, 1.5]}, [[1.0, 2.0]] * 10

    @vt.flow
    def training_flow():
        return 1
""")


def _python_blocks() -> list[Any]:
    out = []
    for doc in DOCS:
        for block in blocks(doc):
            if block.lang == "python":
                marks = [pytest.mark.skip(reason=block.skip)] if block.skip else []
                out.append(pytest.param(block, id=f"{_doc_id(doc)}:{block.line}", marks=marks))
    return out


@pytest.mark.parametrize("block", _python_blocks())
def test_python_blocks_run_as_written(block: Block, tmp_path: Path) -> None:
    script = tmp_path / "block.py"
    script.write_text(PRELUDE + "\n" + block.text + "\n")
    env = demo_env(tmp_path)  # a store of its own: the block makes its own records
    env["PREFECT_LOGGING_LEVEL"] = "WARNING"
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=400)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert proc.returncode == 0, (
        f"{block.doc.name}:{block.line} failed:\n{out[-3000:]}")


def test_the_parser_reads_commands_codes_and_skips() -> None:
    block = Block(ROOT / "x.md", 1, "console", textwrap.dedent("""\
        $ vertex-track runs list   # newest first
        RUN  FLOW
        $ vertex-track runs show nope
        error: no pipeline run named 'nope'
        $ vertex-track artifacts list --filter 'x ='
        error: bad filter
        $ echo $?
        2"""), None)
    got = [(c.text, c.expect_code) for c in commands(block)]
    assert got == [("vertex-track runs list", 0), ("vertex-track runs show nope", None),
                   ("vertex-track artifacts list --filter 'x ='", 2)]
    assert excluded("make demo") and excluded("vertex-track ui")
    assert excluded("vertex-track runs list") is None
    assert _fill("vertex-track diff crimson-fox lucky-owl", {"crimson-fox": "a", "lucky-owl": "b"}
                 ) == "vertex-track diff a b"
    assert shlex.split(_fill("lineage crimson-fox-2", {"crimson-fox": "a"})) == [
        "lineage", "crimson-fox-2"]


@pytest.mark.xdist_group("demo_store")
def test_the_headline_command_shows_the_quickstart_model(demo_store: DemoStore) -> None:
    """README's first command after `make demo` draws the model a task trained, not the
    experiments example's (newer, logged by hand, without lineage)."""
    proc = subprocess.run([str(BIN / "vertex-track"), "lineage", "model"], env=demo_store.env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Model train.output  (system.Model, ")
    for task in ("← train [COMPLETE]", "← split [COMPLETE]", "← load_data [COMPLETE]"):
        assert task in proc.stdout
    assert "vertex-track artifacts list --filter 'schema_title = " in proc.stderr


def test_the_quickstart_says_how_to_silence_prefect_telemetry() -> None:
    readme = (ROOT / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    bash = [b.text for b in blocks(ROOT / "README.md") if b.lang == "bash" and b.text in quickstart]
    assert any("PREFECT_SERVER_ANALYTICS_ENABLED=false" in b and "DO_NOT_TRACK=1" in b
               for b in bash)
    # The symptom a user searches for:
    assert "Failed to send telemetry" in " ".join(quickstart.split())
