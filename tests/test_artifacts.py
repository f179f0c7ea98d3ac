"""The artifact store and the materializers, on a local folder, ``memory://``, and the
object stores over their real protocols (``s3://`` on moto's server, ``gs://`` on
gcp-storage-emulator, both on 127.0.0.1).

Every test taking ``artifact_store`` runs on each filesystem: the same
contract holds whichever fsspec backend is behind the store.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
import stat
import subprocess
import sys
import threading
import time
import uuid
import warnings
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vertex_track.artifacts import (
    INLINE_MAX_BYTES,
    ArtifactStore,
    DirectoryMaterializer,
    Materializer,
    MaterializerDeclined,
    StoredValue,
    canonical_json,
    encode_inline,
    get_materializer,
    materializer_for,
    register_materializer,
    unregister_materializer,
)
from vertex_track.artifacts.cache import DigestCache
from vertex_track.artifacts.hashing import HashingWriter
from vertex_track.exceptions import InvalidArgumentError, NotFoundError, VertexTrackError

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")


@dataclasses.dataclass
class Opaque:
    """A value only pickle can store."""

    name: str
    weights: list[float]


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["local", "memory", "s3", "gcs"])
def artifact_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArtifactStore]:
    if request.param == "local":
        yield ArtifactStore(tmp_path / "store", cache_dir=tmp_path / "cache")
        return
    if request.param in ("s3", "gcs"):
        bucket = request.getfixturevalue(f"{request.param}_bucket")
        yield ArtifactStore(bucket.root(), cache_dir=tmp_path / "cache")
        return
    root = f"memory://vt-test-{uuid.uuid4().hex}"
    store = ArtifactStore(root, cache_dir=tmp_path / "cache")
    yield store
    fs, path = fsspec.core.url_to_fs(root)
    if fs.exists(path):
        fs.rm(path, recursive=True)


@pytest.fixture
def local_store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "store", cache_dir=tmp_path / "cache")


def _read_bytes(uri: str) -> bytes:
    with fsspec.open(uri, "rb") as f:
        return f.read()


def _tmp_entries(store: ArtifactStore) -> list[str]:
    fs, path = fsspec.core.url_to_fs(store.root_uri + "/.tmp")
    return fs.ls(path, detail=False) if fs.exists(path) else []


def _make_tree(folder: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return folder


def _tree_contents(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# -- round trips --------------------------------------------------------------------------


def _assert_same(loaded: Any, original: Any) -> None:
    if isinstance(original, np.ndarray):
        assert type(loaded) is np.ndarray
        assert loaded.dtype == original.dtype and loaded.shape == original.shape
        np.testing.assert_array_equal(loaded, original)
    elif isinstance(original, pd.DataFrame):
        pd.testing.assert_frame_equal(loaded, original)
    elif isinstance(original, pa.Table):
        assert loaded.equals(original, check_metadata=True)
    elif isinstance(original, (bytearray, memoryview)):
        assert loaded == bytes(original)
    else:
        assert loaded == original
        assert type(loaded) is type(original)


ROUND_TRIPS = [
    pytest.param({"b": [1, 2.5, None, True, "é"], "a": {}}, "json", id="json-dict"),
    pytest.param(["x" * 10_000], "json", id="json-large-list"),
    pytest.param("a string", "json", id="json-str"),
    pytest.param(b"\x00raw bytes\xff", "bytes", id="bytes"),
    pytest.param(bytearray(b"mutable"), "bytes", id="bytearray"),
    pytest.param(memoryview(b"a view"), "bytes", id="memoryview"),
    pytest.param(b"", "bytes", id="empty-bytes"),
    pytest.param(np.arange(24, dtype=np.float32).reshape(2, 3, 4), "numpy", id="numpy-c"),
    pytest.param(np.asfortranarray(np.arange(12).reshape(3, 4)), "numpy", id="numpy-fortran"),
    pytest.param(np.arange(20)[::3], "numpy", id="numpy-strided"),
    pytest.param(np.array(["2024-01-01", "NaT"], dtype="M8[s]"), "numpy", id="numpy-datetime"),
    pytest.param(np.zeros((0, 3)), "numpy", id="numpy-empty"),
    pytest.param(
        np.array([(1, 2.0)], dtype=[("a", "<i4"), ("b", "<f8")]), "numpy", id="numpy-structured"
    ),
    pytest.param(
        pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", None], "z": [0.5, None, 2.0]}),
        "pandas.parquet",
        id="pandas",
    ),
    pytest.param(
        pd.DataFrame({"v": [1.0]}, index=pd.Index(["r"], name="row")),
        "pandas.parquet",
        id="pandas-index",
    ),
    pytest.param(pa.table({"a": [1, 2], "b": ["x", None]}), "pyarrow.parquet", id="pyarrow"),
    pytest.param(Opaque("m", [0.1, 0.2]), "pickle", id="pickle-custom-class"),
    pytest.param((1, "tuple"), "pickle", id="pickle-tuple"),
    pytest.param({1: "int key"}, "pickle", id="pickle-int-keys"),
    pytest.param(float("nan"), "pickle", id="pickle-nan"),
]


@pytest.mark.parametrize(("value", "expected"), ROUND_TRIPS)
def test_round_trip(artifact_store: ArtifactStore, value: Any, expected: str) -> None:
    stored = artifact_store.put(value)
    assert stored.materializer == expected
    assert stored.materializer_version == get_materializer(expected).version
    assert stored.extension == get_materializer(expected).extension
    loaded = artifact_store.load(stored.uri, stored.materializer, stored.materializer_version)
    if isinstance(value, float):  # nan != nan
        assert np.isnan(loaded)
    else:
        _assert_same(loaded, value)


def test_round_trip_file_path(artifact_store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "data.csv"
    source.write_bytes(b"a,b\n1,2\n")
    stored = artifact_store.put(source)
    assert stored.materializer == "path.file"
    assert stored.size == 8
    loaded = artifact_store.load(stored.uri, "path.file")
    assert isinstance(loaded, Path)
    assert loaded.read_bytes() == b"a,b\n1,2\n"
    assert loaded != source  # a copy: later edits of the source do not reach it
    source.write_bytes(b"changed")
    assert loaded.read_bytes() == b"a,b\n1,2\n"
    assert not loaded.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def test_round_trip_dir_path(artifact_store: ArtifactStore, tmp_path: Path) -> None:
    files = {"model.bin": b"\x01" * 1000, "conf/params.json": b"{}", "conf/deep/x": b""}
    folder = _make_tree(tmp_path / "model", files)
    stored = artifact_store.put(folder)
    assert stored.materializer == "path.dir"
    assert stored.extension == ""
    assert stored.size == 1002
    loaded = artifact_store.load(stored.uri, "path.dir")
    assert isinstance(loaded, Path) and loaded.is_dir()
    assert _tree_contents(loaded) == files
    assert artifact_store.verify(stored.uri, stored.digest)


def test_dir_digest_depends_on_content_not_location(
    artifact_store: ArtifactStore, tmp_path: Path
) -> None:
    files = {"a.txt": b"A", "sub/b.txt": b"B"}
    one = artifact_store.put(_make_tree(tmp_path / "one", files))
    two = artifact_store.put(_make_tree(tmp_path / "two", files))
    assert one == two
    renamed = artifact_store.put(_make_tree(tmp_path / "three", {"a.txt": b"A", "b.txt": b"B"}))
    changed = artifact_store.put(_make_tree(tmp_path / "four", {**files, "a.txt": b"a"}))
    assert len({one.digest, renamed.digest, changed.digest}) == 3
    assert len(list(artifact_store.iter_objects())) == 3


def test_empty_dir_round_trips(artifact_store: ArtifactStore, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    stored = artifact_store.put(tmp_path / "empty")
    assert artifact_store.exists(stored.uri)
    assert list(artifact_store.load(stored.uri, "path.dir").iterdir()) == []


def test_remote_paths_load_as_local_read_only_copies(tmp_path: Path) -> None:
    store = ArtifactStore(f"memory://vt-test-{uuid.uuid4().hex}", cache_dir=tmp_path / "cache")
    source = tmp_path / "f.bin"
    source.write_bytes(b"payload")
    loaded = store.load(store.put(source).uri, "path.file")
    assert loaded.parent == tmp_path / "cache"
    assert loaded.read_bytes() == b"payload"
    assert store.load(store.put(source).uri, "path.file") == loaded  # cached, not fetched again


def test_remote_corruption_is_caught_when_fetching(tmp_path: Path) -> None:
    store = ArtifactStore(f"memory://vt-test-{uuid.uuid4().hex}", cache_dir=tmp_path / "cache")
    folder = store.put(_make_tree(tmp_path / "d", {"w.bin": b"weights"}))
    fs, path = fsspec.core.url_to_fs(folder.uri)
    fs.pipe_file(f"{path}/w.bin", b"tampered")
    assert not store.verify(folder.uri, folder.digest)
    with pytest.raises(VertexTrackError, match="is corrupt"):
        store.load(folder.uri, "path.dir")
    assert not any((tmp_path / "cache").iterdir())  # nothing half-fetched is kept


# -- content addressing ---------------------------------------------------------------------


def test_same_value_is_one_object(artifact_store: ArtifactStore) -> None:
    first = artifact_store.put(np.arange(1000))
    second = artifact_store.put(np.arange(1000))  # equal, not the same object
    assert first == second
    assert list(artifact_store.iter_objects()) == [first.uri]
    other = artifact_store.put(np.arange(1001))
    assert other.uri != first.uri and other.digest != first.digest
    assert sorted(artifact_store.iter_objects()) == sorted([first.uri, other.uri])
    assert _tmp_entries(artifact_store) == []


def test_digest_is_sha256_of_the_stored_bytes(artifact_store: ArtifactStore) -> None:
    for value in [{"k": "v"}, b"bytes", np.ones((3, 3)), pd.DataFrame({"a": [1]}), Opaque("o", [])]:
        stored = artifact_store.put(value)
        data = _read_bytes(stored.uri)
        hexdigest = _sha256_hex(data)
        assert stored.digest == f"sha256:{hexdigest}"
        assert stored.size == len(data)
        assert (
            stored.uri
            == f"{artifact_store.root_uri}/sha256/{hexdigest[:2]}/{hexdigest}{stored.extension}"
        )


def test_json_is_stored_canonically(artifact_store: ArtifactStore) -> None:
    stored = artifact_store.put({"b": 1, "a": ["é", 2.0]})
    assert _read_bytes(stored.uri) == '{"a":["é",2.0],"b":1}'.encode()
    assert artifact_store.put({"a": ["é", 2.0], "b": 1}).uri == stored.uri


def test_numpy_bytes_are_a_standard_npy_file(local_store: ArtifactStore, tmp_path: Path) -> None:
    array = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    np.save(tmp_path / "plain.npy", array)
    stored = local_store.put(array)
    assert _read_bytes(stored.uri) == (tmp_path / "plain.npy").read_bytes()


def test_verify_detects_corruption_and_absence(local_store: ArtifactStore, tmp_path: Path) -> None:
    stored = local_store.put(b"original")
    assert local_store.verify(stored.uri, stored.digest)
    path = Path(fsspec.core.url_to_fs(stored.uri)[1])
    path.chmod(0o644)
    path.write_bytes(b"tampered!")
    assert not local_store.verify(stored.uri, stored.digest)
    # A later put of the same value repairs the object (sizes differ).
    assert local_store.put(b"original") == stored
    assert local_store.verify(stored.uri, stored.digest)
    folder = local_store.put(_make_tree(tmp_path / "d", {"x": b"1"}))
    (Path(fsspec.core.url_to_fs(folder.uri)[1]) / "extra").write_bytes(b"")
    assert not local_store.verify(folder.uri, folder.digest)
    local_store.delete(stored.uri)
    assert not local_store.verify(stored.uri, stored.digest)
    with pytest.raises(InvalidArgumentError, match="digest must look like"):
        local_store.verify(stored.uri, "md5:abc")


def test_delete_and_exists(artifact_store: ArtifactStore, tmp_path: Path) -> None:
    stored = artifact_store.put(b"x")
    folder = artifact_store.put(_make_tree(tmp_path / "d", {"f": b"1"}))
    assert artifact_store.exists(stored.uri) and artifact_store.exists(folder.uri)
    artifact_store.delete(stored.uri)
    artifact_store.delete(folder.uri)
    artifact_store.delete(folder.uri)  # deleting twice is fine
    assert not artifact_store.exists(stored.uri) and not artifact_store.exists(folder.uri)
    assert list(artifact_store.iter_objects()) == []
    with pytest.raises(NotFoundError, match="no stored object"):
        artifact_store.load(stored.uri, "bytes")
    assert artifact_store.put(b"x") == stored  # written again
    assert _read_bytes(stored.uri) == b"x"


def test_delete_refuses_files_outside_the_layout(
    local_store: ArtifactStore, tmp_path: Path
) -> None:
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    with pytest.raises(InvalidArgumentError, match="refusing to delete"):
        local_store.delete(str(precious))
    assert precious.exists()


def test_load_checks_kind_and_version(local_store: ArtifactStore, tmp_path: Path) -> None:
    stored = local_store.put(b"x")
    with pytest.raises(InvalidArgumentError, match="cannot read"):
        local_store.load(stored.uri, "path.dir")
    folder = local_store.put(_make_tree(tmp_path / "d", {"f": b"1"}))
    with pytest.raises(InvalidArgumentError, match="is a folder"):
        local_store.load(folder.uri, "bytes")
    with pytest.raises(InvalidArgumentError, match=r"version 2.*upgrade"):
        local_store.load(stored.uri, "bytes", materializer_version=2)


def test_objects_of_another_store_can_be_loaded(tmp_path: Path) -> None:
    a = ArtifactStore(tmp_path / "a")
    b = ArtifactStore(f"memory://vt-test-{uuid.uuid4().hex}")
    stored = a.put({"from": "a"})
    assert b.load(stored.uri, "json") == {"from": "a"}
    assert b.exists(stored.uri)
    plain_path = fsspec.core.url_to_fs(stored.uri)[1]  # also without "file://"
    assert a.load(plain_path, "json") == {"from": "a"}


def test_for_root_shares_one_store_per_root(tmp_path: Path) -> None:
    root = str(tmp_path / "shared")
    store = ArtifactStore.for_root(root)
    assert ArtifactStore.for_root(root) is store
    assert ArtifactStore.for_root(f"file://{root}") is store
    assert store.root_uri == f"file://{root}"


# -- atomicity ----------------------------------------------------------------------------------


class HalfThenCrash(Materializer):
    name = "test.half-then-crash"
    extension = ".bin"

    def can_handle(self, value: Any) -> bool:
        return False

    def write(self, value: Any, sink: Any) -> None:
        sink.write(value[: len(value) // 2])
        sink.flush()
        raise RuntimeError("writer crashed")

    def read(self, source: Any) -> Any:
        return source.read()


def test_crashing_writer_leaves_nothing(artifact_store: ArtifactStore) -> None:
    with pytest.raises(RuntimeError, match="writer crashed"):
        artifact_store.put(b"x" * (3 << 20), materializer=HalfThenCrash())
    assert list(artifact_store.iter_objects()) == []
    assert _tmp_entries(artifact_store) == []


class CrashingTree(DirectoryMaterializer):
    name = "test.crashing-tree"

    def can_handle(self, value: Any) -> bool:
        return False

    def write(self, value: Any, sink: Any) -> None:
        with sink.open("a") as f:
            f.write(b"complete")
        with sink.open("b") as f:
            f.write(b"half")
            raise RuntimeError("tree writer crashed")

    def read(self, source: Any) -> Any:
        return source


def test_crashing_tree_writer_leaves_nothing(artifact_store: ArtifactStore) -> None:
    with pytest.raises(RuntimeError, match="tree writer crashed"):
        artifact_store.put(None, materializer=CrashingTree())
    assert list(artifact_store.iter_objects()) == []
    assert _tmp_entries(artifact_store) == []


class DieMidWrite(Materializer):
    name = "test.die-mid-write"
    extension = ".bin"

    def can_handle(self, value: Any) -> bool:
        return False

    def write(self, value: Any, sink: Any) -> None:
        sink.write(value[: len(value) // 2])
        sink.flush()
        os._exit(3)  # a killed worker: no except/finally runs

    def read(self, source: Any) -> Any:
        return source.read()


def _put_and_die(root: str) -> None:
    ArtifactStore(root).put(b"y" * (2 << 20), materializer=DieMidWrite())


def _fork_context() -> Any:
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("needs the fork start method")
    return multiprocessing.get_context("fork")


def _start(process: Any) -> None:
    with warnings.catch_warnings():
        # Python >= 3.12 warns about fork in a process with threads (our hash
        # workers). Forking is the point of the test: dask workers do it.
        warnings.simplefilter("ignore", DeprecationWarning)
        process.start()


def test_killed_writer_leaves_only_cleanable_temp(local_store: ArtifactStore) -> None:
    process = _fork_context().Process(target=_put_and_die, args=(local_store.root_uri,))
    _start(process)
    process.join(30)
    assert process.exitcode == 3
    assert list(local_store.iter_objects()) == []
    leftovers = _tmp_entries(local_store)
    assert len(leftovers) == 1 and os.path.getsize(leftovers[0]) == 1 << 20
    assert local_store.cleanup_tmp() == 0  # too recent: may belong to a live writer
    assert local_store.cleanup_tmp(older_than_s=0) == 1
    assert _tmp_entries(local_store) == []


def test_cleanup_tmp_on_memory_fs() -> None:
    store = ArtifactStore(f"memory://vt-test-{uuid.uuid4().hex}")
    fs, root = fsspec.core.url_to_fs(store.root_uri)
    fs.pipe_file(f"{root}/.tmp/stale.bin.part", b"half")
    fs.pipe_file(f"{root}/.tmp/stale.tree.part/a", b"half")
    assert store.cleanup_tmp(older_than_s=3600) == 0
    assert store.cleanup_tmp(older_than_s=0) == 2
    assert _tmp_entries(store) == []


class SlowWriter(Materializer):
    name = "test.slow"
    extension = ".bin"

    def can_handle(self, value: Any) -> bool:
        return False

    def write(self, value: Any, sink: Any) -> None:
        for i in range(0, len(value), 4096):
            sink.write(value[i : i + 4096])
            sink.flush()
            time.sleep(0.002)

    def read(self, source: Any) -> Any:
        return source.read()


def test_readers_never_see_a_partial_object(artifact_store: ArtifactStore) -> None:
    payload = os.urandom(4096 * 40)
    digest = _sha256_hex(payload)
    result: list[StoredValue] = []
    writer = threading.Thread(
        target=lambda: result.append(artifact_store.put(payload, materializer=SlowWriter()))
    )
    writer.start()
    while writer.is_alive():  # whatever is visible at a final URI is complete
        for uri in artifact_store.iter_objects():
            assert _sha256_hex(_read_bytes(uri)) == digest
        time.sleep(0.001)
    writer.join()
    assert result[0].digest == f"sha256:{digest}"
    assert [_sha256_hex(_read_bytes(u)) for u in artifact_store.iter_objects()] == [digest]


def test_concurrent_threads_put_the_same_value(artifact_store: ArtifactStore) -> None:
    array = np.random.default_rng(1).random(1 << 19)  # 4 MiB: the parallel hashing path
    barrier = threading.Barrier(6)
    results: list[StoredValue] = []
    errors: list[BaseException] = []

    def put() -> None:
        try:
            barrier.wait()
            results.append(artifact_store.put(array.copy()))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(results)) == 1
    assert list(artifact_store.iter_objects()) == [results[0].uri]
    assert artifact_store.verify(results[0].uri, results[0].digest)
    np.testing.assert_array_equal(artifact_store.load(results[0].uri, "numpy"), array)
    assert _tmp_entries(artifact_store) == []


def test_concurrent_threads_put_the_same_folder(
    artifact_store: ArtifactStore, tmp_path: Path
) -> None:
    local_store = artifact_store
    # Writers of the same folder all finish; none pulls the folder from under another.
    folder = _make_tree(tmp_path / "d", {f"f{i}": os.urandom(1000) for i in range(20)})
    barrier = threading.Barrier(8)
    with_threads: list[StoredValue] = []
    errors: list[BaseException] = []

    def put() -> None:
        try:
            barrier.wait()
            with_threads.append(local_store.put(folder))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(with_threads) == 8 and len(set(with_threads)) == 1
    assert local_store.verify(with_threads[0].uri, with_threads[0].digest)
    assert _tree_contents(local_store.load(with_threads[0].uri, "path.dir")) == _tree_contents(
        folder
    )
    assert _tmp_entries(local_store) == []


def test_a_damaged_uncommitted_folder_in_the_way_is_replaced(
    local_store: ArtifactStore, tmp_path: Path
) -> None:
    folder = _make_tree(tmp_path / "d", {"a.txt": b"alpha", "sub/b.txt": b"beta"})
    stored = local_store.put(folder)
    final = Path(stored.uri.removeprefix("file://"))
    # What a writer that died before its manifest and was then edited by hand leaves.
    os.unlink(str(final) + ".tree.json")
    for p in final.rglob("*"):
        p.chmod(0o700 if p.is_dir() else 0o600)
    final.chmod(0o700)
    (final / "a.txt").write_bytes(b"damaged and longer")
    again = local_store.put(folder)
    assert again == stored
    assert _tree_contents(local_store.load(again.uri, "path.dir")) == _tree_contents(folder)
    assert local_store.verify(again.uri, again.digest)


def _put_from_child(root: str, barrier: Any, queue: Any) -> None:
    array = np.random.default_rng(7).random(1 << 20)  # 8 MiB
    barrier.wait()
    for _ in range(3):
        stored = ArtifactStore.for_root(root).put(array)
    queue.put(stored)
    queue.close()
    queue.join_thread()
    # Leave without the parent's exit machinery: a fork of a process that runs
    # Prefect's temporary server (earlier tests in this worker) inherits its
    # shutdown hooks, which fail in the child and turn exit code 0 into 1.
    os._exit(0)


@pytest.fixture(params=["local", "s3", "gcs"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    """A store that other processes reach too (``memory://`` is per process)."""
    if request.param == "local":
        return ArtifactStore(tmp_path / "store", cache_dir=tmp_path / "cache")
    bucket = request.getfixturevalue(f"{request.param}_bucket")
    return ArtifactStore(bucket.root(), cache_dir=tmp_path / "cache")


def test_two_processes_put_the_same_value(shared_store: ArtifactStore) -> None:
    local_store = shared_store
    # The parent has used the store (and its hash threads) before forking.
    local_store.put(np.arange(1 << 18))
    ctx = _fork_context()
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    processes = [
        ctx.Process(target=_put_from_child, args=(local_store.root_uri, barrier, queue))
        for _ in range(2)
    ]
    for p in processes:
        _start(p)
    results = [queue.get(timeout=60) for _ in processes]
    for p in processes:
        p.join(30)
        assert p.exitcode == 0
    assert results[0] == results[1]
    assert local_store.verify(results[0].uri, results[0].digest)
    expected = np.random.default_rng(7).random(1 << 20)
    np.testing.assert_array_equal(local_store.load(results[0].uri, "numpy"), expected)
    assert len(list(local_store.iter_objects())) == 2
    assert _tmp_entries(local_store) == []


# -- the registry -----------------------------------------------------------------------------


class UpperText(Materializer):
    """Stores strings starting with "!" upper-cased (and lower-cases on read)."""

    name = "test.upper"
    extension = ".txt"

    def can_handle(self, value: Any) -> bool:
        return isinstance(value, str) and value.startswith("!")

    def write(self, value: Any, sink: Any) -> None:
        sink.write(value.upper().encode())

    def read(self, source: Any) -> Any:
        return source.read().decode().lower()


@pytest.fixture
def upper() -> Iterator[Materializer]:
    yield register_materializer(UpperText)
    unregister_materializer("test.upper")


def test_registered_materializer_takes_precedence(
    artifact_store: ArtifactStore, upper: Materializer
) -> None:
    assert materializer_for("!shout") is upper
    assert materializer_for("calm").name == "json"
    stored = artifact_store.put("!shout")
    assert (stored.materializer, stored.extension) == ("test.upper", ".txt")
    assert _read_bytes(stored.uri) == b"!SHOUT"
    assert artifact_store.load(stored.uri, "test.upper") == "!shout"
    assert get_materializer("test.upper") is upper


def test_priority_orders_registered_materializers(upper: Materializer) -> None:
    class Louder(UpperText):
        name = "test.louder"

    try:
        register_materializer(Louder(), priority=-1)
        assert materializer_for("!x") is upper  # higher priority wins over recency
        register_materializer(Louder(), priority=5)
        assert materializer_for("!x").name == "test.louder"
    finally:
        unregister_materializer("test.louder")
    assert materializer_for("!x") is upper


def test_registry_rejects_bad_materializers() -> None:
    class Clash(UpperText):
        name = "json"

    class BadExtension(UpperText):
        name = "test.bad-ext"
        extension = "npy"

    with pytest.raises(InvalidArgumentError, match="built-in"):
        register_materializer(Clash)
    with pytest.raises(InvalidArgumentError, match="extension"):
        register_materializer(BadExtension)
    with pytest.raises(InvalidArgumentError, match="Materializer subclass or instance"):
        register_materializer(object())  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="built-in"):
        unregister_materializer("json")


