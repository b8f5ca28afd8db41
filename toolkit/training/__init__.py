"""Training from recipes: ``train(load_recipe("tiny_reacher_dynamics_state"))``.

The names below are imported on first use, so ``import wmhub.training.recipe`` (pydantic and yaml
only) does not load torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "Recipe": "wmhub.training.recipe",
    "builtin_recipes": "wmhub.training.recipe",
    "load_recipe": "wmhub.training.recipe",
    "parse_recipe": "wmhub.training.recipe",
    "TrainResult": "wmhub.training.trainer",
    "train": "wmhub.training.trainer",
}

__all__ = ["Recipe", "TrainResult", "builtin_recipes", "load_recipe", "parse_recipe", "train"]

if TYPE_CHECKING:  # pragma: no cover
    from wmhub.training.recipe import Recipe, builtin_recipes, load_recipe, parse_recipe
    from wmhub.training.trainer import TrainResult, train


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'wmhub.training' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
