"""Splitting a data set into training, validation and test sets, as ``inputDataConfig`` says.

A data set is a CSV, JSON Lines or Parquet file at any fsspec URI (the format
comes from the file name: ``.csv``, ``.jsonl``/``.json``, ``.parquet``/``.pq``).
The four split kinds of Vertex AI's ``InputDataConfig``:

- ``fractionSplit``: rows shuffled with a fixed seed (so the same request
  splits the same way), then cut by fraction (default 0.8 / 0.1 / 0.1);
- ``filterSplit``: a pandas ``DataFrame.query`` expression per set (``""`` or
  ``"-"``: the set is empty); a row may land in several sets;
- ``predefinedSplit``: a column holding ``training``, ``validation`` or ``test``
  (other values are left out);
- ``timestampSplit``: rows sorted by a timestamp column, oldest first, then
  cut by fraction (the newest rows are the test set).

Each set is written in the source's format under the output prefix; fractions
that sum to less than 1 leave the remaining rows out, as Vertex does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import fsspec

from ..exceptions import InvalidArgumentError
from .request import InputDataConfig

__all__ = ["SPLITS", "SplitResult", "data_format", "read_table", "split_table", "write_splits"]

SPLITS = ("training", "validation", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
SEED = 0
_FORMATS = {
    ".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl",
    ".parquet": "parquet", ".pq": "parquet",
}
_EXT = {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet"}


@dataclass
class SplitResult:
    """The sets written for one split: ``uris[name]`` and ``rows[name]`` per set name."""

    kind: str
    data_format: str
    uris: dict[str, str]
    rows: dict[str, int]
    source_rows: int
    parameters: dict[str, Any]


def _pandas() -> Any:
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency of the extras that use this
        raise ImportError(
            "splitting a data set needs pandas (and pyarrow for Parquet): "
            "pip install 'vertex-track[pandas]'"
        ) from None
    return pd


def data_format(uri: str) -> str:
    """``csv``, ``jsonl`` or ``parquet`` from the file name (compression suffixes ignored).

    Raises:
        InvalidArgumentError: another kind of file.
    """
    name = uri.rstrip("/").rsplit("/", 1)[-1].lower()
    for comp in (".gz", ".bz2", ".xz", ".zst"):
        if name.endswith(comp):
            name = name[: -len(comp)]
    for ext, fmt in _FORMATS.items():
        if name.endswith(ext):
            return fmt
    raise InvalidArgumentError(
        f"inputDataConfig.datasetId: the data set's uri {uri!r} is not a CSV (.csv), "
        "JSON Lines (.jsonl) or Parquet (.parquet) file"
    )


def read_table(uri: str) -> Any:
    """The data set at ``uri`` as a pandas DataFrame."""
    pd = _pandas()
    fmt = data_format(uri)
    with fsspec.open(uri, "rb", compression="infer") as f:
        if fmt == "csv":
            return pd.read_csv(f)
        if fmt == "jsonl":
            return pd.read_json(f, lines=True)
        return pd.read_parquet(f)


def _write_table(frame: Any, uri: str, fmt: str) -> None:
    # Written to a temporary name and moved into place, so a reader never sees half a file.
    fs, path = fsspec.core.url_to_fs(uri)
    parent = path.rsplit("/", 1)[0]
    fs.makedirs(parent, exist_ok=True)
    tmp = f"{parent}/.tmp-{path.rsplit('/', 1)[-1]}"
    with fs.open(tmp, "wb") as f:
        if fmt == "csv":
            f.write(frame.to_csv(index=False).encode("utf-8"))
        elif fmt == "jsonl":
            text = frame.to_json(orient="records", lines=True, date_format="iso")
            f.write(text.encode("utf-8"))
        else:
            frame.to_parquet(f, index=False)
    fs.mv(tmp, path)


def _fraction_values(split: Any) -> tuple[float, float, float]:
    values = (split.training_fraction, split.validation_fraction, split.test_fraction)
    if all(v is None for v in values):
        return DEFAULT_FRACTIONS
    return tuple(float(v or 0.0) for v in values)  # type: ignore[return-value]


def _cut(n: int, fractions: tuple[float, float, float]) -> list[tuple[int, int]]:
    bounds, start = [], 0
    cumulative = 0.0
    for f in fractions:
        cumulative += f
        end = min(n, math.floor(cumulative * n + 1e-9))
        bounds.append((start, end))
        start = end
    return bounds


def split_table(frame: Any, cfg: InputDataConfig) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``(kind, {set name: DataFrame}, parameters)`` for ``cfg``'s split (fraction by default).

    Raises:
        InvalidArgumentError: a named column is missing, a timestamp column
            cannot be parsed, or a filter expression is invalid (the message
            names the field).
    """
    pd = _pandas()
    path = "inputDataConfig"
    if cfg.filter_split is not None:
        fs = cfg.filter_split
        parts = {}
        exprs = {"training": fs.training_filter, "validation": fs.validation_filter,
                 "test": fs.test_filter}
        for name, expr in exprs.items():
            field = f"{path}.filterSplit.{name}Filter"
            if expr is None or expr.strip() in ("", "-"):
                parts[name] = frame.iloc[0:0]
                continue
            try:
                selected = frame.query(expr)
            except Exception as exc:
                raise InvalidArgumentError(
                    f"{field}: {expr!r} is not a valid pandas query on this data set "
                    f"(columns {list(frame.columns)}): {exc}"
                ) from None
            parts[name] = selected
        return "filterSplit", parts, {f"{k}Filter": v for k, v in exprs.items() if v}
    if cfg.predefined_split is not None:
        key = cfg.predefined_split.key
        if key not in frame.columns:
            raise InvalidArgumentError(
                f"{path}.predefinedSplit.key: the data set has no column {key!r} "
                f"(columns: {list(frame.columns)})"
            )
        column = frame[key].astype(str).str.strip().str.lower()
        parts = {name: frame[column == name] for name in SPLITS}
        return "predefinedSplit", parts, {"key": key}
    if cfg.timestamp_split is not None:
        ts = cfg.timestamp_split
        if ts.key not in frame.columns:
            raise InvalidArgumentError(
                f"{path}.timestampSplit.key: the data set has no column {ts.key!r} "
                f"(columns: {list(frame.columns)})"
            )
        try:
            stamps = pd.to_datetime(frame[ts.key], utc=True)
        except (ValueError, TypeError) as exc:
            raise InvalidArgumentError(
                f"{path}.timestampSplit.key: column {ts.key!r} does not hold timestamps: {exc}"
            ) from None
        order = stamps.argsort(kind="stable")
        ordered = frame.iloc[order]
        fractions = _fraction_values(ts)
        bounds = _cut(len(ordered), fractions)
        parts = {name: ordered.iloc[a:b] for name, (a, b) in zip(SPLITS, bounds)}
        return "timestampSplit", parts, {
            "key": ts.key, "trainingFraction": fractions[0],
            "validationFraction": fractions[1], "testFraction": fractions[2],
        }
    fractions = _fraction_values(cfg.fraction_split) if cfg.fraction_split else DEFAULT_FRACTIONS
    shuffled = frame.sample(frac=1.0, random_state=SEED)
    bounds = _cut(len(shuffled), fractions)
    parts = {name: shuffled.iloc[a:b] for name, (a, b) in zip(SPLITS, bounds)}
    return "fractionSplit", parts, {
        "trainingFraction": fractions[0], "validationFraction": fractions[1],
        "testFraction": fractions[2], "seed": SEED,
    }


def write_splits(source_uri: str, cfg: InputDataConfig, output_prefix: str) -> SplitResult:
    """Read the data set at ``source_uri``, split it by ``cfg`` and write the sets.

    The sets are ``{output_prefix}/{training,validation,test}.{csv,jsonl,parquet}``.
    """
    fmt = data_format(source_uri)
    frame = read_table(source_uri)
    kind, parts, params = split_table(frame, cfg)
    prefix = output_prefix.rstrip("/")
    uris, rows = {}, {}
    for name in SPLITS:
        uri = f"{prefix}/{name}.{_EXT[fmt]}"
        _write_table(parts[name], uri, fmt)
        uris[name] = uri
        rows[name] = len(parts[name])
    return SplitResult(kind, fmt, uris, rows, len(frame), params)
