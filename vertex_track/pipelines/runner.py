"""Running a job's worker pools as local processes, with the environment Vertex AI gives them.

Every replica of every worker pool is one subprocess:

- ``pythonPackageSpec``: ``python -m MODULE ARGS`` with this interpreter, the
  ``packageUris`` made importable (see :func:`stage_packages`);
- ``containerSpec``: ``COMMAND ARGS`` (the image is not run; a command whose
  first word is ``python``/``python3`` runs with this interpreter, as the
  image's own Python would).

The environment is the parent's plus what Vertex AI sets ("Environment
variables set by Vertex AI" in its custom training docs): ``AIP_MODEL_DIR``,
``AIP_CHECKPOINT_DIR``, ``AIP_TENSORBOARD_LOG_DIR``, the ``AIP_*_DATA_URI``
and ``AIP_DATA_FORMAT`` of the split data set, ``CLOUD_ML_JOB_ID``,
``CLOUD_ML_TRIAL_ID`` and ``CLOUD_ML_HP_METRIC_FILE`` for a trial, and
``CLUSTER_SPEC`` / ``TF_CONFIG`` describing all replicas (worker pool 0 is
TensorFlow's ``chief``, pool 1 ``worker``, pool 2 ``ps``, pool 3
``evaluator``; extra replicas of pool 0 count as workers). Each replica gets
a free local port as its address. The spec's own ``env`` entries come last
and win.

stdout and stderr are read line by line as the process writes them, passed
to a log callback (Prefect's run logger) and kept in one log file. The job
ends when every replica has exited; the first replica that fails, or the
timeout, stops the others (SIGTERM to its process group, SIGKILL 5 s later).
"""

from __future__ import annotations

import collections
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from ..exceptions import InvalidArgumentError
from .request import CustomJobSpec, WorkerPoolSpec

__all__ = [
    "JobOutcome", "Replica", "build_replicas", "run_replicas", "stage_packages", "stop_all",
]

TF_ROLES = ("chief", "worker", "ps", "evaluator")
STDERR_TAIL = 20
KILL_GRACE_S = 5.0

LogFn = Callable[[str, str], None]  # (level "info" | "warning", line)


@dataclass
class Replica:
    """One process to run: worker pool ``pool``, replica ``index``."""

    pool: int
    index: int
    argv: list[str]
    env: dict[str, str]

    @property
    def name(self) -> str:
        return f"workerpool{self.pool}-{self.index}"


@dataclass
class JobOutcome:
    """How a job's processes ended.

    Attributes:
        ok: every replica exited with code 0 before the timeout.
        error: why not (None when ``ok``), with the last lines of stderr.
        exit_codes: ``{replica name: exit code}`` (negative: killed by that signal).
        timed_out: the timeout stopped the job.
        duration_s: wall time from the first start to the last exit.
        stderr_tail: the last lines of stderr of the replica that failed.
    """

    ok: bool
    error: str | None
    exit_codes: dict[str, int | None]
    timed_out: bool
    duration_s: float
    stderr_tail: list[str] = field(default_factory=list)


# -- packages ------------------------------------------------------------------------------
def _local_copy(uri: str, dest: Path) -> Path:
    fs, path = fsspec.core.url_to_fs(uri)
    if isinstance(fs, LocalFileSystem):
        if not fs.exists(path):
            raise FileNotFoundError(f"no such file or folder: {path}")
        return Path(path)
    name = path.rstrip("/").rsplit("/", 1)[-1]
    target = dest / name
    if fs.isdir(path):
        fs.get(path.rstrip("/") + "/", str(target), recursive=True)
        return target
    if not fs.exists(path):
        raise FileNotFoundError(f"no such file or folder: {uri}")
    fs.get(path, str(target))
    return target


def stage_packages(uris: Sequence[str], dest: Path) -> list[str]:
    """``PYTHONPATH`` entries that make the packages at ``uris`` importable.

    A folder is used as is (its ``src/`` when it has one and no ``__init__.py``
    of its own); a wheel (``.whl``) is put on the path as a zip (pure-Python
    wheels import from there); an sdist (``.tar.gz``, ``.zip``) is unpacked
    and its top folder used. Packages are not installed: what they depend on
    must already be importable by this Python.

    Raises:
        InvalidArgumentError: a URI cannot be read or is of another kind.
    """
    entries: list[str] = []
    dest.mkdir(parents=True, exist_ok=True)
    for i, uri in enumerate(uris):
        field_path = f"pythonPackageSpec.packageUris[{i}]"
        try:
            local = _local_copy(uri, dest)
        except (FileNotFoundError, OSError) as exc:
            raise InvalidArgumentError(f"{field_path}: cannot read {uri!r}: {exc}") from None
        name = local.name.lower()
        if local.is_dir():
            src = local / "src"
            entries.append(str(src if src.is_dir() and not (local / "__init__.py").exists()
                               else local))
        elif name.endswith(".whl"):
            entries.append(str(local))
        elif name.endswith((".tar.gz", ".tgz", ".zip")):
            unpacked = dest / f"sdist-{i}"
            if name.endswith(".zip"):
                with zipfile.ZipFile(local) as z:
                    z.extractall(unpacked)
            else:
                _extract_tar(local, unpacked, field_path)
            tops = [p for p in unpacked.iterdir() if p.is_dir()]
            top = tops[0] if len(tops) == 1 else unpacked
            src = top / "src"
            entries.append(str(src if src.is_dir() else top))
        else:
            raise InvalidArgumentError(
                f"{field_path}: {uri!r} is not a folder, a wheel (.whl) or an sdist "
                "(.tar.gz, .zip)"
            )
    return entries


