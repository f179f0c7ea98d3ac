"""The tracking writer: one background thread per process that commits records in batches.

Why a background writer: a tracked task must not wait for the database. The
task thread only queues its record (plain row tuples, microseconds); the
writer waits up to :data:`LINGER_S` for a batch to fill (at most
:data:`MAX_BATCH` records), then commits it in ONE transaction, so many task
runs share a commit (SQLite's per-commit cost dominates otherwise). A task's
end record is merged into its RUNNING record while that is still queued, so a
short task is one row written, not an insert and an update.

Nothing is lost:
- :func:`flush` waits until everything queued before it is committed (the
  writer stops lingering for it). The
  tracked flow wrapper flushes before the flow call returns, a task running in
  a process without its flow (a Dask worker) flushes before the task returns,
  every store read in this process flushes first (read-your-writes), and an
  ``atexit`` hook flushes at interpreter exit.
- A batch that fails is retried record by record, so one bad record cannot
  take others with it; a record that still fails is reported (policy
  ``"warn"``) or raised from the next flush (policy ``"raise"``).
- A store that is unavailable (a database outage, a lost connection) is
  retried by the store for its ``retry_timeout``; then the batch goes to the
  local spool (:mod:`.spool`), durably, and counts as written: nothing is
  lost, so neither policy reports an error, and one warning says where the
  records are. Later batches of that store follow it into the spool (order
  is kept) until a write succeeds; the spool is replayed before the next
  write, at :func:`flush` and at exit, or by ``vertex-track sync``. Only a
  record that can be neither written nor spooled is lost (and reported).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import warnings
from collections import deque
from typing import Any

from ..exceptions import StoreUnavailableError, TrackingError, TrackingWarning
from ..store import barrier
from ..store.base import ExecutionRow, LinkRow, TrackedRecord
from . import spool as _spool

logger = logging.getLogger("vertex_track.tracking")

MAX_BATCH = 256

#: Callables ``fn(records)`` given every batch of records the writer takes (in
#: the writer thread, after merging): what an exporter (OpenLineage) listens to.
#: They must only queue the records and return at once; empty means no cost.
listeners: list[Any] = []
#: How long the writer waits for a batch to fill before committing what it has.
LINGER_S = 0.01


class Record:
    """One queued write: an execution's state, its new links and its contexts (rows)."""

    __slots__ = ("contexts", "execution", "fresh", "links", "policy", "store", "taken")

    def __init__(
        self,
        store: Any,
        execution: ExecutionRow,
        links: tuple[LinkRow, ...],
        contexts: tuple[str, ...] = (),
        policy: str = "raise",
        *,
        fresh: bool = False,
    ) -> None:
        self.store = store
        self.execution = execution
        self.links = links
        self.contexts = contexts  # resource ids
        self.policy = policy
        self.fresh = fresh  # the execution's first record: inserted, not looked up
        self.taken = False  # set by the writer thread when it takes the record

    @property
    def name(self) -> str:
        return str(self.store.resource_name("executions", self.execution[0]))

    def tracked(self) -> TrackedRecord:
        return TrackedRecord(self.execution, self.links, self.contexts, self.fresh)


