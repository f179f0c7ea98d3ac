"""``s3://`` and ``gs://`` artifact roots over the stores' real wire protocols.

S3 is moto's standalone server, reached by s3fs; GCS is gcp-storage-emulator,
reached by gcsfs (both on 127.0.0.1, see ``object_stores.py``). Credentials and
endpoints come from each library's own environment variables, as on a user's
machine: vertex_track passes none. The artifact-store contract itself runs on
both in ``test_artifacts.py``; here: a real Prefect flow tracked into a bucket,
``load()``, ``purge`` then ``gc``, a writer killed mid-write, a missing bucket.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import fsspec
import pytest
from prefect import task
from typer.testing import CliRunner

import vertex_track as vt
from vertex_track.artifacts import ArtifactStore
from vertex_track.cli.app import app

np = pytest.importorskip("numpy")

runner = CliRunner()


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args))


@pytest.fixture(params=["s3", "gcs"])
def bucket(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(f"{request.param}_bucket")


@vt.track
@task
def make(n: int) -> vt.Dataset:
    return np.arange(n, dtype=np.float64) * 2.0


@vt.track
@task
def summarise(data: np.ndarray) -> dict:
    return {"total": float(data.sum()), "cumulative": [float(x) for x in data.cumsum()]}


@vt.track
@task
def export(data: np.ndarray, folder: str) -> Path:
    out = Path(folder)
    (out / "parts").mkdir(parents=True, exist_ok=True)
    np.save(out / "parts" / "data.npy", data)
    (out / "README.txt").write_text(f"{len(data)} rows\n")
    return out


def test_a_prefect_flow_tracked_into_a_bucket(
    prefect_harness: None, bucket: Any, tmp_path: Path
) -> None:
    root = bucket.root("flow")
    vt.init(store_uri=f"sqlite:///{tmp_path / 'metadata.db'}", artifact_root=root)

    @vt.flow
    def pipeline() -> float:
        data = make(5000)
        export(data, str(tmp_path / "export"))
        return summarise(data)["total"]

    assert pipeline() == float(np.arange(5000).sum() * 2)
    run = vt.PipelineRun.list()[-1]
    assert run.state == "COMPLETE"
    stored = [a for a in vt.Artifact.list() if a.uri]
    assert len(stored) == 3
    assert all(a.uri.startswith(f"{root}/sha256/") for a in stored)

    (dataset,) = vt.Artifact.list('schema_title = "system.Dataset"')
    np.testing.assert_array_equal(dataset.load(), np.arange(5000) * 2.0)
    folder = next(a for a in stored if a.metadata["vertex_track"]["materializer"] == "path.dir")
    copy = folder.load()
    assert (copy / "README.txt").read_text() == "5000 rows\n"
    np.testing.assert_array_equal(np.load(copy / "parts" / "data.npy"), np.arange(5000) * 2.0)

    # Content addressing: the same values again are the same objects, nothing new.
    astore = ArtifactStore.for_root(root)
    objects = sorted(astore.iter_objects())
    assert len(objects) == 3
    pipeline()
    assert sorted(astore.iter_objects()) == objects

    # purge the dataset's records, then gc deletes its now unreferenced bytes only.
    purged = cli("purge", "artifacts", "--filter", 'schema_title = "system.Dataset"',
                 "--force", "--yes", "--json")
    assert purged.exit_code == 0, purged.stderr
    gc = cli("gc", "--force", "--yes", "--min-age", "0", "--json")
    assert gc.exit_code == 0, gc.stderr
    assert json.loads(gc.stdout)["deleted"] == 1
    assert not astore.exists(dataset.uri)
    assert sorted(astore.iter_objects()) == sorted(a.uri for a in stored if a.uri != dataset.uri)
    summary = next(a for a in stored if a.metadata["vertex_track"]["materializer"] == "json")
    assert vt.Artifact.get(summary.name).load()[-1] == float(np.arange(5000).sum() * 2)
    doctor = cli("doctor", "--no-prefect", "--json")
    assert doctor.exit_code == 0, doctor.stdout + doctor.stderr


_KILLED_WRITER = """
import os, sys
from vertex_track.artifacts import ArtifactStore, Materializer

