"""Validation rules of Vertex ML Metadata, each raising a message that names
the field, the rule and the offending value."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

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


def check_display_name(value: Any) -> None:
    if not isinstance(value, str):
        raise _fail("display_name", "must be a string", value)
    if len(value) > MAX_DISPLAY_NAME:
        raise _fail(
            "display_name",
            f"must be at most {MAX_DISPLAY_NAME} characters (it has {len(value)})",
            value,
        )


def check_description(value: Any) -> None:
    if not isinstance(value, str):
        raise _fail("description", "must be a string", value)
    if len(value) > MAX_DESCRIPTION:
        raise _fail("description", f"must be at most {MAX_DESCRIPTION} characters", value)


def _json_path_problem(value: Any, path: str) -> str | None:
    if value is None or isinstance(value, (bool, int, str)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{path} is {value!r} (not finite)"
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path} has a non-string key {key!r}"
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


def check_labels(value: Any) -> None:
    if not isinstance(value, Mapping):
        raise _fail("labels", "must be a dict of str to str", value)
    if len(value) > MAX_LABELS:
        raise _fail("labels", f"must have at most {MAX_LABELS} entries", value)
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise _fail("labels", "must map strings to strings", {key: item})


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


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