def test_unknown_materializer_names_the_known_ones(artifact_store: ArtifactStore) -> None:
    stored = artifact_store.put(b"x")
    with pytest.raises(InvalidArgumentError) as info:
        artifact_store.load(stored.uri, "test.nonexistent")
    message = str(info.value)
    assert "unknown materializer 'test.nonexistent'" in message
    assert "json" in message and "numpy" in message and "register_materializer" in message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.float64(1.5), "pickle"),  # a float subclass: JSON would lose its type
        (np.ma.masked_array([1, 2], mask=[0, 1]), "pickle"),  # .npy would lose the mask
        (np.array([object()]), "pickle"),
        ([1, [2, {"a": None}]], "json"),
        ({"a": float("inf")}, "pickle"),
        (Path("/does/not/exist"), "pickle"),
        (pd.Series([1, 2]), "pickle"),
    ],
)
def test_materializer_for(value: Any, expected: str) -> None:
    assert materializer_for(value).name == expected


def test_declined_value_falls_through_to_the_next_materializer(
    artifact_store: ArtifactStore,
) -> None:
    frame = pd.DataFrame({"mixed": [1, "one"]})  # parquet cannot store it
    assert materializer_for(frame).name == "pandas.parquet"
    stored = artifact_store.put(frame)
    assert stored.materializer == "pickle"
    pd.testing.assert_frame_equal(artifact_store.load(stored.uri, "pickle"), frame)
    with pytest.raises(InvalidArgumentError, match="cannot store"):
        artifact_store.put(frame, materializer="pandas.parquet")
    assert _tmp_entries(artifact_store) == []


