"""How the CLI writes: rich tables on a terminal, tab-separated text when piped, JSON on demand.

The choice is made once per process from ``sys.stdout.isatty()`` (``FORCE_COLOR``
forces the terminal style, ``NO_COLOR`` keeps the layout without colours).
Plain output never contains ANSI escape codes and never wraps: one record per
line, columns separated by tabs, a header line first, so ``cut``, ``awk`` and
``sort`` work on it. ``rich`` is imported only when something is rendered for
a terminal, which keeps piped commands fast to start.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Column",
    "Id",
    "fmt_duration",
    "fmt_time",
    "fmt_value",
    "is_rich",
    "print_json",
    "print_kv",
    "print_table",
    "short_digest",
    "short_id",
    "stderr",
]


def is_rich() -> bool:
    """Whether stdout gets rich (terminal) rendering."""
    if os.environ.get("FORCE_COLOR"):
        return True
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


_consoles: dict[bool, Any] = {}


def console(err: bool = False) -> Any:
    """The rich Console for stdout (or stderr); created on first use."""
    # Not cached across calls when the stream changed (the test runner swaps
    # sys.stdout for every invocation).
    stream = sys.stderr if err else sys.stdout
    cached = _consoles.get(err)
    if cached is not None and cached.file is stream:
        return cached
    from rich.console import Console

    c = Console(file=stream, stderr=err, highlight=False, soft_wrap=False)
    _consoles[err] = c
    return c


def stderr(message: str, *, style: str | None = None) -> None:
    """A message for the person at the terminal (never on stdout, so pipes stay clean)."""
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):
        tty = False
    if tty and style:
        from rich.markup import escape

        console(err=True).print(f"[{style}]{escape(message)}[/{style}]")
    else:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()


def print_json(data: Any) -> None:
    """Indented JSON on stdout (keys in the documented order, UTF-8, one trailing newline)."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return iso(value)
    if hasattr(value, "value"):  # enums
        return value.value
    return str(value)


# -- formatting of single values ------------------------------------------------------


def iso(value: dt.datetime) -> str:
    """RFC 3339 as the library's JSON writes it (UTC with ``Z``)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


class Time(str):
    """A timestamp cell: RFC 3339 in UTC when piped, ``YYYY-MM-DD HH:MM`` (UTC) on a terminal."""

    short: str


def fmt_time(value: dt.datetime | str | None) -> str:
    """A :class:`Time` cell for ``value`` (a datetime or an RFC 3339 string); "" when unknown."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return str(value)
    assert isinstance(value, dt.datetime)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    value = value.astimezone(dt.timezone.utc)
    cell = Time(iso(value))
    cell.short = value.strftime("%Y-%m-%d %H:%M")
    return cell


def fmt_duration(seconds: float | int | None) -> str:
    """``0.42s``, ``12.3s``, ``4m05s``, ``2h03m``; empty when unknown."""
    if seconds is None or isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        return ""
    s = float(seconds)
    if s < 10:
        return f"{s:.2f}s"
    if s < 60:
        return f"{s:.1f}s"
    if s < 3600:
        m, sec = divmod(round(s), 60)
        return f"{m}m{sec:02d}s"
    h, rest = divmod(round(s), 3600)
    return f"{h}h{rest // 60:02d}m"


def short_digest(digest: str | None) -> str:
    """``sha256:0123456789ab…`` shortened to its first 12 hex digits."""
    if not digest:
        return ""
    algo, _, hexd = digest.partition(":")
    return f"{algo}:{hexd[:12]}" if hexd else digest[:19]


def fmt_value(value: Any, width: int = 60) -> str:
    """A metadata value on one line (JSON for containers), cut to ``width`` characters."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool) or value is None:
        text = json.dumps(value)
    elif isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, int):
        text = str(value)
    else:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


# -- tables ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A table column.

    ``header`` is upper-cased unless ``upper=False``. On a terminal narrower
    than the table, columns with a ``drop`` rank are left out, lowest rank
    first, until it fits; then the others shrink (with an ellipsis).
    """

    header: str
    no_wrap: bool = True
    justify: str = "left"
    max_width: int | None = None
    min_width: int | None = None
    style: str | None = None
    upper: bool = True
    drop: int | None = None

    @property
    def title(self) -> str:
        return self.header.upper() if self.upper else self.header


