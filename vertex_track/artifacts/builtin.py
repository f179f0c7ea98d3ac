"""The built-in materializers (see :mod:`vertex_track.artifacts.materializers`
for the order they are tried in and the schema titles they infer).

numpy, pandas and pyarrow are imported only when a value comes from them (the
check looks at ``type(value).__module__`` first) or when their bytes are read
back, so importing this module stays cheap.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePath
from typing import Any

from .base import (
    DESCRIBED_COLUMNS,
    DirectoryMaterializer,
    Materializer,
    MaterializerDeclined,
    TreeWriter,
    installed,
    module_of,
    require,
)
from .hashing import CHUNK_SIZE, canonical_json, is_jsonable

__all__ = ["BUILTINS"]

#: ``.npy`` files at least this large are memory-mapped instead of read (below it, a
#: read costs less than setting up a mapping).
MAP_MIN_BYTES = 1 << 20


class PathFileMaterializer(Materializer):
    """A path to a file: stores the file's bytes; loads as a local Path to a copy."""

    name = "path.file"
    # Same suffix as "bytes": the same bytes are then one object.
    extension = ".bin"
    reads_path = True

    def can_handle(self, value: Any) -> bool:
        return isinstance(value, PurePath) and os.path.isfile(value)

    def write(self, value: Any, sink: Any) -> None:
        with open(value, "rb") as src:
            shutil.copyfileobj(src, sink, CHUNK_SIZE)

    def read(self, source: Any) -> Path:
        return Path(source)


class PathDirMaterializer(DirectoryMaterializer):
    """A path to a folder: stores its files; loads as a local Path to a copy."""

    name = "path.dir"

    def can_handle(self, value: Any) -> bool:
        return isinstance(value, PurePath) and os.path.isdir(value)

    def write(self, value: Any, sink: TreeWriter) -> None:
        sink.add_tree(value)

    def read(self, source: Any) -> Path:
        return Path(source)


class BytesMaterializer(Materializer):
    """bytes, bytearray and memoryview, stored as is; loads as ``bytes``."""

    name = "bytes"
    extension = ".bin"

    def can_handle(self, value: Any) -> bool:
        return isinstance(value, (bytes, bytearray, memoryview))

    def write(self, value: Any, sink: Any) -> None:
        sink.write(value)

    def read(self, source: Any) -> bytes:
        return source.read()


class NumpyMaterializer(Materializer):
    """A ``numpy.ndarray`` (or memmap) in ``.npy`` format, without pickle.

    Subclasses such as masked arrays and matrices would lose their type in
    ``.npy``, so they are left to pickle. Loads as a plain ``ndarray``.
    """

    name = "numpy"
    extension = ".npy"
    schema_title = "system.Dataset"

    def can_handle(self, value: Any) -> bool:
        if not module_of(value).startswith("numpy"):
            return False
        import numpy as np

        return type(value) in (np.ndarray, np.memmap) and not value.dtype.hasobject

    def write(self, value: Any, sink: Any) -> None:
        np = require("numpy", self.name)
        fmt = np.lib.format
        array = value
        contiguous = array.flags.c_contiguous or array.flags.f_contiguous
        if not contiguous or array.dtype.names is not None:
            # Rare layouts: numpy's own (chunked, copying) writer handles them.
            try:
                fmt.write_array(sink, array, allow_pickle=False)
            except ValueError as exc:  # e.g. a user-defined dtype
                raise MaterializerDeclined(str(exc)) from exc
            return
        header = fmt.header_data_from_array_1_0(array)
        try:
            fmt.write_array_header_1_0(sink, header)
        except ValueError:
            fmt.write_array_header_2_0(sink, header)
        # .npy stores Fortran-ordered data as the C-ordered transpose; either
        # way the bytes are a view of the array's memory: no copy.
        data = array if array.flags.c_contiguous else array.T
        try:
            raw = data.reshape(-1).view(np.uint8)
        except (TypeError, ValueError) as exc:  # e.g. StringDType
            raise MaterializerDeclined(str(exc)) from exc
        sink.write(memoryview(raw))

    def read(self, source: Any) -> Any:
        np = require("numpy", self.name)
        return np.load(source, allow_pickle=False)

    def read_local(self, path: str) -> Any:
        """A large array is memory-mapped copy-on-write, not read.

        ``mmap_mode="c"`` maps the file privately: pages are read when first
        touched (a value handed on without being looked at costs nothing), and
        writes go to private copies, never to the file. The result is a plain,
        writable ``ndarray`` (a view of the mapping). Store objects are never
        modified after they are written, so the mapping stays valid; a file
        deleted meanwhile stays readable through it (POSIX keeps its data while
        it is mapped). Small files, layouts numpy cannot map, and non-POSIX
        systems are read.
        """
        # Only where a mapped file can still be deleted (not on Windows), so a
        # mapping never blocks garbage collection of the store.
        if os.name == "posix" and os.path.getsize(path) >= MAP_MIN_BYTES:
            np = require("numpy", self.name)
            try:
                return np.asarray(np.load(path, mmap_mode="c", allow_pickle=False))
            except (ValueError, OSError):  # e.g. a dtype numpy will not map
                pass
        return super().read_local(path)

    def describe(self, value: Any) -> dict[str, Any]:
        """``shape``, ``dtype``, and ``rows`` (the first dimension) of the array."""
        shape = [int(n) for n in value.shape]
        out: dict[str, Any] = {"shape": shape, "dtype": str(value.dtype)}
        if shape:
            out["rows"] = shape[0]
        return out


