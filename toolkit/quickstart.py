"""``wmhub quickstart``: the main job, end to end on CPU in a few minutes.

1. generate the tiny recipes' reacher dataset (60 ε-greedy episodes, the
   recipe's own deterministic command);
2. publish it to a local hub directory;
3. download it back (every SHA-256 verified), verify it, load it with plain
   ``datasets.load_dataset``;
4. train ``tiny_reacher_dynamics_state`` and ``tiny_reacher_reward_state`` on
   the downloaded copy;
5. evaluate the dynamics model (the recipe's suites: latent prediction and a short goal-success run);
6. push both checkpoints with their cards to the local hub;
7. write the HTML reports of the dataset and of both runs (``wmhub report``);
8. print a summary table and where everything is.

Re-running it in the same directory reuses what is there (the dataset, the
published copy, finished runs, written reports).
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from wmhub.data.manifest import MANIFEST_NAME
from wmhub.data.verify import verify_dataset
from wmhub.errors import ChecksumMismatchError
from wmhub.hub.verbs import download, publish
from wmhub.reporting.build import report
from wmhub.reporting.page import PAGE_NAME
from wmhub.runs.evaluate import evaluate
from wmhub.runs.push import push
from wmhub.runs.results import EvalResults
from wmhub.runs.run import Run
from wmhub.training.dataset_source import build_dataset
from wmhub.training.recipe import load_recipe
from wmhub.training.summary import RunSummary
from wmhub.training.trainer import train

RECIPES = ("tiny_reacher_dynamics_state", "tiny_reacher_reward_state")
REPORT_THUMBNAILS = 3  # episodes rendered into the dataset report (videos cost most of its time on a CPU)


def run_quickstart(workdir: Path) -> dict[str, object]:
    """Run the quickstart pipeline in ``workdir`` (see the module docstring).

    Args:
        workdir: where the dataset, the local hub and the runs go (re-used on a second call).

    Returns:
        ``{"elapsed_s": ..., "runs": [recipe names], "reports": [HTML pages]}``; the table it prints is the
        summary.

    Raises:
        ChecksumMismatchError: the downloaded copy does not verify.

    Example:
        >>> from wmhub.quickstart import run_quickstart
        >>> run_quickstart(Path("/tmp/wmhub-demo"))  # doctest: +SKIP
    """
    from datasets import load_dataset

    started = time.perf_counter()
    workdir = Path(workdir)
    generated, hub = workdir / "data" / "tiny-reacher", workdir / "hub"
    downloaded = workdir / "data" / "tiny-reacher-downloaded"
    recipes = [load_recipe(name, [f"dataset.source={downloaded}"]) for name in RECIPES]

    click.echo(f"[1/8] generating the tiny reacher dataset in {generated}")
    if not (generated / MANIFEST_NAME).is_file():
        build_dataset(recipes[0].dataset, generated)
    click.echo(f"[2/8] publishing it to the local hub {hub / 'datasets' / 'tiny-reacher'}")
    published = publish(generated, str(hub / "datasets" / "tiny-reacher"), tag="v1.0")
    click.echo(f"      {len(published.uploaded)} shard(s) uploaded, {published.skipped} already there")
    click.echo(f"[3/8] downloading it back into {downloaded}, verifying, loading with datasets.load_dataset")
    got = download(str(hub / "datasets" / "tiny-reacher"), downloaded, revision="v1.0")
    problems = verify_dataset(downloaded)
    if problems:
        raise ChecksumMismatchError(f"verification of the downloaded copy failed: {problems[0]}")
    steps = load_dataset(str(downloaded), split="train")
    click.echo(f"      {len(got.fetched)} fetched, {len(got.cached)} cached; load_dataset: {steps.num_rows} rows")

    rows: list[tuple[str, RunSummary, EvalResults | None, Path]] = []
    for recipe in recipes:
        run_dir = workdir / "runs" / recipe.name
        click.echo(f"[4/8] training {recipe.name} into {run_dir}")
        resume = (run_dir / "recipe.yaml").is_file()
        summary = train(recipe, run_dir, resume=resume).summary
        run = Run.open(run_dir, finished=True)
        results = run.eval_results  # a re-run keeps the measured results (and so the pushed tag stays valid)
        if results is None and recipe.eval:
            click.echo(f"[5/8] evaluating {recipe.name}: suites {', '.join(recipe.eval)}")
            results = evaluate(run, show_progress=True)
        dest = hub / "models" / recipe.name
        click.echo(f"[6/8] pushing {recipe.name} with its card to {dest}")
        push(run, str(dest), tag="v1.0")
        rows.append((recipe.name, summary, results, dest))

    reports = workdir / "reports"
    click.echo(f"[7/8] writing the HTML reports of the dataset and the runs into {reports}")
    pages = [_report(generated, reports / "tiny-reacher", thumbnails=REPORT_THUMBNAILS)]
    pages += [_report(workdir / "runs" / name, reports / name) for name, *_ in rows]

    click.echo("[8/8] summary\n")
    click.echo(f"{'model':<30} {'params':>8} {'val loss':>10} {'baseline':>10}  headline")
    for name, summary, results, _dest in rows:
        headline = ""
        if results and "latent" in results.suites:
            h = results.suites["latent"]["horizons"]
            headline = ", ".join(f"cos@{k} {e['cosine']['mean']:.3f} (copy-last {e['copy_last_cosine']['mean']:.3f})"
                                 for k, e in h.items() if k in ("1", "30"))
        if results and "goal-success" in results.suites:
            g = results.suites["goal-success"]
            headline += f"; goal-success {g['success_rate']['mean']:.0%} of {g['episodes']}"
        click.echo(f"{name:<30} {summary.num_parameters:>8,} {summary.val_loss:>10.4g} "
                   f"{summary.val_baseline_loss:>10.4g}  {headline}")
    click.echo(f"\ndataset: {generated} (published: {hub / 'datasets' / 'tiny-reacher'}, downloaded: {downloaded})")
    for name, _, _, dest in rows:
        click.echo(f"{name}: run {workdir / 'runs' / name}, pushed {dest} (card: {dest / 'README.md'})")
    click.echo(f"reports (open in a browser): dataset {pages[0]}")
    for (name, *_), page in zip(rows, pages[1:]):
        click.echo(f"  {name}: {page}")
    elapsed = time.perf_counter() - started
    click.echo(f"done in {elapsed:.0f} s. Next: wmhub reproduce {rows[0][3]}")
    return {"elapsed_s": elapsed, "runs": [r[0] for r in rows], "reports": pages}


def _report(source: Path, out: Path, thumbnails: int = 0) -> Path:
    """The report of ``source`` in ``out`` (a report already there is reused, as the data are)."""
    if not (out / PAGE_NAME).is_file():
        report(source, out, thumbnails=thumbnails, show_progress=True)
    return out / PAGE_NAME
