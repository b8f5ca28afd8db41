"""Benchmark: Spot world-model size at equal training compute (issue 8's variable: 10M / 100M / 300M).

    python benchmarks/world_model_sizes.py --budget 6.4e11 --episodes 200 --val-fraction 0.05   # this CPU, 56 min
    python benchmarks/world_model_sizes.py --fit-seconds 200 --episodes 2000 --workers 16 --batch-size 512  # a GPU

Every recipe gets the same training compute, counted as *parameter-windows* N · W (N parameters, W
training windows seen). The recipes share the context, the rollout horizon and the latent, so N · W is
proportional to training FLOPs (≈ 6 · N · tokens per window · W for a dense transformer). Recipe r trains
for ``ceil(budget / (N_r · batch))`` steps of one common batch size, with a tenth of them as warm-up and
one validation at the end; otherwise each recipe is as shipped (its own learning rate). The latent suite
then measures cosine and relative L2 at horizons 1 / 5 / 10 / 30 on the held-out episodes, beside the
copy-last baseline. Measured in the same run: each model's training samples/s (so the report also gives
what equal wall-clock would buy) and peak memory (CUDA: ``max_memory_allocated``; CPU: the process's
peak RSS so far, which includes the pilots' when ``--fit-seconds`` ran them).

``--fit-seconds S`` sizes the budget for a machine whose speed is not known yet (a GPU machine): a pilot
run of each recipe (``--pilot-steps`` on the first 8 episodes) measures its training samples/s, and the
budget is the one whose training takes S seconds in all at those rates (``fit_budget``). The budget is
still equal across recipes; only its size comes from the measurement. S counts training alone: loading
the data, validation and the latent suite come on top. ``benchmarks/gpu_session/`` runs it on a GPU machine.

The dataset is the recipes' 50-hour generation command cut to ``--episodes`` (the first episodes of the
same seed), generated under ``data/`` when missing. Runs go to ``--out/<recipe>``; a finished run is
reused, so an interrupted benchmark resumes where it stopped. Results: ``--out/results.json`` and a
markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import torch  # noqa: E402

from wmhub.fileio import atomic_write_json  # noqa: E402
from wmhub.models import world_model_parameters  # noqa: E402
from wmhub.runs.evaluate import evaluate  # noqa: E402
from wmhub.training import load_recipe, train  # noqa: E402

PILOT_EPISODES = 8  # episodes a pilot run reads (two held out)
RECIPES = ["spot_world_model_10m", "spot_world_model_100m", "spot_world_model_300m"]
LATENT, ACTION = 81, 12  # Spot's state latent and joystick action


def subset_command(command: str, episodes: int, workers: int) -> str:
    """The recipe's generate command for the first ``episodes`` episodes, on ``workers`` processes."""
    if not re.search(r"--episodes \d+", command):
        raise SystemExit(f"the recipe's dataset.generate command has no `--episodes N` to cut: {command!r}")
    command = re.sub(r"--episodes \d+", f"--episodes {episodes}", command)
    return re.sub(r"--workers \d+", f"--workers {workers}", command)


def parameters(recipe_name: str) -> int:
    """Exact parameter count of a world-model recipe at Spot's dimensions (without building it)."""
    m = load_recipe(recipe_name).model
    return world_model_parameters(LATENT, ACTION, m.width, m.depth, m.context, m.mlp_ratio, m.conditioning)


def plan_steps(recipes: list[str], budget: float, batch_size: int) -> dict[str, int]:
    """Optimizer steps per recipe so that each sees ``budget`` parameter-windows (rounded up to whole steps)."""
    return {name: max(1, math.ceil(budget / (parameters(name) * batch_size))) for name in recipes}


