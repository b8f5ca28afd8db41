"""Model cards rendered from ``model_cards/`` with ``ModelCard`` / ``ModelCardData``.

Only values from the run (``summary.json``, ``recipe.yaml``, ``metrics.jsonl``)
and its evaluation (``eval/eval_results.json``) go in: parameter count,
inputs, the training data (published location + revision + config, or the
generator and the commands that regenerate it: :mod:`wmhub.runs.training_data`),
the recipe (its ``dataset.source`` the published location, else ``data/<name>``),
every metric beside its baseline and published anchor, plots and other media
(``media: [{path, caption}]`` in the evaluation results), cost and limitations.
The YAML ``model-index`` is built from ``EvalResult`` entries, so the Hub shows
them, and ``datasets:`` names the Hub dataset when there is one.
The template and the limitations paragraph come from the model kind's registration
(:mod:`wmhub.models.kinds`).
"""

from __future__ import annotations

import json
import os
from importlib import resources
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from jinja2 import Environment, StrictUndefined

from wmhub.eval.suites import headline_metrics
from wmhub.models.kinds import kind_of_class
from wmhub.runs.results import EvalResults, Validation
from wmhub.runs.run import Run
from wmhub.runs.training_data import TrainingData, training_data
from wmhub.training.recipe import GenerateStep, Recipe, convert_commands

CARD_VERSION = 1
"""Version of the card's rendering. Runs whose ``summary.json`` has no ``schema_version`` (trained before
the field existed) render as version 0, byte for byte as they were pushed, unless a published dataset
is named (``push --dataset-repo``); newer runs render as version 1: the training data named by its
published location and revision or by its generator, never by a path of the machine that trained it."""

ANCHORS = {
    "goal-success": "LeWorldModel 86%, DINO-WM 79% (pixels; 50 episodes)",
    "reacher-easy-return": "TD-MPC2 983 (state, 1M online steps); DreamerV3 915–957; random policy ~0–150",
    "seed-protocol": "the seeds' best: 29.0 reward, 44.1% latent-distance improvement",
}


def _template(name: str) -> str:
    return resources.files("wmhub.model_cards").joinpath(name).read_text(encoding="utf-8")


def _fmt(stat: dict[str, float] | float, digits: int = 4) -> str:
    if isinstance(stat, dict):
        se = stat.get("se")
        return f"{stat['mean']:.{digits}g} ± {se:.2g}" if se == se and se is not None else f"{stat['mean']:.{digits}g}"
    return f"{stat:.{digits}g}"


def metrics_table(results: EvalResults) -> str:
    """Markdown tables: validation, latent suite per horizon, planning suites with anchors."""
    v = results.validation
    lines = ["| metric | model | baseline |", "|---|---|---|",
             f"| validation {v.loss_name} ({v.episodes} held-out episodes) | {_fmt(v.loss)} | "
             f"{_fmt(v.baseline_loss)} ({v.baseline}) |"]
    latent = results.suites.get("latent")
    if latent:
        blocks = (f" in blocks of {latent['frame_skip']} environment steps; horizons count environment steps"
                  if latent.get("frame_skip", 1) > 1 else "")
        lines += ["", f"Latent prediction, open loop from real z_t with the recorded actions ({latent['episodes']} "
                  f"held-out episodes, {latent['windows']} windows{blocks}; mean ± s.e. over episodes):", "",
                  "| horizon | cosine | copy-last cosine (= data cosine z_t·z_t+k) | relative L2 | "
                  "copy-last relative L2 |", "|---|---|---|---|---|"]
        for k, e in latent["horizons"].items():
            lines.append(f"| {k} | {_fmt(e['cosine'])} | {_fmt(e['copy_last_cosine'])} | {_fmt(e['relative_l2'])} "
                         f"| {_fmt(e['copy_last_relative_l2'])} |")
        if latent.get("collapse"):
            c = latent["collapse"]
            lines += ["", f"Measured in the model's embedding space. Collapse diagnostics of the held-out embeddings: "
                      f"per-dimension std min {c['per_dim_std_min']:.3g} / mean {c['per_dim_std_mean']:.3g}, "
                      f"effective rank {c['effective_rank']:.2f} of {c['dims']}"
                      + (f", spread share {c['spread_share']:.3g} (variance / mean squared norm; near 0: "
                         "clustered around one point)" if "spread_share" in c else "")
                      + f" ({'COLLAPSED' if c['collapsed'] else 'not collapsed'})"
                      + (f"; share of the variance within episodes {c['within_episode_variance_share']:.3g} "
                         "(near 0: the embedding holds only what an episode keeps fixed)"
                         if "within_episode_variance_share" in c else "") + "."]
    probe = results.suites.get("probe")
    if probe:
        lines += ["", *_probe_section(probe)]
    for name, suite in results.suites.items():
        if name not in ("latent", "probe"):
            lines += ["", *_planning_section(name, suite)]
    return "\n".join(lines)


