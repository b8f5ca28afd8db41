"""Time per action of a policy learned in imagination against the CEM planner, in one run on one device.

    python benchmarks/policy_speed.py --actor runs/reacher_dreamer_ensemble_1m_state \\
        --dynamics runs/reacher_ensemble_1m_state --reward-model runs/reacher_reward_1m_state \\
        --value-model runs/reacher_dreamer_ensemble_1m_state --data data/reacher-1m

Both answer the same calls (``Planner.plan`` from the same real latents, taken from the dataset's
episodes in order): the actor with one forward pass, CEM with its rollouts through the dynamics model
and the return suite's cost (the learned reward, plus the critic as terminal value when given, else the
reward alone). Calls alternate in blocks so load on the machine hits both alike; the first
``--warmup`` calls of each are not timed. Reports median and mean seconds per action and the ratio
CEM ÷ actor (the issue's target: ≥ 100×).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from wmhub.data import open_dataset  # noqa: E402
from wmhub.devices import resolve_device  # noqa: E402
from wmhub.eval.planners import CEMConfig, PolicyConfig, as_rollout_model, load_policy, make_planner  # noqa: E402
from wmhub.eval.planning import reward_model_cost, reward_value_cost  # noqa: E402
from wmhub.eval.planning_suites import load_reward_model, load_value_model  # noqa: E402
from wmhub.models.registry import load_model  # noqa: E402


def latents(data: str, count: int) -> np.ndarray:
    """``count`` real state latents (``steps`` config, episodes in order)."""
    table = open_dataset(data).table("steps")
    columns = [np.asarray(table.column(c).to_pylist(), np.float32).reshape(len(table), -1)
               for c in ("position", "to_target", "velocity")]
    return np.concatenate(columns, axis=1)[:count]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--actor", required=True, help="actor_critic run")
    parser.add_argument("--dynamics", required=True, help="dynamics or ensemble run CEM plans with")
    parser.add_argument("--reward-model", required=True)
    parser.add_argument("--value-model", default=None, help="actor_critic run whose critic is CEM's terminal value")
    parser.add_argument("--data", required=True, help="a reacher dataset (state latents to plan from)")
    parser.add_argument("--calls", type=int, default=300, help="timed calls of each")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--elites", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--horizon", type=int, default=8)
    parser.add_argument("--gamma", type=float, default=0.99)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    actor = load_policy(args.actor).to(device)
    rollout = as_rollout_model(load_model(Path(args.dynamics) / "model"), device)
    reward = load_reward_model(args.reward_model, "benchmark").eval().to(device)
    cost_fn = (reward_value_cost(reward, load_value_model(args.value_model, "benchmark").eval().to(device), args.gamma)
               if args.value_model else reward_model_cost(reward))
    cem_config = CEMConfig(samples=args.samples, elites=args.elites, iterations=args.iterations, horizon=args.horizon)
    policy = make_planner(PolicyConfig(), actor.action_dim, device=device, policy=actor)
    cem = make_planner(cem_config, rollout.action_dim, device=device)
    zs = latents(args.data, args.warmup + args.calls)
    block = 10
    for k in range(0, len(zs), block):
        for planner in (policy, cem):
            for z in zs[k:k + block]:
                planner.plan(rollout, z, cost_fn)
    actor_times = policy.wall_times[args.warmup:]
    cem_times = cem.wall_times[args.warmup:]
    result = {
        "device": str(device), "torch_threads": torch.get_num_threads(), "calls": len(actor_times),
        "cem": cem_config.model_dump(), "cost": "reward+value" if args.value_model else "reward",
        "actor_s_per_action": {"median": statistics.median(actor_times), "mean": statistics.fmean(actor_times)},
        "cem_s_per_action": {"median": statistics.median(cem_times), "mean": statistics.fmean(cem_times)},
    }
    result["cem_over_actor_median"] = result["cem_s_per_action"]["median"] / result["actor_s_per_action"]["median"]
    result["cem_over_actor_mean"] = result["cem_s_per_action"]["mean"] / result["actor_s_per_action"]["mean"]
    print(json.dumps(result, indent=2))
    print("| device | threads | calls | actor s/action (median) | CEM s/action (median) | CEM ÷ actor |")
    print("|---|---|---|---|---|---|")
    print(f"| {device} | {result['torch_threads']} | {result['calls']} | "
          f"{result['actor_s_per_action']['median']:.3g} | {result['cem_s_per_action']['median']:.3g} | "
          f"{result['cem_over_actor_median']:.0f}× |")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
