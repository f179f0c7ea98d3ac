"""Vertex AI's JSON on the wire (proto3 JSON mapping) to and from vertex_track's models.

Field names are lowerCamelCase, timestamps RFC 3339 in UTC with a ``Z``,
64-bit integers strings, enums their names, or their numbers when the request
asks for ``$alt=json;enum-encoding=int`` (as Google's Python SDK does on
every call). Enums are accepted either way in requests.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any

from fastapi import Request

from .._time import UTC
from ..exceptions import InvalidArgumentError
from .errors import BodyTooLarge
from .responses import WireJSONResponse

__all__ = [
    "ARTIFACT_STATES",
    "EVENT_TYPES",
    "EXECUTION_STATES",
    "MAX_BODY_BYTES",
    "WireJSONResponse",
    "camel",
    "enum_in",
    "enum_out",
    "int64_in",
    "parse_time",
    "read_body",
    "resource_json",
    "rfc3339",
    "snake",
    "wants_int_enums",
]

#: Largest request body accepted (bytes); larger ones get 413.
MAX_BODY_BYTES = 32 * 1024 * 1024

#: Enum numbers of the Vertex AI v1 protos (``google.cloud.aiplatform.v1``).
ARTIFACT_STATES = {"STATE_UNSPECIFIED": 0, "PENDING": 1, "LIVE": 2}
EXECUTION_STATES = {
    "STATE_UNSPECIFIED": 0, "NEW": 1, "RUNNING": 2, "COMPLETE": 3, "FAILED": 4,
    "CACHED": 5, "CANCELLED": 6,
}
EVENT_TYPES = {"TYPE_UNSPECIFIED": 0, "INPUT": 1, "OUTPUT": 2}

_CAMEL = re.compile(r"_([a-z0-9])")
_SNAKE = re.compile(r"(?<!^)([A-Z])")


def camel(name: str) -> str:
    """``snake_case`` -> ``lowerCamelCase`` (``schema_title`` -> ``schemaTitle``)."""
    return _CAMEL.sub(lambda m: m.group(1).upper(), name)


def snake(name: str) -> str:
    """``lowerCamelCase`` -> ``snake_case`` (``schemaTitle`` -> ``schema_title``)."""
    return _SNAKE.sub(lambda m: "_" + m.group(1).lower(), name)


def wants_int_enums(request: Request) -> bool:
    """Whether the request asked for enums as numbers (``$alt=json;enum-encoding=int``)."""
    alt = request.query_params.get("$alt", "")
    return "enum-encoding=int" in alt.replace(" ", "")


def enum_out(name: str, table: Mapping[str, int], as_int: bool) -> str | int:
    """An enum value for a response: its name, or its number when ``as_int``."""
    return table.get(name, 0) if as_int else name


def enum_in(value: Any, table: Mapping[str, int], field: str) -> str:
    """The enum name of a request value given as a name or a number.

    Raises:
        InvalidArgumentError: ``value`` is neither a known name nor a known number.
    """
    if isinstance(value, bool):
        value = None
    if isinstance(value, int):
        for name, number in table.items():
            if number == value:
                return name
    elif isinstance(value, str):
        if value.upper() in table:
            return value.upper()
        if value.isdigit():
            return enum_in(int(value), table, field)
    allowed = ", ".join(f"{n} ({i})" for n, i in table.items())
    raise InvalidArgumentError(f"{field} must be one of {allowed}, got {value!r}")


def int64_in(value: Any, field: str, *, default: int | None = None) -> int | None:
    """An integer request field (proto3 JSON sends int64 as a string).

    Raises:
        InvalidArgumentError: not an integer.
    """
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise InvalidArgumentError(f"{field} must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise InvalidArgumentError(f"{field} must be an integer, got {value!r}")


def rfc3339(value: dt.datetime) -> str:
    """A datetime as an RFC 3339 UTC timestamp with microseconds (``...T12:00:00.123456Z``)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: Any, field: str) -> dt.datetime:
    """An RFC 3339 timestamp of a request (any offset; up to nanoseconds, kept to microseconds).

    Raises:
        InvalidArgumentError: not an RFC 3339 timestamp.
    """
    if isinstance(value, str):
        text = value.strip()
        m = re.fullmatch(r"(.+?T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", text, re.IGNORECASE)
        if m:
            frac = (m.group(2) or ".0")[1:7].ljust(6, "0")
            zone = "+00:00" if m.group(3).upper() == "Z" else m.group(3)
            try:
                return dt.datetime.fromisoformat(f"{m.group(1)}.{frac}{zone}").astimezone(UTC)
            except ValueError:
                pass
    raise InvalidArgumentError(
        f"{field} must be an RFC 3339 timestamp such as '2024-05-01T12:00:00Z', got {value!r}"
    )


async def read_body(request: Request) -> dict[str, Any]:
    """The request's JSON object body (``{}`` when empty).

    Raises:
        InvalidArgumentError: not JSON, or not a JSON object.
        BodyTooLarge: over :data:`MAX_BODY_BYTES` (answered 413).
    """
    limit = getattr(request.app.state, "max_body_bytes", MAX_BODY_BYTES)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgumentError(f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidArgumentError(
            f"the request body must be a JSON object, got {type(body).__name__}"
        )
    return body


def resource_json(resource: Any, *, as_int: bool) -> dict[str, Any]:
    """An Artifact, Execution or Context as Vertex AI's v1 JSON."""
    kind = resource.kind
    out: dict[str, Any] = {
        "name": resource.name,
        "displayName": resource.display_name,
    }
    if kind == "artifacts":
        out["uri"] = resource.uri
    out["etag"] = resource.etag
    out["labels"] = dict(resource.labels)
    out["createTime"] = rfc3339(resource.create_time)
    out["updateTime"] = rfc3339(resource.update_time)
    if kind == "artifacts":
        out["state"] = enum_out(resource.state.value, ARTIFACT_STATES, as_int)
    elif kind == "executions":
        out["state"] = enum_out(resource.state.value, EXECUTION_STATES, as_int)
    else:
        out["parentContexts"] = list(resource.parent_contexts)
    out["schemaTitle"] = resource.schema_title
    out["schemaVersion"] = resource.schema_version
    out["metadata"] = resource.metadata
    out["description"] = resource.description
    return out


def check_fields(body: Mapping[str, Any], allowed: set[str], what: str) -> None:
    """Refuse a request body with fields the method does not take (400, naming them)."""
    unknown = set(body) - allowed
    if unknown:
        raise InvalidArgumentError(
            f"unknown {what} field(s): {', '.join(sorted(unknown))}; "
            f"the fields are {', '.join(sorted(allowed))}")
