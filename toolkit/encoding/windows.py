"""Frame windows for step-wise video encoders."""

from __future__ import annotations

import numpy as np


def window_indices(step_index: np.ndarray, window: int) -> np.ndarray:
    """Row indices ``[rows, window]`` of the frames each row's window uses.

    Rows are one shard's ``steps`` rows (episodes contiguous, step 0 first).
    The window of step t is frames t−window+1 … t of its episode; indices
    before the episode start are clamped to its first frame, i.e. the first
    frame is repeated as padding.
    """
    rows = np.arange(len(step_index))
    episode_start = rows - step_index.astype(np.int64)
    offsets = np.arange(window) - (window - 1)
    return episode_start[:, None] + np.maximum(step_index.astype(np.int64)[:, None] + offsets[None, :], 0)
