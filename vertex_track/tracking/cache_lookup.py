"""The store side of result caching: lookups, verification, explanations, entries.

Everything here goes through the public resource API (``Execution.list`` with
a filter on ``metadata.vertex_track.cache``, ``Execution.get``, ``update``,
``Artifact.get`` / ``load``), so it works on any store backend and across
processes sharing one store.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from .._json import canonical
from ..artifacts import ArtifactStore
from ..artifacts.loading import load_artifact_value
from ..config import get_settings
from ..exceptions import ArtifactIntegrityError, InvalidArgumentError, NotFoundError
from ..resources import Artifact, ArtifactState, EventType, Execution

#: How many recent runs of a task a miss is compared with to name what changed.
_COMPARED_RUNS = 20


def short(digest: str | None) -> str:
    """``sha256:ab12cd34ef56…`` (a digest as a sentence shows it)."""
    if not digest:
        return "(none)"
    head, _, hexpart = digest.partition(":")
    return f"{head}:{hexpart[:12]}…" if hexpart else digest[:19]


def _quote(text: str) -> str:
    return canonical(text)  # a JSON string is a valid filter string literal


def _newest(filter_: str, page_size: int = 1) -> list[Execution]:
    return list(Execution.list(filter=filter_, order_by="create_time desc", page_size=page_size))


def cache_meta(execution: Execution) -> dict[str, Any] | None:
    """``metadata.vertex_track.cache`` of an execution, if it ran with ``cache=True``."""
    vt_meta = execution.metadata.get("vertex_track")
    meta = vt_meta.get("cache") if isinstance(vt_meta, dict) else None
    return meta if isinstance(meta, dict) else None


# -- lookup -------------------------------------------------------------------------


def find_reusable(
    meta: dict[str, Any], *, refresh: bool, expiration: dt.timedelta | None, verify: str
) -> list[tuple[str, str, Any]] | None:
    """The reused outputs ``[(label, artifact id, loaded value)]`` for a call whose key
    and components are ``meta``, or None to run it; sets ``meta["reason"]`` either way."""
    if refresh:
        meta["reason"] = "ran: refresh requested"
        return None
    found = _newest(f"metadata.vertex_track.cache.key.string_value = {_quote(meta['key'])} AND state = COMPLETE")
    if not found:
        meta["reason"] = _why_new(meta)
        return None
    candidate = found[0]
    if expiration is not None:
        finished = _finished_at(candidate)
        age = dt.datetime.now(dt.timezone.utc) - finished
        if age > expiration:
            meta["reason"] = (
                f"ran: expired (execution {candidate.resource_id} finished "
                f"{finished.isoformat(timespec='seconds')}, more than {expiration} ago)"
            )
            return None
    old = cache_meta(candidate) or {}
    outputs, problem = _load_outputs(candidate, old, verify)
    if outputs is None:
        meta.update(reason=f"ran: {problem}", stale_execution=candidate.name)
        return None
    meta.update(
        hit=True, reused_execution=candidate.name, shape=old.get("shape", "single"),
        outputs=old.get("outputs", {}), output_order=[label for label, _rid, _v in outputs],
        reason=f"reused execution {candidate.resource_id} (same code, same params, same inputs)",
    )
    return outputs


def _finished_at(execution: Execution) -> dt.datetime:
    vt_meta = execution.metadata.get("vertex_track")
    text = vt_meta.get("end_time") if isinstance(vt_meta, dict) else None
    if isinstance(text, str):
        try:
            return dt.datetime.fromisoformat(text)
        except ValueError:
            pass
    return execution.update_time


def _load_outputs(
    candidate: Execution, old: dict[str, Any], verify: str
) -> tuple[list[tuple[str, str, Any]] | None, str]:
    """``([(label, artifact id, value)], "")`` once every output checks out, else
    ``(None, what is wrong)``."""
    expected = old.get("outputs")
    rid = candidate.resource_id
    if not isinstance(expected, dict):
        return None, f"cached output missing (execution {rid} recorded no outputs to reuse)"
    events = {
        ev.label: ev.artifact for ev in candidate.get_events() if ev.type == EventType.OUTPUT
    }
    home = ArtifactStore.for_root(get_settings().artifact_root)
    loaded: list[tuple[str, str, Any]] = []
    order = old.get("output_order")
    labels = order if isinstance(order, list) and set(order) == set(expected) else list(expected)
    for label in labels:
        name = events.get(label)
        if name is None:
            return None, (
                f"cached output missing (`{label}` of execution {rid} is no longer "
                "recorded: its artifact was purged)"
            )
        try:
            artifact = Artifact.get(name)
        except NotFoundError:
            return None, f"cached output missing (artifact {name} of `{label}` was purged)"
        if artifact.state != ArtifactState.LIVE:
            return None, (
                f"cached output missing (artifact {artifact.resource_id} of `{label}` is "
                f"{artifact.state.value})"
            )
        if artifact.uri:
            problem = _missing_or_resized(home, artifact, label)
            if problem:
                return None, problem
        try:
            # With verify="digest" the load re-hashes the stored bytes (one read of
            # them); with "exists" it does not: a reuse then costs a stat, not a read.
            value = load_artifact_value(artifact, verify_digest=verify == "digest")
        except ArtifactIntegrityError as exc:
            digest = artifact.digest
            if verify == "digest" and digest and exc.expected == digest:
                return None, (
                    f"cached output corrupted (`{label}`: the bytes at {artifact.uri} no "
                    f"longer have digest {short(digest)})"
                )
            return None, f"cached output corrupted (`{label}`: {exc})"
        except NotFoundError as exc:
            return None, f"cached output missing (`{label}`: {exc})"
        loaded.append((label, artifact.resource_id, value))
    return loaded, ""


def _missing_or_resized(home: ArtifactStore, artifact: Artifact, label: str) -> str:
    """What is wrong with the stored bytes of ``artifact`` seen from outside (gone, or
    a file whose size is not the recorded one), or ``""``: one ``stat``, nothing read."""
    size = home.file_size(artifact.uri)
    if size is None:  # no file: a folder, or nothing
        if not home.exists(artifact.uri):
            return f"cached output missing (`{label}`: {artifact.uri} is gone)"
        return ""
    vt_meta = artifact.metadata.get("vertex_track")
    recorded = vt_meta.get("size") if isinstance(vt_meta, dict) else None
    if isinstance(recorded, int) and not isinstance(recorded, bool) and size != recorded:
        return (
            f"cached output corrupted (`{label}`: {artifact.uri} has {size} bytes, "
            f"{recorded} were recorded)"
        )
    return ""


# -- why a call ran -----------------------------------------------------------------


def _fmt(params: dict[str, Any], name: str) -> str:
    return canonical(params[name]) if name in params else "(not given)"


def changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between two sets of key components, one phrase per component."""
    out: list[str] = []
    if old.get("code") != new.get("code"):
        out.append("code changed")
    old_p, new_p = old.get("params") or {}, new.get("params") or {}
    for name in sorted(set(old_p) | set(new_p)):
        if name not in old_p or name not in new_p or canonical(old_p[name]) != canonical(
            new_p[name]
        ):
            out.append(f"parameter `{name}` {_fmt(old_p, name)} -> {_fmt(new_p, name)}")
    old_i, new_i = old.get("inputs") or {}, new.get("inputs") or {}
    for name in sorted(set(old_i) | set(new_i)):
        if old_i.get(name) != new_i.get(name):
            out.append(
                f"input `{name}` changed ({short(old_i.get(name))} -> {short(new_i.get(name))})"
            )
    return out


