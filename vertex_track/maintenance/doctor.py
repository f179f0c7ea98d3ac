"""``vertex-track doctor``: is the store healthy, and what did crashes leave behind?

Checks, in order:

- ``store`` and ``artifact-root``: the metadata store opens, and a probe
  object can be written, read and deleted under the artifact root (see
  :mod:`vertex_track.maintenance.reachability`; the command runs them first);
- ``integrity``: SQLite's ``PRAGMA integrity_check`` and ``foreign_key_check``
  (PostgreSQL checks its own pages; nothing to run there);
- ``dangling``: events and context links whose artifact, execution or context
  row is gone (possible only if something wrote the database around
  vertex_track's foreign keys); ``fix`` deletes them;
- ``missing-files``: artifacts vertex_track stored whose bytes are gone;
- ``partial-writes``: temporary files under ``<artifact root>/.tmp/`` that
  writers left when they crashed (a warning; ``vertex-track gc --force``
  removes them);
- ``crashed``: executions and pipeline runs still ``RUNNING`` whose process
  is gone (same host, and the pid is not alive or belongs to another
  process: see :mod:`vertex_track.processes`), or, with ``prefect=True``,
  whose Prefect flow run or task run ended while we never saw it end.
  ``fix`` marks them ``FAILED`` with the reason in their metadata; with
  Prefect's word, a pipeline run takes Prefect's final state (``COMPLETED``
  -> ``COMPLETE``, ``CANCELLED`` -> ``CANCELLED``): a plain Prefect flow
  whose tasks are tracked has no ``vt.flow`` to record its end.

Records of another host, or written before vertex_track recorded processes,
cannot be judged by process and are left alone.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from ..exceptions import ConflictError, NotFoundError, VertexTrackError
from ..processes import is_gone
from ..store.base import MaintenanceStore

__all__ = ["Finding", "run_checks"]

PIPELINE_RUN = "system.PipelineRun"
_SHOWN = 1000  # findings per check, at most


@dataclass
class Finding:
    """One problem found (``severity`` ``"error"`` or ``"warning"``); ``hint`` says
    what to do about it, when there is more to say than the message."""

    check: str
    severity: str
    message: str
    resource: str | None = None
    fixed: bool = False
    hint: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def run_checks(
    store: Any, artifact_root: str, *, fix: bool = False, prefect: bool = False,
    files: bool = True,
) -> list[Finding]:
    """Run every check on ``store`` (a :class:`MaintenanceStore`) and ``artifact_root``;
    apply fixes if asked. ``files=False`` skips the checks that read the artifact
    root (when it cannot be reached, each would fail alike).

    Returns:
        The findings; an empty list means healthy.
    """
    findings: list[Finding] = []
    findings += check_store(store, fix=fix)
    if files:
        findings += check_files(artifact_root)
    findings += check_crashed(store, fix=fix, prefect=prefect)
    return findings


def check_store(store: MaintenanceStore, *, fix: bool) -> list[Finding]:
    """The database's own check (``integrity``) and link rows whose resource is gone
    (``dangling``; ``fix`` deletes them), from the store's maintenance extension."""
    out = []
    for found in store.check_integrity(fix=fix):
        message = found.message
        if found.check == "dangling":
            message += "; deleted" if found.fixed else "; --fix deletes them"
        out.append(Finding(found.check, "error", message, fixed=found.fixed))
    return out


def check_files(artifact_root: str) -> list[Finding]:
    from ..artifacts import ArtifactStore
    from ..resources import Artifact
    from .gc import partial_writes

    astore = ArtifactStore.for_root(artifact_root)
    out = []
    for art in Artifact.iter(page_size=1000):
        vt = art.metadata.get("vertex_track")
        if not art.uri or not isinstance(vt, dict) or "materializer" not in vt:
            continue
        try:
            present = astore.exists(art.uri)
        except (VertexTrackError, OSError, ValueError, ImportError) as exc:
            out.append(Finding("missing-files", "warning",
                               f"cannot check {art.uri}: {exc}", art.name))
            continue
        if not present:
            out.append(Finding("missing-files", "error",
                               f"the bytes of this artifact are missing: {art.uri}", art.name))
        if len(out) >= _SHOWN:
            break
    for p in partial_writes(astore):
        age = "" if p["age_s"] is None else f", {p['age_s']:.0f}s old"
        out.append(Finding(
            "partial-writes", "warning",
            f"unfinished write left behind: {p['uri']}{age} "
            "(`vertex-track gc --force` removes it once older than --min-age)",
        ))
    return out


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


