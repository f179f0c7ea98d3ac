"""What every command shares: exit codes, error reporting, name resolution.

Exit codes (documented in ``docs/cli.md``; scripts may rely on them):

====  ===============================================================
0     success (a dry run that found nothing is a success too)
1     not found: an unknown run, artifact, execution, context, experiment
2     usage error: bad option, malformed filter (the message shows a caret
      under the problem), invalid argument, a forced purge without ``--yes``
      when stdin is not a terminal
3     the metadata store is unavailable (cannot connect, no such SQLite file,
      written by a newer vertex_track)
4     any other failure (a concurrent change, declined confirmation, I/O)
====  ===============================================================
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any, NoReturn, TypeVar

import typer

from ..exceptions import (
    FilterError,
    InvalidArgumentError,
    NotFoundError,
    StoreUnavailableError,
    VertexTrackError,
)
from ._output import short_id, stderr

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2
EXIT_STORE_UNAVAILABLE = 3
EXIT_FAILED = 4

F = TypeVar("F", bound=Callable[..., Any])


class CliNotFound(NotFoundError):
    """A name given on the command line matched nothing (message has the suggestions)."""


def fail(message: str, code: int) -> NoReturn:
    stderr(f"error: {message}", style="bold red")
    raise typer.Exit(code)


def handle_errors(fn: F) -> F:
    """Turn library errors into a one-line message on stderr and the documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except FilterError as exc:
            fail(f"bad filter: {exc}", EXIT_USAGE)
        except NotFoundError as exc:
            fail(str(exc), EXIT_NOT_FOUND)
        except InvalidArgumentError as exc:
            fail(str(exc), EXIT_USAGE)
        except StoreUnavailableError as exc:
            fail(str(exc), EXIT_STORE_UNAVAILABLE)
        except VertexTrackError as exc:
            fail(str(exc), EXIT_FAILED)
        except BrokenPipeError:
            # `vertex-track ... | head`: the reader left; not an error for us.
            _silence_stdout()
            raise typer.Exit(EXIT_OK) from None
        except KeyboardInterrupt:
            stderr("interrupted")
            raise typer.Exit(130) from None
        finally:
            # check_store() made this process open stores read-only for the
            # command; the mode ends with it (matters when commands run in-process).
            store = sys.modules.get("vertex_track.store")
            if store is not None:
                store.set_read_only(False)

    return wrapper  # type: ignore[return-value]


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


# -- the store ------------------------------------------------------------------------

def check_store(*, write: bool = False) -> None:
    """Open the configured store for this command, or exit 3 saying what is there instead.

    Inspection never creates, migrates or writes a store: the store is opened
    read-only (see :func:`vertex_track.store.set_read_only`), so a mistyped
    ``--store-uri``, an empty file or another application's database is an
    error rather than a freshly created, empty store. Commands that write
    (``write=True``: a forced purge, ``doctor --fix``) check the same way
    first, then open the store for writing (which upgrades an older schema).
    """
    from ..store import get_store, set_read_only

    set_read_only(True)
    try:
        get_store()
        if write:
            set_read_only(False)
            get_store()
    except StoreUnavailableError as exc:
        fail(str(exc), EXIT_STORE_UNAVAILABLE)


# -- filters ---------------------------------------------------------------------------


