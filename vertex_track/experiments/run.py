"""``vt.ExperimentRun``: one run of an experiment (Vertex AI SDK 1.26.0, ``aiplatform.ExperimentRun``).

The run is a ``system.ExperimentRun`` Context (see :mod:`.records` for the
layout). Everything logged to it is attached to that Context: params, metrics
and state in its metadata, time series in the store's time series table,
classification metrics and models as Artifacts attributed to it, executions
associated with it, and the ``system.PipelineRun`` Contexts of Prefect flows
run inside it as its children.

Differences from Vertex, all because nothing here runs on Google Cloud:
time series live in the metadata store (no TensorBoard: ``tensorboard``
arguments are accepted and ignored); ``credentials`` are accepted and
ignored; ``project``/``location`` select the resource name prefix in the
configured store.
"""

from __future__ import annotations

import builtins
import logging
from typing import Any

from .. import context
from ..config import get_settings
from ..exceptions import AlreadyExistsError, InvalidArgumentError, NotFoundError
from ..resources import Artifact, Context, Execution, ExecutionState
from . import classification, records, time_series
from .models import ExperimentModel, save_model
from .records import METRICS_KEY, PARAMS_KEY, RUN_SCHEMA, STATE_KEY

__all__ = ["ExperimentRun"]

List = builtins.list  # ExperimentRun.list shadows the builtin inside the class
log = logging.getLogger("vertex_track.experiments")


def resolve_store(store: Any = None, project: str | None = None, location: str | None = None) -> Any:
    """The store to use: given, else the configured one (with project/location overrides)."""
    if store is not None:
        return store
    from ..store import get_store, open_store

    if project is None and location is None:
        return get_store()
    s = get_settings()
    return open_store(
        s.store_uri, project=project or s.project, location=location or s.location,
        metadata_store=s.metadata_store,
    )


