"""``gc``: artifact files that no record references (dry run unless ``--force``).

What counts as a reference is the library's rule
(:mod:`vertex_track.maintenance.gc`): any record, any metadata field, by
digest or by URI. Objects younger than ``--min-age`` are kept whatever the
metadata says: a flow may have written the bytes and not yet committed the
record that names them. Also reported: referenced files that are missing,
and temporary files of writes that never finished (``.part`` leftovers).
"""

from __future__ import annotations

from typing import Any

import typer

from ._common import EXIT_FAILED, EXIT_USAGE, check_store, fail, handle_errors
from ._output import Column, is_rich, print_json, print_table, stderr


def _fmt_size(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


@handle_errors
def gc(
    force: bool = typer.Option(
        False, "--force", help="Delete them, and stale temporary files (default: only list)."
    ),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Do not ask before deleting (needed when stdin is not a "
        "terminal)."
    ),
    min_age: float = typer.Option(
        3600.0, "--min-age", min=0,
        help="Keep objects and temporary files younger than this many seconds (a running "
        "flow may not have recorded them yet).",
    ),
    json_mode: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Find artifact files that no record references; delete them with --force.

    Looks under the artifact root (--artifact-root, VERTEX_TRACK_ARTIFACT_ROOT)
    at every stored object and keeps each one that any artifact, execution or
    context mentions, by digest or URI, in any metadata field. It also lists
    files that records reference but that are missing, and temporary files
    (.part) of writes that never finished. With --force it asks first on a
    terminal (--yes skips the question), then deletes the unreferenced
    objects and the temporary files older than --min-age. The metadata store
    is only read.

    Example:

    $ vertex-track gc
    $ vertex-track gc --force --min-age 86400
    """
    check_store()
    from ..artifacts import ArtifactStore
    from ..config import get_settings
    from ..maintenance.gc import collect_garbage

    astore = ArtifactStore.for_root(get_settings().artifact_root)
    report = collect_garbage(astore, min_age=min_age)
    stale = [p for p in report.partials if p["age_s"] is None or p["age_s"] >= min_age]
    if not json_mode:
        _describe(report, min_age)
    if force and (report.unreferenced or stale) and not yes:
        from .purge import stdin_is_tty

        what = f"{len(report.unreferenced):,} unreferenced objects and {len(stale)} stale " \
            "temporary files"
        if not stdin_is_tty():
            fail(f"refusing to delete {what} without confirmation: stdin is not a terminal; "
                 "add --yes", EXIT_USAGE)
        if not typer.confirm(f"Delete {what}? This cannot be undone", default=False, err=True):
            stderr("Nothing deleted.")
            raise typer.Exit(EXIT_FAILED)
    if force:
        if report.unreferenced:
            report.deleted = _delete(astore, report.unreferenced)
        report.partials_removed = astore.cleanup_tmp(max(min_age, 0))
    if json_mode:
        print_json(report.as_json(dry_run=not force))
        return
    if not force:
        if report.unreferenced or stale:
            stderr("Dry run: nothing was deleted. Add --force to delete them.", style="yellow")
        return
    stderr(f"Deleted {report.deleted:,} objects ({_fmt_size(report.unreferenced_bytes)}); "
           f"removed {report.partials_removed} stale temporary files.", style="green")


def _describe(report: Any, min_age: float) -> None:
    stderr(
        f"{report.artifact_root}: {report.objects:,} objects, {report.referenced:,} "
        f"referenced, {len(report.unreferenced):,} unreferenced "
        f"({_fmt_size(report.unreferenced_bytes)})"
        + (f", {report.kept_too_young} younger than --min-age kept"
           if report.kept_too_young else ""),
        style="bold",
    )
    if report.unreferenced:
        print_table(
            [Column("digest", style="cyan"), Column("size", justify="right"), Column("uri")],
            [[g["digest"] or "", _fmt_size(g["size"]), g["uri"]] for g in report.unreferenced],
        )
    if report.missing:
        stderr(f"{len(report.missing)} referenced file(s) are missing (their records cannot "
               "be loaded):", style="yellow")
        for m in report.missing[:20]:
            stderr(f"  {m['uri']}  (referenced by {m['referenced_by']})")
    if report.partials:
        stderr(f"{len(report.partials)} temporary file(s) of unfinished writes (.part); "
               f"--force removes those older than --min-age ({min_age:g}s):", style="yellow")
        for p in report.partials[:20]:
            age = "" if p["age_s"] is None else f"{p['age_s']:.0f}s old"
            stderr(f"  {p['uri']}  {_fmt_size(p['size'])} {age}")


def _delete(astore: Any, garbage: list[dict[str, Any]]) -> int:
    progress = None
    task = None
    if is_rich():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress

        from ._output import console

        progress = Progress("{task.description}", BarColumn(), MofNCompleteColumn(),
                            console=console(err=True), transient=True)
        progress.start()
        task = progress.add_task("deleting", total=len(garbage))
    deleted = 0
    try:
        for g in garbage:
            astore.delete(g["uri"])
            deleted += 1
            if progress is not None:
                progress.advance(task)  # type: ignore[arg-type]
    finally:
        if progress is not None:
            progress.stop()
    return deleted
