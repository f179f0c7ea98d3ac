"""The rules of a training pipeline request that its pydantic types do not express.

Each broken rule raises :class:`~vertex_track.InvalidArgumentError` whose message starts with
the field's path in the request (camelCase, as Vertex AI's REST reference writes it), e.g.
``trainingTaskInputs.studySpec.parameters[0].doubleValueSpec.minValue``.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from ..exceptions import InvalidArgumentError

if TYPE_CHECKING:
    from .request import (
        CustomJobSpec,
        FractionSplit,
        HyperparameterTuningJobSpec,
        InputDataConfig,
        ParameterSpec,
        TimestampSplit,
        TrainingPipelineRequest,
    )

__all__ = ["check_request", "field_error", "parse_duration"]

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)s\s*$")


def parse_duration(text: str) -> float:
    """Seconds of a protobuf JSON duration such as ``"7200s"`` or ``"1.5s"``.

    Raises:
        ValueError: not of that form.
    """
    m = _DURATION_RE.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a duration like '7200s'")
    return float(m.group(1))


def field_error(path: str, rule: str, value: Any = ...) -> InvalidArgumentError:
    """The error for a request whose field at ``path`` breaks ``rule`` (showing ``value`` if given)."""
    if value is ...:
        return InvalidArgumentError(f"{path}: {rule}")
    shown = repr(value)
    if len(shown) > 120:
        shown = shown[:117] + "..."
    return InvalidArgumentError(f"{path}: {rule}; got {shown}")


def check_request(req: TrainingPipelineRequest) -> None:
    """Check the rules pydantic's types do not express, field by field.

    Raises:
        InvalidArgumentError: a rule is broken; the message starts with the field's path.
    """
    if not req.display_name.strip():
        raise field_error("displayName", "must not be empty", req.display_name)
    if len(req.display_name) > 128:
        raise field_error("displayName", "must be at most 128 characters", req.display_name)
    if req.input_data_config is not None:
        _check_input_data(req.input_data_config)
    tuning = req.tuning
    if tuning is not None:
        _check_job(tuning.trial_job_spec, "trainingTaskInputs.trialJobSpec")
        _check_study(tuning)
    else:
        _check_job(req.job_spec, "trainingTaskInputs")


def _fractions(split: FractionSplit | TimestampSplit, path: str) -> None:
    values = {
        "trainingFraction": split.training_fraction,
        "validationFraction": split.validation_fraction,
        "testFraction": split.test_fraction,
    }
    for name, value in values.items():
        if value is not None and not (0.0 <= value <= 1.0):
            raise field_error(f"{path}.{name}", "must be between 0 and 1", value)
    total = sum(v for v in values.values() if v is not None)
    if total > 1.0 + 1e-9:
        raise field_error(
            path,
            "trainingFraction + validationFraction + testFraction must be at most 1 "
            f"(they sum to {total:g})",
            {k: v for k, v in values.items() if v is not None},
        )


def _check_input_data(cfg: InputDataConfig) -> None:
    path = "inputDataConfig"
    if not cfg.dataset_id.strip():
        raise field_error(f"{path}.datasetId", "must name a system.Dataset artifact", cfg.dataset_id)
    kinds = [name for name, value in (
        ("fractionSplit", cfg.fraction_split), ("filterSplit", cfg.filter_split),
        ("predefinedSplit", cfg.predefined_split), ("timestampSplit", cfg.timestamp_split),
    ) if value is not None]
    if len(kinds) > 1:
        raise field_error(
            path,
            "set only one of fractionSplit, filterSplit, predefinedSplit and timestampSplit "
            f"(they are one union field); got {' and '.join(kinds)}",
        )
    if cfg.fraction_split is not None:
        _fractions(cfg.fraction_split, f"{path}.fractionSplit")
    if cfg.timestamp_split is not None:
        _fractions(cfg.timestamp_split, f"{path}.timestampSplit")
        if not cfg.timestamp_split.key.strip():
            raise field_error(f"{path}.timestampSplit.key", "must name the timestamp column")
    if cfg.predefined_split is not None and not cfg.predefined_split.key.strip():
        raise field_error(f"{path}.predefinedSplit.key", "must name the column holding "
                    "training/validation/test")
    if cfg.gcs_destination is not None and not cfg.gcs_destination.output_uri_prefix.strip():
        raise field_error(f"{path}.gcsDestination.outputUriPrefix", "must not be empty")


def _check_job(job: CustomJobSpec, path: str) -> None:
    pools = job.pools()
    if not pools:
        raise field_error(
            f"{path}.workerPoolSpecs",
            "needs at least one worker pool with a pythonPackageSpec or a containerSpec",
        )
    for i, pool in pools:
        p = f"{path}.workerPoolSpecs[{i}]"
        if (pool.container_spec is None) == (pool.python_package_spec is None):
            raise field_error(p, "set exactly one of containerSpec and pythonPackageSpec")
        if pool.replicas < 1:
            raise field_error(f"{p}.replicaCount", "must be at least 1", pool.replica_count)
        if pool.container_spec is not None and not pool.container_spec.command:
            raise field_error(
                f"{p}.containerSpec.command",
                "is required locally: the image is not run, so its entrypoint is unknown "
                "(e.g. [\"python\", \"train.py\"])",
            )
        if pool.python_package_spec is not None and not pool.python_package_spec.python_module:
            raise field_error(f"{p}.pythonPackageSpec.pythonModule", "must not be empty")
    if job.scheduling is not None and job.scheduling.timeout is not None:
        try:
            seconds = parse_duration(job.scheduling.timeout)
        except ValueError:
            raise field_error(
                f"{path}.scheduling.timeout", "must be a duration in seconds such as '7200s'",
                job.scheduling.timeout,
            ) from None
        if seconds <= 0:
            raise field_error(f"{path}.scheduling.timeout", "must be positive", job.scheduling.timeout)
    if job.base_output_directory is not None and not (
        job.base_output_directory.output_uri_prefix.strip()
    ):
        raise field_error(f"{path}.baseOutputDirectory.outputUriPrefix", "must not be empty")


def _check_study(tuning: HyperparameterTuningJobSpec) -> None:
    path = "trainingTaskInputs"
    study = tuning.study_spec
    if tuning.max_trial_count < 1:
        raise field_error(f"{path}.maxTrialCount", "must be at least 1", tuning.max_trial_count)
    if tuning.parallel_trial_count < 1:
        raise field_error(
            f"{path}.parallelTrialCount", "must be at least 1", tuning.parallel_trial_count
        )
    if tuning.max_failed_trial_count < 0:
        raise field_error(
            f"{path}.maxFailedTrialCount", "must be 0 or more", tuning.max_failed_trial_count
        )
    sp = f"{path}.studySpec"
    if not study.metrics:
        raise field_error(f"{sp}.metrics", "needs one metric ({metricId, goal}) to optimise")
    for i, metric in enumerate(study.metrics):
        if not metric.metric_id.strip():
            raise field_error(f"{sp}.metrics[{i}].metricId", "must not be empty")
    if not study.parameters:
        raise field_error(f"{sp}.parameters", "needs at least one parameter to tune")
    seen: set[str] = set()
    for i, param in enumerate(study.parameters):
        _check_parameter(param, f"{sp}.parameters[{i}]", study.algorithm)
        if param.parameter_id in seen:
            raise field_error(f"{sp}.parameters[{i}].parameterId", "is used twice", param.parameter_id)
        seen.add(param.parameter_id)


def _check_parameter(param: ParameterSpec, path: str, algorithm: str) -> None:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", param.parameter_id):
        raise field_error(
            f"{path}.parameterId",
            "must be a name usable as a command-line flag (letters, digits, _ . -)",
            param.parameter_id,
        )
    specs = [name for name, spec in param._specs() if spec is not None]
    if len(specs) != 1:
        raise field_error(
            path,
            "set exactly one of doubleValueSpec, integerValueSpec, categoricalValueSpec and "
            f"discreteValueSpec; got {len(specs)}",
        )
    kind = specs[0]
    scale = param.scale
    if kind in ("DOUBLE", "INTEGER"):
        field = "doubleValueSpec" if kind == "DOUBLE" else "integerValueSpec"
        spec = param.double_value_spec if kind == "DOUBLE" else param.integer_value_spec
        assert spec is not None
        lo, hi = spec.min_value, spec.max_value
        for name, value in (("minValue", lo), ("maxValue", hi)):
            if isinstance(value, float) and not math.isfinite(value):
                raise field_error(f"{path}.{field}.{name}", "must be a finite number", value)
        if lo >= hi:
            raise field_error(
                f"{path}.{field}.minValue", f"must be less than maxValue ({hi!r})", lo,
            )
        if scale in ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE") and lo <= 0:
            raise field_error(
                f"{path}.{field}.minValue", f"must be greater than 0 with scaleType {scale}", lo,
            )
        if kind == "DOUBLE" and algorithm == "GRID_SEARCH":
            raise field_error(
                f"{path}.{field}",
                "GRID_SEARCH cannot enumerate a DOUBLE parameter: use discreteValueSpec with "
                "the values to try, or RANDOM_SEARCH / ALGORITHM_UNSPECIFIED",
            )
    elif kind == "CATEGORICAL":
        assert param.categorical_value_spec is not None
        if not param.categorical_value_spec.values:
            raise field_error(f"{path}.categoricalValueSpec.values", "needs at least one value")
    else:
        assert param.discrete_value_spec is not None
        values = param.discrete_value_spec.values
        if not values:
            raise field_error(f"{path}.discreteValueSpec.values", "needs at least one value")
        if any(not math.isfinite(v) for v in values):
            raise field_error(f"{path}.discreteValueSpec.values", "must be finite numbers", values)
