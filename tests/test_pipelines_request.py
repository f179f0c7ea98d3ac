"""Training pipeline requests: parsing, the validation rules, splitters and samplers.

Nothing here starts Prefect: a request is checked (and a bad one refused,
recording nothing) before any flow runs.
"""

from __future__ import annotations

import copy
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

import pytest

import vertex_track as vt
from vertex_track.pipelines import parse_request
from vertex_track.pipelines.hypertune import read_measurements
from vertex_track.pipelines.request import InputDataConfig, StudySpec, parse_duration
from vertex_track.pipelines.samplers import make_sampler
from vertex_track.pipelines.splits import split_table, write_splits

HPT = "gs://google-cloud-aiplatform/schema/trainingjob/definition/hyperparameter_tuning_task_1.0.0.yaml"
CUSTOM = "gs://google-cloud-aiplatform/schema/trainingjob/definition/custom_task_1.0.0.yaml"
POOL = {"replicaCount": 1, "machineSpec": {"machineType": "n1-standard-4"},
        "containerSpec": {"imageUri": "us-docker.pkg.dev/x/y", "command": ["python", "t.py"]}}


def tuning_request(**study: Any) -> dict[str, Any]:
    """A hyperparameter tuning body shaped like the one on Vertex AI's "Create training pipelines" page."""
    return {
        "displayName": "tune",
        "inputDataConfig": {
            "datasetId": "data", "fractionSplit": {
                "trainingFraction": 0.8, "validationFraction": 0.1, "testFraction": 0.1},
            "gcsDestination": {"outputUriPrefix": "/tmp/out"},
        },
        "trainingTaskDefinition": HPT,
        "trainingTaskInputs": {
            "studySpec": {
                "metrics": [{"metricId": "accuracy", "goal": "MAXIMIZE"}],
                "parameters": [
                    {"parameterId": "learning_rate", "scaleType": "UNIT_LOG_SCALE",
                     "doubleValueSpec": {"minValue": 0.001, "maxValue": 0.1}},
                ],
                **study,
            },
            "maxTrialCount": 4, "parallelTrialCount": 2, "maxFailedTrialCount": 1,
            "trialJobSpec": {"workerPoolSpecs": [POOL], "scheduling": {"timeout": "7200s"}},
        },
        "modelToUpload": {"displayName": "m", "containerSpec": {"imageUri": "img"}},
        "labels": {"team": "ml"},
    }


def custom_request() -> dict[str, Any]:
    return {"displayName": "job", "trainingTaskDefinition": CUSTOM,
            "trainingTaskInputs": {"workerPoolSpecs": [POOL]}}


def refused(body: Any, path: str, *words: str) -> str:
    with pytest.raises(vt.InvalidArgumentError) as info:
        parse_request(body)
    message = str(info.value)
    assert message.startswith(path + ":") or message.startswith(path + " "), message
    for word in words:
        assert word in message, message
    return message


# -- parsing ------------------------------------------------------------------------------
def test_a_tuning_body_as_the_vertex_page_writes_it_parses() -> None:
    body = tuning_request(ALGORITHM="RANDOM_SEARCH")  # the page's sample writes these in capitals
    body["trainingTaskInputs"]["trialJobSpec"]["scheduling"] = {"TIMEOUT": "90s"}
    req = parse_request(body)
    assert req.kind == "hyperparameter_tuning"
    assert req.tuning is not None and req.tuning.study_spec.algorithm == "RANDOM_SEARCH"
    assert req.job_spec.timeout_s == 90.0
    assert req.tuning.study_spec.parameters[0].kind == "DOUBLE"
    assert req.input_data_config is not None
    assert req.input_data_config.gcs_destination is not None
    assert req.labels == {"team": "ml"}


def test_snake_case_keys_are_accepted() -> None:
    body = {
        "display_name": "job", "training_task_definition": CUSTOM,
        "training_task_inputs": {"worker_pool_specs": [
            {"replica_count": 2, "python_package_spec": {"python_module": "trainer.task",
                                                          "package_uris": ["pkg"]}}]},
        "model_to_upload": {"display_name": "m"},
    }
    req = parse_request(body)
    assert req.kind == "custom"
    pool = req.job_spec.worker_pool_specs[0]
    assert pool.replicas == 2 and pool.python_package_spec is not None
    assert pool.python_package_spec.python_module == "trainer.task"
    assert req.to_json_dict()["trainingTaskInputs"]["workerPoolSpecs"][0]["replicaCount"] == 2