# -- the processes -----------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _argv(pool: WorkerPoolSpec, extra_args: Sequence[str]) -> list[str]:
    if pool.python_package_spec is not None:
        spec = pool.python_package_spec
        return [sys.executable, "-m", spec.python_module, *spec.args, *extra_args]
    assert pool.container_spec is not None
    spec_c = pool.container_spec
    command = list(spec_c.command)
    if command and os.path.basename(command[0]) in ("python", "python3"):
        command[0] = sys.executable
    return [*command, *spec_c.args, *extra_args]


def build_replicas(
    job: CustomJobSpec,
    *,
    extra_args: Sequence[str],
    env: Mapping[str, str],
    trial_id: str | None,
    python_path: Mapping[int, Sequence[str]] | None = None,
) -> list[Replica]:
    """One :class:`Replica` per process of ``job``, with ``CLUSTER_SPEC`` and ``TF_CONFIG``.

    Args:
        extra_args: appended to every pool's args (a trial's ``--name=value``).
        env: the ``AIP_*`` / ``CLOUD_ML_*`` variables of this job.
        python_path: per pool index, the staged package folders.
    """
    pools = job.pools()
    addresses = {i: [f"127.0.0.1:{_free_port()}" for _ in range(p.replicas)] for i, p in pools}
    cluster = {f"workerpool{i}": addrs for i, addrs in addresses.items()}
    tf_cluster: dict[str, list[str]] = {}
    roles: dict[tuple[int, int], tuple[str, int]] = {}
    for i, addrs in addresses.items():
        for r, addr in enumerate(addrs):
            role = TF_ROLES[min(i, 3)] if not (i == 0 and r > 0) else "worker"
            roles[(i, r)] = (role, len(tf_cluster.get(role, [])))
            tf_cluster.setdefault(role, []).append(addr)
    # Extra replicas of pool 0 come before pool 1's workers in TF's worker list.
    job_json = job.model_dump(mode="json", by_alias=True, exclude_none=True)
    replicas = []
    for i, pool in pools:
        base = dict(os.environ)
        base.update(env)
        base["PYTHONUNBUFFERED"] = "1"  # lines reach the log as they are printed
        paths = list((python_path or {}).get(i, ()))
        if paths:
            old = base.get("PYTHONPATH")
            base["PYTHONPATH"] = os.pathsep.join([*paths, *([old] if old else [])])
        user_env = (
            pool.python_package_spec.env if pool.python_package_spec is not None
            else pool.container_spec.env if pool.container_spec is not None else []
        )
        for r in range(pool.replicas):
            e = dict(base)
            task: dict[str, Any] = {"type": f"workerpool{i}", "index": r}
            role, role_index = roles[(i, r)]
            tf_task: dict[str, Any] = {"type": role, "index": role_index}
            if trial_id is not None:
                task["trial"] = trial_id
                tf_task["trial"] = trial_id
            e["CLUSTER_SPEC"] = json.dumps({
                "cluster": cluster, "environment": "cloud", "task": task, "job": job_json,
            })
            e["TF_CONFIG"] = json.dumps({
                "cluster": tf_cluster, "environment": "cloud", "task": tf_task,
                "job": job_json,
            })
            for var in user_env:
                e[var.name] = var.value
            replicas.append(Replica(i, r, _argv(pool, extra_args), e))
    return replicas


_active: set[_Proc] = set()  # processes running now, for stop_all()
_active_lock = threading.Lock()


def stop_all() -> None:
    """Stop every job process this process started that still runs (on Ctrl-C).

    They run in their own sessions (so a timeout can end a whole process
    group), which also keeps a terminal's Ctrl-C from reaching them.
    """
    with _active_lock:
        procs = list(_active)
    _stop(procs)


