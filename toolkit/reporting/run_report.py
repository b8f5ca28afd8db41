"""The sections of a run report: recipe, curves, latent suite, probe, collapse, planning, reproduction.

Every number comes from the run's files (``recipe.yaml``, ``summary.json``, ``metrics.jsonl``,
``eval/eval_results.json``) or from a reproduction's comparisons; a section whose data are absent
is left out (and :attr:`RunSections.notes` says so).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wmhub.eval.suites import headline_metrics
from wmhub.reporting import figures
from wmhub.reporting.page import Code, Figure, Section, Table, Text, Video
from wmhub.runs.reproduce import MetricComparison
from wmhub.runs.run import Run

LATENT_PLOTS = ("latent_drift.png", "training_curve.png")  # redrawn from the numbers, not copied
MEDIA_SUFFIXES = (".gif", ".mp4", ".webm")
PER_EPISODE_ROWS = 20


@dataclass
class Reproduction:
    """Claimed metrics of a pushed checkpoint beside their reproduction.

    Attributes:
        source: where the claims were read (the pushed checkpoint).
        tolerance: the relative tolerance each metric is judged with.
        metrics: one comparison per claimed metric.
    """

    source: str
    tolerance: float
    metrics: list[MetricComparison]


@dataclass
class RunSections:
    """The sections of a run report and what was left out, with the reason."""

    title: str
    subtitle: str
    sections: list[Section]
    notes: list[str] = field(default_factory=list)


def _fmt(value: Any, digits: int = 4) -> str:
    if isinstance(value, dict) and "mean" in value:
        se = value.get("se")
        mean = _fmt(value["mean"], digits)
        return f"{mean} ± {se:.2g}" if isinstance(se, (int, float)) and se == se else mean
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return f"{value:,}" if isinstance(value, int) else f"{value:.{digits}g}"
    return "–" if value is None else str(value)


def _recipe(run: Run) -> Section:
    summary, recipe = run.summary, run.recipe
    ds = summary.dataset
    rows = [["recipe", summary.recipe], ["description", recipe.description or "–"],
            ["model", f"{summary.model_class} ({summary.num_parameters:,} parameters)"],
            ["latent", f"{summary.latent_dim}-d: features {', '.join(summary.latent.get('features') or [])} of config "
                       f"{summary.latent.get('config')}"],
            ["dataset", f"{ds.source}" + (f" @ {ds.revision}" if ds.revision else "")
                        + f" (config {ds.config}; {ds.train_episodes} training / {ds.val_episodes} held-out episodes)"],
            ["objective", f"{summary.objective}, {summary.loss} loss, horizon {summary.horizon}"
                          + (f", frame skip {summary.frame_skip}" if summary.frame_skip > 1 else "")],
            ["training", f"{summary.steps:,} steps ({summary.epochs:.1f} epochs), best at step {summary.best_step}"
                         + (" (stopped early)" if summary.stopped_early else "")],
            ["cost", f"{summary.train_time_s:.1f} s of training ({summary.wall_time_s:.1f} s wall) on {summary.device} "
                     f"({summary.device_name}, {summary.torch_threads} threads), {summary.samples_per_s:,.0f} "
                     f"samples/s, {summary.data_wait_share:.1%} waiting for data"],
            ["versions", ", ".join(f"{k} {v}" for k, v in summary.versions.items())]]
    recipe_text = run.recipe_path.read_text(encoding="utf-8")
    return Section("recipe", "Recipe", [Table([], rows), Code(recipe_text, summary="The resolved recipe")])


def _training(run: Run, notes: list[str]) -> Section | None:
    records = run.metrics()
    train = [(r["step"], r["loss"]) for r in records if r.get("split") == "train" and "loss" in r]
    val = [r for r in records if r.get("split") == "val" and "loss" in r]
    summary = run.summary
    blocks = [Table(["held-out", "loss", "baseline"],
                    [[f"validation {summary.loss} ({summary.dataset.val_episodes} episodes, {summary.val_samples:,} "
                      "samples)", _fmt(summary.val_loss), f"{_fmt(summary.val_baseline_loss)} ({summary.baseline})"]])]
    if not train and not val:
        notes.append("no training curve: the run has no metrics.jsonl")
        return Section("training", "Training", blocks)
    series: dict[str, tuple[list[float], list[float]]] = {}
    if train:
        series["training loss"] = ([s for s, _ in train], [v for _, v in train])
    if val:
        series["validation loss"] = ([r["step"] for r in val], [r["loss"] for r in val])
        if all("baseline_loss" in r for r in val):
            series[f"validation baseline ({summary.baseline})"] = ([r["step"] for r in val],
                                                                   [r["baseline_loss"] for r in val])
    positive = all(v > 0 for _, ys in series.values() for v in ys)
    blocks.append(Figure(figures.curves(series, "optimizer step", f"{summary.loss} loss", "Training and validation "
                                        "loss", logy=positive)))
    extra = sorted({k for r in val for k in r if k not in ("split", "step", "loss", "baseline_loss", "best", "epoch")
                    and isinstance(r[k], (int, float))})
    for key in extra:
        points = [(r["step"], r[key]) for r in val if isinstance(r.get(key), (int, float))]
        blocks.append(Figure(figures.curves({key: ([s for s, _ in points], [v for _, v in points])},
                                            "optimizer step", key, f"Validation {key}")))
    return Section("training", "Training", blocks)


def _latent(suite: dict[str, Any]) -> Section:
    blocks = [Text(f"Open-loop prediction from real z_t with the recorded actions, on {suite.get('episodes')} "
                   f"held-out episodes ({suite.get('windows')} windows); copy-last predicts z_t+k = z_t. "
                   "Mean ± s.e. over episodes.")]
    columns = ("cosine", "copy_last_cosine", "relative_l2", "copy_last_relative_l2")
    rows = [[k, *(_fmt(e[c]) for c in columns)] for k, e in suite.get("horizons", {}).items()]
    blocks.append(Table(["horizon", "cosine", "copy-last cosine", "relative L2", "copy-last relative L2"], rows,
                        caption="Latent prediction by horizon"))
    curve = suite.get("curve")
    if curve and curve.get("horizon"):
        h = curve["horizon"]
        blocks.append(Figure(figures.lines(h, {"model": curve["cosine"], "copy-last": curve["copy_last_cosine"]},
                                           "horizon (steps)", "cosine similarity", "Cosine vs horizon",
                                           styles={"copy-last": "--"})))
        blocks.append(Figure(figures.lines(h, {"model": curve["relative_l2"],
                                               "copy-last": curve["copy_last_relative_l2"]},
                                           "horizon (steps)", "relative L2 error", "Relative L2 vs horizon",
                                           styles={"copy-last": "--"})))
    collapse = suite.get("collapse")
    if collapse:
        names = {"per_dim_std_min": "per-dimension std, min", "per_dim_std_mean": "per-dimension std, mean",
                 "effective_rank": "effective rank", "spread_share": "spread share (variance / mean squared norm)",
                 "dims": "dimensions", "collapsed": "collapsed",
                 "within_episode_variance_share": "share of the variance within episodes"}
        blocks.append(Table(["diagnostic", "value"], [[names.get(k, k), _fmt(v)] for k, v in collapse.items()],
                            caption="Collapse diagnostics of the held-out embeddings"))
    return Section("latent", "Latent prediction", blocks)


def _probe(suite: dict[str, Any]) -> Section:
    r2 = suite.get("r2", {})
    targets = list(next(iter(r2.values()), {}))
    rows = [[space, *(_fmt(scores[t]) for t in targets)] for space, scores in r2.items()]
    blocks = [Table(["representation", *(f"R²({t})" for t in targets)], rows,
                    caption=f"Linear probe of the physical state (ridge; {suite.get('train_rows', 0):,} training rows, "
                            f"{suite.get('test_rows', 0):,} held-out rows)")]
    profile = suite.get("distance_profile")
    if profile:
        edges, medians = profile["joint_distance_bins"], profile["embedding_distance_median"]
        rows = [[f"{edges[b]:.3g}–{edges[b + 1]:.3g}", _fmt(m)] for b, m in enumerate(medians)]
        blocks.append(Table(["joint distance (rad)", "median embedding distance"], rows,
                            caption=f"Embedding distance vs joint distance ({profile['pairs']:,} pairs; Spearman "
                                    f"{profile['spearman']:.3f})"))
        centres = [(edges[b] + edges[b + 1]) / 2 for b in range(len(medians))]
        blocks.append(Figure(figures.lines(centres, {"median embedding distance": medians}, "joint distance (rad)",
                                           "embedding distance", "Embedding distance vs joint distance")))
    return Section("probe", "Probe", blocks)


def _copy_media(run: Run, out_dir: Path, names: list[str]) -> list[Video | Figure]:
    """Copy files of ``RUN/eval`` into ``OUT/media``; a block to show each (names outside ``eval/`` are skipped)."""
    from wmhub.errors import WmhubError
    from wmhub.fileio import resolve_inside

    blocks: list[Video | Figure] = []
    (out_dir / "media").mkdir(parents=True, exist_ok=True)
    for name in names:
        try:
            path = resolve_inside(run.eval_dir, name)
        except WmhubError:  # a name from eval_results.json that leaves eval/: not shown
            continue
        if not path.is_file():
            continue
        relative = path.relative_to(run.eval_dir.resolve()).as_posix()
        target = out_dir / "media" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        src, caption = f"media/{relative}", path.stem.replace("_", " ")
        if path.suffix.lower() in MEDIA_SUFFIXES:
            blocks.append(Video(src, caption))
        else:
            blocks.append(Figure(figures.Plot(title=caption, src=src, alt=caption)))
    return blocks


def _planning(name: str, suite: dict[str, Any], run: Run, out_dir: Path) -> Section:
    planner = suite.get("planner", {})
    settings = ", ".join(f"{k} {v}" for k, v in planner.items() if k != "kind")
    blocks = [Text(f"{suite.get('episodes')} episodes in the real simulator, seed {suite.get('seed')}; planner "
                   f"{str(planner.get('kind', '?')).upper()} ({settings}).")]
    rows = [[key, _fmt(suite[key]) if key in suite else _fmt(value)]
            for key, value in headline_metrics(name, suite).items()]
    for key in ("already_at_goal", "actions_planned", "goal_offset", "budget", "tolerance_rad"):
        if key in suite and not any(r[0] == key for r in rows):
            rows.append([key, _fmt(suite[key])])
    blocks.append(Table(["quantity", "value"], rows, caption="Results (mean ± s.e.)"))
    bins = suite.get("success_by_start_error")
    if bins:
        table_rows = []
        for b in bins:
            lo, hi = b["start_error_rad"]
            label = f"{lo:g}–{hi:g} rad" if hi is not None else f"≥ {lo:g} rad"
            rate = f"{b['successes'] / b['episodes']:.0%}" if b["episodes"] else "–"
            table_rows.append([label, str(b["episodes"]), str(b["successes"]), rate])
        blocks.append(Table(["start joint error", "episodes", "successes", "success rate"], table_rows,
                            caption="Success by distance to the goal at the start"))
    if suite.get("wall_time_per_action_s") is not None:
        cost = [["wall time per planned action", f"{suite['wall_time_per_action_s']:.3g} s"]]
        if suite.get("wall_time_per_action_median_s") is not None:
            cost.append(["median", f"{suite['wall_time_per_action_median_s']:.3g} s"])
        if suite.get("model_flops_per_action") is not None:
            cost.append(["model FLOPs per action", f"{suite['model_flops_per_action']:,.0f}"])
        if suite.get("time_to_flop_bound_ratio") is not None:
            cost.append(["time / FLOP-bound time", f"{suite['time_to_flop_bound_ratio']:.2f}× (at "
                                                   f"{suite['matmul_flops_per_s'] / 1e9:.1f} GFLOP/s measured)"])
        cost.append(["device", f"{suite.get('device')} ({suite.get('torch_threads')} threads)"])
        blocks.append(Table(["cost", "value"], cost, caption="Cost per action"))
    videos = _copy_media(run, out_dir, [str(v) for v in suite.get("videos") or []])
    if videos:
        blocks.append(Text("The first episodes in the simulator, with the plan's predicted cost per step:"))
        blocks += videos
    fingertips = suite.get("fingertip_paths") or {}
    plot = _copy_media(run, out_dir, [str(fingertips["plot"])] if fingertips.get("plot") else [])
    if plot:
        blocks.append(Text("Predicted (the model's open-loop rollout of the plan) vs real (the simulator executing "
                           "it) fingertip paths over the planning horizon, relative to the target:"))
        blocks += plot
    elif fingertips.get("skipped"):
        blocks.append(Text(f"No fingertip paths: {fingertips['skipped']}."))
    episodes = suite.get("per_episode") or []
    if episodes:
        keys = [k for k, v in episodes[0].items() if isinstance(v, (int, float, bool))]
        rows = [[_fmt(e.get(k)) for k in keys] for e in episodes[:PER_EPISODE_ROWS]]
        more = f" (the first {PER_EPISODE_ROWS} of {len(episodes)})" if len(episodes) > PER_EPISODE_ROWS else ""
        blocks.append(Table(keys, rows, caption=f"Per episode{more}"))
    return Section(f"suite-{name}", f"Planning: {name}", blocks)


def _eval_media(run: Run, out_dir: Path, shown: set[str]) -> Section | None:
    """Videos and plots the evaluation wrote into ``RUN/eval`` that no suite section shows, copied beside the page."""
    if not run.eval_dir.is_dir():
        return None
    names = sorted(p.name for p in run.eval_dir.iterdir() if p.is_file() and p.name not in LATENT_PLOTS
                   and p.name not in shown and p.suffix.lower() in (*MEDIA_SUFFIXES, ".png", ".svg"))
    blocks = _copy_media(run, out_dir, names)
    return Section("eval-media", "Evaluation videos and plots", list(blocks)) if blocks else None


def _reproduction(rep: Reproduction) -> Section:
    rows = []
    for m in rep.metrics:
        got = "missing" if m.reproduced is None else _fmt(m.reproduced, 6)
        diff = "–" if m.reproduced is None else (f"{(m.reproduced - m.claimed) / abs(m.claimed):+.2%}" if m.claimed
                                                  else f"{m.reproduced - m.claimed:+.3g}")
        rows.append([m.name, _fmt(m.claimed, 6), got, diff, "yes" if m.ok(rep.tolerance) else "NO"])
    failed = sum(1 for m in rep.metrics if not m.ok(rep.tolerance))
    verdict = (f"all {len(rep.metrics)} claimed metrics reproduced within ±{rep.tolerance:g}" if not failed
               else f"{failed} of {len(rep.metrics)} claimed metrics outside ±{rep.tolerance:g}")
    return Section("reproduction", "Claimed vs reproduced",
                   [Text(f"Claims read from {rep.source}; {verdict} (relative difference; absolute when the claim "
                         "is 0)."),
                    Table(["metric", "claimed", "reproduced", "difference", "within tolerance"], rows)])


def run_sections(run: Run, out_dir: Path, reproduction: Reproduction | None = None) -> RunSections:
    """Every section of a run's report (copied media written under ``out_dir``).

    Args:
        run: a finished run.
        out_dir: the report's folder.
        reproduction: claimed metrics beside the run's (a ``wmhub reproduce`` output), or None.

    Returns:
        The :class:`RunSections`.

    Raises:
        NotFoundError: the run is not finished.
        UnsupportedFormatError: one of its files is not what it should be.
    """
    notes: list[str] = []
    summary = run.summary
    sections = [_recipe(run)]
    if reproduction is not None:
        sections.insert(0, _reproduction(reproduction))
    training = _training(run, notes)
    if training is not None:
        sections.append(training)
    results = run.eval_results
    if results is None:
        notes.append("no evaluation sections: the run is not evaluated (run `wmhub eval`)")
    else:
        shown: set[str] = set()
        for name, suite in results.suites.items():
            if name == "latent":
                sections.append(_latent(suite))
            elif name == "probe":
                sections.append(_probe(suite))
            else:
                sections.append(_planning(name, suite, run, out_dir))
                shown.update(str(v) for v in suite.get("videos") or [])
                shown.update(str(p) for p in [(suite.get("fingertip_paths") or {}).get("plot")] if p)
        media = _eval_media(run, out_dir, shown)
        if media is not None:
            sections.append(media)
    kind = "reproduction" if reproduction is not None else "run"
    subtitle = (f"{summary.model_class} · {summary.num_parameters:,} parameters · trained on "
                f"{summary.dataset.source} · run {run.root.name}")
    return RunSections(title=f"{kind.capitalize()} report: {summary.recipe}", subtitle=subtitle, sections=sections,
                       notes=notes)
