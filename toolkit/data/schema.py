"""Feature declarations and the numpy <-> Arrow conversion used by every shard.

A :class:`Feature` names one column, its dtype and its per-row shape. Vector
features are stored as Arrow ``fixed_size_list`` columns, which ``datasets``
reads as ``List(Value(dtype), length=n)`` and which convert to numpy without
copying. Step features flagged ``terminal_null`` (action, reward, ...) are
null on the final observation row of each episode, which has no action.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

_ARROW_TYPES = {
    "bool": pa.bool_(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "uint32": pa.uint32(),
    "float16": pa.float16(),
    "float32": pa.float32(),
    "float64": pa.float64(),
}


@dataclass(frozen=True)
class Feature:
    """One column of a shard.

    Attributes:
        name: column name (no dots, so it is also a valid WebDataset key).
        dtype: numpy dtype name, one of bool/int32/int64/uint32/float16/float32/float64.
        shape: per-row shape; ``()`` for scalars, ``(n,)`` for vectors.
        description: one line for the dataset card and docs/format.md.
        terminal_null: null on the last row of an episode (the row without an action).
        stats: whether the manifest keeps mergeable statistics for it.
    """

    name: str
    dtype: str
    shape: tuple[int, ...] = ()
    description: str = ""
    terminal_null: bool = False
    stats: bool = field(default=True)

    def __post_init__(self) -> None:
        if self.dtype not in _ARROW_TYPES:
            raise ValueError(f"feature {self.name!r}: unsupported dtype {self.dtype!r}")
        if len(self.shape) > 1:
            raise ValueError(f"feature {self.name!r}: only scalars and vectors are supported")

    @property
    def arrow_type(self) -> pa.DataType:
        """The Arrow type this feature is stored as."""
        base = _ARROW_TYPES[self.dtype]
        return pa.list_(base, self.shape[0]) if self.shape else base

    def describe(self) -> dict[str, object]:
        """JSON-friendly description stored in the manifest."""
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape),
                "description": self.description, "terminal_null": self.terminal_null}


def arrow_schema(features: list[Feature]) -> pa.Schema:
    """Arrow schema for a list of features (no metadata, so bytes stay deterministic)."""
    return pa.schema([pa.field(f.name, f.arrow_type, nullable=True) for f in features])


def to_arrow(feature: Feature, values: np.ndarray, null_mask: np.ndarray | None = None) -> pa.Array:
    """Convert a numpy column (``[rows, *shape]``) to an Arrow array."""
    arr = np.ascontiguousarray(values, dtype=np.dtype(feature.dtype))
    expected = tuple(feature.shape)
    if arr.shape[1:] != expected:
        raise ValueError(f"feature {feature.name!r}: expected rows of shape {expected}, got {arr.shape[1:]}")
    mask = pa.array(null_mask, type=pa.bool_()) if null_mask is not None and null_mask.any() else None
    if not feature.shape:
        return pa.array(arr, type=feature.arrow_type, mask=null_mask if mask is not None else None)
    flat = pa.array(arr.reshape(-1), type=_ARROW_TYPES[feature.dtype])
    return pa.FixedSizeListArray.from_arrays(flat, feature.shape[0], mask=mask)


def table_from_numpy(features: list[Feature], columns: dict[str, np.ndarray],
                     terminal_mask: np.ndarray | None = None) -> pa.Table:
    """Build a table from numpy columns; ``terminal_mask`` marks rows where
    ``terminal_null`` features are null."""
    arrays = []
    for feature in features:
        mask = terminal_mask if feature.terminal_null else None
        arrays.append(to_arrow(feature, columns[feature.name], mask))
    return pa.Table.from_arrays(arrays, schema=arrow_schema(features))


def column_numpy(table: pa.Table, feature: Feature) -> np.ndarray:
    """A column as numpy ``[rows, *shape]``; nulls become NaN (floats) or False/0.

    Zero-copy where Arrow allows it (single chunk, fixed-size list of a
    primitive type with no nulls).
    """
    column = table.column(feature.name)
    chunk = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    dtype = np.dtype(feature.dtype)
    if feature.shape:
        flat = chunk.values.slice(chunk.offset * feature.shape[0], len(chunk) * feature.shape[0])
        out = flat.to_numpy(zero_copy_only=False).reshape(len(chunk), feature.shape[0])
        if chunk.null_count and dtype.kind == "f":
            out = out.astype(dtype, copy=True)
            out[np.asarray(chunk.is_null())] = np.nan
        return out.astype(dtype, copy=False)
    if chunk.null_count:
        if dtype.kind == "f":
            return chunk.to_numpy(zero_copy_only=False).astype(dtype)
        return chunk.fill_null(False if dtype.kind == "b" else 0).to_numpy(zero_copy_only=False).astype(dtype)
    return chunk.to_numpy(zero_copy_only=False).astype(dtype, copy=False)
