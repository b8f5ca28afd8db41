"""``wmhub eval``: run a checkpoint's evaluation suites and write ``eval/eval_results.json`` + plots.

Suites and their options come from the recipe's ``eval`` section (``--suite``
picks some by name). Every result is measured here, on the run's held-out
(validation) episodes, or in the simulator with fixed seeds.

* ``latent`` (dynamics models): :mod:`toolkit.eval.latent`.

The planning suites (``goal-success``, ``reacher-easy-return``,
``seed-protocol``) are not in this version yet.

Every result file also carries ``validation``: the trainer's held-out loss
and its trivial baseline, so reward and BC models have a measured figure too.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from toolkit.data.reader import WmDataset
from toolkit.devices import resolve_device
from toolkit.errors import WmhubError
from toolkit.fileio import atomic_write_json
from toolkit.models.dynamics import DynamicsModel
from toolkit.models.registry import load_model
from toolkit.train.recipe import Recipe, parse_recipe

EVAL_DIR = "eval"
RESULTS_NAME = "eval_results.json"
DYNAMICS_SUITES = ("latent",)


def load_run(run_dir: Path) -> tuple[Recipe, dict[str, Any], dict[str, Any]]:
    """(recipe, summary, split) of a finished training run."""
    for name in ("recipe.yaml", "summary.json", "split.json", "model/config.json"):
        if not (run_dir / name).is_file():
            raise WmhubError(f"{run_dir} is not a finished training run (no {name}); run `wmhub train` first")
    recipe = parse_recipe((run_dir / "recipe.yaml").read_text(encoding="utf-8"), str(run_dir / "recipe.yaml"))
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    split = json.loads((run_dir / "split.json").read_text(encoding="utf-8"))
    return recipe, summary, split


def _run_suite(name: str, options: dict[str, Any], model, run_dir: Path, dataset: WmDataset,
               split: dict[str, Any], device: torch.device) -> dict[str, Any]:
    if not isinstance(model, DynamicsModel):
        raise WmhubError(f"suite {name!r} evaluates dynamics models; this run trained a {type(model).__name__}")
    val = split["val_episodes"]
    if name == "latent":
        from toolkit.eval.latent import latent_suite

        known = {"horizons", "stride"}
        _check_options(name, options, known)
        return latent_suite(model, dataset, val, device=device, plot_path=run_dir / EVAL_DIR / "latent_drift.png",
                            **options)
    raise WmhubError(f"suite {name!r} is not implemented yet; available: {list(DYNAMICS_SUITES)}")


def _check_options(suite: str, options: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(options) - known)
    if unknown:
        raise WmhubError(f"eval.{suite}: unknown option(s) {unknown}; known: {sorted(known)}")


def evaluate_run(run_dir: str | Path, suites: list[str] | None = None, device: str = "auto") -> dict[str, Any]:
    """Evaluate a training run; writes ``RUN/eval/eval_results.json`` and returns it."""
    run_dir = Path(run_dir)
    recipe, summary, split = load_run(run_dir)
    chosen = suites if suites else list(recipe.eval)
    unknown = [s for s in chosen if s not in DYNAMICS_SUITES]
    if unknown:
        raise WmhubError(f"unknown suite(s) {unknown}; choose from {list(DYNAMICS_SUITES)}")
    torch_device = resolve_device(device)
    model = load_model(run_dir / "model")
    dataset_root = Path(summary["dataset"]["path"])
    if not (dataset_root / "manifest.json").is_file():
        from toolkit.train.dataset_source import obtain_dataset

        dataset_root = obtain_dataset(recipe.dataset, recipe.source, show_progress=True).root
    dataset = WmDataset(dataset_root)
    results: dict[str, Any] = {
        "recipe": recipe.name, "model_class": type(model).__name__, "num_parameters": model.num_parameters,
        "device": str(torch_device),
        "validation": {"loss_name": summary["loss"], "loss": summary["val_loss"],
                       "baseline": summary["baseline"], "baseline_loss": summary["val_baseline_loss"],
                       "episodes": summary["dataset"]["val_episodes"], "samples": summary["val_samples"]},
        "suites": {},
    }
    for name in chosen:
        started = time.perf_counter()
        results["suites"][name] = _run_suite(name, dict(recipe.eval.get(name, {})), model, run_dir, dataset, split,
                                             torch_device)
        results["suites"][name]["wall_time_s"] = time.perf_counter() - started
    atomic_write_json(run_dir / EVAL_DIR / RESULTS_NAME, results)
    write_training_curve(run_dir)
    return results


def write_training_curve(run_dir: Path) -> Path | None:
    """PNG of training and validation loss vs step from ``metrics.jsonl``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from toolkit.train.metrics_log import read_metrics

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