def _probe_section(probe: dict[str, Any]) -> list[str]:
    """The linear-probe suite as Markdown lines: R² per target, per representation."""
    targets = list(next(iter(probe["r2"].values())))
    lines = [f"Linear probe of the physical state (ridge, fitted on {probe['train_rows']:,} training rows, R² on "
             f"{probe['test_rows']:,} held-out rows; qpos angles {probe['angles']}):", "",
             "| representation | " + " | ".join(f"R²({t})" for t in targets) + " |",
             "|---|" + "---|" * len(targets)]
    for space, scores in probe["r2"].items():
        lines.append(f"| {space} | " + " | ".join(f"{scores[t]['mean']:.4f}" for t in targets) + " |")
    profile = probe.get("distance_profile")
    if profile:
        edges, medians = profile["joint_distance_bins"], profile["embedding_distance_median"]
        lines += ["", f"Embedding distance vs joint distance ({profile['pairs']:,} pairs of held-out rows of one "
                      f"episode): Spearman {profile['spearman']:.3f}; median embedding distance per joint-distance "
                      "bin: " + ", ".join(f"{edges[b]:.2g}–{edges[b + 1]:.2g}: {m:.3g}" for b, m in enumerate(medians))
                  + ". A profile that stops rising leaves a goal cost without slope far from the goal."]
    return lines


def _bin_label(lo: float, hi: float | None) -> str:
    """``"0.3–0.6 rad"``, or ``"≥ 1.2 rad"`` for an open last bin."""
    return f"{lo:g}–{hi:g} rad" if hi is not None else f"≥ {lo:g} rad"


def _return_cost(suite: dict[str, Any]) -> str:
    """What the return suite's planner minimised (or that a policy acted), for the card."""
    source = suite.get("reward_source")
    if suite["planner"]["kind"] == "policy":
        return "the actor's deterministic action, one forward pass per action"
    if source == "reward_model+value":
        return (f"cost −Σ γ^h R(z, a) − γ^H V(z_H) (γ {suite.get('gamma')}): the reward model "
                f"{suite.get('reward_model')} and the critic of {suite.get('value_model')} as terminal value, "
                "no hand-written term")
    if source == "reward_model":
        return f"cost −Σ R(z, a) of the reward model {suite.get('reward_model')}"
    return "cost the predicted finger-to-target distance"