class PandasParquetMaterializer(Materializer):
    """A ``pandas.DataFrame`` as parquet (through pyarrow); falls back to pickle
    when pyarrow is missing or cannot store the frame (non-string column names,
    mixed-type object columns)."""

    name = "pandas.parquet"
    extension = ".parquet"
    schema_title = "system.Dataset"

    def can_handle(self, value: Any) -> bool:
        if not module_of(value).startswith("pandas") or not installed("pyarrow"):
            return False
        import pandas as pd

        return type(value) is pd.DataFrame

    def write(self, value: Any, sink: Any) -> None:
        pa = require("pyarrow", self.name)
        try:
            value.to_parquet(sink, engine="pyarrow")
        except (ValueError, TypeError, pa.ArrowException) as exc:
            raise MaterializerDeclined(str(exc)) from exc

    def read(self, source: Any) -> Any:
        pd = require("pandas", self.name)
        require("pyarrow", self.name)
        return pd.read_parquet(source, engine="pyarrow")

    def describe(self, value: Any) -> dict[str, Any]:
        """``rows``, ``shape``, ``columns`` and ``dtypes`` (the first 100 columns)."""
        rows, cols = (int(n) for n in value.shape)
        names = [str(c) for c in value.columns[:DESCRIBED_COLUMNS]]
        dtypes = [str(d) for d in value.dtypes.iloc[:DESCRIBED_COLUMNS]]
        return {"rows": rows, "shape": [rows, cols], "columns": names,
                "dtypes": dict(zip(names, dtypes))}


class PyarrowParquetMaterializer(Materializer):
    """A ``pyarrow.Table`` as parquet."""

    name = "pyarrow.parquet"
    extension = ".parquet"
    schema_title = "system.Dataset"

    def can_handle(self, value: Any) -> bool:
        if not module_of(value).startswith("pyarrow"):
            return False
        import pyarrow as pa

        return type(value) is pa.Table

    def write(self, value: Any, sink: Any) -> None:
        pa = require("pyarrow", self.name)
        pq = require("pyarrow.parquet", self.name)
        try:
            pq.write_table(value, sink)
        except pa.ArrowException as exc:
            raise MaterializerDeclined(str(exc)) from exc

    def read(self, source: Any) -> Any:
        pq = require("pyarrow.parquet", self.name)
        return pq.read_table(source)

    def describe(self, value: Any) -> dict[str, Any]:
        """``rows``, ``shape``, ``columns`` and ``dtypes`` (the first 100 columns)."""
        names = [str(n) for n in value.schema.names[:DESCRIBED_COLUMNS]]
        dtypes = [str(value.schema.field(i).type) for i in range(len(names))]
        return {"rows": int(value.num_rows), "shape": [int(value.num_rows), value.num_columns],
                "columns": names, "dtypes": dict(zip(names, dtypes))}


class JsonMaterializer(Materializer):
    """JSON that round-trips exactly, in the canonical encoding (sorted keys)."""

    name = "json"
    extension = ".json"

    def can_handle(self, value: Any) -> bool:
        return is_jsonable(value)

    def write(self, value: Any, sink: Any) -> None:
        try:
            data = canonical_json(value)
        except (ValueError, TypeError, UnicodeEncodeError, RecursionError) as exc:
            raise MaterializerDeclined(str(exc)) from exc
        sink.write(data)

    def read(self, source: Any) -> Any:
        import json

        return json.loads(source.read().decode("utf-8"))


class PickleMaterializer(Materializer):
    """Anything else, with cloudpickle. Loading runs code: trust your store."""

    name = "pickle"
    extension = ".pkl"
    runs_code = True

    def can_handle(self, value: Any) -> bool:
        return True

    def write(self, value: Any, sink: Any) -> None:
        import cloudpickle

        cloudpickle.dump(value, sink, protocol=5)

    def read(self, source: Any) -> Any:
        import cloudpickle

        return cloudpickle.load(source)


#: In the order they are tried.
BUILTINS: tuple[Materializer, ...] = (
    PathFileMaterializer(),
    PathDirMaterializer(),
    BytesMaterializer(),
    NumpyMaterializer(),
    PandasParquetMaterializer(),
    PyarrowParquetMaterializer(),
    JsonMaterializer(),
    PickleMaterializer(),
)
