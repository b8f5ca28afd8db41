"""Model kinds: one registration per kind (class, objective, losses, baseline, card template).

A recipe's ``model.kind`` names one :class:`ModelKind`. Everything the rest of wmhub needs to know
about a kind is in its registration: the model class (imported on first use, so reading a recipe
does not import torch), the training objective and the losses it accepts (the first is the
default), the trivial baseline its validation loss is compared with, and the model-card template
with the limitations paragraph the card states. Adding a kind is one new module with the model
class (and, for a new objective, its loss in :mod:`wmhub.training.objectives`), the kind's entry in
the recipe's model specs, plus one :func:`register_kind` call here.

Example:
    >>> from wmhub.models.kinds import kind
    >>> kind("mlp_dynamics").objective
    'dynamics'
    >>> kind("reward").losses
    ('bce', 'mse')
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wmhub.errors import ConfigError, NotFoundError

if TYPE_CHECKING:  # pragma: no cover
    from wmhub.models.base import LatentModel


@dataclass(frozen=True)
class ModelKind:
    """One model kind.

    Attributes:
        name: the recipe's ``model.kind``.
        model_class: ``"module:Class"`` of the :class:`~wmhub.models.base.LatentModel` subclass.
        objective: the training objective (``dynamics``, ``world_model``, ``jepa``, ``reward``, ``bc``,
            ``imagination``).
        losses: the losses the objective accepts; the first is the default.
        baseline: the trivial baseline the validation loss is compared with (as ``summary.json`` names it).
        card_template: the model-card template in ``model_cards/``.
        limitations: the card's limitations paragraph.
        multistep: whether the objective trains on rollouts of ``training.horizon`` > 1 steps.
    """

    name: str
    model_class: str
    objective: str
    losses: tuple[str, ...]
    baseline: str
    card_template: str
    limitations: str
    multistep: bool = False

    @property
    def class_name(self) -> str:
        """The model class's name (``config.json``'s ``model_class``)."""
        return self.model_class.rpartition(":")[2]

    def load_class(self) -> type[LatentModel]:
        """The model class (imports its module, and so torch).

        Returns:
            The :class:`~wmhub.models.base.LatentModel` subclass.
        """
        module, _, name = self.model_class.partition(":")
        return getattr(importlib.import_module(module), name)


_KINDS: dict[str, ModelKind] = {}


def register_kind(model_kind: ModelKind) -> ModelKind:
    """Register a model kind under its name.

    Args:
        model_kind: the registration.

    Returns:
        ``model_kind``, so a module can keep it as a constant.

    Raises:
        ConfigError: another kind is registered under the same name.

    Example:
        >>> mine = ModelKind("my_dynamics", "my_pkg.models:MyDynamics", "dynamics", ("huber", "mse"),
        ...                  "copy-last", "dynamics.md", "Not checked outside its data.", multistep=True)
        >>> register_kind(mine)  # doctest: +SKIP
    """
    existing = _KINDS.get(model_kind.name)
    if existing is not None and existing != model_kind:
        raise ConfigError(f"model kind {model_kind.name!r} is already registered ({existing.model_class}); "
                          "choose another name")
    _KINDS[model_kind.name] = model_kind
    return model_kind


def kind(name: str) -> ModelKind:
    """The registration of model kind ``name``.

    Args:
        name: a recipe's ``model.kind``.

    Returns:
        Its :class:`ModelKind`.

    Raises:
        NotFoundError: no kind of that name is registered.

    Example:
        >>> kind("ensemble").baseline
        'copy-last'
    """
    try:
        return _KINDS[name]
    except KeyError:
        raise NotFoundError(f"unknown model kind {name!r}; choose one of {sorted(_KINDS)}") from None


def kinds() -> dict[str, ModelKind]:
    """Every registered kind by name, in registration order."""
    return dict(_KINDS)


def kind_of_class(class_name: str) -> ModelKind:
    """The (first) kind whose model class is named ``class_name`` (a checkpoint's ``model_class``).

    Raises:
        NotFoundError: no registered kind has a class of that name.
    """
    for model_kind in _KINDS.values():
        if model_kind.class_name == class_name:
            return model_kind
    raise NotFoundError(f"model_class {class_name!r} is not a registered model kind; this wmhub knows "
                        f"{sorted({k.class_name for k in _KINDS.values()})}")


_DYNAMICS_LIMITATIONS = (
    "Trained offline on ε-greedy scripted rollouts of one task: predictions outside that state "
    "and action distribution are not checked. Latent prediction quality does not by itself make a "
    "planner succeed (the seeds saw latent distance improve while the arm never reached the "
    "target); read the planning suites, where present, before relying on the model for control.")
_DYNAMICS_LOSSES = ("huber", "mse", "cosine")

register_kind(ModelKind("mlp_dynamics", "wmhub.models.dynamics:MLPDynamics", "dynamics", _DYNAMICS_LOSSES,
                        "copy-last", "dynamics.md", _DYNAMICS_LIMITATIONS, multistep=True))
register_kind(ModelKind("resblock_dynamics", "wmhub.models.dynamics:ResBlockDynamics", "dynamics", _DYNAMICS_LOSSES,
                        "copy-last", "dynamics.md", _DYNAMICS_LIMITATIONS, multistep=True))
register_kind(ModelKind("ensemble", "wmhub.models.ensemble:Ensemble", "dynamics", _DYNAMICS_LOSSES,
                        "copy-last", "dynamics.md", _DYNAMICS_LIMITATIONS, multistep=True))
register_kind(ModelKind(
    "reward", "wmhub.models.reward:RewardModel", "reward", ("bce", "mse"), "constant mean reward", "reward.md",
    "The reward is sparse (inside the target or not) and imbalanced; the constant-mean baseline "
    "is the figure to beat. Not checked outside the training data's state distribution."))
register_kind(ModelKind(
    "bc", "wmhub.models.bc:BCPolicy", "bc", ("mse", "huber"), "constant mean action", "bc.md",
    "Cloned from a scripted P-controller, so it inherits that controller's limits (it reaches the "
    "target in about 40% of episodes); it is a baseline policy, not an expert."))
register_kind(ModelKind(
    "world_model", "wmhub.models.world_model:WorldModel", "world_model", ("l1", "mse"), "copy-last",
    "world_model.md",
    "Trained offline, on a frozen encoder's latents, on ε-greedy scripted rollouts: predictions outside that "
    "state and action distribution are not checked. Open-loop error compounds with the horizon; read the "
    "latent suite's long horizons beside copy-last. Planners that step one latent at a time give it a context "
    "of one, not its k-latent history. With layer-normalised targets the loss ignores each latent's mean and "
    "scale across dimensions, which suits layer-normed encoder features but not low-dimensional state "
    "latents. The encoder is not trained, so collapse is not a risk here; an end-to-end encoder would need "
    "`wmhub.eval.collapse` checks.", multistep=True))
register_kind(ModelKind(
    "jepa_world_model", "wmhub.models.jepa:JEPAWorldModel", "jepa", ("mse", "l1"), "copy-last embedding",
    "jepa_world_model.md",
    "Trained offline on scripted rollouts: predictions outside that state and action distribution are not "
    "checked. Its metrics are measured in its own embedding space, which it also learned: read them with the "
    "collapse diagnostics (per-dimension std, effective rank) and the linear probe of the physical state, not "
    "alone. Open-loop error compounds with the horizon; compare with copy-last at every horizon.",
    multistep=True))
register_kind(ModelKind(
    "actor_critic", "wmhub.models.actor_critic:ActorCritic", "imagination", ("mse", "huber"),
    "random actions (imagined return)", "actor_critic.md",
    "Trained only inside a frozen world model, never in the environment: the imagined return it maximises is "
    "the model's, and a policy can exploit the model's errors (the seeds' Dreamer learned tiny actions, "
    "|a| ≈ 0.05, that move the latent but not the arm, and scored zero reward). Read the planning suites' "
    "environment return and mean |action| beside the imagined return; with an ensemble, the disagreement "
    "penalty λ is what keeps rollouts near the data."))
