"""Latent prediction suite: open-loop rollouts on held-out episodes, quality vs horizon.

From every ``stride``-th step t of each held-out episode (with t + H_max ≤ T),
the model rolls out from the real z_t with the recorded actions. At each
horizon k we compare ẑ_{t+k} with z_{t+k}:

* cosine similarity, L2 ‖ẑ − z‖, relative L2 ‖ẑ − z‖ / ‖z‖ (raw latent units);
* the same for the copy-last baseline ẑ_{t+k} = z_t;
* the data's own cosine between z_t and z_{t+k}, because consecutive latents are
  very similar and a cosine without it means little (it is the copy-last cosine).

Means and standard errors are taken **over episodes** (each episode's mean
first), since windows of one episode are not independent.

A context-aware model (a :class:`~wmhub.models.world_model.WorldModel`, whose
``context`` is k) starts from its k real past latents z_{t−k+1..t} and the
actions between them, so its rollouts start at t ≥ ``min_start`` = k − 1 (from
every ``stride``-th such step). A plain dynamics model reads z_t only and starts
at t ≥ 0 as before; pass the same ``min_start`` to both to compare them on the
same start states (the copy-last baseline always copies z_t).

An end-to-end :class:`~wmhub.models.jepa.JEPAWorldModel` is evaluated in its
own embedding space: every observation is encoded, the predictor rolls out from
the encoded context, and predictions are compared with the encoded future
observations (``space: embedding``); the result also carries the collapse
diagnostics of the held-out embeddings (:mod:`wmhub.eval.collapse`), since a
collapsed encoder would make every prediction trivially right.

Horizons always count **environment steps**, so models compare at the same
horizon whatever their ``frame_skip`` k: a model with k > 1 (action blocks)
rolls out horizon / k model steps, and its horizons must be multiples of k.
``min_start`` and ``stride`` count environment steps too.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from wmhub.data.reader import WmDataset
from wmhub.data.windows import WindowDataset
from wmhub.errors import ConfigError, DatasetMismatchError
from wmhub.eval.collapse import collapse_stats, within_episode_share
from wmhub.eval.stats import mean_se
from wmhub.eval.suite import Suite, SuiteContext, SuiteOptions
from wmhub.models.dynamics import DynamicsModel
from wmhub.models.jepa import JEPAWorldModel

DEFAULT_HORIZONS = (1, 5, 10, 30)


def prediction_metrics(pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-window metrics ``[N, H]`` between predictions and targets shaped ``[N, H, D]``."""
    error = (pred - target).norm(dim=-1)
    return {"cosine": F.cosine_similarity(pred, target, dim=-1), "l2": error,
            "relative_l2": error / target.norm(dim=-1).clamp_min(1e-12)}


def _episode_mean_se(values: torch.Tensor, episodes: torch.Tensor) -> dict[str, float | int | None]:
    """Mean and standard error across episodes of per-episode means (``values`` per window)."""
    return mean_se(float(values[episodes == e].double().mean()) for e in torch.unique(episodes))


def context_of(model: DynamicsModel) -> int:
    """How many real past latents the model reads (a world model's k; 1 for a plain dynamics model)."""
    return int(getattr(model, "context", 1))


