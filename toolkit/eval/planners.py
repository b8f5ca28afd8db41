"""Sampling-based model-predictive control in latent space: CEM and MPPI, fully batched; and a learned policy.

Each call to :meth:`Planner.plan` chooses one action for the current latent
``z0``. Every iteration draws ``samples`` action sequences of length
``horizon``, predicts their latent trajectories with one batched forward per
horizon step (samples stacked in the batch dimension; an :class:`Ensemble`'s
members stepped in the same call, each on its own trajectory), scores them
with a cost function and refits the sampling distribution.

The cost function sees a :class:`Rollout`: the start latent ``[D]``, the
predicted latents ``[N, H, D]`` in the dataset's raw units (``latents[:, h]``
is the latent *after* action ``h``), the actions ``[N, H, A]`` and, for an
ensemble, the disagreement ``[N, H]`` (std across members in normalised units,
averaged over latent dimensions). It returns one cost per sample ``[N]``; the
planner adds ``disagreement_weight · mean_h disagreement`` itself.

>>> planner = make_planner(CEMConfig(samples=500, elites=50), action_dim=2, seed=0)
>>> model = DynamicsRollout(load_model("runs/x/model"))
>>> step = planner.plan(model, z0, cost_fn)        # step.action: numpy [A] in [-1, 1]

:class:`PolicyPlanner` (``{kind: policy}``) answers the same call with an actor's deterministic action
(one forward pass, no rollouts), so every planning suite can run a policy learned in imagination.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from wmhub.errors import WmhubError
from wmhub.eval.colored_noise import colored_noise
from wmhub.models.actor_critic import ActorCritic
from wmhub.models.bc import BCPolicy
from wmhub.models.dynamics import DynamicsModel
from wmhub.models.ensemble import Ensemble

ACTION_LOW, ACTION_HIGH = -1.0, 1.0


# --------------------------------------------------------------------------- configuration
class CEMConfig(BaseModel):
    """Cross-entropy method: refit a diagonal Gaussian to the ``elites`` cheapest samples.

    ``momentum`` blends the previous iteration's mean into the refit one
    (``mean = momentum · old + (1 − momentum) · elite mean``); ``warm_start``
    starts each environment step from the previous step's final mean shifted
    by one step (the last row repeated), with the std reset to ``init_std``.
    ``keep_elites`` (iCEM, Pinneri et al. 2020) adds that many of the last
    iteration's elites to the next iteration's samples, and the previous
    environment step's, shifted like the mean (with ``warm_start``), to the first iteration's; so a
    good sequence, once found, is not lost to sampling noise. ``policy_samples`` (TD-MPC2's policy prior,
    Hansen et al. 2024) adds that many sequences proposed by an actor-critic's actor to every iteration:
    drawn once per plan by rolling the actor through the model (the first one its deterministic action,
    the others sampled from its Gaussian with the planner's generator), so a value-guided plan starts
    from what the policy would do.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["cem"] = "cem"
    samples: int = Field(500, ge=2, description="action sequences per iteration")
    elites: int = Field(50, ge=1, description="cheapest samples the Gaussian is refitted to")
    iterations: int = Field(5, ge=1)
    horizon: int = Field(10, ge=1)
    init_std: float = Field(0.5, gt=0.0)
    min_std: float = Field(0.05, ge=0.0)
    momentum: float = Field(0.0, ge=0.0, lt=1.0)
    warm_start: bool = True
    noise_beta: float = Field(0.0, ge=0.0, description="colored noise: PSD ∝ 1/f^β over environment steps "
                              "(0 = white; iCEM uses 2-2.5)")
    keep_elites: int = Field(0, ge=0, description="elites carried into the next iteration and step (iCEM)")
    disagreement_weight: float = Field(0.0, ge=0.0, description="λ in cost += λ · mean ensemble std")
    policy_samples: int = Field(0, ge=0, description="sequences an actor proposes, rolled out through the model "
                                "and added to every iteration's samples (TD-MPC2's policy prior); needs an "
                                "actor_critic run: planner.actor, or the suite's value_model")
    actor: str | None = Field(None, description="the actor_critic run of policy_samples (default: the suite's "
                              "value_model)")

    @model_validator(mode="after")
    def _check(self) -> CEMConfig:
        if self.elites > self.samples:
            raise ValueError(f"elites ({self.elites}) must not exceed samples ({self.samples})")
        if self.keep_elites > self.elites:
            raise ValueError(f"keep_elites ({self.keep_elites}) must not exceed elites ({self.elites})")
        if self.min_std > self.init_std:
            raise ValueError(f"min_std ({self.min_std}) must not exceed init_std ({self.init_std})")
        if self.actor is not None and self.policy_samples == 0:
            raise ValueError("actor is the proposer of policy_samples; set policy_samples > 0 or drop actor")
        return self


class MPPIConfig(BaseModel):
    """Model-predictive path integral: exponentially weighted average of perturbed sequences.

    Weights are ``softmax(−(cost − min cost) / temperature)``; perturbations
    are Gaussian with std ``noise_std`` around the current mean.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["mppi"] = "mppi"
    samples: int = Field(500, ge=2)
    iterations: int = Field(5, ge=1)
    horizon: int = Field(10, ge=1)
    temperature: float = Field(0.1, gt=0.0)
    noise_std: float = Field(0.3, gt=0.0)
    warm_start: bool = True
    noise_beta: float = Field(0.0, ge=0.0, description="colored noise: PSD ∝ 1/f^β over environment steps "
                              "(0 = white; iCEM uses 2-2.5)")
    disagreement_weight: float = Field(0.0, ge=0.0, description="λ in cost += λ · mean ensemble std")


class PolicyConfig(BaseModel):
    """A learned policy instead of a sampling planner: the actor's deterministic action ``tanh(mean)`` (or a
    BC policy's action), one forward pass per action (no rollouts, no cost function).

    ``actor`` names an ``actor_critic`` or ``bc`` run (its directory, ``model/`` directory or ``hf://`` repo); by
    default the model under evaluation must be that policy.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["policy"] = "policy"
    actor: str | None = Field(None, description="the actor_critic or bc run; default: the model under evaluation")


# tagged by ``kind``, so a validation error names the chosen planner's field, not the other planner's
PlannerConfig = Annotated[CEMConfig | MPPIConfig | PolicyConfig, Field(discriminator="kind")]


# --------------------------------------------------------------------------- rollouts
@dataclass
class Rollout:
    """What a cost function scores (all tensors on the planner's device)."""

    start: torch.Tensor                     # [D] raw latent the sequences start from
    latents: torch.Tensor                   # [N, H, D] predicted raw latents after each action
    actions: torch.Tensor                   # [N, H, A] in [-1, 1]
    disagreement: torch.Tensor | None = None  # [N, H] ensemble std (normalised units), else None


CostFn = Callable[[Rollout], torch.Tensor]


@runtime_checkable
class RolloutModel(Protocol):
    """A latent model the planners can roll out (see :class:`DynamicsRollout`).

    One that plans over action blocks also has ``frame_skip`` (k): its actions
    are k environment actions each, and the suites execute them in turn.
    """

    device: torch.device
    latent_dim: int
    action_dim: int
    latent: dict[str, Any]

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        """Raw latent → the model's normalised units."""

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``z0 [D]``, ``actions [N, H, A]`` → (raw latents ``[N, H, D]``, disagreement ``[N, H]`` or None)."""

    def flops_per_step(self) -> int | None:
        """Model FLOPs for one sample and one horizon step, or None when not a neural model."""


class DynamicsRollout:
    """Wraps a :class:`DynamicsModel` (or :class:`Ensemble`) for batched planning on ``device``.

    The model is put in eval mode and moved to ``device`` (default: the
    device its parameters are on).
    """

    def __init__(self, model: DynamicsModel, device: torch.device | str | None = None) -> None:
        if not isinstance(model, DynamicsModel):
            raise WmhubError(f"planning needs a dynamics model, got {type(model).__name__}; "
                             "load the dynamics run's model/ (a reward model goes in reward_model=)")
        self.model = model.eval()
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.model.to(self.device)
        self.latent_dim = model.latent_dim
        self.action_dim, self.frame_skip = model.action_dim, model.frame_skip
        self.latent = dict(model.latent)
        self.ensemble = isinstance(model, Ensemble)

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.normalize(z)

    def flops_per_step(self) -> int:
        """≈ 2 · parameters multiply-adds per sample per step (all members of an ensemble)."""
        return 2 * self.model.num_parameters

    @torch.inference_mode()
    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        n, horizon, _ = actions.shape
        zn = self.model.normalize(z0.to(self.device, torch.float32)).expand(n, self.latent_dim)
        if self.ensemble:
            zn = zn.expand(len(self.model.members), n, self.latent_dim)
        steps = []
        for h in range(horizon):  # one batched forward per horizon step (all samples, all members)
            zn = self.model.step_normalized(zn, actions[:, h])
            steps.append(zn)
        zn_all = torch.stack(steps, dim=-2)  # [N, H, D] or [K, N, H, D]
        if not self.ensemble:
            return self.model.denormalize(zn_all), None
        latents = self.model.denormalize(zn_all).mean(0)
        disagreement = zn_all.std(0).mean(-1)
        return latents, disagreement


PolicyModel = ActorCritic | BCPolicy
POLICY_MODELS = (ActorCritic, BCPolicy)  # what planner {kind: policy} runs


class PolicyRollout:
    """A policy (:data:`PolicyModel`) where the suites expect a rollout model: its device, latent and
    normalisation (the policy planner never rolls out)."""

    def __init__(self, model: PolicyModel, device: torch.device | str | None = None) -> None:
        self.model = model.eval()
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.model.to(self.device)
        self.latent_dim, self.action_dim, self.frame_skip = model.latent_dim, model.action_dim, 1
        self.latent = dict(model.latent)

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.normalize(z)

    def flops_per_step(self) -> int:
        """≈ 2 · actor parameters per action (an actor-critic's critic is not run)."""
        if isinstance(self.model, ActorCritic):
            return 2 * self.model.actor_parameters
        return 2 * self.model.num_parameters

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        raise WmhubError(f"a {type(self.model).__name__} does not predict latents; plan with {{kind: policy}}, "
                         "or give CEM a dynamics model")


def load_policy(source: str) -> PolicyModel:
    """The policy (:class:`ActorCritic` or :class:`BCPolicy`) of a run directory, its ``model/`` directory or
    an ``hf://`` repo.

    Raises:
        WmhubError: ``source`` holds no checkpoint, or another kind of model.
    """
    from wmhub.models.registry import load_model

    path = Path(source)
    if not source.startswith("hf://") and (path / "model" / "config.json").is_file():
        path = path / "model"
    model = load_model(source if source.startswith("hf://") else path)
    if not isinstance(model, POLICY_MODELS):
        raise WmhubError(f"planner.actor: {source} holds a {type(model).__name__}, not an ActorCritic or BCPolicy; "
                         "name a run of an actor_critic or bc recipe (e.g. runs/reacher_dreamer_ensemble_1m_state)")
    return model


def as_rollout_model(model: DynamicsModel | RolloutModel, device: torch.device | str | None = None) -> RolloutModel:
    """A :class:`WorldModel` in its autoregressive ``WorldModelRollout`` (its own predictions as
    history), another :class:`DynamicsModel` in :class:`DynamicsRollout`; a :class:`RolloutModel` as is."""
    from wmhub.models.world_model import WorldModel, WorldModelRollout

    if isinstance(model, WorldModel):
        return WorldModelRollout(model, device)
    if isinstance(model, POLICY_MODELS):
        return PolicyRollout(model, device)
    if isinstance(model, DynamicsModel):
        return DynamicsRollout(model, device)
    if isinstance(model, RolloutModel):
        return model
    raise WmhubError(f"cannot plan with a {type(model).__name__}: expected a dynamics model or a RolloutModel")


# --------------------------------------------------------------------------- planners
@dataclass
class PlanStep:
    """One planning call: the action to apply and what it cost."""

    action: np.ndarray      # [A] float64 in [-1, 1]
    cost: float             # predicted cost of the cheapest sample of the last iteration
    wall_time_s: float      # time of the whole call (device synchronised)
    model_evaluations: int  # sequences scored × horizon (samples × horizon × iterations, plus kept elites)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Planner(ABC):
    """Shared warm-start state, sampling and cost evaluation of CEM and MPPI."""

    def __init__(self, config: PlannerConfig, action_dim: int, seed: int = 0,
                 device: torch.device | str = "cpu", frame_skip: int = 1) -> None:
        if frame_skip < 1 or action_dim % frame_skip:
            raise WmhubError(f"frame_skip {frame_skip} must be >= 1 and divide the action dim {action_dim}")
        self.config = config
        self.action_dim, self.frame_skip = action_dim, frame_skip
        self.device = torch.device(device)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)
        self._mean: torch.Tensor | None = None
        self._kept: torch.Tensor | None = None   # elites carried over (CEM keep_elites), shifted at each step
        self._evaluations = 0
        self.wall_times: list[float] = []
        self.mean_abs_actions: list[float] = []  # mean |a| of each planned action (the exploitation signature)

    @property
    def sequence(self) -> torch.Tensor | None:
        """The final mean action sequence ``[H, A]`` of the last plan (None before the first plan)."""
        return self._mean

    def reset(self) -> None:
        """Forget the warm-start mean (call at the start of each episode)."""
        self._mean = self._kept = None

    def _initial_mean(self, executed: int) -> torch.Tensor:
        """Zeros, or (warm start) the previous final mean advanced by the ``executed`` environment steps:
        one model step when a whole block (or a single action) was executed, less inside a block."""
        if self._mean is None or not self.config.warm_start:
            return torch.zeros(self.config.horizon, self.action_dim, device=self.device)
        return self._shift(self._mean, executed)

    def _shift(self, sequences: torch.Tensor, executed: int) -> torch.Tensor:
        """Sequences ``[..., H, A]`` advanced by ``executed`` environment steps, the last one repeated."""
        h, a = self.config.horizon, self.action_dim
        steps = sequences.reshape(*sequences.shape[:-2], h * self.frame_skip, a // self.frame_skip)
        tail = steps[..., -1:, :].expand(*steps.shape[:-2], min(executed, steps.shape[-2]), -1)
        return torch.cat([steps[..., executed:, :], tail], dim=-2).reshape(sequences.shape)

    def _noise(self, n: int) -> torch.Tensor:
        """``[n, H, A]`` unit Gaussians; with ``noise_beta`` > 0 correlated over the environment steps of
        the horizon (a block's k actions are k consecutive steps)."""
        h, k = self.config.horizon, self.frame_skip
        noise = colored_noise(n, h * k, self.action_dim // k, self.config.noise_beta, self.generator, self.device)
        return noise.reshape(n, h, self.action_dim)

    def _evaluate(self, model: RolloutModel, z0: torch.Tensor, actions: torch.Tensor, cost_fn: CostFn) -> torch.Tensor:
        """Cost ``[N]`` of action sequences ``[N, H, A]``, disagreement penalty included."""
        self._evaluations += actions.shape[0] * actions.shape[1]
        latents, disagreement = model.rollout(z0, actions)
        cost = cost_fn(Rollout(z0, latents, actions, disagreement)).reshape(-1).float()
        if cost.shape[0] != actions.shape[0]:
            raise WmhubError(f"the cost function returned {cost.shape[0]} costs for {actions.shape[0]} samples")
        if self.config.disagreement_weight > 0 and disagreement is not None:
            cost = cost + self.config.disagreement_weight * disagreement.mean(-1)
        cost = torch.nan_to_num(cost, nan=float("inf"))
        if not bool(torch.isfinite(cost).any()):
            raise WmhubError("every sampled action sequence has a non-finite cost; check the model and cost function")
        return cost

    @abstractmethod
    def _optimise(self, model: RolloutModel, z0: torch.Tensor, cost_fn: CostFn,
                  mean: torch.Tensor) -> tuple[torch.Tensor, float]:
        """Final mean sequence ``[H, A]`` (from the initial ``mean``) and the cheapest cost of the last
        iteration."""

    def plan(self, model: RolloutModel, z0: torch.Tensor | np.ndarray, cost_fn: CostFn,
             executed: int | None = None) -> PlanStep:
        """Plan from raw latent ``z0 [D]`` and return the first (block) action of the optimised sequence.

        ``executed``: environment steps taken since the previous plan, which the warm start skips
        (default: one model step, i.e. ``frame_skip``).
        """
        if model.action_dim != self.action_dim:
            raise WmhubError(f"the planner was built for action dim {self.action_dim}, the model has "
                             f"{model.action_dim}")
        start = time.perf_counter()
        executed = self.frame_skip if executed is None else executed
        z0 = torch.as_tensor(z0, dtype=torch.float32, device=self.device)
        if self._kept is not None:
            self._kept = self._shift(self._kept, executed) if self.config.warm_start else None
        self._evaluations = 0
        with torch.inference_mode():
            mean, best = self._optimise(model, z0, cost_fn, self._initial_mean(executed))
        self._mean = mean
        action = mean[0].clamp(ACTION_LOW, ACTION_HIGH).double().cpu().numpy()
        _synchronize(self.device)
        elapsed = time.perf_counter() - start
        self.wall_times.append(elapsed)
        self.mean_abs_actions.append(float(np.abs(action).mean()))
        return PlanStep(action, best, elapsed, self._evaluations)


class CEMPlanner(Planner):
    """Cross-entropy method (see :class:`CEMConfig`); ``prior`` is the actor of ``policy_samples``."""

    config: CEMConfig

    def __init__(self, config: CEMConfig, action_dim: int, seed: int = 0, device: torch.device | str = "cpu",
                 frame_skip: int = 1, prior: ActorCritic | None = None) -> None:
        super().__init__(config, action_dim, seed, device, frame_skip)
        if config.policy_samples and prior is None:
            raise WmhubError(f"planner.policy_samples {config.policy_samples} needs an actor: name an actor_critic "
                             "run in planner.actor, or give the suite a value_model")
        if prior is not None and (prior.action_dim != action_dim or frame_skip != 1):
            raise WmhubError(f"the prior's actor acts in {prior.action_dim} dimensions; the model plans "
                             f"{action_dim}-d actions in blocks of {frame_skip}: policy_samples needs one action "
                             "per model step of the actor's size")
        self.prior = prior.eval().to(self.device) if prior is not None else None

    def _proposals(self, model: RolloutModel, z0: torch.Tensor) -> torch.Tensor:
        """``[policy_samples, H, A]``: the actor rolled out through the model from ``z0`` (row 0 deterministic).
        Each step re-rolls the prefix, so any :class:`RolloutModel` serves (H is small)."""
        assert self.prior is not None
        n, h = self.config.policy_samples, self.config.horizon
        actions = torch.zeros(n, 0, self.action_dim, device=self.device)
        z = z0.expand(n, -1)
        for _ in range(h):
            noise = torch.randn(n, self.action_dim, generator=self.generator, device=self.device)
            noise[0] = 0.0
            a, _ = self.prior.sample_normalized(self.prior.normalize(z), noise)
            actions = torch.cat([actions, a[:, None]], dim=1)
            latents, _ = model.rollout(z0, actions)
            self._evaluations += actions.shape[0] * actions.shape[1]
            z = latents[:, -1]
        return actions.clamp(ACTION_LOW, ACTION_HIGH)

    def _optimise(self, model: RolloutModel, z0: torch.Tensor, cost_fn: CostFn,
                  mean: torch.Tensor) -> tuple[torch.Tensor, float]:
        c = self.config
        std = torch.full_like(mean, c.init_std)
        best = float("inf")
        proposals = self._proposals(model, z0) if c.policy_samples else None
        for _ in range(c.iterations):
            actions = (mean + std * self._noise(c.samples)).clamp(ACTION_LOW, ACTION_HIGH)
            if self._kept is not None:
                actions = torch.cat([actions, self._kept])
            if proposals is not None:
                actions = torch.cat([actions, proposals])
            cost = self._evaluate(model, z0, actions, cost_fn)
            elite_cost, idx = torch.topk(cost, c.elites, largest=False)
            elites = actions[idx]
            self._kept = elites[:c.keep_elites] if c.keep_elites else None
            mean = c.momentum * mean + (1.0 - c.momentum) * elites.mean(0)
            std = elites.std(0, unbiased=False).clamp_min(c.min_std)
            best = float(elite_cost[0])
        return mean, best


class MPPIPlanner(Planner):
    """Model-predictive path integral (see :class:`MPPIConfig`)."""

    config: MPPIConfig

    def _optimise(self, model: RolloutModel, z0: torch.Tensor, cost_fn: CostFn,
                  mean: torch.Tensor) -> tuple[torch.Tensor, float]:
        c = self.config
        best = float("inf")
        for _ in range(c.iterations):
            actions = (mean + c.noise_std * self._noise(c.samples)).clamp(ACTION_LOW, ACTION_HIGH)
            cost = self._evaluate(model, z0, actions, cost_fn)
            weights = torch.softmax(-(cost - cost.min()) / c.temperature, dim=0)
            mean = (weights[:, None, None] * actions).sum(0)
            best = float(cost.min())
        return mean, best


class PolicyPlanner(Planner):
    """Runs a policy (see :class:`PolicyConfig`): the action is the actor's ``tanh(mean)`` (a BC policy's
    action) at ``z0``; the model and cost function are not used. The step's cost is minus the critic's value
    V(z0), computed after the timed actor pass (so ``wall_time_s`` is the policy's alone; NaN for a BC policy,
    which has no critic); its model evaluations are 0."""

    config: PolicyConfig

    def __init__(self, config: PolicyConfig, policy: PolicyModel, seed: int = 0,
                 device: torch.device | str = "cpu") -> None:
        super().__init__(config, policy.action_dim, seed, device)
        self.policy = policy.eval().to(self.device)

    def _optimise(self, model: RolloutModel, z0: torch.Tensor, cost_fn: CostFn,
                  mean: torch.Tensor) -> tuple[torch.Tensor, float]:
        raise WmhubError("a policy does not optimise action sequences")  # pragma: no cover

    def plan(self, model: RolloutModel, z0: torch.Tensor | np.ndarray, cost_fn: CostFn,
             executed: int | None = None) -> PlanStep:
        start = time.perf_counter()
        with torch.inference_mode():
            z = torch.as_tensor(z0, dtype=torch.float32, device=self.device)
            action = self.policy(z).clamp(ACTION_LOW, ACTION_HIGH).double().cpu().numpy()
        _synchronize(self.device)
        elapsed = time.perf_counter() - start
        self.wall_times.append(elapsed)
        self.mean_abs_actions.append(float(np.abs(action).mean()))
        if not isinstance(self.policy, ActorCritic):
            return PlanStep(action, float("nan"), elapsed, 0)
        with torch.inference_mode():
            cost = -float(self.policy.value(z))
        return PlanStep(action, cost, elapsed, 0)


def make_planner(config: PlannerConfig, action_dim: int, *, seed: int = 0,
                 device: torch.device | str = "cpu", frame_skip: int = 1,
                 policy: PolicyModel | None = None) -> Planner:
    """A :class:`CEMPlanner`, :class:`MPPIPlanner` or (with ``policy``) :class:`PolicyPlanner` for
    ``config``, seeded, sampling on ``device`` (``frame_skip``: environment actions per planned action,
    for the warm start's shift). For CEM with ``policy_samples``, ``policy`` is the proposing actor-critic.

    Raises:
        WmhubError: a policy planner without ``policy``, a CEM prior that is not an actor-critic, or
            mismatched action sizes.
    """
    if isinstance(config, PolicyConfig):
        if policy is None:
            raise WmhubError("planner kind policy needs the actor: pass policy= (or name planner.actor)")
        if policy.action_dim != action_dim:
            raise WmhubError(f"the policy acts in {policy.action_dim} dimensions, the model in {action_dim}")
        return PolicyPlanner(config, policy, seed, device)
    if isinstance(config, CEMConfig):
        if config.policy_samples and policy is not None and not isinstance(policy, ActorCritic):
            raise WmhubError(f"planner.policy_samples samples from an actor-critic's Gaussian; got a "
                             f"{type(policy).__name__}; name an actor_critic run")
        return CEMPlanner(config, action_dim, seed, device, frame_skip,
                          prior=policy if config.policy_samples else None)
    if isinstance(config, MPPIConfig):
        return MPPIPlanner(config, action_dim, seed, device, frame_skip)
    raise WmhubError(f"unknown planner config {type(config).__name__}; use CEMConfig or MPPIConfig")


def planning_flops_per_action(config: PlannerConfig, flops_per_step: int) -> int:
    """Model FLOPs per planned action: ``flops_per_step × (samples + kept elites + policy samples) × horizon ×
    iterations`` (an episode's first iteration has no kept elites yet; the proposals' own rollouts and the
    actor's passes are not counted); a policy's: one forward, ``flops_per_step``."""
    if isinstance(config, PolicyConfig):
        return int(flops_per_step)
    sequences = config.samples + getattr(config, "keep_elites", 0) + getattr(config, "policy_samples", 0)
    return int(flops_per_step) * sequences * config.horizon * config.iterations


def measure_matmul_flops(device: torch.device | str = "cpu", size: int | None = None, repeats: int = 5) -> float:
    """Measured float32 matmul throughput of ``device`` in FLOP/s (square ``size`` matrices).

    ``size`` defaults to 2048 on CPU and 8192 on CUDA; the best of ``repeats``
    timed products (after one warm-up) is used.
    """
    device = torch.device(device)
    n = size or (8192 if device.type == "cuda" else 2048)
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, generator=gen, device=device)
    b = torch.randn(n, n, generator=gen, device=device)
    _ = a @ b
    _synchronize(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        _ = a @ b
        _synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2.0 * n ** 3 / best
