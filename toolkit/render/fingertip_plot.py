"""Predicted vs real fingertip paths over a plan's horizon: the figure ``wmhub eval`` writes for state latents.

A planning suite on the reacher state latent can read the fingertip from every latent: ``to_target``
is target − fingertip (metres), so the fingertip relative to the target is ``−to_target``. For a
plan, :class:`FingertipPath` holds the path the model predicted for the planned action sequence
(open loop, one point per model step) and the path the simulator produced when the same actions were
executed from the same state (one point per environment step). :func:`fingertip_figure` draws one
panel per plan, target at the origin (its reach radius as a circle); :func:`write_fingertip_plot`
writes the PNG with fixed metadata, so the same paths give the same bytes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wmhub.errors import ConfigError

PANEL_INCHES = 2.6  # width and height of one plan's panel
COLUMNS = 2         # panels per row (the first plan of an episode beside its mid-episode plan)
DPI = 100


@dataclass(frozen=True)
class FingertipPath:
    """One plan's fingertip paths, relative to the target (metres, x and y of the arena).

    Attributes:
        label: what the panel's title says (e.g. ``episode 1, step 25``).
        episode: the suite's episode number (0-based, as in the planning video names).
        step: environment steps taken in the episode before the plan.
        start: the fingertip at the plan's start ``[2]``.
        predicted: the model's open-loop prediction of the planned actions ``[H, 2]``, one point per
            model step (after each planned action).
        predicted_steps: the environment step (from the plan's start) of each predicted point ``[H]``
            (1, 2, … H; k, 2k, … for a model whose actions are blocks of k environment actions).
        real: the simulator's fingertip after each executed environment action ``[H · k, 2]``.
        reach_radius: target + finger radius: the finger is inside the target within it.
    """

    label: str
    episode: int
    step: int
    start: np.ndarray
    predicted: np.ndarray
    predicted_steps: np.ndarray
    real: np.ndarray
    reach_radius: float

    @property
    def deviation(self) -> np.ndarray:
        """Distance between the predicted and the real fingertip at each predicted point ``[H]`` (metres)."""
        return np.linalg.norm(self.predicted - self.real[self.predicted_steps - 1], axis=-1)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able mapping (what the suite's result keeps); :meth:`from_json` reads it back."""
        return {"label": self.label, "episode": self.episode, "step": self.step,
                "start": self.start.tolist(), "predicted": self.predicted.tolist(),
                "predicted_steps": self.predicted_steps.tolist(), "real": self.real.tolist(),
                "reach_radius": self.reach_radius,
                "final_deviation_m": float(self.deviation[-1]), "mean_deviation_m": float(self.deviation.mean())}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FingertipPath:
        """The path a :meth:`to_json` mapping describes.

        Example:
            >>> p = FingertipPath("plan", 0, 0, np.zeros(2), np.ones((2, 2)), np.array([1, 2]), np.ones((2, 2)), 0.03)
            >>> FingertipPath.from_json(p.to_json()).deviation.tolist()
            [0.0, 0.0]
        """
        return cls(str(data["label"]), int(data["episode"]), int(data["step"]),
                   np.asarray(data["start"], np.float64), np.asarray(data["predicted"], np.float64).reshape(-1, 2),
                   np.asarray(data["predicted_steps"], np.int64), np.asarray(data["real"], np.float64).reshape(-1, 2),
                   float(data["reach_radius"]))


def fingertip_figure(paths: Sequence[FingertipPath], title: str):
    """A matplotlib figure with one panel per plan: predicted (dashed, one marker per model step) and real
    (solid) fingertip paths from the plan's start, the target at the origin.

    Args:
        paths: the plans to draw (at least one).
        title: the figure's title (e.g. the suite's name).

    Returns:
        The :class:`matplotlib.figure.Figure`; each panel's first line is the real path, its second
        the predicted one, both starting at the plan's start point.

    Raises:
        ConfigError: no paths.
    """
    from matplotlib.figure import Figure  # no pyplot: the figure draws on its own Agg canvas
    from matplotlib.patches import Circle

    if not paths:
        raise ConfigError("a fingertip plot needs at least one plan's paths; pass one FingertipPath or more")
    columns = min(COLUMNS, len(paths))
    rows = -(-len(paths) // columns)
    fig = Figure(figsize=(PANEL_INCHES * columns, PANEL_INCHES * rows + 0.5), dpi=DPI)
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax, path in zip(axes.flat, paths):
        real = np.vstack([path.start, path.real])
        predicted = np.vstack([path.start, path.predicted])
        ax.add_patch(Circle((0.0, 0.0), path.reach_radius, color="#d9534f", alpha=0.25, lw=0))
        ax.plot(real[:, 0], real[:, 1], "-", color="#1f77b4", lw=1.5, label="real (simulator)")
        ax.plot(predicted[:, 0], predicted[:, 1], "--o", color="#ff7f0e", lw=1.2, markersize=3,
                label="predicted (model)")
        ax.plot([path.start[0]], [path.start[1]], "ks", markersize=4)
        ax.plot([0.0], [0.0], "+", color="#d9534f", markersize=8)
        span = np.vstack([real, predicted, np.zeros((1, 2))])
        low, high = span.min(0), span.max(0)
        centre, half = (low + high) / 2, max(float((high - low).max()) / 2, path.reach_radius) * 1.15
        ax.set_xlim(centre[0] - half, centre[0] + half)
        ax.set_ylim(centre[1] - half, centre[1] + half)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=6)
        ax.grid(alpha=0.3)
        ax.set_title(f"{path.label}\nend error {path.deviation[-1] * 100:.1f} cm", fontsize=7)
    for ax in list(axes.flat)[len(paths):]:
        ax.set_axis_off()
    axes.flat[0].legend(fontsize=6, loc="best")
    fig.suptitle(f"{title}: fingertip − target (m), predicted vs real over the horizon", fontsize=8)
    fig.tight_layout()
    return fig


def write_fingertip_plot(paths: Sequence[FingertipPath], out: str | os.PathLike[str], title: str) -> Path:
    """Write :func:`fingertip_figure` as a PNG (written to a temporary name, then renamed; fixed metadata,
    so the same paths give the same bytes).

    Args:
        paths: the plans to draw (at least one).
        out: the PNG's path (its folder is created).
        title: the figure's title.

    Returns:
        ``out`` as a :class:`~pathlib.Path`.

    Raises:
        ConfigError: no paths.

    Example:
        >>> p = FingertipPath("plan", 0, 0, np.zeros(2), np.ones((1, 2)), np.array([1]), np.ones((1, 2)), 0.03)
        >>> write_fingertip_plot([p], "fingertip.png", "goal-success").name  # doctest: +SKIP
        'fingertip.png'
    """
    out = Path(out)
    fig = fingertip_figure(paths, title)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".tmp-{out.name}")
    try:
        fig.savefig(tmp, format="png", metadata={"Software": None})
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
