"""vertex_track's result cache, with real Prefect flows: reuse, verification, lineage, reasons."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import run_python
from prefect import flow, task

import vertex_track as vt
from vertex_track.artifacts.digest import content_digest
from vertex_track.store.base import MetadataStore

calls: dict[str, int] = {}


def count(name: str) -> None:
    calls[name] = calls.get(name, 0) + 1


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    calls.clear()


@pytest.fixture
def any_store(prefect_harness: None, store: MetadataStore) -> MetadataStore:
    """SQLite and PostgreSQL (when configured) under Prefect's harness."""
    return store


def runs_of(task_name: str) -> list[vt.Execution]:
    return list(vt.Execution.list(
        filter=f'metadata.vertex_track.task_name.string_value = "{task_name}"',
        order_by="create_time",
    ))


def outputs(execution: vt.Execution) -> dict[str, str]:
    return {e.label or "": e.artifact for e in execution.get_events() if e.type == "OUTPUT"}


# -- a cached pipeline ------------------------------------------------------------------
@vt.task(cache=True)
def make(n: int) -> vt.Dataset:
    count("make")
    return np.arange(n, dtype=np.float64)


@vt.task(cache=True)
def scale(data: np.ndarray, k: float = 2.0) -> np.ndarray:
    count("scale")
    return data * k


@vt.task
def total(data: np.ndarray) -> float:
    count("total")
    return float(data.sum())


@vt.flow
def pipeline(n: int = 1000, k: float = 2.0) -> float:
    return total(scale(make(n), k))


def test_hit_reuses_the_original_outputs_and_keeps_the_lineage(any_store: MetadataStore) -> None:
    assert pipeline() == pytest.approx(999_000.0)
    before = {a.name for a in vt.Artifact.list()}
    assert pipeline() == pytest.approx(999_000.0)
    assert calls == {"make": 1, "scale": 1, "total": 2}  # cached functions not called again

    first, second = runs_of("scale")
    assert (first.state, second.state) == (vt.ExecutionState.COMPLETE, vt.ExecutionState.CACHED)
    assert outputs(second) == outputs(first)  # OUTPUT events to the original artifacts
    reused = second.metadata["vertex_track"]["cache"]
    assert reused["reused_execution"] == first.name
    assert reused["key"] == first.metadata["vertex_track"]["cache"]["key"]
    # this run's input: the original output of make (reused too)
    make_first, make_second = runs_of("make")
    assert make_second.state == vt.ExecutionState.CACHED
    inputs = {e.label: e.artifact for e in second.get_events() if e.type == "INPUT"}
    assert inputs == {"data": outputs(make_first)["output"]}

    new = {a.name for a in vt.Artifact.list()} - before
    total_second = runs_of("total")[1]
    assert new == set(outputs(total_second).values())  # only the uncached task's output

    # downstream of a reused result, the lineage reaches the original producers
    result = vt.Artifact.get(outputs(total_second)["output"])
    graph = vt.lineage(result, "upstream")
    names = {e.name for e in graph.executions}
    assert {first.name, make_first.name, second.name} <= names

    explanation = vt.explain_cache(second)
    assert explanation.reused == first
    assert explanation.reason == (
        f"reused execution {first.resource_id} (same code, same params, same inputs)"
    )
    assert vt.explain_cache(second.resource_id).reason == explanation.reason
    assert vt.explain_cache(second.name).reused == first
    assert vt.explain_cache(first).reason == "ran: no earlier run with this key"
    assert vt.explain_cache(first).reused is None


@vt.flow
def from_array(data: Any) -> float:
    return total(scale(data))


def test_a_changed_parameter_or_input_byte_invalidates(any_store: MetadataStore) -> None:
    pipeline(n=100, k=2.0)
    pipeline(n=100, k=0.5)
    assert calls["scale"] == 2
    assert vt.explain_cache(runs_of("scale")[1]).reason == "ran: parameter `k` 2.0 -> 0.5"

    data = np.zeros(1000)
    from_array(data)
    changed = data.copy()
    changed.view(np.uint8)[5] ^= 1  # one byte
    from_array(changed)
    assert calls["scale"] == 4
    old, new = (r.metadata["vertex_track"]["cache"]["inputs"]["data"] for r in runs_of("scale")[2:])
    reason = vt.explain_cache(runs_of("scale")[3]).reason
    assert reason == f"ran: input `data` changed ({old[:19]}… -> {new[:19]}…)"
    assert old != new
    from_array(changed.copy())  # equal content, another object: reused
    assert calls["scale"] == 4
    assert runs_of("scale")[4].state == vt.ExecutionState.CACHED