class ExperimentRun:
    """A run of an experiment: params, metrics, time series, models and lineage.

    ``ExperimentRun(run_name, experiment)`` reads an existing run; create one
    with :meth:`create` or :func:`vertex_track.start_run`.

    Example::

        run = vt.ExperimentRun.create("run-1", experiment="my-experiment")
        run.log_params({"learning_rate": 0.1})
        run.log_metrics({"accuracy": 0.93})
        run.end_run()

    Args:
        run_name: the run's name within its experiment.
        experiment: the experiment's name (or its ``system.Experiment``
            Context); default the one set with ``vt.init(experiment=...)``.
        project, location: override the settings' resource name parts.
        credentials: accepted for compatibility, unused.
        store: a metadata store (default: the configured one).

    Raises:
        NotFoundError: the run does not exist.
        InvalidArgumentError: no experiment is set, a name breaks the resource
            id rule, or the id belongs to a context that is not a run.
    """

    def __init__(
        self,
        run_name: str,
        experiment: Any = None,
        *,
        project: str | None = None,
        location: str | None = None,
        credentials: Any = None,
        store: Any = None,
    ) -> None:
        s = resolve_store(store, project, location)
        exp = records.experiment_name(experiment)
        rid = records.run_resource_id(exp, run_name)
        try:
            ctx = Context.get(rid, store=s)
        except NotFoundError:
            records.get_experiment(s, exp)  # a clearer error when the experiment is missing
            raise NotFoundError(
                f"experiment run {run_name!r} does not exist in experiment {exp!r}; create it "
                f"with vt.start_run({run_name!r}) or ExperimentRun.create({run_name!r}, "
                f"experiment={exp!r})"
            ) from None
        records.check_run_context(ctx, run_name)
        self._setup(s, exp, run_name, ctx)

    def _setup(self, store: Any, experiment: str, run_name: str, ctx: Context) -> None:
        self._store = store
        self._experiment_name = experiment
        self._run_name = run_name
        self._context = ctx
        self._series_key = time_series.series_key(store, ctx.resource_id)

    @classmethod
    def _from_context(cls, store: Any, experiment: str, ctx: Context) -> ExperimentRun:
        run = cls.__new__(cls)
        run._setup(store, experiment, ctx.display_name, ctx)
        return run

    def __repr__(self) -> str:
        state = self._context.metadata.get(STATE_KEY)
        return (
            f"ExperimentRun(name={self._run_name!r}, experiment={self._experiment_name!r}, "
            f"state={state})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ExperimentRun):
            return NotImplemented
        return self.resource_name == other.resource_name

    def __hash__(self) -> int:
        return hash(self.resource_name)

    # -- properties -------------------------------------------------------------------
    @property
    def name(self) -> str:
        """This run's name within its experiment."""
        return self._run_name

    @property
    def resource_id(self) -> str:
        """The resource id of the run's Context: ``f"{experiment}-{run_name}"``."""
        return self._context.resource_id

    @property
    def resource_name(self) -> str:
        """The run Context's full resource name."""
        return self._context.name

    @property
    def project(self) -> str:
        return self._context.name.split("/")[1]

    @property
    def location(self) -> str:
        return self._context.name.split("/")[3]

    @property
    def credentials(self) -> None:
        """Always None: there is no Google Cloud here."""
        return None

    @property
    def state(self) -> ExecutionState:
        """The run's state (Execution state names: RUNNING, COMPLETE, FAILED, ...), read from the store."""
        self._refresh()
        return records.coerce_state(self._context.metadata.get(STATE_KEY, "RUNNING"))

    # -- lookup ------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        run_name: str,
        *,
        experiment: Any = None,
        tensorboard: Any = None,
        state: ExecutionState | str = ExecutionState.RUNNING,
        project: str | None = None,
        location: str | None = None,
        credentials: Any = None,
        store: Any = None,
    ) -> ExperimentRun:
        """Create a new run (and its experiment, when that does not exist yet).

        Args:
            run_name: the run's name; ``f"{experiment}-{run_name}"`` must be a
                valid resource id (at most 63 characters of ``[a-z0-9_-]``).
            experiment: name or Context; default ``vt.init(experiment=...)``.
            tensorboard: accepted for compatibility; time series are always
                stored in the metadata store.
            state: the initial state, default ``RUNNING``.

        Raises:
            AlreadyExistsError: the run exists (reopen it with
                ``vt.start_run(name, resume=True)`` or ``ExperimentRun(name, experiment)``).
            InvalidArgumentError: a name breaks the resource id rule, no
                experiment is set, or ``state`` is unknown.
        """
        s = resolve_store(store, project, location)
        exp = records.experiment_name(experiment)
        rid = records.run_resource_id(exp, run_name)
        state = records.coerce_state(state)
        exp_ctx = records.get_or_create_experiment(s, exp)
        try:
            ctx = Context.create(
                RUN_SCHEMA, resource_id=rid, display_name=run_name,
                metadata={PARAMS_KEY: {}, METRICS_KEY: {}, STATE_KEY: state.value},
                parent_contexts=[exp_ctx], store=s,
            )
        except AlreadyExistsError:
            raise AlreadyExistsError(
                f"experiment run {run_name!r} already exists in experiment {exp!r}; resume it "
                f"with vt.start_run({run_name!r}, resume=True), read it with "
                f"ExperimentRun({run_name!r}, experiment={exp!r}), or choose another name"
            ) from None
        time_series.forget_run(s, rid)  # a run of that name may have been deleted before
        return cls._from_context(s, exp, ctx)

    @classmethod
    def get(
        cls,
        run_name: str,
        *,
        experiment: Any = None,
        project: str | None = None,
        location: str | None = None,
        credentials: Any = None,
        store: Any = None,
    ) -> ExperimentRun | None:
        """The run named ``run_name``, or None when it (or its experiment) does not exist."""
        try:
            return cls(run_name, experiment, project=project, location=location, store=store)
        except NotFoundError:
            return None

    @classmethod
    def list(
        cls,
        *,
        experiment: Any = None,
        project: str | None = None,
        location: str | None = None,
        credentials: Any = None,
        store: Any = None,
    ) -> List[ExperimentRun]:
        """Every run of the experiment, oldest first.

        Raises:
            NotFoundError: the experiment does not exist.
        """
        s = resolve_store(store, project, location)
        exp = records.experiment_name(experiment)
        exp_ctx = records.get_experiment(s, exp)
        contexts = Context.list(
            f'schema_title = "{RUN_SCHEMA}" AND parent_contexts:"{exp_ctx.name}"', store=s
        )
        return [cls._from_context(s, exp, c) for c in contexts]

    # -- logging ---------------------------------------------------------------------------
    def log_params(self, params: dict[str, float | int | str]) -> None:
        """Log parameters; a key logged again is overwritten.

        Raises:
            TypeError: a key is not a str, or a value is not float, int or str
                (bool is rejected).
            InvalidArgumentError: a float is NaN or infinite.
            NotFoundError: the run was deleted.
        """
        values = records.check_values(params, "params")
        records.merge_run_metadata(self._store, self._context, PARAMS_KEY, values)

    def log_metrics(self, metrics: dict[str, float | int | str]) -> None:
        """Log summary metrics; a key logged again is overwritten.

        Raises:
            TypeError: a key is not a str, or a value is not float, int or str
                (bool is rejected).
            InvalidArgumentError: a float is NaN or infinite.
            NotFoundError: the run was deleted.
        """
        values = records.check_values(metrics, "metrics")
        records.merge_run_metadata(self._store, self._context, METRICS_KEY, values)

    def log_time_series_metrics(
        self,
        metrics: dict[str, float],
        step: int | None = None,
        wall_time: Any = None,
    ) -> None:
        """Log one point of one or more time series.

        Points are buffered and written in bulk (see
        :mod:`vertex_track.experiments.time_series` for when, and for
        durability); every read of the run's time series writes them first.

        Args:
            metrics: ``{name: value}``; values are float or int.
            step: the step index (int >= 0). Default: the latest step among
                the time series already logged to this run, 0 when there are
                none (as the Vertex AI SDK reference documents it; the SDK's
                implementation adds 1). Pass it explicitly for per-epoch series.
            wall_time: a ``datetime`` (naive = local time), seconds since the
                epoch, or a protobuf ``Timestamp``; default now.

        Raises:
            TypeError: a name is not a str, a value not a number, ``step`` not an int.
            InvalidArgumentError: a NaN or infinite value, a negative step.
        """
        time_series.log_points(
            self._store, self._context, metrics, step, wall_time, self._series_key
        )

    def log_classification_metrics(
        self,
        *,
        labels: List[str] | None = None,
        matrix: List[List[int]] | None = None,
        fpr: List[float] | None = None,
        tpr: List[float] | None = None,
        threshold: List[float] | None = None,
        display_name: str | None = None,
    ) -> Artifact:
        """Log a confusion matrix and/or a ROC curve as a ``google.ClassificationMetrics`` Artifact.

        Returns:
            The Artifact, attributed to this run.

        Raises:
            ValueError: ``labels`` and ``matrix`` are not set together or not of
                the same length (each matrix row must also have one value per
                label); ``fpr``, ``tpr`` and ``threshold`` are not set together or
                not of the same length; nothing is given.
            TypeError: a label is not a str or a value is not a number.
        """
        metadata = classification.to_metadata(labels, matrix, fpr, tpr, threshold)
        artifact = Artifact.create(
            classification.SCHEMA, display_name=display_name, metadata=metadata,
            store=self._store,
        )
        self._attribute([artifact.name])
        return artifact

    def log_model(
        self,
        model: Any,
        artifact_id: str | None = None,
        *,
        uri: str | None = None,
        input_example: Any = None,
        display_name: str | None = None,
        metadata_store_id: str | None = "default",
        project: str | None = None,
        location: str | None = None,
        credentials: Any = None,
    ) -> ExperimentModel:
        """Save a model as a ``system.Model`` Artifact attributed to this run.

        Args:
            model: a scikit-learn, XGBoost, LightGBM or PyTorch model, any
                object cloudpickle can serialise, or a ``pathlib.Path`` to a
                saved model file or folder.
            artifact_id: the Artifact's resource id (generated when omitted).
            uri: root folder (any fsspec URL) for the bytes; default the
                configured ``artifact_root``.
            input_example: a list, dict, DataFrame or ndarray stored beside the model.
            display_name: default ``"<framework>-model"``.
            metadata_store_id, project, location, credentials: accepted for
                compatibility; the run's store is used.

        Returns:
            The :class:`~vertex_track.experiments.models.ExperimentModel`
            (``load_model()``, ``get_model_info()``).

        Raises:
            ValueError: (``InvalidArgumentError``) the model cannot be
                serialised, or ``input_example`` has an unsupported type.
            AlreadyExistsError: ``artifact_id`` is taken.
        """
        model_artifact = save_model(
            model, artifact_id=artifact_id, uri=uri, input_example=input_example,
            display_name=display_name, store=self._store,
        )
        self._attribute([model_artifact.name])
        return model_artifact

    def log(self, *, pipeline_job: Any = None) -> None:
        """Link a pipeline run to this run (it becomes a child context).

        Args:
            pipeline_job: a ``vt.PipelineRun``, its ``system.PipelineRun``
                Context, or the Context's resource name.
        """
        if pipeline_job is None:
            return
        target = getattr(pipeline_job, "context", pipeline_job)
        if not isinstance(target, (Context, str)):
            raise InvalidArgumentError(
                "pipeline_job must be a vt.PipelineRun, a Context or a context resource name, "
                f"got {type(pipeline_job).__name__}"
            )
        self._store.add_context_children(self._context, [target])

    def associate_execution(self, execution: Execution) -> None:
        """Associate an execution (object or resource name) with this run."""
        name = execution if isinstance(execution, str) else execution.resource_name
        self._store.add_to_context(self._context, artifacts=[], executions=[name])

    def assign_backing_tensorboard(self, tensorboard: Any) -> None:
        """Accepted for compatibility: time series are always stored in the metadata store."""

    def _attribute(self, artifact_names: List[str]) -> None:
        self._store.add_to_context(self._context, artifacts=artifact_names, executions=[])

    # -- reading ---------------------------------------------------------------------------
    def _refresh(self) -> None:
        fresh = Context.get(self._context.resource_id, store=self._store)
        self._context.__dict__.update(fresh.__dict__)

    def get_params(self) -> dict[str, float | int | str]:
        """The parameters logged to this run (read from the store)."""
        self._refresh()
        return dict(self._context.metadata.get(PARAMS_KEY) or {})

    def get_metrics(self) -> dict[str, float | int | str]:
        """The summary metrics logged to this run (read from the store)."""
        self._refresh()
        return dict(self._context.metadata.get(METRICS_KEY) or {})

    def get_time_series_data_frame(self) -> Any:
        """All time series of this run as a pandas DataFrame.

        Columns ``step``, ``wall_time`` (UTC), then one per metric (in name
        order); one row per distinct (step, wall_time), so the metrics logged
        in one call share a row. Buffered points are written first. An empty
        DataFrame (with ``step`` and ``wall_time`` columns) when nothing was logged.

        Raises:
            ImportError: pandas is not installed.
        """
        return time_series.read_frame(self._store, self._context)

    def get_classification_metrics(self) -> List[dict[str, Any]]:
        """The classification metrics logged to this run, oldest first.

        Each is ``{"id", "display_name", "labels", "matrix", "fpr", "tpr",
        "thresholds"}`` (the keys of what was logged).
        """
        artifacts = Artifact.list(
            f'in_context("{self.resource_name}") AND schema_title = "{classification.SCHEMA}"',
            store=self._store,
        )
        return [classification.from_metadata(a) for a in artifacts]

    def get_artifacts(self) -> List[Artifact]:
        """The artifacts attributed to this run directly (models, classification metrics...)."""
        return Artifact.list(f'in_context("{self.resource_name}")', store=self._store)

    def get_executions(self) -> List[Execution]:
        """The executions associated with this run directly (``start_execution`` inside it,
        ``associate_execution``)."""
        return Execution.list(f'in_context("{self.resource_name}")', store=self._store)

    def get_experiment_models(self) -> List[ExperimentModel]:
        """The models logged to this run (``system.Model`` Artifacts attributed to it)."""
        artifacts = Artifact.list(
            f'in_context("{self.resource_name}") AND schema_title = "system.Model"',
            store=self._store,
        )
        return [ExperimentModel.from_artifact(a) for a in artifacts]

    def get_pipeline_runs(self) -> List[Any]:
        """The ``vt.PipelineRun`` of every Prefect flow run run inside this run."""
        from ..tracking.pipeline_run import SCHEMA, PipelineRun

        contexts = Context.list(
            f'schema_title = "{SCHEMA}" AND parent_contexts:"{self.resource_name}"',
            store=self._store,
        )
        return [PipelineRun(c) for c in contexts]

    def get_logged_pipeline_jobs(self) -> List[Any]:
        """Same as :meth:`get_pipeline_runs` (the Vertex SDK's name)."""
        return self.get_pipeline_runs()

    def get_logged_custom_jobs(self) -> List[Any]:
        """Always empty: there are no Vertex custom jobs locally."""
        return []

    # -- state -----------------------------------------------------------------------------
    def update_state(self, state: ExecutionState | str) -> None:
        """Set the run's state (``RUNNING``, ``COMPLETE``, ``FAILED``, ... or an enum member).

        Raises:
            InvalidArgumentError: unknown state.
        """
        value = records.coerce_state(state)
        records.merge_run_metadata(self._store, self._context, STATE_KEY, value.value)

    def end_run(self, *, state: ExecutionState | str = ExecutionState.COMPLETE) -> None:
        """End the run: write its buffered time series, then set ``state`` (default COMPLETE).

        The state is set even when writing the time series fails; that error
        is raised afterwards.
        """
        value = records.coerce_state(state)
        error: BaseException | None = None
        try:
            time_series.flush_run(self._store, self.resource_id)
        except Exception as exc:
            error = exc
        records.merge_run_metadata(self._store, self._context, STATE_KEY, value.value)
        if error is not None:
            raise error

    def delete(self, *, delete_backing_tensorboard_run: bool = False) -> None:
        """Delete this run's Context with its time series.

        Executions, artifacts and pipeline runs logged to the run are kept
        (only their links to it go). Time series are stored with the run, so
        they are deleted whatever ``delete_backing_tensorboard_run`` says.

        Raises:
            NotFoundError: the run was already deleted.
        """
        time_series.forget_run(self._store, self.resource_id)
        self._store.delete("contexts", [self.resource_id], missing_ok=False)
        context.clear_current_run(self)

    def _make_current(self) -> None:
        """Make this run the current one (what ``vt.start_run`` returns), replacing any other."""
        context.set_current_run(self, self._context)

    def _end_as_current(self, state: ExecutionState | str = ExecutionState.COMPLETE) -> None:
        """End this run (the current one) as ``state`` and stop it being current.

        A run deleted meanwhile has nothing left to end; it stops being current all the same.
        """
        try:
            self.end_run(state=state)
        except NotFoundError:
            pass
        finally:
            context.clear_current_run(self)

    # -- context manager ---------------------------------------------------------------------
    def __enter__(self) -> ExperimentRun:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        state = ExecutionState.FAILED if exc_type is not None else ExecutionState.COMPLETE
        try:
            if context.current_run() == self:
                self._end_as_current(state)
            else:
                self.end_run(state=state)
        except Exception:
            if exc_type is None:
                raise
            # Do not hide the user's exception behind a bookkeeping one.
            log.exception("could not end experiment run %s as %s", self.resource_name, state)
