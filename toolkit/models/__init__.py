"""Models: latent dynamics, world models, ensembles, reward models, BC policies and actor-critics.

Each is saved as safetensors + config.json (on the Hub too).

Names are imported on first use, so ``wmhub.models.kinds`` (the kind registry a recipe reads) does not
import torch.

>>> from wmhub.models import MLPDynamics
>>> model = MLPDynamics.from_pretrained("runs/reacher_dynamics_mlp_100k/model")
>>> z_next = model(z, a)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY: dict[str, str] = {
    "ActorCritic": "wmhub.models.actor_critic",
    "LatentModel": "wmhub.models.base",
    "BCPolicy": "wmhub.models.bc",
    "DynamicsModel": "wmhub.models.dynamics",
    "MLPDynamics": "wmhub.models.dynamics",
    "ResBlockDynamics": "wmhub.models.dynamics",
    "Ensemble": "wmhub.models.ensemble",
    "MODEL_KINDS": "wmhub.models.registry",
    "load_model": "wmhub.models.registry",
    "RewardModel": "wmhub.models.reward",
    "WorldModel": "wmhub.models.world_model",
    "WorldModelRollout": "wmhub.models.world_model",
    "world_model_parameters": "wmhub.models.world_model",
}

__all__ = ["ActorCritic", "BCPolicy", "DynamicsModel", "Ensemble", "LatentModel", "MLPDynamics", "MODEL_KINDS",
           "ResBlockDynamics", "RewardModel", "WorldModel", "WorldModelRollout", "load_model", "world_model_parameters"]

if TYPE_CHECKING:  # pragma: no cover
    from wmhub.models.actor_critic import ActorCritic
    from wmhub.models.base import LatentModel
    from wmhub.models.bc import BCPolicy
    from wmhub.models.dynamics import DynamicsModel, MLPDynamics, ResBlockDynamics
    from wmhub.models.ensemble import Ensemble
    from wmhub.models.registry import MODEL_KINDS, load_model
    from wmhub.models.reward import RewardModel
    from wmhub.models.world_model import WorldModel, WorldModelRollout, world_model_parameters


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wmhub.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