def peak_memory_gb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def _overrides(args: argparse.Namespace, steps: int, source: str, command: str) -> list[str]:
    """Recipe overrides shared by the pilot and the benchmark runs: data, steps, batch, device."""
    return [f"dataset.source={source}", f"dataset.generate={json.dumps([command])}",
            f"training.max_steps={steps}", f"training.batch_size={args.batch_size}",
            f"training.warmup_steps={max(1, steps // 10)}", f"training.eval_every={steps}",
            f"training.checkpoint_every={max(1, steps // 4)}", f"training.log_every={max(1, steps // 10)}",
            f"training.val_fraction={args.val_fraction}", f"training.device={args.device}",
            f"eval.latent.stride={args.stride}"]


def pilot_rate(name: str, args: argparse.Namespace, source: str, command: str) -> float:
    """Training samples/s of one recipe here: a short run of ``--pilot-steps`` on the first episodes.

    The rate is the last logged window's (the second half of the run), so start-up and CUDA warm-up are
    left out; the pilot reads only ``PILOT_EPISODES`` episodes, so it loads in seconds. Reused when done.
    """
    steps = max(2, args.pilot_steps)
    overrides = _overrides(args, steps, source, command) + [
        f"dataset.max_episodes={min(args.episodes, PILOT_EPISODES)}", "training.val_fraction=0.25",
        "training.warmup_steps=1", f"training.log_every={steps // 2}", f"training.checkpoint_every={steps}"]
    recipe = load_recipe(name, overrides)
    run_dir = Path(args.out) / "pilot" / recipe.name
    train(recipe, run_dir, resume=(run_dir / "recipe.yaml").is_file(), show_progress=not args.quiet)
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    rates = [r["samples_per_s"] for r in records if r.get("split") == "train" and "samples_per_s" in r]
    if not rates:
        raise SystemExit(f"{run_dir / 'metrics.jsonl'} has no training rate; remove {run_dir} and run again")
    return float(rates[-1])


def fit_budget(rates: dict[str, float], counts: dict[str, int], seconds: float) -> float:
    """The parameter-window budget B whose training takes ``seconds`` in all at the measured rates.

    Recipe r needs B / N_r windows at rate_r windows/s, so the total is B · Σ_r 1 / (N_r · rate_r).
    """
    if seconds <= 0 or any(rate <= 0 for rate in rates.values()):
        raise ValueError(f"fit seconds and rates must be positive, got {seconds} and {rates}")
    return seconds / sum(1.0 / (counts[name] * rate) for name, rate in rates.items())


def run_one(name: str, args: argparse.Namespace, steps: int, source: str, command: str) -> dict:
    """Train and evaluate one recipe at the benchmark's budget; a finished run directory is reused."""
    overrides = _overrides(args, steps, source, command)
    recipe = load_recipe(name, overrides)
    run_dir = Path(args.out) / recipe.name
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    resume = (run_dir / "recipe.yaml").is_file()
    summary = train(recipe, run_dir, resume=resume, show_progress=not args.quiet).summary
    memory_file = run_dir / "benchmark_peak_memory.json"  # kept for a reused run, whose training is not re-run
    if not memory_file.is_file():
        atomic_write_json(memory_file, {"train_peak_memory_gb": peak_memory_gb(summary.device)})
    train_peak = json.loads(memory_file.read_text())["train_peak_memory_gb"]
    results_file = run_dir / "eval" / "eval_results.json"
    kept = json.loads(results_file.read_text())["suites"] if results_file.is_file() else {}
    if "latent" in kept:
        latent = kept["latent"]
    else:
        latent = evaluate(run_dir, suites=["latent"], device=args.device,
                          show_progress=not args.quiet).suites["latent"]
    horizons = latent["horizons"]
    return {
        "recipe": recipe.name, "parameters": summary.num_parameters, "steps": summary.steps,
        "windows": summary.steps * args.batch_size,
        "parameter_windows": summary.num_parameters * summary.steps * args.batch_size,
        "device": summary.device, "train_time_s": summary.train_time_s,
        "samples_per_s": summary.samples_per_s, "train_peak_memory_gb": train_peak,
        "val_loss": summary.val_loss, "val_baseline_loss": summary.val_baseline_loss,
        "eval_windows": latent["windows"], "eval_time_s": latent["wall_time_s"],
        "cosine": {h: e["cosine"]["mean"] for h, e in horizons.items()},
        "cosine_se": {h: e["cosine"]["se"] for h, e in horizons.items()},
        "copy_last_cosine": {h: e["copy_last_cosine"]["mean"] for h, e in horizons.items()},
        "relative_l2": {h: e["relative_l2"]["mean"] for h, e in horizons.items()},
        "train_wall_s": summary.wall_time_s,  # loading the data into memory, training, validation
    }


