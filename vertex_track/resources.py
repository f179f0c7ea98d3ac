"""The resources of Vertex ML Metadata: Artifact, Execution, Context, Event.

The models here are plain data plus thin methods that delegate to the active
metadata store (:mod:`vertex_track.store`); they know nothing about SQL. What
the three share (fields, ``get``/``list``/``iter``/``purge``) is in
:mod:`vertex_track.resource_base`.
Validation lives in :mod:`vertex_track.validation` and raises
:class:`~vertex_track.exceptions.InvalidArgumentError`.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, PrivateAttr

from . import validation as v
from .exceptions import InvalidArgumentError
from .resource_base import List, ResourceList, _coerce_state, _create_common, _Resource
from .types import (  # re-exported: part of this module's public names
    ArtifactState,
    Event,
    EventType,
    ExecutionState,
    register_resource_class,
)

if TYPE_CHECKING:
    from .store.base import Direction, MetadataStore

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
        from .artifacts.loading import load_artifact_value

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