def _why_new(meta: dict[str, Any]) -> str:
    """Why no result has this key: compared with the closest recent run of the task."""
    recent = _newest(
        f"metadata.vertex_track.cache.task.string_value = {_quote(meta['task'])} AND state = COMPLETE",
        page_size=_COMPARED_RUNS,
    )
    best: list[str] | None = None
    cleared = False
    for execution in recent:
        old = cache_meta(execution) or {}
        diff = changes(old, meta)
        if not diff:
            cleared = cleared or "cleared" in old
            continue
        if best is None or len(diff) < len(best):
            best = diff
    if cleared:
        return "ran: the earlier result was cleared (vertex-track cache clear)"
    if best is None:
        return "ran: no earlier run with this key"
    return "ran: " + "; ".join(best)


# -- explanations and entries ----------------------------------------------------------


@dataclass(frozen=True)
class CacheExplanation:
    """Why a task run reused an earlier result, or why it ran.

    Attributes:
        execution: the execution explained.
        reused: the execution whose outputs it reused, or None when it ran
            (or when the reused one has since been deleted).
        reason: one sentence: ``"reused execution X (same code, same params,
            same inputs)"`` or ``"ran: ..."`` naming what changed (code, a
            parameter, an input's digest), or that the cached output was
            missing, corrupted or expired, or that a refresh was requested.
        key: the cache key of the run (None when it has none).
    """

    execution: Execution
    reused: Execution | None
    reason: str
    key: str | None

    def __str__(self) -> str:
        return self.reason

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (what ``vertex-track cache explain --json`` prints)."""
        return {
            "execution": self.execution.name,
            "reused": self.reused.name if self.reused is not None else None,
            "reason": self.reason,
            "key": self.key,
        }


def _execution(execution: Execution | str) -> Execution:
    if isinstance(execution, Execution):
        return execution
    if isinstance(execution, str) and execution:
        return Execution.get(execution)
    raise InvalidArgumentError(
        f"explain_cache takes an Execution, its resource id or its name, got {execution!r}"
    )


def explain_cache(execution: Execution | str) -> CacheExplanation:
    """Why ``execution`` reused an earlier result or ran (see :class:`CacheExplanation`).

    Args:
        execution: an Execution, its resource id, or its full resource name.

    Raises:
        NotFoundError: no such execution.
        InvalidArgumentError: ``execution`` is not an Execution or a non-empty string.
    """
    ex = _execution(execution)
    meta = cache_meta(ex)
    if meta is None:
        return CacheExplanation(
            ex, None, "ran: the task did not use vertex_track's cache (cache=True)", None
        )
    key = meta.get("key") or meta.get("cleared_key")
    reused = None
    reason = str(meta.get("reason") or "ran: no reason was recorded")
    name = meta.get("reused_execution")
    if isinstance(name, str) and name:
        try:
            reused = Execution.get(name)
        except NotFoundError:
            reason += f" (execution {name} has since been deleted)"
    return CacheExplanation(ex, reused, reason, key)


def cache_entries(task: str | None = None, limit: int | None = None) -> list[Execution]:
    """Completed executions whose results can be reused, newest first.

    Args:
        task: only this task (its ``module.qualname`` or the end of it, e.g. ``train``).
        limit: at most this many.
    """
    filter_ = 'metadata.vertex_track.cache.key.string_value = "sha256:*" AND state = COMPLETE'
    out: list[Execution] = []
    for ex in Execution.iter(filter=filter_, order_by="create_time desc"):
        if task is not None and not _task_matches(ex, task):
            continue
        out.append(ex)
        if limit is not None and len(out) >= limit:
            break
    return out


def _task_matches(execution: Execution, task: str) -> bool:
    name = str((cache_meta(execution) or {}).get("task", ""))
    return name == task or name.endswith("." + task)


def clear_cache(task: str | None = None) -> list[Execution]:
    """Stop reusing results: move each entry's key aside. Nothing is deleted.

    The executions keep their metadata, events and artifacts; their key moves
    to ``cleared_key`` (with ``cleared`` the time), so no lookup finds them.

    Returns:
        The executions cleared.
    """
    cleared: list[Execution] = []
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    for ex in cache_entries(task):
        vt_meta = dict(ex.metadata.get("vertex_track") or {})
        meta = dict(vt_meta.get("cache") or {})
        meta["cleared_key"] = meta.pop("key", None)
        meta["cleared"] = now
        vt_meta["cache"] = meta
        ex.update(metadata={"vertex_track": vt_meta})
        cleared.append(ex)
    return cleared
