"""The information panel drawn under each video frame: step, reward, action bars, Spot's command.

A panel of the frame's width sits *under* the rendered scene (never on it), so the scene pixels of a
video stay exactly the rendered (or stored) frame. It shows, for row t of an episode:

* ``episode E  step t/T`` and ``reward r_t  return Σ r_0..r_t`` (the last row has no action and no
  reward: ``reward -``);
* action a_t as bars centred on zero over [−1, 1] (reacher: one horizontal bar per motor;
  Spot: twelve vertical bars, grouped by leg FL, FR, HL, HR, each hx, hy, kn);
* Spot: for v_x, v_y (m/s) and the yaw rate (rad/s), the measured base velocity (body frame) as a
  bar and the joystick command as a tick, with both numbers.

Drawn with Pillow (already a dependency, with a bundled scalable font): the labels and axes are drawn
once per episode into a background, and each frame copies it and draws its bars and numbers, which
costs a fraction of a millisecond (far less than rendering the scene).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIN_DISPLAY = 192  # scenes smaller than this are enlarged by a whole factor (nearest neighbour)
LEGS = ("FL", "FR", "HL", "HR")  # Spot's action groups (hx, hy, kn each)
SPOT_AXES = (("v_x", 1.5, "m/s"), ("v_y", 1.0, "m/s"), ("yaw", 1.5, "rad/s"))  # name, half range, unit
BACKGROUND = (24, 26, 30)
TEXT = (225, 228, 232)
DIM = (110, 115, 125)
POSITIVE = (80, 160, 245)
NEGATIVE = (245, 150, 60)
MEASURED = (90, 200, 120)
COMMAND = (255, 255, 255)
FRAME = (50, 54, 60)
PANEL_COLORS = (BACKGROUND, TEXT, DIM, POSITIVE, NEGATIVE, MEASURED, COMMAND, FRAME)  # for GIF palettes


@dataclass(frozen=True)
class StepInfo:
    """What the panel shows for one row of an episode.

    Attributes:
        episode: the episode index.
        step: t, the row (0..T).
        steps: T, the episode's number of actions.
        reward: r_t, None on the last row.
        episode_return: the sum of rewards up to and including r_t.
        action: a_t, None on the last row.
        command: Spot: the joystick command (v_x, v_y, yaw rate) in force at row t.
        velocity: Spot: the measured base velocity (v_x, v_y in the body frame, yaw rate) at row t.
    """

    episode: int
    step: int
    steps: int
    reward: float | None
    episode_return: float
    action: np.ndarray | None
    command: np.ndarray | None = None
    velocity: np.ndarray | None = None


def panel_font(pixels: int):
    """Pillow's bundled scalable font at ``pixels`` (Pillow < 10.1 has only a fixed bitmap font).

    Example:
        >>> panel_font(12).size
        12
    """
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=pixels)
    except TypeError:  # pragma: no cover - Pillow 10.0
        return ImageFont.load_default()


def display_scale(size: int) -> int:
    """The whole factor a ``size``-pixel scene is enlarged by in a video (1 from ``MIN_DISPLAY`` up).

    Example:
        >>> display_scale(64), display_scale(256)
        (3, 1)
    """
    return max(1, math.ceil(MIN_DISPLAY / size))


class OverlayPanel:
    """Draws the panel of one episode layout and composes it under scene frames.

    Args:
        size: the scene's size in pixels (frames are ``size × size``).
        action_dim: the action's length (2 for reacher, 12 for Spot).
        spot: draw the command / measured-velocity rows.

    Example:
        >>> panel = OverlayPanel(64, action_dim=2)
        >>> info = StepInfo(0, 3, 30, 1.0, 2.0, np.array([0.5, -1.0], np.float32))
        >>> panel.compose(np.zeros((64, 64, 3), np.uint8), info).shape
        (268, 192, 3)
    """

    def __init__(self, size: int, action_dim: int, spot: bool = False) -> None:
        from PIL import Image, ImageDraw

        self.size = size
        self.scale = display_scale(size)
        shown = size * self.scale
        self.width = shown + shown % 2  # H.264 wants even sizes: one padding column and row when odd
        self.action_dim = action_dim
        self.spot = spot
        self.font_px = max(10, self.width // 22)
        self.font = panel_font(self.font_px)
        self.line = self.font_px + 4
        self.pad = max(3, self.font_px // 3)
        self.bar_h = 2 * self.line if spot else action_dim * self.line  # Spot: one row of vertical bars
        height = 2 * self.line + self.line + self.bar_h + (len(SPOT_AXES) * self.line if spot else 0) + 2 * self.pad
        self.height = height + height % 2
        self.scene_height = self.width
        self._draw_module = ImageDraw
        self._background = Image.new("RGB", (self.width, self.height), BACKGROUND)
        self._draw_static(ImageDraw.Draw(self._background))

    # ------------------------------------------------------------------ layout
    def _label_width(self) -> int:
        return int(self.font.getlength("action " if self.spot else "yaw ")) + self.pad

    def _action_top(self) -> int:
        return self.pad + 3 * self.line

    def _axes_top(self) -> int:
        return self._action_top() + self.bar_h

    def _draw_static(self, draw) -> None:
        left = self.pad
        top = self._action_top()
        # Spot: "action" beside its bars, the leg names above them; reacher: "action" above its bars
        draw.text((left, top + self.line // 2 if self.spot else self.pad + 2 * self.line), "action", fill=DIM,
                  font=self.font)
        if self.spot:
            for k, box in enumerate(self._vertical_boxes(top)):
                x0, y0, x1, y1 = box
                draw.rectangle(box, outline=FRAME)
                draw.line((x0, (y0 + y1) // 2, x1, (y0 + y1) // 2), fill=DIM)
                if k % 3 == 0 and k // 3 < len(LEGS):  # leg names above each group of three
                    draw.text((x0, y0 - self.line), LEGS[k // 3], fill=DIM, font=self.font)
            for k, (name, _, _) in enumerate(SPOT_AXES):
                y = self._axes_top() + k * self.line
                draw.text((left, y), name, fill=DIM, font=self.font)
                x0, x1 = self._axis_span()
                draw.rectangle((x0, y + 2, x1, y + self.line - 3), outline=FRAME)
                draw.line(((x0 + x1) // 2, y + 1, (x0 + x1) // 2, y + self.line - 2), fill=DIM)
        else:
            for k in range(self.action_dim):
                y = top + k * self.line
                draw.text((left, y), f"a{k}", fill=DIM, font=self.font)
                x0, x1 = self._bar_span()
                draw.rectangle((x0, y + 2, x1, y + self.line - 3), outline=FRAME)
                draw.line(((x0 + x1) // 2, y + 1, (x0 + x1) // 2, y + self.line - 2), fill=DIM)

    def _bar_span(self) -> tuple[int, int]:
        """x range of a horizontal action bar (reacher)."""
        x0 = self.pad + self._label_width()
        return x0, self.width - self.pad - int(self.font.getlength("+0.00")) - self.pad

    def _axis_span(self) -> tuple[int, int]:
        """x range of a Spot velocity axis (numbers ``+0.00/+0.00`` to its right)."""
        x0 = self.pad + self._label_width()
        return x0, self.width - self.pad - int(self.font.getlength("+0.00/+0.00")) - self.pad

    def _vertical_boxes(self, top: int) -> list[tuple[int, int, int, int]]:
        """Boxes of Spot's twelve vertical action bars: four groups of three, a gap between groups."""
        x0 = self.pad + self._label_width()
        span = self.width - self.pad - x0
        unit = span / (self.action_dim + 3)  # twelve bars and three gaps of one bar
        boxes = []
        for k in range(self.action_dim):
            left = x0 + unit * (k + k // 3)
            boxes.append((int(left), top + 1, int(left + unit * 0.8), top + self.bar_h - 3))
        return boxes

    # ------------------------------------------------------------------- frames
    def panel(self, info: StepInfo) -> np.ndarray:
        """The panel of one row, ``uint8 [height, width, 3]``."""
        image = self._background.copy()
        draw = self._draw_module.Draw(image)
        left = self.pad
        draw.text((left, self.pad), f"episode {info.episode}  step {info.step}/{info.steps}", fill=TEXT,
                  font=self.font)
        reward = "-" if info.reward is None else f"{info.reward:.3g}"
        draw.text((left, self.pad + self.line), f"reward {reward}  return {info.episode_return:.4g}", fill=TEXT,
                  font=self.font)
        top = self._action_top()
        if info.action is not None:
            values = np.clip(np.nan_to_num(np.asarray(info.action, np.float64)), -1.0, 1.0)
            if self.spot:
                for value, (x0, y0, x1, y1) in zip(values, self._vertical_boxes(top)):
                    mid = (y0 + y1) / 2
                    end = mid - value * (y1 - y0 - 2) / 2
                    draw.rectangle((x0 + 1, min(mid, end), x1 - 1, max(mid, end)),
                                   fill=POSITIVE if value >= 0 else NEGATIVE)
            else:
                x0, x1 = self._bar_span()
                for k, value in enumerate(values):
                    y = top + k * self.line
                    mid = (x0 + x1) / 2
                    end = mid + value * (x1 - x0 - 2) / 2
                    draw.rectangle((min(mid, end), y + 3, max(mid, end), y + self.line - 4),
                                   fill=POSITIVE if value >= 0 else NEGATIVE)
                    draw.text((x1 + self.pad, y), f"{value:+.2f}", fill=TEXT, font=self.font)
        if self.spot and info.command is not None and info.velocity is not None:
            x0, x1 = self._axis_span()
            mid = (x0 + x1) / 2
            for k, (_, half, _) in enumerate(SPOT_AXES):
                y = self._axes_top() + k * self.line
                measured, command = float(info.velocity[k]), float(info.command[k])
                end = mid + np.clip(measured / half, -1.0, 1.0) * (x1 - x0 - 2) / 2
                draw.rectangle((min(mid, end), y + 4, max(mid, end), y + self.line - 5), fill=MEASURED)
                tick = mid + np.clip(command / half, -1.0, 1.0) * (x1 - x0 - 2) / 2
                draw.line((tick, y + 1, tick, y + self.line - 2), fill=COMMAND, width=2)
                draw.text((x1 + self.pad, y), f"{command:+.2f}/{measured:+.2f}", fill=TEXT, font=self.font)
        return np.asarray(image)

    def compose(self, scene: np.ndarray, info: StepInfo) -> np.ndarray:
        """The video frame: ``scene`` (enlarged by :attr:`scale`, padded to an even size) over the panel.

        Args:
            scene: ``uint8 [size, size, 3]``.
            info: the row's values.

        Returns:
            ``uint8 [width + height, width, 3]`` (``width``: size·scale, rounded up to even).
        """
        if self.scale > 1:
            scene = np.repeat(np.repeat(scene, self.scale, axis=0), self.scale, axis=1)
        frame = np.empty((self.scene_height + self.height, self.width, 3), np.uint8)
        frame[:self.scene_height] = BACKGROUND
        frame[:scene.shape[0], :scene.shape[1]] = scene
        frame[self.scene_height:] = self.panel(info)
        return frame