# -- verification before reuse -------------------------------------------------------------
def _stored_output(execution: vt.Execution) -> vt.Artifact:
    return vt.Artifact.get(outputs(execution)["output"])


def test_a_purged_output_forces_a_rerun(any_store: MetadataStore) -> None:
    pipeline()
    _stored_output(runs_of("scale")[0]).delete()
    pipeline()
    assert calls["scale"] == 2
    rerun = runs_of("scale")[1]
    assert rerun.state == vt.ExecutionState.COMPLETE
    assert vt.explain_cache(rerun).reason.startswith("ran: cached output missing")
    pipeline()  # the re-run's result is reused from now on
    assert calls["scale"] == 2


def test_a_deleted_file_forces_a_rerun(tracked: MetadataStore) -> None:
    pipeline()
    uri = _stored_output(runs_of("scale")[0]).uri
    os.remove(uri.removeprefix("file://"))
    pipeline()
    assert calls["scale"] == 2
    reason = vt.explain_cache(runs_of("scale")[1]).reason
    assert reason.startswith("ran: cached output missing")
    assert "is gone" in reason


@vt.task(cache=True, verify="digest")
def scale_checked(data: np.ndarray) -> np.ndarray:
    count("scale_checked")
    return data * 3


@vt.flow
def checked_pipeline() -> float:
    return total(scale_checked(make(64)))


def _flip_a_byte(uri: str) -> None:
    path = uri.removeprefix("file://")
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 1]))


def test_a_flipped_byte_is_caught_by_verify_digest(tracked: MetadataStore) -> None:
    checked_pipeline()
    _flip_a_byte(_stored_output(runs_of("scale_checked")[0]).uri)
    checked_pipeline()
    assert calls["scale_checked"] == 2
    reason = vt.explain_cache(runs_of("scale_checked")[1]).reason
    assert reason.startswith("ran: cached output corrupted")


def test_verify_exists_does_not_read_the_bytes_digest_is_what_does(
    tracked: MetadataStore,
) -> None:
    # verify="exists" checks the output is recorded, LIVE, stored and of its recorded
    # size; it does not re-hash the bytes, so a byte changed in place (same size)
    # goes unnoticed. Catching that is what verify="digest" is for (see above).
    pipeline()
    first = float(np.arange(1000.0).sum() * 2)
    uri = _stored_output(runs_of("scale")[0]).uri
    _flip_a_byte(uri)
    assert pipeline() != first  # the changed bytes were loaded, not recomputed
    assert calls["scale"] == 1
    assert runs_of("scale")[1].state == vt.ExecutionState.CACHED
    with pytest.raises(vt.ArtifactIntegrityError, match="modified after they were recorded"):
        _stored_output(runs_of("scale")[0]).load()  # the public load still checks


def test_a_resized_file_forces_a_rerun_with_verify_exists(tracked: MetadataStore) -> None:
    pipeline()
    artifact = _stored_output(runs_of("scale")[0])
    path = artifact.uri.removeprefix("file://")
    os.chmod(path, 0o644)
    with open(path, "ab") as f:
        f.write(b"\0")
    pipeline()
    assert calls["scale"] == 2
    reason = vt.explain_cache(runs_of("scale")[1]).reason
    recorded = artifact.metadata["vertex_track"]["size"]
    assert reason == (
        f"ran: cached output corrupted (`output`: {artifact.uri} has {recorded + 1} bytes, "
        f"{recorded} were recorded)"
    )


@vt.task(cache=True)
def big(n: int) -> np.ndarray:
    count("big")
    return np.arange(n, dtype=np.float64) * 1.5


@vt.task(cache=True)
def bump(data: np.ndarray) -> np.ndarray:
    count("bump")
    return data + 1


