"""Time series metrics of experiment runs: buffered writes, columnar reads.

Points go to table ``vt_time_series`` (one row per metric value: run
context, metric, step, wall time in microseconds, value). Writing a row per
call in its own transaction would cap logging at a few thousand points per
second, so points are **buffered in memory per run** and written in bulk
(:meth:`~vertex_track.store.base.MetadataStore.append_time_series`: one
transaction, ``executemany`` on SQLite, ``COPY`` on PostgreSQL) when:

- the buffer holds :data:`FLUSH_ROWS` points;
- the oldest buffered point is :data:`FLUSH_SECONDS` old (a background
  thread checks, so a run that logs one point and then idles is written too);
- anything reads the run's time series (``get_time_series_data_frame``,
  ``get_experiment_df``), the run ends or is deleted;
- the interpreter exits normally (``atexit``), also after an uncaught exception.

Durability: a point is on disk about :data:`FLUSH_SECONDS` after it was
logged at the latest, or as soon as the run ends. Points still buffered when the process dies
without running ``atexit`` (``SIGKILL``, ``os._exit``, a crash of the
interpreter) are lost; call :func:`flush_all` where that matters. A failed
write keeps the points buffered and raises to the caller (at exit it is
logged with the number of points lost). A forked child starts with empty
buffers: its parent's points are the parent's to write.

The default step (``step=None``) is the latest step among the run's points
(0 when there are none). It is read from the store once per run and process
and then tracked locally, so another process logging to the same run at the
same time is not seen by it: pass ``step`` explicitly in that case.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import math
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from .._time import now_micros, to_micros
from ..exceptions import InvalidArgumentError, NotFoundError
from ..resources import Context
from .records import to_scalar

__all__ = ["FLUSH_ROWS", "FLUSH_SECONDS", "flush_all", "log_points", "read_frame"]

log = logging.getLogger("vertex_track.experiments")

#: Buffered points that trigger a write.
FLUSH_ROWS = 20_000
#: Age in seconds of the oldest buffered point that triggers a write.
FLUSH_SECONDS = 2.0
#: Background write attempts before a buffer's points are given up (and logged).
MAX_BACKGROUND_FAILURES = 5


Row = tuple[str, int, int, float]  # metric, step, wall_time (µs), value


# -- wall time and step ----------------------------------------------------------------------
def wall_time_micros(wall_time: Any) -> int:
    """Microseconds since the epoch from None (now), a datetime, seconds, or a protobuf Timestamp.

    Raises:
        TypeError: another type.
        InvalidArgumentError: a non-finite number of seconds.
    """
    if wall_time is None:
        return now_micros()
    if isinstance(wall_time, dt.datetime):
        if wall_time.tzinfo is None:  # naive: local time, as datetime.timestamp() reads it
            return round(wall_time.timestamp() * 1_000_000)
        return to_micros(wall_time)
    wall_time = to_scalar(wall_time)
    if isinstance(wall_time, (int, float)) and not isinstance(wall_time, bool):
        if not math.isfinite(wall_time):
            raise InvalidArgumentError(f"wall_time must be finite, got {wall_time!r}")
        return round(wall_time * 1_000_000)
    if hasattr(wall_time, "seconds") and hasattr(wall_time, "nanos"):  # timestamp_pb2.Timestamp
        return int(wall_time.seconds) * 1_000_000 + int(wall_time.nanos) // 1000
    raise TypeError(
        "wall_time must be a datetime, seconds since the epoch (int or float) or a protobuf "
        f"Timestamp, got {type(wall_time).__name__}"
    )


def check_step(step: Any) -> int:
    if type(step) is not int:
        step = to_scalar(step)
        if isinstance(step, bool) or not isinstance(step, int):
            raise TypeError(f"step must be an int, got {type(step).__name__}")
    if not 0 <= step < 2**63:
        raise InvalidArgumentError(f"step must be >= 0 (and fit in 64 bits), got {step}")
    return int(step)


def check_points(metrics: Any) -> list[tuple[str, float]]:
    """Validate ``{name: number}``; returns (name, float) pairs.

    Raises:
        TypeError: not a dict, a key is not a string, a value is not a number.
        InvalidArgumentError: an empty or too long name, a NaN or infinite value.
    """
    if type(metrics) is not dict and not isinstance(metrics, Mapping):
        raise TypeError(f"metrics must be a dict of str to float, got {type(metrics).__name__}")
    out = []
    for key, value in metrics.items():
        # fast path (runs 10^5 times a second): a str name and a finite float
        # (x - x is 0.0 for finite x, NaN for inf and NaN)
        if type(key) is str and type(value) is float and value - value == 0.0 and 0 < len(key) <= 256:
            out.append((key, value))
            continue
        if type(key) is not str:
            raise TypeError(f"{key!r} is of type {type(key).__name__}; metric names must be str")
        if not key or len(key) > 256:
            raise InvalidArgumentError(f"metric names must be 1-256 characters, got {key!r}")
        if type(value) is not float:
            value = to_scalar(value)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(
                    f"value for metric {key!r} is of type {type(value).__name__}; time series "
                    "values must be float or int"
                )
            value = float(value)
        if not math.isfinite(value):
            raise InvalidArgumentError(
                f"value for metric {key!r} is {value!r}; time series values must be finite"
            )
        out.append((key, value))
    return out


# -- buffers ---------------------------------------------------------------------------------
class SeriesBuffer:
    """Points of one run not yet written, and what the run's default step needs."""

    def __init__(self, store: Any, context: Context) -> None:
        self.store = store
        self.name = context.name
        self.resource_id = context.resource_id
        self.lock = threading.RLock()
        self.rows: list[Row] = []
        self.first_at = 0.0
        self.failures = 0
        self._max_step: int | None = None
        self._db_checked = False

    # the hot path: keep it free of I/O except every FLUSH_ROWS points
    def add(self, points: list[tuple[str, float]], step: int | None, wall_us: int) -> int:
        with self.lock:
            if step is None:
                step = self._latest_step()
            if self._max_step is None or step > self._max_step:
                self._max_step = step
            rows = self.rows
            was_empty = not rows
            if was_empty:
                self.first_at = time.monotonic()
            if len(points) == 1:
                name, value = points[0]
                rows.append((name, step, wall_us, value))
            else:
                rows.extend([(name, step, wall_us, value) for name, value in points])
            if len(rows) >= FLUSH_ROWS:
                self.flush()
        if was_empty:
            _flusher.wake()
        return step

    def _latest_step(self) -> int:
        if not self._db_checked:
            found = self.store.read_time_series([self.resource_id], latest=True)
            if self.resource_id not in found:
                raise NotFoundError(f"experiment run {self.name!r} does not exist (was it deleted?)")
            steps = [points[-1][0] for points in found[self.resource_id].values()]
            db_max = max(steps) if steps else None
            if db_max is not None and (self._max_step is None or db_max > self._max_step):
                self._max_step = int(db_max)
            self._db_checked = True
        return 0 if self._max_step is None else self._max_step

    def age(self) -> float:
        return time.monotonic() - self.first_at if self.rows else 0.0

    def flush(self) -> int:
        """Write the buffered points in one transaction; returns how many.

        Raises:
            NotFoundError: the run was deleted (its buffered points are dropped).
            StoreUnavailableError: the store cannot be written (points stay buffered).
        """
        with self.lock:
            rows = self.rows
            if not rows:
                return 0
            self.rows = []
            try:
                self.store.append_time_series(self.resource_id, rows)
            except NotFoundError as exc:
                log.error("discarding %d time series points of deleted run %s", len(rows), self.name)
                raise NotFoundError(
                    f"experiment run {self.name!r} no longer exists; {len(rows)} time series "
                    "points logged to it were discarded"
                ) from exc
            except BaseException:
                self.rows = rows + self.rows
                raise
            self.failures = 0
            return len(rows)

    def discard(self) -> None:
        with self.lock:
            self.rows = []

