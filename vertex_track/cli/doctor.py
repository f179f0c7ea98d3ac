"""``doctor``: check the store and the artifact root; ``--fix`` repairs what it can."""

from __future__ import annotations

import os
from typing import Optional

import typer

from ._common import EXIT_STORE_UNAVAILABLE, fail, handle_errors
from ._output import Column, line, print_json, print_table, stderr

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

    Checks: that the metadata store answers from this machine (a PostgreSQL
    server at its host and port) and that the artifact root takes a probe
    object (written, read back and deleted under its .tmp/ prefix); SQLite's integrity_check and foreign_key_check; events and context
    links pointing at rows that are gone; artifacts whose stored bytes are
    missing; temporary files of writes that never finished (.part); and
    executions and pipeline runs still RUNNING whose process is gone (same
    host, pid not alive or reused) or whose Prefect run ended. With --fix,
    crashed records are marked FAILED with the reason in their metadata, so
    `vertex-track runs list` shows them FAILED, and dangling links are deleted.
    The store is only written with --fix.

    Exit codes: 0 healthy (warnings such as leftover temporary files do not
    count), 5 problems found (with --fix: problems left unfixed, such as
    missing files, or an artifact root that cannot be written), 3 the store is
    unavailable or not a vertex_track store (the findings are printed first).

    Example:

    $ vertex-track doctor
    $ vertex-track doctor --fix
    """
    from ..config import get_settings
    from ..maintenance.doctor import run_checks
    from ..maintenance.reachability import check_artifact_root, check_store_reachable
    from ..store import get_store, set_read_only

    if prefect is None:
        prefect = bool(os.environ.get("PREFECT_API_URL"))
    settings = get_settings()
    set_read_only(True)  # a report never creates, migrates or writes a store
    findings, store = check_store_reachable(settings.store_uri)
    root_findings = check_artifact_root(settings.artifact_root)
    findings += root_findings
    if store is not None:
        if fix:
            set_read_only(False)
            store = get_store()
        findings += run_checks(store, settings.artifact_root, fix=fix, prefect=prefect,
                               files=not root_findings)
    _report(findings, fix=fix, json_mode=json_mode)
    if store is None:
        fail(findings[0].message, EXIT_STORE_UNAVAILABLE)
    if any(f.severity == "error" and not f.fixed for f in findings):
        raise typer.Exit(EXIT_PROBLEMS)


def _report(findings: list, *, fix: bool, json_mode: bool) -> None:
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
        for f in findings:
            if f.hint:
                line(f"fix ({f.check}): {f.hint}")
        fixed = sum(f.fixed for f in findings)
        summary = f"{len(findings)} finding(s): {len(open_errors)} problem(s) open"
        if fixed:
            summary += f", {fixed} fixed"
        elif not fix and any(f.check in ("crashed", "dangling") for f in open_errors):
            summary += "; --fix repairs crashed runs and dangling links"
        stderr(summary, style="yellow" if open_errors else "green")