def escape(value: str) -> str:
    """``value`` for the inside of a quoted filter string, matched literally (``*`` escaped)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("*", "\\*")


def quote(value: str) -> str:
    """``value`` as a quoted filter string, matched literally."""
    return f'"{escape(value)}"'


def and_filter(base: str | None, extra: str | None) -> str | None:
    """``base AND (extra)``; either may be empty."""
    if base and extra:
        return f"{base} AND ({extra})"
    return base or extra or None


# -- name resolution -------------------------------------------------------------------

KIND_SINGULAR = {"artifacts": "artifact", "executions": "execution", "contexts": "context"}


def suggestions(query: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    pool = list(dict.fromkeys(c for c in candidates if c))
    return difflib.get_close_matches(query, pool, n=n, cutoff=0.5)


def not_found(what: str, query: str, candidates: Iterable[str], hint: str = "") -> NoReturn:
    close = suggestions(query, candidates)
    message = f"no {what} named {query!r}"
    if close:
        message += "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    if hint:
        message += f" ({hint})"
    raise CliNotFound(message)


def candidate_names(cls: Any, base_filter: str | None = None, query: str = "") -> list[str]:
    """Ids and display names to suggest from: the newest resources, and near-substring hits."""
    out: list[str] = []
    try:
        for r in cls.list(base_filter, order_by="create_time desc", page_size=2000):
            out += [r.resource_id, r.display_name]
        if len(query) >= 3:
            # Also look for names sharing a fragment with the query, anywhere in the store.
            part = escape(query[: max(3, len(query) // 2)])
            for field in ("display_name", "name"):
                f = and_filter(base_filter, f'{field} = "*{part}*"')
                for r in cls.list(f, page_size=200):
                    out += [r.resource_id, r.display_name]
    except VertexTrackError:
        pass
    return out


def resolve(cls: Any, ref: str, *, base_filter: str | None = None, what: str | None = None) -> Any:
    """The resource named ``ref``: a full name, a resource id, or a display name.

    A display name shared by several resources picks the newest one and says so
    on stderr. Unknown names raise :class:`CliNotFound` with suggestions.
    """
    what = what or KIND_SINGULAR[cls.kind]
    ref = ref.strip().rstrip("…")  # a shortened id copied from a table
    if not ref:
        # Would match every unnamed resource (display_name = ""): refuse instead.
        raise InvalidArgumentError(
            f"an empty {what} name; give a resource id, a full resource name or a display name"
        )
    if "/" in ref:
        return cls.get(ref)
    try:
        found = cls.get(ref)
    except NotFoundError:
        pass
    except InvalidArgumentError:
        pass
    else:
        if base_filter is None or _matches(cls, found, base_filter):
            return found
    hits = cls.list(
        and_filter(base_filter, f"display_name = {quote(ref)}"),
        order_by="create_time desc", page_size=3,
    )
    if hits:
        if len(hits) > 1:
            more = "+" if hits.next_page_token else ""
            stderr(
                f"note: {len(hits)}{more} {what}s are named {ref!r}; using the newest, "
                f"{hits[0].resource_id} (pass an id to choose another)"
            )
        return hits[0]
    by_prefix = id_prefix_matches(cls, ref, base_filter)
    if len(by_prefix) == 1:
        return by_prefix[0]
    if len(by_prefix) > 1:
        raise CliNotFound(
            f"{ref!r} is the start of several {what} ids ("
            + ", ".join(r.resource_id for r in by_prefix[:3])
            + ", ...); give more of the id"
        )
    not_found(what, ref, candidate_names(cls, base_filter, ref))


MIN_PREFIX = 6


def id_prefix_matches(cls: Any, ref: str, base_filter: str | None = None) -> list[Any]:
    """Up to 5 resources whose id starts with ``ref`` (ids shortened in tables end in "…")."""
    if len(ref) < MIN_PREFIX or not re.fullmatch(r"[a-z0-9-]+", ref):
        return []
    from ..store import get_store

    prefix = get_store().resource_name(cls.kind, ref)
    return list(cls.list(and_filter(f'name = "{escape(prefix)}*"', base_filter), page_size=5))


def _matches(cls: Any, resource: Any, base_filter: str) -> bool:
    f = and_filter(f"name = {quote(resource.name)}", base_filter)
    return bool(cls.list(f, page_size=1))


def init_settings(store_uri: str | None, artifact_root: str | None) -> None:
    """Apply ``--store-uri``/``--artifact-root`` (unset ones keep the library's settings)."""
    if store_uri is None and artifact_root is None:
        return
    from ..config import init

    try:
        init(store_uri=store_uri, artifact_root=artifact_root)
    except InvalidArgumentError as exc:
        fail(str(exc), EXIT_USAGE)


def newest_of_schema(artifact_cls: Any, ref: str) -> Any:
    """``model`` -> the newest ``*.Model`` artifact that a tracked execution produced, else
    the newest ``*.Model`` artifact (tracked outputs are named by their key, so "the model"
    is best found by its type; one with a producer is the one with lineage to show)."""
    if not ref.isidentifier():
        return None
    for title in dict.fromkeys([ref, ref[:1].upper() + ref[1:]]):
        of_type = f'schema_title = "*.{title}"'
        for f, how in ((f"{of_type} AND events.type = OUTPUT", "produced by a task"),
                       (of_type, "")):
            hits = artifact_cls.list(f, "create_time desc", page_size=1)
            if hits:
                a = hits[0]
                what = f"{a.schema_title} artifact{' ' + how if how else ''}"
                stderr(
                    f"note: no artifact is named {ref!r}; using the newest {what}, "
                    f"{a.display_name} ({short_id(a.resource_id)}); others: "
                    f"vertex-track artifacts list --filter '{of_type}'"
                )
                return a
    return None
