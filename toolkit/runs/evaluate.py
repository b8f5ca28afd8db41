"""``wmhub eval``: run a checkpoint's evaluation suites and write ``eval/eval_results.json`` + plots.

Suites and their options come from the recipe's ``eval`` section (``--suite`` picks some by name);
the suites themselves are registered in :mod:`wmhub.eval.suites`. Every result is measured here,
on the run's held-out (validation) episodes, or in the simulator with fixed seeds.

Every result file also carries ``validation``: the trainer's held-out loss and its trivial baseline,
so reward and BC models have a measured figure too.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from wmhub.data.reader import WmDataset
from wmhub.devices import resolve_device
from wmhub.eval.suite import SuiteContext
from wmhub.eval.suites import check_suites, run_suite, suite
from wmhub.models.registry import load_model
from wmhub.runs.results import EVAL_DIR, RESULTS_NAME, EvalResults, Validation
from wmhub.runs.run import Run
from wmhub.training.metrics_log import read_metrics

__all__ = ["EVAL_DIR", "RESULTS_NAME", "evaluate", "write_training_curve"]


def evaluate(run_dir: str | os.PathLike[str] | Run, suites: list[str] | None = None, device: str = "auto",
             overrides: dict[str, Any] | None = None, show_progress: bool = False) -> EvalResults:
    """Evaluate a training run; writes ``RUN/eval/eval_results.json`` (and plots) and returns it.

    Results of suites not run this time are kept from an earlier evaluation of the same run.

    Args:
        run_dir: a finished `wmhub train` run directory (or its :class:`~wmhub.runs.run.Run`).
        suites: suite names (default: the recipe's ``eval`` section).
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
        overrides: options applied to every chosen suite that accepts them (e.g. ``{"episodes": 5}``
            from ``wmhub eval --episodes 5``).
        show_progress: whether long suites show progress bars.

    Returns:
        The run's :class:`~wmhub.runs.results.EvalResults` (as written).

    Raises:
        NotFoundError: ``run_dir`` is not a finished run, or a suite name is unknown.
        ConfigError: a suite option is unknown or invalid, or the model is not one a suite evaluates.

    Example:
        >>> import wmhub
        >>> results = wmhub.evaluate("runs/tiny_reacher_dynamics_state", suites=["latent"])  # doctest: +SKIP
        >>> results.headline("latent")["cosine@1"]                                          # doctest: +SKIP
        0.99
    """
    run = run_dir if isinstance(run_dir, Run) else Run.open(run_dir, finished=True)
    recipe, summary, split = run.recipe, run.summary, run.split
    chosen = suites if suites else list(recipe.eval)
    check_suites(chosen)
    torch_device = resolve_device(device)
    model = load_model(run.model_dir)
    dataset = WmDataset(run.dataset_root(show_progress=show_progress))
    context = SuiteContext(model, dataset, split.train_episodes, split.val_episodes, torch_device,
                           run.root / EVAL_DIR, show_progress)
    measured: dict[str, dict[str, Any]] = {}
    for name in chosen:
        started = time.perf_counter()
        options = dict(recipe.eval.get(name, {}))
        accepted = suite(name).option_names()
        options.update({k: v for k, v in (overrides or {}).items() if k in accepted})
        measured[name] = run_suite(name, options, context)
        measured[name]["wall_time_s"] = time.perf_counter() - started
    kept = {}
    previous = run.eval_results  # read just before writing, so a concurrent `wmhub eval --suite other` is kept
    if previous is not None:
        kept = {k: v for k, v in previous.suites.items() if k not in chosen}
    suites_now = {**kept, **measured}
    media = planning_video_media(suites_now, previous.model_extra.get("media") if previous is not None else None)
    results = EvalResults(recipe=recipe.name, model_class=type(model).__name__,
                          num_parameters=model.num_parameters, device=str(torch_device),
                          validation=Validation.of(summary), suites=suites_now, **({"media": media} if media else {}))
    results.write(run.eval_results_path)
    write_training_curve(run.root)
    return results


def planning_video_media(suites: dict[str, dict[str, Any]], previous: Any = None) -> list[dict[str, str]]:
    """The ``media`` list of the results (what the model card embeds and ``push`` uploads): every planning
    video the suites list (``videos``: file names in ``RUN/eval/``) and their predicted-vs-real fingertip
    plots (``fingertip_paths.plot``), after the earlier entries that are not those of these suites.

    Args:
        suites: the results of every suite, by name.
        previous: the ``media`` list of the earlier results, if any.

    Returns:
        ``[{path, caption}]`` with paths relative to the run.

    Example:
        >>> planning_video_media({"goal-success": {"videos": ["goal-success-episode-0.gif"]}})[0]["path"]
        'eval/goal-success-episode-0.gif'
    """
    videos = []
    for name, result in suites.items():
        for k, video in enumerate(result.get("videos") or []):
            beside = "" if name == "reacher-easy-return" else " beside the goal"
            caption = f"{name} #{k + 1}: the simulator{beside}, the plan's predicted cost per step"
            videos.append({"path": f"{EVAL_DIR}/{video}", "caption": caption})
        plot = (result.get("fingertip_paths") or {}).get("plot")
        if plot:
            videos.append({"path": f"{EVAL_DIR}/{plot}", "caption": f"{name}: predicted vs real fingertip paths "
                                                                    "over the planning horizon"})
    kept = [m for m in (previous or []) if isinstance(m, dict) and m.get("path")
            and not any(str(m["path"]).startswith((f"{EVAL_DIR}/{name}-episode-", f"{EVAL_DIR}/{name}-fingertip-"))
                        for name in suites)]
    return [*kept, *videos]


def write_training_curve(run_dir: str | os.PathLike[str]) -> Path | None:
    """PNG of training and validation loss vs step from ``metrics.jsonl``.

    Args:
        run_dir: a run directory.

    Returns:
        ``RUN/eval/training_curve.png``, or None when the run has no training log.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    records = read_metrics(run_dir)
    if not records:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    for split, style in (("train", "-"), ("val", "o-")):
        rows = [r for r in records if r["split"] == split]
        ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], style, label=split, markersize=3)
    baseline = [r for r in records if r["split"] == "val"]
    if baseline:
        ax.axhline(baseline[-1]["baseline_loss"], color="grey", ls="--", label="baseline")
    ax.set(xlabel="step", ylabel="loss", yscale="log", title="training curve")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = run_dir / EVAL_DIR / "training_curve.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".tmp-training_curve.png")
    fig.savefig(tmp, format="png")
    plt.close(fig)
    tmp.replace(path)
    return path
