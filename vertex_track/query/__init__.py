"""Queries over the metadata store: the filter language.

``filters`` (grammar -> typed AST -> SQL compiler) answers ``list`` and
``purge`` filters and ``order_by``. Only :mod:`~vertex_track.query.compiler`
knows the tables. Lineage walks are the store's (see :mod:`vertex_track.lineage`).
"""

from __future__ import annotations

from .filters import compile_filter, parse_filter, parse_order_by

__all__ = ["compile_filter", "parse_filter", "parse_order_by"]
