"""What the query mixins (:mod:`.lineage`, :mod:`.experiments`, :mod:`.integrity`)
use of the :class:`~.store.SqlStore` they are mixed into: declared for the type
checker only, so each mixin states its dependencies instead of guessing them."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from .dialects import Dialect
    from .fast import FastPath

T = TypeVar("T")


class StoreHost:
    """The attributes and methods of SqlStore the mixins call."""

    if TYPE_CHECKING:
        store_id: int
        prefix: str
        dialect: Dialect
        fast: FastPath

        def read(self) -> AbstractContextManager[Connection]: ...

        def write(self, fn: Callable[[Connection], T]) -> T: ...

        def resource_name(self, kind: str, resource_id: str) -> str: ...

        def row_to_resource(
            self, kind: str, row: Any, parents: builtins.list[str] | None = None
        ) -> Any: ...

        def row_to_event(self, row: Any, artifact_name: str, execution_name: str) -> Any: ...

        def _parents_of(
            self, conn: Connection, ids: builtins.list[int]
        ) -> dict[int, builtins.list[str]]: ...
