"""Losses of the three objectives, and the trivial baselines they must beat.

All losses are computed in normalised latent units (the model's own
``normalize``), so a dimension with large raw variance does not dominate.

* dynamics: H-step open-loop rollout from the real z_t, backpropagating
  through the predicted states; loss averaged over the H steps. Baseline:
  copy-last (ẑ_{t+k} = z_t).
* reward: binary cross-entropy (or MSE) of R(z_t, a_t) against r_t.
  Baseline: the constant training-mean reward.
* bc: MSE (or Huber) of π(z_t) against the expert's a_t. Baseline: the
  constant training-mean action.
* world_model (V-JEPA 2-AC): on windows of k + H latents, L1 (or MSE) between
  layer-normalised predictions and layer-normalised targets (``F.layer_norm``
  over D, no affine, of the normalised latents; ``training.target_layer_norm:
  false`` compares the normalised latents themselves), as the sum of a teacher-forcing
  term (ẑ_{t+1} from the real z_{≤t}, a_{≤t} at each of the k context positions)
  and an H-step open-loop rollout term after the context (the model's own
  predictions fed back; its first step is the last teacher-forced prediction).
  Baseline: copy-last under the same loss (z_t for every teacher-forced target,
  the last context latent for every rollout target).
* jepa (end to end, :class:`~wmhub.models.jepa.JEPAWorldModel`): the world_model
  loss (MSE by default, no layer norm) between the predictor's outputs and the
  encoder's embeddings of the window's observations, gradients into both, plus
  ``sigreg_weight`` · SIGReg of the embeddings of each window's first step (the
  anti-collapse term, :mod:`wmhub.training.sigreg`; windows start at random steps,
  so these are an i.i.d. sample, and SIGReg's cost — the largest of a small
  model's step — falls by the window length compared with using every step;
  ``sigreg_scope="episode"`` takes it over each episode's windows on their own).
  Baseline: copy-last embeddings under the same loss (same SIGReg term). In eval mode SIGReg uses fixed directions, so
  validation losses are comparable across steps.
* imagination (:class:`~wmhub.models.actor_critic.ActorCritic`): an actor and a critic trained inside frozen
  models, in :mod:`wmhub.training.imagination` (its own losses and loop). Baseline: the imagined return of
  uniformly random actions.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import torch
import torch.nn.functional as F

from wmhub.models.base import LatentModel
from wmhub.training.sigreg import sigreg, sigreg_per_group

EVAL_SIGREG_SEED = 0  # fixed SIGReg directions for validation


def latent_loss(pred: torch.Tensor, target: torch.Tensor, loss: str, huber_delta: float) -> torch.Tensor:
    """Mean loss between latents (``pred`` may carry a leading ensemble axis)."""
    target = target.expand_as(pred)
    if loss == "huber":
        return F.huber_loss(pred, target, delta=huber_delta)
    if loss == "mse":
        return F.mse_loss(pred, target)
    if loss == "cosine":
        return (1.0 - F.cosine_similarity(pred, target, dim=-1)).mean()
    raise ValueError(f"unknown latent loss {loss!r}")


def world_model_loss(pred: torch.Tensor, target: torch.Tensor, loss: str, layer_norm: bool = True) -> torch.Tensor:
    """L1 (or MSE) between ``F.layer_norm`` over D (no affine) of predictions and targets
    (of the latents themselves when ``layer_norm`` is false)."""
    target = target.expand_as(pred)
    if layer_norm:
        dim = (pred.shape[-1],)
        pred, target = F.layer_norm(pred, dim), F.layer_norm(target, dim)
    if loss == "l1":
        return F.l1_loss(pred, target)
    if loss == "mse":
        return F.mse_loss(pred, target)
    raise ValueError(f"unknown world-model loss {loss!r}")


def world_model_terms(model: LatentModel, zn: torch.Tensor, actions: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """(teacher-forced predictions ``[B, k, D]``, rollout predictions ``[B, H, D]``) on a window of
    ``zn [B, k+H, D]`` normalised latents and ``actions [B, k+H−1, A]``."""
    k = model.context
    forced = model.predict_normalized(zn[:, :k], actions[:, :k])
    steps = actions.shape[1] - k + 1
    if steps == 1:
        return forced, forced[:, -1:]
    rest = model.rollout_normalized(torch.cat([zn[:, 1:k], forced[:, -1:]], dim=1), actions[:, 1:k],
                                    actions[:, k:])
    return forced, torch.cat([forced[:, -1:], rest], dim=1)


class Objective:
    """Loss and baseline of one model kind; ``constants`` holds training-set means for baselines."""

    def __init__(self, name: str, loss: str, huber_delta: float = 1.0, layer_norm: bool = True,
                 sigreg_weight: float = 0.0, sigreg_slices: int = 256,
                 sigreg_scope: Literal["batch", "episode"] = "batch") -> None:
        self.name, self.loss, self.huber_delta = name, loss, huber_delta
        self.layer_norm = layer_norm  # world_model: layer-normalise predictions and targets
        # jepa only
        self.sigreg_weight, self.sigreg_slices, self.sigreg_scope = sigreg_weight, sigreg_slices, sigreg_scope
        self.constants: dict[str, torch.Tensor] = {}

    def fit_constants(self, batches: Iterable[dict[str, torch.Tensor]]) -> None:
        """Training-set mean reward and mean action (for the constant baselines)."""
        total, reward_sum, action_sum = 0, 0.0, 0.0
        for batch in batches:
            total += batch["rewards"].shape[0]
            reward_sum = reward_sum + batch["rewards"][:, 0].double().sum()
            action_sum = action_sum + batch["actions"][:, 0].double().sum(0)
        self.constants = {"reward": (reward_sum / max(total, 1)).float(),
                          "action": (action_sum / max(total, 1)).float()}

    def _world_model_loss(self, model, zn: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        k = model.context
        forced, rolled = world_model_terms(model, zn, actions)
        return (world_model_loss(forced, zn[:, 1:k + 1], self.loss, self.layer_norm)
                + world_model_loss(rolled, zn[:, k:], self.loss, self.layer_norm))

    def _copy_last_loss(self, zn: torch.Tensor, k: int) -> torch.Tensor:
        return (world_model_loss(zn[:, :k], zn[:, 1:k + 1], self.loss, self.layer_norm)
                + world_model_loss(zn[:, k - 1:k].expand_as(zn[:, k:]), zn[:, k:], self.loss, self.layer_norm))

    def jepa_terms(self, model, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``prediction``, ``sigreg``, ``copy_last`` and ``loss`` (= prediction + weight · sigreg) of a
        :class:`~wmhub.models.jepa.JEPAWorldModel` on a window batch of raw observations."""
        e = model.encode(batch["latents"])
        generator = None if model.training else torch.Generator().manual_seed(EVAL_SIGREG_SEED)
        if self.sigreg_scope == "episode":  # each episode's windows on their own
            reg = sigreg_per_group(e[:, 0], batch["episode_index"], self.sigreg_slices, generator)
        else:  # windows start at random steps: an i.i.d. sample
            reg = sigreg(e[:, 0], self.sigreg_slices, generator)
        prediction = self._world_model_loss(model.predictor, e, batch["actions"])
        copy_last = self._copy_last_loss(e, model.context)
        return {"prediction": prediction, "sigreg": reg, "copy_last": copy_last,
                "loss": prediction + self.sigreg_weight * reg}

    def __call__(self, model: LatentModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The training loss of ``model`` on ``batch``."""
        if self.name == "jepa":
            return self.jepa_terms(model, batch)["loss"]
        zn = model.normalize(batch["latents"].float())
        actions = batch["actions"]
        if self.name == "dynamics":
            pred, losses = zn[:, 0], []
            for k in range(actions.shape[1]):
                pred = model.step_normalized(pred, actions[:, k])
                losses.append(latent_loss(pred, zn[:, k + 1], self.loss, self.huber_delta))
            return torch.stack(losses).mean()
        if self.name == "world_model":
            return self._world_model_loss(model, zn, actions)
        if self.name == "reward":
            logits = model.logits(zn[:, 0], actions[:, 0])
            target = batch["rewards"][:, 0]
            if self.loss == "bce":
                return F.binary_cross_entropy_with_logits(logits, target)
            return F.mse_loss(torch.sigmoid(logits), target)
        pred = model.act_normalized(zn[:, 0])
        return self._action_loss(pred, actions[:, 0])

    def baseline(self, model: LatentModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The trivial baseline's loss on ``batch`` (same units as the training loss)."""
        if self.name == "jepa":
            with torch.no_grad():
                terms = self.jepa_terms(model, batch)
            return terms["copy_last"] + self.sigreg_weight * terms["sigreg"]
        zn = model.normalize(batch["latents"].float())
        if self.name == "dynamics":
            horizon = batch["actions"].shape[1]
            return torch.stack([latent_loss(zn[:, 0], zn[:, k + 1], self.loss, self.huber_delta)
                                for k in range(horizon)]).mean()
        if self.name == "world_model":
            return self._copy_last_loss(zn, model.context)
        if self.name == "reward":
            target = batch["rewards"][:, 0]
            p = self.constants["reward"].to(target.device).clamp(1e-6, 1 - 1e-6).expand_as(target)
            if self.loss == "bce":
                return F.binary_cross_entropy(p, target)
            return F.mse_loss(p, target)
        target = batch["actions"][:, 0]
        return self._action_loss(self.constants["action"].to(target.device).expand_as(target), target)

    def _action_loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.loss == "huber":
            return F.huber_loss(pred, target, delta=self.huber_delta)
        return F.mse_loss(pred, target)


@torch.no_grad()
def evaluate(model: LatentModel, objective: Objective, batches: Iterable[dict[str, torch.Tensor]],
             device: torch.device) -> dict[str, float]:
    """Sample-weighted mean loss and baseline loss over ``batches`` (model in eval mode)."""
    was_training = model.training
    model.eval()
    total, sums = 0, {"loss": 0.0, "baseline_loss": 0.0}
    for batch in batches:
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        n = batch["latents"].shape[0]
        if objective.name == "jepa":  # one encoder pass gives every term
            terms = {k: float(v) for k, v in objective.jepa_terms(model, batch).items()}
            terms["baseline_loss"] = terms.pop("copy_last") + objective.sigreg_weight * terms["sigreg"]
        else:
            terms = {"loss": float(objective(model, batch)), "baseline_loss": float(objective.baseline(model, batch))}
        for key, value in terms.items():
            sums[key] = sums.get(key, 0.0) + value * n
        total += n
    model.train(was_training)
    if total == 0:
        return {"loss": float("nan"), "baseline_loss": float("nan"), "samples": 0}
    return {**{k: v / total for k, v in sums.items()}, "samples": total}
