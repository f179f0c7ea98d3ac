"""JSON responses: strict JSON (no NaN/Infinity), datetimes as RFC 3339."""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
from collections.abc import Mapping
from typing import Any

from fastapi.responses import JSONResponse


def clean(value: Any) -> Any:
    """``value`` with NaN/infinite floats as ``None``, datetimes as ISO strings, enums as values.

    Browsers' ``JSON.parse`` rejects ``NaN``; pandas puts NaN where a run lacks
    a metric, so every response passes through here.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, enum.Enum):
        return clean(value.value)
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            return clean(item())
        except (TypeError, ValueError):
            pass
    return str(value)


class StrictJSONResponse(JSONResponse):
    """A JSONResponse that never emits NaN (cleaned first) and keeps non-ASCII text as is."""

    def render(self, content: Any) -> bytes:
        return json.dumps(
            clean(content), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode("utf-8")
