"""``artifacts``, ``executions`` and ``contexts``: ``list`` and ``show``."""

from __future__ import annotations

import sys
from typing import Any, Optional

import typer

from ..runs.summary import inline_value, metadata_vt, user_metadata
from . import _listing as L
from ._common import (
    check_store,
    handle_errors,
    resolve,
)
from ._output import (
    Column,
    Id,
    Styled,
    fmt_duration,
    fmt_time,
    fmt_value,
    heading,
    iso,
    line,
    print_json,
    print_kv,
    print_table,
    short_digest,
    state_cell,
)

artifacts_app = typer.Typer(
    help="List and inspect Artifacts (data that executions consumed or produced)."
    "\n\n$ vertex-track artifacts list --limit 5\n$ vertex-track artifacts show model",
    no_args_is_help=True,
)
executions_app = typer.Typer(
    help="List and inspect Executions (one per tracked task run)."
    "\n\n$ vertex-track executions list --filter 'state = FAILED'"
    "\n$ vertex-track executions show EXECUTION_ID",
    no_args_is_help=True
)
contexts_app = typer.Typer(
    help="List and inspect Contexts (pipeline runs, experiments, experiment runs)."
    "\n\n$ vertex-track contexts list\n$ vertex-track contexts show CONTEXT_ID",
    no_args_is_help=True,
)


def _classes() -> tuple[Any, Any, Any]:
    from ..resources import Artifact, Context, Execution

    return Artifact, Execution, Context


# -- rows ------------------------------------------------------------------------------

ARTIFACT_COLUMNS = [
    Column("id", style="cyan", min_width=21), Column("display_name", min_width=10, max_width=40),
    Column("schema", min_width=12, drop=5), Column("state", min_width=4, drop=1),
    Column("content", min_width=12, max_width=32, drop=4),
    Column("run", max_width=32, drop=3),
    Column("created", min_width=16, drop=2), Column("uri", max_width=60, drop=0),
]


def artifact_value(a: Any, width: int = 28) -> str:
    """The inline value of a small tracked artifact, else its short digest."""
    has_value, value = inline_value(a)
    if has_value:
        return "= " + fmt_value(value, width)
    return short_digest(metadata_vt(a).get("digest"))


def runs_text(runs: list[Any]) -> str:
    """The RUN cell: the newest pipeline run's name, ``+N`` for the others (shared artifacts)."""
    if not runs:
        return ""
    newest = runs[-1].display_name or runs[-1].resource_id
    return newest if len(runs) == 1 else f"{newest} +{len(runs) - 1}"


def artifact_row(a: Any, runs: list[Any] | None = None) -> list[Any]:
    return [
        Id(a.resource_id), a.display_name, a.schema_title, state_cell(a.state), artifact_value(a),
        runs_text(runs or []), fmt_time(a.create_time), a.uri,
    ]


EXECUTION_COLUMNS = [
    Column("id", style="cyan", min_width=21), Column("display_name", min_width=10, max_width=40),
    Column("schema", min_width=12, drop=1), Column("state", min_width=8),
    Column("duration", justify="right", min_width=6, drop=4),
    Column("run", max_width=32, drop=3),
    Column("created", min_width=16, drop=2),
]


def execution_row(e: Any, runs: list[Any] | None = None) -> list[Any]:
    return [
        Id(e.resource_id), e.display_name, e.schema_title, state_cell(e.state),
        fmt_duration(metadata_vt(e).get("duration_s")), runs_text(runs or []),
        fmt_time(e.create_time),
    ]


CONTEXT_COLUMNS = [
    Column("id", style="cyan", min_width=21), Column("display_name", min_width=10, max_width=40),
    Column("schema", min_width=12, drop=3), Column("parents", max_width=50, drop=1),
    Column("created", min_width=16, drop=2),
]


def context_row(c: Any) -> list[Any]:
    parents = ", ".join(p.rsplit("/", 1)[-1] for p in c.parent_contexts)
    return [Id(c.resource_id), c.display_name, c.schema_title, parents, fmt_time(c.create_time)]


