"""The body of ``projects.locations.trainingPipelines.create`` as pydantic models, and its rules.

Keys are camelCase as Vertex AI's REST reference writes them ("Create training
pipelines"); snake_case keys are accepted too, and so are the upper-case
``ALGORITHM`` and ``TIMEOUT`` placeholders the same page uses in its sample
body. Fields Vertex defines that mean nothing locally (``machineSpec``,
``imageUri``, ``serviceAccount``, ...) are accepted and recorded, not used.

:func:`parse_request` turns a dict (or a JSON file) into a
:class:`TrainingPipelineRequest` and checks every rule before anything runs;
a broken rule (:mod:`.rules`) raises :class:`~vertex_track.InvalidArgumentError`
whose message starts with the field's path in the request, e.g.
``trainingTaskInputs.studySpec.parameters[0].doubleValueSpec.minValue``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from ..exceptions import InvalidArgumentError
from .rules import check_request, field_error, parse_duration

__all__ = [
    "CUSTOM_TASK",
    "HYPERPARAMETER_TUNING_TASK",
    "ContainerSpec",
    "CustomJobSpec",
    "HyperparameterTuningJobSpec",
    "InputDataConfig",
    "ModelToUpload",
    "ParameterSpec",
    "PythonPackageSpec",
    "StudySpec",
    "TrainingPipelineRequest",
    "WorkerPoolSpec",
    "parse_duration",
    "parse_request",
]

#: ``trainingTaskDefinition`` of a custom job (compared by file name).
CUSTOM_TASK = "gs://google-cloud-aiplatform/schema/trainingjob/definition/custom_task_1.0.0.yaml"
#: ``trainingTaskDefinition`` of a hyperparameter tuning job.
HYPERPARAMETER_TUNING_TASK = (
    "gs://google-cloud-aiplatform/schema/trainingjob/definition/"
    "hyperparameter_tuning_task_1.0.0.yaml"
)
_DEFINITIONS = {
    "custom_task_1.0.0.yaml": "custom",
    "hyperparameter_tuning_task_1.0.0.yaml": "hyperparameter_tuning",
}
# The sample body on the Vertex page writes these two keys in capitals.
_UPPER_KEYS = {"ALGORITHM": "algorithm", "TIMEOUT": "timeout"}


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="allow", frozen=False,
    )


# -- input data ---------------------------------------------------------------------------
class FractionSplit(_Model):
    training_fraction: float | None = None
    validation_fraction: float | None = None
    test_fraction: float | None = None


class FilterSplit(_Model):
    training_filter: str | None = None
    validation_filter: str | None = None
    test_filter: str | None = None


class PredefinedSplit(_Model):
    key: str


class TimestampSplit(_Model):
    training_fraction: float | None = None
    validation_fraction: float | None = None
    test_fraction: float | None = None
    key: str


class GcsDestination(_Model):
    output_uri_prefix: str


class InputDataConfig(_Model):
    dataset_id: str
    fraction_split: FractionSplit | None = None
    filter_split: FilterSplit | None = None
    predefined_split: PredefinedSplit | None = None
    timestamp_split: TimestampSplit | None = None
    gcs_destination: GcsDestination | None = None
    annotations_filter: str | None = None
    annotation_schema_uri: str | None = None


# -- training code --------------------------------------------------------------------------
class EnvVar(_Model):
    name: str
    value: str = ""


class PythonPackageSpec(_Model):
    python_module: str
    package_uris: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    env: list[EnvVar] = Field(default_factory=list)
    executor_image_uri: str | None = None


class ContainerSpec(_Model):
    image_uri: str | None = None
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    env: list[EnvVar] = Field(default_factory=list)


class MachineSpec(_Model):
    machine_type: str | None = None
    accelerator_type: str | None = None
    accelerator_count: int | None = None


class WorkerPoolSpec(_Model):
    replica_count: int | None = None
    machine_spec: MachineSpec | None = None
    container_spec: ContainerSpec | None = None
    python_package_spec: PythonPackageSpec | None = None

    @property
    def replicas(self) -> int:
        return 1 if self.replica_count is None else self.replica_count

    @property
    def empty(self) -> bool:
        """A placeholder pool (``{}``), as distributed configurations leave unused pools."""
        return self.container_spec is None and self.python_package_spec is None and not (
            self.replica_count
        )


class Scheduling(_Model):
    timeout: str | None = Field(default=None, validation_alias=AliasChoices("timeout", "TIMEOUT"))
    restart_job_on_worker_restart: bool | None = None


class CustomJobSpec(_Model):
    worker_pool_specs: list[WorkerPoolSpec] = Field(default_factory=list)
    base_output_directory: GcsDestination | None = None
    scheduling: Scheduling | None = None

    def pools(self) -> list[tuple[int, WorkerPoolSpec]]:
        """``(index, pool)`` of the pools that run something (placeholders left out)."""
        return [(i, p) for i, p in enumerate(self.worker_pool_specs) if not (i and p.empty)]

    @property
    def timeout_s(self) -> float | None:
        if self.scheduling is None or self.scheduling.timeout is None:
            return None
        return parse_duration(self.scheduling.timeout)


# -- hyperparameter tuning -------------------------------------------------------------------
Goal = Literal["MAXIMIZE", "MINIMIZE"]
ScaleType = Literal[
    "SCALE_TYPE_UNSPECIFIED", "UNIT_LINEAR_SCALE", "UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE"
]
Algorithm = Literal["ALGORITHM_UNSPECIFIED", "GRID_SEARCH", "RANDOM_SEARCH"]


class MetricSpec(_Model):
    metric_id: str
    goal: Goal


class DoubleValueSpec(_Model):
    min_value: float
    max_value: float
    default_value: float | None = None


class IntegerValueSpec(_Model):
    min_value: int
    max_value: int
    default_value: int | None = None


class CategoricalValueSpec(_Model):
    values: list[str]
    default_value: str | None = None


class DiscreteValueSpec(_Model):
    values: list[float]
    default_value: float | None = None


class ParameterSpec(_Model):
    parameter_id: str
    scale_type: ScaleType | None = None
    double_value_spec: DoubleValueSpec | None = None
    integer_value_spec: IntegerValueSpec | None = None
    categorical_value_spec: CategoricalValueSpec | None = None
    discrete_value_spec: DiscreteValueSpec | None = None

    @property
    def kind(self) -> str:
        """``DOUBLE``, ``INTEGER``, ``CATEGORICAL`` or ``DISCRETE``."""
        for kind, spec in self._specs():
            if spec is not None:
                return kind
        raise AssertionError("validated: one value spec is set")

    def _specs(self) -> list[tuple[str, Any]]:
        return [
            ("DOUBLE", self.double_value_spec), ("INTEGER", self.integer_value_spec),
            ("CATEGORICAL", self.categorical_value_spec), ("DISCRETE", self.discrete_value_spec),
        ]

    @property
    def scale(self) -> str:
        return self.scale_type or "UNIT_LINEAR_SCALE"


class StudySpec(_Model):
    metrics: list[MetricSpec] = Field(default_factory=list)
    parameters: list[ParameterSpec] = Field(default_factory=list)
    algorithm: Algorithm = Field(
        default="ALGORITHM_UNSPECIFIED", validation_alias=AliasChoices("algorithm", "ALGORITHM"),
    )


class HyperparameterTuningJobSpec(_Model):
    study_spec: StudySpec
    max_trial_count: int
    parallel_trial_count: int = 1
    max_failed_trial_count: int = 0
    trial_job_spec: CustomJobSpec


# -- the pipeline ------------------------------------------------------------------------------
class ModelToUpload(_Model):
    display_name: str | None = None
    description: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    artifact_uri: str | None = None
    container_spec: dict[str, Any] | None = None
    predict_schemata: dict[str, Any] | None = None


class TrainingPipelineRequest(_Model):
    """A validated training pipeline request (see :func:`parse_request`).

    Attributes:
        kind: ``"custom"`` or ``"hyperparameter_tuning"`` (from ``trainingTaskDefinition``).
        training_task_inputs: a :class:`CustomJobSpec` or a
            :class:`HyperparameterTuningJobSpec`, by ``kind``.
    """

    display_name: str
    training_task_definition: str
    training_task_inputs: Union[HyperparameterTuningJobSpec, CustomJobSpec]
    input_data_config: InputDataConfig | None = None
    model_to_upload: ModelToUpload | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    @property
    def kind(self) -> str:
        return definition_kind(self.training_task_definition) or "custom"

    @property
    def job_spec(self) -> CustomJobSpec:
        """The job that runs the code: the custom job, or each trial's ``trialJobSpec``."""
        inputs = self.training_task_inputs
        if isinstance(inputs, HyperparameterTuningJobSpec):
            return inputs.trial_job_spec
        return inputs

    @property
    def tuning(self) -> HyperparameterTuningJobSpec | None:
        inputs = self.training_task_inputs
        return inputs if isinstance(inputs, HyperparameterTuningJobSpec) else None

    def to_json_dict(self) -> dict[str, Any]:
        """The request as camelCase JSON (as it would be sent to Vertex)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# -- parsing -------------------------------------------------------------------------------------
def definition_kind(definition: str) -> str | None:
    return _DEFINITIONS.get(definition.rstrip("/").rsplit("/", 1)[-1])


def _normalise_keys(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {_UPPER_KEYS.get(k, k) if isinstance(k, str) else k: _normalise_keys(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise_keys(v) for v in value]
    return value


def _camel_path(loc: Sequence[Any], prefix: str = "") -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = to_camel(str(part)) if "_" in str(part) else str(part)
            out += f".{name}" if out else name
    return out


def _from_validation_error(exc: ValidationError, prefix: str = "") -> InvalidArgumentError:
    err = exc.errors(include_url=False)[0]
    # Union members add their class name to the location; drop those.
    loc = [p for p in err["loc"] if not (isinstance(p, str) and p[:1].isupper())]
    path = _camel_path(loc, prefix) or "request"
    msg = err["msg"]
    if err["type"] == "missing":
        return InvalidArgumentError(f"{path}: is required")
    return field_error(path, msg[:1].lower() + msg[1:], err.get("input"))


def load_request_body(request: Any) -> dict[str, Any]:
    """The request as a dict: a mapping as is, or the JSON object in a file (path)."""
    if isinstance(request, TrainingPipelineRequest):
        return request.to_json_dict()
    if isinstance(request, (str, os.PathLike)):
        path = Path(request)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidArgumentError(f"request: cannot read {str(path)!r}: {exc}") from None
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidArgumentError(
                f"request: {str(path)!r} is not valid JSON: {exc}"
            ) from None
        request = body
    if not isinstance(request, Mapping):
        raise InvalidArgumentError(
            "request must be the JSON body of trainingPipelines.create: a dict, or the path "
            f"of a JSON file; got {type(request).__name__}"
        )
    return dict(request)


def parse_request(request: Any) -> TrainingPipelineRequest:
    """Validate a training pipeline request and return it as a model.

    Args:
        request: the JSON body of ``projects.locations.trainingPipelines.create``
            (a dict with camelCase or snake_case keys), the path of a JSON
            file holding it, or a :class:`TrainingPipelineRequest`.

    Raises:
        InvalidArgumentError: a rule is broken; the message starts with the
            field's path in the request (``inputDataConfig.fractionSplit``,
            ``trainingTaskInputs.studySpec.parameters[0].doubleValueSpec.minValue``).
    """
    body = _normalise_keys(load_request_body(request))
    definition = body.get("trainingTaskDefinition", body.get("training_task_definition"))
    if definition is None:
        raise field_error("trainingTaskDefinition", "is required (the custom job or "
                    "hyperparameter tuning task definition URI)")
    kind = definition_kind(definition) if isinstance(definition, str) else None
    if kind is None:
        raise field_error(
            "trainingTaskDefinition",
            f"must be {CUSTOM_TASK!r} or {HYPERPARAMETER_TUNING_TASK!r} (the two task "
            "definitions that run locally)",
            definition,
        )
    key = "trainingTaskInputs" if "trainingTaskInputs" in body else "training_task_inputs"
    inputs_body = body.get(key)
    if not isinstance(inputs_body, Mapping):
        raise field_error("trainingTaskInputs", "is required and must be an object", inputs_body)
    spec_cls = HyperparameterTuningJobSpec if kind == "hyperparameter_tuning" else CustomJobSpec
    try:
        inputs = spec_cls.model_validate(inputs_body)
    except ValidationError as exc:
        raise _from_validation_error(exc, "trainingTaskInputs") from None
    try:
        parsed = TrainingPipelineRequest.model_validate({**body, key: inputs})
    except ValidationError as exc:
        raise _from_validation_error(exc) from None
    check_request(parsed)
    return parsed
