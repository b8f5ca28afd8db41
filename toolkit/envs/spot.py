"""Boston Dynamics Spot joystick rollouts (MuJoCo Playground's ``SpotFlatTerrainJoystick``).

Plain MuJoCo, no JAX: the model is built from MuJoCo Menagerie's Spot by
:mod:`wmhub.envs.spot_model`, the task (observations, commands, termination)
is :mod:`wmhub.envs.spot_env`. Control step 0.02 s (5 physics steps of
0.004 s); episodes of ``episode_length`` control steps (default 1000 = 20 s),
ended early when the robot falls (body up-vector z < 0.85). ``reward`` is
Playground's full joystick reward (14 terms, termination penalty included, see
:mod:`wmhub.envs.spot_env`); ``reward_terms`` keeps each scaled term.

Policies (``--policy``):

* ``trot``: a scripted trot that follows the command (:mod:`wmhub.envs.spot_trot`);
* ``random``: uniform in [−1, 1]¹²;
* ``mlp:PATH``: ``wmhub.envs.spot_mlp_policy.load_mlp_policy(PATH)``, a deterministic
  network mapping ``state`` [N, 81] (or ``privileged_state`` [N, 167], as its
  ``config.json`` ``obs_key`` says) to actions [N, 12]; ``policy_sha256`` records the
  SHA-256 of the directory's ``config.json`` and ``model.safetensors`` (the CLI fills it in),
  and the runner refuses a policy whose files no longer match.

A policy with ``uses_privileged = True`` (the trot) is called as
``policy(state, step, privileged_state)``; others as ``policy(state, step)``.

With probability ``epsilon`` each action is replaced by a uniform random action
(``is_random_action``). Actions are rounded to float32 before they are applied,
so resetting to ``home`` and replaying ``action`` reproduces ``qpos``/``qvel``
exactly (see :func:`replay_qpos`).

Lockstep: :meth:`SpotRunner.run_episodes` steps all episodes of a shard task
together and calls the policy once per control step on the whole batch, whose
shape stays constant (finished episodes stay in it, masked), so the output
does not depend on how episodes are spread over workers.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from wmhub.data.schema import Feature
from wmhub.envs.base import EpisodeData, RolloutSpec, episode_seeds
from wmhub.envs.registry import Environment, register_env
from wmhub.envs.spot_env import PRIVILEGED_SIZE, REWARD_SCALES, REWARD_TERMS, STATE_SIZE, SpotBatch
from wmhub.envs.spot_model import CTRL_DT, build_spot_model
from wmhub.errors import ChecksumMismatchError, ConfigError, MissingDependencyError, NotFoundError

EPISODE_SECONDS = 1000 * CTRL_DT  # 20 s at the default episode length
TERMINATION_TIME_LIMIT, TERMINATION_FELL = 0, 1
LEGS_DOC = "legs FL, FR, HL, HR × joints (hx, hy, kn)"
REWARD_DEFINITION = "playground-spot-joystick-full/1"  # recorded in the reward feature's description
_TERMS_DOC = ", ".join(f"{name} {scale:g}" for name, scale in REWARD_SCALES.items())

BatchPolicy = Callable[[np.ndarray, np.ndarray], np.ndarray]
POLICY_FILES = ("config.json", "model.safetensors")  # what defines an MLP policy directory
_DIGEST = re.compile(r"^config\.json:[0-9a-f]{64},model\.safetensors:[0-9a-f]{64}$")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def policy_sha256(path: str | Path) -> str:
    """SHA-256 of an MLP policy directory's files: ``"config.json:HEX,model.safetensors:HEX"``."""
    path = Path(path)
    missing = [name for name in POLICY_FILES if not (path / name).is_file()]
    if missing:
        raise NotFoundError(f"MLP policy {path}: {', '.join(missing)} missing (a policy directory holds "
                            f"{' and '.join(POLICY_FILES)})")
    return ",".join(f"{name}:{_file_sha256(path / name)}" for name in POLICY_FILES)


