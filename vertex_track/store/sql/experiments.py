"""Experiment records of the SQL store: time series points and in-database metadata merges.

These paths run once per ``log_*`` call or per 10^4 points, where SQLAlchemy's
per-statement overhead (building, caching and compiling the statement) costs
more than the database work; they send fixed SQL through the DBAPI cursor of
the store's connection, inside :meth:`SqlStore.write` / :meth:`SqlStore.read`
transactions. What differs between SQLite and PostgreSQL (bulk inserts,
``COPY``, JSON merge functions) is in the dialects (:mod:`.dialects`).
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError

from ..._time import from_micros, now_micros
from ...exceptions import InvalidArgumentError, NotFoundError
from . import tables as t
from ._host import StoreHost

__all__ = ["ExperimentQueries"]

_TS = t.time_series.name
_TS_COLUMNS = ("id", "context_id", "metric", "step", "wall_time", "value")
_MERGE_KINDS = ("contexts", "executions")


@contextmanager
def _cursor(conn: Connection, statement: str) -> Iterator[Any]:
    """A DBAPI cursor of ``conn``; driver errors come out as SQLAlchemy errors.

    The store translates SQLAlchemy errors (``IntegrityError``, transient
    ``OperationalError`` retried, others to ``StoreUnavailableError``); a raw
    cursor's errors must look the same to it.
    """
    dbapi = conn.dialect.loaded_dbapi
    try:
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            yield cur
        finally:
            cur.close()
    except dbapi.Error as exc:
        raise DBAPIError.instance(statement, None, exc, dbapi.Error, dialect=conn.dialect) from exc


_PLAIN = (float, int, str, bool)


def _check_patch(patch: Any) -> None:
    # Runs per log_params/log_metrics call: exact-type checks before the ABC ones.
    if (type(patch) is not dict and not isinstance(patch, Mapping)) or not patch:
        raise InvalidArgumentError(f"patch must be a non-empty dict, got {patch!r}")
    for key, value in patch.items():
        if type(key) is not str or not key:
            raise InvalidArgumentError(f"patch keys must be non-empty strings, got {key!r}")
        if type(value) in _PLAIN:
            continue
        if value is None:
            raise InvalidArgumentError(
                f"patch[{key!r}] is None; merge_metadata sets values, it does not remove "
                "keys (use update() to rewrite the metadata)"
            )
        if isinstance(value, Mapping) and any(
            type(v) not in _PLAIN and (v is None or isinstance(v, Mapping))
            for v in value.values()
        ):
            raise InvalidArgumentError(
                f"patch[{key!r}] holds a dict or None; a dict value is merged one level "
                "deep and holds plain JSON values only"
            )


class ExperimentQueries(StoreHost):
    """``append_time_series``, ``read_time_series`` and ``merge_metadata`` of
    :class:`~.store.SqlStore` (see :class:`~vertex_track.store.base.MetadataStore`
    for their contracts)."""

    def _run_pks(self, conn: Connection, rids: Sequence[str]) -> dict[str, int]:
        c = t.contexts
        out: dict[str, int] = {}
        for i in range(0, len(rids), 500):
            q = select(c.c.resource_id, c.c.id).where(
                c.c.store_id == self.store_id, c.c.resource_id.in_(rids[i:i + 500])
            )
            out.update({rid: pk for rid, pk in conn.execute(q)})
        return out

    def append_time_series(self, run_context_id: str, rows: Sequence[Any]) -> int:
        if not rows:
            return 0
        ids = self.fast.keys.take(self.fast, len(rows))
        dialect = self.dialect

        def tx(conn: Connection) -> None:
            pk = self._run_pks(conn, [run_context_id]).get(run_context_id)
            if pk is None:
                raise NotFoundError(self._no_run(run_context_id))
            with _cursor(conn, _TS) as cur:
                dialect.bulk_insert(cur, _TS, _TS_COLUMNS, [
                    (i, pk, *row) for i, row in zip(ids, rows, strict=True)
                ])

        try:
            self.write(tx)
        except IntegrityError as exc:  # deleted between the lookup and the insert
            raise NotFoundError(self._no_run(run_context_id)) from exc
        return len(rows)

    def _no_run(self, rid: str) -> str:
        name = self.resource_name("contexts", rid)
        return f"context {name!r} does not exist (was the run deleted?)"

    def read_time_series(
        self, run_context_ids: Sequence[str], *, latest: bool = False
    ) -> dict[str, dict[str, builtins.list[tuple[int, int, float]]]]:
        rids = builtins.list(dict.fromkeys(run_context_ids))
        if not rids:
            return {}
        with self.read() as conn:
            pks = self._run_pks(conn, rids)
            out: dict[str, dict[str, builtins.list[tuple[int, int, float]]]] = {
                rid: {} for rid in rids if rid in pks
            }
            if latest:
                for rid, metric, step, wall, value in conn.execute(self._latest_query(rids)):
                    out[rid][metric] = [(step, wall, value)]
                return out
            ph = self.dialect.placeholder
            names_sql = f"SELECT metric FROM {_TS} WHERE context_id = {ph} GROUP BY metric"
            points_sql = (
                f"SELECT step, wall_time, value FROM {_TS} WHERE context_id = {ph} "
                f"AND metric = {ph} ORDER BY step, id"
            )
            with _cursor(conn, points_sql) as cur:
                for rid, pk in pks.items():
                    cur.execute(names_sql, (pk,))
                    names = sorted(r[0] for r in cur.fetchall())
                    series = out[rid]
                    for name in names:
                        cur.execute(points_sql, (pk, name))
                        series[name] = cur.fetchall()
        return out

    def _latest_query(self, rids: Sequence[str]) -> Any:
        ts, c = t.time_series, t.contexts
        rank = (
            func.row_number()
            .over(
                partition_by=(ts.c.context_id, ts.c.metric),
                order_by=(ts.c.step.desc(), ts.c.wall_time.desc(), ts.c.id.desc()),
            )
            .label("rank")
        )
        ranked = (
            select(c.c.resource_id, ts.c.metric, ts.c.step, ts.c.wall_time, ts.c.value, rank)
            .join(c, c.c.id == ts.c.context_id)
            .where(c.c.store_id == self.store_id, c.c.resource_id.in_(rids))
            .subquery()
        )
        return select(
            ranked.c.resource_id, ranked.c.metric, ranked.c.step, ranked.c.wall_time,
            ranked.c.value,
        ).where(ranked.c.rank == 1)

    def merge_metadata(
        self, kind: str, resource_id: str, patch: dict[str, Any]
    ) -> tuple[str, dt.datetime]:
        if kind not in _MERGE_KINDS:
            raise InvalidArgumentError(
                f"merge_metadata takes contexts or executions, got {kind!r} (an artifact's "
                "metadata holds its content digest: use update())"
            )
        _check_patch(patch)
        now = now_micros()
        expr, params = self.dialect.merge_json_sql("metadata", patch)
        ph = self.dialect.placeholder
        table = t.RESOURCE_TABLES[kind].name
        sql = (
            f"UPDATE {table} SET metadata = {expr}, etag = etag + 1, update_time = {ph} "
            f"WHERE store_id = {ph} AND resource_id = {ph} RETURNING etag"
        )
        values = (*params, now, self.store_id, resource_id)

        def tx(conn: Connection) -> Any:
            with _cursor(conn, sql) as cur:
                cur.execute(sql, values)
                return cur.fetchone()

        row = self.write(tx)
        if row is None:
            name = self.resource_name(kind, resource_id)
            raise NotFoundError(f"{kind[:-1]} {name!r} does not exist")
        return str(row[0]), from_micros(now)
