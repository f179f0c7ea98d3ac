"""``vt.start_execution``: record a unit of work by hand, as Vertex AI's "Track executions and artifacts" guide does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from ._time import now
from .context import current_run_context
from .resources import Execution, ExecutionState

if TYPE_CHECKING:
    from .store.base import MetadataStore

__all__ = ["start_execution"]


@contextmanager
def start_execution(
    *,
    schema_title: str | None = None,
    display_name: str | None = None,
    resource_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    schema_version: str | None = None,
    description: str | None = None,
    labels: dict[str, str] | None = None,
    resume: bool = False,
    store: MetadataStore | None = None,
) -> Iterator[Execution]:
    """Create (or, with ``resume=True``, reopen) an Execution for the ``with`` block.

    The Execution is committed as ``RUNNING`` on entry, so other readers see
    it while the block runs. Artifacts given to ``assign_input_artifacts`` /
    ``assign_output_artifacts`` inside the block are recorded together with
    the end state, in one transaction, when the block ends: ``COMPLETE`` on
    normal exit, ``FAILED`` (with the error type and message under
    ``metadata["vertex_track"]``) when it raises; the exception is re-raised.
    Inside an active experiment run the execution is associated with it.

    Example::

        with vt.start_execution(schema_title="system.ContainerExecution",
                                display_name="train") as execution:
            execution.assign_input_artifacts([dataset])
            model = vt.Artifact.create("system.Model", uri=...)
            execution.assign_output_artifacts([model])

    Raises:
        NotFoundError: ``resume=True`` and the execution does not exist.
        InvalidArgumentError: a field breaks its rule.
    """
    if store is None:
        from .store import get_store

        store = get_store()
    s: Any = store  # create_in_contexts/finish_execution: SqlStore fast paths, not protocol
    contexts = _active_contexts()
    if resume:
        if resource_id is None:
            from .exceptions import InvalidArgumentError

            raise InvalidArgumentError("resume=True needs the resource_id of the execution")
        execution = Execution.get(resource_id, store=s)
        if metadata:
            execution.metadata = {**execution.metadata, **metadata}
        execution.state = ExecutionState.RUNNING
        execution, _ = s.put_execution(execution, (), contexts)
    else:
        new = Execution._new(
            schema_title=schema_title, state=ExecutionState.RUNNING, resource_id=resource_id,
            display_name=display_name, schema_version=schema_version, metadata=metadata,
            labels=labels, description=description, store=s,
        )
        execution = _create_in_contexts(s, new, contexts)
    execution.__pydantic_private__["_pending"] = []  # type: ignore[index]  # skip __setattr__
    try:
        yield execution
    except BaseException as exc:
        execution.state = ExecutionState.FAILED
        vt_meta = dict(execution.metadata.get("vertex_track") or {})
        vt_meta.update(error_type=type(exc).__name__, error_message=str(exc)[:2000])
        execution.metadata = {**execution.metadata, "vertex_track": vt_meta}
        _finish(s, execution, contexts)
        raise
    else:
        execution.__dict__["state"] = ExecutionState.COMPLETE  # a set field: no __setattr__
        _finish(s, execution, contexts)


def _finish(store: Any, execution: Execution, contexts: list[Any]) -> None:
    private = execution.__pydantic_private__
    assert private is not None
    links = private["_pending"] or []
    private["_pending"] = None
    # Artifacts assigned in the block are attributed to the active experiment run too.
    finish = getattr(store, "_finish_execution", None)
    if finish is not None:  # the SQL store's form returning only what changed (cheaper)
        etag, update_time = finish(execution, links, contexts)
    else:
        stored, _ = store.put_execution(execution, links, contexts)
        etag, update_time = stored.etag, stored.update_time
    # Plain field writes (no validation on assignment; both already set, so fields_set holds).
    execution.__dict__["etag"] = etag
    execution.__dict__["update_time"] = update_time or now()


def _create_in_contexts(store: MetadataStore, new: Execution, contexts: list[Any]) -> Execution:
    """Create ``new`` associated with ``contexts``: in one transaction on the SQL store,
    else as ``create`` then one ``add_to_context`` per context."""
    create = getattr(store, "_create_in_contexts", None)
    if create is not None:
        return cast(Execution, create(new, contexts))
    execution = cast(Execution, store.create(new))
    for context in contexts:
        store.add_to_context(context, artifacts=(), executions=[execution.name])
    return execution


def _active_contexts() -> list[Any]:
    """Contexts a hand-made execution joins: the active experiment run, if any."""
    ctx = current_run_context()
    return [ctx] if ctx is not None else []