class _Proc:
    def __init__(self, replica: Replica, cwd: Path) -> None:
        self.replica = replica
        self.tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
        self.popen = subprocess.Popen(
            replica.argv, env=replica.env, cwd=str(cwd), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )
        self.threads: list[threading.Thread] = []

    def signal(self, sig: int) -> None:
        try:
            os.killpg(self.popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _pump(
    stream: IO[bytes], proc: _Proc, level: str, log: LogFn, sink: IO[str], lock: threading.Lock
) -> None:
    prefix = f"[{proc.replica.name}] "
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if level == "warning":
            proc.tail.append(line)
        with lock:
            sink.write(f"{prefix}{'stderr' if level == 'warning' else 'stdout'}: {line}\n")
            sink.flush()
        try:
            log(level, prefix + line)
        except Exception:  # a logging failure must not stop the pipe (the process would block)
            pass
    stream.close()


def run_replicas(
    replicas: Sequence[Replica],
    *,
    timeout_s: float | None,
    log: LogFn,
    log_file: Path,
    cwd: Path,
) -> JobOutcome:
    """Run ``replicas`` together until all exit, one fails, or ``timeout_s`` passes.

    Args:
        timeout_s: ``scheduling.timeout`` in seconds (None: no limit).
        log: called with ``("info", line)`` for stdout and ``("warning", line)``
            for stderr, prefixed with the replica's name.
        log_file: where every line is also written.
        cwd: the processes' working directory.
    """
    started = time.monotonic()
    lock = threading.Lock()
    log_file.parent.mkdir(parents=True, exist_ok=True)
    procs: list[_Proc] = []
    with open(log_file, "a", encoding="utf-8") as sink:
        try:
            for replica in replicas:
                try:
                    proc = _Proc(replica, cwd)
                except OSError as exc:
                    for p in procs:
                        p.signal(signal.SIGKILL)
                    raise _StartError(replica, exc) from exc
                procs.append(proc)
                with _active_lock:
                    _active.add(proc)
                for stream, level in ((proc.popen.stdout, "info"), (proc.popen.stderr, "warning")):
                    assert stream is not None
                    t = threading.Thread(
                        target=_pump, args=(stream, proc, level, log, sink, lock), daemon=True,
                        name=f"vt-pipe-{replica.name}-{level}",
                    )
                    t.start()
                    proc.threads.append(t)
        except _StartError as exc:
            return JobOutcome(False, str(exc), {}, False, time.monotonic() - started)
        deadline = None if timeout_s is None else started + timeout_s
        timed_out = False
        failed: _Proc | None = None
        try:
            while True:
                running = [p for p in procs if p.popen.poll() is None]
                failed = next((p for p in procs if p.popen.returncode not in (None, 0)), None)
                if not running or failed is not None:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    timed_out = True
                    break
                time.sleep(0.02)
        except BaseException:
            _stop(procs)
            with _active_lock:
                _active.difference_update(procs)
            raise
        if timed_out or failed is not None:
            _stop(procs)
        for p in procs:
            for t in p.threads:
                t.join(timeout=10)
        with _active_lock:
            _active.difference_update(procs)
    duration = time.monotonic() - started
    codes = {p.replica.name: p.popen.returncode for p in procs}
    if timed_out:
        assert timeout_s is not None
        tail = [line for p in procs for line in p.tail][-STDERR_TAIL:]
        return JobOutcome(
            False,
            f"the job exceeded scheduling.timeout ({timeout_s:g}s) and was stopped",
            codes, True, duration, tail,
        )
    if failed is not None:
        code = failed.popen.returncode
        how = f"was killed by signal {-code}" if code is not None and code < 0 else (
            f"exited with code {code}"
        )
        tail = list(failed.tail)
        message = f"replica {failed.replica.name} ({' '.join(failed.replica.argv[:4])}) {how}"
        if tail:
            message += "; last lines of stderr:\n" + "\n".join(tail[-10:])
        return JobOutcome(False, message, codes, False, duration, tail)
    return JobOutcome(True, None, codes, False, duration)


class _StartError(Exception):
    def __init__(self, replica: Replica, exc: OSError) -> None:
        super().__init__(f"replica {replica.name} could not start {replica.argv[0]!r}: {exc}")


def _stop(procs: Sequence[_Proc]) -> None:
    alive = [p for p in procs if p.popen.poll() is None]
    for p in alive:
        p.signal(signal.SIGTERM)
    deadline = time.monotonic() + KILL_GRACE_S
    for p in alive:
        try:
            p.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.signal(signal.SIGKILL)
            p.popen.wait()
    for p in procs:  # children the replica left behind in its group
        p.signal(signal.SIGKILL)


def _extract_tar(archive: Path, dest: Path, field_path: str) -> None:
    """Unpack an sdist, refusing members that would land outside ``dest``.

    Python's ``filter="data"`` does this where it exists (3.11.4+, and the
    security releases of older versions); Debian 12's Python 3.11.2 lacks it,
    so the same rules are applied by hand there: no absolute paths, no
    ``..``, no links out of the folder, no devices.
    """
    with tarfile.open(archive) as t:
        if hasattr(tarfile, "data_filter"):
            try:
                t.extractall(dest, filter="data")
            except tarfile.FilterError as exc:
                raise InvalidArgumentError(
                    f"{field_path}: {archive.name} has a member outside its folder: {exc}"
                ) from None
            return
        root = dest.resolve()
        members = []
        for m in t.getmembers():
            target = (root / m.name).resolve()
            link_ok = True
            if m.issym() or m.islnk():
                link_ok = (target.parent / m.linkname).resolve().is_relative_to(root)
            if (
                m.name.startswith(("/", "\\")) or not target.is_relative_to(root)
                or not link_ok or m.isdev()
            ):
                raise InvalidArgumentError(
                    f"{field_path}: {archive.name} has a member outside its folder: {m.name!r}"
                )
            members.append(m)
        t.extractall(dest, members=members)  # every member checked above
