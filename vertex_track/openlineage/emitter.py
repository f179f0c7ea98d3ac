"""Live emission: tracking records -> OpenLineage events, off the task's thread.

The tracking writer hands every batch it takes to :func:`Emitter.on_records`
and the flow wrapper tells :func:`Emitter.on_flow` when a flow run starts
and ends; both only queue and return. One background thread
(``vertex-track-openlineage``) turns the queue into events and sends them
through an ``OpenLineageClient()`` configured the OpenLineage way
(``openlineage.yml``, ``OPENLINEAGE_URL``, ``OPENLINEAGE__TRANSPORT__...``).

A send that fails is logged once as a warning and the event goes to the
spool (:mod:`.spool`); later events follow it there (order is kept) until a
resend of the spool succeeds, tried at most every :data:`RETRY_S` seconds,
at the end of a flow run and at exit. The emitter waits for its queue at the
end of a top-level flow run (at most :data:`FLOW_END_WAIT_S`) and at exit.
"""

from __future__ import annotations

import atexit
import json
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from . import events as ev
from . import spool

logger = logging.getLogger("vertex_track.openlineage")

#: How long the end of a top-level flow run waits for its events to be sent.
FLOW_END_WAIT_S = 5.0
#: How long interpreter exit waits for queued events.
EXIT_WAIT_S = 30.0
#: After a failed send, the spool is resent at most this often.
RETRY_S = 5.0
_REMEMBERED = 8192  # executions/artifacts/pipeline runs kept for later records


