"""``wmhub/SpotFlatTerrainJoystick-v0``: the Spot generator's stepper as a Gymnasium env and vector env.

Both classes step :class:`~wmhub.envs.spot_env.SpotBatch`, the code ``wmhub generate spot`` records
with (a batch of one for the single env, of ``num_envs`` for the vector env), so for the same seed and
actions they give the stored observations, rewards and physics states bit for bit:
``reset(seed=<the episode's stored seed>)`` then the stored actions replay a dataset episode.

* **Observation**: ``Dict(state=Box(-inf, inf, (81,), float32), privileged_state=Box(-inf, inf, (167,),
  float32))``, MuJoCo Playground's observation dict and the dataset's columns of the same names (noisy
  ``state`` unless ``obs_noise=False``; layouts in :mod:`wmhub.envs.spot_env`).
* **Action**: ``Box(-1, 1, (12,), float32)``, legs FL, FR, HL, HR × joints (hx, hy, kn); joint targets
  ``clip(home + 0.3 · a, ctrlrange)``. Actions are rounded to float32, as the generator stores them.
* **Reward**: Playground's joystick reward as ``SpotBatch`` computes it (the dataset's ``reward``,
  which stores it rounded to float32; ``info["reward_terms"]`` holds the scaled terms).
* **Termination**: the body tips over (up-vector z < 0.85), Playground's ``done``. **Truncation**: the
  time limit, 1000 control steps (20 s) unless ``max_episode_steps`` says otherwise.
* **Reset**: the ``home`` pose at rest and a joystick command drawn from the episode's generator,
  ``numpy.random.default_rng(seed)`` (the env's ``np_random``), which also draws the observation noise
  and the commands resampled every 201 steps.
* **Info**: ``qpos`` [19] and ``qvel`` [18] (float64, exact) and ``command`` [3] (float32, the command
  in force for the next action), as the dataset's row stores them; after a step also ``reward_terms``
  [14] (float32, Playground's scaled terms in :data:`~wmhub.envs.spot_env.REWARD_TERMS` order).

There is no renderer (the physics model carries no visual geoms).

Example:
    >>> import gymnasium, numpy as np
    >>> import wmhub.envs.gym
    >>> env = gymnasium.make("wmhub/SpotFlatTerrainJoystick-v0", max_episode_steps=10)  # doctest: +SKIP
    >>> obs, info = env.reset(seed=3)  # doctest: +SKIP
    >>> obs["state"].shape, obs["privileged_state"].shape  # doctest: +SKIP
    ((81,), (167,))
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from wmhub.envs.spot_env import PRIVILEGED_SIZE, STATE_SIZE, SpotBatch, StepResult
from wmhub.envs.spot_model import CTRL_DT, build_spot_model
from wmhub.errors import ConfigError

ACTION_SIZE = 12


def observation_space() -> spaces.Dict:
    """The observation space: ``state`` [81] and ``privileged_state`` [167], float32, unbounded."""
    return spaces.Dict({
        "state": spaces.Box(-np.inf, np.inf, (STATE_SIZE,), np.float32),
        "privileged_state": spaces.Box(-np.inf, np.inf, (PRIVILEGED_SIZE,), np.float32),
    })


def action_space() -> spaces.Box:
    """The action space: 12 joint commands in [−1, 1], float32."""
    return spaces.Box(-1.0, 1.0, (ACTION_SIZE,), np.float32)


def reset_env(batch: SpotBatch, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Reset environment ``index`` of ``batch`` alone; returns its (state [1, 81], privileged_state [1, 167]).

    :meth:`SpotBatch.reset` resets every environment of a batch; a vector env resets one at a time with
    :meth:`SpotBatch.reset_some`. Row ``index`` then continues exactly as a batch of one reset with
    ``rng`` would (the tests step both and compare).

    Args:
        batch: the batch.
        index: the environment to reset.
        rng: its generator (commands and observation noise).

    Returns:
        The reset environment's observation, as :meth:`SpotBatch.reset` returns it for a batch of one.
    """
    state, privileged = batch.reset_some([index], [rng])
    return state[index : index + 1], privileged[index : index + 1]


def _row_info(batch: SpotBatch, result: StepResult | None, rows: np.ndarray | slice) -> dict[str, np.ndarray]:
    info = {"qpos": batch.qpos[rows].copy(), "qvel": batch.qvel[rows].copy(),
            "command": batch.command[rows].astype(np.float32)}
    if result is not None and result.terms is not None:
        info["reward_terms"] = result.terms[rows].astype(np.float32)
    return info


