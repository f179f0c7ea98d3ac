"""The metadata store protocol.

A store keeps Vertex ML Metadata resources and their links. It takes and
returns the models of :mod:`vertex_track.resources` (never rows or driver
objects), and raises only :mod:`vertex_track.exceptions` errors. The
protocol is deliberately small, in the manner of ml-metadata's
``MetadataStore`` and MLflow's ``AbstractStore``: a few primitives, each
saying what it inserts and what it updates, what is atomic, what order it
guarantees and what it raises. Conveniences (``start_execution``,
``PipelineRun``, experiments, lineage views) are built on top of it once,
for every backend.
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

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


#: One time series point of an experiment run: ``(metric, step, wall_time_us, value)``
#: (wall time in microseconds since the Unix epoch, UTC).
TimeSeriesRow = tuple[str, int, int, float]

#: A point as :meth:`MetadataStore.read_time_series` returns it:
#: ``(step, wall_time_us, value)``.
TimeSeriesPoint = tuple[int, int, float]

Direction = Literal["upstream", "downstream", "both"]


@dataclass
class IntegrityFinding:
    """One problem :meth:`MaintenanceStore.check_integrity` found.

    Attributes:
        check: ``"integrity"`` (the database's own consistency check) or
            ``"dangling"`` (link rows whose resource row is gone).
        message: what is wrong and, when it is not fixed, what to do.
        fixed: whether ``fix=True`` repaired it.
    """

    check: str
    message: str
    fixed: bool = False


class MetadataStore(Protocol):
    """What every metadata backend provides.

    Resources are addressed by kind (``"artifacts"``, ``"executions"``,
    ``"contexts"``) and resource id; their full names are
    ``f"{prefix}/{kind}/{resource_id}"``. Every method is one transaction
    unless it says otherwise, and every error is a
    :mod:`vertex_track.exceptions` error: :class:`StoreUnavailableError` when
    the store cannot be reached or is open read-only for a write, in addition
    to the errors each method lists.

    Attributes:
        prefix: ``projects/{project}/locations/{location}/metadataStores/{store}``.
        uri: the URI the store was opened with.
    """

    prefix: str
    uri: str

    # -- names --------------------------------------------------------------------
    def resource_name(self, kind: str, resource_id: str) -> str:
        """The full resource name of ``resource_id`` of ``kind`` in this store (no lookup)."""
        ...

    def resource_id_from(self, kind: str, id_or_name: str) -> str:
        """The resource id in ``id_or_name``: a resource id, or a full name of this store.

        Raises:
            InvalidArgumentError: an empty value, or a full name of another
                store or kind.
        """
        ...

    def name_of(self, kind: str, resource_or_name: Any) -> str:
        """The full name of a resource model, a resource id or a full name (no lookup).

        Raises:
            InvalidArgumentError: as :meth:`resource_id_from`.
        """
        ...

    # -- resources ------------------------------------------------------------------
    def create(self, resource: _Resource) -> _Resource:
        """Insert a new resource; a context's parent links are inserted with it.

        Nothing is updated: an existing resource id is an error. Atomic: the
        resource and its parent links are written together or not at all.

        Args:
            resource: an Artifact, Execution or Context model whose name holds
                the resource id to create.

        Returns:
            A copy of ``resource`` bound to this store, with etag ``"1"``.

        Raises:
            AlreadyExistsError: the resource id is taken in this store.
            NotFoundError: a parent context does not exist.
        """
        ...

    def get(self, kind: str, resource_id: str) -> _Resource:
        """The stored resource ``resource_id`` of ``kind``.

        Raises:
            NotFoundError: it does not exist.
        """
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
        """One page of the resources of ``kind`` matching ``filter``.

        Pages are keyset-paged: a resource created or deleted between two
        calls does not shift the others, but may or may not appear. The
        order is ``order_by`` then creation order within ties (default:
        ``create_time`` ascending, then resource id).

        Args:
            filter: a Vertex filter (AIP-160); ``None`` matches everything.
            order_by: ``"field [asc|desc], ..."``.
            page_size: 1 to 10,000; ``None`` returns every match in one page.
            page_token: the token a previous call with the same ``filter``
                and ``order_by`` returned.
            strict: reject the filter extensions Vertex does not document.

        Returns:
            ``(resources, next_page_token)``; the token is ``None`` after the
            last page.

        Raises:
            FilterError: a malformed filter.
            InvalidArgumentError: a bad ``order_by``, ``page_size`` or
                ``page_token`` (one of another query).
        """
        ...

    def count(self, kind: str, filter: str | None = None, *, strict: bool = False) -> int:
        """How many resources of ``kind`` match ``filter`` (no rows are loaded).

        Raises:
            FilterError: a malformed filter.
        """
        ...

    def update(self, resource: _Resource, changes: dict[str, Any]) -> _Resource:
        """Apply ``changes`` to the stored resource if its etag still equals ``resource.etag``.

        Only the fields in ``changes`` are written; ``metadata`` is merged key
        by key into the stored metadata (a key in ``changes["metadata"]``
        replaces the stored value of that key). The etag goes up by one.

        Returns:
            A copy of ``resource`` with the changes, the new etag and update time.

        Raises:
            ConflictError: the stored etag differs (someone else updated it
                since it was read), or ``resource.etag`` is not an etag.
            NotFoundError: the resource is gone.
        """
        ...

    def delete(self, kind: str, resource_ids: Sequence[str], *, missing_ok: bool = True) -> int:
        """Delete resources with their events, context links and (contexts) parent links.

        Artifacts and executions at the other end of a deleted event stay.
        Atomic: all of ``resource_ids`` are deleted or none.

        Returns:
            How many resources were deleted.

        Raises:
            NotFoundError: with ``missing_ok=False``, one of them does not
                exist (and nothing is deleted).
        """
        ...

    def purge(self, kind: str, filter: str, *, force: bool = False) -> PurgeResult:
        """Delete every resource of ``kind`` matching ``filter``, as :meth:`delete` does.

        ``force=False`` deletes nothing and reports what would be deleted.
        The report and the deletion are one transaction.

        Raises:
            FilterError: a malformed filter.
        """
        ...

    # -- executions ----------------------------------------------------------------
    def put_execution(
        self,
        execution: Execution,
        links: Sequence[ArtifactLink] = (),
        contexts: Sequence[Context] = (),
    ) -> tuple[Execution, builtins.list[Artifact]]:
        """Write one execution with its artifacts, events and context links, atomically.

        The execution is inserted if its resource id is new, else overwritten
        (state, metadata, labels, display name, description) without an etag
        check; its etag goes up by one. Each artifact object in ``links`` is
        inserted unless an artifact with its resource id exists, in which case
        the stored one is kept unchanged (content addressing); an artifact
        given by name must exist, unless the link is ``only_existing`` (then a
        missing one is skipped). An event is added for every link (events
        already recorded are not deduplicated). The execution is associated,
        and every linked artifact attributed, to each of ``contexts``.

        Returns:
            The stored execution and the artifact objects of ``links``, in
            ``links`` order, bound to this store.

        Raises:
            NotFoundError: a context, or an artifact given by name, does not
                exist; nothing is written.
            InvalidArgumentError: a malformed artifact name.
        """
        ...

    def put_tracked(self, records: Sequence[TrackedRecord], *, replay: bool = False) -> None:
        """Write a batch of tracking records in ONE transaction, in order.

        Per record, the semantics of :meth:`put_execution` (insert or
        overwrite the execution, insert-or-reuse artifacts, events, context
        links) for rows built from trusted values. A later record of the same
        execution overwrites an earlier one of the batch.

        ``replay=True`` (records from the spool, maybe written before) makes it
        idempotent: an event the execution already has is not added again, and
        an execution in a final state is not set back to a running one.

        Raises:
            NotFoundError: a context does not exist; nothing is written.
            StoreUnavailableError: the store cannot be reached (after retries).
        """
        ...

    # -- links ----------------------------------------------------------------------
    def add_events(
        self, execution: Execution, artifacts: Sequence[Artifact | str], type: EventType
    ) -> None:
        """Insert one event of ``type`` per artifact, atomically (duplicates are kept).

        Raises:
            NotFoundError: the execution or an artifact does not exist;
                nothing is written.
        """
        ...

    def get_events(
        self, *, execution: Execution | None = None, artifact: Artifact | None = None
    ) -> builtins.list[Event]:
        """The events of an execution and/or an artifact, in (event time, recording) order.

        A resource that does not exist has no events (no error).
        """
        ...

    def add_to_context(
        self, context: Context, *, artifacts: Sequence[str], executions: Sequence[str]
    ) -> None:
        """Attribute artifacts and associate executions to ``context``, atomically.

        Links that exist already are kept (not an error, not duplicated).

        Raises:
            NotFoundError: the context or one of the resources does not exist;
                nothing is written.
        """
        ...

    def add_context_children(self, context: Context, children: Sequence[Context | str]) -> None:
        """Make ``children`` child contexts of ``context``, atomically (existing links kept).

        Raises:
            NotFoundError: a context does not exist.
            InvalidArgumentError: a link would make a cycle, or give a child
                more than 10 parents; nothing is written.
        """
        ...

    def get_contexts(
        self, kind: str, resource_ids: Sequence[str], *, schema_title: str | None = None
    ) -> dict[str, builtins.list[Context]]:
        """The contexts each artifact is attributed / each execution associated to.

        Direct links only (not the parents of those contexts); one query for
        the whole list.

        Args:
            kind: ``"artifacts"`` or ``"executions"``.
            resource_ids: resource ids of that kind; ids that do not exist map
                to ``[]``.
            schema_title: only contexts of this schema title.

        Returns:
            ``{resource id: [Context, ...]}`` for every id given, contexts
            oldest first (create time, then name).

        Raises:
            InvalidArgumentError: ``kind`` is not artifacts or executions.
        """
        ...

    # -- lineage --------------------------------------------------------------------
    def lineage(
        self,
        start_kind: str,
        start_ids: Sequence[str],
        *,
        direction: Direction = "upstream",
        max_depth: int | None = None,
        filter: str | None = None,
    ) -> tuple[builtins.list[Artifact], builtins.list[Execution], builtins.list[Event]]:
        """The subgraph of artifacts and executions reachable over events, in one read.

        One hop is one event edge. Upstream goes from an artifact to the
        executions that output it and from an execution to its inputs;
        downstream the other way; ``"both"`` is the union of the two walks
        (not an undirected walk). Cycles terminate.

        Args:
            start_kind: ``"artifacts"``, ``"executions"``, or ``"contexts"``:
                then the start nodes are the artifacts attributed and the
                executions associated to those contexts (direct links only).
            start_ids: resource ids of ``start_kind``.
            direction: ``"upstream"``, ``"downstream"`` or ``"both"``.
            max_depth: how many event edges to follow; ``0``: the start nodes
                alone; ``None``: unbounded.
            filter: an artifact filter; only matching artifacts (and the start
                nodes) are returned, though the walk goes through all of them.
                Executions are not filtered.

        Returns:
            ``(artifacts, executions, events)``: the nodes reached, start nodes
            included, in no particular order, and every event between two
            returned nodes, in the order they were recorded.

        Raises:
            NotFoundError: a start resource does not exist.
            InvalidArgumentError: a bad ``start_kind``, ``direction`` or
                ``max_depth``.
            FilterError: a malformed ``filter``.
        """
        ...

    # -- experiments -------------------------------------------------------------------
    def append_time_series(self, run_context_id: str, rows: Sequence[TimeSeriesRow]) -> int:
        """Insert time series points of an experiment run, atomically (all or none).

        Points are only ever inserted: logging a metric twice at one step
        keeps both points, in recording order.

        Args:
            run_context_id: the resource id of the run's context.
            rows: ``(metric, step, wall_time_us, value)`` tuples, already
                validated (metric 1-256 characters, step >= 0, finite value).

        Returns:
            How many points were written.

        Raises:
            NotFoundError: the run context does not exist (it was deleted);
                nothing is written.
        """
        ...

    def read_time_series(
        self, run_context_ids: Sequence[str], *, latest: bool = False
    ) -> dict[str, dict[str, builtins.list[TimeSeriesPoint]]]:
        """The time series points of experiment runs, in one read.

        Args:
            run_context_ids: resource ids of run contexts.
            latest: return only the latest point of each metric (the highest
                step, then the latest wall time, then the last recorded).

        Returns:
            ``{run id: {metric: [(step, wall_time_us, value), ...]}}``, each
            metric's points by step, then in the order they were recorded
            (not by wall time within a step). Every run context that exists
            has an entry (``{}`` without points); ids that do not exist are
            left out. Points are the stored ones: a writer's buffered points
            are not in the store yet.
        """
        ...

    def merge_metadata(
        self, kind: str, resource_id: str, patch: dict[str, Any]
    ) -> tuple[str, dt.datetime]:
        """Merge ``patch`` into a resource's metadata inside the database, without an etag check.

        For each key of ``patch``: a dict value is merged key by key into the
        dict stored under that key (a stored non-dict is replaced); any other
        value replaces the stored one. The read and the write are one
        statement, so concurrent merges into one resource never lose each
        other's keys. The etag goes up by one.

        Args:
            kind: ``"contexts"`` or ``"executions"``.
            resource_id: the resource to change.
            patch: string keys to JSON values other than ``None``; dict values
                hold no dicts and no ``None``.

        Returns:
            The new ``(etag, update_time)``.

        Raises:
            NotFoundError: the resource does not exist.
            InvalidArgumentError: a bad ``kind`` or ``patch``.
        """
        ...


class MaintenanceStore(MetadataStore, Protocol):
    """Maintenance extensions of the SQL store, outside the tracking protocol.

    ``vertex-track doctor`` and ``PipelineRun.delete`` use them; a backend
    without them cannot run those commands.
    """

    def check_integrity(self, *, fix: bool = False) -> builtins.list[IntegrityFinding]:
        """Check the database's consistency and look for link rows whose resource is gone.

        ``fix=True`` deletes those dangling link rows (events, context links,
        parent links), in one transaction per kind of link; a damaged
        database file is only reported.

        Returns:
            The problems found (an empty list: healthy), at most 1000 per check.
        """
        ...

    def delete_run(self, context_resource_id: str, *, force: bool = False) -> Any:
        """Delete a ``system.PipelineRun`` context with what belongs to it alone.

        See :func:`vertex_track.store.sql.run_delete.delete_run` for what that
        is; ``force=False`` only reports it. One transaction.

        Returns:
            A ``RunDeletion`` report.

        Raises:
            NotFoundError: the context does not exist.
        """
        ...
