"""``wmhub eval``: run a checkpoint's evaluation suites and write ``eval/eval_results.json`` + plots.

Suites and their options come from the recipe's ``eval`` section (``--suite``
picks some by name). Every result is measured here, on the run's held-out
(validation) episodes, or in the simulator with fixed seeds.

* ``latent`` (dynamics models): :mod:`wmhub.eval.latent`.
* ``goal-success``, ``reacher-easy-return``, ``seed-protocol`` (dynamics
  models on the reacher state latent): :mod:`wmhub.eval.planning`, CEM or
  MPPI (:mod:`wmhub.eval.planners`) in the real simulator. Options are the
  keyword arguments of the suite's function; ``planner`` is a mapping
  (``{kind: cem, samples: 500, ...}``) and ``reward_model`` (return suite) a
  path to a reward run, its ``model/`` directory or an ``hf://`` source.

Every result file also carries ``validation``: the trainer's held-out loss
and its trivial baseline, so reward and BC models have a measured figure too.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from wmhub.data.reader import WmDataset
from wmhub.devices import resolve_device
from wmhub.errors import WmhubError
from wmhub.fileio import atomic_write_json
from wmhub.models.dynamics import DynamicsModel
from wmhub.models.jepa import JEPAWorldModel
from wmhub.models.registry import load_model
from wmhub.training.recipe import Recipe, parse_recipe

EVAL_DIR = "eval"
RESULTS_NAME = "eval_results.json"
DYNAMICS_SUITES = ("latent", "probe", "goal-success", "reacher-easy-return", "seed-protocol")


def load_run(run_dir: Path) -> tuple[Recipe, dict[str, Any], dict[str, Any]]:
    """(recipe, summary, split) of a finished training run."""
    for name in ("recipe.yaml", "summary.json", "split.json", "model/config.json"):
        if not (run_dir / name).is_file():
            raise WmhubError(f"{run_dir} is not a finished training run (no {name}); run `wmhub train` first")
    recipe = parse_recipe((run_dir / "recipe.yaml").read_text(encoding="utf-8"), str(run_dir / "recipe.yaml"))
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    split = json.loads((run_dir / "split.json").read_text(encoding="utf-8"))
    return recipe, summary, split


def run_dataset_root(recipe: Recipe, summary: dict[str, Any]) -> Path:
    """The run's dataset: the local copy it was trained on, else obtained again from the recipe's source
    (at the revision the run recorded, for a Hub source)."""
    dataset_root = Path(summary["dataset"]["path"])
    if not (dataset_root / "manifest.json").is_file():
        from wmhub.training.dataset_source import obtain_dataset

        spec = recipe.dataset
        revision = summary["dataset"].get("revision")
        if revision and str(spec.source).startswith("hf://"):
            spec = spec.model_copy(update={"revision": revision})
        dataset_root = obtain_dataset(spec, recipe.source, show_progress=True).root
    return dataset_root


RUN_FILES = ("recipe.yaml", "summary.json", "split.json")


def materialize_run(source: str, out: str | Path) -> Path:
    """A local run directory for a checkpoint pushed with `wmhub push` (``hf://org/name[@rev]`` or a
    local hub directory), so that `wmhub eval` can evaluate it: ``model/`` plus the pushed
    recipe, summary, split and training log. Claimed results are not copied: every suite run
    on it is measured here. An ``out`` that already holds the run is reused."""
    from wmhub.fileio import atomic_write_text
    from wmhub.hub.push_model import read_pushed

    out = Path(out)
    if (out / "model" / "config.json").is_file() and all((out / n).is_file() for n in RUN_FILES):
        return out
    if out.exists() and any(out.iterdir()):
        raise WmhubError(f"{out} exists and is not a run of {source}; pass another --out")
    texts = {name: read_pushed(source, name) for name in RUN_FILES}
    model = load_model(source)
    tmp = out.with_name(f".tmp-{out.name}")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    model.save_pretrained(tmp / "model")
    for name, text in texts.items():
        atomic_write_text(tmp / name, text)
    try:
        atomic_write_text(tmp / "metrics.jsonl", read_pushed(source, "metrics.jsonl"))
    except WmhubError:
        pass  # an older push without the training log: no training curve
    if out.exists():
        out.rmdir()
    tmp.replace(out)
    return out


def _run_suite(name: str, options: dict[str, Any], model, run_dir: Path, dataset: WmDataset,
               split: dict[str, Any], device: torch.device, show_progress: bool = False) -> dict[str, Any]:
    if not isinstance(model, (DynamicsModel, JEPAWorldModel)):
        raise WmhubError(f"suite {name!r} evaluates dynamics models; this run trained a {type(model).__name__}")
    val = split["val_episodes"]
    if name == "probe":
        from wmhub.eval.probe import probe_suite

        _check_options(name, options, suite_options(name))
        return probe_suite(model, dataset, split["train_episodes"], val, device=device, **options)
    if name == "latent":
        from wmhub.eval.latent import latent_suite

        _check_options(name, options, suite_options(name))
        return latent_suite(model, dataset, val, device=device, plot_path=run_dir / EVAL_DIR / "latent_drift.png",
                            **options)
    return run_planning_suite(name, options, model, dataset.root, val, device, show_progress)


def run_planning_suite(name: str, options: dict[str, Any], model: DynamicsModel, dataset_root: Path,
                        val: list[int], device: torch.device, show_progress: bool) -> dict[str, Any]:
    """One of :data:`wmhub.eval.planning.SUITES`, options checked against the suite's signature."""
    from pydantic import TypeAdapter, ValidationError

    from wmhub.eval import planning
    from wmhub.eval.planners import PlannerConfig

    function = planning.SUITE_FUNCTIONS[name]
    _check_options(name, options, suite_options(name))
    kwargs = dict(options, show_progress=show_progress)
    if "planner" in kwargs:
        try:
            planner = kwargs["planner"]  # kind defaults to cem, as the planners' own default
            planner = {"kind": "cem", **planner} if isinstance(planner, dict) else planner
            kwargs["planner"] = TypeAdapter(PlannerConfig).validate_python(planner)
        except ValidationError as exc:
            raise WmhubError(f"eval.{name}.planner: {exc.errors()[0]['msg']} (at "
                             f"{'.'.join(str(p) for p in exc.errors()[0]['loc'])}); give "
                             "{kind: cem|mppi, samples: ..., ...}") from exc
    reward_source = kwargs.get("reward_model")
    if reward_source is not None:
        kwargs["reward_model"] = _load_reward_model(str(reward_source), name)
    if name == "reacher-easy-return":
        result = function(model, device=device, **kwargs)
        result["reward_model"] = None if reward_source is None else str(reward_source)
        return result
    return function(model, dataset_root, val, device=device, **kwargs)


