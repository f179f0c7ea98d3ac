"""One validation for both backends: text no backend can store, oversized metadata,
NaN, and filters too long for a naive translation. Each is refused (or handled) by
our own checks, the same way on SQLite and PostgreSQL, at the call that got it.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import pytest

import vertex_track as vt
from vertex_track.store.base import MetadataStore
from vertex_track.tracking import TrackingError, TrackingWarning, flush

NUL = "a\x00b"
SURROGATE = "a\ud800b"

BAD_TEXT = [
    pytest.param(NUL, "NUL character", id="nul"),
    pytest.param(SURROGATE, "lone surrogate", id="surrogate"),
]


@pytest.mark.parametrize(("bad", "why"), BAD_TEXT)
@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("display_name", lambda bad: {"display_name": bad}),
        ("description", lambda bad: {"description": bad}),
        ("metadata.note", lambda bad: {"metadata": {"note": bad}}),
        ("metadata.deep[1]", lambda bad: {"metadata": {"deep": ["ok", bad]}}),
        ("has a key", lambda bad: {"metadata": {bad: 1}}),
        ("labels", lambda bad: {"labels": {"team": bad}}),
        ("uri", lambda bad: {"uri": f"file:///tmp/{bad}"}),
    ],
)
def test_text_no_backend_can_store_is_refused_naming_the_field(
    store: MetadataStore, bad: str, why: str, field: str, kwargs: Any
) -> None:
    with pytest.raises(vt.InvalidArgumentError, match=why) as info:
        vt.Artifact.create("system.Dataset", **kwargs(bad))
    assert field in str(info.value)
    assert vt.Artifact.list() == []
    # The store is unaffected: the next call works.
    assert vt.Artifact.create("system.Dataset", display_name="fine").display_name == "fine"


@pytest.mark.parametrize(("bad", "why"), BAD_TEXT)
def test_updates_are_checked_like_creates(store: MetadataStore, bad: str, why: str) -> None:
    context = vt.Context.create("system.Experiment", display_name="exp")
    with pytest.raises(vt.InvalidArgumentError, match=why):
        context.update(metadata={"k": bad})
    with pytest.raises(vt.InvalidArgumentError, match=why):
        context.update(display_name=bad)
    assert vt.Context.get(context.resource_id).metadata == {}


@pytest.mark.parametrize(("bad", "why"), BAD_TEXT)
def test_a_tracked_call_with_unstorable_text_fails_that_call_not_a_later_one(
    store: MetadataStore, bad: str, why: str
) -> None:
    @vt.track
    def step(note: str, i: int) -> int:
        return i

    with pytest.raises(TrackingError, match=why) as info:
        step(bad, 1)
    assert "metadata.note" in str(info.value)
    assert step("fine", 2) == 2  # the next call records normally, no late error
    flush()
    assert [e.metadata["note"] for e in vt.Execution.list()] == ["fine"]


def test_under_warn_unstorable_text_warns_and_the_task_is_unaffected(
    store: MetadataStore,
) -> None:
    vt.init(on_tracking_error="warn")

    @vt.track
    def step(note: str) -> int:
        return 7

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert step(NUL) == 7
    assert any(
        issubclass(w.category, TrackingWarning) and "NUL character" in str(w.message)
        for w in caught
    )


def test_metadata_over_the_size_limit_is_refused_and_the_limit_is_configurable(
    store: MetadataStore,
) -> None:
    big = {"blob": "x" * (1024 * 1024 + 1)}
    with pytest.raises(vt.InvalidArgumentError, match="max_metadata_bytes") as info:
        vt.Artifact.create("system.Dataset", metadata=big)
    assert "over the limit of 1,048,576 bytes" in str(info.value)
    # An update whose merged metadata would pass the limit is refused too.
    half = {"a": "x" * (600 * 1024)}
    artifact = vt.Artifact.create("system.Dataset", metadata=half)
    with pytest.raises(vt.InvalidArgumentError, match="max_metadata_bytes"):
        artifact.update(metadata={"b": "y" * (600 * 1024)})
    vt.init(max_metadata_bytes=4 * 1024 * 1024)
    stored = vt.Artifact.create("system.Dataset", metadata=big)
    assert len(vt.Artifact.get(stored.resource_id).metadata["blob"]) == 1024 * 1024 + 1


def test_the_size_limit_counts_utf8_bytes(store: MetadataStore) -> None:
    vt.init(max_metadata_bytes=2048)
    with pytest.raises(vt.InvalidArgumentError, match="over the limit of 2,048 bytes"):
        vt.Artifact.create("system.Dataset", metadata={"t": "é" * 1100})  # 2,200 bytes
    vt.Artifact.create("system.Dataset", metadata={"t": "e" * 1100})


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_in_metadata_are_refused_with_the_way_out(
    store: MetadataStore, value: float
) -> None:
    with pytest.raises(vt.InvalidArgumentError, match=r"metadata\.score is .*not finite"):
        vt.Artifact.create("system.Metrics", metadata={"score": value})


def test_tracked_nan_and_infinity_parameters_are_stored_as_their_names(
    store: MetadataStore,
) -> None:
    @vt.track
    def fit(lr: float, clip: float, floor: float) -> int:
        return 1

    fit(math.nan, math.inf, -math.inf)
    flush()
    (execution,) = vt.Execution.list()
    assert (execution.metadata["lr"], execution.metadata["clip"], execution.metadata["floor"]) == (
        "NaN", "Infinity", "-Infinity",
    )
    found = vt.Execution.list(filter='metadata.lr.string_value = "NaN"')
    assert [e.resource_id for e in found] == [execution.resource_id]


def test_a_1200_term_or_filter_works_on_every_backend(store: MetadataStore) -> None:
    for i in (3, 700, 1199):
        vt.Artifact.create("system.Dataset", display_name=f"d{i}")
    vt.Artifact.create("system.Dataset", display_name="other")
    many = " OR ".join(f'display_name = "d{i}"' for i in range(1200))
    assert sorted(a.display_name for a in vt.Artifact.list(filter=many)) == [
        "d1199", "d3", "d700",
    ]
    negated = " AND ".join(f'display_name != "d{i}"' for i in range(1200))
    assert [a.display_name for a in vt.Artifact.list(filter=negated)] == ["other"]
    assert [a.display_name for a in vt.Artifact.list(filter=f"NOT ({many})")] == ["other"]


@pytest.mark.parametrize(
    ("var", "value"),
    [("VERTEX_TRACK_RETRY_TIMEOUT", "soon"), ("VERTEX_TRACK_MAX_METADATA_BYTES", "10")],
)
def test_reliability_settings_are_checked(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    from vertex_track import config

    monkeypatch.setenv(var, value)
    config.reset()
    with pytest.raises(vt.InvalidArgumentError, match=var):
        config.get_settings()
