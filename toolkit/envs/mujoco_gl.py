"""Pick a headless OpenGL backend before dm_control is imported.

dm_control reads ``MUJOCO_GL`` at import time; without it, it tries GLFW,
which warns on machines with no display. State-only generation never renders,
so the choice only matters for rendering (the frames issue); EGL is the
default there and the user's own ``MUJOCO_GL`` always wins.
"""

from __future__ import annotations

import os


def ensure_headless_gl() -> None:
    """Default ``MUJOCO_GL`` to EGL when no display is available."""
    if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
        os.environ["MUJOCO_GL"] = "egl"
