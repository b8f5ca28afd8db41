"""Planning videos of ``wmhub eval``: the real simulator beside the goal, the plan's predicted cost under it.

A planning suite records the first ``videos`` episodes it plans (``eval.<suite>.videos`` in the
recipe, default 3; 0 records none): at each environment step the simulator's physics state and the
predicted cost of the plan that chose the action. When the episode ends, frames are rendered
from those states (:class:`~wmhub.render.scene.SceneRenderer`, reacher's fixed camera) and written
as an animated GIF (what model cards on the Hub show) into the run's ``eval/`` folder, named
``<suite>-episode-<k>.gif`` (k: the suite's k-th episode).

Each frame: left, the simulator at step t; right, the goal state (``goal-success``: the recorded
goal configuration; ``seed-protocol``: the reached state it plans toward), or, for suites whose
goal is the target itself (``reacher-easy-return``), the simulator alone, whose picture shows the
target. Under them: the title line (suite, episode, step, cost) and a plot of the plan's predicted
cost per step so far over the whole episode, on the scale of the episode's costs. Episodes longer
than ``MAX_FRAMES`` steps are shown every k-th step (the plot keeps every step).

Rendering happens after the episode, outside the timed planning calls, so it does not change the
suite's wall-time figures; states and costs are kept per step (a few floats each).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from wmhub.render.overlay import BACKGROUND, COMMAND, DIM, FRAME, MEASURED, PANEL_COLORS, TEXT, panel_font
from wmhub.render.video_io import VideoWriter

MAX_FRAMES = 120  # frames of a planning GIF; longer episodes are shown every k-th step
VIDEO_SIZE = 128  # pixels of each scene pane
VIDEO_FPS = 25.0  # half real time: a 50-step goal episode plays in 2 s

State = tuple[np.ndarray, np.ndarray, np.ndarray]  # reacher (qpos, qvel, target (x, y))


class PlanningVideos:
    """Records the first ``count`` episodes of one planning suite and writes their GIFs into ``out_dir``.

    Every method is a no-op for an episode that is not recorded (``count`` reached, or no
    ``out_dir``), so a suite calls them unconditionally.

    Args:
        out_dir: the run's ``eval/`` folder; None records nothing.
        suite: the suite's name (names the files).
        count: episodes to record (the first ones).
        size: pixels of each scene pane.
        show_progress: show a bar while rendering.

    Example:
        >>> videos = PlanningVideos(None, "goal-success", 3)
        >>> videos.start(0, goal=None, label="episode 4")
        >>> videos.paths
        []
    """

    def __init__(self, out_dir: str | Path | None, suite: str, count: int = 3, size: int = VIDEO_SIZE,
                 show_progress: bool = False) -> None:
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.suite = suite
        self.count = max(0, int(count))
        self.size = size
        self.show_progress = show_progress
        self.paths: list[str] = []  # file names in out_dir, in episode order
        self._renderer = None
        self._recording = False
        self._number = 0
        self._goal: State | None = None
        self._label = ""
        self._states: list[State] = []
        self._costs: list[float] = []

    def start(self, number: int, *, goal: State | None, label: str) -> None:
        """Begin the suite's episode ``number`` (0-based); record it when ``number < count``.

        Args:
            number: the episode's position in the suite.
            goal: the goal's physics state, or None when the target is the goal.
            label: what the title line says about the episode (e.g. ``episode 12 from step 40``).
        """
        self._recording = self.out_dir is not None and number < self.count
        self._number, self._goal, self._label = number, goal, label
        self._states, self._costs = [], []

    def step(self, state: State, cost: float | None) -> None:
        """Record the simulator's state after an action, and the predicted cost of the plan that chose it
        (None for the start state)."""
        if self._recording:
            self._states.append(tuple(np.array(v, np.float64) for v in state))
            self._costs.append(math.nan if cost is None else float(cost))

    def finish(self, outcome: str = "") -> str | None:
        """Render and write the episode's GIF.

        Args:
            outcome: shown on the last frames (e.g. ``success at step 17``).

        Returns:
            The file name written in ``out_dir``, or None when the episode was not recorded.
        """
        if not self._recording or not self._states:
            self._recording = False
            return None
        self._recording = False
        from wmhub.progress import Progress
        from wmhub.render.scene import SceneRenderer

        if self._renderer is None:
            self._renderer = SceneRenderer("reacher", self.size)
        stride = max(1, math.ceil(len(self._states) / MAX_FRAMES))
        shown = list(range(0, len(self._states), stride))
        if shown[-1] != len(self._states) - 1:
            shown.append(len(self._states) - 1)
        name = f"{self.suite}-episode-{self._number}.gif"
        goal = None if self._goal is None else self._render(self._goal)
        progress = Progress(len(shown), "frame", "frames", f"{self.suite} video {self._number + 1}",
                            enabled=self.show_progress)
        with VideoWriter(self.out_dir / name, VIDEO_FPS, palette_colors=PANEL_COLORS) as writer:
            for t in shown:
                scene = self._render(self._states[t])
                writer.add(self._compose(scene, goal, t, outcome if t == shown[-1] else ""))
                progress.update(1, 1)
        progress.close()
        self.paths.append(name)
        return name

    def close(self) -> None:
        """Release the renderer."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # ------------------------------------------------------------------ drawing
    def _render(self, state: State) -> np.ndarray:
        qpos, qvel, target = state
        return self._renderer.render({"qpos": qpos, "qvel": qvel, "target_pos": target})

    def _compose(self, scene: np.ndarray, goal: np.ndarray | None, t: int, outcome: str) -> np.ndarray:
        from PIL import Image, ImageDraw

        size = self.size
        width = 2 * size if goal is not None else size
        font_px = max(10, size // 11)
        line = font_px + 3
        plot_h = max(40, size // 2)
        height = size + 3 * line + plot_h + 6
        height += height % 2
        image = Image.new("RGB", (width, height), BACKGROUND)
        image.paste(Image.fromarray(scene), (0, 0))
        draw = ImageDraw.Draw(image)
        font = panel_font(font_px)
        if goal is not None:
            image.paste(Image.fromarray(goal), (size, 0))
            draw.rectangle((size, 0, width - 1, size - 1), outline=COMMAND)
            draw.text((size + 3, 2), "goal", fill=COMMAND, font=font)
        draw.text((3, 2), "simulator", fill=TEXT, font=font)
        cost = self._costs[t]
        steps = len(self._states) - 1
        draw.text((3, size + 2), f"{self.suite}  {self._label}", fill=TEXT, font=font)
        cost_text = "-" if math.isnan(cost) else f"{cost:.4g}"
        draw.text((3, size + 2 + line), f"step {t}/{steps}  predicted cost {cost_text}", fill=TEXT, font=font)
        if outcome:
            draw.text((3, size + 2 + 2 * line), outcome, fill=MEASURED, font=font)
        self._plot(draw, (3, size + 3 * line + 2, width - 4, height - 4), t, font)
        return np.asarray(image)

    def _plot(self, draw, box: Sequence[int], t: int, font) -> None:
        """The predicted cost per step: every step up to t, on the scale of the whole episode."""
        x0, y0, x1, y1 = box
        draw.rectangle(box, outline=FRAME)
        costs = np.asarray(self._costs, np.float64)
        finite = costs[np.isfinite(costs)]
        steps = max(1, len(costs) - 1)
        draw.line((x0 + (x1 - x0) * t / steps, y0, x0 + (x1 - x0) * t / steps, y1), fill=DIM)
        if finite.size == 0:
            return
        low, high = float(finite.min()), float(finite.max())
        span = high - low if high > low else 1.0
        points = [(x0 + (x1 - x0) * k / steps, y1 - 2 - (y1 - y0 - 4) * (costs[k] - low) / span)
                  for k in range(t + 1) if np.isfinite(costs[k])]
        if len(points) > 1:
            draw.line(points, fill=MEASURED, width=2)
        elif points:
            draw.point(points, fill=MEASURED)
        draw.text((x0 + 3, y0 + 1), f"{high:.3g}", fill=DIM, font=font)
        draw.text((x0 + 3, y1 - getattr(font, "size", 10) - 2), f"{low:.3g}", fill=DIM, font=font)
