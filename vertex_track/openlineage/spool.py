"""OpenLineage events that could not be sent, kept on local disk until they can.

One file per process, ``$VERTEX_TRACK_HOME/spool/openlineage/<host>-<pid>-<start>.jsonl``
(beside the tracking spool, in its own folder): one event per line, in the
order they were made, flushed and fsynced. :func:`resend` sends every file in
order; a file is claimed first (renamed), so two processes never send the
same lines, and what could not be sent is written back, in order.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .. import config

_lock = threading.Lock()
_own: Path | None = None


def spool_dir() -> Path:
    """``$VERTEX_TRACK_HOME/spool/openlineage``."""
    return config.home() / "spool" / "openlineage"


def to_json(event: dict[str, Any]) -> str:
    """One event as one JSON line (keys sorted, as the OpenLineage client writes them)."""
    return json.dumps(event, sort_keys=True)


def _own_path() -> Path:
    global _own
    if _own is None or _own.parent != spool_dir():
        _own = spool_dir() / f"{socket.gethostname()}-{os.getpid()}-{int(time.time() * 1000)}.jsonl"
    return _own


def append(events: list[dict[str, Any]]) -> Path:
    """Append ``events`` to this process's spool file (durably); returns its path."""
    path = _own_path()
    with _lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            for event in events:
                f.write(to_json(event) + "\n")
            f.flush()
            os.fsync(f.fileno())
    return path


def pending() -> list[Path]:
    """Spool files waiting to be sent, oldest first."""
    folder = spool_dir()
    if not folder.is_dir():
        return []
    for claimed in folder.glob("*.jsonl.sending-*"):  # a sender that died mid-way
        pid = claimed.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            try:
                os.rename(claimed, claimed.with_name(claimed.name.split(".sending-")[0]))
            except OSError:
                pass
    return sorted(folder.glob("*.jsonl"), key=lambda p: (p.stat().st_mtime, p.name))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read(paths: list[Path] | None = None) -> Iterator[dict[str, Any]]:
    """The spooled events (without sending or removing them)."""
    for path in pending() if paths is None else paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)


def resend(send: Callable[[dict[str, Any]], None]) -> int:
    """Send every spooled event with ``send``; returns how many were sent.

    Raises:
        Exception: what ``send`` raised; the events not sent stay spooled, in order.
    """
    count = 0
    for path in pending():
        claimed = path.with_name(f"{path.name}.sending-{os.getpid()}")
        try:
            os.rename(path, claimed)
        except FileNotFoundError:
            continue  # another process took it
        with open(claimed, encoding="utf-8") as f:
            lines = [line for line in f if line.strip()]
        for i, line in enumerate(lines):
            try:
                send(json.loads(line))
            except Exception:
                with _lock, open(path, "a", encoding="utf-8") as out:
                    out.writelines(lines[i:])
                    out.flush()
                    os.fsync(out.fileno())
                claimed.unlink()
                raise
            count += 1
        claimed.unlink()
    return count
