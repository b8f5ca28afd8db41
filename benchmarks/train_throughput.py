"""Benchmark: training throughput of a recipe, in-memory path vs streamed DataLoader path.

    python benchmarks/train_throughput.py                                   # MLP dynamics, 1M state data
    python benchmarks/train_throughput.py --recipe reacher_dynamics_mlp_1m --steps 3000   # 1024-d, on a GPU

For the recipe's model and batch size it measures, in the same run:

1. the compute-only limit: optimizer steps on one batch already on the device
   (forward, loss, backward, AdamW), no data handling at all;
2. ``wmhub``'s trainer with ``data_path=memory`` (tensors on the device,
   minibatches gathered there) and with ``data_path=stream`` (a DataLoader
   worker reading shards), each for ``--steps`` optimizer steps.

It reports samples/s, each path's ratio to the compute-only limit and the
share of step time spent waiting for data (target < 5% in memory).
The dataset is obtained as the recipe says (generated when absent).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import torch  # noqa: E402

from wmhub.data.reader import WmDataset  # noqa: E402
from wmhub.devices import resolve_device  # noqa: E402
from wmhub.training import load_recipe, train  # noqa: E402
from wmhub.training.dataset_source import obtain_dataset  # noqa: E402
from wmhub.training.objectives import Objective  # noqa: E402
from wmhub.training.trainer import build_model, data_action_dim  # noqa: E402


def compute_only_rate(recipe, dataset: WmDataset, steps: int) -> float:
    """Samples/s of bare optimizer steps on one fixed batch already on the device."""
    device = resolve_device(recipe.training.device)
    config = recipe.dataset.config
    names = recipe.dataset.latent_features or dataset.config_info(config).latent_features
    data = dataset.load_tensors(config, names, shards=[0])
    h, b = recipe.training.horizon, recipe.training.batch_size
    rows = torch.arange(b)[:, None] + torch.arange(h + 1)[None, :]
    batch = {"latents": data.latents[rows].to(device), "actions": data.actions[rows[:, :-1]].to(device),
             "rewards": data.rewards[rows[:, :-1]].nan_to_num(0.0).to(device)}
    torch.manual_seed(0)
    model = build_model(recipe, data.latent_dim, data_action_dim(dataset), {}).to(device).train()
    objective = Objective(recipe.objective, recipe.loss, recipe.training.huber_delta)
    objective.constants = {"reward": torch.tensor(0.5), "action": torch.zeros(data.action_dim)}
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.training.lr)

    def run(n: int) -> None:
        for _ in range(n):
            loss = objective(model, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    run(20)  # warm-up
    start = time.perf_counter()
    run(steps)
    return steps * b / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="reacher_dynamics_mlp_1m_state")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="recipe override KEY=VALUE")
    args = parser.parse_args()
    recipe = load_recipe(args.recipe, args.overrides)
    dataset = WmDataset(obtain_dataset(recipe.dataset, recipe.source).root)
    limit = compute_only_rate(recipe, dataset, args.steps)
    results = {"recipe": recipe.name, "steps": args.steps, "batch_size": recipe.training.batch_size,
               "threads": torch.get_num_threads(), "compute_only_samples_per_s": limit}
    with tempfile.TemporaryDirectory() as tmp:
        for path in ("memory", "stream"):
            overrides = [*args.overrides, f"training.max_steps={args.steps}", f"training.data_path={path}",
                         f"training.checkpoint_every={args.steps * 10}",
                         f"training.num_workers={int(path == 'stream')}"]
            summary = train(load_recipe(args.recipe, overrides), Path(tmp) / path, show_progress=False).summary
            results[path] = {"samples_per_s": summary["samples_per_s"],
                             "ratio_to_compute_only": summary["samples_per_s"] / limit,
                             "data_wait_share": summary["data_wait_share"], "device": summary["device"],
                             "params": summary["num_parameters"]}
    print(json.dumps(results, indent=2))
    m, s = results["memory"], results["stream"]
    print(f"| {recipe.name} | {m['device']} | {limit:,.0f} | {m['samples_per_s']:,.0f} "
          f"({m['ratio_to_compute_only']:.2f}) | {m['data_wait_share']:.1%} | {s['samples_per_s']:,.0f} "
          f"({s['ratio_to_compute_only']:.2f}) | {s['data_wait_share']:.1%} |")


if __name__ == "__main__":
    main()
