"""The typed syntax tree of a filter, independent of any table or database.

The parser (:mod:`vertex_track.query.parser`) builds these nodes; only the
compiler (:mod:`vertex_track.store.sql.filters`) knows what a field means for a
resource kind. Every node carries ``pos``, the 0-based offset in the filter
string of the token that starts it, so errors found while compiling can point
at the right place.

Nodes are frozen dataclasses (hashable, cacheable, safe to share between
threads). :func:`unparse` writes a node back as a canonical filter string with
explicit parentheses; parsing that string gives the same tree again, apart from
the positions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Union

__all__ = [
    "And",
    "Comparison",
    "Function",
    "Member",
    "Node",
    "Not",
    "NumberValue",
    "Or",
    "Segment",
    "StarValue",
    "StringValue",
    "TextValue",
    "Value",
    "unparse",
]

Op = Literal["=", "!=", "<", "<=", ">", ">=", ":"]


@dataclass(frozen=True)
class StringValue:
    """A quoted string. ``parts`` is the text split at unescaped ``*`` wildcards.

    ``"abc"`` has parts ``("abc",)``; ``"*ab*c"`` has ``("", "ab", "c")``; an
    escaped ``\\*`` is a literal asterisk and does not split.
    """

    parts: tuple[str, ...]
    pos: int = field(default=0, compare=False)

    @property
    def has_wildcard(self) -> bool:
        return len(self.parts) > 1

    @property
    def text(self) -> str:
        """The string with every ``*`` taken literally."""
        return "*".join(self.parts)


@dataclass(frozen=True)
class NumberValue:
    """An unquoted number, kept as written (``0.9``, ``-3``, ``2.997e9``)."""

    text: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class TextValue:
    """An unquoted word: an enum value (``LIVE``), ``true``/``false``, or bare text."""

    text: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class StarValue:
    """The unquoted ``*`` of ``field:*`` (the field is present)."""

    pos: int = field(default=0, compare=False)


Value = Union[StringValue, NumberValue, TextValue, StarValue]


@dataclass(frozen=True)
class Segment:
    """One step of a field path; ``quoted`` for ``"f:1"`` in ``metadata."f:1"``."""

    name: str
    quoted: bool = False
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Member:
    """A field path such as ``display_name`` or ``metadata.acc.number_value``."""

    segments: tuple[Segment, ...]

    @property
    def pos(self) -> int:
        return self.segments[0].pos

    @property
    def dotted(self) -> str:
        return ".".join(_segment_text(s) for s in self.segments)


@dataclass(frozen=True)
class Comparison:
    """``member op value``."""

    member: Member
    op: Op
    value: Value
    op_pos: int = field(default=0, compare=False)

    @property
    def pos(self) -> int:
        return self.member.pos


@dataclass(frozen=True)
class Function:
    """A function call used as a condition, e.g. ``in_context("...")``."""

    name: str
    args: tuple[Value, ...]
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Not:
    """``NOT x`` or ``-x``: the exact complement of ``x``."""

    operand: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class And:
    """All of ``operands`` (explicit ``AND`` or juxtaposition)."""

    operands: tuple[Node, ...]

    @property
    def pos(self) -> int:
        return self.operands[0].pos


@dataclass(frozen=True)
class Or:
    """Any of ``operands``."""

    operands: tuple[Node, ...]

    @property
    def pos(self) -> int:
        return self.operands[0].pos


Node = Union[Comparison, Function, Not, And, Or]


# -- unparse ------------------------------------------------------------------------

def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _segment_text(segment: Segment) -> str:
    return _quote(segment.name) if segment.quoted else segment.name


def _value_text(value: Value) -> str:
    if isinstance(value, StringValue):
        return '"' + "*".join(
            p.replace("\\", "\\\\").replace('"', '\\"').replace("*", "\\*") for p in value.parts
        ) + '"'
    if isinstance(value, StarValue):
        return "*"
    return value.text


def unparse(node: Node | None) -> str:
    """The canonical filter string for ``node`` (``""`` for ``None``)."""
    if node is None:
        return ""
    if isinstance(node, Comparison):
        return f"{node.member.dotted} {node.op} {_value_text(node.value)}"
    if isinstance(node, Function):
        return f"{node.name}({', '.join(_value_text(a) for a in node.args)})"
    if isinstance(node, Not):
        return f"NOT ({unparse(node.operand)})"
    joiner = " AND " if isinstance(node, And) else " OR "
    return joiner.join(f"({unparse(op)})" for op in node.operands)
