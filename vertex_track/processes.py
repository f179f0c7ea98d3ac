"""Which process recorded a RUNNING execution or pipeline run, and whether it still lives.

Tracking records ``{"host", "pid", "started"}`` (``started``: the process's
start time, seconds since the epoch) when an execution or a flow run starts,
under the ``vertex_track`` metadata key. A process that is killed (SIGKILL,
out of memory, a power cut) never records an end state, so its records stay
``RUNNING``; ``vertex-track doctor`` finds them with :func:`is_gone`: same
host, and the pid is not alive, or is alive but started at another time (the
pid was reused).
"""

from __future__ import annotations

import os
import socket
from typing import Any

from . import _json

__all__ = ["is_gone", "process_info", "process_json", "start_time"]

# Clock drift between the kernel's boot time and its tick count (seconds).
_START_TOLERANCE_S = 2.0

# This process's info and its JSON text, made on first use; a forked child
# (another process) starts over, see _after_fork_in_child.
_info: tuple[dict[str, Any], str] | None = None


def start_time(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), from ``/proc``; None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
        # Fields after the command name (which may contain spaces and parentheses).
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks = int(fields[19])  # field 22 of proc(5): starttime, in clock ticks after boot
        with open("/proc/stat", "rb") as f:
            for line in f:
                if line.startswith(b"btime "):
                    boot = int(line.split()[1])
                    break
            else:
                return None
        return round(boot + ticks / os.sysconf("SC_CLK_TCK"), 2)
    except (OSError, ValueError, IndexError):
        return None


def process_info() -> dict[str, Any]:
    """``{"host", "pid", "started"}`` of this process (computed once per process)."""
    return (_info or _make_info())[0]


def process_json() -> str:
    """:func:`process_info` as compact JSON text (encoded once per process: tracking
    splices it into every execution's metadata instead of encoding it per call)."""
    return (_info or _make_info())[1]


def _make_info() -> tuple[dict[str, Any], str]:
    global _info
    pid = os.getpid()
    info: dict[str, Any] = {"host": socket.gethostname(), "pid": pid}
    started = start_time(pid)
    if started is not None:
        info["started"] = started
    made = _info = (info, _json.COMPACT.encode(info))
    return made


def _after_fork_in_child() -> None:
    global _info
    _info = None


os.register_at_fork(after_in_child=_after_fork_in_child)


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
        return stat[stat.rindex(")") + 2 :].split()[0]
    except (OSError, ValueError, IndexError):
        return None


def is_gone(info: Any) -> str | None:
    """Why the process ``info`` describes is certainly gone, or None (alive, or unknowable).

    Only processes of this host can be checked; another host's are None.
    """
    if not isinstance(info, dict) or info.get("host") != socket.gethostname():
        return None
    pid = info.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return f"its process (pid {pid} on {info['host']}) is gone"
    except PermissionError:
        pass  # alive, another user's
    if _state(pid) in ("Z", "X"):
        return f"its process (pid {pid} on {info['host']}) has exited"
    recorded = info.get("started")
    now = start_time(pid)
    if isinstance(recorded, (int, float)) and now is not None and abs(now - recorded) > _START_TOLERANCE_S:
        return (
            f"its process (pid {pid} on {info['host']}) is gone; pid {pid} now belongs to "
            "another process"
        )
    return None
