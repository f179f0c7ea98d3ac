"""OpenLineage run events built from vertex_track records (plain JSON dicts).

One builder serves both the live stream and ``vertex-track export
openlineage``: it takes what a record says (an execution's metadata, its
input and output artifacts, its PipelineRun) and nothing else, so a replay
of stored records gives the very events that were emitted live. Run ids are
UUIDs derived (``uuid5``) from resource names, event times come from the
records' own ``start_time`` / ``end_time``: replaying twice yields identical
events.

Mapping:

- a tracked execution is a run of job ``<flow name>.<task name>`` (just the
  task name outside a flow), with a ``parent`` facet naming its PipelineRun;
- a PipelineRun is a run of job ``<flow name>``, with a ``parent`` facet
  naming the parent flow run's PipelineRun for a subflow;
- states: COMPLETE and CACHED -> ``COMPLETE``, FAILED -> ``FAIL``,
  CANCELLED -> ``ABORT``; every run also has a ``START`` event;
- an artifact is a dataset named after its URI by the OpenLineage dataset
  naming rules (``file`` + path, ``s3://bucket`` + key, ``gs://bucket`` +
  key, ``scheme://host`` + path otherwise); a value kept inline in metadata
  is in namespace :data:`INLINE_NAMESPACE`, named by its resource name.

This module needs no OpenLineage package: events are dicts in the JSON
form of the OpenLineage RunEvent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .._version import __version__

#: The ``producer`` of every event and facet.
PRODUCER = f"https://pypi.org/project/vertex-track/{__version__}/"
RUN_EVENT_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
_FACETS = "https://openlineage.io/spec/facets/"
PARENT_SCHEMA = _FACETS + "1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet"
ERROR_SCHEMA = _FACETS + "1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"
SCHEMA_SCHEMA = _FACETS + "1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet"
DATASOURCE_SCHEMA = _FACETS + "1-0-1/DatasourceDatasetFacet.json#/$defs/DatasourceDatasetFacet"
VERSION_SCHEMA = (
    _FACETS + "1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet"
)
JOB_TYPE_SCHEMA = _FACETS + "2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet"
#: Where vertex_track's own facets are described (docs/openlineage.md lists their fields).
CUSTOM_SCHEMA = f"https://pypi.org/project/vertex-track/{__version__}/#/$defs/"

#: Namespace of datasets that are values kept inline in an artifact's metadata.
INLINE_NAMESPACE = "vertex-track-inline"
DEFAULT_NAMESPACE = "vertex_track"
_RUN_IDS = uuid.UUID("6f1d3b0e-5c2a-4e7f-9a51-0d2b8c4e7a13")  # uuid5 namespace of run ids

_END_TYPES = {"COMPLETE": "COMPLETE", "CACHED": "COMPLETE", "FAILED": "FAIL",
              "CANCELLED": "ABORT"}


@dataclass(frozen=True)
class ArtifactInfo:
    """What an event says about one artifact."""

    name: str  # full resource name
    uri: str
    schema_title: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class PipelineInfo:
    """What an event says about one PipelineRun (a flow run)."""

    name: str  # full context resource name
    display_name: str
    metadata: dict[str, Any]
    parent: PipelineInfo | None = None

    @property
    def flow_name(self) -> str:
        return str(self.metadata.get("flow_name") or self.display_name)


@dataclass(frozen=True)
class ExecutionInfo:
    """What an event says about one execution."""

    name: str  # full resource name
    display_name: str
    schema_title: str
    state: str
    metadata: dict[str, Any]
    create_us: int
    update_us: int
    inputs: list[ArtifactInfo] = field(default_factory=list)
    outputs: list[ArtifactInfo] = field(default_factory=list)
    pipeline: PipelineInfo | None = None


def _own(metadata: dict[str, Any]) -> dict[str, Any]:
    """The ``vertex_track`` part of a record's metadata (empty if none)."""
    own = metadata.get("vertex_track")
    return own if isinstance(own, dict) else {}


def run_id(resource_name: str) -> str:
    """The OpenLineage run id of a recorded execution or PipelineRun (stable UUID)."""
    return str(uuid.uuid5(_RUN_IDS, resource_name))


