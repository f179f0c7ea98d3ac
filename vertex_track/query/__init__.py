"""The query language of the metadata store: filters (AIP-160) and ``order_by``.

Backend-neutral: the lark grammar, the parser, the typed syntax tree and
:func:`parse_order_by`. The store compiles the tree to SQL
(:mod:`vertex_track.store.sql.filters`).
"""

from __future__ import annotations

from .filters import parse_filter, parse_order_by

__all__ = ["parse_filter", "parse_order_by"]
