"""A 2-D PCA projection of an embedding config, coloured by a physical quantity of each row.

Rows are sampled evenly over the dataset (a fixed stride, so the sample is deterministic), the
embedding is centred and projected on its first two principal axes (an SVD in float64), and each
point is coloured by a quantity read from the same row of ``steps``: the finger-to-target distance
for reacher, the forward speed of the body (in its own heading) for Spot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from wmhub.data.layout import STEPS_CONFIG
from wmhub.data.reader import WmDataset

MAX_POINTS = 20_000


@dataclass
class Projection:
    """The PCA projection of one embedding config.

    Attributes:
        config: the embedding config.
        points: ``[N, 2]`` projected rows.
        colour: ``[N]`` the physical quantity of each row.
        colour_label: its name and unit.
        explained: the share of the variance on each of the two axes.
        rows: rows projected, of ``total_rows``.
        total_rows: the config's rows.
    """

    config: str
    points: np.ndarray
    colour: np.ndarray
    colour_label: str
    explained: tuple[float, float]
    rows: int
    total_rows: int


def _reacher_distance(columns: dict[str, np.ndarray]) -> np.ndarray:
    return np.linalg.norm(columns["to_target"].astype(np.float64), axis=1)


def _spot_forward_speed(columns: dict[str, np.ndarray]) -> np.ndarray:
    """The base's velocity along its own heading (what the joystick's v_x commands), m/s."""
    from wmhub.render.episode_video import base_velocity

    return base_velocity(columns["qpos"].astype(np.float64), columns["qvel"].astype(np.float64))[:, 0]


# env -> (steps columns, quantity, label)
QUANTITIES: dict[str, tuple[list[str], Callable[[dict[str, np.ndarray]], np.ndarray], str]] = {
    "reacher": (["to_target"], _reacher_distance, "finger-to-target distance (m)"),
    "spot": (["qpos", "qvel"], _spot_forward_speed, "forward speed of the body (m/s)"),
}


def embedding_configs(dataset: WmDataset) -> list[str]:
    """The dataset's embedding configs: step configs in parquet, other than ``steps``, that declare a latent."""
    return [c.name for c in dataset.manifest.configs
            if c.name != STEPS_CONFIG and c.granularity == "step" and c.format == "parquet" and c.latent_features]


def project(dataset: WmDataset, config: str, max_points: int = MAX_POINTS) -> Projection | None:
    """The PCA projection of ``config``, or None when the environment has no colouring quantity.

    Args:
        dataset: the dataset.
        config: an embedding config (:func:`embedding_configs`).
        max_points: the most rows projected (an even stride over all rows).

    Returns:
        The :class:`Projection`, or None.
    """
    quantity = QUANTITIES.get(dataset.manifest.generator.env)
    if quantity is None:
        return None
    columns, measure, label = quantity
    total = dataset.manifest.num_rows(config)
    stride = max(1, -(-total // max_points))
    rows = np.arange(0, total, stride, dtype=np.int64)
    data = dataset.load_rows(config, rows, extra_columns=columns)
    latents = data.latents.double().numpy()
    centred = latents - latents.mean(axis=0, keepdims=True)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2]
    # a fixed sign per axis (largest loading positive), so the picture does not flip between LAPACK builds
    axes = axes * np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])[:, None]
    points = centred @ axes.T
    variance = singular ** 2
    share = variance / variance.sum() if variance.sum() > 0 else np.zeros_like(variance)
    explained = (float(share[0]), float(share[1]) if len(share) > 1 else 0.0)
    if points.shape[1] == 1:
        points = np.concatenate([points, np.zeros_like(points)], axis=1)
    colour = measure({n: data.columns[n].numpy() for n in columns})
    return Projection(config=config, points=points, colour=colour, colour_label=label, explained=explained,
                      rows=len(rows), total_rows=total)