def _facet(schema: str, **fields: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": schema, **fields}


def _iso_us(micros: int) -> str:
    from .._time import from_micros

    return from_micros(micros).isoformat()


def _job(namespace: str, name: str, kind: str) -> dict[str, Any]:
    return {"namespace": namespace, "name": name, "facets": {"jobType": _facet(
        JOB_TYPE_SCHEMA, processingType="BATCH", integration="PREFECT", jobType=kind,
    )}}


def _parent(namespace: str, pipeline: PipelineInfo) -> dict[str, Any]:
    return _facet(
        PARENT_SCHEMA, run={"runId": run_id(pipeline.name)},
        job={"namespace": namespace, "name": pipeline.flow_name},
    )


def _event(kind: str, time: str, run: dict[str, Any], job: dict[str, Any],
           inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "eventType": kind, "eventTime": time, "run": run, "job": job,
        "inputs": inputs, "outputs": outputs,
        "producer": PRODUCER, "schemaURL": RUN_EVENT_SCHEMA,
    }


# -- datasets ---------------------------------------------------------------------------
def dataset_address(artifact: ArtifactInfo) -> tuple[str, str]:
    """``(namespace, name)`` of an artifact by the OpenLineage dataset naming rules."""
    if not artifact.uri:
        return INLINE_NAMESPACE, artifact.name
    parts = urlsplit(artifact.uri)
    scheme = parts.scheme.lower()
    if scheme in ("", "file", "local"):
        if parts.netloc and parts.netloc != "localhost":
            return f"file://{parts.netloc}", parts.path
        return "file", parts.path if scheme else artifact.uri
    if scheme in ("gcs", "gs"):
        return f"gs://{parts.netloc}", parts.path.lstrip("/")
    if scheme in ("s3", "s3a", "s3n"):
        return f"s3://{parts.netloc}", parts.path.lstrip("/")
    if parts.netloc:
        return f"{scheme}://{parts.netloc}", parts.path.lstrip("/")
    return f"{scheme}://", parts.path


def dataset(artifact: ArtifactInfo) -> dict[str, Any]:
    """The OpenLineage dataset of an artifact, with its facets."""
    namespace, name = dataset_address(artifact)
    meta = artifact.metadata
    own = _own(meta)
    digest = own.get("digest")
    source_uri = namespace if "://" in namespace else f"{namespace}://"
    facets: dict[str, Any] = {
        "dataSource": _facet(DATASOURCE_SCHEMA, name=namespace, uri=source_uri),
    }
    columns = _schema_fields(meta)
    if columns:
        facets["schema"] = _facet(SCHEMA_SCHEMA, fields=columns)
    if digest:
        facets["version"] = _facet(VERSION_SCHEMA, datasetVersion=str(digest))
    artifact_facet: dict[str, Any] = {
        "artifact": artifact.name, "schemaTitle": artifact.schema_title,
        "inline": not artifact.uri,
    }
    if digest:
        artifact_facet["digest"] = str(digest)
    for key in ("materializer", "size", "python_type"):
        if own.get(key) is not None:
            artifact_facet[key] = own[key]
    facets["vertexTrackArtifact"] = _facet(
        CUSTOM_SCHEMA + "VertexTrackArtifactDatasetFacet", **artifact_facet,
    )
    return {"namespace": namespace, "name": name, "facets": facets}


def _schema_fields(meta: dict[str, Any]) -> list[dict[str, str]]:
    """Columns of a table artifact (``dtypes``/``columns`` its materializer recorded)."""
    dtypes = meta.get("dtypes")
    if isinstance(dtypes, dict) and dtypes:
        return [{"name": str(k), "type": str(v)} for k, v in dtypes.items()]
    columns = meta.get("columns")
    if isinstance(columns, list) and columns:
        return [{"name": str(c)} for c in columns]
    return []


def _datasets(artifacts: list[ArtifactInfo], kind: str) -> list[dict[str, Any]]:
    """Datasets in a stable order (by namespace and name), each once; ``kind`` is
    ``inputFacets`` or ``outputFacets`` (empty, as the client serializes them)."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for artifact in artifacts:
        ds = dataset(artifact)
        ds[kind] = {}
        seen.setdefault((ds["namespace"], ds["name"]), ds)
    return [seen[key] for key in sorted(seen)]


# -- executions -------------------------------------------------------------------------
def job_name(info: ExecutionInfo) -> str:
    """``<flow name>.<task name>`` (the task name alone outside a flow)."""
    task = _own(info.metadata).get("task_name") or info.display_name
    return f"{info.pipeline.flow_name}.{task}" if info.pipeline is not None else str(task)


def execution_start(info: ExecutionInfo, namespace: str) -> dict[str, Any]:
    """The START event of an execution: its inputs, when it started."""
    own = _own(info.metadata)
    time = own.get("start_time") or _iso_us(info.create_us)
    return _event(
        "START", str(time), _execution_run(info, namespace, None), _job(
            namespace, job_name(info), "TASK"), _datasets(info.inputs, "inputFacets"), [],
    )


def execution_end(info: ExecutionInfo, namespace: str) -> dict[str, Any] | None:
    """The COMPLETE / FAIL / ABORT event of an execution (None while it runs)."""
    kind = _END_TYPES.get(info.state)
    if kind is None:
        return None
    own = _own(info.metadata)
    time = own.get("end_time") or _iso_us(info.update_us)
    return _event(
        kind, str(time), _execution_run(info, namespace, info.state),
        _job(namespace, job_name(info), "TASK"),
        _datasets(info.inputs, "inputFacets"), _datasets(info.outputs, "outputFacets"),
    )


def _execution_run(info: ExecutionInfo, namespace: str, state: str | None) -> dict[str, Any]:
    own = _own(info.metadata)
    facets: dict[str, Any] = {}
    if info.pipeline is not None:
        facets["parent"] = _parent(namespace, info.pipeline)
    fields: dict[str, Any] = {"execution": info.name, "schemaTitle": info.schema_title}
    for key, out in (("task_run_id", "taskRunId"), ("flow_run_id", "flowRunId"),
                     ("attempt", "attempt")):
        if own.get(key) is not None:
            fields[out] = own[key]
    if state is not None:
        fields["state"] = state
        if own.get("duration_s") is not None:
            fields["durationSeconds"] = own["duration_s"]
    facets["vertexTrackExecution"] = _facet(
        CUSTOM_SCHEMA + "VertexTrackExecutionRunFacet", **fields,
    )
    if state == "FAILED":
        message = own.get("error_message") or own.get("tracking_error") or "failed"
        if own.get("error_type"):
            message = f"{own['error_type']}: {message}"
        facets["errorMessage"] = _facet(
            ERROR_SCHEMA, message=str(message), programmingLanguage="python",
        )
    if state == "CACHED":
        cache = own.get("cache")
        cache = cache if isinstance(cache, dict) else {}
        fields = {"cachedBy": "vertex_track" if cache else "prefect"}
        if cache.get("reused_execution"):
            fields["reusedExecution"] = str(cache["reused_execution"])
        facets["vertexTrackCache"] = _facet(CUSTOM_SCHEMA + "VertexTrackCacheRunFacet", **fields)
    return {"runId": run_id(info.name), "facets": facets}


def execution_events(info: ExecutionInfo, namespace: str) -> list[dict[str, Any]]:
    """START and (once it ended) the end event of an execution."""
    end = execution_end(info, namespace)
    return [execution_start(info, namespace), *([end] if end is not None else [])]


# -- pipeline runs ------------------------------------------------------------------------
def _pipeline_run(info: PipelineInfo, namespace: str, ended: bool) -> dict[str, Any]:
    meta = info.metadata
    facets: dict[str, Any] = {}
    if info.parent is not None:
        facets["parent"] = _parent(namespace, info.parent)
    fields: dict[str, Any] = {"pipelineRun": info.name}
    if meta.get("flow_run_id"):
        fields["flowRunId"] = str(meta["flow_run_id"])
    if meta.get("flow_run_name"):
        fields["flowRunName"] = str(meta["flow_run_name"])
    if ended:
        fields["state"] = str(meta.get("state"))
        if meta.get("duration_s") is not None:
            fields["durationSeconds"] = meta["duration_s"]
    facets["vertexTrackPipelineRun"] = _facet(
        CUSTOM_SCHEMA + "VertexTrackPipelineRunRunFacet", **fields,
    )
    if ended and meta.get("state") == "FAILED":
        message = str(meta.get("error_message") or "failed")
        if meta.get("error_type"):
            message = f"{meta['error_type']}: {message}"
        facets["errorMessage"] = _facet(ERROR_SCHEMA, message=message, programmingLanguage="python")
    return {"runId": run_id(info.name), "facets": facets}


def pipeline_start(info: PipelineInfo, namespace: str) -> dict[str, Any] | None:
    """The START event of a PipelineRun (None if it has no start time)."""
    time = info.metadata.get("start_time")
    if not time:
        return None
    return _event("START", str(time), _pipeline_run(info, namespace, False),
                  _job(namespace, info.flow_name, "FLOW"), [], [])


def pipeline_end(info: PipelineInfo, namespace: str) -> dict[str, Any] | None:
    """The end event of a PipelineRun (None while it runs)."""
    kind = _END_TYPES.get(str(info.metadata.get("state")))
    time = info.metadata.get("end_time")
    if kind is None or not time:
        return None
    return _event(kind, str(time), _pipeline_run(info, namespace, True),
                  _job(namespace, info.flow_name, "FLOW"), [], [])
