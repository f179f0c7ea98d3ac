"""The records behind experiments: ``system.Experiment`` and ``system.ExperimentRun`` contexts.

Layout (as Vertex AI Experiments writes it, so the same filters work):

- an experiment is a Context ``system.Experiment`` whose resource id is the
  experiment name, metadata ``{"experiment_deleted": false}``;
- a run is a Context ``system.ExperimentRun``, child of its experiment, with
  resource id ``f"{experiment}-{run_name}"``, display name ``run_name`` and
  metadata ``{"_params": {...}, "_metrics": {...}, "_state": "RUNNING"}``, so
  ``metadata._params.lr.number_value = 0.1`` and
  ``metadata._state.string_value = "COMPLETE"`` are ordinary filters.

Params, metrics and state are merged into the run's metadata inside the
store (:func:`merge_run_metadata`), so concurrent writers to one run never
lose each other's keys and need no etag round trip.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .. import validation as v
from ..config import get_settings
from ..exceptions import AlreadyExistsError, InvalidArgumentError, NotFoundError
from ..resources import Context, ExecutionState, _coerce_state

EXPERIMENT_SCHEMA = "system.Experiment"
RUN_SCHEMA = "system.ExperimentRun"
PARAMS_KEY = "_params"
METRICS_KEY = "_metrics"
STATE_KEY = "_state"


# -- names -------------------------------------------------------------------------------
def experiment_name(experiment: Any) -> str:
    """The experiment name from a name, an experiment Context, or ``vt.init(experiment=)``.

    Raises:
        InvalidArgumentError: no experiment is given or set, or the name breaks
            the resource id rule (it is the experiment context's resource id).
    """
    if experiment is None:
        experiment = get_settings().experiment
        if not experiment:
            raise InvalidArgumentError(
                "no experiment set: pass experiment='my-experiment', or call "
                "vt.init(experiment='my-experiment') (or set VERTEX_TRACK_EXPERIMENT) first"
            )
    if isinstance(experiment, Context):
        if experiment.schema_title != EXPERIMENT_SCHEMA:
            raise InvalidArgumentError(
                f"experiment must be a {EXPERIMENT_SCHEMA} context or its name; "
                f"{experiment.name!r} is a {experiment.schema_title}"
            )
        return experiment.resource_id
    if not isinstance(experiment, str) or not v.RESOURCE_ID_RE.match(experiment):
        raise InvalidArgumentError(
            "experiment must be 1-63 characters of [a-z0-9_-] whose first character is "
            "neither a digit nor a hyphen (it becomes the resource id of the "
            f"{EXPERIMENT_SCHEMA} context), e.g. 'my-experiment'; got {experiment!r}"
        )
    return experiment


def run_resource_id(experiment: str, run_name: Any) -> str:
    """``f"{experiment}-{run_name}"``, checked against the resource id rule.

    Raises:
        InvalidArgumentError: ``run_name`` is not a string, or the combined id
            breaks the rule (characters or length).
    """
    if not isinstance(run_name, str) or not run_name:
        raise InvalidArgumentError(f"run_name must be a non-empty string, got {run_name!r}")
    rid = f"{experiment}-{run_name}"
    if not v.RESOURCE_ID_RE.match(rid):
        room = 63 - len(experiment) - 1
        raise InvalidArgumentError(
            f"run_name must be characters of [a-z0-9_-], at most {room} of them in experiment "
            f"{experiment!r}: the run's resource id is '<experiment>-<run_name>' "
            f"({rid!r}), which must be at most 63 characters; got {run_name!r}"
        )
    return rid


# -- experiment contexts --------------------------------------------------------------------
def get_experiment(store: Any, name: str) -> Context:
    """The ``system.Experiment`` context ``name``.

    Raises:
        NotFoundError: it does not exist.
        InvalidArgumentError: a context of another schema has that id.
    """
    try:
        ctx = Context.get(name, store=store)
    except NotFoundError:
        raise NotFoundError(
            f"experiment {name!r} does not exist; vt.start_run() or "
            "ExperimentRun.create() creates it"
        ) from None
    _check_schema(ctx, EXPERIMENT_SCHEMA, f"experiment name {name!r}")
    return ctx


def get_or_create_experiment(store: Any, name: str) -> Context:
    """The experiment context ``name``, created when missing (safe under races)."""
    try:
        return get_experiment(store, name)
    except NotFoundError:
        pass
    try:
        return Context.create(
            EXPERIMENT_SCHEMA, resource_id=name, display_name=name,
            metadata={"experiment_deleted": False}, store=store,
        )
    except AlreadyExistsError:  # another process created it first
        return get_experiment(store, name)


def _check_schema(ctx: Context, schema: str, what: str) -> None:
    if ctx.schema_title != schema:
        raise InvalidArgumentError(
            f"{what} is already used by a {ctx.schema_title} context ({ctx.name!r}), "
            f"not a {schema}; choose another name"
        )


def check_run_context(ctx: Context, run_name: str) -> None:
    _check_schema(ctx, RUN_SCHEMA, f"run {run_name!r}")


# -- params and metrics ----------------------------------------------------------------------
def check_values(values: Any, what: str) -> dict[str, Any]:
    """Validate a params/metrics dict as the Vertex SDK does, returning a JSON-ready copy.

    Keys must be ``str``; values ``float``, ``int`` or ``str`` (numpy numbers
    are converted). ``bool`` is rejected: it is an ``int`` to Python but not
    a number a user means to log.

    Raises:
        TypeError: ``values`` is not a dict, a key is not a string, or a value
            has another type.
        InvalidArgumentError: a key is empty, or a float is NaN or infinite.
    """
    if not isinstance(values, Mapping):
        raise TypeError(f"{what} must be a dict of str to float, int or str, got {type(values).__name__}")
    out: dict[str, Any] = {}
    for key, value in values.items():
        if not isinstance(key, str):
            raise TypeError(f"{key!r} is of type {type(key).__name__}; {what} keys must be str")
        if not key:
            raise InvalidArgumentError(f"{what} keys must be non-empty strings")
        value = to_scalar(value)
        if isinstance(value, bool) or not isinstance(value, (float, int, str)):
            raise TypeError(
                f"value for key {key!r} is of type {type(value).__name__}, but {what} values "
                "must be float, int or str"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidArgumentError(
                f"{what}[{key!r}] is {value!r}; values must be finite numbers (the metadata "
                "store holds JSON, which has no NaN or infinity)"
            )
        out[key] = value
    return out


def to_scalar(value: Any) -> Any:
    """numpy scalars to their Python value; anything else unchanged."""
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value


def coerce_state(state: Any) -> ExecutionState:
    return _coerce_state(ExecutionState, state)


def merge_run_metadata(store: Any, ctx: Context, key: str, value: Any) -> Context:
    """Merge ``value`` into the run context's ``metadata[key]`` inside the store.

    A dict ``value`` is merged key by key into the dict stored under ``key``
    (``("_params", {"lr": 0.1})`` keeps the other params); any other value
    replaces the stored one. The store merges in one statement
    (:meth:`~vertex_track.store.base.MetadataStore.merge_metadata`), so
    concurrent writers to one run never lose each other's keys and no etag
    round trip is needed. ``ctx`` is updated in place (metadata, etag,
    update_time) and returned.

    Raises:
        NotFoundError: the run was deleted.
    """
    try:
        etag, update_time = store.merge_metadata("contexts", ctx.resource_id, {key: value})
    except NotFoundError:
        raise NotFoundError(
            f"experiment run {ctx.name!r} does not exist (was it deleted?)"
        ) from None
    metadata = dict(ctx.metadata)
    current = metadata.get(key)
    if isinstance(value, Mapping) and isinstance(current, dict):
        metadata[key] = {**current, **value}
    else:
        metadata[key] = dict(value) if isinstance(value, Mapping) else value
    ctx.metadata = metadata
    ctx.etag = etag
    ctx.update_time = update_time
    return ctx