class ShortListsOnly(Materializer):
    name = "test.short-lists"
    extension = ".txt"

    def can_handle(self, value: Any) -> bool:
        return type(value) is list

    def write(self, value: Any, sink: Any) -> None:
        sink.write(b"partial")
        if len(value) > 2:
            raise MaterializerDeclined("only lists of up to 2 items")
        sink.write(repr(value).encode())

    def read(self, source: Any) -> Any:
        import ast

        return ast.literal_eval(source.read().decode().removeprefix("partial"))


def test_user_materializer_can_decline(artifact_store: ArtifactStore) -> None:
    register_materializer(ShortListsOnly)
    try:
        assert artifact_store.put([1, 2]).materializer == "test.short-lists"
        stored = artifact_store.put([1, 2, 3])
        assert stored.materializer == "json"
        assert _read_bytes(stored.uri) == b"[1,2,3]"
        assert len(list(artifact_store.iter_objects())) == 2
        assert _tmp_entries(artifact_store) == []
    finally:
        unregister_materializer("test.short-lists")


def test_dataframe_without_pyarrow_falls_back_to_pickle(monkeypatch: pytest.MonkeyPatch) -> None:
    import vertex_track.artifacts.builtin as builtin

    monkeypatch.setattr(builtin, "installed", lambda module: module != "pyarrow")
    assert materializer_for(pd.DataFrame({"a": [1]})).name == "pickle"


