"""The metadata store protocol.

A store keeps Vertex ML Metadata resources and their links. It takes and
returns the models of :mod:`vertex_track.resources` (never rows or driver
objects), and raises only :mod:`vertex_track.exceptions` errors. The
protocol is deliberately small; conveniences (``start_execution``,
``PipelineRun``, experiments) are built on top of it once, for every backend.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from ..resources import Artifact, Context, Event, EventType, Execution, _Resource


@dataclass
class PurgeResult:
    """What a purge deleted, or would delete (``force=False``).

    Attributes:
        purge_count: how many resources match the filter.
        purge_sample: up to 100 of their resource names.
        downstream_executions: up to 100 names of executions outside the purge
            whose provenance it cuts (they consumed a purged artifact, or an
            output of a purged execution).
        forced: whether anything was deleted.
    """

    purge_count: int
    purge_sample: builtins.list[str] = field(default_factory=list)
    downstream_executions: builtins.list[str] = field(default_factory=list)
    forced: bool = False


@dataclass
class ArtifactLink:
    """One artifact of :meth:`MetadataStore.put_execution` and its event."""

    artifact: Artifact | str
    type: EventType
    label: str | None = None
    # Record the event only if the artifact already exists (never create it):
    # elements of a container argument that an upstream task recorded.
    only_existing: bool = False


# Tracking writes thousands of records a second, so it describes them as plain
# tuples of strings and numbers rather than validated resource models: cheap to
# build, and (exact tuples only, not even NamedTuples) untracked by the garbage
# collector once it has seen them, which matters when thousands are queued.

#: A new artifact, trusted values, metadata already JSON text:
#: ``(resource_id, display_name, schema_title, metadata_json, uri, content_digest,
#: create_us)`` (times in microseconds since the Unix epoch, UTC).
ArtifactRow = tuple[str, str, str, str, str, str | None, int]

#: One state of a tracked execution:
#: ``(resource_id, display_name, schema_title, state, metadata_json, create_us, update_us)``.
ExecutionRow = tuple[str, str, str, str, str, int, int]

#: One event: ``(type, label, artifact)`` with type ``"INPUT"``/``"OUTPUT"`` and
#: artifact a new :data:`ArtifactRow` (inserted unless its resource id exists:
#: content addressing) or the resource id of an artifact recorded earlier (the
#: event is skipped if that artifact is gone).
LinkRow = tuple[str, str, ArtifactRow | str]


class TrackedRecord(NamedTuple):
    """What the tracking writer hands to :meth:`MetadataStore.put_tracked`.

    ``fresh`` says the execution was not written before by this process
    (its first record), so it is inserted optimistically; otherwise it is
    looked up and updated (its etag goes up by one).
    """

    execution: ExecutionRow
    links: Sequence[LinkRow]
    contexts: Sequence[str]  # resource ids of existing contexts
    fresh: bool


class MetadataStore(Protocol):
    """What every metadata backend provides."""

    prefix: str  # projects/{p}/locations/{l}/metadataStores/{s}
    uri: str

    def resource_name(self, kind: str, resource_id: str) -> str: ...

    def resource_id_from(self, kind: str, id_or_name: str) -> str: ...

    def name_of(self, kind: str, resource_or_name: Any) -> str: ...

    def create(self, resource: _Resource) -> _Resource:
        """Insert a new resource (and, for a context, its parent links) atomically.

        Raises AlreadyExistsError when the resource id is taken, NotFoundError
        for a missing parent context."""
        ...

    def get(self, kind: str, resource_id: str) -> _Resource:
        """Raises NotFoundError."""
        ...

    def list(
        self,
        kind: str,
        *,
        filter: str | None = None,
        order_by: str | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
        strict: bool = False,
    ) -> tuple[builtins.list[Any], str | None]:
        """One page of matches and the next token (None at the end)."""
        ...

    def update(self, resource: _Resource, changes: dict[str, Any]) -> _Resource:
        """Apply ``changes`` if the stored etag still equals ``resource.etag``.

        ``metadata`` is merged key by key. Raises ConflictError for a stale
        etag, NotFoundError if the resource is gone."""
        ...

    def delete(self, kind: str, resource_ids: Sequence[str], *, missing_ok: bool = True) -> int:
        """Delete resources with their events and links; returns how many."""
        ...

    def purge(self, kind: str, filter: str, *, force: bool = False) -> PurgeResult: ...

    def put_execution(
        self,
        execution: Execution,
        links: Sequence[ArtifactLink] = (),
        contexts: Sequence[Context] = (),
    ) -> tuple[Execution, builtins.list[Artifact]]:
        """Write one execution record in one transaction (ml-metadata's put_execution).

        The execution is inserted if new, else overwritten (state, metadata,
        labels, display_name, description) without an etag check. Each
        artifact is inserted unless an artifact with its resource id already
        exists, in which case the stored one is used (content addressing).
        Events are added for every link; the execution and all artifacts are
        associated/attributed to every context. Returns the stored execution
        and artifacts (in ``links`` order)."""
        ...

    def put_tracked(self, records: Sequence[TrackedRecord], *, replay: bool = False) -> None:
        """Write a batch of tracking records in ONE transaction, in order.

        Same semantics as :meth:`put_execution` per record (insert or
        overwrite the execution, insert-or-reuse artifacts, events, context
        links), for rows tracking built from trusted values. A context that
        does not exist raises NotFoundError and writes nothing.

        ``replay=True`` (records from the spool, maybe written before) makes
        it idempotent: an event the execution already has is not added again,
        and an execution in a final state is not set back to a running one.

        Raises:
            StoreUnavailableError: the store cannot be reached (after retries).
        """
        ...

    def add_events(
        self, execution: Execution, artifacts: Sequence[Artifact | str], type: EventType
    ) -> None: ...

    def get_events(
        self, *, execution: Execution | None = None, artifact: Artifact | None = None
    ) -> builtins.list[Event]: ...

    def get_artifacts_by_execution(
        self, execution: Execution, type: EventType | None
    ) -> builtins.list[Artifact]: ...

    def get_executions_by_artifact(
        self, artifact: Artifact, type: EventType | None
    ) -> builtins.list[Execution]: ...

    def add_to_context(
        self, context: Context, *, artifacts: Sequence[str], executions: Sequence[str]
    ) -> None: ...

    def add_context_children(self, context: Context, children: Sequence[Context | str]) -> None:
        """Raises InvalidArgumentError for a cycle or more than 10 parents."""
        ...
