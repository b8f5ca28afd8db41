"""``wmhub/ReacherEasy-v0``: dm_control's reacher-easy, stepped by the reacher generator's code.

The environment is the generator's own (:class:`~wmhub.envs.reacher.ReacherRunner`: dm_control's
``reacher`` / ``easy`` with no suite time limit, reset by seeding the task's random state), so
``reset(seed=<the episode's stored seed>)`` followed by the stored actions reproduces the stored
observations, rewards and ``qpos``/``qvel`` bit for bit.

* **Observation**: ``Dict(position=Box(-inf, inf, (2,)), to_target=Box(-inf, inf, (2,)),
  velocity=Box(-inf, inf, (2,)))``, float32: dm_control's observation dict rounded to float32, the
  dataset's columns of the same names (joint angles in rad, target − finger in metres, joint
  velocities in rad/s).
* **Action**: ``Box(-1, 1, (2,), float32)``, the shoulder and wrist motors; rounded to float32 before it
  is applied, as the generator stores it (dm_control clips it to [−1, 1]).
* **Reward**: dm_control's, 1.0 while the finger is inside the target, else 0.0 (the dataset's
  ``reward``).
* **Termination**: never. **Truncation**: the time limit, 200 control steps (0.02 s each; the
  generator's default episode length, the suite's is 1000) unless ``max_episode_steps`` says otherwise.
* **Reset**: ``seed`` (0 ≤ seed < 2³²) seeds dm_control's task random state, which places the arm
  and the target; without a seed the random state continues (the first reset draws a seed from the
  env's ``np_random``).
* **Info**: ``qpos``, ``qvel`` and ``target_pos`` [2] each (float64, exact), as the dataset's row
  stores them.
* **Render**: ``render_mode="rgb_array"`` gives ``render_size`` × ``render_size`` frames of camera 0
  (needs an OpenGL backend; ``MUJOCO_GL=egl`` is the default when there is no display).

Example:
    >>> import gymnasium
    >>> import wmhub.envs.gym
    >>> env = gymnasium.make("wmhub/ReacherEasy-v0")
    >>> obs, info = env.reset(seed=7)
    >>> sorted(obs)
    ['position', 'to_target', 'velocity']
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from wmhub.envs.reacher import ReacherConfig, ReacherRunner
from wmhub.errors import ConfigError

OBSERVATION_KEYS = ("position", "to_target", "velocity")
MAX_SEED = 2 ** 32 - 1  # dm_control's task random state is a numpy RandomState


def observation_space() -> spaces.Dict:
    """The observation space: ``position``, ``to_target`` and ``velocity``, [2] float32 each, unbounded."""
    return spaces.Dict({key: spaces.Box(-np.inf, np.inf, (2,), np.float32) for key in OBSERVATION_KEYS})


class ReacherEasyEnv(gymnasium.Env):
    """dm_control reacher-easy through the reacher generator's environment (see :mod:`wmhub.envs.gym.reacher`).

    Args:
        render_mode: None, or ``"rgb_array"``.
        render_size: the side of rendered frames, in pixels.

    Raises:
        ConfigError: an unknown ``render_mode``, or ``render_size`` < 1.

    Example:
        >>> env = ReacherEasyEnv()
        >>> obs, info = env.reset(seed=7)
        >>> obs, reward, terminated, truncated, info = env.step(np.zeros(2, np.float32))
        >>> info["qpos"].dtype, terminated
        (dtype('float64'), False)
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(self, render_mode: str | None = None, render_size: int = 256) -> None:
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ConfigError(f"render_mode {render_mode!r} is not supported; use None or 'rgb_array'")
        if render_size < 1:
            raise ConfigError(f"render_size must be a positive number of pixels, got {render_size}")
        self.render_mode = render_mode
        self.render_size = render_size
        self._runner = ReacherRunner(ReacherConfig())
        self._physics = self._runner.physics
        self._seeded = False
        self.observation_space = observation_space()
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)

    def _observation(self, timestep) -> dict[str, np.ndarray]:
        return {key: np.asarray(timestep.observation[key], np.float32) for key in OBSERVATION_KEYS}

    def _info(self) -> dict[str, np.ndarray]:
        physics = self._physics
        return {"qpos": physics.data.qpos.copy(), "qvel": physics.data.qvel.copy(),
                "target_pos": np.array(physics.named.model.geom_pos["target", :2], dtype=np.float64)}

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Reset the arm and target; ``seed`` is the dataset episode's ``seed``.

        Raises:
            ConfigError: ``seed`` is outside [0, 2³²).
        """
        if seed is not None and not 0 <= seed <= MAX_SEED:
            raise ConfigError(f"seed {seed} is outside dm_control's range [0, {MAX_SEED}]; give a smaller one")
        super().reset(seed=seed)
        if seed is None and not self._seeded:
            seed = int(self.np_random.integers(MAX_SEED + 1))
        if seed is None:
            timestep = self._runner.env.reset()  # the task's random state continues
        else:
            timestep = self._runner.reset(seed)
            self._seeded = True
        return self._observation(timestep), self._info()

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Apply ``action`` (rounded to float32) for one control step (0.02 s)."""
        action = np.asarray(action, np.float32).reshape(2)
        timestep = self._runner.env.step(action.astype(np.float64))
        return self._observation(timestep), float(timestep.reward), False, False, self._info()

    def render(self) -> np.ndarray | None:
        """The current frame (``render_mode="rgb_array"``), uint8 [size, size, 3]; None without a render mode."""
        if self.render_mode is None:
            return None
        return self._physics.render(self.render_size, self.render_size, camera_id=0)

    def close(self) -> None:
        """Free the dm_control environment (its physics and any render context)."""
        self._runner.env.close()
        super().close()
