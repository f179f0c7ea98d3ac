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

#: The exact string escaping both encoders apply, for scalar fast paths.
encode_str = json.encoder.encode_basestring  # type: ignore[attr-defined]


class _Encoder(json.JSONEncoder):
    """``json.JSONEncoder`` whose :meth:`encode` goes straight to the C encoder.

    The standard ``encode`` reaches the same C encoder through ``iterencode``
    (two Python calls and a closure per value); this skips them. The text and
    the errors are the same. Without the C accelerator, the standard path.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        make = json.encoder.c_make_encoder  # type: ignore[attr-defined]
        self._make = make if make is not None and self.indent is None else None
        self._args = (
            self.default,
            json.encoder.encode_basestring_ascii if self.ensure_ascii else encode_str,  # type: ignore[attr-defined]
            self.indent, self.key_separator, self.item_separator, self.sort_keys,
            self.skipkeys, self.allow_nan,
        )

    def encode(self, o: Any) -> str:
        make = self._make
        if make is None or isinstance(o, str):
            return super().encode(o)
        # A new encoder per value, as iterencode makes: its circular-reference
        # markers must start empty (an error leaves them behind).
        return "".join(make({} if self.check_circular else None, *self._args)(o, 0))


COMPACT = _Encoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
CANONICAL = _Encoder(ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"))

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
