"""An ensemble of K independently initialised dynamics models: mean prediction and disagreement.

Disagreement (the std across members) is the seeds' proposed fix for model
exploitation: a planner can penalise action sequences the members disagree on.
Each member is trained on the same batches with its own loss; their different
initialisations (drawn one after the other from the seeded RNG) make them differ.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from wmhub.errors import ConfigError
from wmhub.models.base import LatentModel
from wmhub.models.dynamics import DynamicsModel, MLPDynamics, ResBlockDynamics

MEMBER_KINDS: dict[str, type[DynamicsModel]] = {"mlp_dynamics": MLPDynamics, "resblock_dynamics": ResBlockDynamics}


class Ensemble(DynamicsModel):
    """K members of one dynamics architecture; ``member = {"kind": ..., **its arguments}``."""

    def __init__(self, latent_dim: int, action_dim: int, member: dict[str, Any], num_members: int = 5,
                 latent: dict[str, Any] | None = None) -> None:
        super().__init__(latent_dim, action_dim, latent)
        params = dict(member)
        kind = params.pop("kind", None)
        if kind not in MEMBER_KINDS:
            raise ConfigError(f"ensemble member kind {kind!r} is not one of {sorted(MEMBER_KINDS)}")
        if num_members < 2:
            raise ConfigError(f"an ensemble needs at least 2 members, got num_members={num_members}")
        self.members = nn.ModuleList(MEMBER_KINDS[kind](latent_dim, action_dim, latent=latent, **params)
                                     for _ in range(num_members))

    def set_normalization(self, mean: torch.Tensor, std: torch.Tensor, min_std: float = 1e-6) -> None:
        super().set_normalization(mean, std, min_std)
        for m in self.members:
            m.set_normalization(mean, std, min_std)

    def step_normalized(self, zn: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Every member's step ``[K, B, D]``; ``zn`` is ``[B, D]`` (shared) or ``[K, B, D]`` (per member)."""
        if zn.dim() == a.dim():
            return torch.stack([m.step_normalized(zn, a) for m in self.members])
        return torch.stack([m.step_normalized(zn[k], a) for k, m in enumerate(self.members)])

    def forward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Mean prediction of the members, raw units."""
        return self.predict(z, a)[0]

    def predict(self, z: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, disagreement): mean over members and std across members, raw units."""
        preds = self.denormalize(self.step_normalized(self.normalize(z), a))
        return preds.mean(0), preds.std(0)

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Mean over members of each member's own open-loop rollout, ``[B, H, D]``."""
        zn, out = self.normalize(z0), []
        for k in range(actions.shape[1]):
            zn = self.step_normalized(zn, actions[:, k])
            out.append(zn.mean(0))
        return self.denormalize(torch.stack(out, dim=-2))


__all__ = ["Ensemble", "MEMBER_KINDS", "LatentModel"]
