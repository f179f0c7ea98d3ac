"""What the routers share: paging parameters, page files, filter composition."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Query
from fastapi.responses import FileResponse

from ...exceptions import FilterError

PAGES = Path(__file__).resolve().parent.parent / "static" / "pages"

PageSize = Query(50, ge=1, le=500, description="Items per page.")
PageToken = Query(None, description="The next_page_token of the previous page.")
FilterQuery = Query(None, description="A filter in vertex_track's filter language.")


def page(name: str) -> FileResponse:
    """The static HTML page ``name`` (it fetches its data from the JSON twin)."""
    return FileResponse(PAGES / name, media_type="text/html")


def and_filter(base: str, extra: str | None) -> str:
    """``base AND (extra)``; ``extra`` is the user's filter, parsed (and checked) by the store.

    Raises:
        FilterError: ``extra`` closes a parenthesis it did not open (which
            would escape the ``base`` restriction) or leaves one open.
    """
    if not extra or not extra.strip():
        return base
    _check_parentheses(extra)
    return f"{base} AND ({extra})"


def _check_parentheses(text: str) -> None:
    depth, quote_char, escaped = 0, "", False
    for i, ch in enumerate(text):
        if quote_char:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote_char:
                quote_char = ""
        elif ch in "\"'":
            quote_char = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise FilterError("unexpected ')': no '(' to close", filter=text, position=i)
    if depth > 0:
        raise FilterError("missing ')': a parenthesis is left open", filter=text,
                          position=len(text))


def user_filter_error(exc: FilterError, base: str, extra: str | None) -> FilterError:
    """``exc`` about ``base AND (extra)`` restated about ``extra``, as the user typed it."""
    offset = len(base) + len(" AND (")
    if extra and exc.filter == f"{base} AND ({extra})" and exc.position >= offset:
        return FilterError(exc.reason, filter=extra,
                           position=min(exc.position - offset, len(extra)),
                           expected=exc.expected)
    return exc


def listed(cls: Any, base: str, extra: str | None, **kwargs: Any) -> Any:
    """``cls.list(base AND (extra), **kwargs)`` with filter errors about ``extra`` alone."""
    if not base:
        return cls.list(extra if extra and extra.strip() else None, **kwargs)
    try:
        return cls.list(and_filter(base, extra), **kwargs)
    except FilterError as exc:
        raise user_filter_error(exc, base, extra) from None


def quote(value: str) -> str:
    """``value`` as a filter string literal, matched literally."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("*", "\\*")
    return f'"{escaped}"'


def listing(items: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
    return {"items": items, "next_page_token": token}
