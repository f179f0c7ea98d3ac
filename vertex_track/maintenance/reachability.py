"""Can this machine reach the metadata store and write to the artifact root?

The first checks of ``vertex-track doctor``, made before anything is read:

- ``store``: the metadata store opens (a PostgreSQL server answers at its host
  and port; an SQLite file is a vertex_track store);
- ``artifact-root``: a probe object written under ``<artifact root>/.tmp/``
  reads back the same and is deleted again.

Each failure is a :class:`~vertex_track.maintenance.doctor.Finding` whose
``hint`` says what to do. Credentials of an object store come from its
library's own environment and configuration (``AWS_*`` and ``~/.aws`` for
``s3://``, ``GOOGLE_APPLICATION_CREDENTIALS`` or ``STORAGE_EMULATOR_HOST`` for
``gs://``): the hints name them, and nothing here passes any.
"""

from __future__ import annotations

import contextlib
import errno
import uuid
from typing import Any
from urllib.parse import urlsplit

from ..exceptions import StoreUnavailableError, VertexTrackError
from .doctor import Finding

__all__ = ["check_artifact_root", "check_store_reachable"]

_CREDENTIALS = {
    "s3": "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE (~/.aws), and "
    "AWS_ENDPOINT_URL for an S3-compatible server",
    "gs": "GOOGLE_APPLICATION_CREDENTIALS (or `gcloud auth application-default login`), "
    "or STORAGE_EMULATOR_HOST for an emulator",
}


def _where(store_uri: str) -> str:
    """``host:port`` of a server store, else the URI's path."""
    try:
        parts = urlsplit(store_uri)
        host = parts.hostname or "localhost"
        port = parts.port or 5432
    except ValueError:
        return store_uri
    return f"{host}:{port}"


def check_store_reachable(store_uri: str) -> tuple[list[Finding], Any]:
    """Open the metadata store read-only: ``(findings, store or None)``.

    A PostgreSQL store that does not answer gives a ``store`` finding naming its
    host and port; so does an SQLite path that is not a vertex_track store.
    """
    from ..store import get_store

    try:
        return [], get_store()
    except StoreUnavailableError as exc:
        scheme = store_uri.split(":", 1)[0].split("+", 1)[0]
        if scheme in ("postgresql", "postgres"):
            where = _where(store_uri)
            host, _, port = where.rpartition(":")
            message = f"cannot use the PostgreSQL store at {where}: {exc}"
            hint = (
                f"check that the server runs and accepts connections from this machine "
                f"(`pg_isready -h {host} -p {port}`), and that VERTEX_TRACK_STORE_URI "
                "names the right host, port, database and user"
            )
        else:
            message = str(exc)
            hint = "point VERTEX_TRACK_STORE_URI (or --store-uri) at a vertex_track store"
        return [Finding("store", "error", message, hint=hint)], None


def _protocol(root: str) -> str:
    scheme = root.split("://", 1)[0] if "://" in root else "file"
    return {"s3a": "s3", "gcs": "gs"}.get(scheme, scheme)


def _root_hint(root: str, exc: BaseException) -> tuple[str, str]:
    """``(problem, hint)`` for a failed probe of ``root``."""
    protocol = _protocol(root)
    credentials = _CREDENTIALS.get(protocol)
    if isinstance(exc, FileNotFoundError) and credentials:
        bucket = root.split("://", 1)[1].split("/", 1)[0]
        return (
            f"bucket {bucket!r} does not exist (or these credentials cannot see it)",
            f"create the bucket, or fix VERTEX_TRACK_ARTIFACT_ROOT; credentials come from "
            f"{credentials}",
        )
    if isinstance(exc, PermissionError) or (
        isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
    ):
        if credentials:
            return ("this machine may not write there",
                    f"grant these credentials write access; they come from {credentials}")
        return ("this machine may not write there",
                "make the folder writable by this user (chmod/chown), or choose another "
                "VERTEX_TRACK_ARTIFACT_ROOT")
    if credentials:
        return (
            "the object store cannot be reached",
            f"check the network and the endpoint; settings come from {credentials}",
        )
    return ("it cannot be written", "check the folder and VERTEX_TRACK_ARTIFACT_ROOT")


def check_artifact_root(artifact_root: str) -> list[Finding]:
    """Write, read back and delete a probe object under ``<artifact_root>/.tmp/``."""
    from ..artifacts import ArtifactStore

    try:
        astore = ArtifactStore.for_root(artifact_root)
    except VertexTrackError as exc:
        return [Finding("artifact-root", "error", str(exc),
                        hint="install the filesystem's package, e.g. "
                        'pip install "vertex-track[s3]" or "vertex-track[gcs]"')]
    backend = astore._backend
    fs = astore.fs
    probe = f"{backend.tmp_dir}/doctor-{uuid.uuid4().hex}.probe"
    payload = f"vertex-track doctor probe {uuid.uuid4().hex}\n".encode()
    try:
        if _protocol(artifact_root) == "file":
            fs.makedirs(backend.tmp_dir, exist_ok=True)
        fs.pipe_file(probe, payload)
        try:
            got = fs.cat_file(probe)
        finally:
            with contextlib.suppress(FileNotFoundError):
                fs.rm(probe)
        fs.invalidate_cache(backend.tmp_dir)
        if fs.exists(probe):
            raise PermissionError(f"the probe {probe} could not be deleted")
    except Exception as exc:
        problem, hint = _root_hint(artifact_root, exc)
        detail = f"{type(exc).__name__}: {exc}".strip()
        return [Finding("artifact-root", "error",
                        f"artifact root {astore.root_uri}: {problem} ({detail})", hint=hint)]
    if got != payload:
        return [Finding("artifact-root", "error",
                        f"artifact root {astore.root_uri}: a probe object read back different "
                        "bytes than were written",
                        hint="check the object store (or proxy) between this machine and it")]
    return []