ID_WIDTH = 20


class Id(str):
    """A resource id cell: in full when piped, shortened to a unique-looking prefix on a terminal.

    ``show`` and ``lineage`` accept such a prefix (with or without the ``…``).
    """


def short_id(rid: str, width: int = ID_WIDTH) -> str:
    """``sha256-3bdeb4d6c1017…`` for ids longer than ``width`` + 2 characters."""
    return rid if len(rid) <= width + 2 else rid[:width] + "…"


def id_width(ids: Iterable[str], minimum: int = ID_WIDTH) -> int:
    """The shortest prefix length (>= ``minimum``) that keeps ``ids`` apart.

    Ids made from time-ordered UUIDs share long prefixes (two task runs of
    the same millisecond), so a fixed cut could show two rows alike.
    """
    distinct = set(ids)
    if not distinct:
        return minimum
    longest = max(len(i) for i in distinct)
    width = minimum
    while width < longest and len({i[:width] for i in distinct}) < len(distinct):
        width += 1
    return width


def _plain_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def print_table(
    columns: Sequence[Column],
    rows: Iterable[Sequence[Any]],
    *,
    title: str | None = None,
    plain_title: bool = False,
    empty: str = "nothing found",
) -> int:
    """Print rows; returns how many.

    Plain mode: a header line and tab-separated rows (the title only with
    ``plain_title``, as a ``# title`` line, for outputs made of several tables).
    """
    rows = list(rows)
    if not is_rich():
        out = sys.stdout
        if title and plain_title:
            out.write(f"# {title}\n")
        out.write("\t".join(c.title for c in columns) + "\n")
        for row in rows:
            out.write("\t".join(_plain_cell(v) for v in row) + "\n")
        if not rows:
            stderr(f"({empty})")
        return len(rows)
    if not rows:
        stderr(f"({empty})", style="dim")
        return 0
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    id_chars = [
        id_width(str(r[i]) for r in rows if isinstance(r[i], Id)) for i in range(len(columns))
    ]
    keep, widths = fit_columns(list(columns), rows, console().width, id_chars)
    dropped = [c.title for i, c in enumerate(columns) if i not in keep]
    table = Table(
        title=title, box=box.SIMPLE_HEAD, show_edge=False, title_justify="left",
        title_style="bold",
    )
    for i in keep:
        c = columns[i]
        table.add_column(
            c.title, no_wrap=c.no_wrap, justify=c.justify,  # type: ignore[arg-type]
            width=widths[i], style=c.style, overflow="ellipsis",
        )
    for row in rows:
        table.add_row(*[_rich_cell(row[i], escape, min(id_chars[i], widths[i] - 1))
                        for i in keep])
    console().print(table)
    if dropped:
        stderr(f"({', '.join(dropped)} left out to fit {console().width} columns; "
               "a wider terminal, a pipe or --json shows all)", style="dim")
    return len(rows)


_PAD = 3  # a column's padding and separator in the SIMPLE_HEAD box without edges


def fit_columns(
    columns: list[Column], rows: list[Sequence[Any]], width: int, id_chars: list[int]
) -> tuple[list[int], dict[int, int]]:
    """Which columns to show in ``width`` characters, and how wide each is.

    Columns with a ``drop`` rank are left out, lowest rank first, until the
    others fit at their natural width (the widest cell). Only if that is not
    enough, free-text columns (those with a ``max_width``) and ids shrink, the
    widest first, down to a floor; names, states, times and numbers are never
    cut, so two different values never look alike.
    """

    def natural(i: int) -> int:
        c = columns[i]
        w = max([len(c.title), *(len(_shown(r[i], id_chars[i])) for r in rows)])
        w = min(w, c.max_width) if c.max_width else w
        return max(w, c.min_width or 0)

    widths = {i: natural(i) for i in range(len(columns))}
    keep = list(range(len(columns)))

    def total() -> int:
        return sum(widths[i] + _PAD for i in keep)

    droppable = sorted((c.drop, i) for i, c in enumerate(columns) if c.drop is not None)
    dropped: list[int] = []
    while total() > width and droppable:
        _, i = droppable.pop(0)
        keep.remove(i)
        dropped.append(i)
    # A narrow column left out early may fit in the room a wide one left: take it back.
    for i in reversed(dropped[:-1]):
        if total() + widths[i] + _PAD <= width:
            keep.append(i)
    keep.sort()
    has_id = {i for i in keep if any(isinstance(r[i], Id) for r in rows)}
    floors = {
        i: (ID_WIDTH + 1) if i in has_id else max(len(columns[i].title), 8)
        for i in keep if columns[i].max_width or i in has_id
    }
    while total() > width:
        shrinkable = [i for i in floors if widths[i] > floors[i]]
        if not shrinkable:
            break  # wider than the terminal: the terminal wraps, nothing is cut
        widest = max(shrinkable, key=lambda i: widths[i])
        widths[widest] -= 1
    return keep, widths


