"""``cache explain|list|clear``: vertex_track's result cache, read and reset from the shell.

``explain`` is the library's :func:`vertex_track.explain_cache`; ``list``
shows the completed runs whose results a cached task can reuse; ``clear``
stops reusing them: each entry's key is moved aside in its metadata, and no
execution, event or artifact is deleted.
"""

from __future__ import annotations

from typing import Any, Optional

import typer

from ..runs.summary import metadata_vt
from ._common import (
    EXIT_FAILED,
    EXIT_USAGE,
    check_store,
    fail,
    handle_errors,
    resolve,
)
from ._output import Column, fmt_time, print_json, print_kv, print_table, short_digest, stderr
from .purge import stdin_is_tty

cache_app = typer.Typer(
    help="Why a cached task reused a result or ran; list and clear reusable results."
    "\n\n$ vertex-track cache explain taskrun-0a1b2c\n$ vertex-track cache list --task train",
    no_args_is_help=True,
)


def _cache_meta(execution: Any) -> dict[str, Any]:
    meta = metadata_vt(execution).get("cache")
    return meta if isinstance(meta, dict) else {}


@handle_errors
def explain(
    execution: str = typer.Argument(
        ..., metavar="EXECUTION", help="Execution id, full name or display name."
    ),
    json_mode: bool = typer.Option(False, "--json", help="Print the explanation as JSON."),
) -> None:
    """Why an execution reused an earlier result, or why it ran.

    The reason names what changed since the closest earlier run of the task:
    its code, a parameter (old -> new value), an input (old -> new digest); or
    that the cached output was missing, corrupted or expired, or that a
    refresh was requested.

    Example:

    $ vertex-track cache explain taskrun-0a1b2c3d
    $ vertex-track cache explain train-3f2 --json
    """
    check_store()
    from ..resources import Execution
    from ..tracking.cache_lookup import explain_cache

    found = resolve(Execution, execution)
    explanation = explain_cache(found)
    if json_mode:
        print_json(explanation.to_dict())
        return
    meta = _cache_meta(found)
    print_kv(found.resource_id, [
        ("state", str(found.state)),
        ("reason", explanation.reason),
        ("reused", explanation.reused.resource_id if explanation.reused is not None else "-"),
        ("key", short_digest(explanation.key)),
        ("code", short_digest(meta.get("code")) if str(meta.get("code", "")).startswith(
            "sha256:") else meta.get("code", "-")),
    ])


def _entry(execution: Any) -> dict[str, Any]:
    meta = _cache_meta(execution)
    return {
        "execution": execution.name,
        "resource_id": execution.resource_id,
        "task": meta.get("task"),
        "key": meta.get("key"),
        "params": meta.get("params", {}),
        "inputs": meta.get("inputs", {}),
        "outputs": meta.get("outputs", {}),
        "create_time": execution.create_time,
    }


@handle_errors
def list_entries(
    task: Optional[str] = typer.Option(
        None, "--task", "-t", help="Only this task (function name or module.qualname)."
    ),
    limit: int = typer.Option(100, "--limit", "-n", min=1, help="At most this many."),
    json_mode: bool = typer.Option(False, "--json", help="Print the entries as JSON."),
) -> None:
    """Completed runs of cached tasks whose results can be reused, newest first.

    Example:

    $ vertex-track cache list
    $ vertex-track cache list --task train --json
    """
    check_store()
    from ..tracking.cache_lookup import cache_entries

    entries = [_entry(e) for e in cache_entries(task, limit)]
    if json_mode:
        print_json(entries)
        return
    print_table(
        [Column("execution", style="cyan"), Column("task"), Column("key"), Column("outputs"),
         Column("created")],
        [[e["resource_id"], e["task"], short_digest(e["key"]), len(e["outputs"]),
          fmt_time(e["create_time"])] for e in entries],
        empty="no reusable results",
    )


@handle_errors
def clear(
    task: Optional[str] = typer.Option(
        None, "--task", "-t", help="Only this task (function name or module.qualname)."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    json_mode: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Stop reusing results (of every cached task, or of one): nothing is deleted.

    Each entry's key is moved to ``cleared_key`` in its metadata, so the next
    run of the task runs it again; executions, events and artifacts stay.

    Example:

    $ vertex-track cache clear --task train --yes
    """
    check_store(write=True)
    from ..tracking.cache_lookup import cache_entries, clear_cache

    pending = len(cache_entries(task))
    what = f"task {task!r}" if task else "every cached task"
    if pending and not yes:
        if not stdin_is_tty():
            fail(
                f"refusing to clear {pending} cached result(s) of {what} without "
                "confirmation: stdin is not a terminal; add --yes",
                EXIT_USAGE,
            )
        if not typer.confirm(
            f"Stop reusing {pending} cached result(s) of {what}?", default=False, err=True
        ):
            stderr("Nothing cleared.")
            raise typer.Exit(EXIT_FAILED)
    cleared = clear_cache(task)
    if json_mode:
        print_json({"task": task, "cleared": [e.name for e in cleared]})
    else:
        stderr(f"Cleared {len(cleared)} cached result(s) of {what}; nothing was deleted.",
               style="green")


cache_app.command("explain")(explain)
cache_app.command("list")(list_entries)
cache_app.command("clear")(clear)
