"""A policy learned in imagination: a tanh-Gaussian actor and a twin-head value critic in one checkpoint.

The seeds' phase-5 networks (DreamerV3-style, Hafner et al. 2023): the actor maps a normalised latent
through ``hidden_dims`` [Linear, LayerNorm, ReLU] layers to a mean and a log-std per action dimension;
actions are ``tanh(mean + std · ε)``, and :meth:`ActorCritic.forward` returns the deterministic
``tanh(mean)`` (what a deployed policy does, one forward pass per action). The critic is two
independent value heads V₁(z), V₂(z); targets use their minimum (clipped double estimate, as TD3 and
SAC, against the over-estimation a learned model invites).

``periodic_dims`` names latent dimensions that are angles (the reacher state latent's joint angles are
unwrapped ``qpos``, so they grow without bound while the arm turns): the networks then read their sine and
cosine instead of the normalised angle, so a policy is the same at q and q + 2π and never meets an angle
outside the data's range. The latent itself, its normalisation and every distance computed on it are
unchanged.

Parameter counts at z = 1024, A = 2 with one hidden layer of 256 (the default): actor 263,940, critic
526,338 — the seeds quote ≈ 265k and ≈ 530k. (Their description reads "z → 256 → 256 → (mean, log-std)";
two hidden layers would give 330,244 and 658,946, so the quoted counts fit one hidden layer; state
recipes use ``[256, 256]``.)
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from wmhub.errors import ConfigError
from wmhub.models.base import LatentModel, mlp


class GaussianActor(nn.Module):
    """z_n → hidden stack → (mean, log-std) per action dimension; log-std squashed into [min, max]."""

    def __init__(self, latent_dim: int, action_dim: int, hidden_dims: list[int],
                 min_log_std: float = -5.0, max_log_std: float = 1.0) -> None:
        super().__init__()
        self.body = mlp([latent_dim, *hidden_dims])
        self.head = nn.Linear(hidden_dims[-1], 2 * action_dim)
        self.min_log_std, self.max_log_std = min_log_std, max_log_std

    def forward(self, zn: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, raw = self.head(self.body(zn)).chunk(2, dim=-1)
        log_std = self.min_log_std + 0.5 * (self.max_log_std - self.min_log_std) * (torch.tanh(raw) + 1)
        return mean, log_std


class TwinCritic(nn.Module):
    """Two independent value heads z_n → hidden stack → V; returns ``[..., 2]``."""

    def __init__(self, latent_dim: int, hidden_dims: list[int]) -> None:
        super().__init__()
        self.heads = nn.ModuleList(nn.Sequential(mlp([latent_dim, *hidden_dims]), nn.Linear(hidden_dims[-1], 1))
                                   for _ in range(2))

    def forward(self, zn: torch.Tensor) -> torch.Tensor:
        return torch.cat([head(zn) for head in self.heads], dim=-1)


class ActorCritic(LatentModel):
    """The actor and the critic of a policy trained in a frozen world model (objective ``imagination``)."""

    def __init__(self, latent_dim: int, action_dim: int, actor_hidden_dims: list[int] | tuple[int, ...] = (256,),
                 critic_hidden_dims: list[int] | tuple[int, ...] = (256,), min_log_std: float = -5.0,
                 max_log_std: float = 1.0, periodic_dims: list[int] | tuple[int, ...] = (),
                 latent: dict[str, Any] | None = None) -> None:
        super().__init__(latent_dim, action_dim, latent)
        periodic = sorted(set(int(d) for d in periodic_dims))
        if any(not 0 <= d < latent_dim for d in periodic):
            raise ConfigError(f"model.periodic_dims {list(periodic_dims)} must index the latent's {latent_dim} "
                              f"dimensions (0..{latent_dim - 1}); fix model.periodic_dims")
        self.register_buffer("_periodic", torch.tensor(periodic, dtype=torch.long), persistent=False)
        self.register_buffer("_plain", torch.tensor([d for d in range(latent_dim) if d not in periodic],
                                                    dtype=torch.long), persistent=False)
        inputs = latent_dim + len(periodic)
        self.actor = GaussianActor(inputs, action_dim, list(actor_hidden_dims), min_log_std, max_log_std)
        self.critic = TwinCritic(inputs, list(critic_hidden_dims))

    def inputs(self, zn: torch.Tensor) -> torch.Tensor:
        """What the networks read from a normalised latent: itself, or with ``periodic_dims`` the other
        dimensions followed by sin and cos of each angle (recovered in raw units)."""
        if self._periodic.numel() == 0:
            return zn
        angle = self.denormalize(zn)[..., self._periodic]
        return torch.cat([zn[..., self._plain], torch.sin(angle), torch.cos(angle)], dim=-1)

    def sample_normalized(self, zn: torch.Tensor, noise: torch.Tensor | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor]:
        """(action in (−1, 1), its log-probability) from a normalised latent; reparameterised, so gradients
        reach the actor through the action. ``noise`` (standard normal, the action's shape) defaults to
        a draw from the torch RNG."""
        mean, log_std = self.actor(self.inputs(zn))
        eps = torch.randn_like(mean) if noise is None else noise
        u = mean + log_std.exp() * eps
        action = torch.tanh(u)
        log_prob = (-0.5 * eps.pow(2) - log_std - 0.5 * math.log(2 * math.pi)
                    - 2 * (math.log(2) - u - nn.functional.softplus(-2 * u))).sum(-1)  # tanh change of variables
        return action, log_prob

    def log_prob_normalized(self, zn: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Log-probability of given actions in (−1, 1) (clamped inside, for the likelihood-ratio gradient)."""
        mean, log_std = self.actor(self.inputs(zn))
        a = action.clamp(-1 + 1e-6, 1 - 1e-6)
        u = torch.atanh(a)
        eps = (u - mean) / log_std.exp()
        return (-0.5 * eps.pow(2) - log_std - 0.5 * math.log(2 * math.pi) - torch.log1p(-a.pow(2))).sum(-1)

    def act_normalized(self, zn: torch.Tensor) -> torch.Tensor:
        """The deterministic action ``tanh(mean)`` from a normalised latent."""
        return torch.tanh(self.actor(self.inputs(zn))[0])

    def values_normalized(self, zn: torch.Tensor) -> torch.Tensor:
        """Both critic heads ``[..., 2]`` from a normalised latent."""
        return self.critic(self.inputs(zn))

    def value(self, z: torch.Tensor) -> torch.Tensor:
        """V(z) = min of the two heads, from a raw latent (the learned terminal value of a plan)."""
        return self.values_normalized(self.normalize(z)).min(-1).values

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Deterministic action in [−1, 1]^A from a raw latent (one forward pass of the actor)."""
        return self.act_normalized(self.normalize(z))

    @property
    def actor_parameters(self) -> int:
        """Parameters of the actor alone (what a deployed policy runs)."""
        return sum(p.numel() for p in self.actor.parameters())
