"""The SQL metadata store: one implementation for SQLite and PostgreSQL.

:class:`SqlStore` is composed of focused parts, as google/ml-metadata splits
its API from data access and per-dialect query configuration:

======================  ===========================================================
:mod:`.core`            opening, transactions (:meth:`~.core.SqlCore.read`,
                        :meth:`~.core.SqlCore.write`), names, known primary keys
:mod:`.engine`          engines per process and URI, fork handling, checkpoints
:mod:`.errors`          driver errors -> vertex_track exceptions; retries
:mod:`.dialects`        every SQLite/PostgreSQL difference, one class each
:mod:`.rows`            rows -> resources and events
:mod:`.paging`          ``list``/``count``: filters, order, page tokens
:mod:`.filters`         the filter compiler (syntax tree -> SQL)
:mod:`.writes`          ``create``/``update``/``delete``/``purge``; write helpers
:mod:`.put`             ``put_execution``
:mod:`.links`           events, context membership, context children
:mod:`.batch`           ``put_tracked`` (tracking's batches)
:mod:`.fast`            the DBAPI fast path and the store's health
:mod:`.lineage`         ``lineage``: the recursive walk over events
:mod:`.experiments`     time series and metadata merges of experiment runs
:mod:`.integrity`       ``check_integrity`` and ``delete_run`` (maintenance)
======================  ===========================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection, RowMapping

from ..._time import from_micros, now_micros
from ...types import Event
from ..base import TrackedRecord
from .engine import dispose_engine
from .experiments import ExperimentQueries
from .integrity import MaintenanceQueries
from .lineage import LineageQueries
from .links import Links
from .paging import ORDER_FIELDS, Listing
from .put import PutExecution
from .rows import parents_of, row_to_event, row_to_resource

__all__ = ["ORDER_FIELDS", "SqlStore", "dispose_engine", "from_micros", "now_micros"]


class SqlStore(PutExecution, Links, Listing, LineageQueries, ExperimentQueries, MaintenanceQueries):
    """A metadata store in an SQL database (see :class:`~vertex_track.store.base.MetadataStore`).

    Args:
        uri: ``sqlite:///path.db`` or ``postgresql://user@host:port/db``.
        project, location, metadata_store: the store's place in resource names.
        read_only: open it for inspection (see :mod:`.readonly`): nothing is
            created, migrated or written, and a database that is not a
            vertex_track store is an error instead of becoming an empty store.

    Raises:
        StoreUnavailableError: the database cannot be reached, or has a newer
            schema; read-only, also: it is not a vertex_track store.
    """

    def put_tracked(self, records: Sequence[TrackedRecord], *, replay: bool = False) -> None:
        """Tracking's batch of row records in one transaction (see :mod:`.batch`)."""
        from .batch import put_tracked

        put_tracked(self, records, now_micros(), replay=replay)

    # Row conversions for the lineage walk's raw rows (see :mod:`.rows`).
    def row_to_resource(self, kind: str, row: RowMapping, parents: list[str] | None = None) -> Any:
        return row_to_resource(self, kind, row, parents)

    def row_to_event(self, row: RowMapping, artifact_name: str, execution_name: str) -> Event:
        return row_to_event(row, artifact_name, execution_name)

    def _parents_of(self, conn: Connection, ids: list[int]) -> dict[int, list[str]]:
        return parents_of(self, conn, ids)