def _planning_section(name: str, suite: dict[str, Any]) -> list[str]:
    """A planning suite's headline metrics, settings and cost, as Markdown lines."""
    planner = suite["planner"]
    settings = ", ".join(f"{k} {v}" for k, v in planner.items()
                         if k != "kind" and not (planner["kind"] == "policy" and v is None))
    extra = {"goal-success": f"goal {suite.get('goal_offset')} steps ahead, budget {suite.get('budget')} steps, "
                             f"tolerance {suite.get('tolerance_rad')} rad, cost on {suite.get('cost_features')}",
             "reacher-easy-return": f"{suite.get('episode_length')}-step episodes, " + _return_cost(suite),
             "seed-protocol": f"{suite.get('steps')} steps toward a reached state"}.get(name, "")
    if suite.get("frame_skip", 1) > 1:
        extra += (f"; action blocks of {suite['frame_skip']} environment steps (the planner's horizon counts "
                  "blocks, every planned block is executed, times are per environment action)")
    lines = [f"Planning suite `{name}` in the real simulator ({suite['episodes']} episodes, seed {suite['seed']}; "
             f"{extra}; {planner['kind'].upper()}: {settings}). Anchors: {ANCHORS.get(name, 'none')}.", "",
             "| quantity | mean ± s.e. |", "|---|---|"]
    for key in headline_metrics(name, suite):
        if key in suite:
            lines.append(f"| {key} | {_fmt(suite[key])} |")
    if suite.get("success_by_start_error"):
        lines += ["", "Successes by the start's joint error: " + ", ".join(
            f"{_bin_label(*b['start_error_rad'])}: {b['successes']}/{b['episodes']}"
            for b in suite["success_by_start_error"]) + "."]
    if suite.get("wall_time_per_action_s") is not None:
        ratio = suite.get("time_to_flop_bound_ratio")
        lines += ["", f"Cost: {suite['wall_time_per_action_s']:.3g} s per planned action on {suite['device']} "
                  f"({suite['torch_threads']} thread{'s' if suite['torch_threads'] != 1 else ''})"
                  + (f", {ratio:.2f}× the FLOP-bound time of its model evaluations "
                     f"({suite['flop_bound_time_per_action_s']:.3g} s at a measured "
                     f"{suite['matmul_flops_per_s'] / 1e9:.1f} GFLOP/s)" if ratio is not None else "") + "."]
    return lines


def eval_results_for_index(results: EvalResults, dataset_id: str, revision: str | None,
                           config: str, *, name: str | None = None,
                           args: dict[str, Any] | None = None) -> list[EvalResult]:
    """``EvalResult`` entries for the YAML model-index (model values; baselines are in the card body).

    Args:
        results: the run's evaluation results.
        dataset_id: the model-index ``dataset.type`` (a Hub dataset id, or the generator in words).
        revision: the dataset's revision, or None.
        config: the dataset config trained on.
        name: the ``dataset.name`` (default: the last component of ``dataset_id``).
        args: the ``dataset.args`` (the generator's options, for data that is not published).

    Returns:
        One entry per headline metric.
    """
    common = dict(task_type="robotics", task_name="world modelling", dataset_type=dataset_id,
                  dataset_name=name or dataset_id.rsplit("/", 1)[-1], dataset_config=config,
                  dataset_revision=revision, dataset_split="validation", dataset_args=args)
    v = results.validation
    out = [EvalResult(metric_type=v.loss_name, metric_name=f"validation {v.loss_name}",
                      metric_value=round(float(v.loss), 8), **common)]
    latent = results.suites.get("latent")
    if latent:
        for k, e in latent["horizons"].items():
            out.append(EvalResult(metric_type="cosine", metric_name=f"cosine@{k}",
                                  metric_value=round(e["cosine"]["mean"], 6), **common))
            out.append(EvalResult(metric_type="relative_l2", metric_name=f"relative L2@{k}",
                                  metric_value=round(e["relative_l2"]["mean"], 6), **common))
    for name, suite in results.suites.items():
        if name == "latent":
            continue
        for key, value in headline_metrics(name, suite).items():
            if key in suite or name == "probe":
                out.append(EvalResult(metric_type=key, metric_name=f"{name} {key}", metric_value=round(value, 6),
                                      **common))
    return out


