"""dm_control ``reacher-easy`` rollouts with scripted policies and ε-greedy noise.

Control step 0.02 s (one physics step). Episodes default to 200 steps instead
of the suite's 1000 (the seeds' setting); the time limit is handled here, not
by dm_control. Policies:

* ``p-controller``: the seeds' controller, action = clip(5 · to_target, −1, 1).
  It feeds a Cartesian error straight to the two joint motors, which is only
  loosely related to the right joint torques, so it often stalls next to the
  target (the seeds report a ~20% success ceiling; see BENCHMARKS.md for the
  rate this code measures).
* ``jacobian``: an expert. Resolved-rate control through the damped
  least-squares inverse of the finger's 2×2 positional Jacobian
  (``dq = Jᵀ(JJᵀ + λI)⁻¹ e``, λ = 1e-4) with joint damping:
  ``τ = 10 · dq − 1 · qvel``, clipped to [−1, 1]. (Plain Jacobian-transpose
  control was measured too and reaches only ~35%: the wrist limit and the
  tiny motor gear make it stall.)
* ``random``: uniform in [−1, 1]².

With probability ``epsilon`` each action is replaced by a uniform random
action drawn from the episode's seeded generator; ``is_random_action`` records
it. Every action is rounded to float32 *before* it is applied, so replaying
the stored actions reproduces the stored observations exactly.

Engines. Episodes are rolled out by one of two engines that give the same bytes:

* ``mujoco`` (the default): :mod:`wmhub.envs.reacher_engine` steps the raw MuJoCo model compiled from the
  MJCF dm_control loads, a batch of episodes in lockstep, with the task's initialisation, observations and
  reward computed as dm_control computes them (about 10× faster than dm_control's ``env.step``);
* ``dm_control``: the reference, ``suite.load("reacher", "easy")`` stepped one episode at a time
  (:class:`ReacherRunner`).

The engine is an execution option, like ``--workers``: it says how a dataset is computed, not what it
holds, so it is not part of :class:`ReacherConfig`, the manifest, its fingerprint or the canonical command. A
dataset generated with either engine is the same dataset (same shard SHA-256s; a dataset started with one
engine grows with the other). ``wmhub generate reacher --engine dm_control`` selects the reference for that
command; in Python, :func:`engine_selected` (or the ``WMHUB_REACHER_ENGINE`` environment variable, which
spawned workers and a local Ray instance inherit) does. ``tests/test_reacher_engine.py`` proves the equality
shard by shard for every policy. The planning suites and the Gymnasium environment keep dm_control.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from wmhub.data.schema import Feature
from wmhub.envs.base import EpisodeData, RolloutSpec, episode_seeds
from wmhub.envs.mujoco_gl import ensure_headless_gl
from wmhub.envs.reacher_engine import MujocoReacherBatch, jacobian_action
from wmhub.envs.registry import Environment, register_env
from wmhub.errors import ConfigError

POLICIES = ("p-controller", "jacobian", "random")
P_GAIN = 5.0
JAC_KP, JAC_KD, JAC_DAMPING = 10.0, 1.0, 1e-4
ENGINES = ("mujoco", "dm_control")
DEFAULT_ENGINE = "mujoco"
ENGINE_VARIABLE = "WMHUB_REACHER_ENGINE"  # the engine of this process and the workers it spawns


class ReacherConfig(BaseModel):
    """What defines the content of a reacher dataset (validated).

    The descriptions are the help of ``wmhub generate reacher``'s options. ``seed``: episode i uses
    ``SeedSequence(seed, spawn_key=(i,))``; T actions give T+1 stored observations.
    """

    model_config = ConfigDict(extra="forbid")
    episode_length: int = Field(200, ge=1, description="Actions per episode (T).")
    policy: Literal["p-controller", "jacobian", "random"] = Field(
        "p-controller", description="Scripted policy (see docs/format.md).")
    epsilon: float = Field(0.3, ge=0.0, le=1.0,
                           description="Probability of replacing each action by a uniform random one.")
    seed: int = Field(0, ge=0, description="Dataset seed.")


STEP_FEATURES = [
    Feature("episode_index", "int64", description="episode number, 0-based"),
    Feature("step_index", "int32", description="t, 0..T; row t holds the observation before action t"),
    Feature("position", "float32", (2,), "observation: joint angles (shoulder, wrist), rad"),
    Feature("to_target", "float32", (2,), "observation: target − finger, (x, y) in metres"),
    Feature("velocity", "float32", (2,), "observation: joint velocities (shoulder, wrist), rad/s"),
    Feature("qpos", "float64", (2,), "physics state: qpos (shoulder, wrist), exact"),
    Feature("qvel", "float64", (2,), "physics state: qvel (shoulder, wrist), exact"),
    Feature("target_pos", "float64", (2,), "physics state: target geom (x, y), metres"),
    Feature("action", "float32", (2,), "action a_t in [−1, 1]² (shoulder, wrist motors)", terminal_null=True),
    Feature("reward", "float32", (), "r_t after a_t: 1 when the finger is inside the target", terminal_null=True),
    Feature("is_random_action", "bool", (), "a_t was drawn uniformly (ε branch)", terminal_null=True, stats=False),
    Feature("is_last", "bool", (), "final observation of the episode (no action)", stats=False),
]
EPISODE_FEATURES = [
    Feature("episode_index", "int64", description="episode number, 0-based"),
    Feature("seed", "int64", description="seed of the dm_control task RNG for this episode"),
    Feature("length", "int32", description="number of actions T"),
    Feature("return", "float64", description="sum of rewards"),
    Feature("success", "bool", description="finger inside the target at the last step", stats=False),
    Feature("ever_reached", "bool", description="finger inside the target at any step", stats=False),
]


def make_env(seed: int = 0):
    """A reacher-easy environment with no time limit (episode length is ours)."""
    ensure_headless_gl()
    from dm_control import suite

    return suite.load("reacher", "easy", task_kwargs={"random": seed, "time_limit": math.inf})


class ReacherPolicy:
    """Scripted reacher policies; ``__call__`` returns a float64 action in [−1, 1]²."""

    def __init__(self, name: str, physics) -> None:
        import mujoco

        self.name = name
        self.physics = physics
        self._mj = mujoco
        self._finger = physics.model.name2id("finger", "geom")
        self._jacp = np.zeros((3, physics.model.nv))

    def __call__(self, to_target: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.name == "p-controller":
            return np.clip(P_GAIN * to_target, -1.0, 1.0)
        if self.name == "jacobian":
            return jacobian_action(self._mj, self.physics.model.ptr, self.physics.data.ptr, self._jacp, self._finger,
                                   to_target, self.physics.data.qvel, JAC_KP, JAC_KD, JAC_DAMPING)
        return rng.uniform(-1.0, 1.0, size=2)


class ReacherRunner:
    """Rolls out reacher episodes for one :class:`ReacherConfig` through dm_control (the reference engine)."""

    def __init__(self, config: ReacherConfig) -> None:
        self.config = config
        self.env = make_env()
        self.physics = self.env.physics
        self.policy = ReacherPolicy(config.policy, self.physics)

    def reset(self, env_seed: int):
        """Reset to the initial state of the episode whose stored seed is ``env_seed``."""
        self.env.task.random.seed(env_seed)
        return self.env.reset()

    def run(self, episode_index: int) -> EpisodeData:
        cfg = self.config
        env_seed, rng = episode_seeds(cfg.seed, episode_index)
        steps = cfg.episode_length
        rows = steps + 1
        obs_pos = np.empty((rows, 2), np.float32)
        obs_tgt = np.empty((rows, 2), np.float32)
        obs_vel = np.empty((rows, 2), np.float32)
        qpos = np.empty((rows, 2), np.float64)
        qvel = np.empty((rows, 2), np.float64)
        action = np.full((rows, 2), np.nan, np.float32)
        reward = np.full(rows, np.nan, np.float32)
        is_random = np.zeros(rows, bool)
        physics = self.physics
        data = physics.data

        timestep = self.reset(env_seed)
        target = np.array(physics.named.model.geom_pos["target", :2], dtype=np.float64)
        for t in range(rows):
            obs = timestep.observation
            obs_pos[t] = obs["position"]
            obs_tgt[t] = obs["to_target"]
            obs_vel[t] = obs["velocity"]
            qpos[t] = data.qpos
            qvel[t] = data.qvel
            if t == steps:
                break
            if cfg.epsilon > 0 and rng.random() < cfg.epsilon:
                act = rng.uniform(-1.0, 1.0, size=2)
                is_random[t] = True
            else:
                act = self.policy(obs["to_target"], rng)
            action[t] = act
            timestep = self.env.step(action[t].astype(np.float64))
            reward[t] = timestep.reward

        rewards = reward[:steps].astype(np.float64)
        is_last = np.zeros(rows, bool)
        is_last[-1] = True
        return EpisodeData(
            steps={
                "episode_index": np.full(rows, episode_index, np.int64),
                "step_index": np.arange(rows, dtype=np.int32),
                "position": obs_pos, "to_target": obs_tgt, "velocity": obs_vel,
                "qpos": qpos, "qvel": qvel, "target_pos": np.broadcast_to(target, (rows, 2)),
                "action": action, "reward": reward, "is_random_action": is_random, "is_last": is_last,
            },
            episode={
                "episode_index": episode_index, "seed": env_seed, "length": steps,
                "return": float(rewards.sum()), "success": bool(rewards[-1] >= 1.0),
                "ever_reached": bool((rewards >= 1.0).any()),
            },
        )


class ReacherExecution(BaseModel):
    """How ``wmhub generate reacher`` computes a dataset (not recorded: either value gives the same bytes)."""

    model_config = ConfigDict(extra="forbid")
    engine: Literal["mujoco", "dm_control"] = Field(
        DEFAULT_ENGINE, description="Simulator loop: mujoco (raw MuJoCo, batched, fast) or dm_control (the "
                                    "reference); same bytes either way, not recorded in the manifest.")


def current_engine() -> str:
    """The engine this process rolls reacher episodes out with (``WMHUB_REACHER_ENGINE``, default ``mujoco``).

    Returns:
        ``"mujoco"`` or ``"dm_control"``.

    Raises:
        ConfigError: the environment variable names another engine.

    Example:
        >>> with engine_selected("dm_control"):
        ...     current_engine()
        'dm_control'
    """
    engine = os.environ.get(ENGINE_VARIABLE, "") or DEFAULT_ENGINE
    if engine not in ENGINES:
        raise ConfigError(f"{ENGINE_VARIABLE}={engine!r} is not a reacher engine; set it to one of "
                          f"{', '.join(ENGINES)} (or unset it)")
    return engine


@contextmanager
def engine_selected(engine: str) -> Iterator[None]:
    """Roll reacher episodes out with ``engine`` inside the block (this process and the workers it spawns).

    Args:
        engine: ``"mujoco"`` or ``"dm_control"``.

    Yields:
        Nothing; the previous selection is restored on exit.

    Raises:
        ConfigError: ``engine`` is not one of :data:`ENGINES`.

    Example:
        >>> import wmhub
        >>> with engine_selected("dm_control"):  # doctest: +SKIP
        ...     wmhub.generate("reacher", "out/reacher", 10)
    """
    if engine not in ENGINES:
        raise ConfigError(f"unknown reacher engine {engine!r}; choose one of {', '.join(ENGINES)}")
    before = os.environ.get(ENGINE_VARIABLE)
    os.environ[ENGINE_VARIABLE] = engine
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENGINE_VARIABLE, None)
        else:
            os.environ[ENGINE_VARIABLE] = before


class ReacherEngineRunner:
    """The shard engine's reacher runner: each call uses the engine selected at that moment.

    The ``mujoco`` engine rolls a shard's episodes out in lockstep batches
    (:class:`~wmhub.envs.reacher_engine.MujocoReacherBatch`); ``dm_control`` one by one
    (:class:`ReacherRunner`). Each is built on first use and kept.

    Args:
        config: the dataset's config.

    Example:
        >>> runner = ReacherEngineRunner(ReacherConfig(episode_length=5))  # doctest: +SKIP
        >>> runner.run(0).num_steps  # doctest: +SKIP
        5
    """

    def __init__(self, config: ReacherConfig) -> None:
        self.config = config
        self._engines: dict[str, ReacherRunner | MujocoReacherBatch] = {}

    def _engine(self, name: str) -> ReacherRunner | MujocoReacherBatch:
        if name not in self._engines:
            cfg = self.config
            self._engines[name] = ReacherRunner(cfg) if name == "dm_control" else MujocoReacherBatch(
                cfg.episode_length, cfg.policy, cfg.epsilon, cfg.seed, P_GAIN, (JAC_KP, JAC_KD, JAC_DAMPING))
        return self._engines[name]

    def run_episodes(self, indices: Sequence[int]) -> list[EpisodeData]:
        """Roll out episodes ``indices`` with the current engine.

        Args:
            indices: episode numbers.

        Returns:
            Their :class:`~wmhub.envs.base.EpisodeData`, in order.
        """
        engine = self._engine(current_engine())
        if isinstance(engine, ReacherRunner):
            return [engine.run(int(index)) for index in indices]
        return engine.run_episodes(indices)

    def run(self, episode_index: int) -> EpisodeData:
        """Roll out one episode with the current engine.

        Args:
            episode_index: the episode number.

        Returns:
            Its :class:`~wmhub.envs.base.EpisodeData`.
        """
        return self.run_episodes([episode_index])[0]


class ReacherPlanning:
    """The planning suites' view of reacher: the state latent, recorded states, the success check.

    The state latent is ``concat(position, to_target, velocity)`` of the dm_control observation,
    float32 ``[6]``, exactly as the dataset's ``steps`` config stores it.

    Example:
        >>> import numpy as np
        >>> PLANNING.wrapped_angle_error(np.array([2 * np.pi + 0.01]), np.zeros(1)).round(3)
        array([0.01])
    """

    state_features = ("position", "to_target", "velocity")
    state_columns = ("qpos", "qvel", "target_pos")  # the recorded physics state of a row
    goal_features = ("position", "to_target")  # a goal is a configuration (what an image goal shows)
    to_target = slice(2, 4)  # columns of to_target in the state latent

    def make_env(self, seed: int = 0):
        """A reacher-easy environment with no time limit (see :func:`make_env`)."""
        return make_env(seed)

    def observation_latent(self, observation) -> np.ndarray:
        """The state latent of a dm_control observation, float32 ``[6]``."""
        return np.concatenate([np.asarray(observation[k], np.float32).reshape(-1) for k in self.state_features])

    def live_latent(self, env) -> np.ndarray:
        """The state latent of ``env``'s current physics state."""
        return self.observation_latent(env.task.get_observation(env.physics))

    def set_state(self, env, qpos: np.ndarray, qvel: np.ndarray, target_pos: np.ndarray) -> np.ndarray:
        """Put ``env``'s physics in a recorded state; returns that state's latent.

        Resets the environment first (so ``env.step`` does not reset it), then overwrites the
        target geom's (x, y) and the joint positions and velocities.
        """
        env.reset()
        physics = env.physics
        physics.named.model.geom_pos["target", :2] = np.asarray(target_pos, np.float64)
        with physics.reset_context():
            physics.data.qpos[:] = np.asarray(qpos, np.float64)
            physics.data.qvel[:] = np.asarray(qvel, np.float64)
        return self.live_latent(env)

    def physics_state(self, env) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(qpos, qvel, target (x, y)) of ``env``, copies: what the frame renderer needs."""
        physics = env.physics
        return (physics.data.qpos.copy(), physics.data.qvel.copy(),
                physics.named.model.geom_pos["target", :2].copy())

    @staticmethod
    def wrapped_angle_error(angles: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """``angles − goal`` wrapped into [−π, π) (the shoulder is unlimited, so compare modulo 2π)."""
        diff = np.asarray(angles, np.float64) - np.asarray(goal, np.float64)
        return (diff + np.pi) % (2 * np.pi) - np.pi

    def joint_error(self, env, goal_qpos: np.ndarray) -> np.ndarray:
        """|joint angles − goal| of ``env``, wrapped (the goal-success check compares it with a tolerance)."""
        return np.abs(self.wrapped_angle_error(env.physics.data.qpos, goal_qpos))

    @staticmethod
    def reach_radius(physics) -> float:
        """Target radius + finger radius: the finger is inside the target when ‖to_target‖ ≤ this."""
        return float(physics.named.model.geom_size[["target", "finger"], 0].sum())



PLANNING = ReacherPlanning()


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {"mujoco": version("mujoco"), "dm_control": version("dm_control")}


SPEC = RolloutSpec(
    name="reacher",
    description="dm_control reacher-easy (control step 0.02 s) with scripted policies and ε-greedy noise",
    config_cls=ReacherConfig,
    step_features=STEP_FEATURES,
    episode_features=EPISODE_FEATURES,
    latent_features=["position", "to_target", "velocity"],
    make_runner=ReacherEngineRunner,
    card_template="reacher.md",
    versions=_versions,
)

CLI_HELP = """dm_control reacher-easy rollouts with ε-greedy scripted policies.

    \b
    Example (the seeds' 1M-transition dataset, state only):
      wmhub generate reacher data/reacher-1m --episodes 5000 --policy p-controller --epsilon 0.3 --workers 2

    \b
    With V-JEPA 2 embeddings in the same command (rollouts first, then rendering
    in --render-workers processes overlapped with batched encoding):
      wmhub generate reacher data/reacher-100k --episodes 500 --encoder vjepa2:/models/vjepa2 --dtype bf16

    \b
    The same bytes through dm_control's own env.step loop (the reference engine; about 10x slower):
      wmhub generate reacher data/reacher-ref --episodes 50 --engine dm_control
    """

def _execution(options: ReacherExecution):
    return engine_selected(options.engine)


ENV = register_env(Environment(
    rollout=SPEC, cli_help=CLI_HELP, planning=PLANNING, renderable=True,
    execution_cls=ReacherExecution, execution=_execution))
