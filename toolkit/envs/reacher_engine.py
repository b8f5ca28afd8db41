"""Reacher-easy stepped on the raw MuJoCo model, a batch of episodes at a time.

The ``mujoco`` engine of :mod:`wmhub.envs.reacher`: it computes what dm_control's ``suite.load("reacher",
"easy")`` computes, without dm_control's Python layers, and gives the same bits (``tests/test_reacher_engine.py``
compares the shards of both engines byte for byte). What it reproduces, and how:

* **Model**: the MJCF dm_control loads (``dm_control.suite.reacher.get_model_and_assets()``: ``reacher.xml`` and
  the suite's common assets), compiled by ``mujoco.MjModel.from_xml_string``. The files are read from the
  installed dm_control package without importing ``dm_control.suite`` (whose import loads every domain and
  costs each worker about a second); :func:`model_xml_and_assets` returns exactly what
  ``get_model_and_assets()`` returns (a test compares them). One model serves the whole batch:
  the target geom is a world geom and contacts are disabled, so its position never enters the dynamics; each
  episode's target (x, y) is kept here instead of in ``model.geom_pos``.
* **Episode initialisation** (``Reacher.initialize_episode`` inside ``physics.reset_context()``):
  ``mj_resetData``; the task RNG (``numpy.random.RandomState(seed)``) draws the joints as
  ``randomize_limited_and_rotational_joints`` does (a limited hinge uniformly in its range, an unlimited one in
  [−π, π), in joint order), then the target angle ``U(0, 2π)`` and radius ``U(0.05, 0.20)``; the target is
  ``(r·sin θ, r·cos θ)``; then ``mj_forward`` with actuation disabled (``Physics.after_reset``).
* **Step** (``control.Environment.step`` with one physics step per control step, dm_control's legacy step):
  ``ctrl ← action`` (``set_control``: no clipping; MuJoCo clamps to ``ctrlrange``), ``mj_step2``, ``mj_step1``.
* **Observation**: ``position = qpos``, ``velocity = qvel``, ``to_target = target − finger geom (x, y)``.
* **Reward**: ``rewards.tolerance(‖to_target‖, (0, r_target + r_finger))`` with no margin: 1 inside, else 0.
  The norm is computed in numpy over the batch; the rare distances within 1e-12 of the radius are recomputed
  with ``np.linalg.norm`` as dm_control does, so the comparison is exact.
* **Policy and ε draws**: the episode's generator is the same (:func:`~wmhub.envs.base.episode_seeds`); each
  scalar ``rng.random()`` and each ``rng.uniform(−1, 1, size=2)`` of the step loop consumes one and two doubles
  of its stream, so one ``rng.random(3T)`` block read in the same order gives the same values
  (``uniform = −1 + 2·u``, exact).

The physics of each episode is still one ``MjData`` stepped by two C calls per control step; everything else
(policy, noise, observations, reward, recording) is vectorised over the batch.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from wmhub.envs.base import EpisodeData, episode_seeds
from wmhub.errors import MissingDependencyError, UnsupportedFormatError

TARGET_SIZE = 0.05  # dm_control reacher-easy's _BIG_TARGET (equal to reacher.xml's target size)
BATCH = 64  #: episodes stepped in lockstep (each holds one MjData; the batch reuses them)
_CLOSE = 1e-12  # squared distances this close to the squared radius are recomputed as dm_control does


def model_xml_and_assets() -> tuple[bytes, dict[str, bytes]]:
    """What ``dm_control.suite.reacher.get_model_and_assets()`` returns, read without importing the suite.

    ``reacher.xml`` of the installed dm_control's suite and every file of its ``common`` folder (the
    materials, skybox and visual includes), keyed ``./common/<name>`` as dm_control keys them.

    Returns:
        ``(xml, assets)``: the model's MJCF and its include files, as bytes.

    Raises:
        MissingDependencyError: dm_control is not installed.

    Example:
        >>> xml, assets = model_xml_and_assets()  # doctest: +SKIP
        >>> sorted(assets)  # doctest: +SKIP
        ['./common/materials.xml', './common/skybox.xml', './common/visual.xml']
    """
    spec = importlib.util.find_spec("dm_control")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("the reacher environment needs dm_control; pip install dm_control")
    suite = Path(next(iter(spec.submodule_search_locations))) / "suite"
    assets = {f"./common/{path.name}": path.read_bytes() for path in sorted((suite / "common").glob("*.xml"))}
    return (suite / "reacher.xml").read_bytes(), assets


def load_model():
    """The reacher MuJoCo model, compiled from the MJCF that dm_control's reacher loads.

    Returns:
        A ``mujoco.MjModel`` with the target size of reacher-easy.

    Example:
        >>> load_model().nu  # doctest: +SKIP
        2
    """
    import mujoco

    xml, assets = model_xml_and_assets()
    model = mujoco.MjModel.from_xml_string(xml.decode(), assets)
    model.geom(model.geom("target").id).size[0] = TARGET_SIZE
    return model


def initial_state(model, env_seed: int, random: np.random.RandomState | None = None,
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The initial joint positions and target (x, y) that dm_control's reacher draws for a task seed.

    Args:
        model: the reacher model (:func:`load_model`).
        env_seed: the seed of the task RNG (``env.task.random.seed(env_seed)`` before ``env.reset()``).
        random: a ``RandomState`` to re-seed and draw from (re-seeding is cheaper than a new one).

    Returns:
        ``(qpos [nq], target [2])``, float64.

    Raises:
        NotImplementedError: the model has a ball or free joint (reacher has none).

    Example:
        >>> qpos, target = initial_state(load_model(), 7)  # doctest: +SKIP
    """
    import mujoco

    hinge, slide = int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE)
    random = random if random is not None else np.random.RandomState()
    random.seed(env_seed)
    qpos = np.zeros(model.nq)
    for joint in range(model.njnt):
        kind = int(model.jnt_type[joint])
        adr = model.jnt_qposadr[joint]
        if kind not in (hinge, slide):
            raise UnsupportedFormatError(f"joint {joint} of the reacher model is neither hinge nor slide; the "
                                         "mujoco engine randomises those only: use --engine dm_control")
        if model.jnt_limited[joint]:
            range_min, range_max = model.jnt_range[joint]
            qpos[adr] = random.uniform(range_min, range_max)
        elif kind == hinge:
            qpos[adr] = random.uniform(-np.pi, np.pi)
    angle = random.uniform(0, 2 * np.pi)
    radius = random.uniform(.05, .20)
    return qpos, np.array([radius * np.sin(angle), radius * np.cos(angle)])


