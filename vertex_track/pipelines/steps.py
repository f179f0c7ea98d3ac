"""The pipeline in a flow run: split the data set, run the job or the trials, register the model.

Each step records what it did in the flow run's ``system.PipelineRun`` context (see
:mod:`vertex_track.pipelines.pipeline`); the step functions here run inside the flow body.
"""

from __future__ import annotations

import math
import queue
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import fsspec

from .._time import now
from ..config import home
from ..exceptions import InvalidArgumentError, NotFoundError
from ..executions import start_execution
from ..resources import Artifact, Context, Execution
from . import hypertune, runner, splits
from .common import (
    EXECUTION_SCHEMA,
    METADATA_KEY,
    PipelineStop,
    emit,
    experiment_name_for,
    fetch_dir,
    flat_params,
    is_local,
    join_uri,
    local_or_uri,
    log,
    resolve_dataset,
    store_file_artifact,
)
from .request import HyperparameterTuningJobSpec, TrainingPipelineRequest
from .result import CANCELLED, FAILED, SUCCEEDED, TrainingPipelineResult, Trial


# -- the pipeline in a flow run -------------------------------------------------------------------
class PipelineSteps:
    """One training pipeline inside the current flow run: :meth:`run` does every step in order."""

    def __init__(self, req: TrainingPipelineRequest) -> None:
        from prefect.context import FlowRunContext

        from ..tracking.pipeline_run import PipelineRun

        self.req = req
        frc = FlowRunContext.get()
        if frc is None or frc.flow_run is None:
            raise InvalidArgumentError(
                "run_in_flow must be called inside a Prefect flow run; use "
                "vt.pipelines.run_training_pipeline(request) to run one"
            )
        self.flow_run_id = str(frc.flow_run.id)
        self.short = self.flow_run_id.replace("-", "")[:6]
        try:
            self.pipeline_run: Any = PipelineRun.get(self.flow_run_id)
        except NotFoundError:  # tracking of the flow run failed under on_tracking_error="warn"
            self.pipeline_run = None
        self.result = TrainingPipelineResult(
            display_name=req.display_name, kind=req.kind, pipeline_run=self.pipeline_run,
            experiment=experiment_name_for(req.display_name),
        )
        job = req.job_spec
        if job.base_output_directory is not None:
            self.base = job.base_output_directory.output_uri_prefix.rstrip("/")
        else:
            self.base = str(home() / "pipelines" / self.flow_run_id)
        self.work = Path(tempfile.mkdtemp(prefix="vt-pipeline-"))
        self.datasets: dict[str, Artifact] = {}
        self.split_env: dict[str, str] = {}
        self.started = time.monotonic()
        self.logger = self._logger()

    @staticmethod
    def _logger() -> Any:
        try:
            from prefect import get_run_logger

            return get_run_logger()
        except Exception:
            return log

    # -- records --------------------------------------------------------------------------
    def _attach(self, artifacts: Sequence[Artifact] = (),
                executions: Sequence[Execution] = ()) -> None:
        """Attribute/associate records to the flow run's PipelineRun context."""
        if self.pipeline_run is None:
            return
        self.pipeline_run.context.add_artifacts_and_executions(
            artifact_resource_names=[a.name for a in artifacts],
            execution_resource_names=[e.name for e in executions],
        )

    def _summary(self) -> dict[str, Any]:
        r = self.result
        best = r.best_trial
        return {
            "display_name": self.req.display_name,
            "kind": self.req.kind,
            "state": r.state,
            "error": (r.error or "")[:2000] or None,
            "model": r.model.name if r.model is not None else None,
            "experiment": r.experiment,
            "trial_count": len(r.trials),
            "succeeded_trials": sum(t.state == "SUCCEEDED" for t in r.trials),
            "best_trial": best.id if best is not None else None,
            "best_measurement": dict(best.final_measurement) if best is not None else None,
            "base_output_directory": self.base,
            "labels": dict(self.req.labels),
            "trials": [
                {**t.to_dict(), "error": (t.error or "")[:500] or None} for t in r.trials
            ],
        }

    def _save_summary(self) -> None:
        if self.pipeline_run is None:
            return
        from ..exceptions import ConflictError

        ctx = self.pipeline_run.context
        for _ in range(5):
            try:
                ctx.update(metadata={METADATA_KEY: self._summary()})
                return
            except ConflictError:
                ctx = Context.get(ctx.resource_id)
                self.pipeline_run.context = ctx

    # -- steps -----------------------------------------------------------------------------------
    def split(self) -> None:
        cfg = self.req.input_data_config
        if cfg is None:
            return
        source = resolve_dataset(cfg.dataset_id)
        prefix = (cfg.gcs_destination.output_uri_prefix if cfg.gcs_destination is not None
                  else join_uri(self.base, "dataset"))
        stamp = now().strftime("%Y%m%dT%H%M%S")
        out = join_uri(prefix, f"dataset-{self.short}-{stamp}")
        emit("split_started", source=source.name)
        began = time.monotonic()
        split_ex: list[Execution] = []
        try:
            with start_execution(schema_title=EXECUTION_SCHEMA,
                                 display_name="split-dataset") as ex:
                split_ex.append(ex)
                ex.assign_input_artifacts([source])
                res = splits.write_splits(source.uri, cfg, out)
                made = []
                for name in splits.SPLITS:
                    made.append(Artifact.create(
                        "system.Dataset", uri=res.uris[name], display_name=name,
                        metadata={"split": name, "rows": res.rows[name],
                                  "data_format": res.data_format, "source": source.name},
                    ))
                ex.assign_output_artifacts(made)
                ex.metadata = {
                    **ex.metadata, "split": res.kind, **flat_params(res.parameters),
                    "vertex_track": {"duration_s": round(time.monotonic() - began, 6),
                                     "source_rows": res.source_rows, "rows": res.rows},
                }
        except InvalidArgumentError as exc:  # a filter or column the data does not have
            self._attach([source], split_ex)
            raise PipelineStop(f"splitting the data set failed: {exc}") from None
        self.datasets = dict(zip(splits.SPLITS, made))
        self._attach([source, *made], [ex])
        self.split_env = {
            "AIP_DATA_FORMAT": res.data_format,
            "AIP_TRAINING_DATA_URI": local_or_uri(res.uris["training"]),
            "AIP_VALIDATION_DATA_URI": local_or_uri(res.uris["validation"]),
            "AIP_TEST_DATA_URI": local_or_uri(res.uris["test"]),
        }
        self.logger.info(
            "split %s (%d rows) by %s: %s", source.display_name or source.resource_id,
            res.source_rows, res.kind, ", ".join(f"{k} {v}" for k, v in res.rows.items()),
        )
        emit("split_finished", rows=res.rows, kind=res.kind)

    def _dirs(self, trial_id: str | None) -> dict[str, str]:
        root = join_uri(self.base, trial_id) if trial_id is not None else self.base
        dirs = {
            "AIP_MODEL_DIR": join_uri(root, "model"),
            "AIP_CHECKPOINT_DIR": join_uri(root, "checkpoints"),
            "AIP_TENSORBOARD_LOG_DIR": join_uri(root, "logs"),
        }
        for uri in dirs.values():
            if is_local(uri):
                fs, path = fsspec.core.url_to_fs(uri)
                fs.makedirs(path, exist_ok=True)
        return {k: local_or_uri(v) for k, v in dirs.items()}

    def _python_path(self) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for i, pool in self.req.job_spec.pools():
            spec = pool.python_package_spec
            if spec is not None and spec.package_uris:
                out[i] = runner.stage_packages(spec.package_uris, self.work / f"packages-{i}")
        return out

    def run_job(self, name: str, trial: Trial | None, python_path: dict[int, list[str]],
                logger: Any) -> tuple[runner.JobOutcome, dict[str, str], Path, Path]:
        """Run one job (the custom job, or one trial); returns the outcome, its env, log, metric file."""
        trial_id = trial.id if trial is not None else None
        env = {**self.split_env, **self._dirs(trial_id), "CLOUD_ML_JOB_ID": self.flow_run_id}
        metric_file = self.work / (f"trial-{trial_id}" if trial_id else "job") / "output.metrics"
        metric_file.parent.mkdir(parents=True, exist_ok=True)
        env[hypertune.METRIC_FILE_ENV] = str(metric_file)
        extra: list[str] = []
        if trial is not None:
            env["CLOUD_ML_TRIAL_ID"] = trial.id
            extra = [f"--{k}={_arg(v)}" for k, v in trial.parameters.items()]
        replicas = runner.build_replicas(
            self.req.job_spec, extra_args=extra, env=env,
            trial_id=trial_id, python_path=python_path,
        )
        log_file = self.work / f"{name}.log"

        def log_line(level: str, line: str) -> None:
            (logger.warning if level == "warning" else logger.info)(line)

        outcome = runner.run_replicas(
            replicas, timeout_s=self.req.job_spec.timeout_s, log=log_line, log_file=log_file,
            cwd=self.work,
        )
        return outcome, env, log_file, metric_file

    def _experiment_run(self, run_name: str, params: dict[str, Any]) -> Any:
        from ..experiments import ExperimentRun

        try:
            run = ExperimentRun.create(run_name, experiment=self.result.experiment)
            if params:
                run.log_params({k: (v if isinstance(v, (int, float, str)) else str(v))
                                for k, v in params.items()})
            return run
        except Exception as exc:  # the job still runs; the comparison table misses a row
            self.logger.warning("could not record experiment run %s: %s", run_name, exc)
            return None

    def _finish_run(self, run: Any, metrics: dict[str, float], tb_dir: str, ok: bool,
                    logger: Any) -> None:
        if run is None:
            return
        try:
            if metrics:
                run.log_metrics(metrics)
            self._import_tensorboard(run, tb_dir, logger)
            run.end_run(state="COMPLETE" if ok else "FAILED")
        except Exception as exc:
            logger.warning("could not finish experiment run %s: %s", run.name, exc)

    def _import_tensorboard(self, run: Any, tb_dir: str, logger: Any) -> None:
        from . import tensorboard

        if not tensorboard.has_event_files(tb_dir):
            return
        try:
            scalars = tensorboard.read_scalars(tb_dir)
        except ImportError as exc:
            logger.warning("TensorBoard event files in %s were not imported: %s", tb_dir, exc)
            return
        by_step: dict[tuple[int, float], dict[str, float]] = {}
        for s in scalars:
            if math.isfinite(s.value):
                by_step.setdefault((s.step, s.wall_time), {})[s.tag] = s.value
        for (step, wall), values in sorted(by_step.items()):
            run.log_time_series_metrics(values, step=max(step, 0), wall_time=wall)

    def _record_job(self, ex: Execution, outcome: runner.JobOutcome, log_file: Path,
                    name: str, measurement: dict[str, float], env: dict[str, str]) -> Artifact | None:
        logs = None
        if log_file.exists():
            logs = store_file_artifact(
                log_file, schema_title="system.Artifact", display_name=f"{name}-logs",
                metadata={"kind": "logs"},
            )
            ex.assign_output_artifacts([logs])
        ex.metadata = {
            **ex.metadata,
            "vertex_track": {
                "duration_s": round(outcome.duration_s, 6),
                "exit_codes": outcome.exit_codes,
                "timed_out": outcome.timed_out,
                "final_measurement": measurement,
                "model_dir": env["AIP_MODEL_DIR"],
                "tensorboard_log_dir": env["AIP_TENSORBOARD_LOG_DIR"],
            },
        }
        return logs

    def custom_job(self) -> Execution:
        python_path = self._python_path()
        emit("job_started")
        run = self._experiment_run(f"job-{self.short}", {})
        meta = {"job": "custom"}
        with start_execution(schema_title=EXECUTION_SCHEMA, display_name="custom-job",
                             metadata=meta) as ex:
            if self.datasets:
                ex.assign_input_artifacts(list(self.datasets.values()))
            outcome, env, log_file, metric_file = self.run_job(
                "custom-job", None, python_path, self.logger
            )
            measurement = hypertune.read_measurements(metric_file)
            logs = self._record_job(ex, outcome, log_file, "custom-job", measurement, env)
            self._finish_run(run, measurement, env["AIP_TENSORBOARD_LOG_DIR"], outcome.ok,
                             self.logger)
            if run is not None:
                run.associate_execution(ex)
            self.model_dir = env["AIP_MODEL_DIR"]
            if not outcome.ok:
                self._attach([logs] if logs else [], [ex])
                raise PipelineStop(f"custom job failed: {outcome.error}")
        self._attach([logs] if logs else [], [ex])
        emit("job_finished", duration_s=outcome.duration_s)
        return ex

    # -- tuning ---------------------------------------------------------------------------------
    def run_trial(self, trial: Trial, run: Any, python_path: dict[int, list[str]],
                  logger: Any) -> None:
        tuning = self.req.tuning
        assert tuning is not None
        metric_id = tuning.study_spec.metrics[0].metric_id
        meta = {"trial_id": trial.id, **flat_params(trial.parameters)}
        began = time.monotonic()
        logs = None
        try:
            with start_execution(schema_title=EXECUTION_SCHEMA,
                                 display_name=f"trial-{trial.id}", metadata=meta) as ex:
                trial.execution = ex
                if self.datasets:
                    ex.assign_input_artifacts(list(self.datasets.values()))
                outcome, env, log_file, metric_file = self.run_job(
                    f"trial-{trial.id}", trial, python_path, logger
                )
                trial.model_dir = env["AIP_MODEL_DIR"]
                trial.final_measurement = {
                    k: v for k, v in hypertune.read_measurements(metric_file).items()
                }
                logs = self._record_job(ex, outcome, log_file, f"trial-{trial.id}",
                                        trial.final_measurement, env)
                if run is not None:
                    run.associate_execution(ex)
                if not outcome.ok:
                    trial.state, trial.error = "FAILED", outcome.error
                elif metric_id not in trial.final_measurement:
                    trial.state = "INFEASIBLE"
                    trial.error = (
                        f"the trial exited 0 without reporting the metric {metric_id!r} (report "
                        "it with hypertune.HyperTune().report_hyperparameter_tuning_metric)"
                    )
                else:
                    trial.state = "SUCCEEDED"
                self._finish_run(run, trial.final_measurement, env["AIP_TENSORBOARD_LOG_DIR"],
                                 trial.state == "SUCCEEDED", logger)
                if trial.state != "SUCCEEDED":
                    raise _TrialFailed(trial.error or trial.state)
        except _TrialFailed:
            pass
        except Exception as exc:
            trial.state, trial.error = "FAILED", f"{type(exc).__name__}: {exc}"
        finally:
            trial.duration_s = round(time.monotonic() - began, 3)
            if trial.execution is not None:
                self._attach([logs] if logs else [], [trial.execution])

    def tune(self) -> None:
        from prefect import task
        from prefect.cache_policies import NO_CACHE

        from .samplers import make_sampler

        tuning = self.req.tuning
        assert isinstance(tuning, HyperparameterTuningJobSpec)
        sampler = make_sampler(tuning.study_spec)
        python_path = self._python_path()
        trials: dict[str, Trial] = {}
        runs: dict[str, Any] = {}
        done_q: queue.Queue[str] = queue.Queue()
        started: set[str] = set()  # trials whose task body ran (and so will report to done_q)
        pipeline = self

        def trial_body(trial_id: str) -> dict[str, Any]:
            trial = trials[trial_id]
            started.add(trial_id)
            try:
                pipeline.run_trial(trial, runs.get(trial_id), python_path, _task_logger())
            finally:
                done_q.put(trial_id)
            if trial.state != "SUCCEEDED":
                raise RuntimeError(f"trial {trial_id} {trial.state}: {trial.error}")
            return trial.final_measurement

        trial_task = task(
            name="trial", task_run_name="trial-{trial_id}", cache_policy=NO_CACHE,
            persist_result=False,
        )(trial_body)
        limit = tuning.max_trial_count
        parallel = tuning.parallel_trial_count
        max_failed = tuning.max_failed_trial_count
        tokens: dict[str, Any] = {}
        futures: dict[str, Any] = {}
        running = 0
        failed = 0
        stop_reason: str | None = None
        exhausted = False
        metric_id = tuning.study_spec.metrics[0].metric_id
        while True:
            while (stop_reason is None and not exhausted and running < parallel
                   and len(trials) < limit):
                asked = sampler.ask()
                if asked is None:
                    exhausted = True
                    break
                token, params = asked
                trial = Trial(id=str(len(trials) + 1), parameters=params)
                trials[trial.id] = trial
                tokens[trial.id] = token
                self.result.trials.append(trial)
                # Created here, in start order, so the experiment's runs list in trial order.
                run = self._experiment_run(f"trial-{trial.id}-{self.short}", params)
                runs[trial.id] = run
                trial.experiment_run = run.name if run is not None else None
                emit("trial_started", trial=trial.id, parameters=params, total=limit)
                futures[trial.id] = trial_task.submit(trial.id)
                running += 1
            if running == 0:
                break
            finished = self._next_finished(done_q, futures, started, trials)
            running -= 1
            value = finished.final_measurement.get(metric_id)
            sampler.tell(tokens[finished.id], value if finished.state == "SUCCEEDED" else None)
            if finished.state != "SUCCEEDED":
                failed += 1
            emit("trial_finished", trial=finished.id, state=finished.state, value=value,
                  error=finished.error, total=limit)
            if max_failed > 0 and failed > max_failed and stop_reason is None:
                stop_reason = (
                    f"{failed} trials failed, more than maxFailedTrialCount ({max_failed}); "
                    f"the last, trial {finished.id}: {finished.error}"
                )
        for f in futures.values():  # all ended; collect states so Prefect does not warn
            f.wait()
        succeeded = [t for t in self.result.trials if t.state == "SUCCEEDED"]
        if stop_reason is not None:
            raise PipelineStop(stop_reason)
        if not succeeded:
            last = self.result.trials[-1] if self.result.trials else None
            raise PipelineStop(
                "no trial succeeded"
                + (f"; the last, trial {last.id}: {last.error}" if last is not None else "")
            )
        goal = tuning.study_spec.metrics[0].goal
        sign = 1.0 if goal == "MAXIMIZE" else -1.0
        best = max(succeeded, key=lambda t: (sign * t.final_measurement[metric_id], -int(t.id)))
        self.result.best_trial = best
        self.model_dir = best.model_dir or ""
        self.logger.info(
            "best trial %s: %s = %s with %s", best.id, metric_id,
            best.final_measurement[metric_id], best.parameters,
        )

    @staticmethod
    def _next_finished(done_q: queue.Queue[str], futures: dict[str, Any], started: set[str],
                       trials: dict[str, Trial]) -> Trial:
        """The next trial to end. A trial whose Prefect task ended without running its
        body (the task run could not start) never reports to ``done_q``: it is found
        through its future, and ends FAILED with Prefect's message."""
        while True:
            try:
                return trials[done_q.get(timeout=0.5)]
            except queue.Empty:
                pass
            for trial_id, future in futures.items():
                trial = trials[trial_id]
                if trial_id in started or trial.state != "ACTIVE":
                    continue
                state = future.state
                if state.is_final():
                    trial.state = "FAILED"
                    trial.error = f"its task run ended {state.name}: {state.message}"
                    return trial

    # -- model ------------------------------------------------------------------------------------
    def upload_model(self, producer: Execution | None) -> None:
        mtu = self.req.model_to_upload
        if mtu is None:
            return
        source = mtu.artifact_uri or self.model_dir
        field = "modelToUpload.artifactUri" if mtu.artifact_uri else "AIP_MODEL_DIR"
        local = fetch_dir(source, self.work)
        if local is None:
            raise PipelineStop(
                f"modelToUpload: nothing to upload: {field} ({source}) is empty or missing; "
                "the training code should save its model to os.environ['AIP_MODEL_DIR']"
            )
        best = self.result.best_trial
        metadata: dict[str, Any] = {
            "source_uri": source,
            "training_pipeline": self.req.display_name,
        }
        if mtu.container_spec:
            metadata["container_spec"] = mtu.container_spec
        if mtu.predict_schemata:
            metadata["predict_schemata"] = mtu.predict_schemata
        if best is not None:
            metadata["trial_id"] = best.id
            metadata["final_measurement"] = dict(best.final_measurement)
            metadata["parameters"] = flat_params(best.parameters)
        model = store_file_artifact(
            local, schema_title="system.Model",
            display_name=mtu.display_name or f"{self.req.display_name}-model",
            metadata=metadata, description=mtu.description, labels=dict(mtu.labels),
        )
        if producer is not None:
            producer.assign_output_artifacts([model])
        self._attach([model])
        self.result.model = model
        emit("model_uploaded", model=model.name)

    # -- all of it ----------------------------------------------------------------------------------
    def run(self) -> TrainingPipelineResult:
        self._save_summary()
        try:
            self.split()
            if self.req.tuning is not None:
                self.tune()
                best = self.result.best_trial
                self.upload_model(best.execution if best is not None else None)
            else:
                ex = self.custom_job()
                self.upload_model(ex)
            self.result.state = SUCCEEDED
        except PipelineStop as exc:
            self.result.state, self.result.error = FAILED, str(exc)
        except KeyboardInterrupt:
            runner.stop_all()  # trials in worker threads do not see the interrupt
            self.result.state, self.result.error = CANCELLED, "interrupted"
            raise
        except Exception as exc:
            self.result.state = FAILED
            self.result.error = f"{type(exc).__name__}: {exc}"
            self.logger.exception("training pipeline %s failed", self.req.display_name)
        finally:
            self.result.duration_s = round(time.monotonic() - self.started, 3)
            try:
                self._save_summary()
            finally:
                shutil.rmtree(self.work, ignore_errors=True)
        if self.result.state == FAILED:
            self.logger.error("training pipeline %s failed: %s", self.req.display_name,
                              self.result.error)
        return self.result


class _TrialFailed(Exception):
    pass


def _task_logger() -> Any:
    try:
        from prefect import get_run_logger

        return get_run_logger()
    except Exception:
        return log


def _arg(value: Any) -> str:
    """A parameter value as a trial argument: whole numbers without ``.0`` (a DISCRETE
    ``100`` reaches ``type=int`` and ``type=float`` parsers alike)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)
