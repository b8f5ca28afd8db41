"""The ``wmhub`` command line (click).

Every subcommand's ``--help`` ends with an example. User errors
(:class:`wmhub.errors.WmhubError`) print one ``error:`` line and exit 2.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import click

from wmhub import __version__
from wmhub.cli_group import ErrorReportingGroup
from wmhub.errors import WmhubError


@click.group(cls=ErrorReportingGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="wmhub")
def main() -> None:
    """wmhub: datasets and checkpoints for world-model research in robot learning.

    \b
    Example:
      wmhub quickstart                 # generate, verify and summarise a small dataset
      wmhub generate reacher data/reacher-100k --episodes 500 --workers 2
      wmhub verify data/reacher-100k
    """


# ------------------------------------------------------ encoding options
def _encode_options(func):
    options = [
        click.option("--pooling", type=click.Choice(["cls", "mean"]), default="cls", show_default=True,
                     help="hf-image only: CLS token or mean of patch tokens."),
        click.option("--device", default="auto", show_default=True,
                     help="auto (CUDA when present; with --executor ray: one GPU actor per GPU when the cluster "
                          "has GPUs), cpu or cuda."),
        click.option("--dtype", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32", show_default=True,
                     help="Compute dtype of the encoder (image embeddings are stored as float16)."),
        click.option("--batch-size", type=int, default=16, show_default=True, help="Windows per forward pass."),
        click.option("--frame-size", type=int, default=None,
                     help="Render size; default: the encoder's input size (64 for --save-frames alone)."),
        click.option("--save-frames", is_flag=True, help="Also store the frames as WebDataset tar shards."),
        click.option("--encoder-threads", type=int, default=None,
                     help="CPU threads for the encoder (default: all; 1 in a Ray actor); 1 suits light encoders "
                          "on CPU."),
        click.option("--ray-actors", type=int, default=None, expose_value=False, callback=_store_in_meta,
                     help="With --executor ray: encoder actors (default: one per GPU, else the cluster's CPUs / "
                          "(encoder threads + render workers)); each loads the encoder once."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _run_encode(dataset, encoder_spec, pooling, device, dtype, batch_size, frame_size, save_frames,
                encoder_threads, render_workers, resume, quiet) -> None:
    """Encode and/or store frames; ``--executor``, ``--ray-address`` and ``--ray-actors`` come from the
    context (the encode command's own options, or generate's)."""
    from wmhub.encoding import encode_dataset
    from wmhub.encoding.frames import save_frames as store_frames

    meta = click.get_current_context().meta
    executor = {"executor": meta.get("wmhub.executor", "local"), "ray_address": meta.get("wmhub.ray_address"),
                "actors": meta.get("wmhub.ray_actors")}
    if encoder_spec:
        result = encode_dataset(dataset, encoder_spec, device=device, dtype=dtype, batch_size=batch_size,
                                frame_size=frame_size, workers=render_workers, pooling=pooling,
                                encoder_threads=encoder_threads, resume=resume, show_progress=not quiet, **executor)
        click.echo(f"{result.config}: encoded {result.rows_processed} steps in {result.shards_written} new "
                   f"shard(s), reused {result.shards_reused}")
    if save_frames:
        result = store_frames(dataset, frame_size or 64, workers=render_workers, resume=resume,
                              show_progress=not quiet, **executor)
        click.echo(f"{result.config}: stored {result.rows_processed} frames in {result.shards_written} new "
                   f"shard(s), reused {result.shards_reused}")


def _has_interrupted_job(dataset: str) -> bool:
    """True when the dataset (a path or an fsspec URL) holds a job file."""
    from wmhub.encoding.derived_job import open_destination

    return open_destination(dataset).read_job() is not None


# ---------------------------------------------------------------- generate
@main.group(cls=ErrorReportingGroup)
def generate() -> None:
    """Generate rollout datasets (deterministic, sharded, resumable).

    \b
    Example:
      wmhub generate reacher out/reacher --episodes 500
    """


def _common_generate_options(func=None, *, episodes_required: bool = True):
    """The options every ``generate`` command shares; ``episodes_required=False`` for
    commands that also accept another size option (``--hours``)."""
    if func is None:
        return lambda f: _common_generate_options(f, episodes_required=episodes_required)
    options = [
        click.option("--episodes", type=int, required=episodes_required, default=None,
                     help="Total episodes the dataset must hold; more than OUT has appends new shards."),
        click.option("--episodes-per-shard", type=int, default=None,
                     help="Episodes per shard file (default 500; when growing, the dataset's own value)."),
        click.option("--seed", type=int, default=0, show_default=True, help="Dataset seed."),
        click.option("--workers", type=int, default=1, show_default=True,
                     help="Parallel worker processes (output is identical for any count)."),
        click.option("--resume", is_flag=True, help="Continue an interrupted job in OUT."),
        click.option("--quiet", is_flag=True, help="No progress bar."),
        # stored in ctx.meta (expose_value=False) so the commands' signatures stay as they are
        click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                     expose_value=False, callback=_store_in_meta,
                     help="local: --workers processes here; ray: one Ray task per shard on a Ray cluster "
                          "(pip install 'wmhub[ray]'; --workers is then ignored). Same bytes either way."),
        click.option("--ray-address", default=None, expose_value=False, callback=_store_in_meta,
                     help="With --executor ray: the cluster (auto, ray://HEAD:10001); default RAY_ADDRESS, "
                          "else a local Ray instance for this job."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _store_in_meta(ctx: click.Context, param: click.Parameter, value):
    ctx.meta[f"wmhub.{param.name}"] = value
    return value


def _run_generate(env: str, out: str, episodes: int, episodes_per_shard: int | None, workers: int,
                  resume: bool, quiet: bool, options: dict) -> None:
    from wmhub.generation import generate as run

    meta = click.get_current_context().meta
    result = run(env, out, episodes, options=options,
                 episodes_per_shard=episodes_per_shard,
                 workers=workers, resume=resume, show_progress=not quiet,
                 executor=meta.get("wmhub.executor", "local"), ray_address=meta.get("wmhub.ray_address"))
    if result.shards_written == 0 and result.shards_reused == 0:
        click.echo(f"{out} already holds {result.manifest.num_episodes} episodes: nothing to do")
        return
    rate = result.episodes_generated / result.seconds if result.seconds else 0.0
    click.echo(f"wrote {result.shards_written} shard task(s) ({result.episodes_generated} episodes, "
               f"{rate:.1f} episodes/s), reused {result.shards_reused}; "
               f"{out} now holds {result.manifest.num_episodes} episodes")


@generate.command("reacher")
@click.argument("out", type=click.Path(file_okay=False))
@_common_generate_options
@click.option("--episode-length", type=int, default=200, show_default=True, help="Actions per episode (T).")
@click.option("--policy", type=click.Choice(["p-controller", "jacobian", "random"]), default="p-controller",
              show_default=True, help="Scripted policy (see docs/format.md).")
@click.option("--epsilon", type=float, default=0.3, show_default=True,
              help="Probability of replacing each action by a uniform random one.")
@click.option("--encoder", "encoder_spec", default=None, help="Also encode the new steps (see `wmhub encode`).")
@_encode_options
@click.option("--render-workers", type=int, default=1, show_default=True,
              help="With --encoder/--save-frames: render processes running ahead of the encoder.")
def generate_reacher(out, episodes, episodes_per_shard, seed, workers, resume, quiet, episode_length, policy,
                     epsilon, encoder_spec, pooling, device, dtype, batch_size, frame_size, save_frames,
                     encoder_threads, render_workers):
    """dm_control reacher-easy rollouts with ε-greedy scripted policies.

    \b
    Example (the seeds' 1M-transition dataset, state only):
      wmhub generate reacher data/reacher-1m --episodes 5000 --policy p-controller --epsilon 0.3 --workers 2

    \b
    With V-JEPA 2 embeddings in the same command (rollouts first, then rendering
    in --render-workers processes overlapped with batched encoding):
      wmhub generate reacher data/reacher-100k --episodes 500 --encoder vjepa2:/models/vjepa2 --dtype bf16
    """
    _run_generate("reacher", out, episodes, episodes_per_shard, workers, resume, quiet,
                  {"episode_length": episode_length, "policy": policy, "epsilon": epsilon, "seed": seed})
    if encoder_spec or save_frames:
        _run_encode(out, encoder_spec, pooling, device, dtype, batch_size, frame_size, save_frames, encoder_threads,
                    render_workers, resume or _has_interrupted_job(out), quiet)


# Spot shards are stepped as one lockstep batch: 100 episodes x 1001 rows keep a worker near 150 MB.
SPOT_EPISODES_PER_SHARD = 100


def spot_hours_to_episodes(hours: float, episode_length: int) -> int:
    """Episodes for ``hours`` of Spot data: ceil(hours · 3600 / (episode_length · 0.02 s)).

    Rounded up, so the nominal duration is at least ``hours``; episodes that end in a
    fall are shorter, so the stored duration can be less (the card reports it).
    """
    import math

    if hours <= 0:
        raise WmhubError(f"--hours must be positive, got {hours}")
    return max(1, math.ceil(round(hours * 3600 / (episode_length * 0.02), 9)))


@generate.command("spot")
@click.argument("out", type=click.Path(file_okay=False))
@_common_generate_options(episodes_required=False)
@click.option("--hours", type=float, default=None,
              help="Size in hours instead of --episodes: ceil(H·3600 / 20 s) episodes at the default length.")
@click.option("--episode-length", type=int, default=1000, show_default=True,
              help="Control steps per episode (0.02 s each) unless the robot falls.")
@click.option("--policy", default="trot", show_default=True, help="trot, random or mlp:PATH.")
@click.option("--epsilon", type=float, default=0.0, show_default=True,
              help="Probability of replacing each action by a uniform random one.")
@click.option("--obs-noise", type=click.BOOL, default=True, show_default=True,
              help="Playground's observation noise on `state` (false for clean observations).")
@click.option("--policy-sha256", default="", show_default=False,
              help="mlp:PATH only: the policy files' SHA-256 (config.json:HEX,model.safetensors:HEX), checked on "
                   "load; computed from PATH when not given and recorded in the manifest.")
def generate_spot(out, episodes, episodes_per_shard, seed, workers, resume, quiet, hours, episode_length, policy,
                  epsilon, obs_noise, policy_sha256):
    """Boston Dynamics Spot joystick rollouts (MuJoCo Playground's SpotJoystickFlatTerrain, plain MuJoCo).

    The model comes from MuJoCo Menagerie (mujoco_menagerie; set MENAGERIE_ROOT for an offline copy).
    The episodes of each shard are stepped in lockstep (default --episodes-per-shard 100).

    \b
    Example (0.5 hour of trotting data, 2 workers):
      wmhub generate spot data/spot-0.5h --hours 0.5 --workers 2
    """
    if (episodes is None) == (hours is None):
        raise WmhubError("give exactly one of --episodes N or --hours H")
    if hours is not None:
        episodes = spot_hours_to_episodes(hours, episode_length)
    if episodes_per_shard is None and not (Path(out) / "manifest.json").exists():
        episodes_per_shard = SPOT_EPISODES_PER_SHARD  # a new dataset; growing keeps the dataset's own value
    if policy.startswith("mlp:") and len(policy) > 4 and not policy_sha256:
        from wmhub.envs.spot import policy_sha256 as digest

        policy_sha256 = digest(policy.removeprefix("mlp:"))
    _run_generate("spot", out, episodes, episodes_per_shard, workers, resume, quiet,
                  {"episode_length": episode_length, "policy": policy, "epsilon": epsilon, "seed": seed,
                   "obs_noise": obs_noise, "policy_sha256": policy_sha256})


# ------------------------------------------------------------------ encode
@main.command()
@click.argument("dataset")
@click.option("--encoder", "encoder_spec", default=None,
              help="vjepa2[:MODEL_ID_OR_PATH] | hf-image:MODEL_ID_OR_PATH | random[:DIM] | state")
@_encode_options
@click.option("--workers", "render_workers", type=int, default=1, show_default=True,
              help="Render processes running ahead of the encoder (0: render in the main process); per actor "
                   "with --executor ray.")
@click.option("--resume", is_flag=True, help="Continue an interrupted encode job.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              expose_value=False, callback=_store_in_meta,
              help="local: this process; ray: a pool of Ray actors on a Ray cluster, each loading the encoder "
                   "once (num_gpus=1 each when the cluster has GPUs; pip install 'wmhub[ray]'). Same bytes either "
                   "way.")
@click.option("--ray-address", default=None, expose_value=False, callback=_store_in_meta,
              help="With --executor ray: the cluster (auto, ray://HEAD:10001); default RAY_ADDRESS, else a local "
                   "Ray instance for this job.")
def encode(dataset, encoder_spec, pooling, device, dtype, batch_size, frame_size, save_frames, encoder_threads,
           render_workers, resume, quiet):
    """Add per-step embeddings of a frozen encoder as config `embeddings-<name>`.

    DATASET is a directory or an fsspec URL (s3://bucket/prefix: each shard
    is downloaded to a scratch directory, encoded and uploaded). Frames are
    re-rendered from the stored physics state; shards align row-for-row with
    the step shards. Re-running after the dataset grew encodes only the new
    shards. With --executor ray, each Ray actor loads the encoder once and
    takes shards from a queue (docs/scale-out.md).

    \b
    Example:
      wmhub encode data/reacher-100k --encoder vjepa2:/models/vjepa2-vitl-fpc64-256 --dtype bf16
      wmhub encode data/reacher-100k --encoder hf-image:/models/dinov2-base --pooling mean
      wmhub encode data/reacher-100k --encoder state
      wmhub encode data/reacher-100k --save-frames --frame-size 64
      wmhub encode s3://my-bucket/reacher-1m --encoder vjepa2:/models/vjepa2 --executor ray --ray-address auto
    """
    if not encoder_spec and not save_frames:
        raise WmhubError("nothing to do: pass --encoder SPEC and/or --save-frames")
    _run_encode(dataset, encoder_spec, pooling, device, dtype, batch_size, frame_size, save_frames, encoder_threads,
                render_workers, resume, quiet)


# ------------------------------------------------------------ verify / info
@main.command()
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
    from wmhub.hub.remote import verify_source

    problems = verify_source(source, full=full)
    if problems:
        for problem in problems:
            click.echo(f"BAD {problem}")
        click.echo(f"{len(problems)} problem(s) in {source}", err=True)
        sys.exit(1)
    click.echo(f"OK {source}: all shards match manifest.json")


@main.command()
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
    from wmhub.hub.remote import summarize_source

    summary = summarize_source(source)
    click.echo(json.dumps(asdict(summary), indent=2) if as_json else format_summary(summary))


# --------------------------------------------------------- publish/download
def _upload_options(func):
    """--tag / --private / --message, shared by `publish` (datasets) and `push` (checkpoints)."""
    func = click.option("--message", default=None, help="Commit message.")(func)
    func = click.option("--private", is_flag=True, help="Create the Hub repo as private.")(func)
    return click.option("--tag", default=None,
                        help="Mark this version (e.g. v1.0); existing tags never move.")(func)


@main.command()
@click.argument("dataset", type=click.Path(file_okay=False, exists=True))
@click.argument("dest")
@_upload_options
def publish(dataset, dest, tag, private, message):
    """Publish a dataset to hf://datasets/<org>/<name> or a local hub directory.

    Uploads only the shards the destination lacks (by path and SHA-256), plus
    the regenerated card and manifest, in one commit. Re-running is a no-op.

    \b
    Example:
      wmhub publish data/reacher-1m hf://datasets/my-lab/reacher-1m --tag v1.0
      wmhub publish data/reacher-1m /shared/hub/reacher-1m
    """
    from wmhub.hub.publish import publish as run

    result = run(dataset, dest, tag=tag, private=private, message=message)
    if result.noop:
        click.echo(f"{result.destination} is up to date ({result.skipped} shards)"
                   + (f"; tag {result.tag}" if result.tag else ""))
    else:
        click.echo(f"published {len(result.uploaded)} new shard(s) ({result.bytes_uploaded / 1e6:.2f} MB), "
                   f"skipped {result.skipped} already there, to {result.destination}"
                   + (f"; tagged {result.tag}" if result.tag else ""))


@main.command()
@click.argument("source")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--revision", default=None, help="Branch, tag or commit (default: latest).")
@click.option("--config", "configs", multiple=True, help="Only this config (repeatable).")
@click.option("--shards", default=None, help="Shard indices within each config, e.g. 0-3,7.")
@click.option("--episodes", default=None, help="Only shards overlapping these episodes, e.g. 0-999.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def download(source, out, revision, configs, shards, episodes, quiet):
    """Download a dataset (or a selection of its shards), verifying every SHA-256.

    \b
    Example:
      wmhub download hf://datasets/my-lab/reacher-1m data/reacher-1m --revision v1.0
      wmhub download hf://datasets/my-lab/reacher-1m data/first-1k --episodes 0-999 --config steps
    """
    from wmhub.hub.download import download as run

    result = run(source, out, revision=revision, configs=list(configs) or None, shards=shards,
                 episodes=episodes, show_progress=not quiet)
    click.echo(f"{len(result.fetched)} shard(s) placed ({result.bytes_fetched / 1e6:.2f} MB; "
               f"{result.bytes_transferred / 1e6:.2f} MB transferred, {len(result.from_cache)} from the wmhub cache), "
               f"{len(result.cached)} already in OUT, from {result.source} at {result.revision[:12]} into {out}")


# ------------------------------------------------------------------ export
@main.command()
@click.argument("source", type=click.Path(file_okay=False))
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["triples"]), default="triples", show_default=True,
              help="Output layout.")
@click.option("--config", default="steps", show_default=True, help="Config whose latent features form z.")
def export(source, out, fmt, config):
    """Export a dataset to another layout (triples: one (z_t, a_t, z_t1) row per transition).

    \b
    Example:
      wmhub export data/reacher-100k out/triples --format triples
    """
    from wmhub.data.export import export_triples

    rows = export_triples(source, out, config=config)
    click.echo(f"wrote {rows} transitions to {out}")


# ------------------------------------------------------------------ train
@main.command()
@click.argument("recipe", required=False)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe key (value parsed as YAML), e.g. --set training.lr=3e-4. Repeatable.")
@click.option("--out", "run_dir", type=click.Path(file_okay=False), default=None,
              help="Run directory (default: runs/<recipe name>).")
@click.option("--resume", is_flag=True, help="Continue an interrupted run from its last checkpoint.")
@click.option("--list", "list_recipes", is_flag=True, help="List the built-in recipes and exit.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(recipe, overrides, run_dir, resume, list_recipes, quiet):
    """Train a checkpoint from a recipe (a YAML file or a built-in recipe name).

    Writes RUN/model (safetensors + config.json), the resolved recipe.yaml,
    metrics.jsonl, split.json and summary.json. A missing dataset is created by
    the recipe's generate commands (or downloaded, for hf:// sources).

    \b
    Example:
      wmhub train tiny_reacher_dynamics_state
      wmhub train recipes/reacher_dynamics_mlp_1m_state.yaml --set training.epochs=20 --out runs/mlp-20ep
      wmhub train reacher_dynamics_mlp_1m_state --resume
    """
    from wmhub.training.recipe import builtin_recipes, load_recipe
    from wmhub.training.trainer import train as run_training

    if list_recipes:
        for name in builtin_recipes():
            click.echo(name)
        return
    if recipe is None:
        raise WmhubError("name a recipe file or a built-in recipe (see `wmhub train --list`)")
    loaded = load_recipe(recipe, overrides)
    result = run_training(loaded, run_dir, resume=resume, show_progress=not quiet)
    s = result.summary
    click.echo(f"trained {s['model_class']} ({s['num_parameters']:,} parameters) for {s['steps']} steps "
               f"in {s['wall_time_s']:.1f} s on {s['device']}: validation {s['loss']} {s['val_loss']:.5g} "
               f"vs {s['baseline']} baseline {s['val_baseline_loss']:.5g}; model in {result.model_dir}")


@main.command(name="eval")
@click.argument("run_dir", metavar="RUN_DIR_OR_SOURCE")
@click.option("--suite", "suites", multiple=True,
              help="latent | probe | goal-success | reacher-easy-return | seed-protocol (default: the recipe's eval section).")
@click.option("--episodes", type=int, default=None,
              help="Episodes of every planning suite (overrides the recipe; for quick checks).")
@click.option("--reward-model", default=None,
              help="reacher-easy-return: plan with this reward run / model dir / hf:// source instead of the recipe's.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when present), cpu or cuda.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--out", default=None, type=click.Path(file_okay=False),
              help="For a pushed SOURCE: the local run directory to evaluate in (default runs/<name>).")
def eval_command(run_dir, suites, episodes, reward_model, device, quiet, out):
    """Evaluate a trained run; writes RUN/eval/eval_results.json and plots.

    RUN_DIR_OR_SOURCE is a `wmhub train` run directory, or a checkpoint pushed
    with `wmhub push` (hf://org/name[@rev] or a local hub directory), which is
    first copied into --out as a run directory. Suite options come from the
    recipe's `eval` section; results of suites not run this time are kept.

    \b
    Example:
      wmhub eval runs/tiny_reacher_dynamics_state
      wmhub eval runs/reacher_dynamics_mlp_1m_state --suite goal-success --episodes 10
      wmhub eval runs/reacher_dynamics_mlp_1m_state --suite reacher-easy-return \\
          --reward-model runs/reacher_reward_1m_state
    """
    from wmhub.eval.runner import EVAL_DIR, RESULTS_NAME, evaluate_run, headline_metrics, materialize_run

    if not (Path(run_dir) / "recipe.yaml").is_file():  # a pushed checkpoint, not a run directory
        name = run_dir.rstrip("/").rsplit("/", 1)[-1].split("@", 1)[0]
        run_dir = str(materialize_run(run_dir, out or Path("runs") / name))
        click.echo(f"evaluating {run_dir} (copied from the pushed checkpoint)")

    overrides = {}
    if episodes is not None:
        overrides["episodes"] = episodes
    if reward_model is not None:
        if suites and "reacher-easy-return" not in suites:
            raise click.UsageError("--reward-model applies to --suite reacher-easy-return only")
        overrides["reward_model"] = reward_model
    results = evaluate_run(run_dir, list(suites) or None, device=device, overrides=overrides,
                           show_progress=not quiet)
    v = results["validation"]
    click.echo(f"validation {v['loss_name']} {v['loss']:.5g} vs {v['baseline']} {v['baseline_loss']:.5g}")
    for name, suite in results["suites"].items():
        click.echo(f"{name}: " + ", ".join(f"{k} {val:.4g}" for k, val in headline_metrics(name, suite).items()))
    click.echo(f"wrote {Path(run_dir) / EVAL_DIR / RESULTS_NAME}")


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.argument("dest")
@_upload_options
def push(run_dir, dest, tag, private, message):
    """Push a trained run (checkpoint, card, eval results, plots, recipe, log) in one commit.

    DEST is hf://<org>/<name> (a model repo) or a local hub directory.

    \b
    Example:
      wmhub push runs/tiny_reacher_dynamics_state hub/tiny-dynamics --tag v1.0
      wmhub push runs/reacher_dynamics_mlp_1m_state hf://my-org/reacher-dynamics-mlp-1m-state
    """
    from wmhub.hub.push_model import push_run

    result = push_run(run_dir, dest, tag=tag, private=private, message=message)
    click.echo(f"pushed {len(result.files)} files to {result.destination} (revision {result.revision})"
               + (f", tagged {result.tag}" if result.tag else ""))


@main.command()
@click.argument("source")
@click.option("--tolerance", type=float, default=0.02, show_default=True,
              help="Largest relative difference allowed for each metric (absolute when the claim is 0).")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Run directory for the retraining.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe key, e.g. --set dataset.source=data/tiny (the data must stay the same).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def reproduce(source, tolerance, out, overrides, quiet):
    """Retrain and re-evaluate a pushed checkpoint; exit 1 if any metric is outside the tolerance.

    \b
    Example:
      wmhub reproduce hub/tiny-dynamics
      wmhub reproduce hf://my-org/reacher-dynamics-mlp-1m-state --tolerance 0.05
    """
    from wmhub.runs.reproduce import reproduce as run_reproduce

    result = run_reproduce(source, tolerance=tolerance, out=out, overrides=overrides, show_progress=not quiet)
    width = max((len(m.name) for m in result.metrics), default=10)
    click.echo(f"{'metric':<{width}}  {'claimed':>12}  {'reproduced':>12}  ok")
    for m in result.metrics:
        got = "missing" if m.reproduced is None else f"{m.reproduced:12.6g}"
        click.echo(f"{m.name:<{width}}  {m.claimed:12.6g}  {got:>12}  {'yes' if m.ok(tolerance) else 'NO'}")
    if result.failed:
        click.echo(f"{len(result.failed)} of {len(result.metrics)} metrics outside ±{tolerance:g}; "
                   f"retrained run in {result.run_dir}", err=True)
        sys.exit(1)
    click.echo(f"all {len(result.metrics)} metrics reproduced within ±{tolerance:g} (run in {result.run_dir})")


# -------------------------------------------------------------- quickstart
@main.command()
@click.option("--workdir", type=click.Path(file_okay=False), default="wmhub-quickstart", show_default=True,
              help="Where the quickstart writes its dataset, local hub and runs.")
def quickstart(workdir):
    """Generate → publish → download + verify → train → evaluate → push, on CPU in a few minutes.

    Uses the tiny state-latent recipes and a local hub directory (WORKDIR/hub).

    \b
    Example:
      wmhub quickstart --workdir /tmp/wmhub-demo
    """
    from wmhub.quickstart import run_quickstart

    run_quickstart(Path(workdir))


from wmhub.cli_policy import policy as policy_group  # noqa: E402  (its own module: one job per file)

main.add_command(policy_group)

if __name__ == "__main__":  # pragma: no cover
    main()
