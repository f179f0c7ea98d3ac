"""The one JSON codec: every JSON text vertex_track writes comes from here.

Two encodings, both strict (``NaN`` and infinities are refused, as JSON and
PostgreSQL's ``jsonb`` refuse them) and UTF-8 rather than ``\\u`` escapes:

- :func:`dumps`: compact, keys in the order given. What metadata columns,
  the spool and page tokens hold.
- :func:`canonical`: compact with sorted keys, so equal values give equal
  text. What content digests are computed over.
"""

from __future__ import annotations

import json
from typing import Any

COMPACT = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
CANONICAL = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
)

#: The exact string escaping both encoders apply, for scalar fast paths.
encode_str = json.encoder.encode_basestring  # type: ignore[attr-defined]

#: What encoding a value that is not JSON raises.
NOT_JSON_ERRORS = (ValueError, TypeError, UnicodeEncodeError, RecursionError)


def dumps(value: Any) -> str:
    """Compact JSON text of ``value`` (runs per stored row: ``{}`` short-cut).

    Raises:
        ValueError: ``value`` holds NaN or an infinity.
        TypeError: ``value`` holds something JSON cannot represent.
    """
    if not value and type(value) is dict:
        return "{}"
    return COMPACT.encode(value)


def canonical(value: Any) -> str:
    """Compact JSON text with sorted keys: equal values give equal text.

    Raises:
        ValueError: ``value`` holds NaN or an infinity.
        TypeError: ``value`` holds something JSON cannot represent.
    """
    return CANONICAL.encode(value)


def loads(text: str | bytes) -> Any:
    """The value of JSON ``text``."""
    return json.loads(text)
