"""``wmhub generate`` and ``wmhub encode``: make data and derive configs from it."""

from __future__ import annotations

from pathlib import Path

import click

from wmhub.cli.group import ErrorReportingGroup
from wmhub.cli.options import store_in_meta
from wmhub.errors import WmhubError


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
        click.option("--ray-actors", type=int, default=None, expose_value=False, callback=store_in_meta,
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
@click.group(name="generate", cls=ErrorReportingGroup)
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
                     expose_value=False, callback=store_in_meta,
                     help="local: --workers processes here; ray: one Ray task per shard on a Ray cluster "
                          "(pip install 'wmhub[ray]'; --workers is then ignored). Same bytes either way."),
        click.option("--ray-address", default=None, expose_value=False, callback=store_in_meta,
                     help="With --executor ray: the cluster (auto, ray://HEAD:10001); default RAY_ADDRESS, "
                          "else a local Ray instance for this job."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


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
@click.command(name="encode")
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
              expose_value=False, callback=store_in_meta,
              help="local: this process; ray: a pool of Ray actors on a Ray cluster, each loading the encoder "
                   "once (num_gpus=1 each when the cluster has GPUs; pip install 'wmhub[ray]'). Same bytes either "
                   "way.")
@click.option("--ray-address", default=None, expose_value=False, callback=store_in_meta,
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