def test_lone_surrogate_string_is_not_json(artifact_store: ArtifactStore) -> None:
    assert encode_inline("\ud800") is None
    stored = artifact_store.put("\ud800" * 5000)
    assert stored.materializer == "pickle"
    assert artifact_store.load(stored.uri, "pickle") == "\ud800" * 5000


def test_missing_optional_package_says_what_to_install(
    local_store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = local_store.put(pa.table({"a": [1]}))
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # import now fails
    with pytest.raises(InvalidArgumentError, match=r"needs the 'pyarrow.parquet'.*pip install"):
        local_store.load(stored.uri, "pyarrow.parquet")


def test_importing_does_not_import_optional_libraries() -> None:
    # Measured against what the package itself imports, which is not this module's doing.
    code = (
        "import sys, vertex_track; before = set(sys.modules); "
        "import vertex_track.artifacts as a; "
        "a.encode_inline({'x': 1}); a.materializer_for([1]); a.materializer_for(b''); "
        "new = set(sys.modules) - before; "
        "print(sorted(m for m in ('numpy', 'pandas', 'pyarrow') if m in new))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- inline values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", [0, -7, 10**30, 0.1, -0.0, 1e300, True, False, None, "", "é", {"a": [1, "b"]}, []]
)
def test_encode_inline_small_values(value: Any) -> None:
    result = encode_inline(value)
    assert result is not None
    digest, inlined = result
    assert inlined is value
    assert digest == "sha256:" + _sha256_hex(canonical_json(value))


def test_encode_inline_distinguishes_types() -> None:
    digests = {encode_inline(v)[0] for v in (1, 1.0, True, "1", [1])}  # type: ignore[index]
    assert len(digests) == 5


def test_encode_inline_threshold() -> None:
    assert INLINE_MAX_BYTES == 4096
    assert encode_inline("x" * 4094) is not None  # 4096 bytes with the quotes
    assert encode_inline("x" * 4095) is None
    assert encode_inline("é" * 2047) is not None  # 4094 + 2 bytes
    assert encode_inline("é" * 2048) is None
    at_limit = {"k": "v" * (INLINE_MAX_BYTES - len('{"k":""}'))}
    assert len(canonical_json(at_limit)) == INLINE_MAX_BYTES
    assert encode_inline(at_limit) is not None
    assert encode_inline({"k": at_limit["k"] + "v"}) is None
    assert encode_inline(list(range(1_000_000))) is None
    assert encode_inline(10**5000) is None


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), (1, 2), {1: 2}, b"bytes", np.float64(1.0), {"a": (1,)}]
)
def test_encode_inline_rejects_non_json(value: Any) -> None:
    assert encode_inline(value) is None


