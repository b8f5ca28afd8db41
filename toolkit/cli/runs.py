"""``wmhub train``, ``eval``, ``push``, ``reproduce`` and ``quickstart``: checkpoints and their runs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from wmhub.cli.group import scrub_credentials
from wmhub.cli.options import upload_options
from wmhub.errors import ConfigError


# ------------------------------------------------------------------ train
@click.command(name="train")
@click.argument("recipe", required=False)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe key (value parsed as YAML), e.g. --set training.lr=3e-4. Repeatable.")
@click.option("--out", "run_dir", type=click.Path(file_okay=False), default=None,
              help="Run directory (default: runs/<recipe name>).")
@click.option("--resume", is_flag=True, help="Continue an interrupted run from its last checkpoint.")
@click.option("--list", "list_recipes", is_flag=True, help="List the built-in recipes and exit.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: this process (data-parallel when torchrun launched it); ray: data-parallel on a Ray "
                   "cluster through Ray Train's TorchTrainer, one rank per GPU, or per CPU without GPUs "
                   "(pip install 'wmhub[ray]').")
@click.option("--ray-address", default=None,
              help="With --executor ray: the cluster (auto, ray://HEAD:10001); default RAY_ADDRESS, else a local "
                   "Ray instance for this job.")
@click.option("--ray-workers", type=int, default=None,
              help="With --executor ray: ranks (default: one per GPU of the cluster, else one per CPU); "
                   "training.batch_size must divide by it.")
def train(recipe, overrides, run_dir, resume, list_recipes, quiet, executor, ray_address, ray_workers):
    """Train a checkpoint from a recipe (a YAML file or a built-in recipe name).

    Writes RUN/model (safetensors + config.json), the resolved recipe.yaml,
    metrics.jsonl, split.json and summary.json. A missing dataset is created by
    the recipe's generate commands (or downloaded, for hf:// sources).
    Launched by torchrun, or with --executor ray, it trains data-parallel
    (training.batch_size is the global batch; rank 0 validates and writes the
    run; docs/scale-out.md).

    \b
    Example:
      wmhub train tiny_reacher_dynamics_state
      torchrun --nproc_per_node 2 -m wmhub.cli train tiny_reacher_dynamics_state
      wmhub train spot_world_model_100m --executor ray --ray-address auto --ray-workers 8
      wmhub train recipes/reacher_dynamics_mlp_1m_state.yaml --set training.epochs=20 --out runs/mlp-20ep
      wmhub train reacher_dynamics_mlp_1m_state --resume
    """
    from wmhub.training.distributed import RankFailedError, detect_launch
    from wmhub.training.recipe import builtin_recipes, load_recipe
    from wmhub.training.trainer import train as run_training

    if list_recipes:
        for name in builtin_recipes():
            click.echo(name)
        return
    if recipe is None:
        raise ConfigError("name a recipe file or a built-in recipe (see `wmhub train --list`)")
    if executor != "ray" and (ray_address is not None or ray_workers is not None):
        raise ConfigError("--ray-address and --ray-workers go with --executor ray")
    loaded = load_recipe(recipe, overrides)
    if executor == "ray":
        if detect_launch() is not None:
            raise ConfigError("--executor ray starts its own ranks; run it once, not under torchrun")
        from wmhub.training.ray_train import train_on_ray

        result = train_on_ray(loaded, run_dir, resume=resume, show_progress=not quiet, address=ray_address,
                              workers=ray_workers)
        _report(result)
        return
    try:
        result = run_training(loaded, run_dir, resume=resume, show_progress=not quiet)
    except RankFailedError as err:
        # another rank died: print the one line, then leave without running the collective library's
        # teardown, whose threads still wait on the dead peer (and abort the process with a C++ message)
        click.echo(f"error: {scrub_credentials(str(err))}", err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(2)
    launch = detect_launch()
    if launch is not None and not launch.lead:  # under torchrun, rank 0 reports
        return
    _report(result)


def _report(result) -> None:
    """The one line a finished training run prints."""
    s = result.summary
    if s.objective == "imagination":  # validation is the negative imagined return (training/imagination.py)
        measured = f"imagined return {-s.val_loss:.5g} vs random actions {-s.val_baseline_loss:.5g}"
    else:
        measured = f"validation {s.loss} {s.val_loss:.5g} vs {s.baseline} baseline {s.val_baseline_loss:.5g}"
    click.echo(f"trained {s.model_class} ({s.num_parameters:,} parameters) for {s.steps} steps "
               f"in {s.wall_time_s:.1f} s on {s.device}: {measured}; model in {result.model_dir}")


@click.command(name="eval")
@click.argument("run_dir", metavar="RUN_DIR_OR_SOURCE")
@click.option("--suite", "suites", multiple=True,
              help="latent | probe | goal-success | reacher-easy-return | seed-protocol "
                   "(default: the recipe's eval section).")
@click.option("--episodes", type=int, default=None,
              help="Episodes of every planning suite (overrides the recipe; for quick checks).")
@click.option("--reward-model", default=None,
              help="reacher-easy-return: plan with this reward run / model dir / hf:// source instead of the recipe's.")
@click.option("--value-model", default=None,
              help="reacher-easy-return: add this actor-critic run's critic as the plan's learned terminal value "
                   "(cost -sum gamma^h R - gamma^H V; needs a reward model).")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when present), cpu or cuda.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--out", default=None, type=click.Path(file_okay=False),
              help="For a pushed SOURCE: the local run directory to evaluate in (default runs/<name>).")
def eval_command(run_dir, suites, episodes, reward_model, value_model, device, quiet, out):
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
      wmhub eval runs/reacher_ensemble_1m_state --suite reacher-easy-return \\
          --reward-model runs/reacher_reward_1m_state --value-model runs/reacher_dreamer_ensemble_1m_state
    """
    from wmhub.runs.evaluate import evaluate
    from wmhub.runs.run import RECIPE_NAME, Run, default_run_name

    local = Path(run_dir)
    if not (local / RECIPE_NAME).is_file() or (local / "model.safetensors").is_file():  # pushed, not a run dir
        run_dir = str(Run.pull(run_dir, out or Path("runs") / default_run_name(run_dir)).root)
        click.echo(f"evaluating {run_dir} (copied from the pushed checkpoint)")

    overrides = {}
    if episodes is not None:
        overrides["episodes"] = episodes
    for flag, value in (("--reward-model", reward_model), ("--value-model", value_model)):
        if value is not None:
            if suites and "reacher-easy-return" not in suites:
                raise click.UsageError(f"{flag} applies to --suite reacher-easy-return only")
            overrides[flag[2:].replace("-", "_")] = value
    run = Run.open(run_dir, finished=True)
    results = evaluate(run, list(suites) or None, device=device, overrides=overrides, show_progress=not quiet)
    v = results.validation
    click.echo(f"validation {v.loss_name} {v.loss:.5g} vs {v.baseline} {v.baseline_loss:.5g}")
    for name in results.suites:
        click.echo(f"{name}: " + ", ".join(f"{k} {val:.4g}" for k, val in results.headline(name).items()))
    for item in (results.model_extra or {}).get("media") or []:  # planning videos and fingertip plots
        click.echo(f"wrote {run.root / item['path']}")
    click.echo(f"wrote {run.eval_results_path}")


