"""Feature declarations and the numpy <-> Arrow conversion used by every shard.

A :class:`Feature` names one column, its dtype and its per-row shape. Vector
features are stored as Arrow ``fixed_size_list`` columns, which ``datasets``
reads as ``List(Value(dtype), length=n)`` and which convert to numpy without
copying.

Step features flagged ``terminal_null`` (action, reward, is_random_action) have no
value on the final observation row of each episode (``is_last``), which has no
action. Format 2 stores the fill value there (zeros, ``False``), so every column is
dense and batches with plain tools; format 1 stored Arrow nulls. Both read the same:
:func:`column_numpy` returns the fill value for a format-1 null.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

#: the boolean column marking each episode's last row, where ``terminal_null`` features have no value
TERMINAL_MASK_COLUMN = "is_last"

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
        terminal_null: has no value on the last row of an episode (the row without an action,
            ``is_last``): stored as :func:`fill_value` in format 2, as an Arrow null in format 1.
            The name is the manifest's key, kept from format 1.
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


def fill_value(feature: Feature) -> np.generic:
    """The value a ``terminal_null`` feature holds on an episode's last row (format 2): zero of its dtype
    (``False`` for bool); a vector holds it in every component.

    Example:
        >>> fill_value(Feature("reward", "float32", terminal_null=True))
        np.float32(0.0)
    """
    return np.zeros((), dtype=np.dtype(feature.dtype))[()]


def to_arrow(feature: Feature, values: np.ndarray, null_mask: np.ndarray | None = None) -> pa.Array:
    """Convert a numpy column (``[rows, *shape]``) to an Arrow array; rows where ``null_mask`` is true
    become Arrow nulls."""
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
                     terminal_mask: np.ndarray | None = None, *, terminal_nulls: bool = False) -> pa.Table:
    """Build a table from numpy columns.

    Args:
        features: the columns, in order.
        columns: name -> ``[rows, *shape]`` values.
        terminal_mask: ``[rows]`` bool, the rows where ``terminal_null`` features have no value (each
            episode's last row); whatever ``columns`` hold there is replaced.
        terminal_nulls: store those cells as Arrow nulls (format 1) instead of :func:`fill_value`
            (format 2).

    Returns:
        The table, with :func:`arrow_schema`'s schema (the same for both formats).

    Example:
        >>> f = [Feature("reward", "float32", terminal_null=True)]
        >>> table_from_numpy(f, {"reward": np.array([1.0, np.nan])}, np.array([False, True])).to_pydict()
        {'reward': [1.0, 0.0]}
    """
    arrays = []
    for feature in features:
        values, mask = columns[feature.name], None
        if feature.terminal_null and terminal_mask is not None:
            terminal = np.asarray(terminal_mask, dtype=bool)
            if terminal_nulls:
                mask = terminal
            else:
                values = np.array(values, dtype=np.dtype(feature.dtype), copy=True)
                values[terminal] = fill_value(feature)
        arrays.append(to_arrow(feature, values, mask))
    return pa.Table.from_arrays(arrays, schema=arrow_schema(features))


def valued_rows(table: pa.Table) -> np.ndarray:
    """``[rows]`` bool: the rows whose ``terminal_null`` features hold a real value (every row but each
    episode's last, read from :data:`TERMINAL_MASK_COLUMN`).

    Args:
        table: a step table with an ``is_last`` column.

    Returns:
        The mask (True: a transition's row).

    Raises:
        KeyError: the table has no ``is_last`` column.

    Example:
        >>> valued_rows(pa.table({"is_last": [False, False, True]})).tolist()
        [True, True, False]
    """
    return ~column_numpy(table, Feature(TERMINAL_MASK_COLUMN, "bool"))


def terminal_cells_problem(table: pa.Table, terminal: list[str], nulls: bool) -> str | None:
    """Whether a step table stores the last rows' cells of ``terminal`` columns as its format does: Arrow
    nulls on exactly the ``is_last`` rows (format 1, ``nulls``), or no null at all (format 2).

    Args:
        table: a step shard's rows (with the ``terminal`` columns and, for ``nulls``, ``is_last``).
        terminal: the names of its ``terminal_null`` columns.
        nulls: the format stores those cells as nulls.

    Returns:
        One line naming the columns that differ, or None.

    Example:
        >>> terminal_cells_problem(pa.table({"reward": pa.array([1.0, None])}), ["reward"], nulls=False)
        'holds nulls in reward (1 of 2 rows); its format stores none'
    """
    if not terminal:
        return None
    if nulls:
        wanted = int(np.count_nonzero(~valued_rows(table)))
        wrong = [name for name in terminal if table.column(name).null_count != wanted]
        if wrong:
            return f"does not hold nulls on exactly its last rows in {', '.join(wrong)}; its format stores them there"
        return None
    wrong = [f"{name} ({table.column(name).null_count} of {table.num_rows} rows)"
             for name in terminal if table.column(name).null_count]
    return f"holds nulls in {', '.join(wrong)}; its format stores none" if wrong else None


def column_numpy(table: pa.Table, feature: Feature) -> np.ndarray:
    """A column as numpy ``[rows, *shape]``, nulls (format 1's terminal cells) read as :func:`fill_value`,
    so both formats give the same arrays.

    Zero-copy where Arrow allows it (single chunk, fixed-size list of a
    primitive type with no nulls).

    Example:
        >>> column_numpy(pa.table({"reward": pa.array([1.0, None], pa.float32())}),
        ...              Feature("reward", "float32")).tolist()
        [1.0, 0.0]
    """
    column = table.column(feature.name)
    chunk = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    dtype = np.dtype(feature.dtype)
    if feature.shape:
        flat = chunk.values.slice(chunk.offset * feature.shape[0], len(chunk) * feature.shape[0])
        if chunk.null_count or flat.null_count:
            flat = flat.fill_null(fill_value(feature).item())
        out = flat.to_numpy(zero_copy_only=False).reshape(len(chunk), feature.shape[0])
        if chunk.null_count:
            out = out.astype(dtype, copy=True)
            out[np.asarray(chunk.is_null())] = fill_value(feature)
        return out.astype(dtype, copy=False)
    if chunk.null_count:
        chunk = chunk.fill_null(fill_value(feature).item())
    return chunk.to_numpy(zero_copy_only=False).astype(dtype, copy=False)
