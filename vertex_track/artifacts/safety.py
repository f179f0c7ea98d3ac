"""Reading back what a record points at, without trusting the record.

An Artifact's ``uri`` and materializer come from the metadata store, which
anyone with write access to it (a shared PostgreSQL, a ``metadata.db`` sent
by a colleague, a hand-made ``Artifact.create``) controls. So
:func:`load_recorded`, behind ``Artifact.load()``, reads only:

- objects inside the configured artifact root, or content-addressed objects
  (``<root>/sha256/<2 hex>/<64 hex>[ext]``) on a URI scheme of a root this
  process uses; never ``file:///etc/passwd``, a relative path or one that
  climbs out with ``..``;
- bytes whose SHA-256 is the digest recorded for them (also the object's
  name), so a file modified on disk raises instead of loading (a caller that
  has its own rule for the bytes, like the result cache's
  ``verify="exists"``, may skip this re-hash with ``verify_digest=False``;
  every other rule still applies);
- with a materializer that runs code (pickle) only from the configured root or
  a root this process wrote to.

``trust=True`` lifts the location rules (the digest is still checked when one
is recorded): treat a store you load pickled values from like code you run.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

import fsspec

from ..exceptions import ArtifactIntegrityError, NotFoundError, UntrustedArtifactError
from .materializers import get_materializer
from .store import WRITTEN_ROOTS, ArtifactStore

__all__ = ["load_recorded"]

_OBJECT = re.compile(r"/sha256/[0-9a-f]{2}/(?P<hex>[0-9a-f]{64})[^/]*\Z")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def _protocol(uri: str) -> str:
    return uri.split("://", 1)[0].lower() if "://" in uri else "file"


def load_recorded(
    uri: str,
    materializer: str,
    version: int | None,
    *,
    digest: str | None,
    what: str,
    root: str,
    trust: bool = False,
    verify_digest: bool = True,
) -> Any:
    """Load the value a record describes, after checking where it is and what it is.

    Args:
        uri: the recorded URI.
        materializer: the recorded materializer's name.
        version: the recorded encoding version.
        digest: the recorded content digest (``sha256:<hex>``), if any.
        what: the record, as messages name it (``artifact 'projects/...'``).
        root: the configured artifact root.
        trust: read from anywhere and unpickle whatever is there.
        verify_digest: re-hash the stored bytes and compare with the recorded
            digest. False skips only that read of the whole object: the
            location and pickle rules, the record's own consistency (its
            digest against the object's name) and the refusal of a record
            with no digest still apply.

    Raises:
        UntrustedArtifactError: the location is outside the trusted roots, or
            a pickle outside them (message says how to proceed).
        ArtifactIntegrityError: the bytes' digest differs from the recorded one.
        NotFoundError: nothing is stored at ``uri``.
        InvalidArgumentError: unknown materializer or encoding version.
    """
    m = get_materializer(materializer)
    home = ArtifactStore.for_root(root)
    if not isinstance(uri, str) or not uri:
        raise UntrustedArtifactError(f"{what} has no uri to load from")
    if not _SCHEME.match(uri) and not uri.startswith("/"):
        raise UntrustedArtifactError(
            f"{what} has uri {uri!r}, which is not an absolute URI; load() reads only "
            f"objects of the artifact store ({home.root_uri})"
        )
    fs, path = fsspec.core.url_to_fs(uri)
    if posixpath.normpath(path) != path.rstrip("/") or "/../" in f"{path}/":
        raise UntrustedArtifactError(
            f"{what} has uri {uri!r}, which climbs out of its folder with '..'; refusing "
            "to read it"
        )
    canonical = fs.unstrip_protocol(path)
    trusted = {home.root_uri, *WRITTEN_ROOTS}
    inside = any(canonical.startswith(r.rstrip("/") + "/") for r in trusted)
    obj = _OBJECT.search(canonical)
    name_hex = obj["hex"] if obj else None
    if not trust:
        schemes = {_protocol(r) for r in trusted}
        if not inside and (name_hex is None or _protocol(canonical) not in schemes):
            raise UntrustedArtifactError(
                f"{what} points at {uri}, outside the artifact store ({home.root_uri}); "
                "load() reads only objects vertex_track stored. If you trust this metadata "
                "store and that location, call load(trust=True)"
            )
        if m.runs_code and not inside:
            raise UntrustedArtifactError(
                f"{what} is a pickle at {uri}, outside the artifact roots this process uses "
                f"({', '.join(sorted(trusted))}); unpickling runs code, so load() does not "
                "read pickles vertex_track did not write there. If you trust this store "
                "like code you run, call load(trust=True)"
            )
    expected = digest or (f"sha256:{name_hex}" if name_hex else None)
    if digest and name_hex and digest != f"sha256:{name_hex}":
        raise ArtifactIntegrityError(
            f"{what} records digest {digest} but its uri names sha256:{name_hex}; the "
            "record was altered. Not loaded",
            expected=digest, actual=f"sha256:{name_hex}",
        )
    if expected is not None and verify_digest:
        backend, bpath = home._resolve(canonical)
        actual_hex = backend.hash_object(bpath)
        if actual_hex is None:
            raise NotFoundError(f"{what}: no stored object at {uri} (deleted or moved?)")
        if f"sha256:{actual_hex}" != expected:
            raise ArtifactIntegrityError(
                f"{what}: the bytes at {uri} were modified after they were recorded: "
                f"expected digest {expected}, found sha256:{actual_hex}. Not loaded; "
                "restore the file, or re-create the artifact from the current bytes",
                expected=expected, actual=f"sha256:{actual_hex}",
            )
    elif expected is None and not trust:
        raise UntrustedArtifactError(
            f"{what} records no content digest, so its bytes at {uri} cannot be verified; "
            "call load(trust=True) to read them anyway"
        )
    return home.load(canonical, materializer, version)