class SpotFlatTerrainJoystickEnv(gymnasium.Env):
    """MuJoCo Playground's ``SpotFlatTerrainJoystick`` in plain MuJoCo, stepped by the Spot generator's code.

    Spaces, reward, termination, reset and info are described in :mod:`wmhub.envs.gym.spot`;
    observations, rewards and ``qpos``/``qvel`` equal the dataset's for the episode's stored seed and
    actions.

    Args:
        obs_noise: Playground's uniform observation noise on ``state`` (the generator's ``obs_noise``).
        render_mode: None (the environment has no renderer).

    Raises:
        ConfigError: a ``render_mode`` other than None.

    Example:
        >>> env = SpotFlatTerrainJoystickEnv(obs_noise=False)  # doctest: +SKIP
        >>> obs, _ = env.reset(seed=0)  # doctest: +SKIP
        >>> obs, reward, terminated, truncated, info = env.step(np.zeros(12, np.float32))  # doctest: +SKIP
    """

    metadata = {"render_modes": [], "render_fps": round(1 / CTRL_DT)}

    def __init__(self, obs_noise: bool = True, render_mode: str | None = None) -> None:
        if render_mode is not None:
            raise ConfigError(f"render_mode {render_mode!r}: the Spot environment has no renderer (its physics "
                              "model carries no visual geoms); leave render_mode unset")
        model, info = build_spot_model()
        self._batch = SpotBatch(model, info, 1, obs_noise=obs_noise)
        self._all = np.ones(1, bool)
        self.observation_space = observation_space()
        self.action_space = action_space()

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Reset to ``home`` with a new command; ``seed`` is the dataset episode's ``seed``."""
        super().reset(seed=seed)
        state, privileged = self._batch.reset([self.np_random])
        return {"state": state[0], "privileged_state": privileged[0]}, _row_info(self._batch, None, 0)

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Apply ``action`` (rounded to float32) for one control step (0.02 s)."""
        actions = np.asarray(action, np.float32).reshape(1, ACTION_SIZE)
        state, privileged, result = self._batch.step(actions, self._all)
        observation = {"state": state[0], "privileged_state": privileged[0]}
        return observation, float(result.reward[0]), bool(result.fell[0]), False, _row_info(self._batch, result, 0)


class SpotFlatTerrainJoystickVectorEnv(VectorEnv):
    """``num_envs`` Spot joystick environments stepped as one :class:`SpotBatch` (the generator's lockstep).

    ``gymnasium.make_vec("wmhub/SpotFlatTerrainJoystick-v0", num_envs=N)`` builds it (its vector entry
    point). Sub-environment ``i`` behaves exactly as :class:`SpotFlatTerrainJoystickEnv` reset with the
    same seed and given the same actions. Autoreset is Gymnasium's ``NEXT_STEP``: the step after an
    episode ends resets that environment (its action is ignored, its reward is 0) and continues its
    generator, as ``reset()`` without a seed does.

    Args:
        num_envs: the number of environments.
        obs_noise: Playground's observation noise on ``state``.
        max_episode_steps: truncate episodes after this many steps (None: never).

    Raises:
        ConfigError: ``num_envs`` < 1 or ``max_episode_steps`` < 1.

    Example:
        >>> envs = SpotFlatTerrainJoystickVectorEnv(num_envs=4, max_episode_steps=100)  # doctest: +SKIP
        >>> obs, info = envs.reset(seed=0)  # sub-environment i is seeded 0 + i  # doctest: +SKIP
        >>> obs["state"].shape  # doctest: +SKIP
        (4, 81)
    """

    metadata = {"render_modes": [], "render_fps": round(1 / CTRL_DT), "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, obs_noise: bool = True, max_episode_steps: int | None = None) -> None:
        if num_envs < 1:
            raise ConfigError(f"num_envs must be at least 1, got {num_envs}")
        if max_episode_steps is not None and max_episode_steps < 1:
            raise ConfigError(f"max_episode_steps must be at least 1 (or None for no time limit), got "
                              f"{max_episode_steps}")
        model, info = build_spot_model()
        self.num_envs = num_envs
        self.max_episode_steps = max_episode_steps
        self._batch = SpotBatch(model, info, num_envs, obs_noise=obs_noise)
        self.single_observation_space = observation_space()
        self.single_action_space = action_space()
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._elapsed = np.zeros(num_envs, np.int64)
        self._ended = np.zeros(num_envs, bool)

    def reset(self, *, seed: int | list[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Reset every environment.

        Args:
            seed: an int ``s`` seeds environment ``i`` with ``s + i`` (as Gymnasium's sync vector env
                does); a list gives one seed per environment; None (or a None entry) continues the
                environment's generator (a fresh random one before the first seeded reset).
            options: unused.

        Returns:
            The batched observation and info.

        Raises:
            ConfigError: a list of seeds whose length is not ``num_envs``.
        """
        super().reset(seed=seed if isinstance(seed, int) else None)
        if seed is None or isinstance(seed, int):
            seeds = [None if seed is None else seed + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ConfigError(f"got {len(seeds)} seeds for {self.num_envs} environments; give one per "
                                  "environment, one int or None")
        previous = self._batch.rngs
        rngs = [np.random.default_rng(s) if s is not None or not previous else previous[i]
                for i, s in enumerate(seeds)]
        state, privileged = self._batch.reset(rngs)
        self._elapsed[:] = 0
        self._ended[:] = False
        return {"state": state, "privileged_state": privileged}, self._info(None, np.ones(self.num_envs, bool))

    def step(self, actions: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray,
                                                 dict[str, Any]]:
        """Step every running environment; reset those whose episode ended at the previous step."""
        actions = np.asarray(actions, np.float32).reshape(self.num_envs, ACTION_SIZE)
        restarting = self._ended.copy()
        running = ~restarting
        state, privileged, result = self._batch.step(actions, running)
        state, privileged = state.copy(), privileged.copy()
        self._elapsed[running] += 1
        terminated = result.fell & running
        truncated = np.zeros(self.num_envs, bool)
        if self.max_episode_steps is not None:
            truncated = running & (self._elapsed >= self.max_episode_steps)
        reward = np.where(running, result.reward, 0.0)
        for i in np.flatnonzero(restarting):
            state[i], privileged[i] = (row[0] for row in reset_env(self._batch, int(i), self._batch.rngs[i]))
            self._elapsed[i] = 0
        self._ended = terminated | truncated
        observation = {"state": state, "privileged_state": privileged}
        return observation, reward, terminated, truncated, self._info(result, running)

    def _info(self, result: StepResult | None, running: np.ndarray) -> dict[str, Any]:
        info: dict[str, Any] = {}
        for name, value in _row_info(self._batch, result, slice(None)).items():
            mask = running if name == "reward_terms" else np.ones(self.num_envs, bool)
            info[name] = np.where(mask.reshape(-1, *([1] * (value.ndim - 1))), value, 0).astype(value.dtype)
            info[f"_{name}"] = mask
        return info