def test_a_request_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "request.json"
    path.write_text(json.dumps(custom_request()))
    assert parse_request(path).display_name == "job"
    assert parse_request(str(path)).kind == "custom"


def test_a_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "request.json"
    path.write_text("{nope")
    with pytest.raises(vt.InvalidArgumentError, match="is not valid JSON"):
        parse_request(path)


def test_duration_format() -> None:
    assert parse_duration("7200s") == 7200.0
    assert parse_duration("1.5s") == 1.5
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("2h")


# -- each validation error names the field by its path -------------------------------------
def test_fractions_that_sum_above_one() -> None:
    body = tuning_request()
    body["inputDataConfig"]["fractionSplit"] = {
        "trainingFraction": 0.8, "validationFraction": 0.3, "testFraction": 0.1}
    refused(body, "inputDataConfig.fractionSplit", "at most 1", "sum to 1.2")


def test_two_split_kinds_at_once() -> None:
    body = tuning_request()
    body["inputDataConfig"]["filterSplit"] = {"trainingFilter": "x > 1"}
    refused(body, "inputDataConfig", "only one of", "fractionSplit and filterSplit")


def test_min_not_below_max() -> None:
    body = tuning_request()
    body["trainingTaskInputs"]["studySpec"]["parameters"][0]["doubleValueSpec"] = {
        "minValue": 0.5, "maxValue": 0.1}
    refused(body, "trainingTaskInputs.studySpec.parameters[0].doubleValueSpec.minValue",
            "less than maxValue", "0.5")


def test_integer_min_equal_to_max() -> None:
    body = tuning_request()
    body["trainingTaskInputs"]["studySpec"]["parameters"].append(
        {"parameterId": "depth", "integerValueSpec": {"minValue": 3, "maxValue": 3}})
    refused(body, "trainingTaskInputs.studySpec.parameters[1].integerValueSpec.minValue",
            "less than maxValue")


def test_log_scale_needs_a_positive_min() -> None:
    body = tuning_request()
    body["trainingTaskInputs"]["studySpec"]["parameters"][0]["doubleValueSpec"] = {
        "minValue": 0, "maxValue": 1}
    refused(body, "trainingTaskInputs.studySpec.parameters[0].doubleValueSpec.minValue",
            "greater than 0", "UNIT_LOG_SCALE")


def test_grid_search_over_a_double_parameter() -> None:
    refused(tuning_request(algorithm="GRID_SEARCH"),
            "trainingTaskInputs.studySpec.parameters[0].doubleValueSpec",
            "GRID_SEARCH cannot enumerate a DOUBLE", "discreteValueSpec")


def test_unknown_training_task_definition() -> None:
    body = custom_request()
    body["trainingTaskDefinition"] = "gs://google-cloud-aiplatform/schema/trainingjob/definition/automl_tables_1.0.0.yaml"
    refused(body, "trainingTaskDefinition", "custom_task_1.0.0.yaml",
            "hyperparameter_tuning_task_1.0.0.yaml", "automl_tables")


def test_no_worker_pool() -> None:
    body = custom_request()
    body["trainingTaskInputs"]["workerPoolSpecs"] = []
    refused(body, "trainingTaskInputs.workerPoolSpecs", "at least one worker pool")
    body = tuning_request()
    del body["trainingTaskInputs"]["trialJobSpec"]["workerPoolSpecs"]
    refused(body, "trainingTaskInputs.trialJobSpec.workerPoolSpecs", "at least one worker pool")


