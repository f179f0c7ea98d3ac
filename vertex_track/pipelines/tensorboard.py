"""Importing the scalars training code wrote with TensorBoard into ``AIP_TENSORBOARD_LOG_DIR``.

Event files are read with TensorBoard's own reader
(``tensorboard.backend.event_processing.event_accumulator``), an optional
extra: ``pip install 'vertex-track[tensorboard]'``. Without it, a log folder
holding event files is reported once in the pipeline's log and skipped.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import fsspec
from fsspec.implementations.local import LocalFileSystem

__all__ = ["Scalar", "has_event_files", "read_scalars"]


@dataclass(frozen=True)
class Scalar:
    tag: str
    step: int
    wall_time: float
    value: float


def _event_files(fs: fsspec.AbstractFileSystem, path: str) -> list[str]:
    try:
        return [p for p in fs.find(path) if "tfevents" in p.rsplit("/", 1)[-1]]
    except (FileNotFoundError, OSError):
        return []


def has_event_files(uri: str) -> bool:
    fs, path = fsspec.core.url_to_fs(uri)
    return bool(_event_files(fs, path))


def read_scalars(uri: str) -> list[Scalar]:
    """Every scalar in the event files under ``uri`` (a folder; subfolders are runs).

    A scalar of a subfolder ``train`` with tag ``loss`` is named ``train/loss``.

    Raises:
        ImportError: TensorBoard is not installed.
    """
    try:
        from tensorboard.backend.event_processing import event_accumulator
    except ImportError:
        raise ImportError(
            "importing TensorBoard scalars needs the tensorboard package: "
            "pip install 'vertex-track[tensorboard]'"
        ) from None
    fs, path = fsspec.core.url_to_fs(uri)
    files = _event_files(fs, path)
    if not files:
        return []
    with tempfile.TemporaryDirectory(prefix="vt-tb-") as tmp:
        if isinstance(fs, LocalFileSystem):
            root = Path(path)
        else:
            root = Path(tmp)
            for f in files:
                rel = f[len(path.rstrip("/")) + 1:]
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                fs.get(f, str(root / rel))
        folders = sorted({Path(f).parent for f in (
            files if isinstance(fs, LocalFileSystem)
            else [str(root / f[len(path.rstrip('/')) + 1:]) for f in files]
        )})
        out: list[Scalar] = []
        for folder in folders:
            rel = folder.relative_to(root).as_posix()
            acc = event_accumulator.EventAccumulator(
                str(folder), size_guidance={event_accumulator.SCALARS: 0}
            )
            acc.Reload()
            for tag in acc.Tags().get("scalars", []):
                name = tag if rel in ("", ".") else f"{rel}/{tag}"
                for ev in acc.Scalars(tag):
                    out.append(Scalar(name, int(ev.step), float(ev.wall_time), float(ev.value)))
        return out
