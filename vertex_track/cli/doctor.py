"""``doctor``: check the store and the artifact root; ``--fix`` repairs what it can."""

from __future__ import annotations

import os
from typing import Optional

import typer

from ._common import check_store, handle_errors
from ._output import Column, print_json, print_table, stderr

#: Problems were found (and not all of them fixed).
EXIT_PROBLEMS = 5


@handle_errors
def doctor(
    fix: bool = typer.Option(
        False, "--fix",
        help="Mark crashed executions and runs FAILED and delete dangling links "
        "(default: only report).",
    ),
    prefect: Optional[bool] = typer.Option(
        None, "--prefect/--no-prefect",
        help="Also ask Prefect's API how the flow and task runs of RUNNING records ended "
        "(default: when PREFECT_API_URL is set).",
        show_default=False,
    ),
    json_mode: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
) -> None:
    """Check the metadata store and the artifact files; report (and with --fix, repair) problems.

    Checks: SQLite's integrity_check and foreign_key_check; events and context
    links pointing at rows that are gone; artifacts whose stored bytes are
    missing; temporary files of writes that never finished (.part); and
    executions and pipeline runs still RUNNING whose process is gone (same
    host, pid not alive or reused) or whose Prefect run ended. With --fix,
    crashed records are marked FAILED with the reason in their metadata, so
    `vertex-track runs list` shows them FAILED, and dangling links are deleted.
    The store is only written with --fix.

    Exit codes: 0 healthy (warnings such as leftover temporary files do not
    count), 5 problems found (with --fix: problems left unfixed, such as
    missing files), 3 the store is unavailable or not a vertex_track store.

    Example:

    $ vertex-track doctor
    $ vertex-track doctor --fix
    """
    check_store(write=fix)
    from ..config import get_settings
    from ..maintenance.doctor import run_checks
    from ..store import get_store

    if prefect is None:
        prefect = bool(os.environ.get("PREFECT_API_URL"))
    findings = run_checks(get_store(), get_settings().artifact_root, fix=fix, prefect=prefect)
    open_errors = [f for f in findings if f.severity == "error" and not f.fixed]
    if json_mode:
        print_json({
            "healthy": not open_errors,
            "fix": fix,
            "findings": [f.as_json() for f in findings],
        })
    elif not findings:
        stderr("No problems found.", style="green")
    else:
        print_table(
            [Column("check", style="cyan"), Column("severity"), Column("fixed"),
             Column("resource"), Column("problem")],
            [[f.check, f.severity, "yes" if f.fixed else "", f.resource or "", f.message]
             for f in findings],
        )
        fixed = sum(f.fixed for f in findings)
        summary = f"{len(findings)} finding(s): {len(open_errors)} problem(s) open"
        if fixed:
            summary += f", {fixed} fixed"
        elif open_errors and not fix:
            summary += "; --fix repairs crashed runs and dangling links"
        stderr(summary, style="yellow" if open_errors else "green")
    if open_errors:
        raise typer.Exit(EXIT_PROBLEMS)
