"""Models: latent dynamics, world models, ensembles, reward and BC policies (safetensors + config.json on the Hub).

>>> from toolkit.models import MLPDynamics
>>> model = MLPDynamics.from_pretrained("runs/reacher_dynamics_mlp_100k/model")
>>> z_next = model(z, a)
"""

from toolkit.models.base import LatentModel
from toolkit.models.bc import BCPolicy
from toolkit.models.dynamics import DynamicsModel, MLPDynamics, ResBlockDynamics
from toolkit.models.ensemble import Ensemble
from toolkit.models.registry import MODEL_KINDS, load_model

__all__ = ["BCPolicy", "DynamicsModel", "Ensemble", "LatentModel", "MLPDynamics", "MODEL_KINDS", "ResBlockDynamics",
           "RewardModel", "WorldModel", "WorldModelRollout", "load_model", "world_model_parameters"]

from toolkit.models.reward import RewardModel  # noqa: E402
from toolkit.models.world_model import WorldModel, WorldModelRollout, world_model_parameters  # noqa: E402