PIPELINE_RUN = "system.PipelineRun"


def _list(cls: Any, columns: list[Column], row: Any, filter: Optional[str], limit: int,
          order_by: Optional[str], json_mode: bool) -> None:
    check_store()
    items, more = L.fetch(cls, filter, limit, order_by)
    if cls.kind == "contexts":
        if json_mode:
            print_json([r.to_dict() for r in items])
        else:
            print_table(columns, (row(r) for r in items), empty=f"no {cls.kind} match")
        L.more_hint(len(items), more, json_mode)
        return
    from ..lineage import contexts_of

    runs = contexts_of(items, PIPELINE_RUN)
    if json_mode:
        # `pipeline_runs`: the runs the record belongs to (full context names).
        print_json([{**r.to_dict(), "pipeline_runs": [c.name for c in runs[r.name]]}
                    for r in items])
    else:
        print_table(columns, (row(r, runs[r.name]) for r in items), empty=f"no {cls.kind} match")
    L.more_hint(len(items), more, json_mode)


def _common_pairs(r: Any) -> list[tuple[str, Any]]:
    return [
        ("name", r.name),
        ("display_name", r.display_name),
        ("schema", f"{r.schema_title} {r.schema_version}"),
    ]


def _tail_pairs(r: Any) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = [
        ("created", iso(r.create_time)),
        ("updated", iso(r.update_time)),
    ]
    if r.description:
        pairs.append(("description", r.description))
    if r.labels:
        pairs.append(("labels", r.labels))
    pairs.append(("metadata", user_metadata(r)))
    vt = metadata_vt(r)
    if vt:
        pairs.append(("vertex_track", vt))
    return pairs


# -- artifacts -------------------------------------------------------------------------


@artifacts_app.command("list")
@handle_errors
def artifacts_list(
    filter: Optional[str] = L.FilterOpt,
    limit: int = L.LimitOpt,
    order_by: str = L.OrderOpt,
    json_mode: bool = L.JsonOpt,
) -> None:
    """List artifacts, newest first.

    Example:

    $ vertex-track artifacts list --filter 'schema_title = "system.Model"' --limit 10
    """
    artifact_cls, _, _ = _classes()
    _list(artifact_cls, ARTIFACT_COLUMNS, artifact_row, filter, limit, order_by, json_mode)


