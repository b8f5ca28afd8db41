"""Planning suites of a dynamics run: metric, wall time per planned action and its FLOP bound.

    python benchmarks/planning.py --run runs/reacher_dynamics_mlp_1m_state --episodes 10 --threads 1
    python benchmarks/planning.py --run RUN --suite reacher-easy-return --reward-model runs/reacher_reward_1m_state
    python benchmarks/planning.py --run RUN --suite reacher-easy-return --reward-model runs/reacher_reward_1m_state \\
        --value-model runs/reacher_dreamer_ensemble_1m_state --json value-mpc.json

The FLOP bound is the model FLOPs per planned action (2 · parameters ·
samples · horizon · iterations) divided by the float32 matmul throughput
measured in the same run on the same device. Results are printed (JSON, then
one Markdown row per suite) and not written into the run; `wmhub eval` does
that. Planner options left out keep each suite's defaults (CEM 500 samples,
50 elites, 5 iterations, horizon 10).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from wmhub.eval.planning import SUITES  # noqa: E402
from wmhub.eval.planning_suites import run_planning_suite  # noqa: E402
from wmhub.eval.suites import headline_metrics, suite  # noqa: E402
from wmhub.models.registry import load_model  # noqa: E402
from wmhub.runs.run import Run  # noqa: E402


def planner_options(args: argparse.Namespace) -> dict[str, Any] | None:
    """The ``planner`` mapping from the command line, or None when no planner option was given."""
    names = ("samples", "elites", "iterations", "horizon", "temperature", "noise_std", "disagreement_weight")
    given = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    if args.planner == "mppi":
        given.pop("elites", None)
        return {"kind": "mppi", **given}
    for key in ("temperature", "noise_std"):
        given.pop(key, None)
    return {"kind": "cem", **given} if given else None


def markdown_rows(run: str, suites: dict[str, Any]) -> list[str]:
    """Header and one row per suite."""
    rows = ["| suite | run | device | threads | episodes | headline | time / action (s) | FLOP bound (s) | ratio |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name, m in suites.items():
        head = ", ".join(f"{k} {v:.3g}" for k, v in headline_metrics(name, m).items() if k != "s/action")
        bound, ratio = m["flop_bound_time_per_action_s"], m["time_to_flop_bound_ratio"]
        rows.append(f"| {name} | {Path(run).name} | {m['device']} | {m['torch_threads']} | {m['episodes']} | {head} | "
                    f"{m['wall_time_per_action_s']:.4g} | {bound:.3g} | {ratio:.2f}× |")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, type=Path, help="dynamics run directory (wmhub train)")
    parser.add_argument("--reward-model", help="reacher-easy-return: reward run, model dir or hf:// source")
    parser.add_argument("--value-model", help="reacher-easy-return: actor_critic run, its critic the terminal value")
    parser.add_argument("--gamma", type=float, help="reacher-easy-return with --value-model: discount (default 0.99)")
    parser.add_argument("--episodes", type=int, help="episodes per suite (default: each suite's own)")
    parser.add_argument("--suite", action="append", choices=SUITES, help="repeat to pick several (default: all)")
    parser.add_argument("--planner", choices=("cem", "mppi"), default="cem")
    for name in ("samples", "elites", "iterations", "horizon"):
        parser.add_argument(f"--{name}", type=int)
    for name in ("temperature", "noise-std", "disagreement-weight"):
        parser.add_argument(f"--{name}", type=float)
    parser.add_argument("--budget", type=int, help="goal-success: env steps per episode (default 50)")
    parser.add_argument("--cost-features", nargs="+", help="goal-success: latent features of the goal distance")
    parser.add_argument("--episode-length", type=int, help="reacher-easy-return (default 1000)")
    parser.add_argument("--steps", type=int, help="seed-protocol: env steps (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda")
    parser.add_argument("--threads", type=int, help="torch CPU threads (1 avoids oversubscription on a busy host)")
    parser.add_argument("--per-episode", action="store_true", help="keep per-episode records in the JSON")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    from wmhub.devices import resolve_device

    run = Run.open(args.run, finished=True)
    model = load_model(args.run / "model")
    root = run.dataset_root()
    given = {"episodes": args.episodes, "planner": planner_options(args), "budget": args.budget,
             "cost_features": args.cost_features, "episode_length": args.episode_length, "steps": args.steps,
             "seed": args.seed, "reward_model": args.reward_model, "value_model": args.value_model,
             "gamma": args.gamma}
    results = {}
    for name in args.suite or SUITES:
        options = {k: v for k, v in given.items() if v is not None and k in suite(name).option_names()}
        results[name] = run_planning_suite(name, options, model, root, run.split.val_episodes,
                                            resolve_device(args.device), show_progress=True)
        if not args.per_episode:
            results[name].pop("per_episode", None)
    print(json.dumps({"run": str(args.run), "suites": results}, indent=2))
    if args.json:
        args.json.write_text(json.dumps({"run": str(args.run), "suites": results}, indent=2) + "\n")
    print()
    print("\n".join(markdown_rows(str(args.run), results)))


if __name__ == "__main__":
    main()
