"""``random[:DIM]``: a randomly initialised V-JEPA 2, the seeds' random-embedding baseline.

The architecture is V-JEPA 2 ViT-L (24 layers, 16 heads, patch 16, tubelet 2)
with hidden size DIM (default 1024), initialised by transformers' own
initialiser after ``torch.manual_seed(0)``; the SHA-256 of the resulting
weights is recorded, so the baseline is the same network everywhere.
"""

from __future__ import annotations

from typing import Any

import torch

from wmhub.encoders.vjepa2 import VJEPA2Encoder
from wmhub.errors import WmhubError

RANDOM_SEED = 0


class RandomVJEPA2Encoder(VJEPA2Encoder):
    """V-JEPA 2 architecture, random weights (seed 0), frozen."""

    def __init__(self, dim: int = 1024, frame_size: int = 256, device: str = "auto", dtype: str = "fp32") -> None:
        from transformers import VJEPA2Config, VJEPA2Model

        if dim <= 0 or dim % 16:
            raise WmhubError(f"random:{dim}: DIM must be a positive multiple of 16 (16 attention heads)")
        torch.manual_seed(RANDOM_SEED)
        model = VJEPA2Model(VJEPA2Config(hidden_size=dim, crop_size=frame_size, frames_per_clip=8))
        super().__init__(model_id=f"random-vjepa2-d{dim}", device=device, dtype=dtype, model=model)
        self.slug = f"random-vjepa2-d{dim}"

    def weights_identity(self) -> dict[str, Any]:
        return {"init_seed": RANDOM_SEED, "weights_sha256": self._weights_sha}

    @property
    def _weights_sha(self) -> str:
        from wmhub.encoders.base import state_dict_sha256

        return state_dict_sha256(self.model)
