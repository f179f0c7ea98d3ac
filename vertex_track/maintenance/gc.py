"""Which artifact-store objects the metadata still references.

An object (``<root>/sha256/<2 hex>/<64 hex>[ext]``) is referenced when any
record (artifact, execution or context) mentions it anywhere: the artifact's
``uri``, the digest tracking records (``metadata.vertex_track.digest``), or
any string in any metadata field, such as the ``metadata.inputExample.uri``
that Vertex Experiments' ``log_model`` writes. A reference is recognised by
the object's hex digest, either as ``sha256:<hex>`` or inside a URI of the
store layout, so an unknown field that names an object keeps it too. What
is kept by mistake costs disk; what is deleted by mistake loses data, so the
rule errs on keeping.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..artifacts import ArtifactStore

__all__ = ["GcReport", "collect_garbage", "references"]

_REF = re.compile(r"(?:sha256:|/sha256/[0-9a-f]{2}/)([0-9a-f]{64})")
_OBJECT_HEX = re.compile(r"/sha256/[0-9a-f]{2}/([0-9a-f]{64})[^/]*\Z")


def object_hex(uri: str) -> str | None:
    """The hex digest an object URI of the store layout is named by."""
    m = _OBJECT_HEX.search(uri)
    return m[1] if m else None


@dataclass
class References:
    """Hex digests the records mention, and the in-root URIs they point at."""

    hexes: set[str] = field(default_factory=set)
    #: object URI under the root -> a record that names it (for "missing" reports)
    in_root: dict[str, str] = field(default_factory=dict)


def references(root_uri: str, records: Iterable[Any] | None = None) -> References:
    """Scan every record of the store (or ``records``) for references to objects."""
    if records is None:
        from ..resources import Artifact, Context, Execution

        records = (r for cls in (Artifact, Execution, Context) for r in cls.iter(page_size=1000))
    prefix = root_uri.rstrip("/") + "/sha256/"
    refs = References()
    for record in records:
        texts = [json.dumps(record.metadata, ensure_ascii=False)]
        uri = getattr(record, "uri", "")
        if uri:
            texts.append(uri)
        for text in texts:
            if "sha256" not in text:
                continue
            refs.hexes.update(_REF.findall(text))
            start = 0
            while (i := text.find(prefix, start)) >= 0:
                end = i + len(prefix)
                while end < len(text) and text[end] not in '"\\ ':
                    end += 1
                refs.in_root.setdefault(text[i:end], record.name)
                start = end
    return refs


@dataclass
class GcReport:
    """What ``gc`` found under one artifact root (sizes in bytes; ages in seconds)."""

    artifact_root: str
    objects: int = 0
    referenced: int = 0
    kept_too_young: int = 0
    unreferenced: list[dict[str, Any]] = field(default_factory=list)
    missing: list[dict[str, Any]] = field(default_factory=list)
    partials: list[dict[str, Any]] = field(default_factory=list)
    deleted: int = 0
    partials_removed: int = 0

    @property
    def unreferenced_bytes(self) -> int:
        return sum(g["size"] or 0 for g in self.unreferenced)

    def as_json(self, dry_run: bool) -> dict[str, Any]:
        return {
            "artifact_root": self.artifact_root,
            "dry_run": dry_run,
            "objects": self.objects,
            "referenced": self.referenced,
            "kept_too_young": self.kept_too_young,
            "unreferenced": self.unreferenced,
            "unreferenced_bytes": self.unreferenced_bytes,
            "missing": self.missing,
            "partials": self.partials,
            "deleted": self.deleted,
            "tmp_removed": self.partials_removed,
        }


def age_and_size(fs: Any, uri: str) -> tuple[float | None, int | None]:
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


def partial_writes(astore: ArtifactStore) -> list[dict[str, Any]]:
    """Temporary files and folders under ``<root>/.tmp/``: writes that never finished.

    A live writer's file is among them too; ``age_s`` tells them apart.
    """
    tmp_dir = astore._backend.tmp_dir
    try:
        entries = astore.fs.ls(tmp_dir, detail=True)
    except (FileNotFoundError, OSError):
        return []
    out = []
    for entry in entries:
        uri = astore.fs.unstrip_protocol(entry["name"])
        age, size = age_and_size(astore.fs, entry["name"])
        out.append({"uri": uri, "age_s": None if age is None else round(age, 1), "size": size})
    return sorted(out, key=lambda e: e["uri"])


def collect_garbage(astore: ArtifactStore, *, min_age: float) -> GcReport:
    """Compare the objects under ``astore``'s root with the records' references.

    Deletes nothing (see :func:`delete_garbage`).
    """
    report = GcReport(artifact_root=astore.root_uri)
    objects = list(astore.iter_objects())
    refs = references(astore.root_uri)
    report.objects = len(objects)
    present = set()
    for uri in objects:
        hexd = object_hex(uri)
        present.add(hexd)
        if hexd in refs.hexes:
            report.referenced += 1
            continue
        age, size = age_and_size(astore.fs, uri)
        if age is not None and age < min_age:
            report.kept_too_young += 1
            continue
        report.unreferenced.append({"uri": uri, "digest": f"sha256:{hexd}", "size": size})
    for uri, record in sorted(refs.in_root.items()):
        hexd = object_hex(uri)
        if hexd is not None and hexd not in present and not astore.exists(uri):
            report.missing.append({"uri": uri, "referenced_by": record})
    report.partials = partial_writes(astore)
    return report