@pytest.mark.parametrize(
    ("edit", "path", "words"),
    [
        (lambda b: b["trainingTaskInputs"]["studySpec"]["metrics"][0].update(goal="BIGGER"),
         "trainingTaskInputs.studySpec.metrics[0].goal", ["MAXIMIZE"]),
        (lambda b: b["trainingTaskInputs"].update(maxTrialCount=0),
         "trainingTaskInputs.maxTrialCount", ["at least 1"]),
        (lambda b: b["trainingTaskInputs"]["trialJobSpec"].update(scheduling={"timeout": "2h"}),
         "trainingTaskInputs.trialJobSpec.scheduling.timeout", ["7200s"]),
        (lambda b: b["trainingTaskInputs"]["trialJobSpec"]["workerPoolSpecs"][0].update(
            pythonPackageSpec={"pythonModule": "m"}),
         "trainingTaskInputs.trialJobSpec.workerPoolSpecs[0]", ["exactly one of"]),
        (lambda b: b["trainingTaskInputs"]["trialJobSpec"]["workerPoolSpecs"][0]
         ["containerSpec"].update(command=[]),
         "trainingTaskInputs.trialJobSpec.workerPoolSpecs[0].containerSpec.command",
         ["entrypoint"]),
        (lambda b: b["trainingTaskInputs"]["studySpec"].update(metrics=[]),
         "trainingTaskInputs.studySpec.metrics", ["one metric"]),
        (lambda b: b["trainingTaskInputs"]["studySpec"]["parameters"].append(
            {"parameterId": "learning_rate", "discreteValueSpec": {"values": [1, 2]}}),
         "trainingTaskInputs.studySpec.parameters[1].parameterId", ["used twice"]),
        (lambda b: b["inputDataConfig"]["fractionSplit"].update(testFraction=-0.1),
         "inputDataConfig.fractionSplit.testFraction", ["between 0 and 1"]),
        (lambda b: b.pop("displayName"), "displayName", ["required"]),
        (lambda b: b["trainingTaskInputs"]["studySpec"]["parameters"][0]["doubleValueSpec"]
         .update(minValue="small"),
         "trainingTaskInputs.studySpec.parameters[0].doubleValueSpec.minValue", ["number"]),
    ],
)
def test_other_rules_name_their_field(edit: Any, path: str, words: list[str]) -> None:
    body = copy.deepcopy(tuning_request())
    edit(body)
    refused(body, path, *words)


def test_not_a_dict() -> None:
    with pytest.raises(vt.InvalidArgumentError, match="a dict, or the path of a JSON file"):
        parse_request(42)


def test_a_refused_request_records_nothing(store: Any) -> None:
    body = tuning_request(algorithm="GRID_SEARCH")
    with pytest.raises(vt.InvalidArgumentError, match="GRID_SEARCH"):
        vt.pipelines.run_training_pipeline(body)
    assert vt.Context.list() == [] and vt.Execution.list() == [] and vt.Artifact.list() == []


def test_a_missing_data_set_is_not_found_and_records_nothing(store: Any) -> None:
    with pytest.raises(vt.NotFoundError, match=r"inputDataConfig.datasetId: no artifact 'data'"):
        vt.pipelines.run_training_pipeline(tuning_request())
    assert vt.Context.list() == [] and vt.Execution.list() == []


