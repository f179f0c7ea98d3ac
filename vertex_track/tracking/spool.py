"""The spool: tracking records kept on local disk while the metadata store is unavailable.

When the tracking writer cannot commit a batch within the store's retry
window (``retry_timeout``), it appends the batch to this process's spool
file, ``$VERTEX_TRACK_HOME/spool/<host>-<pid>-<start>.jsonl``: one JSON line
per batch, flushed and fsynced before the writer moves on, so a record is
on disk before the task that made it is reported done. Nothing in a line is
secret: the store is named by its URI with the password removed.

Replay (:func:`replay`) writes the lines back in order with
``put_tracked(..., replay=True)``, which is idempotent: an execution already
stored is updated (never to an earlier state), an event already stored is
not added again, an artifact already stored is linked. A file is removed
once every line of it is written; a line that cannot be written yet stays,
in order, for the next replay. Replays take an exclusive ``flock`` on the
file, so the process that owns it, ``vertex-track sync`` and other
processes never replay or append to it at the same time.

The writer replays its own file before its next write to that store (so
records reach the store in the order they were made), when flushed (the end
of a tracked flow) and at exit; ``vertex-track sync`` replays every file.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import config
from ..exceptions import StoreUnavailableError
from ..store.base import TrackedRecord

logger = logging.getLogger("vertex_track.tracking")

FORMAT = 1


def spool_dir() -> Path:
    """Where spool files are: ``$VERTEX_TRACK_HOME/spool``."""
    return config.home() / "spool"


def store_key(store: Any) -> tuple[str, str]:
    """How a spool line names its store: (URI without password, resource name prefix)."""
    from ..store import redact_uri

    return redact_uri(store.uri), store.prefix


def _encode(records: Sequence[TrackedRecord]) -> list[Any]:
    return [[list(r.execution), [list(link) for link in r.links], list(r.contexts), r.fresh]
            for r in records]


def _decode(data: list[Any]) -> list[TrackedRecord]:
    out = []
    for execution, links, contexts, fresh in data:
        out.append(TrackedRecord(
            tuple(execution),  # type: ignore[arg-type]
            tuple(
                (kind, label, a if isinstance(a, str) else tuple(a)) for kind, label, a in links
            ),
            tuple(contexts),
            bool(fresh),
        ))
    return out


@contextmanager
def _locked(path: Path, create: bool) -> Iterator[Any]:
    """``path`` opened for appending and reading under an exclusive lock; None if it is gone.

    After locking, the file is checked to still be the one at ``path``: a
    replay may have removed it between our open and our lock.
    """
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND | (os.O_CREAT if create else 0), 0o600)
        except FileNotFoundError:
            yield None
            return
        f = os.fdopen(fd, "a+b")
        try:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                same = os.stat(path).st_ino == os.fstat(f.fileno()).st_ino
            except FileNotFoundError:
                same = False
            if same:
                yield f
                return
        finally:
            f.close()
        if not create:
            yield None
            return


class Spool:
    """This process's spool file."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.path = spool_dir() / (
            f"{socket.gethostname()}-{os.getpid()}-{int(time.time() * 1000)}.jsonl"
        )
        self.lines = 0  # lines this process appended and has not seen replayed
        self.stores: dict[tuple[str, str], Any] = {}  # the stores of those lines, by key

    def append(self, store: Any, records: Sequence[TrackedRecord] = (), **entry: Any) -> None:
        """Append one line (a batch of ``records``, or another ``entry``); durable on return.

        Raises:
            OSError: the spool cannot be written (the records are then lost).
        """
        uri, prefix = store_key(store)
        self.stores[(uri, prefix)] = store
        line: dict[str, Any] = {"v": FORMAT, "uri": uri, "prefix": prefix, "time": time.time()}
        if records:
            line["records"] = _encode(records)
        line.update(entry)
        data = (json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
        with self.lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with _locked(self.path, create=True) as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            self.lines += 1

    @property
    def pending(self) -> bool:
        return self.lines > 0

    def replay(self) -> ReplayResult:
        """Replay this process's own file to the stores it was written for."""

        def resolve(line: dict[str, Any]) -> Any:
            return self.stores.get((line.get("uri"), line.get("prefix")))  # type: ignore[arg-type]

        with self.lock:
            result = replay_file(self.path, resolve)
            self.lines = result.left
            if not self.lines:
                self.stores.clear()
            return result


@dataclass
class ReplayResult:
    """What a replay did."""

    records: int = 0  # tracking records written
    entries: int = 0  # spool lines written
    left: int = 0  # lines kept for later (store unavailable, or another store's)
    files: list[str] = field(default_factory=list)  # files replayed completely (removed)
    errors: list[str] = field(default_factory=list)


def replay_file(
    path: Path, resolve: Callable[[dict[str, Any]], Any], result: ReplayResult | None = None
) -> ReplayResult:
    """Write the lines of ``path`` to their stores, in order; keep the ones that fail.

    ``resolve(line)`` returns the store a line belongs to, or None to leave
    the line alone. Once a line of a store fails (unavailable), the later
    lines of that store are kept too, so their order is preserved.
    """
    result = result if result is not None else ReplayResult()
    with _locked(path, create=False) as f:
        if f is None:
            return result
        f.seek(0)
        lines = f.read().splitlines()
        kept: list[bytes] = []
        down: set[tuple[str, str]] = set()
        for raw in lines:
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                # A line cut short by a crash mid-append: its batch was never
                # acknowledged as spooled, so the writer reported it.
                result.errors.append(f"{path.name}: skipped an incomplete line")
                continue
            key = (line.get("uri"), line.get("prefix"))
            store = None if key in down else resolve(line)
            if store is None:
                kept.append(raw)
                continue
            try:
                _apply(store, line)
            except StoreUnavailableError as exc:
                down.add(key)  # type: ignore[arg-type]
                kept.append(raw)
                result.errors.append(str(exc))
                continue
            except Exception as exc:  # kept for a later look (vertex-track sync shows it)
                down.add(key)  # type: ignore[arg-type]  # the order of this store's lines holds
                kept.append(raw)
                result.errors.append(f"{type(exc).__name__}: {exc}")
                continue
            result.entries += 1
            result.records += len(line.get("records", ()))
        result.left += len(kept)
        if kept:
            f.seek(0)
            f.truncate()
            f.write(b"".join(k + b"\n" for k in kept))
            f.flush()
            os.fsync(f.fileno())
        else:
            path.unlink()
            result.files.append(str(path))
    return result


def _apply(store: Any, line: dict[str, Any]) -> None:
    if "records" in line:
        store.put_tracked(_decode(line["records"]), replay=True)
    if "context_update" in line:
        from ..resources import Context

        update = line["context_update"]
        context = Context.get(update["resource_id"], store=store)
        context.update(metadata=update["metadata"])


def replay_all(resolve: Callable[[dict[str, Any]], Any]) -> ReplayResult:
    """Replay every spool file under ``$VERTEX_TRACK_HOME/spool`` (``vertex-track sync``)."""
    result = ReplayResult()
    folder = spool_dir()
    if not folder.is_dir():
        return result
    for path in sorted(folder.glob("*.jsonl")):
        replay_file(path, resolve, result)
    return result


_spool: Spool | None = None
_spool_lock = threading.Lock()


def get_spool() -> Spool:
    global _spool
    s = _spool
    if s is None:
        with _spool_lock:
            if _spool is None:
                _spool = Spool()
            s = _spool
    return s


def own_spool() -> Spool | None:
    """This process's spool if it has one (without creating it)."""
    return _spool


def _after_fork_in_child() -> None:
    global _spool, _spool_lock
    _spool = None
    _spool_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)