@click.command(name="push")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.argument("dest")
@click.option("--dataset-repo", default=None, metavar="hf://datasets/ORG/NAME[@REV]",
              help="Where the training data is published; the card names it at its resolved revision, after its "
                   "manifest is checked against the run's data (default: the recipe's Hub source, or where the "
                   "data was downloaded from, else the data's generator).")
@upload_options
def push(run_dir, dest, dataset_repo, tag, private, message):
    """Push a trained run (checkpoint, card, eval results, plots, recipe, log) in one commit.

    DEST is hf://<org>/<name> (a model repo) or a local hub directory. The card
    never names a local path for the training data: it names the published
    dataset and revision, or the generator and the commands that make the data again.

    \b
    Example:
      wmhub push runs/tiny_reacher_dynamics_state hub/tiny-dynamics --tag v1.0
      wmhub push runs/reacher_dynamics_mlp_1m_state hf://my-org/reacher-dynamics-mlp-1m-state \\
          --dataset-repo hf://datasets/my-org/reacher-1m@v1.0
    """
    from wmhub.runs.push import push as push_run

    result = push_run(run_dir, dest, tag=tag, private=private, message=message, dataset_repo=dataset_repo)
    click.echo(f"pushed {len(result.files)} files to {result.destination} (revision {result.revision})"
               + (f", tagged {result.tag}" if result.tag else ""))


@click.command(name="reproduce")
@click.argument("source")
@click.option("--tolerance", type=float, default=0.02, show_default=True,
              help="Largest relative difference allowed for each metric (absolute when the claim is 0).")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Run directory for the retraining.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe key, e.g. --set dataset.source=data/tiny (the data must stay the same).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def reproduce(source, tolerance, out, overrides, quiet):
    """Retrain and re-evaluate a pushed checkpoint; exit 1 if any metric is outside the tolerance.

    Writes only inside --out: a local dataset.source of the pushed recipe is
    recreated in OUT/data/<name> by its data steps (Hub sources are downloaded);
    --set dataset.source=PATH trains on data of your own instead.

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
@click.command(name="quickstart")
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
