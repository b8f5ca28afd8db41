"""Summary statistics shared by the eval suites."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np


def mean_se(values: Iterable[float]) -> dict[str, float | int | None]:
    """``{"mean", "se", "n"}`` of ``values``: se = std(ddof=1) / sqrt(n).

    ``se`` is None below two values and ``mean`` None for none, so results stay valid JSON
    (NaN is not) and a card prints the mean alone.
    """
    x = np.asarray(list(values), dtype=np.float64)
    if x.size == 0:
        return {"mean": None, "se": None, "n": 0}
    se = float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else None
    return {"mean": float(x.mean()), "se": se, "n": int(x.size)}
