"""Artifacts and executions: lists, detail pages, and an artifact's bytes for download."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response, StreamingResponse

from ...exceptions import NotFoundError
from ...resources import Artifact, Execution
from ...types import EventType
from .. import preview, views
from ..responses import StrictJSONResponse
from ._common import FilterQuery, PageSize, PageToken, listed, listing, page

router = APIRouter()
CHUNK = 1 << 20


@router.get("/artifacts", include_in_schema=False)
@router.get("/executions", include_in_schema=False)
def list_page() -> FileResponse:
    return page("resources.html")


@router.get("/artifacts/{resource_id}", include_in_schema=False)
@router.get("/executions/{resource_id}", include_in_schema=False)
def detail_page(resource_id: str) -> FileResponse:
    return page("resource.html")


@router.get("/api/artifacts")
def list_artifacts(
    filter: str | None = FilterQuery, page_size: int = PageSize, page_token: str | None = PageToken,
) -> dict[str, Any]:
    """Artifacts, newest first, filtered in vertex_track's filter language (400 on a bad filter)."""
    found = listed(Artifact, "", filter, order_by="create_time desc", page_size=page_size,
                   page_token=page_token)
    return listing([views.brief(a) for a in found], found.next_page_token)


@router.get("/api/executions")
def list_executions(
    filter: str | None = FilterQuery, page_size: int = PageSize, page_token: str | None = PageToken,
) -> dict[str, Any]:
    """Executions, newest first, filtered in vertex_track's filter language (400 on a bad filter)."""
    found = listed(Execution, "", filter, order_by="create_time desc", page_size=page_size,
                   page_token=page_token)
    return listing([views.brief(e) for e in found], found.next_page_token)


def _run_of(resource: Any) -> str | None:
    flow_run_id = views.vt_meta(resource).get("flow_run_id")
    return f"pipelinerun-{flow_run_id}" if flow_run_id else None


@router.get("/api/artifacts/{resource_id}")
def get_artifact(resource_id: str) -> dict[str, Any]:
    """One artifact: every field, its producers and consumers, and a preview of its value."""
    a = Artifact.get(resource_id)
    producers = a.get_executions(EventType.OUTPUT)
    consumers = a.get_executions(EventType.INPUT)
    return {
        "artifact": views.detail(a),
        "digest": a.digest,
        "producers": [{**views.brief(e), "run": _run_of(e)} for e in producers],
        "consumers": [{**views.brief(e), "run": _run_of(e)} for e in consumers],
        "preview": preview.preview(a),
        "downloadable": bool(views.vt_meta(a).get("inline") or (a.uri and a.digest)),
    }


@router.get("/api/artifacts/{resource_id}/download")
def download_artifact(resource_id: str) -> Response:
    """The artifact's bytes as stored (or its inline value as JSON), as an attachment.

    Bytes are served only when they still have the SHA-256 digest tracking
    recorded for them: a record naming some other file on this machine
    cannot make the UI serve it. 404 when there is nothing stored to
    download, 409 when the bytes changed since they were recorded.
    """
    a = Artifact.get(resource_id)
    meta = views.vt_meta(a)
    if meta.get("inline") and "value" in a.metadata:
        body = json.dumps(a.metadata["value"], ensure_ascii=False, indent=2)
        return Response(body, media_type="application/json", headers=_attachment(
            f"{a.resource_id}.json"))
    digest = a.digest
    if not a.uri or not digest or not digest.startswith("sha256:"):
        raise NotFoundError(
            f"artifact {a.resource_id!r} has no recorded bytes to download (no uri or no "
            "sha256 digest); open its uri yourself")
    import fsspec

    fs, path = fsspec.core.url_to_fs(a.uri)
    if not fs.isfile(path):
        raise NotFoundError(f"artifact {a.resource_id!r}: {a.uri!r} is not a file (gone, "
                               "or a folder); open it yourself")
    sha = hashlib.sha256()
    with fs.open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            sha.update(chunk)
    if f"sha256:{sha.hexdigest()}" != digest:
        return StrictJSONResponse({
            "error": "integrity", "message": f"the bytes at {a.uri!r} changed since they "
            f"were recorded (digest {digest}); not served"}, status_code=409)

    def chunks() -> Iterator[bytes]:
        with fs.open(path, "rb") as fh:
            yield from iter(lambda: fh.read(CHUNK), b"")

    name = path.rsplit("/", 1)[-1] or a.resource_id
    return StreamingResponse(chunks(), media_type="application/octet-stream",
                             headers=_attachment(name))


def _attachment(filename: str) -> dict[str, str]:
    safe = "".join(c for c in filename if c.isalnum() or c in "._-") or "artifact"
    return {"Content-Disposition": f'attachment; filename="{safe}"'}


@router.get("/api/executions/{resource_id}")
def get_execution(resource_id: str) -> dict[str, Any]:
    """One execution: every field, its input and output artifacts (with event labels), its run."""
    e = Execution.get(resource_id)
    names: dict[str, list[str]] = {}
    for ev in e.get_events():
        label = ev.labels.get("name", "") if isinstance(ev.labels, dict) else ""
        names.setdefault(f"{ev.type}:{ev.artifact}", []).append(label)

    def linked(artifacts: list[Any], etype: str) -> list[dict[str, Any]]:
        return [{**views.brief(a), "labels": names.get(f"{etype}:{a.name}", [])}
                for a in artifacts]

    return {
        "execution": views.detail(e),
        "timing": views.timeline([e])[0],
        "run": _run_of(e),
        "inputs": linked(e.get_input_artifacts(), "INPUT"),
        "outputs": linked(e.get_output_artifacts(), "OUTPUT"),
    }
