"""What Artifact, Execution and Context share: the pydantic model over the metadata store.

:class:`vertex_track.resources.Artifact` and its siblings subclass the model here; it holds the
fields every resource has and the class methods (``get``, ``list``, ``iter``, ``purge``) that
delegate to the active metadata store (:mod:`vertex_track.store`).
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Iterator
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from . import _time
from . import validation as v
from .exceptions import InvalidArgumentError
from .types import (
    _StrEnum,
)

if TYPE_CHECKING:
    from .store.base import MetadataStore, PurgeResult

__all__ = ["List", "ResourceList"]


List = builtins.list  # the classmethods below are called `list`


class ResourceList(List):
    """A list of resources; with ``page_size`` it also carries ``next_page_token``."""

    next_page_token: str | None = None


R = TypeVar("R", bound="_Resource")


class _Resource(BaseModel):
    """Fields and methods shared by Artifact, Execution and Context."""

    # defer_build: schemas are built on first validation or dump, not at import
    # (~100 ms of every CLI start; rows become models without validation).
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, defer_build=True)

    kind: ClassVar[str]  # "artifacts" | "executions" | "contexts"
    _vt_defaults: ClassVar[Any] = None
    _vt_private: ClassVar[Any] = None
    _vt_field_names: ClassVar[Any] = ()
    default_schema_title: ClassVar[str]

    name: str
    display_name: str = ""
    schema_title: str
    schema_version: str = "0.0.1"
    metadata: dict[str, Any] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    description: str = ""
    create_time: dt.datetime = Field(default_factory=_time.now)
    update_time: dt.datetime = Field(default_factory=_time.now)
    etag: str = ""
    # The store this object was read from or written to; its methods use it.
    _bound: Any = PrivateAttr(default=None)

    @classmethod
    def construct_fast(cls: type[R], **values: Any) -> R:
        """Build an instance from trusted values without validation.

        Like ``model_construct`` but several times cheaper: it runs for every
        row a list returns and for every tracked value. Missing fields get
        their defaults.
        """
        defaults = cls.__dict__.get("_vt_defaults")
        if defaults is None:
            defaults = {}
            for fname, finfo in cls.model_fields.items():
                if finfo.default_factory is not None:
                    defaults[fname] = finfo.default_factory
                elif not finfo.is_required():
                    defaults[fname] = (lambda d=finfo.default: d)
            cls._vt_defaults = defaults  # type: ignore[attr-defined]
            cls._vt_field_names = tuple(cls.model_fields)  # type: ignore[attr-defined]
            cls._vt_private = {  # type: ignore[attr-defined]
                k: p.default for k, p in cls.__private_attributes__.items()
            }
        data = {
            k: values[k] if k in values else defaults[k]()  # type: ignore[index]
            for k in cls._vt_field_names  # type: ignore[attr-defined]
            if k in values or k in defaults
        }
        obj = cls.__new__(cls)
        object.__setattr__(obj, "__dict__", data)
        object.__setattr__(obj, "__pydantic_fields_set__", set(values))
        object.__setattr__(obj, "__pydantic_extra__", None)
        object.__setattr__(obj, "__pydantic_private__", dict(cls._vt_private))  # type: ignore[attr-defined]
        return obj

    @classmethod
    def _from_fields(cls: type[R], data: dict[str, Any]) -> R:
        """:meth:`construct_fast` for ``data`` holding every field, in field order (creates)."""
        private = cls.__dict__.get("_vt_private")
        if private is None:  # first use of the class: construct_fast prepares it
            return cls.construct_fast(**data)
        obj = cls.__new__(cls)
        object.__setattr__(obj, "__dict__", data)
        object.__setattr__(obj, "__pydantic_fields_set__", set(data))
        object.__setattr__(obj, "__pydantic_extra__", None)
        object.__setattr__(obj, "__pydantic_private__", dict(private))
        return obj

    # -- identity -----------------------------------------------------------
    @property
    def resource_id(self) -> str:
        """The last segment of :attr:`name`."""
        return self.name.rsplit("/", 1)[-1]

    @property
    def resource_name(self) -> str:
        """The full resource name (alias of :attr:`name`, as in the Vertex SDK)."""
        return self.name

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Resource):
            return NotImplemented
        return type(self) is type(other) and self.name == other.name and self.etag == other.etag

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.name))

    def __repr__(self) -> str:
        state = getattr(self, "state", None)
        extra = f", state={state.value}" if state is not None else ""
        return (
            f"{type(self).__name__}(name={self.name!r}, schema_title={self.schema_title!r}"
            f", display_name={self.display_name!r}{extra})"
        )

    # -- store access -------------------------------------------------------
    @staticmethod
    def _store(store: MetadataStore | None = None) -> MetadataStore:
        if store is not None:
            return store
        from .store import get_store

        return get_store()

    def _own_store(self) -> MetadataStore:
        # __pydantic_private__ directly: the attribute goes through BaseModel.__getattr__.
        bound = (self.__pydantic_private__ or {}).get("_bound")
        return bound if bound is not None else self._store()

    @classmethod
    def get(cls: type[R], resource_id_or_name: str, *, store: MetadataStore | None = None) -> R:
        """Fetch one resource by resource id or full resource name.

        Raises:
            NotFoundError: no such resource in the store.
            InvalidArgumentError: the name is of another kind or store.
        """
        s = cls._store(store)
        return s.get(cls.kind, s.resource_id_from(cls.kind, resource_id_or_name))  # type: ignore[return-value]

    @classmethod
    def list(
        cls: type[R],
        filter: str | None = None,
        order_by: str | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
        *,
        strict: bool = False,
        store: MetadataStore | None = None,
    ) -> ResourceList:
        """List resources matching a Vertex filter string.

        Without ``page_size`` the result holds every match. With ``page_size``
        it holds one page and ``result.next_page_token`` is the token for the
        next call (``None`` after the last page). Page tokens are keyset
        cursors: a walk returns every record that existed when it started
        exactly once, even while others insert.

        Args:
            filter: e.g. ``'schema_title = "system.Model" AND create_time > "2024-01-01T00:00:00Z"'``.
            order_by: ``"field [asc|desc], ..."``; default ``create_time`` then name.
            page_size: maximum number of results (>= 1).
            page_token: the ``next_page_token`` of the previous page.
            strict: reject extensions Vertex does not document.

        Raises:
            FilterError: the filter is malformed (with the position).
            InvalidArgumentError: bad ``order_by``, ``page_size`` or ``page_token``.
        """
        items, token = cls._store(store).list(
            cls.kind, filter=filter, order_by=order_by, page_size=page_size,
            page_token=page_token, strict=strict,
        )
        result = ResourceList(items)
        result.next_page_token = token
        return result

    @classmethod
    def iter(
        cls: type[R],
        filter: str | None = None,
        order_by: str | None = None,
        page_size: int = 1000,
        *,
        strict: bool = False,
        store: MetadataStore | None = None,
    ) -> Iterator[R]:
        """Walk every match lazily, one page of ``page_size`` at a time."""
        token: str | None = None
        while True:
            page = cls.list(filter, order_by, page_size, token, strict=strict, store=store)
            yield from page
            token = page.next_page_token
            if token is None:
                return

    @classmethod
    def purge(
        cls,
        filter: str,
        force: bool = False,
        *,
        store: MetadataStore | None = None,
    ) -> PurgeResult:
        """Delete every resource matching ``filter`` (a dry run unless ``force``).

        Returns:
            A :class:`~vertex_track.store.base.PurgeResult`: ``purge_count`` and
            ``purge_sample`` (up to 100 names that would be, or were, deleted).
        """
        if not isinstance(filter, str) or not filter.strip():
            raise InvalidArgumentError(
                "filter is required for purge (an empty filter would delete everything); "
                'pass e.g. filter=\'display_name = "*tmp*"\''
            )
        return cls._store(store).purge(cls.kind, filter, force=force)

    def _update(self: R, changes: dict[str, Any]) -> R:
        if "display_name" in changes and changes["display_name"] is not None:
            v.check_display_name(changes["display_name"])
        if "metadata" in changes and changes["metadata"] is not None:
            v.check_metadata(changes["metadata"])
            v.json_text({**self.metadata, **changes["metadata"]})  # merged: the size limit
        if "labels" in changes and changes["labels"] is not None:
            v.check_labels(changes["labels"])
        if "description" in changes and changes["description"] is not None:
            v.check_description(changes["description"])
        if changes.get("uri"):
            v.check_uri(changes["uri"])
        changes = {k: val for k, val in changes.items() if val is not None}
        fresh = self._own_store().update(self, changes)
        self.__dict__.update(fresh.__dict__)
        return self

    def delete(self, *, store: MetadataStore | None = None) -> None:
        """Delete this resource (its events and links go with it).

        Raises:
            NotFoundError: it was already deleted.
        """
        (store or self._own_store()).delete(self.kind, [self.resource_id], missing_ok=False)

    def sync_resource(self) -> None:
        """Re-read this resource from the store (as the Vertex SDK's ``sync_resource``)."""
        fresh = type(self).get(self.resource_id, store=self._own_store())
        self.__dict__.update(fresh.__dict__)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (timestamps as RFC 3339 strings, enums as strings)."""
        data = self.model_dump(mode="json")
        data["resource_id"] = self.resource_id
        return data


def _coerce_state(enum: type[_StrEnum], value: Any, field: str = "state") -> Any:
    if value is None or isinstance(value, enum):
        return value
    if isinstance(value, Enum):
        value = value.name
    if isinstance(value, str):
        try:
            return enum(value.upper())
        except ValueError:
            pass
    allowed = ", ".join(m.value for m in enum)
    raise InvalidArgumentError(f"{field} must be one of {allowed}, got {value!r}")


def _create_common(
    cls: type[_Resource],
    *,
    schema_title: str | None,
    resource_id: str | None,
    display_name: str | None,
    schema_version: str | None,
    description: str | None,
    metadata: dict[str, Any] | None,
    labels: dict[str, str] | None,
    store: MetadataStore,
) -> dict[str, Any]:
    # Each given value is checked once; omitted ones take defaults that pass.
    schema_title = cls.default_schema_title if schema_title is None else schema_title
    v.check_schema_title(schema_title)
    if schema_version is None:
        schema_version = "0.0.1"
    else:
        v.check_schema_version(schema_version)
    if resource_id is not None:
        v.check_resource_id(resource_id)
    if display_name is None:
        display_name = ""
    else:
        v.check_display_name(display_name)
    if description is None:
        description = ""
    else:
        v.check_description(description)
    if metadata is None:
        metadata = {}
    else:
        v.check_metadata(metadata)
    if labels is None:
        labels = {}
    else:
        v.check_labels(labels)
    rid = resource_id or v.generate_resource_id()
    now = _time.now()
    return {
        "name": store.resource_name(cls.kind, rid),
        "display_name": display_name,
        "schema_title": schema_title,
        "schema_version": schema_version,
        "metadata": dict(metadata),
        "labels": dict(labels),
        "description": description,
        "create_time": now,
        "update_time": now,
        "etag": "",
    }  # every _Resource field, in field order; the create methods add their own
