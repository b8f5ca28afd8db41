"""Mergeable per-feature statistics (count, sum, sum of squares, min, max).

Each shard stores these per numeric feature and per dimension, so dataset-wide
mean / std / range stay exact when shards are appended: merging is a sum of
counts and sums (``math.fsum``, so the result does not depend on rounding
order) and a min / max of the extremes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from pydantic import BaseModel, ConfigDict


class FeatureStats(BaseModel):
    """Statistics of one numeric feature; lists hold one value per dimension."""

    model_config = ConfigDict(extra="forbid")

    count: int
    sum: list[float]
    sum_sq: list[float]
    min: list[float]
    max: list[float]

    @classmethod
    def from_array(cls, values: np.ndarray) -> FeatureStats:
        """Statistics of ``values`` shaped ``[rows]`` or ``[rows, dim]`` (NaN rows skipped).

        Sums run in float64 over a C-contiguous ``[rows, dim]`` array, row by row; the NaN rows are
        found on the input's own dtype and copied out only when there are some, and the squares reuse
        the float64 copy when there is one (the same values, in less time and memory).
        """
        src = np.asarray(values)
        arr = np.asarray(src, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr[:, None]
        arr = arr.reshape(arr.shape[0], -1)
        missing = np.isnan(src.reshape(src.shape[0], -1)).any(axis=1) if src.dtype.kind == "f" else None
        if missing is not None and missing.any():
            arr = arr[~missing]
        elif not arr.flags.c_contiguous:
            arr = np.ascontiguousarray(arr)
        if arr.shape[0] == 0:
            raise ValueError("statistics need at least one non-missing row")
        total, low, high = arr.sum(axis=0), arr.min(axis=0), arr.max(axis=0)
        squares = np.square(arr, out=arr) if not np.may_share_memory(arr, src) else np.square(arr)
        return cls(
            count=int(arr.shape[0]),
            sum=[float(v) for v in total],
            sum_sq=[float(v) for v in squares.sum(axis=0)],
            min=[float(v) for v in low],
            max=[float(v) for v in high],
        )

    @classmethod
    def merge(cls, parts: Iterable[FeatureStats]) -> FeatureStats:
        """Exact merge of several shards' statistics."""
        items = list(parts)
        if not items:
            raise ValueError("cannot merge an empty list of statistics")
        dims = len(items[0].sum)
        return cls(
            count=sum(p.count for p in items),
            sum=[math.fsum(p.sum[d] for p in items) for d in range(dims)],
            sum_sq=[math.fsum(p.sum_sq[d] for p in items) for d in range(dims)],
            min=[min(p.min[d] for p in items) for d in range(dims)],
            max=[max(p.max[d] for p in items) for d in range(dims)],
        )

    @property
    def mean(self) -> np.ndarray:
        """Per-dimension mean."""
        return np.asarray(self.sum) / max(self.count, 1)

    @property
    def std(self) -> np.ndarray:
        """Per-dimension population standard deviation."""
        mean = self.mean
        var = np.asarray(self.sum_sq) / max(self.count, 1) - mean * mean
        return np.sqrt(np.maximum(var, 0.0))
