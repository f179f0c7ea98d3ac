"""The JSON text of a tracked execution's metadata, assembled from parts encoded once.

An execution's metadata is ``{**params, "vertex_track": vt_meta}``, where
``vt_meta`` starts as ``{"task_name", "start_time", "process", ...,
"attempt"}`` when the call begins, and gains keys (``end_time``,
``duration_s``; an error, the cache's record) when it ends. Each call's
metadata is encoded twice (its RUNNING row and its end row), so the part
that begin knows is encoded once, in begin (:func:`meta_head`), with this
process's entry taken from :func:`~vertex_track.processes.process_json`
(encoded once per process: its float alone cost more to print than the rest
of the document); each row then encodes only the keys added since
(:func:`metadata_json`).

The text is exactly ``validation.json_text`` of the whole document (same
keys, same order, same checks). Whenever assembling could differ (a
parameter named ``vertex_track`` keeps its own place in the merged dict;
values that are not JSON; text that is not ASCII or is over the size limit),
the whole document is encoded by ``json_text`` instead, which also raises
the error that names the problem.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from .._json import COMPACT, NOT_JSON_ERRORS, encode_str
from ..processes import process_info, process_json
from ..validation import json_text, json_text_ok

__all__ = ["MetaHead", "meta_head", "metadata_json"]

#: The document's text as far as begin knows it, open (no closing braces), and
#: how many leading keys of ``vt_meta`` that text holds.
MetaHead = tuple[str, int]

_FIRST = ("task_name", "start_time", "process")
_END = ("duration_s", "end_time")  # the keys the end of a call adds, last first


def meta_head(params: dict[str, Any], vt_meta: dict[str, Any]) -> MetaHead | None:
    """The open JSON text of ``{**params, "vertex_track": vt_meta}`` as it is now.

    ``vt_meta`` must start with ``task_name``, ``start_time`` and this
    process's ``process`` entry (as begin makes it). None when the text cannot
    be assembled from parts; :func:`metadata_json` then encodes the whole.
    """
    if "vertex_track" in params or len(vt_meta) < 3:
        return None
    first = tuple(itertools.islice(vt_meta, 3))
    task_name, start_time, process = vt_meta["task_name"], vt_meta["start_time"], vt_meta["process"]
    if (
        first != _FIRST or type(task_name) is not str or type(start_time) is not str
        or process is not process_info()
    ):
        return None
    try:
        if params:
            head = COMPACT.encode(params)[:-1] + ',"vertex_track":{"task_name":'
        else:
            head = '{"vertex_track":{"task_name":'
        head += (
            encode_str(task_name) + ',"start_time":' + encode_str(start_time)
            + ',"process":' + process_json()
        )
        if len(vt_meta) > 3:
            rest = dict(itertools.islice(vt_meta.items(), 3, None))
            if len(rest) == 1 and type(rest.get("attempt")) is int:
                head += ',"attempt":' + int.__repr__(rest["attempt"])  # a plain call's
            else:
                head += "," + COMPACT.encode(rest)[1:-1]
    except NOT_JSON_ERRORS:
        return None
    return head, len(vt_meta)


def metadata_json(
    params: dict[str, Any], vt_meta: dict[str, Any], head: MetaHead | None
) -> str:
    """``json_text({**params, "vertex_track": vt_meta})``, from ``head`` (made by
    :func:`meta_head` from the same ``params`` and the first keys of ``vt_meta``,
    unchanged since) and the keys ``vt_meta`` gained since.

    Raises:
        InvalidArgumentError: the metadata is not valid JSON or over the size limit.
    """
    if head is not None:
        text, known = head
        added = len(vt_meta) - known
        if added == 0:
            text += "}}"
        elif (
            added == 2 and tuple(itertools.islice(reversed(vt_meta), 2)) == _END
            and type(vt_meta["end_time"]) is str and type(vt_meta["duration_s"]) is float
            and math.isfinite(vt_meta["duration_s"])
        ):  # the end of a call: ``{..., "end_time": ..., "duration_s": ...}``
            text += (
                ',"end_time":' + encode_str(vt_meta["end_time"]) + ',"duration_s":'
                + float.__repr__(vt_meta["duration_s"]) + "}}"  # as the encoder writes floats
            )
        else:
            try:
                rest = COMPACT.encode(dict(itertools.islice(vt_meta.items(), known, None)))
            except NOT_JSON_ERRORS:
                rest = ""
            text = text + "," + rest[1:] + "}" if len(rest) > 2 else ""
        if text and json_text_ok(text):
            return text
    return json_text({**params, "vertex_track": vt_meta})

