"""Filter string -> typed syntax tree (:mod:`vertex_track.query.ast`), with lark.

The grammar is in ``grammar.lark`` next to this module. Parsing is LALR(1)
with lark's contextual lexer and builds the tree while parsing (no recursion
over the parse tree), and parsed filters are cached, so repeated list calls
with the same filter do not pay for parsing again.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ..exceptions import FilterError
from . import ast

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "check_strict", "parse_filter"]

MAX_DEPTH = 20
"""Deepest nesting of parentheses a filter may use."""

MAX_LENGTH = 65536
"""Longest filter string accepted (characters)."""

_TERMINAL_TEXT = {
    "NAME": "a field name or word",
    "STRING": 'a quoted string ("...")',
    "NUMBER": "a number",
    "STAR": "*",
    "LPAR": "(",
    "RPAR": ")",
    "AND": "AND",
    "OR": "OR",
    "NOT": "NOT",
    "MINUS": "-",
    "_DOT": ".",
    "_COMMA": ",",
    "LE": "<=",
    "LT": "<",
    "GE": ">=",
    "GT": ">",
    "NE": "!=",
    "EQ": "=",
    "HAS": ":",
    "$END": "the end of the filter",
}
_COMPARATORS = {"LE", "LT", "GE", "GT", "NE", "EQ", "HAS"}

_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r"}
_WILDCARD = object()


def _pos(token: Token) -> int:
    return token.start_pos or 0


def _string_value(token: Token) -> ast.StringValue:
    body = str(token)[1:-1]
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1]  # the STRING regex guarantees a following character
            if nxt == "*":
                current.append("*")
            elif nxt in _ESCAPES:
                current.append(_ESCAPES[nxt])
            else:
                raise FilterError(
                    f"unknown escape sequence '\\{nxt}' in a quoted string; write '\\\\' for "
                    "a backslash (escapes: \\\\ \\\" \\' \\* \\n \\t \\r)",
                    position=_pos(token) + 1 + i,
                    expected="an escape sequence",
                )
            i += 2
            continue
        if ch == "*":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return ast.StringValue(tuple(parts), pos=_pos(token))


def _value(token: Token) -> ast.Value:
    if token.type == "STRING":
        return _string_value(token)
    if token.type == "NUMBER":
        return ast.NumberValue(str(token), pos=_pos(token))
    if token.type == "STAR":
        return ast.StarValue(pos=_pos(token))
    return ast.TextValue(str(token), pos=_pos(token))


def _flatten(cls: Any, items: list[Any]) -> Any:
    if len(items) == 1:
        return items[0]
    flat: list[Any] = []
    for item in items:  # (a AND b) AND c -> AND(a, b, c): same meaning, shallower tree
        flat.extend(item.operands if isinstance(item, cls) else [item])
    return cls(tuple(flat))


class _ToAst(Transformer):
    """Applied by the LALR parser on each reduction (bottom-up, no recursion)."""

    def start(self, items: list[Any]) -> Any:
        return items[0] if items else None

    def expression(self, items: list[Any]) -> Any:
        return _flatten(ast.And, [i for i in items if not isinstance(i, Token)])

    def sequence(self, items: list[Any]) -> Any:
        return _flatten(ast.And, items)

    def factor(self, items: list[Any]) -> Any:
        return _flatten(ast.Or, [i for i in items if not isinstance(i, Token)])

    def negation(self, items: list[Any]) -> ast.Not:
        return ast.Not(items[1], pos=_pos(items[0]))

    def composite(self, items: list[Any]) -> Any:
        return items[1]

    def member(self, items: list[Token]) -> ast.Member:
        segments = []
        for tok in items:
            if tok.type == "STRING":
                value = _string_value(tok)
                segments.append(ast.Segment(value.text, quoted=True, pos=_pos(tok)))
            else:
                segments.append(ast.Segment(str(tok), pos=_pos(tok)))
        return ast.Member(tuple(segments))

    def comparator(self, items: list[Token]) -> Token:
        return items[0]

    def restriction(self, items: list[Any]) -> Any:
        if len(items) == 1:
            return items[0]
        member, op, arg = items
        return ast.Comparison(member, str(op), _value(arg), op_pos=_pos(op))  # type: ignore[arg-type]

    def function(self, items: list[Any]) -> ast.Function:
        name = items[0]
        args = tuple(_value(t) for t in items[2:-1] if t is not None)
        return ast.Function(str(name), args, pos=_pos(name))


_PARSER = Lark(
    resources.files(__package__).joinpath("grammar.lark").read_text(encoding="utf-8"),
    parser="lalr",
    lexer="contextual",
    transformer=_ToAst(),
    maybe_placeholders=True,
    propagate_positions=False,
    # The grammar analysis costs ~80 ms per process; lark caches its result in
    # the temp folder (keyed by grammar and options), which CLI startup feels.
    cache=True,
)

_QUOTE_OR_PAREN = re.compile(r"""["'()]""")


def _check_depth(text: str) -> None:
    # Checked before parsing so a pathological input never reaches the parser.
    depth = 0
    i = 0
    n = len(text)
    while i < n:
        m = _QUOTE_OR_PAREN.search(text, i)
        if m is None:
            return
        ch = m.group()
        i = m.end()
        if ch == "(":
            depth += 1
            if depth > MAX_DEPTH:
                raise FilterError(
                    f"filter nests parentheses more than {MAX_DEPTH} levels deep; "
                    "simplify it (AND/OR take any number of operands without nesting)",
                    filter=text, position=m.start(), expected=f"at most {MAX_DEPTH} levels",
                )
        elif ch == ")":
            depth = max(depth - 1, 0)
        else:  # skip a quoted string; an unterminated one is reported by the parser
            j = i
            while j < n and text[j] != ch:
                j += 2 if text[j] == "\\" else 1
            i = j + 1