def check_crashed(store: Any, *, fix: bool, prefect: bool) -> list[Finding]:
    from ..resources import Context, Execution

    out = []
    for ex in Execution.iter("state = RUNNING", page_size=1000):
        vt = ex.metadata.get("vertex_track")
        vt = vt if isinstance(vt, dict) else {}
        reason, new_state, error_type = _crash_verdict(
            vt.get("process"), "task", vt.get("task_run_id") if prefect else None
        )
        if reason is None:
            continue
        finding = Finding("crashed", "error",
                          f"execution {ex.display_name!r} is RUNNING but {reason}", ex.name)
        if fix:
            finding.fixed = _mark_execution(ex, reason, new_state, error_type)
        out.append(finding)
    f = f'schema_title = "{PIPELINE_RUN}" AND metadata.state.string_value = "RUNNING"'
    for ctx in Context.iter(f, page_size=1000):
        vt = ctx.metadata.get("vertex_track")
        vt = vt if isinstance(vt, dict) else {}
        reason, new_state, error_type = _crash_verdict(
            vt.get("process"), "flow", ctx.metadata.get("flow_run_id") if prefect else None
        )
        if reason is None:
            continue
        finding = Finding("crashed", "error",
                          f"pipeline run {ctx.display_name!r} is RUNNING but {reason}", ctx.name)
        if fix:
            finding.fixed = _mark_run(ctx, reason, new_state, error_type)
        out.append(finding)
    return out


def _crash_verdict(
    process: Any, kind: str, prefect_run_id: str | None
) -> tuple[str | None, str, str]:
    """``(reason, new state, error type)`` for a RUNNING record; ``reason`` None: still alive.

    The recorded process (host, pid, start time) decides first; then, when
    ``prefect_run_id`` is given, Prefect's own final state of that run.
    """
    reason = is_gone(process)
    if reason is not None or not prefect_run_id:
        return reason, "FAILED", "ProcessGone"
    reason, new_state = _prefect_verdict(kind, prefect_run_id)
    return reason, new_state, "PrefectRunEnded"


def _mark_execution(ex: Any, reason: str, state: str, error_type: str) -> bool:
    from ..resources import Execution

    for _ in range(3):
        vt = dict(ex.metadata.get("vertex_track") or {})
        vt.update(error_type=error_type, error_message=f"marked {state} by vertex-track "
                  f"doctor: {reason}", end_time=_now())
        try:
            ex.update(state=state, metadata={"vertex_track": vt})
            return True
        except ConflictError:
            try:
                ex = Execution.get(ex.name)
            except NotFoundError:
                return False
            if ex.state.value != "RUNNING":
                return False  # it ended meanwhile
    return False


def _mark_run(ctx: Any, reason: str, state: str, error_type: str) -> bool:
    from ..resources import Context

    changes = {"state": state, "end_time": _now(), "ended_by": f"vertex-track doctor: {reason}"}
    if state != "COMPLETE":
        changes.update(error_type=error_type,
                       error_message=f"marked {state} by vertex-track doctor: {reason}")
    for _ in range(3):
        try:
            ctx.update(metadata=changes)
            return True
        except ConflictError:
            try:
                ctx = Context.get(ctx.name)
            except NotFoundError:
                return False
            if ctx.metadata.get("state") != "RUNNING":
                return False
    return False


def _prefect_verdict(kind: str, run_id: str) -> tuple[str | None, str]:
    """Ask Prefect's API how the flow or task run ended: (reason, our state) or (None, ...)."""
    try:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            read = client.read_flow_run if kind == "flow" else client.read_task_run
            run = read(uuid.UUID(str(run_id)))
    except Exception:  # no API, unknown run: cannot tell
        return None, "FAILED"
    state = getattr(run, "state", None)
    name = getattr(getattr(state, "type", None), "value", None)
    if name in ("CRASHED", "FAILED"):
        return f"its Prefect {kind} run {run_id} ended {name}", "FAILED"
    if name == "CANCELLED":
        return f"its Prefect {kind} run {run_id} was CANCELLED", "CANCELLED"
    if name == "COMPLETED" and kind == "flow":
        # A run of a plain Prefect flow (not vt.flow) has no end record by design:
        # Prefect's final state is the run's state.
        return f"its Prefect flow run {run_id} COMPLETED", "COMPLETE"
    if name == "COMPLETED":
        # The task's outputs were never recorded: not COMPLETE in the metadata.
        return (f"its Prefect task run {run_id} COMPLETED but vertex_track never recorded "
                "the end (nor its outputs)", "FAILED")
    return None, "FAILED"
