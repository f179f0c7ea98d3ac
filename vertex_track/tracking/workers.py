"""Settings for the worker processes of a task runner (Dask, Ray).

A worker records its task runs itself, with the settings of its own process,
which it reads from the ``VERTEX_TRACK_*`` environment variables (``vt.init``
exports what it sets there). Dask's local cluster starts its worker processes
when the flow starts, from the flow's process, so they inherit those variables.

A Ray worker is started by the Ray node (the raylet), with the environment the
node had when it started: a cluster started before ``vt.init`` (by an earlier
``ray.init()``, or another machine's ``ray start``) never sees the variables.
So a ``vt.flow`` on prefect-ray's ``RayTaskRunner`` hands them to every task it
submits as Ray's ``runtime_env={"env_vars": ...}`` (the documented way to set
a Ray worker's environment), through prefect-ray's ``remote_options`` context:
the workers then have the same variables a Dask worker inherits.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

__all__ = ["ENV_PREFIX", "ray_worker_settings", "worker_env"]

ENV_PREFIX = "VERTEX_TRACK_"


def worker_env() -> dict[str, str]:
    """The ``VERTEX_TRACK_*`` variables of this process: what a worker needs to record alike."""
    return {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}


def _is_ray_runner(task_runner: Any) -> bool:
    # By its class, without importing prefect_ray (most flows never use it).
    return any(
        cls.__name__ == "RayTaskRunner" and cls.__module__.startswith("prefect_ray")
        for cls in type(task_runner).__mro__
    )


def ray_worker_settings(task_runner: Any) -> contextlib.AbstractContextManager[Any]:
    """While entered, tasks submitted to ``task_runner`` (a ``RayTaskRunner``) run
    in Ray workers whose environment holds this process's ``VERTEX_TRACK_*``
    variables; a no-op for any other task runner.

    Options the flow sets itself with prefect-ray's ``remote_options`` are kept;
    a ``runtime_env`` there keeps its own ``env_vars`` and gains ours where it
    does not set them.
    """
    if task_runner is None or not _is_ray_runner(task_runner):
        return contextlib.nullcontext()
    env = worker_env()
    if not env:
        return contextlib.nullcontext()
    from prefect_ray.context import RemoteOptionsContext

    options = dict(RemoteOptionsContext.get().current_remote_options)
    runtime_env = dict(options.get("runtime_env") or {})
    runtime_env["env_vars"] = {**env, **(runtime_env.get("env_vars") or {})}
    options["runtime_env"] = runtime_env
    return RemoteOptionsContext(current_remote_options=options)
