"""Queries over the metadata store: the filter language and lineage.

``filters`` (grammar -> typed AST -> SQL compiler) answers ``list`` and
``purge`` filters and ``order_by``; ``lineage`` walks events with recursive SQL.
Only :mod:`~vertex_track.query.compiler` and :mod:`~vertex_track.query.lineage`
know the tables.
"""

from __future__ import annotations

from .filters import compile_filter, parse_filter, parse_order_by

__all__ = ["compile_filter", "parse_filter", "parse_order_by"]
