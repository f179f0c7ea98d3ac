"""A short preview of an artifact's value for its page: a scalar, a table's head, an array's start.

Only small artifacts are loaded (``artifact.load()``, with its own checks:
objects of the artifact store only, digest verified, pickles only from the
trusted roots); for larger ones the preview is what tracking recorded about
the value (rows, shape, columns, dtypes). A value that cannot be read gives a
preview with the error message, never a failed page.
"""

from __future__ import annotations

import json
from typing import Any

from .views import vt_meta

MAX_LOAD_BYTES = 2_000_000
HEAD_ROWS = 10
FIRST_VALUES = 20
MAX_TEXT = 2_000
_SUMMARY_KEYS = ("rows", "shape", "columns", "dtypes")


def preview(artifact: Any) -> dict[str, Any]:
    """``{"kind": ...}``: ``value``, ``table``, ``array``, ``object``, ``summary``, ``none`` or ``error``."""
    meta = vt_meta(artifact)
    summary = {k: artifact.metadata[k] for k in _SUMMARY_KEYS if k in artifact.metadata}
    if meta.get("inline") and "value" in artifact.metadata:
        return {"kind": "value", **_value(artifact.metadata["value"])}
    if "materializer" not in meta:
        return {"kind": "none", **summary,
                "reason": "not written by vertex_track's materializers: nothing to preview"}
    size = meta.get("size")
    if not isinstance(size, (int, float)) or size > MAX_LOAD_BYTES:
        shown = f"{int(size):,} bytes" if isinstance(size, (int, float)) else "unknown size"
        return {"kind": "summary", **summary,
                "reason": f"not loaded for a preview ({shown}; the limit is "
                          f"{MAX_LOAD_BYTES:,} bytes)"}
    try:
        value = artifact.load()
    except Exception as exc:  # a preview never fails the page: say why there is none
        return {"kind": "error", **summary, "message": f"{type(exc).__name__}: {exc}"}
    try:
        return describe(value)
    except Exception as exc:
        return {"kind": "error", **summary, "message": f"{type(exc).__name__}: {exc}"}


def describe(value: Any) -> dict[str, Any]:
    """The preview of a loaded value (duck-typed: no pandas or numpy import here)."""
    if hasattr(value, "columns") and hasattr(value, "head") and hasattr(value, "dtypes"):
        head = value.head(HEAD_ROWS)
        return {
            "kind": "table", "shape": list(value.shape),
            "columns": [str(c) for c in value.columns],
            "dtypes": {str(k): str(v) for k, v in value.dtypes.items()},
            "rows": [[_scalar(x) for x in row] for row in head.itertuples(index=False)],
        }
    if hasattr(value, "shape") and hasattr(value, "dtype") and hasattr(value, "ravel"):
        flat = value.ravel()[:FIRST_VALUES]
        return {
            "kind": "array", "shape": list(value.shape), "dtype": str(value.dtype),
            "values": [_scalar(x) for x in flat.tolist()], "size": int(value.size),
        }
    if value is None or isinstance(value, (bool, int, float, str, list, tuple, dict)):
        return {"kind": "value", **_value(value)}
    text = repr(value)
    return {"kind": "object", "type": f"{type(value).__module__}.{type(value).__qualname__}",
            "repr": text[:MAX_TEXT], "truncated": len(text) > MAX_TEXT}


def _scalar(x: Any) -> Any:
    item = getattr(x, "item", None)
    if callable(item):
        try:
            x = item()
        except (TypeError, ValueError):
            pass
    return x if x is None or isinstance(x, (bool, int, float, str)) else str(x)


def _value(value: Any) -> dict[str, Any]:
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) <= MAX_TEXT:
        return {"value": value, "truncated": False}
    return {"value": None, "text": text[:MAX_TEXT], "truncated": True}
