"""Linear-probe suite: does the latent still hold the physical state?

A ridge regression from the model's latent to the simulator state (the steps
config's ``qpos`` / ``qvel`` columns) is fitted on training episodes and scored
by R² on held-out episodes. The latent is the dataset's latent for models on a
frozen encoder, and the learned embedding for an end-to-end
:class:`~wmhub.models.jepa.JEPAWorldModel`; a probe fitted on the raw
latent of the same rows is reported beside it as the reference when the model
has its own embedding (for frames this reference is the pixels themselves and
is skipped: 12k-d ridge on a few thousand rows means little).

* features and targets are standardised with training statistics; ridge
  ``λ = ridge · N`` in closed form, float64;
* R² per target dimension = 1 − SSE / SST on the held-out rows (SST about the
  held-out mean), then the mean over each column's dimensions;
* ``angles: sincos`` replaces each ``qpos`` dimension by its sine and cosine, for
  hinge joints without limits (reacher's shoulder), whose unwrapped angle a
  frame cannot know; ``raw`` keeps ``qpos`` as stored (a free base's x, y are
  unobservable from proprioception and score near 0 by design).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch

from wmhub.data.layout import STEPS_CONFIG
from wmhub.data.reader import WmDataset
from wmhub.errors import ConfigError
from wmhub.eval.suite import Suite, SuiteContext, SuiteOptions
from wmhub.models.base import LatentModel
from wmhub.models.jepa import JEPAWorldModel

PROBE_SEED = 0  # row subsampling


def _rows(index: np.ndarray, episodes: Sequence[int], limit: int) -> np.ndarray:
    """Positions of the rows of ``episodes`` in ``index``, at most ``limit`` of them (seeded, in stored order)."""
    rows = np.flatnonzero(np.isin(index, np.asarray(list(episodes), dtype=np.int64)))
    if len(rows) > limit:
        rng = np.random.default_rng(PROBE_SEED)
        rows = rows[np.sort(rng.choice(len(rows), limit, replace=False))]
    return rows


def ridge_r2(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
             ridge: float = 1e-3) -> np.ndarray:
    """R² per target dimension of a ridge regression fitted on (x_train, y_train), scored on the test rows."""
    x_mean, x_std = x_train.mean(0), x_train.std(0) + 1e-8
    y_mean, y_std = y_train.mean(0), y_train.std(0) + 1e-8
    xs, ys = (x_train - x_mean) / x_std, (y_train - y_mean) / y_std
    gram = xs.T @ xs + ridge * len(xs) * np.eye(xs.shape[1])
    weights = np.linalg.solve(gram, xs.T @ ys)
    pred = ((x_test - x_mean) / x_std) @ weights * y_std + y_mean
    sst = ((y_test - y_test.mean(0)) ** 2).sum(0)
    return 1.0 - ((y_test - pred) ** 2).sum(0) / np.maximum(sst, 1e-12)


def _ranks(x: np.ndarray) -> np.ndarray:
    ranks = np.empty(len(x))
    ranks[np.argsort(x, kind="stable")] = np.arange(len(x))
    return ranks


def distance_profile(embedding: np.ndarray, qpos: np.ndarray, episodes: np.ndarray, *, wrap: bool,
                     pairs: int = 20000, bins: int = 8) -> dict[str, Any]:
    """Does distance in the embedding follow distance in joint space? (what a planner's goal cost needs)

    Random pairs of rows of one episode (seeded): the joint distance is the L2
    norm of Δqpos (each angle wrapped to [−π, π] when ``wrap``), the embedding
    distance the L2 norm of Δembedding. Returns their Spearman rank correlation
    and the median embedding distance in ``bins`` joint-distance quantile bins.
    A profile that flattens early (measured: SIGReg weight 10 on reacher
    frames, flat beyond ~0.4 rad) leaves a goal cost with no slope far from
    the goal.
    """
    rng = np.random.default_rng(PROBE_SEED)
    first = rng.integers(0, len(episodes), pairs)
    order = np.argsort(episodes, kind="stable")
    by_episode = episodes[order]
    starts = np.searchsorted(by_episode, episodes[first], side="left")
    ends = np.searchsorted(by_episode, episodes[first], side="right")
    second = order[starts + (rng.random(pairs) * (ends - starts)).astype(np.int64)]  # same episode
    delta = qpos[first] - qpos[second]
    if wrap:
        delta = (delta + np.pi) % (2 * np.pi) - np.pi
    joint = np.linalg.norm(delta, axis=1)
    emb = np.linalg.norm(embedding[first] - embedding[second], axis=1)
    keep = joint > 0
    joint, emb = joint[keep], emb[keep]
    spearman = float(np.corrcoef(_ranks(joint), _ranks(emb))[0, 1])
    edges = np.quantile(joint, np.linspace(0, 1, bins + 1))
    which = np.clip(np.searchsorted(edges, joint, side="right") - 1, 0, bins - 1)
    return {"pairs": int(keep.sum()), "spearman": spearman,
            "joint_distance_bins": [round(float(v), 4) for v in edges],
            "embedding_distance_median": [round(float(np.median(emb[which == b])), 4) for b in range(bins)]}


def probe_suite(model: LatentModel, dataset: WmDataset, train_episodes: Sequence[int], val_episodes: Sequence[int],
                *, targets: Sequence[str] = ("qpos", "qvel"), angles: Literal["raw", "sincos"] = "raw",
                max_rows: int = 20000, ridge: float = 1e-3, device: torch.device | str = "cpu") -> dict[str, Any]:
    """R² of a linear probe from the latent (or learned embedding) to ``targets``; see the module docstring."""
    if angles not in ("raw", "sincos"):
        raise ConfigError(f"probe option angles must be 'raw' or 'sincos', got {angles!r}")
    config = model.latent.get("config", "steps")
    features = model.latent.get("features") or None
    shards = dataset.shards_holding(config, set(train_episodes) | set(val_episodes))
    # sample rows from the episode index alone, then load just those (one shard at a time)
    index = dataset.table(STEPS_CONFIG, ["episode_index"], shards).column("episode_index").to_numpy()
    train_rows, test_rows = _rows(index, train_episodes, max_rows), _rows(index, val_episodes, max_rows)
    if len(train_rows) < 2 or len(test_rows) < 2:
        raise ConfigError(f"the probe needs rows in both training and held-out episodes of {dataset.root}")
    wanted = np.union1d(train_rows, test_rows)
    data = dataset.load_rows(config, wanted, features, extra_columns=list(targets), shards=shards)
    train, test = (torch.from_numpy(np.searchsorted(wanted, r)) for r in (train_rows, test_rows))
    # each representation as (training rows, held-out rows): only the sampled rows are converted
    spaces = {"latent": (data.latents[train], data.latents[test])}
    if isinstance(model, JEPAWorldModel):
        model = model.to(device)
        spaces = {"embedding": (model.encode_all(data.latents[train]), model.encode_all(data.latents[test]))}
        if data.latents.dtype != torch.uint8:  # raw proprioception as the reference; pixels are skipped
            spaces["observation"] = (data.latents[train], data.latents[test])
    result: dict[str, Any] = {"suite": "probe", "train_rows": len(train), "test_rows": len(test), "ridge": ridge,
                              "angles": angles, "config": config, "r2": {}}
    for space, (x_train, x_test) in spaces.items():
        scores: dict[str, Any] = {}
        for name in targets:
            y = data.columns[name].reshape(len(data.latents), -1)
            y_train, y_test = y[train].double().numpy(), y[test].double().numpy()
            if name == "qpos" and angles == "sincos":
                y_train, y_test = (np.concatenate([np.sin(v), np.cos(v)], axis=1) for v in (y_train, y_test))
            per_dim = ridge_r2(x_train.double().numpy(), y_train, x_test.double().numpy(), y_test, ridge)
            scores[name] = {"mean": float(per_dim.mean()), "per_dim": [round(float(v), 4) for v in per_dim]}
        result["r2"][space] = scores
    result["space"] = next(iter(spaces))
    if "embedding" in spaces and "qpos" in data.columns:
        qpos = data.columns["qpos"].reshape(len(data.latents), -1)[test].double().numpy()
        result["distance_profile"] = distance_profile(spaces["embedding"][1].double().numpy(), qpos,
                                                      data.episode_index[test].numpy(), wrap=angles == "sincos")
    return result


class ProbeOptions(SuiteOptions):
    """``eval.probe`` options (see :func:`probe_suite`)."""

    targets: list[str] = ["qpos", "qvel"]
    angles: str = "raw"  # raw | sincos, checked by probe_suite
    max_rows: int = 20000
    ridge: float = 1e-3


def run_probe(context: SuiteContext, options: ProbeOptions) -> dict[str, Any]:
    """The probe suite: fitted on the run's training episodes, scored on its held-out episodes."""
    return probe_suite(context.model, context.dataset, context.train_episodes, context.val_episodes,
                       device=context.device, **options.given())


def probe_headline(result: Mapping[str, Any]) -> dict[str, float]:
    """R² per target in the probed space, and the distance profile's Spearman when measured."""
    out = {f"R²({target})": score["mean"] for target, score in result["r2"][result["space"]].items()}
    if "distance_profile" in result:
        out["distance Spearman"] = result["distance_profile"]["spearman"]
    return out


def _model_types() -> tuple[type, ...]:
    from wmhub.models.dynamics import DynamicsModel

    return (DynamicsModel, JEPAWorldModel)


SUITE = Suite("probe", ProbeOptions, run_probe, probe_headline, _model_types,
              "linear probe of the physical state from the latent or learned embedding")
