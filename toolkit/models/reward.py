"""Reward model R(z, a) ∈ [0, 1] (~330K parameters at z = 1024)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from wmhub.models.base import LatentModel, mlp


class RewardModel(LatentModel):
    """concat(z_n, a) → num_layers × [Linear hidden, LayerNorm, ReLU] → Linear → sigmoid.

    :meth:`logits` is what training uses (binary cross-entropy on the logit is
    numerically stable); :meth:`forward` returns the reward in [0, 1].
    """

    def __init__(self, latent_dim: int, action_dim: int, hidden_dim: int = 256, num_layers: int = 2,
                 latent: dict[str, Any] | None = None) -> None:
        super().__init__(latent_dim, action_dim, latent)
        self.body = mlp([latent_dim + action_dim] + [hidden_dim] * num_layers)
        self.head = nn.Linear(hidden_dim, 1)

    def logits(self, zn: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid reward from a *normalised* latent, shape ``[...]``."""
        return self.head(self.body(torch.cat([zn, a], dim=-1))).squeeze(-1)

    def forward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """R(z, a) in [0, 1] from a raw latent."""
        return torch.sigmoid(self.logits(self.normalize(z), a))
