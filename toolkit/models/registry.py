"""Model kinds by name, and loading any wmhub checkpoint without knowing its class.

``config.json`` carries ``model_class`` (written by :meth:`LatentModel._save_pretrained`),
so :func:`load_model` picks the class from the checkpoint itself.
"""

from __future__ import annotations

import json
from pathlib import Path

from wmhub.errors import WmhubError
from wmhub.models.base import LatentModel
from wmhub.models.bc import BCPolicy
from wmhub.models.dynamics import MLPDynamics, ResBlockDynamics
from wmhub.models.ensemble import Ensemble
from wmhub.models.jepa import JEPAWorldModel
from wmhub.models.reward import RewardModel
from wmhub.models.world_model import WorldModel

MODEL_KINDS: dict[str, type[LatentModel]] = {
    "mlp_dynamics": MLPDynamics,
    "resblock_dynamics": ResBlockDynamics,
    "ensemble": Ensemble,
    "reward": RewardModel,
    "bc": BCPolicy,
    "world_model": WorldModel,
    "jepa_world_model": JEPAWorldModel,
}
_BY_CLASS = {cls.__name__: cls for cls in MODEL_KINDS.values()}


def kind_of(model: LatentModel) -> str:
    """The recipe ``model.kind`` of a model instance."""
    return next(kind for kind, cls in MODEL_KINDS.items() if type(model) is cls)


def load_model(source: str | Path, *, map_location: str = "cpu") -> LatentModel:
    """Load a checkpoint from a directory, ``hf://<org>/<name>[@rev]`` or ``<org>/<name>``.

    The class is read from ``config.json``'s ``model_class``.
    """
    from huggingface_hub import hf_hub_download

    from wmhub.storage.location import HubRepo, parse_location

    text = str(source)
    location = parse_location(text) if text.startswith("hf://") else Path(text)
    revision = None
    if isinstance(location, HubRepo):
        model_id, revision = location.repo_id, location.revision
        config_file = hf_hub_download(model_id, "config.json", revision=revision)
    elif location.is_dir():
        model_id, config_file = str(location), str(location / "config.json")
        if not Path(config_file).is_file():
            raise WmhubError(f"{location} has no config.json; is it a wmhub checkpoint directory (run/model)?")
    else:
        raise WmhubError(f"{text}: no such checkpoint directory (or use hf://<org>/<name> for a Hub repo)")
    config = json.loads(Path(config_file).read_text())
    cls = _BY_CLASS.get(config.get("model_class", ""))
    if cls is None:
        raise WmhubError(f"{text}: config.json names model_class {config.get('model_class')!r}; "
                         f"this wmhub knows {sorted(_BY_CLASS)}")
    return cls.from_pretrained(model_id, revision=revision, map_location=map_location)
