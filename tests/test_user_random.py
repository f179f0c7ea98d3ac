"""vertex_track draws its random numbers from its own generator, never the user's.

ML code seeds Python's global ``random`` for reproducible runs; creating a
record (a generated id) or retrying a write (a jittered delay) in between must
not move that sequence.
"""

from __future__ import annotations

import os
import random
import sys

import pytest

import vertex_track as vt
from vertex_track.store.base import MetadataStore
from vertex_track.validation import generate_resource_id


def test_creating_resources_leaves_the_users_seeded_sequence_alone(store: MetadataStore) -> None:
    random.seed(7)
    expected = [random.random() for _ in range(3)]
    random.seed(7)
    a = vt.Artifact.create("system.Dataset")  # a generated resource id
    vt.Context.create("system.Experiment").add_artifacts_and_executions(
        artifact_resource_names=[a.name])
    with vt.start_execution(schema_title="system.ContainerExecution") as e:
        e.assign_input_artifacts([a])
    assert [random.random() for _ in range(3)] == expected


@pytest.mark.skipif(sys.platform == "win32", reason="needs fork")
def test_forked_children_draw_different_ids() -> None:
    readers = []
    for _ in range(2):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            os.write(w, generate_resource_id().encode())
            os._exit(0)
        os.close(w)
        os.waitpid(pid, 0)
        readers.append(os.read(r, 64).decode())
        os.close(r)
    assert len({*readers, generate_resource_id()}) == 3