def table(rows: list[dict]) -> str:
    horizons = list(rows[0]["cosine"])
    head = ("| recipe | parameters | steps × batch | train s (samples/s) | peak GB | val L1 (copy-last) | "
            + " | ".join(f"cos h={h}" for h in horizons) + " |")
    lines = [head, "|" + "---|" * (6 + len(horizons)),
             "| copy-last | – | – | – | – | – | "
             + " | ".join(f"{rows[0]['copy_last_cosine'][h]:.4f}" for h in horizons) + " |"]
    for r in rows:
        lines.append(f"| `{r['recipe']}` | {r['parameters']:,} | {r['steps']} × {r['windows'] // r['steps']} | "
                     f"{r['train_time_s']:.0f} ({r['samples_per_s']:.1f}) | {r['train_peak_memory_gb']:.1f} | "
                     f"{r['val_loss']:.4f} ({r['val_baseline_loss']:.4f}) | "
                     + " | ".join(f"{r['cosine'][h]:.4f}" + (f" ± {r['cosine_se'][h]:.4f}" if r["cosine_se"][h] else "")
                                  for h in horizons) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipes", nargs="+", default=RECIPES, help="built-in recipe names or recipe files")
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--budget", type=float, help="parameter-windows N·W per recipe")
    size.add_argument("--fit-seconds", type=float,
                      help="choose the budget from pilot runs so that all training takes this many seconds")
    parser.add_argument("--pilot-steps", type=int, default=40, help="steps of each pilot run (--fit-seconds)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--episodes", type=int, default=200, help="first episodes of the 50-hour data")
    parser.add_argument("--workers", type=int, default=2, help="generation processes (when the data is missing)")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="held-out share of the episodes")
    parser.add_argument("--stride", type=int, default=10, help="latent suite: steps between evaluated starts")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda")
    parser.add_argument("--out", default="runs/world_model_sizes")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    source = f"data/spot-{args.episodes}"
    command = subset_command(load_recipe(args.recipes[0]).dataset.commands()[0], args.episodes, args.workers)
    pilot: dict[str, float] = {}
    if args.fit_seconds is not None:
        rates = {name: pilot_rate(name, args, source, command) for name in args.recipes}
        args.budget = fit_budget(rates, {name: parameters(name) for name in args.recipes}, args.fit_seconds)
        pilot = {load_recipe(name).name: rate for name, rate in rates.items()}
        print(f"pilot samples/s: {pilot}; budget for {args.fit_seconds:.0f} s of training: {args.budget:.3g} "
              "parameter-windows", file=sys.stderr)
    plan = plan_steps(args.recipes, args.budget, args.batch_size)
    print("steps per recipe at the budget: " + ", ".join(f"{k} {v}" for k, v in plan.items()), file=sys.stderr)
    rows = [run_one(name, args, steps, source, command) for name, steps in plan.items()]
    for row in rows:  # how well the pilots predicted the training time (--fit-seconds)
        if row["recipe"] in pilot:
            row["pilot_predicted_train_time_s"] = row["windows"] / pilot[row["recipe"]]
    result = {"budget_parameter_windows": args.budget, "fit_seconds": args.fit_seconds,
              "pilot_samples_per_s": pilot or None, "batch_size": args.batch_size, "episodes": args.episodes,
              "val_fraction": args.val_fraction, "stride": args.stride, "threads": torch.get_num_threads(),
              "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None, "runs": rows}
    atomic_write_json(Path(args.out) / "results.json", result)
    print(json.dumps(result, indent=2))
    print(table(rows))


if __name__ == "__main__":
    main()