def test_encode_inline_rejects_cycles() -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    assert encode_inline(cyclic) is None
    shared = [1]
    assert encode_inline([shared, shared]) is not None  # shared, not cyclic


def test_inline_digest_matches_stored_digest(artifact_store: ArtifactStore) -> None:
    value = {"accuracy": 0.5, "labels": ["a", "b"]}
    digest, _ = encode_inline(value)  # type: ignore[misc]
    assert artifact_store.put(value).digest == digest


def _json_containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(children, max_size=5) | st.dictionaries(
        st.text(max_size=8), children, max_size=5
    )


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    _json_containers,
    max_leaves=30,
)


@pytest.fixture(scope="module")
def property_store() -> Iterator[ArtifactStore]:
    # Module-scoped: hypothesis runs many examples per test call.
    store = ArtifactStore(f"memory://vt-test-property-{uuid.uuid4().hex}")
    yield store
    fs, path = fsspec.core.url_to_fs(store.root_uri)
    if fs.exists(path):
        fs.rm(path, recursive=True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values)
def test_json_values_round_trip(property_store: ArtifactStore, value: Any) -> None:
    stored = property_store.put(value)
    assert stored.materializer == "json"
    loaded = property_store.load(stored.uri, "json")
    assert canonical_json(loaded) == canonical_json(value)  # same types, same values
    inline = encode_inline(value)
    if inline is not None:
        assert inline[0] == stored.digest
    else:
        assert stored.size > INLINE_MAX_BYTES
    assert json.loads(_read_bytes(stored.uri)) == loaded