_registry: dict[tuple[str, str, str], SeriesBuffer] = {}
_registry_lock = threading.Lock()


def series_key(store: Any, resource_id: str) -> tuple[str, str, str]:
    return (store.uri, store.prefix, resource_id)


def buffer_for(store: Any, context: Context, key: tuple[str, str, str] | None = None) -> SeriesBuffer:
    if key is None:
        key = series_key(store, context.resource_id)
    buf = _registry.get(key)
    if buf is None:
        with _registry_lock:
            buf = _registry.get(key)
            if buf is None:
                buf = _registry[key] = SeriesBuffer(store, context)
    return buf


def log_points(
    store: Any,
    context: Context,
    metrics: Any,
    step: Any = None,
    wall_time: Any = None,
    key: tuple[str, str, str] | None = None,
) -> int | None:
    """Validate and buffer one call's points; returns the step they were logged at.

    ``key`` is :func:`series_key` of the run, when the caller has it at hand.
    """
    points = check_points(metrics)
    if step is not None:
        step = check_step(step)
    wall_us = time.time_ns() // 1000 if wall_time is None else wall_time_micros(wall_time)
    if not points:
        return step
    buf = _registry.get(key) if key is not None else None
    if buf is None:
        buf = buffer_for(store, context, key)
    return buf.add(points, step, wall_us)


def flush_run(store: Any, resource_id: str) -> int:
    buf = _registry.get(series_key(store, resource_id))
    return buf.flush() if buf is not None else 0


def forget_run(store: Any, resource_id: str) -> None:
    """Drop a run's buffer and cached state (the run was deleted or re-created)."""
    with _registry_lock:
        buf = _registry.pop(series_key(store, resource_id), None)
    if buf is not None:
        buf.discard()


def flush_all(store: Any | None = None) -> int:
    """Write every buffered point (of one store, or all); returns how many were written.

    Raises:
        the first error met, after trying every buffer.
    """
    written, first_error = 0, None
    for buf in list(_registry.values()):
        if store is not None and (buf.store.uri, buf.store.prefix) != (store.uri, store.prefix):
            continue
        try:
            written += buf.flush()
        except Exception as exc:
            first_error = first_error or exc
    if first_error is not None:
        raise first_error
    return written


