"""The ``imagination`` objective: an actor-critic trained inside frozen world models (Dreamer-style).

Each training step takes a batch of start states from the dataset's latents, rolls the actor out for
``imagination.horizon`` steps through the FROZEN dynamics model (or ensemble), scores every step with
the recipe's reward and updates both networks once:

* rewards: ``goal_distance`` −‖z' − g‖/‖g‖ (raw units; g = the mean of the ``goal_top_k``
  highest-reward next states of the training episodes, the seeds' phase 5), ``learned`` R(z, a) of a
  frozen :class:`~wmhub.models.reward.RewardModel`, or ``hybrid`` = reward_scale·R + distance_scale·(−distance)
  + action_scale·‖a‖ (phase 5b). With an ensemble the next state is the members' mean and
  ``r − uncertainty_penalty · disagreement`` penalises where they disagree (MOPO, Yu et al. 2020;
  disagreement = std across members in normalised units, averaged over dimensions, as the planners');
  ``ensemble_step: member`` steps each rollout with one member drawn at random per step instead (MBPO /
  MOPO), which the actor cannot exploit as it can one smooth average;
* critic: both heads regress TD(λ) targets (γ, λ; DreamerV3, Hafner et al. 2023) bootstrapped from a
  slow critic, an EMA of the critic at rate ``target_update`` (TD-MPC2 / DQN practice), taking the
  minimum of its two heads (clipped double estimate, TD3);
* actor: maximises the λ-returns computed with the current critic, divided by DreamerV3's return scale
  max(1, EMA of the 95th − 5th percentile), plus ``entropy_weight`` · entropy (estimated by −log π).
  ``backprop`` differentiates the returns through the frozen model (Dreamer, the seeds);
  ``likelihood_ratio`` uses REINFORCE with the critic as baseline. ``bc_weight`` > 0 adds TD3+BC's
  term (Fujimoto & Gu 2021): the return term is divided by its mean magnitude and
  bc_weight · ‖π(z) − a_data‖² pulls the deterministic action toward the data's at the start states.

Validation imagines from fixed held-out start states with the deterministic policy: its ``loss`` is
minus the mean discounted imagined reward over the horizon (penalty included), the baseline's is the
same for uniformly random actions (a fixed generator), so the figure says whether the policy beats
chance inside the model, not in the world: the planning suites measure that.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from wmhub.errors import ConfigError, DatasetMismatchError
from wmhub.fileio import sha256_file
from wmhub.models.actor_critic import ActorCritic
from wmhub.models.base import LatentModel
from wmhub.models.dynamics import DynamicsModel
from wmhub.models.ensemble import Ensemble
from wmhub.models.registry import load_named_model
from wmhub.models.reward import RewardModel
from wmhub.training.recipe import ImaginationSpec

RETURN_SCALE_DECAY = 0.99  # DreamerV3's EMA of the return percentile range


def load_frozen(source: str, expected: type[LatentModel], key: str) -> tuple[LatentModel, dict[str, Any]]:
    """A frozen model named by a recipe: a run directory, its ``model/`` directory or ``hf://<org>/<name>``.

    Args:
        source: the recipe's value.
        expected: the class the model must be (e.g. :class:`DynamicsModel`).
        key: the recipe key, for messages (``imagination.dynamics``).

    Returns:
        The model (eval mode, gradients off) and its provenance (source, class, parameters, and for a local
        checkpoint the sha256 of ``model.safetensors``).

    Raises:
        NotFoundError: ``source`` is neither a run, a model directory nor a Hub repo.
        ConfigError: it holds another kind of model.

    Example:
        >>> dynamics, info = load_frozen("runs/reacher_dynamics_mlp_1m_state", DynamicsModel,
        ...                              "imagination.dynamics")  # doctest: +SKIP
    """
    model = load_named_model(source, expected, key, "train it first (`wmhub train RECIPE`) or name a Hub model "
                             "repo hf://<org>/<name>")
    path = Path(source)
    remote = source.startswith("hf://")
    if not remote and (path / "model" / "config.json").is_file():
        path = path / "model"
    model.eval().requires_grad_(False)
    info: dict[str, Any] = {"source": source, "model_class": type(model).__name__,
                            "num_parameters": model.num_parameters}
    if not remote:
        info["model_sha256"] = sha256_file(path / "model.safetensors")
    return model, info


def goal_latent(next_latents: torch.Tensor, rewards: torch.Tensor, top_k: int) -> torch.Tensor:
    """The mean of the ``top_k`` next states with the highest rewards (ties: the earlier rows, so it is
    deterministic), raw units ``[D]``."""
    k = min(top_k, len(rewards))
    order = torch.sort(rewards.double().cpu(), descending=True, stable=True).indices[:k]
    return next_latents[order.to(next_latents.device)].double().mean(0).float()


def goal_from_batches(batches: Iterable[dict[str, torch.Tensor]], top_k: int) -> torch.Tensor:
    """:func:`goal_latent` over training windows streamed in order, holding at most ``top_k`` + one batch of
    latents (a 1M-row embedding config never sits in memory whole); the same result, ties included."""
    kept_z: torch.Tensor | None = None
    kept_r = kept_i = torch.zeros(0)
    seen = 0
    for batch in batches:
        z, r = batch["latents"][:, 1].float().cpu(), batch["rewards"][:, 0].double().cpu()
        index = torch.arange(seen, seen + len(r), dtype=torch.float64)
        seen += len(r)
        z = z if kept_z is None else torch.cat([kept_z, z])
        r, index = torch.cat([kept_r, r]), torch.cat([kept_i, index])
        by_index = torch.sort(index, stable=True).indices
        order = by_index[torch.sort(r[by_index], descending=True, stable=True).indices][:top_k]
        kept_z, kept_r, kept_i = z[order], r[order], index[order]
    if kept_z is None:
        raise ConfigError("no training windows to take the goal from; check dataset.max_episodes")
    return kept_z.double().mean(0).float()


def lambda_returns(rewards: torch.Tensor, values: torch.Tensor, gamma: float, lam: float) -> torch.Tensor:
    """TD(λ) returns ``[B, H]`` from rewards ``[B, H]`` and values ``[B, H + 1]``:
    R_t = r_t + γ((1 − λ) V_{t+1} + λ R_{t+1}), R_H = V_H."""
    ret, out = values[:, -1], []
    for t in reversed(range(rewards.shape[1])):
        ret = rewards[:, t] + gamma * ((1 - lam) * values[:, t + 1] + lam * ret)
        out.append(ret)
    return torch.stack(out[::-1], dim=1)


class Learner(nn.Module):
    """What training updates and checkpoints: the agent, its slow critic and the return scale."""

    def __init__(self, agent: ActorCritic) -> None:
        super().__init__()
        self.agent = agent
        self.target = copy.deepcopy(agent.critic).requires_grad_(False)
        self.register_buffer("return_scale", torch.ones(()))
        self.register_buffer("return_range", torch.zeros(()))

    @torch.no_grad()
    def update_target(self, rate: float) -> None:
        """slow ← (1 − rate) · slow + rate · critic."""
        for slow, fast in zip(self.target.parameters(), self.agent.critic.parameters()):
            slow.lerp_(fast, rate)


@dataclass
class Imagined:
    """One batch of imagined rollouts (raw latents ``[B, H+1, D]``, actions ``[B, H, A]``, per-step
    rewards, log-probabilities of the sampled actions, score log-probabilities and disagreement ``[B, H]``)."""

    latents: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    log_probs: torch.Tensor
    score_log_probs: torch.Tensor | None
    disagreement: torch.Tensor


class ImaginationObjective:
    """Rollouts, rewards and losses of the ``imagination`` objective (see the module docstring)."""

    def __init__(self, spec: ImaginationSpec, dynamics: DynamicsModel, reward_model: RewardModel | None,
                 goal: torch.Tensor | None, critic_loss: str = "mse") -> None:
        self.check_spec(spec, dynamics)
        self.spec, self.dynamics, self.reward_model, self.goal = spec, dynamics, reward_model, goal
        self.critic_loss = critic_loss

    @staticmethod
    def check_spec(spec: ImaginationSpec, dynamics: DynamicsModel) -> None:
        """Settings that depend on the frozen model: the uncertainty penalty needs an ensemble.

        Raises:
            ConfigError: ``uncertainty_penalty`` > 0 or ``ensemble_step: member`` with a single dynamics model.
        """
        if spec.ensemble_step == "member" and not isinstance(dynamics, Ensemble):
            raise ConfigError(f"imagination.ensemble_step member draws ensemble members, but {spec.dynamics} is a "
                              f"{type(dynamics).__name__}; name an ensemble run or set ensemble_step: mean")
        if spec.uncertainty_penalty > 0 and not isinstance(dynamics, Ensemble):
            raise ConfigError(f"imagination.uncertainty_penalty {spec.uncertainty_penalty} needs disagreement, but "
                              f"{spec.dynamics} is a {type(dynamics).__name__}; name an ensemble run "
                              "(e.g. runs/reacher_ensemble_1m_state) or set the penalty to 0")

    @staticmethod
    def check_compatible(model: LatentModel, latent_dim: int, action_dim: int, latent: dict[str, Any],
                         key: str) -> None:
        """A frozen model must read the dataset's latent and actions."""
        try:
            model.check_compatible(latent_dim, action_dim, latent, source="the dataset")
        except DatasetMismatchError as exc:
            raise DatasetMismatchError(f"{key}: {exc}") from None

    # ------------------------------------------------------------------ imagination
    def _step(self, zn: torch.Tensor, action: torch.Tensor, draw: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Next normalised latent (an ensemble's mean, or with ``ensemble_step: member`` one member's drawn
        for each row when ``draw``: training rollouts; validation stays on the mean) and the disagreement
        ``[B]``."""
        nxt = self.dynamics.step_normalized(zn, action)
        if isinstance(self.dynamics, Ensemble):
            if draw and self.spec.ensemble_step == "member":  # one member per rollout and step, torch RNG
                pick = torch.randint(nxt.shape[0], (nxt.shape[1],), device=nxt.device)
                return nxt[pick, torch.arange(nxt.shape[1], device=nxt.device)], nxt.std(0).mean(-1)
            return nxt.mean(0), nxt.std(0).mean(-1)
        return nxt, torch.zeros(nxt.shape[0], device=nxt.device)

    def reward(self, z: torch.Tensor, action: torch.Tensor, z_next: torch.Tensor) -> torch.Tensor:
        """r(z, a, z') ``[B]`` in raw units (before the uncertainty penalty)."""
        s = self.spec
        if s.reward == "learned":
            return self.reward_model(z, action)
        distance = torch.linalg.vector_norm(z_next - self.goal, dim=-1) / torch.linalg.vector_norm(self.goal)
        if s.reward == "goal_distance":
            return -distance
        return (s.reward_scale * self.reward_model(z, action) - s.distance_scale * distance
                + s.action_scale * torch.linalg.vector_norm(action, dim=-1))

    def imagine(self, agent: ActorCritic, z0: torch.Tensor, policy: str = "sample",
                generator: torch.Generator | None = None) -> Imagined:
        """Roll out from raw start latents ``z0 [B, D]``; ``policy`` is ``sample`` (training), ``mean``
        (validation) or ``random`` (uniform actions from ``generator``, the baseline)."""
        s = self.spec
        lr = s.actor_gradient == "likelihood_ratio"
        zn = self.dynamics.normalize(z0)
        latents, actions, rewards, log_probs, scores, disagreements = [z0], [], [], [], [], []
        for _ in range(s.horizon):
            z = self.dynamics.denormalize(zn)
            za = agent.normalize(z)
            if policy == "sample":
                action, log_prob = agent.sample_normalized(za.detach() if lr else za)
                if lr:
                    scores.append(agent.log_prob_normalized(za.detach(), action.detach()))
                    action = action.detach()
            elif policy == "mean":
                action, log_prob = agent.act_normalized(za), torch.zeros(z.shape[0], device=z.device)
            else:
                action = torch.rand(z.shape[0], agent.action_dim, generator=generator, device=z.device) * 2 - 1
                log_prob = torch.zeros(z.shape[0], device=z.device)
            zn, disagreement = self._step(zn, action, policy == "sample")
            z_next = self.dynamics.denormalize(zn)
            rewards.append(self.reward(z, action, z_next) - s.uncertainty_penalty * disagreement)
            latents.append(z_next)
            actions.append(action)
            log_probs.append(log_prob)
            disagreements.append(disagreement)
        return Imagined(torch.stack(latents, 1), torch.stack(actions, 1), torch.stack(rewards, 1),
                        torch.stack(log_probs, 1), torch.stack(scores, 1) if scores else None,
                        torch.stack(disagreements, 1))

    # ------------------------------------------------------------------ losses
    def losses(self, learner: Learner, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``actor_loss``, ``critic_loss`` and detached metrics for one batch of start windows
        (``latents [B, 2, D]``, ``actions [B, 1, A]``); updates the return scale (training only)."""
        s, agent = self.spec, learner.agent
        z0 = batch["latents"][:, 0].float()
        imagined = self.imagine(agent, z0, "sample")
        zn = agent.normalize(imagined.latents)
        with torch.no_grad():
            slow = learner.target(agent.inputs(zn)).min(-1).values
            targets = lambda_returns(imagined.rewards, slow, s.gamma, s.td_lambda)
        predicted = agent.values_normalized(zn[:, :-1].detach())
        wanted = targets.unsqueeze(-1).expand_as(predicted)
        critic_loss = (F.huber_loss(predicted, wanted) if self.critic_loss == "huber"
                       else F.mse_loss(predicted, wanted))
        values = agent.values_normalized(zn).min(-1).values
        returns = lambda_returns(imagined.rewards, values, s.gamma, s.td_lambda)
        with torch.no_grad():
            spread = torch.quantile(returns.detach().reshape(-1).double(), 0.95) - torch.quantile(
                returns.detach().reshape(-1).double(), 0.05)
            learner.return_range.mul_(RETURN_SCALE_DECAY).add_((1 - RETURN_SCALE_DECAY) * spread.float())
            learner.return_scale.copy_(learner.return_range.clamp_min(1.0))
        if s.actor_gradient == "backprop":
            objective = returns
        else:
            objective = imagined.score_log_probs * (returns - values[:, :-1]).detach()
        scale = objective.detach().abs().mean().clamp_min(1e-8) if s.bc_weight > 0 else learner.return_scale
        entropy = -imagined.log_probs
        actor_loss = -(objective / scale + s.entropy_weight * entropy).mean()
        bc = torch.zeros((), device=z0.device)
        if s.bc_weight > 0:
            bc = F.mse_loss(agent.act_normalized(agent.normalize(z0)), batch["actions"][:, 0])
            actor_loss = actor_loss + s.bc_weight * bc
        return {"actor_loss": actor_loss, "critic_loss": critic_loss,
                "imagined_return": returns[:, 0].detach().mean(), "reward": imagined.rewards.detach().mean(),
                "mean_abs_action": imagined.actions.detach().abs().mean(), "entropy": entropy.detach().mean(),
                "disagreement": imagined.disagreement.detach().mean(), "bc": bc.detach(),
                "return_scale": learner.return_scale.detach().clone()}

    @torch.no_grad()
    def validate(self, agent: ActorCritic, z0: torch.Tensor, seed: int) -> dict[str, float]:
        """Mean discounted imagined reward of the deterministic policy (``loss`` = its negative) and of uniform
        random actions (``baseline_loss``) from held-out raw start latents ``z0``, plus mean |action| and
        disagreement."""
        was_training = agent.training
        agent.eval()
        discount = self.spec.gamma ** torch.arange(self.spec.horizon, device=z0.device, dtype=torch.float32)
        policy = self.imagine(agent, z0, "mean")
        generator = torch.Generator(device=z0.device).manual_seed(seed)
        random = self.imagine(agent, z0, "random", generator)
        agent.train(was_training)
        return {"loss": -float((policy.rewards * discount).sum(1).mean()),
                "baseline_loss": -float((random.rewards * discount).sum(1).mean()),
                "mean_abs_action": float(policy.actions.abs().mean()),
                "disagreement": float(policy.disagreement.mean()),
                "value": float(agent.values_normalized(agent.normalize(z0)).min(-1).values.mean()),
                "samples": int(z0.shape[0])}
