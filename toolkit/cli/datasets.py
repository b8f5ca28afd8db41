"""``wmhub verify``, ``info``, ``publish`` and ``download``: datasets wherever they live."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

import click

from wmhub.cli.options import upload_options


# ------------------------------------------------------------ verify / info
@click.command(name="verify")
@click.argument("source")
@click.option("--full", is_flag=True, help="Hub sources: download and hash every shard, not only metadata "
              "(fsspec URLs are always hashed).")
def verify(source, full):
    """Recompute sizes, SHA-256, row counts and episode coverage of every shard.

    SOURCE is a dataset directory, hf://datasets/<org>/<name>[@rev] (checked
    from file metadata without a full download, unless --full) or an fsspec
    URL such as s3://bucket/prefix (sizes from the listing, then each shard
    streamed through a scratch file and hashed: object stores keep no
    SHA-256). Exits 0 when all is well, 1 with one line per problem otherwise.

    \b
    Example:
      wmhub verify data/reacher-100k
      wmhub verify hf://datasets/my-lab/reacher-1m@v1.0
      wmhub verify s3://my-bucket/datasets/reacher-1m
    """
    from wmhub.hub.verbs import verify as run

    report = run(source, full=full)
    if not report.ok:
        for problem in report.problems:
            click.echo(f"BAD {problem}")
        click.echo(f"{len(report.problems)} problem(s) in {source}", err=True)
        sys.exit(1)
    click.echo(f"OK {source}: all shards match manifest.json")


@click.command(name="info")
@click.argument("source")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def info(source, as_json):
    """Summarise a dataset: episodes, steps, shards, success rate, returns, feature stats.

    SOURCE is a directory, hf://datasets/<org>/<name>[@rev] or an fsspec URL
    such as s3://bucket/prefix (only the manifest and the small episodes
    table are downloaded).

    \b
    Example:
      wmhub info data/reacher-100k --json
      wmhub info s3://my-bucket/datasets/reacher-1m
    """
    from wmhub.data.summary import format_summary
    from wmhub.hub.verbs import info as run

    summary = run(source)
    click.echo(json.dumps(asdict(summary), indent=2) if as_json else format_summary(summary))


# --------------------------------------------------------- publish/download
@click.command(name="publish")
@click.argument("dataset", type=click.Path(file_okay=False, exists=True))
@click.argument("dest")
@click.option("--license", "license_id", default=None, metavar="ID",
              help="The card's Hub license id (apache-2.0, cc-by-4.0, odc-by, ...; default: the one in the "
                   "dataset's card, set by `wmhub generate --license`, else apache-2.0).")
@upload_options
def publish(dataset, dest, license_id, tag, private, message):
    """Publish a dataset to hf://datasets/<org>/<name>, a local hub directory or an fsspec URL.

    Uploads only the shards the destination lacks (by path and SHA-256), plus
    the regenerated card and manifest, in one commit. Re-running is a no-op.
    A tag that already marks another version is refused before anything is
    committed. On a Hub dataset repo --tag v1.0 creates the tag data-v1.0
    (read back as @v1.0), which LeRobot cannot mistake for its format version.
    DATASET may also be a `wmhub export --format lerobot` directory: it is
    uploaded to hf://datasets/<org>/<name> and tagged v3.0, as LeRobot expects.

    \b
    Example:
      wmhub publish data/reacher-1m hf://datasets/my-lab/reacher-1m --tag v1.0
      wmhub publish data/reacher-1m /shared/hub/reacher-1m
      wmhub publish data/reacher-1m s3://my-bucket/datasets/reacher-1m
      wmhub publish out/reacher-lerobot hf://datasets/my-lab/reacher-1m-lerobot
    """
    from wmhub.hub.verbs import publish as run
    from wmhub.interop.publish import is_lerobot_export, publish_lerobot

    if is_lerobot_export(dataset):  # `wmhub export --format lerobot` output: tagged v3.0, as LeRobot reads it
        if tag is not None:
            raise click.UsageError("a LeRobot export is tagged v3.0 (LeRobot's codebase version); drop --tag")
        if license_id is not None:
            raise click.UsageError("a LeRobot export carries LeRobot's own card; drop --license (the source "
                                   "dataset's license is set by `wmhub generate --license`)")
        result = publish_lerobot(dataset, dest, private=private, message=message)
        click.echo(f"published LeRobot export ({len(result.uploaded)} data file(s), "
                   f"{result.bytes_uploaded / 1e6:.2f} MB) to {result.destination}; tagged {result.tag}")
        return
    result = run(dataset, dest, tag=tag, private=private, message=message, license=license_id)
    if result.noop:
        click.echo(f"{result.destination} is up to date ({result.skipped} shards)"
                   + (f"; tag {result.tag}" if result.tag else ""))
    else:
        click.echo(f"published {len(result.uploaded)} new shard(s) ({result.bytes_uploaded / 1e6:.2f} MB), "
                   f"skipped {result.skipped} already there, to {result.destination}"
                   + (f"; tagged {result.tag}" if result.tag else ""))


@click.command(name="download")
@click.argument("source")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--revision", default=None, help="Branch, tag or commit (default: latest).")
@click.option("--config", "configs", multiple=True, help="Only this config (repeatable).")
@click.option("--shards", default=None, help="Shard indices within each config, e.g. 0-3,7.")
@click.option("--episodes", default=None, help="Only shards overlapping these episodes, e.g. 0-999.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def download(source, out, revision, configs, shards, episodes, quiet):
    """Download a dataset (or a selection of its shards), verifying every SHA-256.

    SOURCE is hf://datasets/<org>/<name>[@rev], a local hub or dataset
    directory, or an fsspec URL such as s3://bucket/prefix.

    \b
    Example:
      wmhub download hf://datasets/my-lab/reacher-1m data/reacher-1m --revision v1.0
      wmhub download hf://datasets/my-lab/reacher-1m data/first-1k --episodes 0-999 --config steps
    """
    from wmhub.hub.verbs import download as run

    result = run(source, out, revision=revision, configs=list(configs) or None, shards=shards,
                 episodes=episodes, show_progress=not quiet)
    click.echo(f"{len(result.fetched)} shard(s) placed ({result.bytes_fetched / 1e6:.2f} MB; "
               f"{result.bytes_transferred / 1e6:.2f} MB transferred, {len(result.from_cache)} from the wmhub cache), "
               f"{len(result.cached)} already in OUT, from {result.source} at {result.revision[:12]} into {out}")