def check_policy_sha256(path: str | Path, expected: str) -> None:
    """Raise :class:`ChecksumMismatchError` naming each file of the policy directory whose SHA-256 differs
    from ``expected`` (as :func:`policy_sha256` writes it)."""
    want = dict(item.split(":", 1) for item in expected.split(","))
    have = dict(item.split(":", 1) for item in policy_sha256(path).split(","))
    changed = [name for name in POLICY_FILES if have[name] != want[name]]
    if changed:
        details = "; ".join(f"{Path(path) / name}: sha256 {have[name]}, recorded {want[name]}" for name in changed)
        raise ChecksumMismatchError(f"the MLP policy changed since the dataset was defined ({details}); restore the "
                                    "recorded policy, or generate a new dataset with the new one")


class SpotConfig(BaseModel):
    """What defines the content of a Spot dataset (validated).

    The descriptions are the help of ``wmhub generate spot``'s options. ``seed``: episode i uses
    ``SeedSequence(seed, spawn_key=(i,))``; ``obs_noise`` is Playground's uniform observation noise.
    """

    model_config = ConfigDict(extra="forbid")
    episode_length: int = Field(1000, ge=1, description="Control steps per episode (0.02 s each) unless the robot "
                                "falls.")
    policy: str = Field("trot", description="trot, random or mlp:PATH.")
    epsilon: float = Field(0.0, ge=0.0, le=1.0,
                           description="Probability of replacing each action by a uniform random one.")
    seed: int = Field(0, ge=0, description="Dataset seed.")
    obs_noise: bool = Field(True, description="Playground's observation noise on `state` (false for clean "
                            "observations).")
    policy_sha256: str = Field("", description=(
        "mlp:PATH only: the policy files' SHA-256 (config.json:HEX,model.safetensors:HEX), checked on load; "
        "computed from PATH when not given and recorded in the manifest."))

    @field_validator("policy")
    @classmethod
    def _check_policy(cls, value: str) -> str:
        if value in ("trot", "random") or (value.startswith("mlp:") and len(value) > 4):
            return value
        raise ValueError(f"unknown policy {value!r}; use trot, random or mlp:PATH")

    @model_validator(mode="after")
    def _check_sha256(self) -> SpotConfig:
        if self.policy_sha256:
            if not self.policy.startswith("mlp:"):
                raise ValueError("policy_sha256 applies to --policy mlp:PATH only")
            if not _DIGEST.match(self.policy_sha256):
                raise ValueError(f"policy_sha256 {self.policy_sha256!r} is not of the form "
                                 "config.json:HEX,model.safetensors:HEX (64 lowercase hex digits each)")
        return self