def test_importing_pipelines_does_not_import_prefect() -> None:
    import subprocess

    code = ("import sys, vertex_track as vt; vt.pipelines.parse_request; "
            "import vertex_track.pipelines.runner, vertex_track.pipelines.samplers; "
            "print('prefect' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert "pipelines" in vt.__all__


# -- splits ----------------------------------------------------------------------------------
def _frame(n: int = 100) -> Any:
    pd = pytest.importorskip("pandas")
    return pd.DataFrame({
        "x": range(n),
        "when": pd.date_range("2024-01-01", periods=n, freq="D").astype(str)[::-1],
        "part": (["training"] * 6 + ["validation"] * 2 + ["test"] * 2) * (n // 10),
    })


def _cfg(**split: Any) -> InputDataConfig:
    return InputDataConfig.model_validate({"datasetId": "d", **split})


def test_fraction_split_defaults_to_80_10_10_and_is_seeded() -> None:
    frame = _frame()
    kind, parts, params = split_table(frame, _cfg())
    assert kind == "fractionSplit" and params["trainingFraction"] == 0.8
    assert [len(parts[k]) for k in ("training", "validation", "test")] == [80, 10, 10]
    again = split_table(frame, _cfg())[1]
    assert list(parts["test"]["x"]) == list(again["test"]["x"])  # same request, same split
    rows = sorted([*parts["training"]["x"], *parts["validation"]["x"], *parts["test"]["x"]])
    assert rows == list(range(100))  # a partition


def test_fractions_below_one_leave_rows_out() -> None:
    _, parts, _ = split_table(_frame(), _cfg(fractionSplit={
        "trainingFraction": 0.5, "validationFraction": 0.2, "testFraction": 0.1}))
    assert [len(parts[k]) for k in ("training", "validation", "test")] == [50, 20, 10]


def test_filter_split_uses_pandas_queries() -> None:
    _, parts, _ = split_table(_frame(), _cfg(filterSplit={
        "trainingFilter": "x < 70", "validationFilter": "70 <= x < 85", "testFilter": "-"}))
    assert (len(parts["training"]), len(parts["validation"]), len(parts["test"])) == (70, 15, 0)


def test_a_bad_filter_names_its_field() -> None:
    with pytest.raises(vt.InvalidArgumentError, match=r"filterSplit.validationFilter: 'nope >'"):
        split_table(_frame(), _cfg(filterSplit={"trainingFilter": "x < 5",
                                                "validationFilter": "nope >"}))


def test_predefined_split_reads_the_column() -> None:
    _, parts, _ = split_table(_frame(), _cfg(predefinedSplit={"key": "part"}))
    assert [len(parts[k]) for k in ("training", "validation", "test")] == [60, 20, 20]
    assert set(parts["test"]["part"]) == {"test"}
    with pytest.raises(vt.InvalidArgumentError, match="predefinedSplit.key: .* no column 'nope'"):
        split_table(_frame(), _cfg(predefinedSplit={"key": "nope"}))


def test_timestamp_split_puts_the_newest_rows_last() -> None:
    frame = _frame()
    _, parts, _ = split_table(frame, _cfg(timestampSplit={
        "trainingFraction": 0.7, "validationFraction": 0.2, "testFraction": 0.1, "key": "when"}))
    assert [len(parts[k]) for k in ("training", "validation", "test")] == [70, 20, 10]
    assert max(parts["training"]["when"]) < min(parts["validation"]["when"])
    assert max(parts["validation"]["when"]) < min(parts["test"]["when"])
    assert max(parts["test"]["when"]) == max(frame["when"])


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_splits_are_written_in_the_source_format(tmp_path: Path, fmt: str) -> None:
    frame = _frame(20)
    src = tmp_path / f"data.{fmt}"
    if fmt == "csv":
        frame.to_csv(src, index=False)
    elif fmt == "jsonl":
        frame.to_json(src, orient="records", lines=True)
    else:
        frame.to_parquet(src, index=False)
    res = write_splits(str(src), _cfg(), "memory://splits/" + fmt)
    assert res.data_format == fmt and res.rows == {"training": 16, "validation": 2, "test": 2}
    assert res.uris["training"] == f"memory://splits/{fmt}/training.{fmt}"
    from vertex_track.pipelines.splits import read_table

    assert len(read_table(res.uris["validation"])) == 2


def test_an_unknown_file_type_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data.xlsx").write_text("x")
    with pytest.raises(vt.InvalidArgumentError, match="not a CSV .* JSON Lines .* or Parquet"):
        write_splits(str(tmp_path / "data.xlsx"), _cfg(), str(tmp_path / "out"))


# -- samplers --------------------------------------------------------------------------------
def _study(algorithm: str, params: list[dict[str, Any]]) -> StudySpec:
    return StudySpec.model_validate({
        "metrics": [{"metricId": "m", "goal": "MAXIMIZE"}], "parameters": params,
        "algorithm": algorithm})


def _draws(sampler: Any, n: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(n):
        asked = sampler.ask()
        if asked is None:
            break
        token, params = asked
        sampler.tell(token, sum(v for v in params.values() if isinstance(v, (int, float))))
        out.append(params)
    return out


def test_grid_search_enumerates_every_combination_in_order() -> None:
    study = _study("GRID_SEARCH", [
        {"parameterId": "depth", "integerValueSpec": {"minValue": 1, "maxValue": 2}},
        {"parameterId": "kind", "categoricalValueSpec": {"values": ["a", "b"]}},
        {"parameterId": "c", "discreteValueSpec": {"values": [10, 1]}},
    ])
    grid = _draws(make_sampler(study), 100)
    assert len(grid) == 8  # the grid ends before maxTrialCount would
    assert grid[0] == {"depth": 1, "kind": "a", "c": 1.0}
    assert grid[-1] == {"depth": 2, "kind": "b", "c": 10.0}


def test_random_search_is_seeded_and_respects_scales() -> None:
    params = [
        {"parameterId": "lr", "scaleType": "UNIT_LOG_SCALE",
         "doubleValueSpec": {"minValue": 1e-4, "maxValue": 1.0}},
        {"parameterId": "n", "integerValueSpec": {"minValue": 1, "maxValue": 5}},
        {"parameterId": "keep", "scaleType": "UNIT_REVERSE_LOG_SCALE",
         "doubleValueSpec": {"minValue": 0.01, "maxValue": 1.0}},
    ]
    first = _draws(make_sampler(_study("RANDOM_SEARCH", params)), 400)
    again = _draws(make_sampler(_study("RANDOM_SEARCH", params)), 400)
    assert first == again
    lrs = [p["lr"] for p in first]
    assert all(1e-4 <= v <= 1.0 for v in lrs)
    # Uniform in log space: the median is near the geometric middle (1e-2), far below 0.5.
    assert 10 ** -2.5 < statistics.median(lrs) < 10 ** -1.5
    assert {p["n"] for p in first} == {1, 2, 3, 4, 5}
    keeps = [p["keep"] for p in first]
    assert all(0.01 <= v <= 1.0 for v in keeps) and statistics.median(keeps) > 0.85


def test_bayesian_search_is_seeded_and_learns() -> None:
    pytest.importorskip("optuna")
    params = [{"parameterId": "x", "doubleValueSpec": {"minValue": 0.0, "maxValue": 10.0}}]

    def run() -> list[float]:
        sampler = make_sampler(_study("ALGORITHM_UNSPECIFIED", params))
        values = []
        for _ in range(30):
            asked = sampler.ask()
            assert asked is not None
            token, p = asked
            values.append(p["x"])
            sampler.tell(token, -abs(p["x"] - 7.0))  # best at 7
        return values

    first = run()
    assert first == run()
    assert statistics.mean(abs(x - 7) for x in first[-10:]) < statistics.mean(
        abs(x - 7) for x in first[:10])


def test_bayesian_search_without_optuna_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna -> ImportError
    study = _study("ALGORITHM_UNSPECIFIED", [
        {"parameterId": "x", "doubleValueSpec": {"minValue": 0.0, "maxValue": 1.0}}])
    with pytest.raises(ImportError, match=r"pip install 'vertex-track\[tuning\]'"):
        make_sampler(study)


# -- hypertune files -------------------------------------------------------------------------
def test_metric_file_last_value_of_each_tag(tmp_path: Path) -> None:
    path = tmp_path / "output.metrics"
    lines = [
        {"timestamp": 1.0, "trial": "1", "accuracy": "0.5", "global_step": "1",
         "checkpoint_path": ""},
        {"timestamp": 2.0, "trial": "1", "accuracy": "0.75", "global_step": "2",
         "checkpoint_path": ""},
        {"timestamp": 3.0, "trial": "1", "loss": "nan", "global_step": "2", "checkpoint_path": ""},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n{\"accur")  # torn last line
    assert read_measurements(path) == {"accuracy": 0.75}
    assert read_measurements(tmp_path / "missing") == {}
    assert not math.isnan(read_measurements(path)["accuracy"])


def test_an_sdist_with_a_member_outside_its_folder_is_refused(tmp_path: Path) -> None:
    import io
    import tarfile

    from vertex_track.pipelines.runner import _extract_tar

    archive = tmp_path / "evil-0.1.tar.gz"
    with tarfile.open(archive, "w:gz") as t:
        data = b"print('owned')"
        info = tarfile.TarInfo("../escaped.py")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    dest = tmp_path / "unpacked"
    with pytest.raises(vt.InvalidArgumentError, match="evil-0.1.tar.gz has a member outside"):
        _extract_tar(archive, dest, "workerPoolSpecs[0].pythonPackageSpec.packageUris[0]")
    assert not (tmp_path / "escaped.py").exists()
