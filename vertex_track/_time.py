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


# The text of the last whole second iso() formatted: (seconds, "YYYY-MM-DDTHH:MM:SS").
# One tuple, replaced whole, so threads never see a second with another's text.
_last_second: tuple[int, str] = (0, "1970-01-01T00:00:00")


def iso(micros: int) -> str:
    """RFC 3339 text of ``micros`` (microseconds since the epoch, UTC), exactly
    ``from_micros(micros).isoformat()``: ``2024-01-01T12:00:00.000250+00:00``,
    without the fraction when it is zero.

    Runs twice per tracked call: the date and time of day are formatted once
    per second, and building the datetime (a timedelta of that many
    microseconds) is skipped.
    """
    global _last_second
    seconds, fraction = divmod(micros, 1_000_000)
    last = _last_second
    if last[0] != seconds:
        last = _last_second = (seconds, from_micros(seconds * 1_000_000).isoformat()[:-6])
    if fraction:
        return f"{last[1]}.{fraction:06d}+00:00"
    return last[1] + "+00:00"


def now_micros() -> int:
    """The current time in microseconds since the epoch."""
    return time.time_ns() // 1000


def now() -> dt.datetime:
    """The current time, timezone-aware (UTC)."""
    return dt.datetime.now(UTC)