STEP_FEATURES = [
    Feature("episode_index", "int64", description="episode number, 0-based"),
    Feature("step_index", "int32", description="t, 0..T; row t holds the observation before action t"),
    Feature("state", "float32", (STATE_SIZE,),
            "Playground `state`: gyro 3, gravity 3, joint angles − home 12, joint-error history 36 (newest first), "
            "feet positions rel. imu 12 (FL, FR, HL, HR × xyz), last action 12 (a_{t−2} at row t, as Playground), "
            "command 3 (v_x, v_y, yaw rate); noisy unless obs_noise is false"),
    Feature("privileged_state", "float32", (PRIVILEGED_SIZE,),
            "Playground `privileged_state`: state 81, then noise-free gyro 3, accelerometer 3, gravity 3, "
            "local linvel 3, global angvel 3, joint angles − home 12, feet positions 12, joint velocities 12, "
            "actuator forces 12, previous foot contacts 4, feet global linvel 12, feet air time 4, body force 3 (0)"),
    Feature("qpos", "float64", (19,), "physics state qpos: base xyz, base quaternion wxyz, 12 joint angles "
            f"({LEGS_DOC}), exact"),
    Feature("qvel", "float64", (18,), "physics state qvel: base linear (world) and angular (body) velocity, "
            "12 joint velocities, exact"),
    Feature("command", "float32", (3,), "joystick command (v_x m/s, v_y m/s, yaw rate rad/s) in force during "
            "action t (state[78:81] lags it by one row after a resample)"),
    Feature("action", "float32", (12,), f"action a_t in [−1, 1]¹² ({LEGS_DOC}); joint targets = "
            "clip(home + 0.3 · a_t, ctrlrange)", terminal_null=True),
    Feature("reward", "float32", (), f"r_t after a_t, reward definition {REWARD_DEFINITION}: MuJoCo Playground "
            "SpotFlatTerrainJoystick's full reward clip(0.02 · Σ reward_terms, 0, 10⁴), all 14 terms with "
            "Playground's scales, termination penalty included (datasets before this definition stored only the "
            "two velocity-tracking terms × 0.02)", terminal_null=True),
    Feature("reward_terms", "float32", (len(REWARD_TERMS),), "Playground's scaled reward terms after a_t "
            f"(scale · term, its metrics reward/<name>, not × 0.02), in this order: {_TERMS_DOC}",
            terminal_null=True),
    Feature("is_random_action", "bool", (), "a_t was drawn uniformly (ε branch)", terminal_null=True, stats=False),
    Feature("is_last", "bool", (), "final observation of the episode (no action)", stats=False),
    Feature("is_terminal", "bool", (), "final observation of an episode that ended by a fall (not a time limit)",
            stats=False),
]
EPISODE_FEATURES = [
    Feature("episode_index", "int64", description="episode number, 0-based"),
    Feature("seed", "int64", description="seed of the episode's command / observation-noise generator"),
    Feature("length", "int32", description="number of actions T"),
    Feature("return", "float64", description="sum of rewards (Playground's full reward, as `reward`)"),
    Feature("fell", "bool", description="the episode ended because the body tipped over (up-vector z < 0.85)",
            stats=False),
    Feature("termination", "int32", description="0: time limit, 1: fell"),
    Feature("forward_speed", "float64", description="mean forward velocity (imu frame) after each action, m/s"),
    Feature("forward_speed_error", "float64", description="mean |command v_x − forward velocity|, m/s"),
    Feature("lin_vel_error", "float64", description="mean ‖command v_xy − velocity_xy‖ (imu frame), m/s"),
    Feature("yaw_rate_error", "float64", description="mean |command yaw rate − gyro z|, rad/s"),
    Feature("distance", "float64", description="straight-line distance the base travelled (xy), m"),
    Feature("zero_command_fraction", "float64", description="fraction of actions taken under a zero command"),
    Feature("random_action_fraction", "float64", description="fraction of actions drawn by the ε branch"),
]


def make_policy(name: str, model, info, sha256: str = "") -> BatchPolicy | None:
    """The batch policy for a ``--policy`` value (None for ``random``, drawn per episode); an MLP
    policy's files are checked against ``sha256`` (see :func:`policy_sha256`) when it is given."""
    if name == "random":
        return None
    if name == "trot":
        from wmhub.envs.spot_trot import TrotPolicy

        return TrotPolicy(model, info)
    path = name.removeprefix("mlp:")
    try:
        module = importlib.import_module("wmhub.envs.spot_mlp_policy")
    except ImportError as exc:
        raise MissingDependencyError(f"--policy {name}: the MLP policy loader (wmhub.envs.spot_mlp_policy) is not "
                                     "available in this wmhub; use --policy trot or random") from exc
    if sha256:
        check_policy_sha256(path, sha256)
    mlp = module.load_mlp_policy(path)
    mlp.config.check_obs_size(f"MLP policy {path}")
    if mlp.config.action_dim != 12:
        raise ConfigError(f"MLP policy {path} has {mlp.config.action_dim} actions but Spot takes 12; convert a "
                          "policy trained on Spot")
    if mlp.config.obs_key == "privileged_state":
        def privileged_policy(state: np.ndarray, step: np.ndarray, privileged: np.ndarray) -> np.ndarray:
            return np.asarray(mlp(privileged), np.float32)

        privileged_policy.uses_privileged = True  # type: ignore[attr-defined]
        return privileged_policy  # type: ignore[return-value]

    def policy(state: np.ndarray, step: np.ndarray) -> np.ndarray:
        return np.asarray(mlp(state), np.float32)

    return policy