class Writer:
    """Queue + background thread. One per process (recreated after fork)."""

    def __init__(self) -> None:
        self._queue: deque[Record] = deque()
        self._cond = threading.Condition()
        self._submitted = 0
        self._done = 0
        self._thread: threading.Thread | None = None
        self._errors: list[tuple[Record, BaseException]] = []
        # Tracking failures kept for the end of their flow run: (flow run id, error).
        self._deferred: list[tuple[str, BaseException]] = []
        self._closed = False
        self._urgent = 0  # threads waiting in flush()
        self._replay_wanted = False  # flush() asks the writer thread to replay the spool
        self._outage_reported = False

    # -- producer side ------------------------------------------------------------
    def submit(self, record: Record) -> None:
        with self._cond:
            self._queue.append(record)
            self._submitted += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="vertex-track-writer", daemon=True
                )
                self._thread.start()
            queued = len(self._queue)
            if queued == 1 or queued == MAX_BATCH:  # wake the writer: a first record, a full batch
                self._cond.notify_all()

    def merge(self, record: Record, execution: ExecutionRow, links: tuple[LinkRow, ...]) -> bool:
        """Fold a later state of ``record``'s execution into it, if still queued.

        Returns False (nothing changed) once the writer has taken ``record``:
        the caller then submits a record of its own.
        """
        with self._cond:
            if record.taken:
                return False
            record.execution = execution
            if links:
                record.links = (*record.links, *links)
            return True

    @property
    def pending(self) -> int:
        return self._submitted - self._done

    def flush(self, timeout: float | None = None, *, deferred: bool | str = True) -> None:
        """Wait until every record submitted so far is committed, spooled or failed.

        If this process has spooled records, the writer then tries once to
        replay them (a store still unavailable fails at once, see the
        store's ``unavailable_hold``), so flush never waits on an outage for
        longer than the store's retry window.

        ``deferred``: which failures that tracking deferred to the end of a
        flow run to raise too: all (``True``), none (``False``: a store read's
        barrier), or those of one flow run (its id: that run's end).

        Raises:
            TrackingError: a record failed under the ``"raise"`` policy.
        """
        if threading.current_thread() is self._thread:
            return
        if self._submitted != self._done:
            with self._cond:
                target = self._submitted
                self._urgent += 1  # the writer stops lingering
                self._cond.notify_all()
                try:
                    written = self._cond.wait_for(lambda: self._done >= target, timeout=timeout)
                finally:
                    self._urgent -= 1
                if not written:
                    raise TrackingError(
                        f"tracking records were not written within {timeout} s "
                        f"({self._submitted - self._done} still queued)"
                    )
        own = _spool.own_spool()
        if own is not None and own.pending and self._thread is not None:
            with self._cond:
                self._replay_wanted = True
                self._cond.notify_all()
                self._cond.wait_for(lambda: not self._replay_wanted, timeout=timeout)
        if self._errors or (self._deferred and deferred is not False):
            self._report(deferred)

    def defer_error(self, flow_run_id: str, error: BaseException) -> None:
        """Raise ``error`` (a ``TrackingError``) when flow run ``flow_run_id`` ends, not now."""
        with self._cond:
            self._deferred.append((flow_run_id, error))

    def _report(self, with_deferred: bool | str = True) -> None:
        with self._cond:
            errors, self._errors = self._errors, []
            deferred: list[BaseException] = []
            if with_deferred is not False:
                keep = []
                for key, error in self._deferred:
                    if with_deferred is True or key == with_deferred:
                        deferred.append(error)
                    else:
                        keep.append((key, error))
                self._deferred = keep
        if deferred:
            more = f" (and {len(deferred) - 1} more)" if len(deferred) > 1 else ""
            raise TrackingError(f"{deferred[0]}{more}") from deferred[0].__cause__
        to_raise: list[tuple[Record, BaseException]] = []
        for record, exc in errors:
            what = f"execution {record.name}"
            if record.policy == "warn":
                message = f"vertex_track lost the tracking record of {what}: {exc!r}"
                warnings.warn(message, TrackingWarning, stacklevel=3)
                _prefect_log(message)
            else:
                to_raise.append((record, exc))
        if to_raise:
            record, exc = to_raise[0]
            more = f" (and {len(to_raise) - 1} more)" if len(to_raise) > 1 else ""
            raise TrackingError(
                f"vertex_track could not record execution {record.name}{more}: {exc}"
            ) from exc

    # -- consumer side ------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue) or self._replay_wanted)
                if not self._queue:  # flush() asks for a replay of the spool
                    self._cond.release()
                    try:
                        self._replay(now=True)
                    finally:
                        self._cond.acquire()
                        self._replay_wanted = False
                        self._cond.notify_all()
                    continue
                # Linger a moment for a fuller batch (one commit for many task
                # runs, and a short task's RUNNING and end records merge),
                # unless somebody waits for the records (flush).
                deadline = time.monotonic() + LINGER_S
                while len(self._queue) < MAX_BATCH and not self._urgent:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                batch: list[Record] = []
                while self._queue and len(batch) < MAX_BATCH:
                    record = self._queue.popleft()
                    record.taken = True
                    batch.append(record)
            self._write(batch)
            with self._cond:
                self._done += len(batch)
                self._cond.notify_all()

    def _write(self, batch: list[Record]) -> None:
        by_store: dict[int, list[Record]] = {}
        batch = _coalesce(batch)
        if listeners:
            _notify(batch)
        for record in batch:
            by_store.setdefault(id(record.store), []).append(record)
        for records in by_store.values():
            self._write_store(records[0].store, records)

    def _write_store(self, store: Any, records: list[Record]) -> None:
        own = _spool.own_spool()
        if own is not None and own.pending and _spool.store_key(store) in own.stores:
            # Earlier records of this store wait in the spool: they go first.
            self._replay()
            if own.pending and _spool.store_key(store) in own.stores:
                self._spool(store, records, None)
                return
        try:
            store.put_tracked([r.tracked() for r in records])
            return
        except StoreUnavailableError as exc:
            self._spool(store, records, exc)
            return
        except BaseException as exc:
            if len(records) == 1:
                self._failed(records[0], exc)
                return
        for record in records:  # isolate the bad record(s)
            try:
                store.put_tracked([record.tracked()])
            except StoreUnavailableError as exc:
                self._spool(store, [record], exc)
            except BaseException as exc:
                self._failed(record, exc)

    def _spool(self, store: Any, records: list[Record], exc: BaseException | None) -> None:
        """Keep ``records`` in the local spool; report them lost only if that fails."""
        try:
            _spool.get_spool().append(store, [r.tracked() for r in records])
        except OSError as err:
            for record in records:
                self._failed(record, err if exc is None else exc)
            return
        if not self._outage_reported:
            self._outage_reported = True
            logger.warning(
                "vertex_track: metadata store %s is unavailable (%s); tracking records are "
                "kept in %s and written when it is back (or run: vertex-track sync)",
                _spool.store_key(store)[0], exc, _spool.get_spool().path,
            )

    def _replay(self, now: bool = False) -> None:
        """Replay this process's spool to the stores it was written for (writer thread).

        ``now``: a flush asked for it, so try each store even if it is
        remembered as unavailable (one attempt, no retry window).
        """
        own = _spool.own_spool()
        if own is None or not own.pending:
            return
        if now:
            for store in list(own.stores.values()):
                retry = getattr(store, "retry_now", None)
                if retry is not None:
                    retry()
        try:
            result = own.replay()
        except OSError as exc:
            logger.warning("vertex_track: cannot read the tracking spool %s: %s", own.path, exc)
            return
        if not own.pending and self._outage_reported:
            self._outage_reported = False
            if not result.records:
                return
            logger.warning(
                "vertex_track: the metadata store is back; %d spooled tracking records "
                "were written", result.records,
            )

    def _failed(self, record: Record, exc: BaseException) -> None:
        logger.debug("tracking record failed", exc_info=exc)
        with self._cond:
            self._errors.append((record, exc))


