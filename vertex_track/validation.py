"""Validation rules of Vertex ML Metadata, each raising a message that names
the field, the rule and the offending value."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from . import _json, config
from ._random import rng
from .exceptions import InvalidArgumentError

SCHEMA_TITLE_RE = re.compile(r"^[a-z][a-z0-9]{1,19}\.[A-Z][A-Za-z0-9]{1,48}$")
SCHEMA_VERSION_RE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+$")
RESOURCE_ID_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,62}$")
MAX_DISPLAY_NAME = 128
MAX_DESCRIPTION = 8192
MAX_PARENT_CONTEXTS = 10
MAX_LABELS = 64


def _fail(field: str, rule: str, value: Any) -> InvalidArgumentError:
    shown = repr(value)
    if len(shown) > 120:
        shown = shown[:117] + "..."
    return InvalidArgumentError(f"{field} {rule}; got {shown}")


def check_schema_title(value: Any) -> None:
    if not isinstance(value, str) or not SCHEMA_TITLE_RE.match(value):
        raise _fail(
            "schema_title",
            "must be 'namespace.Name': a namespace of 2-20 characters [a-z0-9] starting "
            "with a lower-case letter, a dot, then a Name of 2-49 letters and digits "
            "starting with an upper-case letter (e.g. 'system.Dataset')",
            value,
        )


def check_schema_version(value: Any) -> None:
    if not isinstance(value, str) or not SCHEMA_VERSION_RE.match(value):
        raise _fail(
            "schema_version", "must be three dot-separated numbers such as '0.0.1'", value
        )


def check_resource_id(value: Any) -> None:
    if not isinstance(value, str) or not RESOURCE_ID_RE.match(value):
        raise _fail(
            "resource_id",
            "must be 1-63 characters of [a-z0-9_-] whose first character is neither "
            "a digit nor a hyphen",
            value,
        )


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text on every backend, or None.

    A NUL character (PostgreSQL text and JSON cannot hold one) and a lone
    surrogate (not encodable as UTF-8) are refused, the same on SQLite and
    PostgreSQL, at the call that passes them.
    """
    if "\x00" in value:
        return f"holds a NUL character (\\x00) at position {value.index(chr(0))}"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return (
                f"holds a lone surrogate ({value[exc.start]!r}) at position {exc.start}, "
                "which is not valid Unicode text"
            )
    return None


def check_text(field: str, value: Any) -> None:
    """``value`` must be a string that every backend stores as given."""
    if not isinstance(value, str):
        raise _fail(field, "must be a string", value)
    problem = text_problem(value)
    if problem:
        raise _fail(field, f"must be valid text: it {problem}", value)


def check_display_name(value: Any) -> None:
    check_text("display_name", value)
    if len(value) > MAX_DISPLAY_NAME:
        raise _fail(
            "display_name",
            f"must be at most {MAX_DISPLAY_NAME} characters (it has {len(value)})",
            value,
        )


def check_description(value: Any) -> None:
    check_text("description", value)
    if len(value) > MAX_DESCRIPTION:
        raise _fail("description", f"must be at most {MAX_DESCRIPTION} characters", value)


def _json_path_problem(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        problem = text_problem(value)
        return f"{path} {problem}" if problem else None
    if value is None or isinstance(value, (bool, int)):
        return None
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return (
            f"{path} is {value!r} (not finite; JSON has no NaN or infinity: store None, "
            "or a string such as 'NaN')"
        )
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path} has a non-string key {key!r}"
            problem = text_problem(key)
            if problem:
                return f"{path} has a key {key!r} that {problem}"
            problem = _json_path_problem(item, f"{path}.{key}")
            if problem:
                return problem
        return None
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            problem = _json_path_problem(item, f"{path}[{i}]")
            if problem:
                return problem
        return None
    return f"{path} is a {type(value).__name__}, which JSON cannot hold"


def check_metadata(value: Any) -> None:
    if not isinstance(value, Mapping):
        raise _fail("metadata", "must be a dict of JSON values", value)
    problem = _json_path_problem(value, "metadata")
    if problem:
        raise InvalidArgumentError(
            f"metadata must hold only JSON values (str, int, float, bool, None, "
            f"lists and dicts with string keys): {problem}"
        )
    json_text(value)  # the size limit


def json_text(value: Any, field: str = "metadata") -> str:
    """``value`` as compact JSON text, checked as every backend needs it.

    Refuses (InvalidArgumentError naming the path) NaN and infinities, NUL
    characters and lone surrogates in keys and strings, and documents over
    the ``max_metadata_bytes`` setting (UTF-8 bytes of this text). Cheap
    when all is well: the checks are scans of the text, the walk through
    ``value`` only runs to name what is wrong.
    """
    try:
        text = _json.COMPACT.encode(value)
    except (ValueError, TypeError) as exc:
        why = _json_path_problem(value, field) or str(exc)
        raise InvalidArgumentError(f"{field} must hold only JSON values: {why}") from None
    size = len(text)
    if "\\u0000" in text or not text.isascii():
        problem = _json_path_problem(value, field)
        if problem:
            raise InvalidArgumentError(f"{field} must hold only valid text: {problem}")
        size = len(text.encode("utf-8"))
    limit = config.get_settings().max_metadata_bytes
    if size > limit:
        raise InvalidArgumentError(
            f"{field} is {size:,} bytes as JSON, over the limit of {limit:,} bytes "
            "(setting max_metadata_bytes, env VERTEX_TRACK_MAX_METADATA_BYTES); keep large "
            "values in an artifact's bytes (its uri) and put only a summary in metadata"
        )
    return text


def json_text_ok(text: str) -> bool:
    """Whether compact JSON ``text`` passes :func:`json_text`'s checks as it is.

    True when it is ASCII, holds no NUL escape and is within the size limit
    (the common case, checked by scans of the text). Callers that assemble
    the text from parts encoded earlier use this; on False they call
    :func:`json_text` on the value, which raises the error that names the
    problem, or returns the text (non-ASCII but valid).
    """
    return (
        text.isascii() and "\\u0000" not in text
        and len(text) <= config.get_settings().max_metadata_bytes
    )


def check_labels(value: Any) -> None:
    if not isinstance(value, Mapping):
        raise _fail("labels", "must be a dict of str to str", value)
    if len(value) > MAX_LABELS:
        raise _fail("labels", f"must have at most {MAX_LABELS} entries", value)
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise _fail("labels", "must map strings to strings", {key: item})
        check_text(f"labels key {key!r}", key)
        check_text(f"labels[{key!r}]", item)


def check_uri(value: Any) -> None:
    check_text("uri", value)


def check_parent_contexts(names: Sequence[str]) -> None:
    if len(names) > MAX_PARENT_CONTEXTS:
        raise InvalidArgumentError(
            f"parent_contexts must have at most {MAX_PARENT_CONTEXTS} entries; got {len(names)}"
        )


_DIGIT_TO_LETTER = str.maketrans("0123456789", "ghijklmnop")


def generate_resource_id() -> str:
    """A random id that follows the resource id rule (32 chars, never a leading digit).

    The library's own ``random`` generator (see :mod:`vertex_track._random`: the
    user's seeded sequence is left alone) rather than ``uuid4``: ids need
    uniqueness, not secrecy, and ``os.urandom`` costs ~0.5 ms a call on busy VMs.
    """
    hex_id = f"{rng.getrandbits(128):032x}"
    return hex_id[0].translate(_DIGIT_TO_LETTER) + hex_id[1:]
