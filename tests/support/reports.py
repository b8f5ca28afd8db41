"""Small datasets and runs to build reports of (shared by the report tests)."""

from __future__ import annotations

from pathlib import Path

from wmhub.runs.evaluate import evaluate
from wmhub.training.recipe import load_recipe
from wmhub.training.trainer import train

# the tiny dynamics recipe on 16 episodes of 50 steps, 2 short planning episodes: seconds on 2 cores
SMALL_RUN_OVERRIDES = ["dataset.generate.episodes=16", "dataset.generate.episodes_per_shard=8",
                       "dataset.generate.episode_length=50", "dataset.generate.workers=1", "training.epochs=3",
                       "eval.latent.horizons=[1,5,10]", "eval.goal-success.episodes=2", "eval.goal-success.budget=5",
                       "eval.goal-success.planner.samples=16", "eval.goal-success.planner.iterations=1",
                       "eval.goal-success.videos=1"]


def make_evaluated_run(root: Path) -> Path:
    """Generate a small reacher dataset, train the tiny dynamics recipe on it, evaluate it; the run directory."""
    recipe = load_recipe("tiny_reacher_dynamics_state", [f"dataset.source={root / 'data'}", *SMALL_RUN_OVERRIDES])
    run = train(recipe, root / "run", show_progress=False).run_dir
    evaluate(run, show_progress=False)
    return Path(run)
