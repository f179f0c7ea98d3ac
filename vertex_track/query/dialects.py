"""What differs between SQLite and PostgreSQL when compiling filters.

One small strategy class per backend (as Prefect keeps its
``AioSqliteQueryComponents`` / ``AsyncPostgresQueryComponents``): string
matching, byte-order comparisons and typed JSON access. Every expression these
methods return is never NULL, so the compiler can negate them with a plain
``NOT`` and still get the exact complement.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

__all__ = ["JsonType", "PostgresOps", "SqlOps", "SqliteOps", "ops_for"]

JsonType = Literal["number", "string", "bool", "any"]


def _bind(value: object, type_: sa.types.TypeEngine | None = None) -> ColumnElement:
    return sa.bindparam(None, value, type_=type_) if type_ is not None else sa.bindparam(None, value)


class SqlOps:
    """The operations the compiler needs; one subclass per dialect."""

    name = ""

    # -- strings ------------------------------------------------------------------
    def wildcard_match(self, expr: ColumnElement, parts: tuple[str, ...]) -> ColumnElement[bool]:
        """Case-sensitive match of ``expr`` against ``parts`` joined by ``*`` wildcards."""
        raise NotImplementedError

    def contains(self, expr: ColumnElement, text: str) -> ColumnElement[bool]:
        """Case-sensitive substring test (no wildcards)."""
        raise NotImplementedError

    def compare(self, expr: ColumnElement, op: str, text: str) -> ColumnElement[bool]:
        """``=``/``!=``/``<``/... on strings, in code point (byte) order on both backends."""
        value = _bind(text, sa.String())
        if op == "=":
            return expr == value
        if op == "!=":
            return expr != value
        return self._ordered(expr).operate(_OPS[op], value)  # type: ignore[no-any-return]

    def _ordered(self, expr: ColumnElement) -> ColumnElement:
        return expr

    # -- JSON -----------------------------------------------------------------------
    def json_is(self, col: ColumnElement, keys: tuple[str, ...], jtype: JsonType) -> ColumnElement[bool]:
        """True when the value at ``keys`` exists and has JSON type ``jtype``."""
        raise NotImplementedError

    def json_text(self, col: ColumnElement, keys: tuple[str, ...]) -> ColumnElement:
        """The value at ``keys`` as text; only meaningful where it is a JSON string."""
        raise NotImplementedError

    def json_number_compare(
        self, col: ColumnElement, keys: tuple[str, ...], op: str, number: str
    ) -> ColumnElement[bool]:
        """The value at ``keys`` is a JSON number and compares ``op`` to ``number``."""
        raise NotImplementedError

    def json_bool_is(self, col: ColumnElement, keys: tuple[str, ...], value: bool) -> ColumnElement[bool]:
        """The value at ``keys`` is the JSON boolean ``value``."""
        raise NotImplementedError

    def json_nonempty_object(self, col: ColumnElement) -> ColumnElement[bool]:
        raise NotImplementedError


_OPS = {
    "=": sa.sql.operators.eq,
    "!=": sa.sql.operators.ne,
    "<": sa.sql.operators.lt,
    "<=": sa.sql.operators.le,
    ">": sa.sql.operators.gt,
    ">=": sa.sql.operators.ge,
}


_UNSAFE_IN_PATH = re.compile(r'["\\\x00-\x1f]')


class SqliteOps(SqlOps):
    """SQLite: GLOB (case-sensitive, unlike LIKE), instr(), json_type()/json_extract()."""

    name = "sqlite"

    def wildcard_match(self, expr: ColumnElement, parts: tuple[str, ...]) -> ColumnElement[bool]:
        # GLOB's own metacharacters are * ? [ ; a literal one is written as a
        # one-character class. "]" alone is literal outside a class.
        def esc(text: str) -> str:
            return text.replace("[", "[[]").replace("*", "[*]").replace("?", "[?]")

        pattern = "*".join(esc(p) for p in parts)
        return expr.op("GLOB", is_comparison=True)(_bind(pattern, sa.String()))

    def contains(self, expr: ColumnElement, text: str) -> ColumnElement[bool]:
        return sa.func.instr(expr, _bind(text, sa.String())) > 0

    # JSON paths: $."a"."b". A SQLite path cannot quote a key that holds a
    # double quote or a backslash (nor, safely, control characters); such a
    # key is looked up with json_each() in a correlated subquery that yields
    # the member re-encoded as JSON text.
    def _locate(self, col: ColumnElement, keys: tuple[str, ...]) -> tuple[ColumnElement, str]:
        expr: ColumnElement = col
        path = "$"
        for key in keys:
            if not _UNSAFE_IN_PATH.search(key):
                path += '."' + key + '"'
                continue
            each = sa.func.json_each(expr, _bind(path, sa.String())).table_valued(
                "key", "value", "type"
            ).alias("je")
            member = sa.case(
                (each.c.type.in_(("object", "array")), each.c.value),
                (each.c.type == "true", "true"),
                (each.c.type == "false", "false"),
                else_=sa.func.json_quote(each.c.value),
            )
            expr = (
                sa.select(member).select_from(each)
                .where(each.c.key == _bind(key, sa.String())).scalar_subquery()
            )
            path = "$"
        return expr, path

    _TYPES = {
        "number": ("integer", "real"),
        "string": ("text",),
        "bool": ("true", "false"),
    }

    def _type(self, col: ColumnElement, keys: tuple[str, ...]) -> ColumnElement:
        expr, path = self._locate(col, keys)
        return sa.func.coalesce(sa.func.json_type(expr, _bind(path, sa.String())), "")

    def json_is(self, col: ColumnElement, keys: tuple[str, ...], jtype: JsonType) -> ColumnElement[bool]:
        type_expr = self._type(col, keys)
        if jtype == "any":
            return type_expr != ""
        return type_expr.in_(self._TYPES[jtype])

    def json_text(self, col: ColumnElement, keys: tuple[str, ...]) -> ColumnElement:
        expr, path = self._locate(col, keys)
        return sa.func.json_extract(expr, _bind(path, sa.String()), type_=sa.String())

    def json_number_compare(
        self, col: ColumnElement, keys: tuple[str, ...], op: str, number: str
    ) -> ColumnElement[bool]:
        expr, path = self._locate(col, keys)
        value = sa.func.json_extract(expr, _bind(path, sa.String()), type_=sa.Float())
        try:
            as_int = int(number)
            bound: object = as_int if -(2**63) <= as_int < 2**63 else float(number)
        except ValueError:
            bound = float(number)
        # SQLite never raises on a type mismatch; the type test keeps strings
        # ("5") and booleans (stored as 1/0) from matching.
        return sa.and_(
            self.json_is(col, keys, "number"), value.operate(_OPS[op], sa.bindparam(None, bound))
        )

    def json_bool_is(self, col: ColumnElement, keys: tuple[str, ...], value: bool) -> ColumnElement[bool]:
        return self._type(col, keys) == ("true" if value else "false")

    def json_nonempty_object(self, col: ColumnElement) -> ColumnElement[bool]:
        return sa.func.json(col, type_=sa.String()) != "{}"


class PostgresOps(SqlOps):
    """PostgreSQL: LIKE (case-sensitive), strpos(), COLLATE "C", jsonb functions."""

    name = "postgresql"

    def wildcard_match(self, expr: ColumnElement, parts: tuple[str, ...]) -> ColumnElement[bool]:
        def esc(text: str) -> str:
            return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")

        pattern = "%".join(esc(p) for p in parts)
        return expr.like(_bind(pattern, sa.String()), escape="!")

    def contains(self, expr: ColumnElement, text: str) -> ColumnElement[bool]:
        return sa.func.strpos(expr, _bind(text, sa.String())) > 0

    def _ordered(self, expr: ColumnElement) -> ColumnElement:
        # The database collation may sort "B" after "a"; "C" is code point
        # order, the order SQLite's BINARY collation gives.
        return sa.collate(expr, "C")

    @staticmethod
    def _keys(keys: tuple[str, ...]) -> list[ColumnElement]:
        return [_bind(k, sa.Text()) for k in keys]

    _TYPES = {"number": "number", "string": "string", "bool": "boolean"}

    def _typeof(self, col: ColumnElement, keys: tuple[str, ...]) -> ColumnElement:
        return sa.func.coalesce(
            sa.func.jsonb_typeof(sa.func.jsonb_extract_path(col, *self._keys(keys))), ""
        )

    def json_is(self, col: ColumnElement, keys: tuple[str, ...], jtype: JsonType) -> ColumnElement[bool]:
        if jtype == "any":
            return self._typeof(col, keys) != ""
        return self._typeof(col, keys) == self._TYPES[jtype]

    def json_text(self, col: ColumnElement, keys: tuple[str, ...]) -> ColumnElement:
        return sa.func.jsonb_extract_path_text(col, *self._keys(keys), type_=sa.Text())

    def json_number_compare(
        self, col: ColumnElement, keys: tuple[str, ...], op: str, number: str
    ) -> ColumnElement[bool]:
        try:
            bound = Decimal(number)
        except InvalidOperation:  # pragma: no cover - the grammar only lets numbers through
            return sa.false()
        # The CASE guarantees the cast only sees JSON numbers (PostgreSQL does
        # not promise to evaluate AND operands in order); NUMERIC holds any
        # JSON number, so there is no overflow either.
        guard = self.json_is(col, keys, "number")
        value = sa.case(
            (guard, sa.cast(self.json_text(col, keys), sa.Numeric())), else_=sa.null()
        )
        return sa.and_(guard, value.operate(_OPS[op], sa.cast(_bind(bound, sa.Numeric()), sa.Numeric())))

    def json_bool_is(self, col: ColumnElement, keys: tuple[str, ...], value: bool) -> ColumnElement[bool]:
        return sa.and_(
            self.json_is(col, keys, "bool"),
            self.json_text(col, keys) == ("true" if value else "false"),
        )

    def json_nonempty_object(self, col: ColumnElement) -> ColumnElement[bool]:
        from sqlalchemy.dialects.postgresql import JSONB

        return col != sa.cast(_bind("{}", sa.Text()), JSONB())


_OPS_BY_DIALECT: dict[str, SqlOps] = {"sqlite": SqliteOps(), "postgresql": PostgresOps()}


def ops_for(dialect_name: str) -> SqlOps:
    """The strategy for ``dialect_name`` ('sqlite' or 'postgresql')."""
    try:
        return _OPS_BY_DIALECT[dialect_name]
    except KeyError:
        raise ValueError(
            f"filters support the sqlite and postgresql dialects, not {dialect_name!r}"
        ) from None
