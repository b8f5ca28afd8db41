"""``state``: the low-dimensional observation itself as the latent (CPU-only pipelines)."""

from __future__ import annotations

from typing import Any

import numpy as np

from wmhub.encoders.base import Encoder


class StateEncoder(Encoder):
    """Identity on the dataset's state latent (e.g. reacher: position, to_target, velocity)."""

    slug = "state"
    storage_dtype = "float32"  # float16 would round joint angles of ±13 rad to ~0.01

    def __init__(self, features: list[str], dim: int) -> None:
        self.features = list(features)
        self.dim = dim

    def identity(self) -> dict[str, Any]:
        return {"encoder": "state", "features": self.features, "embedding_dim": self.dim,
                "dtype": self.storage_dtype, "window": 1, "pooling": "none", "preprocessing": "none"}

    def encode_states(self, states: np.ndarray) -> np.ndarray:
        return np.asarray(states, dtype=np.float32)
