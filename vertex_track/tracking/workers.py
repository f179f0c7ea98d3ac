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

A task with a ``runtime_env`` runs on workers Ray starts for that environment
(through its runtime-env agent), apart from the node's own, and each worker
Ray replaces is set up again: on a local cluster that made flows of small
tasks markedly slower (see docs/performance.md). So when the workers already
have the settings, none is handed: when this process started the cluster
(``ray.init()`` after ``vt.init``, on one node), and the node's environment
(read from its raylet process), with the job's own ``runtime_env`` on top,
holds exactly this process's ``VERTEX_TRACK_*`` values.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

__all__ = ["ENV_PREFIX", "inherited_settings", "ray_worker_settings", "worker_env"]

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
    if not env or _workers_inherit(env):
        return contextlib.nullcontext()
    from prefect_ray.context import RemoteOptionsContext

    options = dict(RemoteOptionsContext.get().current_remote_options)
    runtime_env = dict(options.get("runtime_env") or {})
    runtime_env["env_vars"] = {**env, **(runtime_env.get("env_vars") or {})}
    options["runtime_env"] = runtime_env
    return RemoteOptionsContext(current_remote_options=options)


def _workers_inherit(env: dict[str, str]) -> bool:
    """Whether every Ray worker of this job starts with exactly ``env``'s settings
    without being handed them: this process started the cluster, it has one node,
    and that node's environment (with the job's ``runtime_env`` on top) holds the
    same ``VERTEX_TRACK_*`` variables. False whenever it cannot tell."""
    try:
        import ray
        from ray._private import ray_constants
        from ray._private import worker as ray_worker

        node = ray_worker._global_node  # set only in the process that started the node
        if node is None or not ray.is_initialized():
            return False
        if sum(1 for n in ray.nodes() if n.get("Alive")) != 1:
            return False  # another machine's workers get their own node's environment
        (raylet,) = node.all_processes[ray_constants.PROCESS_TYPE_RAYLET]
        with open(f"/proc/{raylet.process.pid}/environ", "rb") as f:
            node_environ = f.read()
        job_env = (ray.get_runtime_context().runtime_env or {}).get("env_vars") or {}
    except Exception:  # not Linux, another Ray version, a remote cluster: hand them
        return False
    return inherited_settings(node_environ, job_env) == env


def inherited_settings(node_environ: bytes, job_env_vars: dict[str, str]) -> dict[str, str]:
    """The ``VERTEX_TRACK_*`` variables a worker gets from its node's environment
    (``/proc/PID/environ`` of the raylet) and the job's ``runtime_env`` env_vars."""
    out: dict[str, str] = {}
    prefix = ENV_PREFIX.encode()
    for item in node_environ.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep and key.startswith(prefix):
            out[key.decode(errors="replace")] = value.decode(errors="replace")
    out.update({k: str(v) for k, v in job_env_vars.items() if k.startswith(ENV_PREFIX)})
    return out