def test_a_reused_large_array_is_a_writable_ndarray_equal_to_the_original(
    tracked: MetadataStore,
) -> None:
    n = 300_000  # 2.4 MB: above the size from which .npy objects are memory-mapped
    got: list[np.ndarray] = []

    @vt.flow
    def run() -> None:
        got.append(big(n))
        got.append(bump(got[-1]))

    run()
    run()
    assert calls == {"big": 1, "bump": 1}
    assert [r.state for r in runs_of("big")] == [
        vt.ExecutionState.COMPLETE, vt.ExecutionState.CACHED,
    ]
    original, reused, reused_next = got[0], got[2], got[3]
    assert type(reused) is np.ndarray and type(reused_next) is np.ndarray
    np.testing.assert_array_equal(reused, original)
    np.testing.assert_array_equal(reused_next, original + 1)
    assert reused.flags.writeable
    reused[0] = -7.0  # a private copy of the page: the stored object is unchanged
    assert reused[0] == -7.0
    stored = _stored_output(runs_of("big")[0])
    np.testing.assert_array_equal(stored.load(), original)  # and its digest still checks
    run()  # still reused, from the intact object
    assert calls == {"big": 1, "bump": 1}
    np.testing.assert_array_equal(got[4], original)


def test_loading_without_the_digest_check_keeps_the_location_rules(
    tracked: MetadataStore, tmp_path: Path,
) -> None:
    from vertex_track.artifacts.loading import load_artifact_value

    outside = tmp_path / "outside.npy"
    np.save(outside, np.arange(3.0))
    artifact = vt.Artifact.create(uri=outside.as_uri(), metadata={"vertex_track": {
        "materializer": "numpy", "materializer_version": 1,
        "digest": "sha256:" + "0" * 64,
    }})
    with pytest.raises(vt.UntrustedArtifactError, match="outside the artifact store"):
        load_artifact_value(artifact, verify_digest=False)


# -- the code component ------------------------------------------------------------------
SOURCE = '''
import vertex_track as vt

@vt.task(cache=True)
def step(x: int) -> dict:
    {comment}
    return {{"y": x {op} 1}}
'''


def _define(tmp_path: Path, version: str, comment: str, op: str) -> Any:
    path = tmp_path / f"step_{version}.py"
    path.write_text(SOURCE.format(comment=comment, op=op))
    namespace: dict[str, Any] = {"__name__": "cache_steps"}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace["step"]


def test_code_changes_invalidate_and_comments_do_not(tracked: MetadataStore, tmp_path: Path) -> None:
    results = []
    for version, comment, op in [
        ("a", "", "+"), ("b", "# a comment only\n\n", "+"), ("c", "", "-"),
    ]:
        step = _define(tmp_path, version, comment, op)

        @vt.flow
        def run_step() -> dict:
            return step(3)  # noqa: B023

        results.append(run_step())
    assert results == [{"y": 4}, {"y": 4}, {"y": 2}]
    a, b, c = runs_of("step")
    assert b.state == vt.ExecutionState.CACHED
    assert vt.explain_cache(b).reused == a
    assert c.state == vt.ExecutionState.COMPLETE
    assert vt.explain_cache(c).reason == "ran: code changed"


@vt.task(cache=True, version="1")
def versioned(x: int) -> int:
    count("versioned")
    return x


def test_version_stands_for_the_code(tracked: MetadataStore) -> None:
    @vt.flow
    def run() -> int:
        return versioned(1)

    run()
    run()
    assert calls["versioned"] == 1
    assert runs_of("versioned")[0].metadata["vertex_track"]["cache"]["code"] == "version:1"


# -- expiration, refresh -----------------------------------------------------------------
@vt.task(cache=True, cache_expiration=dt.timedelta(microseconds=1))
def short_lived(x: int) -> int:
    count("short_lived")
    return x + 1


@vt.task(cache=True, cache_expiration=dt.timedelta(hours=1))
def long_lived(x: int) -> int:
    count("long_lived")
    return x + 1


@vt.task(cache=True, refresh_cache=True)
def refreshed(x: int) -> int:
    count("refreshed")
    return x + 1


@vt.flow
def lifetimes() -> list[int]:
    return [short_lived(1), long_lived(1), refreshed(1)]


def test_expiration_and_refresh_are_honoured(tracked: MetadataStore) -> None:
    assert lifetimes() == [2, 2, 2]
    assert lifetimes() == [2, 2, 2]
    assert calls == {"short_lived": 2, "long_lived": 1, "refreshed": 2}
    assert vt.explain_cache(runs_of("short_lived")[1]).reason.startswith("ran: expired")
    assert runs_of("long_lived")[1].state == vt.ExecutionState.CACHED
    assert vt.explain_cache(runs_of("refreshed")[1]).reason == "ran: refresh requested"


# -- outputs of every shape, retries, map ----------------------------------------------------
@vt.task(cache=True)
def pair(x: int) -> tuple[np.ndarray, dict]:
    count("pair")
    return np.full(3, x), {"x": x}


