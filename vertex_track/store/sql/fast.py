"""The write fast path: SQLAlchemy Core statements, compiled once, run on the DBAPI cursor.

SQLAlchemy's per-``execute`` machinery (events, result setup, parameter
processing) costs about 80 µs a statement on these machines; a tracked task
writes a dozen rows, so the overhead would dwarf SQLite itself (FIELD-NOTES:
6x). The statements stay SQLAlchemy Core constructs, one definition for both
backends; only their execution skips the machinery: each is compiled once per
dialect to the driver's SQL with named parameters and run on the pooled DBAPI
connection. JSON values are serialized here, since the driver sees plain text.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.engine import Engine

T = TypeVar("T")


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dumps(value: Any) -> str:
    """JSON text for a JSON column (one shared encoder: this runs per row)."""
    if not value and type(value) is dict:
        return "{}"
    return _ENCODER.encode(value)


class FastPath:
    """Compiled statement cache and raw transactions for one engine."""

    def __init__(self, engine: Engine, dialect_name: str) -> None:
        self.engine = engine
        self.dialect_name = dialect_name
        self._compiler: Any = engine.dialect
        if dialect_name == "sqlite":
            from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

            self._compiler = SQLiteDialect_pysqlite(paramstyle="named")
        self._sql: dict[Any, str] = {}
        dbapi = engine.dialect.loaded_dbapi
        self.integrity_error: type[BaseException] = dbapi.IntegrityError
        self.operational_error: type[BaseException] = dbapi.OperationalError

    def sql(self, key: Any, build: Callable[[], Any]) -> str:
        text = self._sql.get(key)
        if text is None:
            text = self._sql[key] = str(build().compile(dialect=self._compiler))
        return text

    def _transient(self, exc: BaseException) -> bool:
        if self.dialect_name == "sqlite":
            msg = str(exc).lower()
            return isinstance(exc, self.operational_error) and ("locked" in msg or "busy" in msg)
        code = getattr(exc, "sqlstate", None) or ""
        return code in {"40001", "40P01"} or code.startswith("08")

    def write(self, fn: Callable[[Tx], T], attempts: int = 8) -> T:
        """Run ``fn(tx)`` in one write transaction; transient errors retry the whole of it."""
        delay = 0.02
        for attempt in range(attempts):
            raw = self.engine.raw_connection()
            try:
                cur = raw.cursor()
                if self.dialect_name == "sqlite":
                    cur.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(Tx(self, cur))
                    raw.commit() if self.dialect_name != "sqlite" else cur.execute("COMMIT")
                    return result
                except BaseException:
                    try:
                        raw.rollback() if self.dialect_name != "sqlite" else cur.execute(
                            "ROLLBACK"
                        )
                    except Exception:
                        pass
                    raise
                finally:
                    cur.close()
            except BaseException as exc:
                if attempt == attempts - 1 or not self._transient(exc):
                    raise
                if self.dialect_name != "sqlite":
                    raw.invalidate()
            finally:
                raw.close()
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")


class Tx:
    """One open transaction of :meth:`FastPath.write`."""

    __slots__ = ("cur", "fast")

    def __init__(self, fast: FastPath, cur: Any) -> None:
        self.fast = fast
        self.cur = cur

    def execute(self, key: Any, build: Callable[[], Any], params: dict[str, Any]) -> int:
        self.cur.execute(self.fast.sql(key, build), params)
        return int(self.cur.rowcount)

    def executemany(
        self, key: Any, build: Callable[[], Any], rows: Sequence[dict[str, Any]]
    ) -> None:
        if rows:
            self.cur.executemany(self.fast.sql(key, build), rows)

    def fetchall(self, key: Any, build: Callable[[], Any], params: dict[str, Any]) -> list[Any]:
        self.cur.execute(self.fast.sql(key, build), params)
        return list(self.cur.fetchall())
