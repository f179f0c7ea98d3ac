"""INTERIM minimal filter compiler (replaced by the lark-based engine)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import and_, exists, select

from ..exceptions import FilterError
from ..store.sql import tables as t

_TERM = re.compile(r'\s*(\w+(?:_\w+)*)\s*(=|!=|<=|>=|<|>|:)\s*("(?:[^"\\]|\\.)*"|\S+)\s*')


def compile_filter(kind: str, filter: str | None, *, store_id: int, store_prefix: str,
                   dialect_name: str, strict: bool = False) -> Any:
    if not filter or not filter.strip():
        return None
    table = t.RESOURCE_TABLES[kind]
    clauses = []
    for part in re.split(r"\s+AND\s+", filter.strip()):
        m = re.fullmatch(r'in_context\("([^"]*)"\)', part.strip())
        if m:
            rid = m.group(1).rsplit("/", 1)[-1]
            link = t.attributions if kind == "artifacts" else t.associations
            col = link.c.artifact_id if kind == "artifacts" else link.c.execution_id
            c = t.contexts
            clauses.append(exists(select(link.c.context_id).join(c, c.c.id == link.c.context_id)
                                  .where(col == table.c.id, c.c.resource_id == rid)))
            continue
        m = _TERM.fullmatch(part)
        if not m:
            raise FilterError("cannot parse", filter=filter, position=filter.find(part))
        field, op, raw = m.groups()
        value = raw[1:-1] if raw.startswith('"') else raw
        if field == "parent_contexts" and op == ":":
            pc, c = t.parent_contexts, t.contexts.alias("parent")
            rid = value.rsplit("/", 1)[-1]
            clauses.append(exists(select(pc.c.child_id).join(c, c.c.id == pc.c.parent_id)
                                  .where(pc.c.child_id == table.c.id, c.c.resource_id == rid)))
            continue
        if field not in ("display_name", "schema_title", "state", "create_time", "update_time"):
            raise FilterError(f"unknown field {field}", filter=filter, position=filter.find(field))
        col = table.c[field]
        if field.endswith("_time"):
            v = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            value = int(v.timestamp() * 1_000_000)  # type: ignore[assignment]
        if op == "=" and isinstance(value, str) and "*" in value:
            clauses.append(col.like(value.replace("*", "%")))
        else:
            clauses.append({"=": col == value, "!=": col != value, "<": col < value,
                            ">": col > value, "<=": col <= value, ">=": col >= value}[op])
    return and_(*clauses)
