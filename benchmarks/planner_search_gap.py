"""Is a goal-success miss the model's fault or the search's? (issue 8, BENCHMARKS.md "Colored-noise CEM")

For chosen held-out starts of a pixel world model's goal-success run, prints the model's cost
(goal_latent_cost, mean over the horizon) of three plans from the start state:
the data's own recorded actions (which reach the goal 25 steps later in the real simulator),
the best of 81 constant actions, and CEM's best plan with the run's (or a given) planner.
A CEM cost above the recorded or constant one is a search failure: the model prefers a plan
the sampler did not find.

    MUJOCO_GL=egl OMP_NUM_THREADS=1 python benchmarks/planner_search_gap.py runs/px_fs5_w1 \
        --episodes 37 111 308 423 472 [--planner '{"noise_beta": 2.0, "init_std": 1.0, "iterations": 6}']
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from wmhub.envs.reacher import make_env
from wmhub.eval import planning
from wmhub.eval.planners import CEMConfig, Rollout
from wmhub.models.registry import load_model
from wmhub.runs.run import Run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run of a pixel JEPA world model, evaluated with goal-success")
    parser.add_argument("--episodes", type=int, nargs="+", required=True, help="episode indices of its starts")
    parser.add_argument("--planner", default="{}", help="JSON fields replacing the recipe's CEM settings")
    args = parser.parse_args()
    torch.set_num_threads(1)
    run = Run.open(args.run, finished=True)
    recipe = run.recipe
    options = recipe.eval["goal-success"]
    config = CEMConfig(**{**options.get("planner", {}), **json.loads(args.planner)})
    offset = int(options.get("goal_offset", 25))
    starts = {e["episode_index"]: e for e in
              json.loads((args.run / "eval/eval_results.json").read_text())["suites"]["goal-success"]["per_episode"]}
    jepa = load_model(args.run / "model").eval()
    model, planner = planning._prepare(jepa, config, 0, "cpu")
    fs = planning.frame_skip_of(model)
    source = planning.latent_source(jepa, model, None)
    data = planning._load_episodes(run.dataset_root(), args.episodes)
    env = make_env(0)
    grid = torch.linspace(-1, 1, 9)
    constants = torch.stack(torch.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 1, 2)
    for ep in args.episodes:
        rec, t = data[ep], starts[ep]["start_step"]
        goal = planning._goal_tensor(source.recorded(rec, t + offset), model)
        planning.REACHER.set_state(env, rec["qpos"][t], rec["qvel"][t], rec["target_pos"][t])
        z = source.live(env)
        model.observe(z, None)
        cost_fn = planning.goal_latent_cost(goal, model.normalize)
        z0 = torch.as_tensor(z)

        def cost_of(actions: torch.Tensor, cost_fn=cost_fn, z0=z0) -> torch.Tensor:
            blocks = actions.reshape(actions.shape[0], offset // fs, -1)
            return cost_fn(Rollout(z0, model.rollout(z0, blocks)[0], blocks))

        recorded = float(cost_of(torch.as_tensor(rec["action"][t:t + offset], dtype=torch.float32)[None]))
        constant = float(cost_of(constants.expand(-1, offset, 2)).min())
        planner.reset()
        best = planner.plan(model, z, cost_fn).cost
        print(f"episode {ep:4d}  start error {starts[ep]['start_joint_error_rad']:.2f} rad  success "
              f"{starts[ep]['success']!s:5}  cost: recorded {recorded:.2f}  best constant {constant:.2f}  "
              f"CEM {best:.2f}")
    source.close()


if __name__ == "__main__":
    main()
