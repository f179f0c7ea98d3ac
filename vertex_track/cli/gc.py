"""``gc``: artifact files that no Artifact references (dry run unless ``--force``).

An object of the artifact store (``<root>/sha256/<2 hex>/<hex>[ext]``) is
referenced when an Artifact records its content digest
(``metadata.vertex_track.digest``) or points at it with ``uri``. Objects
younger than ``--min-age`` are kept whatever the metadata says: a flow may
have written the bytes and not yet committed the Artifact that names them.
"""

from __future__ import annotations

import re
import time
from typing import Any

import typer

from ._common import check_store, handle_errors
from ._output import Column, is_rich, print_json, print_table, stderr

_HEX = re.compile(r"/sha256/[0-9a-f]{2}/(?P<hex>[0-9a-f]{64})[^/]*$")
BATCH = 100


def _digest_of(uri: str) -> str | None:
    m = _HEX.search(uri)
    return f"sha256:{m['hex']}" if m else None


def _referenced(uris: list[str]) -> set[str]:
    """Which of ``uris`` an Artifact references (by digest or by URI), a batch per query."""
    from ..resources import Artifact
    from ._common import quote

    found: set[str] = set()
    for i in range(0, len(uris), BATCH):
        chunk = uris[i : i + BATCH]
        digests = {u: _digest_of(u) for u in chunk}
        terms = [f"uri = {quote(u)}" for u in chunk]
        terms += [
            f"metadata.vertex_track.digest.string_value = {quote(d)}"
            for d in dict.fromkeys(d for d in digests.values() if d)
        ]
        hits = list(Artifact.iter(" OR ".join(terms), page_size=1000))
        hit_uris = {a.uri for a in hits}
        hit_digests = {a.digest for a in hits}
        for u in chunk:
            if u in hit_uris or (digests[u] is not None and digests[u] in hit_digests):
                found.add(u)
    return found


def _age_and_size(fs: Any, uri: str) -> tuple[float | None, int | None]:
    try:
        info = fs.info(uri)
    except (OSError, ValueError):
        return None, None
    mtime = info.get("mtime") or info.get("created") or info.get("LastModified")
    if hasattr(mtime, "timestamp"):
        mtime = mtime.timestamp()
    size = info.get("size")
    if info.get("type") == "directory":
        try:
            size = int(fs.du(uri))
        except (OSError, ValueError):
            size = None
    age = (time.time() - float(mtime)) if isinstance(mtime, (int, float)) else None
    return age, size


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
    force: bool = typer.Option(False, "--force", help="Delete them (default: only list them)."),
    min_age: float = typer.Option(
        3600.0, "--min-age", min=0,
        help="Keep objects younger than this many seconds (a running flow may not have "
        "recorded them yet).",
    ),
    json_mode: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Find artifact files that no Artifact references; delete them with --force.

    Looks under the artifact root (--artifact-root, VERTEX_TRACK_ARTIFACT_ROOT)
    at every stored object and checks the metadata store for an Artifact that
    records its digest or URI. With --force it also removes temporary files
    that crashed writers left behind.

    Example:

    $ vertex-track gc
    $ vertex-track gc --force --min-age 86400
    """
    check_store()
    from ..artifacts import ArtifactStore
    from ..config import get_settings

    root = get_settings().artifact_root
    astore = ArtifactStore.for_root(root)
    objects = list(astore.iter_objects())
    referenced = _referenced(objects)
    candidates = [u for u in objects if u not in referenced]
    garbage: list[dict[str, Any]] = []
    young = 0
    for uri in candidates:
        age, size = _age_and_size(astore.fs, uri)
        if age is not None and age < min_age:
            young += 1
            continue
        garbage.append({"uri": uri, "digest": _digest_of(uri), "size": size})
    total = sum(g["size"] or 0 for g in garbage)
    deleted = 0
    tmp_removed = 0
    if force and garbage:
        deleted = _delete(astore, garbage)
    if force:
        tmp_removed = astore.cleanup_tmp(max(min_age, 0))
    if json_mode:
        print_json({
            "artifact_root": astore.root_uri,
            "dry_run": not force,
            "objects": len(objects),
            "referenced": len(referenced),
            "kept_too_young": young,
            "unreferenced": garbage,
            "unreferenced_bytes": total,
            "deleted": deleted,
            "tmp_removed": tmp_removed,
        })
        return
    stderr(
        f"{astore.root_uri}: {len(objects):,} objects, {len(referenced):,} referenced, "
        f"{len(garbage):,} unreferenced ({_fmt_size(total)})"
        + (f", {young} younger than --min-age kept" if young else ""),
        style="bold",
    )
    if garbage:
        print_table(
            [Column("digest", style="cyan"), Column("size", justify="right"), Column("uri")],
            [[g["digest"] or "", _fmt_size(g["size"]), g["uri"]] for g in garbage],
        )
    if not force:
        if garbage:
            stderr("Dry run: nothing was deleted. Add --force to delete them.", style="yellow")
        return
    stderr(f"Deleted {deleted:,} objects ({_fmt_size(total)}); removed {tmp_removed} stale "
           "temporary files.", style="green")


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
