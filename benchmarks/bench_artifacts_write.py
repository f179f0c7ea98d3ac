"""Throughput of ArtifactStore.put for a large numpy array against np.save + fsync.

    python benchmarks/bench_artifacts_write.py [MiB] [repeats] [folder]

The target is a ratio >= 0.5 (put is at least half as fast as a plain save),
measured with different content each round so every put really writes.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

from vertex_track.artifacts import ArtifactStore


def _np_save(array: np.ndarray, path: str) -> float:
    os.sync()  # start each measurement with no dirty pages from the previous one
    start = time.perf_counter()
    with open(path, "wb") as f:
        np.save(f, array)
        f.flush()
        os.fsync(f.fileno())
    return time.perf_counter() - start


def _put(store: ArtifactStore, array: np.ndarray) -> float:
    os.sync()
    start = time.perf_counter()
    store.put(array)
    return time.perf_counter() - start


def main() -> None:
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    base = sys.argv[3] if len(sys.argv) > 3 else None
    array = np.random.default_rng(0).random(mib * 1024 * 1024 // 8)
    folder = tempfile.mkdtemp(prefix="vt-bench-", dir=base)
    try:
        store = ArtifactStore(os.path.join(folder, "store"))
        saves, puts = [], []
        for i in range(repeats):
            array[0] = i  # new content: no deduplication
            saves.append(_np_save(array, os.path.join(folder, f"plain-{i}.npy")))
            os.unlink(os.path.join(folder, f"plain-{i}.npy"))
            array[1] = i
            puts.append(_put(store, array))
            for uri in list(store.iter_objects()):
                store.delete(uri)
        size = array.nbytes / 2**20
        print(f"array: {size:.0f} MiB, {repeats} interleaved rounds")
        for label, pick in (("median", statistics.median), ("best", min)):
            save_s, put_s = pick(saves), pick(puts)
            print(
                f"{label:6s}  np.save + fsync {size / save_s:7.1f} MiB/s   "
                f"ArtifactStore.put {size / put_s:7.1f} MiB/s   ratio {save_s / put_s:.2f}"
            )
        print("target: ratio >= 0.5")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