def card_version(run: Run) -> int:
    """The rendering version of ``run``'s card: 0 for a run trained before ``summary.json`` had a
    ``schema_version`` (its card renders as it was pushed), else :data:`CARD_VERSION`."""
    try:
        raw = json.loads(run.summary_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return CARD_VERSION
    return CARD_VERSION if isinstance(raw, dict) and "schema_version" in raw else 0


def published_recipe(run: Run, data: TrainingData) -> Recipe:
    """The run's recipe as published with its card: ``dataset.source`` is the data's published location
    (and ``revision`` its commit), else ``data/<name>``, where ``wmhub train`` makes the data with the
    recipe's data steps (a ``dataset.generate`` step is added from the data's manifest when missing).

    Args:
        run: a finished run.
        data: its training data (:func:`wmhub.runs.training_data.training_data`).

    Returns:
        The recipe (``recipe.to_yaml()`` is the published ``recipe.yaml``).

    Example:
        >>> run = Run("runs/tiny_reacher_dynamics_state")                     # doctest: +SKIP
        >>> published_recipe(run, training_data(run)).dataset.source           # doctest: +SKIP
        'data/tiny-reacher'
    """
    recipe = run.recipe
    source, revision = data.recipe_source(str(recipe.dataset.source))
    update: dict[str, Any] = {"source": source, "revision": revision}
    if data.location is None and recipe.dataset.generate is None and data.commands:
        try:
            generate = convert_commands(data.commands[:1])["generate"]
            update["generate"] = GenerateStep(**generate) if generate else None
        except (ValueError, TypeError):
            pass  # a generator this wmhub cannot express as a step: the card still lists its command
    return recipe.model_copy(update={"dataset": recipe.dataset.model_copy(update=update)})


def _data_lines(data: TrainingData) -> str:
    """The card's ``## Data`` bullets naming the training data (version 1)."""
    if data.location:
        checked = {"shards": " (checked at push: every shard trained on is published with the same SHA-256)",
                   "manifest": " (checked at push: the published manifest is the one trained on)"}.get(
                       data.verified or "", "")
        revision = f" at revision `{data.revision}`" if data.revision else ""
        load = (f"; `datasets.load_dataset(\"{data.repo_id}\", \"{data.config}\""
                + (f", revision=\"{data.revision}\"" if data.revision else "") + ")`" if data.repo_id else "")
        return (f"* dataset: `{data.location}`{revision}, config `{data.config}`{checked}{load}\n"
                f"* generated by: {data.description}"
                + (f", `{data.commands[0]}`" if data.commands else ""))
    steps = "; then ".join(f"`{c}`" for c in data.commands)
    return (f"* dataset: not published; generated by {data.description}, config `{data.config}`\n"
            "* regenerate it (generation is deterministic; OUT is a new directory) with "
            + (steps or "the recipe's data steps")
            + ", or let `wmhub train recipe.yaml` run the recipe's data steps (`dataset.generate`) below")


def media_of(results: EvalResults) -> list[dict[str, str]]:
    """The media the evaluation results list (``media: [{path, caption}]``, paths inside the run), for the card
    (``![caption](path)``) and the push; none when the results have no such list."""
    media = (results.model_extra or {}).get("media") or []
    return [{"path": str(m["path"]), "caption": str(m.get("caption", m["path"]))}
            for m in media if isinstance(m, dict) and m.get("path")]


def render_model_card(run_dir: str | os.PathLike[str] | Run, repo_ref: str, *,
                      data: TrainingData | None = None) -> ModelCard:
    """The card of a trained (and optionally evaluated) run, for the repo ``repo_ref``.

    Args:
        run_dir: a finished run directory (or its :class:`~wmhub.runs.run.Run`).
        repo_ref: the repository the card is for (named in its usage snippet).
        data: the training data as the card names it (default: :func:`~wmhub.runs.training_data.training_data`
            of the run, which reads no remote location).

    Returns:
        The card (``str(card)`` is the ``README.md`` text).

    Raises:
        NotFoundError: the run is not finished.

    Example:
        >>> card = render_model_card("runs/tiny_reacher_dynamics_state", "my-org/tiny-dynamics")  # doctest: +SKIP
        >>> card.data.eval_results[0].metric_name                                                  # doctest: +SKIP
        'validation huber'
    """
    run = run_dir if isinstance(run_dir, Run) else Run(run_dir)
    summary = run.summary
    results = run.eval_results or EvalResults(
        recipe=summary.recipe, model_class=summary.model_class, num_parameters=summary.num_parameters,
        device=summary.device, validation=Validation.of(summary), suites={})
    recipe = run.recipe
    model_kind = kind_of_class(summary.model_class)
    template = model_kind.card_template
    ds = summary.dataset
    version = CARD_VERSION if data is not None else card_version(run)
    tags = sorted({"wmhub", "world-model", "robotics", *recipe.card.tags})
    if version == 0:  # as pushed before the change (the fixture tests/fixtures/pushed_before_schema holds one)
        recipe_yaml = run.recipe_path.read_text(encoding="utf-8")
        dataset_id = ds.source.removeprefix("hf://datasets/")
        card_data = ModelCardData(
            model_name=recipe.name, license=recipe.card.license, library_name="wmhub", tags=tags,
            pipeline_tag="robotics", datasets=[dataset_id] if ds.source.startswith("hf://") else None,
            eval_results=eval_results_for_index(results, dataset_id, ds.revision, ds.config))
        data_lines = ""
    else:
        data = data or training_data(run)
        recipe_yaml = published_recipe(run, data).to_yaml()
        card_data = ModelCardData(
            model_name=recipe.name, license=recipe.card.license, library_name="wmhub", tags=tags,
            pipeline_tag="robotics", datasets=[data.repo_id] if data.repo_id else None,
            eval_results=eval_results_for_index(results, data.type, data.revision, data.config, name=data.name,
                                                args=None if data.location else data.generator or None))
        data_lines = _data_lines(data)
    latent = summary.latent
    encoder = latent.get("encoder", {})
    latent_text = (f"features {', '.join(latent.get('features', []))} of config `{latent.get('config')}`, "
                   f"encoder `{encoder.get('encoder', 'state')}`"
                   + (f" ({encoder.get('model_id')})" if encoder.get("model_id") else ""))
    plots = sorted(f"eval/{p.name}" for p in run.plots() if p.name != "training_curve.png")
    training_text = (
        f"{summary.steps:,} optimizer steps ({summary.epochs:.1f} epochs of {summary.steps_per_epoch:,} "
        f"steps, batch {recipe.training.batch_size}), {summary.loss} loss"
        + (f" over a {summary.horizon}-step open-loop rollout" if summary.horizon > 1 else "")
        + (f" (model steps of {summary.frame_skip} environment steps: action blocks)"
           if summary.frame_skip > 1 else "")
        + ("; the last weights are kept (validation: the negative imagined return)"
           if summary.objective == "imagination" else f"; best validation at step {summary.best_step}")
        + (" (stopped early)" if summary.stopped_early else "")
        + f". Cost: {summary.train_time_s:.1f} s of training ({summary.wall_time_s:.1f} s wall) on "
        f"{summary.device} ({summary.device_name}, {summary.torch_threads} threads), "
        f"{summary.samples_per_s:,.0f} samples/s, data path `{summary.data_path}` "
        f"({summary.data_wait_share:.1%} of step time waiting for data). "
        f"wmhub {summary.versions['wmhub']}, torch {summary.versions['torch']}.")
    env = Environment(undefined=StrictUndefined, keep_trailing_newline=True)
    common = env.from_string(_template("common.md")).render(
        card_version=version, data_lines=data_lines, media=media_of(results),
        repo_ref=repo_ref, dataset_source=ds.source, dataset_revision=ds.revision,
        dataset_config=ds.config, generator=ds.generator, train_episodes=ds.train_episodes,
        val_episodes=ds.val_episodes, train_samples=ds.train_samples, seed=recipe.training.seed,
        metrics_table=metrics_table(results), plots=plots, training_text=training_text, recipe_yaml=recipe_yaml,
        limitations=model_kind.limitations)
    return ModelCard.from_template(
        card_data, template_str=_template(template), name=recipe.name,
        summary=recipe.card.summary or recipe.description, model_class=summary.model_class,
        num_parameters=summary.num_parameters, latent_dim=summary.latent_dim,
        action_dim=summary.action_dim, latent_text=latent_text, loss=summary.loss, common=common,
        architecture={**recipe.model.model_dump(), "horizon": recipe.training.horizon,
                      "target_layer_norm": recipe.target_layer_norm, "sigreg_weight": recipe.sigreg_weight,
                      "sigreg_scope": recipe.training.sigreg_scope})
