"""Vertex ML Metadata filters (Google AIP-160) and ``order_by``: the language.

A filter goes through three stages: the lark grammar (``grammar.lark``) and
:mod:`~vertex_track.query.parser` turn the string into a typed tree
(:mod:`~vertex_track.query.ast`); the store's filter compiler
(:mod:`vertex_track.store.sql.filters`) checks the fields for the resource
kind and builds one SQL expression, valid on SQLite and PostgreSQL, in which
every value is a bound parameter. This package knows no database.

The language, as implemented
----------------------------
Fields (``metadata``/``labels``/``events`` take a path):

======================  ===========================================================
``name``                full resource name (``projects/.../artifacts/<id>``); a name
                        of another store or kind matches nothing
``display_name``,       strings
``schema_title``,
``schema_version``,
``uri`` (artifacts)
``state``               artifacts/executions; ``LIVE`` or ``"LIVE"`` (case-sensitive)
``create_time``,        RFC 3339 in quotes, with ``Z`` or an offset:
``update_time``         ``create_time < "2020-11-19T11:30:00-04:00"``
``metadata.<k>[.<k>]    typed accessors; ``<k>`` may be quoted (``metadata."f:1"``).
.<number_value|         A record whose value has another JSON type, or no value,
string_value|           does not match (``number_value`` never matches ``"5"`` or
bool_value>``           ``true``)
``in_context("<ctx>")`` artifacts/executions directly attributed/associated
``parent_contexts:      contexts whose direct parent is ``<ctx>``; ``child_contexts:``
"<ctx>"``               contexts with that direct child. ``parent_contexts:*``: has one.
                        ``<ctx>`` is the full resource name; also (extension) a
                        context's resource id, or its display name when exactly one
                        context has it (``in_context("cherry-gorilla")``)
``labels.<key>``        extension: label value (string); ``labels:<key>`` key present
``events.type``         extension (artifacts/executions): ``events.type = INPUT`` means
                        "has at least one INPUT event"; ``!=`` means "has an event of
                        another type"
======================  ===========================================================

Operators: ``= != < <= > >=`` and ``:`` ("has"). Following AIP-160 and its
string profile (used by Google's Ad Manager API), ``:`` means

* on a string (fields, ``string_value``, ``labels.<key>``): *contains* the
  text, case-sensitively, with ``*`` taken literally;
* ``field:*``: the field is present (a string column: non-empty; a JSON
  accessor: a value of that type exists; ``labels:*``: any label);
* ``labels:<key>``: the key is present; on ``parent_contexts``/``child_contexts``:
  the list contains the context;
* on numbers, booleans, enums and timestamps: equality (AIP-160 ``m.foo:42``).

Strings: comparisons are case-sensitive and ordered by code point on both
databases. Only ``*`` is a wildcard, only inside quoted strings, and only with
``=`` and ``!=`` (``_`` and ``%`` are literal; ``\\*`` is a literal asterisk).
Escapes in quoted strings: ``\\\\ \\" \\' \\* \\n \\t \\r``.

Booleans: ``AND``; juxtaposition (``a b``, an implicit ``AND``); ``OR``, which
binds tighter than both (``a AND b OR c`` is ``a AND (b OR c)``); ``NOT x`` and
``-x`` (extension), the exact complement of ``x`` (so ``NOT metadata.k.number_value
= 1`` matches records without ``k``, while ``metadata.k.number_value != 1``
does not); parentheses up to :data:`MAX_DEPTH` levels.

``strict=True`` rejects the extensions Vertex does not document: ``NOT``/``-``,
``labels`` and ``events``.
"""

from __future__ import annotations

from ..exceptions import InvalidArgumentError
from .parser import MAX_DEPTH, parse_filter

__all__ = ["MAX_DEPTH", "ORDER_FIELDS", "parse_filter", "parse_order_by"]


ORDER_FIELDS: dict[str, tuple[str, ...]] = {
    "artifacts": ("name", "resource_id", "display_name", "schema_title", "schema_version",
                  "state", "uri", "create_time", "update_time"),
    "executions": ("name", "resource_id", "display_name", "schema_title", "schema_version",
                   "state", "create_time", "update_time"),
    "contexts": ("name", "resource_id", "display_name", "schema_title", "schema_version",
                 "create_time", "update_time"),
}
"""Fields ``order_by`` accepts per kind (``name`` and ``resource_id`` sort alike)."""

#: Fields that sort by the same key: naming both is naming one field twice.
_SAME_KEY = {"resource_id": "name"}


def parse_order_by(kind: str, order_by: str | None) -> list[tuple[str, bool]]:
    """Parse ``"field [asc|desc], ..."`` (AIP-132) into ``[(field, descending), ...]``.

    Blanks around names and commas are ignored; ``asc``/``desc`` are
    case-insensitive. ``None`` or a blank string gives ``[]`` (the caller's
    default order applies). ``name`` means the full resource name, which
    within one store sorts exactly like ``resource_id`` (both are accepted,
    as the CLI's ``--order-by`` lists them; naming both is naming one key twice).

    Raises:
        InvalidArgumentError: an unknown field for ``kind``, a field given
            twice, or a malformed term; the message names ``order_by``.
        ValueError: an unknown ``kind`` (a programming error).
    """
    if kind not in ORDER_FIELDS:
        raise ValueError(f"kind must be one of {', '.join(ORDER_FIELDS)}, not {kind!r}")
    if order_by is None:
        return []
    if not isinstance(order_by, str):
        raise InvalidArgumentError(f"order_by must be a string, got {type(order_by).__name__}")
    if not order_by.strip():
        return []
    allowed = ", ".join(ORDER_FIELDS[kind])
    result: list[tuple[str, bool]] = []
    seen: set[str] = set()
    for term in order_by.split(","):
        words = term.split()
        if not words or len(words) > 2:
            raise InvalidArgumentError(
                f"order_by term {term.strip()!r} is malformed; expected 'field' or "
                f"'field asc|desc' separated by commas, e.g. 'create_time desc, display_name'"
            )
        field = words[0]
        if field not in ORDER_FIELDS[kind]:
            raise InvalidArgumentError(
                f"order_by cannot sort {kind} by {field!r}; expected one of {allowed}"
            )
        direction = words[1].lower() if len(words) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise InvalidArgumentError(
                f"order_by direction {words[1]!r} for {field!r} must be 'asc' or 'desc'"
            )
        key = _SAME_KEY.get(field, field)
        if key in seen:
            raise InvalidArgumentError(f"order_by names {field!r} more than once")
        seen.add(key)
        result.append((field, direction == "desc"))
    return result