def _shown(value: Any, id_chars: int = ID_WIDTH) -> str:
    if value is None:
        return ""
    if isinstance(value, Id):
        return short_id(value, id_chars)
    if isinstance(value, Time):
        return value.short
    return str(value)


def _rich_cell(value: Any, escape: Any, id_chars: int = ID_WIDTH) -> Any:
    if value is None:
        return ""
    if isinstance(value, Id):
        return escape(short_id(value, id_chars))
    if isinstance(value, Time):
        return escape(value.short)
    if isinstance(value, Styled):
        return f"[{value.style}]{escape(value.text)}[/{value.style}]" if value.style else escape(
            value.text
        )
    return escape(str(value))


@dataclass(frozen=True)
class Styled:
    """A cell with a rich style on terminals (plain text elsewhere)."""

    text: str
    style: str | None = None

    def __str__(self) -> str:
        return self.text


STATE_STYLES = {
    "COMPLETE": "green",
    "LIVE": "green",
    "RUNNING": "yellow",
    "PENDING": "yellow",
    "NEW": "yellow",
    "FAILED": "bold red",
    "CANCELLED": "red",
    "CACHED": "cyan",
}


def state_cell(state: Any) -> Styled:
    text = "" if state is None else str(state)
    return Styled(text, STATE_STYLES.get(text))


# -- show (key/value) -----------------------------------------------------------------


def print_kv(title: str, pairs: Sequence[tuple[str, Any]]) -> None:
    """A titled block of ``key: value`` lines; dict/list values printed as indented JSON."""
    if not is_rich():
        out = sys.stdout
        out.write(f"{title}\n")
        for key, value in pairs:
            if isinstance(value, (dict, list)):
                if not value:
                    out.write(f"  {key}: {json.dumps(value)}\n")
                    continue
                body = json.dumps(value, indent=2, ensure_ascii=False, default=str)
                out.write(f"  {key}:\n" + "".join(f"    {ln}\n" for ln in body.splitlines()))
            else:
                out.write(f"  {key}: {_plain_value(value)}\n")
        return
    from rich.json import JSON
    from rich.markup import escape
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column(overflow="fold")
    for key, value in pairs:
        if isinstance(value, (dict, list)) and value:
            grid.add_row(key, JSON(json.dumps(value, ensure_ascii=False, default=str)))
        elif isinstance(value, Styled):
            grid.add_row(key, _rich_cell(value, escape))
        else:
            grid.add_row(key, escape(_plain_value(value)))
    c = console()
    c.print(f"[bold]{escape(title)}[/bold]")
    c.print(grid)


def _plain_value(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return iso(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return "" if value is None else str(value)


def line(text: str, style: str | None = None) -> None:
    """One line of a report on stdout (styled on a terminal)."""
    if is_rich() and style:
        from rich.markup import escape

        console().print(f"[{style}]{escape(text)}[/{style}]")
    else:
        sys.stdout.write(text + "\n")


def heading(text: str) -> None:
    """A section heading between blocks of a ``show``/``diff`` output."""
    if is_rich():
        from rich.markup import escape

        console().print(f"\n[bold underline]{escape(text)}[/bold underline]")
    else:
        sys.stdout.write(f"\n# {text}\n")