def pending_points() -> int:
    return sum(len(b.rows) for b in list(_registry.values()))


class _Flusher:
    """One daemon thread that writes buffers whose oldest point is FLUSH_SECONDS old.

    It runs only while some buffer holds points and exits when none does.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def wake(self) -> None:
        with self.lock:
            if self.thread is None:
                self.thread = threading.Thread(
                    target=self._run, name="vertex-track-time-series", daemon=True
                )
                self.thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS / 4)
            with self.lock:
                buffers = [b for b in list(_registry.values()) if b.rows]
                if not buffers:
                    self.thread = None
                    return
            for buf in buffers:
                if buf.age() < FLUSH_SECONDS:
                    continue
                try:
                    buf.flush()
                except NotFoundError:
                    pass  # logged by flush; points of a deleted run
                except Exception as exc:
                    buf.failures += 1
                    if buf.failures >= MAX_BACKGROUND_FAILURES:
                        with buf.lock:
                            lost, buf.rows = len(buf.rows), []
                        log.error(
                            "giving up writing %d time series points of %s after %d attempts: %s",
                            lost, buf.name, buf.failures, exc,
                        )
                    else:
                        log.warning("could not write time series points of %s yet: %s", buf.name, exc)


_flusher = _Flusher()


def _flush_at_exit() -> None:
    for buf in list(_registry.values()):
        try:
            buf.flush()
        except Exception as exc:
            log.error("lost %d time series points of %s at exit: %s", len(buf.rows), buf.name, exc)


def _reset_after_fork() -> None:
    global _registry_lock, _flusher
    _registry.clear()  # the parent writes its own points
    _registry_lock = threading.Lock()
    _flusher = _Flusher()


atexit.register(_flush_at_exit)
os.register_at_fork(after_in_child=_reset_after_fork)


# -- reading -------------------------------------------------------------------------------------
_POINT_DTYPE = [("step", "i8"), ("wall_time", "i8"), ("value", "f8")]


def read_frame(store: Any, context: Context) -> Any:
    """All time series of a run as a DataFrame: ``step``, ``wall_time``, one column per metric.

    One row per distinct (step, wall_time), sorted by them, as the Vertex SDK
    builds it (points logged in one call share a row); when a metric has
    several values on one row the first logged wins. Metric columns are in
    name order; a metric missing on a row is NaN. ``wall_time`` is a UTC
    ``datetime64`` column.

    Raises:
        NotFoundError: the run was deleted.
    """
    pd = require_pandas("get_time_series_data_frame")
    import numpy as np

    flush_run(store, context.resource_id)
    found = store.read_time_series([context.resource_id])
    if context.resource_id not in found:
        raise NotFoundError(f"experiment run {context.name!r} does not exist (was it deleted?)")
    series = found[context.resource_id]
    names = sorted(series)
    if not names:
        return pd.DataFrame({"step": pd.Series([], dtype="int64"),
                             "wall_time": pd.to_datetime(pd.Series([], dtype="int64"), unit="us", utc=True)})
    parts = [np.array(series[name], dtype=_POINT_DTYPE) for name in names]
    codes = np.concatenate([np.full(len(p), i, dtype=np.int64) for i, p in enumerate(parts)])
    # The store returns each metric's points by step, then recording order, so
    # the position within a metric breaks (step, wall_time) ties: first logged wins.
    seq = np.concatenate([np.arange(len(p), dtype=np.int64) for p in parts])
    pts = np.concatenate(parts)
    order = np.lexsort((seq, codes, pts["wall_time"], pts["step"]))
    pts, codes = pts[order], codes[order]
    step, wall = pts["step"], pts["wall_time"]
    new_row = np.empty(len(pts), dtype=bool)
    new_row[0] = True
    new_row[1:] = (step[1:] != step[:-1]) | (wall[1:] != wall[:-1])
    row_of = np.cumsum(new_row) - 1
    first = new_row.copy()  # first point of each (row, metric): the first logged wins
    first[1:] |= codes[1:] != codes[:-1]
    table = np.full((int(row_of[-1]) + 1, len(names)), np.nan)
    table[row_of[first], codes[first]] = pts["value"][first]
    columns: dict[str, Any] = {
        "step": step[new_row],
        "wall_time": pd.to_datetime(wall[new_row], unit="us", utc=True),
    }
    for i, name in enumerate(names):
        columns[name] = table[:, i]
    return pd.DataFrame(columns)


def latest_values(store: Any, run_ids: list[str]) -> dict[str, dict[str, float]]:
    """``{run resource id: {metric: value at its latest step}}`` in one read."""
    if not run_ids:
        return {}
    found = store.read_time_series(run_ids, latest=True)
    return {
        rid: {metric: points[-1][2] for metric, points in series.items()}
        for rid, series in found.items() if series
    }


def require_pandas(what: str) -> Any:
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError(
            f"{what} returns a pandas DataFrame and pandas is not installed: "
            "pip install 'vertex-track[pandas]'"
        ) from exc
    return pd