@vt.task(cache=True, retries=1)
def flaky(x: int) -> int:
    count("flaky")
    if calls["flaky"] == 1:
        raise RuntimeError("first attempt fails")
    return x * 10


@vt.flow
def shapes() -> tuple[list[int], list[int], int]:
    arr, meta = pair(2)
    mapped = scale.map([np.ones(2), np.ones(3)], k=3.0)
    return [*arr.tolist(), meta["x"]], [int(m.sum()) for m in mapped.result()], flaky(4)


def test_tuples_retries_and_map(tracked: MetadataStore) -> None:
    first = shapes()
    second = shapes()
    assert first == second == ([2, 2, 2, 2], [6, 9], 40)
    assert calls == {"pair": 1, "scale": 2, "flaky": 2}
    assert [r.state for r in runs_of("pair")] == ["COMPLETE", "CACHED"]
    assert [r.state for r in runs_of("flaky")] == ["COMPLETE", "CACHED"]


# -- the store shared by two processes -------------------------------------------------------
RACE = '''
import sys, time
import numpy as np
import vertex_track as vt

vt.init(store_uri=sys.argv[1], artifact_root=sys.argv[2])

@vt.task(cache=True)
def slow(n: int) -> np.ndarray:
    time.sleep(1.0)
    return np.arange(n)

@vt.flow
def race() -> int:
    return int(slow(50).sum())

print(race())
'''


def test_two_processes_racing_on_one_key_both_finish(tracked: MetadataStore, tmp_path: Path) -> None:
    script = tmp_path / "race.py"
    script.write_text(RACE)
    uri = f"sqlite:///{tmp_path / 'race.db'}"
    root = str(tmp_path / "race-artifacts")
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    codes: dict[int, int] = {}

    def one(i: int) -> None:
        codes[i] = run_python([str(script), uri, root], env=env, stdout=tmp_path / f"o{i}.txt",
                              stderr=tmp_path / f"e{i}.txt", timeout=240)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(2):
        assert codes[i] == 0, (tmp_path / f"e{i}.txt").read_text()[-2000:]
        assert (tmp_path / f"o{i}.txt").read_text().split()[-1] == str(sum(range(50)))
    vt.init(store_uri=uri, artifact_root=root)
    runs = runs_of("slow")
    assert len(runs) == 2
    assert {r.state for r in runs} <= {"COMPLETE", "CACHED"}
    keys = {r.metadata["vertex_track"]["cache"]["key"] for r in runs}
    assert len(keys) == 1
    # a third run reuses whichever result is newest
    assert run_python([str(script), uri, root], env=env, stdout=tmp_path / "o3.txt",
                      timeout=240) == 0
    assert runs_of("slow")[-1].state == vt.ExecutionState.CACHED


# -- a Prefect cache policy ------------------------------------------------------------------
def test_cache_policy_on_a_plain_prefect_task(tracked: MetadataStore) -> None:
    @task(cache_policy=vt.cache_policy(), persist_result=True)
    def plain(data: np.ndarray, k: int) -> float:
        count("plain")
        return float(data.sum() * k)

    @flow
    def plain_flow(data: Any, k: int) -> float:
        return plain(data, k)

    base = np.arange(12.0).reshape(3, 4)
    assert plain_flow(base, 2) == 132.0
    assert plain_flow(np.asfortranarray(base), 2) == 132.0  # same content, other layout
    assert calls["plain"] == 1
    assert plain_flow(base, 3) == 198.0
    assert calls["plain"] == 2
    assert vt.cache_policy(version="2").version == "2"


# -- options -------------------------------------------------------------------------------
def test_bad_options_say_what_to_do() -> None:
    with pytest.raises(vt.InvalidArgumentError, match="verify must be 'exists'.*got 'sha1'"):
        vt.task(cache=True, verify="sha1")
    with pytest.raises(vt.InvalidArgumentError, match="cache_expiration must be positive"):
        vt.track(cache=True, cache_expiration=dt.timedelta(seconds=-1))
    with pytest.raises(vt.InvalidArgumentError, match="must be a datetime.timedelta"):
        vt.track(cache=True, cache_expiration=60)
    with pytest.raises(vt.InvalidArgumentError, match="pass cache=True as well"):
        vt.track(verify="digest")
    with pytest.raises(vt.InvalidArgumentError, match="version must be a non-empty string"):
        vt.cache_policy(version="")

    def gen() -> Any:
        yield 1

    with pytest.raises(vt.InvalidArgumentError, match="does not apply to the generator"):
        vt.task(cache=True)(gen)
    with pytest.raises(vt.InvalidArgumentError, match="takes an Execution"):
        vt.explain_cache(42)  # type: ignore[arg-type]


