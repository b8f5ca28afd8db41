"""``wmhub generate`` and ``wmhub encode``: make data and derive configs from it.

``wmhub generate <env>`` is one command per registered environment (:mod:`wmhub.envs.registry`), its
options built from the environment's config model (:func:`env_command`): a new environment or option
is declared once, in the environment's module.
"""

from __future__ import annotations

from typing import Any, Literal, get_args, get_origin

import click
from pydantic.fields import FieldInfo

from wmhub.cli.group import ErrorReportingGroup
from wmhub.cli.options import store_in_meta
from wmhub.envs.registry import Environment, get_env, registered_envs
from wmhub.errors import ConfigError
from wmhub.generation.job import DEFAULT_EPISODES_PER_SHARD


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
    from wmhub.jobs.destination import open_destination

    return open_destination(dataset).read_job() is not None


# ---------------------------------------------------------------- generate
@click.group(name="generate", cls=ErrorReportingGroup)
def generate() -> None:
    """Generate rollout datasets (deterministic, sharded, resumable).

    \b
    Example:
      wmhub generate reacher out/reacher --episodes 500
    """


def _common_generate_options(func=None, *, episodes_required: bool = True, seed: click.Option | None = None,
                             episodes_per_shard: int = DEFAULT_EPISODES_PER_SHARD):
    """The options every ``generate`` command shares; ``episodes_required=False`` for
    commands that also accept another size option (``--hours``). ``seed`` (an option built from the
    environment's config) is listed after ``--episodes-per-shard``; ``episodes_per_shard`` is the
    environment's shard size for a new dataset, named in the help."""
    if func is None:
        return lambda f: _common_generate_options(f, episodes_required=episodes_required, seed=seed,
                                                  episodes_per_shard=episodes_per_shard)
    options = [
        click.option("--episodes", type=int, required=episodes_required, default=None,
                     help="Total episodes the dataset must hold; more than OUT has appends new shards."),
        click.option("--episodes-per-shard", type=int, default=None,
                     help=f"Episodes per shard file (default {episodes_per_shard}; when growing, the dataset's "
                          "own value)."),
        *([seed] if seed is not None else []),
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
        click.option("--license", default=None, expose_value=False, callback=store_in_meta, metavar="ID",
                     help="The dataset card's Hub license id (apache-2.0, cc-by-4.0, odc-by, ...; default: the "
                          "card's own, else apache-2.0); `wmhub publish` keeps it."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _field_option(name: str, field: FieldInfo):
    """A click option for one pydantic field: ``--name-with-dashes``, its type (a Literal gives a choice,
    a bool takes true/false), its default and its description as help."""
    annotation = field.annotation
    if get_origin(annotation) is Literal:
        kind: Any = click.Choice([str(a) for a in get_args(annotation)])
    else:
        plain = [a for a in get_args(annotation) if a is not type(None)] or [annotation]
        kind = {int: int, float: float, bool: click.BOOL, str: None}.get(plain[0])
    default = field.get_default(call_default_factory=True)
    return click.option(f"--{name.replace('_', '-')}", type=kind, default=default,
                        show_default=default not in (None, ""), help=field.description)


def _run_generate(request, out: str, workers: int, resume: bool, quiet: bool) -> None:
    from wmhub.generation import generate as run

    meta = click.get_current_context().meta
    result = run(request.env, out, request.episodes, options=request.options,
                 episodes_per_shard=request.episodes_per_shard,
                 workers=workers, resume=resume, show_progress=not quiet,
                 executor=meta.get("wmhub.executor", "local"), ray_address=meta.get("wmhub.ray_address"),
                 license=meta.get("wmhub.license"))
    if result.shards_written == 0 and result.shards_reused == 0:
        click.echo(f"{out} already holds {result.manifest.num_episodes} episodes: nothing to do")
        return
    rate = result.episodes_generated / result.seconds if result.seconds else 0.0
    click.echo(f"wrote {result.shards_written} shard task(s) ({result.episodes_generated} episodes, "
               f"{rate:.1f} episodes/s), reused {result.shards_reused}; "
               f"{out} now holds {result.manifest.num_episodes} episodes")


def env_command(env: Environment) -> click.Command:
    """The ``wmhub generate <env>`` command, its options built from the environment's registration.

    Options: OUT, the shared ones (``--episodes``, ``--workers``, ...), the size options of
    ``env.size_cls`` (e.g. ``--hours``), one per field of ``env.config_cls`` (name, type, default,
    help, choices of a Literal), the execution options of ``env.execution_cls`` (e.g. ``--engine``,
    applied while the job runs, not recorded), and the encode options when the environment is renderable.

    Args:
        env: the environment's registration.

    Returns:
        The click command (its help is ``env.cli_help``, with its example).

    Example:
        >>> from wmhub.envs.registry import get_env
        >>> env_command(get_env("reacher")).name
        'reacher'
    """
    config_fields = env.config_cls.model_fields
    size_fields = env.size_cls.model_fields
    execution_fields = env.execution_cls.model_fields

    def callback(out, episodes, episodes_per_shard, workers, resume, quiet, **values):
        options = {name: values.pop(name) for name in config_fields}
        size = {name: values.pop(name) for name in size_fields}
        execution = env.execution_cls.model_validate({name: values.pop(name) for name in execution_fields})
        request = env.resolve(out, episodes, episodes_per_shard, options, size)
        with env.execution(execution):
            _run_generate(request, out, workers, resume, quiet)
        if env.renderable and (values["encoder_spec"] or values["save_frames"]):
            _run_encode(out, resume=resume or _has_interrupted_job(out), quiet=quiet, **values)

    seed = _field_option("seed", config_fields["seed"]) if "seed" in config_fields else None
    func = callback
    if env.renderable:
        func = click.option("--render-workers", type=int, default=1, show_default=True,
                            help="With --encoder/--save-frames: render processes running ahead of the encoder.")(func)
        func = _encode_options(func)
        func = click.option("--encoder", "encoder_spec", default=None,
                            help="Also encode the new steps (see `wmhub encode`).")(func)
    for name, field in reversed(list(execution_fields.items())):
        func = _field_option(name, field)(func)
    for name, field in reversed([(n, f) for n, f in config_fields.items() if n != "seed"]):
        func = _field_option(name, field)(func)
    for name, field in reversed(list(size_fields.items())):
        func = _field_option(name, field)(func)
    func = _common_generate_options(func, episodes_required=not size_fields, seed=seed,
                                    episodes_per_shard=env.default_episodes_per_shard or DEFAULT_EPISODES_PER_SHARD)
    func = click.argument("out", type=click.Path(file_okay=False))(func)
    return click.command(env.name, help=env.cli_help)(func)


for _name in registered_envs():
    generate.add_command(env_command(get_env(_name)))


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
        raise ConfigError("nothing to do: pass --encoder SPEC and/or --save-frames")
    _run_encode(dataset, encoder_spec, pooling, device, dtype, batch_size, frame_size, save_frames, encoder_threads,
                render_workers, resume, quiet)
