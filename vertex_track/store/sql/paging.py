"""``list()`` and ``count()``: filters, sort order and keyset page tokens.

A page token is the sort key of the last row returned (its ``order_by``
values and primary key) plus a hash of the query, base64url-encoded JSON: the
next page is the rows strictly after that key, so pages stay consistent while
rows are added, and a token cannot be replayed against another query.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from sqlalchemy import Table, and_, bindparam, func, or_, select

from ..._json import dumps, loads
from ...exceptions import InvalidArgumentError
from ...query.filters import parse_order_by
from . import tables as t
from .core import SqlCore
from .filters import compile_filter
from .rows import rows_to_resources

__all__ = [
    "MAX_PAGE_SIZE",
    "ORDER_FIELDS",
    "Listing",
    "check_page_size",
    "decode_token",
    "encode_token",
    "keyset_after",
    "order_columns",
    "query_key",
    "where",
]

#: ``order_by`` field -> the column it sorts by (``name`` sorts like the resource id).
ORDER_FIELDS = {
    "name": "resource_id",
    "resource_id": "resource_id",
    "display_name": "display_name",
    "schema_title": "schema_title",
    "schema_version": "schema_version",
    "state": "state",
    "uri": "uri",
    "create_time": "create_time",
    "update_time": "update_time",
}
MAX_PAGE_SIZE = 10_000
_DEFAULT_ORDER = [("create_time", False), ("resource_id", False)]


def check_page_size(page_size: int | None) -> None:
    """Raises InvalidArgumentError unless ``page_size`` is None or 1..MAX_PAGE_SIZE."""
    if page_size is not None and (
        not isinstance(page_size, int) or isinstance(page_size, bool)
        or not 1 <= page_size <= MAX_PAGE_SIZE
    ):
        raise InvalidArgumentError(
            f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}, got {page_size!r}"
        )


def order_columns(kind: str, order_by: str | None) -> list[tuple[str, bool]]:
    """``[(column, descending), ...]`` of ``order_by`` (default: oldest first).

    Raises:
        InvalidArgumentError: see :func:`vertex_track.query.parse_order_by`.
    """
    fields = parse_order_by(kind, order_by)
    if not fields:
        return list(_DEFAULT_ORDER)
    return [(ORDER_FIELDS[field], desc) for field, desc in fields]


def query_key(kind: str, filter: str | None, order: list[tuple[str, bool]], strict: bool) -> str:
    """A short hash naming the query a page token belongs to."""
    raw = dumps([kind, filter or "", order, strict])
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def encode_token(query_key: str, values: list[Any], last_id: int) -> str:
    """The token of the page after the row with sort values ``values`` and key ``last_id``."""
    raw = dumps({"q": query_key, "v": values, "id": last_id})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str, query_key: str) -> dict[str, Any]:
    """The cursor in ``token`` (``{"v": values, "id": last_id}``).

    Raises:
        InvalidArgumentError: not a token of ``list()``, or one of another query.
    """
    try:
        padded = token + "=" * (-len(token) % 4)
        data = loads(base64.urlsafe_b64decode(padded.encode()))
        assert isinstance(data, dict) and isinstance(data["v"], list)
        assert isinstance(data["id"], int)
    except Exception as exc:
        raise InvalidArgumentError(
            f"page_token {token!r} is not a token returned by list(); pass next_page_token "
            "from the previous page"
        ) from exc
    if data.get("q") != query_key:
        raise InvalidArgumentError(
            "page_token belongs to a different query; use the same filter and order_by "
            "as the call that returned it"
        )
    return data


def keyset_after(table: Table, order: list[tuple[str, bool]], cursor: dict[str, Any]) -> Any:
    """Rows strictly after the cursor in (order..., id asc) order."""
    cols = [(table.c[col], desc) for col, desc in order] + [(table.c.id, False)]
    values = [*cursor["v"], cursor["id"]]
    alternatives = []
    for i, (col, desc) in enumerate(cols):
        equal = [cols[j][0] == bindparam(None, values[j]) for j in range(i)]
        step = col < values[i] if desc else col > values[i]
        alternatives.append(and_(*equal, step))
    return or_(*alternatives)


def where(store: SqlCore, kind: str, filter: str | None, strict: bool) -> list[Any]:
    """The WHERE clauses of the resources of ``kind`` in ``store`` matching ``filter``.

    Raises:
        FilterError: see :func:`.filters.compile_filter`.
    """
    table = t.RESOURCE_TABLES[kind]
    clauses: list[Any] = [table.c.store_id == store.store_id]
    expr = compile_filter(
        kind, filter, store_id=store.store_id, store_prefix=store.prefix,
        dialect_name=store.dialect.name, strict=strict,
    )
    if expr is not None:
        clauses.append(expr)
    return clauses


class Listing(SqlCore):
    """``list`` and ``count`` of :class:`~.store.SqlStore`."""

    def list(
        self,
        kind: str,
        *,
        filter: str | None = None,
        order_by: str | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
        strict: bool = False,
    ) -> tuple[list[Any], str | None]:
        table = t.RESOURCE_TABLES[kind]
        check_page_size(page_size)
        order = order_columns(kind, order_by)
        clauses = where(self, kind, filter, strict)
        key = query_key(kind, filter, order, strict)
        if page_token:
            clauses.append(keyset_after(table, order, decode_token(page_token, key)))
        q = select(table).where(*clauses).order_by(
            *[(table.c[col].desc() if desc else table.c[col].asc()) for col, desc in order],
            table.c.id.asc(),
        )
        if page_size is not None:
            q = q.limit(page_size + 1)
        with self.read() as conn:
            rows = conn.execute(q).all()
            more = page_size is not None and len(rows) > page_size
            if more:
                rows = rows[:page_size]
            items = rows_to_resources(self, conn, kind, rows)
        token = None
        if more:
            last = rows[-1]._mapping
            token = encode_token(key, [last[col] for col, _ in order], last["id"])
        return items, token

    def count(self, kind: str, filter: str | None = None, *, strict: bool = False) -> int:
        table = t.RESOURCE_TABLES[kind]
        q = select(func.count()).select_from(table).where(*where(self, kind, filter, strict))
        with self.read() as conn:
            return int(conn.execute(q).scalar_one())
