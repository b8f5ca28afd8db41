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
        """Statistics of ``values`` shaped ``[rows]`` or ``[rows, dim]`` (NaN rows skipped)."""
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr[:, None]
        arr = arr.reshape(arr.shape[0], -1)
        arr = arr[~np.isnan(arr).any(axis=1)]
        if arr.shape[0] == 0:
            raise ValueError("statistics need at least one non-missing row")
        return cls(
            count=int(arr.shape[0]),
            sum=[float(v) for v in arr.sum(axis=0)],
            sum_sq=[float(v) for v in np.square(arr).sum(axis=0)],
            min=[float(v) for v in arr.min(axis=0)],
            max=[float(v) for v in arr.max(axis=0)],
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
