"""``wmhub quickstart``: the main job, end to end on CPU in about a minute.

Steps: generate a small reacher ε-greedy dataset (2 workers), verify every
shard, load it with plain ``datasets.load_dataset`` and with wmhub's tensor
reader, and print a summary. Re-running it reuses the dataset.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from toolkit.errors import WmhubError


def run_quickstart(workdir: Path, episodes: int = 100) -> None:
    """Run the quickstart pipeline in ``workdir``."""
    from toolkit.data.reader import open_dataset
    from toolkit.data.summary import format_summary, summarize
    from toolkit.data.verify import verify_dataset
    from toolkit.generate import generate

    dataset_dir = workdir / "reacher-eps0.3"
    click.echo(f"[1/4] generating {episodes} reacher-easy episodes (p-controller, ε = 0.3) in {dataset_dir}")
    generate("reacher", dataset_dir, episodes, options={"policy": "p-controller", "epsilon": 0.3, "seed": 0},
             episodes_per_shard=max(1, episodes // 4), workers=min(2, os.cpu_count() or 1),
             resume=(dataset_dir / ".wmhub-job.json").exists())
    click.echo("[2/4] verifying checksums, row counts and episode coverage")
    problems = verify_dataset(dataset_dir)
    if problems:
        raise WmhubError(f"verification failed: {problems[0]} (and {len(problems) - 1} more)")
    click.echo("[3/4] loading with datasets.load_dataset and with the wmhub reader")
    from datasets import load_dataset

    steps = load_dataset(str(dataset_dir), split="train")
    dataset = open_dataset(dataset_dir)
    windows = dataset.windows(horizon=5)
    click.echo(f"      load_dataset: {steps.num_rows} rows, columns {steps.column_names}")
    click.echo(f"      wmhub: {len(windows)} windows of 5 steps, latent dim "
               f"{windows.data.latent_dim}, action dim {windows.data.action_dim}")
    click.echo("[4/4] summary")
    click.echo(format_summary(summarize(dataset_dir)))
    click.echo(f"\nNext: wmhub info {dataset_dir} | wmhub export {dataset_dir} {workdir / 'triples'}")