def _check_characters(text: str) -> None:
    # Neither database can store these in a text value; reject them here
    # rather than let the driver fail with its own error.
    nul = text.find("\x00")
    if nul >= 0:
        raise FilterError("a filter cannot contain the NUL character (\\x00)",
                          filter=text.replace("\x00", " "), position=nul,
                          expected="printable text")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise FilterError("a filter cannot contain an unpaired surrogate character",
                          filter=text.encode("utf-8", "replace").decode("utf-8"),
                          position=exc.start, expected="valid Unicode text") from None


def _describe(token: Token | None) -> str:
    if token is None or token.type == "$END":
        return "end of the filter"
    return repr(str(token))


def _expected_text(expected: set[str] | frozenset[str]) -> str:
    names = set(expected)
    shown: list[str] = []
    if names & _COMPARATORS:
        shown.append("a comparison operator (= != < <= > >= :)")
        names -= _COMPARATORS
    shown.extend(sorted({_TERMINAL_TEXT.get(n, n) for n in names}))
    return ", ".join(shown) if len(shown) < 2 else ", ".join(shown[:-1]) + " or " + shown[-1]


def _syntax_error(text: str, exc: UnexpectedInput) -> FilterError:
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream or 0
        ch = text[pos]
        if ch in "\"'":
            return FilterError(
                f"unterminated string starting at offset {pos}; close it with {ch}",
                filter=text, position=pos, expected=ch,
            )
        expected = _expected_text(exc.allowed or set())
        hint = ""
        if ch in "0123456789.-" and "NUMBER" in (exc.allowed or set()):
            hint = " (a malformed number; numbers look like 42, -0.5 or 2.997e9)"
        elif ch == "*":
            hint = ' (a "*" wildcard goes inside a quoted string, e.g. "*foo*")'
        return FilterError(
            f"unexpected character {ch!r}{hint}; expected {expected}",
            filter=text, position=pos, expected=expected,
        )
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        expected = _expected_text(exc.accepts or exc.expected)
        pos = len(text) if token.type == "$END" else _pos(token)
        hint = ""
        if token.type == "STAR":
            hint = ' (a "*" wildcard goes inside a quoted string, e.g. "*foo*")'
        return FilterError(
            f"unexpected {_describe(token)}{hint}; expected {expected}",
            filter=text, position=pos, expected=expected,
        )
    if isinstance(exc, UnexpectedEOF):
        expected = _expected_text(set(exc.expected))
        return FilterError(
            f"unexpected end of the filter; expected {expected}",
            filter=text, position=len(text), expected=expected,
        )
    return FilterError(str(exc), filter=text, position=getattr(exc, "pos_in_stream", 0) or 0)


@functools.lru_cache(maxsize=1024)
def _parse(text: str) -> ast.Node | None:
    if len(text) > MAX_LENGTH:
        raise FilterError(
            f"filter is {len(text)} characters long; the limit is {MAX_LENGTH}",
            filter=text[:80], position=0, expected=f"at most {MAX_LENGTH} characters",
        )
    _check_depth(text)
    _check_characters(text)
    try:
        node: ast.Node | None = _PARSER.parse(text)  # type: ignore[assignment]
        return node
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    except FilterError as exc:  # raised by the transformer (bad escape)
        raise FilterError(exc.reason, filter=text, position=exc.position,
                          expected=exc.expected) from None
    except Exception as exc:  # lark wraps transformer errors in VisitError
        inner = getattr(exc, "orig_exc", None)
        if isinstance(inner, FilterError):
            raise FilterError(inner.reason, filter=text, position=inner.position,
                              expected=inner.expected) from None
        raise


_EXTENSION_FIELDS = {"labels", "events"}


def check_strict(node: ast.Node | None, text: str) -> None:
    """Raise FilterError for the extensions Vertex does not document.

    Those are ``NOT``/``-``, ``labels.<key>``/``labels:<key>`` and ``events.type``.
    """
    stack = [node] if node is not None else []
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Not):
            raise FilterError(
                "NOT and '-' are extensions that strict mode rejects; rewrite the condition "
                "(e.g. '!=' instead of NOT '='), or pass strict=False",
                filter=text, position=n.pos, expected="a condition without negation",
            )
        if isinstance(n, (ast.And, ast.Or)):
            stack.extend(n.operands)
        elif isinstance(n, ast.Comparison):
            head = n.member.segments[0]
            if not head.quoted and head.name in _EXTENSION_FIELDS:
                raise FilterError(
                    f"'{head.name}' filters are an extension that strict mode rejects; "
                    "pass strict=False to use them",
                    filter=text, position=head.pos, expected="a field Vertex documents",
                )


def parse_filter(filter: str | None, strict: bool = False) -> ast.Node | None:
    """Parse a filter string into its syntax tree (cached by string).

    Args:
        filter: the filter; ``None``, ``""`` or blanks mean "no filter".
        strict: reject the extensions Vertex does not document (``NOT``/``-``,
            ``labels``, ``events``).

    Returns:
        The root node, or ``None`` for an empty filter. Field names are not
        checked here (they depend on the resource kind); see
        :func:`vertex_track.store.sql.filters.compile_filter`.

    Raises:
        FilterError: a syntax error, with ``position`` and ``expected`` set.
    """
    if filter is None:
        return None
    if not isinstance(filter, str):
        raise FilterError(f"filter must be a string, got {type(filter).__name__}")
    node = _parse(filter)
    if strict:
        check_strict(node, filter)
    return node
