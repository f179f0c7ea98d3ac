"""``vt.PipelineRun``: the ``system.PipelineRun`` Context of one Prefect flow run.

Layout (the CLI and UI read it):
- resource id ``pipelinerun-<flow run id>``, display name = flow run name;
- metadata: ``flow_name``, ``flow_run_id``, ``flow_run_name``, ``parameters``,
  ``state`` (``RUNNING`` / ``COMPLETE`` / ``FAILED``), ``start_time``,
  ``end_time`` (RFC 3339), ``duration_s``;
- parent contexts: the parent flow run's PipelineRun (subflows) and the
  active ExperimentRun, if any.
"""

from __future__ import annotations

import builtins
import threading
import uuid
from typing import TYPE_CHECKING, Any, cast

from ..exceptions import AlreadyExistsError, InvalidArgumentError, NotFoundError
from ..resources import Artifact, Context, Execution, ExecutionState

if TYPE_CHECKING:
    from ..runs import RunDiff, RunSummary
    from ..store.base import MaintenanceStore

SCHEMA = "system.PipelineRun"
PREFIX = "pipelinerun-"

List = builtins.list


def context_id_for(flow_run_id: str | uuid.UUID) -> str:
    return f"{PREFIX}{flow_run_id}"


class PipelineRun:
    """A tracked flow run: its Context, executions and artifacts.

    Example::

        run = vt.PipelineRun.get(flow_run_id)       # or the context's name / id
        run.state                                   # "COMPLETE"
        [e.display_name for e in run.get_executions()]
    """

    def __init__(self, context: Context) -> None:
        if context.schema_title != SCHEMA:
            raise InvalidArgumentError(
                f"{context.name!r} is a {context.schema_title} context, not a {SCHEMA}"
            )
        self.context = context

    # -- lookup -------------------------------------------------------------------
    @classmethod
    def get(cls, flow_run_id_or_name: str | uuid.UUID, *, store: Any = None) -> PipelineRun:
        """The PipelineRun of a Prefect flow run id (str or UUID), or a context name/id.

        Raises:
            NotFoundError: no such run was tracked.
        """
        key = str(flow_run_id_or_name)
        candidates = [key] if "/" in key or key.startswith(PREFIX) else [context_id_for(key), key]
        for candidate in candidates:
            try:
                return cls(Context.get(candidate, store=store))
            except (NotFoundError, InvalidArgumentError):
                continue
        raise NotFoundError(f"no PipelineRun for {key!r} (a flow run id or a context name)")

    @classmethod
    def list(
        cls,
        filter: str | None = None,
        order_by: str | None = None,
        *,
        store: Any = None,
    ) -> List[PipelineRun]:
        """Every tracked flow run (newest last unless ``order_by`` says otherwise)."""
        f = f'schema_title = "{SCHEMA}"' + (f" AND ({filter})" if filter else "")
        return [cls(c) for c in Context.list(f, order_by=order_by, store=store)]

    # -- properties -----------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.context.name

    @property
    def resource_id(self) -> str:
        return self.context.resource_id

    @property
    def display_name(self) -> str:
        return self.context.display_name

    @property
    def metadata(self) -> dict[str, Any]:
        return self.context.metadata

    @property
    def flow_name(self) -> str | None:
        return self.context.metadata.get("flow_name")

    @property
    def flow_run_id(self) -> str | None:
        return self.context.metadata.get("flow_run_id")

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self.context.metadata.get("parameters") or {})

    @property
    def state(self) -> ExecutionState:
        """``RUNNING`` until the flow ends, then ``COMPLETE`` or ``FAILED``."""
        return ExecutionState(self.context.metadata.get("state", "RUNNING"))

    @property
    def create_time(self) -> Any:
        return self.context.create_time

    def get_executions(self, filter: str | None = None) -> List[Execution]:
        """Executions (task runs) of this flow run, in creation order."""
        return self.context.get_executions(filter)

    def get_artifacts(self, filter: str | None = None) -> List[Artifact]:
        """Artifacts this flow run consumed or produced."""
        return self.context.get_artifacts(filter)

    def get_lineage(self) -> Any:
        """The run's whole DAG: its executions, the artifacts they used and made, the events.

        Only this run's executions, even for an artifact that other runs made
        too (artifacts are shared by content). Same as
        ``vt.query_context_lineage_subgraph(run.context)``.

        Returns:
            A :class:`vertex_track.LineageSubgraph`.
        """
        from ..lineage import query_context_lineage_subgraph

        return query_context_lineage_subgraph(self.context, store=self.context._own_store())

    def summary(self) -> RunSummary:
        """What this run did, read from the store now: one lineage query.

        Example::

            s = vt.PipelineRun.get(flow_run_id).summary()
            s.state, s.duration_s                      # "COMPLETE", 12.4
            [(t.key, t.state) for t in s.executions]   # tasks in start order
            {m.name: m.value for m in s.metrics}       # numbers in *Metrics outputs

        Returns:
            A frozen :class:`vertex_track.RunSummary`; ``to_dict()`` is the JSON of
            ``vertex-track runs show --json``.
        """
        from ..runs import RunSummary

        return RunSummary.from_lineage(self.context, self.get_lineage())

    def diff(self, other: PipelineRun) -> RunDiff:
        """Compare this run (A) with ``other`` (B): state, duration, parameters, tasks
        (matched by task name), their inputs and outputs (by content digest), metrics.

        Example::

            d = vt.PipelineRun.get("crimson-fox").diff(vt.PipelineRun.get("lucky-owl"))
            [(p.name, p.a, p.b) for p in d.parameters if not p.same]
            [(m.name, m.delta) for m in d.metrics]

        Returns:
            A frozen :class:`vertex_track.RunDiff`; ``to_dict()`` is the JSON of
            ``vertex-track diff --json``.

        Raises:
            TypeError: ``other`` is not a ``PipelineRun`` (get one with
                ``vt.PipelineRun.get(flow_run_id_or_name)``).
        """
        if not isinstance(other, PipelineRun):
            raise TypeError(
                f"PipelineRun.diff() compares two pipeline runs, got {type(other).__name__}; "
                "pass vt.PipelineRun.get(<flow run id or name>)"
            )
        from ..runs import RunDiff

        return RunDiff.between(self.summary(), other.summary())

    def delete(self, *, force: bool = False, running_ok: bool = False) -> Any:
        """Delete this run: its context, its subflows' runs, their executions (with
        their events), and the artifacts nothing else references.

        An artifact another run also produced or consumed (artifacts are shared
        by content), or that another context holds (an experiment run), is
        kept. One transaction: all or nothing. Artifact files stay until
        ``vertex-track gc --force``. ``vt.Context.delete()`` / ``purge``, as in
        Vertex, delete the context alone.

        Args:
            force: ``False`` (the default) is a dry run: the result says what
                would be deleted, and nothing is.
            running_ok: also delete a run still in state ``RUNNING``. Off by
                default: its flow may still be writing records into it. (A
                flow whose process was killed stays ``RUNNING``.)

        Returns:
            A ``RunDeletion`` with ``contexts``, ``executions``, ``artifacts``
            and ``kept_artifacts`` (names, up to 100 each), their counts, and
            ``deleted``.

        Raises:
            InvalidArgumentError: ``force`` on a ``RUNNING`` run without ``running_ok``.
        """
        if force and not running_ok:
            self.refresh()
            if self.state == ExecutionState.RUNNING:
                raise InvalidArgumentError(
                    f"pipeline run {self.display_name!r} is still RUNNING: its flow may still "
                    "be writing into it. Wait for it to end, or pass running_ok=True "
                    "(`--running` on the command line) if its process is gone"
                )

        store = cast("MaintenanceStore", self.context._own_store())
        return store.delete_run(self.context.resource_id, force=force)

    def get_child_runs(self) -> List[PipelineRun]:
        """PipelineRuns of subflows started by this run."""
        return [
            PipelineRun(c) for c in self.context.get_child_contexts() if c.schema_title == SCHEMA
        ]

    def refresh(self) -> PipelineRun:
        self.context.sync_resource()
        return self

    def __repr__(self) -> str:
        return (
            f"PipelineRun(name={self.name!r}, flow={self.flow_name!r}, "
            f"state={self.state.value!r})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PipelineRun) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)


# -- creation on first use (called by the tracking hot path) ---------------------------
_ensured: dict[tuple[str, str, str], Context] = {}
_ensured_lock = threading.Lock()


def ensure_context(
    store: Any,
    resource_id: str,
    *,
    schema_title: str,
    display_name: str,
    metadata: dict[str, Any],
    parent_contexts: List[str],
) -> Context:
    """Get-or-create a context, once per process (cached afterwards)."""
    key = (store.uri, store.prefix, resource_id)
    hit = _ensured.get(key)
    if hit is not None:
        return hit
    with _ensured_lock:
        hit = _ensured.get(key)
        if hit is not None:
            return hit
        try:
            ctx = Context.create(
                schema_title, resource_id=resource_id, display_name=display_name[:128],
                metadata=metadata, parent_contexts=parent_contexts, store=store,
            )
        except AlreadyExistsError:
            ctx = Context.get(resource_id, store=store)
            for parent in parent_contexts:
                if parent not in ctx.parent_contexts:
                    Context.get(parent, store=store).add_context_children([ctx])
        _ensured[key] = ctx
        if len(_ensured) > 4096:  # bounded: forget the oldest half
            for old in list(_ensured)[:2048]:
                _ensured.pop(old, None)
        return ctx