def jacobian_action(mujoco_module, model, data, jacp: np.ndarray, finger: int, to_target: np.ndarray,
                    qvel: np.ndarray, kp: float, kd: float, damping: float) -> np.ndarray:
    """The ``jacobian`` policy's action for one state (shared by both engines, so they compute the same bits).

    Args:
        mujoco_module: the ``mujoco`` module.
        model: the raw ``MjModel``.
        data: the raw ``MjData`` (kinematics up to date).
        jacp: a ``[3, nv]`` float64 scratch array.
        finger: the finger geom's id.
        to_target: target − finger (x, y), float64.
        qvel: joint velocities, float64.
        kp: gain on the resolved joint rates.
        kd: joint damping gain.
        damping: λ of the damped least-squares inverse.

    Returns:
        The action, float64 ``[2]`` in [−1, 1].
    """
    mujoco_module.mj_jacGeom(model, data, jacp, None, finger)
    jac = jacp[:2]
    dq = jac.T @ np.linalg.solve(jac @ jac.T + damping * np.eye(2), to_target)
    return np.clip(kp * dq - kd * qvel, -1.0, 1.0)


class MujocoReacherBatch:
    """Rolls out reacher episodes on the raw MuJoCo model, a batch at a time (see the module docstring).

    Args:
        episode_length: actions per episode (T).
        policy: ``p-controller``, ``jacobian`` or ``random``.
        epsilon: probability of a uniform random action.
        seed: the dataset seed.
        p_gain: the p-controller's gain.
        jacobian_gains: ``(kp, kd, damping)`` of the jacobian policy.

    Example:
        >>> batch = MujocoReacherBatch(20, "p-controller", 0.3, 0, 5.0, (10.0, 1.0, 1e-4))  # doctest: +SKIP
        >>> [episode.num_steps for episode in batch.run_episodes([0, 1])]  # doctest: +SKIP
        [20, 20]
    """

    def __init__(self, episode_length: int, policy: str, epsilon: float, seed: int, p_gain: float,
                 jacobian_gains: tuple[float, float, float]) -> None:
        import mujoco

        self._mj = mujoco
        self.episode_length, self.policy, self.epsilon, self.seed = episode_length, policy, epsilon, seed
        self.p_gain, self.jacobian_gains = p_gain, jacobian_gains
        self.model = load_model()
        self._finger = self.model.geom("finger").id
        self._radii = self.model.geom_size[[self.model.geom("target").id, self._finger], 0].sum()
        self._datas: list = []
        self._task_random = np.random.RandomState()

    def _data(self, count: int) -> list:
        while len(self._datas) < count:
            self._datas.append(self._mj.MjData(self.model))
        return self._datas[:count]

    def _reset(self, datas: list, qpos: np.ndarray) -> None:
        mj, model = self._mj, self.model
        for data, q in zip(datas, qpos):
            mj.mj_resetData(model, data)
            data.qpos[:] = q
        saved = model.opt.disableflags
        model.opt.disableflags = saved | mj.mjtDisableBit.mjDSBL_ACTUATION  # Physics.after_reset
        try:
            for data in datas:
                mj.mj_forward(model, data)
        finally:
            model.opt.disableflags = saved

    def _policy_actions(self, datas: list, to_target: np.ndarray, qvel: np.ndarray,
                        draws: np.ndarray) -> np.ndarray:
        if self.policy == "p-controller":
            return np.clip(self.p_gain * to_target, -1.0, 1.0)
        if self.policy == "random":
            return -1.0 + 2.0 * draws
        kp, kd, damping = self.jacobian_gains
        jacp = np.zeros((3, self.model.nv))
        return np.stack([jacobian_action(self._mj, self.model, data, jacp, self._finger, to_target[b], qvel[b],
                                         kp, kd, damping) for b, data in enumerate(datas)])

    def _reward(self, to_target: np.ndarray) -> np.ndarray:
        squared = to_target[:, 0] * to_target[:, 0] + to_target[:, 1] * to_target[:, 1]
        inside = np.sqrt(squared) <= self._radii
        for b in np.flatnonzero(np.abs(squared - self._radii * self._radii) < _CLOSE):  # exact at the edge
            inside[b] = np.linalg.norm(to_target[b]) <= self._radii
        return inside.astype(np.float32)

    def run_episodes(self, indices: Sequence[int]) -> list[EpisodeData]:
        """Roll out episodes ``indices``, :data:`BATCH` at a time in lockstep.

        Args:
            indices: episode numbers.

        Returns:
            One :class:`~wmhub.envs.base.EpisodeData` per index, in order (the same content as the
            dm_control engine's).
        """
        indices = [int(i) for i in indices]
        episodes: list[EpisodeData] = []
        for start in range(0, len(indices), BATCH):
            episodes += self._run_batch(indices[start:start + BATCH])
        return episodes

    def _run_batch(self, indices: list[int]) -> list[EpisodeData]:
        mj, model = self._mj, self.model
        count, steps = len(indices), self.episode_length
        if count == 0:
            return []
        rows = steps + 1
        datas = self._data(count)
        env_seeds = np.empty(count, np.int64)
        qpos0 = np.empty((count, model.nq))
        target = np.empty((count, 2))
        draws = np.empty((count, 3 * steps))  # at most 3 doubles per step: the ε coin and a uniform pair
        for b, index in enumerate(indices):
            env_seed, rng = episode_seeds(self.seed, index)
            env_seeds[b] = env_seed
            qpos0[b], target[b] = initial_state(model, env_seed, self._task_random)
            draws[b] = rng.random(3 * steps)
        self._reset(datas, qpos0)

        # time-major buffers: row t of every episode is contiguous
        qpos = np.empty((rows, count, 2), np.float64)
        qvel = np.empty((rows, count, 2), np.float64)
        finger = np.empty((rows, count, 2), np.float64)
        action = np.full((rows, count, 2), np.nan, np.float32)
        reward = np.full((rows, count), np.nan, np.float32)
        is_random = np.zeros((rows, count), bool)
        controlled = [(data, data.ctrl) for data in datas]
        q_views, v_views = [data.qpos for data in datas], [data.qvel for data in datas]
        f_views = [data.geom_xpos[self._finger, :2] for data in datas]
        qpos[0], qvel[0], finger[0] = q_views, v_views, f_views
        step1, step2 = mj.mj_step1, mj.mj_step2
        pointer = np.zeros(count, np.int64)
        batch = np.arange(count)
        uses_coin = self.epsilon > 0
        never = np.zeros(count, bool)
        random_policy = self.policy == "random"
        for t in range(steps):
            to_target = target - finger[t]
            chosen = never
            if uses_coin:
                chosen = draws[batch, pointer] < self.epsilon
                pointer += 1
            pair = draws[batch[:, None], pointer[:, None] + (0, 1)]  # pointer <= 3t + 1: inside the block
            act = np.where(chosen[:, None], -1.0 + 2.0 * pair, self._policy_actions(datas, to_target, qvel[t], pair))
            pointer += 2 * (chosen | random_policy)
            is_random[t] = chosen
            action[t] = act
            for (data, ctrl), row in zip(controlled, action[t].astype(np.float64)):
                ctrl[:] = row
                step2(model, data)
                step1(model, data)
            qpos[t + 1], qvel[t + 1], finger[t + 1] = q_views, v_views, f_views

        to_target_all = target[None] - finger
        reward[:steps] = self._reward(to_target_all[1:].reshape(-1, 2)).reshape(steps, count)
        to_target_all = to_target_all.astype(np.float32)
        position, velocity = qpos.astype(np.float32), qvel.astype(np.float32)
        episodes = []
        for b, index in enumerate(indices):
            rewards = reward[:steps, b].astype(np.float64)
            is_last = np.zeros(rows, bool)
            is_last[-1] = True
            episodes.append(EpisodeData(
                steps={
                    "episode_index": np.full(rows, index, np.int64),
                    "step_index": np.arange(rows, dtype=np.int32),
                    "position": np.ascontiguousarray(position[:, b]),
                    "to_target": np.ascontiguousarray(to_target_all[:, b]),
                    "velocity": np.ascontiguousarray(velocity[:, b]),
                    "qpos": np.ascontiguousarray(qpos[:, b]), "qvel": np.ascontiguousarray(qvel[:, b]),
                    "target_pos": np.broadcast_to(target[b], (rows, 2)),
                    "action": np.ascontiguousarray(action[:, b]), "reward": np.ascontiguousarray(reward[:, b]),
                    "is_random_action": np.ascontiguousarray(is_random[:, b]), "is_last": is_last,
                },
                episode={
                    "episode_index": index, "seed": int(env_seeds[b]), "length": steps,
                    "return": float(rewards.sum()), "success": bool(rewards[-1] >= 1.0),
                    "ever_reached": bool((rewards >= 1.0).any()),
                },
            ))
        return episodes
