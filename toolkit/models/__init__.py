"""Models: latent dynamics, world models, ensembles, reward and BC policies (safetensors + config.json on the Hub).

>>> from wmhub.models import MLPDynamics
>>> model = MLPDynamics.from_pretrained("runs/reacher_dynamics_mlp_100k/model")
>>> z_next = model(z, a)
"""

from wmhub.models.base import LatentModel
from wmhub.models.bc import BCPolicy
from wmhub.models.dynamics import DynamicsModel, MLPDynamics, ResBlockDynamics
from wmhub.models.ensemble import Ensemble
from wmhub.models.registry import MODEL_KINDS, load_model

__all__ = ["BCPolicy", "DynamicsModel", "Ensemble", "LatentModel", "MLPDynamics", "MODEL_KINDS", "ResBlockDynamics",
           "RewardModel", "WorldModel", "WorldModelRollout", "load_model", "world_model_parameters"]

from wmhub.models.reward import RewardModel  # noqa: E402
from wmhub.models.world_model import WorldModel, WorldModelRollout, world_model_parameters  # noqa: E402
