"""Latent dynamics f(z, a) → z' = z + Δz: the seeds' residual MLP and ResBlock models.

Both work in normalised latent units: :meth:`DynamicsModel.step_normalized`
maps ``(z_n, a)`` to ``z_n + Δ(z_n, a)``; :meth:`forward` wraps it in raw units.
Parameter counts at z = 1024, a = 2: ``MLPDynamics`` 1,579,520 (the architecture
as specified; the seeds quote "~1.2M"), ``ResBlockDynamics`` 10,516,480.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from wmhub.models.base import LatentModel, mlp


class DynamicsModel(LatentModel):
    """Shared residual-step logic; subclasses define :meth:`delta`."""

    def delta(self, zn: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Δz in normalised units."""
        raise NotImplementedError

    def step_normalized(self, zn: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return zn + self.delta(zn, a)

    def forward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Predict z_{t+1} from z_t and a_t, in the dataset's raw latent units."""
        return self.denormalize(self.step_normalized(self.normalize(z), a))

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Open-loop predictions ``[B, H, D]`` from ``z0 [B, D]`` and ``actions [B, H, A]``."""
        zn, out = self.normalize(z0), []
        for k in range(actions.shape[1]):
            zn = self.step_normalized(zn, actions[:, k])
            out.append(zn)
        return self.denormalize(torch.stack(out, dim=-2))


class MLPDynamics(DynamicsModel):
    """concat(z, a) → num_layers × [Linear hidden, LayerNorm, ReLU] → Linear → Δz."""

    def __init__(self, latent_dim: int, action_dim: int, hidden_dim: int = 512, num_layers: int = 3,
                 latent: dict[str, Any] | None = None) -> None:
        super().__init__(latent_dim, action_dim, latent)
        self.body = mlp([latent_dim + action_dim] + [hidden_dim] * num_layers)
        self.head = nn.Linear(hidden_dim, latent_dim)

    def delta(self, zn: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(torch.cat([zn, a], dim=-1)))


class ResBlock(nn.Module):
    """x + LN(Linear(Dropout(ReLU(LN(Linear(x))))))."""

    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, dim), nn.LayerNorm(dim), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(dim, dim), nn.LayerNorm(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class ResBlockDynamics(DynamicsModel):
    """Linear(→hidden) + LN + ReLU, ``num_blocks`` residual blocks with dropout, Linear → Δz."""

    def __init__(self, latent_dim: int, action_dim: int, hidden_dim: int = 1024, num_blocks: int = 4,
                 dropout: float = 0.1, latent: dict[str, Any] | None = None) -> None:
        super().__init__(latent_dim, action_dim, latent)
        self.stem = mlp([latent_dim + action_dim, hidden_dim])
        self.blocks = nn.Sequential(*[ResBlock(hidden_dim, dropout) for _ in range(num_blocks)])
        self.head = nn.Linear(hidden_dim, latent_dim)

    def delta(self, zn: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(torch.cat([zn, a], dim=-1))))
