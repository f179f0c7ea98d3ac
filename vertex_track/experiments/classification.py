"""Classification metrics: a ``google.ClassificationMetrics`` Artifact per call.

The Artifact's metadata has the layout Vertex AI writes for that schema::

    {"confusionMatrix": {"annotationSpecs": [{"displayName": "cat"}, ...],
                         "rows": [[9, 1], [1, 9]]},
     "confidenceMetrics": [{"confidenceThreshold": 0.9, "falsePositiveRate": 0.1,
                            "recall": 0.1}, ...]}

JSON has no infinity, yet ``sklearn.metrics.roc_curve`` returns ``inf`` as its
first threshold; non-finite numbers are therefore stored as the strings
``"Infinity"``, ``"-Infinity"`` and ``"NaN"`` and turned back into floats by
:func:`from_metadata`.
"""

from __future__ import annotations

import math
from typing import Any

from ..resources import Artifact

SCHEMA = "google.ClassificationMetrics"
_NON_FINITE = {"Infinity": math.inf, "-Infinity": -math.inf, "NaN": math.nan}


def _as_list(value: Any, what: str) -> list[Any] | None:
    if value is None:
        return None
    if hasattr(value, "tolist"):  # numpy arrays, pandas series
        value = value.tolist()
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{what} must be a list, got {type(value).__name__}")
    return list(value)


def _number(value: Any, what: str) -> float | int | str:
    if hasattr(value, "item") and type(value).__module__ == "numpy":
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must hold numbers, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def to_metadata(
    labels: Any = None,
    matrix: Any = None,
    fpr: Any = None,
    tpr: Any = None,
    threshold: Any = None,
) -> dict[str, Any]:
    """Validate the arguments of ``log_classification_metrics`` and build the metadata.

    Raises:
        ValueError: ``labels`` and ``matrix`` are not set together, or differ in
            length (or a matrix row is not ``len(labels)`` long); ``fpr``,
            ``tpr`` and ``threshold`` are not set together, or differ in length;
            nothing at all is given.
        TypeError: a label is not a string, or a value is not a number.
    """
    labels_l = _as_list(labels, "labels")
    matrix_l = _as_list(matrix, "matrix")
    fpr_l, tpr_l, thr_l = (
        _as_list(fpr, "fpr"), _as_list(tpr, "tpr"), _as_list(threshold, "threshold")
    )
    if (labels_l is None) != (matrix_l is None):
        raise ValueError("labels and matrix must be set together")
    roc = (fpr_l, tpr_l, thr_l)
    if any(x is not None for x in roc) and not all(x is not None for x in roc):
        raise ValueError("fpr, tpr, and threshold must be set together")
    if labels_l is None and fpr_l is None:
        raise ValueError(
            "nothing to log: give labels and matrix (a confusion matrix), and/or fpr, tpr "
            "and threshold (a ROC curve)"
        )
    metadata: dict[str, Any] = {}
    if labels_l is not None and matrix_l is not None:
        if len(matrix_l) != len(labels_l):
            raise ValueError(
                "Length of labels and matrix must be the same. Got lengths "
                f"{len(labels_l)} and {len(matrix_l)} respectively."
            )
        for label in labels_l:
            if not isinstance(label, str):
                raise TypeError(f"labels must be strings, got {label!r}")
        rows = []
        for i, row in enumerate(matrix_l):
            row_l = _as_list(row, f"matrix[{i}]") or []
            if len(row_l) != len(labels_l):
                raise ValueError(
                    f"matrix must be square with one row and one column per label: row {i} "
                    f"has {len(row_l)} values for {len(labels_l)} labels"
                )
            rows.append([_number(x, "matrix") for x in row_l])
        metadata["confusionMatrix"] = {
            "annotationSpecs": [{"displayName": label} for label in labels_l],
            "rows": rows,
        }
    if fpr_l is not None and tpr_l is not None and thr_l is not None:
        if not len(fpr_l) == len(tpr_l) == len(thr_l):
            raise ValueError(
                "Length of fpr, tpr and threshold must be the same. Got lengths "
                f"{len(fpr_l)}, {len(tpr_l)} and {len(thr_l)} respectively."
            )
        metadata["confidenceMetrics"] = [
            {
                "confidenceThreshold": _number(c, "threshold"),
                "falsePositiveRate": _number(f, "fpr"),
                "recall": _number(r, "tpr"),
            }
            for c, f, r in zip(thr_l, fpr_l, tpr_l, strict=True)
        ]
    return metadata


def _float(value: Any) -> Any:
    return _NON_FINITE.get(value, value) if isinstance(value, str) else value


def from_metadata(artifact: Artifact) -> dict[str, Any]:
    """The dict ``get_classification_metrics`` returns for one Artifact (the layout Vertex AI Experiments writes)."""
    metadata = artifact.metadata
    out: dict[str, Any] = {"id": artifact.resource_id, "display_name": artifact.display_name}
    cm = metadata.get("confusionMatrix")
    if isinstance(cm, dict):
        out["labels"] = [spec.get("displayName") for spec in cm.get("annotationSpecs", [])]
        out["matrix"] = [[_float(x) for x in row] for row in cm.get("rows", [])]
    points = metadata.get("confidenceMetrics")
    if isinstance(points, list):
        out["fpr"] = [_float(p.get("falsePositiveRate")) for p in points]
        out["tpr"] = [_float(p.get("recall")) for p in points]
        out["thresholds"] = [_float(p.get("confidenceThreshold")) for p in points]
    return out