class _Lru(OrderedDict[str, Any]):
    def put(self, key: str, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        if len(self) > _REMEMBERED:
            self.popitem(last=False)


class Emitter:
    """The queue, the thread and the translation of records into events."""

    def __init__(self, namespace: str, send: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.namespace = namespace
        self._send_fn = send
        self._client: Any = None
        self._queue: deque[tuple[Any, ...]] = deque()
        self._cond = threading.Condition()
        self._submitted = 0
        self._done = 0
        self._thread: threading.Thread | None = None
        self._started: _Lru = _Lru()  # execution name -> its inputs (START sent)
        self._artifacts: _Lru = _Lru()  # artifact name -> ArtifactInfo
        self._pipelines: _Lru = _Lru()  # context name -> PipelineInfo
        self._failing_since: float | None = None  # a send failed: events go to the spool
        self._resend_wanted = True  # a spool left by an earlier process is resent first
        self.sent = 0
        self.spooled = 0
        self.cpu_s = 0.0  # CPU time the emitter thread spent building and sending

    # -- producer side (tracking threads; must stay cheap) -------------------------------
    def on_records(self, batch: list[Any]) -> None:
        """Writer listener: queue a batch of tracking records."""
        self._put(("records", batch))

    def on_flow(self, context: Any, ended: bool) -> None:
        """Flow listener: queue a PipelineRun's start or end; wait at a top-level end."""
        self._put(("flow", context, ended))
        if ended and not any(
            p.split("/")[-1].startswith("pipelinerun-") for p in context.parent_contexts
        ):
            self.flush(FLOW_END_WAIT_S)

    def _put(self, item: tuple[Any, ...]) -> None:
        with self._cond:
            self._queue.append(item)
            self._submitted += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="vertex-track-openlineage", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far is sent or spooled; True if it was."""
        if threading.current_thread() is self._thread:
            return True
        if self._failing_since is not None:
            self._put(("resend",))  # by the emitter thread: this one never waits on a transport
        with self._cond:
            target = self._submitted
            if target != self._done:
                self._cond.notify_all()
                if not self._cond.wait_for(lambda: self._done >= target, timeout=timeout):
                    return False
        return True

    # -- consumer side (the emitter thread) ----------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue))
                items = list(self._queue)  # everything queued: sent as one batch
                self._queue.clear()
            cpu = time.thread_time()
            try:
                if self._resend_wanted or (
                    self._failing_since is not None and any(i[0] == "resend" for i in items)
                ):
                    self._resend()
                events: list[dict[str, Any]] = []
                for item in items:
                    try:
                        events.extend(self._events(item))
                    except Exception:  # a record this module cannot read: never the user's problem
                        logger.warning("vertex_track: OpenLineage events of a record were not "
                                       "built", exc_info=True)
                self._emit(events)
            except Exception:
                logger.warning("vertex_track: OpenLineage emission failed", exc_info=True)
            self.cpu_s += time.thread_time() - cpu
            with self._cond:
                self._done += len(items)
                self._cond.notify_all()

    def _events(self, item: tuple[Any, ...]) -> list[dict[str, Any]]:
        if item[0] == "resend":
            return []
        if item[0] == "flow":
            _kind, context, ended = item
            info = self._pipeline_from_context(context)
            out = ev.pipeline_end(info, self.namespace) if ended else ev.pipeline_start(
                info, self.namespace)
            return [out] if out is not None else []
        events: list[dict[str, Any]] = []
        for record in item[1]:
            events.extend(self._record_events(record))
        return events

    def _record_events(self, record: Any) -> list[dict[str, Any]]:
        store = record.store
        rid, display, schema, state, meta_json, create_us, update_us = record.execution
        name = store.resource_name("executions", rid)
        inputs: list[ev.ArtifactInfo] = []
        outputs: list[ev.ArtifactInfo] = []
        for kind, _label, target in record.links:
            artifact = self._artifact(store, target)
            if artifact is not None:
                (inputs if kind == "INPUT" else outputs).append(artifact)
        pipeline = None
        if record.contexts:
            pipeline = self._pipeline(store, store.resource_name("contexts", record.contexts[0]))
        out: list[dict[str, Any]] = []
        earlier = self._started.pop(name, None)
        info = ev.ExecutionInfo(
            name=name, display_name=display, schema_title=schema, state=state,
            metadata=json.loads(meta_json), create_us=create_us, update_us=update_us,
            inputs=[*(earlier or []), *inputs], outputs=outputs, pipeline=pipeline,
        )
        if earlier is None:
            out.append(ev.execution_start(info, self.namespace))
        end = ev.execution_end(info, self.namespace)
        if end is None:
            self._started.put(name, info.inputs)
        else:
            out.append(end)
        return out

    def _artifact(self, store: Any, target: Any) -> ev.ArtifactInfo | None:
        if isinstance(target, str):
            name = store.resource_name("artifacts", target)
            known = self._artifacts.get(name)
            if known is not None:
                return known  # type: ignore[no-any-return]
            from ..resources import Artifact

            try:
                artifact = Artifact.get(target, store=store)
            except Exception:
                return None  # gone: the store skips its event too
            info = ev.ArtifactInfo(artifact.name, artifact.uri or "", artifact.schema_title,
                                   artifact.metadata)
        else:
            name = store.resource_name("artifacts", target[0])
            known = self._artifacts.get(name)
            if known is not None:
                return known  # type: ignore[no-any-return]
            info = ev.ArtifactInfo(name, target[4] or "", target[2], json.loads(target[3]))
        self._artifacts.put(name, info)
        return info

    def _pipeline_from_context(self, context: Any) -> ev.PipelineInfo:
        parent = None
        for pname in context.parent_contexts:
            if pname.split("/")[-1].startswith("pipelinerun-"):
                parent = self._pipeline(context._own_store(), pname)
                break
        info = ev.PipelineInfo(context.name, context.display_name, dict(context.metadata), parent)
        self._pipelines.put(context.name, info)
        return info

    def _pipeline(self, store: Any, name: str) -> ev.PipelineInfo | None:
        known = self._pipelines.get(name)
        if known is not None:
            return known  # type: ignore[no-any-return]
        from ..resources import Context

        try:
            context = Context.get(name, store=store)
        except Exception:
            return None
        return self._pipeline_from_context(context)

    # -- sending ---------------------------------------------------------------------
    def _emit(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        if self._failing_since is not None and (
            time.monotonic() - self._failing_since < RETRY_S or not self._resend()
        ):
            spool.append(events)
            self.spooled += len(events)
            return
        sent = 0
        try:
            if self._send_fn is None and self._sender().batched:
                self._sender().send_many(events)  # one write for the whole batch
                sent = len(events)
            else:
                for event in events:
                    self._send(event)
                    sent += 1
        except Exception as exc:
            self._failed(exc)
            spool.append(events[sent:])
            self.spooled += len(events) - sent
        self.sent += sent

    def _sender(self) -> Any:
        if self._client is None:
            from .transport import make_sender

            self._client = make_sender()
        return self._client

    def _send(self, event: dict[str, Any]) -> None:
        if self._send_fn is not None:
            self._send_fn(event)
            return
        self._sender()(event)

    def _failed(self, exc: BaseException) -> None:
        if self._failing_since is None:
            logger.warning(
                "vertex_track: OpenLineage events could not be sent (%s); they are kept in %s "
                "and sent again later (or run: vertex-track export openlineage --spooled)",
                exc, spool.spool_dir(),
            )
        self._failing_since = time.monotonic()

    def _resend(self) -> bool:
        """Send the spool again; True when it is empty afterwards."""
        self._resend_wanted = False
        try:
            sent = spool.resend(self._send)
        except Exception as exc:
            self._failed(exc)
            return False
        if self._failing_since is not None:
            self._failing_since = None
            if sent:
                logger.warning("vertex_track: %d spooled OpenLineage events were sent", sent)
        return True


_emitter: Emitter | None = None
_lock = threading.Lock()


def get_emitter() -> Emitter | None:
    """The live emitter, if OpenLineage emission is on."""
    return _emitter


def start(namespace: str, send: Callable[[dict[str, Any]], None] | None = None) -> Emitter:
    """Register the listeners (idempotent) and return the emitter."""
    global _emitter
    from ..tracking import flows, writer

    with _lock:
        stop()
        emitter = _emitter = Emitter(namespace, send)
        writer.listeners.append(emitter.on_records)
        flows.listeners.append(emitter.on_flow)
    return emitter


def stop() -> None:
    """Remove the listeners; what is queued is still sent (flushed first)."""
    global _emitter
    emitter = _emitter
    if emitter is None:
        return
    from ..tracking import flows, writer

    for hooks, fn in ((writer.listeners, emitter.on_records), (flows.listeners, emitter.on_flow)):
        try:
            hooks.remove(fn)
        except ValueError:
            pass
    _emitter = None
    emitter.flush(EXIT_WAIT_S)


def _at_exit() -> None:
    emitter = _emitter
    if emitter is None:
        return
    from ..tracking import writer

    try:  # the last records first (the writer's own exit hook runs after this one)
        writer.flush(timeout=EXIT_WAIT_S, deferred=False)
    except Exception as exc:  # reported as the writer reports it at exit
        logger.error("%s", exc)
    if not emitter.flush(EXIT_WAIT_S):
        logger.error("vertex_track: OpenLineage events were still queued at exit")


atexit.register(_at_exit)