# -- the digest cache -----------------------------------------------------------------------------


def _count_writes(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    materializer = get_materializer(name)
    calls: list[int] = []
    original = materializer.write

    def counting(value: Any, sink: Any) -> None:
        calls.append(1)
        original(value, sink)

    monkeypatch.setattr(materializer, "write", counting)
    return calls


def test_digest_cache_never_returns_a_stale_digest(
    artifact_store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = _count_writes(monkeypatch, "numpy")
    array = np.zeros(1000)
    before = artifact_store.put(array)
    array += 1  # in place: same object, same id, same data pointer
    after = artifact_store.put(array)
    assert after.digest != before.digest
    assert len(writes) == 2
    np.testing.assert_array_equal(artifact_store.load(after.uri, "numpy"), np.ones(1000))


def test_digest_cache_skips_serialising_frozen_arrays(
    artifact_store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = _count_writes(monkeypatch, "numpy")
    frozen = np.arange(1000)
    frozen.flags.writeable = False
    first = artifact_store.put(frozen)
    assert artifact_store.put(frozen) == first
    assert len(writes) == 1
    # A read-only view of a writable array can still change through its base.
    base = np.arange(10)
    view = base.view()
    view.flags.writeable = False
    artifact_store.put(view)
    base[0] = 99
    assert artifact_store.put(view).digest != first.digest
    assert len(writes) == 3
    # A deleted object is written again, not served from the cache.
    artifact_store.delete(first.uri)
    assert artifact_store.put(frozen) == first
    assert artifact_store.exists(first.uri)


def test_digest_cache_is_bounded_and_holds_no_values() -> None:
    cache = DigestCache(maxsize=8)
    stored = StoredValue("memory:///x", "sha256:" + "0" * 64, 1, "numpy", 1, ".npy")
    arrays = []
    for i in range(50):
        array = np.full(4, i)
        array.flags.writeable = False
        assert cache.add(array, "numpy", stored)
        arrays.append(array)
    assert len(cache) == 8
    probe = np.zeros(3)
    probe.flags.writeable = False
    cache.add(probe, "numpy", stored)
    ref = weakref.ref(probe)
    del probe
    assert ref() is None  # the cache kept no strong reference
    assert not cache.add(np.zeros(3), "numpy", stored)  # writable: not cacheable
    assert not cache.add(b"immutable but no weakref", "bytes", stored)


# -- hashing ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [7, 1024, 8 << 20])
def test_hashing_writer_hashes_everything_once(tmp_path: Path, chunk_size: int) -> None:
    pieces = [b"a", b"", os.urandom(5000), os.urandom(3 << 20), b"tail", bytearray(b"x" * 10)]
    pieces.append(memoryview(np.arange(100, dtype=np.int64)))  # a non-byte format
    with open(tmp_path / "out", "wb", buffering=0) as raw:
        writer = HashingWriter(raw, chunk_size=chunk_size)
        for piece in pieces:
            assert writer.write(piece) == memoryview(piece).nbytes
        hexdigest, size = writer.finish()
    data = (tmp_path / "out").read_bytes()
    assert data == b"".join(bytes(memoryview(p).cast("B")) for p in pieces)
    assert (hexdigest, size) == (_sha256_hex(data), len(data))


def test_public_api() -> None:
    import vertex_track.artifacts as artifacts

    required = {
        "ArtifactStore",
        "StoredValue",
        "Materializer",
        "register_materializer",
        "get_materializer",
        "materializer_for",
        "encode_inline",
        "INLINE_MAX_BYTES",
    }
    assert required <= set(artifacts.__all__)
    assert all(hasattr(artifacts, name) for name in artifacts.__all__)