def test_explaining_an_uncached_execution(tracked: MetadataStore) -> None:
    pipeline()
    explanation = vt.explain_cache(runs_of("total")[0])
    assert explanation.reused is None
    assert "did not use vertex_track's cache" in explanation.reason
    assert dataclasses.is_dataclass(explanation)
    with pytest.raises(dataclasses.FrozenInstanceError):
        explanation.reason = "x"  # type: ignore[misc]


# -- content digests -------------------------------------------------------------------------
@dataclasses.dataclass
class Point:
    x: int
    y: list[int]


def test_content_digests_follow_content_not_layout(tmp_path: Path) -> None:
    a = np.arange(24, dtype=np.float32).reshape(4, 6)
    assert content_digest(a) == content_digest(np.asfortranarray(a))
    assert content_digest(a) == content_digest(a.T.copy().T)
    assert content_digest(a) != content_digest(a.astype(np.float64))
    assert content_digest(a) != content_digest(a.reshape(6, 4))

    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"], "c": [0.5, 1.5, 2.5]})
    rebuilt = pd.DataFrame({"b": ["x", "y", "z"]})
    rebuilt.insert(0, "a", [1, 2, 3])
    rebuilt["c"] = [0.5, 1.5, 2.5]
    assert content_digest(df) == content_digest(rebuilt)  # other block layout
    assert content_digest(df) == content_digest(df.copy())
    assert content_digest(df) != content_digest(df[["c", "b", "a"]])
    assert content_digest(df) != content_digest(df.set_index("b"))
    assert content_digest(df["a"]) != content_digest(df["a"].rename("z"))

    assert content_digest({"a": 1, "b": [1, 2]}) == content_digest({"b": [1, 2], "a": 1})
    assert content_digest([1, 2]) != content_digest((1, 2))
    assert content_digest(Point(1, [2])) == content_digest(Point(1, [2]))
    assert content_digest(Point(1, [2])) != content_digest(Point(1, [3]))

    from pydantic import BaseModel

    class Config(BaseModel):
        lr: float
        layers: list[int]

    assert content_digest(Config(lr=0.1, layers=[2])) == content_digest(
        Config(layers=[2], lr=0.1))

    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "x.txt").write_bytes(b"one")
    first = content_digest(folder)
    assert content_digest(folder / "x.txt") != first
    (folder / "x.txt").write_bytes(b"two")
    assert content_digest(folder) != first


class Opaque:
    def __init__(self) -> None:
        self.value = 1


def test_a_value_without_a_stable_digest_warns() -> None:
    with pytest.warns(vt.TrackingWarning, match="has no content digest of its own"):
        content_digest(Opaque())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        content_digest(np.ones(3))  # no warning for the types with their own digest


