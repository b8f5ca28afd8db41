"""Behaviour cloning policy π(z) → a ∈ [−1, 1]^A (279K parameters at z = 1024, A = 2)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from wmhub.models.base import LatentModel, mlp


class BCPolicy(LatentModel):
    """z_n → Linear 256, LayerNorm, ReLU → Linear 64, ReLU → Linear A → Tanh (the seeds' phase-1 policy)."""

    def __init__(self, latent_dim: int, action_dim: int, hidden_dims: tuple[int, ...] | list[int] = (256, 64),
                 latent: dict[str, Any] | None = None) -> None:
        super().__init__(latent_dim, action_dim, latent)
        dims = [latent_dim, *hidden_dims]
        first = mlp(dims[:2], layer_norm=True)
        rest = mlp(dims[1:], layer_norm=False)
        self.body = nn.Sequential(*first, *rest)
        self.head = nn.Sequential(nn.Linear(dims[-1], action_dim), nn.Tanh())

    def act_normalized(self, zn: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(zn))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Action in [−1, 1]^A from a raw latent."""
        return self.act_normalized(self.normalize(z))