def _coalesce(batch: list[Record]) -> list[Record]:
    """Merge records of one execution that sit in the same batch into the last one.

    Records of one execution that were submitted separately (a retry's
    RUNNING after the previous attempt's end, say) are written as one row
    with the links of all; the final state is the same.
    """
    last: dict[tuple[int, str], int] = {}
    for i, record in enumerate(batch):
        last[(id(record.store), record.execution[0])] = i
    if len(last) == len(batch):
        return batch
    merged: dict[int, list[Any]] = {}
    fresh: set[int] = set()
    out = []
    for i, record in enumerate(batch):
        j = last[(id(record.store), record.execution[0])]
        if j != i:
            merged.setdefault(j, []).extend(record.links)
            if record.fresh:
                fresh.add(j)
            continue
        if i in merged:
            record = Record(
                record.store, record.execution, (*merged[i], *record.links),
                record.contexts, record.policy, fresh=record.fresh or i in fresh,
            )
        out.append(record)
    return out


def _notify(batch: list[Record]) -> None:
    for listener in list(listeners):
        try:
            listener(batch)
        except Exception:  # an exporter's bug never costs a tracking record
            logger.debug("tracking listener failed", exc_info=True)


def _prefect_log(message: str) -> None:
    try:
        from prefect.logging import get_run_logger

        get_run_logger().warning(message)
    except Exception:
        logger.warning(message)


_writer: Writer | None = None
_writer_lock = threading.Lock()


def get_writer() -> Writer:
    global _writer
    w = _writer
    if w is None:
        with _writer_lock:
            if _writer is None:
                _writer = Writer()
            w = _writer
    return w


def flush(timeout: float | None = None, *, deferred: bool | str = True) -> None:
    """Commit every tracking record queued in this process (see module docs).

    Raises:
        TrackingError: under ``on_tracking_error="raise"``, something could not
            be recorded (``deferred`` says which deferred failures count, see
            :meth:`Writer.flush`).
    """
    w = _writer
    if w is not None:
        w.flush(timeout, deferred=deferred)


def _read_barrier() -> None:
    w = _writer
    if w is not None and (w.pending or w._errors):
        w.flush(deferred=False)


def _after_fork_in_child() -> None:
    global _writer, _writer_lock
    _writer = None
    _writer_lock = threading.Lock()


def _at_exit() -> None:
    w = _writer
    own = _spool.own_spool()
    if w is None or (
        not (w.pending or w._errors or w._deferred) and (own is None or not own.pending)
    ):
        return
    try:
        w.flush(timeout=60)
    except TrackingError as exc:
        logger.error("%s", exc)
    if own is not None and own.pending:
        logger.error(
            "vertex_track: the metadata store is still unavailable; tracking records are kept "
            "in %s. Run `vertex-track sync` when it is back to write them.", own.path,
        )


barrier.set_flush(_read_barrier)
os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_at_exit)
