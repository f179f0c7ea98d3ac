"""What a user sees of a stored value: its description in the metadata, a preview, a download.

Values come from a real tracked Prefect flow (tables, arrays, a model, a folder, a scalar).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import vertex_track as vt
from vertex_track.cli.app import app
from vertex_track.store.base import MetadataStore


class Model:  # stored with pickle: never loaded for a preview
    def __init__(self, w: float) -> None:
        self.w = w


@vt.task
def make_table(n: int) -> vt.Dataset:
    return pd.DataFrame({"x": np.arange(n), "y": np.arange(n) * 0.5, "name": ["a"] * n})


@vt.task
def make_array() -> np.ndarray:
    return np.ones((3, 4), dtype=np.float32)


@vt.task
def fit(table: pd.DataFrame) -> vt.Model:
    return Model(float(table["y"].mean()))


@vt.task
def export(tmp: str) -> Path:
    folder = Path(tmp) / "export"
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    (folder / "a.txt").write_text("alpha")
    (folder / "sub" / "b.txt").write_text("beta")
    return folder


@vt.task
def score(model: Model) -> float:
    return round(model.w, 3)


@vt.flow
def views(tmp: str) -> None:
    table = make_table(1500)
    small = make_table(10)
    make_array()
    score(fit(table))
    fit(small)
    export(tmp)


runner = CliRunner()


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args))


@pytest.fixture
def stored(tracked: MetadataStore, tmp_path: Path) -> dict[str, vt.Artifact]:
    views(str(tmp_path / "made"))
    by: dict[str, vt.Artifact] = {}
    for a in vt.Artifact.list():
        py_type = a.metadata["vertex_track"].get("python_type", "")
        key = {"pandas.DataFrame": f"table{a.metadata.get('rows')}", "numpy.ndarray": "array",
               "pathlib.PosixPath": "folder"}.get(py_type, a.schema_title)
        by[key] = a
    return by


def test_tables_and_arrays_are_described_in_the_metadata(stored: dict[str, vt.Artifact]) -> None:
    big = vt.Artifact.list(filter="metadata.rows.number_value > 1000")
    assert [a.name for a in big] == [stored["table1500"].name]
    md = stored["table1500"].metadata
    assert md["shape"] == [1500, 3]
    assert md["columns"] == ["x", "y", "name"]
    expected = make_table.fn(2).dtypes  # "object" or "str" for text, by pandas version
    assert md["dtypes"] == {"x": "int64", "y": "float64", "name": str(expected["name"])}
    array = stored["array"].metadata
    assert (array["shape"], array["dtype"], array["rows"]) == ([3, 4], "float32", 3)
    assert vt.Artifact.list(filter='metadata.dtype.string_value = "float32"')[0].name == (
        stored["array"].name)


def test_show_previews_tables_arrays_and_scalars_but_never_loads_a_pickle(
    stored: dict[str, vt.Artifact]
) -> None:
    table = cli("artifacts", "show", stored["table10"].resource_id)
    assert table.exit_code == 0, table.stderr
    preview = table.stdout.split("# Preview\n", 1)[1]
    assert preview.startswith("shape 10 x 3; first rows:")
    assert "x" in preview.splitlines()[1] and "name" in preview.splitlines()[1]
    assert len(preview.split("#", 1)[0].strip().splitlines()) == 2 + 5  # header + 5 rows

    array = json.loads(cli("artifacts", "show", stored["array"].resource_id, "--json").stdout)
    assert array["preview"].startswith("shape 3 x 4, dtype float32\n[[1. 1. 1. 1.]")

    model = json.loads(cli("artifacts", "show", stored["system.Model"].resource_id,
                           "--json").stdout)
    assert model["preview"] is None  # a pickle: loading it would run its code
    text = cli("artifacts", "show", stored["system.Model"].resource_id).stdout
    assert "# Preview" not in text

    off = json.loads(cli("artifacts", "show", stored["table10"].resource_id, "--no-preview",
                         "--json").stdout)
    assert off["preview"] is None


def test_download_copies_and_verifies_the_bytes(
    stored: dict[str, vt.Artifact], tmp_path: Path
) -> None:
    model = stored["system.Model"]
    dest = tmp_path / "out" / "model.pkl"
    result = cli("artifacts", "download", model.resource_id, str(dest))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(dest)
    assert "content digest verified" in result.stderr
    digest = "sha256:" + hashlib.sha256(dest.read_bytes()).hexdigest()
    assert digest == model.metadata["vertex_track"]["digest"]

    again = cli("artifacts", "download", model.resource_id, str(dest))
    assert again.exit_code == 2 and "exists; pass --force" in again.stderr

    into = tmp_path / "folder"
    into.mkdir()
    data = json.loads(cli("artifacts", "download", stored["table10"].resource_id, str(into),
                          "--json").stdout)
    assert data["verified"] is True and data["path"].endswith(".parquet")
    assert pd.read_parquet(data["path"]).shape == (10, 3)


def test_download_refuses_bytes_that_do_not_match_the_digest(
    stored: dict[str, vt.Artifact], tmp_path: Path
) -> None:
    model = stored["system.Model"]
    source = Path(model.uri.removeprefix("file://"))
    source.chmod(0o644)
    source.write_bytes(source.read_bytes() + b"tampered")
    dest = tmp_path / "model.pkl"
    result = cli("artifacts", "download", model.resource_id, str(dest))
    assert result.exit_code == 4
    assert "do not match the artifact's digest" in result.stderr
    assert not dest.exists() and not list(tmp_path.glob(".model.pkl.part-*"))


def test_download_a_folder_and_an_inline_value(
    stored: dict[str, vt.Artifact], tmp_path: Path
) -> None:
    folder = stored["folder"]
    result = cli("artifacts", "download", folder.resource_id, str(tmp_path / "copy"))
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "copy" / "a.txt").read_text() == "alpha"
    assert (tmp_path / "copy" / "sub" / "b.txt").read_text() == "beta"

    scalar = next(a for a in vt.Artifact.list() if a.metadata["vertex_track"].get("inline")
                  and isinstance(a.metadata.get("value"), float))
    out = tmp_path / "score.json"
    assert cli("artifacts", "download", scalar.resource_id, str(out)).exit_code == 0
    assert json.loads(out.read_text()) == scalar.metadata["value"]
