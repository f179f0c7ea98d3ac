"""The filter compiler: syntax tree (:mod:`vertex_track.query.ast`) -> SQLAlchemy Core
WHERE clause over a resource table.

It checks every field against the resource kind (raising :class:`FilterError`
with the position of the offending token) and builds an expression in which
every value is a bound parameter. Dialect differences (string matching, JSON
access) are methods of :class:`.dialects.Dialect`. The language itself is
documented in :mod:`vertex_track.query.filters`.

Invariant: every expression built here is TRUE or FALSE, never NULL (JSON
look-ups are wrapped so a missing key gives FALSE). ``NOT x`` is therefore a
plain SQL ``NOT`` and is the exact complement of ``x``.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, ColumnElement, Grouping

from ..._time import EPOCH
from ...exceptions import FilterError
from ...query import ast
from ...query.parser import parse_filter
from ...types import ArtifactState, ExecutionState
from . import tables as t
from .dialects import Dialect, dialect_named

__all__ = ["FIELDS", "compile_filter", "compile_node", "parse_rfc3339"]

_COMMON = ("name", "display_name", "schema_title", "schema_version", "create_time",
           "update_time", "metadata", "labels")
FIELDS: dict[str, tuple[str, ...]] = {
    "artifacts": (*_COMMON, "state", "uri", "in_context", "events"),
    "executions": (*_COMMON, "state", "in_context", "events"),
    "contexts": (*_COMMON, "parent_contexts", "child_contexts"),
}
"""Filterable fields (and functions) per resource kind."""

_STATES = {"artifacts": ArtifactState, "executions": ExecutionState}
_ACCESSORS = {"number_value": "number", "string_value": "string", "bool_value": "bool"}
_ORDER_OPS = ("<", "<=", ">", ">=")
_EVENT_TYPES = ("INPUT", "OUTPUT")


@dataclass
class _Ctx:
    kind: str
    table: sa.Table
    text: str
    store_id: int
    prefix: str
    ops: Dialect

    def error(self, message: str, pos: int, expected: str = "") -> FilterError:
        return FilterError(message, filter=self.text, position=pos, expected=expected)


def compile_filter(
    kind: str,
    filter: str | None,
    *,
    store_id: int,
    store_prefix: str,
    dialect_name: str,
    strict: bool = False,
) -> ColumnElement[bool] | None:
    """Compile a Vertex filter into a WHERE clause over ``RESOURCE_TABLES[kind]``.

    The clause does not scope the main table to the store (the caller adds
    ``store_id``), but every subquery it contains (contexts looked up by
    name) is scoped to ``store_id``. Results are cached per argument tuple,
    so a repeated filter costs a dictionary look-up.

    Args:
        kind: ``"artifacts"``, ``"executions"`` or ``"contexts"``.
        filter: the filter string; ``None`` or blank means no filter.
        store_id: the metadata store's row id.
        store_prefix: ``projects/<p>/locations/<l>/metadataStores/<s>``; full
            resource names in the filter are resolved against it.
        dialect_name: ``"sqlite"`` or ``"postgresql"``.
        strict: reject extensions Vertex does not document.

    Returns:
        A boolean SQLAlchemy expression, or ``None`` for an empty filter.

    Raises:
        FilterError: malformed filter, or a field/operator/value ``kind`` does
            not support; ``position`` points at the offending token.
        ValueError: an unknown ``kind`` or ``dialect_name`` (a programming error).
    """
    if kind not in FIELDS:
        raise ValueError(f"kind must be one of {', '.join(FIELDS)}, not {kind!r}")
    dialect_named(dialect_name)  # an unknown one is an error even without a filter
    if filter is None:
        return None
    if not isinstance(filter, str):
        raise FilterError(f"filter must be a string, got {type(filter).__name__}")
    return _compile_cached(kind, filter, store_id, store_prefix, dialect_name, strict)


@functools.lru_cache(maxsize=512)
def _compile_cached(
    kind: str, filter: str, store_id: int, store_prefix: str, dialect_name: str, strict: bool
) -> ColumnElement[bool] | None:
    node: ast.Node | None = parse_filter(filter, strict=strict)
    if node is None:
        return None
    return compile_node(node, kind=kind, text=filter, store_id=store_id,
                        store_prefix=store_prefix, dialect_name=dialect_name)


def compile_node(
    node: ast.Node, *, kind: str, text: str, store_id: int, store_prefix: str, dialect_name: str
) -> ColumnElement[bool]:
    """Compile ``node`` (parsed from ``text``) into a WHERE clause over ``kind``'s table.

    Raises:
        FilterError: a field, operator or value that ``kind`` does not support.
    """
    ctx = _Ctx(kind, t.RESOURCE_TABLES[kind], text, store_id, store_prefix.rstrip("/"),
               dialect_named(dialect_name))
    return _compile(ctx, node)


#: Operands of one AND/OR written flat; longer ones become a balanced tree.
_FLAT = 32


def _balanced(op: Callable[..., Any], clauses: list[Any]) -> Any:
    """``op(*clauses)`` (``and_``/``or_``) as a balanced tree of parenthesized halves.

    SQLite parses ``a OR b OR c ...`` into a tree as deep as it is long and
    refuses depths over 1000 ("Expression tree is too large"); halves in
    parentheses keep the depth logarithmic, so a 1,200-term OR works on
    every backend. (``or_`` of ``or_`` clauses would be flattened back into
    one list, hence the explicit binary expression.)
    """
    if len(clauses) <= _FLAT:
        return op(*clauses)
    mid = len(clauses) // 2
    operator = operators.and_ if op is sa.and_ else operators.or_
    return BinaryExpression(
        Grouping(_balanced(op, clauses[:mid])), Grouping(_balanced(op, clauses[mid:])),
        operator, type_=sa.Boolean(),
    )


def _compile(ctx: _Ctx, node: ast.Node) -> ColumnElement[bool]:
    if isinstance(node, ast.And):
        return _balanced(sa.and_, [_compile(ctx, n) for n in node.operands])  # type: ignore[no-any-return]
    if isinstance(node, ast.Or):
        return _balanced(sa.or_, [_compile(ctx, n) for n in node.operands])  # type: ignore[no-any-return]
    if isinstance(node, ast.Not):
        return sa.not_(_compile(ctx, node.operand))
    if isinstance(node, ast.Function):
        return _function(ctx, node)
    return _comparison(ctx, node)


# -- fields ---------------------------------------------------------------------------

def _field_list(kind: str) -> str:
    names = [f for f in FIELDS[kind] if f not in ("metadata", "labels", "events", "in_context")]
    extra = ["metadata.<key>.number_value|string_value|bool_value", "labels.<key>"]
    if kind != "contexts":
        extra += ["events.type", 'in_context("<context name>")']
    return ", ".join(names + extra)


def _comparison(ctx: _Ctx, node: ast.Comparison) -> ColumnElement[bool]:
    head = node.member.segments[0]
    field = head.name
    if field == "in_context" and not head.quoted:
        raise ctx.error('in_context is a function: expected in_context("<context name>")',
                        node.op_pos, expected="(")
    if head.quoted or field not in _HANDLERS:
        raise ctx.error(
            f"unknown field {node.member.segments[0].name!r}; expected one of: "
            f"{_field_list(ctx.kind)}",
            head.pos, expected="a field name",
        )
    if field not in FIELDS[ctx.kind]:
        owners = [k for k, fields in FIELDS.items() if field in fields]
        raise ctx.error(
            f"field {field!r} is not available on {ctx.kind} (only on {' and '.join(owners)}); "
            f"expected one of: {_field_list(ctx.kind)}",
            head.pos, expected="a field name",
        )
    return _HANDLERS[field](ctx, node)


def _no_subfields(ctx: _Ctx, node: ast.Comparison) -> None:
    if len(node.member.segments) > 1:
        seg = node.member.segments[1]
        raise ctx.error(
            f"{node.member.segments[0].name} has no subfield {seg.name!r}; "
            f"expected an operator after {node.member.segments[0].name}",
            seg.pos, expected="a comparison operator",
        )


def _star_only_with_has(ctx: _Ctx, node: ast.Comparison) -> None:
    if isinstance(node.value, ast.StarValue) and node.op != ":":
        raise ctx.error(
            "a bare * is only valid after ':' (field:* tests presence); "
            'to match any text write a quoted wildcard such as "*"',
            node.value.pos, expected="a value",
        )


def _plain_text(node: ast.Comparison) -> str:
    """The value as a literal string (``*`` taken literally), for <, >, : and exact =."""
    value = node.value
    assert not isinstance(value, ast.StarValue)  # callers handle field:* first
    return value.text


def _string_condition(ctx: _Ctx, node: ast.Comparison, expr: ColumnElement,
                      present: ColumnElement[bool]) -> ColumnElement[bool]:
    """``expr`` (text, non-NULL wherever ``present``) compared per the string rules.

    ``=``/``!=`` honour ``*`` wildcards; ``<``... compare in code point order;
    ``:`` is "contains" (``field:*``: present and non-empty for columns).
    """
    _star_only_with_has(ctx, node)
    value, op, ops = node.value, node.op, ctx.ops
    if op == ":":
        if isinstance(value, ast.StarValue):
            return present
        return sa.and_(present, ops.contains(expr, _plain_text(node)))
    if op in ("=", "!=") and isinstance(value, ast.StringValue) and value.has_wildcard:
        match = ops.wildcard_match(expr, value.parts)
        return sa.and_(present, match if op == "=" else sa.not_(match))
    return sa.and_(present, ops.compare(expr, op, _plain_text(node)))


def _string_column(ctx: _Ctx, node: ast.Comparison) -> ColumnElement[bool]:
    _no_subfields(ctx, node)
    col = ctx.table.c[node.member.segments[0].name]
    if node.op == ":" and isinstance(node.value, ast.StarValue):
        return col != ""  # AIP-160: a string field is present when not empty
    return _string_condition(ctx, node, col, sa.true())


def _name_base(ctx: _Ctx, kind: str) -> str:
    return f"{ctx.prefix}/{kind}/"


def _resource_id_of(ctx: _Ctx, name: str, kind: str) -> str | None:
    base = _name_base(ctx, kind)
    if name.startswith(base):
        rid = name[len(base):]
        if rid and "/" not in rid:
            return rid
    return None


def _name(ctx: _Ctx, node: ast.Comparison) -> ColumnElement[bool]:
    _no_subfields(ctx, node)
    _star_only_with_has(ctx, node)
    col = ctx.table.c.resource_id
    base = _name_base(ctx, ctx.kind)
    value, op = node.value, node.op
    if op == ":" and isinstance(value, ast.StarValue):
        return sa.true()
    wildcard = isinstance(value, ast.StringValue) and value.has_wildcard and op in ("=", "!=")
    if op in ("=", "!=") and not wildcard:
        # The common case, kept index-friendly: the name is the prefix plus the id.
        rid = _resource_id_of(ctx, _plain_text(node), ctx.kind)
        if rid is None:
            return sa.false() if op == "=" else sa.true()
        return col == rid if op == "=" else col != rid
    if wildcard:
        assert isinstance(value, ast.StringValue)
        first = value.parts[0]
        if first.startswith(base):  # "<prefix>/artifacts/abc*": match the id alone
            parts = (first[len(base):], *value.parts[1:])
            match = ctx.ops.wildcard_match(col, parts)
            return match if op == "=" else sa.not_(match)
    full = sa.literal(base, sa.String()) + col
    return _string_condition(ctx, node, full, sa.true())


def _state(ctx: _Ctx, node: ast.Comparison) -> ColumnElement[bool]:
    _no_subfields(ctx, node)
    _star_only_with_has(ctx, node)
    enum: Any = _STATES[ctx.kind]
    allowed = ", ".join(m.value for m in enum)
    if node.op in _ORDER_OPS:
        raise ctx.error(f"state supports =, != and :, not {node.op!r}", node.op_pos,
                        expected="=, != or :")
    if isinstance(node.value, ast.StarValue):
        return sa.true()
    text = _enum_text(ctx, node.value, f"a state of {ctx.kind} ({allowed})")
    if text not in {m.value for m in enum}:
        raise ctx.error(
            f"{text!r} is not a state of {ctx.kind}; expected one of {allowed} (case-sensitive)",
            node.value.pos, expected=allowed,
        )
    col = ctx.table.c.state
    return col != text if node.op == "!=" else col == text


def _enum_text(ctx: _Ctx, value: ast.Value, what: str) -> str:
    if isinstance(value, ast.StringValue):
        if value.has_wildcard:
            raise ctx.error(f"wildcards are not supported here; expected {what}", value.pos,
                            expected=what)
        return value.text
    if isinstance(value, ast.TextValue):
        return value.text
    raise ctx.error(f"expected {what}", value.pos, expected=what)


# RFC 3339 (section 5.6); the "T" may be a space or lower case, "Z" lower case.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})\Z"
)


def parse_rfc3339(text: str) -> tuple[int, int] | None:
    """``(microseconds since the epoch, leftover nanoseconds 0..999)`` or None if invalid."""
    m = _RFC3339.match(text)
    if not m:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac, zone = m.group(7) or "", m.group(8)
    if zone in ("Z", "z"):
        tz = dt.timezone.utc
    else:
        sign = 1 if zone[0] == "+" else -1
        hh, mm = int(zone[1:3]), int(zone[4:6])
        if hh > 23 or mm > 59:
            return None
        tz = dt.timezone(sign * dt.timedelta(hours=hh, minutes=mm))
    try:
        when = dt.datetime(year, month, day, hour, minute, second, tzinfo=tz)
    except ValueError:
        return None
    micros = (when - EPOCH) // dt.timedelta(microseconds=1)
    frac = (frac + "000000000")[:9]
    return micros + int(frac[:6]), int(frac[6:9])


def _timestamp(ctx: _Ctx, node: ast.Comparison) -> ColumnElement[bool]:
    _no_subfields(ctx, node)
    _star_only_with_has(ctx, node)
    field = node.member.segments[0].name
    if isinstance(node.value, ast.StarValue):
        return sa.true()
    example = '"2020-11-19T11:30:00-04:00"'
    value = node.value
    if not isinstance(value, ast.StringValue) or value.has_wildcard:
        raise ctx.error(
            f"{field} takes an RFC 3339 timestamp in quotes, such as {example}",
            value.pos, expected="an RFC 3339 timestamp",
        )
    parsed = parse_rfc3339(value.text)
    if parsed is None:
        raise ctx.error(
            f"{value.text!r} is not an RFC 3339 timestamp; expected e.g. {example} "
            '(date, "T", time, and "Z" or an offset)',
            value.pos, expected="an RFC 3339 timestamp",
        )
    micros, nanos = parsed
    col = ctx.table.c[field]
    op = "=" if node.op == ":" else node.op
    if nanos:  # stored times have microsecond precision: round the bound the safe way
        if op == "=":
            return sa.false()
        if op == "!=":
            return sa.true()
        if op in (">", ">="):
            return col > micros
        return col <= micros
    return col.operate(_SA_OPS[op], micros)  # type: ignore[no-any-return]


_SA_OPS = {
    "=": sa.sql.operators.eq,
    "!=": sa.sql.operators.ne,
    "<": sa.sql.operators.lt,
    "<=": sa.sql.operators.le,
    ">": sa.sql.operators.gt,
    ">=": sa.sql.operators.ge,
}


def _metadata(ctx: _Ctx, node: ast.Comparison) -> ColumnElement[bool]:
    segs = node.member.segments
    accessors = ", ".join(f".{a}" for a in _ACCESSORS)
    if len(segs) < 3:
        at = segs[-1]
        what = "a key" if len(segs) == 1 else "a typed accessor"
        raise ctx.error(
            f"metadata filters need a key and a typed accessor, e.g. "
            f"metadata.<key>.number_value; expected {what} after {node.member.dotted!r} "
            f"({accessors})",
            at.pos if len(segs) > 1 else node.op_pos, expected=what,
        )
    last = segs[-1]
    if last.quoted or last.name not in _ACCESSORS:
        if not last.quoted and last.name.endswith("_value"):
            message = f"unknown accessor {last.name!r}; expected one of {accessors}"
        else:
            message = (
                f"{node.member.dotted!r} needs a typed accessor at the end; expected "
                f"{node.member.dotted}.number_value, .string_value or .bool_value"
            )
        raise ctx.error(message, last.pos, expected=accessors)
    keys = tuple(s.name for s in segs[1:-1])
    return _json_value(ctx, node, ctx.table.c.metadata, keys, _ACCESSORS[last.name])


def _json_value(ctx: _Ctx, node: ast.Comparison, col: ColumnElement, keys: tuple[str, ...],
                jtype: str) -> ColumnElement[bool]:
    ops, op, value = ctx.ops, node.op, node.value
    _star_only_with_has(ctx, node)
    if isinstance(value, ast.StarValue):
        return ops.json_is(col, keys, jtype)  # type: ignore[arg-type]
    if jtype == "number":
        if not isinstance(value, ast.NumberValue):
            raise ctx.error(
                "number_value compares with an unquoted number such as 0.9 or -3",
                value.pos, expected="a number",
            )
        return ops.json_number_compare(col, keys, "=" if op == ":" else op, value.text)
    if jtype == "bool":
        if op in _ORDER_OPS:
            raise ctx.error(f"bool_value supports =, != and :, not {op!r}", node.op_pos,
                            expected="=, != or :")
        if not isinstance(value, ast.TextValue) or value.text not in ("true", "false"):
            raise ctx.error("bool_value compares with true or false (unquoted)", value.pos,
                            expected="true or false")
        want = value.text == "true"
        return ops.json_bool_is(col, keys, (not want) if op == "!=" else want)
    return _string_condition(ctx, node, ops.json_text(col, keys), ops.json_is(col, keys, "string"))


def _labels(ctx: _Ctx, node: ast.Comparison) -> ColumnElement[bool]:
    segs, col, ops = node.member.segments, ctx.table.c.labels, ctx.ops
    if len(segs) == 1:
        if node.op != ":":
            raise ctx.error(
                "labels needs a key: expected labels.<key> = \"value\" or labels:<key>",
                node.op_pos, expected=":",
            )
        if isinstance(node.value, ast.StarValue):
            return ops.json_nonempty_object(col)
        key = _enum_text(ctx, node.value, "a label key")
        return ops.json_is(col, (key,), "any")
    if len(segs) > 2:
        raise ctx.error("labels are flat: expected labels.<key>", segs[2].pos,
                        expected="a comparison operator")
    return _json_value(ctx, node, col, (segs[1].name,), "string")


def _events(ctx: _Ctx, node: ast.Comparison) -> ColumnElement[bool]:
    segs = node.member.segments
    if len(segs) != 2 or segs[1].name != "type":
        at = segs[1].pos if len(segs) > 1 else node.op_pos
        raise ctx.error("expected events.type (= INPUT or OUTPUT)", at, expected=".type")
    _star_only_with_has(ctx, node)
    if node.op in _ORDER_OPS:
        raise ctx.error(f"events.type supports =, != and :, not {node.op!r}", node.op_pos,
                        expected="=, != or :")
    ev = t.events
    own = ev.c.artifact_id if ctx.kind == "artifacts" else ev.c.execution_id
    cond = [own == ctx.table.c.id]
    if not isinstance(node.value, ast.StarValue):
        text = _enum_text(ctx, node.value, "INPUT or OUTPUT")
        if text not in _EVENT_TYPES:
            raise ctx.error(f"{text!r} is not an event type; expected INPUT or OUTPUT",
                            node.value.pos, expected="INPUT or OUTPUT")
        # "!=" means: has at least one event of another type (a missing value never matches).
        cond.append(ev.c.type != text if node.op == "!=" else ev.c.type == text)
    return sa.exists(sa.select(sa.literal(1)).select_from(ev).where(*cond))


def _context_id(ctx: _Ctx, rid: str) -> ColumnElement:
    c = t.contexts.alias("ctx_by_name")
    return (
        sa.select(c.c.id)
        .where(c.c.store_id == ctx.store_id, c.c.resource_id == rid)
        .scalar_subquery()
    )


def _context_ref(ctx: _Ctx, value: ast.Value, what: str) -> ColumnElement | None:
    """The id (a scalar subquery) of the context ``value`` names; ``None``: it names none.

    A full resource name is the documented form. A bare word (no ``/``) is read
    as the context's resource id, else as its display name when exactly one
    context has it (an ambiguous display name matches nothing, like an unknown
    one): people type what the CLI shows them (``cherry-gorilla``).
    """
    if not isinstance(value, ast.StringValue) or value.has_wildcard:
        raise ctx.error(
            f"{what} takes a context resource name in quotes, e.g. "
            f'"{ctx.prefix}/contexts/<id>"',
            value.pos, expected="a quoted context resource name",
        )
    rid = _resource_id_of(ctx, value.text, "contexts")
    if rid is not None:
        return _context_id(ctx, rid)
    if "/" in value.text or not value.text:
        return None
    c = t.contexts.alias("ctx_by_display_name")
    by_name = (
        sa.select(sa.func.min(c.c.id))
        .where(c.c.store_id == ctx.store_id, c.c.display_name == value.text)
        .having(sa.func.count() == 1)
        .scalar_subquery()
    )
    return sa.func.coalesce(_context_id(ctx, value.text), by_name)


def _context_links(ctx: _Ctx, node: ast.Comparison) -> ColumnElement[bool]:
    _no_subfields(ctx, node)
    field = node.member.segments[0].name
    if node.op != ":":
        raise ctx.error(f'{field} supports only ":", as in {field}:"<context name>"',
                        node.op_pos, expected=":")
    pc = t.parent_contexts
    mine, other = (pc.c.child_id, pc.c.parent_id) if field == "parent_contexts" else (
        pc.c.parent_id, pc.c.child_id)
    cond = [mine == ctx.table.c.id]
    if not isinstance(node.value, ast.StarValue):
        ref = _context_ref(ctx, node.value, field)
        if ref is None:
            return sa.false()
        cond.append(other == ref)
    return sa.exists(sa.select(sa.literal(1)).select_from(pc).where(*cond))


def _function(ctx: _Ctx, node: ast.Function) -> ColumnElement[bool]:
    if node.name != "in_context":
        raise ctx.error(f"unknown function {node.name!r}; expected in_context(\"<context name>\")",
                        node.pos, expected="in_context")
    if "in_context" not in FIELDS[ctx.kind]:
        raise ctx.error(
            f"in_context() is available on artifacts and executions, not {ctx.kind}; "
            'for contexts use parent_contexts:"<name>" or child_contexts:"<name>"',
            node.pos, expected="a field name",
        )
    if len(node.args) != 1:
        at = node.args[1].pos if len(node.args) > 1 else node.pos
        raise ctx.error('in_context takes exactly one argument: in_context("<context name>")',
                        at, expected="one quoted context resource name")
    ref = _context_ref(ctx, node.args[0], "in_context")
    if ref is None:
        return sa.false()
    if ctx.kind == "artifacts":
        link, own = t.attributions, t.attributions.c.artifact_id
    else:
        link, own = t.associations, t.associations.c.execution_id
    return ctx.table.c.id.in_(sa.select(own).where(link.c.context_id == ref))


_HANDLERS: dict[str, Callable[[_Ctx, ast.Comparison], ColumnElement[bool]]] = {
    "name": _name,
    "display_name": _string_column,
    "schema_title": _string_column,
    "schema_version": _string_column,
    "uri": _string_column,
    "state": _state,
    "create_time": _timestamp,
    "update_time": _timestamp,
    "metadata": _metadata,
    "labels": _labels,
    "events": _events,
    "parent_contexts": _context_links,
    "child_contexts": _context_links,
}