def _artifact_links(a: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from ..lineage import lineage

    graph = lineage(a, direction="both", max_hops=1)
    executions = {e.name: e for e in graph.executions}
    produced: list[dict[str, Any]] = []
    consumed: list[dict[str, Any]] = []
    for ev in graph.events:
        if ev.artifact != a.name or ev.execution not in executions:
            continue
        e = executions[ev.execution]
        item = {
            "execution": e.name, "display_name": e.display_name, "state": str(e.state),
            "label": ev.labels.get("name"), "event_time": iso(ev.event_time),
        }
        (produced if str(ev.type) == "OUTPUT" else consumed).append(item)
    return produced, consumed


#: Values up to this size are loaded for a preview (never pickles: loading one runs code).
PREVIEW_MAX_BYTES = 16 * 2**20
_PREVIEW_MATERIALIZERS = ("json", "numpy", "pandas.parquet", "pyarrow.parquet")


def artifact_preview(a: Any) -> str | None:
    """A few lines showing the value: a scalar, a table's first rows, an array's shape/dtype.

    Inline values need no read. Stored values are read only when small and
    written by a materializer that runs no code to read them (JSON, numpy,
    parquet); tables need pandas (or pyarrow). ``None`` when there is nothing
    to show.
    """
    has_value, value = inline_value(a)
    if has_value:
        return fmt_value(value, 400)
    md, vt = user_metadata(a), metadata_vt(a)
    facts = []
    if isinstance(md.get("shape"), list):
        facts.append("shape " + " x ".join(str(n) for n in md["shape"]))
    if isinstance(md.get("dtype"), str):
        facts.append(f"dtype {md['dtype']}")
    name = vt.get("materializer")
    size = vt.get("size")
    if name not in _PREVIEW_MATERIALIZERS or not isinstance(size, int) or size > PREVIEW_MAX_BYTES:
        return ", ".join(facts) or None
    try:
        loaded = a.load()
    except Exception as exc:  # a preview must not fail the command
        return ", ".join([*facts, f"(no preview: {type(exc).__name__}: {exc})"])
    if name == "numpy":
        import numpy as np

        body = np.array2string(loaded, threshold=20, edgeitems=3, max_line_width=100)
        return "\n".join([", ".join(facts) or f"shape {loaded.shape}, dtype {loaded.dtype}",
                          body])
    if name == "pyarrow.parquet":
        loaded = loaded.slice(0, 5).to_pandas() if hasattr(loaded, "slice") else loaded
    if hasattr(loaded, "head") and hasattr(loaded, "to_string"):
        rows = facts[0] if facts else f"shape {' x '.join(str(n) for n in loaded.shape)}"
        return f"{rows}; first rows:\n" + loaded.head(5).to_string(max_cols=8, max_colwidth=16)
    return fmt_value(loaded, 400)


def resolve_artifact(ref: str) -> Any:
    """An artifact by name or id, or by type (``model``: the newest ``*.Model`` with lineage)."""
    from ._common import CliNotFound, newest_of_schema

    artifact_cls, _, _ = _classes()
    try:
        return resolve(artifact_cls, ref)
    except CliNotFound:
        by_type = newest_of_schema(artifact_cls, ref)
        if by_type is None:
            raise
        return by_type


@artifacts_app.command("show")
@handle_errors
def artifacts_show(
    name: str = typer.Argument(..., help="Resource id, full resource name or display name."),
    preview: bool = typer.Option(
        True, "--preview/--no-preview",
        help="Show the value: a scalar, a table's first rows, an array's shape and dtype "
        "(stored values up to 16 MB; never a pickle).",
    ),
    json_mode: bool = L.JsonOpt,
) -> None:
    """Show one artifact: its fields, metadata, a preview of its value, and the executions
    that produced and consumed it.

    Example:

    $ vertex-track artifacts show model
    $ vertex-track artifacts show split.output.0
    """
    check_store()
    a = resolve_artifact(name)
    produced, consumed = _artifact_links(a)
    shown = artifact_preview(a) if preview else None
    if json_mode:
        print_json({**a.to_dict(), "produced_by": produced, "consumed_by": consumed,
                    "preview": shown})
        return
    pairs = [
        *_common_pairs(a),
        ("state", state_cell(a.state)),
        ("uri", a.uri),
        ("digest", metadata_vt(a).get("digest", "")),
    ]
    has_value, value = inline_value(a)
    if has_value:
        pairs.append(("value", fmt_value(value, 200)))
    print_kv(f"Artifact {a.resource_id}", pairs + _tail_pairs(a))
    if shown and not has_value:
        heading("Preview")
        for text in shown.splitlines():
            line(text)
    for title, items in (("Produced by", produced), ("Consumed by", consumed)):
        if items:
            heading(title)
            print_table(
                [Column("execution", style="cyan"), Column("display_name"), Column("state"),
                 Column("as")],
                [[Id(i["execution"].rsplit("/", 1)[-1]), i["display_name"], state_cell(i["state"]),
                  i["label"] or ""] for i in items],
            )


@artifacts_app.command("download")
@handle_errors
def artifacts_download(
    name: str = typer.Argument(..., help="Resource id, full resource name or display name."),
    dest: Optional[str] = typer.Argument(
        None, help="File or folder to write (default: ./<display name><extension>); an existing "
        "folder receives the file inside it.",
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite DEST if it exists."),
    json_mode: bool = L.JsonOpt,
) -> None:
    """Copy an artifact's stored bytes (a file or a folder) from its URI to a local path.

    Files are checked against the artifact's content digest while they are
    copied; a mismatch deletes the copy and exits 4. A small value kept inline
    (no URI) is written as JSON. The path written is printed on stdout.

    Example:

    $ vertex-track artifacts download model ./model.pkl
    $ vertex-track artifacts download split.output.0 data/
    """
    import hashlib
    import json
    import os
    from pathlib import Path

    from ._common import EXIT_FAILED, EXIT_USAGE, fail
    from ._output import stderr

    check_store()
    a = resolve_artifact(name)
    has_value, value = inline_value(a)
    if not a.uri and not has_value:
        fail(f"artifact {a.resource_id} has no URI and no inline value: nothing to download",
             EXIT_FAILED)
    base = (a.display_name or a.resource_id).replace("/", "_")
    suffix = ".json" if not a.uri else _suffix(a.uri)
    target = Path(dest) if dest else Path(base + suffix)
    if target.is_dir() or (dest and dest.endswith(("/", os.sep))):
        target = target / (base + suffix)
    if target.exists() and not force:
        fail(f"{target} exists; pass --force to overwrite it", EXIT_USAGE)
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = metadata_vt(a).get("digest")
    verified = False
    if not a.uri:
        target.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
        size = target.stat().st_size
    else:
        import fsspec

        fs, path = fsspec.core.url_to_fs(a.uri)
        if not fs.exists(path):
            fail(f"nothing is stored at {a.uri} (deleted by `gc`, or another machine's path?)",
                 EXIT_FAILED)
        if fs.isdir(path):
            fs.get(path.rstrip("/") + "/", str(target), recursive=True)
            size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
        else:
            h = hashlib.sha256()
            tmp = target.with_name(f".{target.name}.part-{os.getpid()}")
            size = 0
            with fs.open(path, "rb") as src, open(tmp, "wb") as dst:
                while chunk := src.read(1 << 20):
                    h.update(chunk)
                    dst.write(chunk)
                    size += len(chunk)
            if isinstance(digest, str) and digest.startswith("sha256:"):
                if h.hexdigest() != digest.split(":", 1)[1]:
                    tmp.unlink()
                    fail(f"the bytes at {a.uri} do not match the artifact's digest {digest}: "
                         "the stored file was changed or damaged; nothing was written", EXIT_FAILED)
                verified = True
            os.replace(tmp, target)
    if json_mode:
        print_json({"artifact": a.name, "uri": a.uri, "path": str(target), "size": size,
                    "digest": digest, "verified": verified})
        return
    sys.stdout.write(f"{target}\n")
    check = " (content digest verified)" if verified else ""
    stderr(f"Downloaded {a.display_name or a.resource_id}: {size:,} bytes to {target}{check}")


def _suffix(uri: str) -> str:
    """``.parquet`` of ``.../ab12....parquet``; ``""`` for a folder or no extension."""
    last = uri.rstrip("/").rsplit("/", 1)[-1]
    return "." + last.split(".", 1)[1] if "." in last else ""


# -- executions ------------------------------------------------------------------------


@executions_app.command("list")
@handle_errors
def executions_list(
    filter: Optional[str] = L.FilterOpt,
    limit: int = L.LimitOpt,
    order_by: str = L.OrderOpt,
    json_mode: bool = L.JsonOpt,
) -> None:
    """List executions, newest first.

    Example:

    $ vertex-track executions list --filter 'state = FAILED'
    """
    _, execution_cls, _ = _classes()
    _list(execution_cls, EXECUTION_COLUMNS, execution_row, filter, limit, order_by, json_mode)


def execution_io(e: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(inputs, outputs) of an execution: label, artifact name, display name, schema, digest."""
    from ..lineage import query_execution_inputs_and_outputs

    graph = query_execution_inputs_and_outputs(e)
    artifacts = {a.name: a for a in graph.artifacts}
    inputs: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []
    for ev in graph.events:
        if ev.execution != e.name or ev.artifact not in artifacts:
            continue
        a = artifacts[ev.artifact]
        item = {
            "label": ev.labels.get("name"), "artifact": a.name, "display_name": a.display_name,
            "schema_title": a.schema_title, "digest": metadata_vt(a).get("digest"),
        }
        has_value, value = inline_value(a)
        if has_value:
            item["value"] = value
        (outputs if str(ev.type) == "OUTPUT" else inputs).append(item)
    return inputs, outputs


def io_table(items: list[dict[str, Any]]) -> None:
    print_table(
        [Column("as"), Column("artifact", style="cyan"), Column("display_name", max_width=40),
         Column("schema"), Column("content", max_width=40)],
        [[i["label"] or "", Id(i["artifact"].rsplit("/", 1)[-1]), i["display_name"],
          i["schema_title"],
          ("= " + fmt_value(i["value"], 36)) if "value" in i else short_digest(i["digest"])]
         for i in items],
    )


@executions_app.command("show")
@handle_errors
def executions_show(
    name: str = typer.Argument(..., help="Resource id, full resource name or display name."),
    json_mode: bool = L.JsonOpt,
) -> None:
    """Show one execution: state, timings, parameters, input and output artifacts.

    Example:

    $ vertex-track executions show train-3f2a
    """
    check_store()
    _, execution_cls, _ = _classes()
    e = resolve(execution_cls, name)
    inputs, outputs = execution_io(e)
    if json_mode:
        print_json({**e.to_dict(), "inputs": inputs, "outputs": outputs})
        return
    vt = metadata_vt(e)
    pairs = [*_common_pairs(e), ("state", state_cell(e.state))]
    if vt.get("start_time"):
        pairs.append(("started", vt.get("start_time")))
    if vt.get("duration_s") is not None:
        pairs.append(("duration", fmt_duration(vt.get("duration_s"))))
    if vt.get("error_type"):
        pairs.append(("error", Styled(f"{vt.get('error_type')}: {vt.get('error_message', '')}",
                                      "red")))
    print_kv(f"Execution {e.resource_id}", pairs + _tail_pairs(e))
    for title, items in (("Inputs", inputs), ("Outputs", outputs)):
        if items:
            heading(title)
            io_table(items)


# -- contexts --------------------------------------------------------------------------


@contexts_app.command("list")
@handle_errors
def contexts_list(
    filter: Optional[str] = L.FilterOpt,
    limit: int = L.LimitOpt,
    order_by: str = L.OrderOpt,
    json_mode: bool = L.JsonOpt,
) -> None:
    """List contexts, newest first.

    Example:

    $ vertex-track contexts list --filter 'schema_title = "system.Experiment"'
    """
    _, _, context_cls = _classes()
    _list(context_cls, CONTEXT_COLUMNS, context_row, filter, limit, order_by, json_mode)


def count(cls: Any, filter: str) -> int:
    """How many resources match (the store counts them, no rows are loaded)."""
    from ..store import get_store

    return get_store().count(cls.kind, filter)


@contexts_app.command("show")
@handle_errors
def contexts_show(
    name: str = typer.Argument(..., help="Resource id, full resource name or display name."),
    json_mode: bool = L.JsonOpt,
) -> None:
    """Show one context: fields, metadata, parents, children and how much it holds.

    Example:

    $ vertex-track contexts show my-experiment
    """
    check_store()
    artifact_cls, execution_cls, context_cls = _classes()
    c = resolve(context_cls, name)
    from ._common import quote

    children = list(context_cls.iter(f"parent_contexts:{quote(c.name)}"))
    in_ctx = f"in_context({quote(c.name)})"
    n_exec, n_art = count(execution_cls, in_ctx), count(artifact_cls, in_ctx)
    if json_mode:
        print_json({
            **c.to_dict(), "child_contexts": [x.name for x in children],
            "execution_count": n_exec, "artifact_count": n_art,
        })
        return
    pairs = [
        *_common_pairs(c),
        ("parents", ", ".join(c.parent_contexts) or "-"),
        ("executions", n_exec),
        ("artifacts", n_art),
    ]
    print_kv(f"Context {c.resource_id}", pairs + _tail_pairs(c))
    if children:
        heading("Child contexts")
        print_table(CONTEXT_COLUMNS, [context_row(x) for x in children])
