"""Keep tracking's wrapper frames out of the user's tracebacks.

A tracked task or flow runs the user's function inside a wrapper. When the
function raises, the traceback Prefect logs (and the user sees) would show
the wrapper's frame between Prefect's and the user's. Each wrapper catches
the exception, drops its own frame from the head of the traceback, and
re-raises with a bare ``raise``, which (since Python 3.11) does not add the
frame back. On older Pythons the frame may remain; nothing else changes.
"""

from __future__ import annotations

from typing import Any


def drop_own_frame(exc: BaseException, wrapper: Any) -> None:
    """Remove the head of ``exc``'s traceback if it is a frame of ``wrapper``."""
    tb = exc.__traceback__
    code = getattr(wrapper, "__code__", None)
    if tb is not None and tb.tb_frame.f_code is code and tb.tb_next is not None:
        exc.__traceback__ = tb.tb_next