class DieMidWrite(Materializer):
    name = "test.die-mid-write"
    extension = ".bin"
    def can_handle(self, value): return False
    def write(self, value, sink):
        sink.write(value[: len(value) // 2])
        sink.flush()
        os._exit(3)  # a killed worker: no except/finally runs
    def read(self, source): return source.read()

# 60 MiB before dying: past s3fs's and gcsfs's 50 MiB block, so a multipart (S3) or
# resumable (GCS) upload is under way, its first part sent, when the writer dies.
ArtifactStore(sys.argv[1]).put(b"\\x01" * (120 << 20), materializer=DieMidWrite())
"""


def test_a_killed_writer_leaves_nothing_at_a_final_key(bucket: Any, tmp_path: Path) -> None:
    root = bucket.root("killed")
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(_KILLED_WRITER))
    proc = subprocess.run([sys.executable, str(script), root], capture_output=True, timeout=120)
    assert proc.returncode == 3, proc.stderr.decode()[-2000:]
    astore = ArtifactStore(root)
    assert list(astore.iter_objects()) == []
    fs, path = fsspec.core.url_to_fs(root)
    fs.invalidate_cache()
    listed = fs.find(path)
    # No listing shows a partial object: an unfinished upload is not an object, and
    # nothing reached sha256/ (nor even .tmp/).
    assert listed == []
    assert astore.cleanup_tmp(older_than_s=0) == 0
    if bucket.protocol == "s3":  # the upload the writer left, invisible but there
        uploads = fs.list_multipart_uploads(bucket.name)
        assert any(u["Key"].startswith(path.split("/", 1)[1] + "/.tmp/") for u in uploads)


def test_a_missing_bucket_is_an_error_and_is_not_created(bucket: Any) -> None:
    missing = f"{bucket.name}-missing"
    astore = ArtifactStore(f"{bucket.root().split('://')[0]}://{missing}/vt")
    with pytest.raises(FileNotFoundError, match=f"bucket '{missing}' does not exist") as err:
        astore.put({"rows": list(range(3000))})
    assert "VERTEX_TRACK_ARTIFACT_ROOT" in str(err.value)
    fs = astore.fs
    fs.invalidate_cache()
    assert not fs.exists(missing)


def test_another_machine_loads_what_this_one_stored(bucket: Any, tmp_path: Path) -> None:
    """Another process with only the environment (the settings and the library's own
    variables for the store) reads the bytes, through its own client and cache."""
    root = bucket.root("shared")
    db = tmp_path / "metadata.db"
    vt.init(store_uri=f"sqlite:///{db}", artifact_root=root)
    stored = ArtifactStore.for_root(root)
    assert stored.fs.storage_options == {}  # nothing of ours reaches the filesystem
    art = vt.Artifact.create("system.Dataset", display_name="shared")
    value = ArtifactStore.for_root(root).put(np.arange(100_000) * 3)
    art.update(uri=value.uri, metadata={"vertex_track": {
        "digest": value.digest, "materializer": value.materializer,
        "materializer_version": value.materializer_version}})
    code = (
        "import vertex_track as vt\n"
        "a = vt.Artifact.list('display_name = \"shared\"')[0]\n"
        "print(int(a.load()[-1]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERTEX_TRACK_")}
    env.update(bucket.env, VERTEX_TRACK_HOME=str(tmp_path / "other-home"),
               VERTEX_TRACK_STORE_URI=f"sqlite:///{db}", VERTEX_TRACK_ARTIFACT_ROOT=root)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == str(99_999 * 3)


@pytest.mark.parametrize("size", [100, 100_000, 3_000_000])
def test_objects_of_every_size_land_at_their_content_address_and_nothing_else(
    bucket: Any, size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small objects are one PUT from memory (100 without asking first, 100_000 after
    a HEAD); past SMALL_OBJECT (lowered here) through a temporary key and a copy."""
    from vertex_track.artifacts import fsspec_backend

    monkeypatch.setattr(fsspec_backend, "SMALL_OBJECT", 1 << 20)
    monkeypatch.setattr(fsspec_backend, "BLIND_PUT", 50_000)
    root = bucket.root(f"sizes-{size}")
    astore = ArtifactStore(root)
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    first = astore.put(data, materializer="bytes")
    again = astore.put(bytearray(data), materializer="bytes")  # no digest-cache shortcut
    assert again.uri == first.uri and again.digest == first.digest
    assert first.size == size
    fs, path = fsspec.core.url_to_fs(root)
    fs.invalidate_cache()
    assert [p.rsplit("/", 1)[-1] for p in fs.find(path)] == [first.uri.rsplit("/", 1)[-1]]
    assert astore.load(first.uri, "bytes") == data
