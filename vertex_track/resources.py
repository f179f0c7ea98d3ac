"""The resources of Vertex ML Metadata: Artifact, Execution, Context, Event.

The models here are plain data plus thin methods that delegate to the active
metadata store (:mod:`vertex_track.store`); they know nothing about SQL.
Validation lives in :mod:`vertex_track.validation` and raises
:class:`~vertex_track.exceptions.InvalidArgumentError`.
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Iterator, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from . import validation as v
from .exceptions import InvalidArgumentError
from .types import (  # re-exported: part of this module's public names
    ArtifactState,
    Event,
    EventType,
    ExecutionState,
    _StrEnum,
    register_resource_class,
)

if TYPE_CHECKING:
    from .store.base import Direction, MetadataStore, PurgeResult

__all__ = [
    "Artifact",
    "ArtifactState",
    "Context",
    "Event",
    "EventType",
    "Execution",
    "ExecutionState",
    "ResourceList",
]

List = builtins.list  # the classmethods below are called `list`


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


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
    create_time: dt.datetime = Field(default_factory=_now)
    update_time: dt.datetime = Field(default_factory=_now)
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
    now = _now()
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


class Artifact(_Resource):
    """An artifact: a piece of data an execution consumed or produced.

    ``uri`` points at the bytes (any fsspec URL); small values tracked by
    :func:`vertex_track.track` are kept inline in ``metadata`` instead.
    """

    kind: ClassVar[str] = "artifacts"
    default_schema_title: ClassVar[str] = "system.Artifact"

    uri: str = ""
    state: ArtifactState = ArtifactState.LIVE

    @classmethod
    def create(
        cls,
        schema_title: str | None = None,
        *,
        uri: str | None = None,
        resource_id: str | None = None,
        display_name: str | None = None,
        schema_version: str | None = None,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        labels: dict[str, str] | None = None,
        state: ArtifactState | str = ArtifactState.LIVE,
        store: MetadataStore | None = None,
    ) -> Artifact:
        """Create an Artifact (as the Vertex AI SDK's ``aiplatform.Artifact.create``).

        Args:
            schema_title: ``namespace.Name``, default ``system.Artifact``.
            uri: where the artifact's bytes are.
            resource_id: id unique in the store; generated when omitted.
            display_name, schema_version, description, metadata, labels: as in Vertex.
            state: ``LIVE`` (default) or ``PENDING``.

        Raises:
            InvalidArgumentError: a field breaks its rule (message names it).
            AlreadyExistsError: ``resource_id`` is taken.
        """
        s = cls._store(store)
        fields = _create_common(
            cls, schema_title=schema_title, resource_id=resource_id, display_name=display_name,
            schema_version=schema_version, description=description, metadata=metadata,
            labels=labels, store=s,
        )
        if uri is not None and not isinstance(uri, str):
            raise InvalidArgumentError(f"uri must be a string, got {type(uri).__name__}")
        if uri:
            v.check_uri(uri)
        fields["uri"] = uri or ""
        fields["state"] = _coerce_state(ArtifactState, state)
        return s.create(cls._from_fields(fields))  # type: ignore[return-value]

    def update(
        self,
        *,
        display_name: str | None = None,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        labels: dict[str, str] | None = None,
        state: ArtifactState | str | None = None,
        uri: str | None = None,
    ) -> Artifact:
        """Update fields in place; ``metadata`` keys are merged into the existing ones.

        Raises:
            ConflictError: the artifact changed since this object was read (stale etag).
            NotFoundError: it was deleted.
        """
        return self._update({
            "display_name": display_name, "description": description, "metadata": metadata,
            "labels": labels, "state": _coerce_state(ArtifactState, state), "uri": uri,
        })

    @property
    def digest(self) -> str | None:
        """Content digest (``sha256:...``) recorded by tracking, if any."""
        vt_meta = self.metadata.get("vertex_track")
        return vt_meta.get("digest") if isinstance(vt_meta, dict) else None

    def load(self, trust: bool = False) -> Any:
        """The Python value back, through the materializer that wrote it.

        The record is not trusted blindly: only objects of the artifact store
        are read (not an arbitrary path or URL a hand-made record names), their
        bytes must still have the digest recorded for them, and pickles are
        read only from the artifact roots this process uses.

        Args:
            trust: read from any location and unpickle what is there. Pickles
                run code when loaded: pass it only for stores you trust like
                code you run. The recorded digest is still checked.

        Raises:
            InvalidArgumentError: the artifact has no value vertex_track can read
                (e.g. created by hand with a URI no materializer knows).
            UntrustedArtifactError: (an InvalidArgumentError) the location is
                outside the artifact store, or a pickle outside the trusted roots.
            ArtifactIntegrityError: (an InvalidArgumentError) the stored bytes
                were modified since they were recorded.
            NotFoundError: the bytes are gone.
        """
        from .tracking.values import load_artifact_value

        return load_artifact_value(self, trust=trust)

    def get_executions(self, type: EventType | str | None = None) -> List[Execution]:
        """Executions that consumed (``INPUT``) or produced (``OUTPUT``) this artifact."""
        t = _coerce_state(EventType, type, "type") if type is not None else None
        return _linked(self, "executions", t)


class Execution(_Resource):
    """An execution: one step of an ML workflow (a tracked task run)."""

    kind: ClassVar[str] = "executions"
    default_schema_title: ClassVar[str] = "system.ContainerExecution"

    state: ExecutionState = ExecutionState.RUNNING
    # Links assigned inside ``start_execution``; written with the end state.
    _pending: List[Any] | None = PrivateAttr(default=None)

    @classmethod
    def create(
        cls,
        schema_title: str | None = None,
        *,
        state: ExecutionState | str = ExecutionState.RUNNING,
        resource_id: str | None = None,
        display_name: str | None = None,
        schema_version: str | None = None,
        metadata: dict[str, Any] | None = None,
        labels: dict[str, str] | None = None,
        description: str | None = None,
        store: MetadataStore | None = None,
    ) -> Execution:
        """Create an Execution (as the Vertex AI SDK's ``aiplatform.Execution.create``); state defaults to RUNNING.

        Raises:
            InvalidArgumentError: a field breaks its rule.
            AlreadyExistsError: ``resource_id`` is taken.
        """
        s = cls._store(store)
        return s.create(cls._new(  # type: ignore[return-value]
            schema_title, state=state, resource_id=resource_id, display_name=display_name,
            schema_version=schema_version, metadata=metadata, labels=labels,
            description=description, store=s,
        ))

    @classmethod
    def _new(
        cls,
        schema_title: str | None = None,
        *,
        state: ExecutionState | str,
        resource_id: str | None,
        display_name: str | None,
        schema_version: str | None,
        metadata: dict[str, Any] | None,
        labels: dict[str, str] | None,
        description: str | None,
        store: MetadataStore,
    ) -> Execution:
        """A validated Execution for :meth:`create`, not yet stored."""
        fields = _create_common(
            cls, schema_title=schema_title, resource_id=resource_id, display_name=display_name,
            schema_version=schema_version, description=description, metadata=metadata,
            labels=labels, store=store,
        )
        fields["state"] = _coerce_state(ExecutionState, state)
        return cls._from_fields(fields)

    def update(
        self,
        *,
        display_name: str | None = None,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        labels: dict[str, str] | None = None,
        state: ExecutionState | str | None = None,
    ) -> Execution:
        """Update fields in place; ``metadata`` keys are merged (etag-checked)."""
        return self._update({
            "display_name": display_name, "description": description, "metadata": metadata,
            "labels": labels, "state": _coerce_state(ExecutionState, state),
        })

    def assign_input_artifacts(self, artifacts: Sequence[Artifact | str]) -> None:
        """Record INPUT events from ``artifacts`` (objects or resource names) to this execution.

        Inside ``start_execution`` the events are written with the end state.
        """
        self._assign(artifacts, EventType.INPUT)

    def assign_output_artifacts(self, artifacts: Sequence[Artifact | str]) -> None:
        """Record OUTPUT events from this execution to ``artifacts``."""
        self._assign(artifacts, EventType.OUTPUT)

    def _assign(self, artifacts: Sequence[Artifact | str], event_type: EventType) -> None:
        if isinstance(artifacts, (str, Artifact)):
            raise InvalidArgumentError(
                "artifacts must be a list of Artifacts or resource names, "
                f"got a single {builtins.type(artifacts).__name__}"
            )
        for a in artifacts:
            if not isinstance(a, (Artifact, str)):
                raise InvalidArgumentError(
                    f"artifacts must be Artifacts or resource names, got {a!r}"
                )
        pending = (self.__pydantic_private__ or {}).get("_pending")
        if pending is not None:
            from .store.base import ArtifactLink

            pending.extend([ArtifactLink(a, event_type) for a in artifacts])
        else:
            self._own_store().add_events(self, artifacts, event_type)

    def _flush(self) -> None:
        if self._pending:
            from .store.base import ArtifactLink

            pending: List[ArtifactLink] = self._pending
            self._pending = []
            store = self._own_store()
            for t in (EventType.INPUT, EventType.OUTPUT):
                batch = [link.artifact for link in pending if link.type == t]
                if batch:
                    store.add_events(self, batch, t)

    def get_input_artifacts(self) -> List[Artifact]:
        """The artifacts this execution consumed, in event order."""
        self._flush()
        return _linked(self, "artifacts", EventType.INPUT)

    def get_output_artifacts(self) -> List[Artifact]:
        """The artifacts this execution produced, in event order."""
        self._flush()
        return _linked(self, "artifacts", EventType.OUTPUT)

    def get_events(self) -> List[Event]:
        """Every event of this execution (inputs then outputs, in time order)."""
        self._flush()
        return self._own_store().get_events(execution=self)


class Context(_Resource):
    """A context groups artifacts and executions (a pipeline run, an experiment)."""

    kind: ClassVar[str] = "contexts"
    default_schema_title: ClassVar[str] = "system.Run"

    parent_contexts: List[str] = Field(default_factory=list)

    @classmethod
    def create(
        cls,
        schema_title: str | None = None,
        *,
        resource_id: str | None = None,
        display_name: str | None = None,
        schema_version: str | None = None,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        labels: dict[str, str] | None = None,
        parent_contexts: Sequence[Context | str] | None = None,
        store: MetadataStore | None = None,
    ) -> Context:
        """Create a Context; ``parent_contexts`` (at most 10) are objects or resource names.

        Raises:
            InvalidArgumentError: a field breaks its rule, or a parent would make a cycle.
            NotFoundError: a parent does not exist.
            AlreadyExistsError: ``resource_id`` is taken.
        """
        s = cls._store(store)
        fields = _create_common(
            cls, schema_title=schema_title, resource_id=resource_id, display_name=display_name,
            schema_version=schema_version, description=description, metadata=metadata,
            labels=labels, store=s,
        )
        parents = [s.name_of("contexts", p) for p in (parent_contexts or [])]
        v.check_parent_contexts(parents)
        fields["parent_contexts"] = parents
        context = cls._from_fields(fields)
        return s.create(context)  # type: ignore[return-value]

    def update(
        self,
        *,
        display_name: str | None = None,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        labels: dict[str, str] | None = None,
    ) -> Context:
        """Update fields in place; ``metadata`` keys are merged (etag-checked)."""
        return self._update({
            "display_name": display_name, "description": description, "metadata": metadata,
            "labels": labels,
        })

    def add_artifacts_and_executions(
        self,
        artifact_resource_names: Sequence[str] | None = None,
        execution_resource_names: Sequence[str] | None = None,
    ) -> None:
        """Attribute artifacts and associate executions (by resource name) to this context."""
        self._own_store().add_to_context(
            self, artifacts=List(artifact_resource_names or []),
            executions=List(execution_resource_names or []),
        )

    def add_context_children(self, contexts: Sequence[Context | str]) -> None:
        """Make ``contexts`` (objects or names) children of this context.

        Raises:
            InvalidArgumentError: a child would get more than 10 parents, or a cycle.
        """
        self._own_store().add_context_children(self, List(contexts))
        self.sync_resource()

    def get_artifacts(self, filter: str | None = None) -> List[Artifact]:
        """Artifacts attributed to this context (directly)."""
        return Artifact.list(_and(f'in_context("{self.name}")', filter), store=self._own_store())

    def get_executions(self, filter: str | None = None) -> List[Execution]:
        """Executions associated with this context (directly)."""
        return Execution.list(
            _and(f'in_context("{self.name}")', filter), store=self._own_store()
        )

    def get_child_contexts(self) -> List[Context]:
        """Direct children of this context."""
        return Context.list(f'parent_contexts:"{self.name}"', store=self._own_store())


def _linked(start: _Resource, kind: str, type: EventType | None) -> Any:
    """Resources of ``kind`` one event away from ``start``, in the order of their first
    event (of ``type``, if given); none when ``start`` is gone."""
    from .exceptions import NotFoundError

    direction: Direction = "both" if type is None else (
        "upstream" if (type == EventType.INPUT) == (kind == "artifacts") else "downstream")
    try:
        artifacts, executions, events = start._own_store().lineage(
            start.kind, [start.resource_id], direction=direction, max_depth=1)
    except NotFoundError:
        return []
    found = {r.name: r for r in (artifacts if kind == "artifacts" else executions)}
    mine = start.name
    order = [ev.artifact if kind == "artifacts" else ev.execution for ev in events
             if (ev.execution if kind == "artifacts" else ev.artifact) == mine
             and (type is None or ev.type == type)]
    return [found[name] for name in dict.fromkeys(order) if name in found]


def _and(base: str, extra: str | None) -> str:
    return f"{base} AND ({extra})" if extra else base


for _cls in (Artifact, Execution, Context):
    register_resource_class(_cls)