# -- the command line ----------------------------------------------------------------------
def test_cache_commands_explain_list_and_clear(tracked: MetadataStore, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from vertex_track.cli.app import app

    pipeline()
    pipeline()
    first, second = runs_of("scale")
    uri = ["--store-uri", f"sqlite:///{tmp_path / 'metadata.db'}"]
    runner = CliRunner()

    def cli(*args: str) -> Any:
        result = runner.invoke(app, [*uri, "cache", *args])
        return result

    out = cli("explain", second.resource_id, "--json")
    assert out.exit_code == 0, out.stderr
    assert json.loads(out.stdout) == {
        "execution": second.name, "reused": first.name,
        "reason": f"reused execution {first.resource_id} (same code, same params, same inputs)",
        "key": first.metadata["vertex_track"]["cache"]["key"],
    }
    assert "reused execution" in cli("explain", second.resource_id).stdout

    listed = json.loads(cli("list", "--task", "scale", "--json").stdout)
    assert [e["execution"] for e in listed] == [first.name]  # CACHED runs are not entries
    assert {e["task"] for e in json.loads(cli("list", "--json").stdout)} == {
        "test_cache.make", "test_cache.scale"}

    refused = cli("clear", "--task", "scale")
    assert refused.exit_code == 2 and "add --yes" in refused.stderr
    cleared = json.loads(cli("clear", "--task", "scale", "--yes", "--json").stdout)
    assert cleared == {"task": "scale", "cleared": [first.name]}
    assert cli("list", "--task", "scale", "--json").stdout.strip() == "[]"
    assert vt.Artifact.get(outputs(first)["output"]).uri  # nothing deleted

    pipeline()
    assert calls["scale"] == 2 and calls["make"] == 1
    assert vt.explain_cache(runs_of("scale")[2]).reason == (
        "ran: the earlier result was cleared (vertex-track cache clear)"
    )
    assert cli("explain", "nope-not-there").exit_code == 1


@vt.task(cache=True, ignore=["verbose"])
async def fetch(n: int, verbose: bool = False) -> list[int]:
    count("fetch")
    return list(range(n))


@vt.flow
async def fetching(verbose: bool) -> list[int]:
    return await fetch(3, verbose=verbose)


def test_async_tasks_and_ignored_arguments(tracked: MetadataStore) -> None:
    import asyncio

    assert asyncio.run(fetching(True)) == [0, 1, 2]
    assert asyncio.run(fetching(False)) == [0, 1, 2]  # verbose is not part of the key
    assert calls == {"fetch": 1}
    first, second = runs_of("fetch")
    assert second.state == vt.ExecutionState.CACHED
    assert "verbose" not in first.metadata["vertex_track"]["cache"]["params"]


@vt.task(cache=True)
def report(n: int) -> dict:
    count("report")
    return {"zeta_long": np.arange(n), "b": n, "alpha": [n]}


@vt.flow
def reporting() -> list[str]:
    return list(report(3))


def test_a_reused_dict_keeps_its_key_order(any_store: MetadataStore) -> None:
    assert reporting() == ["zeta_long", "b", "alpha"]
    assert reporting() == ["zeta_long", "b", "alpha"]  # jsonb orders keys otherwise
    assert calls == {"report": 1}


@vt.track(cache=True)
@task
def stacked(x: int) -> int:
    count("stacked")
    return x * 2


@vt.flow
def stacking() -> int:
    return stacked(21)


def test_track_on_a_prefect_task_caches_and_replaces_prefects_default_policy(
    tracked: MetadataStore,
) -> None:
    from prefect.cache_policies import INPUTS, NO_CACHE

    assert stacked.cache_policy is NO_CACHE  # one cache: Prefect's would hash inputs again
    kept = vt.track(cache=True)(task(cache_policy=INPUTS)(lambda x: x))
    assert kept.cache_policy is INPUTS  # a policy the author chose stays
    assert stacking() == stacking() == 42
    assert calls == {"stacked": 1}
    assert vt.explain_cache(runs_of("stacked")[1]).reused == runs_of("stacked")[0]


def test_entries_are_listed_and_cleared_on_both_backends(any_store: MetadataStore) -> None:
    from vertex_track.tracking.cache_lookup import cache_entries, clear_cache

    pipeline()
    pipeline()
    first = runs_of("scale")[0]
    assert [e.name for e in cache_entries("scale")] == [first.name]
    assert [e.name for e in cache_entries("test_cache.scale")] == [first.name]
    assert len(cache_entries()) == 2  # make and scale; CACHED runs are not entries
    assert [e.name for e in clear_cache("scale")] == [first.name]
    assert cache_entries("scale") == []
    cleared = vt.Execution.get(first.name).metadata["vertex_track"]["cache"]
    assert cleared["cleared_key"] and "key" not in cleared
    pipeline()
    assert calls["scale"] == 2


@pytest.mark.parametrize("root_kind", ["local", "memory"])
def test_sizes_and_mapping_by_filesystem(root_kind: str, tmp_path: Path) -> None:
    from vertex_track.artifacts import ArtifactStore

    root = str(tmp_path / "objects") if root_kind == "local" else f"memory://{tmp_path.name}"
    home = ArtifactStore(root)
    original = np.arange(300_000, dtype=np.float64)  # above the mapping threshold
    stored = home.put(original)
    assert home.file_size(stored.uri) == stored.size
    assert home.file_size(stored.uri.replace(stored.digest[7:], "0" * 64)) is None
    loaded = home.load(stored.uri, "numpy")
    assert type(loaded) is np.ndarray and loaded.flags.writeable
    np.testing.assert_array_equal(loaded, original)
    # Only a local file is mapped; other filesystems are read into memory as before.
    assert isinstance(loaded.base, np.memmap) is (root_kind == "local")
    small = home.load(home.put(np.arange(10.0)).uri, "numpy")
    assert not isinstance(small.base, np.memmap)
