"""``wmhub report``: the HTML report of a dataset, a training run or a reproduction."""

from __future__ import annotations

import click


@click.command(name="report")
@click.argument("source_or_run")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="The report's folder (OUT/index.html; an earlier report there is replaced).")
@click.option("--claimed", default=None, metavar="PUSHED",
              help="Runs: a pushed checkpoint (hf://org/name[@rev] or local hub dir) whose claimed metrics are "
                   "shown beside the run's, as after `wmhub reproduce`.")
@click.option("--tolerance", type=float, default=0.02, show_default=True,
              help="With --claimed: the relative difference a metric may have.")
@click.option("--thumbnails", type=int, default=8, show_default=True,
              help="Datasets: episodes shown as thumbnails linking to their videos (0: none).")
@click.option("--video-size", type=int, default=128, show_default=True,
              help="Datasets: the scene's size in the episode videos, pixels.")
@click.option("--revision", default=None, help="Datasets on a hub: branch, tag or commit (default: latest).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def report(source_or_run, out, claimed, tolerance, thumbnails, video_size, revision, quiet):
    """Write one self-contained static HTML page about a dataset or a run.

    SOURCE_OR_RUN is a dataset (a directory, a local hub, hf://datasets/org/name[@rev]
    or an fsspec URL) or a `wmhub train` run directory. Dataset reports show size and
    provenance, returns and success, per-feature histograms, actions and their
    ε-random share, episode thumbnails with videos and a PCA of embedding configs;
    run reports show the recipe, training curves and every evaluation result.
    Open OUT/index.html in a browser: no server, nothing loaded from the network.

    \b
    Example:
      wmhub report data/reacher-100k --out reports/reacher-100k
      wmhub report runs/tiny_reacher_dynamics_state --out reports/dynamics
      wmhub report runs/again --out reports/again --claimed hub/tiny-dynamics
    """
    from wmhub.reporting.build import report as build_report

    result = build_report(source_or_run, out, claimed=claimed, tolerance=tolerance, thumbnails=thumbnails,
                          video_size=video_size, revision=revision, show_progress=not quiet)
    for note in result.notes:
        click.echo(f"note: {note}")
    click.echo(f"{result.kind} report ({len(result.sections)} sections, {len(result.files)} files) in "
               f"{result.elapsed_s:.1f} s: {result.page}")
