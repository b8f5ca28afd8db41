"""Training from recipes: ``train(load_recipe("tiny_reacher_dynamics_state"))``."""

from wmhub.training.recipe import Recipe, builtin_recipes, load_recipe, parse_recipe
from wmhub.training.trainer import TrainResult, train

__all__ = ["Recipe", "TrainResult", "builtin_recipes", "load_recipe", "parse_recipe", "train"]
