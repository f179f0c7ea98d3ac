"""Time as the store keeps it: integer microseconds since the Unix epoch, UTC.

Every layer that converts between ``datetime`` and stored times uses these
functions, so a time written by one part reads back identically in another.
"""

from __future__ import annotations

import datetime as dt
import time

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = dt.timedelta(microseconds=1)


def to_micros(value: dt.datetime) -> int:
    """Microseconds since the epoch; a naive datetime is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - EPOCH) // _MICRO


def from_micros(value: int) -> dt.datetime:
    """The timezone-aware (UTC) datetime of ``value`` microseconds since the epoch."""
    return EPOCH + dt.timedelta(microseconds=value)


def now_micros() -> int:
    """The current time in microseconds since the epoch."""
    return time.time_ns() // 1000


def now() -> dt.datetime:
    """The current time, timezone-aware (UTC)."""
    return dt.datetime.now(UTC)
