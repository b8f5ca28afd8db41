"""Ablation of an imagination recipe: one setting varied, each variant trained, then run in the simulator.

    python benchmarks/imagination_ablation.py --recipe reacher_dreamer_ensemble_1m_state \\
        --key imagination.uncertainty_penalty --values 0 1 3 --runs runs/ablation --episodes 10

Each variant is ``wmhub train RECIPE --set KEY=VALUE`` into ``RUNS/<recipe>-<key>-<value>`` (a finished run
there is reused, an interrupted one resumed), then evaluated with the recipe's ``reacher-easy-return``
suite (the actor, one forward pass per action; ``--episodes`` overrides its episode count). The table
gives, per value: the 1000-step return (mean ± s.e.), the rate of episodes that reached the target,
mean |action| (the exploitation signature: the seeds' failed actors had ≈ 0.05), and the trainer's own
last validation figures inside the model — imagined discounted reward of the policy and of random
actions, and the ensemble's disagreement along the policy's rollouts. ``--set`` adds overrides to every
variant (e.g. a shorter schedule for a quick look).
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

from wmhub.runs.evaluate import evaluate  # noqa: E402
from wmhub.runs.run import Run  # noqa: E402
from wmhub.training import load_recipe, train  # noqa: E402
from wmhub.training.metrics_log import read_metrics  # noqa: E402

SUITE = "reacher-easy-return"


def variant(recipe: str, key: str, value: str, runs: Path, extra: list[str], episodes: int | None,
            quiet: bool) -> dict[str, Any]:
    """Train (or reuse) and evaluate one variant; its table row."""
    out = runs / f"{Path(recipe).stem}-{key.rsplit('.', 1)[-1]}-{value}"
    if not (out / "summary.json").is_file():
        resume = (out / "recipe.yaml").is_file()
        train(load_recipe(recipe, [*extra, f"{key}={value}"]), out, resume=resume, show_progress=not quiet)
    run = Run.open(out, finished=True)
    results = run.eval_results
    if results is None or SUITE not in results.suites or (
            episodes is not None and results.suites[SUITE]["episodes"] != episodes):
        results = evaluate(run, [SUITE], overrides={"episodes": episodes} if episodes else None,
                           show_progress=not quiet)
    suite = results.suites[SUITE]
    val = [r for r in read_metrics(out) if r["split"] == "val"][-1]
    return {"value": value, "run": str(out), "return": suite["return"], "reached_rate": suite["reached_rate"],
            "mean_abs_action": suite["mean_abs_action"], "episodes": suite["episodes"],
            "imagined_reward": -val["loss"], "imagined_reward_random": -val["baseline_loss"],
            "disagreement": val.get("disagreement"), "val_mean_abs_action": val.get("mean_abs_action")}


def _pm(stat: dict[str, Any]) -> str:
    se = stat.get("se")
    return f"{stat['mean']:.1f}" + (f" ± {se:.1f}" if se is not None else "")


def markdown(key: str, rows: list[dict[str, Any]]) -> list[str]:
    """The table, one row per value."""
    lines = [f"| {key} | return (1000 steps) | reached | mean \\|a\\| | imagined reward (policy / random) | "
             "disagreement |", "|---|---|---|---|---|---|"]
    for r in rows:
        dis = "–" if r["disagreement"] is None else f"{r['disagreement']:.4f}"
        lines.append(f"| {r['value']} | {_pm(r['return'])} | {r['reached_rate']['mean']:.2f} | "
                     f"{r['mean_abs_action']:.3f} | {r['imagined_reward']:.3f} / {r['imagined_reward_random']:.3f} | "
                     f"{dis} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", required=True, help="an imagination recipe (name or YAML)")
    parser.add_argument("--key", default="imagination.uncertainty_penalty", help="the recipe key to vary")
    parser.add_argument("--values", nargs="+", required=True)
    parser.add_argument("--runs", default="runs/ablation", help="where the variants' runs go")
    parser.add_argument("--episodes", type=int, default=None, help="episodes of the return suite")
    parser.add_argument("--set", dest="extra", action="append", default=[], metavar="KEY=VALUE",
                        help="an override for every variant (repeatable)")
    parser.add_argument("--json", default=None, help="also write the rows here")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    rows = [variant(args.recipe, args.key, v, Path(args.runs), args.extra, args.episodes, args.quiet)
            for v in args.values]
    print("\n".join(markdown(args.key, rows)))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