class SpotRunner:
    """Rolls out Spot episodes for one :class:`SpotConfig` (one per worker)."""

    def __init__(self, config: SpotConfig) -> None:
        self.config = config
        self.model, self.info = build_spot_model()
        self.policy = make_policy(config.policy, self.model, self.info, config.policy_sha256)

    def run(self, episode_index: int) -> EpisodeData:
        """One episode alone (a batch of one; identical to its row in any batch unless an MLP
        policy's arithmetic depends on the batch shape)."""
        return self.run_episodes([episode_index])[0]

    def run_episodes(self, indices: list[int]) -> list[EpisodeData]:
        """Roll out ``indices`` in lockstep; the policy sees the whole batch every control step."""
        cfg, n, horizon = self.config, len(indices), self.config.episode_length
        seeds = [episode_seeds(cfg.seed, i) for i in indices]
        env_seeds = [s for s, _ in seeds]
        policy_rngs = [r for _, r in seeds]
        batch = SpotBatch(self.model, self.info, n, obs_noise=cfg.obs_noise)
        rows = horizon + 1
        rec = {
            "state": np.zeros((rows, n, STATE_SIZE), np.float32),
            "privileged_state": np.zeros((rows, n, PRIVILEGED_SIZE), np.float32),
            "qpos": np.zeros((rows, n, self.model.nq)), "qvel": np.zeros((rows, n, self.model.nv)),
            "command": np.zeros((rows, n, 3), np.float32),
            "action": np.full((rows, n, 12), np.nan, np.float32),
            "reward": np.full((rows, n), np.nan, np.float32),
            "reward_terms": np.full((rows, n, len(REWARD_TERMS)), np.nan, np.float32),
            "is_random_action": np.zeros((rows, n), bool),
            "forward_speed": np.zeros((rows, n)), "lin_err": np.zeros((rows, n)), "yaw_err": np.zeros((rows, n)),
        }
        state, privileged = batch.reset([np.random.default_rng(s) for s in env_seeds])
        self._record(rec, batch, 0, state, privileged)
        active = np.ones(n, bool)
        length = np.full(n, horizon, np.int64)
        fell = np.zeros(n, bool)
        steps = np.zeros(n, np.int64)
        # the random policy's actions, drawn up front: each episode's generator yields the same 12 values per
        # step as drawing them step by step (the draws left over when an episode falls are never used)
        uniform = (np.stack([rng.uniform(-1.0, 1.0, size=(horizon, 12)) for rng in policy_rngs])
                   if self.policy is None else None)
        for t in range(horizon):
            actions, is_random = self._act(state, privileged, steps, policy_rngs, active,
                                           None if uniform is None else uniform[:, t])
            rec["command"][t] = batch.command
            state, privileged, result = batch.step(actions, active)
            live = slice(None) if active.all() else np.flatnonzero(active)
            rec["action"][t, live] = actions[live]
            rec["is_random_action"][t, live] = is_random[live]
            rec["reward"][t, live] = result.reward[live]
            rec["reward_terms"][t, live] = result.terms[live]
            rec["forward_speed"][t, live] = result.local_linvel[live, 0]
            rec["lin_err"][t, live] = np.linalg.norm(result.command[live, :2] - result.local_linvel[live, :2], axis=1)
            rec["yaw_err"][t, live] = np.abs(result.command[live, 2] - result.yaw_rate[live])
            self._record(rec, batch, t + 1, state, privileged, live)
            rec["command"][t + 1, live] = batch.command[live]
            ended = active & result.fell
            length[ended] = t + 1
            fell |= ended
            active &= ~result.fell
            steps += 1
            if not active.any():
                break
        return [self._episode(rec, k, indices[k], env_seeds[k], int(length[k]), bool(fell[k])) for k in range(n)]

    def _act(self, state: np.ndarray, privileged: np.ndarray, steps: np.ndarray,
             rngs: list[np.random.Generator], active: np.ndarray,
             uniform: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The batch's actions (float32) and which were drawn uniformly; ``uniform``: the random policy's draws."""
        n = len(state)
        if self.policy is None:
            actions = np.zeros((n, 12), np.float32)
            actions[active] = uniform[active]
            return actions, active.copy()
        extra = (privileged,) if getattr(self.policy, "uses_privileged", False) else ()
        actions = np.clip(np.asarray(self.policy(state, steps, *extra), np.float32), -1.0, 1.0)
        if actions.shape != (n, 12):
            raise ConfigError(f"policy {self.config.policy!r} returned actions of shape {actions.shape}, "
                              f"expected {(n, 12)}")
        is_random = np.zeros(n, bool)
        live = np.flatnonzero(active)
        if self.config.epsilon > 0 and live.size:  # one draw per live episode, then 12 more where it hits
            drawn = live[np.array([rngs[i].random() for i in live]) < self.config.epsilon]
        else:
            drawn = live[:0]
        if drawn.size:
            actions[drawn] = np.array([rngs[i].uniform(-1.0, 1.0, size=12) for i in drawn])
        is_random[drawn] = True
        return actions, is_random

    @staticmethod
    def _record(rec: dict, batch: SpotBatch, row: int, state: np.ndarray, privileged: np.ndarray,
                live: np.ndarray | None = None) -> None:
        sel = slice(None) if live is None else live
        rec["state"][row, sel] = state[sel]
        rec["privileged_state"][row, sel] = privileged[sel]
        rec["qpos"][row, sel] = batch.qpos[sel]
        rec["qvel"][row, sel] = batch.qvel[sel]

    @staticmethod
    def _episode(rec: dict, k: int, index: int, env_seed: int, length: int, fell: bool) -> EpisodeData:
        rows = length + 1
        rec = {name: np.ascontiguousarray(column[:rows, k]) for name, column in rec.items()}  # this episode's rows
        is_last = np.zeros(rows, bool)
        is_last[-1] = True
        steps = {name: rec[name] for name in
                 ("state", "privileged_state", "qpos", "qvel", "command", "action", "reward", "reward_terms",
                  "is_random_action")}
        steps["action"][-1] = np.nan
        steps["reward"][-1] = np.nan
        steps["reward_terms"][-1] = np.nan
        steps["is_random_action"][-1] = False
        steps.update(episode_index=np.full(rows, index, np.int64), step_index=np.arange(rows, dtype=np.int32),
                     is_last=is_last, is_terminal=is_last & fell)
        acts = slice(0, length)
        command = rec["command"][acts]
        qpos = rec["qpos"]
        return EpisodeData(steps=steps, episode={
            "episode_index": index, "seed": env_seed, "length": length,
            "return": float(rec["reward"][acts].astype(np.float64).sum()), "fell": fell,
            "termination": TERMINATION_FELL if fell else TERMINATION_TIME_LIMIT,
            "forward_speed": float(rec["forward_speed"][acts].mean()),
            "forward_speed_error": float(np.abs(command[:, 0] - rec["forward_speed"][acts]).mean()),
            "lin_vel_error": float(rec["lin_err"][acts].mean()),
            "yaw_rate_error": float(rec["yaw_err"][acts].mean()),
            "distance": float(np.linalg.norm(qpos[length, :2] - qpos[0, :2])),
            "zero_command_fraction": float(np.all(command == 0, axis=1).mean()),
            "random_action_fraction": float(rec["is_random_action"][acts].mean()),
        })


def replay_qpos(actions: np.ndarray) -> np.ndarray:
    """Reset to ``home`` and apply stored float32 ``actions`` ``[T, 12]``; returns qpos ``[T+1, 19]``."""
    import mujoco

    model, info = build_spot_model()
    batch = SpotBatch(model, info, 1, obs_noise=False)
    data = mujoco.MjData(model)
    mujoco.mj_resetData(model, data)
    data.qpos[:] = info.home_qpos
    mujoco.mj_forward(model, data)
    out = [data.qpos.copy()]
    for action in np.asarray(actions, np.float32):
        data.ctrl[:] = batch.targets(action.astype(np.float64)[None])[0]
        mujoco.mj_step(model, data, 5)
        out.append(data.qpos.copy())
    return np.stack(out)


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    import mujoco_menagerie

    return {"mujoco": version("mujoco"), "mujoco_menagerie": version("mujoco_menagerie"),
            "menagerie_commit": mujoco_menagerie.commit()}


SPEC = RolloutSpec(
    name="spot",
    description="MuJoCo Playground SpotFlatTerrainJoystick (plain MuJoCo, control step 0.02 s) with a scripted "
                "trot, random or MLP policies and ε-greedy noise",
    config_cls=SpotConfig,
    step_features=STEP_FEATURES,
    episode_features=EPISODE_FEATURES,
    latent_features=["state"],
    make_runner=SpotRunner,
    card_template="spot.md",
    versions=_versions,
)

# Spot shards are stepped as one lockstep batch: 100 episodes x 1001 rows are about 150 MB of recorded rows; a
# worker holds two shards' rows at most (one being written while it steps the next, see wmhub.jobs.overlap).
SPOT_EPISODES_PER_SHARD = 100


def spot_hours_to_episodes(hours: float, episode_length: int) -> int:
    """Episodes for ``hours`` of Spot data: ceil(hours · 3600 / (episode_length · 0.02 s)).

    Rounded up, so the nominal duration is at least ``hours``; episodes that end in a
    fall are shorter, so the stored duration can be less (the card reports it).

    Args:
        hours: the nominal duration, > 0.
        episode_length: control steps per episode.

    Returns:
        The number of episodes (at least 1).

    Raises:
        ConfigError: ``hours`` is not a positive finite number, or asks for an absurd size.

    Example:
        >>> spot_hours_to_episodes(0.5, 1000)
        90
    """
    if not math.isfinite(hours) or hours <= 0:
        raise ConfigError(f"--hours must be a positive number, got {hours}")
    episodes = hours * 3600 / (episode_length * CTRL_DT)
    if not math.isfinite(episodes) or episodes > 1e15:
        raise ConfigError(f"--hours {hours} asks for more episodes than a dataset holds; give fewer hours")
    return max(1, math.ceil(round(episodes, 9)))


class SpotSize(BaseModel):
    """Spot's size option besides ``--episodes``."""

    model_config = ConfigDict(extra="forbid")
    hours: float | None = Field(None, description="Size in hours instead of --episodes: ceil(H·3600 / 20 s) "
                                "episodes at the default length.")


def _episodes_from_size(size: SpotSize, config: SpotConfig) -> int | None:
    return None if size.hours is None else spot_hours_to_episodes(size.hours, config.episode_length)


def _complete_options(options: dict) -> dict:
    """Fill in ``policy_sha256`` of an ``mlp:PATH`` policy from its files (recorded in the manifest)."""
    policy = options["policy"]
    if policy.startswith("mlp:") and len(policy) > 4 and not options["policy_sha256"]:
        options = {**options, "policy_sha256": policy_sha256(policy.removeprefix("mlp:"))}
    return options


CLI_HELP = """Boston Dynamics Spot joystick rollouts (MuJoCo Playground's SpotFlatTerrainJoystick, plain MuJoCo).

    The model comes from MuJoCo Menagerie (mujoco_menagerie; set MENAGERIE_ROOT for an offline copy).
    The episodes of each shard are stepped in lockstep (default --episodes-per-shard 100).

    \b
    Example (0.5 hour of trotting data, 2 workers):
      wmhub generate spot data/spot-0.5h --hours 0.5 --workers 2
    """

ENV = register_env(Environment(
    rollout=SPEC, cli_help=CLI_HELP, size_cls=SpotSize,
    episodes_from_size=_episodes_from_size, default_episodes_per_shard=SPOT_EPISODES_PER_SHARD,
    complete_options=_complete_options))