def suite_options(name: str) -> set[str]:
    """The option names suite ``name`` accepts in a recipe's ``eval`` section."""
    import inspect

    if name == "latent":
        return {"horizons", "stride", "min_start"}
    if name == "probe":
        return {"targets", "angles", "max_rows", "ridge"}
    from wmhub.eval.planning import SUITE_FUNCTIONS

    return set(inspect.signature(SUITE_FUNCTIONS[name]).parameters) - {
        "dynamics", "dataset_root", "val_episodes", "device", "show_progress"}


def headline_metrics(name: str, suite: dict[str, Any]) -> dict[str, float]:
    """The few numbers that summarise a suite's results (CLI, quickstart, card, model-index)."""
    if name == "latent":
        return {f"cosine@{k}": e["cosine"]["mean"] for k, e in suite["horizons"].items()}
    if name == "probe":
        out = {f"R²({target})": score["mean"] for target, score in suite["r2"][suite["space"]].items()}
        if "distance_profile" in suite:
            out["distance Spearman"] = suite["distance_profile"]["spearman"]
        return out
    from wmhub.eval.planning import HEADLINES

    out = {key: suite[key]["mean"] for key in HEADLINES.get(name, ()) if suite.get(key, {}).get("mean") is not None}
    if suite.get("wall_time_per_action_s") is not None:
        out["s/action"] = suite["wall_time_per_action_s"]
    return out


def _load_reward_model(source: str, suite: str):
    """A :class:`RewardModel` from a run directory, its ``model/`` or an ``hf://`` source."""
    from wmhub.models.reward import RewardModel

    path = Path(source)
    if not source.startswith("hf://") and (path / "model" / "config.json").is_file():
        path = path / "model"
    elif not source.startswith("hf://") and not (path / "config.json").is_file():
        raise WmhubError(f"eval.{suite}.reward_model: {source} is neither a training run nor a model directory; "
                         "train the reward recipe first (e.g. `wmhub train reacher_reward_1m_state`) or drop the "
                         "option to plan with the state surrogate")
    model = load_model(source if source.startswith("hf://") else path)
    if not isinstance(model, RewardModel):
        raise WmhubError(f"eval.{suite}.reward_model: {source} holds a {type(model).__name__}, not a RewardModel")
    return model


def _check_options(suite: str, options: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(options) - known)
    if unknown:
        raise WmhubError(f"eval.{suite}: unknown option(s) {unknown}; known: {sorted(known)}")


def evaluate_run(run_dir: str | Path, suites: list[str] | None = None, device: str = "auto",
                 overrides: dict[str, Any] | None = None, show_progress: bool = False) -> dict[str, Any]:
    """Evaluate a training run; writes ``RUN/eval/eval_results.json`` and returns it.

    ``suites`` defaults to the recipe's ``eval`` section. ``overrides`` are
    options applied to every chosen suite that accepts them (e.g.
    ``{"episodes": 5}`` from ``wmhub eval --episodes 5``). Results of suites
    not run this time are kept from an earlier evaluation of the same run.
    """
    run_dir = Path(run_dir)
    recipe, summary, split = load_run(run_dir)
    chosen = suites if suites else list(recipe.eval)
    unknown = [s for s in chosen if s not in DYNAMICS_SUITES]
    if unknown:
        raise WmhubError(f"unknown suite(s) {unknown}; choose from {list(DYNAMICS_SUITES)}")
    torch_device = resolve_device(device)
    model = load_model(run_dir / "model")
    dataset = WmDataset(run_dataset_root(recipe, summary))
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
        options = dict(recipe.eval.get(name, {}))
        options.update({k: v for k, v in (overrides or {}).items() if k in suite_options(name)})
        results["suites"][name] = _run_suite(name, options, model, run_dir, dataset, split, torch_device,
                                             show_progress)
        results["suites"][name]["wall_time_s"] = time.perf_counter() - started
    previous = run_dir / EVAL_DIR / RESULTS_NAME
    if previous.is_file():  # read just before writing, so a concurrent `wmhub eval --suite other` is kept
        kept = json.loads(previous.read_text(encoding="utf-8")).get("suites", {})
        results["suites"] = {**{k: v for k, v in kept.items() if k not in chosen}, **results["suites"]}
    atomic_write_json(run_dir / EVAL_DIR / RESULTS_NAME, results)
    write_training_curve(run_dir)
    return results


def write_training_curve(run_dir: Path) -> Path | None:
    """PNG of training and validation loss vs step from ``metrics.jsonl``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from wmhub.training.metrics_log import read_metrics

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
