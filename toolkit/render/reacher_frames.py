"""Re-render reacher frames from the physics state stored in a dataset.

Frame t of an episode is rendered from row t's ``qpos``, ``qvel`` and
``target_pos`` (set state → ``mj_forward`` → render), with dm_control's
``fixed`` top-down camera (camera 0) by default.
"""

from __future__ import annotations

import numpy as np

from wmhub.render.gl_backend import select_render_backend


class ReacherFrameRenderer:
    """Renders ``uint8 [H, W, 3]`` frames of reacher states (one simulator per instance).

    Args:
        size: frame height and width in pixels.
        camera: dm_control camera id or name (0: the fixed top-down camera).

    Raises:
        MissingDependencyError: no headless OpenGL backend works.

    Example:
        >>> renderer = ReacherFrameRenderer(size=64)  # doctest: +SKIP
        >>> renderer.render(qpos, qvel, target_pos).shape  # doctest: +SKIP
        (201, 64, 64, 3)
    """

    def __init__(self, size: int = 256, camera: int | str = 0) -> None:
        select_render_backend()
        from wmhub.envs.reacher import make_env

        self.size = size
        self.camera = camera
        self.physics = make_env().physics

    def render(self, qpos: np.ndarray, qvel: np.ndarray, target_pos: np.ndarray) -> np.ndarray:
        """Frames for rows of states: inputs ``[N, 2]`` each, output ``uint8 [N, size, size, 3]``."""
        frames = np.empty((len(qpos), self.size, self.size, 3), np.uint8)
        physics = self.physics
        for i in range(len(qpos)):
            with physics.reset_context():
                physics.data.qpos[:] = qpos[i]
                physics.data.qvel[:] = qvel[i]
                physics.named.model.geom_pos["target", :2] = target_pos[i]
            frames[i] = physics.render(self.size, self.size, camera_id=self.camera)
        return frames

    def close(self) -> None:
        """Release the GL context now (avoids noisy teardown at interpreter exit)."""
        self.physics.free()
