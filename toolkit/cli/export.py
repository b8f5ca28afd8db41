"""``wmhub export``: a dataset in another layout (triples, LeRobotDataset v3.0, Minari)."""

from __future__ import annotations

import click

from wmhub.interop.export import EXPORT_FORMATS


@click.command(name="export")
@click.argument("source", type=click.Path(file_okay=False, exists=True))
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="triples", show_default=True,
              help="triples: flat (z_t, a_t, z_t1) parquet; lerobot: a LeRobotDataset v3.0 directory; "
                   "minari: a Minari datasets root (OUT/<namespace>/<name>-vN).")
@click.option("--repo-id", default=None, help="lerobot: the repo id LeRobotDataset opens it as (org/name).")
@click.option("--dataset-id", default=None,
              help="minari: the dataset id, (namespace/)name-v<N> [default: wmhub/<SOURCE name>-v0].")
@click.option("--task", default=None, help="lerobot: the task string [default: the environment's].")
@click.option("--embeddings", "embeddings", multiple=True,
              help="lerobot, minari: only this embedding config (repeatable) [default: all].")
@click.option("--no-embeddings", is_flag=True, help="lerobot, minari: no embedding configs.")
@click.option("--frames", default=None, help="lerobot, minari: add this frames config (frames-S): LeRobot video "
              "observation.images.frames_S (H.264), Minari observation `frames` (lossless).")
@click.option("--config", default="steps", show_default=True, help="triples: the config whose latent features form z.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def export(source, out, fmt, repo_id, dataset_id, task, embeddings, no_embeddings, frames, config, quiet):
    """Export the dataset directory SOURCE to OUT (a new or empty directory) in another layout.

    lerobot: LeRobotDataset v3.0 (one row per action: observation.state, action, next.reward,
    next.done; embeddings as observation.embedding.<name>; --frames as video; episode seed,
    return and success in meta/episodes). minari: a Minari dataset (T+1 observations per episode, as wmhub stores them;
    episode metadata seed, return, success). triples: one (z_t, a_t, z_t1) row per transition.
    Nothing is left in OUT when an export fails. See docs/interop.md.

    \b
    Example:
      wmhub export data/reacher-100k out/reacher-lerobot --format lerobot --repo-id my-lab/reacher-100k
      wmhub export data/reacher-100k out/minari --format minari --dataset-id wmhub/reacher-100k-v0
      wmhub export data/reacher-100k out/triples --format triples
    """
    from wmhub.interop.export import export as run

    if no_embeddings and embeddings:
        raise click.UsageError("--embeddings and --no-embeddings contradict each other; give one")
    chosen = [] if no_embeddings else (list(embeddings) or None)
    if fmt == "triples" and chosen == []:
        chosen = None
    result = run(source, out, fmt, config=config, repo_id=repo_id, dataset_id=dataset_id, task=task,
                 embeddings=chosen, frames=frames, show_progress=not quiet)
    what = {"lerobot": f"LeRobotDataset {result.name}", "minari": f"Minari dataset {result.name}",
            "triples": "triples"}[fmt]
    click.echo(f"wrote {what}: {result.episodes} episodes, {result.rows} transitions, to {result.path}")