@torch.no_grad()
def rollout_windows(model: DynamicsModel, windows: WindowDataset, batch_size: int = 1024,
                    device: torch.device | str = "cpu",
                    start: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(predictions ``[N, H, D]``, targets ``[N, H, D]``, episode of each window) for every window.

    The rollout starts at row ``start`` of each window (H = window horizon − ``start``); a
    context-aware model also gets the up to k − 1 real latents before it and the actions between.
    """
    preds, targets, episodes = [], [], []
    model = model.to(device).eval()
    first = start + 1 - min(context_of(model), start + 1)
    for begin in range(0, len(windows), batch_size):
        batch = windows.batch(torch.arange(begin, min(begin + batch_size, len(windows))))
        z, actions = batch["latents"].float().to(device), batch["actions"].to(device)
        if first == start:
            preds.append(model.rollout(z[:, start], actions[:, start:]).cpu())
        else:
            preds.append(model.rollout(z[:, first:start + 1], actions[:, start:],
                                       context_actions=actions[:, first:start]).cpu())
        targets.append(z[:, start + 1:].cpu())
        episodes.append(batch["episode_index"])
    return torch.cat(preds), torch.cat(targets), torch.cat(episodes)


def latent_suite(model: DynamicsModel, dataset: WmDataset, episodes: list[int], *,
                 horizons: tuple[int, ...] | list[int] = DEFAULT_HORIZONS, stride: int = 10,
                 config: str | None = None, device: torch.device | str = "cpu",
                 plot_path: str | Path | None = None, min_start: int | None = None) -> dict[str, Any]:
    """Run the suite on ``episodes`` of ``dataset``; optionally write the drift plot PNG.

    Rollouts start at steps t ≥ ``min_start`` (default: the model's context − 1 model steps, so 0 for a plain
    dynamics model and k − 1 for a world model with a context of k).
    """
    config = config or model.latent.get("config", "steps")
    features = model.latent.get("features") or None
    # only the held-out episodes' rows: the shards holding them, then their rows alone
    shards = dataset.shards_holding(config, episodes)
    data = dataset.load_tensors(config, features, shards=shards).select_episodes(episodes) if shards else None
    if data is None or len(data.episode_index) == 0:
        raise DatasetMismatchError(f"the latent suite's episodes ({len(episodes)}, from {sorted(episodes)[:3]}) are "
                                   f"not in {dataset.root} config {config!r}; evaluate on the dataset the run was "
                                   "trained on")
    model.check_compatible(data.latent_dim, data.action_dim, {"features": features} if features else None,
                           source=f"{dataset.root} config {config!r}")
    collapse = None
    if isinstance(model, JEPAWorldModel):  # end to end: evaluate in the model's own embedding space
        data.latents = model.to(device).encode_all(data.latents)
        collapse = collapse_stats(data.latents)
        collapse["within_episode_variance_share"] = within_episode_share(data.latents, data.episode_index)
        model = model.predictor
    fs = model.frame_skip
    if any(h < 1 or h % fs for h in horizons):
        raise ConfigError(f"latent suite horizons {list(horizons)} are environment steps; this model steps "
                          f"{fs} at a time (frame_skip), so each must be a positive multiple of {fs}: set "
                          f"eval.latent.horizons, e.g. {[fs * m for m in (1, 2, 6)]}")
    max_h = max(horizons) // fs
    skip = (context_of(model) - 1) * fs if min_start is None else int(min_start)
    if skip < 0 or skip % fs:
        raise ConfigError(f"min_start must be >= 0 and a multiple of frame_skip {fs}, got {skip}")
    skip //= fs
    windows = WindowDataset(data, horizon=skip + max_h, stride=stride, frame_skip=fs)
    if len(windows) == 0:
        after = f" after {skip * fs} context steps" if skip else ""
        raise ConfigError(f"no held-out window of {max_h * fs} steps{after} in {dataset.root}; use shorter horizons")
    pred, target, episode_of = rollout_windows(model, windows, device=device, start=skip)
    start = windows.batch(torch.arange(len(windows)))["latents"][:, skip:skip + 1].float().expand_as(target)
    model_m, copy_m = prediction_metrics(pred, target), prediction_metrics(start, target)
    per_horizon: dict[str, Any] = {}
    for h in horizons:
        k, entry = h // fs, {}
        for name in ("cosine", "l2", "relative_l2"):
            entry[name] = _episode_mean_se(model_m[name][:, k - 1], episode_of)
            entry[f"copy_last_{name}"] = _episode_mean_se(copy_m[name][:, k - 1], episode_of)
        data_cos = F.cosine_similarity(start[:, k - 1], target[:, k - 1], dim=-1)
        entry["data_cosine"] = _episode_mean_se(data_cos, episode_of)
        per_horizon[str(h)] = entry
    curve = {"horizon": [fs * k for k in range(1, max_h + 1)],
             "cosine": [float(model_m["cosine"][:, k].mean()) for k in range(max_h)],
             "copy_last_cosine": [float(copy_m["cosine"][:, k].mean()) for k in range(max_h)],
             "relative_l2": [float(model_m["relative_l2"][:, k].mean()) for k in range(max_h)],
             "copy_last_relative_l2": [float(copy_m["relative_l2"][:, k].mean()) for k in range(max_h)]}
    result = {"suite": "latent", "episodes": len(torch.unique(episode_of)), "windows": len(windows),
              "stride": stride, "config": config, "horizons": per_horizon, "curve": curve}
    if skip or context_of(model) > 1:  # plain dynamics results keep their exact former keys
        result.update(min_start=skip * fs, context=context_of(model))
    if fs > 1:
        result["frame_skip"] = fs
    if collapse is not None:
        result.update(space="embedding", collapse=collapse)
    if plot_path is not None:
        write_drift_plot(curve, Path(plot_path))
        result["plot"] = Path(plot_path).name
    return result


def write_drift_plot(curve: dict[str, list[float]], path: Path) -> None:
    """PNG: cosine and relative L2 vs horizon, model vs copy-last."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5), dpi=100)
    h = curve["horizon"]
    left.plot(h, curve["cosine"], label="model")
    left.plot(h, curve["copy_last_cosine"], "--", label="copy-last")
    left.set(xlabel="horizon (steps)", ylabel="cosine(ẑ, z)", title="cosine similarity")
    right.plot(h, curve["relative_l2"], label="model")
    right.plot(h, curve["copy_last_relative_l2"], "--", label="copy-last")
    right.set(xlabel="horizon (steps)", ylabel="‖ẑ − z‖ / ‖z‖", title="relative L2", yscale="log")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    fig.savefig(tmp, format="png")
    plt.close(fig)
    tmp.replace(path)


class LatentOptions(SuiteOptions):
    """``eval.latent`` options (see :func:`latent_suite`)."""

    horizons: list[int] = list(DEFAULT_HORIZONS)
    stride: int = 10
    min_start: int | None = None


def run_latent(context: SuiteContext, options: LatentOptions) -> dict[str, Any]:
    """The latent suite on a run's held-out episodes; writes ``eval/latent_drift.png``."""
    return latent_suite(context.model, context.dataset, context.val_episodes, device=context.device,
                        plot_path=context.output_dir / "latent_drift.png", **options.given())


def latent_headline(result: Mapping[str, Any]) -> dict[str, float]:
    """``cosine@k`` for every horizon k."""
    return {f"cosine@{k}": e["cosine"]["mean"] for k, e in result["horizons"].items()}


SUITE = Suite("latent", LatentOptions, run_latent, latent_headline, lambda: (DynamicsModel, JEPAWorldModel),
              "open-loop latent prediction vs horizon, against copy-last")
