"""Reading what training code reported with the ``cloudml-hypertune`` package.

``hypertune.HyperTune().report_hyperparameter_tuning_metric(tag, value,
global_step)`` (package ``cloudml-hypertune``, the way Vertex AI training
code reports a trial's metric) rewrites the file named by
``CLOUD_ML_HP_METRIC_FILE`` with its last 100 reports, one JSON object a
line::

    {"checkpoint_path": "", "global_step": "10", "timestamp": 1700000000.1,
     "trial": "3", "accuracy": "0.93"}

Values are strings. A trial's final measurement is the last value reported
for each tag. Code that writes this file itself (same format) works too.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

__all__ = ["DEFAULT_TAG", "METRIC_FILE_ENV", "read_measurements"]

METRIC_FILE_ENV = "CLOUD_ML_HP_METRIC_FILE"
DEFAULT_TAG = "training/hptuning/metric"
_BOOKKEEPING = {"timestamp", "trial", "global_step", "checkpoint_path"}


def read_measurements(path: Path) -> dict[str, float]:
    """``{tag: last value}`` of every metric reported in the file (``{}`` when none).

    Lines that are not JSON objects, and values that are not finite numbers,
    are skipped (a trial killed mid-write leaves at most a partial last line).
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        for key, raw in entry.items():
            if key in _BOOKKEEPING:
                continue
            try:
                value = float(raw)
            except (TypeError, ValueError):
                continue
            if math.isfinite(value):
                out[key] = value
    return out
