"""The options every ``list`` command takes, and the paging they drive."""

from __future__ import annotations

import itertools
from typing import Any, Optional

import typer

from ._output import stderr

DEFAULT_LIMIT = 50
DEFAULT_ORDER = "create_time desc"
PAGE_MAX = 10_000  # the largest page_size the store serves

FilterOpt = typer.Option(
    None, "--filter", "-f",
    help='Vertex filter, e.g. \'display_name = "*train*" AND create_time > "2024-01-01T00:00:00Z"\'.',
)
LimitOpt = typer.Option(
    DEFAULT_LIMIT, "--limit", "-n", min=0, help="Show at most this many (0: all).",
)
OrderOpt = typer.Option(
    DEFAULT_ORDER, "--order-by",
    help='Sort order, "field \\[asc|desc], ..." (create_time, update_time, display_name, ...).',
)
JsonOpt = typer.Option(False, "--json", help="Print stable JSON for scripts (see docs/cli.md).")


def sortable_fields(kind: str) -> list[str]:
    """The fields ``--order-by`` takes for a resource kind."""
    from ..query.filters import ORDER_FIELDS

    name, *rest = ORDER_FIELDS[kind]
    return [name, "resource_id", *rest]  # the store sorts by resource_id too


def check_order_by(kind: str, order_by: Optional[str], what: str | None = None) -> None:
    """Reject an ``--order-by`` field the listing cannot sort by, naming the ones it can.

    Raises:
        InvalidArgumentError: an unknown field (exit 2), with the sortable fields.
    """
    if not order_by:
        return
    from ..exceptions import InvalidArgumentError
    from ._common import suggestions

    allowed = sortable_fields(kind)
    for part in order_by.split(","):
        words = part.split()
        if words and words[0] not in allowed:
            close = suggestions(words[0], allowed, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InvalidArgumentError(
                f"--order-by: {words[0]!r} is not a field {what or kind} can be sorted by; "
                f"{hint}sortable fields: {', '.join(allowed)} (each optionally followed by "
                "asc or desc, e.g. --order-by 'display_name asc, create_time desc')"
            )


def fetch(
    cls: Any, filter: Optional[str], limit: int, order_by: Optional[str], what: str | None = None
) -> tuple[list[Any], bool]:
    """Up to ``limit`` matches (all for 0) and whether more exist."""
    check_order_by(cls.kind, order_by, what)
    if limit == 0:
        return list(cls.iter(filter, order_by, page_size=1000)), False
    if limit > PAGE_MAX:
        # More than one page of the store may hold: walk pages up to the limit
        # (the store's page_size bound is not the user's business).
        items = list(itertools.islice(cls.iter(filter, order_by, page_size=PAGE_MAX), limit + 1))
        return items[:limit], len(items) > limit
    page = cls.list(filter, order_by, page_size=limit)
    return list(page), page.next_page_token is not None


def more_hint(shown: int, more: bool, json_mode: bool) -> None:
    if more and not json_mode:
        stderr(f"(showing the first {shown}; more match: use --limit 0 for all, or --filter)")
    elif more:
        stderr(f"(first {shown} only; more match: use --limit 0 for all)")
